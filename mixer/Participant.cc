#include "mixer/Participant.h"

#include "media/OpusCodec.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace rdv::mixer {

using media::JitterBuffer;

Participant::Participant(const ParticipantConfig& cfg, std::unique_ptr<media::AudioDecoder> decoder,
                         const media::VoiceActivityOptions& vad, const media::JitterBufferOptions& jb)
    : cfg_(cfg), decoder_(std::move(decoder)), jb_(jb), vad_(vad), skipPhase_((cfg.id & 1) != 0),
      // Fibonacci hashing of the id: participants who joined together (consecutive ids) check
      // on different ticks, one to three a tick in a room of 32, not all 32 on every sixteenth.
      inactiveSkips_((cfg.id * 0x9E3779B1U) >> 28) {
  // RFC 3550 §5.1: sequence and timestamp start at random values.
  std::random_device rd;
  outSeq_ = static_cast<uint16_t>(rd());
  outTs_ = rd();
  setGainDb(cfg.gainDb);
}

void Participant::setGainDb(double db) {
  cfg_.gainDb = std::clamp(db, -60.0, 24.0);
  gainQ12_ = static_cast<int32_t>(std::lround(4096.0 * std::pow(10.0, cfg_.gainDb / 20.0)));
}

void Participant::receive(const media::RtpView& rtp, uint64_t arrivalNs) {
  ++stats_.packets;
  if (cfg_.dtmfPayloadType != 0 && rtp.payloadType() == cfg_.dtmfPayloadType) {
    onDtmf(rtp);
    return;
  }
  if (rtp.payloadType() != cfg_.payloadType) {
    ++stats_.wrongPayloadType;
    return;
  }
  int level = -1;
  if (cfg_.audioLevelExtId != 0) {
    const auto ext = media::findOneByteExtension(rtp, cfg_.audioLevelExtId);
    if (!ext.empty()) level = std::to_integer<int>(ext[0]) & 0x7f;
  }
  const auto r = jb_.push(rtp.ssrc(), rtp.sequence(), rtp.timestamp(), rtp.payload(), arrivalNs, level);
  if (r == JitterBuffer::PushResult::Resynced && decoder_) decoder_->reset();
}

// RFC 4733 §2.3: event, E|R|volume, duration. A key is reported when its end bit first arrives
// (the end packet is repeated, with the same timestamp).
void Participant::onDtmf(const media::RtpView& rtp) {
  static constexpr char kKeys[] = "0123456789*#ABCD";
  const auto p = rtp.payload();
  if (p.size() < 4 || (std::to_integer<uint8_t>(p[1]) & 0x80) == 0) return;
  const uint8_t event = std::to_integer<uint8_t>(p[0]);
  if (event >= 16 || (dtmfSeen_ && rtp.timestamp() == lastDtmfTs_)) return;
  dtmfSeen_ = true;
  lastDtmfTs_ = rtp.timestamp();
  digit_ = kKeys[event];
  ++stats_.dtmfEvents;
}

void Participant::silence() {
  if (!pcmSilent_) std::fill(pcm_.begin(), pcm_.end(), int16_t{0});
  pcmSilent_ = true;
}

// A frame not decoded (quiet and not mixed): silence in the mix, counted as spared.
uint32_t Participant::skipFrame() {
  silence();
  ++stats_.decodesSkipped;
  return 0;
}

