// stall_probe: the machine's own stalls, with the time each one happened, so a benchmark can
// tell a server that fell behind from a machine that did not run it (a hypervisor freezing the
// VM, a non-preemptive kernel's long section).
//
//   stall_probe [--interval-us 1000] [--threshold-us 5000] [--seconds 600] [--priority 90]
//               [--load THREADS:FRACTION:PERIOD_US]
//
// One thread per CPU, pinned to it, at SCHED_FIFO --priority (above anything a benchmark runs),
// sleeps to an absolute deadline every --interval-us. A wake-up at least --threshold-us after its
// deadline is a stall: nothing ran that thread, though it outranked everything on its CPU. On
// SIGINT/SIGTERM, or after --seconds, it prints one line per stall,
//   stall cpu=C end_ms=<CLOCK_REALTIME at the wake-up, ms> late_ms=L
// then `wakeups=N late=K max_ms=M realtime=0|1` over all CPUs. cyclictest (rt-tests) measures the same
// but reports a histogram only, not when.
//
// --load adds THREADS ordinary threads (nice 19, unpinned) that each spin FRACTION of every
// PERIOD_US and sleep the rest: a load of known shape, to ask whether the host freezes this
// machine for the load's size or for the way its idle time is cut up. On the PVM guest these
// benchmarks ran on, 2 x 80 % in 50 us idle gaps froze it for ~100 ms several times in 20 s and
// 2 x 80 % in 2 ms gaps never did (benchmarks/README.md, "The host's view of idle time").

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/ToolSupport.h"

namespace {

std::atomic<bool> stop{false};

void onSignal(int) { stop.store(true); }

int64_t nowNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

struct Stall {
  int64_t endRealNs;
  int64_t lateNs;
};

struct Options {
  int64_t intervalNs = 1'000'000;
  int64_t thresholdNs = 5'000'000;
  int64_t seconds = 600;
  int priority = 90;
  int loadThreads = 0;
  double loadFraction = 0;
  int64_t loadPeriodNs = 0;
};

// One --load thread: busy `fraction` of every period (by the clock, not by work done), asleep to
// the period's end for the rest.
void dutyLoop(const Options& o, int64_t endNs) {
  (void)nice(19);
  const auto busyNs = static_cast<int64_t>(o.loadFraction * static_cast<double>(o.loadPeriodNs));
  int64_t start = nowNs(CLOCK_MONOTONIC);
  while (!stop.load(std::memory_order_relaxed) && start < endNs) {
    while (nowNs(CLOCK_MONOTONIC) < start + busyNs) {
    }
    start += o.loadPeriodNs;
    const timespec ts{static_cast<time_t>(start / 1'000'000'000), static_cast<long>(start % 1'000'000'000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    start = std::max(start, nowNs(CLOCK_MONOTONIC) - o.loadPeriodNs);  // no catching up after a stall
  }
}

// THREADS:FRACTION:PERIOD_US into `o`; false when malformed or out of range.
bool parseLoad(const std::string& spec, Options& o) {
  int threads = 0;
  double fraction = 0;
  long long periodUs = 0;
  char tail = 0;
  if (std::sscanf(spec.c_str(), "%d:%lf:%lld%c", &threads, &fraction, &periodUs, &tail) != 3) return false;
  if (threads < 1 || threads > 64 || !(fraction > 0 && fraction <= 1) || periodUs < 10 || periodUs > 10'000'000) {
    return false;
  }
  o.loadThreads = threads;
  o.loadFraction = fraction;
  o.loadPeriodNs = periodUs * 1000;
  return true;
}

struct CpuProbe {
  int cpu = 0;
  uint64_t wakeups = 0;
  int64_t maxLateNs = 0;
  std::vector<Stall> stalls;
  bool realtime = false;

  void run(const Options& o, int64_t endNs) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_param sp{};
    sp.sched_priority = o.priority;
    // Unpinned or ordinary, a thread's late wake-ups are load, not the machine: reported as not
    // realtime, which conf_bench takes as no figure.
    realtime = pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0 &&
               pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
    stalls.reserve(4096);  // no allocation while probing, but for a machine that stalls all the time
    int64_t due = nowNs(CLOCK_MONOTONIC);
    while (!stop.load(std::memory_order_relaxed) && due < endNs) {
      due += o.intervalNs;
      const timespec ts{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR && !stop.load()) {
      }
      const int64_t now = nowNs(CLOCK_MONOTONIC);
      const int64_t late = now - due;
      ++wakeups;
      maxLateNs = std::max(maxLateNs, late);
      if (late >= o.thresholdNs) {
        stalls.push_back({nowNs(CLOCK_REALTIME), late});
        due = now;  // one stall, not a burst of late wake-ups catching up with it
      }
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  rdv::bench::ArgReader args(argc, argv, "stall_probe",
                             "stall_probe [--interval-us 1000] [--threshold-us 5000] [--seconds 600] [--priority 90] "
                             "[--load THREADS:FRACTION:PERIOD_US]");
  Options o;
  while (args.more()) {
    const std::string a = args.next();
    if (a == "--interval-us") {
      o.intervalNs = static_cast<int64_t>(args.number(100, 100'000)) * 1000;
    } else if (a == "--threshold-us") {
      o.thresholdNs = static_cast<int64_t>(args.number(100, 10'000'000)) * 1000;
    } else if (a == "--seconds") {
      o.seconds = static_cast<int64_t>(args.number(1, 86'400));
    } else if (a == "--priority") {
      o.priority = static_cast<int>(args.number(1, 99));
    } else if (a == "--load") {
      if (!parseLoad(args.value(), o)) args.usage("--load wants THREADS:FRACTION:PERIOD_US, e.g. 2:0.8:250");
    } else if (a == "--help" || a == "-h") {
      args.usage("", 0);
    } else {
      args.usage("unknown option " + a);
    }
  }
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  mlockall(MCL_CURRENT | MCL_FUTURE);
  // One probe per CPU this process may run on (a cpuset may leave out some, or number them apart).
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) CPU_SET(0, &allowed);
  std::vector<CpuProbe> probes;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &allowed)) continue;
    probes.emplace_back();
    probes.back().cpu = c;
  }
  const int64_t endNs = nowNs(CLOCK_MONOTONIC) + o.seconds * 1'000'000'000;
  {
    std::vector<std::jthread> threads;
    for (CpuProbe& p : probes) threads.emplace_back([&o, &p, endNs] { p.run(o, endNs); });
    for (int i = 0; i < o.loadThreads; ++i) threads.emplace_back([&o, endNs] { dutyLoop(o, endNs); });
  }
  uint64_t wakeups = 0, late = 0;
  int64_t maxLate = 0;
  bool realtime = true;
  for (const CpuProbe& p : probes) {
    for (const Stall& s : p.stalls) {
      std::printf("stall cpu=%d end_ms=%.3f late_ms=%.3f\n", p.cpu, static_cast<double>(s.endRealNs) / 1e6,
                  static_cast<double>(s.lateNs) / 1e6);
    }
    wakeups += p.wakeups;
    late += p.stalls.size();
    maxLate = std::max(maxLate, p.maxLateNs);
    realtime = realtime && p.realtime;
  }
  std::printf("wakeups=%lu late=%lu max_ms=%.3f realtime=%d\n", static_cast<unsigned long>(wakeups),
              static_cast<unsigned long>(late), static_cast<double>(maxLate) / 1e6, realtime ? 1 : 0);
  return 0;
}
