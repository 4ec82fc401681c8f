#pragma once
// A mixer worker: one thread that owns whole conferences and ticks each of them every 20 ms on a
// timerfd, its rooms spread over slots of the period (optionally with decode helper threads that
// take a share of each slot tick's decoding, synchronised by two atomics with futex wait/notify).
// Shared-nothing: relay workers hand it RTP through one SPSC PacketQueue each, the control side
// posts commands (create a room, join, mute, ...) through a lock-free MPSC queue run at the start
// of the next slot tick, and everything it produces leaves through the MediaSink and
// ConferenceEvents interfaces on its own thread. Nothing per packet or per tick allocates, locks
// or logs; commands (control path) may allocate.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include "common/Fd.h"
#include "mixer/Conference.h"
#include "mixer/LoadGovernor.h"
#include "mixer/MixerCounters.h"
#include "mixer/MixerSink.h"
#include "mixer/Mixer.h"
#include "relay/PacketQueue.h"

namespace rdv::mixer {

struct MixerWorkerOptions {
  size_t producers = 1;          // inbound queues, one per relay worker
  size_t queueCapacity = 4096;   // packets per queue: 80 ms of a 1,000-participant room
  uint32_t tickMs = kTickMs;
  // The period is cut into this many slots and each room ticks in one of them (the one with the
  // fewest participants when the room was made): a worker wakes every tickMs / tickSlots, drains
  // its queues and ticks that slot's rooms. Each room still ticks once a period, but the
  // worker's work comes in short pieces: a hypervisor stall or a slow spell delays the rooms of
  // one slot instead of all of them (a tick overruns when its frames go out more than a period
  // after they were due: with 1 slot, any stall longer than the period less the whole tick's
  // work), and its output reaches the relay in smaller bursts. 1: one tick for all rooms.
  uint32_t tickSlots = 4;
  // Extra threads that share the decoding of every room with the worker thread each tick (the
  // mixing and encoding stay on the worker). 0 suits rooms that fit one core; a 1,000-
  // participant Opus room decodes for ~25 ms a tick on this machine and needs 1.
  size_t decodeHelpers = 0;
  ConferenceOptions conference;  // defaults for createConference
  // Cheaper Opus encodes when the worker's ticks get heavy (conference.adaptive_encoding).
  LoadGovernorOptions governor;
  size_t index = 0;  // this worker's number, for ConferenceEvents::onEncodingLevel
  // Where in the period this worker's slot ticks fall (ns; taken modulo the period): workers
  // started together would all tick at once and hand the relay workers their output in one
  // burst, so ConferenceControl spreads them evenly within a slot.
  uint64_t tickPhaseNs = 0;
  // 1..99: the worker and its decode helpers run SCHED_FIFO at this priority
  // (conference.realtime_priority), so a tick is never preempted by ordinary threads (the relay's
  // included) on a busy machine; needs CAP_SYS_NICE or RLIMIT_RTPRIO. 0: the default scheduler.
  // A mixer that overruns for good then holds its core: ordinary threads get only the kernel's
  // realtime throttle share (sched_rt_runtime_us: 5 % by default). For mixers with headroom.
  int realtimePriority = 0;
};

// What one slot tick adds to its period's busy time for the load governor: the time the worker
// needed a CPU since the previous slot tick ended, `ranNs` running (draining queues, the slot
// itself) plus `queuedNs` waiting for a CPU (schedstat; both 0 when the kernel has none), and at
// least the slot's own wall time `slotWallNs` (which also holds waits for the decode helpers).
// A worker whose slots start late because it waited for a CPU is loaded though its slots are
// short: counting the slots only, a ramp of talkers with both mixers and the relay threads on two
// cores put slots 15-20 ms behind while the governor saw 60 % (benchmarks/README.md). Time
// neither running nor waiting (asleep, or woken late by a stalled machine) is not load.
constexpr uint64_t slotDemandNs(uint64_t slotWallNs, uint64_t ranNs, uint64_t queuedNs) {
  return slotWallNs > ranNs + queuedNs ? slotWallNs : ranNs + queuedNs;
}

class MixerWorker;
// Runs on the worker thread; may allocate.
using MixerCommand = std::function<void(MixerWorker&)>;

class MixerWorker {
 public:
  // `sink` and `events` (optional) outlive the worker and are called on its thread.
  MixerWorker(const MixerWorkerOptions& opts, MediaSink& sink, ConferenceEvents* events = nullptr);
  ~MixerWorker();  // stops and joins
  MixerWorker(const MixerWorker&) = delete;
  MixerWorker& operator=(const MixerWorker&) = delete;

  // False when the timerfd cannot be made (a clear error for startup). A realtime priority that
  // the system refuses is not fatal: see realtimeError().
  bool start();
  // Why options.realtimePriority could not be applied (strerror of pthread_setschedparam); empty
  // when it was, or when none was asked for.
  const std::string& realtimeError() const { return realtimeError_; }
  void stop();

