#include "relay/turn/TcpConnectionTable.h"

#include <algorithm>

namespace rdv::turn {

Expected<uint32_t, uint16_t> TcpConnectionTable::connect(uint32_t allocationId, const common::SockAddr& peer,
                                                         const stun::TransactionId& tid, uint64_t nowMs) {
  const bool exists = std::any_of(byId_.begin(), byId_.end(), [&](const auto& e) {
    return e.second.allocationId == allocationId && e.second.peer == peer;
  });
  if (exists) return Unexpected(uint16_t{446});
  return add(allocationId, peer, TcpConnState::Connecting, tid, nowMs);
}

Expected<uint32_t, uint16_t> TcpConnectionTable::accepted(uint32_t allocationId, const common::SockAddr& peer,
                                                          uint64_t nowMs) {
  return add(allocationId, peer, TcpConnState::AwaitingBind, stun::TransactionId{}, nowMs);
}

Expected<uint32_t, uint16_t> TcpConnectionTable::add(uint32_t allocationId, const common::SockAddr& peer,
                                                     TcpConnState state, const stun::TransactionId& tid,
                                                     uint64_t nowMs) {
  auto& mine = perAllocation_[allocationId];
  if (byId_.size() >= limits_.total || mine >= limits_.perAllocation) {
    if (mine == 0) perAllocation_.erase(allocationId);
    return Unexpected(uint16_t{486});
  }
  uint32_t id = nextId_;
  while (id == 0 || byId_.contains(id)) ++id;  // bounded: fewer than 2^32 entries
  nextId_ = id + 1;
  ++mine;
  byId_.emplace(id, TcpConnection{id, allocationId, peer, state, nowMs + kTimeoutMs, tid});
  return id;
}

bool TcpConnectionTable::connected(uint32_t id, uint64_t nowMs) {
  auto it = byId_.find(id);
  if (it == byId_.end() || it->second.state != TcpConnState::Connecting) return false;
  it->second.state = TcpConnState::AwaitingBind;
  it->second.deadlineMs = nowMs + kTimeoutMs;
  return true;
}

uint32_t TcpConnectionTable::awaitingBind(uint32_t id, uint64_t nowMs) const {
  auto it = byId_.find(id);
  if (it == byId_.end() || it->second.state != TcpConnState::AwaitingBind || it->second.deadlineMs <= nowMs) return 0;
  return it->second.allocationId;
}

bool TcpConnectionTable::bind(uint32_t id, uint64_t nowMs) {
  if (awaitingBind(id, nowMs) == 0) return false;
  byId_.at(id).state = TcpConnState::Bound;
  return true;
}

std::vector<uint32_t> TcpConnectionTable::expired(uint64_t nowMs) const {
  std::vector<uint32_t> out;
  for (const auto& [id, c] : byId_) {
    if (c.state != TcpConnState::Bound && c.deadlineMs <= nowMs) out.push_back(id);
  }
  return out;
}

std::vector<uint32_t> TcpConnectionTable::ofAllocation(uint32_t allocationId) const {
  std::vector<uint32_t> out;
  for (const auto& [id, c] : byId_) {
    if (c.allocationId == allocationId) out.push_back(id);
  }
  return out;
}

const TcpConnection* TcpConnectionTable::find(uint32_t id) const {
  auto it = byId_.find(id);
  return it == byId_.end() ? nullptr : &it->second;
}

void TcpConnectionTable::remove(uint32_t id) {
  auto it = byId_.find(id);
  if (it == byId_.end()) return;
  auto per = perAllocation_.find(it->second.allocationId);
  if (per != perAllocation_.end() && --per->second == 0) perAllocation_.erase(per);
  byId_.erase(it);
}

}  // namespace rdv::turn
