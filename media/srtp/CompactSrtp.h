#pragma once
// The SRTP half (RTP packets, not SRTCP) of one SrtpContext in one compact, cache-line-aligned
// object (RFC 3711 §3.3, RFC 7714 §8–9), for the relay's per-packet path. Internal to rdv_srtp:
// SrtpContext creates one when the config fits (fits()) and keeps libsrtp for everything else —
// SRTCP, MKI, odd replay windows, and SSRCs beyond kStreams — so libsrtp stays the reference this
// object is cross-checked against (test/CompactSrtpTest.cc).
//
// Why (benchmarks/README.md, *SRTP on relay legs*): at 1,000 relay sessions each packet meets a
// cold context, and libsrtp's is a chain of about ten separate allocations (session, stream list,
// stream, session keys, cipher, cipher state, EVP context, replay bit vector, auth) that the CPU
// walks one miss after the other, plus a 1,024-bit replay window shifted word by word per packet.
// Here one direction's protocol state is one object: the AES-GCM keys inline (AesGcm.h, where
// the CPU has AES-NI and PCLMULQDQ) or else the keys' EVP context (made once per key), the
// session salt, the HMAC inner/outer SHA-1 states, and per SSRC the highest index (ROC||SEQ) and
// a ring-indexed replay window of which a packet touches one word.
//
// Semantics are libsrtp 2.5's, so that a context answers the same whichever path runs:
// - index estimate (srtp_rdbx_estimate_index / srtp_index_guess): ROC 0 while the highest index
//   is at most 2^15, then the ROC of ROC-1, ROC, ROC+1 closest to the highest index;
// - replay: accepted when newer than the highest index or within the window (its bits rounded up
//   to 32 like libsrtp's bit vector) and not yet seen, else ReplayFail; an inbound SSRC is
//   checked only once it has a stream, which it gets when its first packet authenticates;
//   outbound repeats are allowed (allow_repeat_tx), packets older than the window are not;
// - key usage: one counter per context shared by its SSRCs, 2^48 - 1 RTP packets, then
//   KeyExpired once (libsrtp's srtp_key_limit_update, wrap-around included);
// - error order: replay before authentication (inbound), key limit before or after the crypto
//   as libsrtp does per suite.
// No allocation, lock, log or exception per packet. Not thread-safe (one worker owns it).

#include <openssl/sha.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "common/Expected.h"
#include "media/srtp/AesGcm.h"
#include "media/srtp/SrtpContext.h"

struct evp_cipher_ctx_st;

namespace rdv::srtp::detail {

// Tests: false makes CompactSrtp objects created afterwards run AES-GCM on EVP even where the CPU
// allows AesGcm (the path a CPU without AES-NI or PCLMULQDQ takes). Process-wide; default true.
void setAesGcmAllowed(bool allowed);
bool aesGcmAllowed();

class alignas(64) CompactSrtp {
 public:
  static constexpr size_t kStreams = 4;         // SSRCs kept here; more go to libsrtp
  static constexpr uint32_t kMaxWindow = 1024;  // bits of replay window kept inline

  // One key without MKI and a replay window whose rounded size is a power of two ≤ kMaxWindow.
  static bool fits(const SrtpConfig& config);
  // Derives the session keys (RFC 3711 §4.3.1, KDR 0; RFC 7714 §11) and keys the EVP context.
  // nullptr when the config does not fit or OpenSSL refuses.
  static std::unique_ptr<CompactSrtp> create(const SrtpConfig& config);

  CompactSrtp(const CompactSrtp&) = delete;
  CompactSrtp& operator=(const CompactSrtp&) = delete;
  ~CompactSrtp();

  // The caller (SrtpContext) has checked the RTP header (rtpFits) and, for protect, the tailroom.
  // std::nullopt: the packet's SSRC has no stream here and every slot is taken — the caller's
  // libsrtp context processes it (each SSRC keeps its own independent state, RFC 3711 §3.2.3).
  std::optional<Expected<size_t, SrtpError>> protect(std::span<std::byte> buffer, size_t length);
  std::optional<Expected<size_t, SrtpError>> unprotect(std::span<std::byte> packet);

