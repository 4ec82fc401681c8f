#pragma once
// The hashes STUN messages carry and the keys behind them (RFC 8489 §9.2.2, §14.5-§14.7):
// HMAC-SHA1/-SHA256 (OpenSSL), CRC-32 (zlib), the MD5 / SHA-256 long-term keys. Thread-safe;
// each thread reuses one HMAC context, so no allocation per message after the first.

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

namespace rdv::stun {

using Sha1Mac = std::array<std::byte, 20>;
using Sha256Mac = std::array<std::byte, 32>;
using Md5Key = std::array<std::byte, 16>;

// HMAC over the concatenation of `parts` (so a caller can splice in a rewritten length field
// without copying the message).
Sha1Mac hmacSha1(std::span<const std::byte> key, std::initializer_list<std::span<const std::byte>> parts);
Sha256Mac hmacSha256(std::span<const std::byte> key, std::initializer_list<std::span<const std::byte>> parts);

// CRC-32 (ISO HDLC, as zlib's crc32) of `bytes`, XOR 0x5354554e: the FINGERPRINT value.
uint32_t fingerprintOf(std::span<const std::byte> bytes);

// Long-term credential keys (§9.2.2): MD5 / SHA-256 of username ":" realm ":" password. The
// strings are used as given: OpaqueString (RFC 8265) preparation is the caller's (configured
// passwords are taken to be prepared already).
Md5Key longTermKey(std::string_view username, std::string_view realm, std::string_view password);
Sha256Mac longTermKeySha256(std::string_view username, std::string_view realm, std::string_view password);
// SHA-256(username ":" realm), the USERHASH value (§14.4).
Sha256Mac userhash(std::string_view username, std::string_view realm);

// Equality without an early exit (MACs compared against attacker-chosen bytes).
bool constantTimeEqual(std::span<const std::byte> a, std::span<const std::byte> b);

inline std::span<const std::byte> asBytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// Short-term credential key (§9.1.1): the password itself, after OpaqueString (RFC 8265)
// preparation, which is the caller's as for long-term keys. ICE passwords are ice-chars (ALPHA,
// DIGIT, "+", "/"; RFC 8839 §5.4), which OpaqueString leaves unchanged.
inline std::span<const std::byte> shortTermKey(std::string_view password) { return asBytes(password); }

}  // namespace rdv::stun
