#pragma once
// Writes STUN messages (RFC 8489) into a caller's buffer: no allocation. Each add*() appends one
// attribute (padded to 4 bytes with zeros) and keeps the header's length field current, so
// addIntegrity*() and addFingerprint() can hash what is written so far. A message that does not
// fit marks the builder failed: ok() turns false and bytes() is empty; nothing is written past
// the buffer.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/SockAddr.h"
#include "relay/stun/StunMessage.h"
#include "relay/stun/StunTypes.h"

namespace rdv::stun {

class StunBuilder {
 public:
  StunBuilder(std::span<std::byte> buffer, uint16_t method, MessageClass cls, const TransactionId& id);

  StunBuilder& add(uint16_t type, std::span<const std::byte> value);
  StunBuilder& addText(uint16_t type, std::string_view value);
  StunBuilder& addU32(uint16_t type, uint32_t value);
  // XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS (§14.2), IPv4 or IPv6.
  StunBuilder& addXorAddress(uint16_t type, const common::SockAddr& address);
  // ERROR-CODE (§14.8): code 300..699 and a reason phrase.
  StunBuilder& addErrorCode(uint16_t code, std::string_view reason);
  StunBuilder& addRequestedTransport(uint8_t protocol);
  StunBuilder& addChannelNumber(uint16_t channel);
  // MESSAGE-INTEGRITY (HMAC-SHA1) / -SHA256 over everything written so far (§14.5, §14.6).
  StunBuilder& addIntegrity(std::span<const std::byte> key);
  StunBuilder& addIntegritySha256(std::span<const std::byte> key);
  // FINGERPRINT (§14.7); add it last.
  StunBuilder& addFingerprint();

  bool ok() const { return ok_; }
  size_t size() const { return ok_ ? size_ : 0; }
  std::span<const std::byte> bytes() const { return buffer_.first(size()); }

 private:
  // Reserves an attribute of `len` value bytes; returns its value area or an empty span (and
  // fails the builder) when it does not fit.
  std::span<std::byte> reserve(uint16_t type, size_t len);

  std::span<std::byte> buffer_;
  size_t size_ = 0;
  bool ok_ = true;
};

// A reason phrase for the error codes STUN/TURN use ("Unauthenticated" for 401...), or "Error".
std::string_view reasonPhrase(uint16_t code);

}  // namespace rdv::stun
