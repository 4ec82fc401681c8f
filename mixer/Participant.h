#pragma once
// One conference participant as the mixer sees it: the stream it sends (jitter buffer, decoder,
// talker detection) and the stream it receives (its own SSRC, sequence and timestamp in its
// codec's RTP clock). Everything is allocated at construction; receive() and pullFrame() run
// per packet and per tick without allocating.

#include <array>
#include <cstdint>
#include <memory>
#include <utility>

#include "media/AudioCodec.h"
#include "media/JitterBuffer.h"
#include "media/RtpPacket.h"
#include "media/VoiceActivity.h"
#include "mixer/MixerSink.h"

namespace rdv::mixer {

struct ParticipantConfig {
  ParticipantId id = 0;
  media::CodecId codec = media::CodecId::Opus;
  uint8_t payloadType = 111;   // negotiated; used both ways
  uint32_t ssrc = 0;           // of the stream sent to the participant
  uint8_t audioLevelExtId = 0;  // RFC 6464 one-byte extension id from SDP; 0 = not negotiated
  uint8_t dtmfPayloadType = 0;  // RFC 4733 telephone-event; 0 = not negotiated
  bool muted = false;
  bool deaf = false;
  double gainDb = 0.0;         // applied to the participant's voice in the mix
};

// Counters of one participant, written by the mixer thread only.
struct ParticipantStats {
  uint64_t packets = 0;
  uint64_t wrongPayloadType = 0;  // a codec the participant did not negotiate
  uint64_t dtmfEvents = 0;        // RFC 4733 key presses (ends of events)
  uint64_t decodeErrors = 0;
  uint64_t concealed = 0;         // frames made by codec PLC/FEC
  uint64_t decodes = 0;
  uint64_t decodesSkipped = 0;    // quiet, not mixed: by RFC 6464 level, Opus VAD flag, every other frame, lost
  uint64_t sent = 0;
};

// Privately a TrimVeto: its jitter buffer asks it before a quiet trim drops a frame (keep()).
class Participant final : private media::JitterBuffer::TrimVeto {
 public:
  // nullptr decoder => the codec library failed; the caller refuses the participant.
  Participant(const ParticipantConfig& cfg, std::unique_ptr<media::AudioDecoder> decoder,
              const media::VoiceActivityOptions& vad, const media::JitterBufferOptions& jb);

  const ParticipantConfig& config() const { return cfg_; }
  ParticipantId id() const { return cfg_.id; }
  void setMuted(bool muted) { cfg_.muted = muted; }
  void setDeaf(bool deaf) { cfg_.deaf = deaf; }
  void setGainDb(double db);
  // Quiet frames decoded for their level only, below 48 kHz (default), or at 48 kHz.
  void setLevelOnlyDecode(bool on) { levelOnlyDecode_ = on; }
  // Quiet Opus frames whose SILK VAD flag says no voice are not decoded (default), or are.
  void setSenderVad(bool on) { senderVad_ = on; }

  // A packet from this participant; dropped and counted when its payload type is not the
  // negotiated one. An SSRC change resets the decoder.
  void receive(const media::RtpView& rtp, uint64_t arrivalNs);
  // The key whose RFC 4733 event ended in the last receive(), once; 0 when none.
  char takeDigit() { return std::exchange(digit_, '\0'); }

  // Once per tick: takes one frame from the jitter buffer and decodes or conceals it into
  // pcm(), then updates talker detection. Muted participants are not decoded (their buffer is
  // still drained); a participant whose RFC 6464 level says quiet, and who is not being mixed,
  // is not decoded either, nor a quiet non-mixed Opus frame its sender marked inactive, and other
  // quiet non-mixed Opus frames every other one (skipQuietOpus); quiet non-mixed frames are
  // decoded for their level only, below 48 kHz.
  // Returns the number of decodes done (0, 1, or 2 when a level-only decode starts a talker and
  // the frame is completed at 48 kHz to be mixed).
  uint32_t pullFrame(bool mixed);
  // Applies the configured gain to pcm() (saturating); call only for frames that are mixed.
  void applyGain();

