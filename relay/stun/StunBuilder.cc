#include "relay/stun/StunBuilder.h"

#include <algorithm>
#include <cstring>

#include "media/RtpPacket.h"
#include "relay/stun/StunIntegrity.h"

namespace rdv::stun {

namespace wire = media::wire;

StunBuilder::StunBuilder(std::span<std::byte> buffer, uint16_t method, MessageClass cls, const TransactionId& id)
    : buffer_(buffer) {
  if (buffer.size() < kHeaderSize) {
    ok_ = false;
    return;
  }
  wire::storeBe16(buffer_, 0, messageType(method, cls));
  wire::storeBe16(buffer_, 2, 0);
  wire::storeBe32(buffer_, 4, kMagicCookie);
  std::memcpy(buffer_.data() + 8, id.data(), id.size());
  size_ = kHeaderSize;
}

std::span<std::byte> StunBuilder::reserve(uint16_t type, size_t len) {
  const size_t padded = (len + 3) & ~size_t{3};
  if (!ok_ || len > 0xFFFF || buffer_.size() - size_ < 4 + padded || size_ + 4 + padded - kHeaderSize > 0xFFFF) {
    ok_ = false;
    return {};
  }
  wire::storeBe16(buffer_, size_, type);
  wire::storeBe16(buffer_, size_ + 2, static_cast<uint16_t>(len));
  auto value = buffer_.subspan(size_ + 4, len);
  std::fill(buffer_.begin() + static_cast<ptrdiff_t>(size_ + 4 + len),
            buffer_.begin() + static_cast<ptrdiff_t>(size_ + 4 + padded), std::byte{0});
  size_ += 4 + padded;
  wire::storeBe16(buffer_, 2, static_cast<uint16_t>(size_ - kHeaderSize));
  return value;
}

StunBuilder& StunBuilder::add(uint16_t type, std::span<const std::byte> value) {
  auto out = reserve(type, value.size());
  if (ok_ && !value.empty()) std::memcpy(out.data(), value.data(), value.size());
  return *this;
}

StunBuilder& StunBuilder::addText(uint16_t type, std::string_view value) { return add(type, asBytes(value)); }

StunBuilder& StunBuilder::addU32(uint16_t type, uint32_t value) {
  auto out = reserve(type, 4);
  if (ok_) wire::storeBe32(out, 0, value);
  return *this;
}

StunBuilder& StunBuilder::addXorAddress(uint16_t type, const common::SockAddr& address) {
  const bool v6 = address.isV6();
  auto out = reserve(type, v6 ? 20 : 8);
  if (!ok_) return *this;
  out[0] = std::byte{0};
  out[1] = std::byte{static_cast<uint8_t>(v6 ? 2 : 1)};
  wire::storeBe16(out, 2, static_cast<uint16_t>(address.port() ^ (kMagicCookie >> 16)));
  if (!v6) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(address.sa());
    wire::storeBe32(out, 4, ntohl(sin->sin_addr.s_addr) ^ kMagicCookie);
  } else {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(address.sa());
    const auto* ip = reinterpret_cast<const std::byte*>(&sin6->sin6_addr);
    for (size_t i = 0; i < 16; ++i) out[4 + i] = ip[i] ^ buffer_[4 + i];  // cookie + transaction id
  }
  return *this;
}

StunBuilder& StunBuilder::addErrorCode(uint16_t code, std::string_view reason) {
  auto out = reserve(attr::kErrorCode, 4 + reason.size());
  if (!ok_) return *this;
  wire::storeBe16(out, 0, 0);
  out[2] = std::byte{static_cast<uint8_t>(code / 100)};
  out[3] = std::byte{static_cast<uint8_t>(code % 100)};
  if (!reason.empty()) std::memcpy(out.data() + 4, reason.data(), reason.size());
  return *this;
}

StunBuilder& StunBuilder::addRequestedTransport(uint8_t protocol) {
  return addU32(attr::kRequestedTransport, uint32_t{protocol} << 24);
}

StunBuilder& StunBuilder::addChannelNumber(uint16_t channel) {
  return addU32(attr::kChannelNumber, uint32_t{channel} << 16);
}

StunBuilder& StunBuilder::addIntegrity(std::span<const std::byte> key) {
  const size_t covered = size_;
  auto out = reserve(attr::kMessageIntegrity, kHmacSha1Size);
  if (!ok_) return *this;
  // The length field already counts this attribute, as §14.5 requires.
  const auto mac = hmacSha1(key, {std::span<const std::byte>(buffer_.first(covered))});
  std::memcpy(out.data(), mac.data(), mac.size());
  return *this;
}

StunBuilder& StunBuilder::addIntegritySha256(std::span<const std::byte> key) {
  const size_t covered = size_;
  auto out = reserve(attr::kMessageIntegritySha256, kHmacSha256Size);
  if (!ok_) return *this;
  const auto mac = hmacSha256(key, {std::span<const std::byte>(buffer_.first(covered))});
  std::memcpy(out.data(), mac.data(), mac.size());
  return *this;
}

StunBuilder& StunBuilder::addFingerprint() {
  const size_t covered = size_;
  auto out = reserve(attr::kFingerprint, 4);
  if (ok_) wire::storeBe32(out, 0, fingerprintOf(buffer_.first(covered)));
  return *this;
}

std::string_view reasonPhrase(uint16_t code) {
  switch (code) {
    case 300: return "Try Alternate";
    case 400: return "Bad Request";
    case 401: return "Unauthenticated";
    case 403: return "Forbidden";
    case 420: return "Unknown Attribute";
    case 437: return "Allocation Mismatch";
    case 438: return "Stale Nonce";
    case 440: return "Address Family not Supported";
    case 441: return "Wrong Credentials";
    case 442: return "Unsupported Transport Protocol";
    case 443: return "Peer Address Family Mismatch";
    case 446: return "Connection Already Exists";
    case 447: return "Connection Timeout or Failure";
    case 486: return "Allocation Quota Reached";
    case 487: return "Role Conflict";
    case 500: return "Server Error";
    case 508: return "Insufficient Capacity";
    default: return "Error";
  }
}

}  // namespace rdv::stun
