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
  // A kernel without delay accounting prints zeros: unknown, not "never waited". Judged by the
  // process's first thread, which has run (this one may not have yet).
  ThreadTime() {
    const common::Fd process(open("/proc/self/schedstat", O_RDONLY | O_CLOEXEC));
    uint64_t run = 0;
    if (parse(process, run).has_value() && run != 0) {
      schedstat_ = common::Fd(open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC));
    }
  }
  // A clock read and a pread (~3 us); nullopt without schedstat.
  std::optional<Sample> read() const {
    uint64_t run = 0;
    std::optional<Sample> s = parse(schedstat_, run);
    if (!s) return std::nullopt;
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    s->runNs = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
    return s;
  }

 private:
  // The queue wait (and in `run` schedstat's run time) from a schedstat file.
  static std::optional<Sample> parse(const common::Fd& fd, uint64_t& run) {
    std::array<char, 96> buf{};
    const ssize_t n = fd.valid() ? pread(fd.get(), buf.data(), buf.size() - 1, 0) : -1;
    Sample s;
    if (n <= 0 || std::sscanf(buf.data(), "%" SCNu64 " %" SCNu64, &run, &s.queuedNs) != 2) return std::nullopt;
    return s;
  }

  common::Fd schedstat_;
};

constexpr uint64_t kOverrunReportNs = 1'000'000'000;  // at most one report a second per worker

// The time from thread-clock sample `from` to `to` spent running and waiting for a CPU; nullopt
// without schedstat. A counter that went backwards counts nothing.
std::optional<ThreadTime::Sample> between(const std::optional<ThreadTime::Sample>& from,
                                          const std::optional<ThreadTime::Sample>& to) {
  if (!from || !to) return std::nullopt;
  return ThreadTime::Sample{.runNs = to->runNs > from->runNs ? to->runNs - from->runNs : 0,
                            .queuedNs = to->queuedNs > from->queuedNs ? to->queuedNs - from->queuedNs : 0};
}

// slotDemandNs() from the samples at the previous slot tick's end and this one's, `sinceNs` apart:
// never more than the time that passed (a counter that jumped would otherwise read as years of work).
uint64_t demandNs(const std::optional<ThreadTime::Sample>& from, const std::optional<ThreadTime::Sample>& to,
                  uint64_t slotWallNs, uint64_t sinceNs) {
  const auto d = between(from, to);
  if (!d) return slotWallNs;
  return std::min(slotDemandNs(slotWallNs, d->runNs, d->queuedNs), std::max(slotWallNs, sinceNs));
}

// An overrun's time from `from` to `to`: running and waiting for a CPU (left unknown without
// schedstat).
void splitTime(TickOverrun& o, const std::optional<ThreadTime::Sample>& from,
               const std::optional<ThreadTime::Sample>& to) {
  if (const auto d = between(from, to)) {
    o.cpuMs = static_cast<double>(d->runNs) / 1e6;
    o.queuedMs = static_cast<double>(d->queuedNs) / 1e6;
  }
}

}  // namespace

