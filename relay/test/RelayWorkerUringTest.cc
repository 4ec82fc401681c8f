// The io_uring send path (relay/UringSender.h, RelayWorkerSend.cc): the sender on its own, with
// real sockets, and a relay worker's round of sends in both modes (test::SendPaths). A Gate
// hosted on the worker holds it inside one round while the test sends packets and posts
// commands, so that everything the test sent is handled in the worker's next round.

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "common/Fd.h"
#include "relay/HostedLoop.h"
#include "relay/RelayControl.h"
#include "relay/RelayWorker.h"
#include "relay/UringSender.h"
#include "relay/test/TestPeer.h"

namespace rdv::relay {
namespace {

using test::Peer;

std::span<const std::byte> bytesOf(const void* p, size_t n) {
  return {static_cast<const std::byte*>(p), n};
}

std::unique_ptr<UringSender> sender(uint32_t depth) {
  auto s = UringSender::create(depth);
  if (!s) return nullptr;
  return std::move(*s);
}

TEST(UringSender, SendsEveryQueuedDatagramInQueueOrderWithOneEnter) {
  auto s = sender(64);
  ASSERT_NE(s, nullptr) << "io_uring must work on this machine";
  Peer rx;
  std::array<std::array<uint8_t, test::kRtpSize>, 40> pkts{};
  for (uint16_t k = 0; k < pkts.size(); ++k) pkts[k] = Peer::rtp(k, 0xC0DE);
  std::array<common::Fd, 4> fds;
  for (auto& fd : fds) fd = common::Fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  for (uint16_t k = 0; k < pkts.size(); ++k)
    s->queue(fds[k % fds.size()].get(), &rx.addr(), bytesOf(pkts[k].data(), pkts[k].size()));
  EXPECT_EQ(s->queued(), pkts.size());
  ASSERT_EQ(s->submit(), pkts.size());
  EXPECT_EQ(s->enterCalls(), 1U);
  EXPECT_EQ(s->queued(), 0U);
  for (uint32_t k = 0; k < pkts.size(); ++k)
    EXPECT_EQ(s->result(k), static_cast<int32_t>(test::kRtpSize)) << k;
  pkts = {};  // the caller's buffers are free again: what arrives was sent before this
  std::array<int, 4> lastSeq{-1, -1, -1, -1};
  for (size_t k = 0; k < 40; ++k) {
    uint8_t buf[2048];
    common::SockAddr from;
    ASSERT_EQ(rx.receive(1000, buf, &from), static_cast<ssize_t>(test::kRtpSize)) << k;
    const int seq = (buf[2] << 8) | buf[3];
    EXPECT_EQ(buf[12], static_cast<uint8_t>(seq + 12)) << "payload intact";
    const int sock = seq % 4;
    EXPECT_GT(seq, lastSeq[sock]) << "in order per socket";
    lastSeq[sock] = seq;
  }
}

// MSG_DONTWAIT in every request: a datagram that finds the socket's buffer full completes at once
// with -EAGAIN instead of waiting in the kernel for space (and being sent later from a buffer the
// caller has reused). AF_UNIX datagrams: the receiver's queue limit makes the sender's buffer full.
TEST(UringSender, AFullSocketBufferCompletesWithEagainAtOnceAndLeavesNothingInFlight) {
  auto s = sender(256);
  ASSERT_NE(s, nullptr);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
  common::Fd txFd(sv[0]), rxFd(sv[1]);
  std::vector<std::array<uint8_t, 1000>> bufs(200);
  for (size_t k = 0; k < bufs.size(); ++k) bufs[k].fill(static_cast<uint8_t>(k));
  for (auto& b : bufs) s->queue(txFd.get(), nullptr, bytesOf(b.data(), b.size()));
  ASSERT_EQ(s->submit(), bufs.size());
  size_t sent = 0;
  size_t again = 0;
  for (uint32_t k = 0; k < bufs.size(); ++k) {
    if (s->result(k) == 1000) {
      ++sent;
    } else {
      EXPECT_EQ(s->result(k), -EAGAIN) << k;
      ++again;
    }
  }
  EXPECT_GT(sent, 0U);
  EXPECT_GT(again, 0U) << "the receiver's queue must have filled";
  for (auto& b : bufs) b.fill(0xFF);  // reused: a request still in flight would now send 0xFF
  // Drain slowly: space frees up, and a parked request would be sent into it.
  size_t got = 0;
  for (;;) {
    pollfd p{rxFd.get(), POLLIN, 0};
    if (::poll(&p, 1, 200) != 1) break;
    std::array<uint8_t, 2000> in{};
    ASSERT_EQ(::recv(rxFd.get(), in.data(), in.size(), 0), 1000);
    EXPECT_NE(in[0], 0xFF) << "datagram " << got << " came from a request that outlived submit()";
    ++got;
  }
  EXPECT_EQ(got, sent);
}

// Holds a worker inside runReady() from close() until open(): whatever the test sends and posts
// meanwhile is handled in the worker's next round.
class Gate final : public HostedLoop {
 public:
  int fd() const override { return kick_.get(); }
  void runReady() override {
    uint64_t v;
    [[maybe_unused]] auto r = ::read(kick_.get(), &v, sizeof(v));
    std::unique_lock lock(mutex_);
    inside_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
    inside_ = false;
  }
  // Returns once the worker is held (false if it was not within 5 s).
  bool close() {
    std::unique_lock lock(mutex_);
    open_ = false;
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(kick_.get(), &one, sizeof(one));
    return changed_.wait_for(lock, std::chrono::seconds(5), [this] { return inside_; });
  }
  void open() {
    const std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  common::Fd kick_{eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = true;
  bool inside_ = false;
};

uint64_t total(const RelayControl& relay, Counter WorkerCounters::*c) {
  uint64_t n = 0;
  for (const auto& w : relay.workers()) n += (w->counters().*c).get();
  return n;
}
uint64_t sendFailed(const RelayControl& relay) {
  uint64_t n = 0;
  for (const auto& w : relay.workers()) n += w->counters().drop(DropReason::SendFailed).get();
  return n;
}

// One worker, so that every session's packets meet in the same round.
RelayOptions oneWorker(uint16_t pairs) {
  RelayOptions o = test::loopbackOptions(pairs);
  o.workers = 1;
  return o;
}

class RelayWorkerRound : public test::SendPaths {};
INSTANTIATE_TEST_SUITE_P(SendPaths, RelayWorkerRound, ::testing::Bool(), test::sendPathName);

TEST_P(RelayWorkerRound, ManySessionsPacketsOfOneRoundArriveCompleteInOrderWithExactCounters) {
  constexpr int kSessions = 20;
  constexpr uint16_t kPackets = 3;
  Gate gate;  // outlives the relay's worker
  RelayControl relay(oneWorker(2 * kSessions));
  relay.workers()[0]->host(gate);
  std::vector<std::unique_ptr<Peer>> as, bs;
  std::vector<test::Call> calls;
  for (int k = 0; k < kSessions; ++k) {
    as.push_back(std::make_unique<Peer>());
    bs.push_back(std::make_unique<Peer>());
    calls.push_back(test::setUpCall(relay, *as[k], *bs[k], "call-" + std::to_string(k)));
  }
  ASSERT_TRUE(test::queryNow(relay, calls.back().id)) << "the worker has the sessions";
  const uint64_t syscalls = total(relay, &WorkerCounters::sendSyscalls);
  ASSERT_TRUE(gate.close());
  for (uint16_t seq = 1; seq <= kPackets; ++seq) {
    for (int k = 0; k < kSessions; ++k) as[k]->sendRtp(calls[k].ports.rtpPort[0], seq, 0x100U + k);
  }
  gate.open();
  for (int k = 0; k < kSessions; ++k) {
    for (uint16_t seq = 1; seq <= kPackets; ++seq) {
      uint8_t buf[2048];
      ASSERT_EQ(bs[k]->receive(1000, buf), static_cast<ssize_t>(test::kRtpSize))
          << "session " << k << " seq " << seq;
      EXPECT_EQ((buf[2] << 8) | buf[3], seq) << "session " << k << ": in order";
      EXPECT_EQ(buf[11], static_cast<uint8_t>(0x100U + k)) << "to its own destination";
    }
  }
  ASSERT_TRUE(test::queryNow(relay, calls[0].id));  // a later round: the sends are counted
  EXPECT_EQ(total(relay, &WorkerCounters::packetsRelayed), uint64_t{kSessions} * kPackets);
  EXPECT_EQ(total(relay, &WorkerCounters::bytesRelayed), uint64_t{kSessions} * kPackets * test::kRtpSize);
  EXPECT_EQ(sendFailed(relay), 0U);
  const uint64_t used = total(relay, &WorkerCounters::sendSyscalls) - syscalls;
  if (GetParam()) {
    EXPECT_EQ(used, 1U) << "the round's " << kSessions * kPackets << " packets in one io_uring submission";
  } else {
    EXPECT_EQ(used, uint64_t{kSessions}) << "one sendmmsg per destination socket";
  }
}

// UDP refuses destination port 0 (EINVAL) at once: a send that fails is counted as send_failed,
// and the other sends of the same round still go. (A full socket buffer fails the same way, with
// EAGAIN: UringSender.AFullSocketBuffer... pins that it completes at once.)
TEST_P(RelayWorkerRound, AFailedSendIsCountedAndTheOthersOfTheRoundArrive) {
  Gate gate;
  RelayControl relay(oneWorker(4));
  relay.workers()[0]->host(gate);
  Peer a1, b1, a2, b2;
  test::Call bad = test::setUpCall(relay, a1, b1, "refused");
  LegParams nowhere = test::towards(b1);
  nowhere.rtpRemote.setPort(0);
  ASSERT_TRUE(relay.updateLeg(bad.id, 0, 1, nowhere));
  test::Call good = test::setUpCall(relay, a2, b2, "fine");
  ASSERT_TRUE(test::queryNow(relay, good.id));
  ASSERT_TRUE(gate.close());
  for (uint16_t seq = 1; seq <= 4; ++seq) {
    a1.sendRtp(bad.ports.rtpPort[0], seq, 0xBAD);
    a2.sendRtp(good.ports.rtpPort[0], seq, 0x600D);
  }
  gate.open();
  for (uint16_t seq = 1; seq <= 4; ++seq) {
    uint8_t buf[2048];
    ASSERT_EQ(b2.receive(1000, buf), static_cast<ssize_t>(test::kRtpSize)) << seq;
    EXPECT_EQ((buf[2] << 8) | buf[3], seq);
  }
  auto rep = test::queryNow(relay, bad.id);  // after the round: its counts are in
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 4U) << "received and counted on its leg";
  EXPECT_EQ(sendFailed(relay), 4U);
  EXPECT_EQ(total(relay, &WorkerCounters::packetsRelayed), 4U);
}

// A session removed by a command of the same round as its packets: commands run first, so the
// packets are never handled, and nothing is sent from (or queued toward) its closed sockets.
TEST_P(RelayWorkerRound, ASessionRemovedInTheRoundOfItsPacketsSendsNothing) {
  Gate gate;
  RelayControl relay(oneWorker(4));
  relay.workers()[0]->host(gate);
  Peer a, b, a2, b2;
  test::Call c = test::setUpCall(relay, a, b, "leaving");
  test::Call other = test::setUpCall(relay, a2, b2, "staying");
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), static_cast<ssize_t>(test::kRtpSize));
  ASSERT_TRUE(gate.close());
  for (uint16_t seq = 2; seq <= 6; ++seq) a.sendRtp(c.ports.rtpPort[0], seq, 0xA);
  std::optional<SessionReport> removed;
  relay.remove(c.id, [&](std::optional<SessionReport> r) { removed = std::move(r); });
  gate.open();
  for (int i = 0; i < 200 && !removed; ++i) {
    pollfd p{relay.replyFd(), POLLIN, 0};
    ::poll(&p, 1, 10);
    relay.drainReplies();
  }
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->streams[0][0].counters.rtpPackets, 1U)
      << "the packets of its last round were never handled";
  EXPECT_EQ(b.receive(300), -1) << "nothing after the removal";
  // The worker goes on: the other session still forwards.
  a2.sendRtp(other.ports.rtpPort[0], 1, 0xB);
  EXPECT_EQ(b2.receive(1000), static_cast<ssize_t>(test::kRtpSize));
  ASSERT_TRUE(test::queryNow(relay, other.id));  // a later round: the send is counted
  EXPECT_EQ(total(relay, &WorkerCounters::packetsRelayed), 2U);
}