  // Asks the CPU for what the next packet of the first SSRC will read here and in the EVP context
  // (`cipher` = cipherContext(), `suite` = the config's, both kept by the caller next to its
  // pointer to this object so that nothing here has to be loaded first). A hint: no effect on
  // results.
  void prefetch(const void* cipher, Suite suite) const;
  // The EVP context: AES-CTR, or AES-GCM when AesGcm is not in use; nullptr with AesGcm.
  const void* cipherContext() const { return cipher_; }
  // The AEAD suites run on AesGcm (AES-NI + PCLMULQDQ) held in this object, not on EVP.
  bool ownAesGcm() const { return gcm_.keyed(); }

 private:
  using Window = std::array<uint64_t, kMaxWindow / 64>;  // bit (i mod window) for index i

  explicit CompactSrtp(const SrtpConfig& config);
  bool deriveKeys(std::span<const std::byte> keySalt);
  int findSlot(uint32_t ssrc) const;
  int freeSlot() const;
  void claim(int slot, uint32_t ssrc);
  // Index estimate of `seq` against the slot's highest index, and the delta from it.
  uint64_t estimate(int slot, uint16_t seq, int32_t& delta) const;
  bool replayed(int slot, int32_t delta) const;  // libsrtp's srtp_rdbx_check != ok
  bool tooOld(int32_t delta) const;              // ... == replay_old
  void accept(int slot, uint64_t index, int32_t delta);
  bool keyUsed();  // false once the usage limit is hit (KeyExpired)
  std::array<unsigned char, AesGcm::kIvLength> gcmIv(uint32_t ssrc, uint64_t index) const;
  bool gcmSetIv(uint32_t ssrc, uint64_t index);
  bool ctrSetIv(uint32_t ssrc, uint64_t index);
  void hmacTag(std::span<const std::byte> authenticated, uint32_t roc,
               std::span<unsigned char, 20> out) const;
  Expected<size_t, SrtpError> seal(std::span<std::byte> buffer, size_t header, size_t length, uint32_t ssrc,
                                   uint64_t index);
  Expected<size_t, SrtpError> open(std::span<std::byte> packet, size_t header, uint32_t ssrc, uint64_t index);

  // Line 0: what every packet reads first. Line 1: the rest of the per-packet constants. Lines
  // 2-6: the AES-GCM keys when AesGcm runs the AEAD suites (AES-128 reads lines 2-5). Then the
  // replay windows (a packet reads one word of its SSRC's) and the HMAC states (AES-CM only).
  evp_cipher_ctx_st* cipher_ = nullptr;               // AES-CTR, or AES-GCM without AesGcm; keyed once
  uint64_t keyLeft_ = 0xffffffffffffULL;              // srtp_key_limit_set(…, 0xffffffffffff)
  std::array<uint32_t, kStreams> ssrc_{};             // network order, as in the packet
  std::array<uint64_t, kStreams> index_{};            // highest ROC||SEQ seen per slot (48 bits)
  alignas(64) std::array<unsigned char, 14> salt_{};  // session salt: 12 (GCM) or 14 (AES-CM) used
  uint16_t windowBits_ = 0;
  uint8_t tagLength_ = 0;
  uint8_t used_ = 0;  // bit k: slot k holds an SSRC
  bool aead_ = false;
  bool outbound_ = false;
  bool ivPrimed_ = false;  // GCM: the IV was set once with EVP_CipherInit_ex
  AesGcm gcm_;  // keyed for the AEAD suites when AesGcm::supported() (and allowed, setAesGcmAllowed)
  alignas(64) std::array<Window, kStreams> seen_{};
  // HMAC-SHA1 (AES-CM suites only): the states after the keyed ipad/opad block.
  SHA_CTX inner_{};
  SHA_CTX outer_{};
};

}  // namespace rdv::srtp::detail
