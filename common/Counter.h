#pragma once
// A counter written by exactly one thread and read by any (the metrics collector). Relaxed atomic
// load/store, no read-modify-write: on x86 that compiles to plain moves, and it only makes the
// cross-thread read well-defined. Put counters of different writers on different cache lines.

#include <atomic>
#include <cstdint>

namespace rdv::common {

class Counter {
 public:
  void add(uint64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace rdv::common
