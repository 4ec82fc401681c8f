#pragma once
// The TCP connections of TCP allocations (RFC 6062) as pure state, clock passed in: a connection
// is created by a Connect request (Connecting, until the outgoing TCP handshake ends) or by a
// peer connecting to the relayed address (AwaitingBind at once); a successful handshake moves it
// to AwaitingBind, a ConnectionBind to Bound. Connecting and AwaitingBind end after 30 s
// (§5.2: 447 for a Connect still connecting; §5.3: the peer connection is closed when no
// ConnectionBind came). One connection per allocation and peer address (446), and quotas per
// allocation and in total. No sockets here: TurnTcpRelay owns them.

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/Expected.h"
#include "common/SockAddr.h"
#include "relay/stun/StunMessage.h"

namespace rdv::turn {

enum class TcpConnState : uint8_t { Connecting, AwaitingBind, Bound };

struct TcpConnection {
  uint32_t id = 0;  // CONNECTION-ID, never 0
  uint32_t allocationId = 0;
  common::SockAddr peer;
  TcpConnState state = TcpConnState::Connecting;
  uint64_t deadlineMs = 0;     // Connecting / AwaitingBind end here
  stun::TransactionId tid{};   // of the Connect request (answered when the handshake ends)
};

struct TcpConnectionLimits {
  uint32_t perAllocation = 64;
  uint32_t total = 5000;
};

class TcpConnectionTable {
 public:
  static constexpr uint64_t kTimeoutMs = 30'000;

  explicit TcpConnectionTable(TcpConnectionLimits limits = {}) : limits_(limits) {}

  // A Connect to `peer`: the new connection's id, or 446 when the allocation already has a
  // connection (in any state) to that address, 486 beyond a quota.
  Expected<uint32_t, uint16_t> connect(uint32_t allocationId, const common::SockAddr& peer,
                                       const stun::TransactionId& tid, uint64_t nowMs);
  // A peer connected to the relayed address: the id to announce in a ConnectionAttempt, or 486
  // beyond a quota (the peer connection is then refused).
  Expected<uint32_t, uint16_t> accepted(uint32_t allocationId, const common::SockAddr& peer, uint64_t nowMs);
  // The outgoing handshake of a Connecting connection succeeded: AwaitingBind for 30 s.
  bool connected(uint32_t id, uint64_t nowMs);
  // The allocation whose connection `id` awaits a ConnectionBind (before its deadline); 0 if none
  // (unknown id, still connecting, already bound, timed out).
  uint32_t awaitingBind(uint32_t id, uint64_t nowMs) const;
  // AwaitingBind → Bound; false if awaitingBind(id) would have been 0.
  bool bind(uint32_t id, uint64_t nowMs);
  // Connections past their deadline (Connecting or AwaitingBind), oldest first not guaranteed.
  std::vector<uint32_t> expired(uint64_t nowMs) const;
  std::vector<uint32_t> ofAllocation(uint32_t allocationId) const;
  const TcpConnection* find(uint32_t id) const;
  void remove(uint32_t id);
  size_t size() const { return byId_.size(); }

 private:
  Expected<uint32_t, uint16_t> add(uint32_t allocationId, const common::SockAddr& peer, TcpConnState state,
                                   const stun::TransactionId& tid, uint64_t nowMs);

  TcpConnectionLimits limits_;
  uint32_t nextId_ = 1;
  std::unordered_map<uint32_t, TcpConnection> byId_;
  std::unordered_map<uint32_t, uint32_t> perAllocation_;
};

}  // namespace rdv::turn
