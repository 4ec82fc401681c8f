// Burst/gap loss (RFC 3611 §4.7.2, Gmin 16) on received/lost patterns whose bursts and gaps are
// worked out by hand in each test, and fed from RTP sequence numbers through RtpReceiveStats.
#include "media/BurstGapTracker.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include <array>
#include <cstdint>
#include <string_view>

#include "media/RtpStats.h"

namespace rdv::media {
namespace {

// 'R' received, 'L' lost, anything else ignored (spaces for readability).
void feed(BurstGapTracker& t, std::string_view pattern) {
  for (char c : pattern) {
    if (c == 'R') t.onReceived();
    if (c == 'L') t.onLost(1);
  }
}

TEST(BurstGapTrackerTest, NothingSeenReportsZeros) {
  const BurstGapMetrics m = BurstGapTracker{}.metrics(20);
  EXPECT_EQ(m.bursts, 0u);
  EXPECT_EQ(m.gaps, 0u);
  EXPECT_EQ(m.burstDensity, 0.0);
  EXPECT_EQ(m.gapDensity, 0.0);
  EXPECT_EQ(m.burstMs, 0.0);
  EXPECT_EQ(m.gapMs, 0.0);
}

// 100 received, 1 lost, 100 received: one gap of 201 packets with one loss, no burst.
TEST(BurstGapTrackerTest, AnIsolatedLossStaysInTheGap) {
  BurstGapTracker t;
  t.onReceived(100);
  t.onLost(1);
  t.onReceived(100);
  const BurstGapMetrics m = t.metrics(20);
  EXPECT_EQ(m.bursts, 0u);
  EXPECT_EQ(m.gaps, 1u);
  EXPECT_DOUBLE_EQ(m.gapDensity, 1.0 / 201);
  EXPECT_DOUBLE_EQ(m.gapMs, 201 * 20.0);
  EXPECT_EQ(m.burstDensity, 0.0);
}

// 50 R, then L RR L R L RRR L L (5 losses in 11 packets), then 50 R: a burst of 11 packets,
// 5 lost, between two loss-free gaps of 50.
TEST(BurstGapTrackerTest, FiveLossesWithinSixteenPacketsFormABurst) {
  BurstGapTracker t;
  t.onReceived(50);
  feed(t, "L RR L R L RRR L L");
  t.onReceived(50);
  const BurstGapMetrics m = t.metrics(20);
  EXPECT_EQ(m.bursts, 1u);
  EXPECT_EQ(m.gaps, 2u);
  EXPECT_DOUBLE_EQ(m.burstDensity, 5.0 / 11);
  EXPECT_DOUBLE_EQ(m.burstMs, 11 * 20.0);
  EXPECT_EQ(m.gapDensity, 0.0);
  EXPECT_DOUBLE_EQ(m.gapMs, 50 * 20.0);
}

// Two losses 16 received packets apart are two isolated gap losses; 15 apart, one burst of 17.
TEST(BurstGapTrackerTest, GminReceivedPacketsSeparateLosses) {
  BurstGapTracker apart;
  apart.onReceived(20);
  apart.onLost(1);
  apart.onReceived(16);
  apart.onLost(1);
  apart.onReceived(20);
  BurstGapMetrics m = apart.metrics(20);
  EXPECT_EQ(m.bursts, 0u);
  EXPECT_EQ(m.gaps, 1u);
  EXPECT_DOUBLE_EQ(m.gapDensity, 2.0 / 58);

  BurstGapTracker close;
  close.onReceived(20);
  close.onLost(1);
  close.onReceived(15);
  close.onLost(1);
  close.onReceived(20);
  m = close.metrics(20);
  EXPECT_EQ(m.bursts, 1u);
  EXPECT_EQ(m.gaps, 2u);
  EXPECT_DOUBLE_EQ(m.burstDensity, 2.0 / 17);
  EXPECT_DOUBLE_EQ(m.burstMs, 17 * 20.0);
  EXPECT_DOUBLE_EQ(m.gapMs, 20 * 20.0);
}

// A burst still open at report time counts as closed (Gmin received assumed to follow), and
// reading the metrics does not close it for real: more losses extend the same burst.
TEST(BurstGapTrackerTest, OpenBurstIsReportedWithoutBeingClosed) {
  BurstGapTracker t;
  t.onReceived(20);
  feed(t, "L RRR L");
  BurstGapMetrics m = t.metrics(10);
  EXPECT_EQ(m.bursts, 1u);
  EXPECT_DOUBLE_EQ(m.burstDensity, 2.0 / 5);
  EXPECT_DOUBLE_EQ(m.burstMs, 50.0);
  EXPECT_DOUBLE_EQ(m.gapMs, 200.0);
  feed(t, "RR L");
  m = t.metrics(10);
  EXPECT_EQ(m.bursts, 1u);
  EXPECT_DOUBLE_EQ(m.burstDensity, 3.0 / 8);
}

// Consecutive losses at the very start: a burst of 2 first, then one gap; and a run of 30 lost
// in one call is one burst of 30.
TEST(BurstGapTrackerTest, ConsecutiveLossesAreABurst) {
  BurstGapTracker t;
  t.onLost(2);
  t.onReceived(20);
  t.onLost(30);
  t.onReceived(40);
  const BurstGapMetrics m = t.metrics(20);
  EXPECT_EQ(m.bursts, 2u);
  EXPECT_EQ(m.gaps, 2u);
  EXPECT_DOUBLE_EQ(m.burstDensity, 1.0);
  EXPECT_DOUBLE_EQ(m.burstMs, 16 * 20.0);  // (2 + 30) / 2 packets
  EXPECT_DOUBLE_EQ(m.gapMs, 30 * 20.0);    // (20 + 40) / 2 packets
}

// From sequence numbers: seq 1 is the A.1 probation packet, so 2..60 are tracked; 21 never
// arrives (isolated), then 62 and 63 go missing (a burst of 2, closed by the 17 packets 64..80)
// and 70 comes twice (a duplicate changes nothing). Timestamps step by 240 at 8 kHz: 30 ms packets.
TEST(BurstGapTrackerTest, RtpReceiveStatsFeedsSequenceNumbers) {
  RtpReceiveStats stats;
  const auto send = [&](uint16_t seq) {
    std::array<std::byte, 12> buf{};
    buf[0] = std::byte{0x80};
    buf[2] = std::byte(seq >> 8);
    buf[3] = std::byte(seq & 0xff);
    const uint32_t ts = seq * 240u;
    for (int i = 0; i < 4; ++i) buf[4 + static_cast<size_t>(i)] = std::byte((ts >> (24 - 8 * i)) & 0xff);
    buf[8] = std::byte{0x42};
    auto rtp = RtpView::parse(buf);
    ASSERT_TRUE(rtp);
    stats.onPacket(*rtp, uint64_t{seq} * 30'000'000);
  };
  for (uint16_t s = 1; s <= 61; ++s) {
    if (s != 21) send(s);
  }
  for (uint16_t s = 64; s <= 80; ++s) {
    send(s);
    if (s == 70) send(s);
  }
  EXPECT_DOUBLE_EQ(stats.packetMs(), 30.0);
  const BurstGapMetrics m = stats.burstGap();
  // The burst: 62, 63 (2 packets, both lost).
  EXPECT_EQ(m.bursts, 1u);
  EXPECT_DOUBLE_EQ(m.burstDensity, 1.0);
  EXPECT_DOUBLE_EQ(m.burstMs, 60.0);
  // Gaps: 2..61 (60 packets, 21 lost) and 64..80 (17 packets).
  EXPECT_EQ(m.gaps, 2u);
  EXPECT_DOUBLE_EQ(m.gapDensity, 1.0 / 77);
  EXPECT_DOUBLE_EQ(m.gapMs, 77 * 30.0 / 2);
}

TEST(BurstGapTrackerTest, AReorderedPacketWithinTheWindowIsNotALoss) {
  BurstGapTracker t;
  // 1..200 with every tenth pair swapped (from the 11th packet: the first one seen starts the
  // window), and 150 overtaken by 40 later packets.
  std::vector<uint64_t> order;
  for (uint64_t s = 1; s <= 200; ++s) {
    if (s == 150) continue;
    order.push_back(s);
    if (s == 189) order.push_back(150);
  }
  for (size_t i = 10; i + 1 < order.size(); i += 10) std::swap(order[i], order[i + 1]);
  for (uint64_t s : order) t.onSequence(s);
  const BurstGapMetrics m = t.metrics(20);
  EXPECT_EQ(m.bursts, 0u);
  EXPECT_EQ(m.gaps, 1u);
  EXPECT_DOUBLE_EQ(m.gapDensity, 0.0) << "nothing was lost, only reordered";
  EXPECT_DOUBLE_EQ(m.gapMs, 200 * 20.0);
}

TEST(BurstGapTrackerTest, APacketLaterThanTheWindowStaysLostAndDuplicatesChangeNothing) {
  BurstGapTracker t;
  for (uint64_t s = 1; s <= 100; ++s) {
    if (s != 10) t.onSequence(s);
    if (s == 50) t.onSequence(50);  // duplicate
  }
  t.onSequence(10);  // 90 behind: beyond the 64-packet window
  const BurstGapMetrics m = t.metrics(20);
  EXPECT_EQ(m.bursts, 0u);
  EXPECT_DOUBLE_EQ(m.gapDensity, 1.0 / 100);
}

TEST(BurstGapTrackerTest, ARestartClassifiesWhatWasPendingAndStartsOver) {
  BurstGapTracker t;
  for (uint64_t s = 1000; s <= 1010; ++s) {
    if (s != 1005) t.onSequence(s);
  }
  t.restart(7);  // a new sequence space
  for (uint64_t s = 8; s <= 40; ++s) t.onSequence(s);
  const BurstGapMetrics m = t.metrics(20);
  EXPECT_EQ(m.bursts, 0u);
  EXPECT_DOUBLE_EQ(m.gapDensity, 1.0 / (11 + 34)) << "one loss in 11 + 34 packets, no jump counted";
}

}  // namespace
}  // namespace rdv::media
