#pragma once
// name-addr / addr-spec values: one element of From, To, Contact, Route or Record-Route
// (RFC 3261 §20.10, §25.1).
//
// The parser is a view: every std::string_view it returns points into the text it was given and
// lives as long as that text. Failures are values (SipError); the reason phrases are stable and
// listed at the top of NameAddr.cc. Line folds inside the value count as whitespace.

#include <optional>
#include <string>
#include <string_view>

#include "common/Expected.h"
#include "signaling/sip/SipError.h"
#include "signaling/sip/SipUri.h"

namespace rdv::sip {

// The value of From/To/Contact/Route/Record-Route (one list element): ["display"] <uri> ;params, or
// addr-spec ;params, where the params belong to the header (RFC 3261 §20.10), or "*" (Contact).
//  - displayName: a quoted display name without its quotes (escapes kept), or the token words
//    as written; "" when absent; quoted tells which (displayNameText() reads either);
//  - uri: the text inside <>, or the addr-spec; sip/sips/tel URIs are checked with SipUri::parse,
//    other schemes only for absoluteURI syntax (scheme ":" then non-space characters);
//  - params: header parameters after the first ';' ("tag=a;expires=60"), checked as generic-params.
struct NameAddr {
  std::string_view displayName;
  std::string_view uri;
  std::string_view params;
  bool quoted = false;  // the display name was a quoted-string
  bool star = false;    // "Contact: *"

  std::optional<std::string_view> param(std::string_view name) const;  // e.g. tag, expires, q
  // The display name as its author meant it: a quoted one with its quoted-pairs undone (\" is ",
  // \\ is \) and each line fold read as the whitespace after it; token words joined by one space.
  std::string displayNameText() const;
  static Expected<NameAddr, SipError> parse(std::string_view text);
};

// Writes `display-name <uri>` (RFC 3261 §20.10, §25.1), or `<uri>` for an empty display name.
// `displayName` is plain text (as displayNameText() returns it). It goes out as token words when it
// is a plain token sequence (tokens separated by single spaces), else as a quoted-string with '"'
// and '\' escaped as quoted-pairs; CR and LF, which no quoted-string can carry, become spaces, and
// other control characters but HT are dropped. So a name holding a comma, '<' or quotes can
// neither break the header nor pass for part of its URI.
std::string formatNameAddr(std::string_view displayName, std::string_view uri);

}  // namespace rdv::sip
