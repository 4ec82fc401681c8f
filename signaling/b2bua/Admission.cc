#include "signaling/b2bua/Admission.h"

#include <algorithm>

namespace rdv::b2bua {

Admission::Admission(uint32_t maxCalls, uint32_t maxCallsPerSecond)
    : maxCalls_(maxCalls), maxCallsPerSecond_(maxCallsPerSecond), tokens_(maxCallsPerSecond) {}

Admission::Verdict Admission::admit(size_t activeCalls, uint64_t nowMs) {
  tokens_ = std::min<double>(
      maxCallsPerSecond_, tokens_ + static_cast<double>(nowMs - refilledAtMs_) * maxCallsPerSecond_ / 1000.0);
  refilledAtMs_ = nowMs;
  if (draining_) return Verdict::Draining;
  if (activeCalls >= maxCalls_) return Verdict::TooManyCalls;
  if (tokens_ < 1.0) return Verdict::TooManyPerSecond;
  tokens_ -= 1.0;
  return Verdict::Admit;
}

void Admission::refund() {
  tokens_ = std::min<double>(maxCallsPerSecond_, tokens_ + 1.0);
}

}  // namespace rdv::b2bua
