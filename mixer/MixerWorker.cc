#include "mixer/MixerWorker.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>

namespace rdv::mixer {
namespace {

uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

// How the calling thread spent a stretch of time: on a CPU (CLOCK_THREAD_CPUTIME_ID, exact; it
// includes interrupts taken meanwhile, and a hypervisor's stalls where, as here, the guest is not
// told of stolen time) and runnable but waiting on a run queue (run_delay in
// /proc/thread-self/schedstat, CONFIG_SCHED_INFO; with a non-preemptive kernel a realtime thread
// also waits there for another thread's system call to finish). schedstat's own run time lags by
// up to a scheduler tick, so it is not used.
class ThreadTime {
 public:
  struct Sample {
    uint64_t runNs = 0;
    uint64_t queuedNs = 0;
  };
  ThreadTime() : schedstat_(open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC)) {}
  // A clock read and a pread (~3 us); nullopt without schedstat.
  std::optional<Sample> read() const {
    std::array<char, 96> buf{};
    const ssize_t n = schedstat_.valid() ? pread(schedstat_.get(), buf.data(), buf.size() - 1, 0) : -1;
    uint64_t run = 0;
    Sample s;
    // A kernel without delay accounting prints zeros: unknown, not "never waited".
    if (n <= 0 || std::sscanf(buf.data(), "%" SCNu64 " %" SCNu64, &run, &s.queuedNs) != 2 || run == 0) {
      return std::nullopt;
    }
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    s.runNs = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
    return s;
  }

 private:
  common::Fd schedstat_;
};

constexpr uint64_t kOverrunReportTicks = 50;  // at most one report a second per worker

}  // namespace

MixerWorker::MixerWorker(const MixerWorkerOptions& opts, MediaSink& sink, ConferenceEvents* events)
    : opts_(opts), sink_(sink), events_(events), governor_(opts.governor) {
  for (size_t i = 0; i < std::max<size_t>(opts_.producers, 1); ++i) {
    queues_.push_back(std::make_shared<relay::PacketQueue>(opts_.queueCapacity));
  }
  for (size_t k = 0; k < opts_.decodeHelpers; ++k) helpers_.push_back(std::make_unique<Helper>());
  for (size_t k = 0; k < helpers_.size(); ++k) helpers_[k]->thread = std::thread([this, k] { helperLoop(k); });
}

MixerWorker::~MixerWorker() {
  stop();
  helpersStop_.store(true);
  epoch_.fetch_add(1, std::memory_order_release);
  epoch_.notify_all();
  for (auto& h : helpers_) h->thread.join();
}

// Helper k decodes shard k + 1 of every room whenever the epoch moves. The worker changes rooms
// only between ticks, before it bumps the epoch (release), so the helper sees them settled.
void MixerWorker::helperLoop(size_t k) {
  pthread_setname_np(pthread_self(), "rdv-mixer-dec");
  const size_t shards = helpers_.size() + 1;
  uint64_t seen = 0;
  for (;;) {
    epoch_.wait(seen, std::memory_order_acquire);
    seen = epoch_.load(std::memory_order_acquire);
    if (helpersStop_.load()) return;
    TickStats st;
    for (auto& room : rooms_) {
      const TickStats r = room->decodeShard(k + 1, shards);
      st.decodes += r.decodes;
      st.concealed += r.concealed;
    }
    helpers_[k]->stats = st;
    done_.fetch_add(1, std::memory_order_release);
    done_.notify_one();
  }
}

TickStats MixerWorker::decodeAll() {
  const size_t shards = helpers_.size() + 1;
  if (shards > 1) {
    done_.store(0, std::memory_order_relaxed);
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();
  }
  TickStats sum;
  for (auto& room : rooms_) {
    const TickStats r = room->decodeShard(0, shards);
    sum.decodes += r.decodes;
    sum.concealed += r.concealed;
  }
  for (uint32_t d = done_.load(std::memory_order_acquire); d < helpers_.size(); d = done_.load(std::memory_order_acquire)) {
    done_.wait(d, std::memory_order_acquire);
  }
  for (const auto& h : helpers_) {
    sum.decodes += h->stats.decodes;
    sum.concealed += h->stats.concealed;
  }
  return sum;
}

