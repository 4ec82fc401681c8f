#pragma once
// TURN clients over TCP (RFC 8656 §3.1, §12.5): the listening socket, the accepted connections,
// and the stream framing — STUN messages (20-byte header + length) and ChannelData (4-byte header
// + length, padded to 4 on a stream) back to back. Each complete frame goes up to the FrameSink;
// a connection that sends something that is neither, or a frame over 64 KiB, is closed. Accepted
// connections are limited in total and per source IP (beyond either: reset at once and counted),
// and their input buffer is allocated on the first bytes and sized to the frame being read, so a
// connection that never sends costs its socket and a small record. Writes
// towards a client go out at once or wait in a bounded buffer (EPOLLOUT); beyond the bound a
// datagram is dropped, as the network would. Runs on the TurnServer's thread; epoll tags are
// kTagBase | connection number.

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/Expected.h"
#include "common/Fd.h"
#include "common/SockAddr.h"
#include "relay/turn/Allocation.h"
#include "relay/turn/TurnCounters.h"

struct ssl_st;
struct ssl_ctx_st;

namespace rdv::turn {

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // One complete STUN message or ChannelData frame from `tuple` (transport kTcp); the bytes are
  // valid during the call.
  virtual void onFrame(std::span<std::byte> frame, const FiveTuple& tuple) = 0;
  // The connection of `tuple` is gone (its allocation must go with it, RFC 8656 §3.1).
  virtual void onClosed(const FiveTuple& tuple) = 0;
  // The connection of `tuple`, marked with handOff(), leaves the framing after its current frame
  // (RFC 6062 data connection): its socket, and the bytes that followed that frame.
  virtual void onHandedOff(const FiveTuple& tuple, common::Fd fd, std::span<const std::byte> early) = 0;
};

// Bounds on client connections (turn.tcp_max_connections, turn.tcp_max_per_source,
// turn.tcp_idle_timeout); TCP and TLS together.
struct TcpClientLimits {
  size_t maxConnections = 10000;  // in total
  size_t maxPerSource = 1000;     // from one IP; 0 = no limit
  uint64_t idleMs = 30'000;       // a connection without allocation may stay silent this long
};

class TurnTcpClients {
 public:
  static constexpr uint64_t kTagBase = uint64_t{1} << 62;
  static constexpr size_t kMaxPendingBytes = 1 << 20;  // per connection, towards the client
  static constexpr size_t kInitialInput = 2048;       // input buffer on the first bytes (a STUN request or ChannelData)

  // Refusals (TcpSourceLimit, TcpConnectionLimit), idle closes (TcpIdle) and the tcpClients gauge
  // go to `counters`.
  TurnTcpClients(int epollFd, FrameSink& sink, const TcpClientLimits& limits, TurnCounters& counters)
      : epoll_(epollFd), sink_(sink), limits_(limits), counters_(counters) {}
  ~TurnTcpClients();

  // Listens on `address` (TCP); the error names it.
  Expected<bool, std::string> listen(const common::SockAddr& address);
  // Listens on `address` for TURN over TLS (RFC 8656 §3.1, port 5349) with the server context
  // `ctx` (a reference of its own is taken). TLS connections are framed like TCP ones; their
  // bytes pass through OpenSSL, so writes towards them are copied into the pending buffer first.
  Expected<bool, std::string> listenTls(const common::SockAddr& address, ssl_ctx_st* ctx);
  const common::SockAddr& tlsAddress() const { return tlsLocal_; }
  static bool owns(uint64_t tag) { return (tag & kTagBase) != 0; }
  void onEvent(uint64_t tag, uint32_t events);
  // Sends head, body and `pad` zero bytes to the connection of `client`; false when dropped
  // (no such connection, or its pending buffer is full).
  bool write(const FiveTuple& client, std::span<const std::byte> head, std::span<const std::byte> body,
             size_t pad);
  size_t connections() const { return byTag_.size(); }
  // Marks the connection of `client` to be handed to the sink (onHandedOff) once the frame being
  // delivered returns; its pending writes go first (it is closed if they cannot).
  // A TLS connection cannot be spliced: it is closed instead.
  void handOff(const FiveTuple& client);
  // Once a second: closes connections that carried nothing for the idle limit and have no
  // allocation (hasAllocation(tuple) false), so a client that connects and never sends, sends part
  // of a frame, or stops after a Binding, does not hold a descriptor for long; and gives input
  // buffers grown for a large frame back when nothing is pending.
  template <typename HasAllocation>
  void sweep(uint64_t nowMs, HasAllocation&& hasAllocation) {
    std::vector<uint64_t> idle;
    for (const auto& [tag, c] : byTag_) {
      if (nowMs - c->lastActiveMs >= limits_.idleMs && !hasAllocation(c->tuple)) {
        idle.push_back(tag);
      } else {
        shrinkIdleBuffer(*c);
      }
    }
    for (uint64_t tag : idle) {
      counters_.refuse(Refusal::TcpIdle);
      close(tag);
    }
  }
  // The clock the next events are stamped with (the server's loop sets it per wake-up).
  void setNow(uint64_t nowMs) { nowMs_ = nowMs; }

 private:
  struct SslFree {
    void operator()(ssl_st* ssl) const;
  };
  struct SslCtxFree {
    void operator()(ssl_ctx_st* ctx) const;
  };
  struct Conn {
    common::Fd fd;
    std::unique_ptr<ssl_st, SslFree> tls;  // set for connections accepted on the TLS listener
    FiveTuple tuple;
    std::vector<std::byte> in;  // empty until the first bytes arrive
    size_t have = 0;
    std::vector<std::byte> out;  // pending bytes towards the client
    bool writing = false;        // EPOLLOUT armed
    uint64_t lastActiveMs = 0;   // last accept or received bytes
    bool handOff = false;
  };
  void accept(bool tls);
  // False (and the connection reset and counted) when a limit refuses a connection from `peer`.
  bool admit(int fd, const common::SockAddr& peer);
  // Forgets a connection's place in the limits (it closed or was handed off).
  void forget(const FiveTuple& tuple);
  void shrinkIdleBuffer(Conn& c);
  // Receives into c.in: bytes, 0 = nothing now, -1 = the connection is over.
  ssize_t receive(Conn& c);
  void read(uint64_t tag, Conn& c);
  bool deliver(uint64_t tag, Conn& c);
  void flush(uint64_t tag, Conn& c);
  void close(uint64_t tag);
  // Gives the connection to the sink with the bytes after `at` in its input.
  void release(uint64_t tag, Conn& c, size_t at);

  int epoll_;
  FrameSink& sink_;
  TcpClientLimits limits_;
  TurnCounters& counters_;
  std::unordered_map<std::string, size_t> perSource_;  // live connections by client IP
  common::Fd listen_;
  common::SockAddr local_;
  common::Fd tlsListen_;
  common::SockAddr tlsLocal_;
  std::unique_ptr<ssl_ctx_st, SslCtxFree> tlsCtx_;
  uint64_t nextConn_ = 1;
  uint64_t nowMs_ = 0;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> byTag_;
  std::unordered_map<FiveTuple, uint64_t, FiveTupleHash> byTuple_;
};

}  // namespace rdv::turn
