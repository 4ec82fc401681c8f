#include "signaling/sip/WsFrame.h"

#include <algorithm>

namespace rdv::sip {
namespace {

bool knownOpcode(uint8_t op) { return op <= 2 || (op >= 8 && op <= 10); }

}  // namespace

Expected<WsFrameHeader, WsFrameError> parseWsFrameHeader(std::span<const std::byte> buf, uint64_t maxPayload) {
  WsFrameHeader h;
  if (buf.size() < 2) return h;
  const auto b0 = std::to_integer<uint8_t>(buf[0]);
  const auto b1 = std::to_integer<uint8_t>(buf[1]);
  if ((b0 & 0x70) != 0) return Unexpected(WsFrameError{kWsCloseProtocolError, "reserved bits set"});
  const uint8_t op = b0 & 0x0f;
  if (!knownOpcode(op)) return Unexpected(WsFrameError{kWsCloseProtocolError, "unknown opcode"});
  h.fin = (b0 & 0x80) != 0;
  h.opcode = static_cast<WsOpcode>(op);
  if ((b1 & 0x80) == 0) return Unexpected(WsFrameError{kWsCloseProtocolError, "unmasked client frame"});
  const uint8_t len7 = b1 & 0x7f;
  const size_t lenBytes = len7 == 126 ? 2 : (len7 == 127 ? 8 : 0);
  const size_t headerLength = 2 + lenBytes + 4;
  const bool control = op >= 8;
  if (control && (!h.fin || len7 > 125)) {
    return Unexpected(WsFrameError{kWsCloseProtocolError, "fragmented or long control frame"});
  }
  if (buf.size() < headerLength) return h;  // still headerLength 0: incomplete
  uint64_t len = len7;
  if (lenBytes != 0) {
    len = 0;
    for (size_t i = 0; i < lenBytes; ++i) len = (len << 8) | std::to_integer<uint8_t>(buf[2 + i]);
    if (lenBytes == 8 && (len >> 63) != 0) {
      return Unexpected(WsFrameError{kWsCloseProtocolError, "64-bit length with its top bit set"});
    }
  }
  if (!control && len > maxPayload) return Unexpected(WsFrameError{kWsCloseTooBig, "message too big"});
  std::copy_n(buf.begin() + static_cast<std::ptrdiff_t>(2 + lenBytes), 4, h.mask.begin());
  h.headerLength = headerLength;
  h.payloadLength = len;
  return h;
}

void unmaskWs(std::span<std::byte> payload, const std::array<std::byte, 4>& mask, uint64_t offset) {
  for (size_t i = 0; i < payload.size(); ++i) payload[i] ^= mask[(offset + i) & 3];
}

void appendWsFrame(std::string& out, WsOpcode opcode, std::string_view payload) {
  out.push_back(static_cast<char>(0x80 | static_cast<uint8_t>(opcode)));
  const uint64_t n = payload.size();
  if (n <= 125) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    out.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  out.append(payload);
}

void appendWsClose(std::string& out, uint16_t code, std::string_view reason) {
  std::string body;
  body.push_back(static_cast<char>(code >> 8));
  body.push_back(static_cast<char>(code & 0xff));
  body.append(reason.substr(0, 123));  // a control frame carries at most 125 bytes
  appendWsFrame(out, WsOpcode::Close, body);
}

}  // namespace rdv::sip
