#include "signaling/sip/NameAddr.h"

// Reason phrases of the errors returned here (status 400). They are part of the wire contract
// (callers may answer with them), so they only change together with the tests.
//
//   NameAddr::parse
//     "Empty name-addr"
//     "Unterminated quoted string"
//     "Malformed display name"        quoted display name not followed by <, bad quoted-pair
//     "Missing > in name-addr"
//     "Unbracketed URI with , or ?"   addr-spec form holding ',' or '?' (RFC 3261 §20.10)
//     "Malformed header parameters"   junk after '>', empty/invalid generic-param
//     + any SipUri::parse reason except 416 for the URI (other schemes: "Malformed URI")

#include <algorithm>

#include "signaling/sip/SipGrammar.h"
#include "signaling/sip/SipLex.h"

namespace rdv::sip {

namespace {
using detail::fail;
using detail::scanQuoted;
using detail::skipLws;
using detail::validGenericParams;

// token *(SP token): written as is, needing no quotes (RFC 3261 §25.1 display-name).
bool isPlainTokenSequence(std::string_view text) {
  if (text.empty() || text.front() == ' ' || text.back() == ' ') return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == ' ') {
      if (text[i - 1] == ' ') return false;
    } else if (!isSipTokenChar(text[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string_view> NameAddr::param(std::string_view name) const {
  return findSipParam(params, name);
}

std::string NameAddr::displayNameText() const {
  std::string out;
  out.reserve(displayName.size());
  for (size_t i = 0; i < displayName.size(); ++i) {
    const char c = displayName[i];
    if (quoted) {
      if (c == '\\' && i + 1 < displayName.size()) {
        out += displayName[++i];  // quoted-pair (scanQuoted checked it)
      } else if (c != '\r' && c != '\n') {
        out += c;  // a fold (CRLF SP) reads as its SP
      }
    } else if (!isSipLws(c)) {
      out += c;
    } else if (!out.empty() && out.back() != ' ') {
      out += ' ';  // display-name = *(token LWS): the words, one space apart (trimmed by parse)
    }
  }
  return out;
}

std::string formatNameAddr(std::string_view displayName, std::string_view uri) {
  std::string out;
  out.reserve(displayName.size() + uri.size() + 8);
  if (isPlainTokenSequence(displayName)) {
    out.append(displayName);
    out += ' ';
  } else if (!displayName.empty()) {
    out += '"';
    for (const char c : displayName) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (c == '\r' || c == '\n') {
        out += ' ';
      } else if (u >= 0x20 && u != 0x7f) {
        out += c;  // qdtext, UTF-8 included
      } else if (c == '\t') {
        out += c;
      }
    }
    out += "\" ";
  }
  out += '<';
  out.append(uri);
  out += '>';
  return out;
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
    na.quoted = true;
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

}  // namespace rdv::sip
