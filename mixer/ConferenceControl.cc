#include "mixer/ConferenceControl.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace rdv::mixer {
namespace {

bool validRoomName(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

media::VoiceCodec ratedAs(media::CodecId c) {
  switch (c) {
    case media::CodecId::Opus: return media::VoiceCodec::Opus;
    case media::CodecId::G722: return media::VoiceCodec::G722;
    case media::CodecId::Pcmu:
    case media::CodecId::Pcma: break;
  }
  return media::VoiceCodec::G711Plc;
}

JoinError joinError(JoinErrorCode code, std::string reason) { return JoinError{code, std::move(reason)}; }

}  // namespace

// The mixers' side of the ConferenceEvents interface: only enqueues (talker changes and keys are
// rare; the queue's occasional block allocation is off the per-packet path).
class ConferenceControl::Events final : public ConferenceEvents {
 public:
  explicit Events(ConferenceControl& owner) : owner_(owner) {}
  void onTalking(ConferenceId room, ParticipantId who, bool talking) override {
    owner_.note({talking ? MixerNote::Kind::Talking : MixerNote::Kind::Silent, room, who, 0, 0, nullptr});
  }
  void onDtmf(ConferenceId room, ParticipantId who, char digit) override {
    owner_.note({MixerNote::Kind::Dtmf, room, who, digit, 0, nullptr});
  }
  // Rare (seconds apart at the least); logged by the control thread, the mixer never logs.
  void onEncodingLevel(size_t worker, int from, int to, double busyFraction) override {
    MixerNote n{MixerNote::Kind::EncodingLevel, static_cast<ConferenceId>(worker), 0, 0, 0, nullptr};
    n.levelFrom = from;
    n.levelTo = to;
    n.busy = busyFraction;
    owner_.note(std::move(n));
  }
  void onTickOverrun(size_t worker, const TickOverrun& overrun) override {
    MixerNote n{MixerNote::Kind::TickOverrun, static_cast<ConferenceId>(worker), 0, 0, 0, nullptr};
    n.overrun = overrun;
    owner_.note(std::move(n));
  }

 private:
  ConferenceControl& owner_;
};

ConferenceControl::ConferenceControl(relay::RelayControl& relay, const ConferenceControlOptions& opts,
                                     const common::Clock& clock)
    : relay_(relay), opts_(opts), clock_(clock), events_(std::make_unique<Events>(*this)),
      wake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  std::vector<relay::RelayWorker*> relayWorkers;
  for (const auto& w : relay_.workers()) relayWorkers.push_back(w.get());
  MixerWorkerOptions mo;
  mo.producers = relayWorkers.size();
  mo.decodeHelpers = opts_.decodeHelpers;
  mo.tickSlots = opts_.tickSlots;  // MixerWorker keeps it within 1..tickMs
  mo.conference = opts_.conference;
  mo.governor = opts_.governor;
  mo.realtimePriority = opts_.realtimePriority;
  const size_t workers = std::max<size_t>(1, opts_.workers);
  for (size_t k = 0; k < workers; ++k) {
    mo.index = k;
    mo.tickPhaseNs = uint64_t{mo.tickMs} * 1'000'000 / mo.tickSlots * k / workers;  // spread within a slot
    sinks_.push_back(std::make_unique<RelaySink>(relayWorkers, mo.queueCapacity));
    mixers_.push_back(std::make_unique<MixerWorker>(mo, *sinks_.back(), events_.get()));
    if (!mixers_.back()->start()) spdlog::critical("conference: mixer {} cannot start its timer", k);
    if (!mixers_.back()->realtimeError().empty()) {
      spdlog::warn("conference: mixer {} stays an ordinary thread: SCHED_FIFO priority {} refused ({})", k,
                   mo.realtimePriority, mixers_.back()->realtimeError());
    }
  }
  for (size_t w = 0; w < relayWorkers.size(); ++w) {
    std::vector<std::shared_ptr<relay::PacketQueue>> to, from;
    for (size_t k = 0; k < mixers_.size(); ++k) {
      to.push_back(mixers_[k]->inboundShared(w));
      from.push_back(sinks_[k]->queue(w));
    }
    relay_.attachLocal(w, std::move(to), std::move(from));
  }
  for (const auto& [name, policy] : opts_.rooms) createRoom(name, policy, true);
}

