// Forking: bob registered from two devices (desk phone and softphone) rings on both, in parallel
// or in turn (RFC 3261 §16.6/§16.7 as a B2BUA applies them).

#include <gtest/gtest.h>

#include "signaling/b2bua/test/B2buaCallTest.h"

namespace rdv::b2bua::test {
namespace {

using sip::test::runTimersUntil;

constexpr std::string_view kSoftContact = "sip:bob@10.0.0.4:5090";
constexpr std::string_view kInviteToSoft = "127.0.0.4:5090: INVITE sip:bob@10.0.0.4:5090 SIP/2.0";
constexpr std::string_view kAckToSoft = "127.0.0.4:5090: ACK sip:bob@10.0.0.4:5090 SIP/2.0";
constexpr std::string_view kCancelToDesk = "bob: CANCEL sip:bob@10.0.0.3:5080 SIP/2.0";
constexpr std::string_view kCancelToSoft = "127.0.0.4:5090: CANCEL sip:bob@10.0.0.4:5090 SIP/2.0";

class B2buaForkingTest : public B2buaCallTest {
 protected:
  // bob's desk phone (bob_, q=1) and softphone (soft_, q=0.5), each its own registration.
  void registerBothDevices() {
    receive(registerDeviceLf(kBobContact, "reg-desk", "1.0"), bob_);
    receive(registerDeviceLf(kSoftContact, "reg-soft", "0.5"), soft_);
    ASSERT_EQ(takeStartLines(), (Lines{"bob: SIP/2.0 200 OK", "127.0.0.4:5090: SIP/2.0 200 OK"}));
  }
  static std::string registerDeviceLf(std::string_view contact, std::string_view callId, std::string_view q) {
    return fmt::format(
        "REGISTER sip:127.0.0.1 SIP/2.0\n"
        "Via: SIP/2.0/UDP 10.0.0.9:5080;branch=z9hG4bK{1}\n"
        "Max-Forwards: 70\n"
        "From: <sip:bob@127.0.0.1>;tag=r{1}\n"
        "To: <sip:bob@127.0.0.1>\n"
        "Call-ID: {1}\n"
        "CSeq: 1 REGISTER\n"
        "Contact: <{0}>;q={2};expires=300\n"
        "Content-Length: 0\n\n",
        contact, callId, q);
  }
  struct Forked {
    sip::SipMessage desk;
    sip::SipMessage soft;
  };
  // Alice calls bob; both devices get an INVITE at once (parallel forking).
  Forked inviteBoth() {
    receive(inviteLf("call-1", "bob", aliceSdp()), alice_);
    auto sent = take();
    EXPECT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 100 Trying", std::string(kInviteToBob),
                                       std::string(kInviteToSoft)}));
    return Forked{parsedSent(sent.at(1)), parsedSent(sent.at(2))};
  }

  const sip::SipPeer soft_{addr("127.0.0.4", 5090)};
};

TEST_F(B2buaForkingTest, BothDevicesRingAndTheFirstAnswerWinsTheOtherIsCancelled) {
  registerBothDevices();
  auto f = inviteBoth();
  EXPECT_NE(f.desk.callId(), f.soft.callId()) << "each branch is its own dialog";
  EXPECT_NE(f.desk.fromTag(), f.soft.fromTag());
  EXPECT_EQ(mediaTarget(f.desk).port, mediaTarget(f.soft).port) << "both get the relay's offer";
  receive(responseLf(f.desk, 180, "Ringing", "d1", kBobContact), bob_);
  receive(responseLf(f.soft, 180, "Ringing", "s1", kSoftContact), soft_);
  auto ringing = take();
  ASSERT_EQ(startLines(ringing), (Lines{"alice: SIP/2.0 180 Ringing", "alice: SIP/2.0 180 Ringing"}));
  const std::string aTag(parsedSent(ringing[0]).toTag());
  EXPECT_EQ(parsedSent(ringing[1]).toTag(), aTag) << "the caller sees one dialog";

  receive(responseLf(f.soft, 200, "OK", "s1", kSoftContact, sdpLf("198.18.0.4", 52000)), soft_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToSoft), std::string(kCancelToDesk), "alice: SIP/2.0 200 OK"}));
  EXPECT_EQ(parsedSent(sent[0]).cseq(), f.soft.cseq());
  EXPECT_EQ(parsedSent(sent[1]).topViaBranch(), f.desk.topViaBranch()) << "CANCEL matches the desk's INVITE";
  auto ok = parsedSent(sent[2]);
  EXPECT_EQ(ok.toTag(), aTag);
  EXPECT_TRUE(isRelayPort(mediaTarget(ok).port));
  EXPECT_EQ(b2b().counters().callsAnswered.get(), 1U);

  receive(responseLf(f.desk, 487, "Request Terminated", "d1", kBobContact), bob_);
  EXPECT_EQ(takeOnly("bob: ACK sip:bob@10.0.0.3:5080 SIP/2.0").toTag(), "d1");
  EXPECT_EQ(b2b().activeCalls(), 1U);
  EXPECT_EQ(b2b().counters().callsFailed.get(), 0U);

  Dialogs d;
  d.aTag = aTag;
  receive(fromAliceLf(d, "ACK", 1), alice_);
  receive(fromAliceLf(d, "BYE", 2), alice_);
  auto bye = take();
  ASSERT_EQ(startLines(bye), (Lines{"alice: SIP/2.0 200 OK", "127.0.0.4:5090: BYE sip:bob@10.0.0.4:5090 SIP/2.0"}));
  EXPECT_EQ(parsedSent(bye[1]).callId(), f.soft.callId()) << "the BYE goes to the winning branch";
  EXPECT_EQ(b2b().activeCalls(), 0U);
}