bool MixerWorker::start() {
  timer_ = common::Fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
  if (!timer_.valid()) return false;
  const long periodNs = static_cast<long>(opts_.tickMs) * 1'000'000L;
  itimerspec spec{};
  spec.it_interval.tv_sec = periodNs / 1'000'000'000L;
  spec.it_interval.tv_nsec = periodNs % 1'000'000'000L;
  const long firstNs = periodNs + static_cast<long>(opts_.tickPhaseNs % static_cast<uint64_t>(periodNs));
  spec.it_value.tv_sec = firstNs / 1'000'000'000L;
  spec.it_value.tv_nsec = firstNs % 1'000'000'000L;
  if (timerfd_settime(timer_.get(), 0, &spec, nullptr) != 0) return false;
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
  applyRealtimePriority();
  return true;
}

void MixerWorker::applyRealtimePriority() {
  if (opts_.realtimePriority <= 0) return;
  sched_param param{};
  param.sched_priority = opts_.realtimePriority;
  std::vector<pthread_t> threads{thread_.native_handle()};
  for (const auto& h : helpers_) threads.push_back(h->thread.native_handle());
  for (size_t i = 0; i < threads.size(); ++i) {
    if (const int e = pthread_setschedparam(threads[i], SCHED_FIFO, &param); e != 0) {
      realtimeError_ = std::strerror(e);
      const sched_param ordinary{};
      for (size_t k = 0; k < i; ++k) pthread_setschedparam(threads[k], SCHED_OTHER, &ordinary);  // all or none
      return;
    }
  }
}

void MixerWorker::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();  // the timer wakes the loop within one tick
}

void MixerWorker::post(MixerCommand&& cmd) { commands_.enqueue(std::move(cmd)); }

void MixerWorker::run() {
  pthread_setname_np(pthread_self(), "rdv-mixer");  // ProcessCpu.h groups threads by name
  const ThreadTime threadTime;
  while (!stop_.load(std::memory_order_relaxed)) {
    uint64_t expirations = 0;
    const ssize_t n = read(timer_.get(), &expirations, sizeof expirations);
    if (n != static_cast<ssize_t>(sizeof expirations)) {
      if (n < 0 && errno == EINTR) continue;
      break;  // the timerfd broke: nothing sensible left to do on this thread
    }
    if (expirations > 1) counters_.ticksMissed.add(expirations - 1);
    const uint64_t start = monotonicNs();
    const auto before = threadTime.read();
    const int level = level_;
    const TickStats tick = runTick();
    const uint64_t busyNs = monotonicNs() - start;
    accountTick(busyNs, tick.opusEncodes);
    if (busyNs <= uint64_t{opts_.tickMs} * 1'000'000) {
      reportOverrun(std::nullopt);
      continue;
    }
    TickOverrun o{.wallMs = static_cast<double>(busyNs) / 1e6, .level = level, .talkers = tick.talkers,
                  .encodes = tick.encodes, .decodes = tick.decodes};
    if (const auto after = threadTime.read(); before && after) {
      o.cpuMs = static_cast<double>(after->runNs - before->runNs) / 1e6;
      o.queuedMs = static_cast<double>(after->queuedNs - before->queuedNs) / 1e6;
    }
    reportOverrun(o);
  }
}

// Counted in accountTick; here only told to the control thread, which logs it, at most once a
// second (a worker that overruns every tick is the governor's to fix, not the log's to fill).
// Overruns within a second of a report are held, the longest of them standing for all, and told
// once the second has passed (`o` empty: a tick that did not overrun, to flush them by).
void MixerWorker::reportOverrun(std::optional<TickOverrun> o) {
  if (events_ == nullptr) return;
  if (o) {
    const uint64_t held = heldOverrun_ ? heldOverrun_->overruns : 0;
    if (!heldOverrun_ || o->wallMs > heldOverrun_->wallMs) heldOverrun_ = *o;
    heldOverrun_->overruns = held + 1;
  }
  const uint64_t ticks = counters_.ticks.get();
  if (!heldOverrun_ || (lastOverrunReportTick_ != 0 && ticks - lastOverrunReportTick_ < kOverrunReportTicks)) return;
  lastOverrunReportTick_ = ticks;
  events_->onTickOverrun(opts_.index, *heldOverrun_);
  heldOverrun_.reset();
}

