#include "relay/LegDtlsSession.h"

#include <cstring>

#include <spdlog/spdlog.h>

#include "media/dtls/DtlsEndpoint.h"

namespace rdv::relay {

dtls::EndpointOptions LegDtlsSession::endpointOptions(const LegDtls& params) {
  dtls::EndpointOptions o;
  o.role = params.role == DtlsRole::Active ? dtls::Role::Client : dtls::Role::Server;
  o.remote = fingerprint(params.remote);
  o.initialTimeoutMs = 1000;
  o.maxTimeoutMs = 8000;
  o.maxRetransmissions = 6;
  return o;
}

dtls::Fingerprint LegDtlsSession::fingerprint(const DtlsFingerprint& f) {
  dtls::Fingerprint out;
  switch (f.hash) {
    case FingerprintHash::Sha1: out.hash = dtls::Hash::Sha1; break;
    case FingerprintHash::Sha256: out.hash = dtls::Hash::Sha256; break;
    case FingerprintHash::Sha384: out.hash = dtls::Hash::Sha384; break;
    case FingerprintHash::Sha512: out.hash = dtls::Hash::Sha512; break;
  }
  out.digest = f.digest;
  out.length = f.length;
  return out;
}

LegDtlsSession::LegDtlsSession(const LegDtls& params) : params_(params) {}
LegDtlsSession::~LegDtlsSession() = default;

bool LegDtlsSession::begin(const dtls::DtlsIdentity& identity) {
  endpoint_.reset();
  peer_ = {};
  counted = false;
  if (attempts_ >= kMaxAttempts) return false;
  ++attempts_;
  auto ep = dtls::DtlsEndpoint::create(identity, endpointOptions(params_));
  if (!ep) {
    spdlog::warn("DTLS endpoint refused: {}", ep.error());
    return false;
  }
  endpoint_ = std::move(*ep);
  return true;
}

LegCrypto LegDtlsSession::crypto() const {
  LegCrypto c;
  if (!endpoint_ || !endpoint_->keying()) return c;
  const dtls::SrtpKeying& k = *endpoint_->keying();
  auto fill = [&](SrtpKeys& to, const std::array<std::byte, srtp::kMaxKeySaltLength>& keySalt) {
    to.suite = k.suite;
    to.count = 1;
    to.keys[0].keySaltLength = k.length;
    std::memcpy(to.keys[0].keySalt.data(), keySalt.data(), k.length);
  };
  fill(c.recv, k.remote);
  fill(c.send, k.local);
  return c;
}

}  // namespace rdv::relay
