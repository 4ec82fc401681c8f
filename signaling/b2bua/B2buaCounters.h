#pragma once
// What the B2BUA counts: written on the control thread by the call state machine and the
// REGISTER handler, read by the metrics collector from another thread (common::Counter).

#include <array>

#include "common/Counter.h"
#include "signaling/b2bua/CallRecord.h"

namespace rdv::b2bua {

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
  std::array<common::Counter, kEndReasons> ended;  // calls that ended, by EndReason
};

}  // namespace rdv::b2bua
