#pragma once
// SIP URIs, name-addr values and Via values (RFC 3261 §19.1, §20.10, §20.42, §25.1; rport from
// RFC 3581; IPv6 references as RFC 5118 writes them), plus the lexical helpers the SIP codecs
// share.
//
// The parsers are views: every std::string_view they return points into the text they were given
// and lives as long as that text. Header values may contain a line fold (CRLF or LF followed by
// SP/HT, RFC 3261 §7.3.1); every function here treats CR and LF as whitespace.
//
// Failures are values (SipError); the reason phrases are stable, listed at the top of SipUri.cc,
// and fit on the wire as the reason phrase of the error response.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/Expected.h"

namespace rdv::sip {

// Why a SIP message or value was rejected: the response status to answer with (400 unless a more
// precise code exists, e.g. 416, 505, 513) and its reason phrase.
struct SipError {
  int status = 400;
  std::string reason;
};

// ---- Lexical helpers (RFC 3261 §25.1) ----

// LWS in the widest sense: SP, HT, and the CR/LF of a line fold.
constexpr bool isSipLws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
constexpr bool isSipTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '!' || c == '%' || c == '*' || c == '_' || c == '+' || c == '`' || c == '\'' || c == '~';
}

// The value of a hexadecimal digit (either case), or -1 for any other character.
constexpr int hexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Non-empty and made of token characters.
bool isSipToken(std::string_view text);
// Without leading and trailing SP, HT, CR and LF.
std::string_view trimLws(std::string_view text);
// ASCII case-insensitive equality (SIP names, schemes and parameter names are compared this way).
bool equalsIgnoreCase(std::string_view a, std::string_view b);
// The inside of a quoted-string value ("\"abc\"" -> "abc", backslash escapes kept); other text as is.
std::string_view unquote(std::string_view value);

// Walks the elements of a comma-separated header value (RFC 3261 §7.3.1), ignoring commas inside
// quoted strings and <...>. Elements come out trimmed; empty ones are reported too ("a,,b" gives
// "a", "", "b"; "" gives one empty element), so validators can reject them.
class SipListCursor {
 public:
  explicit SipListCursor(std::string_view value) : rest_(value) {}
  bool done() const { return done_; }
  std::string_view next();  // precondition: !done()

 private:
  std::string_view rest_;
  bool done_ = false;
};

// One ";name[=value]" parameter. name and value are trimmed; value is as written (a quoted-string
// keeps its quotes); hasValue tells "lr" from "lr=".
struct SipParam {
  std::string_view name;
  std::string_view value;
  bool hasValue = false;
};

// Walks ';'-separated parameters (uri-parameters, generic-param lists), ignoring ';' inside quoted
// strings. `params` is the text after the first ';' ("" means no parameters).
class SipParamCursor {
 public:
  explicit SipParamCursor(std::string_view params) : rest_(params), done_(params.empty()) {}
  bool done() const { return done_; }
  SipParam next();  // precondition: !done()

 private:
  std::string_view rest_;
  bool done_;
};

// Value of the first parameter called `name` (case-insensitive) in a params list: "" for a flag
// parameter, the unquoted text for a quoted value, nullopt when absent.
std::optional<std::string_view> findSipParam(std::string_view params, std::string_view name);

// ---- URI ----

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

// ---- name-addr ----

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

// ---- Via ----

// One via-parm: "SIP/2.0/UDP host[:port];branch=..;rport[=n];received=.." (RFC 3261 §20.42, RFC 3581).
// LWS (including folds) is allowed around '/', ':' , ';' and '='. Protocol must be SIP/2.0; the
// transport is any token, as written. host follows the SipUri convention (no IPv6 brackets).
// rport: hasRport when present; rport holds its value when it has one (1..65535). received holds
// the received parameter's value (an IP address; brackets tolerated as written).
struct Via {
  std::string_view transport, host;
  uint16_t port = 0;  // 0 = absent
  std::string_view branch;
  std::string_view params;  // text after the first ';'
  bool hasRport = false;
  std::optional<uint16_t> rport;
  std::optional<std::string_view> received;

  std::optional<std::string_view> param(std::string_view name) const;
  static Expected<Via, SipError> parse(std::string_view text);
};

}  // namespace rdv::sip
