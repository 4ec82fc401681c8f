#pragma once
// Which code does the per-packet crypto under libsrtp: libsrtp's own OpenSSL glue, or
// Rendezvous' transforms (AEAD_AES_128/256_GCM and HMAC-SHA1, see GcmCipher.cc and
// HmacSha1Auth.cc). libsrtp keeps the SRTP protocol either way (key derivation, replay windows,
// rollover counters, MKI, key limits, SRTCP); only the cipher/MAC objects it calls differ.
//
// Why: on OpenSSL 3, libsrtp's glue turns every packet's IV and tag into EVP_CIPHER_CTX_ctrl
// calls, which OpenSSL 3 turns into OSSL_PARAM arrays looked up by name (about a fifth of the
// AES-GCM time over 4,000 cold contexts), and re-initialises its HMAC through EVP_MAC per
// packet. Ours keep one EVP context (GCM) or the precomputed SHA-1 inner/outer states (HMAC) per
// key and make only the calls the packet needs: an AES-GCM protect + unprotect over 2,000
// context pairs took half the CPU of libsrtp's (benchmarks/README.md, *SRTP benchmark*).
//
// Process-wide. SrtpContext::create installs Rendezvous' transforms on first use; a context
// keeps the transforms it was created with, so switching affects contexts created afterwards
// only. Not thread-safe: switch only while no other thread creates contexts (tests, benchmarks).

#include <cstdint>
#include <string_view>

#include "media/srtp/SrtpContext.h"

namespace rdv::srtp {

enum class Transforms : uint8_t { Libsrtp, Rendezvous };

// Installs `t` for contexts created from now on (initialising libsrtp first if needed). libsrtp
// runs its own known-answer vectors on a cipher or MAC before it accepts it; false when it
// refused (the previous transforms then stay).
bool useTransforms(Transforms t);
Transforms transformsInUse();
std::string_view toString(Transforms t);

// The RtpPath that contexts created with RtpPath::Default take from now on (Compact, or Libsrtp;
// Default is taken as Compact). Process-wide, for benchmarks and tests; same threading rule.
void useRtpPath(RtpPath p);
RtpPath rtpPathInUse();
std::string_view toString(RtpPath p);

}  // namespace rdv::srtp
