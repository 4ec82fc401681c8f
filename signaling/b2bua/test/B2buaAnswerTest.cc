// Answers through the B2BUA: the ACK of each 2xx (its INVITE's CSeq, resent for retransmitted
// 2xx), answers whose SDP the relay cannot take (never passed on without media; the relay stays
// as before a refused re-offer), and how long the B2BUA tracks answered INVITEs.

#include <gtest/gtest.h>

#include "signaling/b2bua/B2bua.h"
#include "signaling/b2bua/test/B2buaCallTest.h"

namespace rdv::b2bua::test {
namespace {

using sip::test::runTimersUntil;

// Parses as SDP, but its only m-line has no connection address: the relay cannot anchor it.
constexpr std::string_view kSdpWithoutConnection =
    "v=0\no=- 7 7 IN IP4 198.18.0.3\ns=-\nt=0 0\nm=audio 50002 RTP/AVP 0\n";

class B2buaAnswerTest : public B2buaCallTest {
 protected:
  // The relay's idea of where alice (leg 0) and bob (leg 1) receive media.
  std::pair<common::SockAddr, common::SockAddr> advertised() {
    auto info = anchor_.query("call-1");
    EXPECT_TRUE(info.has_value());
    if (!info) return {};
    return {info->report.streams.at(0)[0].advertised, info->report.streams.at(0)[1].advertised};
  }
};

TEST_F(B2buaAnswerTest, AckOfA2xxCarriesItsInvitesCseqAfterOtherInDialogRequests) {
  Dialogs d = establish();
  const std::string firstOk =
      responseLf(*d.bInvite, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000));
  receive(fromAliceLf(d, "INVITE", 2, sdpLf("198.18.0.2", 40002)), alice_);
  auto reinvite = parsedSent(take().at(1));
  ASSERT_EQ(reinvite.cseq(), 2U);
  receive(fromAliceLf(d, "INFO", 3), alice_);  // overtakes the re-INVITE's answer on leg B
  auto info = parsedSent(take().at(0));
  ASSERT_EQ(info.cseq(), 3U);
  receive(responseLf(reinvite, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50002)), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "alice: SIP/2.0 200 OK"}));
  EXPECT_EQ(parsedSent(sent[0]).cseq(), 2U) << "the re-INVITE's CSeq, not the INFO's";
  receive(responseLf(info, 200, "OK", "b1", kBobContact), bob_);
  EXPECT_EQ(takeOnly("alice: SIP/2.0 200 OK").cseqMethodText(), "INFO");

  // Retransmitted 2xx (our ACKs lost): each gets its own ACK again.
  receive(responseLf(reinvite, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50002)), bob_);
  auto again = take();
  ASSERT_EQ(startLines(again), Lines{std::string(kAckToBob)});
  EXPECT_EQ(again[0].text, sent[0].text);
  receive(firstOk, bob_);
  EXPECT_EQ(takeOnly(kAckToBob).cseq(), 1U) << "the initial INVITE's 2xx is ACKed with CSeq 1";
}

TEST_F(B2buaAnswerTest, AckTowardsTheCallerCarriesTheCseqOfOurReinvite) {
  Dialogs d = establish();
  receive(fromBobLf(d, "INVITE", 1, sdpLf("198.18.0.3", 50004)), bob_);
  auto reinvite = parsedSent(take().at(1));
  receive(fromBobLf(d, "INFO", 2), bob_);
  auto info = parsedSent(take().at(0));
  ASSERT_EQ(reinvite.cseq() + 1, info.cseq());
  receive(responseLf(reinvite, 200, "OK", "", kAliceContact, sdpLf("198.18.0.2", 40004)), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: ACK sip:alice@127.0.0.2:5070 SIP/2.0", "bob: SIP/2.0 200 OK"}));
  EXPECT_EQ(parsedSent(sent[0]).cseq(), reinvite.cseq());
}

TEST_F(B2buaAnswerTest, AnswerTheRelayCannotTakeHangsUpTheCalleeAndFailsTheCaller) {
  registerBob();
  auto inv = inviteBob();
  receive(responseLf(inv, 180, "Ringing", "b1", kBobContact), bob_);
  take();
  receive(responseLf(inv, 200, "OK", "b1", kBobContact, kSdpWithoutConnection), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "bob: BYE sip:bob@10.0.0.3:5080 SIP/2.0",
                                     "alice: SIP/2.0 488 Not Acceptable Here"}));
  EXPECT_EQ(parsedSent(sent[0]).cseq(), inv.cseq());
  EXPECT_EQ(parsedSent(sent[1]).toTag(), "b1");
  auto err = parsedSent(sent[2]);
  EXPECT_EQ(err.header("Warning"), "399 rendezvous \"m-line 1 has no connection address\"");
  EXPECT_FALSE(err.toTag().empty());
  EXPECT_EQ(b2b().activeCalls(), 0U);
  EXPECT_EQ(b2b().counters().callsAnswered.get(), 0U);
  EXPECT_EQ(b2b().counters().callsFailed.get(), 1U);
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
}

