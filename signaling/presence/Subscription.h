#pragma once
// One subscription (RFC 6665) as plain state: the dialog we hold with the watcher as its notifier,
// what it watches, whether the watcher may see it, and the NOTIFY pacing. No behaviour here but
// the Subscription-State value; SubscriptionTable indexes these, the B2BUA sends the NOTIFYs.

#include <cstdint>
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

struct Subscription {
  uint64_t id = 0;
  Package package = Package::Presence;
  std::string presentity;  // the watched user (for winfo: the user whose watchers are listed)
  std::string watcher;     // the watching user (From user part)
  std::string eventId;     // the Event header's id parameter, echoed in NOTIFY

  // The dialog (RFC 6665 §4.1.2.2), we being the notifier.
  std::string callId;
  std::string localTag;               // the To tag we gave
  std::string remoteTag;              // the watcher's From tag
  std::string localId;                // the name-addr we present (the SUBSCRIBE's To without tag)
  std::string remoteId;               // the watcher's From without tag
  std::string remoteTarget;           // the watcher's Contact: Request-URI of our NOTIFYs
  std::vector<std::string> routeSet;  // Record-Route of the SUBSCRIBE, in order (RFC 3261 §12.1.1)
  sip::SipPeer peer;  // where NOTIFYs go: the watcher's registered flow, else the SUBSCRIBE's source
  uint32_t localCseq = 0;
  uint32_t remoteCseq = 0;

  SubState state = SubState::Active;
  uint64_t expiresAtMs = 0;

  // NOTIFY pacing: one at a time, at most one per min interval; `dirty` while the watcher has not
  // been told the latest state.
  bool dirty = false;
  bool inFlight = false;
  uint64_t lastNotifyMs = 0;
  uint32_t version = 0;  // watcher info document version (RFC 3857 §5), the next one to send
};

// "active;expires=N", "pending;expires=N" (seconds left, rounded up) for a live subscription.
std::string subscriptionState(const Subscription& s, uint64_t nowMs);

std::string_view packageName(Package p);

}  // namespace rdv::presence
