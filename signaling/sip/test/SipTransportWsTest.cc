// SIP over WebSocket (RFC 7118) in SipTransport, on loopback: the Upgrade handshake, a REGISTER in a
// masked frame delivered as a Ws peer and answered in a text frame on its connection, ping/pong,
// a bad handshake refused with 400, a protocol error closed with 1002 and counted, no reconnect
// towards a WebSocket peer, and the same over TLS (WSS) as a Wss peer.

#include "signaling/sip/SipTransport.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "signaling/sip/WsFrame.h"
#include "signaling/sip/test/TestCertificate.h"

namespace rdv::sip {
namespace {

constexpr std::string_view kUpgrade =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

constexpr std::string_view kRegister =
    "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-ws1\r\n"
    "From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: ws-1\r\nCSeq: 1 REGISTER\r\n"
    "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\r\nContent-Length: 0\r\n\r\n";

std::string masked(uint8_t opcode, std::string_view payload) {
  const char key[4] = {0x11, 0x22, 0x33, 0x44};
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  if (payload.size() <= 125) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xff));
  }
  f.append(key, 4);
  for (size_t i = 0; i < payload.size(); ++i) f.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return f;
}

class SipWsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    ASSERT_TRUE(transport_.listen("127.0.0.1:0"));
    ASSERT_TRUE(transport_.listenWs("127.0.0.1:0"));
    ASSERT_NE(transport_.wsLocal(false).port(), 0);
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
  }

  // Runs the transport's event loop until `done` or about five seconds have passed.
  template <typename Pred>
  bool pump(Pred done) {
    for (int i = 0; i < 500 && !done(); ++i) {
      pollfd p{transport_.fd(), POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) transport_.onReadable();
      drainClient();
    }
    return done();
  }
  void connectWs() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const common::SockAddr to = transport_.wsLocal(false);
    ASSERT_EQ(::connect(fd_, to.sa(), to.len()), 0);
  }
  void clientSend(std::string_view bytes) const {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  void drainClient() {
    char buf[8192];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0) eof_ = true;
      if (n <= 0) return;
      got_.append(buf, static_cast<size_t>(n));
    }
  }
  // Handshake done and the 101 taken off got_.
  void upgrade() {
    connectWs();
    clientSend(kUpgrade);
    ASSERT_TRUE(pump([&] { return got_.find("\r\n\r\n") != std::string::npos; }));
    ASSERT_TRUE(got_.starts_with("HTTP/1.1 101 ")) << got_;
    got_.erase(0, got_.find("\r\n\r\n") + 4);
  }

  int fd_ = -1;
  std::string got_;
  bool eof_ = false;
  std::vector<std::pair<SipMessage, SipPeer>> received_;
  std::vector<uint64_t> closed_;
  SipTransport transport_{
      [this](SipMessage&& m, const SipPeer& p) { received_.emplace_back(std::move(m), p); },
      [this](uint64_t id) { closed_.push_back(id); }, common::SystemClock::instance()};
};

TEST_F(SipWsTest, DeliversAFramedRequestAsAWsPeerAndAnswersInATextFrame) {
  upgrade();
  EXPECT_EQ(transport_.counters().wsUpgrades.get(), 1U);
  const std::string frame = masked(1, kRegister);
  clientSend(frame.substr(0, 7));  // split inside the header: the reader waits
  clientSend(frame.substr(7));
  ASSERT_TRUE(pump([&] { return !received_.empty(); }));
  const SipPeer peer = received_.front().second;
  EXPECT_EQ(received_.front().first.method(), SipMethod::Register);
  EXPECT_EQ(peer.kind, SipTransportKind::Ws);
  EXPECT_NE(peer.connId, 0U);

  const std::string reply = "SIP/2.0 200 OK\r\nCall-ID: ws-1\r\nContent-Length: 0\r\n\r\n";
  ASSERT_TRUE(transport_.send(peer, reply));
  std::string expected;
  appendWsFrame(expected, WsOpcode::Text, reply);
  EXPECT_TRUE(pump([&] { return got_.size() >= expected.size(); }));
  EXPECT_EQ(got_, expected);
}

TEST_F(SipWsTest, AnswersPingWithPongAndCloseWithClose) {
  upgrade();
  clientSend(masked(9, "beat"));
  std::string pong;
  appendWsFrame(pong, WsOpcode::Pong, "beat");
  ASSERT_TRUE(pump([&] { return got_.size() >= pong.size(); }));
  EXPECT_EQ(got_, pong);
  got_.clear();
  clientSend(masked(8, std::string("\x03\xe8", 2)));
  ASSERT_TRUE(pump([&] { return eof_; }));
  std::string close;
  appendWsClose(close, kWsCloseNormal);
  EXPECT_EQ(got_, close);
  EXPECT_EQ(closed_.size(), 1U);
  EXPECT_EQ(transport_.counters().connections.get(), 0U);
}

