// RelayWorker: the loops it hosts (HostedLoop, see RelayWorker.h).
#include <sys/epoll.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "relay/RelayWorker.h"

namespace rdv::relay {

void RelayWorker::host(HostedLoop& loop) {
  post(HostLoop{&loop});
}

void RelayWorker::handle(HostLoop& c) {
  if (hostedCount_ == kMaxHosted) {
    spdlog::error("relay worker {}: cannot host more than {} loops", index_, kMaxHosted);
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: a loop that still has work stays readable
  ev.data.u64 = kHostedTag + hostedCount_;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.loop->fd(), &ev) != 0) {
    spdlog::error("relay worker {}: cannot host a loop: {}", index_, std::strerror(errno));
    return;
  }
  hosted_[hostedCount_++] = c.loop;
}

void RelayWorker::runHosted(unsigned ready) {
  for (size_t k = 0; k < hostedCount_; ++k) {
    if ((ready & (1U << k)) != 0) hosted_[k]->runReady();
  }
}

}  // namespace rdv::relay
