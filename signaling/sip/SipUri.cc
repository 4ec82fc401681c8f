#include "signaling/sip/SipUri.h"

// Reason phrases of the errors returned here (status 400 unless noted). They are part of the wire
// contract (callers may answer with them), so they only change together with the tests.
//
//   SipUri::parse
//     "Malformed URI"                 empty, whitespace/control/non-ASCII byte, or no ':' after a scheme
//     "Malformed URI scheme"          scheme not ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")
//     "Unsupported URI Scheme"  (416) well-formed scheme other than sip, sips, tel
//     "Malformed URI user"            empty or bad user (or tel: subscriber), bad %-escape
//     "Malformed URI password"        bad password character or %-escape
//     "Malformed URI host"            empty/invalid host or IPv6 reference, junk after host[:port]
//     "Malformed URI port"            not 1..65535
//     "Malformed URI parameters"      empty parameter, bad character or %-escape
//     "Malformed URI headers"         not hname=hvalue *("&" hname=hvalue)
//   NameAddr::parse
//     "Empty name-addr"
//     "Unterminated quoted string"
//     "Malformed display name"        quoted display name not followed by <, bad quoted-pair
//     "Missing > in name-addr"
//     "Unbracketed URI with , or ?"   addr-spec form holding ',' or '?' (RFC 3261 §20.10)
//     "Malformed header parameters"   junk after '>', empty/invalid generic-param
//     + any SipUri::parse reason except 416 for the URI (other schemes: "Malformed URI")
//   Via::parse
//     "Malformed Via sent-protocol"   not SIP / 2.0 / transport-token
//     "Malformed Via sent-by"         missing/invalid host, port not 1..65535, junk before ';'
//     "Malformed Via parameters"      empty/invalid generic-param, empty branch or received,
//                                     rport value not 1..65535

#include <algorithm>
#include <array>

namespace rdv::sip {

namespace {

// clang-format off
constexpr bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool isDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool isAlnum(char c) { return isAlpha(c) || isDigit(c); }
constexpr bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
constexpr bool isIn(char c, std::string_view set) { return set.find(c) != std::string_view::npos; }

// RFC 3261 §25.1 character classes.
constexpr bool isUnreserved(char c) { return isAlnum(c) || isIn(c, "-_.!~*'()"); }
constexpr bool isUserChar(char c) { return isUnreserved(c) || isIn(c, "&=+$,;?/"); }
constexpr bool isPasswordChar(char c) { return isUnreserved(c) || isIn(c, "&=+$,"); }
constexpr bool isParamChar(char c) { return isUnreserved(c) || isIn(c, "[]/:&+$"); }
constexpr bool isHnvChar(char c) { return isUnreserved(c) || isIn(c, "[]/?:+$"); }
// '_' is not in RFC 3261 hostnames but appears in real ones (container names); tolerated.
constexpr bool isHostnameChar(char c) { return isAlnum(c) || c == '-' || c == '.' || c == '_'; }
constexpr bool isTelChar(char c) { return isHex(c) || isIn(c, "*#+-.()"); }
// gen-value = token / host / quoted-string; host adds ':' and '[' ']' for IPv6.
constexpr bool isGenValueChar(char c) { return isSipTokenChar(c) || c == ':' || c == '[' || c == ']'; }
// clang-format on

Unexpected<SipError> fail(std::string_view reason, int status = 400) {
  return Unexpected(SipError{status, std::string(reason)});
}

// Every character satisfies `allowed`, or is a %HEXHEX escape when escapes are allowed.
template <typename Pred>
bool allChars(std::string_view text, Pred allowed, bool escapes) {
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (escapes && c == '%') {
      if (i + 2 >= text.size() || !isHex(text[i + 1]) || !isHex(text[i + 2])) {
        return false;
      }
      i += 2;
    } else if (!allowed(c)) {
      return false;
    }
  }
  return true;
}

// 1..65535 from a non-empty run of digits.
std::optional<uint16_t> parsePort(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) {
    return std::nullopt;
  }
  uint32_t v = 0;
  for (const char c : digits) {
    if (!isDigit(c)) {
      return std::nullopt;
    }
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(v);
}

size_t skipLws(std::string_view s, size_t pos) {
  while (pos < s.size() && isSipLws(s[pos])) {
    ++pos;
  }
  return pos;
}

size_t skipDigits(std::string_view s, size_t pos) {
  while (pos < s.size() && isDigit(s[pos])) {
    ++pos;
  }
  return pos;
}

// host = hostname / IPv4address / IPv6reference, starting at pos. On success `host` is the name or
// address (IPv6 without brackets) and pos is past it.
bool parseHost(std::string_view s, size_t& pos, std::string_view& host) {
  if (pos < s.size() && s[pos] == '[') {
    const size_t close = s.find(']', pos);
    if (close == std::string_view::npos) {
      return false;
    }
    const std::string_view v6 = s.substr(pos + 1, close - pos - 1);
    if (v6.size() < 2 || v6.size() > 45 || v6.find(':') == std::string_view::npos ||
        !allChars(
            v6, [](char c) { return isHex(c) || c == ':' || c == '.'; }, false)) {
      return false;
    }
    host = v6;
    pos = close + 1;
    return true;
  }
  const size_t start = pos;
  while (pos < s.size() && isHostnameChar(s[pos])) {
    ++pos;
  }
  host = s.substr(start, pos - start);
  return !host.empty() && host.front() != '.' && host.front() != '-';
}

// Index just past the closing quote of the quoted-string opening at `open`, or npos when it is
// unterminated or holds a character qdtext/quoted-pair do not allow (RFC 3261 §25.1).
size_t scanQuoted(std::string_view s, size_t open) {
  for (size_t i = open + 1; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      return i + 1;
    }
    if (c == '\\') {
      if (i + 1 >= s.size() || s[i + 1] == '\r' || s[i + 1] == '\n' ||
          static_cast<unsigned char>(s[i + 1]) > 0x7f) {
        return std::string_view::npos;
      }
      ++i;
    } else if ((c < 0x20 && !isSipLws(static_cast<char>(c))) || c == 0x7f) {
      return std::string_view::npos;
    }
  }
  return std::string_view::npos;
}

