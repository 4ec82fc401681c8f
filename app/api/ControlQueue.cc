// ControlQueue: a mutex-guarded deque (API requests are few; nothing per packet passes here) and
// an eventfd counter that tells the control loop there is work.

#include "app/api/ControlQueue.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace rdv::api {

ControlQueue::ControlQueue(size_t capacity)
    : capacity_(capacity), wake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

bool ControlQueue::post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (tasks_.size() >= capacity_) return false;
    tasks_.push_back(std::move(task));
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof(one));
  return true;
}

size_t ControlQueue::drain() {
  // Reset the counter before taking the tasks: a post() after the swap writes it again.
  uint64_t count = 0;
  [[maybe_unused]] auto n = ::read(wake_.get(), &count, sizeof(count));
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(tasks_);
  }
  for (auto& task : batch) task();
  return batch.size();
}

size_t ControlQueue::waiting() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

}  // namespace rdv::api
