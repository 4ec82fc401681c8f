#include "relay/HostedLoop.h"

#include <poll.h>

#include <cerrno>

namespace rdv::relay {

void runHostedThread(HostedLoop& loop, const std::atomic<bool>& stop) {
  pollfd p{loop.fd(), POLLIN, 0};
  while (!stop.load(std::memory_order_acquire)) {
    if (::poll(&p, 1, -1) < 0 && errno != EINTR) return;
    loop.runReady();
  }
}

}  // namespace rdv::relay
