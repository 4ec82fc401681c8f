#include "signaling/sip/WsHandshake.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

namespace rdv::sip {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455 §1.3

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether the comma-separated list `value` holds `token` (case-insensitive when `icase`).
bool listHas(std::string_view value, std::string_view token, bool icase) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    const std::string_view item = trim(value.substr(0, comma));
    if (icase ? iequals(item, token) : item == token) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// 16 bytes in base64: 22 alphabet characters and "==".
bool validKey(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '/';
  });
}

struct Fields {
  bool host = false;
  bool upgrade = false;
  bool connection = false;
  bool version = false;
  bool versionSeen = false;
  bool sip = false;
  std::string_view key;
};

void readField(std::string_view name, std::string_view value, Fields& f) {
  if (iequals(name, "Host")) {
    f.host = !value.empty();
  } else if (iequals(name, "Upgrade")) {
    f.upgrade = f.upgrade || listHas(value, "websocket", true);
  } else if (iequals(name, "Connection")) {
    f.connection = f.connection || listHas(value, "upgrade", true);
  } else if (iequals(name, "Sec-WebSocket-Key")) {
    f.key = value;
  } else if (iequals(name, "Sec-WebSocket-Version")) {
    f.versionSeen = true;
    f.version = value == "13";
  } else if (iequals(name, "Sec-WebSocket-Protocol")) {
    f.sip = f.sip || listHas(value, "sip", false);
  }
}

Unexpected<WsHandshakeError> fail(std::string_view why, int status = 400) {
  return Unexpected(WsHandshakeError{status, why});
}

}  // namespace

Expected<WsUpgrade, WsHandshakeError> parseWsUpgrade(std::string_view buf) {
  const size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (buf.size() >= kMaxWsUpgrade) return fail("request too large");
    if (!buf.empty() && !buf.starts_with(std::string_view("GET ").substr(0, std::min<size_t>(4, buf.size())))) {
      return fail("not a GET request");
    }
    return WsUpgrade{};
  }
  if (end + 4 > kMaxWsUpgrade) return fail("request too large");
  std::string_view head = buf.substr(0, end + 2);  // every line ends with CRLF
  const size_t lineEnd = head.find("\r\n");
  const std::string_view requestLine = head.substr(0, lineEnd);
  if (!requestLine.starts_with("GET ")) return fail("not a GET request");
  const size_t sp = requestLine.rfind(' ');
  const std::string_view version = requestLine.substr(sp + 1);
  if (sp <= 4 || !version.starts_with("HTTP/1.") || version == "HTTP/1.0") return fail("not HTTP/1.1");
  head.remove_prefix(lineEnd + 2);
  Fields f;
  while (!head.empty()) {
    const size_t eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail("malformed header line");
    readField(line.substr(0, colon), trim(line.substr(colon + 1)), f);
  }
  if (!f.host) return fail("no Host");
  if (!f.upgrade || !f.connection) return fail("not a WebSocket upgrade");
  if (!f.versionSeen || !f.version) return fail("Sec-WebSocket-Version must be 13", 426);
  if (!validKey(f.key)) return fail("bad Sec-WebSocket-Key");
  if (!f.sip) return fail("Sec-WebSocket-Protocol must offer sip (RFC 7118)");
  return WsUpgrade{end + 4, std::string(f.key)};
}

std::string wsAcceptKey(std::string_view key) {
  const std::string input = std::string(key) + std::string(kGuid);
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  std::array<unsigned char, 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1> out{};
  const int n = EVP_EncodeBlock(out.data(), digest.data(), SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<size_t>(n));
}

std::string wsAcceptResponse(std::string_view key) {
  return fmt::format(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: sip\r\n\r\n",
      wsAcceptKey(key));
}

std::string wsRejectResponse(const WsHandshakeError& err) {
  const bool version = err.status == 426;
  return fmt::format(
      "HTTP/1.1 {}\r\n{}Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
      version ? "426 Upgrade Required" : "400 Bad Request", version ? "Sec-WebSocket-Version: 13\r\n" : "",
      err.reason.size(), err.reason);
}

}  // namespace rdv::sip
