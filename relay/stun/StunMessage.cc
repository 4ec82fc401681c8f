#include "relay/stun/StunMessage.h"

#include <algorithm>
#include <cstring>

#include "media/RtpPacket.h"
#include "relay/stun/StunIntegrity.h"

namespace rdv::stun {

namespace wire = media::wire;

std::string_view toString(ParseError e) {
  switch (e) {
    case ParseError::TooShort: return "too short";
    case ParseError::NotStun: return "not stun";
    case ParseError::BadLength: return "bad length";
    case ParseError::BadAttribute: return "bad attribute";
    case ParseError::BadIntegrity: return "bad integrity";
    case ParseError::BadFingerprint: return "bad fingerprint";
  }
  return "unknown";
}

std::string_view methodName(uint16_t m) {
  switch (m) {
    case method::kBinding: return "binding";
    case method::kAllocate: return "allocate";
    case method::kRefresh: return "refresh";
    case method::kSend: return "send";
    case method::kData: return "data";
    case method::kCreatePermission: return "create_permission";
    case method::kChannelBind: return "channel_bind";
    case method::kConnect: return "connect";
    case method::kConnectionBind: return "connection_bind";
    case method::kConnectionAttempt: return "connection_attempt";
    default: return "other";
  }
}

bool StunView::looksLikeStun(std::span<const std::byte> d) {
  return d.size() >= kHeaderSize && (wire::load8(d, 0) & 0xC0) == 0 && wire::loadBe32(d, 4) == kMagicCookie;
}

Expected<StunView, ParseError> StunView::parse(std::span<const std::byte> m) {
  if (m.size() < kHeaderSize) return Unexpected(ParseError::TooShort);
  if (!looksLikeStun(m)) return Unexpected(ParseError::NotStun);
  const size_t length = wire::loadBe16(m, 2);
  if (length % 4 != 0 || kHeaderSize + length != m.size()) return Unexpected(ParseError::BadLength);

  size_t visibleEnd = m.size();
  size_t mi = 0, mi256 = 0, fp = 0;
  for (size_t at = kHeaderSize; at < m.size();) {
    if (m.size() - at < 4) return Unexpected(ParseError::BadAttribute);
    const uint16_t type = wire::loadBe16(m, at);
    const size_t len = wire::loadBe16(m, at + 2);
    const size_t padded = (len + 3) & ~size_t{3};
    if (m.size() - at - 4 < padded) return Unexpected(ParseError::BadAttribute);
    if (fp != 0) return Unexpected(ParseError::BadFingerprint);  // something after FINGERPRINT
    if (type == attr::kMessageIntegrity && mi == 0 && mi256 == 0) {
      if (len != kHmacSha1Size) return Unexpected(ParseError::BadIntegrity);
      mi = at;
      visibleEnd = at;
    } else if (type == attr::kMessageIntegritySha256 && mi256 == 0) {
      if (len < 16 || len > kHmacSha256Size || len % 4 != 0) return Unexpected(ParseError::BadIntegrity);
      mi256 = at;
      visibleEnd = std::min(visibleEnd, at);
    } else if (type == attr::kFingerprint) {
      if (len != 4) return Unexpected(ParseError::BadFingerprint);
      fp = at;
      visibleEnd = std::min(visibleEnd, at);
    }
    at += 4 + padded;
  }
  return StunView(m, visibleEnd, mi, mi256, fp);
}

uint16_t StunView::type() const { return wire::loadBe16(bytes_, 0); }

TransactionId StunView::transactionId() const {
  TransactionId id;
  std::memcpy(id.data(), bytes_.data() + 8, id.size());
  return id;
}

StunAttribute StunView::attributeAt(size_t offset) const {
  const size_t len = wire::loadBe16(bytes_, offset + 2);
  return {wire::loadBe16(bytes_, offset), bytes_.subspan(offset + 4, len), offset};
}

std::optional<StunAttribute> StunView::find(uint16_t type) const {
  std::optional<StunAttribute> found;
  forEach([&](const StunAttribute& a) {
    if (a.type != type) return true;
    found = a;
    return false;
  });
  return found;
}

std::optional<uint16_t> StunView::firstUnknownRequired(std::span<const uint16_t> known) const {
  std::optional<uint16_t> unknown;
  forEach([&](const StunAttribute& a) {
    if (!attr::comprehensionRequired(a.type) || std::find(known.begin(), known.end(), a.type) != known.end()) {
      return true;
    }
    unknown = a.type;
    return false;
  });
  return unknown;
}

std::optional<common::SockAddr> StunView::xorAddress(uint16_t type) const {
  auto a = find(type);
  if (!a) return std::nullopt;
  return xorAddressOf(*a);
}

std::optional<common::SockAddr> StunView::xorAddressOf(const StunAttribute& a) const {
  if (a.value.size() < 4) return std::nullopt;
  const auto v = a.value;
  const uint8_t family = wire::load8(v, 1);
  const auto port = static_cast<uint16_t>(wire::loadBe16(v, 2) ^ (kMagicCookie >> 16));
  if (family == 0x01 && v.size() == 8) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(wire::loadBe32(v, 4) ^ kMagicCookie);
    return common::SockAddr::fromSockaddr(reinterpret_cast<const sockaddr*>(&sin), sizeof(sin));
  }
  if (family == 0x02 && v.size() == 20) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    // XOR with the magic cookie followed by the transaction id (§14.2).
    auto* out = reinterpret_cast<std::byte*>(&sin6.sin6_addr);
    for (size_t i = 0; i < 16; ++i) out[i] = v[4 + i] ^ bytes_[4 + i];
    return common::SockAddr::fromSockaddr(reinterpret_cast<const sockaddr*>(&sin6), sizeof(sin6));
  }
  return std::nullopt;
}

