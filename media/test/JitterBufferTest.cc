// Jitter buffer: ordering, duplicates, loss, resync, depth, underrun and clock drift, on
// simulated arrival times (no clock, no sleeping).
#include "media/JitterBuffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <vector>

namespace rdv::media {
namespace {

using Kind = JitterBuffer::FrameKind;
using Push = JitterBuffer::PushResult;

constexpr uint64_t kMs = 1'000'000;
constexpr uint32_t kSsrc = 0x1234;

// A payload that names its sequence number, so a popped frame says which packet it was.
std::array<std::byte, 2> payloadOf(uint16_t seq) { return {std::byte(seq >> 8), std::byte(seq & 0xff)}; }
int seqOf(std::span<const std::byte> p) {
  return p.size() == 2 ? (std::to_integer<int>(p[0]) << 8) | std::to_integer<int>(p[1]) : -1;
}

// Arrival defaults to the packet's own time (20 ms per sequence number): no jitter.
Push push(JitterBuffer& jb, uint16_t seq, uint32_t ssrc = kSsrc) {
  const auto p = payloadOf(seq);
  return jb.push(ssrc, seq, seq * 960u, p, seq * 20 * kMs);
}

// Pops until the first frame that is not Empty (the prefetch) and returns it.
JitterBuffer::Frame firstFrame(JitterBuffer& jb) {
  for (int i = 0; i < 20; ++i) {
    auto f = jb.pop();
    if (f.kind != Kind::Empty) return f;
  }
  return {};
}

TEST(JitterBufferTest, PlaysInOrderPacketsOnePerPop) {
  JitterBuffer jb;
  for (uint16_t s = 100; s < 105; ++s) EXPECT_EQ(push(jb, s), Push::Stored);
  EXPECT_EQ(jb.depthMs(), 100u);
  for (uint16_t s = 100; s < 105; ++s) {
    auto f = jb.pop();
    ASSERT_EQ(f.kind, Kind::Packet);
    EXPECT_EQ(seqOf(f.payload), s);
  }
  EXPECT_EQ(jb.depthMs(), 0u);
}

TEST(JitterBufferTest, ReorderedPacketsPlayInSequence) {
  JitterBuffer jb;
  for (uint16_t s : {11, 10, 13, 12, 14}) EXPECT_EQ(push(jb, s), Push::Stored) << s;
  std::vector<int> played;
  for (int i = 0; i < 5; ++i) played.push_back(seqOf(jb.pop().payload));
  EXPECT_EQ(played, (std::vector<int>{10, 11, 12, 13, 14}));
}

TEST(JitterBufferTest, DuplicateIsDroppedAndCounted) {
  JitterBuffer jb;
  EXPECT_EQ(push(jb, 7), Push::Stored);
  EXPECT_EQ(push(jb, 7), Push::Duplicate);
  EXPECT_EQ(jb.stats().duplicates, 1u);
  EXPECT_EQ(seqOf(firstFrame(jb).payload), 7);
  EXPECT_EQ(push(jb, 7), Push::Late);  // after it played
  EXPECT_EQ(jb.stats().late, 1u);
}

TEST(JitterBufferTest, LossIsConcealedWithTheNextPayloadForFec) {
  JitterBuffer jb;
  for (uint16_t s : {1, 2, 4, 5}) push(jb, s);
  EXPECT_EQ(seqOf(jb.pop().payload), 1);
  EXPECT_EQ(seqOf(jb.pop().payload), 2);
  auto lost = jb.pop();
  EXPECT_EQ(lost.kind, Kind::Lost);
  EXPECT_EQ(seqOf(lost.next), 4) << "Opus recovers frame 3 from packet 4's FEC";
  EXPECT_EQ(seqOf(jb.pop().payload), 4);
  EXPECT_EQ(jb.stats().lost, 1u);
  EXPECT_EQ(push(jb, 3), Push::Late);
}

TEST(JitterBufferTest, SsrcChangeResyncsToTheNewStream) {
  JitterBuffer jb;
  for (uint16_t s = 1; s < 4; ++s) push(jb, s);
  EXPECT_EQ(seqOf(jb.pop().payload), 1);
  EXPECT_EQ(push(jb, 5000, 0x9999), Push::Resynced);
  EXPECT_EQ(jb.stats().resyncs, 1u);
  EXPECT_EQ(jb.depthMs(), 20u);
  EXPECT_EQ(seqOf(firstFrame(jb).payload), 5000);
}

TEST(JitterBufferTest, SequenceJumpNeedsASecondPacketInSequence) {
  JitterBuffer jb;
  push(jb, 1);
  EXPECT_EQ(seqOf(jb.pop().payload), 1);
  EXPECT_EQ(push(jb, 40000), Push::JumpHeld);
  EXPECT_EQ(push(jb, 40001), Push::Resynced);
  EXPECT_EQ(seqOf(firstFrame(jb).payload), 40001);
}

TEST(JitterBufferTest, PacketFarAheadSlidesTheWindowWithoutConcealingTheGap) {
  JitterBuffer jb;
  push(jb, 1);
  EXPECT_EQ(seqOf(jb.pop().payload), 1);
  push(jb, 2);
  EXPECT_EQ(push(jb, 60), Push::Stored);  // 1.2 s outage: 3..59 never came
  EXPECT_EQ(jb.stats().windowDrops, 1u) << "packet 2 fell out of the window";
  EXPECT_EQ(seqOf(jb.pop().payload), 60);
}

TEST(JitterBufferTest, SilentSenderIsConcealedBrieflyThenEmpty) {
  JitterBuffer jb;
  push(jb, 1);
  EXPECT_EQ(jb.pop().kind, Kind::Packet);
  for (uint32_t i = 0; i < JitterBuffer::kMaxConceal; ++i) EXPECT_EQ(jb.pop().kind, Kind::Lost);
  EXPECT_EQ(jb.pop().kind, Kind::Empty);
  EXPECT_FALSE(jb.playing());
  EXPECT_EQ(jb.stats().underruns, 1u);
  push(jb, 2);  // the late packet still plays: the play point waited for it
  EXPECT_EQ(seqOf(firstFrame(jb).payload), 2);
}

TEST(JitterBufferTest, TimestampJumpWithContinuousSequencePlaysOnWithoutJitterSpike) {
  JitterBuffer jb;
  for (uint16_t s = 1; s <= 20; ++s) push(jb, s);
  for (int i = 0; i < 20; ++i) jb.pop();
  const auto p = payloadOf(21);
  // The sender's timestamp leaps 10 s ahead (a restart or a long DTX pause), the sequence does not.
  EXPECT_EQ(jb.push(kSsrc, 21, 21 * 960u + 480'000, p, 21 * 20 * kMs), Push::Stored);
  EXPECT_LT(jb.jitterMs(), 1.0);
  EXPECT_EQ(seqOf(firstFrame(jb).payload), 21);
}

TEST(JitterBufferTest, CarriesTheAudioLevelOfEachPacket) {
  JitterBuffer jb;
  const auto p = payloadOf(1);
  jb.push(kSsrc, 1, 0, p, 0, 42);
  EXPECT_EQ(jb.pop().audioLevel, 42);
}

TEST(JitterBufferTest, RejectsOversizedPayload) {
  JitterBuffer jb;
  std::vector<std::byte> big(JitterBuffer::kMaxBufferedPayload + 1);
  EXPECT_EQ(jb.push(kSsrc, 1, 0, big, 0), Push::TooLarge);
  EXPECT_EQ(jb.depthMs(), 0u);
}

// Runs a sender whose packets are `intervalUs` apart (with optional jitter) against a 20 ms pop
// for `seconds`; returns the largest depth seen.
uint32_t runSender(JitterBuffer& jb, uint64_t intervalUs, int seconds, uint64_t jitterUs = 0) {
  uint32_t maxDepth = 0;
  uint64_t nextSend = 0;
  uint16_t seq = 0;
  for (uint64_t popUs = 30'000; popUs < uint64_t(seconds) * 1'000'000; popUs += 20'000) {
    for (; nextSend <= popUs; nextSend += intervalUs, ++seq) {
      const uint64_t wobble = jitterUs == 0 ? 0 : (seq * 7919u) % jitterUs;  // deterministic spread
      const auto p = payloadOf(seq);
      jb.push(kSsrc, seq, seq * 960u, p, (nextSend + wobble) * 1000);
    }
    maxDepth = std::max(maxDepth, jb.depthMs());
    jb.pop();
  }
  return maxDepth;
}

TEST(JitterBufferTest, FastSenderClockIsPulledBackByDroppingFrames) {
  JitterBuffer jb;
  const uint32_t maxDepth = runSender(jb, 19'900, 60);  // +0.5 %: 15 extra frames a minute
  EXPECT_LE(maxDepth, 100u);
  EXPECT_GE(jb.stats().driftDrops, 10u);
  EXPECT_EQ(jb.stats().windowDrops, 0u);
}

TEST(JitterBufferTest, SlowSenderClockIsStretchedByInsertingFrames) {
  JitterBuffer jb;
  runSender(jb, 20'100, 60);  // -0.5 %
  EXPECT_GE(jb.stats().inserted, 10u);
  EXPECT_LE(jb.stats().inserted, 30u);
  EXPECT_LE(jb.depthMs(), 100u);
}

TEST(JitterBufferTest, JitterRaisesTheTargetDepth) {
  JitterBuffer calm;
  runSender(calm, 20'000, 10);
  JitterBuffer jittery;
  runSender(jittery, 20'000, 10, 30'000);
  EXPECT_EQ(calm.targetMs(), 20u);
  EXPECT_GT(jittery.targetMs(), calm.targetMs());
  EXPECT_GT(jittery.jitterMs(), 3.0);
  EXPECT_LE(jittery.targetMs(), 200u);
}

// Loopback-grade jitter (arrivals up to 1 ms late, RFC 3550 jitter well under 1 ms) needs no
// second frame: the target stays one frame (it was two for any measurable jitter).
TEST(JitterBufferTest, SubMillisecondJitterKeepsAOneFrameTarget) {
  JitterBuffer jb;
  runSender(jb, 20'000, 10, 1'000);
  EXPECT_GT(jb.jitterMs(), 0.0);
  EXPECT_LT(jb.jitterMs(), 1.0);
  EXPECT_EQ(jb.targetMs(), 20u);
}

// A stream that starts with a burst (three frames at once, as at a room's start) and then keeps
// perfect time: played as speech the buffer keeps the extra frame the drift hysteresis tolerates;
// played as silence it comes down to its one-frame target.
uint32_t depthAfterStartBurst(bool quiet) {
  JitterBuffer jb;
  uint16_t seq = 0;
  for (; seq < 3; ++seq) jb.push(kSsrc, seq, seq * 960u, payloadOf(seq), 0);
  uint32_t depth = 0;
  for (int tick = 0; tick < 250; ++tick, ++seq) {  // 5 s
    const uint64_t now = (uint64_t(tick) * 20'000 + 10'000) * 1000;
    jb.push(kSsrc, seq, seq * 960u, payloadOf(seq), now);
    depth = jb.depthMs();  // what the tick finds, its own frame included
    jb.pop(quiet);
  }
  return depth;
}

TEST(JitterBufferTest, ABufferDeepenedByTheStartComesDownToItsTargetInSilence) {
  EXPECT_EQ(depthAfterStartBurst(false), 40u) << "speech: one extra frame is tolerated";
  EXPECT_EQ(depthAfterStartBurst(true), 20u) << "silence: trimmed to the target";
}

// The frames a quiet stream plays after a start burst (as in depthAfterStartBurst), its trims asked
// of `veto`; returns the sequence numbers popped as packets.
std::vector<int> playedAfterStartBurst(const JitterBuffer::TrimVeto* veto, JitterBufferStats* stats = nullptr) {
  JitterBuffer jb;
  uint16_t seq = 0;
  for (; seq < 3; ++seq) jb.push(kSsrc, seq, seq * 960u, payloadOf(seq), 0);
  std::vector<int> played;
  for (int tick = 0; tick < 250; ++tick, ++seq) {
    jb.push(kSsrc, seq, seq * 960u, payloadOf(seq), (uint64_t(tick) * 20'000 + 10'000) * 1000);
    const JitterBuffer::Frame f = jb.pop(true, veto);
    if (f.kind == Kind::Packet) played.push_back(seqOf(f.payload));
  }
  if (stats != nullptr) *stats = jb.stats();
  return played;
}

// Keeps the frames in [from, to): say, a talker's first words landing where the trim would cut.
struct KeepRange : JitterBuffer::TrimVeto {
  KeepRange(int from, int to) : from(from), to(to) {}
  bool keep(const JitterBuffer::Frame& head) const override {
    const int seq = seqOf(head.payload);
    ++asked;
    return seq >= from && seq < to;
  }
  int from, to;
  mutable int asked = 0;
};

std::vector<int> missing(const std::vector<int>& played) {
  std::vector<int> gaps;
  for (size_t i = 1; i < played.size(); ++i) {
    for (int seq = played[i - 1] + 1; seq < played[i]; ++seq) gaps.push_back(seq);
  }
  return gaps;
}

// A quiet trim asks the caller first: the frame it would drop is kept when the caller says it
// starts speech, and the trim falls on the first frame after it that the caller lets go. (In
// silence the burst's three frames over target all go by quiet trims, ten pops apart: the caller
// is asked at each, and again at each frame it keeps.)
TEST(JitterBufferTest, AQuietTrimKeepsTheFramesTheCallerSaysStartSpeech) {
  JitterBufferStats plain;
  const std::vector<int> cut = missing(playedAfterStartBurst(nullptr, &plain));
  ASSERT_EQ(cut.size(), 3u);
  const int trimmed = cut.back();
  KeepRange onset(trimmed, trimmed + 3);
  JitterBufferStats stats;
  const std::vector<int> vetoed = missing(playedAfterStartBurst(&onset, &stats));
  EXPECT_EQ(vetoed, (std::vector<int>{cut[0], cut[1], trimmed + 3})) << "the trim waited for a frame it may drop";
  EXPECT_EQ(onset.asked, 6) << "asked only when a trim was due: at the first two cuts, then at each frame kept and the next";
  EXPECT_EQ(stats.driftDrops, plain.driftDrops) << "and the depth still came down to its target";
}

// A talking stream stalls for 200 ms upstream and its ten frames then arrive at once (a busy
// sender, a congested link): the backlog of nine frames over target is cut one frame every 200
// ms while it lasts, so the added latency is gone within ~3 s rather than ~10 s (one frame per
// second of drift control), and what stays is drift control's tolerance, not the backlog.
TEST(JitterBufferTest, ABacklogAfterAStallComesDownWithinSecondsWhileTalking) {
  JitterBuffer jb;
  uint16_t seq = 0;
  std::vector<uint32_t> depthMs;
  for (int tick = 0; tick < 500; ++tick) {  // 10 s, a stall from 2.0 to 2.2 s
    const uint64_t now = (uint64_t(tick) * 20'000 + 10'000) * 1000;
    const bool stalled = tick >= 100 && tick < 110;
    if (!stalled) {
      for (; seq <= tick; ++seq) jb.push(kSsrc, seq, seq * 960u, payloadOf(seq), now);
    }
    depthMs.push_back(jb.depthMs());
    jb.pop(false);
  }
  EXPECT_GE(depthMs[111], 180u) << "the burst filled the buffer";
  EXPECT_LE(depthMs[110 + 150], 60u) << "3 s later the backlog is gone";
  EXPECT_GE(jb.stats().driftDrops, 7u);
}

// The machine freezes for 100 ms (ticks 100-104: nothing arrives, nothing is played); the mixer
// resumes first, skips four periods and plays one, then the frames of the freeze arrive at once.
// Told of the skip, the buffer drops them on its next pop and holds at most the two frames its
// target grew to with the burst's jitter; left to its backlog control (not told) it still holds
// 140 ms there, and 60 ms 1.9 s later.
TEST(JitterBufferTest, FramesOfSkippedPeriodsAreDroppedAsSoonAsTheyArrive) {
  std::vector<uint32_t> depthMs[2];  // after each tick's pop: [0] told, [1] not told
  uint64_t drops[2] = {};
  for (const int run : {0, 1}) {
    JitterBuffer jb;
    uint16_t seq = 0;
    for (int tick = 0; tick < 200; ++tick) {
      const uint64_t now = (uint64_t(tick) * 20'000 + 10'000) * 1000;
      const bool frozen = tick >= 100 && tick < 105;
      if (!frozen && tick != 105) {
        for (; seq <= tick; ++seq) jb.push(kSsrc, seq, seq * 960u, payloadOf(seq), now);
      }
      if (tick == 105 && run == 0) jb.skipAhead(4);
      if (!frozen) jb.pop(false);
      if (tick == 105) {  // the frames of the freeze, after the mixer's first tick
        for (; seq <= tick; ++seq) jb.push(kSsrc, seq, seq * 960u, payloadOf(seq), now);
      }
      depthMs[run].push_back(jb.depthMs());
    }
    drops[run] = jb.stats().driftDrops;
  }
  EXPECT_EQ(depthMs[0][99], 0u) << "a jitter-free stream: the frame lands before the tick that plays it";
  EXPECT_LE(depthMs[0][106], 40u) << "the first pop after the burst dropped it";
  EXPECT_GE(drops[0], 4u);
  EXPECT_GE(depthMs[1][106], 140u) << "not told: the burst is still there";
  EXPECT_GE(depthMs[1][199], depthMs[0][199] + 40) << "and much of it 1.9 s later";
}

// A quiet stream whose frames land 1 ms before the tick, except every 100th, 2 ms after it: at the
// one-frame target that frame underruns. After the first trim has cost an underrun the buffer
// keeps its second frame instead of trimming into the same underrun every couple of seconds.
TEST(JitterBufferTest, ATrimThatCostAnUnderrunIsNotRepeated) {
  JitterBuffer jb;
  uint16_t seq = 0;
  for (; seq < 3; ++seq) jb.push(kSsrc, seq, seq * 960u, payloadOf(seq), 0);
  for (int tick = 1; tick < 1500; ++tick, ++seq) {  // 30 s
    const uint64_t tickNs = uint64_t(tick) * 20'000'000;
    const bool late = seq % 100 == 0;
    if (!late) jb.push(kSsrc, seq, seq * 960u, payloadOf(seq), tickNs - 1'000'000);
    jb.pop(true);
    if (late) jb.push(kSsrc, seq, seq * 960u, payloadOf(seq), tickNs + 2'000'000);
  }
  EXPECT_GE(jb.stats().driftDrops, 1u) << "the start burst was trimmed";
  EXPECT_LE(jb.stats().underruns, 1u) << "and the trim that cost an underrun was not repeated";
}

}  // namespace
}  // namespace rdv::media
