#include "relay/TcpSplicer.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "relay/LoopFds.h"

namespace rdv::relay {
namespace {

constexpr uint64_t kWakeTag = 1;
constexpr uint64_t kTimerTag = 2;
constexpr int kMaxEvents = 256;

// Abortive close: the peer gets an RST instead of a FIN.
void resetAndClose(common::Fd& fd) {
  if (!fd.valid()) return;
  linger l{1, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  fd.reset();
}

}  // namespace

const char* toString(TcpPairState s) {
  switch (s) {
    case TcpPairState::Waiting:
      return "waiting";
    case TcpPairState::Connected:
      return "connected";
    case TcpPairState::Closed:
      return "closed";
    case TcpPairState::Reset:
      return "reset";
    case TcpPairState::SetupTimeout:
      return "setup_timeout";
    case TcpPairState::IdleTimeout:
      return "idle_timeout";
    case TcpPairState::Deleted:
      return "deleted";
  }
  return "unknown";
}

const char* toString(TcpRefusal r) {
  switch (r) {
    case TcpRefusal::WrongSource:
      return "wrong_source";
    case TcpRefusal::PerSourceLimit:  // not "per_source_limit": that is the API's refusal, same metric
      return "source_connection_limit";
    case TcpRefusal::AcceptFailed:
      return "accept_failed";
    case TcpRefusal::kCount:
      break;
  }
  return "unknown";
}

TcpSplicer::TcpSplicer(TcpSplicerOptions opts, std::function<void(const TcpPairStatus&)> onEnded)
    : opts_(opts), onEnded_(std::move(onEnded)) {
  LoopFds loop = openLoopFds(kWakeTag, kTimerTag);
  epoll_ = std::move(loop.epoll);
  wake_ = std::move(loop.wake);
  timer_ = std::move(loop.timer);
}

TcpSplicer::~TcpSplicer() {
  if (thread_.joinable()) {
    stop_.store(true, std::memory_order_release);
    wakeSelf();
    thread_.join();
  }
  onEnded_ = nullptr;  // the owner is going away too
  for (auto& [id, p] : pairs_) end(*p, TcpPairState::Deleted, -1);
  reap();
  for (const PooledPipe& pp : pipes_) {
    ::close(pp.read);
    ::close(pp.write);
  }
}

void TcpSplicer::start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "rdv-relay-tcp");  // counted with the relay threads (ProcessCpu)
    runHostedThread(*this, stop_);
  });
}

void TcpSplicer::add(std::unique_ptr<TcpPair> pair) {
  post(Add{std::move(pair)});
}
void TcpSplicer::remove(uint64_t id) {
  post(Remove{id});
}
void TcpSplicer::restrict(uint64_t id, uint8_t side, const common::SockAddr& source) {
  post(Restrict{id, side, source});
}
void TcpSplicer::checkTimeouts() {
  post(Check{});
}

void TcpSplicer::post(Command&& c) {
  commands_.enqueue(std::move(c));
  wakeSelf();
}

void TcpSplicer::wakeSelf() {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof(one));
}