// uri-parameters after the first ';': each "pname[=pvalue]" of paramchars (RFC 3261 §19.1.1).
bool validUriParams(std::string_view params) {
  size_t start = 0;
  while (true) {
    const size_t end = std::min(params.find(';', start), params.size());
    const std::string_view piece = params.substr(start, end - start);
    const size_t eq = piece.find('=');
    const std::string_view name = piece.substr(0, eq);
    if (name.empty() || !allChars(name, isParamChar, true)) {
      return false;
    }
    if (eq != std::string_view::npos) {
      const std::string_view value = piece.substr(eq + 1);
      if (value.empty() || !allChars(value, isParamChar, true)) {
        return false;
      }
    }
    if (end == params.size()) {
      return true;
    }
    start = end + 1;
  }
}

// headers = header *( "&" header ), header = hname "=" hvalue.
bool validUriHeaders(std::string_view headers) {
  size_t start = 0;
  while (true) {
    const size_t end = std::min(headers.find('&', start), headers.size());
    const std::string_view piece = headers.substr(start, end - start);
    const size_t eq = piece.find('=');
    if (eq == 0 || eq == std::string_view::npos || !allChars(piece.substr(0, eq), isHnvChar, true) ||
        !allChars(piece.substr(eq + 1), isHnvChar, true)) {
      return false;
    }
    if (end == headers.size()) {
      return true;
    }
    start = end + 1;
  }
}

// generic-param *( SEMI generic-param ) with LWS around ';' and '=' (the text after the first ';').
bool validGenericParams(std::string_view params) {
  SipParamCursor cursor(params);
  if (cursor.done()) {
    return false;  // a ';' with nothing after it
  }
  while (!cursor.done()) {
    const SipParam p = cursor.next();
    if (!isSipToken(p.name)) {
      return false;
    }
    if (!p.hasValue) {
      continue;
    }
    if (p.value.empty()) {
      return false;
    }
    if (p.value.front() == '"') {
      if (scanQuoted(p.value, 0) != p.value.size()) {
        return false;
      }
    } else if (!allChars(p.value, isGenValueChar, false)) {
      return false;
    }
  }
  return true;
}

// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool validScheme(std::string_view scheme) {
  return !scheme.empty() && isAlpha(scheme.front()) &&
         allChars(
             scheme, [](char c) { return isAlnum(c) || c == '+' || c == '-' || c == '.'; }, false);
}

Expected<SipUri, SipError> parseTel(SipUri uri, std::string_view rest) {
  const size_t semi = rest.find(';');
  uri.user = rest.substr(0, semi);
  if (uri.user.empty() || !allChars(uri.user, isTelChar, false)) {
    return fail("Malformed URI user");
  }
  if (semi != std::string_view::npos) {
    uri.params = rest.substr(semi + 1);
    if (!validUriParams(uri.params)) {
      return fail("Malformed URI parameters");
    }
  }
  return uri;
}

}  // namespace

// ---- Lexical helpers ----

bool isSipToken(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (const char c : text) {
    if (!isSipTokenChar(c)) {
      return false;
    }
  }
  return true;
}

std::string_view trimLws(std::string_view text) {
  size_t b = 0;
  size_t e = text.size();
  while (b < e && isSipLws(text[b])) {
    ++b;
  }
  while (e > b && isSipLws(text[e - 1])) {
    --e;
  }
  return text.substr(b, e - b);
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (y >= 'A' && y <= 'Z') {
      y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

std::string_view unquote(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    return value.substr(1, value.size() - 2);
  }
  return value;
}

std::string_view SipListCursor::next() {
  bool inQuote = false;
  bool inAngle = false;
  for (size_t i = 0; i < rest_.size(); ++i) {
    const char c = rest_[i];
    if (inAngle) {
      inAngle = c != '>';
    } else if (inQuote) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        inQuote = false;
      }
    } else if (c == '"') {
      inQuote = true;
    } else if (c == '<') {
      inAngle = true;
    } else if (c == ',') {
      const std::string_view element = rest_.substr(0, i);
      rest_.remove_prefix(i + 1);
      return trimLws(element);
    }
  }
  done_ = true;
  const std::string_view element = rest_;
  rest_ = {};
  return trimLws(element);
}

SipParam SipParamCursor::next() {
  bool inQuote = false;
  size_t end = rest_.size();
  for (size_t i = 0; i < rest_.size(); ++i) {
    const char c = rest_[i];
    if (inQuote) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        inQuote = false;
      }
    } else if (c == '"') {
      inQuote = true;
    } else if (c == ';') {
      end = i;
      break;
    }
  }
  const std::string_view piece = rest_.substr(0, end);
  if (end == rest_.size()) {
    done_ = true;
    rest_ = {};
  } else {
    rest_.remove_prefix(end + 1);
  }
  SipParam p;
  const size_t eq = piece.find('=');
  p.name = trimLws(piece.substr(0, eq));
  if (eq != std::string_view::npos) {
    p.hasValue = true;
    p.value = trimLws(piece.substr(eq + 1));
  }
  return p;
}

std::optional<std::string_view> findSipParam(std::string_view params, std::string_view name) {
  SipParamCursor cursor(params);
  while (!cursor.done()) {
    const SipParam p = cursor.next();
    if (equalsIgnoreCase(p.name, name)) {
      return unquote(p.value);
    }
  }
  return std::nullopt;
}

// ---- SipUri ----

Expected<std::string_view, SipError> checkAnyUri(std::string_view text) {
  auto sip = SipUri::parse(text);
  if (sip) {
    return sip->scheme;
  }
  if (sip.error().status != 416) {
    return Unexpected(sip.error());
  }
  const size_t colon = text.find(':');
  if (colon + 1 == text.size()) {
    return fail("Malformed URI");
  }
  for (size_t i = colon + 1; i < text.size(); ++i) {
    if (text[i] == '<' || text[i] == '>' || text[i] == '"') {
      return fail("Malformed URI");
    }
  }
  return text.substr(0, colon);
}

std::optional<std::string_view> SipUri::param(std::string_view name) const {
  return findSipParam(params, name);
}

