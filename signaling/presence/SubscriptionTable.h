#pragma once
// The subscriptions a presence agent holds (RFC 6665 notifier side), bounded in all and per
// watcher, indexed by dialog, by presentity and by expiry. Pure state: every function that depends
// on time takes the clock's instant, so the state machine is tested without sockets.
//
// NOTIFY pacing (flap coalescing): markChanged() makes the presentity's subscriptions dirty;
// due() lists those that may be told now: dirty, no NOTIFY of theirs in flight, and the last one
// at least minIntervalMs ago. Whatever changed in between is sent once, as the state at send time.
//
// Memory: everything the table keeps (subscriptions with their text, the indexes' nodes) comes from
// its own pool (std::pmr), not from the heap the SIP transactions churn through. Long-lived
// subscriptions then never pin pages that short-lived messages filled around them (what made the
// first 50,000 of a 5,000/s set-up cost twice the RSS of the next 50,000). The pool keeps what it
// got for reuse: it is bounded by the most subscriptions ever held at once (presence.max_subscriptions).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory_resource>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/Expected.h"
#include "signaling/presence/Subscription.h"

namespace rdv::presence {

enum class AddError : uint8_t {
  TableFull,    // max subscriptions in all: 503
  WatcherFull,  // max per watcher: 403
};

class SubscriptionTable {
 public:
  SubscriptionTable(size_t maxTotal, size_t maxPerWatcher, uint64_t minIntervalMs);

  // Takes `s` (its id is assigned here); the reference lives until remove(). A new subscription is
  // dirty: its first NOTIFY is due at once (RFC 6665 §4.2.1.2).
  [[nodiscard]] Expected<Subscription*, AddError> add(Subscription&& s);
  Subscription* find(std::string_view callId, std::string_view localTag);
  Subscription* get(uint64_t id);
  void remove(uint64_t id);
  // Moves the expiry of a live subscription (a refreshing SUBSCRIBE).
  void setExpiry(Subscription& s, uint64_t expiresAtMs);

  // Subscriptions to `presentity` for `package`.
  std::vector<uint64_t> watchersOf(std::string_view presentity, Package package) const;
  // Marks every active subscription to `presentity` for `package` dirty (a pending one is never
  // told of changes: polite blocking must not leak them through NOTIFY timing).
  void markChanged(std::string_view presentity, Package package);
  void markDirty(Subscription& s);
  // Dirty subscriptions that may get their NOTIFY at `nowMs`, soonest ready first.
  std::vector<uint64_t> due(uint64_t nowMs) const;
  // A NOTIFY to `s` went out at `nowMs` carrying the current state.
  void noteSent(Subscription& s, uint64_t nowMs);
  // Its NOTIFY transaction ended (any outcome): the next one may follow.
  void noteAnswered(Subscription& s);
  // Subscriptions whose expiry is at or before `nowMs`.
  std::vector<uint64_t> expired(uint64_t nowMs) const;
  // The earliest instant at which due() or expired() may return more (UINT64_MAX when never).
  uint64_t nextDeadline() const;

  size_t size() const { return byId_.size(); }
  size_t countOf(std::string_view watcher) const;
  uint64_t minIntervalMs() const { return minIntervalMs_; }
  void setLimits(size_t maxTotal, size_t maxPerWatcher, uint64_t minIntervalMs);

 private:
  // The dialog index holds a hash of Call-ID and our tag (no copies of them); find() compares.
  static uint64_t dialogKey(std::string_view callId, std::string_view localTag);
  static std::string presentityKey(std::string_view presentity, Package package);
  // When `s` (dirty, no NOTIFY in flight) may be told: at once after a first NOTIFY, else one
  // interval after the last.
  uint64_t readyAt(const Subscription& s) const {
    return s.lastNotifyMs == 0 ? 0 : s.lastNotifyMs + minIntervalMs_;
  }

  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class V>
  using TextMap = std::pmr::unordered_map<std::pmr::string, V, TextHash, std::equal_to<>>;
  using Instants = std::pmr::set<std::pair<uint64_t, uint64_t>>;  // (instant, id)

  size_t maxTotal_;
  size_t maxPerWatcher_;
  uint64_t minIntervalMs_;
  uint64_t nextId_ = 1;
  std::pmr::unsynchronized_pool_resource pool_;  // before the containers: they return to it
  std::pmr::unordered_map<uint64_t, Subscription> byId_{&pool_};
  std::pmr::unordered_multimap<uint64_t, uint64_t> byDialog_{&pool_};
  TextMap<std::pmr::vector<uint64_t>> byPresentity_{&pool_};
  TextMap<size_t> perWatcher_{&pool_};
  Instants expiries_{&pool_};  // (expiresAtMs, id)
  // Dirty subscriptions without a NOTIFY in flight, by readyAt(): due() and nextDeadline() stay
  // O(log n) however many wait out their interval (a flapping user with many watchers).
  Instants ready_{&pool_};
};

}  // namespace rdv::presence
