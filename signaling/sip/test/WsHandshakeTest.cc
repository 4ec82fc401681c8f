// The server side of the WebSocket opening handshake (RFC 6455 §4.2) for SIP (RFC 7118 §4).

#include "signaling/sip/WsHandshake.h"

#include <gtest/gtest.h>

#include <string>

namespace rdv::sip {
namespace {

// RFC 7118 §A.1's request (Host and Origin kept, key from RFC 6455 §1.3).
std::string request(std::string_view protocol = "sip", std::string_view version = "13",
                    std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==") {
  std::string r =
      "GET / HTTP/1.1\r\nHost: sip-ws.example.com\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
      "Origin: http://www.example.com\r\n";
  r += "Sec-WebSocket-Key: " + std::string(key) + "\r\n";
  if (!protocol.empty()) r += "Sec-WebSocket-Protocol: " + std::string(protocol) + "\r\n";
  r += "Sec-WebSocket-Version: " + std::string(version) + "\r\n\r\n";
  return r;
}

TEST(WsHandshake, AcceptKeyMatchesRfc6455Section13) {
  EXPECT_EQ(wsAcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsHandshake, AcceptsTheRfc7118RequestAndAnswersWithSip) {
  const std::string r = request("foo, sip") + "\x81\x80";  // a frame may follow at once
  auto up = parseWsUpgrade(r);
  ASSERT_TRUE(up) << up.error().reason;
  EXPECT_EQ(up->length, r.size() - 2);
  EXPECT_EQ(up->key, "dGhlIHNhbXBsZSBub25jZQ==");
  const std::string resp = wsAcceptResponse(up->key);
  EXPECT_TRUE(resp.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
  EXPECT_NE(resp.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
  EXPECT_NE(resp.find("Sec-WebSocket-Protocol: sip\r\n"), std::string::npos);
  EXPECT_TRUE(resp.ends_with("\r\n\r\n"));
}

TEST(WsHandshake, WaitsForTheBlankLine) {
  const std::string r = request();
  for (size_t cut = 0; cut + 1 < r.size(); ++cut) {
    auto up = parseWsUpgrade(std::string_view(r).substr(0, cut));
    ASSERT_TRUE(up) << cut;
    EXPECT_EQ(up->length, 0U) << cut;
  }
}

TEST(WsHandshake, RefusesRequestsWithoutTheSipSubprotocolOrAWebSocketUpgrade) {
  auto status = [](const std::string& r) {
    auto up = parseWsUpgrade(r);
    return up ? 0 : up.error().status;
  };
  EXPECT_EQ(status(request("")), 400);
  EXPECT_EQ(status(request("SIP")), 400);  // subprotocol names are case-sensitive
  EXPECT_EQ(status(request("sip", "8")), 426);
  EXPECT_EQ(status(request("sip", "13", "short==")), 400);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(status("OPTIONS sip:a SIP/2.0\r\n"), 400);  // SIP on the WebSocket port: refused early
  EXPECT_EQ(status("GET / HTTP/1.0\r\nHost: a\r\n\r\n"), 400);
  std::string noUpgrade = request();
  noUpgrade.replace(noUpgrade.find("Upgrade: WebSocket"), 18, "Upgrade: h2c");
  EXPECT_EQ(status(noUpgrade), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nX: " + std::string(kMaxWsUpgrade, 'a')), 400);
}

TEST(WsHandshake, RefusalsAreCompleteHttpResponses) {
  const std::string r = wsRejectResponse(WsHandshakeError{426, "Sec-WebSocket-Version must be 13"});
  EXPECT_TRUE(r.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
  EXPECT_NE(r.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
  EXPECT_TRUE(r.ends_with("\r\n\r\nSec-WebSocket-Version must be 13"));
}

}  // namespace
}  // namespace rdv::sip
