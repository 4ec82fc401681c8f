// RFC 6062 through the TurnServer's sockets on loopback: a TCP allocation over a TCP control
// connection; Connect to a closed port answered 447; a peer without a permission refused; a
// permitted peer announced by ConnectionAttempt, bound by ConnectionBind on a new connection and
// spliced both ways; an unbound peer connection closed 30 s later (injected clock). Every wait
// is a poll() with a deadline.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <functional>
#include <string>
#include <vector>

#include "relay/turn/test/TurnTestSupport.h"

namespace rdv::turn {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared TURN test names

const common::SockAddr kLoopback = *common::SockAddr::fromIp("127.0.0.1", 0);

common::Fd connectTo(const common::SockAddr& to) {
  common::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(::connect(fd.get(), to.sa(), to.len()), 0);
  return fd;
}

bool readable(int fd, int timeoutMs = 2000) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeoutMs) == 1;
}

// Exactly `n` bytes from a stream within the deadline; fewer when it ends or times out.
std::vector<std::byte> readExactly(int fd, size_t n) {
  std::vector<std::byte> out(n);
  size_t have = 0;
  for (int i = 0; i < 100 && have < n && readable(fd); ++i) {
    const ssize_t r = ::recv(fd, out.data() + have, n - have, 0);
    if (r <= 0) break;
    have += static_cast<size_t>(r);
  }
  out.resize(have);
  return out;
}

// One STUN message from a stream.
std::vector<std::byte> readStun(int fd) {
  auto head = readExactly(fd, 20);
  if (head.size() < 20) return {};
  const size_t len = (std::to_integer<size_t>(head[2]) << 8) | std::to_integer<size_t>(head[3]);
  auto body = readExactly(fd, len);
  head.insert(head.end(), body.begin(), body.end());
  return head;
}

// True when the other end closed `fd` (EOF or reset) within the deadline.
bool closedByServer(int fd) {
  std::byte b[64];
  for (int i = 0; i < 50 && readable(fd, 4000); ++i) {
    const ssize_t r = ::recv(fd, b, sizeof(b), 0);
    if (r <= 0) return true;
  }
  return false;
}

struct TurnServerTcpTest : ::testing::TestWithParam<bool> {
  common::ManualClock clock;
  std::unique_ptr<TurnServer> server;
  std::unique_ptr<relay::RelayWorker> host;  // hosts the server in the Hosted runs; stops first
  common::Fd control;
  std::string nonce;
  uint8_t txn = 0;

  void SetUp() override {
    TurnServerOptions o;
    o.listen = kLoopback;
    o.relayAddress = kLoopback;
    auto s = startServer(o, clock, GetParam() ? &host : nullptr);
    ASSERT_TRUE(s) << s.error();
    server = std::move(*s);
    control = connectTo(server->localAddress());
  }

  // Sends a request on `fd`; returns the answer's code (0 = success), -1 without one.
  int ask(int fd, uint16_t m, std::vector<std::byte>& reply, const std::function<void(StunBuilder&)>& fill,
          bool sign = true) {
    const auto req = request(m, ++txn, fill, sign ? &nonce : nullptr);
    EXPECT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    reply = readStun(fd);
    return answerCode(reply, nonce);
  }

  common::SockAddr allocateTcp() {
    std::vector<std::byte> reply;
    auto tcp = [](StunBuilder& b) { b.addRequestedTransport(6); };
    EXPECT_EQ(ask(control.get(), method::kAllocate, reply, tcp, false), 401);
    EXPECT_EQ(ask(control.get(), method::kAllocate, reply, tcp), 0);
    return StunView::parse(reply)->xorAddress(attr::kXorRelayedAddress).value_or(common::SockAddr());
  }
};

