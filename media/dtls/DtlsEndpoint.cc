#include "media/dtls/DtlsEndpoint.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/srtp.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

#include "media/dtls/DtlsContext.h"
#include "media/dtls/DtlsRecord.h"

namespace rdv::dtls {
namespace {

constexpr const char kExporterLabel[] = "EXTRACTOR-dtls_srtp";  // RFC 5764 §4.2
constexpr int kMaxReadsPerFeed = 16;  // calls into OpenSSL per datagram (records of one datagram)

DtlsEndpoint* endpointOf(const SSL* ssl) { return static_cast<DtlsEndpoint*>(SSL_get_app_data(ssl)); }

// A datagram BIO over the endpoint: a read returns the datagram being fed (once), a write queues
// one. OpenSSL already packs a flight's records into writes of at most the MTU; writes are never
// merged here: OpenSSL 3.0 stalls on a datagram that starts with a retransmitted ClientHello and
// goes on with the next flight (the unit test LostServerFlight... caught it).
int bioWrite(BIO* b, const char* data, int len) {
  auto* ep = static_cast<DtlsEndpoint*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  ep->onWrite({reinterpret_cast<const std::byte*>(data), static_cast<size_t>(len)});
  return len;
}

int bioRead(BIO* b, char* out, int len) {
  auto* ep = static_cast<DtlsEndpoint*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  const size_t n = ep->onRead({reinterpret_cast<std::byte*>(out), static_cast<size_t>(len)});
  if (n == 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  return static_cast<int>(n);
}

long bioCtrl(BIO* /*b*/, int cmd, long /*num*/, void* /*ptr*/) {
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU: return 1200;
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD: return 0;  // the MTU we are given is the UDP payload
    default: return 0;
  }
}

int bioCreate(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* datagramMethod() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "rdv dtls datagram");
    BIO_meth_set_write(bm, bioWrite);
    BIO_meth_set_read(bm, bioRead);
    BIO_meth_set_ctrl(bm, bioCtrl);
    BIO_meth_set_create(bm, bioCreate);
    return bm;
  }();
  return m;
}

const EVP_MD* digestOf(Hash h) {
  switch (h) {
    case Hash::Sha1: return EVP_sha1();
    case Hash::Sha256: return EVP_sha256();
    case Hash::Sha384: return EVP_sha384();
    case Hash::Sha512: return EVP_sha512();
  }
  return EVP_sha256();
}

std::optional<srtp::Suite> suiteOf(unsigned long profile) {
  switch (profile) {
    case SRTP_AES128_CM_SHA1_80: return srtp::Suite::AesCm128HmacSha1_80;
    case SRTP_AES128_CM_SHA1_32: return srtp::Suite::AesCm128HmacSha1_32;
    case SRTP_AEAD_AES_128_GCM: return srtp::Suite::AeadAes128Gcm;
    case SRTP_AEAD_AES_256_GCM: return srtp::Suite::AeadAes256Gcm;
    default: return std::nullopt;
  }
}

std::string lastSslError() {
  const unsigned long e = ERR_peek_last_error();
  if (e == 0) return {};
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

}  // namespace

int verifyPeerCertificate(X509_STORE_CTX* store, void* /*arg*/) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  X509* cert = X509_STORE_CTX_get0_cert(store);
  if (ssl == nullptr || cert == nullptr) return 0;
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) return 0;
  const bool ok = endpointOf(ssl)->checkPeer({der, static_cast<size_t>(len)});
  OPENSSL_free(der);
  if (!ok) X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return ok ? 1 : 0;
}

const char* toString(Failure f) {
  switch (f) {
    case Failure::None: return "none";
    case Failure::FingerprintMismatch: return "fingerprint_mismatch";
    case Failure::NoFingerprint: return "no_fingerprint";
    case Failure::NoSrtpProfile: return "no_srtp_profile";
    case Failure::Alert: return "alert";
    case Failure::Timeout: return "timeout";
    case Failure::Protocol: return "protocol";
    case Failure::Internal: return "internal";
    case Failure::kCount: break;
  }
  return "unknown";
}

std::optional<Fingerprint> parseFingerprint(std::string_view text) {
  const size_t sp = text.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  std::string name(text.substr(0, sp));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  Fingerprint f;
  size_t want = 0;
  if (name == "sha-1") {
    f.hash = Hash::Sha1, want = 20;
  } else if (name == "sha-256") {
    f.hash = Hash::Sha256, want = 32;
  } else if (name == "sha-384") {
    f.hash = Hash::Sha384, want = 48;
  } else if (name == "sha-512") {
    f.hash = Hash::Sha512, want = 64;
  } else {
    return std::nullopt;
  }
  std::string_view hex = text.substr(sp + 1);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() != want * 3 - 1) return std::nullopt;
  for (size_t i = 0; i < want; ++i) {
    const int hi = nibble(hex[3 * i]);
    const int lo = nibble(hex[3 * i + 1]);
    if (hi < 0 || lo < 0 || (i + 1 < want && hex[3 * i + 2] != ':')) return std::nullopt;
    f.digest[i] = std::byte(static_cast<uint8_t>(hi * 16 + lo));
  }
  f.length = static_cast<uint8_t>(want);
  return f;
}

