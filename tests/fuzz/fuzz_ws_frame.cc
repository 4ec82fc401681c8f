// libFuzzer target for SIP over WebSocket's wire codecs (signaling/sip/: WsFrame, WsReader,
// WsHandshake). Checks:
//  - parseWsFrameHeader never reads past the buffer: a complete header fits in it, the payload
//    bound holds for data frames, control frames are short;
//  - WsReader, fed the input in two pieces at every split the first byte chooses, consumes no more
//    than it is given, returns messages within its bound, and stops for good after Close/Error;
//  - parseWsUpgrade accepts only requests within its size limit whose key yields a 28-character
//    accept value, and its refusals are complete HTTP responses.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "signaling/sip/WsFrame.h"
#include "signaling/sip/WsHandshake.h"
#include "signaling/sip/WsReader.h"

namespace {

using namespace rdv::sip;  // NOLINT(google-build-using-namespace)

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr size_t kMax = 512;

void readAll(std::string_view input, size_t split) {
  WsReader reader(kMax);
  std::string buffered;
  bool over = false;
  for (std::string_view piece : {input.substr(0, split), input.substr(split)}) {
    buffered.append(piece);
    for (int guard = 0; guard < 10000; ++guard) {
      size_t used = 0;
      WsEvent e = reader.next(buffered, used);
      check(used <= buffered.size());
      buffered.erase(0, used);
      if (over) check(e.kind == WsEvent::Kind::None && used == 0);
      if (e.kind == WsEvent::Kind::None) break;
      if (e.kind == WsEvent::Kind::Message) check(e.payload.size() <= kMax);
      if (e.kind == WsEvent::Kind::Ping || e.kind == WsEvent::Kind::Pong) check(e.payload.size() <= 125);
      if (e.kind == WsEvent::Kind::Error) check(e.code >= 1000 && !e.error.empty());
      if (e.kind == WsEvent::Kind::Close || e.kind == WsEvent::Kind::Error) over = true;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto bytes = std::as_bytes(std::span<const uint8_t>(data, size));

  auto h = parseWsFrameHeader(bytes, kMax);
  if (h && h->headerLength != 0) {
    check(h->headerLength <= size && h->headerLength <= 14);
    const bool control = static_cast<uint8_t>(h->opcode) >= 8;
    check(control ? h->payloadLength <= 125 && h->fin : h->payloadLength <= kMax);
  } else if (!h) {
    check(!h.error().reason.empty());
  }

  readAll(input, size == 0 ? 0 : data[0] % (size + 1));

  auto up = parseWsUpgrade(input);
  if (up && up->length != 0) {
    check(up->length <= size && up->length <= kMaxWsUpgrade);
    check(wsAcceptKey(up->key).size() == 28);
    check(wsAcceptResponse(up->key).ends_with("\r\n\r\n"));
  } else if (!up) {
    const std::string r = wsRejectResponse(up.error());
    check(r.starts_with("HTTP/1.1 4") && r.find("\r\n\r\n") != std::string::npos);
  }
  return 0;
}
