// RFC 3261 §17 behaviour of SipTransactions over a real loopback UDP transport, with a recording
// transaction user and a plain socket as the remote party. Timers are scaled down (T1 = 20 ms).

#include "signaling/SipTransactions.h"

#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "relay/test/FreePorts.h"

namespace rdv::signaling {
namespace {

struct Recorder : SipTransactionUser {
  std::vector<std::string> requests;
  std::vector<int> responses;
  std::vector<TxnId> timeouts;
  std::vector<TxnId> cancels;
  TxnId lastServer = 0;
  void onRequest(TxnId id, const SipMessage& req, const SipPeer&) override {
    requests.emplace_back(req.methodText());
    lastServer = id;
  }
  void onCancel(TxnId id) override { cancels.push_back(id); }
  void onResponse(TxnId, const SipMessage& resp) override { responses.push_back(resp.status()); }
  void onTimeout(TxnId id) override { timeouts.push_back(id); }
};

class SipTransactionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = relay::test::freePortWindow(2);
    ASSERT_TRUE(transport_.listen("127.0.0.1:" + std::to_string(port_)).has_value());
    peer_ = relay::Fd(::socket(AF_INET, SOCK_DGRAM, 0));
    auto a = *relay::SockAddr::fromIp("127.0.0.1", static_cast<uint16_t>(port_ + 1));
    ASSERT_EQ(::bind(peer_.get(), a.sa(), a.len()), 0);
    peerAddr_ = a;
  }

  // Runs the transport and timers until `done` or `ms` elapse.
  template <typename Pred>
  void pump(int ms, Pred done) {
    const uint64_t end = nowMs() + static_cast<uint64_t>(ms);
    while (!done() && nowMs() < end) {
      pollfd p{transport_.fd(), POLLIN, 0};
      ::poll(&p, 1, 5);
      transport_.onReadable();
      txns_.onTimer(nowMs());
    }
  }
  void sendFromPeer(const std::string& text) {
    auto to = *relay::SockAddr::fromIp("127.0.0.1", port_);
    ASSERT_GT(::sendto(peer_.get(), text.data(), text.size(), 0, to.sa(), to.len()), 0);
  }
  // Datagrams the peer received within `ms`.
  std::vector<std::string> peerInbox(int ms) {
    std::vector<std::string> out;
    const uint64_t end = nowMs() + static_cast<uint64_t>(ms);
    while (nowMs() < end) {
      pump(5, [] { return false; });
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(peer_.get(), buf, sizeof(buf), MSG_DONTWAIT)) > 0) out.emplace_back(buf, static_cast<size_t>(n));
    }
    return out;
  }
  static std::string invite(const std::string& branch) {
    return "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=" + branch +
           "\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
           "Content-Length: 0\r\n\r\n";
  }

  Recorder tu_;
  SipTransport transport_{[this](SipMessage&& m, const SipPeer& p) { txns_.onMessage(std::move(m), p); },
                          [](uint64_t) {}};
  SipTransactions txns_{transport_, tu_, SipTimers{20, 80}};
  uint16_t port_ = 0;
  relay::Fd peer_;
  relay::SockAddr peerAddr_;
};

TEST_F(SipTransactionsTest, RetransmittedInviteIsAbsorbedAndGetsTheLastResponse) {
  sendFromPeer(invite("z9hG4bKa1"));
  pump(500, [&] { return !tu_.requests.empty(); });
  ASSERT_EQ(tu_.requests.size(), 1U);
  txns_.respond(tu_.lastServer, 180, "Ringing", "t1");
  auto first = peerInbox(50);  // 100 Trying, 180 Ringing
  ASSERT_EQ(first.size(), 2U);
  sendFromPeer(invite("z9hG4bKa1"));
  auto again = peerInbox(50);
  EXPECT_EQ(tu_.requests.size(), 1U) << "a retransmission is not a new request";
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].rfind("SIP/2.0 180 Ringing", 0), 0U);
}

TEST_F(SipTransactionsTest, NonSuccessFinalIsRetransmittedUntilAckAndAckIsAbsorbed) {
  sendFromPeer(invite("z9hG4bKa2"));
  pump(500, [&] { return !tu_.requests.empty(); });
  txns_.respond(tu_.lastServer, 486, "Busy Here", "t2");
  auto got = peerInbox(150);  // 100, 486, then timer G retransmissions of the 486 (20, 40, 80 ms)
  size_t busy = 0;
  for (auto& m : got) busy += m.rfind("SIP/2.0 486", 0) == 0 ? 1 : 0;
  EXPECT_GE(busy, 3U);
  sendFromPeer("ACK sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKa2\r\nMax-Forwards: 70\r\n"
               "From: <sip:a@x>;tag=1\r\nTo: <sip:bob@x>;tag=t2\r\nCall-ID: c1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n");
  pump(30, [] { return false; });
  auto after = peerInbox(200);
  EXPECT_TRUE(after.empty()) << "retransmissions continue after the ACK";
  EXPECT_EQ(tu_.requests.size(), 1U) << "the ACK of a non-2xx belongs to the transaction";
}

TEST_F(SipTransactionsTest, UnansweredRequestIsRetransmittedThenTimesOut) {
  std::string options = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(port_) +
                        ";branch=" + txns_.newBranch() +
                        "\r\nMax-Forwards: 70\r\nFrom: <sip:r@x>;tag=9\r\nTo: <sip:x@x>\r\nCall-ID: o1\r\n"
                        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  TxnId id = txns_.sendRequest(options, SipPeer{peerAddr_, SipTransportKind::Udp, 0});
  ASSERT_NE(id, 0U);
  auto sent = peerInbox(400);
  EXPECT_GE(sent.size(), 4U) << "timer E retransmits at 20, 40, 80, 80... ms";
  pump(2000, [&] { return !tu_.timeouts.empty(); });
  EXPECT_EQ(tu_.timeouts, std::vector<TxnId>{id}) << "timer F after 64*T1";
}

TEST_F(SipTransactionsTest, ClientInviteAcksNonSuccessFinalHopByHop) {
  const std::string branch = txns_.newBranch();
  std::string inv = "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(port_) +
                    ";branch=" + branch +
                    "\r\nMax-Forwards: 70\r\nFrom: <sip:r@x>;tag=9\r\nTo: <sip:bob@x>\r\nCall-ID: i1\r\n"
                    "CSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n";
  txns_.sendRequest(inv, SipPeer{peerAddr_, SipTransportKind::Udp, 0});
  ASSERT_FALSE(peerInbox(10).empty());
  sendFromPeer("SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(port_) + ";branch=" + branch +
               "\r\nFrom: <sip:r@x>;tag=9\r\nTo: <sip:bob@x>;tag=b1\r\nCall-ID: i1\r\nCSeq: 7 INVITE\r\n"
               "Content-Length: 0\r\n\r\n");
  auto got = peerInbox(100);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().rfind("ACK sip:bob@127.0.0.1 SIP/2.0", 0), 0U);
  EXPECT_NE(got.back().find("branch=" + branch), std::string::npos) << "ACK reuses the INVITE's branch";
  EXPECT_NE(got.back().find("CSeq: 7 ACK"), std::string::npos);
  EXPECT_EQ(tu_.responses, std::vector<int>{486});
}

}  // namespace
}  // namespace rdv::signaling
