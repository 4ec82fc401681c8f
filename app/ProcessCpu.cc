#include "app/ProcessCpu.h"

#include <dirent.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace rdv::app {

size_t cpuGroupOf(std::string_view name) {
  // TURN's own thread ("rdv-turn", relay.host_tcp_and_turn = 0) is relay work too: hosted, it
  // runs on a relay worker, so the group means the same in both modes.
  if (name.starts_with("rdv-relay") || name == "rdv-turn") return 0;
  if (name.starts_with("rdv-mixer")) return 1;
  if (name == "rdv-control") return 2;
  return 3;
}

void nameThisThread(std::string_view name) {
  pthread_setname_np(pthread_self(), std::string(name.substr(0, 15)).c_str());
}

std::array<double, kCpuGroups.size()> cpuSecondsByGroup() {
  std::array<double, kCpuGroups.size()> out{};
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/task/") + e->d_name + "/stat";
    FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) continue;  // the thread ended meanwhile
    char buf[1024];
    const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // "tid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ')'.
    std::string_view line(buf, n);
    const size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) continue;
    const std::string_view comm = line.substr(open + 1, close - open - 1);
    unsigned long utime = 0, stime = 0;
    // After ") ": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
    if (std::sscanf(buf + close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) {
      continue;
    }
    out[cpuGroupOf(comm)] += static_cast<double>(utime + stime) / tick;
  }
  closedir(dir);
  return out;
}

}  // namespace rdv::app
