// The B2BUA call state machine driven message by message: what each party receives (start lines,
// tags, CSeq, SDP pointing at the relay), in order, and when (ManualClock instants).

#include "signaling/b2bua/B2bua.h"

#include <gtest/gtest.h>

#include <optional>

#include "signaling/b2bua/test/B2buaCallTest.h"
#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipUri.h"

namespace rdv::b2bua::test {
namespace {

using sip::test::runTimersUntil;

class B2buaTest : public B2buaCallTest {};

TEST_F(B2buaTest, InitialInviteGoesToTheRegisteredSourceAsANewDialogWithSdpOnTheRelay) {
  registerBob();
  receive(inviteLf("call-1", "bob", aliceSdp()), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 100 Trying", std::string(kInviteToBob)}));
  EXPECT_EQ(sent[1].to.addr, bob_.addr) << "the REGISTER's source, not the Contact's host";
  auto inv = parsedSent(sent[1]);
  EXPECT_NE(inv.callId(), "call-1");
  ASSERT_FALSE(inv.fromTag().empty());
  EXPECT_NE(inv.fromTag(), "a1");
  auto from = sip::NameAddr::parse(inv.header("From"));
  ASSERT_TRUE(from.has_value());
  EXPECT_EQ(from->displayName, "Alice");
  EXPECT_EQ(from->uri, "sip:alice@127.0.0.1") << "the caller's name at our host, not the caller's domain";
  EXPECT_EQ(inv.header("To"), "<sip:bob@127.0.0.1>");
  EXPECT_EQ(inv.header("Max-Forwards"), "69");
  EXPECT_EQ(inv.header("Contact"), "<sip:rendezvous@127.0.0.1:5060>");
  EXPECT_EQ(inv.header("Via").substr(0, 41), "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK");
  EXPECT_EQ(inv.cseq(), 1U);
  const MediaTarget media = mediaTarget(inv);
  EXPECT_EQ(media.ip, "127.0.0.1");
  EXPECT_TRUE(isRelayPort(media.port)) << media.port;
  EXPECT_EQ(inv.body().find("198.18.0.2"), std::string_view::npos) << "o= and c= are both rewritten";
  EXPECT_EQ(b2b().activeCalls(), 1U);
  EXPECT_EQ(b2b().counters().callsTotal.get(), 1U);
  EXPECT_EQ(anchor_.calls(), 1U);
}

TEST_F(B2buaTest, RingingAndAnswerReachTheCallerWithOneToTagAndTheCalleeIsAcked) {
  registerBob();
  auto inv = inviteBob();
  const uint16_t portToBob = mediaTarget(inv).port;
  receive(responseLf(inv, 180, "Ringing", "b1", kBobContact), bob_);
  auto ringing = takeOnly("alice: SIP/2.0 180 Ringing");
  ASSERT_FALSE(ringing.toTag().empty());
  EXPECT_EQ(ringing.callId(), "call-1");

  receive(responseLf(inv, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "alice: SIP/2.0 200 OK"}));
  auto ack = parsedSent(sent[0]);
  EXPECT_EQ(ack.callId(), inv.callId());
  EXPECT_EQ(ack.cseq(), 1U);
  EXPECT_EQ(ack.toTag(), "b1");
  auto ok = parsedSent(sent[1]);
  EXPECT_EQ(ok.toTag(), ringing.toTag()) << "one early and confirmed dialog towards the caller";
  EXPECT_EQ(ok.header("Contact"), "<sip:rendezvous@127.0.0.1:5060>");
  const MediaTarget media = mediaTarget(ok);
  EXPECT_EQ(media.ip, "127.0.0.1");
  EXPECT_TRUE(isRelayPort(media.port)) << media.port;
  EXPECT_NE(media.port, portToBob);
  EXPECT_EQ(b2b().counters().callsAnswered.get(), 1U);
}

TEST_F(B2buaTest, CallersAckStopsThe200Retransmissions) {
  registerBob();
  auto inv = inviteBob();
  receive(responseLf(inv, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  auto ok = parsedSent(take().at(1));
  runTimersUntil(clock_, b2b(), kT0 + 500);
  auto again = take();
  ASSERT_EQ(startLines(again), Lines{"alice: SIP/2.0 200 OK"});
  EXPECT_EQ(again[0].atMs, kT0 + 500) << "timer G: T1 after the first";

  Dialogs d;
  d.aTag = std::string(ok.toTag());
  receive(fromAliceLf(d, "ACK", 1), alice_);
  EXPECT_TRUE(take().empty()) << "the caller's ACK ends at the B2BUA";
  runTimersUntil(clock_, b2b(), kT0 + 10'000);
  EXPECT_TRUE(take().empty());
}

TEST_F(B2buaTest, ReinviteFromTheCallerIsRewrittenOntoTheSameRelayPorts) {
  Dialogs d = establish();
  receive(fromAliceLf(d, "INVITE", 2, sdpLf("198.18.0.2", 40002)), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 100 Trying", std::string(kInviteToBob)}));
  auto re = parsedSent(sent[1]);
  EXPECT_EQ(re.callId(), d.bInvite->callId());
  EXPECT_EQ(re.cseq(), 2U);
  EXPECT_EQ(re.fromTag(), d.bInvite->fromTag());
  EXPECT_EQ(re.toTag(), "b1");
  EXPECT_EQ(mediaTarget(re).ip, "127.0.0.1");
  EXPECT_EQ(mediaTarget(re).port, d.portToBob);

  receive(responseLf(re, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50002)), bob_);
  sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "alice: SIP/2.0 200 OK"}));
  EXPECT_EQ(parsedSent(sent[0]).cseq(), 2U);
  auto ok = parsedSent(sent[1]);
  EXPECT_EQ(ok.toTag(), d.aTag);
  EXPECT_EQ(ok.cseq(), 2U);
  EXPECT_EQ(mediaTarget(ok).ip, "127.0.0.1");
  EXPECT_EQ(mediaTarget(ok).port, d.portToAlice);
  auto info = anchor_.query("call-1");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->report.streams.at(0)[0].advertised, addr("198.18.0.2", 40002))
      << "the relay sends to the new port";
  EXPECT_EQ(info->report.streams.at(0)[1].advertised, addr("198.18.0.3", 50002));
}

TEST_F(B2buaTest, ReinviteFromTheCalleeIsRewrittenAndSentToTheCallersContact) {
  Dialogs d = establish();
  receive(fromBobLf(d, "INVITE", 1, sdpLf("198.18.0.3", 50004)), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent),
            (Lines{"bob: SIP/2.0 100 Trying", "alice: INVITE sip:alice@127.0.0.2:5070 SIP/2.0"}));
  auto re = parsedSent(sent[1]);
  EXPECT_EQ(re.callId(), "call-1");
  EXPECT_EQ(re.fromTag(), d.aTag);
  EXPECT_EQ(re.toTag(), "a1");
  EXPECT_EQ(re.cseq(), 1U) << "our first request on leg A";
  EXPECT_EQ(mediaTarget(re).ip, "127.0.0.1");
  EXPECT_EQ(mediaTarget(re).port, d.portToAlice);

