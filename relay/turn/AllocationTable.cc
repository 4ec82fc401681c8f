#include "relay/turn/AllocationTable.h"

#include <algorithm>

#include "relay/stun/ChannelData.h"

namespace rdv::turn {

size_t FiveTupleHash::operator()(const FiveTuple& t) const {
  // The client address is what differs between allocations on one listening socket.
  const auto* sa = t.client.sa();
  size_t h = t.client.port() * 0x9E3779B1u + t.transport;
  if (t.client.isV6()) {
    const auto* b = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
    for (size_t i = 0; i < 16; ++i) h = h * 131 + b[i];
  } else {
    h = h * 131 + reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr;
  }
  return h;
}

uint16_t AllocationTable::admit(const FiveTuple& tuple, std::string_view username) const {
  if (byTuple_.contains(tuple)) return 437;
  if (byId_.size() >= limits_.total || countFor(username) >= limits_.perUser) return 486;
  return 0;
}

size_t AllocationTable::countFor(std::string_view username) const {
  return static_cast<size_t>(
      std::count_if(byId_.begin(), byId_.end(), [&](const auto& e) { return e.second->username == username; }));
}

uint32_t AllocationTable::lifetimeFor(std::optional<uint32_t> requested) const {
  if (!requested) return limits_.defaultLifetimeS;
  return std::min(*requested, limits_.maxLifetimeS);
}

Allocation* AllocationTable::create(const FiveTuple& tuple, std::string_view username, const stun::Md5Key& key,
                                    const common::SockAddr& relayed, uint32_t lifetimeS, uint64_t nowMs) {
  auto a = std::make_unique<Allocation>();
  a->id = nextId_++;
  a->tuple = tuple;
  a->username = std::string(username);
  a->key = key;
  a->relayed = relayed;
  a->expiresMs = nowMs + uint64_t{lifetimeS} * 1000;
  // A quarter second of the rate may come at once, and never less than one large datagram.
  const uint64_t rate = limits_.maxBytesPerSecond;
  a->bandwidth = TokenBucket(rate, std::max<uint64_t>(rate / 4, 65536 + 4), nowMs);
  auto* raw = a.get();
  byTuple_[tuple] = raw->id;
  byId_.emplace(raw->id, std::move(a));
  return raw;
}

Allocation* AllocationTable::find(const FiveTuple& tuple) {
  auto it = byTuple_.find(tuple);
  return it == byTuple_.end() ? nullptr : byId(it->second);
}

Allocation* AllocationTable::byId(uint32_t id) {
  auto it = byId_.find(id);
  return it == byId_.end() ? nullptr : it->second.get();
}

bool AllocationTable::refresh(Allocation& a, uint32_t lifetimeS, uint64_t nowMs) {
  if (lifetimeS == 0) {
    remove(a.id);
    return true;
  }
  a.expiresMs = nowMs + uint64_t{lifetimeS} * 1000;
  return false;
}

void AllocationTable::remove(uint32_t id) {
  auto it = byId_.find(id);
  if (it == byId_.end()) return;
  byTuple_.erase(it->second->tuple);
  byId_.erase(it);
}

void AllocationTable::permit(Allocation& a, const common::SockAddr& peer, uint64_t nowMs) {
  const uint64_t until = nowMs + uint64_t{limits_.permissionLifetimeS} * 1000;
  for (auto& p : a.permissions) {
    if (p.peer.sameIp(peer)) {
      p.expiresMs = until;
      return;
    }
  }
  a.permissions.push_back({peer, until});
}

bool AllocationTable::permitted(const Allocation& a, const common::SockAddr& peer, uint64_t nowMs) const {
  return std::any_of(a.permissions.begin(), a.permissions.end(),
                     [&](const Permission& p) { return p.expiresMs > nowMs && p.peer.sameIp(peer); });
}

uint16_t AllocationTable::bindChannel(Allocation& a, uint16_t number, const common::SockAddr& peer, uint64_t nowMs) {
  if (number < stun::kMinChannel || number > stun::kMaxChannel) return 400;
  ChannelBinding* existing = nullptr;
  for (auto& c : a.channels) {
    if (c.expiresMs <= nowMs) continue;
    if (c.number == number && !(c.peer == peer)) return 400;
    if (c.peer == peer && c.number != number) return 400;
    if (c.number == number) existing = &c;
  }
  const uint64_t until = nowMs + uint64_t{limits_.channelLifetimeS} * 1000;
  if (existing != nullptr) {
    existing->expiresMs = until;
  } else {
    std::erase_if(a.channels, [&](const ChannelBinding& c) { return c.number == number || c.peer == peer; });
    a.channels.push_back({number, peer, until});
  }
  permit(a, peer, nowMs);
  return 0;
}

const ChannelBinding* AllocationTable::channel(const Allocation& a, uint16_t number, uint64_t nowMs) const {
  for (const auto& c : a.channels) {
    if (c.number == number && c.expiresMs > nowMs) return &c;
  }
  return nullptr;
}

const ChannelBinding* AllocationTable::channelFor(const Allocation& a, const common::SockAddr& peer,
                                                  uint64_t nowMs) const {
  for (const auto& c : a.channels) {
    if (c.peer == peer && c.expiresMs > nowMs) return &c;
  }
  return nullptr;
}

void AllocationTable::expire(uint64_t nowMs, const std::function<void(const Allocation&)>& onRemoved) {
  for (auto it = byId_.begin(); it != byId_.end();) {
    Allocation& a = *it->second;
    if (a.expiresMs <= nowMs) {
      onRemoved(a);
      byTuple_.erase(a.tuple);
      it = byId_.erase(it);
      continue;
    }
    std::erase_if(a.permissions, [&](const Permission& p) { return p.expiresMs <= nowMs; });
    std::erase_if(a.channels, [&](const ChannelBinding& c) { return c.expiresMs <= nowMs; });
    ++it;
  }
}

}  // namespace rdv::turn
