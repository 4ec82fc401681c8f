#pragma once
// Time as the rest of the code sees it. Everything that runs timers (SIP transactions, the
// registrar, the B2BUA, the NG cookie cache, relay timeouts) takes a `const Clock&` instead of
// reading the system clock, so tests drive time with ManualClock and assert exact instants.
//
// monotonic*(): for deadlines and intervals; never goes back; the epoch is arbitrary.
// wall*(): for reports and call records (Unix epoch); may jump, never use it for timers.

#include <atomic>
#include <cstdint>

namespace rdv::common {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t monotonicNs() const = 0;
  virtual uint64_t wallNs() const = 0;

  uint64_t monotonicMs() const { return monotonicNs() / 1'000'000; }
  uint64_t wallSeconds() const { return wallNs() / 1'000'000'000; }
};

// CLOCK_MONOTONIC and CLOCK_REALTIME. Stateless: one instance serves every thread.
class SystemClock final : public Clock {
 public:
  uint64_t monotonicNs() const override;
  uint64_t wallNs() const override;

  static const SystemClock& instance();
};

// A clock that moves only when told to. Readable from any thread (a relay worker under test)
// while the test thread advances it.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t startMonotonicNs = 1'000'000'000, uint64_t startWallNs = 1'700'000'000'000'000'000)
      : mono_(startMonotonicNs), wall_(startWallNs) {}

  uint64_t monotonicNs() const override { return mono_.load(std::memory_order_acquire); }
  uint64_t wallNs() const override { return wall_.load(std::memory_order_acquire); }

  void advanceNs(uint64_t ns) {
    mono_.fetch_add(ns, std::memory_order_acq_rel);
    wall_.fetch_add(ns, std::memory_order_acq_rel);
  }
  void advanceMs(uint64_t ms) { advanceNs(ms * 1'000'000); }
  // Moves to an absolute monotonic instant (never backwards: earlier instants are ignored).
  void setMonotonicMs(uint64_t ms) {
    const uint64_t now = monotonicNs();
    if (ms * 1'000'000 > now) advanceNs(ms * 1'000'000 - now);
  }

 private:
  std::atomic<uint64_t> mono_;
  std::atomic<uint64_t> wall_;
};

}  // namespace rdv::common
