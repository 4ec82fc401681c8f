// Conference mixing: mix-minus, mute/deaf, talker selection and events, encode-once per codec
// group, RTP headers per listener. Real encoded frames in, real decoders on the output.
#include "mixer/Conference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <numeric>
#include <utility>
#include <vector>

#include "media/OpusCodec.h"
#include "mixer/test/MixerTestUtil.h"

namespace rdv::mixer {
namespace {

using media::CodecId;
using testutil::Receiver;
using testutil::Sender;

constexpr uint64_t kTickNs = 20'000'000;

struct CaptureSink : MediaSink {
  std::map<ParticipantId, Receiver> receivers;
  std::map<ParticipantId, CodecId> codecs;
  void send(ParticipantId to, std::span<const std::byte> rtp) override {
    receivers.try_emplace(to, codecs.at(to)).first->second.onPacket(rtp);
  }
};

struct EventLog : ConferenceEvents {
  std::vector<std::pair<ParticipantId, bool>> events;
  std::string digits;
  void onTalking(ConferenceId, ParticipantId who, bool talking) override { events.emplace_back(who, talking); }
  void onDtmf(ConferenceId, ParticipantId, char digit) override { digits.push_back(digit); }
};

// A room plus one Sender per participant; run() feeds one packet per sender and ticks.
class Room {
 public:
  explicit Room(ConferenceOptions opts = {}) : conf(7, opts, sink, &log) {}

  void add(ParticipantId id, CodecId codec, double hz, bool muted = false, bool deaf = false) {
    const uint8_t pt = media::codecInfo(codec).defaultPayloadType;
    ParticipantConfig cfg{.id = id, .codec = codec, .payloadType = pt, .ssrc = 0xA000 + id, .muted = muted, .deaf = deaf};
    ASSERT_TRUE(conf.addParticipant(cfg));
    sink.codecs[id] = codec;
    senders.emplace(id, Sender(codec, pt, 0x5000 + id, hz));
  }
  TickStats run(int ticks) {
    TickStats last;
    for (int t = 0; t < ticks; ++t) {
      for (auto& [id, s] : senders) {
        auto rtp = media::RtpView::parse(s.next());
        conf.receive(*conf.find(id), *rtp, now);
      }
      now += kTickNs;
      last = conf.tick();
    }
    return last;
  }
  // The participant's phone starts a new stream (new SSRC) with another tone, or silence.
  void replaceSender(ParticipantId id, double hz, double amplitude = 8000) {
    const CodecId codec = conf.find(id)->config().codec;
    senders.erase(id);
    senders.emplace(id, Sender(codec, conf.find(id)->config().payloadType, 0x6000 + id + 0x100 * ++restarts, hz, amplitude));
  }
  Receiver& heard(ParticipantId id) { return sink.receivers.at(id); }
  int restarts = 0;

