#include "relay/RelayControl.h"

#include <sys/eventfd.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace rdv::relay {
namespace {

// Descriptors kept for everything that is not a media socket (control sockets, epoll, eventfds,
// timers, HTTP connections, log files).
constexpr size_t kReservedDescriptors = 200;
constexpr int kBindAttempts = 8;

}  // namespace

RelayControl::RelayControl(const RelayOptions& opts)
    : opts_(opts),
      bindAddr_(common::SockAddr::fromIp(opts.interface, 0).value_or(common::SockAddr())),
      pool_(opts.portMin, opts.portMax),
      endedWake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      replyWake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  socketBudget_ = opts.descriptorBudget;
  if (socketBudget_ == 0) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    socketBudget_ = rl.rlim_cur > kReservedDescriptors ? rl.rlim_cur - kReservedDescriptors : 0;
  }
  // A session with one stream takes 2 port pairs; 4 sockets, or 2 with rtcp-mux.
  capacity_ = std::min(socketBudget_ / 4, pool_.capacity() / 2);
  capacityMux_ = std::min(socketBudget_ / 2, pool_.capacity() / 2);
  if (opts.kernelForwarding) {
    // One entry per RTP port at most: the pool hands out RTP/RTCP pairs.
    auto k = KernelForwarder::create(opts.interface, static_cast<uint32_t>(pool_.capacity()));
    if (k) {
      kernel_ = std::move(*k);
    } else {
      spdlog::warn("relay.kernel_forwarding: {}; forwarding in userspace only", k.error());
    }
  }
  const uint32_t n = std::max<uint32_t>(1, opts.workers);
  for (uint32_t i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<RelayWorker>(
        i, opts.worker,
        [this](SessionEnded&& e) {
          ended_.enqueue(std::move(e));
          uint64_t one = 1;
          [[maybe_unused]] auto r = ::write(endedWake_.get(), &one, sizeof(one));
        },
        [this](SessionReply&& r) {
          replies_.enqueue(std::move(r));
          uint64_t one = 1;
          [[maybe_unused]] auto w = ::write(replyWake_.get(), &one, sizeof(one));
        },
        kernel_.get()));
    workers_.back()->start();
    if (!workers_.back()->realtimeError().empty()) {
      spdlog::warn("relay: worker {} stays an ordinary thread: SCHED_FIFO priority {} refused ({})", i,
                   opts.worker.realtimePriority, workers_.back()->realtimeError());
    }
  }
}

RelayControl::~RelayControl() { workers_.clear(); }

uint64_t RelayControl::createSession(const std::string& callId) {
  // Least loaded by owned sessions, as last reported by the workers.
  size_t best = 0;
  for (size_t i = 1; i < workers_.size(); ++i) {
    if (workers_[i]->counters().sessions.get() < workers_[best]->counters().sessions.get()) best = i;
  }
  // Ties (e.g. a burst before workers report) are broken round-robin by id.
  const uint64_t id = nextId_++;
  if (workers_[best]->counters().sessions.get() == workers_[id % workers_.size()]->counters().sessions.get()) {
    best = id % workers_.size();
  }
  auto s = std::make_unique<MediaSession>();
  s->id = id;
  s->callId = callId;
  sessions_[id].worker = best;
  workers_[best]->post(AddSession{std::move(s)});
  counters_.sessionsCreated.add(1);
  return id;
}

Expected<common::Fd, RelayError> RelayControl::openSocket(uint16_t port) {
  common::SockAddr a = bindAddr_;
  a.setPort(port);
  common::Fd fd(::socket(a.isV6() ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return Unexpected(RelayError{RelayErrorCode::SocketFailed, fmt::format("socket(): {}", std::strerror(errno))});
  }
  if (::bind(fd.get(), a.sa(), a.len()) != 0) {
    return Unexpected(RelayError{RelayErrorCode::SocketFailed,
                                 fmt::format("bind {}: {}", a.str(), std::strerror(errno))});
  }
  counters_.socketsOpen.add(1);
  return fd;
}

std::optional<size_t> RelayControl::workerOf(uint64_t sessionId) const {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end()) return std::nullopt;
  return it->second.worker;
}

