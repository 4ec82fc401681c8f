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

#include <cstdint>
#include <span>

#include "common/Fd.h"
#include "relay/SpliceDirection.h"

namespace rdv::turn {

class TcpSplicePair {
 public:
  static constexpr int kPipeBytes = 1024 * 1024;  // asked for; the kernel may keep less

  // Takes both sockets; false from ok() when the pipes could not be made.
  TcpSplicePair(common::Fd client, common::Fd peer);
  bool ok() const { return ok_; }
  int clientFd() const { return end_[kClient].fd.get(); }
  int peerFd() const { return end_[kPeer].fd.get(); }

  // Bytes the client sent before the pair existed (after its ConnectionBind): queued towards the
  // peer first. False when they do not fit one pipe.
  bool preload(std::span<const std::byte> bytes);
  // Takes both sockets as readable and writable and moves what can move now in both directions
  // (a new pair). Returns false when the pair is finished (both directions ended, or an error):
  // the caller drops it, which closes both sockets.
  bool pump();
  // An epoll event on the client's (`peerSide` false) or the peer's socket: pumps only the
  // directions it concerns (readable: the one out of that socket, writable: the one into it).
  bool onEvent(bool peerSide, uint32_t events);
  // Continues the directions that stopped at their budget (needsMore).
  bool resume();
  bool needsMore() const { return more_[0] || more_[1]; }
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
  bool pumpDirections(unsigned dirs);

  End end_[2];                     // kClient, kPeer
  relay::SpliceDirection dir_[2];  // 0: client → peer, 1: peer → client
  common::Fd pipes_[2][2];         // the pipes dir_ uses (read, write), owned here
  uint64_t bytes_[2] = {0, 0};     // delivered per direction
  bool more_[2] = {false, false};  // direction stopped at its budget
  bool ok_ = true;
  bool failed_ = false;
};

}  // namespace rdv::turn