// One bounded round: the events ready now (at most kMaxEvents, each pump at most
// opts_.pumpRounds per direction), the timer tick, then the pairs that used their budget last round. Pairs still
// queued after it make fd() readable again (the wake eventfd), so the host, or the own thread,
// comes back after its other work.
void TcpSplicer::runReady() {
  std::array<epoll_event, kMaxEvents> events{};
  const int n = epoll_wait(epoll_.get(), events.data(), kMaxEvents, 0);
  if (n < 0 && errno != EINTR) {
    spdlog::critical("tcp relay: epoll_wait failed: {}", std::strerror(errno));
    return;
  }
  const uint64_t now = opts_.clock->monotonicNs();
  bool tick = false;
  for (int i = 0; i < n; ++i) {
    const uint64_t tag = events[i].data.u64;
    if (tag == kWakeTag) {
      uint64_t v;
      [[maybe_unused]] auto r = ::read(wake_.get(), &v, sizeof(v));
      drainCommands(now);
    } else if (tag == kTimerTag) {
      uint64_t v;
      [[maybe_unused]] auto r = ::read(timer_.get(), &v, sizeof(v));
      tick = true;
    }
  }
  for (int i = 0; i < n; ++i) {
    const uint64_t tag = events[i].data.u64;
    if (tag != kWakeTag && tag != kTimerTag)
      onEvent(*reinterpret_cast<TcpEndpoint*>(tag), events[i].events, now);
  }
  if (tick) {
    checkTimeouts(opts_.clock->monotonicNs());
    for (TcpPair* p : std::exchange(starved_, {})) {
      p->starved = false;
      if (!p->dead) pump(*p, now);
    }
  }
  // Pairs queued by the pumps above wait for the next round; those of the last round go now.
  readyRound_.swap(ready_);
  ready_.clear();
  for (TcpPair* p : readyRound_) {
    p->queued = false;
    if (!p->dead) pump(*p, now);
  }
  readyRound_.clear();
  reap();
  if (!ready_.empty()) wakeSelf();
  counters_.busyNs.add(opts_.clock->monotonicNs() - now);
}

void TcpSplicer::drainCommands(uint64_t nowNs) {
  Command cmd;
  while (commands_.try_dequeue(cmd)) {
    if (auto* a = std::get_if<Add>(&cmd)) {
      TcpPair& p = *a->pair;
      const uint64_t id = p.status->id;
      for (uint8_t s = 0; s < 2; ++s) {
        TcpEndpoint& e = p.ends[s];
        e.pair = &p;
        e.side = s;
        e.listening = true;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLET;
        ev.data.u64 = reinterpret_cast<uint64_t>(&e);
        epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, e.fd.get(), &ev);
      }
      p.lastActivityNs = nowNs;
      pairs_.emplace(id, std::move(a->pair));
      counters_.pairs.set(pairs_.size() - dead_.size());
    } else if (auto* r = std::get_if<Remove>(&cmd)) {
      auto it = pairs_.find(r->id);
      if (it != pairs_.end()) end(*it->second, TcpPairState::Deleted, -1);
    } else if (auto* x = std::get_if<Restrict>(&cmd)) {
      applyRestrict(*x);
    } else if (std::holds_alternative<Check>(cmd)) {
      checkTimeouts(opts_.clock->monotonicNs());
    }
  }
}

// A restriction that comes after the side's peer connected (the answer reached the control
// thread after the answerer connected) checks that connection: from another IP, it was never the
// answerer's, and the pair goes.
void TcpSplicer::applyRestrict(const Restrict& r) {
  auto it = pairs_.find(r.id);
  if (it == pairs_.end() || it->second->dead || r.side > 1) return;
  TcpPair& p = *it->second;
  TcpEndpoint& e = p.ends[r.side];
  e.allowed = r.source;
  if (!e.listening && !p.status->peer[r.side].sameIp(r.source)) {
    counters_.refused[static_cast<size_t>(TcpRefusal::WrongSource)].add(1);
    end(p, TcpPairState::Reset, -1);
  }
}

void TcpSplicer::onEvent(TcpEndpoint& e, uint32_t events, uint64_t nowNs) {
  TcpPair& p = *e.pair;
  if (p.dead) return;  // ended earlier in this round; freed after it
  if (e.listening) {
    accept(e, nowNs);
    return;
  }
  // Errors and hang-ups surface as the splice calls' results, so both flags are set for them.
  // Readable moves the direction out of this side, writable the one into it: only those pump.
  unsigned dirs = 0;
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
    e.readable = true;
    dirs |= 1U << e.side;
  }
  if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) {
    e.writable = true;
    dirs |= 1U << (1 - e.side);
  }
  pump(p, nowNs, dirs);
}

void TcpSplicer::refuse(int fd, TcpRefusal why) {
  counters_.refused[static_cast<size_t>(why)].add(1);  // before the RST: the peer may look right after
  common::Fd f(fd);
  resetAndClose(f);
}

