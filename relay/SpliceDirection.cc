#include "relay/SpliceDirection.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace rdv::relay {

namespace {
constexpr uint32_t kSpliceFlags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE;
}

SpliceDirection::Step SpliceDirection::pump(int src, bool& readable, int dst, bool& writable, int rounds,
                                            uint64_t& moved) {
  if (shutDone) return Step::Idle;
  for (int round = 0; round < rounds; ++round) {
    bool progress = false;
    if (inPipe > 0 && writable) {
      const ssize_t n = ::splice(pipeRead, nullptr, dst, nullptr, inPipe, kSpliceFlags);
      if (n > 0) {
        // Short: the send buffer is full and EPOLLOUT comes when there is room again.
        if (static_cast<size_t>(n) < inPipe) writable = false;
        inPipe -= static_cast<size_t>(n);
        moved += static_cast<uint64_t>(n);
        progress = true;
      } else if (n < 0 && errno == EAGAIN) {
        writable = false;
      } else if (n < 0 && errno != EINTR) {
        return Step::DestinationFailed;
      }
    }
    if (!srcEof && readable && readLimit > 0 && (!hasPipe() || inPipe < pipeCap)) {
      if (!hasPipe()) return Step::NeedPipe;
      const size_t room = static_cast<size_t>(std::min<uint64_t>(pipeCap - inPipe, readLimit));
      const ssize_t n = ::splice(src, nullptr, pipeWrite, nullptr, room, kSpliceFlags);
      if (n > 0) {
        inPipe += static_cast<size_t>(n);
        if (readLimit != kNoLimit) readLimit -= static_cast<uint64_t>(n);
        progress = true;
      } else if (n == 0) {
        srcEof = true;
        progress = true;
      } else if (errno == EAGAIN) {  // n < 0 here
        // With bytes in the pipe EAGAIN may mean the pipe's slots are full, not the socket empty.
        if (inPipe == 0) readable = false;
      } else if (errno != EINTR) {
        return Step::SourceFailed;
      }
    }
    if (srcEof && inPipe == 0) {
      ::shutdown(dst, SHUT_WR);
      shutDone = true;
      return Step::Shut;
    }
    if (!progress) return Step::Idle;
  }
  return Step::More;
}

}  // namespace rdv::relay
