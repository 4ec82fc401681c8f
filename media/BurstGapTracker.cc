// RFC 3611 §4.7.2 burst/gap classification; see BurstGapTracker.h for the definitions.
#include "media/BurstGapTracker.h"

namespace rdv::media {

void BurstGapTracker::onSequence(uint64_t extSeq) {
  if (!started_) {
    started_ = true;
    base_ = extSeq;
  }
  if (extSeq < base_) return;  // later than the window: already counted as lost
  if (extSeq - base_ >= kReorderWindow) advance(extSeq - base_ - kReorderWindow + 1);
  seen_ |= uint64_t{1} << (extSeq - base_);
}

void BurstGapTracker::restart(uint64_t extSeq) {
  flushSeen();
  started_ = false;
  seen_ = 0;
  onSequence(extSeq);
}

// Classifies the window up to the highest packet seen: beyond it nothing is late, just not sent.
void BurstGapTracker::flushSeen() {
  if (!started_ || seen_ == 0) return;
  uint64_t upTo = 0;
  for (uint64_t i = 0; i < kReorderWindow; ++i) {
    if (seen_ & (uint64_t{1} << i)) upTo = i + 1;
  }
  advance(upTo);
}

void BurstGapTracker::advance(uint64_t n) {
  // Beyond the window, runs of lost packets are classified in one step.
  const uint64_t inWindow = n < kReorderWindow ? n : kReorderWindow;
  for (uint64_t i = 0; i < inWindow; ++i) {
    if (seen_ & 1) {
      onReceived(1);
    } else {
      onLost(1);
    }
    seen_ >>= 1;
  }
  if (n > inWindow) onLost(n - inWindow);  // a jump past the whole window: never seen
  base_ += n;
}

void BurstGapTracker::onReceived(uint64_t count) {
  if (count == 0) return;
  if (candidateLost_ == 0) {
    addGap(count, 0);
    return;
  }
  // Received packets after a loss stay pending: inside the burst if another loss follows
  // before Gmin of them, else the start of a gap.
  const uint64_t untilGmin = kGmin - run_;  // run_ < kGmin while a candidate is open
  if (count < untilGmin) {
    run_ += count;
    return;
  }
  run_ = kGmin;
  closeCandidate();
  addGap(count - untilGmin, 0);
}

void BurstGapTracker::onLost(uint64_t count) {
  if (count == 0) return;
  if (candidateLost_ == 0) {
    candidatePackets_ = count;
    candidateLost_ = count;
  } else {
    candidatePackets_ += run_ + count;  // the received run in between joins the candidate
    candidateLost_ += count;
  }
  run_ = 0;
}

// Ends the open candidate, followed by run_ received packets (the gap that ends it).
void BurstGapTracker::closeCandidate() {
  if (candidateLost_ >= 2) {
    burstPackets_ += candidatePackets_;
    burstLost_ += candidateLost_;
    ++bursts_;
    inGap_ = false;
  } else {
    addGap(candidatePackets_, candidateLost_);
  }
  addGap(run_, 0);
  candidatePackets_ = 0;
  candidateLost_ = 0;
  run_ = 0;
}

void BurstGapTracker::addGap(uint64_t packets, uint64_t lost) {
  if (packets == 0) return;
  if (!inGap_) {
    ++gaps_;
    inGap_ = true;
  }
  gapPackets_ += packets;
  gapLost_ += lost;
}

BurstGapMetrics BurstGapTracker::metrics(double packetMs) const {
  BurstGapTracker t = *this;  // §4.7.2: the report time is followed by Gmin received packets
  t.flushSeen();
  if (t.candidateLost_ > 0) t.closeCandidate();
  BurstGapMetrics m;
  m.bursts = t.bursts_;
  m.gaps = t.gaps_;
  if (t.burstPackets_ > 0) {
    m.burstDensity = static_cast<double>(t.burstLost_) / static_cast<double>(t.burstPackets_);
    m.burstMs = packetMs * static_cast<double>(t.burstPackets_) / static_cast<double>(t.bursts_);
  }
  if (t.gapPackets_ > 0) {
    m.gapDensity = static_cast<double>(t.gapLost_) / static_cast<double>(t.gapPackets_);
    m.gapMs = packetMs * static_cast<double>(t.gapPackets_) / static_cast<double>(t.gaps_);
  }
  return m;
}

}  // namespace rdv::media
