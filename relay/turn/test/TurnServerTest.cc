// The TurnServer's sockets on loopback: Binding over UDP and TCP, an Allocate through the 401
// challenge, ChannelData both ways to a real peer socket, Refresh 0, expiry on the injected clock,
// and a junk TCP stream being closed. Every wait is a poll() with a deadline.
#include "relay/turn/TurnServer.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <vector>

#include "relay/stun/ChannelData.h"
#include "relay/turn/test/TurnTestSupport.h"

namespace rdv::turn {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared TURN test names

common::Fd boundSocket(int type) {
  common::Fd fd(::socket(AF_INET, type, 0));
  const auto any = *common::SockAddr::fromIp("127.0.0.1", 0);
  EXPECT_EQ(::bind(fd.get(), any.sa(), any.len()), 0);
  return fd;
}

common::SockAddr localOf(int fd) {
  common::SockAddr a;
  socklen_t len = common::SockAddr::kStorage;
  ::getsockname(fd, a.storage(), &len);
  return a;
}

// One datagram or read within `timeoutMs`; empty on timeout.
std::vector<std::byte> receive(int fd, int timeoutMs = 2000) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeoutMs) != 1) return {};
  std::vector<std::byte> buf(2048);
  const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
  buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return buf;
}

struct TurnServerTest : ::testing::TestWithParam<bool> {
  std::optional<common::SockAddr> advertise;  // set by a derived fixture's constructor
  uint16_t portMin = 0;
  common::ManualClock clock;
  std::unique_ptr<TurnServer> server;
  std::unique_ptr<relay::RelayWorker> host;  // hosts the server in the Hosted runs; stops first
  common::Fd client = boundSocket(SOCK_DGRAM);
  common::Fd peer = boundSocket(SOCK_DGRAM);
  std::string nonce;
  uint8_t txn = 0;

  void SetUp() override {
    TurnServerOptions o;
    o.listen = *common::SockAddr::fromIp("127.0.0.1", 0);
    o.relayAddress = *common::SockAddr::fromIp("127.0.0.1", 0);
    o.relayAdvertise = advertise;
    auto s = startServer(o, clock, GetParam() ? &host : nullptr);
    ASSERT_TRUE(s) << s.error();
    server = std::move(*s);
    portMin = o.portMin;
    const auto& to = server->localAddress();
    ASSERT_EQ(::connect(client.get(), to.sa(), to.len()), 0);
  }

  // Sends a request from `client`; returns the answer's error code (0 = success) and the reply.
  int ask(uint16_t m, std::vector<std::byte>& reply, const std::function<void(StunBuilder&)>& fill, bool sign = true) {
    const auto req = request(m, ++txn, fill, sign ? &nonce : nullptr);
    EXPECT_EQ(::send(client.get(), req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    reply = receive(client.get());
    return answerCode(reply, nonce);
  }

  // Allocate, then bind channel 0x4001 to the peer socket; returns the relayed address.
  common::SockAddr allocateAndBind() {
    std::vector<std::byte> reply;
    auto udp = [](StunBuilder& b) { b.addRequestedTransport(17); };
    EXPECT_EQ(ask(method::kAllocate, reply, udp, false), 401);
    EXPECT_EQ(ask(method::kAllocate, reply, udp), 0);
    auto relayed = StunView::parse(reply)->xorAddress(attr::kXorRelayedAddress);
    EXPECT_TRUE(relayed);
    const auto peerAddr = localOf(peer.get());
    EXPECT_EQ(ask(method::kChannelBind, reply,
                  [&](StunBuilder& b) { b.addChannelNumber(0x4001).addXorAddress(attr::kXorPeerAddress, peerAddr); }),
              0);
    return relayed.value_or(common::SockAddr());
  }
};

TEST_P(TurnServerTest, AnswersBindingOverUdpAndTcp) {
  std::vector<std::byte> reply;
  EXPECT_EQ(ask(method::kBinding, reply, [](StunBuilder&) {}, false), 0);
  EXPECT_EQ(StunView::parse(reply)->xorAddress(attr::kXorMappedAddress), localOf(client.get()));

  common::Fd tcp(::socket(AF_INET, SOCK_STREAM, 0));
  const auto& to = server->localAddress();
  ASSERT_EQ(::connect(tcp.get(), to.sa(), to.len()), 0);
  std::array<std::byte, 64> buf{};
  StunBuilder b(buf, method::kBinding, MessageClass::Request, stun::TransactionId{});
  ASSERT_EQ(::send(tcp.get(), b.bytes().data(), b.size(), 0), static_cast<ssize_t>(b.size()));
  auto answer = receive(tcp.get());
  auto r = StunView::parse(answer);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->messageClass(), MessageClass::SuccessResponse);
  EXPECT_EQ(r->xorAddress(attr::kXorMappedAddress), localOf(tcp.get()));
  const std::array<std::byte, 8> junk{std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}};
  ASSERT_EQ(::send(tcp.get(), junk.data(), junk.size(), 0), 8);
  EXPECT_TRUE(receive(tcp.get()).empty());  // closed: recv returns 0
}

