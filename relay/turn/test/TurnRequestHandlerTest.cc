#include "relay/turn/TurnRequestHandler.h"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "relay/stun/StunBuilder.h"
#include "relay/turn/TcpConnectionTable.h"
#include "relay/turn/test/TurnTestSupport.h"

namespace rdv::turn {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared TURN test names

common::SockAddr addr(const char* ip, uint16_t port) { return *common::SockAddr::fromIp(ip, port); }

// Relayed ports from a counter; records what is open.
struct FakePorts : RelayPorts {
  std::set<uint32_t> open_;
  uint16_t next = 50000;
  bool full = false;
  std::map<uint32_t, uint8_t> transports;
  TcpConnectionTable tcp;
  std::vector<std::pair<uint32_t, FiveTuple>> bound;
  std::optional<common::SockAddr> open(uint32_t id, uint8_t transport) override {
    if (full) return std::nullopt;
    open_.insert(id);
    transports[id] = transport;
    return addr("192.0.2.1", next++);
  }
  void close(uint32_t id) override {
    open_.erase(id);
    for (uint32_t c : tcp.ofAllocation(id)) tcp.remove(c);
  }
  uint16_t connect(uint32_t id, const common::SockAddr& peer, const stun::TransactionId& tid, uint64_t nowMs) override {
    auto c = tcp.connect(id, peer, tid, nowMs);
    return c ? 0 : c.error();
  }
  uint32_t awaitingBind(uint32_t connectionId, uint64_t nowMs) override { return tcp.awaitingBind(connectionId, nowMs); }
  void bind(uint32_t connectionId, const FiveTuple& data, uint64_t nowMs) override {
    if (tcp.bind(connectionId, nowMs)) bound.emplace_back(connectionId, data);
  }
};

struct Options {
  std::vector<std::pair<uint16_t, std::vector<std::byte>>> attrs{};
  std::optional<common::SockAddr> peer{};
  bool sign = true;
  std::string password = "wonderland";
};

struct TurnRequestHandlerTest : ::testing::Test {
  FakePorts ports;
  TurnCounters counters;
  TurnRequestHandler handler{Credentials("rdv", {{"alice", "wonderland"}, {"bob", "builder"}}, "s3cret"),
                             *PeerPolicy::create({}), AllocationLimits{.perUser = 1, .total = 10}, 600, ports,
                             counters};
  FiveTuple tuple{addr("198.51.100.1", 4000), addr("192.0.2.1", 3478), kUdp};
  std::array<std::byte, 1500> req{}, out{};
  std::vector<std::byte> last;
  std::string nonce;
  uint64_t nowMs = 1'000'000, wallS = 1'700'000'000;
  uint8_t txn = 0;

