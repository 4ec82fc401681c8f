// uring_recv_bench: what receiving a datagram on one of many sockets costs, the relay's way
// (level-triggered epoll, then recvmmsg on each ready socket) against io_uring multishot recvmsg
// into a provided-buffer ring. Not the relay's code: a measurement to decide whether moving the
// relay's receive path to io_uring is worth building (benchmarks/README.md, seventh session).
//
//   uring_recv_bench [--mode epoll|ring|ring-epoll|ring-plain] [--sockets 1000] [--seconds 5]
//                    [--per-ms 50] [--bytes 172]
//
// A sender thread sends --per-ms datagrams of --bytes every millisecond with one sendmmsg, to the
// sockets in turn; the main thread receives them all. Modes: epoll (the relay's loop); ring
// (multishot recvmsg on every socket, a ring with SINGLE_ISSUER | DEFER_TASKRUN, waiting in
// io_uring_submit_and_wait_timeout); ring-epoll (the same ring, its fd in an epoll set, as the
// relay's loop would hold it, reaped with io_uring_get_events); ring-plain (ring without
// DEFER_TASKRUN). Prints CPU time per packet of both threads (on loopback the sender's
// side includes the delivery into the receiving socket), receive-side syscalls per packet, and the
// mean and worst delay from the sendmmsg to the receiver seeing the datagram (each batch carries
// its send time), so a mode cannot look cheap by waking late.
// Loopback only; bounded by --seconds.
#include <arpa/inet.h>
#include <liburing.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/ToolSupport.h"
#include "common/Fd.h"

namespace {

struct Options {
  std::string mode = "epoll";
  int sockets = 1000;
  int seconds = 5;
  int perMs = 50;
  int bytes = 172;
};

double threadCpu() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

int64_t monoNs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

struct Receiver {
  long packets = 0;
  long syscalls = 0;
  double delaySumNs = 0;
  int64_t delayMaxNs = 0;

  // One datagram received: counts it and its delay from the send time at its start.
  void got(const char* payload) {
    int64_t sentNs = 0;
    std::memcpy(&sentNs, payload, sizeof(sentNs));
    const int64_t d = monoNs() - sentNs;
    delaySumNs += static_cast<double>(d);
    delayMaxNs = std::max(delayMaxNs, d);
    ++packets;
  }
};

// Sends opts.perMs datagrams every ms, to the sockets in turn, until the time is up.
void sendLoop(const Options& o, const std::vector<sockaddr_in>& to, std::atomic<bool>& done, long& sent,
              double& cpu) {
  rdv::common::Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  std::vector<char> payload(static_cast<size_t>(o.bytes), '\x80');
  std::vector<mmsghdr> msgs(static_cast<size_t>(o.perMs));
  std::vector<iovec> iov(msgs.size());
  const double cpu0 = threadCpu();
  int64_t due = monoNs();
  const int64_t end = due + int64_t{o.seconds} * 1'000'000'000;
  size_t next = 0;
  while (due < end) {
    for (size_t k = 0; k < msgs.size(); ++k) {
      iov[k] = {payload.data(), payload.size()};
      msgs[k].msg_hdr = {};
      msgs[k].msg_hdr.msg_name = const_cast<sockaddr_in*>(&to[next]);
      msgs[k].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      next = (next + 1) % to.size();
    }
    const int64_t now = monoNs();
    std::memcpy(payload.data(), &now, sizeof(now));
    const int n = ::sendmmsg(s.get(), msgs.data(), static_cast<unsigned>(msgs.size()), 0);
    if (n > 0) sent += n;
    due += 1'000'000;
    const timespec ts{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
  }
  cpu = threadCpu() - cpu0;
  done.store(true);
}

void receiveEpoll(const std::vector<rdv::common::Fd>& fds, const std::atomic<bool>& done, Receiver& r) {
  rdv::common::Fd ep(::epoll_create1(EPOLL_CLOEXEC));
  for (size_t i = 0; i < fds.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fds[i].get(), &ev);
  }
  constexpr unsigned kBatch = 16;
  std::vector<epoll_event> events(256);
  std::vector<std::vector<char>> bufs(kBatch, std::vector<char>(2048));
  std::vector<mmsghdr> msgs(kBatch);
  std::vector<iovec> iov(kBatch);
  std::vector<sockaddr_in> from(kBatch);
  while (!done.load()) {
    const int n = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), 100);
    ++r.syscalls;
    for (int j = 0; j < n; ++j) {
      const int fd = fds[events[static_cast<size_t>(j)].data.u64].get();
      for (;;) {
        for (unsigned k = 0; k < kBatch; ++k) {
          iov[k] = {bufs[k].data(), bufs[k].size()};
          msgs[k].msg_hdr = {};
          msgs[k].msg_hdr.msg_name = &from[k];
          msgs[k].msg_hdr.msg_namelen = sizeof(sockaddr_in);
          msgs[k].msg_hdr.msg_iov = &iov[k];
          msgs[k].msg_hdr.msg_iovlen = 1;
        }
        const int got = ::recvmmsg(fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
        ++r.syscalls;
        if (got <= 0) break;
        for (int k = 0; k < got; ++k) r.got(bufs[static_cast<size_t>(k)].data());
        if (static_cast<unsigned>(got) < kBatch) break;
      }
    }
  }
}

