#include "signaling/sip/SipGrammar.h"

#include <string>

#include "signaling/sip/SipLex.h"

namespace rdv::sip::detail {

namespace {

// '_' is not in RFC 3261 hostnames but appears in real ones (container names); tolerated.
constexpr bool isHostnameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c == '-' || c == '.' || c == '_';
}
// gen-value = token / host / quoted-string; host adds ':' and '[' ']' for IPv6.
constexpr bool isGenValueChar(char c) {
  return isSipTokenChar(c) || c == ':' || c == '[' || c == ']';
}

}  // namespace

SipError sipError(std::string_view reason, int status) {
  return SipError{status, std::string(reason)};
}

Unexpected<SipError> fail(std::string_view reason, int status) {
  return Unexpected(sipError(reason, status));
}

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && equalsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

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

std::optional<uint64_t> parseBounded(std::string_view digits, uint64_t max) {
  if (digits.empty()) {
    return std::nullopt;
  }
  uint64_t v = 0;
  bool over = false;
  for (const char c : digits) {
    if (!isDigit(c)) {
      return std::nullopt;
    }
    if (!over) {
      v = v * 10 + static_cast<uint64_t>(c - '0');
      over = v > max;
    }
  }
  return over ? max + 1 : v;
}

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

}  // namespace rdv::sip::detail
