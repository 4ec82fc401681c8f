// The load governor on made-up tick times: when it steps down, when it comes back, and that a
// load sitting at a level's boundary does not make it flap.
#include "mixer/LoadGovernor.h"

#include <gtest/gtest.h>

#include <array>
#include <functional>

namespace rdv::mixer {
namespace {

constexpr uint64_t kPeriodNs = 20'000'000;

uint64_t busy(double fraction) {
  return static_cast<uint64_t>(fraction * kPeriodNs);
}

// Feeds `ticks` ticks whose busy fraction `load(level)` depends on the governor's current level;
// returns how many times the level changed.
int run(LoadGovernor& g, int ticks, const std::function<double(int)>& load) {
  int changes = 0;
  for (int t = 0; t < ticks; ++t) {
    const int before = g.level();
    if (g.onTick(busy(load(before)), kPeriodNs) != before) ++changes;
  }
  return changes;
}

int run(LoadGovernor& g, int ticks, double fraction) {
  return run(g, ticks, [fraction](int) { return fraction; });
}

// A heavy tick that is mostly decoding and sending (one 1,000-participant room: 4 encodes a tick)
// gains nothing from cheaper encodes: no step down, overrun or not. The same load with the
// encodes of 100 rooms of 10 steps down.
TEST(LoadGovernorTest, StepsDownOnlyWhenTheTicksEncodesAreWorthIt) {
  LoadGovernor big;
  for (int t = 0; t < 100; ++t) big.onTick(busy(t % 10 == 0 ? 1.2 : 0.8), kPeriodNs, 4);
  EXPECT_EQ(big.level(), 0) << "4 encodes a tick: a step would save ~1 % of it";
  LoadGovernor rooms;
  for (int t = 0; t < 100; ++t) rooms.onTick(busy(0.8), kPeriodNs, 500);
  EXPECT_GT(rooms.level(), 0);
}

TEST(LoadGovernorTest, LevelsTradeOpusComplexityThenCeltForCost) {
  const media::EncoderOptions cfg{.complexity = 5};
  EXPECT_EQ(encoderAtLevel(cfg, 0).complexity, 5);
  EXPECT_FALSE(encoderAtLevel(cfg, 0).celtOnly);
  EXPECT_EQ(encoderAtLevel(cfg, 1).complexity, 3);
  EXPECT_EQ(encoderAtLevel(cfg, 2).complexity, 1);
  EXPECT_EQ(encoderAtLevel(cfg, 3).complexity, 0);
  EXPECT_FALSE(encoderAtLevel(cfg, 3).celtOnly);
  EXPECT_TRUE(encoderAtLevel(cfg, kMaxEncodingLevel).celtOnly);
  EXPECT_EQ(encoderAtLevel(cfg, kMaxEncodingLevel).complexity, 0);
  // A configured complexity below a level's ceiling stays; configured CELT stays at every level.
  EXPECT_EQ(encoderAtLevel({.complexity = 2}, 1).complexity, 2);
  EXPECT_TRUE(encoderAtLevel({.celtOnly = true}, 0).celtOnly);
}

TEST(LoadGovernorTest, StepsDownOnSustainedOverloadOneWindowAtATime) {
  LoadGovernor g;
  EXPECT_EQ(run(g, 24, 0.7), 0) << "not before a whole window";
  run(g, 1, 0.7);
  EXPECT_EQ(g.level(), 1);
  EXPECT_NEAR(g.busyAtLastChange(), 0.7, 1e-9);
  run(g, 24, 0.7);
  EXPECT_EQ(g.level(), 1) << "the next level gets a whole window of its own";
  run(g, 1, 0.7);
  EXPECT_EQ(g.level(), 2);
  run(g, 1000, 0.7);
  EXPECT_EQ(g.level(), kMaxEncodingLevel) << "and no further";
}

TEST(LoadGovernorTest, StepsDownAtOnceOnAnOverrun) {
  LoadGovernor g;
  run(g, 100, 0.3);
  EXPECT_EQ(g.onTick(busy(1.2), kPeriodNs), 1);
  EXPECT_EQ(g.onTick(busy(1.2), kPeriodNs), 1) << "the backlog of the slow tick is worked off first";
  run(g, 4, 1.2);
  EXPECT_EQ(g.level(), 1);
  run(g, 1, 1.2);
  EXPECT_EQ(g.level(), 2) << "an overrun after the settling ticks steps again";
}

// 100 rooms of 10 starting at once on one mixer: ~1.7 periods of work at level 0 with 200 Opus
// encodes a tick. One overrun takes the governor to the level predicted to fit (each step saves
// the Opus encodes x its per-encode saving), not one level per settling interval with every tick
// late meanwhile.
TEST(LoadGovernorTest, AnOverloadedStartJumpsToTheLevelPredictedToFit) {
  LoadGovernor g, mild, unknown;
  for (LoadGovernor* x : {&g, &mild, &unknown}) run(*x, 10, 0.3);  // past the first settling ticks
  EXPECT_EQ(g.onTick(busy(1.73), kPeriodNs, 200), kMaxEncodingLevel);
  EXPECT_EQ(mild.onTick(busy(1.05), kPeriodNs, 300), 2) << "21 ms - 300 x (22.5 + 21.5) us = 0.39 of the period";
  EXPECT_EQ(unknown.onTick(busy(1.7), kPeriodNs), 1) << "without the encodes: one step";
}

// A worker at level 2 with 70 Opus encodes a period overruns (22 ms of work): the step to 3 alone
// would save 70 x 11 us, under 5 % of the work, but the step after it saves 31 us an encode, so
// the governor steps, and as far as the prediction says (to 4), instead of staying late at 2. A
// decode-bound big room (9 encodes, 13 ms a tick) has no step worth 5 % and keeps its level.
TEST(LoadGovernorTest, AStepIsWorthItWhenAStepBelowSavesEnough) {
  LoadGovernor g;
  for (int t = 0; t < 25; ++t) g.onTick(busy(0.7), kPeriodNs, 70);
  ASSERT_EQ(g.level(), 2) << "14 ms - 70 x (22.5 + 21.5) us fits under 55 %";
  for (int t = 0; t < 6; ++t) g.onTick(busy(0.5), kPeriodNs, 70);  // settled
  EXPECT_EQ(g.onTick(busy(1.1), kPeriodNs, 70), kMaxEncodingLevel);
  LoadGovernor bigRoom;
  for (int t = 0; t < 200; ++t) bigRoom.onTick(busy(0.65), kPeriodNs, 9);
  EXPECT_EQ(bigRoom.level(), 0) << "9 x 31 us is 2 % of 13 ms";
}

// Every tick near the period without overrunning (a realtime mixer that started with all its
// rooms): the governor steps after heavyTicks such ticks, not after a whole window.
TEST(LoadGovernorTest, ConsecutiveHeavyTicksStepDownBeforeTheWindowFills) {
  LoadGovernor g;
  run(g, 10, 0.3);
  for (int t = 0; t < 2; ++t) EXPECT_EQ(g.onTick(busy(0.87), kPeriodNs, 100), 0);
  EXPECT_GT(g.onTick(busy(0.87), kPeriodNs, 100), 0);
  LoadGovernor spread;
  run(spread, 10, 0.3);
  for (int t = 0; t < 20; ++t) spread.onTick(busy(t % 2 == 0 ? 0.87 : 0.2), kPeriodNs, 100);
  EXPECT_EQ(spread.level(), 0) << "heavy ticks that are not consecutive wait for the window";
}

// With the realtime marks (high 45 %) a tick counts as heavy above 70 %: a ramp of talkers that
// holds the ticks at 72 % steps down after three of them, not after the window's half second.
TEST(LoadGovernorTest, HeavyTicksAreCountedFromTheHighMark) {
  LoadGovernor realtime(LoadGovernorOptions{.highFraction = 0.45, .lowFraction = 0.35});
  LoadGovernor ordinary;
  run(realtime, 10, 0.3);
  run(ordinary, 10, 0.3);
  for (int t = 0; t < 3; ++t) {
    realtime.onTick(busy(0.72), kPeriodNs, 100);
    ordinary.onTick(busy(0.72), kPeriodNs, 100);
  }
  EXPECT_GT(realtime.level(), 0);
  EXPECT_EQ(ordinary.level(), 0) << "72 % is under the default marks' 80 %";
}

TEST(LoadGovernorTest, OneBusyTickBelowTheOverrunLineDoesNotStepDown) {
  LoadGovernor g;
  run(g, 30, 0.3);
  EXPECT_EQ(g.onTick(busy(0.95), kPeriodNs), 0);
  EXPECT_EQ(run(g, 300, 0.3), 0);
  EXPECT_EQ(g.level(), 0);
}

TEST(LoadGovernorTest, StepsUpOnlyAfterTheQuietInterval) {
  LoadGovernor g;
  run(g, 25, 0.7);
  ASSERT_EQ(g.level(), 1);
  // Level 1 costs 0.5 at this load (level 0 cost 0.7); then the load falls to 0.3 at level 1,
  // so level 0 would cost 0.42: it must fit for 250 consecutive ticks (once the window's mean
  // has come down) before the governor climbs.
  EXPECT_EQ(run(g, 25, 0.5), 0);
  EXPECT_EQ(run(g, 249, 0.3), 0);
  EXPECT_EQ(g.level(), 1);
  EXPECT_EQ(run(g, 26, 0.3), 1);
  EXPECT_EQ(g.level(), 0);
}

TEST(LoadGovernorTest, DisabledStaysAtLevelZero) {
  LoadGovernor g(LoadGovernorOptions{.enabled = false});
  run(g, 1000, 1.5);
  EXPECT_EQ(g.level(), 0);
}

// Level 0 costs 0.57 (just over the 0.55 line), level 1 0.42 (under the 0.45 a step up wants).
// Without memory the governor would climb back every 5.5 s and drop again half a second later;
// it remembers what level 0 cost, so it stays at 1 (with tick noise) until the memory is 10
// minutes old, then retries level 0 once, for one window, and stays at 1 again.
TEST(LoadGovernorTest, LoadAtALevelBoundaryDoesNotFlap) {
  constexpr std::array<double, kMaxEncodingLevel + 1> kCost = {0.57, 0.42, 0.35, 0.30, 0.20};
  LoadGovernor g;
  int t = 0;
  const auto noisy = [&](int level) { return kCost[static_cast<size_t>(level)] + ((t++ % 5) - 2) * 0.02; };
  EXPECT_EQ(run(g, 25'000, noisy), 1);
  EXPECT_EQ(g.level(), 1);
  EXPECT_EQ(run(g, 10'000, noisy), 2) << "one retry once the memory is forgotten";
  EXPECT_EQ(g.level(), 1);
  EXPECT_EQ(run(g, 25'000, noisy), 0);
  // The load falls by a third: level 0 would now cost 0.38 and is regained, and stays.
  const auto lighter = [&](int level) { return noisy(level) * 2 / 3; };
  EXPECT_EQ(run(g, 30'000, lighter), 1);
  EXPECT_EQ(g.level(), 0);
}

// A level left on an overrun alone (its mean looked fine) is not retried while the load stays
// the same, until the memory is forgotten; then it is retried once.
TEST(LoadGovernorTest, OverrunSpikeKeepsTheLevelDownUntilForgotten) {
  LoadGovernor g(LoadGovernorOptions{.forgetTicks = 3'000});
  run(g, 100, 0.30);
  g.onTick(busy(1.5), kPeriodNs);
  ASSERT_EQ(g.level(), 1);
  EXPECT_EQ(run(g, 2'900, 0.30), 0);
  EXPECT_EQ(run(g, 400, 0.30), 1);
  EXPECT_EQ(g.level(), 0);
}

}  // namespace
}  // namespace rdv::mixer
