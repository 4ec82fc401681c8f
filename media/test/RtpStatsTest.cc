#include "media/RtpStats.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace rdv::media {
namespace {

constexpr uint32_t kSsrc = 0x5eed5eed;
constexpr uint64_t kMs = 1'000'000;

// Builds a 16-byte RTP packet on the stack and feeds it: the view lives only for the call,
// as it does in the relay.
void feed(RtpReceiveStats& stats, uint16_t seq, uint32_t ts, uint64_t arrivalNs, uint32_t ssrc = kSsrc,
          uint8_t pt = 0) {
  std::array<std::byte, 16> buf{};
  const auto put = [&](size_t at, uint32_t v, int n) {
    for (int i = n - 1; i >= 0; --i, v >>= 8) buf[at + static_cast<size_t>(i)] = std::byte(v & 0xff);
  };
  put(0, 0x80, 1);
  put(1, pt, 1);
  put(2, seq, 2);
  put(4, ts, 4);
  put(8, ssrc, 4);
  auto rtp = RtpView::parse(buf);
  ASSERT_TRUE(rtp);
  stats.onPacket(*rtp, arrivalNs);
}

// Feeds sequence numbers with 20 ms PCMU spacing and no delay variation.
void feedSeqs(RtpReceiveStats& stats, std::initializer_list<uint16_t> seqs, uint32_t ssrc = kSsrc) {
  for (uint16_t seq : seqs) feed(stats, seq, seq * 160u, uint64_t{seq} * 20 * kMs, ssrc);
}

TEST(RtpStatsTest, StartsEmpty) {
  RtpReceiveStats stats;
  EXPECT_FALSE(stats.hasSsrc());
  EXPECT_EQ(stats.packets(), 0u);
  EXPECT_EQ(stats.expected(), 0u);
  EXPECT_EQ(stats.lost(), 0);
  EXPECT_EQ(stats.lossFraction(), 0.0);
  EXPECT_EQ(stats.jitterMs(), 0.0);
}

TEST(RtpStatsTest, NewSourceIsCountedOnceOutOfProbation) {
  RtpReceiveStats stats;
  feedSeqs(stats, {100});
  EXPECT_TRUE(stats.hasSsrc());
  EXPECT_EQ(stats.ssrc(), kSsrc);
  EXPECT_EQ(stats.packets(), 1u);
  EXPECT_EQ(stats.expected(), 0u);  // A.1: still on probation
  feedSeqs(stats, {101, 102, 103, 104, 105, 106, 107, 108, 109});
  EXPECT_EQ(stats.packets(), 10u);
  EXPECT_EQ(stats.expected(), 9u);  // base_seq is 101
  EXPECT_EQ(stats.lost(), 0);
  EXPECT_EQ(stats.extendedHighestSeq(), 109u);
}

TEST(RtpStatsTest, ProbationRestartsOnOutOfSequencePacket) {
  RtpReceiveStats stats;
  feedSeqs(stats, {100, 300, 301, 302});
  EXPECT_EQ(stats.expected(), 2u);  // 301, 302
  EXPECT_EQ(stats.lost(), 0);
}

TEST(RtpStatsTest, CountsLossInsideStream) {
  RtpReceiveStats stats;
  feedSeqs(stats, {100, 101, 102, 105, 106, 107, 108, 109});
  EXPECT_EQ(stats.expected(), 9u);
  EXPECT_EQ(stats.lost(), 2);
  EXPECT_DOUBLE_EQ(stats.lossFraction(), 2.0 / 9.0);
}

TEST(RtpStatsTest, CountsLossAcrossSequenceWrap) {
  RtpReceiveStats stats;
  feedSeqs(stats, {65530, 65531, 65532, 65533, 65534, 0, 1, 3, 4, 5});
  EXPECT_EQ(stats.extendedHighestSeq(), 65536u + 5);
  EXPECT_EQ(stats.expected(), 11u);  // 65531 .. 65536 + 5
  EXPECT_EQ(stats.lost(), 2);        // 65535 and 2
}

TEST(RtpStatsTest, ProbationAcceptsSequenceWrap) {
  RtpReceiveStats stats;
  feedSeqs(stats, {65535, 0, 1});
  EXPECT_EQ(stats.expected(), 2u);
  EXPECT_EQ(stats.lost(), 0);
}

TEST(RtpStatsTest, ReorderedPacketIsNotCountedAsLoss) {
  RtpReceiveStats stats;
  feedSeqs(stats, {1, 2, 3, 5, 4, 6});
  EXPECT_EQ(stats.expected(), 5u);
  EXPECT_EQ(stats.lost(), 0);
}

TEST(RtpStatsTest, DuplicatesMakeLostNegativeAndFractionZero) {
  RtpReceiveStats stats;
  feedSeqs(stats, {1, 2, 3, 3, 3});
  EXPECT_EQ(stats.expected(), 2u);
  EXPECT_EQ(stats.lost(), -2);
  EXPECT_EQ(stats.lossFraction(), 0.0);
}

TEST(RtpStatsTest, IgnoresSingleLargeJump) {
  RtpReceiveStats stats;
  feedSeqs(stats, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 5000, 11, 12});
  EXPECT_EQ(stats.packets(), 13u);
  EXPECT_EQ(stats.expected(), 11u);
  EXPECT_EQ(stats.lost(), 0);
  EXPECT_EQ(stats.extendedHighestSeq(), 12u);
}