  // Producer `i`'s queue (i < options.producers); push() from that producer's thread only.
  relay::PacketQueue& inbound(size_t i) { return *queues_.at(i); }
  // The same queue, for the relay worker that keeps it (AttachLocal).
  std::shared_ptr<relay::PacketQueue> inboundShared(size_t i) const { return queues_.at(i); }
  // Any thread. The command runs on the worker thread before the next tick's mixing.
  void post(MixerCommand&& cmd);
  const MixerCounters& counters() const { return counters_; }

  // Worker thread only (inside a command). Rooms and participants are the control side's ids;
  // a participant id is unique per worker, since packets are routed by it.
  Conference* createConference(ConferenceId id);
  Conference* createConference(ConferenceId id, const ConferenceOptions& opts);
  bool removeConference(ConferenceId id);
  Conference* conference(ConferenceId id);
  bool addParticipant(ConferenceId room, const ParticipantConfig& cfg);
  bool removeParticipant(ParticipantId id);

  // One period's work (commands, packets, then every slot's decoding and mixing) as the thread
  // does it; for tests and benchmarks that drive the worker without its thread. Worker thread
  // only once started. Decode helpers, when configured, run from construction, so this uses them
  // either way. Returns the period's sums (also added to the counters).
  TickStats runTick();
  // What run() does with the busy time of each period (all its slots): counters and the load
  // governor, which may move every room to another encoding level (rare: it allocates nothing
  // unless the level changes, and then only for the event). Tests feed it made-up times.
  // `opusEncodes`: the period's Opus encodes (LoadGovernor: a step down must be worth it).
  void accountTick(uint64_t busyNs, uint32_t opusEncodes = LoadGovernor::kUnknownEncodes);
  // What run() does with each slot's lateness (its frames sent this long after the slot was
  // due): the rdv_mixer_tick_ms histogram, and an overrun when it exceeds the period.
  // True when it was an overrun.
  bool accountLateness(uint64_t lateNs);
  // The slot room `id` ticks in (< tickSlots); nullopt for an unknown room. Worker thread only.
  std::optional<size_t> slotOf(ConferenceId id) const;
  // Moves every room, and the rooms created later, to encoding `level` (worker thread only; the
  // governor does this itself, benchmarks call it to measure a level).
  void setEncodingLevel(int level);
  int encodingLevel() const { return level_; }

 private:
  struct Route {
    Conference* room;
    Participant* participant;
  };

  struct alignas(64) Helper {
    std::thread thread;
    TickStats stats;
  };

  // The thread's bookkeeping of one slot's run: where the period's sums build up, and the
  // thread-clock sample the next overrun's split starts from.
  struct SlotClock;

  void run();
  void runDueSlots(uint64_t expired, SlotClock& clock);
  TickStats runSlot(size_t slot);
  void endPeriod(const TickStats& sum);
  void closePeriod(SlotClock& clock);
  void countWork(const TickStats& st);
  void drainCommands();
  void drainPackets();
  TickStats decodeSlot(size_t slot);
  TickStats mixSlot(size_t slot);
  size_t leastLoadedSlot() const;
  void helperLoop(size_t k);
  void applyRealtimePriority();
  void reportOverrun(std::optional<TickOverrun> o, uint64_t nowNs, uint64_t count);
  void skipSlots(uint64_t until, uint64_t slotNs, SlotClock& clock);

  MixerWorkerOptions opts_;
  std::string realtimeError_;
  MediaSink& sink_;
  ConferenceEvents* events_;
  std::vector<std::shared_ptr<relay::PacketQueue>> queues_;
  moodycamel::ConcurrentQueue<MixerCommand> commands_;
  std::vector<std::unique_ptr<Conference>> rooms_;
  std::vector<std::vector<Conference*>> slots_;  // tickSlots lists of rooms_, by slot
  uint64_t firstDueNs_ = 0;   // CLOCK_MONOTONIC time slot 0 of the first period was due
  uint64_t nextSlot_ = 0;     // slots run or skipped since then (the next one's number)
  std::unordered_map<ParticipantId, Route> routes_;
  common::Fd timer_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  // Decode helpers: the worker sets slot_ and bumps epoch_ to start a slot's decoding, each
  // helper adds one to done_ when its shard of the slot's rooms is decoded. Both are futex-waited
  // (C++20 atomic wait), never locked.
  std::vector<std::unique_ptr<Helper>> helpers_;
  size_t slot_ = 0;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<uint32_t> done_{0};
  std::atomic<bool> helpersStop_{false};
  LoadGovernor governor_;
  int level_ = 0;
  std::optional<TickOverrun> heldOverrun_;  // the worst since the last report; overruns = their count
  uint64_t heldSinceNs_ = 0;                // CLOCK_MONOTONIC of the first of them
  std::optional<uint64_t> lastOverrunReportNs_;  // CLOCK_MONOTONIC of the last onTickOverrun
  MixerCounters counters_;
};

}  // namespace rdv::mixer