uint32_t Participant::pullFrame(bool mixed) {
  const JitterBuffer::Frame f = jb_.pop(!vad_.talking(), this);  // a listener's buffer trims in silence
  const media::PcmFrame out(pcm_.data(), pcm_.size());
  forwardable_ = {};
  if (cfg_.muted || f.kind == JitterBuffer::FrameKind::Empty) {
    silence();
    vad_.update(media::VoiceActivity::kFloorDbov);
    return 0;
  }
  // With RFC 6464 levels talker detection needs no decode: quiet non-talkers are skipped.
  const bool byLevel = f.kind == JitterBuffer::FrameKind::Packet && f.audioLevel >= 0;
  if (byLevel) {
    vad_.update(media::VoiceActivity::levelFromRfc6464(f.audioLevel));
    if (!mixed && !vad_.talking()) {
      return skipFrame();
    }
  }
  // Nobody hears a quiet participant's lost frame, and concealment says nothing about its level:
  // it is not concealed. Otherwise a stall upstream (the network, the relay) that leaves every
  // participant's buffer empty would make each of them run codec PLC, Opus's at 48 kHz, and
  // multiply the tick's work exactly when the mixer needs to catch up.
  if (!mixed && !vad_.talking() && f.kind == JitterBuffer::FrameKind::Lost) {
    return skipFrame();
  }
  // Frames of quiet non-mixed participants are decoded for their level only (detectOnly): Opus
  // at 16 kHz, G.711 at 8 kHz without upsampling, G.722's lower band; quiet Opus ones not all of them.
  if (!byLevel && !mixed && !vad_.talking()) {
    if (skipQuietOpus(f)) return skipFrame();
    if (levelOnlyDecode_ && f.kind == JitterBuffer::FrameKind::Packet) return detectOnly(f.payload);
  }
  pcmSilent_ = false;
  if (f.kind == JitterBuffer::FrameKind::Packet) {
    if (decoder_->decode(f.payload, out)) {
      forwardable_ = f.payload;
    } else {
      ++stats_.decodeErrors;
    }
  } else {
    decoder_->conceal(f.next, out);
    ++stats_.concealed;
  }
  ++stats_.decodes;
  if (!byLevel) {
    vad_.update(media::VoiceActivity::levelDbov(pcm()));
    if (!mixed && !vad_.talking() && f.kind == JitterBuffer::FrameKind::Packet) noteQuietSize(f.payload.size());
  }
  return 1;
}

// Whether a quiet, non-mixed participant's frame can go undecoded; Opus decoding is most of a big
// room's cost. A frame clearly larger than the quiet ones (decoded, or marked inactive) is always
// decoded: with variable bitrate (libopus's default) voice starting makes the packets grow, and
// skipping that frame would start the talker a frame late. A frame the sender's encoder marked as
// holding no voice (SILK's VAD flag, read without decoding; media::opusSenderMarkedInactive) is
// not decoded, but for one in kInactiveCheckEvery: libopus, which browsers, baresip and linphone
// use, marks background noise inactive and voice active, so the flag is the RFC 6464 level's
// shortcut for senders that send none; the occasional decode still finds a loud sound the flag
// calls background (a steady tone after ~1 s, an encoder that never sets the flag) within 320 ms.
// Each participant's checks fall on ticks of its own: a room that joined at once would otherwise
// decode all its quiet participants on one tick in 16 (1,000 decodes, a 15-20 ms tick here).
// Other frames (CELT ones, which carry no flag) are decoded every other frame (half of the
// participants on even ticks, half on odd); with constant bitrate voice starting on a skipped
// frame is found one frame later. G.711 and G.722 are decoded every frame: cheaply (G.711 by
// table, G.722's lower band) and G.722's ADPCM state must follow every frame.
bool Participant::skipQuietOpus(const media::JitterBuffer::Frame& f) {
  if (cfg_.codec != media::CodecId::Opus) return false;
  const bool offPhase = (skipPhase_ ^= true);
  if (grewFromQuiet(f)) return false;
  if (senderVad_ && f.kind == media::JitterBuffer::FrameKind::Packet && media::opusSenderMarkedInactive(f.payload)) {
    noteQuietSize(f.payload.size());  // what grewFromQuiet compares the voice's first frame with
    return ++inactiveSkips_ % kInactiveCheckEvery != 0;
  }
  return offPhase;
}