TEST_F(SipWsTest, RefusesAHandshakeWithoutTheSipSubprotocol) {
  connectWs();
  std::string req(kUpgrade);
  req.erase(req.find("Sec-WebSocket-Protocol: sip\r\n"), 29);
  clientSend(req);
  ASSERT_TRUE(pump([&] { return eof_; }));
  EXPECT_TRUE(got_.starts_with("HTTP/1.1 400 Bad Request\r\n")) << got_;
  EXPECT_EQ(transport_.counters().wsRejected.get(), 1U);
  EXPECT_TRUE(received_.empty());
}

TEST_F(SipWsTest, ClosesWith1002OnAnUnmaskedFrameAndCountsIt) {
  upgrade();
  std::string unmasked;
  appendWsFrame(unmasked, WsOpcode::Text, kRegister);
  clientSend(unmasked);
  ASSERT_TRUE(pump([&] { return eof_; }));
  ASSERT_GE(got_.size(), 4U);
  EXPECT_EQ(static_cast<uint8_t>(got_[0]), 0x88);
  EXPECT_EQ((static_cast<uint8_t>(got_[2]) << 8) | static_cast<uint8_t>(got_[3]), kWsCloseProtocolError);
  EXPECT_EQ(transport_.counters().wsProtocolErrors.get(), 1U);
  EXPECT_TRUE(received_.empty());
}

TEST_F(SipWsTest, AnswersAnUnparsableMessageWith400InAFrame) {
  upgrade();
  clientSend(masked(1, "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bK-2\r\n"
                       "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: bad\r\nCSeq: nonsense\r\n\r\n"));
  ASSERT_TRUE(pump([&] { return got_.find("SIP/2.0 400") != std::string::npos; })) << got_;
  EXPECT_EQ(transport_.counters().malformed.get(), 1U);
  EXPECT_TRUE(received_.empty());
}

TEST_F(SipWsTest, DoesNotReconnectToAWebSocketPeerWhoseConnectionClosed) {
  upgrade();
  clientSend(masked(1, kRegister));
  ASSERT_TRUE(pump([&] { return !received_.empty(); }));
  SipPeer peer = received_.front().second;
  ::close(fd_);
  fd_ = -1;
  ASSERT_TRUE(pump([&] { return !closed_.empty(); }));
  peer.reconnectTo = peer.addr;
  EXPECT_FALSE(transport_.send(peer, "OPTIONS sip:a@x.invalid SIP/2.0\r\n\r\n"));
  EXPECT_EQ(transport_.counters().outboundConnections.get(), 0U);
}

TEST(SipWssTest, DeliversARequestOverTlsAsAWssPeer) {
  signal(SIGPIPE, SIG_IGN);
  test::CertFiles files;
  std::vector<SipPeer> peers;
  SipTransport transport([&](SipMessage&&, const SipPeer& p) { peers.push_back(p); }, [](uint64_t) {},
                         common::SystemClock::instance());
  ASSERT_TRUE(transport.listen("127.0.0.1:0"));
  auto r = transport.listenWss("127.0.0.1:0", files.cert, files.key);
  ASSERT_TRUE(r) << r.error();
  const common::SockAddr to = transport.wsLocal(true);
  std::atomic<bool> done{false};
  std::string handshake;
  std::thread client([&] {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL* ssl = SSL_new(ctx);
    if (::connect(fd, to.sa(), to.len()) == 0 && SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1) {
      SSL_write(ssl, kUpgrade.data(), static_cast<int>(kUpgrade.size()));
      char buf[1024];
      while (handshake.find("\r\n\r\n") == std::string::npos) {
        int n = SSL_read(ssl, buf, sizeof(buf));
        if (n <= 0) break;
        handshake.append(buf, static_cast<size_t>(n));
      }
      const std::string f = masked(1, kRegister);
      SSL_write(ssl, f.data(), static_cast<int>(f.size()));
      while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // until the server has it
    }
    SSL_free(ssl);
    ::close(fd);
    SSL_CTX_free(ctx);
  });
  for (int i = 0; i < 500 && peers.empty(); ++i) {
    pollfd p{transport.fd(), POLLIN, 0};
    if (::poll(&p, 1, 10) > 0) transport.onReadable();
  }
  done = true;
  client.join();
  EXPECT_TRUE(handshake.starts_with("HTTP/1.1 101 ")) << handshake;
  ASSERT_EQ(peers.size(), 1U);
  EXPECT_EQ(peers[0].kind, SipTransportKind::Wss);
}

}  // namespace
}  // namespace rdv::sip
