#pragma once
// The lock-free single-producer/single-consumer queue between one relay worker and one mixer
// worker, one per direction: received RTP of conference legs goes to the mixer, the mixer's
// encoded RTP comes back to be sent from the participant's socket. Slots are fixed-size and preallocated (moodycamel's
// ReaderWriterQueue sized once; try_emplace never allocates), a packet is copied into its slot
// once, and the consumer reads it in place: no allocation per packet on either side.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include <readerwriterqueue/readerwriterqueue.h>

#include "common/Counter.h"

namespace rdv::relay {

struct QueuedPacket {
  static constexpr size_t kMaxSize = 1500;  // larger datagrams are refused by push()

  QueuedPacket(uint32_t endpoint, std::span<const std::byte> rtp, uint64_t arrivalNs)
      : endpoint(endpoint), arrivalNs(arrivalNs), size(static_cast<uint16_t>(rtp.size())) {
    std::memcpy(bytes.data(), rtp.data(), rtp.size());  // only the packet, not the whole slot
  }
  std::span<const std::byte> data() const { return {bytes.data(), size}; }

  uint32_t endpoint;
  uint64_t arrivalNs;
  uint16_t size;
  std::array<std::byte, kMaxSize> bytes;  // left uninitialised past `size`
};

class PacketQueue {
 public:
  explicit PacketQueue(size_t capacity) : q_(capacity) {}

  // Producer thread only. False (and counted in rejected()) when the queue is full or the
  // packet is larger than a slot: the mixer is behind, and the packet is dropped.
  bool push(uint32_t endpoint, std::span<const std::byte> rtp, uint64_t arrivalNs) {
    if (rtp.size() > QueuedPacket::kMaxSize || !q_.try_emplace(endpoint, rtp, arrivalNs)) {
      rejected_.add(1);
      return false;
    }
    return true;
  }
  const common::Counter& rejected() const { return rejected_; }

  // Consumer thread only: the oldest packet, or nullptr; valid until pop().
  const QueuedPacket* front() { return q_.peek(); }
  void pop() { q_.pop(); }

 private:
  moodycamel::ReaderWriterQueue<QueuedPacket> q_;
  alignas(64) common::Counter rejected_;  // written by the producer
};

}  // namespace rdv::relay
