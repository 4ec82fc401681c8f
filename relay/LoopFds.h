#pragma once
// The descriptors a relay loop waits on (RelayWorker, TcpSplicer, turn::TurnServer): an epoll set
// holding an eventfd that wakes it for commands and a timerfd ticking once a second, both watched
// for EPOLLIN under the caller's tags.

#include <cstdint>

#include "common/Fd.h"

namespace rdv::relay {

struct LoopFds {
  common::Fd epoll;
  common::Fd wake;
  common::Fd timer;
};

LoopFds openLoopFds(uint64_t wakeTag, uint64_t timerTag);

}  // namespace rdv::relay
