#pragma once
// Test helper: a window of consecutive UDP ports on 127.0.0.1 that are free now. Test binaries
// run in parallel (each gtest case is its own CTest process, and the sanitizer build runs the
// same cases), so fixed port ranges would collide; the window starts at a pid-derived offset and
// is checked by binding every port.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>

namespace rdv::relay::test {

inline bool udpPortFree(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

inline uint16_t freePortWindow(uint16_t size) {
  // 10000-20000: the Python integration harness takes its blocks from 20000-32000.
  constexpr uint32_t kLow = 10000;
  constexpr uint32_t kHigh = 20000;
  const uint32_t windows = (kHigh - kLow) / size;
  for (uint32_t i = 0; i < windows; ++i) {
    auto base = static_cast<uint16_t>(kLow + ((static_cast<uint32_t>(::getpid()) * 7 + i) % windows) * size);
    bool free = true;
    for (uint16_t p = base; free && p < base + size; ++p) free = udpPortFree(p);
    if (free) return base;
  }
  throw std::runtime_error("no free UDP port window");
}

}  // namespace rdv::relay::test