TEST_F(B2buaAnswerTest, AnswerWithoutSdpToAnOfferIsNotPassedOn) {
  registerBob();
  auto inv = inviteBob();
  receive(responseLf(inv, 200, "OK", "b1", kBobContact), bob_);
  EXPECT_EQ(takeStartLines(), (Lines{std::string(kAckToBob), "bob: BYE sip:bob@10.0.0.3:5080 SIP/2.0",
                                     "alice: SIP/2.0 488 Not Acceptable Here"}));
  EXPECT_EQ(b2b().activeCalls(), 0U);
}

TEST_F(B2buaAnswerTest, ReinviteAnswerTheRelayCannotTakeIs488AndLeavesTheMediaAsBefore) {
  Dialogs d = establish();
  const auto before = advertised();
  ASSERT_EQ(before.first, addr("198.18.0.2", 40000));
  receive(fromAliceLf(d, "INVITE", 2, sdpLf("198.18.0.2", 40002)), alice_);
  auto reinvite = parsedSent(take().at(1));
  receive(responseLf(reinvite, 200, "OK", "b1", kBobContact, kSdpWithoutConnection), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "alice: SIP/2.0 488 Not Acceptable Here"}));
  EXPECT_EQ(parsedSent(sent[0]).cseq(), 2U) << "bob's dialog stays: his 2xx is ACKed";
  EXPECT_EQ(parsedSent(sent[1]).toTag(), d.aTag);
  EXPECT_EQ(advertised(), before) << "the relay is as it was before the re-offer";
  EXPECT_EQ(b2b().activeCalls(), 1U);

  // The call goes on: the next re-INVITE is forwarded (no 491) and answered normally.
  receive(fromAliceLf(d, "ACK", 2), alice_);
  receive(fromAliceLf(d, "INVITE", 3, sdpLf("198.18.0.2", 40006)), alice_);
  auto next = parsedSent(take().at(1));
  EXPECT_EQ(next.methodText(), "INVITE");
  receive(responseLf(next, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50006)), bob_);
  EXPECT_EQ(takeStartLines(), (Lines{std::string(kAckToBob), "alice: SIP/2.0 200 OK"}));
  EXPECT_EQ(advertised(), std::make_pair(addr("198.18.0.2", 40006), addr("198.18.0.3", 50006)));
}

TEST_F(B2buaAnswerTest, RejectedReinviteLeavesTheMediaAsBefore) {
  Dialogs d = establish();
  const auto before = advertised();
  receive(fromAliceLf(d, "INVITE", 2, sdpLf("198.18.0.2", 40002)), alice_);
  auto reinvite = parsedSent(take().at(1));
  EXPECT_EQ(advertised().first, addr("198.18.0.2", 40002)) << "an offer takes effect at once";
  receive(responseLf(reinvite, 488, "Not Acceptable Here", "b1", kBobContact), bob_);
  EXPECT_EQ(takeStartLines(), (Lines{std::string(kAckToBob), "alice: SIP/2.0 488 Not Acceptable Here"}));
  EXPECT_EQ(advertised(), before);
}

TEST_F(B2buaAnswerTest, AnsweredInvitesAreTrackedFor64T1AfterTheir2xx) {
  Dialogs d = establish();  // answered at kT0
  EXPECT_EQ(b2b().pendingRequests(), 1U);
  runTimersUntil(clock_, b2b(), kT0 + 10'000);
  receive(fromAliceLf(d, "INVITE", 2, sdpLf("198.18.0.2", 40002)), alice_);
  auto reinvite = parsedSent(take().at(1));
  receive(responseLf(reinvite, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50002)), bob_);
  receive(fromAliceLf(d, "ACK", 2), alice_);
  EXPECT_EQ(b2b().pendingRequests(), 2U);
  runTimersUntil(clock_, b2b(), kT0 + 31'999);
  EXPECT_EQ(b2b().pendingRequests(), 2U);
  runTimersUntil(clock_, b2b(), kT0 + 32'000);
  EXPECT_EQ(b2b().pendingRequests(), 1U) << "the initial INVITE's entry, 64*T1 after its 2xx";
  runTimersUntil(clock_, b2b(), kT0 + 42'000);
  EXPECT_EQ(b2b().pendingRequests(), 0U) << "the re-INVITE's";
  take();
  receive(fromAliceLf(d, "BYE", 3), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK", "bob: BYE sip:bob@10.0.0.3:5080 SIP/2.0"}));
  auto bye = parsedSent(sent[1]);
  receive(responseLf(bye, 200, "OK", "b1", kBobContact), bob_);
  EXPECT_EQ(b2b().pendingRequests(), 0U);
  EXPECT_EQ(b2b().activeCalls(), 0U);
}

}  // namespace
}  // namespace rdv::b2bua::test
