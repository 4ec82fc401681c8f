#include "relay/turn/NonceIssuer.h"

#include <openssl/rand.h>

#include <charconv>
#include <cstring>

#include "fmt/format.h"
#include "relay/stun/StunIntegrity.h"

namespace rdv::turn {

NonceIssuer::NonceIssuer(uint64_t lifetimeSeconds, std::string_view secret) : lifetime_(lifetimeSeconds) {
  if (secret.empty()) {
    RAND_bytes(reinterpret_cast<unsigned char*>(secret_.data()), static_cast<int>(secret_.size()));
  } else {
    std::memcpy(secret_.data(), secret.data(), std::min(secret.size(), secret_.size()));
  }
}

std::string NonceIssuer::mac(std::string_view stamp, const common::SockAddr& client) const {
  const auto ip = client.ip();
  const auto h = stun::hmacSha1(secret_, {stun::asBytes(stamp), stun::asBytes(ip)});
  std::string out;
  for (size_t i = 0; i < 8; ++i) out += fmt::format("{:02x}", std::to_integer<unsigned>(h[i]));
  return out;
}

std::string NonceIssuer::issue(uint64_t nowSeconds, const common::SockAddr& client) const {
  const auto stamp = fmt::format("{:08x}", nowSeconds & 0xffffffffu);
  return stamp + mac(stamp, client);
}

bool NonceIssuer::valid(std::string_view nonce, uint64_t nowSeconds, const common::SockAddr& client) const {
  if (nonce.size() != 24) return false;
  const auto stamp = nonce.substr(0, 8);
  uint64_t issued = 0;
  auto [end, ec] = std::from_chars(stamp.data(), stamp.data() + 8, issued, 16);
  if (ec != std::errc() || end != stamp.data() + 8) return false;
  if (!stun::constantTimeEqual(stun::asBytes(mac(stamp, client)), stun::asBytes(nonce.substr(8)))) return false;
  const uint64_t now32 = nowSeconds & 0xffffffffu;
  const uint64_t age = (now32 - issued) & 0xffffffffu;  // wraps with the 32-bit stamp
  return age <= lifetime_;
}

}  // namespace rdv::turn
