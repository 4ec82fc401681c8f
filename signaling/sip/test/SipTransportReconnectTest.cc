// Connections SipTransport opens itself (RFC 3261 §18.1.1), over real loopback sockets: a send to
// a TCP/TLS peer whose connection has closed connects to its reconnectTo address, queues what is
// sent meanwhile, reuses the connection for later sends and takes the party's messages on it; a
// refused connect, a connect that never completes and a failed TLS handshake are closed, counted
// and reported as closed connections. Event loops are bounded polls, never sleeps.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "common/Fd.h"
#include "signaling/sip/SipTransport.h"
#include "signaling/sip/test/TestCertificate.h"

namespace rdv::sip {
namespace {

constexpr uint64_t kStale = 99;  // a connection id the transport does not (or no longer) know

const std::string kInvite =
    "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-r1\r\n"
    "From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: rc-1\r\nCSeq: 1 INVITE\r\n"
    "Content-Length: 0\r\n\r\n";
const std::string kBye =
    "BYE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-r2\r\n"
    "From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>;tag=2\r\nCall-ID: rc-1\r\nCSeq: 2 BYE\r\n"
    "Content-Length: 0\r\n\r\n";
const std::string kRinging =
    "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-r1\r\n"
    "From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>;tag=2\r\nCall-ID: rc-1\r\nCSeq: 1 "
    "INVITE\r\n"
    "Content-Length: 0\r\n\r\n";

// A TCP socket bound to 127.0.0.1 on a port the kernel picks; listening when `backlog` >= 0.
common::Fd boundSocket(common::SockAddr& where, int backlog) {
  common::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  where = *common::SockAddr::fromIp("127.0.0.1", 0);
  EXPECT_EQ(::bind(fd.get(), where.sa(), where.len()), 0);
  socklen_t len = common::SockAddr::kStorage;
  getsockname(fd.get(), where.storage(), &len);
  if (backlog >= 0) {
    EXPECT_EQ(::listen(fd.get(), backlog), 0);
  }
  return fd;
}

class SipReconnectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    ASSERT_TRUE(transport_.listen("127.0.0.1:0"));
  }

  // A TCP/TLS peer whose connection is gone and who listens at `at`.
  static SipPeer stalePeer(const common::SockAddr& at, SipTransportKind kind = SipTransportKind::Tcp) {
    return SipPeer{at, kind, kStale, at};
  }

  // Runs the transport's event loop, and `also` after each pass, until `done` or about five
  // seconds have passed.
  template <typename Pred, typename Also>
  bool pump(Pred done, Also also) {
    for (int i = 0; i < 500 && !done(); ++i) {
      pollfd p{transport_.fd(), POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) transport_.onReadable();
      also();
    }
    return done();
  }
  template <typename Pred>
  bool pump(Pred done) {
    return pump(done, [] {});
  }

