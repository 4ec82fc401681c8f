#pragma once
// WebSocket frames (RFC 6455 §5) as a SIP transport uses them (RFC 7118): the server side of the
// wire format. parseWsFrameHeader is the one checked entry point for what a client sends;
// encodeWsFrame writes the server's (unmasked) frames. Pure functions over bytes, no state: the
// reassembly of fragmented messages lives in WsReader.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/Expected.h"

namespace rdv::sip {

enum class WsOpcode : uint8_t { Continuation = 0, Text = 1, Binary = 2, Close = 8, Ping = 9, Pong = 10 };

// RFC 6455 §7.4.1 status codes the server sends.
inline constexpr uint16_t kWsCloseNormal = 1000;
inline constexpr uint16_t kWsCloseProtocolError = 1002;
inline constexpr uint16_t kWsCloseUnsupportedData = 1003;
inline constexpr uint16_t kWsCloseTooBig = 1009;

struct WsFrameHeader {
  bool fin = false;
  WsOpcode opcode = WsOpcode::Continuation;
  std::array<std::byte, 4> mask{};
  size_t headerLength = 0;   // 0: the header has not fully arrived yet
  uint64_t payloadLength = 0;
  // headerLength + payloadLength, the bytes the whole frame takes.
  uint64_t frameLength() const { return headerLength + payloadLength; }
};

struct WsFrameError {
  uint16_t closeCode = kWsCloseProtocolError;  // what the close frame we send says
  std::string_view reason;                      // static text, for logs and counters
};

// Reads the header of the client frame at the start of `buf`. headerLength 0: more bytes needed.
// Errors (the connection is then closed with `closeCode`): reserved bits set (no extension is
// negotiated), an unknown opcode, a fragmented or over-long (> 125 bytes) control frame, an
// unmasked frame (clients must mask, §5.1), a 64-bit length with its top bit set, or a data
// frame whose payload exceeds `maxPayload` (1009).
[[nodiscard]] Expected<WsFrameHeader, WsFrameError> parseWsFrameHeader(std::span<const std::byte> buf,
                                                                      uint64_t maxPayload);

// XORs `payload` with the masking key (§5.3); `offset` is the index of payload[0] within the frame's
// payload, so that a payload may be unmasked in pieces.
void unmaskWs(std::span<std::byte> payload, const std::array<std::byte, 4>& mask, uint64_t offset = 0);

// One unfragmented, unmasked server frame (§5.2), appended to `out`.
void appendWsFrame(std::string& out, WsOpcode opcode, std::string_view payload);
// A close frame with a status code and a short reason (§5.5.1), appended to `out`.
void appendWsClose(std::string& out, uint16_t code, std::string_view reason = {});

}  // namespace rdv::sip