Expected<std::unique_ptr<DtlsEndpoint>, std::string> DtlsEndpoint::create(const DtlsIdentity& identity,
                                                                         const EndpointOptions& options) {
  std::unique_ptr<DtlsEndpoint> ep(new DtlsEndpoint());
  ep->options_ = options;
  ERR_clear_error();
  SSL* ssl = SSL_new(DtlsEndpointFactory::context(identity));
  if (ssl == nullptr) return Unexpected("SSL_new failed: " + lastSslError());
  ep->ssl_ = ssl;
  SSL_set_app_data(ssl, ep.get());
  BIO* bio = BIO_new(datagramMethod());
  if (bio == nullptr) return Unexpected(std::string("BIO_new failed"));
  BIO_set_data(bio, ep.get());
  SSL_set_bio(ssl, bio, bio);  // one reference, owned by ssl
  if (!options.srtpProfiles.empty() && SSL_set_tlsext_use_srtp(ssl, options.srtpProfiles.c_str()) != 0) {
    ERR_clear_error();
    return Unexpected("use_srtp profiles refused: " + options.srtpProfiles);
  }
  SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
  DTLS_set_link_mtu(ssl, options.mtu);
  DTLS_set_timer_cb(ssl, [](SSL* s, unsigned prev) { return endpointOf(s)->onTimerDuration(prev); });
  SSL_set_info_callback(ssl, [](const SSL* s, int where, int ret) {
    if ((where & SSL_CB_ALERT) != 0) endpointOf(s)->onAlert((where & SSL_CB_READ) != 0, ret);
  });
  if (options.role == Role::Client) {
    SSL_set_connect_state(ssl);
  } else {
    SSL_set_accept_state(ssl);
  }
  return ep;
}

DtlsEndpoint::~DtlsEndpoint() { SSL_free(ssl_); }

void DtlsEndpoint::start(uint64_t /*nowNs*/) {
  if (state_ != State::New) return;
  state_ = State::Handshaking;
  if (options_.remote.length == 0) {
    fail(Failure::NoFingerprint, "no a=fingerprint to check the peer against");
    return;
  }
  if (options_.role == Role::Client) drive();
}

void DtlsEndpoint::feed(std::span<const std::byte> datagram, uint64_t nowNs) {
  if (state_ == State::Failed) return;
  if (!parseDatagram(datagram)) {
    ++stats_.malformed;
    return;
  }
  ++stats_.recordsIn;
  if (state_ == State::New) {
    start(nowNs);
    if (state_ == State::Failed) return;
  }
  inbound_ = datagram;
  drive();
  inbound_ = {};
}

void DtlsEndpoint::onTimer(uint64_t /*nowNs*/) {
  if (state_ != State::Handshaking) return;
  timeval tv{};
  if (DTLSv1_get_timeout(ssl_, &tv) != 1 || tv.tv_sec != 0 || tv.tv_usec != 0) return;
  if (timeouts_ >= options_.maxRetransmissions) {
    fail(Failure::Timeout, "no answer after " + std::to_string(timeouts_) + " retransmissions");
    return;
  }
  ERR_clear_error();
  if (DTLSv1_handle_timeout(ssl_) < 0) failFromSsl();
}

std::optional<uint64_t> DtlsEndpoint::nextTimeoutNs(uint64_t nowNs) const {
  if (state_ != State::Handshaking) return std::nullopt;
  timeval tv{};
  if (DTLSv1_get_timeout(ssl_, &tv) != 1) return std::nullopt;
  return nowNs + static_cast<uint64_t>(tv.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(tv.tv_usec) * 1000ULL;
}

void DtlsEndpoint::drive() {
  if (state_ == State::Handshaking) {
    // One call: OpenSSL works through every record of the datagram itself; a second call with
    // nothing to read would only give its expired timer a chance to resend early.
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      afterHandshake();
    } else {
      const int e = SSL_get_error(ssl_, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) failFromSsl();
    }
    if (state_ == State::Handshaking && timeouts_ > options_.maxRetransmissions) {
      fail(Failure::Timeout, "no answer after " + std::to_string(timeouts_) + " retransmissions");
    }
  }
  if (state_ != State::Connected) return;
  // After the handshake: the peer's retransmitted last flight (answered with ours), alerts,
  // application data (ignored: no data channels here).
  std::array<std::byte, 2048> scratch;
  for (int i = 0; i < kMaxReadsPerFeed && (!inbound_.empty() || SSL_has_pending(ssl_) == 1); ++i) {
    ERR_clear_error();
    if (SSL_read(ssl_, scratch.data(), static_cast<int>(scratch.size())) <= 0 && SSL_has_pending(ssl_) != 1) break;
  }
  ERR_clear_error();
}

