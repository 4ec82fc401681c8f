#pragma once
// The opening handshake of SIP over WebSocket, server side: RFC 6455 §4.2 (the client's HTTP/1.1
// Upgrade request, the 101 answer with Sec-WebSocket-Accept) and RFC 7118 §4 (the "sip"
// subprotocol is required). parseWsUpgrade is the one checked entry point for the request bytes.

#include <cstddef>
#include <string>
#include <string_view>

#include "common/Expected.h"

namespace rdv::sip {

struct WsUpgrade {
  size_t length = 0;  // bytes of the request (through the blank line); 0: not complete yet
  std::string key;    // Sec-WebSocket-Key as sent
};

struct WsHandshakeError {
  int status = 400;         // 400, or 426 for an unsupported Sec-WebSocket-Version
  std::string_view reason;  // static text, for the log and the response body
};

// The largest request accepted; browsers send well under 2 KiB.
inline constexpr size_t kMaxWsUpgrade = 8192;

// Reads the Upgrade request at the start of `buf`. Requires a GET with HTTP/1.1 or later,
// Host, "Upgrade: websocket", a Connection list holding "upgrade", a Sec-WebSocket-Key of 16
// base64 bytes, Sec-WebSocket-Version 13, and "sip" among the Sec-WebSocket-Protocol values.
// Header names and the Upgrade/Connection tokens compare case-insensitively. A request whose
// blank line has not arrived within kMaxWsUpgrade bytes is an error.
[[nodiscard]] Expected<WsUpgrade, WsHandshakeError> parseWsUpgrade(std::string_view buf);

// base64(SHA-1(key + the RFC 6455 GUID)).
std::string wsAcceptKey(std::string_view key);
// "HTTP/1.1 101 Switching Protocols" with Sec-WebSocket-Accept and "Sec-WebSocket-Protocol: sip".
std::string wsAcceptResponse(std::string_view key);
// The refusal (400, or 426 naming version 13), with the reason as its body; the connection closes after it.
std::string wsRejectResponse(const WsHandshakeError& err);

}  // namespace rdv::sip
