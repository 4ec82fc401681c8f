#pragma once
// Stateless nonces that expire (RFC 8489 §9.2, RFC 8656 §9): a nonce is the hex issue time in
// seconds followed by a truncated HMAC-SHA1 over that time and the client's address, keyed with a
// per-process random secret. Checking needs no table; a nonce from another address, a forged or
// garbled one, and one older than the lifetime all read as stale (the client gets 438 and a
// fresh nonce).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/SockAddr.h"

namespace rdv::turn {

class NonceIssuer {
 public:
  // `secret` empty: a random one is drawn (tests pass a fixed one).
  explicit NonceIssuer(uint64_t lifetimeSeconds, std::string_view secret = {});

  std::string issue(uint64_t nowSeconds, const common::SockAddr& client) const;
  bool valid(std::string_view nonce, uint64_t nowSeconds, const common::SockAddr& client) const;

 private:
  std::string mac(std::string_view stamp, const common::SockAddr& client) const;

  uint64_t lifetime_;
  std::array<std::byte, 32> secret_{};
};

}  // namespace rdv::turn
