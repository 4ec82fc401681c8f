// uring_send_bench: what one mixer tick's sends cost the relay, one packet from each of N
// participant sockets (as relay workers send the mixer's output today: one sendto per packet),
// against all N handed to the kernel in one io_uring submission (IORING_OP_SENDMSG per socket).
// Not the relay's code: a measurement to decide whether batching its sends is worth building.
//
//   uring_send_bench [--sockets 1000] [--rounds 200] [--bytes 172]
//
// Every round: the receiving socket is drained (not timed), then N datagrams of --bytes are sent
// to it on loopback, one from each of N sockets. Prints the process CPU time and the wall time per
// round and per send for both ways. Loopback only; bounded by --rounds.
#include <arpa/inet.h>
#include <liburing.h>
#include <sys/socket.h>
#include <time.h>

#include <array>
#include <cstdio>
#include <vector>

#include "benchmarks/ToolSupport.h"
#include "common/Fd.h"

namespace {

double seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

rdv::common::Fd loopbackUdp() {
  rdv::common::Fd fd(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd.valid() && bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return rdv::common::Fd();
  return fd;
}

struct Totals {
  double cpu = 0;
  double wall = 0;
  long failed = 0;
};

}  // namespace

int main(int argc, char** argv) {
  size_t sockets = 1000, rounds = 200, bytes = 172;
  rdv::bench::ArgReader args(argc, argv, "uring_send_bench",
                             "uring_send_bench [--sockets N] [--rounds R] [--bytes B]");
  while (args.more()) {
    const std::string a = args.next();
    if (a == "--sockets") {
      sockets = static_cast<size_t>(args.number(1, 4096));
    } else if (a == "--rounds") {
      rounds = static_cast<size_t>(args.number(1, 100000));
    } else if (a == "--bytes") {
      bytes = static_cast<size_t>(args.number(12, 1400));
    } else {
      args.usage("unknown option " + a);
    }
  }
  rdv::bench::raiseFileLimit();
  rdv::common::Fd rx = loopbackUdp();
  const int big = 64 << 20;
  (void)setsockopt(rx.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  sockaddr_in to{};
  socklen_t len = sizeof to;
  std::vector<rdv::common::Fd> tx;
  for (size_t i = 0; i < sockets; ++i) tx.push_back(loopbackUdp());
  io_uring ring{};
  if (!rx.valid() || getsockname(rx.get(), reinterpret_cast<sockaddr*>(&to), &len) != 0 ||
      !tx.back().valid() || io_uring_queue_init(static_cast<unsigned>(sockets), &ring, 0) != 0) {
    std::fprintf(stderr, "uring_send_bench: sockets or io_uring unavailable\n");
    return 1;
  }
  std::vector<char> payload(bytes, 0);
  std::array<char, 2048> sink{};
  std::vector<iovec> iov(sockets, iovec{payload.data(), payload.size()});
  std::vector<msghdr> msg(sockets);
  for (size_t i = 0; i < sockets; ++i) {
    msg[i].msg_name = &to;
    msg[i].msg_namelen = sizeof to;
    msg[i].msg_iov = &iov[i];
    msg[i].msg_iovlen = 1;
  }
  std::array<Totals, 2> t{};
  for (size_t r = 0; r < rounds * 2; ++r) {
    const bool uring = r % 2 == 1;  // alternate, so both ways see the same machine load
    while (recv(rx.get(), sink.data(), sink.size(), 0) > 0) {
    }
    const double c0 = seconds(CLOCK_PROCESS_CPUTIME_ID), w0 = seconds(CLOCK_MONOTONIC);
    if (!uring) {
      for (const auto& s : tx) {
        if (sendto(s.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) !=
            static_cast<ssize_t>(payload.size())) {
          ++t[0].failed;
        }
      }
    } else {
      for (size_t i = 0; i < sockets; ++i)
        io_uring_prep_sendmsg(io_uring_get_sqe(&ring), tx[i].get(), &msg[i], 0);
      io_uring_submit_and_wait(&ring, static_cast<unsigned>(sockets));
      io_uring_cqe* cqe = nullptr;
      unsigned head = 0, seen = 0;
      io_uring_for_each_cqe(&ring, head, cqe) {
        if (cqe->res != static_cast<int>(payload.size())) ++t[1].failed;
        ++seen;
      }
      io_uring_cq_advance(&ring, seen);
    }
    t[uring].cpu += seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    t[uring].wall += seconds(CLOCK_MONOTONIC) - w0;
  }
  io_uring_queue_exit(&ring);
  const char* names[] = {"sendto", "io_uring"};
  for (size_t m = 0; m < 2; ++m) {
    std::printf(
        "way=%s sockets=%zu cpu_us_per_round=%.1f wall_us_per_round=%.1f cpu_us_per_send=%.2f failed=%ld\n",
        names[m], sockets, 1e6 * t[m].cpu / static_cast<double>(rounds),
        1e6 * t[m].wall / static_cast<double>(rounds), 1e6 * t[m].cpu / static_cast<double>(rounds * sockets),
        t[m].failed);
  }
  return 0;
}
