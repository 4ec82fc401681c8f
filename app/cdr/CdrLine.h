#pragma once
// One call detail record as one line of JSON (JSON Lines): what the B2BUA knew of the call
// (b2bua::CallRecord: parties, times, why it ended) and what the relay measured on each leg
// (relay::SessionReport: packets, bytes, loss, jitter, RTT, MOS min/avg/max). Either half may be
// missing: a call the relay never anchored has no legs, a call driven over NG has no SIP half.

#include <string>
#include <string_view>

#include "relay/MediaSession.h"
#include "signaling/b2bua/CallRecord.h"

namespace rdv::cdr {

// `ngReason` names why an NG call ended ("ng_delete", "media_timeout") when `call` is null.
// Times are RFC 3339 UTC with milliseconds. No trailing newline.
std::string cdrLine(const b2bua::CallRecord* call, const relay::SessionReport* media, std::string_view ngReason = {});

}  // namespace rdv::cdr