TEST_P(TurnServerTcpTest, ConnectToAClosedPortIs447) {
  allocateTcp();
  // A port nobody listens on: bind a socket, note its port, close it.
  common::SockAddr closed;
  {
    common::Fd probe(::socket(AF_INET, SOCK_STREAM, 0));
    ASSERT_EQ(::bind(probe.get(), kLoopback.sa(), kLoopback.len()), 0);
    socklen_t len = common::SockAddr::kStorage;
    ::getsockname(probe.get(), closed.storage(), &len);
  }
  std::vector<std::byte> reply;
  EXPECT_EQ(ask(control.get(), method::kConnect, reply,
                [&](StunBuilder& b) { b.addXorAddress(attr::kXorPeerAddress, closed); }),
            447);
  EXPECT_TRUE(StunView::parse(reply)->checkIntegrity(stun::longTermKey("alice", "rdv", "pw")));
  EXPECT_EQ(server->counters().refused[static_cast<size_t>(Refusal::ConnectFailed)].get(), 1u);
}

TEST_P(TurnServerTcpTest, PermittedPeerIsAnnouncedBoundAndSplicedOthersAreRefused) {
  const auto relayed = allocateTcp();
  ASSERT_NE(relayed.port(), 0);
  // No permission yet: the peer's connection is closed, nothing announced.
  common::Fd stranger = connectTo(relayed);
  EXPECT_TRUE(closedByServer(stranger.get()));

  std::vector<std::byte> reply;
  ASSERT_EQ(ask(control.get(), method::kCreatePermission, reply,
                [&](StunBuilder& b) { b.addXorAddress(attr::kXorPeerAddress, kLoopback); }),
            0);
  common::Fd peer = connectTo(relayed);
  const auto attempt = readStun(control.get());
  auto view = StunView::parse(attempt);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->method(), method::kConnectionAttempt);
  EXPECT_EQ(view->messageClass(), MessageClass::Indication);
  const auto id = view->u32(attr::kConnectionId);
  ASSERT_TRUE(id);

  common::Fd data = connectTo(server->localAddress());
  ASSERT_EQ(ask(data.get(), method::kConnectionBind, reply, [&](StunBuilder& b) { b.addU32(attr::kConnectionId, *id); }),
            0);
  ASSERT_EQ(::send(data.get(), "hello", 5, 0), 5);
  EXPECT_EQ(readExactly(peer.get(), 5), std::vector<std::byte>(
                                            {std::byte{'h'}, std::byte{'e'}, std::byte{'l'}, std::byte{'l'}, std::byte{'o'}}));
  ASSERT_EQ(::send(peer.get(), "ok", 2, 0), 2);
  EXPECT_EQ(readExactly(data.get(), 2), std::vector<std::byte>({std::byte{'o'}, std::byte{'k'}}));
  EXPECT_EQ(server->counters().tcpConnections.get(), 1u);
  // The peer's end of stream reaches the client; the client's close then ends the pair.
  ::shutdown(peer.get(), SHUT_WR);
  EXPECT_TRUE(closedByServer(data.get()));
  data = common::Fd();
  EXPECT_TRUE(closedByServer(peer.get()));
}

TEST_P(TurnServerTcpTest, UnboundPeerConnectionIsClosedAfterThirtySeconds) {
  const auto relayed = allocateTcp();
  std::vector<std::byte> reply;
  ASSERT_EQ(ask(control.get(), method::kCreatePermission, reply,
                [&](StunBuilder& b) { b.addXorAddress(attr::kXorPeerAddress, kLoopback); }),
            0);
  common::Fd peer = connectTo(relayed);
  ASSERT_FALSE(readStun(control.get()).empty());  // the ConnectionAttempt
  EXPECT_EQ(server->counters().tcpConnections.get(), 1u);
  clock.advanceMs(31'000);  // no ConnectionBind within 30 s
  EXPECT_TRUE(closedByServer(peer.get()));
  EXPECT_EQ(server->counters().tcpConnections.get(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Loop, TurnServerTcpTest, ::testing::Bool(), hostingName);

}  // namespace
}  // namespace rdv::turn
