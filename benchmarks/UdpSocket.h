#pragma once
// Loopback UDP sockets for the load generator: a helper that opens a non-blocking socket bound to 127.0.0.1 on an ephemeral port. The generator only ever talks to
// loopback (benchmarks never send off the machine).

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "common/Expected.h"
#include "common/Fd.h"

namespace rdv::bench {

struct BoundSocket {
  common::Fd fd;
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
