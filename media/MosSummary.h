#pragma once
// Lowest, highest and average of a stream's quality samples (one per report interval), as
// rtpengine reports them per SSRC and Kamailio's rtpengine module reads them (mos_min_*,
// mos_max_*, mos_average_*). Fixed size: adding a sample never allocates.

#include <cstdint>

namespace rdv::media {

// One measurement interval of a stream and its E-model score (media/EModel.h).
struct MosSample {
  double mos = 0;          // [1, 4.5]
  double lossPercent = 0;  // lost / expected over the interval
  double jitterMs = 0;
  double rttMs = 0;        // 0 when unknown
  uint64_t atUnix = 0;     // wall clock of the sample, seconds
};

class MosSummary {
 public:
  void add(const MosSample& s) {
    if (samples_ == 0 || s.mos < lowest_.mos) lowest_ = s;
    if (samples_ == 0 || s.mos > highest_.mos) highest_ = s;
    ++samples_;
    sum_.mos += s.mos;
    sum_.lossPercent += s.lossPercent;
    sum_.jitterMs += s.jitterMs;
    sum_.rttMs += s.rttMs;
    sum_.atUnix = s.atUnix;
  }

  uint32_t samples() const { return samples_; }
  // Meaningful only when samples() > 0; the first of equal scores is kept.
  const MosSample& lowest() const { return lowest_; }
  const MosSample& highest() const { return highest_; }
  // Field-wise mean; atUnix is the last sample's.
  MosSample average() const {
    if (samples_ == 0) return {};
    const double n = samples_;
    return MosSample{sum_.mos / n, sum_.lossPercent / n, sum_.jitterMs / n, sum_.rttMs / n, sum_.atUnix};
  }

 private:
  uint32_t samples_ = 0;
  MosSample lowest_;
  MosSample highest_;
  MosSample sum_;
};

}  // namespace rdv::media
