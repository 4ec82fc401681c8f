#include "media/JitterBuffer.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace rdv::media {
namespace {

int seqDelta(uint16_t a, uint16_t b) { return static_cast<int16_t>(static_cast<uint16_t>(a - b)); }

constexpr double kDepthAlpha = 1.0 / 32;        // EWMA of the depth seen at each pop
constexpr uint32_t kBoostDecayPops = 500;       // 10 s without underrun lowers the boost by one
constexpr uint32_t kBurstUnderrunPops = 50;     // two underruns within 1 s raise it
constexpr uint32_t kMaxBoost = 4;
// A depth this many frames over target (a burst after a stall upstream) drops a frame every
// kCatchUpCooldown pops instead of every kDriftCooldown: 200 ms of backlog comes down in ~2 s
// rather than ~10 s of extra latency, at one cut frame per 200 ms while it lasts.
constexpr uint32_t kCatchUpFrames = 3;
constexpr uint32_t kCatchUpCooldown = 10;
// A quiet stream (pop(quiet)) may be trimmed every kQuietTrimCooldown pops: a cut in silence is
// not heard, and a depth a burst left (the joins' start, a generator or network catching up after
// a stall) is then gone within a second of silence, not one frame a second, before the next
// talk spurt starts on it.
constexpr uint32_t kQuietTrimCooldown = 10;
constexpr double kJitterSlackFrames = 0.25;    // 5 ms of a 20 ms frame (targetFrames)

}  // namespace

JitterBuffer::JitterBuffer(const JitterBufferOptions& opts) : opts_(opts), sinceUnderrun_(kBurstUnderrunPops) {
  assert(opts_.frameTicks > 0 && opts_.clockRate > 0);
  opts_.maxFrames = std::clamp<uint32_t>(opts_.maxFrames, 1, kSlots - 2);
  opts_.minFrames = std::clamp<uint32_t>(opts_.minFrames, 1, opts_.maxFrames);
}

uint32_t JitterBuffer::depthFrames() const {
  if (count_ == 0) return 0;
  return static_cast<uint32_t>(seqDelta(highestSeq_, nextSeq_) + 1);
}

uint32_t JitterBuffer::targetFrames() const {
  const double jitterFrames = jitter_ / opts_.frameTicks;
  const auto t = static_cast<uint32_t>(1 + std::ceil(std::max(0.0, 3 * jitterFrames - kJitterSlackFrames))) + boost_;
  return std::clamp(t, opts_.minFrames, opts_.maxFrames);
}

void JitterBuffer::clear() {
  for (Slot& s : slots_) s.used = false;
  count_ = 0;
  playing_ = false;
  concealRun_ = 0;
}

void JitterBuffer::resync(uint32_t ssrc, uint16_t seq) {
  clear();
  hasSsrc_ = true;
  ssrc_ = ssrc;
  nextSeq_ = seq;
  highestSeq_ = seq;
  badSeq_ = 1u << 16;
  hasTransit_ = false;
  avgDepth_ = 0;
  sinceQuietTrim_ = UINT32_MAX;  // a new stream, a new phase: trimming may work for it
  quietTrimOff_ = false;
}

// RFC 3550 A.1: a far jump is believed only when the packet after it follows it.
bool JitterBuffer::acceptJump(uint16_t seq) {
  if (badSeq_ == seq) return true;
  badSeq_ = static_cast<uint16_t>(seq + 1);
  ++stats_.jumpHeld;
  return false;
}

// `seq` lies kSlots or more ahead of the play point: frames that no longer fit behind it are
// dropped, and the play point moves to the oldest frame still buffered (or to `seq`), so a
// burst after an outage is not preceded by frames of concealment.
void JitterBuffer::slideWindow(uint16_t seq) {
  const auto oldest = static_cast<uint16_t>(seq - (kSlots - 1));
  for (Slot& s : slots_) {
    if (s.used && seqDelta(s.seq, oldest) < 0) {
      s.used = false;
      --count_;
      ++stats_.windowDrops;
    }
  }
  nextSeq_ = seq;
  for (uint16_t s = oldest; s != seq; ++s) {
    if (has(s)) {
      nextSeq_ = s;
      break;
    }
  }
}

