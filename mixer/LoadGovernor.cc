#include "mixer/LoadGovernor.h"

#include <algorithm>

namespace rdv::mixer {
namespace {

// The Opus complexity ceiling of each level. mixer_bench BM_HundredMixedRooms (100 rooms of 10,
// 200 Opus encodes per tick, benchmarks/README.md): 34.6 ms per tick as configured (5), 30.1 at 3,
// 25.8 at 1, 23.6 at 0, 17.4 with CELT only at 0. CELT's cost moves with complexity too (its pitch
// pre-filter and TF analysis: a voice-like frame here ~18 us at 0, 26 at 1, 33 at 3, 45 at 5), so
// the last resort is CELT at 0.
constexpr int kComplexityCap[kMaxEncodingLevel + 1] = {10, 3, 1, 0, 0};
// What the step from each level saves per Opus encode, from the same figures (ms per tick saved /
// 200 encodes): 4.5, 4.3, 2.2, 6.2 ms, applied to the tick's Opus encodes (the only ones a level
// changes). Measured on one machine: on a slower one the savings are larger, so the governor
// errs towards smaller and fewer steps, never towards steps that cannot matter.
constexpr double kStepSavingNs[kMaxEncodingLevel] = {22'500, 21'500, 11'000, 31'000};
// The heavy-tick line never above this, whatever the high mark (adaptive_high_percent goes to 100).
constexpr double kHeavyCeiling = 0.95;

}  // namespace

media::EncoderOptions encoderAtLevel(const media::EncoderOptions& cfg, int level) {
  media::EncoderOptions e = cfg;
  level = std::clamp(level, 0, kMaxEncodingLevel);
  e.complexity = std::min(cfg.complexity, kComplexityCap[level]);
  e.celtOnly = cfg.celtOnly || level == kMaxEncodingLevel;
  return e;
}

LoadGovernor::LoadGovernor(const LoadGovernorOptions& opts)
    : opts_(opts), window_(std::max<uint32_t>(opts.windowTicks, 1), 0.0) {}

double LoadGovernor::busyFraction() const {
  return filled_ == 0 ? 0.0 : sum_ / static_cast<double>(filled_);
}

void LoadGovernor::restartWindow() {
  busyAtLastChange_ = busyFraction();
  std::fill(window_.begin(), window_.end(), 0.0);
  filled_ = 0;
  next_ = 0;
  sum_ = 0;
  quiet_ = 0;
  heavy_ = 0;
  heavySumNs_ = 0;
  changedAt_ = ticks_;
}

// The smoothed count, or the last tick's when higher: when media starts in many rooms at once the
// overrunning ticks already encode for all of them while the smoothed count is still climbing.
double LoadGovernor::encodes() const { return encodes_ < 0 ? -1 : std::max(encodes_, lastEncodes_); }

// Worth it when some step from this level down saves enough on its own; the cheaper steps on the
// way to it are taken too. From level 2 the step to 3 saves 11 us an encode, too little for a
// worker with 70 Opus encodes a period and 22 ms of work, but 3 to 4 saves 31: judged on the next
// step alone, a worker overrunning at level 2 stayed there (100 x 10, a ramp of talkers on a busy
// machine). Not the steps' sum: a decode-bound big room (9 encodes, 13 ms) would then step to
// CELT to save 6 % and never come back.
bool LoadGovernor::stepWorthIt(double busyNs) const {
  if (level_ >= kMaxEncodingLevel) return false;
  const double best = *std::max_element(kStepSavingNs + level_, kStepSavingNs + kMaxEncodingLevel);
  return encodes() < 0 || encodes() * best >= opts_.minStepSaving * busyNs;
}

int LoadGovernor::onTick(uint64_t busyNs, uint64_t periodNs, uint32_t encodes) {
  ++ticks_;
  if (encodes == kUnknownEncodes) {
    encodes_ = -1;
  } else {
    encodes_ = encodes_ < 0 ? encodes : encodes_ + (encodes - encodes_) / 8;
    lastEncodes_ = encodes;
  }
  const double f = periodNs == 0 ? 0.0 : static_cast<double>(busyNs) / static_cast<double>(periodNs);
  sum_ += f - window_[next_];
  window_[next_] = f;
  next_ = (next_ + 1) % window_.size();
  filled_ = std::min(filled_ + 1, window_.size());
  if (!opts_.enabled) return level_;
  heavy_ = f > std::min(opts_.highFraction + opts_.heavyMargin, kHeavyCeiling) ? heavy_ + 1 : 0;
  heavySumNs_ = heavy_ == 0 ? 0 : heavySumNs_ + static_cast<double>(busyNs);
  const bool settled = ticks_ - changedAt_ > opts_.settleTicks;
  if (busyNs > periodNs && level_ < kMaxEncodingLevel && settled && stepWorthIt(static_cast<double>(busyNs))) {
    stepDown(true, static_cast<double>(busyNs), static_cast<double>(periodNs));
    return level_;
  }
  if (heavy_ >= opts_.heavyTicks && settled && level_ < kMaxEncodingLevel && stepWorthIt(heavySumNs_ / heavy_)) {
    stepDown(false, heavySumNs_ / heavy_, static_cast<double>(periodNs));
    return level_;
  }
  if (filled_ < window_.size()) return level_;  // a whole window at this level first
  const double mean = busyFraction();
  if (level_ > 0 && memory_[level_].busyHere == 0) memory_[level_].busyHere = std::max(mean, 0.01);
  if (mean > opts_.highFraction && level_ < kMaxEncodingLevel && stepWorthIt(mean * static_cast<double>(periodNs))) {
    stepDown(false, mean * static_cast<double>(periodNs), static_cast<double>(periodNs));
    return level_;
  }
  if (level_ > 0) {
    quiet_ = levelAboveFits() ? quiet_ + 1 : 0;
    if (quiet_ >= opts_.quietTicks) stepUp();
  }
  return level_;
}

// Steps down as far as the tick's encodes predict it must: each step saves encodes x
// kStepSavingNs, and the governor goes to the first level whose predicted busy time fits under
// highFraction (one step when the encodes are unknown). A mixer that starts overloaded (a hundred
// rooms joining at once) thus reaches a level that fits in one tick instead of one step per
// settleTicks, each of them late. The levels jumped over remember their predicted cost as the
// cost of the level above them.
void LoadGovernor::stepDown(bool overrun, double busyNs, double periodNs) {
  double predicted = busyNs;
  double above = busyFraction();
  do {
    ++level_;
    memory_[level_] = Memory{above, 0, overrun, ticks_};
    if (encodes() < 0) break;
    predicted -= encodes() * kStepSavingNs[level_ - 1];
    above = predicted / periodNs;
  } while (predicted > opts_.highFraction * periodNs && stepWorthIt(predicted));
  restartWindow();
}

void LoadGovernor::stepUp() {
  memory_[level_] = Memory{};
  --level_;
  restartWindow();
}

// The level above is predicted to cost what it cost when it was left, scaled by how this level's
// load has moved since it was first measured; leaving on an overrun counts the level above as at
// least highFraction. Once forgetTicks have passed, the memory no longer holds it back.
bool LoadGovernor::levelAboveFits() const {
  const Memory& m = memory_[level_];
  if (m.busyHere == 0) return false;
  if (ticks_ - m.sinceTick >= opts_.forgetTicks) return busyFraction() < opts_.lowFraction;
  const double above = m.fromOverrun ? std::max(m.busyAbove, opts_.highFraction) : m.busyAbove;
  return busyFraction() * above / m.busyHere < opts_.lowFraction;
}

}  // namespace rdv::mixer
