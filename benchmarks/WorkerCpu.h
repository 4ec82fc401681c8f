#pragma once
// CPU time of the relay worker threads of this process (threads named "rdv-relay-*"), for the
// benchmarks that run a RelayControl in their own process (relay_srtp_bench, dtls_handshake_bench).

#include <dirent.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace rdv::bench {

// Nanoseconds the scheduler accounted to those threads so far (/proc/self/task/TID/schedstat,
// not ticks); 0 when /proc is not readable.
inline uint64_t relayWorkerCpuNs() {
  uint64_t total = 0;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string base = std::string("/proc/self/task/") + e->d_name;
    std::ifstream comm(base + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind("rdv-relay-", 0) != 0) continue;
    std::ifstream sched(base + "/schedstat");
    uint64_t ns = 0;
    sched >> ns;
    total += ns;
  }
  ::closedir(d);
  return total;
}

}  // namespace rdv::bench
