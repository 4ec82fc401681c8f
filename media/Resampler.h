#pragma once
// A mono 16-bit resampler with a real anti-aliasing/anti-imaging filter (speexdsp), so an 8 kHz
// G.711 stream reaches the 48 kHz mix without images at 8 kHz ± f and without the level loss of
// zero-stuffing. State is allocated once at construction; process() never allocates.

#include <cstddef>
#include <cstdint>
#include <span>

struct SpeexResamplerState_;

namespace rdv::media {

class Resampler {
 public:
  // quality 0..10 (speexdsp). 4 (a Kaiser-8 window, ~80 dB stopband by speexdsp's table): aliases
  // of a -10 dBFS tone at 4.5-10 kHz measured under one LSB at 8 kHz, flat within 0.02 dB to
  // 3.4 kHz at 8 kHz and 0.4 dB to 7 kHz at 16 kHz, ~6 µs per 20 ms frame 48 -> 8 kHz here; 5 is
  // flatter at the band edge (0.0 / 0.2 dB) and a third dearer (~8 µs); 3 loses 1 dB at 3.4 kHz
  // and 3 dB at 7 kHz. A room of 10 resamples ~4 frames a tick.
  Resampler(uint32_t inRate, uint32_t outRate, int quality = 4);
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;

  bool valid() const { return state_ != nullptr; }
  // Converts `in` into exactly out.size() samples: for the integer ratios the mixer uses
  // (in.size() * outRate == out.size() * inRate) speexdsp fills it; any shortfall is zero-filled.
  void process(std::span<const int16_t> in, std::span<int16_t> out);
  // Clears the filter history (a new stream).
  void reset();

 private:
  SpeexResamplerState_* state_ = nullptr;
};

}  // namespace rdv::media
