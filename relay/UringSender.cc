#include "relay/UringSender.h"

#include <cassert>
#include <cerrno>

namespace rdv::relay {

UringSender::UringSender(uint32_t depth)
    : capacity_(depth), msgs_(depth), iov_(depth), to_(depth), results_(depth) {}

common::Expected<std::unique_ptr<UringSender>, int> UringSender::create(uint32_t depth) {
  std::unique_ptr<UringSender> s(new UringSender(depth));  // private constructor: no make_unique
  // SUBMIT_ALL (5.18): one failed request does not stop the rest of the batch. COOP_TASKRUN (5.19)
  // and SINGLE_ISSUER (6.0): no inter-processor interrupt for completions, one submitting thread.
  // Older kernels refuse the flags with EINVAL: plain setup then.
  io_uring_params p{};
  p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
  int r = io_uring_queue_init_params(depth, &s->ring_, &p);
  if (r == -EINVAL) r = io_uring_queue_init(depth, &s->ring_, 0);
  if (r < 0) return Unexpected(-r);
  return s;
}

UringSender::~UringSender() {
  io_uring_queue_exit(&ring_);
}

uint32_t UringSender::queue(int fd, const common::SockAddr* to, std::span<const std::byte> bytes) {
  assert(count_ < capacity_);
  const uint32_t k = count_++;
  iov_[k].iov_base = const_cast<std::byte*>(bytes.data());
  iov_[k].iov_len = bytes.size();
  msghdr& h = msgs_[k];
  h = msghdr{};
  if (to != nullptr) {
    to_[k] = *to;
    h.msg_name = const_cast<sockaddr*>(to_[k].sa());
    h.msg_namelen = to_[k].len();
  }
  h.msg_iov = &iov_[k];
  h.msg_iovlen = 1;
  results_[k] = -ECANCELED;  // until its completion says otherwise
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  assert(sqe != nullptr);  // the submission queue holds capacity_ entries and submit() empties it
  io_uring_prep_sendmsg(sqe, fd, &h, MSG_DONTWAIT);
  io_uring_sqe_set_data64(sqe, k);
  return k;
}

uint32_t UringSender::submit() {
  const uint32_t n = count_;
  if (n == 0) return 0;
  // Every request completes during the enter (MSG_DONTWAIT: no request waits for buffer space),
  // so waiting for n completions costs no second syscall.
  uint32_t submitted = 0;
  while (submitted < n) {
    ++enterCalls_;
    const int r = io_uring_submit_and_wait(&ring_, n);
    if (r < 0) {
      if (r == -EINTR || r == -EAGAIN || r == -EBUSY) continue;
      // Not seen on a working ring: what was not taken fails; the rest is reaped below.
      for (uint32_t k = submitted; k < n; ++k) results_[k] = r;
      break;
    }
    submitted += static_cast<uint32_t>(r);
  }
  uint32_t reaped = 0;
  while (reaped < submitted) {
    io_uring_cqe* cqe = nullptr;
    const int r = io_uring_wait_cqe(&ring_, &cqe);  // no syscall when a completion is there
    if (r < 0) {
      if (r == -EINTR) continue;
      break;  // not seen on a working ring
    }
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      const auto k = static_cast<uint32_t>(io_uring_cqe_get_data64(cqe));
      if (k < n) results_[k] = cqe->res;
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
    reaped += seen;
  }
  count_ = 0;
  return n;
}

}  // namespace rdv::relay
