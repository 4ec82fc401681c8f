#include "relay/turn/TurnTcpRelay.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace rdv::turn {

namespace {
common::Fd streamSocket(const common::SockAddr& address) {
  common::Fd fd(::socket(address.isV6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int one = 1;
  // The outgoing connections of Connect leave from the relayed address (RFC 6062 §5.2), the
  // port its listener holds: both need SO_REUSEADDR and SO_REUSEPORT.
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  return fd;
}
}  // namespace

TurnTcpRelay::~TurnTcpRelay() = default;

bool TurnTcpRelay::listen(uint32_t allocationId, const common::SockAddr& address) {
  // SO_REUSEPORT would let a second listener join the first: a port is one allocation's.
  for (const auto& [id, l] : listeners_) {
    if (l.address == address) return false;
  }
  common::Fd fd = streamSocket(address);
  if (!fd.valid() || ::bind(fd.get(), address.sa(), address.len()) != 0 || ::listen(fd.get(), 64) != 0) return false;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag(kListener, allocationId);
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd.get(), &ev);
  listeners_[allocationId] = Listener{std::move(fd), address};
  if (bytesPerSecond_ != 0) {  // as AllocationTable does for UDP: a quarter second of burst, at least 64 KiB
    bandwidth_.insert_or_assign(allocationId,
                                TokenBucket(bytesPerSecond_, std::max<uint64_t>(bytesPerSecond_ / 4, 65536 + 4), nowMs_));
  }
  return true;
}

void TurnTcpRelay::closeAllocation(uint32_t allocationId) {
  for (uint32_t id : table_.ofAllocation(allocationId)) drop(id);
  listeners_.erase(allocationId);  // closing the descriptor removes it from epoll
  bandwidth_.erase(allocationId);  // after its pairs, which point at it
}

uint16_t TurnTcpRelay::connect(uint32_t allocationId, const common::SockAddr& peer, const stun::TransactionId& tid,
                               uint64_t nowMs) {
  auto listener = listeners_.find(allocationId);
  if (listener == listeners_.end()) return 400;  // not a TCP allocation
  auto id = table_.connect(allocationId, peer, tid, nowMs);
  if (!id) return id.error();
  common::Fd fd = streamSocket(peer);
  const auto& from = listener->second.address;
  if (!fd.valid() || (::bind(fd.get(), from.sa(), from.len()) != 0 && errno != EADDRINUSE) ||
      (::connect(fd.get(), peer.sa(), peer.len()) != 0 && errno != EINPROGRESS)) {
    table_.remove(*id);
    return 447;
  }
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = tag(kPeer, *id);
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd.get(), &ev);
  conns_[*id].peer = std::move(fd);
  counters_.tcpConnections.set(table_.size());
  return 0;
}

void TurnTcpRelay::onEvent(uint64_t t, uint32_t events) {
  const auto kind = static_cast<Kind>((t >> 32) & 0xFF);
  const auto n = static_cast<uint32_t>(t);
  if (kind == kListener) {
    accept(n);
    return;
  }
  const TcpConnection* c = table_.find(n);
  if (c == nullptr) return;
  if (c->state == TcpConnState::Connecting) {
    onConnectProgress(n);
  } else if (c->state == TcpConnState::Bound) {
    auto it = conns_.find(n);
    if (it != conns_.end() && it->second.splice) settle(n, it->second.splice->onEvent(kind == kPeer, events, nowMs_));
  }
}

