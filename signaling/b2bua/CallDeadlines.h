#pragma once
// One deadline per call, ordered: what the B2BUA's per-call timers (session expiry, reliable
// provisional retransmission) share. Pure state over monotonic milliseconds; no clock inside.

#include <cstdint>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rdv::b2bua {

class CallDeadlines {
 public:
  // Sets (or moves) the call's deadline.
  void set(uint64_t callId, uint64_t atMs);
  void erase(uint64_t callId);
  // The earliest deadline, UINT64_MAX when none.
  uint64_t next() const;
  // Removes and returns the calls whose deadline is at or before nowMs, earliest first.
  std::vector<uint64_t> takeDue(uint64_t nowMs);
  bool has(uint64_t callId) const { return byCall_.count(callId) != 0; }
  uint64_t at(uint64_t callId) const;  // UINT64_MAX when none

 private:
  std::set<std::pair<uint64_t, uint64_t>> ordered_;  // (deadline, call)
  std::unordered_map<uint64_t, uint64_t> byCall_;    // call -> deadline
};

}  // namespace rdv::b2bua