ConferenceControl::~ConferenceControl() {
  mixers_.clear();  // threads stopped: nothing calls the sinks or the relay workers any more
}

void ConferenceControl::note(MixerNote&& n) {
  notes_.enqueue(std::move(n));
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wake_.get(), &one, sizeof(one));
}

uint64_t ConferenceControl::sinkRefused() const {
  uint64_t n = 0;
  for (const auto& s : sinks_) n += s->refused();
  return n;
}

ConferenceControl::Room* ConferenceControl::findRoom(const std::string& name) {
  auto it = rooms_.find(name);
  return it == rooms_.end() ? nullptr : &it->second;
}

ConferenceControl::Room* ConferenceControl::roomById(ConferenceId id) {
  for (auto& [name, r] : rooms_) {
    if (r.info.id == id) return &r;
  }
  return nullptr;
}

const RoomInfo* ConferenceControl::room(const std::string& name) const {
  auto it = rooms_.find(name);
  return it == rooms_.end() ? nullptr : &it->second.info;
}

const MemberInfo* ConferenceControl::member(ParticipantId id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second.info;
}

std::vector<RoomInfo> ConferenceControl::rooms() const {
  std::vector<RoomInfo> out;
  for (const auto& [name, r] : rooms_) out.push_back(r.info);
  return out;
}

ConferenceControl::Room& ConferenceControl::createRoom(const std::string& name, const RoomPolicy& policy,
                                                       bool declared) {
  Room r;
  r.info.name = name;
  r.info.id = nextRoomId_++;
  r.info.declared = declared;
  r.info.hasPin = !policy.pin.empty();
  r.info.maxParticipants = policy.maxParticipants != 0 ? policy.maxParticipants : opts_.maxParticipants;
  r.info.createdUnixMs = clock_.wallNs() / 1'000'000;
  r.policy = policy;
  r.worker = r.info.id % mixers_.size();
  const ConferenceId id = r.info.id;
  mixers_[r.worker]->post([id](MixerWorker& w) { w.createConference(id); });
  auto& stored = rooms_.emplace(name, std::move(r)).first->second;
  emit("room_created", name, 0);
  return stored;
}

void ConferenceControl::removeRoom(Room& r) {
  const ConferenceId id = r.info.id;
  mixers_[r.worker]->post([id](MixerWorker& w) { w.removeConference(id); });
  const std::string name = r.info.name;
  rooms_.erase(name);
  emit("room_closed", name, 0);
}

Expected<ConferenceControl::Room*, JoinError> ConferenceControl::admit(const JoinRequest& req, bool& pinPending) {
  if (!validRoomName(req.room)) {
    return Unexpected(joinError(JoinErrorCode::BadRequest, "room names are 1-64 characters of A-Z a-z 0-9 _ . -"));
  }
  Room* r = findRoom(req.room);
  if (r == nullptr) {
    if (!opts_.createOnJoin) return Unexpected(joinError(JoinErrorCode::NotFound, "no such conference"));
    r = &createRoom(req.room, RoomPolicy{}, false);
  }
  if (r->info.locked) return Unexpected(joinError(JoinErrorCode::Locked, "the conference is locked"));
  if (r->info.members.size() >= r->info.maxParticipants) {
    return Unexpected(joinError(JoinErrorCode::Full, fmt::format("the conference is full ({} participants)",
                                                                 r->info.maxParticipants)));
  }
  pinPending = !r->policy.pin.empty() && req.pin.empty();
  if (!r->policy.pin.empty() && !req.pin.empty() && req.pin != r->policy.pin) {
    return Unexpected(joinError(JoinErrorCode::WrongPin, "wrong PIN"));
  }
  return r;
}

ParticipantId ConferenceControl::nextEndpoint(size_t relayWorker) {
  for (;;) {
    const uint32_t seq = nextSeq_++ & kEndpointSequenceMask;
    if (seq == 0) continue;
    const ParticipantId id = makeEndpoint(relayWorker, seq);
    if (!members_.contains(id)) return id;
  }
}

