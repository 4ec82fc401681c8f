#pragma once
// The receiving half of a WebSocket connection (RFC 6455 §5.4-5.5) carrying SIP (RFC 7118 §5):
// frames cut from the byte stream with parseWsFrameHeader, unmasked, continuation frames joined
// into one message up to a bound. Pure state over bytes, no I/O: SipTransport feeds it what a
// connection received and acts on the events (deliver, pong, close).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rdv::sip {

struct WsEvent {
  enum class Kind : uint8_t { None, Message, Ping, Pong, Close, Error };
  Kind kind = Kind::None;
  // Message: the whole message (one SIP message, RFC 7118 §5); Ping: the data a pong echoes.
  std::string payload;
  bool binary = false;     // Message: it came as binary frames (else text)
  uint16_t code = 0;       // Close: the peer's status (1005 when it gave none); Error: the code we close with
  std::string_view error;  // Error: why, static text
};

class WsReader {
 public:
  // `maxMessage`: the largest message, reassembled, that is accepted (else Error with 1009).
  explicit WsReader(size_t maxMessage) : maxMessage_(maxMessage) {}

  // Reads the next frame at the start of `in`; `used` is set to the bytes it took (0 with
  // Kind::None when the frame is not complete yet). Continuation frames that complete no message
  // are taken silently: the loop goes on with the rest. After a Close or an Error the stream is
  // over and every call returns None.
  WsEvent next(std::string_view in, size_t& used);

 private:
  size_t maxMessage_;
  std::string partial_;     // a fragmented message's frames so far
  bool fragmented_ = false;
  bool binary_ = false;
  bool done_ = false;
};

}  // namespace rdv::sip
