#include "relay/turn/PeerPolicy.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace rdv::turn {
namespace {

// The address bytes of `a` as IPv6 (IPv4 as ::ffff:a.b.c.d), so one prefix test serves both.
std::array<uint8_t, 16> asV6(const common::SockAddr& a) {
  std::array<uint8_t, 16> out{};
  if (a.isV6()) {
    std::memcpy(out.data(), &reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr, 16);
  } else {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr, 4);
  }
  return out;
}

bool prefixMatch(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, unsigned bits) {
  const unsigned full = bits / 8;
  if (std::memcmp(a.data(), b.data(), full) != 0) return false;
  const unsigned rest = bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

bool restrictedV4(uint32_t ip) {  // host order
  const uint8_t a = ip >> 24, b = (ip >> 16) & 0xff;
  return a == 0 || a == 10 || a == 127 || (a == 100 && (b & 0xc0) == 64) || (a == 169 && b == 254) ||
         (a == 172 && (b & 0xf0) == 16) || (a == 192 && b == 168) || a >= 224;
}

}  // namespace

Expected<Cidr, std::string> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  const std::string ip(text.substr(0, slash));
  Cidr c;
  in_addr v4{};
  in6_addr v6{};
  unsigned maxBits = 0;
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    c.bytes[10] = c.bytes[11] = 0xff;
    std::memcpy(c.bytes.data() + 12, &v4, 4);
    maxBits = 32;
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    c.v6 = true;
    std::memcpy(c.bytes.data(), &v6, 16);
    maxBits = 128;
  } else {
    return Unexpected(std::string("not an IP prefix: ") + std::string(text));
  }
  unsigned bits = maxBits;
  if (slash != std::string_view::npos) {
    const auto len = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
    if (ec != std::errc() || end != len.data() + len.size() || bits > maxBits) {
      return Unexpected(std::string("bad prefix length: ") + std::string(text));
    }
  }
  c.prefix = static_cast<uint8_t>(c.v6 ? bits : bits + 96);
  return c;
}

bool Cidr::contains(const common::SockAddr& address) const { return prefixMatch(bytes, asV6(address), prefix); }

Expected<PeerPolicy, std::string> PeerPolicy::create(const std::vector<std::string>& allow) {
  PeerPolicy p;
  for (const auto& entry : allow) {
    auto c = Cidr::parse(entry);
    if (!c) return Unexpected(c.error());
    p.allow_.push_back(*c);
  }
  return p;
}

bool PeerPolicy::restricted(const common::SockAddr& peer) {
  const auto b = asV6(peer);
  static constexpr std::array<uint8_t, 16> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (prefixMatch(b, kMapped, 96)) {
    return restrictedV4((uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) | b[15]);
  }
  static constexpr std::array<uint8_t, 16> kZero{};
  if (prefixMatch(b, kZero, 120)) return true;  // :: and ::1 (and the deprecated ::a.b.c.d)
  return (b[0] & 0xfe) == 0xfc ||                 // fc00::/7 unique local
         (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||  // fe80::/10 link-local
         b[0] == 0xff;                               // ff00::/8 multicast
}

bool PeerPolicy::allowed(const common::SockAddr& peer) const {
  if (!restricted(peer)) return true;
  for (const auto& c : allow_) {
    if (c.contains(peer)) return true;
  }
  return false;
}

}  // namespace rdv::turn