JitterBuffer::PushResult JitterBuffer::store(uint16_t seq, std::span<const std::byte> payload, int audioLevel) {
  Slot& s = slot(seq);
  if (s.used && s.seq == seq) {
    ++stats_.duplicates;
    return PushResult::Duplicate;
  }
  assert(!s.used);
  s.used = true;
  s.seq = seq;
  s.level = static_cast<int8_t>(std::clamp(audioLevel, -1, 127));
  s.size = static_cast<uint16_t>(payload.size());
  std::memcpy(s.data.data(), payload.data(), payload.size());
  if (count_ == 0 || seqDelta(seq, highestSeq_) > 0) highestSeq_ = seq;
  ++count_;
  ++stats_.pushed;
  return PushResult::Stored;
}

JitterBuffer::PushResult JitterBuffer::push(uint32_t ssrc, uint16_t seq, uint32_t timestamp,
                                            std::span<const std::byte> payload, uint64_t arrivalNs,
                                            int audioLevel) {
  if (payload.size() > kMaxBufferedPayload) {
    ++stats_.tooLarge;
    return PushResult::TooLarge;
  }
  bool resynced = false;
  if (!hasSsrc_ || ssrc != ssrc_) {
    resynced = hasSsrc_;  // the first stream is no resync
    if (resynced) ++stats_.resyncs;
    resync(ssrc, seq);
  }
  if (count_ == 0 && !playing_) nextSeq_ = seq;  // idle: anchor on whatever comes (DTX resume)
  const int d = seqDelta(seq, nextSeq_);
  if (d < -kMaxMisorder || d >= kMaxDropout) {
    if (!acceptJump(seq)) return PushResult::JumpHeld;
    ++stats_.resyncs;
    resync(ssrc_, seq);
    resynced = true;
  } else if (d < 0) {
    const bool fits = count_ == 0 || seqDelta(highestSeq_, seq) < static_cast<int>(kSlots);
    if (playing_ || !fits) {
      ++stats_.late;
      return PushResult::Late;
    }
    nextSeq_ = seq;  // reordered ahead of playout start: begin with the earlier packet
  } else if (d >= static_cast<int>(kSlots)) {
    slideWindow(seq);
  }
  badSeq_ = 1u << 16;
  updateJitter(timestamp, arrivalNs);
  const PushResult r = store(seq, payload, audioLevel);
  return resynced && r == PushResult::Stored ? PushResult::Resynced : r;
}

void JitterBuffer::updateJitter(uint32_t timestamp, uint64_t arrivalNs) {
  const auto arrivalTicks = static_cast<int64_t>(arrivalNs / 1000 * opts_.clockRate / 1'000'000);
  const int64_t transit = arrivalTicks - static_cast<int64_t>(timestamp);
  if (hasTransit_) {
    const auto d = static_cast<double>(std::llabs(transit - transit_));
    // A timestamp jump (sender restart, long DTX) is no jitter sample: re-anchor only.
    if (d < opts_.clockRate) jitter_ += (d - jitter_) / 16.0;
  }
  transit_ = transit;
  hasTransit_ = true;
}

// The buffered frame at the play point, not taken (has(nextSeq_) holds).
JitterBuffer::Frame JitterBuffer::head() const {
  const Slot& s = slots_[nextSeq_ % kSlots];
  return Frame{FrameKind::Packet, std::span<const std::byte>(s.data.data(), s.size), {}, s.level};
}

JitterBuffer::Frame JitterBuffer::take(FrameKind kind) {
  Frame f;
  f.kind = kind;
  if (kind == FrameKind::Packet) {
    f = head();
    slot(nextSeq_).used = false;
    --count_;
  } else {
    ++stats_.lost;
  }
  ++nextSeq_;
  if (has(nextSeq_)) {
    const Slot& n = slot(nextSeq_);
    f.next = std::span<const std::byte>(n.data.data(), n.size);
  }
  return f;
}