void RelayControl::attachLocal(size_t w, std::vector<std::shared_ptr<PacketQueue>> toLocal,
                               std::vector<std::shared_ptr<PacketQueue>> fromLocal) {
  workers_.at(w)->post(AttachLocal{std::move(toLocal), std::move(fromLocal)});
}

Expected<StreamPorts, RelayError> RelayControl::addStream(uint64_t sessionId, bool mux, bool local,
                                                          std::optional<uint8_t> bundledLeg) {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end()) return Unexpected(RelayError{RelayErrorCode::UnknownSession, "unknown session"});
  // Legs without a socket: the local leg of a local stream, a leg bundled on another transport.
  auto socketless = [&](int l) { return (local && l == 1) || (bundledLeg && *bundledLeg == l); };
  const int legs = (socketless(0) ? 0 : 1) + (socketless(1) ? 0 : 1);
  const size_t needed = (mux ? 1 : 2) * static_cast<size_t>(legs);
  if (counters_.socketsOpen.get() + needed > socketBudget_) {
    counters_.capacityRefused.add(1);
    return Unexpected(RelayError{RelayErrorCode::CapacityReached,
                                 fmt::format("session capacity reached ({} sessions, {} with rtcp-mux)",
                                             capacity_, capacityMux_)});
  }
  auto stream = std::make_unique<MediaStream>();
  StreamRecord rec;
  // Undo a half-built stream: its sockets close with `stream`, its ports go back to the pool.
  auto fail = [&](RelayError e) -> Expected<StreamPorts, RelayError> {
    for (int l = 0; l < 2; ++l) {
      if (rec.rtpPort[l] != 0) pool_.release(rec.rtpPort[l]);
      for (const Component* c : {&stream->legs[l].rtp, &stream->legs[l].rtcp}) {
        if (c->fd.valid()) counters_.socketsOpen.set(counters_.socketsOpen.get() - 1);
      }
    }
    return Unexpected(std::move(e));
  };
  for (int l = 0; l < 2; ++l) {
    if (socketless(l)) continue;
    Leg& leg = stream->legs[l];
    for (int attempt = 1;; ++attempt) {
      auto port = pool_.allocate();
      if (!port) {
        counters_.poolExhausted.add(1);
        return fail(RelayError{RelayErrorCode::PortsExhausted, "media port pool exhausted"});
      }
      auto rtp = openSocket(*port);
      std::optional<Expected<common::Fd, RelayError>> rtcp;
      if (rtp && !mux) rtcp = openSocket(static_cast<uint16_t>(*port + 1));
      if (rtp && (mux || *rtcp)) {
        leg.rtp.fd = std::move(*rtp);
        leg.rtp.localPort = *port;
        if (!mux) {
          leg.rtcp.fd = std::move(**rtcp);
          leg.rtcp.localPort = static_cast<uint16_t>(*port + 1);
        }
        rec.rtpPort[l] = *port;
        rec.rtcpOpen[l] = !mux;
        break;
      }
      // Port taken by another process: skip the pair (it goes to the back of the queue).
      if (rtp) counters_.socketsOpen.set(counters_.socketsOpen.get() - 1);
      pool_.release(*port);
      if (attempt == kBindAttempts) return fail(rtp ? (*rtcp).error() : rtp.error());
    }
  }
  counters_.portsUsed.add(2 * static_cast<uint64_t>(legs));
  it->second.streams.push_back(rec);
  workers_[it->second.worker]->post(AddStream{sessionId, std::move(stream)});
  return StreamPorts{{rec.rtpPort[0], rec.rtpPort[1]}};
}

