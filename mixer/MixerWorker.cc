#include "mixer/MixerWorker.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace rdv::mixer {
namespace {

uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

MixerWorker::MixerWorker(const MixerWorkerOptions& opts, MediaSink& sink, ConferenceEvents* events)
    : opts_(opts), sink_(sink), events_(events) {
  for (size_t i = 0; i < std::max<size_t>(opts_.producers, 1); ++i) {
    queues_.push_back(std::make_unique<PacketQueue>(opts_.queueCapacity));
  }
}

MixerWorker::~MixerWorker() { stop(); }

bool MixerWorker::start() {
  timer_ = common::Fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
  if (!timer_.valid()) return false;
  const long periodNs = static_cast<long>(opts_.tickMs) * 1'000'000L;
  itimerspec spec{};
  spec.it_interval.tv_sec = periodNs / 1'000'000'000L;
  spec.it_interval.tv_nsec = periodNs % 1'000'000'000L;
  spec.it_value = spec.it_interval;
  if (timerfd_settime(timer_.get(), 0, &spec, nullptr) != 0) return false;
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
  return true;
}

void MixerWorker::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();  // the timer wakes the loop within one tick
}

void MixerWorker::post(MixerCommand&& cmd) { commands_.enqueue(std::move(cmd)); }

void MixerWorker::run() {
  const uint64_t periodNs = uint64_t{opts_.tickMs} * 1'000'000;
  while (!stop_.load(std::memory_order_relaxed)) {
    uint64_t expirations = 0;
    const ssize_t n = read(timer_.get(), &expirations, sizeof expirations);
    if (n != static_cast<ssize_t>(sizeof expirations)) {
      if (n < 0 && errno == EINTR) continue;
      break;  // the timerfd broke: nothing sensible left to do on this thread
    }
    if (expirations > 1) counters_.ticksMissed.add(expirations - 1);
    const uint64_t start = monotonicNs();
    runTick();
    const uint64_t busy = monotonicNs() - start;
    counters_.busyNs.add(busy);
    counters_.lastTickNs.set(busy);
    if (busy > periodNs) counters_.tickOverruns.add(1);
  }
}

void MixerWorker::drainCommands() {
  MixerCommand cmd;
  while (commands_.try_dequeue(cmd)) cmd(*this);
}

void MixerWorker::drainPackets() {
  uint64_t in = 0, unknown = 0, malformed = 0;
  for (auto& q : queues_) {
    while (const InboundPacket* p = q->front()) {
      ++in;
      auto route = routes_.find(p->from);
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

void MixerWorker::runTick() {
  drainCommands();
  drainPackets();
  TickStats sum;
  for (auto& room : rooms_) {
    const TickStats st = room->tick();
    sum.decodes += st.decodes;
    sum.encodes += st.encodes;
    sum.concealed += st.concealed;
    sum.talkers += st.talkers;
    sum.packetsSent += st.packetsSent;
  }
  counters_.ticks.add(1);
  counters_.encodes.add(sum.encodes);
  counters_.encodesLastTick.set(sum.encodes);
  counters_.decodes.add(sum.decodes);
  counters_.framesConcealed.add(sum.concealed);
  counters_.packetsOut.add(sum.packetsSent);
  counters_.talkers.set(sum.talkers);
}

Conference* MixerWorker::createConference(ConferenceId id) { return createConference(id, opts_.conference); }

Conference* MixerWorker::createConference(ConferenceId id, const ConferenceOptions& opts) {
  if (conference(id) != nullptr) return nullptr;
  rooms_.push_back(std::make_unique<Conference>(id, opts, sink_, events_));
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
