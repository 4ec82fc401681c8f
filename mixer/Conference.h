#pragma once
// One audio conference (room): its participants and the per-tick mix. A room's cost grows with
// its talkers, not its listeners: each tick the loudest N active, unmuted speakers are summed
// once; every participant who is not one of them hears that same mix, encoded once per codec
// group and sent to all of them with their own RTP headers; each talker hears the mix minus
// itself, encoded by an encoder it holds only while it talks (Asterisk softmix's scheme). A
// stream that would carry exactly one talker's voice in its own codec at 0 dB gets that talker's
// frame forwarded instead (ConferenceOptions::forwardSingleTalker).
//
// Threading: a Conference belongs to one mixer worker thread. addParticipant/remove/set* may
// allocate and are for the worker's command handling; receive() (per packet) and tick() (per
// 20 ms) never allocate, lock or log.

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "media/AudioCodec.h"
#include "media/JitterBuffer.h"
#include "media/VoiceActivity.h"
#include "mixer/MixerSink.h"
#include "mixer/Participant.h"

namespace rdv::mixer {

inline constexpr size_t kMaxTalkersLimit = 8;

struct ConferenceOptions {
  size_t maxTalkers = 3;  // 1..kMaxTalkersLimit
  // A talker already in the mix ranks this many dB louder, so two similar voices do not
  // swap places every tick.
  double talkerHysteresisDb = 3.0;
  media::VoiceActivityOptions vad;
  media::JitterBufferOptions jitter;  // clockRate/frameTicks are set per codec
  media::EncoderOptions encoder;
  // Quiet non-talkers (without RFC 6464 levels) are decoded for their level only: Opus at
  // 16 kHz, G.711 without upsampling, G.722's lower band at 8 kHz (Participant::pullFrame); false
  // decodes them at 48 kHz like a mixed frame (for A/B).
  bool levelOnlyDecode = true;
  // Quiet non-talkers' Opus frames whose SILK VAD flag says no voice are not decoded at all
  // (Participant::skipQuietOpus); false decodes them like other quiet frames (for A/B).
  bool senderVad = true;
  // When what a stream would carry is exactly one talker's voice in that stream's own codec at
  // 0 dB gain, the talker's received frame is forwarded (under the stream's own SSRC, sequence
  // and timestamp) instead of being mixed and encoded again: a talker whose only other talker
  // shares its codec (two-talker rooms), and a codec group's listeners while the room's one
  // talker has their codec. false always encodes (for A/B).
  bool forwardSingleTalker = true;
  // Opus complexity of the talkers' mix-minus encoders (each heard by one participant);
  // -1 = encoder.complexity, which the shared listener mixes use.
  int talkerOpusComplexity = -1;
};

// A snapshot of one participant for the operator API (GET /api/v1/conferences/{room}).
struct ParticipantReport {
  ParticipantId id = 0;
  media::CodecId codec = media::CodecId::Opus;
  bool talking = false;  // mixed as a talker in the last tick
  bool muted = false;
  bool deaf = false;
  double gainDb = 0;
  ParticipantStats stats;
  media::JitterBufferStats jitterBuffer;
  uint32_t jitterBufferDepthMs = 0;
  uint32_t jitterBufferTargetMs = 0;
  double jitterMs = 0;
};

struct ConferenceReport {
  ConferenceId id = 0;
  std::vector<ParticipantReport> participants;
};

// What one tick did, summed into the worker's counters.
struct TickStats {
  uint32_t decodes = 0;
  uint32_t encodes = 0;
  uint32_t opusEncodes = 0;  // of which Opus: what the load governor's levels make cheaper
  uint32_t forwards = 0;  // packets whose payload is a talker's frame passed on, not an encode
  uint32_t concealed = 0;
  uint32_t talkers = 0;
  uint32_t packetsSent = 0;

  TickStats& operator+=(const TickStats& o) {
    decodes += o.decodes;
    encodes += o.encodes;
    opusEncodes += o.opusEncodes;
    forwards += o.forwards;
    concealed += o.concealed;
    talkers += o.talkers;
    packetsSent += o.packetsSent;
    return *this;
  }
};

class Conference {
 public:
  Conference(ConferenceId id, const ConferenceOptions& opts, MediaSink& sink, ConferenceEvents* events = nullptr);
  ~Conference();
  Conference(const Conference&) = delete;
  Conference& operator=(const Conference&) = delete;

  ConferenceId id() const { return id_; }

  // Control path. False when the id is taken or a codec library refuses to initialise.
  bool addParticipant(const ParticipantConfig& cfg);
  bool removeParticipant(ParticipantId id);
  bool setMuted(ParticipantId id, bool muted);
  bool setDeaf(ParticipantId id, bool deaf);
  bool setGainDb(ParticipantId id, double db);

  // nullptr when not in this room. The pointer stays valid until the participant is removed.
  Participant* find(ParticipantId id);
  const std::vector<std::unique_ptr<Participant>>& participants() const { return participants_; }
  size_t size() const { return participants_.size(); }
  // Control path (allocates): the state of every participant, for the API.
  ConferenceReport report() const;

