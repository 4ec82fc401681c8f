// Relay workers hosting other loops (HostedLoop, RelayWorker::host): a fake loop driven by an
// eventfd, hosted by the worker that owns a call, while RTP of that call flows.

#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "relay/HostedLoop.h"
#include "relay/RelayControl.h"
#include "relay/test/TestPeer.h"

namespace rdv::relay {
namespace {

using test::Call;
using test::Peer;
using test::setUpCall;

// Readable when kicked; each runReady() consumes the kick and reports on `done_`. With busy
// rounds left it kicks itself again, as a loop does that stopped at its budget.
class FakeLoop final : public HostedLoop {
 public:
  FakeLoop() {
    epoll_event ev{};
    ev.events = EPOLLIN;
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, work_.get(), &ev);
  }
  int fd() const override { return epoll_.get(); }
  void runReady() override {
    epoll_event ev{};
    if (epoll_wait(epoll_.get(), &ev, 1, 0) == 1) {
      uint64_t v;
      [[maybe_unused]] auto r = ::read(work_.get(), &v, sizeof(v));
    }
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof(name));
    if (calls_.load() == 0) thread_ = name;
    calls_.fetch_add(1);
    if (busyRounds_.load() > 0) {
      busyRounds_.fetch_sub(1);
      kick();
    }
    signal(done_.get());
  }
  void kick() { signal(work_.get()); }
  // True once runReady() ran at least `count` times in all (waits at most 5 s).
  bool waitCalls(uint64_t count) {
    for (int i = 0; i < 50 && calls_.load() < count; ++i) {
      pollfd p{done_.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) == 1) {
        uint64_t v;
        [[maybe_unused]] auto r = ::read(done_.get(), &v, sizeof(v));
      }
    }
    return calls_.load() >= count;
  }
  uint64_t calls() const { return calls_.load(); }
  void setBusyRounds(int n) { busyRounds_.store(n); }
  std::string thread() const { return thread_; }  // after waitCalls(1)

 private:
  static void signal(int fd) {
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd, &one, sizeof(one));
  }
  common::Fd epoll_{epoll_create1(EPOLL_CLOEXEC)};
  common::Fd work_{eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  common::Fd done_{eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  std::atomic<uint64_t> calls_{0};
  std::atomic<int> busyRounds_{0};
  std::string thread_;
};

TEST(RelayWorkerHosting, RunsAHostedLoopOnItsThreadEachTimeItIsReadableWhileRtpFlows) {
  FakeLoop loop;  // outlives the workers
  RelayControl relay(test::loopbackOptions(20));
  Peer a, b;
  Call c = setUpCall(relay, a, b);
  const size_t w = relay.workerOf(c.id).value();
  relay.workers()[w]->host(loop);
  for (uint64_t i = 1; i <= 20; ++i) {
    a.sendRtp(c.ports.rtpPort[0], static_cast<uint16_t>(i), 0xA);
    loop.kick();
    ASSERT_EQ(b.receive(1000), 172) << "packet " << i;
    ASSERT_TRUE(loop.waitCalls(i)) << "kick " << i << " did not run the hosted loop";
  }
  EXPECT_EQ(loop.thread(), "rdv-relay-" + std::to_string(w));
  EXPECT_EQ(loop.calls(), 20U) << "runReady runs only when the hosted loop is readable";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 20U);
}

// A hosted loop that always has work left (it stays readable) gets a round per worker round,
// and the worker's own sockets still get theirs: RTP keeps flowing, the loop keeps running.
TEST(RelayWorkerHosting, RtpKeepsFlowingWhileAHostedLoopStaysBusy) {
  FakeLoop loop;
  RelayControl relay(test::loopbackOptions(20));
  Peer a, b;
  Call c = setUpCall(relay, a, b);
  relay.workers()[relay.workerOf(c.id).value()]->host(loop);
  loop.setBusyRounds(1 << 30);
  loop.kick();
  ASSERT_TRUE(loop.waitCalls(1));
  for (uint16_t s = 1; s <= 50; ++s) {
    const uint64_t before = loop.calls();
    a.sendRtp(c.ports.rtpPort[0], s, 0xA);
    ASSERT_EQ(b.receive(1000), 172) << "packet " << s << " starved by the hosted loop";
    ASSERT_TRUE(loop.waitCalls(before + 1)) << "the hosted loop stopped running";
  }
  for (uint16_t s = 1; s <= 10; ++s) {
    b.sendRtp(c.ports.rtpPort[1], s, 0xB);
    ASSERT_EQ(a.receive(1000), 172);
  }
  loop.setBusyRounds(0);
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 50U);
  EXPECT_EQ(rep->streams[0][1].counters.rtpPackets, 10U);
}

// Beyond kMaxHosted loops a worker refuses (logged); the ones it took keep running.
TEST(RelayWorkerHosting, HostsAtMostMaxHostedLoops) {
  std::array<FakeLoop, RelayWorker::kMaxHosted + 1> loops;
  RelayOptions o = test::loopbackOptions(4);
  o.workers = 1;
  RelayControl relay(o);
  for (auto& l : loops) relay.workers()[0]->host(l);
  for (size_t k = 0; k < RelayWorker::kMaxHosted; ++k) {
    loops[k].kick();
    EXPECT_TRUE(loops[k].waitCalls(1)) << "loop " << k;
  }
  // The refused loop is readable from now on; loop 0's second round comes from an epoll_wait
  // after that, which would have reported the refused loop too had it been hosted.
  loops[RelayWorker::kMaxHosted].kick();
  loops[0].kick();
  ASSERT_TRUE(loops[0].waitCalls(2));
  EXPECT_EQ(loops[RelayWorker::kMaxHosted].calls(), 0U);
}

}  // namespace
}  // namespace rdv::relay
