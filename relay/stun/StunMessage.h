#pragma once
// STUN messages (RFC 8489) as non-owning views over received bytes. One checked entry point,
// StunView::parse; after it, attribute walks and typed reads never re-check the framing.
// No allocation, no exceptions.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "common/Expected.h"
#include "common/SockAddr.h"
#include "relay/stun/StunTypes.h"

namespace rdv::stun {

// Why a datagram is not a STUN message; callers count drops under these reasons (STYLE.md §7).
enum class ParseError : uint8_t {
  TooShort,            // under 20 bytes
  NotStun,             // top two bits set or no magic cookie (RTP, ChannelData, DTLS, junk)
  BadLength,           // length field not a multiple of 4 or not matching the datagram
  BadAttribute,        // an attribute runs past the end of the message
  BadIntegrity,        // MESSAGE-INTEGRITY(-SHA256) of the wrong size
  BadFingerprint,      // FINGERPRINT not last, or of the wrong size
};
std::string_view toString(ParseError e);

// One attribute: its type, its value (without padding) and where its header starts.
struct StunAttribute {
  uint16_t type = 0;
  std::span<const std::byte> value;
  size_t offset = 0;
};

// ERROR-CODE (§14.8).
struct ErrorCode {
  uint16_t code = 0;
  std::string_view reason;
};

using TransactionId = std::array<std::byte, kTransactionIdSize>;

// A parsed STUN message. Holds a span of the caller's buffer and three offsets: valid exactly as
// long as that buffer. Attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and
// FINGERPRINT are invisible to find() and attributes() (RFC 8489 §14.5: a receiver ignores them),
// so nothing unauthenticated can steer a request that carries integrity.
class StunView {
 public:
  // Accepts a message iff: >= 20 bytes; the top two bits are 0 and the magic cookie is present
  // (§5) -> NotStun otherwise; length % 4 == 0 and 20 + length == size -> BadLength; every
  // attribute (TLV, value padded to 4) fits -> BadAttribute; MESSAGE-INTEGRITY is 20 bytes and
  // MESSAGE-INTEGRITY-SHA256 16..32 bytes in steps of 4 -> BadIntegrity; FINGERPRINT is 4 bytes
  // and the last attribute -> BadFingerprint.
  static Expected<StunView, ParseError> parse(std::span<const std::byte> message);

  // Cheap demultiplexing test (RFC 7983 / RFC 8656 §12): first byte 0..3 and the magic cookie.
  static bool looksLikeStun(std::span<const std::byte> datagram);

  uint16_t type() const;
  uint16_t method() const { return methodOf(type()); }
  MessageClass messageClass() const { return classOf(type()); }
  TransactionId transactionId() const;
  std::span<const std::byte> bytes() const { return bytes_; }

  // Visits the visible attributes in order; fn(const StunAttribute&) returns false to stop.
  template <typename Fn>
  void forEach(Fn&& fn) const {
    for (size_t at = kHeaderSize; at < visibleEnd_;) {
      const StunAttribute a = attributeAt(at);
      if (!fn(a)) return;
      at += 4 + ((a.value.size() + 3) & ~size_t{3});
    }
  }
  // The first visible attribute of this type.
  std::optional<StunAttribute> find(uint16_t type) const;
  // The first visible comprehension-required attribute whose type is not in `known` (§6.3.1:
  // such a request gets a 420), or nullopt.
  std::optional<uint16_t> firstUnknownRequired(std::span<const uint16_t> known) const;

  // Typed reads; nullopt when the attribute is absent or malformed.
  std::optional<common::SockAddr> xorAddress(uint16_t type) const;  // XOR-MAPPED/PEER/RELAYED
  // Decodes one XOR address attribute (for requests carrying several XOR-PEER-ADDRESSes).
  std::optional<common::SockAddr> xorAddressOf(const StunAttribute& a) const;
  std::optional<ErrorCode> errorCode() const;
  std::optional<uint32_t> u32(uint16_t type) const;  // LIFETIME, CONNECTION-ID, PRIORITY
  std::optional<std::string_view> text(uint16_t type) const;  // USERNAME, REALM, NONCE, SOFTWARE
  std::optional<uint8_t> requestedTransport() const;  // protocol number (17 UDP, 6 TCP)
  std::optional<uint16_t> channelNumber() const;
  std::optional<std::span<const std::byte>> data() const;

  bool hasIntegrity() const { return integrityAt_ != 0; }
  bool hasIntegritySha256() const { return integritySha256At_ != 0; }
  bool hasFingerprint() const { return fingerprintAt_ != 0; }
  // HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, with the length field covering it
  // (§14.5); false without the attribute. Constant-time compare.
  bool checkIntegrity(std::span<const std::byte> key) const;
  // HMAC-SHA256 likewise (§14.6), truncated to the attribute's size.
  bool checkIntegritySha256(std::span<const std::byte> key) const;
  // CRC-32 of the message before FINGERPRINT, XOR 0x5354554e (§14.7); false without it.
  bool checkFingerprint() const;

 private:
  StunView(std::span<const std::byte> b, size_t visibleEnd, size_t mi, size_t mi256, size_t fp)
      : bytes_(b), visibleEnd_(visibleEnd), integrityAt_(mi), integritySha256At_(mi256), fingerprintAt_(fp) {}
  StunAttribute attributeAt(size_t offset) const;

  std::span<const std::byte> bytes_;
  size_t visibleEnd_;         // end of the attributes find() sees
  size_t integrityAt_;        // header offsets; 0 = absent (an attribute never starts at 0)
  size_t integritySha256At_;
  size_t fingerprintAt_;
};

}  // namespace rdv::stun