TEST_P(TurnServerTest, RelaysChannelDataBothWaysAndRefreshZeroEndsIt) {
  const auto relayed = allocateAndBind();
  const std::array<std::byte, 9> frame{std::byte{0x40}, std::byte{0x01}, std::byte{0}, std::byte{5},
                                       std::byte{1},    std::byte{2},    std::byte{3}, std::byte{4}, std::byte{5}};
  ASSERT_EQ(::send(client.get(), frame.data(), frame.size(), 0), 9);
  auto atPeer = receive(peer.get());
  ASSERT_EQ(atPeer.size(), 5u);
  EXPECT_EQ(atPeer[4], std::byte{5});
  ASSERT_EQ(::sendto(peer.get(), atPeer.data(), atPeer.size(), 0, relayed.sa(), relayed.len()), 5);
  auto atClient = receive(client.get());
  auto cd = stun::ChannelDataView::parse(atClient);
  ASSERT_TRUE(cd);
  EXPECT_EQ(cd->channel(), 0x4001);
  EXPECT_EQ(cd->data().size(), 5u);
  EXPECT_EQ(server->counters().toPeerPackets.get(), 1u);
  EXPECT_EQ(server->counters().toClientPackets.get(), 1u);

  std::vector<std::byte> reply;
  EXPECT_EQ(ask(method::kRefresh, reply, [](StunBuilder& b) { b.addU32(attr::kLifetime, 0); }), 0);
  EXPECT_EQ(server->counters().allocations.get(), 0u);
  ASSERT_EQ(::send(client.get(), frame.data(), frame.size(), 0), 9);
  EXPECT_TRUE(receive(peer.get(), 300).empty());  // nothing relayed without an allocation
  EXPECT_EQ(server->counters().refused[static_cast<size_t>(Refusal::NoAllocation)].get(), 1u);
}

TEST_P(TurnServerTest, AllocationsExpireOnTheServersClock) {
  allocateAndBind();
  EXPECT_EQ(server->counters().allocations.get(), 1u);
  clock.advanceMs(601'000);
  // The sweep runs once a second of real time: wait for it, bounded.
  for (int i = 0; i < 40 && server->counters().allocations.get() != 0; ++i) {
    pollfd none{};
    ::poll(&none, 0, 100);
  }
  EXPECT_EQ(server->counters().allocations.get(), 0u);
}

struct TurnServerAdvertiseTest : TurnServerTest {
  TurnServerAdvertiseTest() { advertise = common::SockAddr::fromIp("192.0.2.10", 0); }
};

TEST_P(TurnServerAdvertiseTest, ToldRelayedAddressIsTheAdvertisedOneOnTheBoundPort) {
  const auto relayed = allocateAndBind();
  EXPECT_EQ(relayed.ip(), "192.0.2.10");
  EXPECT_GE(relayed.port(), portMin);
  EXPECT_LE(relayed.port(), portMin + 7);
  // Data still flows through the socket bound on 127.0.0.1.
  const std::array<std::byte, 6> frame{std::byte{0x40}, std::byte{0x01}, std::byte{0}, std::byte{2}, std::byte{7},
                                       std::byte{8}};
  ASSERT_EQ(::send(client.get(), frame.data(), frame.size(), 0), 6);
  EXPECT_EQ(receive(peer.get()).size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Loop, TurnServerTest, ::testing::Bool(), hostingName);
INSTANTIATE_TEST_SUITE_P(Loop, TurnServerAdvertiseTest, ::testing::Bool(), hostingName);

}  // namespace
}  // namespace rdv::turn
