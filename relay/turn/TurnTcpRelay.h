#pragma once
// The sockets of TCP allocations (RFC 6062): a listening socket on each relayed address, the
// outgoing connections of Connect requests, peers connecting in, and the spliced pairs once a
// ConnectionBind has joined a data connection to its peer connection. The rules live in
// TcpConnectionTable; what needs the allocation (answering Connect, permissions, the
// ConnectionAttempt indication) goes up through TcpRelayEvents. Runs on the TurnServer's thread;
// epoll tags are kTagBase | kind << 32 | number. With a bandwidth limit (turn.max_bps) each TCP
// allocation has a token bucket that its spliced connections share, both directions together
// (the same rate and burst as a UDP allocation's); a pair out of tokens stops reading and is
// resumed by resumeThrottled().

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/Fd.h"
#include "common/SockAddr.h"
#include "relay/turn/TcpConnectionTable.h"
#include "relay/turn/TcpSplicePair.h"
#include "relay/turn/TurnCounters.h"

namespace rdv::turn {

class TcpRelayEvents {
 public:
  virtual ~TcpRelayEvents() = default;
  // The outgoing handshake of Connect `c` ended (ok: connected; else 447 is due).
  virtual void onConnectDone(const TcpConnection& c, bool ok) = 0;
  // A peer connected to allocation `allocationId`'s relayed address and was given `connectionId`;
  // false when it has no permission (the connection is then closed).
  virtual bool onPeerArrived(uint32_t allocationId, const common::SockAddr& peer, uint32_t connectionId) = 0;
};

class TurnTcpRelay {
 public:
  static constexpr uint64_t kTagBase = uint64_t{1} << 61;

  // `bytesPerSecond`: the bandwidth limit per allocation (0 = none).
  TurnTcpRelay(int epollFd, TcpRelayEvents& events, TurnCounters& counters, TcpConnectionLimits limits = {},
               uint64_t bytesPerSecond = 0)
      : epoll_(epollFd), events_(events), counters_(counters), table_(limits), bytesPerSecond_(bytesPerSecond) {}
  ~TurnTcpRelay();

  static bool owns(uint64_t tag) { return (tag & (uint64_t{3} << 61)) == kTagBase; }
  // Opens a listening socket on `address` for allocation `allocationId`; false if the port is taken.
  bool listen(uint32_t allocationId, const common::SockAddr& address);
  // Closes the allocation's listener and all its connections, pending or spliced.
  void closeAllocation(uint32_t allocationId);
  // Starts the outgoing connection of a Connect request; 0 = answer comes with onConnectDone,
  // else the error code to answer now (446, 486, 447 when the connect failed at once).
  uint16_t connect(uint32_t allocationId, const common::SockAddr& peer, const stun::TransactionId& tid,
                   uint64_t nowMs);
  uint32_t awaitingBind(uint32_t connectionId, uint64_t nowMs) const { return table_.awaitingBind(connectionId, nowMs); }
  bool bind(uint32_t connectionId, uint64_t nowMs) { return table_.bind(connectionId, nowMs); }
  // Joins the data connection (after its ConnectionBind success went out) to the bound peer
  // connection; `early` are bytes the client sent after its ConnectionBind.
  void attach(uint32_t connectionId, common::Fd data, std::span<const std::byte> early);
  void onEvent(uint64_t tag, uint32_t events);
  // Ends connection `connectionId` (its data connection went away before it was attached).
  void abandon(uint32_t connectionId) { drop(connectionId); }
  // Ends connections past their 30 s (447 for Connects still connecting).
  void expire(uint64_t nowMs);
  // Pairs that used their budget: pump them again (call while hasWork()).
  void runPending();
  bool hasWork() const { return !pending_.empty(); }
  // Pairs stopped for want of tokens: pump them again (call every few ms while hasThrottled()).
  void resumeThrottled();
  bool hasThrottled() const { return !throttled_.empty(); }
  const TcpConnectionTable& table() const { return table_; }
  // The clock the next events are stamped with (the server's loop sets it per wake-up).
  void setNow(uint64_t nowMs) { nowMs_ = nowMs; }

 private:
  enum Kind : uint64_t { kListener = 0, kPeer = 1, kData = 2 };
  struct Conn {
    common::Fd peer;  // until spliced
    std::unique_ptr<TcpSplicePair> splice;
    uint64_t countedToPeer = 0, countedToClient = 0;
  };
  struct Listener {
    common::Fd fd;
    common::SockAddr address;
  };
  static uint64_t tag(Kind kind, uint32_t n) { return kTagBase | (uint64_t{kind} << 32) | n; }
  void accept(uint32_t allocationId);
  void onConnectProgress(uint32_t id);
  // After a pump of the pair of `id`: counts its bytes, drops it when finished (`open` false)
  // and keeps it pending while it needs more.
  void settle(uint32_t id, bool open);
  void drop(uint32_t id);

  int epoll_;
  TcpRelayEvents& events_;
  TurnCounters& counters_;
  TcpConnectionTable table_;
  std::unordered_map<uint32_t, Listener> listeners_;
  std::unordered_map<uint32_t, Conn> conns_;
  std::unordered_set<uint32_t> pending_;
  std::unordered_set<uint32_t> throttled_;
  uint64_t bytesPerSecond_ = 0;
  std::unordered_map<uint32_t, TokenBucket> bandwidth_;  // by allocation (node-stable: pairs point in)
  std::vector<uint32_t> scratch_;
  uint64_t nowMs_ = 0;
};

}  // namespace rdv::turn
