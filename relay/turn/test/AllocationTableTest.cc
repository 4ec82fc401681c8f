#include "relay/turn/AllocationTable.h"

#include <gtest/gtest.h>

namespace rdv::turn {
namespace {

common::SockAddr addr(const char* ip, uint16_t port) { return *common::SockAddr::fromIp(ip, port); }

FiveTuple tuple(uint16_t port) { return {addr("198.51.100.1", port), addr("192.0.2.1", 3478), kUdp}; }

struct AllocationTableTest : ::testing::Test {
  AllocationLimits limits{.perUser = 2, .total = 3};
  AllocationTable table{limits};
  Allocation* make(uint16_t port, const char* user = "alice", uint64_t now = 0) {
    EXPECT_EQ(table.admit(tuple(port), user), 0);
    return table.create(tuple(port), user, {}, addr("192.0.2.1", 50000), 600, now);
  }
};

TEST_F(AllocationTableTest, SecondAllocateOnSameTupleIsAMismatch) {
  make(1);
  EXPECT_EQ(table.admit(tuple(1), "alice"), 437);
  EXPECT_EQ(table.admit(tuple(2), "alice"), 0);
}

TEST_F(AllocationTableTest, QuotasPerUserAndTotal) {
  make(1, "alice");
  make(2, "alice");
  EXPECT_EQ(table.admit(tuple(3), "alice"), 486);
  make(3, "bob");
  EXPECT_EQ(table.admit(tuple(4), "carol"), 486);
  EXPECT_EQ(table.countFor("alice"), 2u);
}

TEST_F(AllocationTableTest, LifetimeDefaultsCapsAndRefreshZeroDeletes) {
  EXPECT_EQ(table.lifetimeFor(std::nullopt), 600u);
  EXPECT_EQ(table.lifetimeFor(100000), 3600u);
  EXPECT_EQ(table.lifetimeFor(30), 30u);
  auto* a = make(1);
  EXPECT_FALSE(table.refresh(*a, 1200, 1000));
  EXPECT_EQ(a->expiresMs, 1000u + 1'200'000u);
  const uint32_t id = a->id;
  EXPECT_TRUE(table.refresh(*a, 0, 2000));
  EXPECT_EQ(table.byId(id), nullptr);
  EXPECT_EQ(table.size(), 0u);
}

TEST_F(AllocationTableTest, AllocationsExpire) {
  make(1, "alice", 0);
  int removed = 0;
  table.expire(599'999, [&](const Allocation&) { ++removed; });
  EXPECT_EQ(removed, 0);
  table.expire(600'000, [&](const Allocation&) { ++removed; });
  EXPECT_EQ(removed, 1);
  EXPECT_EQ(table.find(tuple(1)), nullptr);
}

TEST_F(AllocationTableTest, PermissionsArePerIpAndLastFiveMinutes) {
  auto* a = make(1);
  table.permit(*a, addr("203.0.113.5", 1000), 0);
  EXPECT_TRUE(table.permitted(*a, addr("203.0.113.5", 9999), 299'999));
  EXPECT_FALSE(table.permitted(*a, addr("203.0.113.6", 1000), 0));
  EXPECT_FALSE(table.permitted(*a, addr("203.0.113.5", 1000), 300'000));
  table.permit(*a, addr("203.0.113.5", 1), 200'000);  // refresh
  EXPECT_TRUE(table.permitted(*a, addr("203.0.113.5", 1000), 499'999));
  EXPECT_EQ(a->permissions.size(), 1u);
}

TEST_F(AllocationTableTest, ChannelBindingRules) {
  auto* a = make(1);
  const auto p1 = addr("203.0.113.5", 1000), p2 = addr("203.0.113.6", 1000);
  EXPECT_EQ(table.bindChannel(*a, 0x3FFF, p1, 0), 400);
  EXPECT_EQ(table.bindChannel(*a, 0x8000, p1, 0), 400);
  EXPECT_EQ(table.bindChannel(*a, 0x4000, p1, 0), 0);
  EXPECT_TRUE(table.permitted(*a, p1, 0));  // binding installs a permission
  EXPECT_EQ(table.bindChannel(*a, 0x4000, p2, 0), 400);  // number taken by another peer
  EXPECT_EQ(table.bindChannel(*a, 0x4001, p1, 0), 400);  // peer bound to another number
  EXPECT_EQ(table.bindChannel(*a, 0x4000, p1, 100'000), 0);  // refresh
  ASSERT_NE(table.channel(*a, 0x4000, 699'999), nullptr);
  EXPECT_EQ(table.channelFor(*a, p1, 0)->number, 0x4000);
  EXPECT_EQ(table.channel(*a, 0x4000, 700'000), nullptr);
  EXPECT_EQ(table.bindChannel(*a, 0x4000, p2, 700'000), 0);  // expired: free again
}

}  // namespace
}  // namespace rdv::turn