Expected<bool, RelayError> RelayControl::updateLeg(uint64_t sessionId, uint32_t stream, uint8_t leg,
                                                  const LegParams& p) {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end() || stream >= it->second.streams.size() || leg > 1) {
    return Unexpected(RelayError{RelayErrorCode::UnknownSession, "unknown session or stream"});
  }
  StreamRecord& rec = it->second.streams[stream];
  UpdateLeg cmd{sessionId, stream, leg, p, common::Fd(), 0};
  if (!p.mux && !rec.rtcpOpen[leg] && rec.rtpPort[leg] != 0) {
    // The peer will send RTCP to port+1: open it now (it was left closed while mux was offered).
    auto port = static_cast<uint16_t>(rec.rtpPort[leg] + 1);
    auto fd = openSocket(port);
    if (!fd) return Unexpected(fd.error());
    cmd.newRtcpFd = std::move(*fd);
    cmd.newRtcpPort = port;
    rec.rtcpOpen[leg] = true;
  }
  // The worker drops the stream's kernel entries when it applies new parameters; removed here, they
  // are gone before the caller answers the update. Otherwise, for the moment until the worker runs
  // the command, the old entry would still drop a moved peer's packets in the kernel, where the
  // worker's commands-before-packets order cannot reach them.
  if (kernel_) {
    for (uint8_t k = 0; k < 2; ++k) {
      if (rec.rtpPort[k] != 0) cmd.kernelTaken[k] = kernel_->remove(kernel_->localAddress(rec.rtpPort[k]));
    }
  }
  workers_[it->second.worker]->post(std::move(cmd));
  return true;
}

void RelayControl::query(uint64_t sessionId, ReportCallback done) {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end()) {
    done(std::nullopt);
    return;
  }
  const uint64_t req = nextRequestId_++;
  pending_.emplace(req, Pending{std::move(done), 0});
  workers_[it->second.worker]->post(QuerySession{sessionId, req});
}

void RelayControl::remove(uint64_t sessionId, ReportCallback done) {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end()) {
    done(std::nullopt);
    return;
  }
  const uint64_t req = nextRequestId_++;
  pending_.emplace(req, Pending{std::move(done), sessionId});
  workers_[it->second.worker]->post(RemoveSession{sessionId, req});
  dropping_.emplace(sessionId, std::move(it->second));
  sessions_.erase(it);
}

void RelayControl::drainReplies() {
  uint64_t v;
  [[maybe_unused]] auto r = ::read(replyWake_.get(), &v, sizeof(v));
  SessionReply reply;
  while (replies_.try_dequeue(reply)) {
    auto p = pending_.find(reply.requestId);
    if (p == pending_.end()) continue;
    Pending pending = std::move(p->second);
    pending_.erase(p);
    if (pending.removing != 0 && reply.report) {
      // The worker has closed the sockets. Without a report the worker no longer had the session
      // (it timed out first): its SessionEnded releases the record instead.
      if (auto d = dropping_.find(pending.removing); d != dropping_.end()) {
        release(d->second);
        dropping_.erase(d);
        counters_.sessionsEnded.add(1);
      }
    }
    pending.done(std::move(reply.report));
  }
}

void RelayControl::release(const SessionRecord& rec) {
  for (const auto& s : rec.streams) {
    for (int l = 0; l < 2; ++l) {
      if (s.rtpPort[l] == 0) continue;  // the local leg of a local stream
      pool_.release(s.rtpPort[l]);
      counters_.socketsOpen.set(counters_.socketsOpen.get() - (s.rtcpOpen[l] ? 2 : 1));
      counters_.portsUsed.set(counters_.portsUsed.get() - 2);
    }
  }
}

void RelayControl::drop(uint64_t sessionId) {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end()) return;
  workers_[it->second.worker]->post(DropSession{sessionId});
  dropping_.emplace(sessionId, std::move(it->second));
  sessions_.erase(it);
}

void RelayControl::checkTimeouts() {
  for (auto& w : workers_) w->post(CheckTimeouts{});
}

void RelayControl::drainEnded(const std::function<void(const SessionReport&, bool timedOut)>& fn) {
  uint64_t v;
  [[maybe_unused]] auto r = ::read(endedWake_.get(), &v, sizeof(v));
  SessionEnded e;
  while (ended_.try_dequeue(e)) {
    // The worker has closed the sockets: only now may the ports be handed out again.
    // A timeout may race a drop (then the record is in dropping_) or a remove (then it is gone).
    auto* table = &sessions_;
    auto it = table->find(e.report.id);
    if (it == table->end()) {
      table = &dropping_;
      it = table->find(e.report.id);
      if (it == table->end()) continue;
    }
    release(it->second);
    table->erase(it);
    counters_.sessionsEnded.add(1);
    if (e.timedOut) counters_.sessionsTimedOut.add(1);
    fn(e.report, e.timedOut);
  }
}

}  // namespace rdv::relay
