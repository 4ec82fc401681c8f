#pragma once
// The control thread of the API tests: a thread that drains a ControlQueue whenever its eventfd
// says there is work (as Server's epoll loop does), until destroyed.

#include <poll.h>

#include <atomic>
#include <thread>

#include "app/api/ControlQueue.h"

namespace rdv::api::test {

class ControlThread {
 public:
  explicit ControlThread(ControlQueue& q)
      : thread_([this, &q] {
          while (!stop_) {
            pollfd p{q.fd(), POLLIN, 0};
            if (::poll(&p, 1, 10) == 1) q.drain();  // 10 ms: how soon the destructor is noticed
          }
        }) {}
  ~ControlThread() {
    stop_ = true;
    thread_.join();
  }
  ControlThread(const ControlThread&) = delete;
  ControlThread& operator=(const ControlThread&) = delete;

  std::thread::id id() const { return thread_.get_id(); }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace rdv::api::test
