#pragma once
// Internal to signaling/sip: the checks of the header values SipMessage::parse interprets
// (RFC 3261 §25.1 grammar: SIP-Version, Request-URI, Call-ID, CSeq, From/To tags, Via lists,
// address lists). Reasons as listed at the top of SipMessage.cc.

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/Expected.h"
#include "signaling/sip/SipError.h"
#include "signaling/sip/SipHeaderNames.h"

namespace rdv::sip::detail {

// "<what> <header> header": "Malformed Via header", "Duplicate CSeq header", ...
SipError headerError(std::string_view what, std::string_view header);

// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT. 0: SIP/2.0, 505: another version, 400: malformed.
int checkVersion(std::string_view v);

// Request-URI = SIP-URI / SIPS-URI / absoluteURI; headers are not allowed in it (§19.1.1 table).
bool validRequestUri(std::string_view uri);

// Call-ID = word [ "@" word ] (RFC 3261 §25.1), several '@' tolerated.
bool isCallId(std::string_view v);

struct CSeqValue {
  uint64_t number = 0;
  std::string_view method;
};
// CSeq = 1*DIGIT LWS Method; number capped at 2^31 (out of range).
std::optional<CSeqValue> parseCSeq(std::string_view v);

// From / To (`name` is the canonical header name): a name-addr, not "*", whose tag (if any) is a
// token. Returns the tag ("" if none); fails with "Malformed <name> header".
Expected<std::string_view, SipError> checkTaggedNameAddr(std::string_view name, std::string_view value);

// One Via line: every element valid per Via::parse. Returns the branch of its first element;
// fails with "Malformed <name> header".
Expected<std::string_view, SipError> checkViaLine(std::string_view name, std::string_view value);

// Contact / Route / Record-Route: every element a NameAddr; "*" only in Contact. Fails with
// "Malformed <name> header".
std::optional<SipError> checkAddressList(const KnownHeader& known, std::string_view value);

}  // namespace rdv::sip::detail
