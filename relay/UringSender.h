#pragma once
// One io_uring per relay worker that sends many datagrams, on as many sockets, with one
// io_uring_enter: queue() stages a datagram (socket, destination, bytes) as an IORING_OP_SENDMSG
// whose msghdr, iovec and address live in arrays allocated once at creation; submit() hands all of
// them to the kernel and reaps every completion before it returns, so the caller may reuse its
// buffers right after. Each send carries MSG_DONTWAIT: a full socket buffer completes at once with
// -EAGAIN instead of parking the request until the socket drains (RelayWorkerUring tests pin it).
// Single-threaded: the ring is created by, and only used on, the worker thread.

#include <liburing.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/Expected.h"
#include "common/SockAddr.h"

namespace rdv::relay {

class UringSender {
 public:
  // A ring of `depth` entries; the error is the errno io_uring_queue_init gave (ENOSYS: no
  // io_uring in the kernel, EPERM: a seccomp profile or kernel.io_uring_disabled, ENOMEM:
  // RLIMIT_MEMLOCK on kernels before 5.12).
  [[nodiscard]] static common::Expected<std::unique_ptr<UringSender>, int> create(uint32_t depth);
  ~UringSender();
  UringSender(const UringSender&) = delete;
  UringSender& operator=(const UringSender&) = delete;

  uint32_t capacity() const { return capacity_; }
  uint32_t queued() const { return count_; }
  uint32_t room() const { return capacity_ - count_; }

  // Stages one datagram of `bytes` from `fd` to `to` (nullptr: the socket is connected) and returns
  // its slot, 0, 1, 2... in queueing order. `bytes` must stay valid and unchanged until submit()
  // returns. Precondition: room() > 0.
  uint32_t queue(int fd, const common::SockAddr* to, std::span<const std::byte> bytes);
  // Sends everything queued (one io_uring_enter when the kernel takes the batch at once) and waits
  // for every completion: afterwards nothing is in flight and result(slot) holds, for each slot
  // below the returned count, the bytes sent or -errno. The queue is empty again.
  uint32_t submit();
  int32_t result(uint32_t slot) const { return results_[slot]; }
  // io_uring_enter calls made by submit() so far (the relay counts send syscalls).
  uint64_t enterCalls() const { return enterCalls_; }

 private:
  explicit UringSender(uint32_t depth);

  io_uring ring_{};
  uint32_t capacity_;
  uint32_t count_ = 0;
  uint64_t enterCalls_ = 0;
  std::vector<msghdr> msgs_;
  std::vector<iovec> iov_;
  std::vector<common::SockAddr> to_;
  std::vector<int32_t> results_;
};

}  // namespace rdv::relay
