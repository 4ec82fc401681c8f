#pragma once
// Internal to rdv_dtls: what DtlsIdentity holds (certificate, key, the SSL_CTX every endpoint of
// the process is made from) and how DtlsEndpoint reaches it. Not for other libraries.

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "media/dtls/DtlsIdentity.h"

namespace rdv::dtls {

struct DtlsIdentity::Impl {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  // DTLS 1.2, the certificate and key, use_srtp with the default profiles, peer certificates
  // required and checked by fingerprint only (verifyPeerCertificate), no session cache. Never
  // changed after creation: workers make their SSL objects from it concurrently.
  SSL_CTX* ctx = nullptr;
  ~Impl();
};

class DtlsEndpointFactory {
 public:
  static SSL_CTX* context(const DtlsIdentity& id) { return id.impl_->ctx; }
  // Fills a fresh identity's context from its certificate and key; an error says what OpenSSL refused.
  static Expected<bool, std::string> finish(DtlsIdentity& id);
  static DtlsIdentity::Impl& impl(DtlsIdentity& id) { return *id.impl_; }
  static std::shared_ptr<DtlsIdentity> make();
  static void setFingerprint(DtlsIdentity& id, std::string fp) { id.fingerprint_ = std::move(fp); }
};

// SSL_CTX_set_cert_verify_callback: the peer's leaf certificate must hash to the fingerprint
// its endpoint expects (RFC 5763 §5); chains and self-signatures are not judged.
int verifyPeerCertificate(X509_STORE_CTX* store, void* arg);

// The default use_srtp profiles, most preferred first (OpenSSL names).
inline constexpr const char* kDefaultSrtpProfiles =
    "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80:SRTP_AES128_CM_SHA1_32:SRTP_AEAD_AES_256_GCM";

}  // namespace rdv::dtls
