#pragma once
// name-addr / addr-spec values: one element of From, To, Contact, Route or Record-Route
// (RFC 3261 §20.10, §25.1).
//
// The parser is a view: every std::string_view it returns points into the text it was given and
// lives as long as that text. Failures are values (SipError); the reason phrases are stable and
// listed at the top of NameAddr.cc. Line folds inside the value count as whitespace.

#include <optional>
#include <string_view>

#include "common/Expected.h"
#include "signaling/sip/SipError.h"
#include "signaling/sip/SipUri.h"

namespace rdv::sip {

// The value of From/To/Contact/Route/Record-Route (one list element): ["display"] <uri> ;params, or
// addr-spec ;params, where the params belong to the header (RFC 3261 §20.10), or "*" (Contact).
//  - displayName: a quoted display name without its quotes (escapes kept), or the token words
//    as written; "" when absent;
//  - uri: the text inside <>, or the addr-spec; sip/sips/tel URIs are checked with SipUri::parse,
//    other schemes only for absoluteURI syntax (scheme ":" then non-space characters);
//  - params: header parameters after the first ';' ("tag=a;expires=60"), checked as generic-params.
struct NameAddr {
  std::string_view displayName;
  std::string_view uri;
  std::string_view params;
  bool star = false;  // "Contact: *"

  std::optional<std::string_view> param(std::string_view name) const;  // e.g. tag, expires, q
  static Expected<NameAddr, SipError> parse(std::string_view text);
};

}  // namespace rdv::sip
