// CPU by thread group: a thread named like a relay worker that burns CPU shows up in "relay".

#include "app/ProcessCpu.h"

#include <gtest/gtest.h>

#include <ctime>
#include <thread>

namespace rdv::app {
namespace {

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

TEST(ProcessCpu, ThreadNamesPickTheirGroup) {
  EXPECT_EQ(kCpuGroups[cpuGroupOf("rdv-relay-0")], "relay");
  EXPECT_EQ(kCpuGroups[cpuGroupOf("rdv-relay-tcp")], "relay");
  EXPECT_EQ(kCpuGroups[cpuGroupOf("rdv-turn")], "relay");
  EXPECT_EQ(kCpuGroups[cpuGroupOf("rdv-mixer-12")], "mixer");
  EXPECT_EQ(kCpuGroups[cpuGroupOf("rdv-control")], "control");
  EXPECT_EQ(kCpuGroups[cpuGroupOf("rdv-cdr")], "other");
  EXPECT_EQ(kCpuGroups[cpuGroupOf("app_tests")], "other");
}

TEST(ProcessCpu, ABusyRelayNamedThreadIsCountedInRelay) {
  const double before = cpuSecondsByGroup()[0];
  double seen = 0;
  std::thread busy([&] {
    nameThisThread("rdv-relay-99");
    // Spin until this thread used 100 ms of CPU (its own CPU clock, not wall time), then read the
    // groups while it is still alive.
    volatile uint64_t x = 0;
    const double start = threadCpuSeconds();
    while (threadCpuSeconds() - start < 0.1) x = x + 1;
    seen = cpuSecondsByGroup()[0];
  });
  busy.join();
  EXPECT_GE(seen - before, 0.08) << "the kernel accounts in clock ticks (10 ms)";
}

}  // namespace
}  // namespace rdv::app
