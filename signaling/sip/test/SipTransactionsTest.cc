// RFC 3261 §17 behaviour of SipTransactions, driven by a ManualClock and a recording sender: every
// retransmission and timeout is asserted at its exact instant (T1 = 500 ms, T2 = 4 s, T4 = 5 s).

#include "signaling/sip/SipTransactions.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "signaling/sip/test/FakeSipSender.h"

namespace rdv::sip {
namespace {

using test::parseSip;
using test::runTimersUntil;
using test::SentMessage;

// Tests count time from kT0 (a monotonic clock is never at 0).
constexpr uint64_t kT0 = 10'000;

struct Recorder : SipTransactionUser {
  std::vector<std::string> requests;
  std::vector<int> responses;
  std::vector<std::pair<TxnId, uint64_t>> timeouts;  // id, instant
  std::vector<TxnId> cancels;
  TxnId lastServer = 0;
  const common::Clock* clock = nullptr;
  void onRequest(TxnId id, const SipMessage& req, const SipPeer&) override {
    requests.emplace_back(req.methodText());
    lastServer = id;
  }
  void onCancel(TxnId id) override { cancels.push_back(id); }
  void onResponse(TxnId, const SipMessage& resp) override { responses.push_back(resp.status()); }
  void onTimeout(TxnId id) override { timeouts.emplace_back(id, clock->monotonicMs() - kT0); }
};

// Instants (ms after kT0) at which messages starting with `prefix` were sent.
std::vector<uint64_t> instants(const std::vector<SentMessage>& sent, std::string_view prefix) {
  std::vector<uint64_t> out;
  for (const auto& m : sent) {
    if (m.startsWith(prefix)) out.push_back(m.atMs - kT0);
  }
  return out;
}

class SipTransactionsTest : public ::testing::Test {
 protected:
  void SetUp() override { tu_.clock = &clock_; }

  // Runs every timer up to kT0 + ms, each at its exact instant.
  void runUntil(uint64_t ms) { runTimersUntil(clock_, txns_, kT0 + ms); }
  void receive(std::string_view lf, SipTransportKind kind = SipTransportKind::Udp) {
    txns_.onMessage(parseSip(lf), SipPeer{peer_, kind, kind == SipTransportKind::Udp ? 0U : 7U});
  }
  static std::string invite(std::string_view branch) {
    return "INVITE sip:bob@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2;branch=" + std::string(branch) +
           "\nMax-Forwards: 70\nFrom: <sip:a@x>;tag=1\nTo: <sip:bob@x>\nCall-ID: c1\nCSeq: 1 INVITE\n"
           "Content-Length: 0\n\n";
  }
  static std::string ack(std::string_view branch, std::string_view toTag) {
    return "ACK sip:bob@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2;branch=" + std::string(branch) +
           "\nMax-Forwards: 70\nFrom: <sip:a@x>;tag=1\nTo: <sip:bob@x>;tag=" + std::string(toTag) +
           "\nCall-ID: c1\nCSeq: 1 ACK\nContent-Length: 0\n\n";
  }
  std::string outgoing(std::string_view method, const std::string& branch) const {
    return std::string(method) + " sip:x@127.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=" + branch +
           "\r\nMax-Forwards: 70\r\nFrom: <sip:r@x>;tag=9\r\nTo: <sip:x@x>\r\nCall-ID: o1\r\nCSeq: 7 " +
           std::string(method) + "\r\nContent-Length: 0\r\n\r\n";
  }
  std::string responseTo(const std::string& branch, std::string_view method, int status, std::string_view reason) {
    return "SIP/2.0 " + std::to_string(status) + " " + std::string(reason) +
           "\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=" + branch +
           "\nFrom: <sip:r@x>;tag=9\nTo: <sip:x@x>;tag=b1\nCall-ID: o1\nCSeq: 7 " + std::string(method) +
           "\nContent-Length: 0\n\n";
  }

