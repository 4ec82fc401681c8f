#include "app/api/EventStream.h"

#include <fmt/format.h>

namespace rdv::api {

void EventStream::publish(std::string_view type, std::string json) {
  {
    std::lock_guard lock(mu_);
    ++lastId_;
    events_.push_back({lastId_, fmt::format("id: {}\nevent: {}\ndata: {}\n\n", lastId_, type, json)});
    while (events_.size() > keep_) events_.pop_front();
  }
  cv_.notify_all();
}

uint64_t EventStream::lastId() const {
  std::lock_guard lock(mu_);
  return lastId_;
}

bool EventStream::next(uint64_t& after, std::string& out, std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, wait, [&] { return closed_ || lastId_ > after; });
  if (closed_) return false;
  for (const Event& e : events_) {
    if (e.id > after) out += e.frame;
  }
  after = lastId_;
  return true;
}

bool EventStream::acquire() {
  std::lock_guard lock(mu_);
  if (closed_ || clients_ >= maxClients_) return false;
  ++clients_;
  return true;
}

void EventStream::release() {
  std::lock_guard lock(mu_);
  --clients_;
}

void EventStream::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace rdv::api
