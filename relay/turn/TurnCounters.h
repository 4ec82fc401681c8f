#pragma once
// What the TURN server counts, written by the one thread that runs it and read by the metrics collector
// (common::Counter: relaxed loads and stores, no read-modify-write).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/Counter.h"

namespace rdv::turn {

// The methods counted separately; everything else is Other.
enum class TurnMethod : uint8_t {
  Binding,
  Allocate,
  Refresh,
  CreatePermission,
  ChannelBind,
  Connect,
  ConnectionBind,
  Other,
  kCount
};
std::string_view toString(TurnMethod m);
TurnMethod turnMethodOf(uint16_t stunMethod);

// Why a request was refused or a datagram dropped.
enum class Refusal : uint8_t {
  Unauthenticated,       // 401: no/bad MESSAGE-INTEGRITY, unknown user, expired credential
  StaleNonce,            // 438
  BadRequest,            // 400
  UnknownAttribute,      // 420
  ForbiddenPeer,         // 403: peer in a denied range
  Mismatch,              // 437: no allocation / already one for this 5-tuple
  WrongCredentials,      // 441: another user's allocation
  UnsupportedTransport,  // 442
  Quota,                 // 486
  Capacity,              // 508: no relayed port free
  Malformed,             // datagram neither STUN nor ChannelData, or failing to parse
  NoAllocation,          // indication/ChannelData from a client without an allocation
  NoPermission,          // data to/from a peer without a permission (or unbound channel)
  ConnectionExists,      // 446: a second Connect to the same peer (RFC 6062)
  ConnectFailed,         // 447: the connection to the peer failed or timed out, or no ConnectionBind in 30 s
  Bandwidth,             // datagram beyond the allocation's turn.max_bps
  TcpSourceLimit,        // a TCP/TLS client connection beyond turn.tcp_max_per_source from one IP: reset
  TcpConnectionLimit,    // a TCP/TLS client connection beyond turn.tcp_max_connections: reset
  TcpIdle,               // a TCP/TLS client connection without allocation closed after turn.tcp_idle_timeout
  kCount
};
std::string_view toString(Refusal r);

struct TurnCounters {
  static constexpr size_t kMethods = static_cast<size_t>(TurnMethod::kCount);
  std::array<common::Counter, kMethods> success;
  std::array<common::Counter, kMethods> error;
  std::array<common::Counter, static_cast<size_t>(Refusal::kCount)> refused;
  common::Counter allocations;  // gauge
  common::Counter toPeerPackets, toPeerBytes;
  common::Counter toClientPackets, toClientBytes;
  common::Counter tcpConnections;  // gauge: RFC 6062 peer connections, pending or spliced
  common::Counter tcpClients;      // gauge: TCP/TLS client connections (control and unbound data)
  common::Counter busyNs;          // time the server's loop spent handling events (hosted or not)

  void refuse(Refusal r) { refused[static_cast<size_t>(r)].add(1); }
};

}  // namespace rdv::turn
