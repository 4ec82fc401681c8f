#pragma once
// Signal helpers for audio tests (media and mixer): sine frames at the mixer rate, Goertzel
// power at one frequency, RMS. Header-only so each test binary includes it as it is.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>
#include <vector>

#include "media/AudioCodec.h"

namespace rdv::media::testutil {

// A continuous sine: next() fills one frame and keeps the phase for the following one.
class Tone {
 public:
  Tone(double hz, double amplitude, uint32_t rate = kMixerRate) : step_(2 * std::numbers::pi * hz / rate), amp_(amplitude) {}
  void next(std::span<int16_t> out) {
    for (int16_t& s : out) {
      s = static_cast<int16_t>(std::lround(amp_ * std::sin(phase_)));
      phase_ += step_;
    }
  }

 private:
  double step_;
  double amp_;
  double phase_ = 0;
};

// Power of `hz` in `x` (Goertzel), normalised so a full-length sine of amplitude A gives ~A²/4·N².
inline double goertzel(std::span<const int16_t> x, double hz, uint32_t rate = kMixerRate) {
  const double w = 2 * std::numbers::pi * hz / rate;
  const double coeff = 2 * std::cos(w);
  double s1 = 0, s2 = 0;
  for (int16_t v : x) {
    const double s0 = v + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}

// Amplitude of the `hz` component, comparable to a sine's peak amplitude.
inline double toneAmplitude(std::span<const int16_t> x, double hz, uint32_t rate = kMixerRate) {
  return 2 * std::sqrt(goertzel(x, hz, rate)) / static_cast<double>(x.size());
}

inline double rms(std::span<const int16_t> x) {
  double sum = 0;
  for (int16_t v : x) sum += static_cast<double>(v) * v;
  return x.empty() ? 0 : std::sqrt(sum / static_cast<double>(x.size()));
}

// RFC 6716 §3.1: an Opus packet whose TOC byte has configuration 16-31 is CELT only.
inline bool celtToc(std::byte toc) { return (std::to_integer<int>(toc) >> 3) >= 16; }

inline std::vector<int16_t> frameBuffer() { return std::vector<int16_t>(kFrameSamples); }

}  // namespace rdv::media::testutil