MixerWorker::MixerWorker(const MixerWorkerOptions& opts, MediaSink& sink, ConferenceEvents* events)
    : opts_(opts), sink_(sink), events_(events), governor_(opts.governor) {
  opts_.tickSlots = std::clamp<uint32_t>(opts_.tickSlots, 1, opts_.tickMs);  // a slot of 1 ms at least
  slots_.resize(opts_.tickSlots);
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

// Helper k decodes shard k + 1 of every room of slot_ whenever the epoch moves. The worker
// changes rooms and slot_ only between slots, before it bumps the epoch (release), so the helper
// sees them settled.
void MixerWorker::helperLoop(size_t k) {
  pthread_setname_np(pthread_self(), "rdv-mixer-dec");
  const size_t shards = helpers_.size() + 1;
  uint64_t seen = 0;
  for (;;) {
    epoch_.wait(seen, std::memory_order_acquire);
    seen = epoch_.load(std::memory_order_acquire);
    if (helpersStop_.load()) return;
    TickStats st;
    for (Conference* room : slots_[slot_]) st += room->decodeShard(k + 1, shards);
    helpers_[k]->stats = st;
    done_.fetch_add(1, std::memory_order_release);
    done_.notify_one();
  }
}

TickStats MixerWorker::decodeSlot(size_t slot) {
  if (slots_[slot].empty()) return {};  // the helpers need not wake
  const size_t shards = helpers_.size() + 1;
  if (shards > 1) {
    slot_ = slot;
    done_.store(0, std::memory_order_relaxed);
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();
  }
  TickStats sum;
  for (Conference* room : slots_[slot]) sum += room->decodeShard(0, shards);
  for (uint32_t d = done_.load(std::memory_order_acquire); d < helpers_.size(); d = done_.load(std::memory_order_acquire)) {
    done_.wait(d, std::memory_order_acquire);
  }
  for (const auto& h : helpers_) sum += h->stats;
  return sum;
}

bool MixerWorker::start() {
  timer_ = common::Fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
  if (!timer_.valid()) return false;
  const uint64_t periodNs = uint64_t{opts_.tickMs} * 1'000'000;
  const uint64_t slotNs = periodNs / opts_.tickSlots;
  firstDueNs_ = monotonicNs() + periodNs + opts_.tickPhaseNs % periodNs;
  nextSlot_ = 0;
  itimerspec spec{};
  spec.it_interval.tv_sec = static_cast<time_t>(slotNs / 1'000'000'000);
  spec.it_interval.tv_nsec = static_cast<long>(slotNs % 1'000'000'000);
  spec.it_value.tv_sec = static_cast<time_t>(firstDueNs_ / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(firstDueNs_ % 1'000'000'000);
  if (timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0) return false;
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

struct MixerWorker::SlotClock {
  ThreadTime threadTime;
  std::optional<ThreadTime::Sample> last;  // at the end of the previous slot
  uint64_t lastEndNs = 0;
  // The period whose slots have run since it was last closed (a skip may leave one partial).
  bool periodOpen = false;
  uint64_t periodIndex = 0;
  uint64_t periodBusyNs = 0;
  TickStats period;
};

void MixerWorker::run() {
  pthread_setname_np(pthread_self(), "rdv-mixer");  // ProcessCpu.h groups threads by name
  SlotClock clock;
  clock.last = clock.threadTime.read();
  uint64_t expired = 0;
  while (!stop_.load(std::memory_order_relaxed)) {
    uint64_t expirations = 0;
    const ssize_t n = read(timer_.get(), &expirations, sizeof expirations);
    if (n != static_cast<ssize_t>(sizeof expirations)) {
      if (n < 0 && errno == EINTR) continue;
      break;  // the timerfd broke: nothing sensible left to do on this thread
    }
    expired += expirations;
    runDueSlots(expired, clock);
  }
}

// Runs every slot that has come due (one, unless the thread was held up), each with its lateness.
// A worker more than a whole period behind ticks each room once and skips the rest: overruns too.
void MixerWorker::runDueSlots(uint64_t expired, SlotClock& clock) {
  const uint64_t slots = opts_.tickSlots;
  const uint64_t slotNs = uint64_t{opts_.tickMs} * 1'000'000 / slots;
  if (expired - nextSlot_ > slots) skipSlots(expired - slots, slotNs, clock);
  while (nextSlot_ < expired) {
    const auto slot = static_cast<size_t>(nextSlot_ % slots);
    const uint64_t due = firstDueNs_ + nextSlot_ * slotNs;
    if (clock.periodOpen && clock.periodIndex != nextSlot_ / slots) closePeriod(clock);  // left partial by a skip
    clock.periodOpen = true;
    clock.periodIndex = nextSlot_ / slots;
    ++nextSlot_;
    const int level = level_;
    const uint64_t start = monotonicNs();
    const TickStats st = runSlot(slot);
    const uint64_t end = monotonicNs();
    const auto sample = clock.threadTime.read();
    clock.periodBusyNs += demandNs(clock.last, sample, end - start, end - std::min(end, clock.lastEndNs));
    clock.period += st;
    if (!accountLateness(end > due ? end - due : 0)) {
      reportOverrun(std::nullopt, end, 0);
    } else {
      const uint64_t from = std::max(due, clock.lastEndNs);
      TickOverrun o{.lateMs = static_cast<double>(end - due) / 1e6, .workMs = static_cast<double>(end - start) / 1e6,
                    .behindMs = static_cast<double>(from - due) / 1e6, .level = level,
                    .slot = static_cast<uint32_t>(slot), .slots = static_cast<uint32_t>(slots),
                    .rooms = static_cast<uint32_t>(slots_[slot].size()), .talkers = st.talkers,
                    .encodes = st.encodes, .decodes = st.decodes};
      splitTime(o, clock.last, sample);
      reportOverrun(o, end, 1);
    }
    clock.last = sample;
    clock.lastEndNs = end;
    if (slot + 1 == slots) closePeriod(clock);
  }
}

// A period's slots have run: the governor gets their busy time (demandNs) summed, as one tick's.
void MixerWorker::closePeriod(SlotClock& clock) {
  endPeriod(clock.period);
  accountTick(clock.periodBusyNs, clock.period.opusEncodes);
  clock.period = {};
  clock.periodBusyNs = 0;
  clock.periodOpen = false;
}

// Skips the slots from nextSlot_ up to `until` (their rooms tick in the slot ticks run next, each
// once), counted as missed and as overruns, and reported as one overrun as late as the first.
// Each room's streams skip the periods it missed (Conference::skipPeriods): one per skipped slot
// tick of its slot, counted, not walked (a suspended machine can miss hours of them).
void MixerWorker::skipSlots(uint64_t until, uint64_t slotNs, SlotClock& clock) {
  const uint64_t skipped = until - nextSlot_;
  const uint64_t due = firstDueNs_ + nextSlot_ * slotNs;
  const uint64_t now = monotonicNs();
  const auto sample = clock.threadTime.read();
  counters_.ticksMissed.add(skipped);
  counters_.tickOverruns.add(skipped);
  const size_t slot = nextSlot_ % opts_.tickSlots;
  const uint64_t from = std::clamp(clock.lastEndNs, due, now);
  TickOverrun o{.lateMs = static_cast<double>(now - due) / 1e6, .behindMs = static_cast<double>(from - due) / 1e6,
                .level = level_, .slot = static_cast<uint32_t>(slot), .slots = opts_.tickSlots,
                .rooms = static_cast<uint32_t>(slots_[slot].size()), .skip = true, .skipped = skipped};
  splitTime(o, clock.last, sample);
  reportOverrun(o, now, skipped);
  const uint64_t slots = opts_.tickSlots;
  for (uint64_t s = 0; s < slots; ++s) {
    const uint64_t first = nextSlot_ + (s + slots - nextSlot_ % slots) % slots;  // its first skipped tick
    if (first >= until) continue;
    const uint64_t missed = (until - first - 1) / slots + 1;
    for (Conference* room : slots_[s]) room->skipPeriods(missed);
  }
  // What kept the worker from its slots (running, or waiting for a CPU) is load: on the period the
  // skip leaves partial, or the next one when none is open.
  clock.periodBusyNs += demandNs(clock.last, sample, 0, now - std::min(now, clock.lastEndNs));
  clock.last = sample;
  clock.lastEndNs = now;
  nextSlot_ = until;
}

// Counted in accountLateness; here only told to the control thread, which logs it, at most once
// a second (a worker that overruns every tick is the governor's to fix, not the log's to fill).
// Overruns within a second of a report are held, the worst (latest-sent) of them standing for all
// with their count and the slot ticks skipped among them, and told once the second has passed
// (`o` empty: a slot that did not overrun, to flush them by).
void MixerWorker::reportOverrun(std::optional<TickOverrun> o, uint64_t nowNs, uint64_t count) {
  if (events_ == nullptr) return;
  if (o) {
    if (!heldOverrun_) heldSinceNs_ = nowNs;
    const uint64_t held = heldOverrun_ ? heldOverrun_->overruns : 0;
    const uint64_t skipped = (heldOverrun_ ? heldOverrun_->skipped : 0) + o->skipped;
    if (!heldOverrun_ || o->lateMs > heldOverrun_->lateMs) heldOverrun_ = *o;
    heldOverrun_->overruns = held + count;
    heldOverrun_->skipped = skipped;
  }
  if (!heldOverrun_ || (lastOverrunReportNs_ && nowNs - *lastOverrunReportNs_ < kOverrunReportNs)) return;
  lastOverrunReportNs_ = nowNs;
  heldOverrun_->firstAgoMs = static_cast<double>(nowNs - std::min(nowNs, heldSinceNs_)) / 1e6;
  events_->onTickOverrun(opts_.index, *heldOverrun_);
  heldOverrun_.reset();
}

void MixerWorker::accountTick(uint64_t busyNs, uint32_t encodes) {
  const uint64_t periodNs = uint64_t{opts_.tickMs} * 1'000'000;
  counters_.busyNs.add(busyNs);
  counters_.lastTickNs.set(busyNs);
  const int before = level_;
  if (const int level = governor_.onTick(busyNs, periodNs, encodes); level != before) {
    setEncodingLevel(level);
    counters_.encodingLevelChanges.add(1);
    if (events_ != nullptr) events_->onEncodingLevel(opts_.index, before, level, governor_.busyAtLastChange());
  }
}

bool MixerWorker::accountLateness(uint64_t lateNs) {
  counters_.tickMs.observe(static_cast<double>(lateNs) / 1e6);
  if (lateNs <= uint64_t{opts_.tickMs} * 1'000'000) return false;
  counters_.tickOverruns.add(1);
  return true;
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

TickStats MixerWorker::runSlot(size_t slot) {
  counters_.slotTicks.add(1);
  drainCommands();
  drainPackets();
  TickStats sum = decodeSlot(slot);
  sum += mixSlot(slot);
  countWork(sum);
  sink_.flush();
  return sum;
}

TickStats MixerWorker::runTick() {
  drainCommands();
  drainPackets();
  TickStats sum;
  counters_.slotTicks.add(slots_.size());
  for (size_t slot = 0; slot < slots_.size(); ++slot) {
    sum += decodeSlot(slot);
    sum += mixSlot(slot);
  }
  countWork(sum);
  endPeriod(sum);
  sink_.flush();
  return sum;
}

TickStats MixerWorker::mixSlot(size_t slot) {
  TickStats sum;
  for (Conference* room : slots_[slot]) sum += room->mixAndSend();
  return sum;
}

void MixerWorker::countWork(const TickStats& st) {
  counters_.encodes.add(st.encodes);
  counters_.forwards.add(st.forwards);
  counters_.decodes.add(st.decodes);
  counters_.framesConcealed.add(st.concealed);
  counters_.packetsOut.add(st.packetsSent);
}

void MixerWorker::endPeriod(const TickStats& sum) {
  counters_.ticks.add(1);
  counters_.encodesLastTick.set(sum.encodes);
  counters_.talkers.set(sum.talkers);
}

Conference* MixerWorker::createConference(ConferenceId id) { return createConference(id, opts_.conference); }

Conference* MixerWorker::createConference(ConferenceId id, const ConferenceOptions& opts) {
  if (conference(id) != nullptr) return nullptr;
  const size_t slot = leastLoadedSlot();
  rooms_.push_back(std::make_unique<Conference>(id, opts, sink_, events_));
  rooms_.back()->setEncodingLevel(level_);
  slots_[slot].push_back(rooms_.back().get());
  counters_.conferences.set(rooms_.size());
  return rooms_.back().get();
}

// The slot whose rooms have the fewest participants (then the fewest rooms): rooms made empty
// and filled later (every room, when joins come in round robin) go round the slots.
size_t MixerWorker::leastLoadedSlot() const {
  size_t best = 0;
  std::pair<size_t, size_t> bestLoad{SIZE_MAX, SIZE_MAX};
  for (size_t s = 0; s < slots_.size(); ++s) {
    std::pair<size_t, size_t> load{0, slots_[s].size()};
    for (const Conference* room : slots_[s]) load.first += room->participants().size();
    if (load < bestLoad) {
      best = s;
      bestLoad = load;
    }
  }
  return best;
}

std::optional<size_t> MixerWorker::slotOf(ConferenceId id) const {
  for (size_t s = 0; s < slots_.size(); ++s) {
    for (const Conference* room : slots_[s]) {
      if (room->id() == id) return s;
    }
  }
  return std::nullopt;
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
  for (auto& list : slots_) std::erase(list, it->get());
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
