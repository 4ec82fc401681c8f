#include "common/Clock.h"

#include <gtest/gtest.h>

#include "common/Fd.h"

namespace rdv::common {
namespace {

TEST(ClockTest, ManualClockMovesOnlyWhenAdvanced) {
  ManualClock clock(5'000'000'000, 1'700'000'000'000'000'000);
  EXPECT_EQ(clock.monotonicMs(), 5000u);
  EXPECT_EQ(clock.monotonicMs(), 5000u);
  clock.advanceMs(250);
  EXPECT_EQ(clock.monotonicMs(), 5250u);
  EXPECT_EQ(clock.monotonicNs(), 5'250'000'000u);
  EXPECT_EQ(clock.wallSeconds(), 1'700'000'000u);
  clock.advanceMs(750);
  EXPECT_EQ(clock.wallSeconds(), 1'700'000'001u);
}

TEST(ClockTest, ManualClockSetNeverGoesBack) {
  ManualClock clock(1'000'000'000);
  clock.setMonotonicMs(3000);
  EXPECT_EQ(clock.monotonicMs(), 3000u);
  clock.setMonotonicMs(2000);
  EXPECT_EQ(clock.monotonicMs(), 3000u);
}

TEST(ClockTest, SystemClockIsMonotonicAndWallIsUnixTime) {
  const Clock& clock = SystemClock::instance();
  const uint64_t a = clock.monotonicNs();
  const uint64_t b = clock.monotonicNs();
  EXPECT_LE(a, b);
  EXPECT_GT(clock.wallSeconds(), 1'600'000'000u);  // after 2020
}

TEST(FdTest, ReleaseGivesUpOwnership) {
  int raw = -1;
  {
    Fd fd(::dup(0));
    ASSERT_TRUE(fd.valid());
    raw = fd.release();
    EXPECT_FALSE(fd.valid());
  }
  EXPECT_EQ(::close(raw), 0);  // still open: Fd did not close it
}

TEST(FdTest, MoveTransfersAndResetCloses) {
  Fd a(::dup(0));
  const int raw = a.get();
  Fd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(b.get(), raw);
  b.reset();
  EXPECT_FALSE(b.valid());
  EXPECT_NE(::close(raw), 0);  // already closed
}

}  // namespace
}  // namespace rdv::common
