#include "common/Clock.h"

#include <time.h>

namespace rdv::common {
namespace {

uint64_t read(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

uint64_t SystemClock::monotonicNs() const { return read(CLOCK_MONOTONIC); }
uint64_t SystemClock::wallNs() const { return read(CLOCK_REALTIME); }

const SystemClock& SystemClock::instance() {
  static const SystemClock clock;
  return clock;
}

}  // namespace rdv::common
