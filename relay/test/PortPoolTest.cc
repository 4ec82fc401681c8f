#include "relay/PortPool.h"

#include <set>

#include <gtest/gtest.h>

namespace rdv::relay {
namespace {

TEST(PortPool, HandsOutEvenPortsOfTheRangeOnce) {
  PortPool pool(30001, 30010);  // even ports 30002..30008 have their odd partner inside
  EXPECT_EQ(pool.capacity(), 4U);
  std::set<uint16_t> seen;
  while (auto p = pool.allocate()) {
    EXPECT_EQ(*p % 2, 0);
    EXPECT_GE(*p, 30002);
    EXPECT_LE(*p + 1, 30010);
    EXPECT_TRUE(seen.insert(*p).second);
  }
  EXPECT_EQ(seen.size(), 4U);
  EXPECT_EQ(pool.available(), 0U);
}

TEST(PortPool, ExhaustionIsAnEmptyAnswerNotACrash) {
  PortPool pool(40000, 40003);
  ASSERT_TRUE(pool.allocate());
  ASSERT_TRUE(pool.allocate());
  EXPECT_FALSE(pool.allocate());
  EXPECT_FALSE(pool.allocate());
}

TEST(PortPool, ReleasedPortIsReusedLast) {
  PortPool pool(40000, 40005);
  auto a = *pool.allocate();
  pool.release(a);
  EXPECT_NE(*pool.allocate(), a);
  EXPECT_NE(*pool.allocate(), a);
  EXPECT_EQ(*pool.allocate(), a);
}

}  // namespace
}  // namespace rdv::relay