// A frame nobody hears unless it starts a talker: decoded at the codec's cheapest rate for its
// level. When that level starts a talker, the frame is completed at the mixer rate (Opus decodes
// it again from a reset state, as a stream's first frame; G.711 upsamples it; G.722 decodes it
// again with both bands) so this tick can mix it.
uint32_t Participant::detectOnly(std::span<const std::byte> payload) {
  const media::PcmFrame out(pcm_.data(), pcm_.size());
  const size_t n = decoder_->decodeForLevel(payload, out);
  ++stats_.decodes;
  if (n == 0) ++stats_.decodeErrors;
  pcmSilent_ = false;
  vad_.update(media::VoiceActivity::levelDbov(std::span<const int16_t>(pcm_.data(), n)));
  if (!vad_.talking()) {
    noteQuietSize(payload.size());
    silence();
    return 1;
  }
  if (decoder_->completeFrame(payload, out)) {
    forwardable_ = payload;
  } else {
    ++stats_.decodeErrors;
  }
  ++stats_.decodes;
  return 2;
}

// Quiet frames' sizes, smoothed (1/8 per frame, in 1/16 bytes): a quiet room's background noise
// moves it, a single frame does not.
void Participant::noteQuietSize(size_t bytes) {
  const auto b = static_cast<uint32_t>(std::min<size_t>(bytes, media::JitterBuffer::kMaxBufferedPayload)) << 4;
  quietSize16_ = quietSize16_ == 0 ? b : quietSize16_ - (quietSize16_ >> 3) + (b >> 3);
}

// Larger than the quiet frames by a quarter and 4 bytes (VBR Opus at 32 kbit/s: digital silence
// 3-8 bytes, background noise 10-30, voice 60-120).
bool Participant::grewFromQuiet(const media::JitterBuffer::Frame& f) const {
  if (f.kind != media::JitterBuffer::FrameKind::Packet || quietSize16_ == 0) return false;
  const uint32_t quiet = quietSize16_ >> 4;
  return f.payload.size() > quiet + quiet / 4 + 4;
}

// The jitter buffer is about to trim, in this participant's silence, the frame at its play point:
// kept when that frame looks like speech starting, or the talker's first 20 ms would be cut (the
// trim then falls on a later quiet frame). Judged without touching the decoder: the RFC 6464
// level, an Opus frame that grew from the quiet ones or that its sender's VAD marked as voice, a
// G.711 or G.722 frame's level (AudioDecoder::peekForLevel).
bool Participant::keep(const media::JitterBuffer::Frame& head) const {
  if (cfg_.muted) return false;  // not mixed: nothing to clip
  if (head.audioLevel >= 0) return vad_.isVoice(media::VoiceActivity::levelFromRfc6464(head.audioLevel));
  if (cfg_.codec == media::CodecId::Opus) {
    return grewFromQuiet(head) || (senderVad_ && media::opusSenderMarkedActive(head.payload));
  }
  // G.711 by table, G.722's lower band from a copy of the decoder's state (~2.6 µs; only when a
  // trim is due). A frame that cannot be judged is not kept: the trim goes ahead as before.
  std::array<int16_t, media::kFrameSamples> pcm{};
  const size_t n = decoder_ ? decoder_->peekForLevel(head.payload, pcm) : 0;
  return n != 0 && vad_.isVoice(media::VoiceActivity::levelDbov(std::span(pcm).first(n)));
}

void Participant::applyGain() {
  if (gainQ12_ == 4096 || pcmSilent_) return;
  for (int16_t& s : pcm_) {
    s = static_cast<int16_t>(std::clamp<int32_t>((s * gainQ12_) >> 12, INT16_MIN, INT16_MAX));
  }
}

media::RtpHeaderFields Participant::nextHeader() {
  media::RtpHeaderFields h{cfg_.payloadType, outMarker_, outSeq_++, outTs_, cfg_.ssrc};
  outTs_ += media::codecInfo(cfg_.codec).rtpFrameTicks();
  outMarker_ = false;
  return h;
}

void Participant::skipPeriods(uint64_t n) {
  outTs_ += static_cast<uint32_t>(n * media::codecInfo(cfg_.codec).rtpFrameTicks());
  outMarker_ = true;
  jb_.skipAhead(static_cast<uint32_t>(std::min<uint64_t>(n, media::JitterBuffer::kSlots)));
}

void Participant::advanceSilently() {
  outTs_ += media::codecInfo(cfg_.codec).rtpFrameTicks();
  outMarker_ = true;
}

}  // namespace rdv::mixer
