#include "relay/Latch.h"

#include <gtest/gtest.h>

namespace rdv::relay {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSilence = 1000 * kMs;

common::SockAddr addr(const char* ip, uint16_t port) { return *common::SockAddr::fromIp(ip, port); }

TEST(Latch, LatchesToFirstSourceThenDropsOthers) {
  Latch l;
  EXPECT_EQ(l.onPacket(addr("198.18.0.1", 4000), 111, 0, kSilence), LatchVerdict::Latched);
  EXPECT_EQ(l.onPacket(addr("198.18.0.1", 4000), 111, 20 * kMs, kSilence), LatchVerdict::Accepted);
  EXPECT_EQ(l.onPacket(addr("198.18.0.66", 4000), 111, 40 * kMs, kSilence), LatchVerdict::Spoofed);
  EXPECT_EQ(l.onPacket(addr("198.18.0.1", 4001), 999, 60 * kMs, kSilence), LatchVerdict::Spoofed);
  EXPECT_EQ(l.address(), addr("198.18.0.1", 4000));
}

TEST(Latch, AttackerWithOtherSsrcNeverRelatchesEvenAfterSilence) {
  Latch l;
  (void)l.onPacket(addr("198.18.0.1", 4000), 111, 0, kSilence);
  EXPECT_EQ(l.onPacket(addr("198.18.0.66", 5000), 222, 5000 * kMs, kSilence), LatchVerdict::Spoofed);
  EXPECT_EQ(l.address(), addr("198.18.0.1", 4000));
}

TEST(Latch, SameSsrcFromNewPortWhileOldSourceActiveIsSpoofed) {
  Latch l;
  (void)l.onPacket(addr("198.18.0.1", 4000), 111, 0, kSilence);
  (void)l.onPacket(addr("198.18.0.1", 4000), 111, 500 * kMs, kSilence);
  EXPECT_EQ(l.onPacket(addr("198.18.0.1", 4002), 111, 900 * kMs, kSilence), LatchVerdict::Spoofed);
}

TEST(Latch, RelatchesOnNatRebindingAfterSilence) {
  Latch l;
  (void)l.onPacket(addr("198.18.0.1", 4000), 111, 0, kSilence);
  EXPECT_EQ(l.onPacket(addr("198.18.0.1", 4002), 111, 1000 * kMs, kSilence), LatchVerdict::Relatched);
  EXPECT_EQ(l.address(), addr("198.18.0.1", 4002));
  // The old mapping is now the stranger.
  EXPECT_EQ(l.onPacket(addr("198.18.0.1", 4000), 111, 1010 * kMs, kSilence), LatchVerdict::Spoofed);
}

// A clock reading older than the last activity (e.g. a batch stamped before a later event was
// recorded) must not look like a long silence: unsigned wrap-around would allow a hijack.
TEST(Latch, EarlierClockThanLastActivityNeverCountsAsSilence) {
  Latch l;
  (void)l.onPacket(addr("198.18.0.1", 4000), 111, 5000 * kMs, kSilence);
  EXPECT_EQ(l.onPacket(addr("198.18.0.1", 4002), 111, 4999 * kMs, kSilence), LatchVerdict::Spoofed);
}

TEST(Latch, SsrcChangeFromLatchedAddressIsAccepted) {
  Latch l;
  (void)l.onPacket(addr("198.18.0.1", 4000), 111, 0, kSilence);
  EXPECT_EQ(l.onPacket(addr("198.18.0.1", 4000), 333, 10 * kMs, kSilence), LatchVerdict::Accepted);
  EXPECT_EQ(l.ssrc(), 333U);
}

// An authenticated ICE nomination (RelayWorkerIce.cc) moves the latch at once, keeping the SSRC:
// RTP from the new address is then the leg's, from the old one a stranger's.
TEST(Latch, MoveToFollowsANominationAndKeepsTheSsrc) {
  Latch l;
  EXPECT_EQ(l.moveTo(addr("198.18.0.1", 4000), 0), LatchVerdict::Latched);
  EXPECT_EQ(l.onPacket(addr("198.18.0.1", 4000), 111, 10 * kMs, kSilence), LatchVerdict::Accepted);
  EXPECT_EQ(l.moveTo(addr("198.18.0.1", 4000), 20 * kMs), LatchVerdict::Accepted);
  EXPECT_EQ(l.moveTo(addr("198.18.0.2", 5000), 30 * kMs), LatchVerdict::Relatched);
  EXPECT_EQ(l.address(), addr("198.18.0.2", 5000));
  EXPECT_EQ(l.ssrc(), 111U);
  EXPECT_EQ(l.onPacket(addr("198.18.0.2", 5000), 111, 40 * kMs, kSilence), LatchVerdict::Accepted);
  EXPECT_EQ(l.onPacket(addr("198.18.0.1", 4000), 111, 50 * kMs, kSilence), LatchVerdict::Spoofed);
}

}  // namespace
}  // namespace rdv::relay
