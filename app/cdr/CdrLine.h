#pragma once
// One call detail record as one line of JSON (JSON Lines): what the B2BUA knew of the call
// (b2bua::CallRecord: parties, times, why it ended) and what the relay measured on each leg
// (relay::SessionReport: packets, bytes, loss, jitter, RTT, MOS min/avg/max). Either half may be
// missing: a call the relay never anchored has no legs, a call driven over NG has no SIP half.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "relay/MediaSession.h"
#include "signaling/b2bua/CallRecord.h"

namespace rdv::cdr {

// One leg of a relay report as JSON (stream, side, codec, packets, bytes, loss, jitter, RTT, MOS
// min/avg/max, latched address): what call records and the operator API show per leg.
nlohmann::json legJson(const relay::LegReport& leg, size_t stream, int side);

// Milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds.
std::string rfc3339(uint64_t unixMs);

// `ngReason` names why an NG call ended ("ng_delete", "media_timeout") when `call` is null.
// Times are RFC 3339 UTC with milliseconds. No trailing newline.
std::string cdrLine(const b2bua::CallRecord* call, const relay::SessionReport* media, std::string_view ngReason = {});

}  // namespace rdv::cdr
