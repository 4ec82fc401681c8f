#pragma once
// One direction of SRTP/SRTCP on one leg (RFC 3711, RFC 7714), over libsrtp2. A context either
// protects (Outbound: what the relay sends) or unprotects (Inbound: what a peer sends); a leg
// that terminates SRTP holds one of each. Packets are processed in place in the caller's buffer:
// no allocation, no lock, no exception per packet. libsrtp keeps the per-SSRC state: replay
// window, rollover counter (ROC) estimation from sequence numbers, SRTCP index, key usage limits.
//
// Not thread-safe: a context belongs to the worker that owns its leg (STYLE.md §10).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "common/Expected.h"
#include "media/srtp/SrtpSuite.h"

struct srtp_ctx_t_;  // libsrtp's session; kept out of this header so users do not include srtp.h

namespace rdv::srtp {

namespace detail {
class CompactSrtp;
}

// Why a packet was not protected/unprotected; callers drop it and count it under this reason
// (STYLE.md §7). Stable order: usable as an array index below kSrtpErrorCount.
enum class SrtpError : uint8_t {
  AuthFail,    // tag mismatch: wrong key, forged or corrupted packet
  ReplayFail,  // index already seen, or older than the replay window
  BadPacket,   // not an RTP/RTCP packet long enough for its header, tag and MKI
  BadMki,      // MKI in the packet names no key of this context
  NoRoom,      // protect: the buffer has no tailroom for the trailer
  KeyExpired,  // the master key reached its usage limit (2^48 SRTP / 2^31 SRTCP packets)
  BadConfig,   // create: key||salt length, MKI, key count or window do not fit
  Failed,      // anything else libsrtp reports (init, allocation, cipher)
};
inline constexpr size_t kSrtpErrorCount = 8;
// A short lower-case reason, e.g. "auth fail"; stable text for metric labels.
std::string_view toString(SrtpError e);

enum class Direction : uint8_t { Inbound, Outbound };

// Which code processes SRTP (RTP) packets. Compact: one compact object per context
// (CompactSrtp.h) when the config fits — one key without MKI, a window of 64..1024 — and libsrtp
// for SRTCP, for other configs and for SSRCs beyond the first four. Libsrtp: libsrtp for all.
// Default: the process-wide choice (useRtpPath, SrtpTransforms.h; Compact unless changed).
enum class RtpPath : uint8_t { Default, Compact, Libsrtp };

// One master key: key||salt as SDES carries it, and the MKI the packets carry (mkiLength 0 = none).
struct MasterKey {
  std::span<const std::byte> keySalt;
  uint64_t mki = 0;
  uint8_t mkiLength = 0;
};

struct SrtpConfig {
  Suite suite = Suite::AesCm128HmacSha1_80;
  Direction direction = Direction::Inbound;
  // 1..16 keys. With more than one, every key has an MKI of the same length (RFC 4568 §6.1).
  // An inbound context picks the key by the packet's MKI; an outbound one uses keys[0].
  std::span<const MasterKey> keys;
  // Replay window in packets (libsrtp: 64..32767). RFC 3711 §3.3.2 asks for at least 64.
  uint32_t replayWindow = 1024;
  RtpPath rtpPath = RtpPath::Default;
};

class SrtpContext {
 public:
  // Copies and expands the keys (they need not outlive the call). The first call in the process
  // initialises libsrtp (once, std::call_once). BadConfig when the config does not fit the suite,
  // Failed when libsrtp cannot be initialised or the session not created.
  static Expected<SrtpContext, SrtpError> create(const SrtpConfig& config);

  SrtpContext(SrtpContext&&) noexcept = default;
  SrtpContext& operator=(SrtpContext&&) noexcept = default;
  ~SrtpContext();

  // Outbound. The RTP (RTCP) packet is buffer[0, length); the trailer is written after it, so
  // buffer.size() >= length + rtpTrailer() (rtcpTrailer()), else NoRoom and nothing changes.
  // Returns the protected length. A packet repeated with the same sequence number is protected
  // again (the relay forwards what peers retransmit).
  Expected<size_t, SrtpError> protectRtp(std::span<std::byte> buffer, size_t length);
  Expected<size_t, SrtpError> protectRtcp(std::span<std::byte> buffer, size_t length);

  // Inbound. Authenticates, checks replay and decrypts `packet` in place; returns the plain
  // length (a prefix of packet). On error the bytes may have been partly changed: drop them.
  Expected<size_t, SrtpError> unprotectRtp(std::span<std::byte> packet);
  Expected<size_t, SrtpError> unprotectRtcp(std::span<std::byte> packet);

  // Bytes protect adds: tag + MKI (RTP); SRTCP index + tag + MKI (RTCP). At most kMaxTrailer.
  size_t rtpTrailer() const { return rtpTrailer_; }
  size_t rtcpTrailer() const { return rtcpTrailer_; }
  Suite suite() const { return suite_; }
  Direction direction() const { return direction_; }
  // Whether SRTP packets take the compact path (RtpPath above).
  bool compactRtp() const { return compact_ != nullptr; }
  // On the compact path with an AEAD suite: whether AES-GCM runs on detail::AesGcm (AES-NI and
  // PCLMULQDQ, keys inside the compact object) rather than an OpenSSL EVP context. For tests.
  bool compactAesGcm() const;
  // On the compact path: asks the CPU for the state the next SRTP packet will read (this
  // context's object, and its EVP context if it has one), without waiting for it. A hint for a
  // caller that knows a packet for this context comes next (the relay: the peer leg's outbound
  // context while it unprotects). No effect on results; nothing on the libsrtp path.
  void prefetch() const;

 private:
  struct Deleter {
    void operator()(srtp_ctx_t_* ctx) const;
    void operator()(detail::CompactSrtp* c) const;
  };
  SrtpContext(std::unique_ptr<srtp_ctx_t_, Deleter> ctx, const SrtpConfig& config);

  std::unique_ptr<detail::CompactSrtp, Deleter> compact_;  // first: the per-packet path reads it
  const void* compactCipher_ = nullptr;  // compact_'s EVP context (none with AesGcm), for prefetch()
  std::unique_ptr<srtp_ctx_t_, Deleter> ctx_;
  Suite suite_;
  Direction direction_;
  uint8_t mkiLength_;
  size_t rtpTrailer_;
  size_t rtcpTrailer_;
};

}  // namespace rdv::srtp
