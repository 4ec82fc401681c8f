// RelayWorker: io_uring sends (relay/UringSender.h, config relay.io_uring). Everything a round
// forwards or sends for the mixers is queued and leaves in one submission at the end of the round,
// so at real call rates (one packet per socket per event) a forwarded packet costs its recvmmsg
// and a share of one io_uring_enter instead of a sendmmsg of its own. Packets stay where they are
// until then: received ones in the receive ring (recvSlots), mixer ones in localPool_.
#include <atomic>
#include <cassert>
#include <cstring>

#include <spdlog/spdlog.h>

#include "relay/RelayWorker.h"
#include "relay/UringSender.h"

namespace rdv::relay {

void RelayWorker::openUring() {
  auto s = UringSender::create(kUringDepth);
  if (!s) {
    static std::atomic<bool> logged{false};  // once per process, not once per worker
    if (!logged.exchange(true)) {
      spdlog::warn(
          "relay: io_uring unavailable ({}): workers send with sendmmsg/sendto (relay.io_uring = 0 "
          "says so without this warning)",
          std::strerror(s.error()));
    }
    return;
  }
  uring_ = std::move(*s);
  sendMeta_.resize(kUringDepth);
  localPool_.resize(kUringDepth);
}

uint32_t RelayWorker::recvSlots() {
  if (!uring_) return 0;
  // Each received packet queues at most one send: a batch needs `batch` slots of both.
  const uint32_t batch = opts_.batch;
  if (recvUsed_ + batch > buffers_.size() || uring_->room() < batch) submitSends();
  return recvUsed_;
}

std::span<std::byte> RelayWorker::localSlot() {
  if (localUsed_ == localPool_.size() || uring_->room() == 0) submitSends();
  return localPool_[localUsed_++];
}

void RelayWorker::queueSend(int fd, const common::SockAddr& to, std::span<const std::byte> bytes,
                            SendMeta meta) {
  assert(uring_->room() > 0);  // recvSlots and localSlot made room
  sendMeta_[uring_->queue(fd, &to, bytes)] = meta;
}

void RelayWorker::submitSends() {
  const uint64_t calls = uring_->enterCalls();
  const uint32_t n = uring_->submit();
  recvUsed_ = 0;
  localUsed_ = 0;
  if (n == 0) return;
  counters_.sendSyscalls.add(uring_->enterCalls() - calls);
  // As flush() and sendLocal() count: a failed datagram (EAGAIN: socket buffer full, or an
  // ICMP-reported error) is a SendFailed drop, RTCP counts as relayed once queued.
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t rtcp = 0;
  uint64_t failed = 0;
  for (uint32_t k = 0; k < n; ++k) {
    const int32_t r = uring_->result(k);
    const SendMeta& m = sendMeta_[k];
    rtcp += m.rtcp ? 1 : 0;
    if (r < 0) {
      ++failed;
      continue;
    }
    ++packets;
    bytes += static_cast<uint64_t>(r);
    if (m.local != nullptr) {  // what the local endpoint sent (before protection)
      ++m.local->counters.rtpPackets;
      m.local->counters.rtpBytes += m.plainSize;
    }
  }
  counters_.packetsRelayed.add(packets);
  counters_.bytesRelayed.add(bytes);
  if (rtcp != 0) counters_.rtcpRelayed.add(rtcp);
  if (failed != 0) counters_.drop(DropReason::SendFailed).add(failed);
}

}  // namespace rdv::relay
