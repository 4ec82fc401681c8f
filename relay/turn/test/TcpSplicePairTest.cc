#include "relay/turn/TcpSplicePair.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/SockAddr.h"

namespace rdv::turn {
namespace {

// A connected loopback TCP pair: (the end the test drives, the end the splice pair takes).
std::pair<common::Fd, common::Fd> tcpPair() {
  common::Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto any = *common::SockAddr::fromIp("127.0.0.1", 0);
  EXPECT_EQ(::bind(listener.get(), any.sa(), any.len()), 0);
  EXPECT_EQ(::listen(listener.get(), 1), 0);
  common::SockAddr at;
  socklen_t len = common::SockAddr::kStorage;
  ::getsockname(listener.get(), at.storage(), &len);
  common::Fd outside(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  ::connect(outside.get(), at.sa(), at.len());  // EINPROGRESS; accept completes it
  common::Fd inside(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  EXPECT_TRUE(inside.valid());
  return {std::move(outside), std::move(inside)};
}

// Waits (at most 100 ms) until `fd` has something to read or an error to report.
void awaitReadable(int fd) {
  pollfd p{fd, POLLIN, 0};
  ::poll(&p, 1, 100);
}

struct TcpSplicePairTest : ::testing::Test {
  std::pair<common::Fd, common::Fd> client = tcpPair(), peer = tcpPair();
  TcpSplicePair pair{std::move(client.second), std::move(peer.second)};
  int clientFd = client.first.get(), peerFd = peer.first.get();

  // Reads what is there now from `fd` into `into`; -1 at end of stream.
  static int drain(int fd, std::vector<std::byte>& into) {
    std::byte buf[65536];
    for (int i = 0; i < 64; ++i) {
      const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0) return -1;
      if (n < 0) return 0;
      into.insert(into.end(), buf, buf + n);
    }
    return 0;
  }
};

TEST_F(TcpSplicePairTest, BytesArriveIdenticalBothWaysAndHalfCloseIsPassedOn) {
  ASSERT_TRUE(pair.ok());
  std::vector<std::byte> sent(3 << 20);
  std::mt19937 rng(7);
  for (auto& b : sent) b = std::byte(rng());
  std::vector<std::byte> got;
  size_t at = 0;
  bool eof = false;
  // Bounded: each round either writes, pumps or reads; 3 MiB through 256 KiB pipes needs far fewer.
  for (int round = 0; round < 100000 && !eof; ++round) {
    if (at < sent.size()) {
      const ssize_t n = ::send(clientFd, sent.data() + at, std::min<size_t>(65536, sent.size() - at), MSG_DONTWAIT);
      if (n > 0) at += static_cast<size_t>(n);
      if (at == sent.size()) ::shutdown(clientFd, SHUT_WR);
    }
    ASSERT_TRUE(pair.pump());  // the other direction is still open
    if (round % 3 == 0) eof = drain(peerFd, got) < 0;  // a slower reader
  }
  ASSERT_TRUE(eof) << "no end of stream after " << got.size() << " bytes";
  EXPECT_EQ(got, sent);
  EXPECT_EQ(pair.toPeerBytes(), sent.size());

  // The other direction still works after the half-close, then its close ends the pair.
  ASSERT_EQ(::send(peerFd, "pong", 4, 0), 4);
  ::shutdown(peerFd, SHUT_WR);
  bool open = true;
  std::vector<std::byte> back;
  int end = 0;
  for (int round = 0; round < 1000 && (open || end == 0); ++round) {
    if (open) open = pair.pump();
    if (end == 0) end = drain(clientFd, back);
    if (open) awaitReadable(pair.peerFd());
    if (!open && end == 0) awaitReadable(clientFd);
  }
  EXPECT_FALSE(open);
  EXPECT_EQ(end, -1);
  ASSERT_EQ(back.size(), 4u);
  EXPECT_EQ(std::memcmp(back.data(), "pong", 4), 0);
}

TEST_F(TcpSplicePairTest, AResetPeerEndsThePairAndResetsTheClient) {
  const linger reset{1, 0};
  ::setsockopt(peerFd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  ASSERT_EQ(::send(clientFd, "x", 1, 0), 1);
  peer.first = common::Fd();  // RST towards the pair
  bool open = true;
  for (int round = 0; round < 1000 && open; ++round) {
    open = pair.pump();
    if (open) awaitReadable(pair.peerFd());
  }
  EXPECT_FALSE(open);
}

TEST_F(TcpSplicePairTest, EarlyBytesGoFirst) {
  const std::string early = "early";
  ASSERT_TRUE(pair.preload(std::as_bytes(std::span(early))));
  ASSERT_EQ(::send(clientFd, "late", 4, 0), 4);
  std::vector<std::byte> got;
  for (int round = 0; round < 1000 && got.size() < 9; ++round) {
    pair.pump();
    drain(peerFd, got);
    if (got.size() < 9) awaitReadable(peerFd);
  }
  ASSERT_EQ(got.size(), 9u);
  EXPECT_EQ(std::memcmp(got.data(), "earlylate", 9), 0);
}

TEST_F(TcpSplicePairTest, AnEventPumpsOnlyTheDirectionsItConcerns) {
  ASSERT_EQ(::send(clientFd, "up", 2, 0), 2);
  ASSERT_EQ(::send(peerFd, "down", 4, 0), 4);
  awaitReadable(pair.clientFd());
  awaitReadable(pair.peerFd());
  // The peer's socket writable (as on registration): client -> peer has nothing read yet.
  ASSERT_TRUE(pair.onEvent(true, EPOLLOUT));
  EXPECT_EQ(pair.toPeerBytes(), 0u);
  // The client's socket readable: only client -> peer moves.
  ASSERT_TRUE(pair.onEvent(false, EPOLLIN));
  EXPECT_EQ(pair.toPeerBytes(), 2u);
  EXPECT_EQ(pair.toClientBytes(), 0u);
  // The client's socket writable: peer -> client, whose source was never read, still waits.
  ASSERT_TRUE(pair.onEvent(false, EPOLLOUT));
  EXPECT_EQ(pair.toClientBytes(), 0u);
  // The peer's socket readable: peer -> client moves.
  ASSERT_TRUE(pair.onEvent(true, EPOLLIN));
  EXPECT_EQ(pair.toClientBytes(), 4u);
  EXPECT_FALSE(pair.needsMore());
  std::vector<std::byte> up, down;
  for (int round = 0; round < 100 && (up.size() < 2 || down.size() < 4); ++round) {
    drain(peerFd, up);
    drain(clientFd, down);
    if (up.size() < 2) awaitReadable(peerFd);
    if (down.size() < 4) awaitReadable(clientFd);
  }
  ASSERT_EQ(up.size(), 2u);
  ASSERT_EQ(down.size(), 4u);
  EXPECT_EQ(std::memcmp(down.data(), "down", 4), 0);
}

// turn.max_bps on an RFC 6062 connection: the pair reads only what the allocation's bucket holds,
// stops (throttled, nothing lost) and goes on as tokens come back with the clock; the bucket is
// shared by both directions.
TEST(TcpSplicePairBandwidth, ReadsOnlyWhatTheBucketHoldsAndResumesAsTokensComeBack) {
  auto client = tcpPair(), peer = tcpPair();
  TokenBucket bucket(100'000, 65'540, 0);  // 100 kB/s, 64 KiB of burst
  TcpSplicePair pair(std::move(client.second), std::move(peer.second), &bucket);
  ASSERT_TRUE(pair.ok());
  const int clientFd = client.first.get(), peerFd = peer.first.get();
  std::vector<std::byte> sent(65'540 + 50'000, std::byte{0x5a});  // the burst, then half a second's worth
  size_t at = 0;
  std::vector<std::byte> got;
  // Offers what is left and pumps at one instant until three rounds in a row move nothing.
  auto settle = [&](uint64_t nowMs) {
    for (int round = 0, idle = 0; round < 500 && idle < 3; ++round) {
      const size_t before = at + got.size();
      if (at < sent.size()) {
        const ssize_t n = ::send(clientFd, sent.data() + at, sent.size() - at, MSG_DONTWAIT);
        if (n > 0) at += static_cast<size_t>(n);
      }
      ASSERT_TRUE(pair.pump(nowMs));
      TcpSplicePairTest::drain(peerFd, got);
      idle = at + got.size() == before ? idle + 1 : 0;
      if (idle > 0) awaitReadable(peerFd);
    }
  };
  settle(0);
  EXPECT_EQ(got.size(), 65'540u) << "the burst, then nothing at the same instant";
  EXPECT_TRUE(pair.throttled());
  EXPECT_EQ(bucket.available(0), 0u);
  settle(500);  // half a second: 50 kB more
  EXPECT_EQ(got.size(), sent.size());
  // The other direction draws on the same bucket: nothing left for it at this instant...
  ASSERT_EQ(::send(peerFd, "down", 4, 0), 4);
  awaitReadable(pair.peerFd());
  ASSERT_TRUE(pair.onEvent(true, EPOLLIN, 500));
  EXPECT_EQ(pair.toClientBytes(), 0u);
  EXPECT_TRUE(pair.throttled());
  // ...and goes on once tokens have come back (10 ms: 1000 bytes).
  ASSERT_TRUE(pair.resume(510));
  EXPECT_EQ(pair.toClientBytes(), 4u);
  EXPECT_EQ(pair.toPeerBytes(), sent.size());
  EXPECT_EQ(bucket.available(510), 1'000u - 4u);
}

}  // namespace
}  // namespace rdv::turn