JitterBuffer::Frame JitterBuffer::underrun() {
  if (concealRun_ == 0) {  // a new underrun, not the next frame of the same one
    ++stats_.underruns;
    if (sinceQuietTrim_ < kBoostDecayPops) quietTrimOff_ = true;
    if (sinceUnderrun_ < kBurstUnderrunPops && boost_ < kMaxBoost) ++boost_;
    sinceUnderrun_ = 0;
  }
  if (++concealRun_ > kMaxConceal) {
    playing_ = false;  // the sender went quiet; restart with a prefetch when it is back
    return Frame{};
  }
  ++stats_.lost;
  ++stats_.inserted;
  return Frame{FrameKind::Lost, {}, {}, -1};
}

// Drift control on the depth averaged over ~32 pops; see the header's contract.
void JitterBuffer::adapt(bool quiet, const TrimVeto* veto) {
  const uint32_t depth = depthFrames();
  avgDepth_ += (static_cast<double>(depth) - avgDepth_) * kDepthAlpha;
  if (++sinceUnderrun_ % kBoostDecayPops == 0 && boost_ > 0) --boost_;
  if (sinceQuietTrim_ != UINT32_MAX) ++sinceQuietTrim_;
  const double target = targetFrames();
  const bool backlog = depth > target + kCatchUpFrames && avgDepth_ > target + kCatchUpFrames;
  const bool quietTrims = quiet && !quietTrimOff_;
  if (++sinceDrift_ < (backlog ? kCatchUpCooldown : quietTrims ? kQuietTrimCooldown : kDriftCooldown)) return;
  // Drift control (which no veto stops) keeps its own cadence; between its turns only a quiet,
  // vetoable trim may cut.
  const bool drift = (backlog || sinceDrift_ >= kDriftCooldown) && avgDepth_ > target + 1.5 && depth > target + 1;
  // In silence a cut is not heard: come down sooner, unless a trim already cost an underrun.
  bool trim = quietTrims && avgDepth_ > target + 0.75 && depth > target;
  if (trim && !drift && veto != nullptr && has(nextSeq_) && veto->keep(head())) {
    trim = false;
    ++stats_.trimsVetoed;
  }
  if ((drift || trim) && has(nextSeq_)) {
    if (!drift) sinceQuietTrim_ = 0;
    dropHead();
  }
}

void JitterBuffer::dropHead() {
  slot(nextSeq_).used = false;
  --count_;
  ++nextSeq_;
  ++stats_.driftDrops;
  avgDepth_ -= 1;
  sinceDrift_ = 0;
}

void JitterBuffer::skipAhead(uint32_t frames) {
  skipCredit_ = std::min<uint32_t>(skipCredit_ + frames, kSlots);
  skipCreditPops_ = kSkipWindow;
}

void JitterBuffer::spendSkipCredit() {
  if (skipCredit_ == 0) return;
  if (skipCreditPops_ == 0) {
    skipCredit_ = 0;
    return;
  }
  --skipCreditPops_;
  while (skipCredit_ > 0 && depthFrames() > targetFrames() && has(nextSeq_)) {
    dropHead();
    --skipCredit_;
  }
}

JitterBuffer::Frame JitterBuffer::pop(bool quiet, const TrimVeto* veto) {
  if (!playing_) {
    if (count_ == 0 || depthFrames() < targetFrames()) return Frame{};
    playing_ = true;
    avgDepth_ = depthFrames();
    sinceDrift_ = 0;
  }
  spendSkipCredit();
  adapt(quiet, veto);
  if (count_ == 0) return underrun();
  concealRun_ = 0;
  if (sinceDrift_ >= kDriftCooldown && avgDepth_ < static_cast<double>(targetFrames()) - 1.0) {
    ++stats_.inserted;  // stretch: conceal one frame without consuming the buffer
    ++stats_.lost;
    avgDepth_ += 1;
    sinceDrift_ = 0;
    return Frame{FrameKind::Lost, {}, {}, -1};
  }
  return take(has(nextSeq_) ? FrameKind::Packet : FrameKind::Lost);
}

}  // namespace rdv::media
