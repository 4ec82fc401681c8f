#include "signaling/sip/SipHeaderValues.h"

#include <algorithm>
#include <cstddef>
#include <string>

#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipGrammar.h"
#include "signaling/sip/SipLex.h"
#include "signaling/sip/SipUri.h"
#include "signaling/sip/Via.h"

namespace rdv::sip::detail {

namespace {

// tag-param = "tag" EQUAL token (RFC 3261 §25.1): the first tag's value, "" when there is none,
// nullopt when it is not a token.
std::optional<std::string_view> tagParam(std::string_view params) {
  for (SipParamCursor cursor(params); !cursor.done();) {
    const SipParam p = cursor.next();
    if (equalsIgnoreCase(p.name, "tag")) {
      if (!p.hasValue || !isSipToken(p.value)) {
        return std::nullopt;
      }
      return p.value;
    }
  }
  return std::string_view();
}

}  // namespace

SipError headerError(std::string_view what, std::string_view header) {
  std::string reason;
  reason.reserve(what.size() + header.size() + 8);
  reason.append(what).append(" ").append(header).append(" header");
  return SipError{400, std::move(reason)};
}

int checkVersion(std::string_view v) {
  if (!startsWithIgnoreCase(v, "SIP/")) {
    return 400;
  }
  const std::string_view number = v.substr(4);
  const size_t dot = number.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot + 1 == number.size() ||
      !std::all_of(number.begin(), number.begin() + static_cast<ptrdiff_t>(dot), isDigit) ||
      !std::all_of(number.begin() + static_cast<ptrdiff_t>(dot) + 1, number.end(), isDigit)) {
    return 400;
  }
  return number == "2.0" ? 0 : 505;
}

bool isCallId(std::string_view v) {
  if (v.empty()) {
    return false;
  }
  for (const char c : v) {
    if (!isSipTokenChar(c) && std::string_view("()<>:\\\"/[]?{}@").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::optional<CSeqValue> parseCSeq(std::string_view v) {
  size_t pos = 0;
  while (pos < v.size() && isDigit(v[pos])) {
    ++pos;
  }
  if (pos == 0 || pos == v.size() || !isSipLws(v[pos])) {
    return std::nullopt;
  }
  CSeqValue out;
  out.number = *parseBounded(v.substr(0, pos), 0x7fffffffU);
  out.method = trimLws(v.substr(pos));
  if (!isSipToken(out.method)) {
    return std::nullopt;
  }
  return out;
}

bool validRequestUri(std::string_view uri) {
  auto sip = SipUri::parse(uri);
  if (sip) {
    return sip->headers.empty();
  }
  return sip.error().status == 416 && checkAnyUri(uri).has_value();
}

Expected<std::string_view, SipError> checkTaggedNameAddr(std::string_view name, std::string_view value) {
  auto na = NameAddr::parse(value);
  const auto tag = na ? tagParam(na->params) : std::nullopt;
  if (!na || na->star || !tag) {
    return Unexpected(headerError("Malformed", name));
  }
  return *tag;
}

Expected<std::string_view, SipError> checkViaLine(std::string_view name, std::string_view value) {
  std::optional<std::string_view> firstBranch;
  for (SipListCursor cursor(value); !cursor.done();) {
    auto via = Via::parse(cursor.next());
    if (!via) {
      return Unexpected(headerError("Malformed", name));
    }
    if (!firstBranch) {
      firstBranch = via->branch;
    }
  }
  return *firstBranch;  // a list has at least one element
}

std::optional<SipError> checkAddressList(const KnownHeader& known, std::string_view value) {
  for (SipListCursor cursor(value); !cursor.done();) {
    auto na = NameAddr::parse(cursor.next());
    if (!na || (na->star && known.id != HeaderId::Contact)) {
      return headerError("Malformed", known.name);
    }
  }
  return std::nullopt;
}

}  // namespace rdv::sip::detail