void MixerWorker::accountTick(uint64_t busyNs, uint32_t encodes) {
  const uint64_t periodNs = uint64_t{opts_.tickMs} * 1'000'000;
  counters_.busyNs.add(busyNs);
  counters_.lastTickNs.set(busyNs);
  if (busyNs > periodNs) counters_.tickOverruns.add(1);
  counters_.tickMs.observe(static_cast<double>(busyNs) / 1e6);
  const int before = level_;
  if (const int level = governor_.onTick(busyNs, periodNs, encodes); level != before) {
    setEncodingLevel(level);
    counters_.encodingLevelChanges.add(1);
    if (events_ != nullptr) events_->onEncodingLevel(opts_.index, before, level, governor_.busyAtLastChange());
  }
}

void MixerWorker::setEncodingLevel(int level) {
  level_ = level;
  for (auto& room : rooms_) room->setEncodingLevel(level);
  counters_.encodingLevel.set(static_cast<uint64_t>(level));
}

void MixerWorker::drainCommands() {
  MixerCommand cmd;
  while (commands_.try_dequeue(cmd)) cmd(*this);
}

void MixerWorker::drainPackets() {
  uint64_t in = 0, unknown = 0, malformed = 0;
  for (auto& q : queues_) {
    while (const relay::QueuedPacket* p = q->front()) {
      ++in;
      auto route = routes_.find(p->endpoint);
      auto rtp = media::RtpView::parse(p->data());
      if (route == routes_.end()) {
        ++unknown;
      } else if (!rtp) {
        ++malformed;
      } else {
        route->second.room->receive(*route->second.participant, *rtp, p->arrivalNs);
      }
      q->pop();
    }
  }
  counters_.packetsIn.add(in);
  counters_.packetsUnknown.add(unknown);
  counters_.packetsMalformed.add(malformed);
}

TickStats MixerWorker::runTick() {
  drainCommands();
  drainPackets();
  TickStats sum = decodeAll();
  for (auto& room : rooms_) {
    const TickStats st = room->mixAndSend();
    sum.encodes += st.encodes;
    sum.opusEncodes += st.opusEncodes;
    sum.forwards += st.forwards;
    sum.talkers += st.talkers;
    sum.packetsSent += st.packetsSent;
  }
  counters_.ticks.add(1);
  counters_.encodes.add(sum.encodes);
  counters_.encodesLastTick.set(sum.encodes);
  counters_.forwards.add(sum.forwards);
  counters_.decodes.add(sum.decodes);
  counters_.framesConcealed.add(sum.concealed);
  counters_.packetsOut.add(sum.packetsSent);
  counters_.talkers.set(sum.talkers);
  sink_.flush();
  return sum;
}

Conference* MixerWorker::createConference(ConferenceId id) { return createConference(id, opts_.conference); }

Conference* MixerWorker::createConference(ConferenceId id, const ConferenceOptions& opts) {
  if (conference(id) != nullptr) return nullptr;
  rooms_.push_back(std::make_unique<Conference>(id, opts, sink_, events_));
  rooms_.back()->setEncodingLevel(level_);
  counters_.conferences.set(rooms_.size());
  return rooms_.back().get();
}

Conference* MixerWorker::conference(ConferenceId id) {
  for (auto& r : rooms_) {
    if (r->id() == id) return r.get();
  }
  return nullptr;
}

bool MixerWorker::removeConference(ConferenceId id) {
  auto it = std::find_if(rooms_.begin(), rooms_.end(), [id](const auto& r) { return r->id() == id; });
  if (it == rooms_.end()) return false;
  for (const auto& p : (*it)->participants()) routes_.erase(p->id());
  rooms_.erase(it);
  counters_.conferences.set(rooms_.size());
  counters_.participants.set(routes_.size());
  return true;
}

bool MixerWorker::addParticipant(ConferenceId room, const ParticipantConfig& cfg) {
  Conference* c = conference(room);
  if (c == nullptr || routes_.contains(cfg.id) || !c->addParticipant(cfg)) return false;
  routes_.emplace(cfg.id, Route{c, c->find(cfg.id)});
  counters_.participants.set(routes_.size());
  return true;
}

bool MixerWorker::removeParticipant(ParticipantId id) {
  auto it = routes_.find(id);
  if (it == routes_.end()) return false;
  it->second.room->removeParticipant(id);
  routes_.erase(it);
  counters_.participants.set(routes_.size());
  return true;
}

}  // namespace rdv::mixer