std::optional<ErrorCode> StunView::errorCode() const {
  auto a = find(attr::kErrorCode);
  if (!a || a->value.size() < 4) return std::nullopt;
  const uint16_t cls = wire::load8(a->value, 2) & 0x07;
  const uint16_t number = wire::load8(a->value, 3);
  if (cls < 3 || cls > 6 || number > 99) return std::nullopt;
  const auto reason = a->value.subspan(4);
  return ErrorCode{static_cast<uint16_t>(cls * 100 + number),
                   std::string_view(reinterpret_cast<const char*>(reason.data()), reason.size())};
}

std::optional<uint32_t> StunView::u32(uint16_t type) const {
  auto a = find(type);
  if (!a || a->value.size() != 4) return std::nullopt;
  return wire::loadBe32(a->value, 0);
}

std::optional<std::string_view> StunView::text(uint16_t type) const {
  auto a = find(type);
  if (!a) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(a->value.data()), a->value.size());
}

std::optional<uint8_t> StunView::requestedTransport() const {
  auto a = find(attr::kRequestedTransport);
  if (!a || a->value.size() != 4) return std::nullopt;
  return wire::load8(a->value, 0);
}

std::optional<uint16_t> StunView::channelNumber() const {
  auto a = find(attr::kChannelNumber);
  if (!a || a->value.size() != 4) return std::nullopt;
  return wire::loadBe16(a->value, 0);
}

std::optional<std::span<const std::byte>> StunView::data() const {
  auto a = find(attr::kData);
  if (!a) return std::nullopt;
  return a->value;
}

namespace {
// The header with its length field rewritten to end right after the attribute at `at` of
// `valueLen` bytes, as the sender had it when computing the MAC (§14.5).
std::array<std::byte, 4> headerFor(std::span<const std::byte> m, size_t at, size_t valueLen) {
  const auto length = static_cast<uint16_t>(at + 4 + valueLen - kHeaderSize);
  return {m[0], m[1], std::byte(length >> 8), std::byte(length & 0xff)};
}
}  // namespace

bool StunView::checkIntegrity(std::span<const std::byte> key) const {
  if (integrityAt_ == 0) return false;
  const auto head = headerFor(bytes_, integrityAt_, kHmacSha1Size);
  const auto mac = hmacSha1(key, {head, bytes_.subspan(4, integrityAt_ - 4)});
  return constantTimeEqual(mac, bytes_.subspan(integrityAt_ + 4, kHmacSha1Size));
}

bool StunView::checkIntegritySha256(std::span<const std::byte> key) const {
  if (integritySha256At_ == 0) return false;
  const size_t len = wire::loadBe16(bytes_, integritySha256At_ + 2);
  const auto head = headerFor(bytes_, integritySha256At_, len);
  const auto mac = hmacSha256(key, {head, bytes_.subspan(4, integritySha256At_ - 4)});
  return constantTimeEqual(std::span(mac).first(len), bytes_.subspan(integritySha256At_ + 4, len));
}

bool StunView::checkFingerprint() const {
  if (fingerprintAt_ == 0) return false;
  return fingerprintOf(bytes_.first(fingerprintAt_)) == wire::loadBe32(bytes_, fingerprintAt_ + 4);
}

}  // namespace rdv::stun
