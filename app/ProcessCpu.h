#pragma once
// CPU time of this process by thread group, from /proc/self/task/*/stat (utime + stime): relay
// workers ("rdv-relay-N", which host the TCP splicer and TURN by default) with the TCP splicer's
// and TURN's own threads ("rdv-relay-tcp", "rdv-turn"), mixer workers ("rdv-mixer-N"), the
// control thread ("rdv-control") and everything else (HTTP servers, the call record writer,
// library threads). Read at scrape time.

#include <array>
#include <string_view>

namespace rdv::app {

inline constexpr std::array<std::string_view, 4> kCpuGroups = {"relay", "mixer", "control", "other"};

// Seconds of CPU per group of kCpuGroups, summed over the threads alive now.
std::array<double, kCpuGroups.size()> cpuSecondsByGroup();

// The group of a thread name (the comm field of /proc/<pid>/task/<tid>/stat).
size_t cpuGroupOf(std::string_view threadName);

// Names the calling thread (at most 15 characters are kept), e.g. "rdv-control".
void nameThisThread(std::string_view name);

}  // namespace rdv::app
