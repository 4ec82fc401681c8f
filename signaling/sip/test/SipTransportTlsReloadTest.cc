// Reloading the SIP TLS certificate in SipTransport, on loopback: connections accepted after
// reloadTlsCertificate get the new certificate, a connection accepted before keeps working on the
// old one, and a key that does not match (or a missing file) is refused with the file named while
// the old certificate is still served.

#include "signaling/sip/SipTransport.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "signaling/sip/test/TestCertificate.h"

namespace rdv::sip {
namespace {

// The DER encoding of a certificate, to compare the one a server presents with a file.
std::string der(X509* x) {
  unsigned char* out = nullptr;
  const int n = i2d_X509(x, &out);
  std::string s = n > 0 ? std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n)) : "";
  OPENSSL_free(out);
  return s;
}

std::string derOfFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return "";
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  std::string s = x != nullptr ? der(x) : "";
  X509_free(x);
  return s;
}

class SipTlsReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);  // the test compares the certificate itself
    ASSERT_TRUE(transport_.listen("127.0.0.1:0"));
    auto r = transport_.listenTls("127.0.0.1:0", first_.cert, first_.key);
    ASSERT_TRUE(r) << r.error();
  }
  void TearDown() override { SSL_CTX_free(ctx_); }

  // Runs `client` on a thread while the transport's event loop turns on this one (until the
  // client is done or about five seconds have passed); `onMessage` may answer what arrived.
  template <typename Client>
  void withClient(Client client) {
    std::atomic<bool> done{false};
    std::thread t([&] {
      client();
      done = true;
    });
    for (int i = 0; i < 500 && !done; ++i) {
      pollfd p{transport_.fd(), POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) transport_.onReadable();
      while (!received_.empty()) {
        EXPECT_TRUE(transport_.send(received_.front().second, kReply));
        received_.erase(received_.begin());
      }
    }
    t.join();
  }

  // A TLS connection to the transport whose handshake has completed, or null.
  SSL* connect() {
    SSL* ssl = nullptr;
    withClient([&] {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      timeval tv{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      const common::SockAddr& to = transport_.tlsLocal();
      if (::connect(fd, to.sa(), to.len()) != 0) return void(::close(fd));
      ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_connect(ssl) != 1) close(std::exchange(ssl, nullptr));
    });
    return ssl;
  }

  static void close(SSL* ssl) {
    if (ssl == nullptr) return;
    const int fd = SSL_get_fd(ssl);
    SSL_free(ssl);
    ::close(fd);
  }

  // The certificate a new connection is served (DER), "" when the handshake failed.
  std::string servedCertificate() {
    SSL* ssl = connect();
    if (ssl == nullptr) return "";
    X509* peer = SSL_get1_peer_certificate(ssl);
    std::string s = peer != nullptr ? der(peer) : "";
    X509_free(peer);
    close(ssl);
    return s;
  }

  // OPTIONS over `ssl`; the status line of what comes back ("" when nothing does).
  std::string options(SSL* ssl) {
    std::string got;
    withClient([&] {
      const std::string request =
          "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-r\r\n"
          "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: reload-1\r\nCSeq: 1 OPTIONS\r\n"
          "Content-Length: 0\r\n\r\n";
      if (SSL_write(ssl, request.data(), static_cast<int>(request.size())) <= 0) return;
      char buf[4096];
      while (got.find("\r\n\r\n") == std::string::npos) {
        const int n = SSL_read(ssl, buf, sizeof(buf));
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
    });
    return got.substr(0, got.find("\r\n"));
  }

  static constexpr std::string_view kReply =
      "SIP/2.0 200 OK\r\nCall-ID: reload-1\r\nContent-Length: 0\r\n\r\n";
  test::CertFiles first_;
  test::CertFiles second_;  // another certificate with another key
  SSL_CTX* ctx_ = nullptr;
  std::vector<std::pair<SipMessage, SipPeer>> received_;
  SipTransport transport_{
      [this](SipMessage&& m, const SipPeer& p) { received_.emplace_back(std::move(m), p); }, [](uint64_t) {},
      common::SystemClock::instance()};
};

TEST_F(SipTlsReloadTest, NewConnectionsGetTheNewCertificateWhileAnOpenOneKeepsWorking) {
  ASSERT_NE(derOfFile(first_.cert), derOfFile(second_.cert));
  EXPECT_EQ(servedCertificate(), derOfFile(first_.cert));
  SSL* before = connect();
  ASSERT_NE(before, nullptr);

  auto r = transport_.reloadTlsCertificate(second_.cert, second_.key);
  ASSERT_TRUE(r) << r.error();

  EXPECT_EQ(servedCertificate(), derOfFile(second_.cert));
  // Accepted with the old context, whose last reference is now this connection's SSL.
  EXPECT_EQ(options(before), "SIP/2.0 200 OK");
  close(before);
  EXPECT_EQ(transport_.counters().tlsHandshakeFailures.get(), 0U);
}

TEST_F(SipTlsReloadTest, SameFileNamesReadTheFilesAgain) {
  const std::string old = derOfFile(first_.cert);
  std::filesystem::copy_file(second_.cert, first_.cert, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(second_.key, first_.key, std::filesystem::copy_options::overwrite_existing);
  EXPECT_EQ(servedCertificate(), old);  // replaced files are not read until asked

  auto r = transport_.reloadTlsCertificate(first_.cert, first_.key);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(servedCertificate(), derOfFile(second_.cert));
}

TEST_F(SipTlsReloadTest, MismatchedKeyOrMissingFileIsRefusedAndTheOldCertificateStays) {
  auto r = transport_.reloadTlsCertificate(second_.cert, first_.key);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(first_.key), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("mismatch"), std::string::npos) << r.error();

  const std::string missing = (first_.dir / "missing.pem").string();
  r = transport_.reloadTlsCertificate(missing, first_.key);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(missing), std::string::npos) << r.error();

  EXPECT_EQ(servedCertificate(), derOfFile(first_.cert));
}

TEST(SipTlsReloadWithoutTls, IsRefusedWhenTlsIsNotListening) {
  test::CertFiles files;
  SipTransport transport([](SipMessage&&, const SipPeer&) {}, [](uint64_t) {},
                         common::SystemClock::instance());
  auto r = transport.reloadTlsCertificate(files.cert, files.key);
  ASSERT_FALSE(r);
  EXPECT_EQ(transport.tlsLocal().port(), 0);
}

}  // namespace
}  // namespace rdv::sip
