#pragma once
// The way other threads (the HTTP API) get work done on the control thread, whose state (B2BUA,
// MediaAnchor, RelayControl) is single-threaded: a bounded queue of closures and an eventfd that
// the control loop polls and then drains. call() posts a closure and waits a bounded time for its
// result; a closure whose caller gave up is never run, so a timed-out request changed nothing.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "common/Expected.h"
#include "common/Fd.h"

namespace rdv::api {

enum class ControlFailure : uint8_t {
  QueueFull,  // `capacity` closures already wait: the control thread is far behind
  TimedOut,   // not run within the timeout (and now never will be)
};

class ControlQueue {
 public:
  explicit ControlQueue(size_t capacity = 64);

  // Queues `task` for the control thread; false (nothing queued) when the queue is full. Any thread.
  [[nodiscard]] bool post(std::function<void()> task);

  // Readable while closures wait: the control loop polls it, then calls drain().
  int fd() const { return wake_.get(); }
  // Runs the closures queued so far, in order; control thread only. Returns how many ran.
  size_t drain();
  size_t waiting() const;

  // Runs `fn` on the control thread and returns its result, or a failure after at most `timeout`.
  // On failure `fn` has not run and never will. `fn` must own what it uses (captured by value):
  // it may run after a caller on another thread stopped waiting. Never call from the control thread.
  template <class T>
  Expected<T, ControlFailure> call(std::function<T()> fn, std::chrono::milliseconds timeout);

 private:
  mutable std::mutex mu_;
  std::deque<std::function<void()>> tasks_;
  size_t capacity_;
  common::Fd wake_;
};

template <class T>
Expected<T, ControlFailure> ControlQueue::call(std::function<T()> fn, std::chrono::milliseconds timeout) {
  // Shared by the waiter and the queued closure: either may outlive the other.
  struct Slot {
    std::mutex mu;
    std::condition_variable done;
    std::optional<T> result;
    bool abandoned = false;
  };
  auto slot = std::make_shared<Slot>();
  // The closure runs `fn` holding the slot's lock, so a waiter whose time runs out meanwhile takes
  // the result instead of abandoning it: "ran" and "reported as run" never disagree.
  bool queued = post([slot, fn = std::move(fn)] {
    std::lock_guard lock(slot->mu);
    if (slot->abandoned) return;
    slot->result.emplace(fn());
    slot->done.notify_one();
  });
  if (!queued) return Unexpected(ControlFailure::QueueFull);
  std::unique_lock lock(slot->mu);
  if (!slot->done.wait_for(lock, timeout, [&] { return slot->result.has_value(); })) {
    slot->abandoned = true;
    return Unexpected(ControlFailure::TimedOut);
  }
  return std::move(*slot->result);
}

}  // namespace rdv::api
