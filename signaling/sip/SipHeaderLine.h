#pragma once
// Internal to signaling/sip: the lexical layer of SipMessage::parse (RFC 3261 §7.3.1) — the
// control-character rule of the start line and header section, and the reading of one header
// line (name, ':', value with folds). Reasons as listed at the top of SipMessage.cc.

#include <cstddef>
#include <optional>
#include <string_view>

#include "common/Expected.h"
#include "signaling/sip/SipError.h"

namespace rdv::sip::detail {

// The CTL check shared by the start line and header lines: "NUL byte in message header" for NUL,
// "Control character in message header" for any other CTL but HT, and DEL; nullopt when c is
// acceptable.
std::optional<SipError> badHeaderByte(unsigned char c);

// Reads "field-name HCOLON" at pos in s, a header section that pos points into (not at its empty
// line); returns the name as written and leaves pos just past the ':'.
Expected<std::string_view, SipError> readHeaderName(std::string_view s, size_t& pos);

// Reads a header value from pos up to the line end that is not followed by SP/HT (a fold
// continues the value); pos ends past that line end. The value comes back without leading and
// trailing SP/HT (an empty one sits at the starting pos); folds inside it are kept.
Expected<std::string_view, SipError> readHeaderValue(std::string_view s, size_t& pos);

}  // namespace rdv::sip::detail
