#include "relay/turn/TcpSplicePair.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rdv::turn {

namespace {
// Fill/drain rounds of one direction per pump before yielding to other pairs and the UDP side.
constexpr int kPumpRounds = 8;
}  // namespace

TcpSplicePair::TcpSplicePair(common::Fd client, common::Fd peer, TokenBucket* bandwidth) : bandwidth_(bandwidth) {
  end_[kClient].fd = std::move(client);
  end_[kPeer].fd = std::move(peer);
  for (int d = 0; d < 2; ++d) {
    int p[2];
    if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
      ok_ = false;
      return;
    }
    pipes_[d][0] = common::Fd(p[0]);
    pipes_[d][1] = common::Fd(p[1]);
    ::fcntl(p[1], F_SETPIPE_SZ, kPipeBytes);  // best effort: past the pipe budget it stays smaller
    const int cap = ::fcntl(p[1], F_GETPIPE_SZ);
    dir_[d].pipeRead = p[0];
    dir_[d].pipeWrite = p[1];
    dir_[d].pipeCap = cap > 0 ? static_cast<size_t>(cap) : 4096;
  }
}

TcpSplicePair::~TcpSplicePair() = default;

bool TcpSplicePair::preload(std::span<const std::byte> bytes) {
  if (bytes.empty()) return true;
  const ssize_t n = ::write(dir_[0].pipeWrite, bytes.data(), bytes.size());
  if (n != static_cast<ssize_t>(bytes.size())) return false;
  dir_[0].inPipe = bytes.size();
  return true;
}

void TcpSplicePair::abort() {
  const linger reset{1, 0};
  for (const End& e : end_) ::setsockopt(e.fd.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  failed_ = true;
}

bool TcpSplicePair::pump(uint64_t nowMs) {
  for (End& e : end_) e.readable = e.writable = true;
  return pumpDirections(3, nowMs);
}

bool TcpSplicePair::onEvent(bool peerSide, uint32_t events, uint64_t nowMs) {
  // Errors and hang-ups surface as the splice calls' results, so both flags are set for them.
  const int side = peerSide ? kPeer : kClient;
  unsigned dirs = 0;
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
    end_[side].readable = true;
    dirs |= 1U << side;
  }
  if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) {
    end_[side].writable = true;
    dirs |= 1U << (1 - side);
  }
  return pumpDirections(dirs, nowMs);
}

bool TcpSplicePair::resume(uint64_t nowMs) {
  return pumpDirections((more_[0] || throttled_[0] ? 1U : 0U) | (more_[1] || throttled_[1] ? 2U : 0U), nowMs);
}

bool TcpSplicePair::pumpDirections(unsigned dirs, uint64_t nowMs) {
  for (int d = 0; d < 2 && !failed_; ++d) {
    if ((dirs & (1U << d)) == 0) continue;
    End& src = end_[d];
    End& dst = end_[1 - d];
    relay::SpliceDirection& dir = dir_[d];
    uint64_t granted = relay::SpliceDirection::kNoLimit;
    if (bandwidth_ != nullptr && !bandwidth_->unlimited()) dir.readLimit = granted = bandwidth_->available(nowMs);
    const auto step = dir.pump(src.fd.get(), src.readable, dst.fd.get(), dst.writable, kPumpRounds, bytes_[d]);
    if (granted != relay::SpliceDirection::kNoLimit) bandwidth_->spend(granted - dir.readLimit);
    throttled_[d] = dir.throttled(src.readable);
    more_[d] = step == relay::SpliceDirection::Step::More;
    // Both pipes are held for the pair's life, so NeedPipe cannot come; failures reset both sides.
    if (step == relay::SpliceDirection::Step::SourceFailed ||
        step == relay::SpliceDirection::Step::DestinationFailed ||
        step == relay::SpliceDirection::Step::NeedPipe) {
      failed_ = true;
    }
  }
  if (failed_) {
    abort();
    return false;
  }
  return !(dir_[0].shutDone && dir_[1].shutDone);
}

}  // namespace rdv::turn
