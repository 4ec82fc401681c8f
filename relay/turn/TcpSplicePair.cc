#include "relay/turn/TcpSplicePair.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace rdv::turn {

namespace {
constexpr int kRoundsPerPump = 32;  // splice calls per direction before yielding to other pairs
}

TcpSplicePair::TcpSplicePair(common::Fd client, common::Fd peer) : client_(std::move(client)), peer_(std::move(peer)) {
  dir_[0].from = client_.get();
  dir_[0].to = peer_.get();
  dir_[1].from = peer_.get();
  dir_[1].to = client_.get();
  for (auto& d : dir_) {
    int p[2];
    if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
      ok_ = false;
      return;
    }
    d.pipeRead = common::Fd(p[0]);
    d.pipeWrite = common::Fd(p[1]);
    ::fcntl(p[1], F_SETPIPE_SZ, kPipeBytes);  // best effort: the default 64 KiB works too
  }
}

TcpSplicePair::~TcpSplicePair() = default;

bool TcpSplicePair::preload(std::span<const std::byte> bytes) {
  if (bytes.empty()) return true;
  const ssize_t n = ::write(dir_[0].pipeWrite.get(), bytes.data(), bytes.size());
  if (n != static_cast<ssize_t>(bytes.size())) return false;
  dir_[0].pending = bytes.size();
  return true;
}

void TcpSplicePair::abort() {
  const linger reset{1, 0};
  for (int fd : {client_.get(), peer_.get()}) ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  failed_ = true;
}

bool TcpSplicePair::pump() {
  more_ = false;
  for (auto& d : dir_) {
    if (!failed_) pumpDirection(d);
  }
  if (failed_) {
    abort();
    return false;
  }
  return !(dir_[0].shut && dir_[1].shut);
}

void TcpSplicePair::pumpDirection(Direction& d) {
  constexpr unsigned kFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
  for (int round = 0; round < kRoundsPerPump; ++round) {
    if (d.pending > 0) {
      const ssize_t n = ::splice(d.pipeRead.get(), nullptr, d.to, nullptr, d.pending, kFlags);
      if (n > 0) {
        d.pending -= static_cast<size_t>(n);
        d.bytes += static_cast<uint64_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;  // `to` is full: EPOLLOUT comes
      failed_ = true;
      return;
    }
    if (d.eof) {
      if (!d.shut) {
        ::shutdown(d.to, SHUT_WR);
        d.shut = true;
      }
      return;
    }
    const ssize_t n = ::splice(d.from, nullptr, d.pipeWrite.get(), nullptr, kPipeBytes, kFlags);
    if (n > 0) {
      d.pending = static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      d.eof = true;
      continue;
    }
    if (errno == EAGAIN || errno == EINTR) return;  // nothing to read: EPOLLIN comes
    failed_ = true;
    return;
  }
  more_ = true;
}

}  // namespace rdv::turn
