#include "relay/turn/TcpConnectionTable.h"

#include <gtest/gtest.h>

namespace rdv::turn {
namespace {

common::SockAddr addr(const char* ip, uint16_t port) { return *common::SockAddr::fromIp(ip, port); }

TEST(TcpConnectionTableTest, ConnectWaitsForTheHandshakeThenThirtySecondsForConnectionBind) {
  TcpConnectionTable t;
  auto id = t.connect(1, addr("203.0.113.9", 80), {}, 1000);
  ASSERT_TRUE(id);
  EXPECT_NE(*id, 0u);
  EXPECT_EQ(t.find(*id)->state, TcpConnState::Connecting);
  EXPECT_EQ(t.awaitingBind(*id, 1000), 0u);  // not bindable while connecting
  EXPECT_FALSE(t.bind(*id, 1000));
  ASSERT_TRUE(t.connected(*id, 5000));
  EXPECT_FALSE(t.connected(*id, 5000));  // once
  EXPECT_EQ(t.awaitingBind(*id, 5000), 1u);
  EXPECT_TRUE(t.expired(34'999).empty());
  EXPECT_EQ(t.expired(35'000), std::vector<uint32_t>{*id});  // 30 s after the handshake
  EXPECT_EQ(t.awaitingBind(*id, 35'000), 0u);
  EXPECT_FALSE(t.bind(*id, 35'000));
}

TEST(TcpConnectionTableTest, ConnectStillConnectingAfterThirtySecondsExpires) {
  TcpConnectionTable t;
  auto id = t.connect(1, addr("203.0.113.9", 80), {}, 0);
  EXPECT_TRUE(t.expired(29'999).empty());
  EXPECT_EQ(t.expired(30'000), std::vector<uint32_t>{*id});
}

TEST(TcpConnectionTableTest, BoundConnectionsNeverExpire) {
  TcpConnectionTable t;
  auto id = t.accepted(7, addr("203.0.113.9", 40000), 0);
  ASSERT_TRUE(id);
  EXPECT_EQ(t.awaitingBind(*id, 0), 7u);  // a peer that connected in awaits its bind at once
  EXPECT_TRUE(t.bind(*id, 10'000));
  EXPECT_FALSE(t.bind(*id, 10'000));  // a second ConnectionBind for it fails
  EXPECT_TRUE(t.expired(1'000'000).empty());
}

TEST(TcpConnectionTableTest, SecondConnectToTheSamePeerIs446UntilTheFirstIsGone) {
  TcpConnectionTable t;
  auto first = t.connect(1, addr("203.0.113.9", 80), {}, 0);
  EXPECT_EQ(t.connect(1, addr("203.0.113.9", 80), {}, 0).error(), 446);
  EXPECT_TRUE(t.connect(1, addr("203.0.113.9", 81), {}, 0));  // another port is another peer
  EXPECT_TRUE(t.connect(2, addr("203.0.113.9", 80), {}, 0));  // another allocation
  t.remove(*first);
  EXPECT_TRUE(t.connect(1, addr("203.0.113.9", 80), {}, 0));
}

TEST(TcpConnectionTableTest, QuotasPerAllocationAndInTotalAre486AndFreedOnRemove) {
  TcpConnectionTable t(TcpConnectionLimits{.perAllocation = 2, .total = 3});
  auto a = t.connect(1, addr("203.0.113.9", 1), {}, 0);
  ASSERT_TRUE(t.accepted(1, addr("203.0.113.9", 2), 0));
  EXPECT_EQ(t.connect(1, addr("203.0.113.9", 3), {}, 0).error(), 486);
  EXPECT_EQ(t.accepted(1, addr("203.0.113.9", 4), 0).error(), 486);
  ASSERT_TRUE(t.connect(2, addr("203.0.113.9", 5), {}, 0));
  EXPECT_EQ(t.connect(3, addr("203.0.113.9", 6), {}, 0).error(), 486);  // total
  t.remove(*a);
  EXPECT_TRUE(t.connect(1, addr("203.0.113.9", 3), {}, 0));
  EXPECT_EQ(t.ofAllocation(1).size(), 2u);
  EXPECT_EQ(t.size(), 3u);
}

TEST(TcpConnectionTableTest, IdsAreDistinctAndTheConnectTransactionIsKept) {
  TcpConnectionTable t;
  stun::TransactionId tid{};
  tid[3] = std::byte{9};
  auto a = t.connect(1, addr("203.0.113.9", 1), tid, 0);
  auto b = t.accepted(1, addr("203.0.113.9", 2), 0);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(t.find(*a)->tid, tid);
  EXPECT_EQ(t.find(*a)->peer, addr("203.0.113.9", 1));
  EXPECT_EQ(t.find(*b)->allocationId, 1u);
}

}  // namespace
}  // namespace rdv::turn