Expected<JoinResult, JoinError> ConferenceControl::join(const JoinRequest& req) {
  bool pinPending = false;
  auto admitted = admit(req, pinPending);
  if (!admitted) return Unexpected(admitted.error());
  Room& r = **admitted;
  const std::string callId = req.callId.empty() ? fmt::format("conf-{}-{}", req.room, nextSeq_) : req.callId;
  const uint64_t session = relay_.createSession(callId);
  auto ports = relay_.addStream(session, req.rtcpMux, true);
  if (!ports) {
    relay_.drop(session);
    if (r.info.members.empty() && !r.info.declared) removeRoom(r);
    return Unexpected(joinError(JoinErrorCode::NoMedia, ports.error().message));
  }
  const ParticipantId id = nextEndpoint(relay_.workerOf(session).value_or(0));
  relay::LegParams peer;
  peer.rtpRemote = req.rtp;
  peer.rtcpRemote = req.rtp;
  if (req.rtp.valid() && !req.rtcpMux) peer.rtcpRemote.setPort(static_cast<uint16_t>(req.rtp.port() + 1));
  peer.mux = req.rtcpMux;
  peer.clockRate = media::codecInfo(req.codec).rtpClockRate;
  peer.codec = ratedAs(req.codec);
  peer.crypto = req.crypto;
  peer.ice = req.ice;
  peer.dtls = req.dtls;
  relay::LegParams local;
  local.mux = true;
  local.localEndpoint = id;
  local.localSink = static_cast<uint8_t>(r.worker);
  (void)relay_.updateLeg(session, 0, 0, peer);
  (void)relay_.updateLeg(session, 0, 1, local);

  ParticipantConfig pc;
  pc.id = id;
  pc.codec = req.codec;
  pc.payloadType = req.payloadType;
  pc.ssrc = std::random_device{}();
  pc.audioLevelExtId = req.audioLevelExtId;
  pc.dtmfPayloadType = req.dtmfPayloadType;
  pc.muted = pc.deaf = pinPending;
  const ConferenceId roomId = r.info.id;
  mixers_[r.worker]->post([roomId, pc](MixerWorker& w) { w.addParticipant(roomId, pc); });

  Member m;
  m.info = MemberInfo{id, req.room, req.label, req.codec, ports->rtpPort[0], req.rtp,
                      clock_.wallNs() / 1'000'000, false, false, pinPending, false};
  m.session = session;
  m.worker = r.worker;
  m.payloadType = req.payloadType;
  members_.emplace(id, std::move(m));
  bySession_.emplace(session, SessionOwner{id, LeaveReason::Hangup});
  r.info.members.push_back(id);
  emit("join", req.room, id, req.label);
  auto local_ = common::SockAddr::fromIp(opts_.advertise, ports->rtpPort[0]);
  return JoinResult{id, local_.value_or(common::SockAddr()), pinPending};
}

bool ConferenceControl::leave(ParticipantId id, LeaveReason reason) {
  if (!members_.contains(id)) return false;
  depart(id, reason, false);
  return true;
}

void ConferenceControl::depart(ParticipantId id, LeaveReason reason, bool tell) {
  auto it = members_.find(id);
  if (it == members_.end()) return;
  Member m = std::move(it->second);
  members_.erase(it);
  // The session stays in bySession_ until the relay reports it ended (onSessionEnded).
  if (auto s = bySession_.find(m.session); s != bySession_.end()) s->second.reason = reason;
  relay_.drop(m.session);
  mixers_[m.worker]->post([id](MixerWorker& w) { w.removeParticipant(id); });
  emit("leave", m.info.room, id, toString(reason));
  if (Room* r = findRoom(m.info.room)) {
    std::erase(r->info.members, id);
    if (r->info.members.empty() && !r->info.declared) removeRoom(*r);
  }
  if (tell && onLeft_) onLeft_(id, reason);
}

