#pragma once
// Per-worker counters: written only by their worker thread, read by the metrics collector.
// Relaxed atomic load/store (no read-modify-write) compiles to plain moves on x86; it only makes
// the cross-thread read well-defined. No shared cache line is written by two threads.

#include <atomic>
#include <cstdint>

namespace rdv::relay {

class Counter {
 public:
  void add(uint64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

enum class DropReason : uint8_t { Spoofed, NoSession, Malformed, SendFailed, kCount };
const char* toString(DropReason r);

struct alignas(64) WorkerCounters {
  Counter packetsRelayed;
  Counter bytesRelayed;
  Counter rtcpRelayed;
  Counter drops[static_cast<size_t>(DropReason::kCount)];
  Counter busyNs;      // time spent handling events (load = busyNs / wall time)
  Counter sessions;    // sessions owned now
  Counter legsRelatched;
  Counter kernelEntries;         // kernel fast-path entries installed now (one per direction)
  Counter kernelInstallFailures;

  Counter& drop(DropReason r) { return drops[static_cast<size_t>(r)]; }
  const Counter& drop(DropReason r) const { return drops[static_cast<size_t>(r)]; }
};

}  // namespace rdv::relay
