// WebSocket frames (RFC 6455 §5) as the SIP WebSocket transport reads and writes them: the frame
// header parser, unmasking, and WsReader's reassembly, control frames and errors.

#include "signaling/sip/WsFrame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "signaling/sip/WsReader.h"

namespace rdv::sip {
namespace {

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span<const char>(s)); }

// A client frame: masked with a fixed key, as a browser sends it.
std::string clientFrame(uint8_t opcode, std::string_view payload, bool fin = true, bool mask = true) {
  const char key[4] = {0x37, static_cast<char>(0xfa), 0x21, 0x3d};
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
  const uint8_t m = mask ? 0x80 : 0;
  if (payload.size() <= 125) {
    f.push_back(static_cast<char>(m | payload.size()));
  } else if (payload.size() <= 0xffff) {
    f.push_back(static_cast<char>(m | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    f.push_back(static_cast<char>(m | 127));
    for (int s = 56; s >= 0; s -= 8) f.push_back(static_cast<char>((uint64_t{payload.size()} >> s) & 0xff));
  }
  if (mask) f.append(key, 4);
  for (size_t i = 0; i < payload.size(); ++i) f.push_back(mask ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  return f;
}

// Reads every event out of `stream` as one WsReader would, bytes arriving all at once.
std::vector<WsEvent> readAll(WsReader& r, const std::string& stream) {
  std::vector<WsEvent> out;
  size_t pos = 0;
  for (int guard = 0; guard < 1000; ++guard) {
    size_t used = 0;
    WsEvent e = r.next(std::string_view(stream).substr(pos), used);
    pos += used;
    if (e.kind == WsEvent::Kind::None) break;
    out.push_back(std::move(e));
  }
  return out;
}

TEST(WsFrameHeader, ReadsTheMaskedHelloOfRfc6455Section57) {
  const std::string hello = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
  auto h = parseWsFrameHeader(bytes(hello), 1000);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->fin);
  EXPECT_EQ(h->opcode, WsOpcode::Text);
  EXPECT_EQ(h->headerLength, 6U);
  EXPECT_EQ(h->payloadLength, 5U);
  std::string payload = hello.substr(6);
  unmaskWs(std::as_writable_bytes(std::span<char>(payload)), h->mask);
  EXPECT_EQ(payload, "Hello");
}

TEST(WsFrameHeader, NeedsMoreBytesUntilTheHeaderIsComplete) {
  const std::string f = clientFrame(2, std::string(70000, 'x'));  // 64-bit length: 14-byte header
  for (size_t cut = 0; cut < 14; ++cut) {
    auto h = parseWsFrameHeader(bytes(f.substr(0, cut)), 100000);
    ASSERT_TRUE(h) << cut;
    EXPECT_EQ(h->headerLength, 0U) << cut;
  }
  auto h = parseWsFrameHeader(bytes(f), 100000);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->headerLength, 14U);
  EXPECT_EQ(h->payloadLength, 70000U);
}

TEST(WsFrameHeader, RejectsWhatAClientMustNotSend) {
  auto code = [](const std::string& f, uint64_t max = 1000) {
    auto h = parseWsFrameHeader(bytes(f), max);
    return h ? 0 : h.error().closeCode;
  };
  EXPECT_EQ(code(clientFrame(1, "x", true, false)), kWsCloseProtocolError);  // unmasked
  EXPECT_EQ(code("\xc1\x81" + std::string("abcdx")), kWsCloseProtocolError);  // RSV1, no extension
  EXPECT_EQ(code(clientFrame(3, "x")), kWsCloseProtocolError);                // reserved opcode
  EXPECT_EQ(code(clientFrame(9, "x", false)), kWsCloseProtocolError);         // fragmented ping
  EXPECT_EQ(code(clientFrame(9, std::string(126, 'p'))), kWsCloseProtocolError);
  EXPECT_EQ(code(clientFrame(1, std::string(1001, 'x'))), kWsCloseTooBig);
  const std::string huge("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01" "abcd", 14);
  EXPECT_EQ(code(huge, UINT64_MAX), kWsCloseProtocolError);  // 64-bit length, top bit set
}

TEST(WsFrameEncode, WritesUnmaskedFramesWithTheShortestLength) {
  for (size_t n : {size_t{0}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}}) {
    std::string out;
    appendWsFrame(out, WsOpcode::Text, std::string(n, 'a'));
    const size_t header = n <= 125 ? 2 : (n <= 65535 ? 4 : 10);
    ASSERT_EQ(out.size(), header + n) << n;
    EXPECT_EQ(static_cast<uint8_t>(out[0]), 0x81) << n;
    EXPECT_EQ(static_cast<uint8_t>(out[1]) & 0x80, 0) << n;  // servers do not mask
  }
  std::string close;
  appendWsClose(close, kWsCloseTooBig, "too big");
  EXPECT_EQ(close, std::string("\x88\x09\x03\xf1too big"));
}