std::optional<LeaveReason> ConferenceControl::onSessionEnded(const relay::SessionReport& report, bool timedOut) {
  auto it = bySession_.find(report.id);
  if (it == bySession_.end()) return std::nullopt;
  const SessionOwner owner = it->second;
  if (timedOut && members_.contains(owner.id)) {
    spdlog::info("conference: participant {} sent no media for the timeout: leaves", owner.id);
    depart(owner.id, LeaveReason::MediaTimeout, true);
    bySession_.erase(report.id);
    return LeaveReason::MediaTimeout;
  }
  bySession_.erase(it);
  return owner.reason;
}

void ConferenceControl::postFlags(const Member& m) {
  const ParticipantId id = m.info.id;
  const ConferenceId roomId = rooms_.at(m.info.room).info.id;
  const bool muted = m.info.muted || m.info.pinPending, deaf = m.info.deaf || m.info.pinPending;
  mixers_[m.worker]->post([roomId, id, muted, deaf](MixerWorker& w) {
    if (Conference* c = w.conference(roomId)) {
      c->setMuted(id, muted);
      c->setDeaf(id, deaf);
    }
  });
}

OpResult ConferenceControl::setMuted(ParticipantId id, bool muted) {
  auto it = members_.find(id);
  if (it == members_.end()) return OpResult::UnknownParticipant;
  it->second.info.muted = muted;
  postFlags(it->second);
  emit(muted ? "mute" : "unmute", it->second.info.room, id);
  return OpResult::Ok;
}

OpResult ConferenceControl::setDeaf(ParticipantId id, bool deaf) {
  auto it = members_.find(id);
  if (it == members_.end()) return OpResult::UnknownParticipant;
  it->second.info.deaf = deaf;
  postFlags(it->second);
  emit(deaf ? "deaf" : "undeaf", it->second.info.room, id);
  return OpResult::Ok;
}

OpResult ConferenceControl::setGainDb(ParticipantId id, double db) {
  auto it = members_.find(id);
  if (it == members_.end()) return OpResult::UnknownParticipant;
  const ConferenceId roomId = rooms_.at(it->second.info.room).info.id;
  mixers_[it->second.worker]->post([roomId, id, db](MixerWorker& w) {
    if (Conference* c = w.conference(roomId)) c->setGainDb(id, db);
  });
  return OpResult::Ok;
}

OpResult ConferenceControl::kick(ParticipantId id) {
  if (!members_.contains(id)) return OpResult::UnknownParticipant;
  depart(id, LeaveReason::Kicked, true);
  return OpResult::Ok;
}

OpResult ConferenceControl::setLocked(const std::string& name, bool locked) {
  Room* r = findRoom(name);
  if (r == nullptr) return OpResult::UnknownRoom;
  r->info.locked = locked;
  emit(locked ? "lock" : "unlock", name, 0);
  return OpResult::Ok;
}

OpResult ConferenceControl::closeRoom(const std::string& name) {
  Room* r = findRoom(name);
  if (r == nullptr) return OpResult::UnknownRoom;
  const std::vector<ParticipantId> ids = r->info.members;
  const bool declared = r->info.declared;
  for (ParticipantId id : ids) depart(id, LeaveReason::RoomClosed, true);
  // A created room went with its last participant; a declared one (or an empty created one) goes now.
  if (Room* still = findRoom(name); still != nullptr && (declared || still->info.members.empty())) removeRoom(*still);
  return OpResult::Ok;
}

void ConferenceControl::report(const std::string& name, std::function<void(std::optional<ConferenceReport>)> done) {
  Room* r = findRoom(name);
  if (r == nullptr) {
    done(std::nullopt);
    return;
  }
  const uint64_t req = nextRequest_++;
  pending_.emplace(req, std::move(done));
  const ConferenceId id = r->info.id;
  mixers_[r->worker]->post([this, id, req](MixerWorker& w) {
    auto rep = std::make_shared<ConferenceReport>();
    if (Conference* c = w.conference(id)) *rep = c->report();
    note({MixerNote::Kind::Report, id, 0, 0, req, std::move(rep)});
  });
}

