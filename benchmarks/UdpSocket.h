#pragma once
// Loopback UDP sockets for the load generator: a helper that opens a non-blocking socket bound to 127.0.0.1 on an ephemeral port. The generator only ever talks to
// loopback (benchmarks never send off the machine).

#include <netinet/in.h>

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

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

// One recvmmsg batch with room for SO_TIMESTAMPNS control messages, reused for every read.
class RecvBatch {
 public:
  static constexpr size_t kSlot = 2048;  // bytes per datagram; longer ones are truncated

  explicit RecvBatch(size_t size);
  RecvBatch(const RecvBatch&) = delete;
  RecvBatch& operator=(const RecvBatch&) = delete;

  // Reads up to size() datagrams from fd without blocking; the number read (0 when none).
  int receive(int fd);
  // Datagram i of the last receive(); valid until the next one.
  std::span<const std::byte> datagram(size_t i) const { return {buffers_.data() + i * kSlot, msgs_[i].msg_len}; }
  // The same bytes, writable in place (SRTP unprotect).
  std::span<std::byte> datagram(size_t i) { return {buffers_.data() + i * kSlot, msgs_[i].msg_len}; }
  msghdr& header(size_t i) { return msgs_[i].msg_hdr; }
  size_t size() const { return msgs_.size(); }

 private:
  std::vector<std::byte> buffers_;
  std::vector<std::byte> control_;
  std::vector<iovec> iovs_;
  std::vector<mmsghdr> msgs_;
};

// The kernel's receive stamp of a datagram read with SO_TIMESTAMPNS on (CLOCK_REALTIME, ns), from
// the control messages recvmsg/recvmmsg filled in; nullopt when it is missing.
std::optional<int64_t> kernelStampNs(msghdr& h);

}  // namespace rdv::bench
