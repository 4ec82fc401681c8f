#include "signaling/b2bua/CallDeadlines.h"

#include <limits>

namespace rdv::b2bua {

void CallDeadlines::set(uint64_t callId, uint64_t atMs) {
  erase(callId);
  ordered_.emplace(atMs, callId);
  byCall_[callId] = atMs;
}

void CallDeadlines::erase(uint64_t callId) {
  auto it = byCall_.find(callId);
  if (it == byCall_.end()) return;
  ordered_.erase({it->second, callId});
  byCall_.erase(it);
}

uint64_t CallDeadlines::next() const {
  return ordered_.empty() ? std::numeric_limits<uint64_t>::max() : ordered_.begin()->first;
}

uint64_t CallDeadlines::at(uint64_t callId) const {
  auto it = byCall_.find(callId);
  return it == byCall_.end() ? std::numeric_limits<uint64_t>::max() : it->second;
}

std::vector<uint64_t> CallDeadlines::takeDue(uint64_t nowMs) {
  std::vector<uint64_t> due;
  while (!ordered_.empty() && ordered_.begin()->first <= nowMs) {
    due.push_back(ordered_.begin()->second);
    byCall_.erase(ordered_.begin()->second);
    ordered_.erase(ordered_.begin());
  }
  return due;
}

}  // namespace rdv::b2bua
