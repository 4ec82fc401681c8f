#pragma once
// One TCP relay pair: two listening ports, one per peer; each peer connects out to its own port
// (the direction NATs allow) and, once both are in, the relay splices bytes between the two
// connections (TcpSplicer). The control side keeps a TcpPairStatus to read without waiting for
// the splicer: single writer (the splicer thread), relaxed/acquire reads from any thread.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "common/Counter.h"
#include "common/Fd.h"
#include "common/SockAddr.h"
#include "relay/SpliceDirection.h"

namespace rdv::relay {

enum class TcpPairState : uint8_t {
  Waiting,       // listening: neither or one peer connected
  Connected,     // both connected, bytes flow (or a half-close is in progress)
  Closed,        // both directions ended with FIN, propagated
  Reset,         // one side reset (or failed); the other got an RST
  SetupTimeout,  // a peer did not connect in time
  IdleTimeout,   // no byte either way for the idle timeout
  Deleted,       // closed by the operator (API DELETE) or at shutdown
};
const char* toString(TcpPairState s);
inline bool terminal(TcpPairState s) {
  return s != TcpPairState::Waiting && s != TcpPairState::Connected;
}

// Written by the splicer thread only (except `allowed`: the control thread's, see TcpRelay::restrict);
// read by the control thread and the API.
struct TcpPairStatus {
  uint64_t id = 0;
  uint64_t createdNs = 0;  // creation instant on the relay's clock
  uint32_t idleTimeoutS = 0;
  std::array<common::SockAddr, 2> local;                   // the two listening addresses (a, b)
  std::array<std::optional<common::SockAddr>, 2> allowed;  // source restriction per side (control thread)
  std::atomic<TcpPairState> state{TcpPairState::Waiting};
  // Peer address of side i; valid once connected[i] is true (release/acquire).
  std::array<common::SockAddr, 2> peer;
  std::array<std::atomic<bool>, 2> connected{};
  std::array<common::Counter, 2> bytes;    // [0] a -> b, [1] b -> a (bytes written to the receiver)
  std::array<std::atomic<bool>, 2> eof{};  // side i sent FIN and it was passed on
  common::Counter endedNs;                 // when the state became terminal
};

// Splicer-side state of one side of a pair.
struct TcpEndpoint {
  struct TcpPair* pair = nullptr;
  uint8_t side = 0;
  bool listening = true;  // fd is the listener until the peer is accepted
  bool readable = false;  // edge-triggered readiness, cleared on EAGAIN
  bool writable = false;
  std::optional<common::SockAddr> allowed;  // the splicer's copy of the side's source restriction
  common::Fd fd;
};

// One direction: bytes read from side `from` into a pipe and spliced out to the other side.
// The pipe is taken from the splicer's pool only while bytes are in flight.
using TcpDirection = SpliceDirection;

struct TcpPair {
  std::shared_ptr<TcpPairStatus> status;
  std::array<TcpEndpoint, 2> ends;
  std::array<TcpDirection, 2> dirs;  // [0] a -> b, [1] b -> a
  uint64_t lastActivityNs = 0;
  uint64_t idleTimeoutNs = 0;
  bool queued = false;   // on the splicer's ready list (a pump stopped at its budget)
  bool starved = false;  // on the splicer's starved list (no pipe could be had)
  bool dead = false;     // ended: destroyed after the current round
};

}  // namespace rdv::relay
