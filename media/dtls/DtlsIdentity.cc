#include "media/dtls/DtlsIdentity.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "media/dtls/DtlsContext.h"

namespace rdv::dtls {
namespace {

constexpr long kValiditySeconds = 30L * 24 * 3600;

// The reason OpenSSL left on this thread's error queue (emptied), or `fallback`.
std::string sslError(const char* fallback) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return fallback;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

// "sha-256 AB:CD:..." (RFC 8122 §5) of `cert`.
std::string fingerprintOf(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  std::string s = "sha-256 ";
  for (unsigned int i = 0; i < len; ++i) {
    if (i > 0) s += ':';
    s += fmt::format("{:02X}", md[i]);
  }
  return s;
}

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

}  // namespace

DtlsIdentity::Impl::~Impl() {
  SSL_CTX_free(ctx);
  EVP_PKEY_free(key);
  X509_free(cert);
}

DtlsIdentity::~DtlsIdentity() = default;

std::shared_ptr<DtlsIdentity> DtlsEndpointFactory::make() {
  std::shared_ptr<DtlsIdentity> id(new DtlsIdentity());
  id->impl_ = std::make_unique<DtlsIdentity::Impl>();
  return id;
}

Expected<bool, std::string> DtlsEndpointFactory::finish(DtlsIdentity& id) {
  DtlsIdentity::Impl& m = *id.impl_;
  m.ctx = SSL_CTX_new(DTLS_method());
  if (m.ctx == nullptr) return Unexpected(sslError("SSL_CTX_new failed"));
  SSL_CTX_set_min_proto_version(m.ctx, DTLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(m.ctx, DTLS1_2_VERSION);
  if (SSL_CTX_use_certificate(m.ctx, m.cert) != 1 || SSL_CTX_use_PrivateKey(m.ctx, m.key) != 1 ||
      SSL_CTX_check_private_key(m.ctx) != 1) {
    return Unexpected("certificate and key do not fit: " + sslError("refused"));
  }
  // use_srtp (RFC 5764 §4.1.1); 0 is success here.
  if (SSL_CTX_set_tlsext_use_srtp(m.ctx, kDefaultSrtpProfiles) != 0) {
    return Unexpected("use_srtp profiles refused: " + sslError("refused"));
  }
  SSL_CTX_set_verify(m.ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(m.ctx, verifyPeerCertificate, nullptr);
  SSL_CTX_set_session_cache_mode(m.ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(m.ctx, SSL_OP_NO_TICKET | SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION);
  std::string fp = fingerprintOf(m.cert);
  if (fp.empty()) return Unexpected(sslError("certificate digest failed"));
  setFingerprint(id, std::move(fp));
  return true;
}

Expected<std::shared_ptr<const DtlsIdentity>, std::string> DtlsIdentity::generate() {
  auto id = DtlsEndpointFactory::make();
  Impl& m = DtlsEndpointFactory::impl(*id);
  m.key = EVP_EC_gen("P-256");
  if (m.key == nullptr) return Unexpected("ECDSA P-256 key generation failed: " + sslError("refused"));
  m.cert = X509_new();
  if (m.cert == nullptr) return Unexpected(sslError("X509_new failed"));
  uint64_t serial = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof(serial)) != 1) {
    return Unexpected(sslError("no random serial"));
  }
  X509_set_version(m.cert, 2);  // v3
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(m.cert), serial >> 1);
  // A day of slack for peers whose clocks run behind; browsers do not check the dates anyway.
  X509_gmtime_adj(X509_getm_notBefore(m.cert), -24L * 3600);
  X509_gmtime_adj(X509_getm_notAfter(m.cert), kValiditySeconds);
  X509_NAME* name = X509_get_subject_name(m.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("rendezvous"), -1, -1,
                             0);
  X509_set_issuer_name(m.cert, name);
  if (X509_set_pubkey(m.cert, m.key) != 1 || X509_sign(m.cert, m.key, EVP_sha256()) == 0) {
    return Unexpected("self-signing failed: " + sslError("refused"));
  }
  if (auto r = DtlsEndpointFactory::finish(*id); !r) return Unexpected(r.error());
  return std::shared_ptr<const DtlsIdentity>(std::move(id));
}

Expected<std::shared_ptr<const DtlsIdentity>, std::string> DtlsIdentity::load(const std::string& certFile,
                                                                             const std::string& keyFile) {
  auto id = DtlsEndpointFactory::make();
  Impl& m = DtlsEndpointFactory::impl(*id);
  {
    std::unique_ptr<FILE, FileCloser> f(std::fopen(certFile.c_str(), "r"));
    if (!f) return Unexpected(fmt::format("{}: cannot open the DTLS certificate", certFile));
    m.cert = PEM_read_X509(f.get(), nullptr, nullptr, nullptr);
    if (m.cert == nullptr) return Unexpected(fmt::format("{}: no PEM certificate ({})", certFile, sslError("")));
  }
  {
    std::unique_ptr<FILE, FileCloser> f(std::fopen(keyFile.c_str(), "r"));
    if (!f) return Unexpected(fmt::format("{}: cannot open the DTLS private key", keyFile));
    m.key = PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr);
    if (m.key == nullptr) return Unexpected(fmt::format("{}: no PEM private key ({})", keyFile, sslError("")));
  }
  if (X509_check_private_key(m.cert, m.key) != 1) {
    ERR_clear_error();
    return Unexpected(fmt::format("{}: the private key does not belong to the certificate {}", keyFile, certFile));
  }
  if (auto r = DtlsEndpointFactory::finish(*id); !r) return Unexpected(fmt::format("{}: {}", certFile, r.error()));
  return std::shared_ptr<const DtlsIdentity>(std::move(id));
}

}  // namespace rdv::dtls
