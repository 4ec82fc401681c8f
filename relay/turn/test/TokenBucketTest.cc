#include "relay/turn/TokenBucket.h"

#include <gtest/gtest.h>

namespace rdv::turn {
namespace {

TEST(TokenBucketTest, ZeroRateIsUnlimited) {
  TokenBucket b;
  EXPECT_TRUE(b.unlimited());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(b.take(65535, 0));
}

TEST(TokenBucketTest, BurstThenDropsUntilRefilledAtTheRate) {
  TokenBucket b(125'000, 10'000, 1000);  // 1 Mbit/s, 10 kB burst
  int passed = 0;
  for (int i = 0; i < 20; ++i) passed += b.take(1000, 1000) ? 1 : 0;
  EXPECT_EQ(passed, 10);  // the burst, then nothing at the same instant
  EXPECT_FALSE(b.take(1000, 1007));  // 7 ms refill 875 bytes: not enough
  EXPECT_TRUE(b.take(1000, 1008));   // 8 ms: 1000 bytes
  EXPECT_FALSE(b.take(1, 1008));
}

TEST(TokenBucketTest, OverOneSecondAboutTheRatePasses) {
  TokenBucket b(125'000, 12'500, 0);
  uint64_t passed = 0;
  for (uint64_t ms = 0; ms < 1000; ++ms) {
    for (int i = 0; i < 10; ++i) passed += b.take(1200, ms) ? 1200 : 0;  // offered 12 MB/s
  }
  EXPECT_GE(passed, 125'000u);
  EXPECT_LE(passed, 125'000u + 12'500u);  // rate × 1 s plus the burst
}

TEST(TokenBucketTest, IdleTimeBanksNoMoreThanTheBurst) {
  TokenBucket b(1'000'000, 5'000, 0);
  ASSERT_TRUE(b.take(5'000, 0));
  EXPECT_FALSE(b.take(5'001, 3'600'000));  // an hour idle still banks only 5000
  EXPECT_TRUE(b.take(5'000, 3'600'000));
}

TEST(TokenBucketTest, AStreamTakesWhatIsAvailableAndSpendsWhatItUsed) {
  TokenBucket b(1'000, 4'000, 0);
  EXPECT_EQ(b.available(0), 4'000u);
  b.spend(3'000);
  EXPECT_EQ(b.available(0), 1'000u);
  b.spend(5'000);  // more than banked: empties it, never wraps
  EXPECT_EQ(b.available(0), 0u);
  EXPECT_EQ(b.available(500), 500u);
  EXPECT_EQ(TokenBucket().available(7), UINT64_MAX) << "unlimited";
}

}  // namespace
}  // namespace rdv::turn
