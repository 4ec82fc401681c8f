#pragma once
// SIP URIs (RFC 3261 §19.1, §25.1; tel: per RFC 3966; IPv6 references as RFC 5118 writes them).
//
// The parser is a view: every std::string_view it returns points into the text it was given and
// lives as long as that text. Failures are values (SipError); the reason phrases are stable,
// listed at the top of SipUri.cc, and fit on the wire as the reason phrase of the error response.
//
// name-addr values (From, To, Contact, ...) are in NameAddr.h, Via values in Via.h; the lexical
// helpers (trimLws, the list and parameter cursors, ...) in SipLex.h, included here because URI
// users read parameters with them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/Expected.h"
#include "signaling/sip/SipError.h"
#include "signaling/sip/SipLex.h"

namespace rdv::sip {

// RFC 3261 §19.1: sip:/sips: user:password@host:port;params?headers, and tel: (RFC 3966).
//  - scheme is as written ("sip", "SIPS", "tel");
//  - user and password are raw (still %-escaped); unescapedUser() decodes;
//  - host is a hostname, IPv4 address or IPv6 address; an IPv6 reference's brackets are not part
//    of host (host contains ':' exactly when it is IPv6);
//  - params is the text after the first ';' of the host part, headers the text after '?';
//  - for tel: user is the telephone-subscriber ("+1-201-555-0123"), host empty, port 0.
struct SipUri {
  std::string_view scheme, user, password, host;
  uint16_t port = 0;  // 0 = absent
  std::string_view params, headers;

  // ";lr" -> "" ; names compared case-insensitively, as written (not unescaped).
  std::optional<std::string_view> param(std::string_view name) const;
  // user with %XX escapes decoded (may contain any byte, NUL included: RFC 4475 escnull).
  std::string unescapedUser() const;

  // Checks the whole text against the grammar: no whitespace, valid escapes, port 1..65535,
  // characters allowed in each part. Other schemes: 416 "Unsupported URI Scheme".
  static Expected<SipUri, SipError> parse(std::string_view text);
};

// Checks any URI that may stand in a name-addr or Request-URI: sip/sips/tel with SipUri::parse
// (and its reasons), other schemes for absoluteURI shape (RFC 3261 §25.1: scheme ":" then one or
// more printable non-space ASCII characters other than <, > and DQUOTE, else "Malformed URI").
// Returns the scheme as written.
Expected<std::string_view, SipError> checkAnyUri(std::string_view text);

}  // namespace rdv::sip