// Refuses io_uring_setup with EPERM for this process from now on, as a container's seccomp
// profile does (Docker's default refuses io_uring). False when the filter cannot be installed.
bool refuseIoUring() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

// In a child process under such a profile: the worker cannot set up its ring, and forwards with
// sendmmsg (one send syscall per packet at one packet per event) instead of failing.
TEST(RelayWorkerUring, FallsBackToSendmmsgWhenASeccompProfileRefusesIoUring) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!refuseIoUring()) _exit(2);
    if (UringSender::create(8)) _exit(3);  // the profile works
    {
      RelayControl relay(oneWorker(2));  // relay.io_uring = 1
      Peer a, b;
      test::Call c = test::setUpCall(relay, a, b);
      for (uint16_t seq = 1; seq <= 5; ++seq) {
        a.sendRtp(c.ports.rtpPort[0], seq, 0xA);
        if (b.receive(1000) != static_cast<ssize_t>(test::kRtpSize)) _exit(4);
      }
      if (!test::queryNow(relay, c.id)) _exit(5);
      if (total(relay, &WorkerCounters::packetsRelayed) != 5 ||
          total(relay, &WorkerCounters::sendSyscalls) != 5)
        _exit(6);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: no seccomp, 3: io_uring still set up, 4: not forwarded, 6: counts";
}

}  // namespace
}  // namespace rdv::relay