TEST_F(B2buaForkingTest, EarlyMediaComesFromTheFirstBranchWithSdpAndTheWinnerTakesTheRelay) {
  registerBothDevices();
  auto f = inviteBoth();
  receive(responseLf(f.desk, 183, "Session Progress", "d1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  auto early = takeOnly("alice: SIP/2.0 183 Session Progress");
  const uint16_t relayPort = mediaTarget(early).port;
  EXPECT_TRUE(isRelayPort(relayPort)) << "the desk's early media is relayed";
  receive(responseLf(f.soft, 183, "Session Progress", "s1", kSoftContact, sdpLf("198.18.0.4", 52000)), soft_);
  auto second = takeOnly("alice: SIP/2.0 183 Session Progress");
  EXPECT_TRUE(second.body().empty()) << "one early media stream: the soft phone's SDP is not used yet";

  receive(responseLf(f.soft, 200, "OK", "s1", kSoftContact, sdpLf("198.18.0.4", 52000)), soft_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToSoft), std::string(kCancelToDesk), "alice: SIP/2.0 200 OK"}));
  EXPECT_EQ(mediaTarget(parsedSent(sent[2])).port, relayPort) << "alice keeps sending to the same relay port";
}

TEST_F(B2buaForkingTest, A200WithoutSdpFromABranchWhoseSdpWasNotUsedFailsThatBranchOnly) {
  registerBothDevices();
  auto f = inviteBoth();
  receive(responseLf(f.desk, 183, "Session Progress", "d1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  take();
  // The soft phone answers without SDP: the answer alice has is the desk's, not its own.
  receive(responseLf(f.soft, 200, "OK", "s1", kSoftContact), soft_);
  EXPECT_EQ(takeStartLines(),
            (Lines{std::string(kAckToSoft), "127.0.0.4:5090: BYE sip:bob@10.0.0.4:5090 SIP/2.0"}));
  receive(responseLf(f.desk, 200, "OK", "d1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  EXPECT_EQ(takeStartLines(), (Lines{std::string(kAckToBob), "alice: SIP/2.0 200 OK"}));
}

TEST_F(B2buaForkingTest, A6xxFromOneBranchStopsTheSearch) {
  registerBothDevices();
  auto f = inviteBoth();
  receive(responseLf(f.desk, 180, "Ringing", "d1", kBobContact), bob_);
  take();
  receive(responseLf(f.soft, 603, "Decline", "s1", kSoftContact), soft_);
  EXPECT_EQ(takeStartLines(),
            (Lines{"127.0.0.4:5090: ACK sip:bob@10.0.0.4:5090 SIP/2.0", std::string(kCancelToDesk),
                   "alice: SIP/2.0 603 Decline"}));
  EXPECT_EQ(b2b().activeCalls(), 0U);
  EXPECT_EQ(anchor_.calls(), 0U);
  receive(responseLf(f.desk, 487, "Request Terminated", "d1", kBobContact), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: ACK sip:bob@10.0.0.3:5080 SIP/2.0"});
}

TEST_F(B2buaForkingTest, WhenEveryBranchFailsTheCallerGetsTheLowestClass) {
  registerBothDevices();
  auto f = inviteBoth();
  receive(responseLf(f.soft, 486, "Busy Here", "s1", kSoftContact), soft_);
  EXPECT_EQ(takeStartLines(), Lines{"127.0.0.4:5090: ACK sip:bob@10.0.0.4:5090 SIP/2.0"}) << "the desk still rings";
  receive(responseLf(f.desk, 503, "Service Unavailable", "d1", kBobContact), bob_);
  EXPECT_EQ(takeStartLines(), (Lines{std::string(kAckToBob), "alice: SIP/2.0 486 Busy Here"}));
  EXPECT_EQ(b2b().counters().callsFailed.get(), 1U);
  EXPECT_EQ(b2b().activeCalls(), 0U);
}

TEST_F(B2buaForkingTest, ARealResponseOutranksABranchThatNeverAnswered) {
  registerBothDevices();
  auto f = inviteBoth();
  receive(responseLf(f.desk, 480, "Temporarily Unavailable", "d1", kBobContact), bob_);
  take();
  // The soft phone never answers: timer B (64*T1) ends its INVITE with our own 408.
  runTimersUntil(clock_, b2b(), kT0 + 32'000);
  EXPECT_EQ(takeStartLines().back(), "alice: SIP/2.0 480 Temporarily Unavailable");
}

TEST_F(B2buaForkingTest, ASecond2xxFromAnotherBranchIsAckedAndHungUp) {
  registerBothDevices();
  auto f = inviteBoth();
  receive(responseLf(f.desk, 200, "OK", "d1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  take();
  receive(responseLf(f.soft, 200, "OK", "s1", kSoftContact, sdpLf("198.18.0.4", 52000)), soft_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToSoft), "127.0.0.4:5090: BYE sip:bob@10.0.0.4:5090 SIP/2.0"}));
  EXPECT_EQ(parsedSent(sent[1]).toTag(), "s1");
  EXPECT_EQ(parsedSent(sent[1]).cseq(), f.soft.cseq() + 1);
  EXPECT_EQ(b2b().counters().callsAnswered.get(), 1U);
  EXPECT_EQ(b2b().activeCalls(), 1U) << "the desk's call goes on";
}

TEST_F(B2buaForkingTest, CallersCancelCancelsEveryBranch) {
  registerBothDevices();
  auto f = inviteBoth();
  receive(responseLf(f.desk, 180, "Ringing", "d1", kBobContact), bob_);
  take();
  receive(cancelLf("call-1"), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 200 OK", std::string(kCancelToDesk),
                                     "alice: SIP/2.0 487 Request Terminated"}));
  receive(responseLf(f.soft, 180, "Ringing", "s1", kSoftContact), soft_);
  EXPECT_EQ(takeStartLines(), Lines{std::string(kCancelToSoft)}) << "held until the soft phone rang (§9.1)";
}

TEST_F(B2buaForkingTest, MaxBranchesRingsOnlyTheMostPreferredContacts) {
  cfg_.maxBranches = 1;
  registerBothDevices();
  receive(inviteLf("call-1", "bob", aliceSdp()), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 100 Trying", std::string(kInviteToBob)})) << "q=1 first";
}

TEST_F(B2buaForkingTest, SequentialRingsHighestQFirstThenMovesOnAfterTheStep) {
  cfg_.forking = "sequential";
  cfg_.forkStepSeconds = 5;
  registerBothDevices();
  receive(inviteLf("call-1", "bob", aliceSdp()), alice_);
  auto first = take();
  ASSERT_EQ(startLines(first), (Lines{"alice: SIP/2.0 100 Trying", std::string(kInviteToBob)}));
  auto desk = parsedSent(first[1]);
  receive(responseLf(desk, 180, "Ringing", "d1", kBobContact), bob_);
  take();
  runTimersUntil(clock_, b2b(), kT0 + 4'999);
  EXPECT_TRUE(take().empty());
  runTimersUntil(clock_, b2b(), kT0 + 5'000);
  auto step = take();
  ASSERT_EQ(startLines(step), (Lines{std::string(kCancelToDesk), std::string(kInviteToSoft)}));
  auto soft = parsedSent(step[1]);
  // The last contact is not stepped away from: it rings until the ring timeout.
  runTimersUntil(clock_, b2b(), kT0 + 11'000);
  for (const auto& line : takeStartLines()) EXPECT_NE(line, kCancelToSoft);
  receive(responseLf(desk, 487, "Request Terminated", "d1", kBobContact), bob_);
  take();
  receive(responseLf(soft, 200, "OK", "s1", kSoftContact, sdpLf("198.18.0.4", 52000)), soft_);
  EXPECT_EQ(takeStartLines(), (Lines{std::string(kAckToSoft), "alice: SIP/2.0 200 OK"}));
}

TEST_F(B2buaForkingTest, SequentialMovesOnAtOnceWhenABranchFails) {
  cfg_.forking = "sequential";
  registerBothDevices();
  receive(inviteLf("call-1", "bob", aliceSdp()), alice_);
  auto desk = parsedSent(take().at(1));
  receive(responseLf(desk, 486, "Busy Here", "d1", kBobContact), bob_);
  EXPECT_EQ(takeStartLines(), (Lines{std::string(kAckToBob), std::string(kInviteToSoft)}));
}

TEST_F(B2buaForkingTest, SequentialStopsAtA6xx) {
  cfg_.forking = "sequential";
  registerBothDevices();
  receive(inviteLf("call-1", "bob", aliceSdp()), alice_);
  auto desk = parsedSent(take().at(1));
  receive(responseLf(desk, 600, "Busy Everywhere", "d1", kBobContact), bob_);
  EXPECT_EQ(takeStartLines(), (Lines{std::string(kAckToBob), "alice: SIP/2.0 600 Busy Everywhere"}));
}

}  // namespace
}  // namespace rdv::b2bua::test
