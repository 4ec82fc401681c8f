// SIP over TLS in SipTransport, on loopback: start-up errors name the file at fault, a request
// split across TLS records is framed and delivered as a Tls peer and answered on its connection,
// and a client that does not speak TLS is disconnected and counted.

#include "signaling/sip/SipTransport.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "signaling/sip/test/TestCertificate.h"

namespace rdv::sip {
namespace {

class SipTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { signal(SIGPIPE, SIG_IGN); }

  // Runs the transport's event loop until `done` or about five seconds have passed.
  template <typename Pred>
  bool pump(Pred done) {
    for (int i = 0; i < 500 && !done(); ++i) {
      pollfd p{transport_.fd(), POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) transport_.onReadable();
    }
    return done();
  }

  // A blocking TCP connection to the TLS port with a five-second receive timeout.
  int connectTls() const {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    const common::SockAddr& to = transport_.tlsLocal();
    EXPECT_EQ(::connect(fd, to.sa(), to.len()), 0);
    return fd;
  }

  test::CertFiles files_;
  std::vector<std::pair<SipMessage, SipPeer>> received_;
  SipTransport transport_{
      [this](SipMessage&& m, const SipPeer& p) { received_.emplace_back(std::move(m), p); }, [](uint64_t) {},
      common::SystemClock::instance()};
};

TEST_F(SipTlsTest, ListenTlsNamesTheFileThatCannotBeReadOrUsed) {
  const std::string missing = (files_.dir / "missing.pem").string();
  auto r = transport_.listenTls("127.0.0.1:0", missing, files_.key);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(missing), std::string::npos) << r.error();

  r = transport_.listenTls("127.0.0.1:0", files_.cert, missing);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(missing), std::string::npos) << r.error();

  const std::string garbage = (files_.dir / "garbage.pem").string();
  std::ofstream(garbage) << "not a certificate\n";
  r = transport_.listenTls("127.0.0.1:0", garbage, files_.key);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(garbage), std::string::npos) << r.error();

  r = transport_.listenTls("127.0.0.1:0", files_.cert, files_.otherKey);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(files_.otherKey), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("mismatch"), std::string::npos) << r.error();
  EXPECT_EQ(transport_.tlsLocal().port(), 0);
}

TEST_F(SipTlsTest, DeliversARequestSplitAcrossRecordsAndAnswersOnItsConnection) {
  ASSERT_TRUE(transport_.listen("127.0.0.1:0"));
  auto r = transport_.listenTls("127.0.0.1:0", files_.cert, files_.key);
  ASSERT_TRUE(r) << r.error();
  ASSERT_NE(transport_.tlsLocal().port(), 0);

  const std::string request =
      "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-1\r\n"
      "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: tls-1\r\nCSeq: 1 OPTIONS\r\n"
      "Content-Length: 4\r\n\r\nbody";
  const std::string reply = "SIP/2.0 200 OK\r\nCall-ID: tls-1\r\nContent-Length: 0\r\n\r\n";
  std::atomic<bool> clientDone{false};
  std::string clientGot;
  std::string clientVersion;
  std::thread client([&] {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx, files_.cert.c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    int fd = connectTls();
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
      clientVersion = SSL_get_version(ssl);
      const size_t half = request.size() / 2;  // two records: the server must reassemble
      SSL_write(ssl, request.data(), static_cast<int>(half));
      SSL_write(ssl, request.data() + half, static_cast<int>(request.size() - half));
      char buf[4096];
      while (clientGot.find("\r\n\r\n") == std::string::npos) {
        int n = SSL_read(ssl, buf, sizeof(buf));
        if (n <= 0) break;
        clientGot.append(buf, static_cast<size_t>(n));
      }
    }
    SSL_free(ssl);
    ::close(fd);
    SSL_CTX_free(ctx);
    clientDone = true;
  });
  const bool gotRequest = pump([&] { return !received_.empty() || clientDone; });
  if (gotRequest && !received_.empty()) {
    EXPECT_TRUE(transport_.send(received_.front().second, reply));
  }
  pump([&] { return clientDone.load(); });
  client.join();

  ASSERT_EQ(received_.size(), 1U);
  EXPECT_EQ(received_.front().first.method(), SipMethod::Options);
  EXPECT_EQ(received_.front().first.body(), "body");
  EXPECT_EQ(received_.front().second.kind, SipTransportKind::Tls);
  EXPECT_NE(received_.front().second.connId, 0U);
  EXPECT_TRUE(clientVersion == "TLSv1.2" || clientVersion == "TLSv1.3") << clientVersion;
  EXPECT_EQ(clientGot, reply);
  EXPECT_EQ(transport_.counters().tlsHandshakeFailures.get(), 0U);
}

TEST_F(SipTlsTest, ClosesAndCountsAClientThatDoesNotSpeakTls) {
  ASSERT_TRUE(transport_.listen("127.0.0.1:0"));
  ASSERT_TRUE(transport_.listenTls("127.0.0.1:0", files_.cert, files_.key));
  std::atomic<bool> clientDone{false};
  bool sawEof = false;
  std::thread client([&] {
    int fd = connectTls();
    const std::string plain = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    (void)::send(fd, plain.data(), plain.size(), MSG_NOSIGNAL);
    char buf[512];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) sawEof = true;
      if (n <= 0) break;  // a TLS alert may come first
    }
    ::close(fd);
    clientDone = true;
  });
  pump([&] { return clientDone.load(); });
  client.join();
  EXPECT_TRUE(sawEof);
  EXPECT_TRUE(received_.empty());
  EXPECT_EQ(transport_.counters().tlsHandshakeFailures.get(), 1U);
  EXPECT_EQ(transport_.counters().connections.get(), 0U);
}

}  // namespace
}  // namespace rdv::sip
