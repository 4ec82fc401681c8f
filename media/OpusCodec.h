#pragma once
// Opus (RFC 6716, RTP payload RFC 7587) at 48 kHz mono, the mixer's own rate, so no resampling.
// The decoder conceals a lost frame from the next packet's in-band FEC (LBRR) when the jitter
// buffer already holds it, otherwise with Opus's own PLC. The encoder runs in VoIP mode with
// in-band FEC on and 20 ms frames, as `useinbandfec=1` in the SDP promises the far end.

#include "media/AudioCodec.h"

struct OpusDecoder;
struct OpusEncoder;

namespace rdv::media {

class OpusAudioDecoder final : public AudioDecoder {
 public:
  OpusAudioDecoder();
  ~OpusAudioDecoder() override;
  bool ok() const { return dec_ != nullptr; }

  // False for a packet that is not exactly 20 ms (RFC 7587 allows 2.5-120 ms; the mixer pulls
  // one 20 ms frame a tick and asks the SDP side to negotiate ptime 20).
  bool decode(std::span<const std::byte> payload, PcmFrame out) override;
  void conceal(std::span<const std::byte> next, PcmFrame out) override;
  void reset() override;

 private:
  OpusDecoder* dec_ = nullptr;
};

class OpusAudioEncoder final : public AudioEncoder {
 public:
  explicit OpusAudioEncoder(const EncoderOptions& opts);
  ~OpusAudioEncoder() override;
  bool ok() const { return enc_ != nullptr; }

  size_t encode(ConstPcmFrame in, std::span<std::byte> out) override;
  void reset() override;

 private:
  OpusEncoder* enc_ = nullptr;
};

}  // namespace rdv::media
