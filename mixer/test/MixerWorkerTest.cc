// The mixer worker on its own thread: packets in through the SPSC queue, commands through
// post(), mixed RTP out through the sink. Waits are bounded polls, never assertions on speed.
#include "mixer/MixerWorker.h"

#include <sched.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/test/ThreadPolicy.h"
#include "mixer/test/MixerTestUtil.h"

namespace rdv::mixer {
namespace {

using media::CodecId;
using ::rdv::testutil::hasCapSysNice;
using ::rdv::testutil::policiesOf;
using namespace std::chrono_literals;

struct LockedSink : MediaSink {
  std::mutex mu;
  std::map<ParticipantId, testutil::Receiver> receivers;
  void send(ParticipantId to, std::span<const std::byte> rtp) override {
    std::lock_guard lock(mu);
    receivers.try_emplace(to, CodecId::Opus).first->second.onPacket(rtp);
  }
  uint64_t packetsFor(ParticipantId id) {
    std::lock_guard lock(mu);
    auto it = receivers.find(id);
    return it == receivers.end() ? 0 : it->second.packets;
  }
};

template <typename Pred>
bool waitFor(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

ParticipantConfig opus(ParticipantId id) {
  return ParticipantConfig{.id = id, .codec = CodecId::Opus, .payloadType = 111, .ssrc = 0xB000 + id};
}

// A worker with room 1; join() posts the room's creation and the given Opus participants.
class MixerWorkerTest : public ::testing::Test {
 protected:
  void join(std::vector<ParticipantId> ids) {
    worker.post([ids](MixerWorker& w) {
      if (w.conference(1) == nullptr) {
        ASSERT_NE(w.createConference(1), nullptr);
      }
      for (ParticipantId id : ids) ASSERT_TRUE(w.addParticipant(1, opus(id)));
    });
  }

  LockedSink sink;
  MixerWorker worker{MixerWorkerOptions{}, sink};
};

TEST_F(MixerWorkerTest, MixesPacketsFromTheQueueOnItsOwnTick) {
  ASSERT_TRUE(worker.start());
  join({1, 2, 3});
  std::map<ParticipantId, testutil::Sender> senders;
  senders.emplace(1, testutil::Sender(CodecId::Opus, 111, 0x1, 440));
  senders.emplace(2, testutil::Sender(CodecId::Opus, 111, 0x2, 1000));
  senders.emplace(3, testutil::Sender(CodecId::Opus, 111, 0x3, 0));
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 75; ++i) {  // 1.5 s of audio at its real pace
    for (auto& [id, s] : senders) {
      EXPECT_TRUE(worker.inbound(0).push(id, s.next(), static_cast<uint64_t>(i) * 20'000'000));
    }
    std::this_thread::sleep_until(start + (i + 1) * 20ms);
  }
  ASSERT_TRUE(waitFor([&] { return worker.counters().packetsIn.get() == 225; }));
  ASSERT_TRUE(waitFor([&] { return sink.packetsFor(3) >= 50; }));
  worker.stop();

  // Frames 30..59: the senders were sending throughout, whatever the thread timing was.
  EXPECT_GT(sink.receivers.at(3).amplitudeAt(440, 30, 30), 2000);
  EXPECT_GT(sink.receivers.at(3).amplitudeAt(1000, 30, 30), 2000);
  EXPECT_GT(sink.receivers.at(1).amplitudeAt(1000, 30, 30), 2000);
  EXPECT_LT(sink.receivers.at(1).amplitudeAt(440, 30, 30), 80);
  EXPECT_GT(worker.counters().ticks.get(), 50u);
  EXPECT_GT(worker.counters().encodes.get(), 0u);
  EXPECT_EQ(worker.counters().participants.get(), 3u);
  EXPECT_EQ(worker.counters().packetsUnknown.get(), 0u);
}

TEST_F(MixerWorkerTest, CountsPacketsForNobodyAndGarbage) {
  join({1});
  testutil::Sender s(CodecId::Opus, 111, 0x1, 440);
  ASSERT_TRUE(worker.inbound(0).push(99, s.next(), 0));
  const std::array<std::byte, 3> garbage{};
  ASSERT_TRUE(worker.inbound(0).push(1, garbage, 0));
  worker.runTick();  // driven without the thread
  EXPECT_EQ(worker.counters().packetsUnknown.get(), 1u);
  EXPECT_EQ(worker.counters().packetsMalformed.get(), 1u);
  EXPECT_EQ(worker.counters().ticks.get(), 1u);
}

TEST_F(MixerWorkerTest, RemovedParticipantNoLongerReceivesOrRoutes) {
  join({1, 2});
  worker.runTick();
  EXPECT_EQ(sink.packetsFor(2), 1u);
  worker.post([](MixerWorker& w) { EXPECT_TRUE(w.removeParticipant(2)); });
  testutil::Sender s(CodecId::Opus, 111, 0x2, 440);
  ASSERT_TRUE(worker.inbound(0).push(2, s.next(), 0));
  worker.runTick();
  EXPECT_EQ(sink.packetsFor(2), 1u);
  EXPECT_EQ(worker.counters().packetsUnknown.get(), 1u);
  EXPECT_EQ(worker.counters().participants.get(), 1u);
}

struct OverrunEvents : ConferenceEvents {
  std::mutex mu;
  std::vector<TickOverrun> overruns;
  void onTalking(ConferenceId, ParticipantId, bool) override {}
  void onTickOverrun(size_t worker, const TickOverrun& o) override {
    EXPECT_EQ(worker, 0u);
    std::lock_guard lock(mu);
    overruns.push_back(o);
  }
  size_t count() {
    std::lock_guard lock(mu);
    return overruns.size();
  }
};

// A tick whose frames go out more than a period after it was due is counted and told to the
// control side with what it did and how the time went (running, waiting for a CPU, neither);
// overruns within a second of a report are held and told once the second has passed, the worst
// standing for all with their count. The long ticks here are commands that sleep: neither running
// nor queued, as a tick the hypervisor stalls. A loaded machine may add overruns of its own,
// hence the >= counts.
TEST(MixerWorkerOverrunTest, AnOverrunIsReportedWithItsSplitAndTheNextOnesOnceASecondLater) {
  LockedSink sink;
  OverrunEvents events;
  MixerWorker w(MixerWorkerOptions{}, sink, &events);
  ASSERT_TRUE(w.start());
  std::atomic<int> slept{0};
  const auto sleepFor = [&slept](std::chrono::milliseconds d) {
    return [d, &slept](MixerWorker&) {
      std::this_thread::sleep_for(d);
      slept.fetch_add(1);
    };
  };
  // A report of a tick that did the sleeping itself (not one the machine held up).
  const auto reportWith = [&](double minWorkMs) {
    std::lock_guard lock(events.mu);
    for (size_t i = 0; i < events.overruns.size(); ++i) {
      if (events.overruns[i].workMs >= minWorkMs) return static_cast<int>(i);
    }
    return -1;
  };
  w.post(sleepFor(25ms));
  ASSERT_TRUE(waitFor([&] { return reportWith(25) >= 0; }));
  const size_t reports = events.count();
  w.post(sleepFor(75ms));  // the worst of the held ones; the slot ticks it holds up are skipped
  ASSERT_TRUE(waitFor([&] { return slept.load() == 2; }));
  EXPECT_EQ(events.count(), reports) << "held within a second of the first report";
  // No further overrun is needed: the held report goes out once the second has passed.
  ASSERT_TRUE(waitFor([&] { return reportWith(75) >= 0; }));
  w.stop();
  const auto firstIndex = static_cast<size_t>(reportWith(25));
  const auto heldIndex = static_cast<size_t>(reportWith(75));
  std::lock_guard lock(events.mu);
  const TickOverrun& first = events.overruns[firstIndex];
  EXPECT_GE(first.cpuMs, 0.0) << "schedstat is there on Linux";
  EXPECT_LT(first.cpuMs, first.lateMs / 2) << "it slept";
  EXPECT_LT(first.queuedMs, first.lateMs / 2) << "sleeping is not queueing";
  EXPECT_GE(first.workMs, 25.0) << "the sleep was the tick's own work";
  EXPECT_LE(first.workMs, first.lateMs);
  EXPECT_EQ(first.level, 0);
  EXPECT_EQ(first.slots, MixerWorkerOptions{}.tickSlots);
  EXPECT_LT(first.slot, first.slots);
  const TickOverrun& held = events.overruns[heldIndex];
  EXPECT_GE(held.lateMs, 75.0);
  EXPECT_FALSE(held.skip) << "the slot that slept was later than the ones skipped after it";
  EXPECT_GE(held.overruns, 2u) << "with the slot ticks skipped while it slept";
  EXPECT_GE(held.skipped, 1u);
  EXPECT_GT(held.firstAgoMs, 0.0) << "held: the first of them came before the report";
  EXPECT_LT(held.firstAgoMs, 2000.0);
}

// A worker held up for more than a period (a command that sleeps 60 ms: three periods of slots
// come due at once) ticks each room once and skips the other slots: they count as missed and as
// overruns, and are reported with how far behind the worker was.
TEST(MixerWorkerOverrunTest, SlotsSkippedAWholePeriodBehindAreOverrunsToo) {
  LockedSink sink;
  OverrunEvents events;
  MixerWorker w(MixerWorkerOptions{}, sink, &events);
  ASSERT_TRUE(w.start());
  w.post([](MixerWorker&) { std::this_thread::sleep_for(60ms); });
  ASSERT_TRUE(waitFor([&] { return w.counters().ticksMissed.get() >= 1; }));
  const auto skippedReport = [&] {
    std::lock_guard lock(events.mu);
    for (const TickOverrun& o : events.overruns) {
      if (o.skipped != 0) return o;
    }
    return TickOverrun{};
  };
  // The slot that slept is the first report, told at once; the skips come a second later.
  ASSERT_TRUE(waitFor([&] { return skippedReport().skipped != 0; }));
  w.stop();
  const uint64_t missed = w.counters().ticksMissed.get();
  EXPECT_GE(missed, 4u) << "60 ms is 12 slots; each room ticks once, the rest are skipped";
  EXPECT_GE(w.counters().tickOverruns.get(), missed + 1) << "the slot that slept, and every skipped one";
  const TickOverrun o = skippedReport();
  EXPECT_GT(o.lateMs, 40.0) << "60 ms less the slot ticks run before it was found";
  EXPECT_LE(o.skipped, missed);
  EXPECT_GE(o.overruns, o.skipped);
}

// The periods a held-up worker skips are skipped by its rooms' streams too: a listener's RTP
// timestamps jump over them (one marker each time), so over the run they keep real time. With one
// slot the frames skipped are exactly the slot ticks the worker missed; with four, the room (in
// slot 0) misses every fourth of them, counted per slot (MixerWorker::skipSlots).
TEST(MixerWorkerOverrunTest, SkippedPeriodsAreSkippedInTheStreamsTimestamps) {
  for (const uint32_t slots : {1u, 4u}) {
    LockedSink sink;
    MixerWorkerOptions o;
    o.tickSlots = slots;
    MixerWorker w(o, sink);
    ASSERT_NE(w.createConference(1), nullptr);
    ASSERT_TRUE(w.addParticipant(1, opus(1)));
    ASSERT_TRUE(w.start());
    ASSERT_TRUE(waitFor([&] { return sink.packetsFor(1) >= 3; }));
    w.post([](MixerWorker&) { std::this_thread::sleep_for(70ms); });
    ASSERT_TRUE(waitFor([&] { return w.counters().ticksMissed.get() >= 1; }));
    const uint64_t after = sink.packetsFor(1);
    ASSERT_TRUE(waitFor([&] { return sink.packetsFor(1) >= after + 2; }));
    w.stop();
    const uint64_t missed = w.counters().ticksMissed.get();
    EXPECT_GE(missed, 2u * slots) << "70 ms is three periods and more; one is run, the rest skipped";
    std::lock_guard lock(sink.mu);
    const testutil::Receiver& r = sink.receivers.at(1);
    if (slots == 1) {
      EXPECT_EQ(r.framesSkipped, missed);
    } else {
      // Each skip (one marker) of L slot ticks holds floor or ceil of L / 4 of slot 0's.
      const uint64_t slack = (slots - 1) * r.markers;
      EXPECT_LE(r.framesSkipped * slots, missed + slack) << missed;
      EXPECT_GE(r.framesSkipped * slots + slack, missed) << missed;
    }
    EXPECT_GE(r.markers, 1u);
  }
}

// Rooms go to the slot whose rooms have the fewest participants, then the fewest rooms: empty
// rooms go round the slots, and a big room keeps its slot to itself while others fill the rest.
TEST(MixerWorkerSlotTest, RoomsGoToTheLeastLoadedSlot) {
  testutil::NullSink sink;
  MixerWorkerOptions o;
  o.tickSlots = 4;
  MixerWorker w(o, sink);
  ASSERT_NE(w.createConference(1), nullptr);
  for (ParticipantId id = 1; id <= 10; ++id) ASSERT_TRUE(w.addParticipant(1, opus(id)));
  for (ConferenceId room = 2; room <= 8; ++room) ASSERT_NE(w.createConference(room), nullptr);
  EXPECT_EQ(w.slotOf(1), 0u);
  EXPECT_EQ(w.slotOf(2), 1u);
  EXPECT_EQ(w.slotOf(3), 2u);
  EXPECT_EQ(w.slotOf(4), 3u);
  EXPECT_EQ(w.slotOf(5), 1u) << "slot 0 holds ten participants; 1-3 none, one room each";
  EXPECT_EQ(w.slotOf(8), 1u);
  EXPECT_EQ(w.slotOf(99), std::nullopt);
  ASSERT_TRUE(w.removeConference(3));
  EXPECT_EQ(w.slotOf(3), std::nullopt);
  ASSERT_NE(w.createConference(9), nullptr);
  EXPECT_EQ(w.slotOf(9), 2u) << "slots 1-3 have no participants; 2 has the fewest rooms since 3 left";
}

// On its thread, each room ticks once a period whichever slot it is in: rooms in four slots
// send their participants the same number of frames as the worker counts periods (the one being
// run when the worker stopped aside), and runTick() (no thread) ticks every slot once.
TEST(MixerWorkerSlotTest, EveryRoomTicksOnceAPeriodWhateverItsSlot) {
  LockedSink sink;
  MixerWorkerOptions o;
  o.tickSlots = 4;
  MixerWorker w(o, sink);
  w.post([](MixerWorker& mw) {
    for (ConferenceId room = 1; room <= 4; ++room) {
      ASSERT_NE(mw.createConference(room), nullptr);
      ASSERT_TRUE(mw.addParticipant(room, opus(room)));
    }
  });
  w.runTick();
  for (ParticipantId id = 1; id <= 4; ++id) EXPECT_EQ(sink.packetsFor(id), 1u);
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(waitFor([&] { return w.counters().ticks.get() >= 26; }));
  w.stop();
  const uint64_t periods = w.counters().ticks.get();
  const uint64_t skipped = w.counters().ticksMissed.get();  // slots a stalled test machine skipped
  std::set<uint64_t> slotsSeen;
  for (ParticipantId id = 1; id <= 4; ++id) {
    const uint64_t packets = sink.packetsFor(id);
    EXPECT_GE(packets + skipped, periods) << "participant " << id;  // ticks count periods run to their end
    EXPECT_LE(packets, periods + 1 + skipped) << "participant " << id;
  }
  for (ConferenceId room = 1; room <= 4; ++room) slotsSeen.insert(*w.slotOf(room));
  EXPECT_EQ(slotsSeen.size(), 4u);
}

// A slot's lateness (from when it was due until its frames were sent) fills rdv_mixer_tick_ms;
// beyond the period it is an overrun.
TEST(MixerWorkerSlotTest, LatenessBeyondThePeriodIsAnOverrun) {
  testutil::NullSink sink;
  MixerWorker w(MixerWorkerOptions{}, sink);
  EXPECT_FALSE(w.accountLateness(4'000'000));
  EXPECT_FALSE(w.accountLateness(20'000'000));
  EXPECT_TRUE(w.accountLateness(25'000'000));
  EXPECT_EQ(w.counters().tickOverruns.get(), 1u);
  const auto& h = w.counters().tickMs;
  EXPECT_EQ(h.count.get(), 3u);
  EXPECT_EQ(h.counts[1].get(), 1u) << "4 ms: bucket (2, 5]";
  EXPECT_EQ(h.counts[7].get(), 1u) << "20 ms: bucket (18, 20]";
  EXPECT_EQ(h.counts[8].get(), 1u) << "25 ms: bucket (20, 30]";
}

// The governor's busy time for a slot tick is the time the worker needed a CPU since the previous
// one ended: a 2 ms slot that waited 14 ms for a CPU before it could start counts 16 ms; a slot
// that waited for its decode helpers counts its wall time; without schedstat, its wall time.
TEST(MixerWorkerSlotTest, ASlotTickCountsTheTimeItWaitedForACpu) {
  constexpr uint64_t kMs = 1'000'000;
  static_assert(slotDemandNs(2 * kMs, 2 * kMs, 14 * kMs) == 16 * kMs);
  EXPECT_EQ(slotDemandNs(2 * kMs, 2 * kMs, 14 * kMs), 16 * kMs);
  EXPECT_EQ(slotDemandNs(5 * kMs, 1 * kMs, 0), 5 * kMs);
  EXPECT_EQ(slotDemandNs(2 * kMs, 0, 0), 2 * kMs);
}

TEST(PacketQueueTest, FullQueueRefusesAndCounts) {
  relay::PacketQueue q(4);
  const std::array<std::byte, 20> pkt{};
  int accepted = 0;
  while (accepted < 100 && q.push(1, pkt, 0)) ++accepted;
  EXPECT_GE(accepted, 4);
  EXPECT_LT(accepted, 100);
  EXPECT_EQ(q.rejected().get(), 1u);
  std::array<std::byte, relay::QueuedPacket::kMaxSize + 1> jumbo{};
  q.pop();
  EXPECT_FALSE(q.push(1, jumbo, 0));
  EXPECT_EQ(q.rejected().get(), 2u);
  ASSERT_NE(q.front(), nullptr);
  EXPECT_EQ(q.front()->size, 20u);
}

// Keeps the payloads (not the headers, whose sequence and timestamp start at random) sent to
// each participant.
struct PayloadSink : MediaSink {
  std::map<ParticipantId, std::vector<std::vector<std::byte>>> payloads;
  void send(ParticipantId to, std::span<const std::byte> rtp) override {
    payloads[to].emplace_back(rtp.begin() + 12, rtp.end());
  }
};

PayloadSink runWithHelpers(size_t helpers) {
  PayloadSink sink;
  MixerWorkerOptions opts;
  opts.decodeHelpers = helpers;
  MixerWorker worker(opts, sink);
  worker.createConference(1);
  std::vector<testutil::Sender> senders;
  for (ParticipantId id = 0; id < 9; ++id) {
    worker.addParticipant(1, opus(id));
    senders.emplace_back(CodecId::Opus, 111, 0x100 + id, id < 2 ? 500.0 + 400 * id : 0.0);
  }
  for (int t = 0; t < 40; ++t) {
    for (ParticipantId id = 0; id < 9; ++id) {
      if (t % 5 != static_cast<int>(id)) worker.inbound(0).push(id, senders[id].next(), uint64_t(t) * 20'000'000);
    }
    worker.runTick();
  }
  EXPECT_GT(worker.counters().framesConcealed.get(), 0u);
  return sink;
}

TEST(MixerWorkerRealtimeTest, TheWorkerAndItsHelpersRunSchedFifoOrTheWorkerSaysWhyNot) {
  LockedSink sink;
  MixerWorkerOptions o;
  o.decodeHelpers = 1;
  o.realtimePriority = 3;
  MixerWorker w(o, sink);
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(waitFor([] { return policiesOf("rdv-mixer").size() == 1 && policiesOf("rdv-mixer-dec").size() == 1; }));
  // As root (CI) the kernel grants it; without CAP_SYS_NICE it refuses, and the worker must say so
  // and leave both threads ordinary rather than half-applied.
  const int expected = w.realtimeError().empty() ? SCHED_FIFO : SCHED_OTHER;
  EXPECT_EQ(policiesOf("rdv-mixer"), std::vector<int>{expected}) << w.realtimeError();
  EXPECT_EQ(policiesOf("rdv-mixer-dec"), std::vector<int>{expected}) << w.realtimeError();
  if (hasCapSysNice()) {
    EXPECT_EQ(w.realtimeError(), "") << "CAP_SYS_NICE may use SCHED_FIFO";
  }
}

TEST(MixerWorkerRealtimeTest, WithoutAPriorityTheThreadsKeepTheDefaultScheduler) {
  LockedSink sink;
  MixerWorker w(MixerWorkerOptions{}, sink);
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(waitFor([] { return policiesOf("rdv-mixer").size() == 1; }));
  EXPECT_EQ(policiesOf("rdv-mixer"), std::vector<int>{SCHED_OTHER});
  EXPECT_EQ(w.realtimeError(), "");
}

TEST(MixerWorkerHelpersTest, DecodeHelpersProduceTheSameMixAsOneThread) {
  const PayloadSink alone = runWithHelpers(0);
  const PayloadSink shared = runWithHelpers(2);
  ASSERT_EQ(alone.payloads.size(), 9u);
  EXPECT_EQ(alone.payloads, shared.payloads);
}

}  // namespace
}  // namespace rdv::mixer
