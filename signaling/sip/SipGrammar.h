#pragma once
// Internal to signaling/sip: the grammar pieces (RFC 3261 §25.1) that more than one SIP parser
// needs (SipUri, NameAddr, Via, SipMessage, the stream framer and the lenient 400 scanner). Not
// part of the library's interface; code outside signaling/sip uses SipLex.h and the parsers.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/Expected.h"
#include "signaling/sip/SipError.h"

namespace rdv::sip::detail {

constexpr bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool isHex(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The failure value of a parser, as a SipError or ready to return from an Expected.
SipError sipError(std::string_view reason, int status = 400);
Unexpected<SipError> fail(std::string_view reason, int status = 400);

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

// ASCII case-insensitive prefix test.
bool startsWithIgnoreCase(std::string_view text, std::string_view prefix);

// 1..65535 from a non-empty run of digits.
std::optional<uint16_t> parsePort(std::string_view digits);
// 1*DIGIT whose value is at most `max`; nullopt for other text, `max + 1` when it is larger.
std::optional<uint64_t> parseBounded(std::string_view digits, uint64_t max);

// The first index at or after pos that is not LWS (SP, HT, CR, LF) / not a digit; s.size() at most.
size_t skipLws(std::string_view s, size_t pos);
size_t skipDigits(std::string_view s, size_t pos);

// host = hostname / IPv4address / IPv6reference, starting at pos. On success `host` is the name or
// address (IPv6 without brackets) and pos is past it. '_' is tolerated in hostnames.
bool parseHost(std::string_view s, size_t& pos, std::string_view& host);

// Index just past the closing quote of the quoted-string opening at `open`, or npos when it is
// unterminated or holds a character qdtext/quoted-pair do not allow (RFC 3261 §25.1).
size_t scanQuoted(std::string_view s, size_t open);

// generic-param *( SEMI generic-param ) with LWS around ';' and '=' (the text after the first ';').
bool validGenericParams(std::string_view params);

}  // namespace rdv::sip::detail
