#pragma once
// Talker detection for one participant: a frame's level in dBov (from its decoded energy, or
// the RFC 6464 audio level the sender put in the RTP header), an attack of a few loud frames
// to start talking, and a hangover of quiet frames before stopping, so pauses between words
// do not make a talker flicker in and out of the mix. Pure state, one update() per 20 ms frame.

#include <cstdint>

#include "media/AudioCodec.h"

namespace rdv::media {

struct VoiceActivityOptions {
  double thresholdDbov = -42.0;  // a frame at or above this is voice
  // Consecutive voice frames to start talking. One: a talker is mixed from its first loud frame
  // (a conference mixes only its talkers, so every frame of attack is clipped from the start of
  // speech and adds to the onset latency: conf_bench, 100 participants, measured 60/80 ms
  // p50/p99 with 2 frames, 8/29 ms with 1, benchmarks/README.md). The hangover keeps a click's talker for 400 ms at most.
  uint32_t attackFrames = 1;
  uint32_t hangoverFrames = 20;  // consecutive quiet frames to stop (400 ms)
};

class VoiceActivity {
 public:
  static constexpr double kFloorDbov = -127.0;  // digital silence; RFC 6464's lowest level

  explicit VoiceActivity(const VoiceActivityOptions& opts = {}) : opts_(opts) {}

  // Mean-square level of a frame relative to a full-scale square wave, floored at kFloorDbov.
  // Any sample rate (AudioDecoder::decodeForLevel may decode below kMixerRate); empty = floor.
  static double levelDbov(std::span<const int16_t> frame);
  // RFC 6464 §3: the 7-bit level is -dBov (0 = loudest, 127 = silence).
  static double levelFromRfc6464(int level) { return -static_cast<double>(level); }

  // Whether a frame at this level counts as voice (the threshold update() applies).
  bool isVoice(double levelDbov) const { return levelDbov >= opts_.thresholdDbov; }
  // Feeds one frame's level; returns true when talking() changed.
  bool update(double levelDbov);
  bool talking() const { return talking_; }
  // Smoothed level (dBov) for ranking talkers: rises fast, decays over ~100 ms.
  double score() const { return score_; }
  // Back to quiet, as for a new participant.
  void reset();

 private:
  VoiceActivityOptions opts_;
  bool talking_ = false;
  uint32_t loudRun_ = 0;
  uint32_t quietRun_ = 0;
  double score_ = kFloorDbov;
};

}  // namespace rdv::media
