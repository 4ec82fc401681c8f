#include "signaling/presence/SubscriptionTable.h"

#include <algorithm>
#include <functional>
#include <limits>

#include <fmt/format.h>

namespace rdv::presence {

std::string subscriptionState(const Subscription& s, uint64_t nowMs) {
  const uint64_t left = s.expiresAtMs > nowMs ? (s.expiresAtMs - nowMs + 999) / 1000 : 0;
  return fmt::format("{};expires={}", s.state == SubState::Active ? "active" : "pending", left);
}

std::string_view packageName(Package p) {
  return p == Package::Presence ? "presence" : "presence.winfo";
}

SubscriptionTable::SubscriptionTable(size_t maxTotal, size_t maxPerWatcher, uint64_t minIntervalMs)
    : maxTotal_(maxTotal), maxPerWatcher_(maxPerWatcher), minIntervalMs_(minIntervalMs) {}

void SubscriptionTable::setLimits(size_t maxTotal, size_t maxPerWatcher, uint64_t minIntervalMs) {
  maxTotal_ = maxTotal;
  maxPerWatcher_ = maxPerWatcher;
  if (minIntervalMs == minIntervalMs_) return;
  minIntervalMs_ = minIntervalMs;
  Instants rekeyed(&pool_);
  for (const auto& [at, id] : ready_) rekeyed.emplace(readyAt(byId_.at(id)), id);
  ready_.swap(rekeyed);
}

uint64_t SubscriptionTable::dialogKey(std::string_view callId, std::string_view localTag) {
  const uint64_t a = std::hash<std::string_view>{}(callId);
  const uint64_t b = std::hash<std::string_view>{}(localTag);
  return a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
}

std::string SubscriptionTable::presentityKey(std::string_view presentity, Package package) {
  return fmt::format("{}\n{}", presentity, static_cast<int>(package));
}

Expected<Subscription*, AddError> SubscriptionTable::add(Subscription&& s) {
  if (byId_.size() >= maxTotal_) return Unexpected(AddError::TableFull);
  auto w = perWatcher_.find(s.watcher());
  if (w == perWatcher_.end()) {
    if (maxPerWatcher_ == 0) return Unexpected(AddError::WatcherFull);
    w = perWatcher_.emplace(s.watcher(), 0).first;
  }
  if (w->second >= maxPerWatcher_) return Unexpected(AddError::WatcherFull);
  ++w->second;
  s.id = nextId_++;
  s.dirty = false;
  s.inFlight = false;
  s.lastNotifyMs = 0;
  const uint64_t id = s.id;
  // Built with the pool's allocator, then assigned: the text is copied into the pool.
  Subscription& sub = byId_.try_emplace(id).first->second;
  sub = std::move(s);
  byDialog_.emplace(dialogKey(sub.callId(), sub.localTag()), id);
  const std::string key = presentityKey(sub.presentity(), sub.package);
  auto list = byPresentity_.find(std::string_view(key));
  if (list == byPresentity_.end()) list = byPresentity_.emplace(key, std::pmr::vector<uint64_t>()).first;
  list->second.push_back(id);
  expiries_.emplace(sub.expiresAtMs, id);
  markDirty(sub);
  return &sub;
}

Subscription* SubscriptionTable::find(std::string_view callId, std::string_view localTag) {
  auto [first, last] = byDialog_.equal_range(dialogKey(callId, localTag));
  for (auto it = first; it != last; ++it) {
    Subscription& s = byId_.at(it->second);
    if (s.callId() == callId && s.localTag() == localTag) return &s;
  }
  return nullptr;
}

Subscription* SubscriptionTable::get(uint64_t id) {
  auto it = byId_.find(id);
  return it == byId_.end() ? nullptr : &it->second;
}

void SubscriptionTable::remove(uint64_t id) {
  auto it = byId_.find(id);
  if (it == byId_.end()) return;
  Subscription& s = it->second;
  auto [first, last] = byDialog_.equal_range(dialogKey(s.callId(), s.localTag()));
  for (auto d = first; d != last; ++d) {
    if (d->second == id) {
      byDialog_.erase(d);
      break;
    }
  }
  auto list = byPresentity_.find(std::string_view(presentityKey(s.presentity(), s.package)));
  if (list != byPresentity_.end()) {
    std::erase(list->second, id);
    if (list->second.empty()) byPresentity_.erase(list);
  }
  if (auto w = perWatcher_.find(s.watcher()); w != perWatcher_.end() && --w->second == 0)
    perWatcher_.erase(w);
  expiries_.erase({s.expiresAtMs, id});
  if (s.dirty && !s.inFlight) ready_.erase({readyAt(s), id});
  byId_.erase(it);
}

void SubscriptionTable::setExpiry(Subscription& s, uint64_t expiresAtMs) {
  expiries_.erase({s.expiresAtMs, s.id});
  s.expiresAtMs = expiresAtMs;
  expiries_.emplace(expiresAtMs, s.id);
}

std::vector<uint64_t> SubscriptionTable::watchersOf(std::string_view presentity, Package package) const {
  auto it = byPresentity_.find(std::string_view(presentityKey(presentity, package)));
  return it == byPresentity_.end() ? std::vector<uint64_t>()
                                   : std::vector<uint64_t>(it->second.begin(), it->second.end());
}

void SubscriptionTable::markChanged(std::string_view presentity, Package package) {
  auto it = byPresentity_.find(std::string_view(presentityKey(presentity, package)));
  if (it == byPresentity_.end()) return;
  for (uint64_t id : it->second) {
    Subscription& s = byId_.at(id);
    if (s.state == SubState::Active) markDirty(s);
  }
}

void SubscriptionTable::markDirty(Subscription& s) {
  if (s.dirty) return;
  s.dirty = true;
  if (!s.inFlight) ready_.emplace(readyAt(s), s.id);
}

std::vector<uint64_t> SubscriptionTable::due(uint64_t nowMs) const {
  std::vector<uint64_t> out;
  for (auto it = ready_.begin(); it != ready_.end() && it->first <= nowMs; ++it) out.push_back(it->second);
  return out;
}

void SubscriptionTable::noteSent(Subscription& s, uint64_t nowMs) {
  if (s.dirty && !s.inFlight) ready_.erase({readyAt(s), s.id});
  s.dirty = false;
  s.inFlight = true;
  s.lastNotifyMs = nowMs;
}

void SubscriptionTable::noteAnswered(Subscription& s) {
  if (!s.inFlight) return;
  s.inFlight = false;
  if (s.dirty) ready_.emplace(readyAt(s), s.id);
}

std::vector<uint64_t> SubscriptionTable::expired(uint64_t nowMs) const {
  std::vector<uint64_t> out;
  for (auto it = expiries_.begin(); it != expiries_.end() && it->first <= nowMs; ++it)
    out.push_back(it->second);
  return out;
}

uint64_t SubscriptionTable::nextDeadline() const {
  uint64_t next = expiries_.empty() ? std::numeric_limits<uint64_t>::max() : expiries_.begin()->first;
  if (!ready_.empty()) next = std::min(next, ready_.begin()->first);
  return next;
}

size_t SubscriptionTable::countOf(std::string_view watcher) const {
  auto it = perWatcher_.find(watcher);
  return it == perWatcher_.end() ? 0 : it->second;
}

}  // namespace rdv::presence
