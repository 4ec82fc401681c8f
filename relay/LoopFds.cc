#include "relay/LoopFds.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

namespace rdv::relay {

LoopFds openLoopFds(uint64_t wakeTag, uint64_t timerTag) {
  LoopFds l{common::Fd(epoll_create1(EPOLL_CLOEXEC)), common::Fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
            common::Fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC))};
  const itimerspec tick{{1, 0}, {1, 0}};
  timerfd_settime(l.timer.get(), 0, &tick, nullptr);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = wakeTag;
  epoll_ctl(l.epoll.get(), EPOLL_CTL_ADD, l.wake.get(), &ev);
  ev.data.u64 = timerTag;
  epoll_ctl(l.epoll.get(), EPOLL_CTL_ADD, l.timer.get(), &ev);
  return l;
}

}  // namespace rdv::relay