TEST(WsReader, JoinsContinuationFramesIntoOneMessageAcrossControlFrames) {
  WsReader r(1000);
  const std::string stream = clientFrame(1, "INVITE ", false) + clientFrame(9, "hb") +
                             clientFrame(0, "sip:bob", false) + clientFrame(0, " SIP/2.0") + clientFrame(2, "b");
  auto events = readAll(r, stream);
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(events[0].kind, WsEvent::Kind::Ping);
  EXPECT_EQ(events[0].payload, "hb");
  EXPECT_EQ(events[1].kind, WsEvent::Kind::Message);
  EXPECT_EQ(events[1].payload, "INVITE sip:bob SIP/2.0");
  EXPECT_FALSE(events[1].binary);
  EXPECT_EQ(events[2].payload, "b");
  EXPECT_TRUE(events[2].binary);
}

TEST(WsReader, WaitsForAFrameSplitAtAnyByte) {
  const std::string f = clientFrame(1, "REGISTER sip:example.org SIP/2.0\r\n\r\n");
  for (size_t cut = 0; cut < f.size(); ++cut) {
    WsReader r(1000);
    size_t used = 0;
    EXPECT_EQ(r.next(std::string_view(f).substr(0, cut), used).kind, WsEvent::Kind::None) << cut;
    EXPECT_EQ(used, 0U);
  }
}

TEST(WsReader, BoundsAReassembledMessageAndClosesWith1009) {
  WsReader r(100);
  const std::string stream = clientFrame(1, std::string(60, 'a'), false) + clientFrame(0, std::string(60, 'b'));
  auto events = readAll(r, stream);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].kind, WsEvent::Kind::Error);
  EXPECT_EQ(events[0].code, kWsCloseTooBig);
}

TEST(WsReader, RejectsOutOfOrderFragments) {
  WsReader stray(100);
  auto e = readAll(stray, clientFrame(0, "x"));
  ASSERT_EQ(e.size(), 1U);
  EXPECT_EQ(e[0].code, kWsCloseProtocolError);
  WsReader nested(100);
  e = readAll(nested, clientFrame(1, "x", false) + clientFrame(1, "y"));
  ASSERT_EQ(e.size(), 1U);
  EXPECT_EQ(e[0].kind, WsEvent::Kind::Error);
}

TEST(WsReader, ReportsTheClosingCodeAndReadsNothingAfterIt) {
  WsReader r(100);
  auto e = readAll(r, clientFrame(8, std::string("\x03\xe9", 2)) + clientFrame(1, "late"));
  ASSERT_EQ(e.size(), 1U);
  EXPECT_EQ(e[0].kind, WsEvent::Kind::Close);
  EXPECT_EQ(e[0].code, 1001);
  WsReader bare(100);
  e = readAll(bare, clientFrame(8, ""));
  ASSERT_EQ(e.size(), 1U);
  EXPECT_EQ(e[0].code, 1005);
}

}  // namespace
}  // namespace rdv::sip