  // Accepts one connection on `listener` while pumping; invalid when none came.
  common::Fd acceptOne(const common::Fd& listener) {
    common::Fd accepted;
    pump([&] { return accepted.valid(); },
         [&] {
           accepted = common::Fd(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
         });
    return accepted;
  }
  // Reads from `fd` while pumping until `bytes` bytes have come (or the time is up).
  std::string readBytes(const common::Fd& fd, size_t bytes) {
    std::string got;
    pump([&] { return got.size() >= bytes; },
         [&] {
           char buf[4096];
           ssize_t n = ::recv(fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
           if (n > 0) got.append(buf, static_cast<size_t>(n));
         });
    return got;
  }

  common::ManualClock clock_{5'000'000'000};
  std::vector<std::pair<SipMessage, SipPeer>> received_;
  std::vector<uint64_t> closed_;
  SipTransport transport_{
      [this](SipMessage&& m, const SipPeer& p) { received_.emplace_back(std::move(m), p); },
      [this](uint64_t id) { closed_.push_back(id); }, clock_};
};

TEST_F(SipReconnectTest, SendToAClosedTcpPeerConnectsToItsAddressQueuesAndReusesTheConnection) {
  common::SockAddr phone;
  common::Fd listener = boundSocket(phone, 8);
  const SendResult first = transport_.send(stalePeer(phone), kInvite);
  ASSERT_TRUE(first.ok);
  ASSERT_NE(first.connId, kStale);
  const SendResult second = transport_.send(stalePeer(phone), kBye);  // while still connecting
  EXPECT_TRUE(second.ok);
  EXPECT_EQ(second.connId, first.connId) << "one connection per address";

  common::Fd conn = acceptOne(listener);
  ASSERT_TRUE(conn.valid());
  EXPECT_EQ(readBytes(conn, kInvite.size() + kBye.size()), kInvite + kBye) << "in order, nothing lost";
  EXPECT_EQ(transport_.counters().outboundConnections.get(), 1U);
  EXPECT_EQ(transport_.counters().connections.get(), 1U);

  // The party talks back on the connection we opened.
  ASSERT_EQ(::send(conn.get(), kRinging.data(), kRinging.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(kRinging.size()));
  ASSERT_TRUE(pump([&] { return !received_.empty(); }));
  EXPECT_EQ(received_[0].first.status(), 180);
  EXPECT_EQ(received_[0].second.kind, SipTransportKind::Tcp);
  EXPECT_EQ(received_[0].second.connId, first.connId);
  EXPECT_EQ(transport_.send(received_[0].second, kBye).connId, first.connId);
  EXPECT_EQ(readBytes(conn, kBye.size()), kBye);

  // Once that one closes too, the next send opens another.
  conn = common::Fd();
  ASSERT_TRUE(pump([&] { return !closed_.empty(); }));
  EXPECT_EQ(closed_, std::vector<uint64_t>{first.connId});
  const SendResult third = transport_.send(stalePeer(phone), kInvite);
  ASSERT_TRUE(third.ok);
  EXPECT_NE(third.connId, first.connId);
  common::Fd again = acceptOne(listener);
  ASSERT_TRUE(again.valid());
  EXPECT_EQ(readBytes(again, kInvite.size()), kInvite);
  EXPECT_EQ(transport_.counters().outboundConnections.get(), 2U);
  EXPECT_EQ(transport_.counters().outboundFailures.get(), 0U);
}

TEST_F(SipReconnectTest, WithoutAnAddressTheSendFails) {
  SipPeer gone{*common::SockAddr::fromIp("127.0.0.1", 5999), SipTransportKind::Tcp, kStale};
  EXPECT_FALSE(transport_.send(gone, kInvite).ok);
  EXPECT_EQ(transport_.counters().outboundConnections.get(), 0U);
}

TEST_F(SipReconnectTest, RefusedConnectIsClosedCountedAndReported) {
  common::SockAddr nobody;
  common::Fd reserved = boundSocket(nobody, -1);  // bound, not listening: connects are refused
  const SendResult r = transport_.send(stalePeer(nobody), kInvite);
  ASSERT_TRUE(r.ok) << "the refusal arrives through the event loop";
  ASSERT_TRUE(pump([&] { return !closed_.empty(); }));
  EXPECT_EQ(closed_, std::vector<uint64_t>{r.connId});
  EXPECT_EQ(transport_.counters().outboundConnections.get(), 1U);
  EXPECT_EQ(transport_.counters().outboundFailures.get(), 1U);
  EXPECT_EQ(transport_.counters().connections.get(), 0U);
}

TEST_F(SipReconnectTest, ConnectThatNeverCompletesIsGivenUpAfterTenSeconds) {
  // A listener whose accept queue is full drops further SYNs: the connect stays in progress.
  common::SockAddr busy;
  common::Fd listener = boundSocket(busy, 0);
  common::Fd filler(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(filler.get(), busy.sa(), busy.len()), 0);
  const SendResult r = transport_.send(stalePeer(busy), kInvite);
  ASSERT_TRUE(r.ok);
  for (int pass = 0; pass < 10; ++pass) {  // the event loop sees nothing complete
    pollfd p{transport_.fd(), POLLIN, 0};
    if (::poll(&p, 1, 10) > 0) transport_.onReadable();
  }
  ASSERT_TRUE(closed_.empty());
  clock_.advanceMs(10'000);
  transport_.closeIdle(3'900'000);
  EXPECT_TRUE(closed_.empty()) << "not before the limit";
  clock_.advanceMs(1);
  transport_.closeIdle(3'900'000);
  EXPECT_EQ(closed_, std::vector<uint64_t>{r.connId});
  EXPECT_EQ(transport_.counters().outboundFailures.get(), 1U);
}

TEST_F(SipReconnectTest, TlsPeerGetsAClientHandshakeThenTheQueuedRequest) {
  test::CertFiles files;
  common::SockAddr phone;
  common::Fd listener = boundSocket(phone, 8);
  std::atomic<bool> phoneDone{false};
  std::string phoneGot;
  std::thread phoneThread([&] {
    pollfd p{listener.get(), POLLIN, 0};
    ::poll(&p, 1, 5000);
    int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      char buf[4096];
      while (phoneGot.size() < kInvite.size()) {
        int n = SSL_read(ssl, buf, sizeof(buf));
        if (n <= 0) break;
        phoneGot.append(buf, static_cast<size_t>(n));
      }
      SSL_write(ssl, kRinging.data(), static_cast<int>(kRinging.size()));
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ::close(fd);
    SSL_CTX_free(ctx);
    phoneDone = true;
  });
  const SendResult r = transport_.send(stalePeer(phone, SipTransportKind::Tls), kInvite);
  EXPECT_TRUE(r.ok);
  pump([&] { return phoneDone.load() && !received_.empty(); });
  phoneThread.join();

  EXPECT_EQ(phoneGot, kInvite);
  ASSERT_EQ(received_.size(), 1U);
  EXPECT_EQ(received_[0].first.status(), 180);
  EXPECT_EQ(received_[0].second.kind, SipTransportKind::Tls);
  EXPECT_EQ(received_[0].second.connId, r.connId);
  EXPECT_EQ(transport_.counters().outboundConnections.get(), 1U);
  EXPECT_EQ(transport_.counters().outboundFailures.get(), 0U);
  EXPECT_EQ(transport_.counters().tlsHandshakeFailures.get(), 0U);
}

TEST_F(SipReconnectTest, FailedTlsHandshakeIsClosedCountedAndReported) {
  common::SockAddr phone;
  common::Fd listener = boundSocket(phone, 8);
  const SendResult r = transport_.send(stalePeer(phone, SipTransportKind::Tls), kInvite);
  ASSERT_TRUE(r.ok);
  common::Fd conn = acceptOne(listener);
  ASSERT_TRUE(conn.valid());
  const std::string notTls = "SIP/2.0 400 Not TLS\r\n\r\n";  // no TLS record: the handshake fails
  ASSERT_EQ(::send(conn.get(), notTls.data(), notTls.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(notTls.size()));
  ASSERT_TRUE(pump([&] { return !closed_.empty(); }));
  EXPECT_EQ(closed_, std::vector<uint64_t>{r.connId});
  EXPECT_TRUE(received_.empty());
  EXPECT_EQ(transport_.counters().tlsHandshakeFailures.get(), 1U);
  EXPECT_EQ(transport_.counters().outboundFailures.get(), 1U);
}

}  // namespace
}  // namespace rdv::sip
