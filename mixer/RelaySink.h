#pragma once
// The MediaSink a mixer worker sends through when its participants' media is anchored on the
// relay: one SPSC queue per relay worker (this mixer produces, the relay worker consumes and
// sends from the participant's socket), and one wake-up per relay worker per slot tick, not per
// packet.
// A participant's id names its relay worker in its top bits (makeEndpoint), so routing a packet
// needs no table on the mixer thread.

#include <memory>
#include <span>
#include <vector>

#include "mixer/MixerSink.h"
#include "relay/PacketQueue.h"
#include "relay/RelayWorker.h"

namespace rdv::mixer {

inline constexpr unsigned kEndpointWorkerShift = 24;
inline constexpr uint32_t kEndpointSequenceMask = (1U << kEndpointWorkerShift) - 1;

// The participant id of sequence `seq` (non-zero, below 2^24) on relay worker `worker` (< 256).
constexpr ParticipantId makeEndpoint(size_t worker, uint32_t seq) {
  return (static_cast<uint32_t>(worker) << kEndpointWorkerShift) | (seq & kEndpointSequenceMask);
}
constexpr size_t endpointWorker(ParticipantId id) { return id >> kEndpointWorkerShift; }

class RelaySink final : public MediaSink {
 public:
  // `workers` outlive the sink's use (the mixer is stopped before the relay goes).
  RelaySink(std::vector<relay::RelayWorker*> workers, size_t capacity) : workers_(std::move(workers)) {
    for (size_t w = 0; w < workers_.size(); ++w) queues_.push_back(std::make_shared<relay::PacketQueue>(capacity));
    dirty_.assign(workers_.size(), false);
  }

  // Relay worker w's end of the queue (AttachLocal's fromLocal).
  std::shared_ptr<relay::PacketQueue> queue(size_t w) const { return queues_.at(w); }

  void send(ParticipantId to, std::span<const std::byte> rtp) override {
    const size_t w = endpointWorker(to);
    if (w < queues_.size() && queues_[w]->push(to, rtp, 0)) dirty_[w] = true;
  }

  void flush() override {
    for (size_t w = 0; w < dirty_.size(); ++w) {
      if (!dirty_[w]) continue;
      dirty_[w] = false;
      workers_[w]->wake();
    }
  }

  // Packets refused because a relay worker's queue was full (it is behind).
  uint64_t refused() const {
    uint64_t n = 0;
    for (const auto& q : queues_) n += q->rejected().get();
    return n;
  }

 private:
  std::vector<relay::RelayWorker*> workers_;
  std::vector<std::shared_ptr<relay::PacketQueue>> queues_;
  std::vector<bool> dirty_;
};

}  // namespace rdv::mixer