  CaptureSink sink;
  EventLog log;
  Conference conf;
  std::map<ParticipantId, Sender> senders;
  uint64_t now = 0;
};

constexpr double kHeard = 2000;    // a 8000-amplitude tone arrives well above this
constexpr double kNotHeard = 80;   // 40 dB below the input

TEST(ConferenceTest, EachTalkerHearsTheOtherButNotItselfAndSilentListenerHearsBoth) {
  Room room;
  room.add(1, CodecId::Opus, 440);   // A
  room.add(2, CodecId::Opus, 1000);  // B
  room.add(3, CodecId::Opus, 0);     // C, silent
  room.run(60);
  EXPECT_GT(room.heard(2).amplitude(440), kHeard);
  EXPECT_LT(room.heard(2).amplitude(1000), kNotHeard);
  EXPECT_GT(room.heard(1).amplitude(1000), kHeard);
  EXPECT_LT(room.heard(1).amplitude(440), kNotHeard);
  EXPECT_GT(room.heard(3).amplitude(440), kHeard);
  EXPECT_GT(room.heard(3).amplitude(1000), kHeard);
}

TEST(ConferenceTest, MixMinusAcrossCodecGroups) {
  Room room;
  room.add(1, CodecId::Pcmu, 440);
  room.add(2, CodecId::G722, 1000);
  room.add(3, CodecId::Pcma, 0);
  room.add(4, CodecId::Opus, 0);
  room.run(60);
  EXPECT_GT(room.heard(1).amplitude(1000), kHeard);
  EXPECT_LT(room.heard(1).amplitude(440), kNotHeard);
  EXPECT_GT(room.heard(2).amplitude(440), kHeard);
  EXPECT_LT(room.heard(2).amplitude(1000), kNotHeard);
  for (ParticipantId listener : {3u, 4u}) {
    EXPECT_GT(room.heard(listener).amplitude(440), kHeard) << listener;
    EXPECT_GT(room.heard(listener).amplitude(1000), kHeard) << listener;
  }
  // A PCMU talker reaches an Opus listener at the level an Opus talker would (issue 8: ±1 dB).
  EXPECT_NEAR(20 * std::log10(room.heard(4).amplitude(440) / 8000), 0.0, 1.0);
}

TEST(ConferenceTest, MutedTalkerIsHeardByNobody) {
  Room room;
  room.add(1, CodecId::Opus, 440, /*muted=*/true);
  room.add(2, CodecId::Opus, 1000);
  room.add(3, CodecId::Opus, 0);
  room.run(60);
  EXPECT_LT(room.heard(2).amplitude(440), kNotHeard);
  EXPECT_LT(room.heard(3).amplitude(440), kNotHeard);
  EXPECT_GT(room.heard(1).amplitude(1000), kHeard) << "muted is not deaf";
  EXPECT_GT(room.heard(3).amplitude(1000), kHeard);
}

TEST(ConferenceTest, DeafParticipantReceivesNothingButIsStillHeard) {
  Room room;
  room.add(1, CodecId::Opus, 440, false, /*deaf=*/true);
  room.add(2, CodecId::Opus, 0);
  room.run(40);
  EXPECT_EQ(room.sink.receivers.count(1), 0u);
  EXPECT_GT(room.heard(2).amplitude(440), kHeard);
  // Undeafened, it gets packets again, the first with a marker and a timestamp that kept time.
  ASSERT_TRUE(room.conf.setDeaf(1, false));
  room.run(1);
  EXPECT_EQ(room.heard(1).packets, 1u);
}

TEST(ConferenceTest, OnlyTheLoudestTalkersAreMixed) {
  ConferenceOptions opts;
  opts.maxTalkers = 2;
  Room room(opts);
  room.add(1, CodecId::Opus, 440);
  room.add(2, CodecId::Opus, 1000);
  room.add(3, CodecId::Opus, 0);
  room.replaceSender(3, 1700, 1500);  // the quietest talker
  room.add(4, CodecId::Opus, 0);
  const TickStats st = room.run(60);
  EXPECT_EQ(st.talkers, 2u);
  EXPECT_GT(room.heard(4).amplitude(440), kHeard);
  EXPECT_GT(room.heard(4).amplitude(1000), kHeard);
  EXPECT_LT(room.heard(4).amplitude(1700), 30.0);
}

TEST(ConferenceTest, ReportsTalkingStartAndStop) {
  Room room;
  room.add(1, CodecId::Opus, 440);
  room.add(2, CodecId::Opus, 0);
  room.run(10);
  ASSERT_EQ(room.log.events.size(), 1u);
  EXPECT_EQ(room.log.events[0], std::make_pair(ParticipantId{1}, true));
  room.replaceSender(1, 0);  // falls silent
  room.run(40);  // hangover 400 ms
  ASSERT_EQ(room.log.events.size(), 2u);
  EXPECT_EQ(room.log.events[1], std::make_pair(ParticipantId{1}, false));
}

TEST(ConferenceTest, ListenersShareOneEncodePerCodecGroup) {
  Room room;
  room.add(1, CodecId::Opus, 440);
  for (ParticipantId id = 10; id < 60; ++id) room.add(id, CodecId::Opus, 0);
  room.run(20);
  const TickStats st = room.run(1);
  EXPECT_EQ(st.talkers, 1u);
  EXPECT_LE(st.encodes, 2u + 1u);  // the talker's own mix-minus + one shared encode
  EXPECT_EQ(st.packetsSent, 51u);
  // Every listener got the same payload bytes but its own SSRC and sequence.
  EXPECT_NE(room.heard(10).ssrc, room.heard(11).ssrc);
  EXPECT_EQ(room.heard(10).pcm, room.heard(59).pcm);
}

TEST(ConferenceTest, ListenerWhoStartsTalkingMovesToItsOwnMixAndBack) {
  ConferenceOptions opts;
  opts.forwardSingleTalker = false;  // every stream encoded: the talker encoder pool at work
  Room room(opts);
  room.add(1, CodecId::Opus, 440);
  room.add(2, CodecId::Opus, 0);
  room.add(3, CodecId::Opus, 0);
  room.run(10);
  EXPECT_EQ(room.run(1).encodes, 2u);  // talker 1 + shared
  room.replaceSender(2, 1000);
  room.run(10);
  const TickStats both = room.run(1);
  EXPECT_EQ(both.talkers, 2u);
  EXPECT_EQ(both.encodes, 3u);  // two mix-minus + shared for participant 3
  EXPECT_GE(room.conf.find(2)->talkerSlot(), 0);
  room.replaceSender(2, 0);
  room.run(40);
  EXPECT_EQ(room.conf.find(2)->talkerSlot(), -1);
  EXPECT_EQ(room.run(1).encodes, 2u);
}

// A quiet participant is decoded for its level only (Opus at 16 kHz, G.711/G.722 without
// upsampling); the frame that makes it a talker is completed at 48 kHz and mixed in the same
// tick. Against the 48 kHz-only path: the same tick starts the talker and a listener hears the
// same level from that frame on.
struct TalkerStart {
  int ticks = 0;
  double levelDb = 0;
  uint64_t decodes = 0;
  uint64_t quietDecodes = 0;  // in the 10 silent ticks before the tone
};

TalkerStart startTalking(CodecId codec, const ConferenceOptions& opts) {
  Room room(opts);
  room.add(2, codec, 0);
  room.add(3, CodecId::Opus, 0);
  room.run(10);
  TalkerStart r;
  r.quietDecodes = room.conf.find(2)->stats().decodes;
  room.replaceSender(2, 1000);
  size_t from = 0;
  while (r.ticks < 10 && room.conf.find(2)->talkerSlot() < 0) {
    from = room.heard(3).pcm.size();
    room.run(1);
    ++r.ticks;
  }
  room.run(10);
  const auto heard = std::span<const int16_t>(room.heard(3).pcm).subspan(from);
  r.levelDb = 20 * std::log10(media::testutil::toneAmplitude(heard, 1000) / 8000);
  r.decodes = room.conf.find(2)->stats().decodes;
  return r;
}

class LevelOnlyDecode : public ::testing::TestWithParam<CodecId> {};

TalkerStart startTalking(CodecId codec, bool levelOnlyDecode) {
  ConferenceOptions opts;
  opts.levelOnlyDecode = levelOnlyDecode;
  return startTalking(codec, opts);
}

TEST_P(LevelOnlyDecode, StartsATalkerAtTheSameTickAndLevel) {
  const TalkerStart cheap = startTalking(GetParam(), true);
  const TalkerStart full = startTalking(GetParam(), false);
  EXPECT_LT(cheap.ticks, 10);
  EXPECT_EQ(cheap.ticks, full.ticks);
  // Opus restarts its decoder at the switch: the first mixed frame is ~5 dB SNR against a
  // continuous decode, the second ~17 dB, clean from the fifth (media OpusTest); over these 11
  // frames that is ~0.5 dB of level.
  EXPECT_NEAR(cheap.levelDb, full.levelDb, 1.0);
  EXPECT_NEAR(cheap.levelDb, 0.0, 1.5);
  EXPECT_EQ(cheap.decodes, full.decodes + 1);  // the start frame, completed at 48 kHz
}

INSTANTIATE_TEST_SUITE_P(Codecs, LevelOnlyDecode, ::testing::Values(CodecId::Opus, CodecId::G722, CodecId::Pcmu));

// A quiet Opus participant's frames that its encoder marked as holding no voice (SILK's VAD
// flag; digital silence here) are not decoded at all, and its voice still starts it talking at
// the same tick and level as when quiet frames are decoded every other tick.
TEST(ConferenceTest, OpusFramesTheSenderMarkedInactiveAreNotDecodedAndVoiceStillStartsATalker) {
  ConferenceOptions decodeThem;
  decodeThem.senderVad = false;
  const TalkerStart byFlag = startTalking(CodecId::Opus, ConferenceOptions{});
  const TalkerStart decoded = startTalking(CodecId::Opus, decodeThem);
  EXPECT_LE(byFlag.quietDecodes, 1u) << "at most the one-in-16 check in 10 ticks";
  EXPECT_GE(decoded.quietDecodes, 5u);
  EXPECT_LT(byFlag.ticks, 10);
  EXPECT_EQ(byFlag.ticks, decoded.ticks);
  EXPECT_NEAR(byFlag.levelDb, decoded.levelDb, 0.5);
}

// The one-in-16 check decodes of quiet participants who joined together are spread over the
// ticks: 32 participants sending encoded silence cost two decodes a tick, not 32 every sixteenth.
TEST(ConferenceTest, CheckDecodesOfInactiveFramesAreSpreadOverTheTicks) {
  CaptureSink sink;
  Conference conf(1, ConferenceOptions{}, sink);
  std::vector<Sender> senders;
  for (ParticipantId id = 1; id <= 32; ++id) {
    ASSERT_TRUE(conf.addParticipant({.id = id, .codec = CodecId::Opus, .payloadType = 111, .ssrc = id}));
    sink.codecs[id] = CodecId::Opus;
    senders.emplace_back(CodecId::Opus, 111, 0x700 + id, 0);
  }
  std::vector<uint32_t> decodes;
  for (int t = 0; t < 48; ++t) {
    for (ParticipantId id = 1; id <= 32; ++id) {
      conf.receive(*conf.find(id), *media::RtpView::parse(senders[id - 1].next()), t * kTickNs);
    }
    const TickStats st = conf.tick();
    if (t >= 16) decodes.push_back(st.decodes);  // after the first frames (decoded: no quiet size yet)
  }
  EXPECT_EQ(std::accumulate(decodes.begin(), decodes.end(), 0u), 64u) << "each of 32 twice in 32 ticks";
  EXPECT_LE(*std::max_element(decodes.begin(), decodes.end()), 3u);
}

// A loud sound its sender's encoder calls background from the first frame on (a steady tone,
// which libopus marks inactive after ~0.8 s) still starts a talker: one inactive frame in 16 is
// decoded anyway.
TEST(ConferenceTest, ALoudSoundMarkedInactiveStillStartsATalker) {
  auto enc = media::makeEncoder(CodecId::Opus);
  media::testutil::Tone tone(400, 8000);
  std::array<int16_t, media::kFrameSamples> pcm{};
  std::array<std::byte, media::kMaxPayload> out{};
  std::vector<std::vector<std::byte>> frames;  // frames 60..99 of the tone
  for (int i = 0; i < 100; ++i) {
    tone.next(pcm);
    const size_t n = enc->encode(pcm, out);
    if (i < 60) continue;
    ASSERT_TRUE(media::opusSenderMarkedInactive(std::span(out).first(n))) << "frame " << i;
    frames.emplace_back(out.begin(), out.begin() + static_cast<ptrdiff_t>(n));
  }
  CaptureSink sink;
  Conference conf(1, ConferenceOptions{}, sink);
  for (ParticipantId id : {2u, 3u}) {
    ASSERT_TRUE(conf.addParticipant({.id = id, .codec = CodecId::Opus, .payloadType = 111, .ssrc = id}));
    sink.codecs[id] = CodecId::Opus;
  }
  Sender listener(CodecId::Opus, 111, 0x53, 0);
  std::array<std::byte, 1500> buf{};
  int started = -1;
  for (int t = 0; t < 40; ++t) {
    const size_t h = media::writeRtpHeader(buf, {111, t == 0, static_cast<uint16_t>(t), 960u * static_cast<uint32_t>(t), 0x52});
    std::copy(frames[static_cast<size_t>(t)].begin(), frames[static_cast<size_t>(t)].end(), buf.begin() + static_cast<ptrdiff_t>(h));
    conf.receive(*conf.find(2), *media::RtpView::parse(std::span(buf).first(h + frames[static_cast<size_t>(t)].size())), t * kTickNs);
    conf.receive(*conf.find(3), *media::RtpView::parse(listener.next()), t * kTickNs);
    conf.tick();
    if (started < 0 && conf.find(2)->talking()) started = t;
  }
  EXPECT_GE(started, 0) << "never picked up";
  EXPECT_LE(started, 18);
  EXPECT_GT(sink.receivers.at(3).amplitude(400), kHeard);
}

TEST(ConferenceTest, MixSaturatesInsteadOfWrapping) {
  Room room;
  room.add(1, CodecId::Pcmu, 0);
  room.add(2, CodecId::Pcmu, 0);
  room.add(3, CodecId::Pcmu, 0);
  room.replaceSender(1, 500, 30000);
  room.replaceSender(2, 500, 30000);
  room.run(30);
  const auto& pcm = room.heard(3).pcm;
  const auto tail = std::span(pcm).last(media::kFrameSamples * 10);
  const auto [lo, hi] = std::minmax_element(tail.begin(), tail.end());
  EXPECT_GT(*hi, 30000);  // two in-phase 30000 peaks clip near full scale...
  EXPECT_LT(*lo, -30000);  // ...and never wrap to the opposite sign
  EXPECT_GT(room.heard(3).amplitude(500), 30000);
}

TEST(ConferenceTest, ReportShowsTalkersMuteAndJitterBufferState) {
  Room room;
  room.add(1, CodecId::Opus, 440);
  room.add(2, CodecId::Pcmu, 0, /*muted=*/true);
  room.run(20);
  const ConferenceReport r = room.conf.report();
  ASSERT_EQ(r.participants.size(), 2u);
  EXPECT_EQ(r.id, 7u);
  EXPECT_TRUE(r.participants[0].talking);
  EXPECT_FALSE(r.participants[1].talking);
  EXPECT_TRUE(r.participants[1].muted);
  EXPECT_EQ(r.participants[1].codec, CodecId::Pcmu);
  EXPECT_EQ(r.participants[0].stats.packets, 20u);
  EXPECT_EQ(r.participants[0].jitterBuffer.pushed, 20u);
  EXPECT_EQ(r.participants[0].jitterBufferTargetMs, 20u);
}

TEST(ConferenceTest, WrongPayloadTypeIsDroppedAndCounted) {
  Room room;
  room.add(1, CodecId::Opus, 0);
  room.senders.erase(1);
  room.senders.emplace(1, Sender(CodecId::Opus, 96, 0x5001, 440));  // PT 96 was not negotiated
  room.run(5);
  EXPECT_EQ(room.conf.find(1)->stats().wrongPayloadType, 5u);
  EXPECT_EQ(room.conf.find(1)->jitterBuffer().depthMs(), 0u);
}

TEST(ConferenceTest, Rfc6464LevelsSpareDecodingQuietListeners) {
  ConferenceOptions opts;
  CaptureSink sink;
  Conference conf(1, opts, sink);
  for (ParticipantId id : {1u, 2u}) {
    ASSERT_TRUE(conf.addParticipant({.id = id, .codec = CodecId::Opus, .payloadType = 111, .ssrc = id, .audioLevelExtId = 3}));
    sink.codecs[id] = CodecId::Opus;
  }
  Sender loud(CodecId::Opus, 111, 0x51, 440);
  Sender quiet(CodecId::Opus, 111, 0x52, 0);
  std::array<std::byte, 1500> buf{};
  // Re-frames a packet with a one-byte extension (id 3) carrying `level` (RFC 6464 §3).
  const auto withLevel = [&](std::span<const std::byte> rtp, int level) {
    std::copy(rtp.begin(), rtp.begin() + 12, buf.begin());
    buf[0] |= std::byte{0x10};
    const std::array<std::byte, 8> ext{std::byte{0xbe}, std::byte{0xde}, std::byte{0}, std::byte{1},
                                       std::byte{0x30}, std::byte(level), std::byte{0}, std::byte{0}};
    std::copy(ext.begin(), ext.end(), buf.begin() + 12);
    std::copy(rtp.begin() + 12, rtp.end(), buf.begin() + 20);
    return *media::RtpView::parse(std::span(buf).first(rtp.size() + 8));
  };
  for (int t = 0; t < 40; ++t) {
    conf.receive(*conf.find(1), withLevel(loud.next(), 10), t * kTickNs);
    conf.receive(*conf.find(2), withLevel(quiet.next(), 127), t * kTickNs);
    conf.tick();
  }
  EXPECT_EQ(conf.find(2)->stats().decodes, 0u);
  EXPECT_GE(conf.find(2)->stats().decodesSkipped, 39u);
  EXPECT_GT(conf.find(1)->stats().decodes, 30u);
  EXPECT_GT(sink.receivers.at(2).amplitude(440), kHeard);
}

// A stall that empties every buffer (the network, the relay): the talker's missing frames are
// concealed, the quiet participants' are not (nobody hears them; concealing a room of them would
// multiply the mixer's work just when it is late), and they are heard again when packets return.
TEST(ConferenceTest, OnlyTheMixedParticipantsLostFramesAreConcealed) {
  Room r;
  r.add(1, CodecId::Opus, 440);
  r.add(2, CodecId::Opus, 0);
  r.add(3, CodecId::Pcmu, 0);
  r.add(4, CodecId::G722, 0);
  r.run(30);
  std::map<ParticipantId, uint64_t> before;
  for (ParticipantId id : {1u, 2u, 3u, 4u}) before[id] = r.conf.find(id)->stats().concealed;
  for (int t = 0; t < 3; ++t) {  // nobody's packets arrive for three ticks
    r.now += kTickNs;
    r.conf.tick();
  }
  EXPECT_GE(r.conf.find(1)->stats().concealed - before[1], 2u) << "the talker is mixed: its gap is concealed";
  for (ParticipantId id : {2u, 3u, 4u}) EXPECT_EQ(r.conf.find(id)->stats().concealed, before[id]) << id;
  for (auto& [id, s] : r.senders) (void)s.next();  // the lost frames: the senders' sequence moves on
  r.run(20);
  EXPECT_GT(r.heard(2).amplitude(440), kHeard);
  EXPECT_GT(r.heard(3).amplitude(440), kHeard);
}

// A quiet Opus participant is decoded every other frame, but a frame that grew from the quiet
// ones (VBR: voice) is decoded whatever the phase: the talker starts on its first loud frame
// whether that frame falls on a decoded or a skipped tick.
TEST(ConferenceTest, AQuietOpusParticipantStartsTalkingOnItsFirstLoudFrameInEitherSkipPhase) {
  std::array<int, 2> started{};
  for (int phase = 0; phase < 2; ++phase) {
    ConferenceOptions opts;
    CaptureSink sink;
    Conference conf(1, opts, sink);
    for (ParticipantId id : {1u, 2u}) {
      ASSERT_TRUE(conf.addParticipant({.id = id, .codec = CodecId::Opus, .payloadType = 111, .ssrc = id}));
      sink.codecs[id] = CodecId::Opus;
    }
    Sender listener(CodecId::Opus, 111, 0x51, 0);
    Sender silence(CodecId::Opus, 111, 0x52, 0);
    Sender voice(CodecId::Opus, 111, 0x52, 440);
    const int toneAt = 30 + phase;
    started[phase] = -1;
    for (int t = 0; t < 40 && started[phase] < 0; ++t) {
      conf.receive(*conf.find(1), *media::RtpView::parse(listener.next()), t * kTickNs);
      // One stream: the voice sender takes over sequence and timestamp where silence left off.
      const auto pkt = t < toneAt ? silence.next() : voice.next();
      if (t < toneAt) voice.next();
      conf.receive(*conf.find(2), *media::RtpView::parse(pkt), t * kTickNs);
      conf.tick();
      if (conf.find(2)->talking()) started[phase] = t - toneAt;
    }
    EXPECT_GE(conf.find(2)->stats().decodesSkipped, 12u) << "silence is still decoded every other frame";
  }
  EXPECT_GE(started[0], 0);
  EXPECT_EQ(started[0], started[1]) << "the first loud frame starts the talker in both skip phases";
}

// A quiet participant whose buffer a start burst left deep (as when a room starts) starts talking
// `onset` frames in, for 10 frames; returns how many of those frames a listener heard, and the
// participant's trims.
struct OnsetHeard {
  int frames = 0;          // frames of the 10-frame tone the listener heard
  uint64_t trims = 0;      // the talker's buffer's drift drops and quiet trims
  uint64_t vetoed = 0;     // quiet trims its veto turned down
};

OnsetHeard voiceFramesHeard(CodecId codec, int onset) {
  ConferenceOptions opts;
  CaptureSink sink;
  Conference conf(1, opts, sink);
  for (ParticipantId id : {2u, 3u}) {
    const CodecId c = id == 2 ? codec : CodecId::Opus;
    EXPECT_TRUE(conf.addParticipant({.id = id, .codec = c, .payloadType = media::codecInfo(c).defaultPayloadType, .ssrc = id}));
    sink.codecs[id] = c;
  }
  const uint8_t pt = media::codecInfo(codec).defaultPayloadType;
  Sender silence(codec, pt, 0x52, 0), voice(codec, pt, 0x52, 1000), listener(CodecId::Opus, 111, 0x53, 0);
  int sent = 0;
  const auto sendOne = [&](uint64_t now) {  // one stream: the voice sender keeps silence's numbering
    const bool loud = sent >= onset && sent < onset + 10;
    const auto pkt = loud ? voice.next() : silence.next();
    (void)(loud ? silence.next() : voice.next());
    conf.receive(*conf.find(2), *media::RtpView::parse(pkt), now);
    ++sent;
  };
  sendOne(0);
  sendOne(0);
  for (int t = 0; t < onset + 20; ++t) {
    sendOne(t * kTickNs);
    conf.receive(*conf.find(3), *media::RtpView::parse(listener.next()), t * kTickNs);
    conf.tick();
  }
  const Receiver& heard = sink.receivers.at(3);
  int frames = 0;
  for (size_t f = 0; f * media::kFrameSamples < heard.pcm.size(); ++f) frames += heard.amplitudeAt(1000, f, 1) > kHeard ? 1 : 0;
  const auto& st = conf.find(2)->jitterBuffer().stats();
  return {frames, st.driftDrops, st.trimsVetoed};
}

// The buffer of a quiet participant trims a frame when its depth stays over target; the frame it
// would trim is kept when it looks like speech starting (an Opus frame its sender's VAD marked, or
// grown from the quiet ones; a loud G.711 frame; a loud G.722 lower band, decoded from a copy of
// the decoder's state): whatever frame speech starts on, the listener hears all of it. The onset
// that met the trim shows in the veto count (without the veto it loses a frame: checked).
TEST(ConferenceTest, ATrimInSilenceNeverCutsTheFirstFrameOfSpeech) {
  for (CodecId codec : {CodecId::Opus, CodecId::Pcmu, CodecId::G722}) {
    std::vector<int> heard;
    uint64_t vetoed = 0;
    for (int onset = 16; onset < 22; ++onset) {  // the start burst is trimmed on frames 9 and 20
      const OnsetHeard h = voiceFramesHeard(codec, onset);
      EXPECT_GE(h.trims, 1u) << "the start burst is trimmed in silence";
      heard.push_back(h.frames);
      vetoed += h.vetoed;
    }
    const auto [lo, hi] = std::minmax_element(heard.begin(), heard.end());
    EXPECT_GE(*lo, 9) << media::codecInfo(codec).name;
    EXPECT_EQ(*lo, *hi) << media::codecInfo(codec).name << ": some onset lost a frame";
    EXPECT_GE(vetoed, 1u) << media::codecInfo(codec).name << ": no onset met the trim";
  }
}

// A period the worker could not run: every stream the room sends skips it, talkers', listeners'
// and each codec's alike: the next packet's timestamp is a frame further on per period skipped,
// its sequence number the next one (MixerTestUtil's Receiver checks), its marker set.
TEST(ConferenceTest, ASkippedPeriodKeepsEveryStreamInRealTime) {
  Room room;
  room.add(1, CodecId::Opus, 440);
  room.add(2, CodecId::G722, 1000);
  room.add(3, CodecId::Pcmu, 0);
  room.add(4, CodecId::Opus, 0);
  room.run(20);
  std::map<ParticipantId, uint32_t> before;
  std::map<ParticipantId, uint64_t> drops;
  for (ParticipantId id = 1; id <= 4; ++id) {
    before[id] = room.heard(id).lastTs;
    drops[id] = room.conf.find(id)->jitterBuffer().stats().driftDrops;
  }
  room.conf.skipPeriods(2);
  room.run(1);
  for (ParticipantId id = 1; id <= 4; ++id) {
    const Receiver& r = room.heard(id);
    EXPECT_EQ(r.lastTs - before[id], 3 * media::codecInfo(room.sink.codecs.at(id)).rtpFrameTicks()) << id;
    EXPECT_EQ(r.markers, 1u) << id;
    EXPECT_EQ(r.framesSkipped, 2u) << id;
  }
  // The senders here kept to their own clock (no frames piled up): nothing is dropped for the skip.
  room.run(30);
  for (ParticipantId id = 1; id <= 4; ++id) {
    EXPECT_EQ(room.conf.find(id)->jitterBuffer().stats().driftDrops, drops[id]) << id;
  }
}

TEST(ConferenceTest, GainScalesATalkersVoice) {
  Room room;
  room.add(1, CodecId::Opus, 440);
  room.add(2, CodecId::Opus, 0);
  ASSERT_TRUE(room.conf.setGainDb(1, -6.0));
  room.run(40);
  EXPECT_NEAR(20 * std::log10(room.heard(2).amplitude(440) / 8000), -6.0, 1.0);
}

// RFC 4733: a key is reported once, when its end packet first arrives; the repeated end packets
// (same timestamp) and the packets before the end are not keys; a short or unknown event is ignored.
TEST(ConferenceTest, Rfc4733KeysAreReportedOnceAtTheirEnd) {
  CaptureSink sink;
  EventLog log;
  Conference conf(7, {}, sink, &log);
  ParticipantConfig cfg{.id = 1, .codec = CodecId::Pcmu, .payloadType = 0, .ssrc = 1, .dtmfPayloadType = 101};
  ASSERT_TRUE(conf.addParticipant(cfg));
  uint16_t seq = 0;
  auto event = [&](uint8_t key, bool end, uint32_t ts, size_t size = 4) {
    std::array<std::byte, 16> pkt{};
    media::writeRtpHeader(pkt, media::RtpHeaderFields{101, false, seq++, ts, 9});
    pkt[12] = std::byte{key};
    pkt[13] = std::byte{static_cast<uint8_t>(end ? 0x8a : 0x0a)};
    auto rtp = media::RtpView::parse(std::span<const std::byte>(pkt.data(), 12 + size));
    ASSERT_TRUE(rtp);
    conf.receive(*conf.find(1), *rtp, 0);
  };
  for (auto [key, ts] : {std::pair<uint8_t, uint32_t>{4, 800}, {7, 1600}, {11, 2400}}) {
    event(key, false, ts);
    event(key, true, ts);
    event(key, true, ts);
    event(key, true, ts);
  }
  event(3, true, 3200, 2);  // truncated: not an event
  event(200, true, 4000);   // no such key
  EXPECT_EQ(log.digits, "47#");
  EXPECT_EQ(conf.find(1)->stats().dtmfEvents, 3U);
  EXPECT_EQ(conf.find(1)->stats().wrongPayloadType, 0U) << "telephone-event is negotiated, not a wrong codec";
}

// Forwarding: a stream that would carry exactly one talker's voice in its own codec at 0 dB gets
// that talker's frame instead of a decode, mix and encode.
TEST(ConferenceForwardTest, TwoTalkersOfOneCodecHearEachOthersFramesWithoutEncodes) {
  for (CodecId codec : {CodecId::Opus, CodecId::G722, CodecId::Pcmu}) {
    Room room;
    room.add(1, codec, 440);
    room.add(2, codec, 1000);
    room.add(3, codec, 0);
    room.run(40);
    const TickStats st = room.run(1);
    EXPECT_EQ(st.talkers, 2u);
    EXPECT_EQ(st.forwards, 2u) << media::codecInfo(codec).name;
    EXPECT_EQ(st.encodes, 1u) << "only the listeners' shared mix";
    EXPECT_GT(room.heard(1).amplitude(1000), kHeard);
    EXPECT_LT(room.heard(1).amplitude(440), kNotHeard);
    EXPECT_GT(room.heard(2).amplitude(440), kHeard);
    EXPECT_LT(room.heard(2).amplitude(1000), kNotHeard);
    EXPECT_GT(room.heard(3).amplitude(440), kHeard);
    EXPECT_GT(room.heard(3).amplitude(1000), kHeard);
    // Under the listener's own stream, not the talker's.
    EXPECT_EQ(room.heard(1).ssrc, 0xA001u);
  }
}

TEST(ConferenceForwardTest, PcmuFrameArrivesByteForByte) {
  Room room;
  room.add(1, CodecId::Pcmu, 440);
  room.add(2, CodecId::Pcmu, 1000);
  room.run(30);
  // The sender's G.711 bytes decode to the same PCM the receiver got: no re-encoding.
  const auto& got = room.heard(2).pcm;
  std::vector<int16_t> sent;
  Sender replay(CodecId::Pcmu, 0, 0x5001, 440);
  auto dec = media::makeDecoder(CodecId::Pcmu);
  for (int i = 0; i < 30; ++i) {
    auto rtp = media::RtpView::parse(replay.next());
    std::array<int16_t, media::kFrameSamples> pcm{};
    ASSERT_TRUE(dec->decode(rtp->payload(), pcm));
    sent.insert(sent.end(), pcm.begin(), pcm.end());
  }
  const auto lastFrame = std::span(got).last(media::kFrameSamples);
  bool found = false;
  for (size_t f = 0; f + media::kFrameSamples <= sent.size() && !found; f += media::kFrameSamples) {
    found = std::equal(lastFrame.begin(), lastFrame.end(), sent.begin() + static_cast<ptrdiff_t>(f));
  }
  EXPECT_TRUE(found);
}

// A third talker turns the two forwarded streams into encoded mix-minus and back: each stream's
// sequence and timestamp run on without a gap (Receiver checks) and it always holds the others.
TEST(ConferenceForwardTest, StreamStaysContinuousAcrossForwardAndMix) {
  Room room;
  room.add(1, CodecId::Opus, 440);
  room.add(2, CodecId::Opus, 1000);
  room.add(3, CodecId::Opus, 0);
  room.run(30);
  EXPECT_EQ(room.run(1).forwards, 2u);
  room.replaceSender(3, 1700);
  room.run(10);
  const TickStats three = room.run(1);
  EXPECT_EQ(three.talkers, 3u);
  EXPECT_EQ(three.forwards, 0u);
  EXPECT_EQ(three.encodes, 3u);
  EXPECT_GT(room.heard(1).amplitude(1700, 10), kHeard);
  EXPECT_GT(room.heard(1).amplitude(1000, 10), kHeard);
  room.replaceSender(3, 0);
  room.run(60);  // hangover, then forwarding again
  EXPECT_EQ(room.run(1).forwards, 2u);
  EXPECT_GT(room.heard(1).amplitude(1000), kHeard);
  EXPECT_LT(room.heard(1).amplitude(440), kNotHeard);
  EXPECT_LT(room.heard(1).amplitude(1700), kNotHeard);
  EXPECT_EQ(room.heard(1).packets, 30u + 1 + 10 + 1 + 60 + 1) << "a packet every tick";
}

TEST(ConferenceForwardTest, OtherCodecOrGainIsMixedNotForwarded) {
  Room room;
  room.add(1, CodecId::Opus, 440);
  room.add(2, CodecId::Pcmu, 1000);
  room.run(30);
  EXPECT_EQ(room.run(1).forwards, 0u);
  Room gained;
  gained.add(1, CodecId::Opus, 440);
  gained.add(2, CodecId::Opus, 1000);
  ASSERT_TRUE(gained.conf.setGainDb(1, -6.0));
  gained.run(40);
  EXPECT_EQ(gained.run(1).forwards, 1u) << "1 hears 2's frame; 2 hears 1 at -6 dB, encoded";
  EXPECT_NEAR(20 * std::log10(gained.heard(2).amplitude(440) / 8000), -6.0, 1.0);
}

TEST(ConferenceForwardTest, OneTalkerIsForwardedToListenersOfItsCodec) {
  Room room;
  room.add(1, CodecId::Opus, 440);
  room.add(2, CodecId::Opus, 0);
  room.add(3, CodecId::Opus, 0);
  room.add(4, CodecId::Pcmu, 0);
  room.run(30);
  const TickStats st = room.run(1);
  EXPECT_EQ(st.forwards, 1u);  // one payload for both Opus listeners
  EXPECT_EQ(st.encodes, 2u);   // the talker's own (silent) mix-minus and the PCMU mix
  for (ParticipantId id : {2u, 3u, 4u}) EXPECT_NEAR(20 * std::log10(room.heard(id).amplitude(440) / 8000), 0.0, 1.0) << id;
  EXPECT_EQ(room.heard(2).pcm, room.heard(3).pcm);
}

}  // namespace
}  // namespace rdv::mixer
