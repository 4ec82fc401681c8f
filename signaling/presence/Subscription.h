#pragma once
// One subscription (RFC 6665) as plain state: the dialog we hold with the watcher as its notifier,
// what it watches, whether the watcher may see it, and the NOTIFY pacing. No behaviour here but
// its packed text and the Subscription-State value; SubscriptionTable indexes these, the B2BUA sends the
// NOTIFYs.

#include <array>
#include <cstdint>
#include <memory_resource>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/sip/SipSender.h"

namespace rdv::presence {

enum class Package : uint8_t {
  Presence,     // "presence" (RFC 3856): the presentity's PIDF
  WatcherInfo,  // "presence.winfo" (RFC 3857): who watches the presentity
};

// Subscription-State values (RFC 6665 §8.2.3) as the watcher is told them.
enum class SubState : uint8_t {
  Active,   // authorized: NOTIFYs carry the state
  Pending,  // polite blocking: never authorized, never told the state
};

// The text a subscription keeps, one value per field.
enum class Field : uint8_t {
  Presentity,    // the watched user (for winfo: the user whose watchers are listed)
  Watcher,       // the watching user (From user part)
  EventId,       // the Event header's id parameter, echoed in NOTIFY
  CallId,        // the dialog (RFC 6665 §4.1.2.2), we being the notifier
  LocalTag,      // the To tag we gave
  RemoteTag,     // the watcher's From tag
  LocalId,       // the name-addr we present (the SUBSCRIBE's To without tag)
  RemoteId,      // the watcher's From without tag
  RemoteTarget,  // the watcher's Contact: Request-URI of our NOTIFYs
  Routes,        // Record-Route of the SUBSCRIBE, in order (RFC 3261 §12.1.1), one per line
};
inline constexpr size_t kFields = 10;

// A table holds up to presence.max_subscriptions of these for hours, so they are compact: all the
// text in one string (one allocation, from the allocator the subscription was made with: the
// table's own pool, see SubscriptionTable) with the end of each field, rather than ten strings and
// a vector (448 bytes and up to eight allocations before).
struct Subscription {
  using allocator_type = std::pmr::polymorphic_allocator<char>;
  // Longest text kept: a SUBSCRIBE is at most 64 KiB, but From appears twice (RemoteId, Watcher).
  static constexpr size_t kMaxText = UINT16_MAX;

  Subscription() = default;
  explicit Subscription(const allocator_type& alloc) : text_(alloc) {}
  Subscription(Subscription&&) = default;
  // Copies the text into this subscription's allocator when the two differ (pmr move rules).
  Subscription& operator=(Subscription&&) = default;

  std::string_view get(Field f) const {
    const size_t i = static_cast<size_t>(f);
    const size_t from = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(text_).substr(from, ends_[i] - from);
  }
  // Replaces a field. False (and the field left as it was) when the text would pass kMaxText.
  bool set(Field f, std::string_view value);
  // The route set, one Route value each.
  void setRoutes(std::span<const std::string_view> routes);
  std::vector<std::string_view> routes() const;

  std::string_view presentity() const { return get(Field::Presentity); }
  std::string_view watcher() const { return get(Field::Watcher); }
  std::string_view eventId() const { return get(Field::EventId); }
  std::string_view callId() const { return get(Field::CallId); }
  std::string_view localTag() const { return get(Field::LocalTag); }
  std::string_view remoteTag() const { return get(Field::RemoteTag); }
  std::string_view localId() const { return get(Field::LocalId); }
  std::string_view remoteId() const { return get(Field::RemoteId); }
  std::string_view remoteTarget() const { return get(Field::RemoteTarget); }
  // False once a set()/setRoutes() was refused for length: the subscription must not be kept.
  bool complete() const { return complete_; }

  uint64_t id = 0;
  uint64_t expiresAtMs = 0;
  uint64_t lastNotifyMs = 0;
  sip::SipPeer peer;  // where NOTIFYs go: the watcher's registered flow, else the SUBSCRIBE's source
  uint32_t localCseq = 0;
  uint32_t remoteCseq = 0;
  uint32_t version = 0;  // watcher info document version (RFC 3857 §5), the next one to send
  Package package = Package::Presence;
  SubState state = SubState::Active;
  // NOTIFY pacing: one at a time, at most one per min interval; `dirty` while the watcher has not
  // been told the latest state.
  bool dirty = false;
  bool inFlight = false;

 private:
  bool complete_ = true;
  std::array<uint16_t, kFields> ends_{};
  std::pmr::string text_;
};

// "active;expires=N", "pending;expires=N" (seconds left, rounded up) for a live subscription.
std::string subscriptionState(const Subscription& s, uint64_t nowMs);

std::string_view packageName(Package p);

}  // namespace rdv::presence