  media::ConstPcmFrame pcm() const { return media::ConstPcmFrame(pcm_.data(), pcm_.size()); }
  // This tick's payload when it can stand for pcm() in a listener of the same codec: it came
  // from a packet (not concealed, not decoded for its level only), decoded as a 20 ms frame, and
  // the gain is 0 dB. Empty otherwise. Points into the jitter buffer: valid until the next
  // receive() or pullFrame(), so within the tick that pulled it.
  std::span<const std::byte> forwardable() const {
    return gainQ12_ == 4096 ? forwardable_ : std::span<const std::byte>{};
  }
  bool talking() const { return vad_.talking(); }
  double score() const { return vad_.score(); }

  // The next RTP header of the stream sent to this participant; advances sequence and
  // timestamp. Call advanceSilently() instead on ticks that send nothing (deaf), so the
  // timestamp keeps real time and the next packet carries a marker.
  media::RtpHeaderFields nextHeader();
  void advanceSilently();
  // `n` periods the mixer could not run: the stream sent skips them (its timestamp n frames on,
  // the next packet marked) and the frames they would have played are dropped when they arrive
  // (JitterBuffer::skipAhead).
  void skipPeriods(uint64_t n);

  const media::JitterBuffer& jitterBuffer() const { return jb_; }
  const ParticipantStats& stats() const { return stats_; }
  ParticipantStats& stats() { return stats_; }

  // Index of the talker encoder this participant holds in its codec group, -1 when not mixed
  // as a talker. Set by Conference only.
  int talkerSlot() const { return talkerSlot_; }
  void setTalkerSlot(int slot) { talkerSlot_ = slot; }
  // Whether the last packet sent to this participant as a talker was another talker's frame
  // forwarded rather than its own encoder's output (Conference only; its encoder then restarts).
  bool forwardedLast() const { return forwardedLast_; }
  void setForwardedLast(bool on) { forwardedLast_ = on; }

 private:
  void silence();
  uint32_t skipFrame();
  bool skipQuietOpus(const media::JitterBuffer::Frame& f);
  uint32_t detectOnly(std::span<const std::byte> payload);
  void noteQuietSize(size_t bytes);
  bool grewFromQuiet(const media::JitterBuffer::Frame& f) const;
  bool keep(const media::JitterBuffer::Frame& head) const override;
  void onDtmf(const media::RtpView& rtp);

  ParticipantConfig cfg_;
  std::unique_ptr<media::AudioDecoder> decoder_;
  media::JitterBuffer jb_;
  media::VoiceActivity vad_;
  std::array<int16_t, media::kFrameSamples> pcm_{};
  bool pcmSilent_ = true;  // pcm_ is all zeros
  std::span<const std::byte> forwardable_;  // see forwardable()
  bool forwardedLast_ = false;
  int32_t gainQ12_ = 4096;
  uint16_t outSeq_;
  uint32_t outTs_;
  bool outMarker_ = true;
  ParticipantStats stats_;
  int talkerSlot_ = -1;
  char digit_ = 0;
  bool levelOnlyDecode_ = true;
  bool senderVad_ = true;
  bool skipPhase_;  // quiet Opus frames without a VAD verdict decode on alternate ticks (skipQuietOpus)
  static constexpr uint32_t kInactiveCheckEvery = 16;  // skipQuietOpus: 320 ms
  uint32_t inactiveSkips_;  // starts at a phase of its own (Participant()), so checks spread over ticks
  uint32_t quietSize16_ = 0;  // smoothed payload size of quiet decoded frames, 1/16 bytes; 0 none yet
  uint32_t lastDtmfTs_ = 0;  // the event whose end was reported (its end packet is sent 3 times)
  bool dtmfSeen_ = false;
};

}  // namespace rdv::mixer