TEST(RtpStatsTest, ResyncsAfterSenderRestartAndKeepsTotals) {
  RtpReceiveStats stats;
  feedSeqs(stats, {1, 2, 3, 4, 6, 7, 8, 9, 10});  // 5 lost
  ASSERT_EQ(stats.lost(), 1);
  feedSeqs(stats, {20000, 20001, 20002});  // A.1: the second packet after the jump confirms it
  EXPECT_EQ(stats.extendedHighestSeq(), 20002u);
  EXPECT_EQ(stats.expected(), 9u + 2u);  // 2..10, then 20001..20002
  EXPECT_EQ(stats.lost(), 1);
}

TEST(RtpStatsTest, SsrcChangeRestartsSequenceTracking) {
  RtpReceiveStats stats;
  feedSeqs(stats, {1, 2, 3, 4, 6, 7, 8, 9, 10});
  ASSERT_EQ(stats.expected(), 9u);
  ASSERT_EQ(stats.lost(), 1);
  constexpr uint32_t kOther = 0x0badcafe;
  feedSeqs(stats, {40000}, kOther);  // would be a large jump for the old source
  EXPECT_EQ(stats.ssrc(), kOther);
  EXPECT_EQ(stats.expected(), 9u);   // new source on probation, old totals kept
  feedSeqs(stats, {40001, 40002, 40004}, kOther);
  EXPECT_EQ(stats.expected(), 9u + 4u);
  EXPECT_EQ(stats.lost(), 2);
  EXPECT_EQ(stats.packets(), 13u);
  EXPECT_EQ(stats.extendedHighestSeq(), 40004u);
}

TEST(RtpStatsTest, JitterMatchesRfc3550ForConstantDelay) {
  RtpReceiveStats stats;
  for (uint16_t i = 0; i < 50; ++i) feed(stats, i, 1000 + i * 160u, 37 * kMs + i * 20 * kMs);
  EXPECT_EQ(stats.jitterMs(), 0.0);
  EXPECT_EQ(stats.jitterRtpUnits(), 0u);
}

TEST(RtpStatsTest, JitterMatchesRfc3550ForVaryingDelay) {
  const std::array<int, 12> delayMs = {10, 30, 12, 12, 45, 5, 20, 21, 8, 60, 10, 15};
  RtpReceiveStats stats;
  double reference = 0.0;  // A.8 in 8 kHz units: J += (|D| - J) / 16
  for (size_t i = 0; i < delayMs.size(); ++i) {
    const auto seq = static_cast<uint16_t>(500 + i);
    feed(stats, seq, static_cast<uint32_t>(i * 160), (i * 20 + static_cast<size_t>(delayMs[i])) * kMs);
    // The first packet is on probation; the second anchors the transit time.
    if (i >= 2) reference += (std::abs(8.0 * (delayMs[i] - delayMs[i - 1])) - reference) / 16.0;
  }
  EXPECT_NEAR(stats.jitterMs(), reference / 8.0, 1e-9);
  EXPECT_EQ(stats.jitterRtpUnits(), static_cast<uint32_t>(reference));
}

