// The load governor's encoding level reaching the encoders: Opus complexity of the shared and
// talker encoders (read back from libopus), CELT only in the TOC byte of the packets sent, the
// streams running on across the switch, and a MixerWorker moving its rooms when its ticks are
// heavy.
#include <gtest/gtest.h>

#include <map>
#include <tuple>
#include <vector>

#include "media/OpusCodec.h"
#include "mixer/Conference.h"
#include "mixer/MixerWorker.h"
#include "mixer/test/MixerTestUtil.h"

namespace rdv::mixer {
namespace {

using media::CodecId;
using testutil::Receiver;
using testutil::Sender;

constexpr uint64_t kTickNs = 20'000'000;

using media::testutil::celtToc;

struct TocSink : MediaSink {
  std::map<ParticipantId, Receiver> receivers;
  std::map<ParticipantId, CodecId> codecs;
  std::map<ParticipantId, std::byte> lastToc;
  void send(ParticipantId to, std::span<const std::byte> rtp) override {
    receivers.try_emplace(to, codecs.at(to)).first->second.onPacket(rtp);
    lastToc[to] = rtp[media::RtpView::kFixedHeaderSize];
  }
};

class LevelRoom {
 public:
  explicit LevelRoom(const ConferenceOptions& opts) : conf(9, opts, sink) {}
  void add(ParticipantId id, CodecId codec, double hz) {
    const uint8_t pt = media::codecInfo(codec).defaultPayloadType;
    ASSERT_TRUE(conf.addParticipant({.id = id, .codec = codec, .payloadType = pt, .ssrc = 0xC000 + id}));
    sink.codecs[id] = codec;
    senders.emplace(id, Sender(codec, pt, 0x7000 + id, hz));
  }
  void run(int ticks) {
    for (int t = 0; t < ticks; ++t) {
      for (auto& [id, s] : senders) conf.receive(*conf.find(id), *media::RtpView::parse(s.next()), now);
      now += kTickNs;
      conf.tick();
    }
  }
  const media::OpusAudioEncoder& shared() const {
    return dynamic_cast<const media::OpusAudioEncoder&>(*conf.sharedEncoderForTest(CodecId::Opus));
  }
  const media::OpusAudioEncoder& talker(size_t slot) const {
    return dynamic_cast<const media::OpusAudioEncoder&>(*conf.talkerEncoderForTest(CodecId::Opus, slot));
  }

