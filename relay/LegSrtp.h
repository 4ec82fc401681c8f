#pragma once
// The SRTP termination state of one relay leg (issue 12): an inbound srtp::SrtpContext that
// unprotects what the leg's peer sends, an outbound one that protects what the relay sends it.
// Built by the worker that owns the leg from LegParams::crypto when a leg is added or updated with
// other keys (control plane); an update with the same keys keeps the object, so the replay window,
// the rollover counters and the SRTCP index survive a re-offer. Per packet it only calls the
// contexts: no allocation, lock or log here, nor in libsrtp on OpenSSL (the NSS fallback locks and
// allocates per packet: media/srtp/README.md).
//
// Not thread-safe: it belongs to the worker that owns the leg.

#include <cstddef>
#include <optional>
#include <span>

#include "common/Expected.h"
#include "media/srtp/SrtpContext.h"
#include "relay/LegCrypto.h"

namespace rdv::relay {

class LegSrtp {
 public:
  // Both contexts from `crypto` (crypto.terminates() must hold). A context libsrtp refuses (keys
  // that do not fit the suite) leaves the leg terminating but unable to process anything: every
  // packet then fails with the creation error, so a bad key never lets clear media through.
  explicit LegSrtp(const LegCrypto& crypto);

  // The packet in place; the plain length. `rtcp` picks SRTCP (RFC 3711 §3.4).
  Expected<size_t, srtp::SrtpError> unprotect(std::span<std::byte> packet, bool rtcp);
  // buffer[0, length) in place, the trailer written after it; the protected length.
  Expected<size_t, srtp::SrtpError> protect(std::span<std::byte> buffer, size_t length, bool rtcp);

  // Hints that a packet will be unprotected (protected) soon: the CPU starts loading that
  // context's state while the caller does other work (srtp::SrtpContext::prefetch). The relay
  // calls them once per receive batch, for the leg's inbound and the peer's outbound context.
  void prefetchUnprotect() const {
    if (in_) in_->prefetch();
  }
  void prefetchProtect() const {
    if (out_) out_->prefetch();
  }

  // The creation error of the inbound (outbound) context, if any.
  std::optional<srtp::SrtpError> inboundError() const { return inError_; }
  std::optional<srtp::SrtpError> outboundError() const { return outError_; }

 private:
  std::optional<srtp::SrtpContext> in_;
  std::optional<srtp::SrtpContext> out_;
  std::optional<srtp::SrtpError> inError_;
  std::optional<srtp::SrtpError> outError_;
};

}  // namespace rdv::relay
