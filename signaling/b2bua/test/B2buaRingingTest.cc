// A call before its answer: ringing for as long as the callee likes, and every way the B2BUA gives
// up on the callee (ring timeout, the caller's CANCEL or BYE, media timeout) -- the callee's INVITE
// is CANCELled once it has a provisional (RFC 3261 §9.1), its 487 is ACKed, and a 2xx crossing the
// CANCEL is ACKed and hung up. Exact instants from the ManualClock.

#include <gtest/gtest.h>

#include <algorithm>

#include "signaling/b2bua/B2bua.h"
#include "signaling/b2bua/test/B2buaCallTest.h"

namespace rdv::b2bua::test {
namespace {

using sip::test::runTimersUntil;

constexpr std::string_view kCancelToBob = "bob: CANCEL sip:bob@10.0.0.3:5080 SIP/2.0";
constexpr std::string_view kByeToBob = "bob: BYE sip:bob@10.0.0.3:5080 SIP/2.0";

class B2buaRingingTest : public B2buaCallTest {
 protected:
  // Bob's 487 to `inv` and the hop-by-hop ACK it gets; the call is then gone.
  void bobAnswers487(const sip::SipMessage& inv) {
    receive(responseLf(inv, 487, "Request Terminated", "b1", kBobContact), bob_);
    auto ack = takeOnly(kAckToBob);
    EXPECT_EQ(ack.topViaBranch(), inv.topViaBranch()) << "the ACK of a non-2xx is hop by hop";
    EXPECT_EQ(ack.cseq(), inv.cseq());
    EXPECT_EQ(ack.toTag(), "b1");
    EXPECT_EQ(b2b().activeCalls(), 0U);
    EXPECT_EQ(b2b().pendingRequests(), 0U) << "the INVITE ended";
  }
  // What the B2BUA sent at exactly kT0 + ms, as start lines (everything before is dropped); the
  // messages themselves stay in atSent_.
  Lines linesAt(uint64_t ms) {
    runTimersUntil(clock_, b2b(), kT0 + ms - 1);
    take();
    runTimersUntil(clock_, b2b(), kT0 + ms);
    atSent_ = take();
    for (const auto& m : atSent_) EXPECT_EQ(m.atMs, kT0 + ms);
    return startLines(atSent_);
  }
  // Alice's INVITE to bob, `target` bytes long once its LF are CRLF: the offer is padded with
  // attribute lines.
  static std::string inviteOfSize(size_t target) {
    const auto crlfSize = [](const std::string& lf) {
      return lf.size() + static_cast<size_t>(std::count(lf.begin(), lf.end(), '\n'));
    };
    const auto invite = [](const std::string& pad) { return inviteLf("call-1", "bob", aliceSdp() + pad); };
    const std::string line = "a=x:" + std::string(294, 'p') + "\n";  // 300 bytes with its CRLF
    std::string pad = line;
    while (crlfSize(invite(pad + line)) <= target) pad += line;
    for (int round = 0; round < 3; ++round) {  // Content-Length's digits settle in one round
      const size_t size = crlfSize(invite(pad));
      if (size < target) pad.insert(4, target - size, 'p');
      if (size > target) pad.erase(4, size - target);
    }
    return invite(pad);
  }

