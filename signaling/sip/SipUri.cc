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
//   checkAnyUri
//     "Malformed URI"                 other schemes: nothing after ':', or <, > or DQUOTE in it

#include <algorithm>

#include "signaling/sip/SipGrammar.h"

namespace rdv::sip {

namespace {

using detail::allChars;
using detail::fail;
using detail::isDigit;
using detail::isHex;
using detail::parseHost;
using detail::parsePort;
using detail::skipDigits;

// clang-format off
constexpr bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool isAlnum(char c) { return isAlpha(c) || isDigit(c); }
constexpr bool isIn(char c, std::string_view set) { return set.find(c) != std::string_view::npos; }

// RFC 3261 §25.1 character classes.
constexpr bool isUnreserved(char c) { return isAlnum(c) || isIn(c, "-_.!~*'()"); }
constexpr bool isUserChar(char c) { return isUnreserved(c) || isIn(c, "&=+$,;?/"); }
constexpr bool isPasswordChar(char c) { return isUnreserved(c) || isIn(c, "&=+$,"); }
constexpr bool isParamChar(char c) { return isUnreserved(c) || isIn(c, "[]/:&+$"); }
constexpr bool isHnvChar(char c) { return isUnreserved(c) || isIn(c, "[]/?:+$"); }
constexpr bool isTelChar(char c) { return isHex(c) || isIn(c, "*#+-.()"); }
// clang-format on

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

}  // namespace rdv::sip