void TurnTcpRelay::accept(uint32_t allocationId) {
  auto it = listeners_.find(allocationId);
  if (it == listeners_.end()) return;
  for (int i = 0; i < 16; ++i) {  // bounded per wake-up; the listener is level-triggered
    common::SockAddr peer;
    socklen_t len = common::SockAddr::kStorage;
    common::Fd fd(::accept4(it->second.fd.get(), peer.storage(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) return;
    auto id = table_.accepted(allocationId, peer, nowMs_);
    if (!id) {
      counters_.refuse(Refusal::Quota);
      continue;  // closed by Fd
    }
    counters_.tcpConnections.set(table_.size());  // before the ConnectionAttempt leaves
    if (!events_.onPeerArrived(allocationId, peer, *id)) {
      table_.remove(*id);
      counters_.tcpConnections.set(table_.size());
      counters_.refuse(Refusal::NoPermission);
      continue;
    }
    // Not watched until bound: the peer's bytes wait in the kernel (RFC 6062 §5.3).
    conns_[*id].peer = std::move(fd);
  }
}

void TurnTcpRelay::onConnectProgress(uint32_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  int error = 0;
  socklen_t len = sizeof(error);
  ::getsockopt(it->second.peer.get(), SOL_SOCKET, SO_ERROR, &error, &len);
  const TcpConnection c = *table_.find(id);
  if (error != 0) {
    events_.onConnectDone(c, false);
    drop(id);
    return;
  }
  // Connected: stop watching until the ConnectionBind joins it to a data connection.
  ::epoll_ctl(epoll_, EPOLL_CTL_DEL, it->second.peer.get(), nullptr);
  table_.connected(id, nowMs_);
  events_.onConnectDone(*table_.find(id), true);
}

void TurnTcpRelay::attach(uint32_t connectionId, common::Fd data, std::span<const std::byte> early) {
  auto it = conns_.find(connectionId);
  const TcpConnection* c = table_.find(connectionId);
  if (it == conns_.end() || c == nullptr || c->state != TcpConnState::Bound || !it->second.peer.valid()) return;
  const int one = 1;
  ::setsockopt(data.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto bucket = bandwidth_.find(c->allocationId);
  auto pair = std::make_unique<TcpSplicePair>(std::move(data), std::move(it->second.peer),
                                              bucket == bandwidth_.end() ? nullptr : &bucket->second);
  if (!pair->ok() || !pair->preload(early)) {
    drop(connectionId);
    return;
  }
  for (auto [fd, kind] : {std::pair{pair->clientFd(), kData}, std::pair{pair->peerFd(), kPeer}}) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = tag(kind, connectionId);
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }
  it->second.splice = std::move(pair);
  settle(connectionId, it->second.splice->pump(nowMs_));
}

void TurnTcpRelay::settle(uint32_t id, bool open) {
  Conn& conn = conns_.find(id)->second;
  counters_.toPeerBytes.add(conn.splice->toPeerBytes() - conn.countedToPeer);
  counters_.toClientBytes.add(conn.splice->toClientBytes() - conn.countedToClient);
  conn.countedToPeer = conn.splice->toPeerBytes();
  conn.countedToClient = conn.splice->toClientBytes();
  if (!open) {
    drop(id);
    return;
  }
  if (conn.splice->needsMore()) {
    pending_.insert(id);
  } else {
    pending_.erase(id);
  }
  if (conn.splice->throttled()) {
    throttled_.insert(id);
  } else {
    throttled_.erase(id);
  }
}

void TurnTcpRelay::runPending() {
  scratch_.assign(pending_.begin(), pending_.end());  // settle() edits pending_; the vector keeps its capacity
  for (uint32_t id : scratch_) {
    auto it = conns_.find(id);
    if (it != conns_.end() && it->second.splice) settle(id, it->second.splice->resume(nowMs_));
  }
}

void TurnTcpRelay::resumeThrottled() {
  scratch_.assign(throttled_.begin(), throttled_.end());
  for (uint32_t id : scratch_) {
    auto it = conns_.find(id);
    if (it != conns_.end() && it->second.splice) settle(id, it->second.splice->resume(nowMs_));
  }
}

void TurnTcpRelay::expire(uint64_t nowMs) {
  for (uint32_t id : table_.expired(nowMs)) {
    const TcpConnection c = *table_.find(id);
    if (c.state == TcpConnState::Connecting) events_.onConnectDone(c, false);
    drop(id);
  }
}

void TurnTcpRelay::drop(uint32_t id) {
  pending_.erase(id);
  throttled_.erase(id);
  table_.remove(id);
  counters_.tcpConnections.set(table_.size());  // before the peer can see the close
  conns_.erase(id);  // closes the sockets, which leaves epoll
}

}  // namespace rdv::turn
