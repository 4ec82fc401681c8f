// The TCP relay over real loopback sockets: TcpRelay + its splicer, on a thread of its own or
// hosted by a relay worker (each test runs both ways), with plain blocking TCP sockets as the
// two peers.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/Clock.h"
#include "relay/RelayWorker.h"
#include "relay/TcpRelay.h"
#include "relay/test/FreePorts.h"

namespace rdv::relay {
namespace {

using common::Fd;
using common::SockAddr;

// Records pairs as they end, so tests wait for the event instead of polling.
class Ended {
 public:
  std::function<void(const TcpPairStatus&)> hook() {
    return [this](const TcpPairStatus& st) {
      std::lock_guard lk(mu_);
      ended_.emplace_back(st.id, st.state.load());
      cv_.notify_all();
    };
  }
  // The state the pair ended in; nullopt when it did not end within 5 s.
  std::optional<TcpPairState> wait(uint64_t id) {
    std::unique_lock lk(mu_);
    std::optional<TcpPairState> out;
    cv_.wait_for(lk, std::chrono::seconds(5), [&] {
      for (auto [i, s] : ended_) out = i == id ? std::optional(s) : out;
      return out.has_value();
    });
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<uint64_t, TcpPairState>> ended_;
};

// Set by the parameterised suite for the test that runs: the splicer hosted by a relay worker.
bool gHosted = false;

struct Fixture {
  explicit Fixture(const common::Clock* clock = &common::SystemClock::instance(), uint32_t maxPairs = 16) {
    TcpRelayOptions o;
    o.portMin = test::freePortWindow(64);
    o.portMax = static_cast<uint16_t>(o.portMin + 63);
    o.maxPairs = maxPairs;
    o.splicer.clock = clock;
    o.splicer.setupTimeoutNs = 10'000'000'000ULL;
    o.splicer.pipeSize = 64 * 1024;
    o.onEnded = ended.hook();
    opts = o;
  }
  TcpRelay& relay() {
    if (!relay_) {
      opts.splicerThread = !gHosted;
      relay_ = std::make_unique<TcpRelay>(opts);
      if (gHosted) {
        worker_ = std::make_unique<RelayWorker>(
            0, WorkerOptions{}, [](SessionEnded&&) {}, [](SessionReply&&) {});
        worker_->start();
        worker_->host(relay_->hostedSplicer());
      }
    }
    return *relay_;
  }
  TcpRelayOptions opts;
  Ended ended;
  std::unique_ptr<TcpRelay> relay_;
  std::unique_ptr<RelayWorker> worker_;  // after relay_: stops before the splicer it hosts goes
};

class TcpRelayTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { gHosted = GetParam(); }
};

// A blocking client socket connected to the relay's port, from `src` (any port); reads and writes
// time out after 5 s so a broken relay fails the test instead of hanging it.
Fd connectTo(const SockAddr& relayPort, const char* src = "127.0.0.1") {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto from = *SockAddr::fromIp(src, 0);
  EXPECT_EQ(::bind(fd.get(), from.sa(), from.len()), 0);
  timeval tv{5, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  EXPECT_EQ(::connect(fd.get(), relayPort.sa(), relayPort.len()), 0) << std::strerror(errno);
  return fd;
}

// True when a connection from `src` is reset by the relay: on loopback the RST may come back
// before connect() returns, or after.
bool connectionIsReset(const SockAddr& relayPort, const char* src) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto from = *SockAddr::fromIp(src, 0);
  timeval tv{5, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::bind(fd.get(), from.sa(), from.len()) != 0) return false;
  if (::connect(fd.get(), relayPort.sa(), relayPort.len()) != 0) return errno == ECONNRESET;
  char buf[8];
  return ::recv(fd.get(), buf, sizeof(buf), 0) < 0 && errno == ECONNRESET;
}

bool sendAll(int fd, const void* data, size_t n) {
  auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// recv's result: bytes, 0 at EOF, -errno on error.
ssize_t recvSome(int fd, void* buf, size_t n) {
  const ssize_t r = ::recv(fd, buf, n, 0);
  return r >= 0 ? r : -errno;
}

uint8_t patternByte(uint64_t i, uint8_t seed) {
  return static_cast<uint8_t>((i * 2654435761ULL >> 7) + seed);
}

// Sends `total` pattern bytes, then FIN.
void sendPattern(int fd, uint64_t total, uint8_t seed) {
  std::vector<uint8_t> buf(256 * 1024);
  for (uint64_t off = 0; off < total;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), total - off));
    for (size_t i = 0; i < n; ++i) buf[i] = patternByte(off + i, seed);
    if (!sendAll(fd, buf.data(), n)) return;
    off += n;
  }
  ::shutdown(fd, SHUT_WR);
}