  // The load governor's encoding level (LoadGovernor.h, encoderAtLevel) for every Opus encoder
  // of the room, shared and talkers', now and for codec groups made later. Between ticks on the
  // owning thread; no allocation. A complexity change keeps each encoder's history; entering or
  // leaving CELT only restarts the encoders clean (the streams' SSRC, sequence and timestamps
  // run on: they belong to the participants, not the encoders).
  void setEncodingLevel(int level);
  int encodingLevel() const { return encodingLevel_; }
  // For tests: a codec group's shared encoder and talker encoder `slot`; nullptr when absent.
  const media::AudioEncoder* sharedEncoderForTest(media::CodecId codec) const;
  const media::AudioEncoder* talkerEncoderForTest(media::CodecId codec, size_t slot) const;

  // Data path: a packet from `p` (a participant of this room).
  void receive(Participant& p, const media::RtpView& rtp, uint64_t arrivalNs) {
    p.receive(rtp, arrivalNs);
    if (const char d = p.takeDigit(); d != 0 && events_ != nullptr) events_->onDtmf(id_, p.id(), d);
  }
  // One 20 ms mixing step: decodeShard(0, 1) then mixAndSend().
  TickStats tick();
  // The two phases of a tick, for a worker that spreads a big room's decoding over threads.
  // decodeShard pulls and decodes the frames of participants i with i % shards == shard; the
  // shards of one tick may run on different threads at once (each participant is touched by
  // one), and all must finish (with a happens-before edge) before mixAndSend runs on the
  // owning thread. Returns decodes and concealed frames in the TickStats fields of those names.
  TickStats decodeShard(size_t shard, size_t shards);
  TickStats mixAndSend();
  // `n` periods the worker could not run (held up a whole period or more, e.g. the machine froze):
  // nothing is mixed for them, but every stream sent from this room skips them, so its timestamps
  // keep real time and its next packet carries a marker (RFC 3551 §4.1). A receiver then plays
  // the packets after the gap on its usual schedule, instead of keeping the gap as added delay
  // (contiguous timestamps arriving late). The frames the periods would have played are dropped
  // from the participants' jitter buffers when they arrive (JitterBuffer::skipAhead), so the
  // mix does not keep the freeze as added delay either.
  void skipPeriods(uint64_t n);

 private:
  // The participants who share one codec (and so one listener encode and a pool of talker
  // encoders), with this tick's shared payload.
  struct CodecGroup {
    media::CodecId codec;
    size_t members = 0;
    std::unique_ptr<media::AudioEncoder> sharedEncoder;
    std::vector<std::unique_ptr<media::AudioEncoder>> talkerEncoders;  // min(maxTalkers, members) of them, grown on join
    std::vector<bool> talkerEncoderBusy;
    bool sharedPrepared = false;        // this tick's shared payload is ready (encoded or forwarded)
    bool sharedForwarded = false;       // the last shared payload was a talker's frame
    std::span<const std::byte> shared;  // into sharedPayload, or a forwarded talker's frame
    std::array<std::byte, media::kMaxPayload> sharedPayload;
  };

  CodecGroup* group(media::CodecId codec);
  const CodecGroup* group(media::CodecId codec) const;
  media::EncoderOptions sharedEncoderOptions() const;
  media::EncoderOptions talkerEncoderOptions() const;
  CodecGroup* addToGroup(media::CodecId codec);
  void selectTalkers();
  void setTalker(Participant& p, bool talking);
  void mixTalkers();
  void releaseTalker(Participant& p);
  void sendToListener(Participant& p, TickStats& st);
  void sendToTalker(Participant& p, TickStats& st);
  void prepareShared(CodecGroup& g, TickStats& st);
  const Participant* soleOtherTalker(const Participant& p) const;
  void send(Participant& p, std::span<const std::byte> payload, TickStats& st);

  ConferenceId id_;
  ConferenceOptions opts_;
  MediaSink& sink_;
  ConferenceEvents* events_;
  std::vector<std::unique_ptr<Participant>> participants_;
  std::vector<std::unique_ptr<CodecGroup>> groups_;
  int encodingLevel_ = 0;
  // This tick's talkers (talkerCount_ of them), reserved at construction.
  std::array<Participant*, kMaxTalkersLimit> talkers_{};
  size_t talkerCount_ = 0;
  std::array<int32_t, media::kFrameSamples> mix_{};
  std::array<int16_t, media::kFrameSamples> shared_{};  // the listeners' mix, saturated
  bool sharedReady_ = false;
  std::array<int16_t, media::kFrameSamples> own_{};  // one talker's mix-minus
  std::array<std::byte, media::RtpView::kFixedHeaderSize + media::kMaxPayload> packet_{};
  std::array<std::byte, media::kMaxPayload> talkerPayload_{};
};

}  // namespace rdv::mixer
