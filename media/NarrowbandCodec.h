#pragma once
// The G.711 (PCMU, PCMA) and G.722 codecs: sample-based codecs that run at 8 or 16 kHz, share
// one shape (native frame <-> speexdsp resampler <-> 48 kHz mixer frame) and conceal losses with
// spandsp's pitch-repeating PLC on the native-rate signal. spandsp's PLC is tuned for 8 kHz
// (pitch search 2.5-15 ms); on G.722's 16 kHz signal it searches half those periods, still a
// fair repeat for voices above ~130 Hz and far better than silence. spandsp also supplies G.722.

#include <array>
#include <memory>

#include "media/AudioCodec.h"
#include "media/Resampler.h"

namespace rdv::media {

// Largest native frame: 20 ms at 16 kHz.
inline constexpr size_t kMaxNativeFrame = 320;

class NarrowbandDecoder final : public AudioDecoder {
 public:
  explicit NarrowbandDecoder(CodecId id);  // Pcmu, Pcma or G722
  ~NarrowbandDecoder() override;
  bool ok() const;

  bool decode(std::span<const std::byte> payload, PcmFrame out) override;
  void conceal(std::span<const std::byte> next, PcmFrame out) override;
  void reset() override;
  // G.711: the native 8 kHz frame without upsampling: spandsp's PLC history still gets every
  // frame, only the resampler is skipped (and reset before its next use, its history being
  // stale); completeFrame() upsamples the frame kept. G.722: its lower sub-band only, at 8 kHz
  // (decodeG722Low), both bands one decode in eight; completeFrame() decodes the payload again, in
  // full, from the state before (or upsamples a both-band frame).
  size_t decodeForLevel(std::span<const std::byte> payload, PcmFrame out) override;
  bool completeFrame(std::span<const std::byte> payload, PcmFrame out) override;
  size_t peekForLevel(std::span<const std::byte> payload, PcmFrame out) const override;

 private:
  void upsample(PcmFrame out);
  size_t decodeG722Low(std::span<const std::byte> payload, PcmFrame out);
  bool decodeNative(std::span<const std::byte> payload, std::span<int16_t> native);

  struct State;  // spandsp's PLC and G.722 decoder (their C types stay out of this header)

  CodecId id_;
  size_t nativeSamples_;
  std::unique_ptr<State> s_;
  Resampler up_;
  bool upStale_ = false;  // frames were decoded without going through up_
  std::array<int16_t, kMaxNativeFrame> native_{};
};

class NarrowbandEncoder final : public AudioEncoder {
 public:
  explicit NarrowbandEncoder(CodecId id);  // Pcmu, Pcma or G722
  ~NarrowbandEncoder() override;
  bool ok() const;

  size_t encode(ConstPcmFrame in, std::span<std::byte> out) override;
  void reset() override;

 private:
  struct State;  // spandsp's G.722 encoder

  CodecId id_;
  size_t nativeSamples_;
  std::unique_ptr<State> s_;
  Resampler down_;
  std::array<int16_t, kMaxNativeFrame> native_{};
};

}  // namespace rdv::media