  std::vector<SentMessage> atSent_;
};

TEST_F(B2buaRingingTest, CalleeAnsweringAfter40SecondsOfRingingGetsAWorkingCall) {
  registerBob();
  auto inv = inviteBob();
  receive(responseLf(inv, 180, "Ringing", "b1", kBobContact), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 180 Ringing"});
  // Timer B (32 s after the INVITE) no longer applies once bob rang (RFC 3261 §17.1.1.2).
  runTimersUntil(clock_, b2b(), kT0 + 40'000);
  EXPECT_TRUE(take().empty()) << "no CANCEL, no 408, no retransmitted INVITE while ringing";
  receive(responseLf(inv, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "alice: SIP/2.0 200 OK"}));
  EXPECT_EQ(sent[1].atMs, kT0 + 40'000);
  EXPECT_TRUE(isRelayPort(mediaTarget(parsedSent(sent[1])).port));
  EXPECT_EQ(b2b().counters().callsAnswered.get(), 1U);
  EXPECT_EQ(b2b().counters().callsFailed.get(), 0U);
  EXPECT_EQ(b2b().activeCalls(), 1U);
  EXPECT_EQ(anchor_.calls(), 1U);
}

TEST_F(B2buaRingingTest, RingTimeoutCancelsTheCalleeAnswersTheCaller408AndAcksThe487) {
  cfg_.ringTimeoutSeconds = 2;
  registerBob();
  auto inv = inviteBob();
  receive(responseLf(inv, 180, "Ringing", "b1", kBobContact), bob_);
  take();
  // Housekeeping runs every second from the first timer pass, here at whole seconds.
  EXPECT_EQ(linesAt(2000), (Lines{std::string(kCancelToBob), "alice: SIP/2.0 408 Request Timeout"}));
  EXPECT_EQ(b2b().counters().callsFailed.get(), 1U) << "a ring timeout is a failed call";
  EXPECT_EQ(anchor_.calls(), 0U) << "media released at once";
  EXPECT_EQ(relay_.activeSessions(), 0U);
  EXPECT_EQ(b2b().activeCalls(), 0U);
  EXPECT_EQ(b2b().pendingRequests(), 1U) << "the callee's INVITE is tracked until it ends";
  auto cancel = parsedSent(atSent_.at(0));
  EXPECT_EQ(cancel.topViaBranch(), inv.topViaBranch()) << "RFC 3261 §9.1: the INVITE's branch";
  EXPECT_EQ(cancel.cseq(), inv.cseq());
  receive(responseLf(cancel, 200, "OK", "b1", kBobContact), bob_);
  EXPECT_TRUE(take().empty());
  bobAnswers487(inv);
}

TEST_F(B2buaRingingTest, RingTimeoutBeforeAnyProvisionalHoldsTheCancelUntilTheCalleeRings) {
  cfg_.ringTimeoutSeconds = 2;
  registerBob();
  auto inv = inviteBob();
  EXPECT_EQ(linesAt(2000), Lines{"alice: SIP/2.0 408 Request Timeout"}) << "no CANCEL before a provisional";
  receive(responseLf(inv, 180, "Ringing", "b1", kBobContact), bob_);
  auto cancel = takeOnly(kCancelToBob);
  EXPECT_EQ(cancel.topViaBranch(), inv.topViaBranch());
  EXPECT_EQ(cancel.cseq(), inv.cseq());
  bobAnswers487(inv);
}

TEST_F(B2buaRingingTest, CalleeSilentAfterTheRingTimeoutEndsTheCallAtTimerB) {
  cfg_.ringTimeoutSeconds = 2;
  registerBob();
  inviteBob();
  EXPECT_EQ(linesAt(2000), Lines{"alice: SIP/2.0 408 Request Timeout"});
  EXPECT_EQ(b2b().activeCalls(), 0U);
  runTimersUntil(clock_, b2b(), kT0 + 31'999);
  EXPECT_EQ(b2b().pendingRequests(), 1U);
  runTimersUntil(clock_, b2b(), kT0 + 32'000);
  EXPECT_EQ(b2b().pendingRequests(), 0U) << "timer B ends the callee's INVITE";
  EXPECT_EQ(b2b().counters().callsFailed.get(), 1U) << "counted once, at the ring timeout";
  for (const auto& line : takeStartLines()) EXPECT_NE(line, kCancelToBob);
}

TEST_F(B2buaRingingTest, AnswerCrossingTheRingTimeoutCancelIsAckedAndHungUp) {
  cfg_.ringTimeoutSeconds = 2;
  registerBob();
  auto inv = inviteBob();
  receive(responseLf(inv, 180, "Ringing", "b1", kBobContact), bob_);
  take();
  EXPECT_EQ(linesAt(2000), (Lines{std::string(kCancelToBob), "alice: SIP/2.0 408 Request Timeout"}));
  const std::string ok = responseLf(inv, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000));
  receive(ok, bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), std::string(kByeToBob)}));
  auto ack = parsedSent(sent[0]);
  EXPECT_EQ(ack.cseq(), inv.cseq());
  EXPECT_EQ(ack.toTag(), "b1");
  EXPECT_NE(ack.topViaBranch(), inv.topViaBranch()) << "the ACK of a 2xx is a new transaction";
  EXPECT_EQ(parsedSent(sent[1]).toTag(), "b1");
  EXPECT_EQ(b2b().activeCalls(), 0U);
  EXPECT_EQ(b2b().counters().callsAnswered.get(), 0U);
  receive(ok, bob_);
  auto again = take();
  ASSERT_EQ(startLines(again), Lines{std::string(kAckToBob)}) << "a retransmitted 2xx gets the same ACK";
  EXPECT_EQ(again[0].text, sent[0].text);
}

TEST_F(B2buaRingingTest, CallersCancelBeforeTheCalleeRangIsHeldUntilItDoes) {
  registerBob();
  auto inv = inviteBob();
  receive(cancelLf("call-1"), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 200 OK", "alice: SIP/2.0 487 Request Terminated"}));
  receive(responseLf(inv, 180, "Ringing", "b1", kBobContact), bob_);
  EXPECT_EQ(takeOnly(kCancelToBob).cseq(), inv.cseq()) << "the CANCEL goes with bob's first provisional";
  bobAnswers487(inv);
}

TEST_F(B2buaRingingTest, CallersByeOnTheEarlyDialogCancelsTheCalleeAndAnAnswerCrossingItIsHungUp) {
  registerBob();
  auto inv = inviteBob();
  receive(responseLf(inv, 180, "Ringing", "b1", kBobContact), bob_);
  Dialogs d;
  d.aTag = std::string(takeOnly("alice: SIP/2.0 180 Ringing").toTag());
  receive(fromAliceLf(d, "BYE", 2), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 200 OK", std::string(kCancelToBob),
                                     "alice: SIP/2.0 487 Request Terminated"}));
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(b2b().activeCalls(), 0U);
  EXPECT_EQ(b2b().pendingRequests(), 1U) << "the callee's INVITE is tracked for its final response";
  receive(responseLf(inv, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  EXPECT_EQ(takeStartLines(), (Lines{std::string(kAckToBob), std::string(kByeToBob)}));
  EXPECT_EQ(b2b().activeCalls(), 0U);
}

TEST_F(B2buaRingingTest, MediaTimeoutWhileRingingCancelsTheCalleeAndFailsTheCaller) {
  registerBob();
  auto inv = inviteBob();
  receive(responseLf(inv, 180, "Ringing", "b1", kBobContact), bob_);
  take();
  b2b().onMediaTimeout("call-1");
  EXPECT_EQ(takeStartLines(), (Lines{std::string(kCancelToBob), "alice: SIP/2.0 408 Request Timeout"}));
  EXPECT_EQ(b2b().counters().mediaTimeouts.get(), 1U);
  EXPECT_EQ(b2b().counters().callsFailed.get(), 1U);
  b2b().onMediaTimeout("call-1");
  EXPECT_TRUE(take().empty()) << "already given up on";
  bobAnswers487(inv);
}

TEST_F(B2buaRingingTest, InviteThatCannotBeBuiltFailsTheCallAtOnce) {
  registerBob();
  // Alice's INVITE at exactly the 64 KiB limit: ours to bob, with our longer Via, Call-ID and
  // Contact, no longer parses, so sendRequest refuses it (transaction id 0).
  const std::string lf = inviteOfSize(sip::SipMessage::kMaxMessageSize);
  ASSERT_EQ(lf.size() + static_cast<size_t>(std::count(lf.begin(), lf.end(), '\n')),
            sip::SipMessage::kMaxMessageSize);
  receive(lf, alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent),
            (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 500 Server Internal Error"}));
  EXPECT_EQ(sent[1].atMs, kT0) << "not at the ring timeout";
  EXPECT_EQ(b2b().activeCalls(), 0U);
  EXPECT_EQ(b2b().pendingRequests(), 0U);
  EXPECT_EQ(b2b().counters().callsFailed.get(), 1U);
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
}

TEST_F(B2buaRingingTest, InvitesThatAreNotRoutedTakeNoCallsPerSecondToken) {
  cfg_.maxCallsPerSecond = 1;
  registerBob();
  receive(inviteLf("call-1", "carol", aliceSdp()), alice_);  // not in sip.users
  receive(inviteLf("call-2", "alice", aliceSdp()), alice_);  // known, not registered
  receive(inviteLf("call-3", "bob", "not sdp\n"), alice_);   // an offer we cannot anchor
  EXPECT_EQ(takeStartLines(),
            (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 404 Not Found", "alice: SIP/2.0 100 Trying",
                   "alice: SIP/2.0 480 Temporarily Unavailable", "alice: SIP/2.0 100 Trying",
                   "alice: SIP/2.0 488 Not Acceptable Here"}));
  inviteBob("call-4");  // the one token of this second is still there
  receive(inviteLf("call-5", "bob", aliceSdp()), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 503 Service Unavailable"}));
  EXPECT_EQ(b2b().counters().callsRejected.get(), 1U);
}

}  // namespace
}  // namespace rdv::b2bua::test
