// RFC 4028 session timers and RFC 3262 reliable provisionals through the B2BUA: which headers
// each party gets, the PRACKs, and the exact ManualClock instants of retransmissions and of the
// BYEs that end an unrefreshed session.

#include <gtest/gtest.h>

#include <optional>

#include "signaling/b2bua/B2bua.h"
#include "signaling/b2bua/test/B2buaHarness.h"

namespace rdv::b2bua::test {
namespace {

using sip::test::runTimersUntil;
using Lines = std::vector<std::string>;

constexpr std::string_view kBobContact = "sip:bob@10.0.0.3:5080";
constexpr std::string_view kInviteToBob = "bob: INVITE sip:bob@10.0.0.3:5080 SIP/2.0";
constexpr std::string_view kAckToBob = "bob: ACK sip:bob@10.0.0.3:5080 SIP/2.0";
constexpr std::string_view kPrackToBob = "bob: PRACK sip:bob@10.0.0.3:5080 SIP/2.0";
constexpr std::string_view kByeToBob = "bob: BYE sip:bob@10.0.0.3:5080 SIP/2.0";
constexpr std::string_view kByeToAlice = "alice: BYE sip:alice@127.0.0.2:5070 SIP/2.0";
constexpr std::string_view kTimerCaller =
    "Supported: replaces, timer, 100rel\nSession-Expires: 90;refresher=uac\nMin-SE: 90\nRequire: foo\n";

// LF header lines inserted right after the start line of an LF-written message.
std::string withHeaders(std::string msgLf, std::string_view headersLf) {
  msgLf.insert(msgLf.find('\n') + 1, headersLf);
  return msgLf;
}

class B2buaTimersTest : public B2buaHarness {
 protected:
  static std::string aliceSdp() { return sdpLf("198.18.0.2", 40000); }

  // Alice INVITEs bob with `callerHeaders`; returns the INVITE bob got.
  sip::SipMessage inviteBob(std::string_view callerHeaders) {
    registerBob();
    receive(inviteLf("call-1", "bob", aliceSdp(), callerHeaders), alice_);
    auto sent = take();
    EXPECT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 100 Trying", std::string(kInviteToBob)}));
    return parsedSent(sent.at(1));
  }

  // Answers `inv` with a 200 carrying `answerHeaders`, checks the ACK and the caller's 200, ACKs
  // it as alice; returns the 200 alice got.
  sip::SipMessage answer(const sip::SipMessage& inv, std::string_view answerHeaders) {
    receive(
        withHeaders(responseLf(inv, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), answerHeaders),
        bob_);
    auto sent = take();
    EXPECT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "alice: SIP/2.0 200 OK"}));
    auto ok = parsedSent(sent.at(1));
    aTag_ = std::string(ok.toTag());
    receive(fromAlice("ACK", 1), alice_);
    EXPECT_TRUE(take().empty());
    return ok;
  }

  std::string fromAlice(std::string_view method, uint32_t cseq, std::string_view extraLf = {},
                        std::string_view sdp = {}) const {
    return withBody(fmt::format("{0} sip:rendezvous@127.0.0.1:5060 SIP/2.0\n"
                                "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-a{0}{1}\n"
                                "Max-Forwards: 70\n"
                                "From: \"Alice\" <sip:alice@example.com>;tag=a1\n"
                                "To: <sip:bob@127.0.0.1>;tag={2}\n"
                                "Call-ID: call-1\n"
                                "CSeq: {1} {0}\n"
                                "Contact: <sip:alice@127.0.0.2:5070>\n{3}",
                                method, cseq, aTag_, extraLf),
                    sdp);
  }

  // Start lines sent up to `untilMs` that are BYEs.
  Lines byesUntil(uint64_t untilMs) {
    runTimersUntil(clock_, b2b(), untilMs);
    Lines byes;
    for (auto& l : takeStartLines())
      if (l.find(": BYE ") != std::string::npos) byes.push_back(l);
    return byes;
  }

  std::string aTag_;
};

TEST_F(B2buaTimersTest, SessionTimerHeadersAnd100relCrossToTheCalleeOtherExtensionsDoNot) {
  auto inv = inviteBob(kTimerCaller);
  EXPECT_EQ(inv.header("Session-Expires"), "90;refresher=uac");
  EXPECT_EQ(inv.header("Min-SE"), "90");
  EXPECT_EQ(inv.header("Supported"), "timer, 100rel") << "replaces is not handled end to end";
  EXPECT_EQ(inv.header("Require"), "") << "foo is stripped";
}

