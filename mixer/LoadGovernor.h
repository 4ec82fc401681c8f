#pragma once
// The mixer worker's load governor: fed each tick's busy time, it keeps an encoding level that
// trades Opus encoder cost for headroom. Level 0 is the configured encoder; each level above is
// cheaper (encoderAtLevel). A late tick is lost audio for every room on the worker, so the
// governor steps down fast when the recent ticks are heavy or one overruns, and climbs back
// slowly, only when the level above is predicted to fit (what it cost when it was left, scaled
// by how the load has moved since), so a load that sits at a boundary does not flap.
//
// Pure state: no clock, no threads, no allocation after construction. The worker owns one and
// calls onTick() after every tick.

#include <cstdint>
#include <vector>

#include "media/AudioCodec.h"

namespace rdv::mixer {

// Level 0: the configured encoders; 1: Opus complexity at most 3; 2: at most 1; 3: 0; 4: CELT
// only (OPUS_APPLICATION_RESTRICTED_LOWDELAY) at complexity 0. Each level costs
// less than the one before (LoadGovernor.cc). Only Opus has a cost to trade: G.711/G.722
// encoders are a few microseconds a frame.
inline constexpr int kMaxEncodingLevel = 4;

// The encoder options at `level` (0..kMaxEncodingLevel) for encoders configured with `cfg`: the
// level's complexity is a ceiling (a configured complexity below it stays), and CELT only stays
// on when it is configured.
media::EncoderOptions encoderAtLevel(const media::EncoderOptions& cfg, int level);

struct LoadGovernorOptions {
  bool enabled = true;  // false: the level stays 0 (conference.adaptive_encoding = 0)
  // Busy fraction = a tick's work / the tick period, averaged over the last windowTicks ticks
  // (25 = 0.5 s: long enough that one slow tick, e.g. a room's join or a preemption, does not
  // count as load; short enough to react within half a second).
  uint32_t windowTicks = 25;
  // Step down when that mean exceeds this. A mixer's tick-to-tick spread is about ±20 % of its
  // mean (mixer_bench 100 x 10: 42 ± 7.6 ms), and on a shared machine the busy time also holds
  // the time the thread waited for a core; above about half the period a worker starts to
  // overrun, so 0.55 leaves that margin (conference.adaptive_high_percent).
  double highFraction = 0.55;
  // Step down, without waiting for the window, after heavyTicks consecutive ticks each busier
  // than highFraction + heavyMargin, at most 0.95 (0.8 at the default mark, 0.7 at realtime's 0.45): a
  // mixer that starts near its limit (every room's media beginning at once) is near overrunning
  // on every tick, and with realtime priority (conference.realtime_priority) it leaves the relay
  // threads almost nothing meanwhile. Tied to the high mark because a realtime mixer's lower mark
  // is there for a margin against stalls it cannot see coming; a ramp of talkers starting over a
  // second would otherwise hold it at 70-80 % for the window's half second (an overrun at 21 ms,
  // 15.5 of them work, was seen so in the 100 x 10 benchmark).
  double heavyMargin = 0.25;
  uint32_t heavyTicks = 3;
  // Step up only when the level above is predicted to stay under this (its mean when it was
  // left, times the change of load since): 10 points under highFraction, so a level that sat just
  // above the line is not retried while the load is unchanged (conference.adaptive_low_percent).
  double lowFraction = 0.45;
  // Consecutive ticks the prediction must fit before stepping up (250 = 5 s): quality comes back
  // slowly, a step down is at most one window away (conference.adaptive_quiet_seconds).
  uint32_t quietTicks = 250;
  // After a change, ticks during which an overrun does not step down again: the queues that
  // piled up during the slow ticks are worked off first (5 = 100 ms).
  uint32_t settleTicks = 5;
  // What was learnt when a level was left is forgotten after this many ticks (30,000 = 10 min):
  // the level is then retried as soon as this one's mean is under lowFraction. A memory taken in
  // a transient (a burst of joins, the machine busy for a while) thus keeps quality down for at
  // most 10 minutes, and a load that really sits at a boundary costs one half-second retry per
  // 10 minutes. A level left on a single overrun (its mean may have looked fine) is remembered
  // as costing at least highFraction.
  uint32_t forgetTicks = 30'000;
  // A step down must be worth it: the Opus encodes of a tick, at what the best single step from
  // the current level down saves per encode (LoadGovernor.cc), must come to at least this share of
  // the busy time. A 1,000-participant room
  // spends its tick decoding and sending; its 4 encodes per tick are ~1 % of it, and stepping
  // its one shared mix down to CELT would cost quality for nothing.
  double minStepSaving = 0.05;
};

class LoadGovernor {
 public:
  explicit LoadGovernor(const LoadGovernorOptions& opts = {});

  static constexpr uint32_t kUnknownEncodes = UINT32_MAX;
  // One tick took `busyNs` of a `periodNs` period and ran `encodes` Opus encodes (kUnknownEncodes:
  // a step down is assumed worth it, one level at a time). Returns the level to use from now on (the caller applies it
  // when it changed).
  int onTick(uint64_t busyNs, uint64_t periodNs, uint32_t encodes = kUnknownEncodes);

  int level() const { return level_; }
  // The mean busy fraction over the current window (restarted at each change; 0 until a tick).
  double busyFraction() const;
  // The mean busy fraction that decided the last change (for the log).
  double busyAtLastChange() const { return busyAtLastChange_; }

 private:
  struct Memory {
    double busyAbove = 0;  // mean busy fraction at the level above when it was left
    double busyHere = 0;   // mean at this level once its first window was full; 0 = not yet
    bool fromOverrun = false;
    uint64_t sinceTick = 0;
  };

  void stepDown(bool overrun, double busyNs, double periodNs);
  void stepUp();
  bool levelAboveFits() const;
  void restartWindow();
  bool stepWorthIt(double busyNs) const;
  double encodes() const;

  LoadGovernorOptions opts_;
  std::vector<double> window_;  // windowTicks busy fractions, a ring
  size_t filled_ = 0;
  size_t next_ = 0;
  double sum_ = 0;
  int level_ = 0;
  uint64_t ticks_ = 0;
  uint64_t changedAt_ = 0;
  double encodes_ = -1;  // Opus encodes per tick, smoothed; < 0 unknown
  double lastEncodes_ = 0;
  uint32_t quiet_ = 0;
  uint32_t heavy_ = 0;      // consecutive ticks over highFraction + heavyMargin
  double heavySumNs_ = 0;   // their busy time
  double busyAtLastChange_ = 0;
  // memory_[l]: what was learnt when level l - 1 was left for level l (index 0 unused).
  Memory memory_[kMaxEncodingLevel + 1];
};

}  // namespace rdv::mixer
