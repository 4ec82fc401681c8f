#pragma once
// Opus (RFC 6716, RTP payload RFC 7587) at 48 kHz mono, the mixer's own rate, so no resampling.
// The decoder conceals a lost frame from the next packet's in-band FEC (LBRR) when the jitter
// buffer already holds it, otherwise with Opus's own PLC. The encoder runs in VoIP mode with
// in-band FEC on and 20 ms frames, as `useinbandfec=1` in the SDP promises the far end.
// A frame decoded only to measure a quiet participant's level is decoded at 16 kHz.

#include "media/AudioCodec.h"

struct OpusDecoder;
struct OpusEncoder;

namespace rdv::media {

// True when the sender's own encoder marked this packet as holding no voice, read without
// decoding: a one-frame SILK or hybrid packet (TOC config < 16, code 0) whose VAD flags, the first
// bits of the range-coded payload (RFC 6716 §4.2.3: one per 20 ms SILK frame, and the side
// channel's too in stereo), are all 0, or an empty frame (DTX). libopus sets them from its own
// activity detector, so background noise reads inactive and any voice active. CELT frames carry
// no flag: false.
bool opusSenderMarkedInactive(std::span<const std::byte> payload);
// True when it marked voice: a one-frame SILK or hybrid packet with a VAD flag set. CELT frames and
// DTX carry no such mark: false.
bool opusSenderMarkedActive(std::span<const std::byte> payload);

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
  // Decodes at kLevelRate (16 kHz: no SILK upsampling, a third less CPU than 48 kHz here) into
  // the first 320 samples of `out`. libopus fixes a decoder's output rate at init, so switching
  // rate re-initialises the state in place (no allocation): the first decode() after a run of
  // decodeForLevel() starts from a reset decoder, like the first frame of a stream.
  size_t decodeForLevel(std::span<const std::byte> payload, PcmFrame out) override;

  static constexpr uint32_t kLevelRate = 16000;

 private:
  bool useRate(uint32_t rate);

  OpusDecoder* dec_ = nullptr;
  uint32_t rate_ = kMixerRate;
};

class OpusAudioEncoder final : public AudioEncoder {
 public:
  explicit OpusAudioEncoder(const EncoderOptions& opts);
  ~OpusAudioEncoder() override;
  bool ok() const { return enc_ != nullptr; }

  size_t encode(ConstPcmFrame in, std::span<std::byte> out) override;
  void reset() override;
  bool reconfigure(const EncoderOptions& opts) override;

  // What libopus holds now (OPUS_GET_COMPLEXITY, OPUS_GET_APPLICATION), for tests and reports.
  int complexity() const;
  bool celtOnly() const;

 private:
  bool applyOptions(const EncoderOptions& opts);

  OpusEncoder* enc_ = nullptr;
  EncoderOptions opts_;
};

}  // namespace rdv::media