std::string SipUri::unescapedUser() const {
  std::string out;
  out.reserve(user.size());
  for (size_t i = 0; i < user.size(); ++i) {
    if (user[i] == '%' && i + 2 < user.size() && isHex(user[i + 1]) && isHex(user[i + 2])) {
      out += static_cast<char>(hexDigitValue(user[i + 1]) * 16 + hexDigitValue(user[i + 2]));
      i += 2;
    } else {
      out += user[i];
    }
  }
  return out;
}

Expected<SipUri, SipError> SipUri::parse(std::string_view text) {
  if (text.empty()) {
    return fail("Malformed URI");
  }
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return fail("Malformed URI");
    }
  }
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return fail("Malformed URI");
  }
  SipUri uri;
  uri.scheme = text.substr(0, colon);
  if (!validScheme(uri.scheme)) {
    return fail("Malformed URI scheme");
  }
  std::string_view rest = text.substr(colon + 1);
  if (equalsIgnoreCase(uri.scheme, "tel")) {
    return parseTel(uri, rest);
  }
  if (!equalsIgnoreCase(uri.scheme, "sip") && !equalsIgnoreCase(uri.scheme, "sips")) {
    return fail("Unsupported URI Scheme", 416);
  }

  // userinfo ends at the first '@': neither user nor password may hold a literal '@'.
  const size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    const size_t pw = userinfo.find(':');
    uri.user = userinfo.substr(0, pw);
    if (uri.user.empty() || !allChars(uri.user, isUserChar, true)) {
      return fail("Malformed URI user");
    }
    if (pw != std::string_view::npos) {
      uri.password = userinfo.substr(pw + 1);
      if (!allChars(uri.password, isPasswordChar, true)) {
        return fail("Malformed URI password");
      }
    }
    rest.remove_prefix(at + 1);
  }

  size_t pos = 0;
  if (!parseHost(rest, pos, uri.host)) {
    return fail("Malformed URI host");
  }
  if (pos < rest.size() && rest[pos] == ':') {
    const size_t end = skipDigits(rest, pos + 1);
    const auto port = parsePort(rest.substr(pos + 1, end - pos - 1));
    if (!port) {
      return fail("Malformed URI port");
    }
    uri.port = *port;
    pos = end;
  }
  if (pos < rest.size() && rest[pos] == ';') {
    const size_t end = std::min(rest.find('?', pos), rest.size());
    uri.params = rest.substr(pos + 1, end - pos - 1);
    if (!validUriParams(uri.params)) {
      return fail("Malformed URI parameters");
    }
    pos = end;
  }
  if (pos < rest.size() && rest[pos] == '?') {
    uri.headers = rest.substr(pos + 1);
    if (!validUriHeaders(uri.headers)) {
      return fail("Malformed URI headers");
    }
    pos = rest.size();
  }
  if (pos != rest.size()) {
    return fail("Malformed URI host");
  }
  return uri;
}

// ---- NameAddr ----

std::optional<std::string_view> NameAddr::param(std::string_view name) const {
  return findSipParam(params, name);
}

Expected<NameAddr, SipError> NameAddr::parse(std::string_view text) {
  const std::string_view t = trimLws(text);
  NameAddr na;
  if (t.empty()) {
    return fail("Empty name-addr");
  }
  if (t == "*") {
    na.star = true;
    return na;
  }

  size_t pos = 0;
  bool bracketed = false;
  if (t.front() == '"') {
    const size_t end = scanQuoted(t, 0);
    if (end == std::string_view::npos) {
      return fail(t.find('"', 1) == std::string_view::npos ? "Unterminated quoted string"
                                                           : "Malformed display name");
    }
    na.displayName = t.substr(1, end - 2);
    pos = skipLws(t, end);
    if (pos >= t.size() || t[pos] != '<') {
      return fail("Malformed display name");
    }
    bracketed = true;
  } else {
    // display-name = *(token LWS): a run of token words, UTF-8 tolerated, directly before '<'.
    while (pos < t.size() &&
           (isSipTokenChar(t[pos]) || isSipLws(t[pos]) || static_cast<unsigned char>(t[pos]) >= 0x80)) {
      ++pos;
    }
    if (pos < t.size() && t[pos] == '<') {
      na.displayName = trimLws(t.substr(0, pos));
      bracketed = true;
    }
  }

  std::string_view afterUri;
  if (bracketed) {
    const size_t close = t.find('>', pos);
    if (close == std::string_view::npos) {
      return fail("Missing > in name-addr");
    }
    na.uri = t.substr(pos + 1, close - pos - 1);
    afterUri = t.substr(close + 1);
    const size_t next = skipLws(afterUri, 0);
    if (next < afterUri.size() && afterUri[next] != ';') {
      return fail("Malformed header parameters");
    }
    afterUri.remove_prefix(next);
  } else {
    const size_t semi = std::min(t.find(';'), t.size());
    na.uri = trimLws(t.substr(0, semi));
    afterUri = t.substr(semi);
    if (na.uri.find_first_of(",?") != std::string_view::npos) {
      return fail("Unbracketed URI with , or ?");
    }
  }
  auto checked = checkAnyUri(na.uri);
  if (!checked) {
    return Unexpected(checked.error());
  }
  if (!afterUri.empty()) {  // starts with ';'
    na.params = trimLws(afterUri.substr(1));
    if (!validGenericParams(na.params)) {
      return fail("Malformed header parameters");
    }
  }
  return na;
}

