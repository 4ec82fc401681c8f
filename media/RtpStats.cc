#include "media/RtpStats.h"

#include <algorithm>
#include <cmath>

namespace rdv::media {
namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000;

// Arrival time in RTP timestamp units, modulo 2^32 like RTP timestamps (A.8). Split so the
// product cannot overflow: (ns % 1e9) * rate < 1e9 * 2^32 < 2^64.
uint32_t toRtpUnits(uint64_t ns, uint32_t rate) {
  const uint64_t units = (ns / kNsPerSecond) * rate + (ns % kNsPerSecond) * rate / kNsPerSecond;
  return static_cast<uint32_t>(units);
}

}  // namespace

void RtpReceiveStats::onPacket(const RtpView& rtp, uint64_t arrivalNs) {
  ++packets_;
  const uint16_t seq = rtp.sequence();
  if (!hasSsrc_ || rtp.ssrc() != ssrc_) startSource(rtp.ssrc(), seq);
  if (updateSeq(seq)) {
    updateJitter(rtp, arrivalNs);
    updatePacketDuration(rtp);
  }
}

double RtpReceiveStats::lossFraction() const {
  const uint64_t exp = expected();
  if (exp == 0) return 0.0;
  return std::clamp(static_cast<double>(lost()) / static_cast<double>(exp), 0.0, 1.0);
}

void RtpReceiveStats::startSource(uint32_t ssrc, uint16_t seq) {
  foldSourceIntoTotals();
  ssrc_ = ssrc;
  hasSsrc_ = true;
  // A.1: a new source starts on probation, with max_seq just before its first packet.
  initSeq(seq);
  maxSeq_ = static_cast<uint16_t>(seq - 1);
  probation_ = kMinSequential;
  jitterRate_ = 0;
  hasTransit_ = false;
  jitter_ = 0.0;
  hasLast_ = false;
}

void RtpReceiveStats::addExternal(uint64_t expected, uint64_t received) {
  foldSourceIntoTotals();
  priorExpected_ += expected;
  priorReceived_ += received;
  hasSsrc_ = false;  // the next packet starts a source (and so restarts the sequence state)
  probation_ = 0;
}

void RtpReceiveStats::foldSourceIntoTotals() {
  priorExpected_ += sourceExpected();
  priorReceived_ += received_;
  received_ = 0;  // callers re-initialise the sequence state right after
}

void RtpReceiveStats::initSeq(uint16_t seq) {
  baseSeq_ = seq;
  maxSeq_ = seq;
  badSeq_ = kSeqMod + 1;
  cycles_ = 0;
  received_ = 0;
}

// RFC 3550 A.1 update_seq(): true if the packet is accepted as part of the stream.
bool RtpReceiveStats::updateSeq(uint16_t seq) {
  const auto udelta = static_cast<uint16_t>(seq - maxSeq_);
  if (probation_ > 0) {
    // Source not yet valid: it needs kMinSequential packets in sequence.
    if (seq == static_cast<uint16_t>(maxSeq_ + 1)) {
      --probation_;
      maxSeq_ = seq;
      if (probation_ == 0) {
        initSeq(seq);
        ++received_;
        burstGap_.onSequence(seq);
        return true;
      }
    } else {
      probation_ = kMinSequential - 1;
      maxSeq_ = seq;
    }
    return false;
  }
  if (udelta < kMaxDropout) {
    // In order, with a permissible gap; a smaller number means the 16-bit space wrapped.
    if (seq < maxSeq_) cycles_ += kSeqMod;
    maxSeq_ = seq;
    burstGap_.onSequence(cycles_ + seq);  // a duplicate of the highest packet changes nothing
  } else if (udelta <= kSeqMod - kMaxMisorder) {
    // A very large jump: accept it only if the next packet follows it (the sender restarted).
    if (seq != badSeq_) {
      badSeq_ = (seq + 1u) & (kSeqMod - 1);
      return false;
    }
    foldSourceIntoTotals();
    initSeq(seq);
    burstGap_.restart(seq);
  } else {
    // A duplicate or a packet reordered by less than kMaxMisorder; counted as received, and by
    // the burst/gap tracker when it is within its reorder window.
    const uint64_t ext = cycles_ + seq - (seq > maxSeq_ ? kSeqMod : 0);  // from before a wrap
    if (ext <= cycles_ + seq) burstGap_.onSequence(ext);
  }
  ++received_;
  return true;
}

// RFC 3550 A.8: J += (|D(i-1,i)| - J) / 16, with D the change in transit time.
void RtpReceiveStats::updateJitter(const RtpView& rtp, uint64_t arrivalNs) {
  uint32_t rate = clockRate_;
  if (rate == 0) {
    rate = defaultClockRate(rtp.payloadType());
    if (rate == 0) rate = 8000;
  }
  if (rate != jitterRate_) {
    if (jitterRate_ != 0) jitter_ = jitter_ * rate / jitterRate_;
    jitterRate_ = rate;
    hasTransit_ = false;  // transit times at different rates are not comparable
  }
  const uint32_t transit = toRtpUnits(arrivalNs, rate) - rtp.timestamp();
  if (hasTransit_) {
    // Both values wrap modulo 2^32; their signed difference is the change in delay.
    const auto d = static_cast<int32_t>(transit - transit_);
    jitter_ += (std::fabs(static_cast<double>(d)) - jitter_) / 16.0;
  }
  transit_ = transit;
  hasTransit_ = true;
}

// Called after updateJitter, so jitterRate_ is the clock rate of this packet.
void RtpReceiveStats::updatePacketDuration(const RtpView& rtp) {
  const uint16_t seq = rtp.sequence();
  if (hasLast_ && seq == static_cast<uint16_t>(lastSeq_ + 1)) {
    const uint32_t step = rtp.timestamp() - lastTimestamp_;
    if (step > 0 && step <= jitterRate_ / 5) packetMs_ = step * 1000.0 / jitterRate_;
  }
  lastSeq_ = seq;
  lastTimestamp_ = rtp.timestamp();
  hasLast_ = true;
}

}  // namespace rdv::media