// Multishot recvmsg on every socket into a ring of provided buffers; a request the kernel ends
// (no buffer was free) is armed again. False when the ring cannot be set up.
bool receiveRing(const Options& o, const std::vector<rdv::common::Fd>& fds, const std::atomic<bool>& done,
                 Receiver& r) {
  io_uring ring{};
  io_uring_params p{};
  if (o.mode != "ring-plain") p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (const int e = io_uring_queue_init_params(2048, &ring, &p); e < 0) {
    std::fprintf(stderr, "uring_recv_bench: io_uring: %s\n", std::strerror(-e));
    return false;
  }
  constexpr unsigned kBuffers = 4096, kBufferSize = 2048;
  const size_t ringBytes = kBuffers * sizeof(io_uring_buf);
  void* mem = ::mmap(nullptr, ringBytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    std::fprintf(stderr, "uring_recv_bench: buffer ring: %s\n", std::strerror(errno));
    io_uring_queue_exit(&ring);
    return false;
  }
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(mem);
  reg.ring_entries = kBuffers;
  reg.bgid = 1;
  if (const int e = io_uring_register_buf_ring(&ring, &reg, 0); e != 0) {
    std::fprintf(stderr, "uring_recv_bench: buffer ring: %s\n", std::strerror(-e));
    io_uring_queue_exit(&ring);
    ::munmap(mem, ringBytes);
    return false;
  }
  std::vector<char> pool(size_t{kBuffers} * kBufferSize);
  const int mask = io_uring_buf_ring_mask(kBuffers);
  auto give = [&](unsigned bid, int offset) {
    io_uring_buf_ring_add(br, &pool[size_t{bid} * kBufferSize], kBufferSize, static_cast<unsigned short>(bid),
                          mask, offset);
  };
  for (unsigned b = 0; b < kBuffers; ++b) give(b, static_cast<int>(b));
  io_uring_buf_ring_advance(br, kBuffers);
  msghdr shape{};
  shape.msg_namelen = sizeof(sockaddr_in);
  auto arm = [&](size_t i) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recvmsg_multishot(sqe, fds[i].get(), &shape, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 1;
    io_uring_sqe_set_data64(sqe, i);
  };
  for (size_t i = 0; i < fds.size(); ++i) arm(i);
  io_uring_submit(&ring);
  rdv::common::Fd ep;
  if (o.mode == "ring-epoll") {
    ep = rdv::common::Fd(::epoll_create1(EPOLL_CLOEXEC));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, ring.ring_fd, &ev);
  }
  while (!done.load()) {
    if (ep.valid()) {
      epoll_event ev{};
      ::epoll_wait(ep.get(), &ev, 1, 100);
      io_uring_get_events(&ring);
      r.syscalls += 2;
    } else {
      __kernel_timespec ts{0, 100'000'000};
      io_uring_cqe* cqe = nullptr;
      io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
      ++r.syscalls;
    }
    unsigned head = 0, seen = 0;
    int returned = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      if ((cqe->flags & IORING_CQE_F_BUFFER) != 0) {
        const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        char* buf = &pool[size_t{bid} * kBufferSize];
        io_uring_recvmsg_out* out = cqe->res > 0 ? io_uring_recvmsg_validate(buf, cqe->res, &shape) : nullptr;
        if (out != nullptr && io_uring_recvmsg_payload_length(out, cqe->res, &shape) >= sizeof(int64_t)) {
          r.got(static_cast<const char*>(io_uring_recvmsg_payload(out, &shape)));
        }
        give(bid, returned++);
      }
      if ((cqe->flags & IORING_CQE_F_MORE) == 0) arm(io_uring_cqe_get_data64(cqe));
    }
    io_uring_cq_advance(&ring, seen);
    if (returned > 0) io_uring_buf_ring_advance(br, returned);
    if (io_uring_sq_ready(&ring) > 0) {
      io_uring_submit(&ring);
      ++r.syscalls;
    }
  }
  io_uring_queue_exit(&ring);
  ::munmap(mem, ringBytes);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  rdv::bench::ArgReader args(argc, argv, "uring_recv_bench",
                             "uring_recv_bench [--mode epoll|ring|ring-epoll|ring-plain] [--sockets 1000] "
                             "[--seconds 5] [--per-ms 50] [--bytes 172]");
  Options o;
  while (args.more()) {
    const std::string a = args.next();
    if (a == "--mode") {
      o.mode = args.value();
      if (o.mode != "epoll" && o.mode != "ring" && o.mode != "ring-epoll" && o.mode != "ring-plain") {
        args.usage("unknown mode " + o.mode);
      }
    } else if (a == "--sockets") {
      o.sockets = static_cast<int>(args.number(1, 10'000));
    } else if (a == "--seconds") {
      o.seconds = static_cast<int>(args.number(1, 600));
    } else if (a == "--per-ms") {
      o.perMs = static_cast<int>(args.number(1, 1000));
    } else if (a == "--bytes") {
      o.bytes = static_cast<int>(args.number(16, 1400));
    } else if (a == "--help" || a == "-h") {
      args.usage("", 0);
    } else {
      args.usage("unknown option " + a);
    }
  }
  rdv::bench::raiseFileLimit();
  std::vector<rdv::common::Fd> fds;
  std::vector<sockaddr_in> to;
  for (int i = 0; i < o.sockets; ++i) {
    rdv::common::Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (!fd.valid() || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::fprintf(stderr, "uring_recv_bench: socket %d: %s\n", i, std::strerror(errno));
      return 1;
    }
    fds.push_back(std::move(fd));
    to.push_back(a);
  }
  std::atomic<bool> done{false};
  long sent = 0;
  double senderCpu = 0;
  std::thread sender([&] { sendLoop(o, to, done, sent, senderCpu); });
  Receiver r;
  const double cpu0 = threadCpu();
  bool ok = true;
  if (o.mode == "epoll") {
    receiveEpoll(fds, done, r);
  } else {
    ok = receiveRing(o, fds, done, r);
  }
  const double receiverCpu = threadCpu() - cpu0;
  sender.join();
  if (!ok) return 1;
  const double got = r.packets > 0 ? static_cast<double>(r.packets) : 1.0;
  std::printf("mode=%s sent=%ld received=%ld receiver_us_per_packet=%.2f syscalls_per_packet=%.2f "
              "sender_us_per_packet=%.2f delay_us_mean=%.0f delay_us_max=%.0f\n",
              o.mode.c_str(), sent, r.packets, receiverCpu * 1e6 / got, static_cast<double>(r.syscalls) / got,
              senderCpu * 1e6 / static_cast<double>(sent > 0 ? sent : 1), r.delaySumNs / got / 1e3,
              static_cast<double>(r.delayMaxNs) / 1e3);
  return 0;
}