void ConferenceControl::onDigit(Member& m, char digit) {
  if (!m.info.pinPending) {
    emit("dtmf", m.info.room, m.info.id, std::string(1, digit));
    return;
  }
  const std::string& pin = rooms_.at(m.info.room).policy.pin;
  if (digit != '#') {
    m.digits.push_back(digit);
    if (m.digits != pin) {
      if (m.digits.size() > 32) m.digits.erase(0, 1);
      return;
    }
  }
  if (m.digits == pin) {
    m.info.pinPending = false;
    m.digits.clear();
    postFlags(m);
    emit("pin_accepted", m.info.room, m.info.id);
    return;
  }
  m.digits.clear();
  emit("pin_wrong", m.info.room, m.info.id);
  if (++m.wrongPins >= opts_.pinAttempts) depart(m.info.id, LeaveReason::PinRejected, true);
}

void ConferenceControl::drain() {
  uint64_t v;
  [[maybe_unused]] auto r = ::read(wake_.get(), &v, sizeof(v));
  MixerNote n;
  while (notes_.try_dequeue(n)) {
    if (n.kind == MixerNote::Kind::Report) {
      auto p = pending_.find(n.request);
      if (p == pending_.end()) continue;
      auto done = std::move(p->second);
      pending_.erase(p);
      done(n.report ? std::optional(std::move(*n.report)) : std::nullopt);
      continue;
    }
    if (n.kind == MixerNote::Kind::TickOverrun) {
      logOverrun(n.room, n.overrun);
      continue;
    }
    if (n.kind == MixerNote::Kind::EncodingLevel) {
      spdlog::info("conference: mixer {} encoding level {} -> {} ({}, ticks {:.0f} % busy)", n.room, n.levelFrom,
                   n.levelTo, n.levelTo > n.levelFrom ? "cheaper Opus encodes under load" : "load fell",
                   n.busy * 100);
      continue;
    }
    auto it = members_.find(n.who);
    if (it == members_.end()) continue;  // left meanwhile
    Member& m = it->second;
    if (n.kind == MixerNote::Kind::Dtmf) {
      onDigit(m, n.digit);
    } else {
      m.info.talking = n.kind == MixerNote::Kind::Talking;
      emit(m.info.talking ? "talking" : "silent", m.info.room, m.info.id);
    }
  }
}

void ConferenceControl::logOverrun(ConferenceId worker, const TickOverrun& o) {
  const std::string where =
      o.cpuMs < 0 ? ""
                  : fmt::format(", then {:.1f} running, {:.1f} waiting for a CPU, {:.1f} neither", o.cpuMs, o.queuedMs,
                                std::max(0.0, o.lateMs - o.behindMs - o.cpuMs - o.queuedMs));
  const std::string what =
      o.skip ? fmt::format("was {:.1f} ms behind at slot {} of {} ({} rooms) and skipped it", o.lateMs, o.slot,
                           o.slots, o.rooms)
             : fmt::format("slot {} of {} ({} rooms) sent its frames {:.1f} ms after they were due", o.slot, o.slots,
                           o.rooms, o.lateMs);
  const std::string work = o.skip ? "" : fmt::format("; {:.1f} ms of work, level {}, {} talkers, {} decodes, {} encodes",
                                                     o.workMs, o.level, o.talkers, o.decodes, o.encodes);
  spdlog::warn("conference: mixer {} {} (period {} ms): {:.1f} behind the slots before it{}{} ({}{} overrun{}{} since "
               "the last report{})",
               worker, what, kTickMs, o.behindMs, where, work, o.overruns == 1 ? "" : "the worst of ", o.overruns,
               o.overruns == 1 ? "" : "s",
               o.skipped != 0 ? fmt::format(", {} of them slot ticks skipped", o.skipped) : "",
               o.firstAgoMs >= 1 ? fmt::format(", the first {:.3f} s ago", o.firstAgoMs / 1000) : "");
}

void ConferenceControl::emit(std::string type, const std::string& room, ParticipantId who, std::string detail) {
  ConferenceEvent e{std::move(type), room, who, std::move(detail), clock_.wallNs() / 1'000'000};
  if (e.type != "talking" && e.type != "silent") {
    spdlog::info("conference {}: {}{}{}", room, e.type, who != 0 ? fmt::format(" participant {}", who) : "",
                 e.detail.empty() ? "" : " (" + e.detail + ")");
  }
  if (onEvent_) onEvent_(e);
}

}  // namespace rdv::mixer
