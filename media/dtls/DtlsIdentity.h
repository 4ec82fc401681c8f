#pragma once
// The relay's DTLS certificate and key (issue 12, RFC 5763 §5): one per process, generated at
// start (ECDSA P-256, self-signed, valid 30 days) or loaded from `media.dtls_certificate` /
// `media.dtls_private_key`. Signalling puts its fingerprint in every a=fingerprint it sends;
// each relay worker makes its DTLS sessions from it. Immutable after creation, so the workers
// share it (shared_ptr<const>) without locks.

#include <memory>
#include <string>

#include "common/Expected.h"

struct ssl_ctx_st;

namespace rdv::dtls {

class DtlsIdentity {
 public:
  // A fresh self-signed certificate; an error names what OpenSSL refused.
  static Expected<std::shared_ptr<const DtlsIdentity>, std::string> generate();
  // PEM certificate and private key from files; an error names the file and the reason.
  static Expected<std::shared_ptr<const DtlsIdentity>, std::string> load(const std::string& certFile,
                                                                        const std::string& keyFile);
  ~DtlsIdentity();
  DtlsIdentity(const DtlsIdentity&) = delete;
  DtlsIdentity& operator=(const DtlsIdentity&) = delete;

  // "sha-256 AB:CD:..." as a=fingerprint carries it (RFC 8122 §5).
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  DtlsIdentity() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string fingerprint_;
  friend class DtlsEndpointFactory;  // the relay side reaches the key and certificate through it
};

}  // namespace rdv::dtls
