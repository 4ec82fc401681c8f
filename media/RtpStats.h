#pragma once
// RFC 3550 receive statistics for the RTP stream arriving on one leg. Pure state: the caller
// passes each parsed packet with its arrival time, so tests need no clock or socket (STYLE.md §11).

#include <cstdint>

#include "media/BurstGapTracker.h"
#include "media/RtpPacket.h"

namespace rdv::media {

// Sequence validation with probation, cycles, max_seq and bad_seq (RFC 3550 A.1),
// expected/lost (A.3) and interarrival jitter (A.8, §6.4.1).
//
// Contracts:
//  - packets() counts every onPacket() call. expected()/lost() follow A.1/A.3: a new source is
//    counted only once it leaves probation (two in-sequence packets; the first of them is not
//    counted), and packets A.1 rejects (probation, a single large jump) count in neither.
//  - An SSRC change, or an A.1 restart after two packets in sequence following a large jump,
//    restarts sequence tracking; the expected/received counts so far are kept in the totals.
//  - Jitter is per source: it restarts at 0 on an SSRC change. It is updated only for packets
//    A.1 accepts, in RTP timestamp units of the clock rate in use; if that rate changes between
//    packets the estimate is rescaled and the next packet only re-anchors the transit time.
//  - Burst/gap loss (RFC 3611 §4.7.2, BurstGapTracker.h) covers the packets A.1 accepts: an
//    in-order packet after skipped sequence numbers records them as lost, then itself as
//    received; duplicates and late (reordered) packets change nothing, so a packet that arrives
//    late stays lost, as a receiver's jitter buffer would discard it. Restarts (a new source,
//    an A.1 resync) and stretches added by addExternal() record no loss.
class RtpReceiveStats {
 public:
  // 0 (the default) => use defaultClockRate(pt) of each packet, falling back to 8000 Hz.
  void setClockRate(uint32_t hz) { clockRate_ = hz; }

  // arrivalNs: monotonic arrival time in nanoseconds.
  void onPacket(const RtpView& rtp, uint64_t arrivalNs);

  // Adds a stretch of the stream that did not pass through onPacket (the relay's kernel fast
  // path forwarded it): its expected and received counts join the totals, and sequence tracking
  // restarts with the next packet, on probation as for a new source, since the packets in
  // between were not seen here. Jitter keeps its estimate until then.
  void addExternal(uint64_t expected, uint64_t received);

  uint64_t packets() const { return packets_; }
  // Cumulative expected packets (A.3) over all sources and restarts seen.
  uint64_t expected() const { return priorExpected_ + sourceExpected(); }
  // Cumulative expected - received; negative when duplicates outnumber losses.
  int64_t lost() const {
    return static_cast<int64_t>(expected()) - static_cast<int64_t>(priorReceived_ + received_);
  }
  // lost()/expected() clamped to [0, 1]; 0 when nothing is expected yet.
  double lossFraction() const;
  // Current jitter estimate of the current source in milliseconds.
  double jitterMs() const { return jitterRate_ == 0 ? 0.0 : jitter_ * 1000.0 / jitterRate_; }
  // The same estimate in RTP timestamp units, as an RTCP report block carries it (§6.4.1).
  uint32_t jitterRtpUnits() const { return static_cast<uint32_t>(jitter_); }
  // Extended highest sequence number of the current source (A.3), 0 while in probation.
  uint32_t extendedHighestSeq() const { return validated() ? static_cast<uint32_t>(cycles_ + maxSeq_) : 0; }

  // Burst/gap loss so far; durations use packetMs().
  BurstGapMetrics burstGap() const { return burstGap_.metrics(packetMs_); }
  // Duration of one packet: the RTP timestamp step between the last two consecutive packets
  // (when 0 < step <= 200 ms), 20 ms until one is seen.
  double packetMs() const { return packetMs_; }

  uint32_t ssrc() const { return ssrc_; }
  bool hasSsrc() const { return hasSsrc_; }

 private:
  static constexpr uint32_t kSeqMod = 1u << 16;
  static constexpr uint16_t kMaxDropout = 3000;
  static constexpr uint16_t kMaxMisorder = 100;
  static constexpr uint8_t kMinSequential = 2;

  bool validated() const { return hasSsrc_ && probation_ == 0; }
  uint64_t sourceExpected() const { return validated() ? cycles_ + maxSeq_ - baseSeq_ + 1 : 0; }
  void startSource(uint32_t ssrc, uint16_t seq);
  void foldSourceIntoTotals();
  void initSeq(uint16_t seq);
  bool updateSeq(uint16_t seq);
  void updateJitter(const RtpView& rtp, uint64_t arrivalNs);
  void updatePacketDuration(const RtpView& rtp);

  uint32_t clockRate_ = 0;
  uint64_t packets_ = 0;
  uint64_t priorExpected_ = 0;  // folded in from earlier sources / restarts
  uint64_t priorReceived_ = 0;

  // A.1 per-source state.
  uint32_t ssrc_ = 0;
  bool hasSsrc_ = false;
  uint8_t probation_ = 0;
  uint16_t maxSeq_ = 0;
  uint32_t badSeq_ = kSeqMod + 1;  // a value no 16-bit sequence number can equal
  uint32_t baseSeq_ = 0;
  uint64_t cycles_ = 0;  // count of sequence wraps, shifted: a multiple of kSeqMod
  uint64_t received_ = 0;

  // A.8 jitter state.
  uint32_t jitterRate_ = 0;  // clock rate of transit_/jitter_, 0 before the first update
  uint32_t transit_ = 0;
  bool hasTransit_ = false;
  double jitter_ = 0.0;

  // Burst/gap state and the packet duration it reports with.
  BurstGapTracker burstGap_;
  double packetMs_ = 20.0;
  uint32_t lastTimestamp_ = 0;
  uint16_t lastSeq_ = 0;
  bool hasLast_ = false;  // lastTimestamp_/lastSeq_ are of the current source
};

}  // namespace rdv::media
