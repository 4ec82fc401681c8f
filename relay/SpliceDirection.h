#pragma once
// One direction of a spliced TCP connection pair: bytes read from a source socket into a pipe and
// spliced out of it to a destination socket with splice(2), never entering user space. Shared by
// the TCP relay (TcpSplicer) and TURN's RFC 6062 data connections (turn::TcpSplicePair); each
// owner keeps its sockets, its pipes (where they come from and when they go back) and its thread.
//
// Readiness is edge-triggered and kept by the caller per socket (`readable`, `writable`): a flag
// is cleared when the kernel says EAGAIN, and also when a splice into the destination is short —
// its send buffer is full and it has noted that a writer waits, so EPOLLOUT follows (this saves
// the call that would only return EAGAIN). Backpressure: the source is read only while the pipe
// has room, so at most one pipe's worth waits per direction. End of stream is passed on as
// shutdown(SHUT_WR) once the pipe is drained (half-close).

#include <cstddef>
#include <cstdint>

namespace rdv::relay {

struct SpliceDirection {
  // What a pump() call ended with.
  enum class Step : uint8_t {
    Idle,               // no progress possible until the next readiness event
    More,               // stopped at its round budget with bytes still moving: call again
    NeedPipe,           // the source is readable and no pipe is held: give one and call again
    Shut,               // end of stream passed on (shutdown(SHUT_WR) on the destination)
    SourceFailed,       // reading the source failed (reset): the destination should be reset
    DestinationFailed,  // writing the destination failed: the source should be reset
  };

  int pipeRead = -1;  // the pipe in use, or -1 (the owner gives and takes it back)
  int pipeWrite = -1;
  size_t inPipe = 0;      // bytes waiting in the pipe
  size_t pipeCap = 0;     // capacity of the pipe held (F_GETPIPE_SZ)
  // Bytes the source may still be read (a bandwidth limit: the owner sets it from its token
  // bucket before a pump and spends what was used); 0 stops reading, kNoLimit never does.
  static constexpr uint64_t kNoLimit = UINT64_MAX;
  uint64_t readLimit = kNoLimit;
  bool srcEof = false;    // FIN read from the source
  bool shutDone = false;  // FIN passed on

  bool hasPipe() const { return pipeRead >= 0; }
  // Reading stopped by readLimit alone: the source has bytes waiting (as far as we know).
  bool throttled(bool readable) const { return readLimit == 0 && readable && !srcEof && !shutDone; }
  // Drains the pipe into `dst` and refills it from `src`, at most `rounds` times. `moved` grows by
  // the bytes written to `dst`; the readiness flags are cleared as described above.
  Step pump(int src, bool& readable, int dst, bool& writable, int rounds, uint64_t& moved);
};

}  // namespace rdv::relay