  TocSink sink;
  Conference conf;
  std::map<ParticipantId, Sender> senders;
  uint64_t now = 0;
};

// Shared mixes configured at 5, talkers at 2: each level's ceiling applies to both, the talkers'
// own setting staying the lower bound of what they get back.
TEST(EncodingLevelTest, LevelSetsTheComplexityOfSharedAndTalkerEncoders) {
  ConferenceOptions opts;
  opts.encoder.complexity = 5;
  opts.talkerOpusComplexity = 2;
  LevelRoom room(opts);
  room.add(1, CodecId::Opus, 440);
  room.add(2, CodecId::Opus, 1000);
  room.add(3, CodecId::Opus, 0);
  for (const auto& [level, shared, talker] :
       std::vector<std::tuple<int, int, int>>{{0, 5, 2}, {1, 3, 2}, {2, 1, 1}, {3, 0, 0}, {0, 5, 2}}) {
    room.conf.setEncodingLevel(level);
    room.run(2);
    EXPECT_EQ(room.shared().complexity(), shared) << "level " << level;
    EXPECT_EQ(room.talker(0).complexity(), talker) << "level " << level;
    EXPECT_EQ(room.talker(1).complexity(), talker) << "level " << level;
    EXPECT_FALSE(room.shared().celtOnly());
  }
}

TEST(EncodingLevelTest, AnOpusGroupMadeLaterStartsAtTheRoomsLevel) {
  LevelRoom room(ConferenceOptions{});
  room.add(1, CodecId::Pcmu, 440);
  room.conf.setEncodingLevel(2);
  room.add(2, CodecId::Opus, 0);
  EXPECT_EQ(room.shared().complexity(), 1);
  EXPECT_EQ(room.talker(0).complexity(), 1);
  room.conf.setEncodingLevel(kMaxEncodingLevel);
  room.add(3, CodecId::Opus, 0);  // grows the talker pool at CELT only
  EXPECT_TRUE(room.talker(1).celtOnly());
  EXPECT_TRUE(room.shared().celtOnly());
}

// An Opus and a PCMU talker (nothing forwarded) and an Opus listener: at the CELT level the very
// next packet of the listener's shared mix and of the Opus talker's mix-minus is CELT; every
// stream keeps its SSRC and runs on by one sequence number and one frame of timestamp per tick
// (Receiver checks), decodes, and still carries the other talkers' tones; back at level 0 the
// encoders are libopus's voice modes again.
TEST(EncodingLevelTest, CeltLevelCodesTheNextPacketCeltAndTheStreamsRunOn) {
  LevelRoom room(ConferenceOptions{});
  room.add(1, CodecId::Opus, 440);
  room.add(2, CodecId::Pcmu, 1000);
  room.add(3, CodecId::Opus, 0);
  room.run(40);
  const auto ssrc3 = room.sink.receivers.at(3).ssrc;
  room.conf.setEncodingLevel(kMaxEncodingLevel);
  room.run(1);
  EXPECT_TRUE(celtToc(room.sink.lastToc.at(3)));
  EXPECT_TRUE(celtToc(room.sink.lastToc.at(1)));
  room.run(24);
  for (ParticipantId id : {1u, 2u, 3u}) EXPECT_EQ(room.sink.receivers.at(id).packets, 65u) << id;
  EXPECT_EQ(room.sink.receivers.at(3).ssrc, ssrc3);
  EXPECT_TRUE(celtToc(room.sink.lastToc.at(3)));
  EXPECT_GT(room.sink.receivers.at(3).amplitude(440, 10), 2000);
  EXPECT_GT(room.sink.receivers.at(3).amplitude(1000, 10), 2000);
  EXPECT_GT(room.sink.receivers.at(1).amplitude(1000, 10), 2000);
  room.conf.setEncodingLevel(0);
  room.run(25);
  EXPECT_FALSE(room.shared().celtOnly());
  EXPECT_FALSE(room.talker(0).celtOnly());
  EXPECT_EQ(room.shared().complexity(), 5);
  EXPECT_EQ(room.sink.receivers.at(3).packets, 90u);
  EXPECT_GT(room.sink.receivers.at(3).amplitude(1000, 10), 2000);
}

struct LevelLog : ConferenceEvents {
  std::vector<std::tuple<size_t, int, int, double>> changes;
  void onTalking(ConferenceId, ParticipantId, bool) override {}
  void onEncodingLevel(size_t worker, int from, int to, double busy) override {
    changes.emplace_back(worker, from, to, busy);
  }
};

using testutil::NullSink;

ParticipantConfig opus(ParticipantId id) {
  return ParticipantConfig{.id = id, .codec = CodecId::Opus, .payloadType = 111, .ssrc = 0xD000 + id};
}

const media::OpusAudioEncoder& sharedOpus(MixerWorker& w, ConferenceId room) {
  return dynamic_cast<const media::OpusAudioEncoder&>(
      *w.conference(room)->sharedEncoderForTest(CodecId::Opus));
}

// Periods fed to the worker's bookkeeping (no thread): one whose work outlasts it moves its rooms
// one level down and reports; a room created afterwards starts at that level.
TEST(EncodingLevelTest, WorkerMovesItsRoomsWhenATickOverruns) {
  NullSink sink;
  LevelLog log;
  MixerWorkerOptions opts;
  opts.index = 3;
  MixerWorker worker(opts, sink, &log);
  ASSERT_NE(worker.createConference(1), nullptr);
  ASSERT_TRUE(worker.addParticipant(1, opus(1)));
  for (int i = 0; i < 30; ++i) worker.accountTick(kTickNs / 4);
  EXPECT_EQ(worker.encodingLevel(), 0);
  worker.accountTick(kTickNs * 3 / 2);
  EXPECT_EQ(worker.encodingLevel(), 1);
  EXPECT_EQ(worker.counters().encodingLevel.get(), 1u);
  EXPECT_EQ(worker.counters().encodingLevelChanges.get(), 1u);
  EXPECT_EQ(worker.counters().busyNs.get(), 30 * (kTickNs / 4) + kTickNs * 3 / 2);
  EXPECT_EQ(sharedOpus(worker, 1).complexity(), 3);
  ASSERT_EQ(log.changes.size(), 1u);
  EXPECT_EQ(std::get<0>(log.changes[0]), 3u);
  EXPECT_EQ(std::get<1>(log.changes[0]), 0);
  EXPECT_EQ(std::get<2>(log.changes[0]), 1);
  EXPECT_NEAR(std::get<3>(log.changes[0]), (24 * 0.25 + 1.5) / 25, 1e-9);
  ASSERT_NE(worker.createConference(2), nullptr);
  ASSERT_TRUE(worker.addParticipant(2, opus(2)));
  EXPECT_EQ(sharedOpus(worker, 2).complexity(), 3);
}

TEST(EncodingLevelTest, WorkerWithoutAdaptiveEncodingKeepsItsEncoders) {
  NullSink sink;
  MixerWorkerOptions opts;
  opts.governor.enabled = false;
  MixerWorker worker(opts, sink);
  ASSERT_NE(worker.createConference(1), nullptr);
  ASSERT_TRUE(worker.addParticipant(1, opus(1)));
  for (int i = 0; i < 100; ++i) worker.accountTick(kTickNs * 2);
  EXPECT_EQ(worker.encodingLevel(), 0);
  EXPECT_EQ(worker.counters().busyNs.get(), 100 * kTickNs * 2);
  EXPECT_EQ(sharedOpus(worker, 1).complexity(), 5);
}

}  // namespace
}  // namespace rdv::mixer
