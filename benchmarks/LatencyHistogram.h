#pragma once
// One-way latency histogram: 1 µs buckets up to kMaxMicros, one overflow bucket, exact maximum.
// Recording is O(1) and allocation-free, so it can sit on the receive path.

#include <algorithm>
#include <cstdint>
#include <vector>

namespace rdv::bench {

class LatencyHistogram {
 public:
  static constexpr uint64_t kMaxMicros = 200'000;  // 200 ms; slower packets share the last bucket

  LatencyHistogram() : buckets_(kMaxMicros + 1, 0) {}

  void record(int64_t nanos) {
    uint64_t us = nanos <= 0 ? 0 : static_cast<uint64_t>(nanos) / 1000;
    maxMicros_ = std::max(maxMicros_, us);
    ++buckets_[std::min(us, kMaxMicros)];
    ++count_;
  }

  uint64_t count() const { return count_; }
  uint64_t maxMicros() const { return maxMicros_; }

  // Smallest bucket value v such that at least q (0..1) of the samples are <= v; 0 when empty.
  // Samples in the overflow bucket report kMaxMicros (a lower bound).
  uint64_t quantileMicros(double q) const {
    if (count_ == 0) {
      return 0;
    }
    auto rank = static_cast<uint64_t>(q * static_cast<double>(count_));
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (uint64_t us = 0; us < buckets_.size(); ++us) {
      seen += buckets_[us];
      if (seen >= rank) {
        return us;
      }
    }
    return kMaxMicros;
  }

 private:
  std::vector<uint32_t> buckets_;
  uint64_t count_ = 0;
  uint64_t maxMicros_ = 0;
};

}  // namespace rdv::bench