// One connection per side: the first acceptable one is kept and the listener closed, so the port
// is free again and a pair holds at most two sockets. Refused connections get an RST.
void TcpSplicer::accept(TcpEndpoint& e, uint64_t nowNs) {
  TcpPair& p = *e.pair;
  TcpPairStatus& st = *p.status;
  for (;;) {
    common::SockAddr from;
    socklen_t len = common::SockAddr::kStorage;
    const int fd = accept4(e.fd.get(), from.storage(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        counters_.refused[static_cast<size_t>(TcpRefusal::AcceptFailed)].add(1);
      return;
    }
    if (e.allowed && !from.sameIp(*e.allowed)) {
      refuse(fd, TcpRefusal::WrongSource);
      continue;
    }
    const std::string ip = from.ip();
    uint32_t& live = perSource_[ip];
    if (opts_.maxConnectionsPerSource != 0 && live >= opts_.maxConnectionsPerSource) {
      if (live == 0) perSource_.erase(ip);
      refuse(fd, TcpRefusal::PerSourceLimit);
      continue;
    }
    ++live;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // no Nagle delay added by the relay
    e.fd = common::Fd(fd);  // closes the listener (and drops it from epoll)
    e.listening = false;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = reinterpret_cast<uint64_t>(&e);
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
    st.peer[e.side] = from;
    st.connected[e.side].store(true, std::memory_order_release);
    if (!p.ends[1 - e.side].listening) {
      st.state.store(TcpPairState::Connected, std::memory_order_release);
      p.lastActivityNs = nowNs;
      pump(p, nowNs);
    }
    return;
  }
}

void TcpSplicer::pump(TcpPair& p, uint64_t nowNs, unsigned dirs) {
  if (p.ends[0].listening || p.ends[1].listening) return;  // bytes wait in the kernel until both are in
  bool more = false;
  for (int d = 0; d < 2 && !p.dead; ++d) {
    if ((dirs & (1U << d)) == 0) continue;
    const Pump r = pumpDirection(p, d, nowNs);
    more = more || r == Pump::More;
  }
  if (p.dead) return;
  if (p.dirs[0].shutDone && p.dirs[1].shutDone) {
    end(p, TcpPairState::Closed, 2);
    return;
  }
  if (more && !p.queued) {
    p.queued = true;
    ready_.push_back(&p);
  }
}

// Moves bytes of direction d (side d -> side 1-d) until neither side makes progress or the round
// budget is spent (SpliceDirection), taking a pipe from the pool when the source has bytes.
TcpSplicer::Pump TcpSplicer::pumpDirection(TcpPair& p, int d, uint64_t nowNs) {
  TcpDirection& dir = p.dirs[d];
  TcpEndpoint& src = p.ends[d];
  TcpEndpoint& dst = p.ends[1 - d];
  for (;;) {
    uint64_t moved = 0;
    const SpliceDirection::Step step =
        dir.pump(src.fd.get(), src.readable, dst.fd.get(), dst.writable, std::max(1, opts_.pumpRounds), moved);
    if (moved > 0) {
      p.status->bytes[d].add(moved);
      counters_.bytes[d].add(moved);
      p.lastActivityNs = nowNs;
    }
    switch (step) {
      case SpliceDirection::Step::NeedPipe:
        if (takePipe(dir)) continue;
        // Out of descriptors: the bytes wait in the kernel and the pair is pumped again on the
        // next timer tick (an edge-triggered event may not come again).
        counters_.pipeFailures.add(1);
        if (!p.starved) {
          p.starved = true;
          starved_.push_back(&p);
        }
        return Pump::Idle;
      case SpliceDirection::Step::Shut:
        p.status->eof[d].store(true, std::memory_order_release);
        givePipe(dir);
        return Pump::Idle;
      case SpliceDirection::Step::DestinationFailed:
        end(p, TcpPairState::Reset, d);  // the destination failed: reset the source
        return Pump::Ended;
      case SpliceDirection::Step::SourceFailed:
        end(p, TcpPairState::Reset, 1 - d);  // the source failed: reset the destination
        return Pump::Ended;
      case SpliceDirection::Step::More:
        return Pump::More;
      case SpliceDirection::Step::Idle:
        break;
    }
    if (dir.inPipe == 0) givePipe(dir);
    return Pump::Idle;
  }
}

void TcpSplicer::end(TcpPair& p, TcpPairState state, int resetSide) {
  if (p.dead) return;
  p.dead = true;
  dead_.push_back(&p);
  TcpPairStatus& st = *p.status;
  // State first: a peer that sees the FIN or RST and asks the API at once finds the pair ended.
  st.endedNs.set(opts_.clock->monotonicNs());
  st.state.store(state, std::memory_order_release);
  counters_.ended[static_cast<size_t>(state)].add(1);
  counters_.endedTotal.add(1);
  counters_.pairs.set(pairs_.size() - dead_.size());
  for (int s = 0; s < 2; ++s) {
    TcpEndpoint& e = p.ends[s];
    if (!e.listening && e.fd.valid()) {
      auto it = perSource_.find(st.peer[s].ip());
      if (it != perSource_.end() && --it->second == 0) perSource_.erase(it);
    }
    if (resetSide == -1 || resetSide == s) {
      resetAndClose(e.fd);
    } else {
      e.fd.reset();
    }
  }
  for (auto& d : p.dirs) givePipe(d);
  if (onEnded_) onEnded_(st);
}

void TcpSplicer::checkTimeouts(uint64_t nowNs) {
  for (auto& [id, pp] : pairs_) {
    TcpPair& p = *pp;
    if (p.dead) continue;
    const TcpPairState s = p.status->state.load(std::memory_order_relaxed);
    if (s == TcpPairState::Waiting && nowNs - p.status->createdNs >= opts_.setupTimeoutNs) {
      end(p, TcpPairState::SetupTimeout, -1);
    } else if (s == TcpPairState::Connected && p.idleTimeoutNs != 0 &&
               nowNs - p.lastActivityNs >= p.idleTimeoutNs) {
      end(p, TcpPairState::IdleTimeout, -1);
    }
  }
}

void TcpSplicer::reap() {
  if (dead_.empty()) return;
  // Pumps that ran this round re-queued only live pairs; drop any that ended since.
  std::erase_if(ready_, [](TcpPair* p) { return p->dead; });
  std::erase_if(starved_, [](TcpPair* p) { return p->dead; });
  for (TcpPair* p : dead_) pairs_.erase(p->status->id);
  dead_.clear();
  counters_.pairs.set(pairs_.size());
}

bool TcpSplicer::takePipe(TcpDirection& d) {
  if (!pipes_.empty()) {
    const PooledPipe& pp = pipes_.back();
    d.pipeRead = pp.read;
    d.pipeWrite = pp.write;
    d.pipeCap = pp.cap;
    pipes_.pop_back();
    return true;
  }
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  // Past the unprivileged pipe budget (fs.pipe-user-pages-soft) the kernel refuses to grow a pipe:
  // it keeps its default size, which is what F_GETPIPE_SZ then reports.
  fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(opts_.pipeSize));
  const int cap = fcntl(fds[1], F_GETPIPE_SZ);
  d.pipeRead = fds[0];
  d.pipeWrite = fds[1];
  d.pipeCap = cap > 0 ? static_cast<size_t>(cap) : 4096;
  counters_.pipesOpen.add(1);
  return true;
}

void TcpSplicer::givePipe(TcpDirection& d) {
  if (d.pipeRead < 0) return;
  if (d.inPipe == 0 && pipes_.size() < opts_.pipePool) {
    pipes_.push_back({d.pipeRead, d.pipeWrite, d.pipeCap});
  } else {
    ::close(d.pipeRead);  // bytes still in it belong to a connection that is gone
    ::close(d.pipeWrite);
    counters_.pipesOpen.set(counters_.pipesOpen.get() - 1);
  }
  d.pipeRead = d.pipeWrite = -1;
  d.inPipe = 0;
}

}  // namespace rdv::relay
