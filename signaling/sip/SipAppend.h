#pragma once
// Internal to signaling/sip: text-building helpers shared by the message writers (buildResponse,
// buildBadRequest). Not part of the library's interface.

#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace rdv::sip::detail {

inline constexpr std::string_view kSipVersion = "SIP/2.0";

// Decimal digits of v.
inline void appendNumber(std::string& out, uint64_t v) {
  std::array<char, 24> buf{};
  const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), res.ptr);
}

// Copies a header value with its folds flattened (the CR/LF go, the SP/HT that follow stay).
inline void appendValue(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c != '\r' && c != '\n') {
      out += c;
    }
  }
}

// "Name: value\r\n", the value flattened as appendValue does.
inline void appendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ");
  appendValue(out, value);
  out.append("\r\n");
}

// "SIP/2.0 <status> <reason>\r\n" (RFC 3261 §7.2). Precondition: reason has no CR/LF.
inline void appendStatusLine(std::string& out, int status, std::string_view reason) {
  out.append(kSipVersion).append(" ");
  appendNumber(out, static_cast<uint64_t>(status));
  out.append(" ").append(reason).append("\r\n");
}

}  // namespace rdv::sip::detail
