#pragma once
// A mixer worker: one thread that owns whole conferences and ticks them every 20 ms on a
// timerfd (optionally with decode helper threads that take a share of each tick's decoding,
// synchronised by two atomics with futex wait/notify). Shared-nothing: relay workers hand it RTP through one SPSC PacketQueue each, the
// control side posts commands (create a room, join, mute, ...) through a lock-free MPSC queue
// run at the start of the next tick, and everything it produces leaves through the MediaSink
// and ConferenceEvents interfaces on its own thread. Nothing per packet or per tick allocates,
// locks or logs; commands (control path) may allocate.

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
  // Extra threads that share the decoding of every room with the worker thread each tick (the
  // mixing and encoding stay on the worker). 0 suits rooms that fit one core; a 1,000-
  // participant Opus room decodes for ~25 ms a tick on this machine and needs 1.
  size_t decodeHelpers = 0;
  ConferenceOptions conference;  // defaults for createConference
  // Cheaper Opus encodes when the worker's ticks get heavy (conference.adaptive_encoding).
  LoadGovernorOptions governor;
  size_t index = 0;  // this worker's number, for ConferenceEvents::onEncodingLevel
  // Where in the period this worker's ticks fall (0 ≤ phase < tickMs × 1e6 ns): workers started
  // together would all tick at once and hand the relay workers their whole output in one burst,
  // so ConferenceControl spreads them evenly over the period.
  uint64_t tickPhaseNs = 0;
  // 1..99: the worker and its decode helpers run SCHED_FIFO at this priority
  // (conference.realtime_priority), so a tick is never preempted by ordinary threads (the relay's
  // included) on a busy machine; needs CAP_SYS_NICE or RLIMIT_RTPRIO. 0: the default scheduler.
  // A mixer that overruns for good then holds its core: ordinary threads get only the kernel's
  // realtime throttle share (sched_rt_runtime_us: 5 % by default). For mixers with headroom.
  int realtimePriority = 0;
};

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

  // One tick's work (commands, packets, decoding, mixing) as the thread does it; for tests and
  // benchmarks that drive the worker without its thread. Worker thread only once started.
  // Decode helpers, when configured, run from construction, so this uses them either way.
  // Returns the tick's sums (also added to the counters).
  TickStats runTick();
  // What run() does with the busy time of each tick: counters, overruns, and the load governor,
  // which may move every room to another encoding level (rare: it allocates nothing unless the
  // level changes, and then only for the event). Tests feed it made-up times.
  // `opusEncodes`: the tick's Opus encodes (LoadGovernor: a step down must be worth it).
  void accountTick(uint64_t busyNs, uint32_t opusEncodes = LoadGovernor::kUnknownEncodes);
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

  void run();
  void drainCommands();
  void drainPackets();
  TickStats decodeAll();
  void helperLoop(size_t k);
  void applyRealtimePriority();
  void reportOverrun(std::optional<TickOverrun> o);

  MixerWorkerOptions opts_;
  std::string realtimeError_;
  MediaSink& sink_;
  ConferenceEvents* events_;
  std::vector<std::shared_ptr<relay::PacketQueue>> queues_;
  moodycamel::ConcurrentQueue<MixerCommand> commands_;
  std::vector<std::unique_ptr<Conference>> rooms_;
  std::unordered_map<ParticipantId, Route> routes_;
  common::Fd timer_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  // Decode helpers: the worker bumps epoch_ to start a tick's decoding, each helper adds one to
  // done_ when its shard is decoded. Both are futex-waited (C++20 atomic wait), never locked.
  std::vector<std::unique_ptr<Helper>> helpers_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<uint32_t> done_{0};
  std::atomic<bool> helpersStop_{false};
  LoadGovernor governor_;
  int level_ = 0;
  std::optional<TickOverrun> heldOverrun_;  // the longest since the last report; overruns = their count
  uint64_t lastOverrunReportTick_ = 0;  // counters_.ticks at the last onTickOverrun; 0 none yet
  MixerCounters counters_;
};

}  // namespace rdv::mixer
