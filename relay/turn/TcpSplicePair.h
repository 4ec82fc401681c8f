#pragma once
// Two connected TCP sockets (a TURN data connection and its peer connection, RFC 6062 §5.3)
// spliced together: each direction is a relay::SpliceDirection (socket → pipe → socket with
// splice(2), the same pump as the TCP relay's), so bytes never enter user space. Backpressure: a
// direction reads its source only while its pipe has room, so at most one pipe's worth
// (kPipeBytes) waits per direction and a receiver that stops reading stops the sender. End of
// stream is passed on as shutdown(SHUT_WR) (half-close); an error on either side ends the pair,
// both sides are reset (SO_LINGER 0).
//
// The sockets are non-blocking and watched edge-triggered (EPOLLIN | EPOLLOUT | EPOLLRDHUP): the
// pair remembers per socket whether it is readable/writable until the kernel says otherwise, and
// an event pumps only the directions it concerns. A pump that used its budget says so
// (needsMore) and must be resumed without waiting for an event. Each pair owns its two pipes.
//
// Bandwidth (turn.max_bps on RFC 6062 connections): with a TokenBucket (the allocation's, shared
// by its connections and both directions) a direction reads its source only as far as the bucket
// has tokens; out of them it stops reading (throttled: TCP flow control slows the sender, nothing
// is dropped) and must be resumed after a while, when tokens have come back.

#include <cstdint>
#include <span>

#include "common/Fd.h"
#include "relay/SpliceDirection.h"
#include "relay/turn/TokenBucket.h"

namespace rdv::turn {

class TcpSplicePair {
 public:
  static constexpr int kPipeBytes = 1024 * 1024;  // asked for; the kernel may keep less

  // Takes both sockets; false from ok() when the pipes could not be made. `bandwidth` (borrowed,
  // may be null: no limit) must outlive the pair.
  TcpSplicePair(common::Fd client, common::Fd peer, TokenBucket* bandwidth = nullptr);
  bool ok() const { return ok_; }
  int clientFd() const { return end_[kClient].fd.get(); }
  int peerFd() const { return end_[kPeer].fd.get(); }

  // Bytes the client sent before the pair existed (after its ConnectionBind): queued towards the
  // peer first. False when they do not fit one pipe.
  bool preload(std::span<const std::byte> bytes);
  // Takes both sockets as readable and writable and moves what can move now in both directions
  // (a new pair). Returns false when the pair is finished (both directions ended, or an error):
  // the caller drops it, which closes both sockets.
  // `nowMs` (every call) is the bandwidth bucket's clock.
  bool pump(uint64_t nowMs = 0);
  // An epoll event on the client's (`peerSide` false) or the peer's socket: pumps only the
  // directions it concerns (readable: the one out of that socket, writable: the one into it).
  bool onEvent(bool peerSide, uint32_t events, uint64_t nowMs = 0);
  // Continues the directions that stopped at their budget (needsMore) or for tokens (throttled).
  bool resume(uint64_t nowMs = 0);
  bool needsMore() const { return more_[0] || more_[1]; }
  // A direction stopped reading for want of tokens: resume() once some may have come back.
  bool throttled() const { return throttled_[0] || throttled_[1]; }
  uint64_t toPeerBytes() const { return bytes_[0]; }
  uint64_t toClientBytes() const { return bytes_[1]; }
  // Resets both sockets on destruction instead of closing them gracefully.
  void abort();
  ~TcpSplicePair();
  TcpSplicePair(const TcpSplicePair&) = delete;
  TcpSplicePair& operator=(const TcpSplicePair&) = delete;

 private:
  static constexpr int kClient = 0, kPeer = 1;
  struct End {
    common::Fd fd;
    bool readable = false;  // edge-triggered readiness: set by pump() and events, cleared by the pump
    bool writable = false;
  };
  // Pumps the directions in `dirs` (bit d: out of side d).
  bool pumpDirections(unsigned dirs, uint64_t nowMs);

  End end_[2];                     // kClient, kPeer
  relay::SpliceDirection dir_[2];  // 0: client → peer, 1: peer → client
  common::Fd pipes_[2][2];         // the pipes dir_ uses (read, write), owned here
  uint64_t bytes_[2] = {0, 0};     // delivered per direction
  bool more_[2] = {false, false};  // direction stopped at its budget
  bool throttled_[2] = {false, false};  // direction stopped for want of tokens
  TokenBucket* bandwidth_ = nullptr;
  bool ok_ = true;
  bool failed_ = false;
};

}  // namespace rdv::turn