void DtlsEndpoint::afterHandshake() {
  if (!peerVerified_) {
    fail(Failure::NoFingerprint, "the peer's certificate was not checked");
    return;
  }
  const SRTP_PROTECTION_PROFILE* p = SSL_get_selected_srtp_profile(ssl_);
  const auto suite = p != nullptr ? suiteOf(p->id) : std::nullopt;
  if (!suite) {
    fail(Failure::NoSrtpProfile, "no use_srtp profile negotiated");
    return;
  }
  const srtp::SuiteInfo& info = srtp::suiteInfo(*suite);
  const size_t k = info.keyLength;
  const size_t s = info.saltLength;
  std::array<unsigned char, 2 * srtp::kMaxKeySaltLength> material{};
  if (SSL_export_keying_material(ssl_, material.data(), 2 * (k + s), kExporterLabel, sizeof(kExporterLabel) - 1,
                                 nullptr, 0, 0) != 1) {
    fail(Failure::Internal, "keying material export failed: " + lastSslError());
    return;
  }
  // client_write_key | server_write_key | client_write_salt | server_write_salt (RFC 5764 §4.2).
  SrtpKeying keys;
  keys.suite = *suite;
  keys.length = static_cast<uint8_t>(k + s);
  const bool client = options_.role == Role::Client;
  auto copy = [&](std::array<std::byte, srtp::kMaxKeySaltLength>& to, bool clientSide) {
    std::memcpy(to.data(), material.data() + (clientSide ? 0 : k), k);
    std::memcpy(to.data() + k, material.data() + 2 * k + (clientSide ? 0 : s), s);
  };
  copy(keys.local, client);
  copy(keys.remote, !client);
  OPENSSL_cleanse(material.data(), material.size());
  keying_ = keys;
  state_ = State::Connected;
}

void DtlsEndpoint::fail(Failure f, std::string text) {
  state_ = State::Failed;
  failure_ = f;
  failureText_ = std::move(text);
  ERR_clear_error();
}

void DtlsEndpoint::failFromSsl() {
  if (fingerprintMismatch_) {
    fail(Failure::FingerprintMismatch, "the peer's certificate does not match its a=fingerprint");
  } else if (!alert_.empty()) {
    fail(Failure::Alert, "peer alert: " + alert_);
  } else {
    const std::string why = lastSslError();
    fail(Failure::Protocol, why.empty() ? "handshake failed" : why);
  }
}

void DtlsEndpoint::onWrite(std::span<const std::byte> bytes) {
  if (outCount_ == kQueueSlots || bytes.size() > kMaxDatagram) {
    ++stats_.queueOverflows;
    return;
  }
  Slot& slot = out_[outCount_++];
  std::memcpy(slot.bytes.data(), bytes.data(), bytes.size());
  slot.size = bytes.size();
  ++stats_.datagramsOut;
}

size_t DtlsEndpoint::onRead(std::span<std::byte> into) {
  if (inbound_.empty()) return 0;
  const size_t n = std::min(into.size(), inbound_.size());
  std::memcpy(into.data(), inbound_.data(), n);
  inbound_ = {};  // a datagram is read whole, once
  return n;
}

unsigned DtlsEndpoint::onTimerDuration(unsigned previousUs) {
  if (previousUs == 0) {  // a new flight
    timeouts_ = 0;
    return options_.initialTimeoutMs * 1000U;
  }
  ++timeouts_;
  ++stats_.retransmissions;
  return std::min(previousUs * 2U, options_.maxTimeoutMs * 1000U);
}

bool DtlsEndpoint::checkPeer(std::span<const unsigned char> certDer) {
  const Fingerprint& want = options_.remote;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (want.length == 0 || EVP_Digest(certDer.data(), certDer.size(), md, &len, digestOf(want.hash), nullptr) != 1) {
    fingerprintMismatch_ = want.length != 0;
    return false;
  }
  const bool ok = len == want.length && CRYPTO_memcmp(md, want.digest.data(), len) == 0;
  fingerprintMismatch_ = !ok;
  peerVerified_ = ok;
  return ok;
}

void DtlsEndpoint::onAlert(bool received, int value) {
  // value: level << 8 | description (RFC 5246 §7.2); level 2 is fatal.
  if (received && (value >> 8) == SSL3_AL_FATAL) alert_ = SSL_alert_desc_string_long(value);
  if (received && (value & 0xff) == SSL_AD_CLOSE_NOTIFY) peerClosed_ = true;
}

void DtlsEndpoint::close() {
  if (state_ != State::Connected || closeSent_) return;
  closeSent_ = true;
  ERR_clear_error();
  (void)SSL_shutdown(ssl_);  // writes the alert through the datagram BIO into the outgoing queue
  ERR_clear_error();
}

}  // namespace rdv::dtls
