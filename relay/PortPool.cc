#include "relay/PortPool.h"

#include <cassert>

namespace rdv::relay {

PortPool::PortPool(uint16_t portMin, uint16_t portMax)
    : first_(static_cast<uint16_t>(portMin + (portMin & 1U))),
      capacity_(portMax > first_ ? (static_cast<size_t>(portMax) - first_ + 1) / 2 : 0),
      inUse_(capacity_, false) {
  for (size_t i = 0; i < capacity_; ++i) free_.push_back(static_cast<uint16_t>(first_ + 2 * i));
}

std::optional<uint16_t> PortPool::allocate() {
  if (free_.empty()) return std::nullopt;
  uint16_t p = free_.front();
  free_.pop_front();
  inUse_[(p - first_) / 2] = true;
  return p;
}

void PortPool::release(uint16_t rtpPort) {
  assert(rtpPort >= first_ && (rtpPort - first_) % 2 == 0);
  size_t idx = (rtpPort - first_) / 2;
  assert(idx < capacity_ && inUse_[idx]);
  if (idx >= capacity_ || !inUse_[idx]) return;  // double free: ignore in release builds
  inUse_[idx] = false;
  free_.push_back(rtpPort);
}

}  // namespace rdv::relay