  common::ManualClock clock_{kT0 * 1'000'000};
  test::FakeSipSender sender_{clock_};
  Recorder tu_;
  SipTransactions txns_{sender_, tu_, clock_};
  common::SockAddr peer_ = *common::SockAddr::fromIp("127.0.0.2", 5062);
};

TEST_F(SipTransactionsTest, RetransmittedInviteIsAbsorbedAndGetsTheLastResponse) {
  receive(invite("z9hG4bKa1"));
  ASSERT_EQ(tu_.requests.size(), 1U);
  txns_.respond(tu_.lastServer, 180, "Ringing", "t1");
  auto first = sender_.take();
  ASSERT_EQ(first.size(), 2U);
  EXPECT_TRUE(first[0].startsWith("SIP/2.0 100 Trying"));
  EXPECT_TRUE(first[1].startsWith("SIP/2.0 180 Ringing"));
  receive(invite("z9hG4bKa1"));
  auto again = sender_.take();
  EXPECT_EQ(tu_.requests.size(), 1U) << "a retransmission is not a new request";
  ASSERT_EQ(again.size(), 1U);
  EXPECT_TRUE(again[0].startsWith("SIP/2.0 180 Ringing"));
}

TEST_F(SipTransactionsTest, NonSuccessFinalIsRetransmittedOnTimerGUntilAckAndAckIsAbsorbed) {
  receive(invite("z9hG4bKa2"));
  txns_.respond(tu_.lastServer, 486, "Busy Here", "t2");
  runUntil(7600);
  // Timer G: T1, then doubling, capped at T2 (500, 1000, 2000, 4000 ms apart).
  EXPECT_EQ(instants(sender_.take(), "SIP/2.0 486"), (std::vector<uint64_t>{0, 500, 1500, 3500, 7500}));
  receive(ack("z9hG4bKa2", "t2"));
  runUntil(40000);
  EXPECT_TRUE(sender_.take().empty()) << "retransmissions continue after the ACK";
  EXPECT_EQ(tu_.requests.size(), 1U) << "the ACK of a non-2xx belongs to the transaction";
}

TEST_F(SipTransactionsTest, SuccessFinalIsRetransmittedUntilTheDialogAcknowledgesIt) {
  receive(invite("z9hG4bKa3"));
  const TxnId id = tu_.lastServer;
  txns_.respond(id, 200, "OK", "t3");
  runUntil(2000);
  EXPECT_EQ(instants(sender_.take(), "SIP/2.0 200"), (std::vector<uint64_t>{0, 500, 1500}));
  txns_.acknowledged(id);
  runUntil(40000);
  EXPECT_TRUE(instants(sender_.take(), "SIP/2.0 200").empty());
}

TEST_F(SipTransactionsTest, ServerResponsesOverTcpAreNotRetransmitted) {
  receive(invite("z9hG4bKa4"), SipTransportKind::Tcp);
  txns_.respond(tu_.lastServer, 486, "Busy Here", "t4");
  runUntil(40000);
  EXPECT_EQ(instants(sender_.take(), "SIP/2.0 486"), std::vector<uint64_t>{0});
}

TEST_F(SipTransactionsTest, UnansweredNonInviteRetransmitsOnTimerECappedAtT2ThenTimerFAt64T1) {
  const TxnId id = txns_.sendRequest(outgoing("OPTIONS", txns_.newBranch()), SipPeer{peer_, SipTransportKind::Udp, 0});
  ASSERT_NE(id, 0U);
  runUntil(31999);
  EXPECT_TRUE(tu_.timeouts.empty());
  runUntil(40000);
  EXPECT_EQ(instants(sender_.take(), "OPTIONS"),
            (std::vector<uint64_t>{0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}));
  ASSERT_EQ(tu_.timeouts.size(), 1U);
  EXPECT_EQ(tu_.timeouts[0], std::make_pair(id, uint64_t{32000})) << "timer F fires at 64*T1";
}

TEST_F(SipTransactionsTest, UnansweredInviteDoublesOnTimerAThenTimerBAt64T1) {
  const TxnId id = txns_.sendRequest(outgoing("INVITE", txns_.newBranch()), SipPeer{peer_, SipTransportKind::Udp, 0});
  runUntil(40000);
  EXPECT_EQ(instants(sender_.take(), "INVITE"), (std::vector<uint64_t>{0, 500, 1500, 3500, 7500, 15500, 31500}));
  ASSERT_EQ(tu_.timeouts.size(), 1U);
  EXPECT_EQ(tu_.timeouts[0], std::make_pair(id, uint64_t{32000})) << "timer B fires at 64*T1";
}

TEST_F(SipTransactionsTest, ProvisionalStopsInviteRetransmissions) {
  const std::string branch = txns_.newBranch();
  txns_.sendRequest(outgoing("INVITE", branch), SipPeer{peer_, SipTransportKind::Udp, 0});
  runUntil(1000);
  receive(responseTo(branch, "INVITE", 180, "Ringing"));
  runUntil(20000);
  EXPECT_EQ(instants(sender_.take(), "INVITE"), (std::vector<uint64_t>{0, 500}));
  EXPECT_EQ(tu_.responses, std::vector<int>{180});
}

TEST_F(SipTransactionsTest, InviteThatGotAProvisionalOutlivesTimerBAndIsCancelledAtTimerC) {
  const std::string branch = txns_.newBranch();
  const TxnId id = txns_.sendRequest(outgoing("INVITE", branch), SipPeer{peer_, SipTransportKind::Udp, 0});
  runUntil(1000);
  receive(responseTo(branch, "INVITE", 180, "Ringing"));
  // §17.1.1.2: timer B (64*T1 = 32 s after the INVITE) no longer applies; timer C (181 s after
  // the 180) is the only guard.
  runUntil(181'999);
  EXPECT_TRUE(tu_.timeouts.empty());
  EXPECT_TRUE(instants(sender_.take(), "CANCEL").empty());
  runUntil(182'000);
  auto sent = sender_.take();
  ASSERT_EQ(instants(sent, "CANCEL"), std::vector<uint64_t>{182'000}) << "§16.8: timer C cancels";
  EXPECT_NE(sent.back().text.find("branch=" + branch), std::string::npos);
  EXPECT_NE(sent.back().text.find("CSeq: 7 CANCEL"), std::string::npos);
  receive(responseTo(branch, "CANCEL", 200, "OK"));
  receive(responseTo(branch, "INVITE", 487, "Request Terminated"));
  EXPECT_EQ(instants(sender_.take(), "ACK"), std::vector<uint64_t>{182'000});
  EXPECT_EQ(tu_.responses, (std::vector<int>{180, 200, 487}));
  runUntil(400'000);
  EXPECT_TRUE(tu_.timeouts.empty()) << "the 487 ended the INVITE: no timeout for " << id;
}

TEST_F(SipTransactionsTest, TimerCRestartsOnRingingButNotOnTrying) {
  const std::string branch = txns_.newBranch();
  const TxnId id = txns_.sendRequest(outgoing("INVITE", branch), SipPeer{peer_, SipTransportKind::Udp, 0});
  receive(responseTo(branch, "INVITE", 100, "Trying"));  // at 0: timer C runs from here
  runUntil(100'000);
  receive(responseTo(branch, "INVITE", 100, "Trying"));
  runUntil(181'000);
  EXPECT_EQ(instants(sender_.take(), "CANCEL"), std::vector<uint64_t>{181'000});
  receive(responseTo(branch, "CANCEL", 200, "OK"));  // its INVITE gets no 487

  const std::string other = txns_.newBranch();
  txns_.sendRequest(outgoing("INVITE", other), SipPeer{peer_, SipTransportKind::Udp, 0});
  receive(responseTo(other, "INVITE", 180, "Ringing"));  // at 181 s
  runUntil(250'000);
  receive(responseTo(other, "INVITE", 183, "Session Progress"));  // restarts timer C
  runUntil(430'999);
  EXPECT_TRUE(instants(sender_.take(), "CANCEL").empty());
  runUntil(431'000);
  EXPECT_EQ(instants(sender_.take(), "CANCEL"), std::vector<uint64_t>{431'000});
  // The first INVITE never got its final response: given up 64*T1 after its CANCEL (§9.1).
  ASSERT_FALSE(tu_.timeouts.empty());
  EXPECT_EQ(tu_.timeouts[0], std::make_pair(id, uint64_t{213'000}));
}

TEST_F(SipTransactionsTest, CancelBeforeAnyProvisionalIsHeldUntilTheFirstOne) {
  const std::string branch = txns_.newBranch();
  const TxnId id = txns_.sendRequest(outgoing("INVITE", branch), SipPeer{peer_, SipTransportKind::Udp, 0});
  runUntil(100);
  txns_.cancel(id);
  runUntil(1200);
  EXPECT_EQ(instants(sender_.take(), "INVITE"), (std::vector<uint64_t>{0, 500})) << "no CANCEL yet (§9.1)";
  receive(responseTo(branch, "INVITE", 180, "Ringing"));
  auto sent = sender_.take();
  ASSERT_EQ(instants(sent, "CANCEL"), std::vector<uint64_t>{1200}) << "sent with the first provisional";
  EXPECT_NE(sent[0].text.find("branch=" + branch), std::string::npos);
  txns_.cancel(id);
  EXPECT_TRUE(sender_.take().empty()) << "one CANCEL per INVITE";
  receive(responseTo(branch, "CANCEL", 200, "OK"));
  receive(responseTo(branch, "INVITE", 487, "Request Terminated"));
  EXPECT_EQ(instants(sender_.take(), "ACK"), std::vector<uint64_t>{1200});
  runUntil(100'000);
  EXPECT_TRUE(tu_.timeouts.empty());
}

TEST_F(SipTransactionsTest, HeldCancelIsDroppedWhenAFinalResponseComesFirst) {
  const std::string branch = txns_.newBranch();
  const TxnId id = txns_.sendRequest(outgoing("INVITE", branch), SipPeer{peer_, SipTransportKind::Udp, 0});
  txns_.cancel(id);
  receive(responseTo(branch, "INVITE", 486, "Busy Here"));
  runUntil(100'000);
  auto sent = sender_.take();
  EXPECT_TRUE(instants(sent, "CANCEL").empty());
  EXPECT_EQ(instants(sent, "ACK"), std::vector<uint64_t>{0});
  EXPECT_TRUE(tu_.timeouts.empty());
}

TEST_F(SipTransactionsTest, HeldCancelOfAnInviteThatNeverGetsAnswerEndsAtTimerB) {
  const TxnId id =
      txns_.sendRequest(outgoing("INVITE", txns_.newBranch()), SipPeer{peer_, SipTransportKind::Udp, 0});
  txns_.cancel(id);
  runUntil(100'000);
  EXPECT_TRUE(instants(sender_.take(), "CANCEL").empty());
  ASSERT_EQ(tu_.timeouts.size(), 1U);
  EXPECT_EQ(tu_.timeouts[0], std::make_pair(id, uint64_t{32'000}));
}

TEST_F(SipTransactionsTest, CancelledInviteWithoutFinalResponseEnds64T1AfterTheCancel) {
  const std::string branch = txns_.newBranch();
  const TxnId id = txns_.sendRequest(outgoing("INVITE", branch), SipPeer{peer_, SipTransportKind::Udp, 0});
  receive(responseTo(branch, "INVITE", 180, "Ringing"));
  runUntil(2000);
  txns_.cancel(id);
  EXPECT_EQ(instants(sender_.take(), "CANCEL"), std::vector<uint64_t>{2000});
  receive(responseTo(branch, "CANCEL", 200, "OK"));
  runUntil(33'999);
  EXPECT_TRUE(tu_.timeouts.empty());
  runUntil(34'000);
  ASSERT_EQ(tu_.timeouts.size(), 1U);
  EXPECT_EQ(tu_.timeouts[0], std::make_pair(id, uint64_t{34'000}));
}

TEST_F(SipTransactionsTest, SuccessCrossingTheCancelIsReportedToTheUser) {
  const std::string branch = txns_.newBranch();
  const TxnId id = txns_.sendRequest(outgoing("INVITE", branch), SipPeer{peer_, SipTransportKind::Udp, 0});
  receive(responseTo(branch, "INVITE", 180, "Ringing"));
  txns_.cancel(id);
  receive(responseTo(branch, "INVITE", 200, "OK"));
  receive(responseTo(branch, "CANCEL", 200, "OK"));
  EXPECT_EQ(tu_.responses, (std::vector<int>{180, 200, 200})) << "the INVITE's 2xx, then the CANCEL's";
  runUntil(100'000);
  EXPECT_TRUE(tu_.timeouts.empty());
}

TEST_F(SipTransactionsTest, ProvisionalMovesNonInviteRetransmissionsToT2) {
  const std::string branch = txns_.newBranch();
  txns_.sendRequest(outgoing("OPTIONS", branch), SipPeer{peer_, SipTransportKind::Udp, 0});
  runUntil(600);
  receive(responseTo(branch, "OPTIONS", 100, "Trying"));
  runUntil(12000);
  // Already scheduled at 1500 (interval 1000), then every T2.
  EXPECT_EQ(instants(sender_.take(), "OPTIONS"), (std::vector<uint64_t>{0, 500, 1500, 5500, 9500}));
}

TEST_F(SipTransactionsTest, ClientRequestsOverTcpAreSentOnce) {
  const TxnId id = txns_.sendRequest(outgoing("OPTIONS", txns_.newBranch()), SipPeer{peer_, SipTransportKind::Tcp, 3});
  runUntil(40000);
  EXPECT_EQ(instants(sender_.take(), "OPTIONS"), std::vector<uint64_t>{0});
  ASSERT_EQ(tu_.timeouts.size(), 1U);
  EXPECT_EQ(tu_.timeouts[0], std::make_pair(id, uint64_t{32000}));
}

TEST_F(SipTransactionsTest, FailedSendIsReportedAsTimeoutOnTheNextTimerPass) {
  sender_.failSends = true;
  const TxnId id = txns_.sendRequest(outgoing("OPTIONS", txns_.newBranch()), SipPeer{peer_, SipTransportKind::Tcp, 3});
  txns_.onTimer();
  ASSERT_EQ(tu_.timeouts.size(), 1U);
  EXPECT_EQ(tu_.timeouts[0], std::make_pair(id, uint64_t{0}));
}

TEST_F(SipTransactionsTest, ClientInviteAcksNonSuccessFinalHopByHop) {
  const std::string branch = txns_.newBranch();
  txns_.sendRequest(outgoing("INVITE", branch), SipPeer{peer_, SipTransportKind::Udp, 0});
  ASSERT_EQ(sender_.take().size(), 1U);
  receive(responseTo(branch, "INVITE", 486, "Busy Here"));
  auto got = sender_.take();
  ASSERT_EQ(got.size(), 1U);
  EXPECT_TRUE(got[0].startsWith("ACK sip:x@127.0.0.2 SIP/2.0"));
  EXPECT_NE(got[0].text.find("branch=" + branch), std::string::npos) << "ACK reuses the INVITE's branch";
  EXPECT_NE(got[0].text.find("CSeq: 7 ACK"), std::string::npos);
  EXPECT_NE(got[0].text.find("To: <sip:x@x>;tag=b1"), std::string::npos) << "To comes from the response";
  EXPECT_EQ(tu_.responses, std::vector<int>{486});
  // A retransmitted 486 (our ACK was lost) gets the same ACK again and is not reported twice.
  receive(responseTo(branch, "INVITE", 486, "Busy Here"));
  auto again = sender_.take();
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].text, got[0].text);
  EXPECT_EQ(tu_.responses, std::vector<int>{486});
  runUntil(40000);
  EXPECT_TRUE(tu_.timeouts.empty()) << "a completed transaction ends without a timeout";
}

TEST_F(SipTransactionsTest, CancelOfPendingInviteIsAnsweredAndReported) {
  receive(invite("z9hG4bKa5"));
  const TxnId inviteId = tu_.lastServer;
  sender_.take();
  receive("CANCEL sip:bob@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bKa5\nMax-Forwards: 70\n"
          "From: <sip:a@x>;tag=1\nTo: <sip:bob@x>\nCall-ID: c1\nCSeq: 1 CANCEL\nContent-Length: 0\n\n");
  auto got = sender_.take();
  ASSERT_EQ(got.size(), 1U);
  EXPECT_TRUE(got[0].startsWith("SIP/2.0 200 OK"));
  EXPECT_NE(got[0].text.find("CSeq: 1 CANCEL"), std::string::npos);
  EXPECT_EQ(tu_.cancels, std::vector<TxnId>{inviteId});
}

TEST_F(SipTransactionsTest, CancelWithoutInviteGets481) {
  receive("CANCEL sip:bob@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bKzz\nMax-Forwards: 70\n"
          "From: <sip:a@x>;tag=1\nTo: <sip:bob@x>\nCall-ID: c9\nCSeq: 1 CANCEL\nContent-Length: 0\n\n");
  auto got = sender_.take();
  ASSERT_EQ(got.size(), 1U);
  EXPECT_TRUE(got[0].startsWith("SIP/2.0 481"));
  EXPECT_TRUE(tu_.cancels.empty());
}

TEST_F(SipTransactionsTest, AckToSuccessGoesToTheDialogWithoutTransaction) {
  receive(ack("z9hG4bKnew", "t9"));
  EXPECT_EQ(tu_.requests, std::vector<std::string>{"ACK"});
  EXPECT_EQ(tu_.lastServer, 0U);
}

TEST_F(SipTransactionsTest, TablesSizedByABurstShrinkOnceItsTransactionsHaveEnded) {
  // 20,000 answered requests linger 64*T1 (timer J), 20,000 answered NOTIFY-like client
  // transactions T4 (timer K): the tables and the timer heap grow to hold them all, then give the
  // room back when they end; transactions that come later still work.
  for (int i = 0; i < 20000; ++i) {
    receive(fmt::format("OPTIONS sip:bob@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bKs{}\n"
                        "Max-Forwards: 70\nFrom: <sip:a@x>;tag=1\nTo: <sip:bob@x>\nCall-ID: s{}\nCSeq: 1 OPTIONS\n"
                        "Content-Length: 0\n\n",
                        i, i));
    txns_.respond(tu_.lastServer, 200, "OK", "t1");
    const std::string branch = txns_.newBranch();
    ASSERT_NE(txns_.sendRequest(outgoing("NOTIFY", branch), SipPeer{peer_, SipTransportKind::Udp, 0}), 0U);
    txns_.onMessage(parseSip(responseTo(branch, "NOTIFY", 200, "OK")), SipPeer{peer_, SipTransportKind::Udp, 0});
  }
  sender_.take();
  EXPECT_EQ(txns_.size(), 40000U);
  const size_t peak = txns_.capacity();
  EXPECT_GE(peak, 5U * 20000U) << "four tables and the heap hold the burst";
  runUntil(5000);
  EXPECT_EQ(txns_.size(), 20000U) << "client transactions end at timer K";
  runUntil(32000);
  EXPECT_EQ(txns_.size(), 0U) << "server transactions end at timer J";
  EXPECT_LT(txns_.capacity(), 20000U) << "the room of the burst is given back (was " << peak << ")";
  receive(invite("z9hG4bKafter"));
  txns_.respond(tu_.lastServer, 486, "Busy Here", "t2");
  receive(invite("z9hG4bKafter"));
  auto sent = sender_.take();
  ASSERT_EQ(sent.size(), 3U);
  EXPECT_TRUE(sent[2].startsWith("SIP/2.0 486 Busy Here")) << "a retransmission is still absorbed";
}

}  // namespace
}  // namespace rdv::sip
