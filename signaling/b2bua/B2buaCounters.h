#pragma once
// What the B2BUA counts: written on the control thread by the call state machine and the
// REGISTER handler, read by the metrics collector from another thread (common::Counter).

#include <array>
#include <string_view>

#include "common/Counter.h"
#include "signaling/b2bua/CallRecord.h"

namespace rdv::b2bua {

// Why a SUBSCRIBE or PUBLISH was refused (or, for Rejected/Pending, a watcher was not authorized).
enum class PresenceRefusal : uint8_t {
  BadEvent,     // 489: not presence / presence.winfo
  TooBrief,     // 423
  Limit,        // 503 (table full) or 403 (too many per watcher / publications)
  NotFound,     // 404: no such user
  Forbidden,    // 403: publishing for another user, or credentials of another
  Rejected,     // SUBSCRIBE accepted, then NOTIFY terminated;reason=rejected (watcher not authorized)
  Pending,      // polite blocking: kept pending, never told the state
  Malformed,    // 400: bad PIDF, missing Contact, initial PUBLISH without body
  UnknownEtag,  // 412
  TooLarge,     // 413
  BadType,      // 415 / 406: not application/pidf+xml
};
inline constexpr size_t kPresenceRefusals = 11;
inline constexpr std::array<std::string_view, kPresenceRefusals> kPresenceRefusalNames{
    "bad_event", "too_brief", "limit",        "not_found", "forbidden", "rejected",
    "pending",   "malformed", "unknown_etag", "too_large", "bad_type"};

struct B2buaCounters {
  common::Counter registrations;   // successful REGISTERs
  common::Counter authChallenges;  // 401/407 sent
  common::Counter callsTotal;      // INVITEs accepted for routing
  common::Counter callsAnswered;
  common::Counter callsFailed;    // final non-2xx from the callee, timeouts
  common::Counter callsRejected;  // 503 by admission control
  common::Counter callsActive;
  common::Counter mediaTimeouts;
  common::Counter conferenceInvites;   // INVITEs to a conference URI past authentication and admission
  common::Counter conferenceJoins;     // of those, answered 200: the participant is in a room
  common::Counter conferenceRejected;  // of those, refused (bad room, no common codec, the service said no)
  common::Counter sessionExpired;      // RFC 4028: no refresh before the session interval ran out
  common::Counter messagesRelayed;     // out-of-dialog MESSAGEs answered 2xx by a contact
  common::Counter messagesStored;      // kept for a user without a reachable contact (202)
  common::Counter messagesDelivered;   // stored ones a contact took (2xx) after a REGISTER
  common::Counter messagesRefused;     // 413, or a full store (480/507), or every contact failed
  common::Counter presenceSubscriptions;  // gauge: live presence and presence.winfo subscriptions
  common::Counter presencePublications;   // gauge: live PUBLISHed documents
  common::Counter notifySent;             // NOTIFYs sent (initial, changes, refreshes, final)
  common::Counter notifyFailed;           // of those, answered non-2xx, timed out or unreachable
  std::array<common::Counter, kPresenceRefusals> subscribeRefused;  // by PresenceRefusal
  std::array<common::Counter, kPresenceRefusals> publishRefused;
  std::array<common::Counter, kEndReasons> ended;  // calls that ended, by EndReason
};

}  // namespace rdv::b2bua