TEST(RtpStatsTest, JitterUsesDefaultClockRateOfStaticPayloadType) {
  RtpReceiveStats jpeg;  // PT 26: 90 kHz
  for (uint16_t i = 0; i < 20; ++i) feed(jpeg, i, i * 900u, 5 * kMs + i * 10 * kMs, kSsrc, 26);
  EXPECT_EQ(jpeg.jitterMs(), 0.0);

  // PT 96 without a configured rate is assumed to be 8 kHz, so 90 kHz timestamps look jittery.
  RtpReceiveStats dynamic;
  for (uint16_t i = 0; i < 20; ++i) feed(dynamic, i, i * 900u, 5 * kMs + i * 10 * kMs, kSsrc, 96);
  EXPECT_GT(dynamic.jitterMs(), 10.0);
}

TEST(RtpStatsTest, JitterUsesConfiguredClockRate) {
  RtpReceiveStats stats;
  stats.setClockRate(48000);
  // Opus at 48 kHz, delay alternating between 0 and 1 ms: |D| = 48 units after the first update.
  constexpr int kPackets = 30;
  for (int i = 0; i < kPackets; ++i) {
    const uint64_t arrival = static_cast<uint64_t>(i) * 20 * kMs + (i % 2 == 1 ? kMs : 0);
    feed(stats, static_cast<uint16_t>(i), static_cast<uint32_t>(i) * 960u, arrival, kSsrc, 111);
  }
  const int updates = kPackets - 2;
  EXPECT_NEAR(stats.jitterMs(), 1.0 - std::pow(15.0 / 16.0, updates), 1e-9);
}

TEST(RtpStatsTest, JitterKeepsItsValueWhenClockRateChanges) {
  RtpReceiveStats stats;
  for (int i = 0; i < 10; ++i) {
    feed(stats, static_cast<uint16_t>(i), static_cast<uint32_t>(i) * 160u,
         static_cast<uint64_t>(i) * 20 * kMs + (i % 2 == 1 ? 4 * kMs : 0));
  }
  const double before = stats.jitterMs();
  ASSERT_GT(before, 0.0);
  // The sender switches to DVI4 at 16 kHz (PT 6): the estimate is rescaled, the transit re-anchored.
  feed(stats, 10, 5000, 200 * kMs, kSsrc, 6);
  EXPECT_NEAR(stats.jitterMs(), before, 1e-9);
  feed(stats, 11, 5320, 220 * kMs, kSsrc, 6);
  EXPECT_NEAR(stats.jitterMs(), before * 15.0 / 16.0, 1e-9);
}

TEST(RtpStatsTest, JitterIsExactWithLargeArrivalTimes) {
  RtpReceiveStats stats;
  stats.setClockRate(90000);
  // ~54 years of monotonic time, chosen so that a naive ns * 90000 would wrap 2^64 mid-stream.
  const uint64_t base = 1'699'969'947'970'522'460ull;
  for (uint16_t i = 0; i < 20; ++i) feed(stats, i, 0xfffff000u + i * 3000u, base + i * 33'333'333ull);
  EXPECT_LT(stats.jitterMs(), 0.02);  // only the sub-tick truncation of the arrival times remains
}

TEST(RtpStatsTest, SsrcChangeRestartsJitter) {
  RtpReceiveStats stats;
  for (int i = 0; i < 10; ++i) {
    feed(stats, static_cast<uint16_t>(i), static_cast<uint32_t>(i) * 160u,
         static_cast<uint64_t>(i) * 20 * kMs + (i % 2 == 1 ? 5 * kMs : 0));
  }
  ASSERT_GT(stats.jitterMs(), 0.0);
  feed(stats, 7000, 123456, 300 * kMs, 0x0badcafe);
  EXPECT_EQ(stats.jitterMs(), 0.0);
  // The new source has no delay variation, so nothing of the old estimate may show through.
  for (uint16_t i = 1; i < 5; ++i) feed(stats, 7000 + i, 123456 + i * 160u, (300 + i * 20) * kMs, 0x0badcafe);
  EXPECT_EQ(stats.jitterMs(), 0.0);
}

}  // namespace
}  // namespace rdv::media
