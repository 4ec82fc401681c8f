#pragma once
// The SRTP crypto suites Rendezvous terminates (RFC 4568 §6.2, RFC 7714 §14.2) and their key,
// salt and tag sizes. Pure data: no libsrtp here, so SDP code can name suites without linking it.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace rdv::srtp {

enum class Suite : uint8_t {
  // The underscore keeps the tag length apart from "SHA1" as in the registered names.
  AesCm128HmacSha1_80,  // NOLINT(readability-identifier-naming) RFC 4568 §6.2.1
  AesCm128HmacSha1_32,  // NOLINT(readability-identifier-naming) RFC 4568 §6.2.2, SRTCP tag 80
  AeadAes128Gcm,        // RFC 7714 §14.2
  AeadAes256Gcm,
};
inline constexpr size_t kSuiteCount = 4;

struct SuiteInfo {
  std::string_view name;  // the SDES name, e.g. "AES_CM_128_HMAC_SHA1_80"
  size_t keyLength;       // master key, bytes
  size_t saltLength;      // master salt, bytes (14 for AES-CM, 12 for AEAD, RFC 7714 §12)
  size_t rtpTagLength;    // authentication tag on SRTP
  size_t rtcpTagLength;   // authentication tag on SRTCP
  bool aead;

  size_t keySaltLength() const { return keyLength + saltLength; }
};

const SuiteInfo& suiteInfo(Suite s);
// Exact, case-sensitive match of the SDES name (RFC 4568 §9.1 registers them in upper case).
std::optional<Suite> suiteFromName(std::string_view name);

// The largest key||salt of any suite (AEAD_AES_256_GCM: 32 + 12).
inline constexpr size_t kMaxKeySaltLength = 44;
// The largest MKI libsrtp and RFC 4568 §9.1 allow.
inline constexpr size_t kMaxMkiLength = 128;
// Room a caller leaves after a packet for protect(): SRTCP index (4) + largest tag (16) + MKI.
inline constexpr size_t kMaxTrailer = 4 + 16 + kMaxMkiLength;

}  // namespace rdv::srtp
