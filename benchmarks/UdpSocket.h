#pragma once
// Loopback UDP sockets for the load generator: an owning descriptor and a helper that opens a
// non-blocking socket bound to 127.0.0.1 on an ephemeral port. The generator only ever talks to
// loopback (benchmarks never send off the machine).

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "media/Expected.h"

namespace rdv::bench {

// Owns one file descriptor; closes it on destruction. Move-only.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();

 private:
  int fd_ = -1;
};

struct BoundSocket {
  Fd fd;
  uint16_t port = 0;  // host byte order
};

// 127.0.0.1:port (port in host byte order).
sockaddr_in loopbackAddress(uint16_t port);

// Opens a non-blocking UDP socket bound to 127.0.0.1 on an ephemeral port. rcvbuf > 0 sets
// SO_RCVBUF (best effort; the kernel caps it at net.core.rmem_max).
[[nodiscard]] Expected<BoundSocket, std::string> openLoopbackUdp(int rcvbuf = 0);

// Parses "A.B.C.D:PORT" and accepts only loopback addresses (127.0.0.0/8).
[[nodiscard]] Expected<sockaddr_in, std::string> parseLoopbackEndpoint(const std::string& text);

}  // namespace rdv::bench
