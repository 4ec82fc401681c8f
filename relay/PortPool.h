#pragma once
// The media port range as RTP/RTCP pairs: each allocation is an even port P, with P+1 reserved
// for RTCP whether or not the leg uses it (rtcp-mux legs leave it unopened, so it costs no
// descriptor). Freed pairs go to the back of the queue, so a port is reused as late as possible
// and stray packets from an old call rarely reach a new one. Control thread only.

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace rdv::relay {

class PortPool {
 public:
  PortPool(uint16_t portMin, uint16_t portMax);

  std::optional<uint16_t> allocate();  // even RTP port, or nullopt when exhausted
  void release(uint16_t rtpPort);      // returns a pair taken from allocate()

  size_t capacity() const { return capacity_; }  // pairs in the range
  size_t available() const { return free_.size(); }

 private:
  uint16_t first_;
  size_t capacity_;
  std::deque<uint16_t> free_;
  std::vector<bool> inUse_;
};

}  // namespace rdv::relay
