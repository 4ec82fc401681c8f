#pragma once
// Two connected TCP sockets (a TURN data connection and its peer connection, RFC 6062 §5.3)
// spliced together: each direction moves bytes socket → pipe → socket with splice(2), so they
// never enter user space. Backpressure: a direction reads its source only when its pipe is
// empty, so at most one pipe's worth (kPipeBytes) waits per direction and a receiver that stops
// reading stops the sender. End of stream is passed on as shutdown(SHUT_WR) (half-close); an
// error on either side ends the pair, the other side is reset (SO_LINGER 0).
//
// The sockets are non-blocking and watched edge-triggered (EPOLLIN | EPOLLOUT | EPOLLRDHUP), so
// pump() works until the kernel says EAGAIN; a pump that used its budget first says so
// (needsMore) and must be called again without waiting for an event.

#include <cstdint>
#include <span>

#include "common/Fd.h"

namespace rdv::turn {

class TcpSplicePair {
 public:
  static constexpr int kPipeBytes = 256 * 1024;

  // Takes both sockets; false from ok() when the pipes could not be made.
  TcpSplicePair(common::Fd client, common::Fd peer);
  bool ok() const { return ok_; }
  int clientFd() const { return client_.get(); }
  int peerFd() const { return peer_.get(); }

  // Bytes the client sent before the pair existed (after its ConnectionBind): queued towards the
  // peer first. False when they do not fit one pipe.
  bool preload(std::span<const std::byte> bytes);
  // Moves what can move now in both directions. Returns false when the pair is finished (both
  // directions ended, or an error): the caller drops it, which closes both sockets.
  bool pump();
  bool needsMore() const { return more_; }
  uint64_t toPeerBytes() const { return dir_[0].bytes; }
  uint64_t toClientBytes() const { return dir_[1].bytes; }
  // Resets both sockets on destruction instead of closing them gracefully.
  void abort();
  ~TcpSplicePair();
  TcpSplicePair(const TcpSplicePair&) = delete;
  TcpSplicePair& operator=(const TcpSplicePair&) = delete;

 private:
  struct Direction {
    int from = -1, to = -1;
    common::Fd pipeRead, pipeWrite;
    size_t pending = 0;  // bytes in the pipe
    uint64_t bytes = 0;  // delivered to `to`
    bool eof = false;    // `from` ended its stream
    bool shut = false;   // ...and `to` was told (SHUT_WR)
  };
  void pumpDirection(Direction& d);

  common::Fd client_, peer_;
  Direction dir_[2];  // 0: client → peer, 1: peer → client
  bool ok_ = true;
  bool failed_ = false;
  bool more_ = false;
};

}  // namespace rdv::turn