// ---- Via ----

std::optional<std::string_view> Via::param(std::string_view name) const {
  return findSipParam(params, name);
}

Expected<Via, SipError> Via::parse(std::string_view text) {
  const std::string_view t = trimLws(text);
  Via via;

  // sent-protocol = protocol-name SLASH protocol-version SLASH transport, SLASH = SWS "/" SWS
  std::array<std::string_view, 3> parts;
  size_t pos = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      pos = skipLws(t, pos);
      if (pos >= t.size() || t[pos] != '/') {
        return fail("Malformed Via sent-protocol");
      }
      pos = skipLws(t, pos + 1);
    }
    const size_t start = pos;
    while (pos < t.size() && isSipTokenChar(t[pos])) {
      ++pos;
    }
    parts[i] = t.substr(start, pos - start);
  }
  if (!equalsIgnoreCase(parts[0], "SIP") || parts[1] != "2.0" || parts[2].empty()) {
    return fail("Malformed Via sent-protocol");
  }
  via.transport = parts[2];

  // LWS sent-by, sent-by = host [ COLON port ], COLON = SWS ":" SWS
  if (pos >= t.size() || !isSipLws(t[pos])) {
    return fail("Malformed Via sent-by");
  }
  pos = skipLws(t, pos);
  if (!parseHost(t, pos, via.host)) {
    return fail("Malformed Via sent-by");
  }
  pos = skipLws(t, pos);
  if (pos < t.size() && t[pos] == ':') {
    pos = skipLws(t, pos + 1);
    const size_t end = skipDigits(t, pos);
    const auto port = parsePort(t.substr(pos, end - pos));
    if (!port) {
      return fail("Malformed Via sent-by");
    }
    via.port = *port;
    pos = skipLws(t, end);
  }
  if (pos == t.size()) {
    return via;
  }
  if (t[pos] != ';') {
    return fail("Malformed Via sent-by");
  }

  via.params = trimLws(t.substr(pos + 1));
  if (!validGenericParams(via.params)) {
    return fail("Malformed Via parameters");
  }
  bool sawBranch = false;
  for (SipParamCursor cursor(via.params); !cursor.done();) {
    const SipParam p = cursor.next();
    if (equalsIgnoreCase(p.name, "branch") && !sawBranch) {
      if (!isSipToken(p.value)) {
        return fail("Malformed Via parameters");
      }
      via.branch = p.value;
      sawBranch = true;
    } else if (equalsIgnoreCase(p.name, "rport") && !via.hasRport) {
      via.hasRport = true;
      if (p.hasValue) {
        via.rport = parsePort(p.value);
        if (!via.rport) {
          return fail("Malformed Via parameters");
        }
      }
    } else if (equalsIgnoreCase(p.name, "received") && !via.received) {
      if (p.value.empty() || p.value.front() == '"') {
        return fail("Malformed Via parameters");
      }
      via.received = p.value;
    }
  }
  return via;
}

}  // namespace rdv::sip