// Reads to EOF in `chunk`-byte reads, pausing every `pauseEvery` reads (a slow reader); returns
// the count of bytes that matched the pattern in order (stops at the first mismatch).
uint64_t receivePattern(int fd, uint8_t seed, size_t chunk, int pauseEvery) {
  std::vector<uint8_t> buf(chunk);
  uint64_t off = 0;
  for (int reads = 1;; ++reads) {
    const ssize_t r = recvSome(fd, buf.data(), buf.size());
    if (r <= 0) return off;
    for (ssize_t i = 0; i < r; ++i) {
      if (buf[static_cast<size_t>(i)] != patternByte(off, seed)) return off;
      ++off;
    }
    if (pauseEvery != 0 && reads % pauseEvery == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

struct Connected {
  std::shared_ptr<const TcpPairStatus> st;
  Fd a, b;
};

// A pair with both peers connected and the splice running (one byte each way got through).
Connected connectPair(TcpRelay& relay, TcpPairRequest req = {}) {
  auto st = relay.create(req);
  EXPECT_TRUE(st);
  if (!st) return {};
  Connected c{*st, connectTo((*st)->local[0]), connectTo((*st)->local[1])};
  char x = 'x';
  EXPECT_TRUE(sendAll(c.a.get(), &x, 1));
  EXPECT_EQ(recvSome(c.b.get(), &x, 1), 1);
  EXPECT_TRUE(sendAll(c.b.get(), &x, 1));
  EXPECT_EQ(recvSome(c.a.get(), &x, 1), 1);
  return c;
}

TEST_P(TcpRelayTest, TransfersBytesIdenticallyBothWaysWithASlowReader) {
  Fixture f;
  auto c = connectPair(f.relay());
  constexpr uint64_t kBytes = 32ULL << 20;
  uint64_t gotAtB = 0, gotAtA = 0;
  std::thread sa([&] { sendPattern(c.a.get(), kBytes, 1); });
  std::thread sb([&] { sendPattern(c.b.get(), kBytes, 2); });
  std::thread rb([&] { gotAtB = receivePattern(c.b.get(), 1, 4096, 64); });  // the slow one
  gotAtA = receivePattern(c.a.get(), 2, 256 * 1024, 0);
  sa.join();
  sb.join();
  rb.join();
  EXPECT_EQ(gotAtB, kBytes);
  EXPECT_EQ(gotAtA, kBytes);
  ASSERT_EQ(f.ended.wait(c.st->id), TcpPairState::Closed);
  EXPECT_EQ(c.st->bytes[0].get(), kBytes + 1);  // + the byte of connectPair
  EXPECT_EQ(c.st->bytes[1].get(), kBytes + 1);
  EXPECT_EQ(f.relay().splicer().counters().bytes[0].get(), kBytes + 1);
}

// A receiver that stops reading stops the sender: what the relay takes in is bounded by its
// pipe plus the kernel's socket buffers, not by how much the sender has.
TEST_P(TcpRelayTest, BackpressureStopsTheSenderWhenTheReceiverStopsReading) {
  Fixture f;
  auto c = connectPair(f.relay());
  const int fl = 1;
  ASSERT_EQ(::setsockopt(c.a.get(), IPPROTO_TCP, TCP_NODELAY, &fl, sizeof(fl)), 0);
  std::vector<uint8_t> buf(64 * 1024, 0x5A);
  uint64_t sent = 0;
  // Non-blocking sends until none has made progress for 300 ms.
  for (int quiet = 0; quiet < 3 && sent < (1ULL << 30);) {
    const ssize_t w = ::send(c.a.get(), buf.data(), buf.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
      sent += static_cast<uint64_t>(w);
      quiet = 0;
      continue;
    }
    ASSERT_EQ(errno, EAGAIN);
    pollfd p{c.a.get(), POLLOUT, 0};
    quiet += ::poll(&p, 1, 100) == 0 ? 1 : 0;
  }
  // Loopback socket buffers grow to a few MiB each (tcp_rmem/tcp_wmem max); 1 GiB would mean no
  // backpressure at all.
  EXPECT_LT(sent, 64ULL << 20) << "the sender was never stopped";
  EXPECT_LE(c.st->bytes[0].get(), sent + 1);
  // Everything still arrives once the receiver reads.
  uint64_t got = 0;
  while (got < sent) {
    const ssize_t r = recvSome(c.b.get(), buf.data(), buf.size());
    ASSERT_GT(r, 0);
    got += static_cast<uint64_t>(r);
  }
  EXPECT_EQ(got, sent);
}

TEST_P(TcpRelayTest, HalfClosePropagatesEachWayAndTheOtherDirectionKeepsFlowing) {
  Fixture f;
  auto c = connectPair(f.relay());
  ::shutdown(c.a.get(), SHUT_WR);
  char buf[16];
  EXPECT_EQ(recvSome(c.b.get(), buf, sizeof(buf)), 0);  // B sees A's FIN
  EXPECT_TRUE(sendAll(c.b.get(), "late", 4));           // B -> A still flows
  EXPECT_EQ(recvSome(c.a.get(), buf, sizeof(buf)), 4);
  EXPECT_EQ(c.st->state.load(), TcpPairState::Connected);
  EXPECT_TRUE(c.st->eof[0].load());
  ::shutdown(c.b.get(), SHUT_WR);
  EXPECT_EQ(recvSome(c.a.get(), buf, sizeof(buf)), 0);
  EXPECT_EQ(f.ended.wait(c.st->id), TcpPairState::Closed);
}

TEST_P(TcpRelayTest, ResetOnOneSideResetsTheOther) {
  Fixture f;
  auto c = connectPair(f.relay());
  linger l{1, 0};
  ::setsockopt(c.a.get(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  c.a.reset();  // RST to the relay
  char buf[16];
  EXPECT_EQ(recvSome(c.b.get(), buf, sizeof(buf)), -ECONNRESET);
  EXPECT_EQ(f.ended.wait(c.st->id), TcpPairState::Reset);
}

TEST_P(TcpRelayTest, DeleteResetsBothPeers) {
  Fixture f;
  auto c = connectPair(f.relay());
  EXPECT_TRUE(f.relay().remove(c.st->id));
  char buf[16];
  EXPECT_EQ(recvSome(c.a.get(), buf, sizeof(buf)), -ECONNRESET);
  EXPECT_EQ(recvSome(c.b.get(), buf, sizeof(buf)), -ECONNRESET);
  EXPECT_EQ(f.ended.wait(c.st->id), TcpPairState::Deleted);
  EXPECT_EQ(f.relay().find(c.st->id), nullptr);
  EXPECT_FALSE(f.relay().remove(c.st->id));
}

TEST_P(TcpRelayTest, SetupTimeoutEndsAPairWhosePeerNeverConnects) {
  common::ManualClock clock(1'000'000'000ULL);
  Fixture f(&clock);
  auto st = f.relay().create({});
  ASSERT_TRUE(st);
  Fd a = connectTo((*st)->local[0]);
  clock.advanceNs(9'000'000'000ULL);
  f.relay().checkTimeouts();
  clock.advanceNs(1'000'000'000ULL);
  f.relay().checkTimeouts();
  EXPECT_EQ(f.ended.wait((*st)->id), TcpPairState::SetupTimeout);
  EXPECT_EQ((*st)->endedNs.get(), 11'000'000'000ULL);  // at the 10 s check, not the 9 s one
  char buf[4];
  EXPECT_EQ(recvSome(a.get(), buf, sizeof(buf)), -ECONNRESET);
  EXPECT_EQ(f.relay().live(), 0U);
}

TEST_P(TcpRelayTest, IdleTimeoutEndsAPairWithNoTraffic) {
  common::ManualClock clock(1'000'000'000ULL);
  Fixture f(&clock);
  TcpPairRequest req;
  req.idleTimeoutS = 5;
  auto c = connectPair(f.relay(), req);
  clock.advanceNs(4'000'000'000ULL);
  EXPECT_TRUE(sendAll(c.a.get(), "ping", 4));  // traffic restarts the idle clock
  char buf[16];
  EXPECT_EQ(recvSome(c.b.get(), buf, sizeof(buf)), 4);
  clock.advanceNs(4'000'000'000ULL);
  f.relay().checkTimeouts();
  clock.advanceNs(1'000'000'000ULL);
  f.relay().checkTimeouts();
  EXPECT_EQ(f.ended.wait(c.st->id), TcpPairState::IdleTimeout);
  EXPECT_EQ(c.st->endedNs.get(), 10'000'000'000ULL);  // 5 s after the last byte, not 5 s after the first
  EXPECT_EQ(recvSome(c.a.get(), buf, sizeof(buf)), -ECONNRESET);
  EXPECT_EQ(recvSome(c.b.get(), buf, sizeof(buf)), -ECONNRESET);
}

TEST_P(TcpRelayTest, TotalAndPerSourceLimitsRefuseWithTheirReason) {
  Fixture f(&common::SystemClock::instance(), 3);
  f.opts.maxPairsPerSource = 2;
  TcpPairRequest fromX;
  fromX.peers[0] = SockAddr::fromIp("198.18.1.10", 0);
  ASSERT_TRUE(f.relay().create(fromX));
  ASSERT_TRUE(f.relay().create(fromX));
  auto third = f.relay().create(fromX);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, TcpRelayErrorCode::PerSourceLimit);
  ASSERT_TRUE(f.relay().create({}));
  auto full = f.relay().create({});
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, TcpRelayErrorCode::TotalLimit);
  EXPECT_EQ(f.relay().refused()[static_cast<size_t>(TcpRelayErrorCode::TotalLimit)].get(), 1U);
  EXPECT_EQ(f.relay().refused()[static_cast<size_t>(TcpRelayErrorCode::PerSourceLimit)].get(), 1U);
  EXPECT_EQ(f.relay().live(), 3U);
}

// Waits (bounded) until the splicer has accepted side `side`: accepting has no event of its own.
bool waitConnected(const TcpPairStatus& st, int side) {
  for (int i = 0; i < 5000 && !st.connected[side].load(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return st.connected[side].load();
}

TEST_P(TcpRelayTest, ConnectionsPerSourceAddressAreLimited) {
  Fixture f;
  f.opts.splicer.maxConnectionsPerSource = 1;
  auto st = f.relay().create({});
  ASSERT_TRUE(st);
  Fd a = connectTo((*st)->local[0], "127.0.0.1");
  ASSERT_TRUE(waitConnected(**st, 0));
  EXPECT_TRUE(connectionIsReset((*st)->local[1], "127.0.0.1"));  // a second live connection from 127.0.0.1
  char buf[8];
  EXPECT_EQ(f.relay().splicer().counters().refused[static_cast<size_t>(TcpRefusal::PerSourceLimit)].get(),
            1U);
  Fd b = connectTo((*st)->local[1], "127.0.0.2");
  EXPECT_TRUE(sendAll(b.get(), "hi", 2));
  EXPECT_EQ(recvSome(a.get(), buf, sizeof(buf)), 2);
}

TEST_P(TcpRelayTest, OnlyTheStatedSourceMayConnectToItsSide) {
  Fixture f;
  TcpPairRequest req;
  req.peers[0] = SockAddr::fromIp("127.0.0.2", 0);
  auto st = f.relay().create(req);
  ASSERT_TRUE(st);
  EXPECT_TRUE(connectionIsReset((*st)->local[0], "127.0.0.1"));
  char buf[8];
  EXPECT_EQ(f.relay().splicer().counters().refused[static_cast<size_t>(TcpRefusal::WrongSource)].get(), 1U);
  Fd a = connectTo((*st)->local[0], "127.0.0.2");
  Fd b = connectTo((*st)->local[1], "127.0.0.1");
  EXPECT_TRUE(sendAll(a.get(), "hello", 5));
  EXPECT_EQ(recvSome(b.get(), buf, sizeof(buf)), 5);
  EXPECT_EQ((*st)->peer[0].ip(), "127.0.0.2");
  EXPECT_EQ((*st)->state.load(), TcpPairState::Connected);
}

// The answerer's address comes with the answer, after the pair opened: a restriction set on a
// waiting side refuses other sources from then on.
TEST_P(TcpRelayTest, RestrictingAWaitingSideRefusesOtherSourcesFromThen) {
  Fixture f;
  auto st = f.relay().create({});
  ASSERT_TRUE(st);
  const uint64_t id = (*st)->id;
  ASSERT_TRUE(f.relay().restrict(id, 1, *SockAddr::fromIp("127.0.0.3", 5060)));
  ASSERT_TRUE((*st)->allowed[1].has_value());
  EXPECT_EQ((*st)->allowed[1]->ip(), "127.0.0.3");
  EXPECT_TRUE(connectionIsReset((*st)->local[1], "127.0.0.1"));
  EXPECT_EQ(f.relay().splicer().counters().refused[static_cast<size_t>(TcpRefusal::WrongSource)].get(), 1U);
  Fd a = connectTo((*st)->local[0], "127.0.0.1");
  Fd b = connectTo((*st)->local[1], "127.0.0.3");
  char buf[8];
  EXPECT_TRUE(sendAll(b.get(), "hey", 3));
  EXPECT_EQ(recvSome(a.get(), buf, sizeof(buf)), 3);
  EXPECT_FALSE(f.relay().restrict(999, 0, *SockAddr::fromIp("127.0.0.3", 0))) << "unknown pair";
}

// When the answerer connected before its answer reached the relay, the restriction checks that
// connection: the same IP keeps the pair, another IP resets it (it was not the answerer's).
TEST_P(TcpRelayTest, RestrictingAConnectedSideKeepsItsPeerOrResetsAnIntruder) {
  Fixture f;
  Connected kept = connectPair(f.relay());
  ASSERT_TRUE(f.relay().restrict(kept.st->id, 1, *SockAddr::fromIp("127.0.0.1", 0)));
  char buf[8];
  EXPECT_TRUE(sendAll(kept.a.get(), "still", 5));
  EXPECT_EQ(recvSome(kept.b.get(), buf, sizeof(buf)), 5) << "the peer it allows keeps the pair";
  EXPECT_EQ(kept.st->state.load(), TcpPairState::Connected);

  Connected intruded = connectPair(f.relay());
  ASSERT_TRUE(f.relay().restrict(intruded.st->id, 1, *SockAddr::fromIp("127.0.0.9", 0)));
  EXPECT_EQ(f.ended.wait(intruded.st->id), TcpPairState::Reset);
  EXPECT_EQ(recvSome(intruded.a.get(), buf, sizeof(buf)), -ECONNRESET);
  EXPECT_EQ(recvSome(intruded.b.get(), buf, sizeof(buf)), -ECONNRESET);
  EXPECT_EQ(f.relay().splicer().counters().refused[static_cast<size_t>(TcpRefusal::WrongSource)].get(), 1U);
  EXPECT_FALSE(f.relay().restrict(intruded.st->id, 1, *SockAddr::fromIp("127.0.0.1", 0))) << "an ended pair";
  // Commands run in order: the first restriction was applied before the second reset its pair.
  EXPECT_EQ(kept.st->state.load(), TcpPairState::Connected);
}

// With no descriptor left for a pipe the bytes wait in the kernel (counted), and flow once one
// can be had again: the pair is retried on the timer tick, not stuck waiting for an edge.
TEST_P(TcpRelayTest, OutOfDescriptorsDelaysBytesUntilAPipeCanBeHad) {
  Fixture f;
  f.opts.splicer.pipePool = 0;  // every drained pipe is closed, so the next transfer needs a new one
  auto c = connectPair(f.relay());
  // The last pipe of connectPair closes just after its byte arrived: wait for that, so that no
  // descriptor below the limit set next frees up.
  const auto& pipes = f.relay().splicer().counters().pipesOpen;
  for (int i = 0; i < 5000 && pipes.get() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(pipes.get(), 0U);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  const int lowestFree = ::dup(0);
  ASSERT_GE(lowestFree, 0);
  ::close(lowestFree);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowestFree);  // no new descriptor for anyone in this process
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  const bool sent = sendAll(c.a.get(), "abc", 3);
  const auto& failures = f.relay().splicer().counters().pipeFailures;
  for (int i = 0; i < 5000 && failures.get() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const uint64_t failed = failures.get();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(sent);
  EXPECT_GE(failed, 1U);
  char buf[8];
  EXPECT_EQ(recvSome(c.b.get(), buf, sizeof(buf)), 3);  // within the next 1 s tick (SO_RCVTIMEO 5 s)
}

INSTANTIATE_TEST_SUITE_P(Splicer, TcpRelayTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? "Hosted" : "OwnThread";
                         });

}  // namespace
}  // namespace rdv::relay