TEST_F(B2buaTimersTest, SessionExpiresBelow90Gets422WithMinSe) {
  registerBob();
  receive(inviteLf("call-1", "bob", aliceSdp(), "Supported: timer\nSession-Expires: 60\n"), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent),
            (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 422 Session Interval Too Small"}));
  EXPECT_EQ(parsedSent(sent[1]).header("Min-SE"), "90");
  EXPECT_EQ(b2b().activeCalls(), 0U);
}

TEST_F(B2buaTimersTest, CalleesOwn422ReachesTheCallerWithItsMinSe) {
  auto inv = inviteBob(kTimerCaller);
  receive(withHeaders(responseLf(inv, 422, "Session Interval Too Small", "b1", kBobContact), "Min-SE: 120\n"),
          bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent),
            (Lines{std::string(kAckToBob), "alice: SIP/2.0 422 Session Interval Too Small"}));
  EXPECT_EQ(parsedSent(sent[1]).header("Min-SE"), "120");
}

TEST_F(B2buaTimersTest, RefreshBelow90Gets422AndLeavesTheSessionAsItWas) {
  auto inv = inviteBob(kTimerCaller);
  answer(inv, "Session-Expires: 90;refresher=uac\nRequire: timer\n");
  receive(fromAlice("UPDATE", 2, "Supported: timer\nSession-Expires: 45\n"), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 422 Session Interval Too Small"})) << "not relayed";
  EXPECT_EQ(parsedSent(sent[0]).header("Min-SE"), "90");
  EXPECT_EQ(byesUntil(kT0 + 60'000), (Lines{std::string(kByeToAlice), std::string(kByeToBob)}));
}

TEST_F(B2buaTimersTest, CalleesSessionExpiresReachesTheCallerAndNoRefreshMeansByeOnBothLegsAt60s) {
  auto inv = inviteBob(kTimerCaller);
  auto ok = answer(inv, "Session-Expires: 90;refresher=uac\nRequire: timer\nSupported: timer\n");
  EXPECT_EQ(ok.header("Session-Expires"), "90;refresher=uac");
  EXPECT_EQ(ok.header("Require"), "timer");
  EXPECT_TRUE(byesUntil(kT0 + 59'999).empty());
  EXPECT_EQ(byesUntil(kT0 + 60'000), (Lines{std::string(kByeToAlice), std::string(kByeToBob)}))
      << "90 s - min(32, 90/3) after the 2xx";
  EXPECT_EQ(b2b().counters().sessionExpired.get(), 1U);
  EXPECT_EQ(b2b().activeCalls(), 0U);
}

TEST_F(B2buaTimersTest, RefreshByUpdateFromTheCallerRestartsTheInterval) {
  auto inv = inviteBob(kTimerCaller);
  answer(inv, "Session-Expires: 90;refresher=uac\nRequire: timer\n");
  runTimersUntil(clock_, b2b(), kT0 + 45'000);
  take();
  receive(fromAlice("UPDATE", 2, "Supported: timer\nSession-Expires: 90;refresher=uac\n"), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: UPDATE sip:bob@10.0.0.3:5080 SIP/2.0"}));
  auto update = parsedSent(sent[0]);
  EXPECT_EQ(update.header("Session-Expires"), "90;refresher=uac");
  receive(withHeaders(responseLf(update, 200, "OK", "b1", kBobContact),
                      "Session-Expires: 90;refresher=uac\nRequire: timer\n"),
          bob_);
  sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK"}));
  EXPECT_EQ(parsedSent(sent[0]).header("Session-Expires"), "90;refresher=uac");

  EXPECT_TRUE(byesUntil(kT0 + 104'999).empty()) << "the first interval no longer counts";
  EXPECT_EQ(byesUntil(kT0 + 105'000), (Lines{std::string(kByeToAlice), std::string(kByeToBob)}));
  EXPECT_EQ(b2b().counters().sessionExpired.get(), 1U);
}

TEST_F(B2buaTimersTest, RefreshByReinviteFromTheCalleeRestartsTheInterval) {
  auto inv = inviteBob(kTimerCaller);
  answer(inv, "Session-Expires: 90;refresher=uas\nRequire: timer\n");
  runTimersUntil(clock_, b2b(), kT0 + 30'000);
  take();
  receive(withBody(fmt::format("INVITE sip:rendezvous@127.0.0.1:5060 SIP/2.0\n"
                               "Via: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bK-bre1\n"
                               "Max-Forwards: 70\nFrom: {};tag=b1\nTo: {}\nCall-ID: {}\nCSeq: 1 INVITE\n"
                               "Contact: <{}>\nSupported: timer\nSession-Expires: 90;refresher=uac\n",
                               inv.header("To"), inv.header("From"), inv.callId(), kBobContact),
                   sdpLf("198.18.0.3", 50000)),
          bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent),
            (Lines{"bob: SIP/2.0 100 Trying", "alice: INVITE sip:alice@127.0.0.2:5070 SIP/2.0"}));
  auto re = parsedSent(sent[1]);
  EXPECT_EQ(re.header("Session-Expires"), "90;refresher=uac");
  // Alice does not do session timers: her 200 has none, so we add it for bob, who refreshes.
  receive(responseLf(re, 200, "OK", "", "sip:alice@127.0.0.2:5070", aliceSdp()), alice_);
  sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: ACK sip:alice@127.0.0.2:5070 SIP/2.0", "bob: SIP/2.0 200 OK"}));
  auto ok = parsedSent(sent[1]);
  EXPECT_EQ(ok.header("Session-Expires"), "90;refresher=uac");
  EXPECT_EQ(ok.header("Require"), "timer");
  EXPECT_TRUE(byesUntil(kT0 + 89'999).empty());
  EXPECT_EQ(byesUntil(kT0 + 90'000), (Lines{std::string(kByeToAlice), std::string(kByeToBob)}));
}

TEST_F(B2buaTimersTest, CalleeWithoutTimerSupportTheCallerRefreshesAsTheB2buaTellsIt) {
  auto inv = inviteBob(kTimerCaller);
  auto ok = answer(inv, "");
  EXPECT_EQ(ok.header("Session-Expires"), "90;refresher=uac") << "RFC 4028 §8.1";
  EXPECT_EQ(ok.header("Require"), "timer");
  EXPECT_EQ(byesUntil(kT0 + 60'000), (Lines{std::string(kByeToAlice), std::string(kByeToBob)}));
}

TEST_F(B2buaTimersTest, CallWithoutSessionTimersIsNeverHungUpByOne) {
  auto inv = inviteBob("");
  auto ok = answer(inv, "");
  EXPECT_EQ(ok.header("Session-Expires"), "");
  EXPECT_TRUE(byesUntil(kT0 + 250'000).empty());
  EXPECT_EQ(b2b().activeCalls(), 1U);
  EXPECT_EQ(b2b().counters().sessionExpired.get(), 0U);
}

class B2buaReliableTest : public B2buaTimersTest {
 protected:
  // Bob sends a reliable 183 with SDP (RSeq `rseq`) and answers our PRACK if one came; returns
  // what was sent in reply to the 183.
  std::vector<sip::test::SentMessage> reliable183(const sip::SipMessage& inv, uint32_t rseq) {
    receive(
        withHeaders(responseLf(inv, 183, "Session Progress", "b1", kBobContact, sdpLf("198.18.0.3", 50000)),
                    fmt::format("Require: 100rel\nRSeq: {}\n", rseq)),
        bob_);
    auto sent = take();
    if (!sent.empty() && startLines(sent)[0] == kPrackToBob) {
      receive(responseLf(parsedSent(sent[0]), 200, "OK", "b1", kBobContact), bob_);
      EXPECT_TRUE(take().empty()) << "the PRACK's 200 ends at the B2BUA";
    }
    return sent;
  }
};

TEST_F(B2buaReliableTest, Reliable183IsPrackedAndRelayedReliablyToACallerSupporting100rel) {
  auto inv = inviteBob("Supported: 100rel\n");
  auto sent = reliable183(inv, 7);
  ASSERT_EQ(startLines(sent), (Lines{std::string(kPrackToBob), "alice: SIP/2.0 183 Session Progress"}));
  auto prack = parsedSent(sent[0]);
  EXPECT_EQ(prack.header("RAck"), "7 1 INVITE");
  EXPECT_EQ(prack.toTag(), "b1");
  EXPECT_EQ(prack.callId(), inv.callId());
  EXPECT_EQ(prack.cseq(), 2U);
  auto progress = parsedSent(sent[1]);
  EXPECT_EQ(progress.header("Require"), "100rel");
  EXPECT_EQ(progress.header("RSeq"), "1") << "our own numbering on leg A";
  EXPECT_EQ(mediaTarget(progress).ip, "127.0.0.1") << "early media anchored";
  EXPECT_TRUE(isRelayPort(mediaTarget(progress).port));
  aTag_ = std::string(progress.toTag());

  // Retransmitted at T1, 3 T1 (interval doubling) until alice PRACKs.
  runTimersUntil(clock_, b2b(), kT0 + 1600);
  auto again = take();
  ASSERT_EQ(startLines(again),
            (Lines{"alice: SIP/2.0 183 Session Progress", "alice: SIP/2.0 183 Session Progress"}));
  EXPECT_EQ(again[0].atMs, kT0 + 500);
  EXPECT_EQ(again[1].atMs, kT0 + 1500);
  EXPECT_EQ(parsedSent(again[1]).header("RSeq"), "1");

  receive(fromAlice("PRACK", 2, "RAck: 1 1 INVITE\n"), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 200 OK"})) << "answered here, not relayed";
  runTimersUntil(clock_, b2b(), kT0 + 40'000);
  for (auto& l : takeStartLines()) EXPECT_EQ(l.find("183"), std::string::npos) << l;
}

TEST_F(B2buaReliableTest, CallerWithout100relGetsAPlain183AndNoRetransmissions) {
  auto inv = inviteBob("");
  EXPECT_EQ(inv.header("Supported"), "");
  auto sent = reliable183(inv, 1);
  ASSERT_EQ(startLines(sent), (Lines{std::string(kPrackToBob), "alice: SIP/2.0 183 Session Progress"}));
  auto progress = parsedSent(sent[1]);
  EXPECT_EQ(progress.header("Require"), "");
  EXPECT_EQ(progress.header("RSeq"), "");
  EXPECT_TRUE(isRelayPort(mediaTarget(progress).port));
  runTimersUntil(clock_, b2b(), kT0 + 10'000);
  for (auto& l : takeStartLines()) EXPECT_EQ(l.find("183"), std::string::npos) << l;
}

TEST_F(B2buaReliableTest, RetransmittedReliable183IsAbsorbed) {
  auto inv = inviteBob("Supported: 100rel\n");
  reliable183(inv, 7);
  auto sent = reliable183(inv, 7);
  EXPECT_TRUE(sent.empty()) << startLines(sent).size();
}

TEST_F(B2buaReliableTest, FinalResponseStopsRetransmissionAnd200ReachesTheCaller) {
  auto inv = inviteBob("Supported: 100rel\n");
  reliable183(inv, 1);
  auto ok = answer(inv, "");
  EXPECT_EQ(ok.status(), 200);
  runTimersUntil(clock_, b2b(), kT0 + 40'000);
  for (auto& l : takeStartLines()) EXPECT_EQ(l.find("183"), std::string::npos) << l;
}

TEST_F(B2buaReliableTest, PrackWithSdpIs488AndPrackForNothingIs481) {
  auto inv = inviteBob("Supported: 100rel\n");
  auto sent = reliable183(inv, 1);
  aTag_ = std::string(parsedSent(sent.at(1)).toTag());
  receive(fromAlice("PRACK", 2, "RAck: 5 1 INVITE\n"), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 481 Call/Transaction Does Not Exist"}));
  receive(fromAlice("PRACK", 3, "RAck: 1 1 INVITE\n", aliceSdp()), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 488 Not Acceptable Here"}))
      << "offer/answer in PRACK is not supported";
}

TEST_F(B2buaReliableTest, NoPrackWithin64T1RejectsTheCallWith504AndCancelsTheCallee) {
  auto inv = inviteBob("Supported: 100rel\n");
  reliable183(inv, 1);
  runTimersUntil(clock_, b2b(), kT0 + 31'999);
  EXPECT_EQ(takeStartLines(), Lines(6, "alice: SIP/2.0 183 Session Progress")) << "T1, 3 T1, ..., 63 T1";
  runTimersUntil(clock_, b2b(), kT0 + 32'000);
  EXPECT_EQ(takeStartLines(),
            (Lines{"bob: CANCEL sip:bob@10.0.0.3:5080 SIP/2.0", "alice: SIP/2.0 504 Server Time-out"}))
      << "RFC 3262 §3: no PRACK within 64*T1";
  runTimersUntil(clock_, b2b(), kT0 + 60'000);
  for (auto& l : takeStartLines()) EXPECT_EQ(l.find("183"), std::string::npos) << l;
  EXPECT_EQ(b2b().counters().callsFailed.get(), 1U);
}

}  // namespace
}  // namespace rdv::b2bua::test
