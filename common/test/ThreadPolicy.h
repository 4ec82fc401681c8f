#pragma once
// Test helpers: the scheduling policy of this process's threads by name, and whether the process
// may make threads realtime. For tests of options that put worker threads on SCHED_FIFO.

#include <dirent.h>
#include <sched.h>

#include <fstream>
#include <string>
#include <vector>

namespace rdv::testutil {

// sched_getscheduler() of every thread of this process named `name` (its comm).
inline std::vector<int> policiesOf(const std::string& name) {
  std::vector<int> out;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::string comm;
    std::getline(std::ifstream(std::string("/proc/self/task/") + e->d_name + "/comm"), comm);
    if (comm == name) out.push_back(::sched_getscheduler(std::stoi(e->d_name)));
  }
  ::closedir(dir);
  return out;
}

// CAP_SYS_NICE (bit 23) in this process's effective capabilities (root in CI; not root in a
// default Docker container).
inline bool hasCapSysNice() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("CapEff:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> 23) & 1u;
  }
  return false;
}

}  // namespace rdv::testutil