  static constexpr int kLater = -2;  // no answer now (Connect in progress)
  // Sends one request; returns the answer's error code (0 = success) and keeps it in `last`.
  int ask(uint16_t m, const std::string& user, const Options& o = {}) {
    stun::TransactionId id{};
    id[0] = std::byte{++txn};
    StunBuilder b(req, m, MessageClass::Request, id);
    for (const auto& [type, value] : o.attrs) b.add(type, value);
    if (o.peer) b.addXorAddress(attr::kXorPeerAddress, *o.peer);
    if (o.sign) {
      b.addText(attr::kUsername, user).addText(attr::kRealm, "rdv").addText(attr::kNonce, nonce);
      b.addIntegrity(stun::longTermKey(user, "rdv", o.password));
    }
    b.addFingerprint();
    auto view = StunView::parse(b.bytes());
    EXPECT_TRUE(view);
    auto answer = handler.handle(*view, tuple, nowMs, wallS, out);
    last.assign(answer.begin(), answer.end());
    if (answer.empty()) return kLater;
    auto reply = StunView::parse(last);
    EXPECT_TRUE(reply);
    if (!reply) return -1;
    EXPECT_TRUE(reply->checkFingerprint());
    if (auto n = reply->text(attr::kNonce)) nonce = std::string(*n);
    if (reply->messageClass() == MessageClass::SuccessResponse) return 0;
    return reply->errorCode() ? reply->errorCode()->code : -1;
  }
  static std::vector<std::byte> u32(uint32_t v) {
    return {std::byte(v >> 24), std::byte(v >> 16), std::byte(v >> 8), std::byte(v)};
  }
  Options udp() const { return {.attrs = {{attr::kRequestedTransport, u32(17u << 24)}}}; }
  int allocate(const std::string& user = "alice") {
    if (nonce.empty()) ask(method::kAllocate, user, {.attrs = udp().attrs, .sign = false});
    return ask(method::kAllocate, user, udp());
  }
};

TEST_F(TurnRequestHandlerTest, BindingAnswersTheMappedAddressWithoutCredentials) {
  EXPECT_EQ(ask(method::kBinding, "", {.sign = false}), 0);
  EXPECT_EQ(StunView::parse(last)->xorAddress(attr::kXorMappedAddress), tuple.client);
}

TEST_F(TurnRequestHandlerTest, UnsignedAllocateIsChallengedWithRealmAndNonce) {
  EXPECT_EQ(ask(method::kAllocate, "alice", {.attrs = udp().attrs, .sign = false}), 401);
  auto r = StunView::parse(last);
  EXPECT_EQ(r->text(attr::kRealm), "rdv");
  EXPECT_FALSE(nonce.empty());
  EXPECT_FALSE(r->hasIntegrity());
}

TEST_F(TurnRequestHandlerTest, AllocateSucceedsWithSignedRelayedAddressAndDefaultLifetime) {
  ASSERT_EQ(allocate(), 0);
  auto r = StunView::parse(last);
  EXPECT_EQ(r->xorAddress(attr::kXorRelayedAddress), addr("192.0.2.1", 50000));
  EXPECT_EQ(r->u32(attr::kLifetime), 600u);
  EXPECT_TRUE(r->checkIntegrity(stun::longTermKey("alice", "rdv", "wonderland")));
  EXPECT_EQ(counters.allocations.get(), 1u);
  EXPECT_EQ(ports.open_.size(), 1u);
}

TEST_F(TurnRequestHandlerTest, WrongPasswordStaleNonceAndUnknownUser) {
  allocate();  // gets a nonce
  handler.expire(nowMs + 601'000);  // the allocation is gone, ports closed
  EXPECT_TRUE(ports.open_.empty());
  Options bad = udp();
  bad.password = "guess";
  EXPECT_EQ(ask(method::kAllocate, "alice", bad), 401);
  EXPECT_EQ(ask(method::kAllocate, "mallory", udp()), 401);
  wallS += 601;  // the nonce is older than its 600 s lifetime
  const std::string old = nonce;
  EXPECT_EQ(ask(method::kAllocate, "alice", udp()), 438);
  EXPECT_NE(nonce, old);
  EXPECT_EQ(ask(method::kAllocate, "alice", udp()), 0);
  EXPECT_EQ(counters.refused[static_cast<size_t>(Refusal::StaleNonce)].get(), 1u);
}

TEST_F(TurnRequestHandlerTest, SharedSecretCredentialsUntilTheyExpire) {
  const std::string user = std::to_string(wallS + 60) + ":carol";
  const std::string password = Credentials::sharedSecretPassword("s3cret", user);
  ask(method::kAllocate, user, {.attrs = udp().attrs, .sign = false});
  Options o = udp();
  o.password = password;
  EXPECT_EQ(ask(method::kAllocate, user, o), 0);
  wallS += 61;
  tuple.client.setPort(4001);
  EXPECT_EQ(ask(method::kAllocate, user, o), 401);
}

TEST_F(TurnRequestHandlerTest, AllocateRules) {
  ask(method::kAllocate, "alice", {.sign = false});
  EXPECT_EQ(ask(method::kAllocate, "alice", {}), 400);  // no REQUESTED-TRANSPORT
  EXPECT_EQ(ask(method::kAllocate, "alice", {.attrs = {{attr::kRequestedTransport, u32(99u << 24)}}}), 442);
  // RFC 6062 §5.1: TCP allocations only over a TCP control connection.
  EXPECT_EQ(ask(method::kAllocate, "alice", {.attrs = {{attr::kRequestedTransport, u32(6u << 24)}}}), 400);
  EXPECT_EQ(ask(method::kAllocate, "alice", {.attrs = {{attr::kRequestedTransport, u32(17u << 24)},
                                                       {0x7777, u32(0)}}}),
            420);
  EXPECT_EQ(ask(method::kAllocate, "alice", udp()), 0);
  EXPECT_EQ(ask(method::kAllocate, "alice", udp()), 437);  // same 5-tuple
  tuple.client.setPort(4001);
  EXPECT_EQ(ask(method::kAllocate, "alice", udp()), 486);  // alice's quota is 1
  ports.full = true;
  EXPECT_EQ(ask(method::kAllocate, "bob", {.attrs = udp().attrs, .password = "builder"}), 508);
}

TEST_F(TurnRequestHandlerTest, RefreshNeedsTheAllocationAndItsUserAndZeroDeletes) {
  ask(method::kRefresh, "alice", {.sign = false});
  EXPECT_EQ(ask(method::kRefresh, "alice", {}), 437);
  ASSERT_EQ(allocate(), 0);
  EXPECT_EQ(ask(method::kRefresh, "bob", {.password = "builder"}), 441);
  EXPECT_EQ(ask(method::kRefresh, "alice", {.attrs = {{attr::kLifetime, u32(99999)}}}), 0);
  EXPECT_EQ(StunView::parse(last)->u32(attr::kLifetime), 3600u);
  EXPECT_EQ(ask(method::kRefresh, "alice", {.attrs = {{attr::kLifetime, u32(0)}}}), 0);
  EXPECT_EQ(counters.allocations.get(), 0u);
  EXPECT_TRUE(ports.open_.empty());
}

TEST_F(TurnRequestHandlerTest, PermissionsAndChannelsRefuseInternalPeers) {
  ASSERT_EQ(allocate(), 0);
  EXPECT_EQ(ask(method::kCreatePermission, "alice", {}), 400);  // no peer
  EXPECT_EQ(ask(method::kCreatePermission, "alice", {.peer = addr("127.0.0.1", 9)}), 403);
  EXPECT_EQ(ask(method::kCreatePermission, "alice", {.peer = addr("10.0.0.1", 9)}), 403);
  EXPECT_EQ(ask(method::kCreatePermission, "alice", {.peer = addr("2001:db8::1", 9)}), 443);
  EXPECT_EQ(ask(method::kCreatePermission, "alice", {.peer = addr("203.0.113.9", 9)}), 0);
  auto* a = handler.table().find(tuple);
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(handler.table().permitted(*a, addr("203.0.113.9", 1), nowMs));
  const std::vector<std::byte> channel{std::byte{0x40}, std::byte{0x01}, std::byte{0}, std::byte{0}};
  EXPECT_EQ(ask(method::kChannelBind, "alice", {.attrs = {{attr::kChannelNumber, channel}},
                                                .peer = addr("192.168.1.1", 9)}),
            403);
  EXPECT_EQ(ask(method::kChannelBind, "alice", {.attrs = {{attr::kChannelNumber, channel}},
                                                .peer = addr("203.0.113.9", 9)}),
            0);
  EXPECT_EQ(handler.table().channel(*a, 0x4001, nowMs)->peer, addr("203.0.113.9", 9));
  EXPECT_EQ(counters.refused[static_cast<size_t>(Refusal::ForbiddenPeer)].get(), 3u);
}

// RFC 6062: a TCP allocation, Connect (answered later), 446 for the same peer, 403 for internal
// peers, ConnectionBind by the same user on another connection, 400 otherwise.
TEST_F(TurnRequestHandlerTest, TcpAllocationConnectAndConnectionBindRules) {
  tuple.transport = kTcp;
  const Options tcp{.attrs = {{attr::kRequestedTransport, u32(6u << 24)}}};
  ask(method::kAllocate, "alice", {.attrs = tcp.attrs, .sign = false});
  EXPECT_EQ(ask(method::kAllocate, "alice", {.attrs = {{attr::kRequestedTransport, u32(6u << 24)},
                                                       {attr::kEvenPort, {std::byte{0x80}}}}}),
            400);
  ASSERT_EQ(ask(method::kAllocate, "alice", tcp), 0);
  const uint32_t allocation = handler.table().find(tuple)->id;
  EXPECT_EQ(ports.transports[allocation], kTcp);
  EXPECT_EQ(ask(method::kConnect, "alice", {}), 400);  // no XOR-PEER-ADDRESS
  EXPECT_EQ(ask(method::kConnect, "alice", {.peer = addr("10.1.2.3", 80)}), 403);
  const auto peer = addr("203.0.113.9", 5000);
  EXPECT_EQ(ask(method::kConnect, "alice", {.peer = peer}), kLater);
  EXPECT_EQ(ask(method::kConnect, "alice", {.peer = peer}), 446);
  EXPECT_TRUE(handler.table().permitted(*handler.table().find(tuple), peer, nowMs));
  const uint32_t id = ports.tcp.ofAllocation(allocation).at(0);

  FiveTuple control = tuple;
  tuple.client.setPort(4100);  // the data connection
  const Options bindIt{.attrs = {{attr::kConnectionId, u32(id)}}};
  EXPECT_EQ(ask(method::kConnectionBind, "alice", bindIt), 400);  // still connecting
  ASSERT_TRUE(ports.tcp.connected(id, nowMs));
  EXPECT_EQ(ask(method::kConnectionBind, "bob", {.attrs = bindIt.attrs, .password = "builder"}), 441);
  EXPECT_EQ(ask(method::kConnectionBind, "alice", {.attrs = {{attr::kConnectionId, u32(id + 1)}}}), 400);
  tuple.transport = kUdp;
  EXPECT_EQ(ask(method::kConnectionBind, "alice", bindIt), 400);  // not over TCP
  tuple.transport = kTcp;
  std::swap(tuple, control);
  EXPECT_EQ(ask(method::kConnectionBind, "alice", bindIt), 400);  // not on the control connection
  std::swap(tuple, control);
  EXPECT_EQ(ask(method::kConnectionBind, "alice", bindIt), 0);
  ASSERT_EQ(ports.bound.size(), 1u);
  EXPECT_EQ(ports.bound[0].first, id);
  EXPECT_EQ(ports.bound[0].second, tuple);
  EXPECT_EQ(ask(method::kConnectionBind, "alice", bindIt), 400);  // bound once only

  // Connect on a UDP allocation is a 400.
  tuple.transport = kUdp;
  tuple.client.setPort(4200);
  ASSERT_EQ(ask(method::kAllocate, "bob", {.attrs = udp().attrs, .password = "builder"}), 0);
  EXPECT_EQ(ask(method::kConnect, "bob", {.peer = peer, .password = "builder"}), 400);
}

}  // namespace
}  // namespace rdv::turn
