#pragma once
// AES-GCM (NIST SP 800-38D) with a 96-bit IV and a 16-byte tag on AES-NI and PCLMULQDQ, for the
// compact SRTP path's AEAD_AES_128_GCM / AEAD_AES_256_GCM (RFC 7714). Internal to rdv_srtp.
//
// Why not OpenSSL's EVP: per key, EVP keeps the AES key schedule and the GHASH table in two heap
// allocations of about 1 KB behind the EVP_CIPHER_CTX, and per packet it dispatches through the
// provider (OSSL_PARAM lookups by name for the IV and the tag, two CipherUpdate, Final). At 1,000
// relay sessions every packet meets a cold context, so those allocations are dependent cache
// misses the relay cannot prefetch (README.md, *AesGcm*). This is a value type: round keys and
// H..H^4 inline (320 bytes), no heap, so CompactSrtp holds it in its own object and prefetches it.
//
// Only usable when supported() (the CPU has AES-NI and PCLMULQDQ); callers keep EVP otherwise.
// The intrinsics live in AesGcm.cc in functions compiled for those instructions only, so the rest
// of the tree keeps the default -march.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace rdv::srtp::detail {

class alignas(64) AesGcm {
 public:
  static constexpr size_t kIvLength = 12;
  static constexpr size_t kTagLength = 16;

  // The CPU has AES-NI and PCLMULQDQ (asked once per process).
  static bool supported();

  // No key: seal/open must not be called until a keyed AesGcm is assigned.
  AesGcm() = default;
  // `key` is 16 (AES-128) or 32 (AES-256) bytes; requires supported().
  explicit AesGcm(std::span<const std::byte> key);
  AesGcm(const AesGcm&) = default;
  AesGcm& operator=(const AesGcm&) = default;
  ~AesGcm();  // clears the key material

  bool keyed() const { return rounds_ != 0; }

  // Encrypts `payload` in place and writes the tag over `aad` || ciphertext.
  void seal(std::span<const std::byte, kIvLength> iv, std::span<const std::byte> aad,
            std::span<std::byte> payload, std::span<std::byte, kTagLength> tag) const;
  // Checks `tag` over `aad` || `payload` (constant time) and only then decrypts `payload` in place.
  // false: the tag does not match and `payload` is untouched.
  [[nodiscard]] bool open(std::span<const std::byte, kIvLength> iv, std::span<const std::byte> aad,
                          std::span<std::byte> payload, std::span<const std::byte, kTagLength> tag) const;

 private:
  using Block = std::array<uint8_t, 16>;

  // Ordered for AES-128 packets to touch four lines: the round count, the hash key powers, then
  // the 11 round keys (the last four of AES-256's 15 spill into a fifth line).
  uint32_t rounds_ = 0;                   // 10 or 14; 0 unkeyed
  alignas(16) std::array<Block, 4> h_{};  // H, H^2, H^3, H^4, byte-reflected (GHASH's bit order)
  std::array<Block, 15> roundKeys_{};
};

static_assert(sizeof(AesGcm) == 320);

}  // namespace rdv::srtp::detail
