// Admission control as pure logic: the concurrent-call cap and the calls-per-second token bucket
// at exact instants (10 calls per second: one token per 100 ms).

#include "signaling/b2bua/Admission.h"

#include <gtest/gtest.h>

namespace rdv::b2bua {
namespace {

using Verdict = Admission::Verdict;

constexpr uint64_t kT0 = 10'000;

TEST(AdmissionTest, BucketStartsFullAndAdmitsABurstOfOneSecondOfCalls) {
  Admission a(100, 10);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.admit(0, kT0), Verdict::Admit) << i;
  EXPECT_EQ(a.admit(0, kT0), Verdict::TooManyPerSecond);
}

TEST(AdmissionTest, OneTokenReturnsPerIntervalAndNotBefore) {
  Admission a(100, 10);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(a.admit(0, kT0), Verdict::Admit);
  EXPECT_EQ(a.admit(0, kT0 + 99), Verdict::TooManyPerSecond);
  Admission b(100, 10);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(b.admit(0, kT0), Verdict::Admit);
  EXPECT_EQ(b.admit(0, kT0 + 100), Verdict::Admit);
  EXPECT_EQ(b.admit(0, kT0 + 100), Verdict::TooManyPerSecond);
}

TEST(AdmissionTest, IdleTimeRefillsNoMoreThanTheBucketSize) {
  Admission a(100, 10);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(a.admit(0, kT0), Verdict::Admit);
  const uint64_t later = kT0 + 60'000;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.admit(0, later), Verdict::Admit) << i;
  EXPECT_EQ(a.admit(0, later), Verdict::TooManyPerSecond);
}

TEST(AdmissionTest, CallCapRefusesFirstAndTakesNoToken) {
  Admission a(2, 3);
  EXPECT_EQ(a.admit(2, kT0), Verdict::TooManyCalls);
  EXPECT_EQ(a.admit(5, kT0), Verdict::TooManyCalls);
  // The bucket is still full: three calls pass while under the cap.
  EXPECT_EQ(a.admit(0, kT0), Verdict::Admit);
  EXPECT_EQ(a.admit(1, kT0), Verdict::Admit);
  EXPECT_EQ(a.admit(1, kT0), Verdict::Admit);
  EXPECT_EQ(a.admit(1, kT0), Verdict::TooManyPerSecond);
  EXPECT_EQ(a.admit(2, kT0), Verdict::TooManyCalls) << "the cap is checked before the rate";
}

TEST(AdmissionTest, ZeroCallsPerSecondAdmitsNothing) {
  Admission a(100, 0);
  EXPECT_EQ(a.admit(0, kT0), Verdict::TooManyPerSecond);
  EXPECT_EQ(a.admit(0, kT0 + 3'600'000), Verdict::TooManyPerSecond);
}

TEST(AdmissionTest, RetryAfterIsFiveSecondsForTheCapAndOneForTheRate) {
  EXPECT_EQ(Admission::retryAfterSeconds(Verdict::TooManyCalls), 5U);
  EXPECT_EQ(Admission::retryAfterSeconds(Verdict::TooManyPerSecond), 1U);
}

}  // namespace
}  // namespace rdv::b2bua
