#pragma once
// A best-effort error response for bytes that did not parse as a SIP request (RFC 3261 §8.2.6,
// §21.4.1): found by a lenient line scan, so a malformed request still gets its 400 (or the
// parse error's 505 / 513) instead of silence.

#include <string>
#include <string_view>

#include "signaling/sip/SipError.h"

namespace rdv::sip {

// Best-effort 400 for bytes that did not parse: if Via, From, To, Call-ID and CSeq can be found by a
// lenient line scan (any line ending, compact names) and hold no control characters, answers with
// them, adding a To tag derived from the request when To has none (RFC 3261 §8.2.6.2; the same
// bytes always get the same tag, so retransmissions match). "" when not even that is possible,
// or when the bytes look like a response (responses are never answered); then the caller drops
// and counts. Precondition: reason has no CR/LF.
std::string buildBadRequest(std::string_view rawBytes, std::string_view reason);
// The same with the error's status (e.g. 505, 513) and reason.
std::string buildBadRequest(std::string_view rawBytes, const SipError& error);

}  // namespace rdv::sip
