#pragma once
// Answers TURN/STUN requests (RFC 8656 §7-§11, RFC 8489 Binding): authentication with long-term
// credentials and expiring nonces, then Allocate, Refresh, CreatePermission and ChannelBind on
// the AllocationTable, and Connect / ConnectionBind of TCP allocations (RFC 6062). Sockets stay outside: relayed ports are opened and closed through the
// RelayPorts interface, and the answer is written into the caller's buffer. Single-threaded.

#include <cstdint>
#include <optional>
#include <span>

#include "common/SockAddr.h"
#include "relay/stun/StunMessage.h"
#include "relay/turn/AllocationTable.h"
#include "relay/turn/Credentials.h"
#include "relay/turn/NonceIssuer.h"
#include "relay/turn/PeerPolicy.h"
#include "relay/turn/TurnCounters.h"

namespace rdv::turn {

class RelayPorts {
 public:
  virtual ~RelayPorts() = default;
  // Opens the relayed socket of allocation `id`: UDP, or a TCP listener for `transport` kTcp
  // (RFC 6062); nullopt when no port is free.
  virtual std::optional<common::SockAddr> open(uint32_t id, uint8_t transport) = 0;
  // Closes it, with every TCP connection of the allocation.
  virtual void close(uint32_t id) = 0;
  // RFC 6062 §5.2: starts connecting allocation `id` to `peer`; 0 = answered later (CONNECTION-ID
  // or 447), else the error to answer now (446 connection exists, 447, 486 quota).
  virtual uint16_t connect(uint32_t id, const common::SockAddr& peer, const stun::TransactionId& tid,
                           uint64_t nowMs) = 0;
  // The allocation whose connection `connectionId` awaits a ConnectionBind, 0 if none.
  virtual uint32_t awaitingBind(uint32_t connectionId, uint64_t nowMs) = 0;
  // RFC 6062 §5.4: binds it to the data connection `data` (once the answer has gone out on it).
  virtual void bind(uint32_t connectionId, const FiveTuple& data, uint64_t nowMs) = 0;
};

class TurnRequestHandler {
 public:
  TurnRequestHandler(Credentials credentials, PeerPolicy policy, AllocationLimits limits, uint32_t nonceLifetimeS,
                     RelayPorts& ports, TurnCounters& counters);

  // The answer to request `req` from `tuple`, written into `out` (empty: no answer). `nowMs` is
  // monotonic (lifetimes), `wallS` Unix time (nonces, shared-secret expiry).
  std::span<const std::byte> handle(const stun::StunView& req, const FiveTuple& tuple, uint64_t nowMs,
                                    uint64_t wallS, std::span<std::byte> out);
  // Removes expired allocations (closing their ports) and permissions.
  void expire(uint64_t nowMs);
  // Removes the allocation of `tuple`, if any (its TCP connection closed).
  void release(const FiveTuple& tuple);

  AllocationTable& table() { return table_; }
  const PeerPolicy& policy() const { return policy_; }

 private:
  struct Reply;
  std::span<const std::byte> allocate(Reply& r, const FiveTuple& tuple, uint64_t nowMs);
  std::span<const std::byte> refresh(Reply& r, Allocation& a, uint64_t nowMs);
  std::span<const std::byte> createPermission(Reply& r, Allocation& a, uint64_t nowMs);
  std::span<const std::byte> channelBind(Reply& r, Allocation& a, uint64_t nowMs);
  std::span<const std::byte> connect(Reply& r, Allocation& a, uint64_t nowMs);
  std::span<const std::byte> connectionBind(Reply& r, std::string_view username, uint64_t nowMs);
  // 0 when the request's peer addresses are all acceptable for `a`, else the error to send.
  uint16_t checkPeer(const Allocation& a, const common::SockAddr& peer) const;

  Credentials credentials_;
  PeerPolicy policy_;
  NonceIssuer nonces_;
  AllocationTable table_;
  RelayPorts& ports_;
  TurnCounters& counters_;
};

}  // namespace rdv::turn
