#include "signaling/sip/WsReader.h"

#include <span>

#include "signaling/sip/WsFrame.h"

namespace rdv::sip {
namespace {

WsEvent error(uint16_t code, std::string_view why) {
  WsEvent e;
  e.kind = WsEvent::Kind::Error;
  e.code = code;
  e.error = why;
  return e;
}

}  // namespace

WsEvent WsReader::next(std::string_view in, size_t& used) {
  used = 0;
  for (;;) {
    if (done_) return {};
    std::string_view rest = in.substr(used);
    auto bytes = std::as_bytes(std::span<const char>(rest.data(), rest.size()));
    // The limit on one frame is what is still free in the message being assembled.
    auto h = parseWsFrameHeader(bytes, maxMessage_ - partial_.size());
    if (!h) {
      done_ = true;
      return error(h.error().closeCode, h.error().reason);
    }
    if (h->headerLength == 0 || rest.size() < h->frameLength()) return {};
    std::string payload(rest.substr(h->headerLength, h->payloadLength));
    unmaskWs(std::as_writable_bytes(std::span<char>(payload.data(), payload.size())), h->mask);
    used += h->frameLength();
    WsEvent e;
    switch (h->opcode) {
      case WsOpcode::Ping:
      case WsOpcode::Pong:
        e.kind = h->opcode == WsOpcode::Ping ? WsEvent::Kind::Ping : WsEvent::Kind::Pong;
        e.payload = std::move(payload);
        return e;
      case WsOpcode::Close:
        done_ = true;
        if (payload.size() == 1) return error(kWsCloseProtocolError, "close frame with a one-byte body");
        e.kind = WsEvent::Kind::Close;
        e.code = payload.size() >= 2 ? static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                                                             static_cast<uint8_t>(payload[1]))
                                     : 1005;
        return e;
      case WsOpcode::Text:
      case WsOpcode::Binary:
        if (fragmented_) {
          done_ = true;
          return error(kWsCloseProtocolError, "new message inside a fragmented one");
        }
        binary_ = h->opcode == WsOpcode::Binary;
        break;
      case WsOpcode::Continuation:
        if (!fragmented_) {
          done_ = true;
          return error(kWsCloseProtocolError, "continuation frame with no message to continue");
        }
        break;
    }
    partial_ += payload;
    fragmented_ = !h->fin;
    if (fragmented_) continue;  // more frames make up this message
    e.kind = WsEvent::Kind::Message;
    e.binary = binary_;
    e.payload = std::move(partial_);
    partial_.clear();
    return e;
  }
}

}  // namespace rdv::sip
