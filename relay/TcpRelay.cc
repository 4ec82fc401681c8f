#include "relay/TcpRelay.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace rdv::relay {

const char* toString(TcpRelayErrorCode c) {
  switch (c) {
    case TcpRelayErrorCode::BadRequest:
      return "bad_request";
    case TcpRelayErrorCode::TotalLimit:
      return "total_limit";
    case TcpRelayErrorCode::PerSourceLimit:
      return "per_source_limit";
    case TcpRelayErrorCode::NoPorts:
      return "no_ports";
    case TcpRelayErrorCode::Disabled:
      return "disabled";
  }
  return "unknown";
}

const char* toString(TcpPairOrigin o) {
  switch (o) {
    case TcpPairOrigin::Sdp:
      return "sdp";
    case TcpPairOrigin::Ng:
      return "ng";
    case TcpPairOrigin::Api:
      return "api";
  }
  return "unknown";
}

TcpRelay::TcpRelay(const TcpRelayOptions& opts)
    : opts_(opts),
      advertise_(opts.advertise.empty() ? opts.interface : opts.advertise),
      splicer_(opts.splicer, opts.onEnded) {
  if (opts.splicerThread) splicer_.start();
}

TcpRelay::~TcpRelay() = default;

uint64_t TcpRelay::live() const {
  return created_ - splicer_.counters().endedTotal.get();
}

TcpRelayError TcpRelay::refuse(TcpRelayErrorCode code, std::string reason) {
  refused_[static_cast<size_t>(code)].add(1);
  return TcpRelayError{code, std::move(reason)};
}

Expected<std::shared_ptr<const TcpPairStatus>, TcpRelayError> TcpRelay::create(const TcpPairRequest& req) {
  if (opts_.maxPairs == 0)
    return Unexpected(refuse(TcpRelayErrorCode::Disabled, "the TCP relay is disabled"));
  if (req.idleTimeoutS > opts_.maxIdleTimeoutS) {
    return Unexpected(refuse(TcpRelayErrorCode::BadRequest,
                             fmt::format("idle_timeout must be at most {} s", opts_.maxIdleTimeoutS)));
  }
  prune();
  if (live() >= opts_.maxPairs) {
    return Unexpected(
        refuse(TcpRelayErrorCode::TotalLimit, fmt::format("{} TCP relay pairs open: the limit", live())));
  }
  if (opts_.maxPairsPerSource != 0) {
    for (const auto& peer : req.peers) {
      if (!peer) continue;
      uint32_t n = 0;
      for (const auto& [id, st] : pairs_) {
        if (terminal(st->state.load(std::memory_order_acquire))) continue;
        for (const auto& a : st->allowed) n += a && a->sameIp(*peer) ? 1 : 0;
      }
      if (n >= opts_.maxPairsPerSource) {
        return Unexpected(refuse(TcpRelayErrorCode::PerSourceLimit,
                                 fmt::format("{} already has {} TCP relay pairs: the limit", peer->ip(), n)));
      }
    }
  }
  auto st = std::make_shared<TcpPairStatus>();
  auto pair = std::make_unique<TcpPair>();
  for (int s = 0; s < 2; ++s) {
    auto fd = listenNext(st->local[s]);
    if (!fd) return Unexpected(fd.error());  // a listener opened for side a closes here
    pair->ends[s].fd = std::move(*fd);
    pair->ends[s].allowed = req.peers[s];  // the splicer's copy: it never reads st->allowed
    st->allowed[s] = req.peers[s];
  }
  st->id = nextId_++;
  st->createdNs = nowNs();
  st->idleTimeoutS = req.idleTimeoutS != 0 ? req.idleTimeoutS : opts_.idleTimeoutS;
  pair->status = st;
  pair->idleTimeoutNs = uint64_t{st->idleTimeoutS} * 1'000'000'000ULL;
  pairs_.emplace(st->id, st);
  ++created_;
  createdBy_[static_cast<size_t>(req.origin)].add(1);
  splicer_.add(std::move(pair));
  return std::shared_ptr<const TcpPairStatus>(st);
}

Expected<common::Fd, TcpRelayError> TcpRelay::listenNext(common::SockAddr& local) {
  const uint32_t span = uint32_t{opts_.portMax} - opts_.portMin + 1;
  for (uint32_t tries = 0; tries < span; ++tries) {
    const auto port = static_cast<uint16_t>(opts_.portMin + cursor_);
    cursor_ = (cursor_ + 1) % span;
    auto addr = common::SockAddr::fromIp(opts_.interface, port);
    if (!addr)
      return Unexpected(refuse(TcpRelayErrorCode::NoPorts, "tcp_relay interface is not an IP address"));
    common::Fd fd(socket(addr->isV6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
      return Unexpected(refuse(TcpRelayErrorCode::NoPorts, fmt::format("socket: {}", std::strerror(errno))));
    }
    const int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd.get(), addr->sa(), addr->len()) != 0) {
      if (errno == EADDRINUSE) continue;
      return Unexpected(
          refuse(TcpRelayErrorCode::NoPorts, fmt::format("bind {}: {}", addr->str(), std::strerror(errno))));
    }
    // A small backlog: one peer is expected; others are accepted only to be refused with an RST.
    if (listen(fd.get(), 8) != 0) continue;
    local = *addr;
    return fd;
  }
  return Unexpected(refuse(TcpRelayErrorCode::NoPorts, "no free port in the TCP relay range"));
}

// Ended pairs stay queryable for keepEndedNs, then go.
void TcpRelay::prune() {
  const uint64_t now = nowNs();
  std::erase_if(pairs_, [&](const auto& kv) {
    const TcpPairStatus& st = *kv.second;
    return terminal(st.state.load(std::memory_order_acquire)) && now - st.endedNs.get() >= opts_.keepEndedNs;
  });
}

std::shared_ptr<const TcpPairStatus> TcpRelay::find(uint64_t id) {
  prune();
  auto it = pairs_.find(id);
  return it == pairs_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const TcpPairStatus>> TcpRelay::list() {
  prune();
  std::vector<std::shared_ptr<const TcpPairStatus>> out;
  out.reserve(pairs_.size());
  for (const auto& [id, st] : pairs_) out.push_back(st);
  return out;
}

bool TcpRelay::remove(uint64_t id) {
  auto it = pairs_.find(id);
  if (it == pairs_.end()) return false;
  const bool open = !terminal(it->second->state.load(std::memory_order_acquire));
  pairs_.erase(it);
  if (open) splicer_.remove(id);
  return true;
}

bool TcpRelay::restrict(uint64_t id, uint8_t side, const common::SockAddr& source) {
  auto it = pairs_.find(id);
  if (it == pairs_.end() || side > 1 || terminal(it->second->state.load(std::memory_order_acquire))) return false;
  it->second->allowed[side] = source;
  splicer_.restrict(id, side, source);
  return true;
}

}  // namespace rdv::relay
