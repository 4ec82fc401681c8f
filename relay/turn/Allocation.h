#pragma once
// One TURN allocation (RFC 8656 §2.2, §5): the client's 5-tuple, its relayed address, the
// credentials it was made with, its expiry, permissions (by peer IP, 300 s) and channel bindings
// (600 s). Plain data; AllocationTable owns the rules.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/SockAddr.h"
#include "relay/stun/StunIntegrity.h"
#include "relay/turn/TokenBucket.h"

namespace rdv::turn {

inline constexpr uint8_t kUdp = 17;
inline constexpr uint8_t kTcp = 6;

// The client side of an allocation: who, on which of our listening addresses, over what.
struct FiveTuple {
  common::SockAddr client;
  common::SockAddr server;
  uint8_t transport = kUdp;
  bool operator==(const FiveTuple& o) const {
    return transport == o.transport && client == o.client && server == o.server;
  }
};

struct FiveTupleHash {
  size_t operator()(const FiveTuple& t) const;
};

struct Permission {
  common::SockAddr peer;  // port ignored (§9: permissions are per IP address)
  uint64_t expiresMs = 0;
};

struct ChannelBinding {
  uint16_t number = 0;
  common::SockAddr peer;
  uint64_t expiresMs = 0;
};

struct Allocation {
  uint32_t id = 0;
  FiveTuple tuple;
  std::string username;
  stun::Md5Key key{};
  common::SockAddr relayed;
  uint8_t relayTransport = kUdp;  // kTcp: RFC 6062 TCP allocation
  uint64_t expiresMs = 0;
  std::vector<Permission> permissions;
  std::vector<ChannelBinding> channels;
  TokenBucket bandwidth;  // relayed UDP payload bytes, both directions together (turn.max_bps)
};

}  // namespace rdv::turn
