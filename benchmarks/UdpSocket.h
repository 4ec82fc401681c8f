#pragma once
// Loopback UDP sockets for the load generator: a helper that opens a non-blocking socket bound to 127.0.0.1 on an ephemeral port. The generator only ever talks to
// loopback (benchmarks never send off the machine).

#include <netinet/in.h>

#include <sys/socket.h>

#include <cstdint>
#include <optional>
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

// Opens a non-blocking UDP socket bound to 127.0.0.1:port (0: an ephemeral port). rcvbuf > 0
// sets SO_RCVBUF (best effort; the kernel caps it at net.core.rmem_max).
[[nodiscard]] Expected<BoundSocket, std::string> openLoopbackUdp(int rcvbuf = 0, uint16_t port = 0);

// Parses "A.B.C.D:PORT" and accepts only loopback addresses (127.0.0.0/8).
[[nodiscard]] Expected<sockaddr_in, std::string> parseLoopbackEndpoint(const std::string& text);

// The kernel's receive stamp of a datagram read with SO_TIMESTAMPNS on (CLOCK_REALTIME, ns), from
// the control messages recvmsg/recvmmsg filled in; nullopt when it is missing.
std::optional<int64_t> kernelStampNs(msghdr& h);

}  // namespace rdv::bench
