#pragma once
// A Prometheus-style histogram with fixed buckets, written by one thread (relaxed single-writer
// counters), read by the metrics collector, which sums the writers' copies (app/Metrics.cc).
// observe() allocates nothing: fit for a worker's loop.

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/Counter.h"

namespace rdv::common {

template <size_t N>
struct FixedHistogram {
  std::array<double, N> bounds;            // upper bounds, ascending; +Inf is implicit
  std::array<Counter, N + 1> counts;  // per bucket (not cumulative); the last is +Inf
  Counter sumMilli;                   // sum of the observations, in thousandths
  Counter count;

  void observe(double v) {
    size_t i = 0;
    while (i < N && v > bounds[i]) ++i;
    counts[i].add(1);
    sumMilli.add(v > 0 ? static_cast<uint64_t>(v * 1000.0 + 0.5) : 0);
    count.add(1);
  }
};

}  // namespace rdv::common
