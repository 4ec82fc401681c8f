#pragma once
// Which peers a TURN allocation may reach (RFC 8656 §21.4: a relay must not become a way into
// the operator's network). Denied by default: loopback, RFC 1918 private, CGNAT (RFC 6598),
// link-local, multicast, unspecified, reserved/broadcast, and the IPv6 equivalents (loopback,
// unspecified, ULA fc00::/7, link-local fe80::/10, multicast ff00::/8; IPv4-mapped addresses are
// judged by their IPv4 part). An allow list of CIDR blocks (`turn.allow_peers`) overrides.

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/Expected.h"
#include "common/SockAddr.h"

namespace rdv::turn {

// An IPv4 or IPv6 prefix, e.g. "10.0.0.0/8" or "fd00::/8".
struct Cidr {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
  uint8_t prefix = 0;

  // Parses "ip/len" (or a bare ip: a host route); an error message names the bad text.
  static Expected<Cidr, std::string> parse(std::string_view text);
  bool contains(const common::SockAddr& address) const;
};

class PeerPolicy {
 public:
  // Fails with a message naming the first entry that does not parse.
  static Expected<PeerPolicy, std::string> create(const std::vector<std::string>& allow);

  bool allowed(const common::SockAddr& peer) const;
  // True for the address ranges denied by default (without looking at the allow list).
  static bool restricted(const common::SockAddr& peer);

 private:
  std::vector<Cidr> allow_;
};

}  // namespace rdv::turn