  receive(responseLf(re, 200, "OK", "", kAliceContact, sdpLf("198.18.0.2", 40004)), alice_);
  sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: ACK sip:alice@127.0.0.2:5070 SIP/2.0", "bob: SIP/2.0 200 OK"}));
  EXPECT_EQ(parsedSent(sent[0]).cseq(), 1U);
  auto ok = parsedSent(sent[1]);
  EXPECT_EQ(ok.callId(), d.bInvite->callId());
  EXPECT_EQ(ok.toTag(), d.bInvite->fromTag());
  EXPECT_EQ(mediaTarget(ok).ip, "127.0.0.1");
  EXPECT_EQ(mediaTarget(ok).port, d.portToBob);
}

TEST_F(B2buaTest, ReinviteWhileAnotherIsPendingGets491) {
  Dialogs d = establish();
  receive(fromAliceLf(d, "INVITE", 2, sdpLf("198.18.0.2", 40002)), alice_);
  take();
  receive(fromBobLf(d, "INVITE", 1, sdpLf("198.18.0.3", 50004)), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 100 Trying", "bob: SIP/2.0 491 Request Pending"}));
  EXPECT_EQ(parsedSent(sent[1]).header("Retry-After"), "1");
}

TEST_F(B2buaTest, ByeFromTheCallerIsAnsweredAndForwardedAndEndsTheCall) {
  Dialogs d = establish();
  receive(fromAliceLf(d, "BYE", 2), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK", "bob: BYE sip:bob@10.0.0.3:5080 SIP/2.0"}));
  EXPECT_EQ(parsedSent(sent[0]).cseqMethodText(), "BYE");
  auto bye = parsedSent(sent[1]);
  EXPECT_EQ(bye.callId(), d.bInvite->callId());
  EXPECT_EQ(bye.cseq(), 2U);
  EXPECT_EQ(bye.fromTag(), d.bInvite->fromTag());
  EXPECT_EQ(bye.toTag(), "b1");
  EXPECT_EQ(b2b().activeCalls(), 0U);
  EXPECT_EQ(b2b().counters().callsActive.get(), 0U);
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
  receive(responseLf(bye, 200, "OK", "", kBobContact), bob_);
  EXPECT_TRUE(take().empty()) << "the 200 to our own BYE goes nowhere";
}

TEST_F(B2buaTest, ByeFromTheCalleeIsAnsweredAndForwardedToTheCallersContact) {
  Dialogs d = establish();
  receive(fromBobLf(d, "BYE", 1), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 200 OK", "alice: BYE sip:alice@127.0.0.2:5070 SIP/2.0"}));
  auto bye = parsedSent(sent[1]);
  EXPECT_EQ(bye.callId(), "call-1");
  EXPECT_EQ(bye.cseq(), 1U);
  EXPECT_EQ(bye.fromTag(), d.aTag);
  EXPECT_EQ(bye.toTag(), "a1");
  EXPECT_EQ(b2b().activeCalls(), 0U);
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
}

TEST_F(B2buaTest, CancelBeforeAnswerGives487ToTheCallerAndCancelsTheCallee) {
  registerBob();
  auto inv = inviteBob();
  receive(responseLf(inv, 180, "Ringing", "b1", kBobContact), bob_);
  take();
  receive(cancelLf("call-1"), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK", "bob: CANCEL sip:bob@10.0.0.3:5080 SIP/2.0",
                                     "alice: SIP/2.0 487 Request Terminated"}));
  EXPECT_EQ(parsedSent(sent[0]).cseqMethodText(), "CANCEL");
  auto cancel = parsedSent(sent[1]);
  EXPECT_EQ(cancel.topViaBranch(), inv.topViaBranch()) << "RFC 3261 §9.1: the INVITE's branch";
  EXPECT_EQ(cancel.cseq(), inv.cseq());
  EXPECT_EQ(anchor_.calls(), 0U) << "media released at once";
  EXPECT_EQ(relay_.activeSessions(), 0U);
  EXPECT_EQ(b2b().activeCalls(), 0U) << "the call ends with the caller's final response";
  EXPECT_EQ(b2b().pendingRequests(), 1U) << "the callee's INVITE is tracked until its final response";

  receive(responseLf(cancel, 200, "OK", "b1", kBobContact), bob_);
  EXPECT_TRUE(take().empty());
  receive(responseLf(inv, 487, "Request Terminated", "b1", kBobContact), bob_);
  EXPECT_EQ(takeOnly(kAckToBob).cseqMethodText(), "ACK");
  EXPECT_EQ(b2b().pendingRequests(), 0U);
  EXPECT_EQ(b2b().counters().callsFailed.get(), 0U) << "a cancelled call is not a failure";
}

TEST_F(B2buaTest, AnswerRacingTheCallersCancelIsAckedAndHungUp) {
  registerBob();
  auto inv = inviteBob();
  receive(cancelLf("call-1"), alice_);
  take();
  receive(responseLf(inv, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  EXPECT_EQ(takeStartLines(), (Lines{std::string(kAckToBob), "bob: BYE sip:bob@10.0.0.3:5080 SIP/2.0"}));
  EXPECT_EQ(b2b().activeCalls(), 0U);
  EXPECT_EQ(b2b().counters().callsAnswered.get(), 0U);
}

TEST_F(B2buaTest, CalleeBusyIsPassedBackToTheCaller) {
  registerBob();
  auto inv = inviteBob();
  receive(responseLf(inv, 486, "Busy Here", "b1", kBobContact), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "alice: SIP/2.0 486 Busy Here"}));
  EXPECT_FALSE(parsedSent(sent[1]).toTag().empty());
  EXPECT_EQ(b2b().counters().callsFailed.get(), 1U);
  EXPECT_EQ(b2b().activeCalls(), 0U);
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
}

TEST_F(B2buaTest, CallToAUserNotInTheUserListIs404) {
  registerBob();
  receive(inviteLf("call-1", "carol", aliceSdp()), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 404 Not Found"}));
  EXPECT_EQ(b2b().counters().callsTotal.get(), 0U);
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
}

TEST_F(B2buaTest, CallToAKnownUserWithoutBindingIs480) {
  receive(inviteLf("call-1", "bob", aliceSdp()), alice_);
  EXPECT_EQ(takeStartLines(),
            (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 480 Temporarily Unavailable"}));
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
}

TEST_F(B2buaTest, UnparsableSdpIs488WithAWarning) {
  registerBob();
  receive(inviteLf("call-1", "bob", "not sdp\n"), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 488 Not Acceptable Here"}));
  EXPECT_EQ(parsedSent(sent[1]).header("Warning").substr(0, 18), "399 rendezvous \"SD");
  EXPECT_EQ(b2b().activeCalls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
}

TEST_F(B2buaTest, CallsBeyondMaxCallsGet503RetryAfter5UntilOneEnds) {
  cfg_.maxCalls = 1;
  registerBob();
  auto first = inviteBob("call-1");
  receive(inviteLf("call-2", "bob", aliceSdp()), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 503 Service Unavailable"}));
  EXPECT_EQ(parsedSent(sent[1]).header("Retry-After"), "5");
  EXPECT_EQ(b2b().counters().callsRejected.get(), 1U);
  EXPECT_EQ(b2b().activeCalls(), 1U);

  receive(responseLf(first, 486, "Busy Here", "b1", kBobContact), bob_);
  take();
  inviteBob("call-3");
  EXPECT_EQ(b2b().activeCalls(), 1U);
  EXPECT_EQ(b2b().counters().callsRejected.get(), 1U);
}

TEST_F(B2buaTest, CallsBeyondMaxCallsPerSecondGet503RetryAfter1UntilTheBucketRefills) {
  cfg_.maxCallsPerSecond = 2;
  registerBob();
  inviteBob("call-1");
  inviteBob("call-2");
  receive(inviteLf("call-3", "bob", aliceSdp()), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 503 Service Unavailable"}));
  EXPECT_EQ(parsedSent(sent[1]).header("Retry-After"), "1");
  clock_.advanceMs(500);  // one token back at 2 per second
  inviteBob("call-4");
  EXPECT_EQ(b2b().activeCalls(), 3U);
  EXPECT_EQ(b2b().counters().callsRejected.get(), 1U);
}

TEST_F(B2buaTest, MediaTimeoutHangsUpBothLegsWithBye) {
  Dialogs d = establish();
  b2b().onMediaTimeout("call-1");
  EXPECT_EQ(takeStartLines(),
            (Lines{"alice: BYE sip:alice@127.0.0.2:5070 SIP/2.0", "bob: BYE sip:bob@10.0.0.3:5080 SIP/2.0"}));
  EXPECT_EQ(b2b().counters().mediaTimeouts.get(), 1U);
  EXPECT_EQ(b2b().activeCalls(), 0U);
  b2b().onMediaTimeout("call-1");
  EXPECT_TRUE(take().empty()) << "an unknown call is ignored";
  EXPECT_EQ(b2b().counters().mediaTimeouts.get(), 1U);
}

TEST_F(B2buaTest, LateOfferTheCalleesOfferGoesInThe200AndTheCallersAnswerInTheAck) {
  registerBob();
  auto inv = inviteBob("call-1", "");
  EXPECT_TRUE(inv.body().empty());
  EXPECT_EQ(anchor_.calls(), 0U) << "nothing to anchor yet";
  receive(responseLf(inv, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  auto ok = takeOnly("alice: SIP/2.0 200 OK");  // no ACK to bob yet: it must carry the answer
  const MediaTarget offer = mediaTarget(ok);
  EXPECT_EQ(offer.ip, "127.0.0.1");
  EXPECT_TRUE(isRelayPort(offer.port)) << offer.port;

  Dialogs d;
  d.aTag = std::string(ok.toTag());
  receive(fromAliceLf(d, "ACK", 1, sdpLf("198.18.0.2", 40000)), alice_);
  auto ack = takeOnly(kAckToBob);
  const MediaTarget answer = mediaTarget(ack);
  EXPECT_EQ(answer.ip, "127.0.0.1");
  EXPECT_TRUE(isRelayPort(answer.port)) << answer.port;
  EXPECT_NE(answer.port, offer.port);
  EXPECT_EQ(ack.cseq(), 1U);
}

TEST_F(B2buaTest, InviteWithMaxForwardsZeroIs483) {
  registerBob();
  std::string lf = inviteLf("call-1", "bob", aliceSdp());
  lf.replace(lf.find("Max-Forwards: 70"), 16, "Max-Forwards: 0");
  receive(lf, alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 483 Too Many Hops"}));
}

TEST_F(B2buaTest, RequestsOutsideAnyKnownDialogAre481) {
  Dialogs d;
  d.aTag = "nosuchtag";
  receive(fromAliceLf(d, "BYE", 2), alice_);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 481 Call/Transaction Does Not Exist"});
}

TEST_F(B2buaTest, OptionsIsAnsweredWithWhatWeAllow) {
  receive(
      "OPTIONS sip:127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKo1\nMax-Forwards: 70\n"
      "From: <sip:alice@example.com>;tag=o1\nTo: <sip:127.0.0.1>\nCall-ID: opt-1\nCSeq: 1 OPTIONS\n"
      "Content-Length: 0\n\n",
      alice_);
  auto ok = takeOnly("alice: SIP/2.0 200 OK");
  EXPECT_EQ(ok.header("Allow"),
            "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, MESSAGE, NOTIFY, REFER, SUBSCRIBE, "
            "PUBLISH");
  EXPECT_EQ(ok.header("Accept"), "application/sdp");
}

}  // namespace
}  // namespace rdv::b2bua::test
