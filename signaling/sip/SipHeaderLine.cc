#include "signaling/sip/SipHeaderLine.h"

#include "signaling/sip/SipGrammar.h"
#include "signaling/sip/SipLex.h"

namespace rdv::sip::detail {

std::optional<SipError> badHeaderByte(unsigned char c) {
  if (c == 0) {
    return sipError("NUL byte in message header");
  }
  if ((c < 0x20 && c != '\t') || c == 0x7f) {
    return sipError("Control character in message header");
  }
  return std::nullopt;
}

Expected<std::string_view, SipError> readHeaderName(std::string_view s, size_t& pos) {
  const size_t n = s.size();
  const size_t nameStart = pos;
  while (pos < n && isSipTokenChar(s[pos])) {
    ++pos;
  }
  const std::string_view writtenName = s.substr(nameStart, pos - nameStart);
  while (pos < n && (s[pos] == ' ' || s[pos] == '\t')) {
    ++pos;
  }
  if (pos >= n) {
    return Unexpected(sipError("Header section not terminated"));
  }
  if (writtenName.empty() || s[pos] != ':') {
    if (s[pos] == '\r' && pos + 1 >= n) {
      return Unexpected(sipError("Header section not terminated"));
    }
    if (s[pos] == '\r' && s[pos + 1] != '\n') {
      return Unexpected(sipError("Bare CR in message header"));
    }
    if (s[pos] != '\r' && s[pos] != '\n') {
      if (auto bad = badHeaderByte(static_cast<unsigned char>(s[pos]))) {
        return Unexpected(std::move(*bad));
      }
    }
    return Unexpected(sipError("Malformed header line"));
  }
  ++pos;
  return writtenName;
}

Expected<std::string_view, SipError> readHeaderValue(std::string_view s, size_t& pos) {
  const size_t n = s.size();
  size_t valueStart = std::string_view::npos;
  size_t valueEnd = pos;
  while (true) {
    if (pos >= n) {
      return Unexpected(sipError("Header section not terminated"));
    }
    const auto c = static_cast<unsigned char>(s[pos]);
    if (c == '\r' || c == '\n') {
      if (c == '\r') {
        if (pos + 1 >= n) {
          return Unexpected(sipError("Header section not terminated"));
        }
        if (s[pos + 1] != '\n') {
          return Unexpected(sipError("Bare CR in message header"));
        }
        ++pos;
      }
      ++pos;
      if (pos < n && (s[pos] == ' ' || s[pos] == '\t')) {
        continue;
      }
      break;
    }
    if (auto bad = badHeaderByte(c)) {
      return Unexpected(std::move(*bad));
    }
    if (c != ' ' && c != '\t') {
      if (valueStart == std::string_view::npos) {
        valueStart = pos;
      }
      valueEnd = pos + 1;
    }
    ++pos;
  }
  if (valueStart == std::string_view::npos) {
    valueStart = valueEnd;
  }
  return s.substr(valueStart, valueEnd - valueStart);
}

}  // namespace rdv::sip::detail
