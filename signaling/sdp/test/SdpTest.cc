#include "signaling/sdp/Sdp.h"

#include <gtest/gtest.h>

#include <string>

#include "common/test/Crlf.h"

namespace rdv::sdp {
namespace {

using common::test::crlf;

// A WebRTC-ish softphone offer: ICE, rtcp-mux, RFC 3605 a=rtcp, opus and telephone-event.
constexpr std::string_view kSoftphoneOffer =
    "v=0\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\n"
    "s=-\n"
    "t=0 0\n"
    "a=group:BUNDLE 0\n"
    "a=ice-options:trickle\n"
    "a=msid-semantic: WMS stream\n"
    "m=audio 54400 UDP/TLS/RTP/SAVPF 111 0 8 101\n"
    "c=IN IP4 192.0.2.44\n"
    "a=rtcp:54401 IN IP4 192.0.2.44\n"
    "a=candidate:842163049 1 udp 1677729535 192.0.2.44 54400 typ srflx raddr 10.0.0.5 rport 54400 generation 0\n"
    "a=candidate:3 1 udp 2122260223 10.0.0.5 54400 typ host generation 0\n"
    "a=ice-ufrag:F7gI\n"
    "a=ice-pwd:x9cml/YzichV2+XlhiMu8g\n"
    "a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F\n"
    "a=setup:actpass\n"
    "a=mid:0\n"
    "a=sendrecv\n"
    "a=rtcp-mux\n"
    "a=rtpmap:111 opus/48000/2\n"
    "a=rtcp-fb:111 transport-cc\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:101 telephone-event/8000\n"
    "a=end-of-candidates\n";

// A desk phone offer over IPv6 with SDES-SRTP (RFC 4568 a=crypto) and a video section.
constexpr std::string_view kIpv6SrtpOffer =
    "v=0\n"
    "o=alice 2890844526 2890844526 IN IP6 2001:db8::10\n"
    "s=Talk\n"
    "i=Desk phone\n"
    "c=IN IP6 2001:db8::10\n"
    "b=AS:256\n"
    "t=0 0\n"
    "m=audio 49170 RTP/SAVP 9 101\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\n"
    "a=rtpmap:9 G722/8000\n"
    "a=rtpmap:101 telephone-event/8000\n"
    "a=ptime:20\n"
    "m=video 49172/2 RTP/SAVP 96\n"
    "i=Camera\n"
    "b=TIAS:512000\n"
    "a=rtpmap:96 H264/90000\n"
    "a=recvonly\n";

SdpSession parseOk(std::string_view text) {
  auto r = SdpSession::parse(text);
  EXPECT_TRUE(r.has_value()) << (r ? "" : "line " + std::to_string(r.error().line) + ": " + r.error().reason);
  return r ? *r : SdpSession{};
}

SdpError parseErr(std::string_view text) {
  auto r = SdpSession::parse(text);
  EXPECT_FALSE(r.has_value()) << "parsed unexpectedly:\n" << text;
  return r ? SdpError{0, ""} : r.error();
}

TEST(SdpTest, ParsesSoftphoneOfferWithIce) {
  const SdpSession s = parseOk(crlf(kSoftphoneOffer));
  ASSERT_EQ(s.lines.size(), 7U);
  EXPECT_EQ(s.lines[1].type, 'o');
  EXPECT_EQ(s.attribute("group"), "BUNDLE 0");
  ASSERT_EQ(s.media.size(), 1U);
  const SdpMedia& m = s.media[0];
  EXPECT_EQ(m.media, "audio");
  EXPECT_EQ(m.port, 54400);
  EXPECT_FALSE(m.portCount.has_value());
  EXPECT_EQ(m.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(m.formats, (std::vector<std::string>{"111", "0", "8", "101"}));
  EXPECT_EQ(m.connectionAddress(), "192.0.2.44");
  EXPECT_EQ(m.clockRate(111), 48000U);
  EXPECT_EQ(m.clockRate(101), 8000U);
  EXPECT_EQ(m.rtpmap(111), "opus/48000/2");
  EXPECT_EQ(m.rtpmap(0), "PCMU/8000");
  EXPECT_EQ(m.rtpmap(9), std::nullopt) << "not offered";
  EXPECT_TRUE(m.rtcpMux());
  EXPECT_EQ(m.rtcpPort(), 54401);
  EXPECT_EQ(m.attribute("ice-ufrag"), "F7gI");
  EXPECT_EQ(m.attribute("end-of-candidates"), "");
}

TEST(SdpTest, RoundTripsCrlfInputExactly) {
  for (const auto lf : {kSoftphoneOffer, kIpv6SrtpOffer}) {
    const std::string text = crlf(lf);
    EXPECT_EQ(parseOk(text).serialize(), text);
  }
}

TEST(SdpTest, AcceptsLfLineEndingsAndEmitsCrlf) {
  EXPECT_EQ(parseOk(kIpv6SrtpOffer).serialize(), crlf(kIpv6SrtpOffer));
}

TEST(SdpTest, AcceptsMissingFinalLineEndAndTrailingEmptyLines) {
  EXPECT_EQ(parseOk("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-").serialize(),
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n");
  EXPECT_EQ(parseOk("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n\r\n\n").lines.size(), 3U);
}

TEST(SdpTest, PreservesUnknownLinesOnRoundTrip) {
  const std::string text = crlf(
      "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nx=vendor session line\nt=0 0\na=X-nt-session:12 34\n"
      "m=audio 4000 RTP/AVP 0\ny=vendor media line\na=x-custom-flag\na=weird attribute with spaces\n");
  const SdpSession s = parseOk(text);
  EXPECT_EQ(s.lines[3].type, 'x');
  ASSERT_EQ(s.media[0].lines.size(), 3U);
  EXPECT_EQ(s.media[0].lines[0].type, 'y');
  EXPECT_TRUE(s.media[0].hasAttribute("x-custom-flag"));
  EXPECT_EQ(s.serialize(), text);
}

TEST(SdpTest, ParsesIpv6ConnectionsAndSrtpCrypto) {
  const SdpSession s = parseOk(kIpv6SrtpOffer);
  EXPECT_EQ(s.connectionAddress(), "2001:db8::10");
  ASSERT_EQ(s.media.size(), 2U);
  EXPECT_EQ(s.media[0].proto, "RTP/SAVP");
  EXPECT_EQ(s.media[0].attribute("crypto"),
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32");
  EXPECT_EQ(s.media[0].clockRate(9), 8000U);
  EXPECT_EQ(s.media[1].port, 49172);
  EXPECT_EQ(s.media[1].portCount, 2);
  EXPECT_EQ(s.media[1].clockRate(96), 90000U);
}

TEST(SdpTest, RewritesMediaPortAndConnection) {
  SdpSession s = parseOk(kSoftphoneOffer);
  s.setOriginAddress("IP4", "203.0.113.5");
  s.media[0].port = 30000;
  s.media[0].setConnection("IP4", "203.0.113.5");
  s.media[0].setAttribute("rtcp", "30001");
  const std::string out = s.serialize();
  EXPECT_NE(out.find("o=- 4611731400430051336 2 IN IP4 203.0.113.5\r\n"), std::string::npos);
  EXPECT_NE(out.find("m=audio 30000 UDP/TLS/RTP/SAVPF 111 0 8 101\r\nc=IN IP4 203.0.113.5\r\na=rtcp:30001\r\n"),
            std::string::npos);
  EXPECT_NE(out.find("a=candidate:842163049 1 udp 1677729535 192.0.2.44 54400 typ srflx"), std::string::npos);
  const SdpSession back = parseOk(out);
  EXPECT_EQ(back.media[0].port, 30000);
  EXPECT_EQ(back.mediaConnectionAddress(0), "203.0.113.5");
  EXPECT_EQ(back.media[0].rtcpPort(), 30001);
}

TEST(SdpTest, MediaSetConnectionInsertsAfterInformationBeforeBandwidth) {
  SdpSession s = parseOk(kIpv6SrtpOffer);
  s.media[1].setConnection("IP6", "2001:db8::99");
  ASSERT_GE(s.media[1].lines.size(), 3U);
  EXPECT_EQ(s.media[1].lines[0].value, "Camera");
  EXPECT_EQ(s.media[1].lines[1].type, 'c');
  EXPECT_EQ(s.media[1].lines[1].value, "IN IP6 2001:db8::99");
  EXPECT_EQ(s.media[1].lines[2].type, 'b');
  EXPECT_EQ(s.mediaConnectionAddress(1), "2001:db8::99");
  EXPECT_EQ(s.mediaConnectionAddress(0), "2001:db8::10");  // falls back to the session c=
}

TEST(SdpTest, MediaSetConnectionReplacesFirstAndDropsOthers) {
  SdpSession s = parseOk(
      "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=video 5000 RTP/AVP 96\n"
      "c=IN IP4 233.252.0.1/127\nc=IN IP4 233.252.0.2/127\na=recvonly\n");
  EXPECT_EQ(s.media[0].connectionAddress(), "233.252.0.1/127");
  s.media[0].setConnection("IP4", "198.51.100.1");
  ASSERT_EQ(s.media[0].lines.size(), 2U);
  EXPECT_EQ(s.media[0].lines[0].value, "IN IP4 198.51.100.1");
  EXPECT_EQ(s.media[0].lines[1].value, "recvonly");
}

TEST(SdpTest, SessionSetConnectionInsertsBeforeTiming) {
  SdpSession s = parseOk(kSoftphoneOffer);
  EXPECT_EQ(s.connectionAddress(), std::nullopt);
  s.setConnection("IP6", "2001:db8::1");
  ASSERT_EQ(s.lines[3].type, 'c');
  EXPECT_EQ(s.lines[3].value, "IN IP6 2001:db8::1");
  EXPECT_EQ(s.lines[4].type, 't');
  s.setConnection("IP4", "192.0.2.9");
  EXPECT_EQ(s.connectionAddress(), "192.0.2.9");
  EXPECT_EQ(s.lines.size(), 8U);
  EXPECT_TRUE(SdpSession::parse(s.serialize()).has_value());
}

TEST(SdpTest, SessionSetConnectionGoesBeforeBandwidth) {
  SdpSession s = parseOk("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\ni=info\nb=AS:64\nt=0 0\n");
  s.setConnection("IP4", "192.0.2.7");
  EXPECT_EQ(s.serialize(), crlf("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\ni=info\nc=IN IP4 192.0.2.7\nb=AS:64\nt=0 0\n"));
}

TEST(SdpTest, SetOriginAddressRewritesOnlyFieldsFiveAndSix) {
  SdpSession s = parseOk(kIpv6SrtpOffer);
  s.setOriginAddress("IP4", "198.51.100.20");
  EXPECT_EQ(s.lines[1].value, "alice 2890844526 2890844526 IN IP4 198.51.100.20");
}

TEST(SdpTest, RemovesIceCandidatesKeepsOthers) {
  SdpSession s = parseOk(kSoftphoneOffer);
  s.lines.push_back(SdpLine{'a', "ice-lite"});
  removeIceAttributes(s);
  EXPECT_FALSE(s.hasAttribute("ice-options"));
  EXPECT_FALSE(s.hasAttribute("ice-lite"));
  EXPECT_TRUE(s.hasAttribute("group"));
  const SdpMedia& m = s.media[0];
  for (const auto* name : {"candidate", "ice-ufrag", "ice-pwd", "end-of-candidates"}) {
    EXPECT_FALSE(m.hasAttribute(name)) << name;
  }
  std::vector<std::string> remaining;
  for (const auto& line : m.lines) {
    remaining.push_back(std::string(1, line.type) + "=" + line.value.substr(0, line.value.find(':')));
  }
  EXPECT_EQ(remaining, (std::vector<std::string>{"c=IN IP4 192.0.2.44", "a=rtcp", "a=fingerprint", "a=setup",
                                                 "a=mid", "a=sendrecv", "a=rtcp-mux", "a=rtpmap", "a=rtcp-fb",
                                                 "a=fmtp", "a=rtpmap", "a=rtpmap", "a=rtpmap"}));
}

TEST(SdpTest, AttributeNamesMatchWholeNamesOnly) {
  const SdpSession s = parseOk(
      "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
      "a=rtcp-fb:0 nack\na=rtcp-mux\na=rtcpx:1\n");
  const SdpMedia& m = s.media[0];
  EXPECT_FALSE(m.hasAttribute("rtcp"));
  EXPECT_EQ(m.rtcpPort(), std::nullopt);
  EXPECT_EQ(m.attribute("rtcp-mux"), "");
  EXPECT_EQ(m.attribute("rtcp-fb"), "0 nack");
  EXPECT_FALSE(m.hasAttribute("rtcp-f"));
}

TEST(SdpTest, SetAttributeReplacesFirstOrAppends) {
  SdpSession s = parseOk("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\na=sendrecv\na=ptime:20\n");
  SdpMedia& m = s.media[0];
  m.setAttribute("ptime", "30");
  m.setAttribute("rtcp-mux", std::nullopt);
  m.removeAttributes("sendrecv");
  m.setAttribute("sendonly", std::nullopt);
  s.setAttribute("tool", "rendezvous");
  EXPECT_EQ(s.serialize(), crlf("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\na=tool:rendezvous\n"
                                "m=audio 4000 RTP/AVP 0\na=ptime:30\na=rtcp-mux\na=sendonly\n"));
}

TEST(SdpTest, RemoveAttributesRemovesEveryOccurrence) {
  SdpSession s = parseOk(kSoftphoneOffer);
  s.media[0].removeAttributes("rtpmap");
  EXPECT_FALSE(s.media[0].hasAttribute("rtpmap"));
  EXPECT_EQ(s.media[0].clockRate(0), std::nullopt);
  s.removeAttributes("group");
  EXPECT_FALSE(s.hasAttribute("group"));
  EXPECT_TRUE(s.hasAttribute("msid-semantic"));
}

TEST(SdpTest, ClockRateNeedsWellFormedRtpmap) {
  const SdpSession s = parseOk(
      "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0 96 97 98 99\n"
      "a=rtpmap:96 opus/48000/2\na=rtpmap:97 broken\na=rtpmap:98 L16/0\na=rtpmap:99 L16/99999999999\n");
  const SdpMedia& m = s.media[0];
  EXPECT_EQ(m.clockRate(96), 48000U);
  EXPECT_EQ(m.clockRate(0), std::nullopt);  // static payload type without a=rtpmap
  EXPECT_EQ(m.clockRate(97), std::nullopt);
  EXPECT_EQ(m.clockRate(98), std::nullopt);
  EXPECT_EQ(m.clockRate(99), std::nullopt);
  EXPECT_EQ(m.clockRate(255), std::nullopt);
}

TEST(SdpTest, RtcpPortReadsRfc3605Forms) {
  SdpMedia m;
  m.setAttribute("rtcp", "53020");
  EXPECT_EQ(m.rtcpPort(), 53020);
  m.setAttribute("rtcp", "53020 IN IP6 2001:db8::1");
  EXPECT_EQ(m.rtcpPort(), 53020);
  m.setAttribute("rtcp", "70000");
  EXPECT_EQ(m.rtcpPort(), std::nullopt);
  EXPECT_FALSE(m.rtcpMux());
}

TEST(SdpTest, MediaConnectionAddressOutOfRangeIsNothing) {
  const SdpSession s = parseOk(kIpv6SrtpOffer);
  EXPECT_EQ(s.mediaConnectionAddress(2), std::nullopt);
  const SdpSession noConnection = parseOk("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n");
  EXPECT_EQ(noConnection.mediaConnectionAddress(0), std::nullopt);
}

TEST(SdpTest, SerializeRebuildsMediaLineFromFields) {
  SdpSession s = parseOk("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio  04000  RTP/AVP   0 8 \n");
  EXPECT_EQ(s.media[0].port, 4000);
  s.media[0].formats = {"8"};
  s.media[0].proto = "RTP/SAVP";
  s.media[0].portCount = 2;
  EXPECT_EQ(s.serialize(), crlf("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000/2 RTP/SAVP 8\n"));
}

TEST(SdpTest, ReportsLineNumberOfBadMediaLine) {
  const auto e = parseErr("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio RTP/AVP 0\r\n");
  EXPECT_EQ(e.line, 5U);
  EXPECT_EQ(e.reason, "m= needs media, port, proto and at least one format");
}

TEST(SdpTest, RejectsMediaPortOutsideRange) {
  const std::string head = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n";
  EXPECT_TRUE(SdpSession::parse(head + "m=audio 65535 RTP/AVP 0\n").has_value());
  EXPECT_EQ(parseErr(head + "m=audio 65536 RTP/AVP 0\n").line, 5U);
  parseErr(head + "m=audio 99999999999999999999999 RTP/AVP 0\n");
  parseErr(head + "m=audio -1 RTP/AVP 0\n");
  parseErr(head + "m=audio 4000/0 RTP/AVP 0\n");
  parseErr(head + "m=audio 4000/ RTP/AVP 0\n");
  parseErr(head + "m=audio 4000/70000 RTP/AVP 0\n");
}

TEST(SdpTest, RequiresVersionOriginAndSessionName) {
  EXPECT_EQ(parseErr("").reason, "first line must be v=0");
  EXPECT_EQ(parseErr("o=- 1 1 IN IP4 192.0.2.1\nv=0\ns=-\n").line, 1U);
  EXPECT_EQ(parseErr("v=1\no=- 1 1 IN IP4 192.0.2.1\ns=-\n").line, 1U);
  EXPECT_EQ(parseErr("v=0\ns=-\nt=0 0\n").reason, "missing o= line");
  EXPECT_EQ(parseErr("v=0\no=- 1 1 IN IP4 192.0.2.1\nt=0 0\n").reason, "missing s= line");
  EXPECT_EQ(parseErr("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nv=0\n").line, 4U);
}

TEST(SdpTest, RejectsOriginWithoutSixFields) {
  const auto e = parseErr("v=0\no=- 1 IN IP4 192.0.2.1\ns=-\n");
  EXPECT_EQ(e.line, 2U);
  EXPECT_EQ(e.reason, "o= must have 6 fields");
  parseErr("v=0\no=- 1 1 1 IN IP4 192.0.2.1\ns=-\n");
}

TEST(SdpTest, RejectsMalformedConnectionLines) {
  const std::string head = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n";
  EXPECT_EQ(parseErr(head + "c=IN IP5 192.0.2.1\n").line, 4U);
  parseErr(head + "c=IN IP4\n");
  parseErr(head + "c=ATM NSAP 47.0091\n");
  parseErr(head + "c=IN IP4 192.0.2.1 extra\n");
  EXPECT_EQ(parseErr(head + "t=0 0\nm=audio 1 RTP/AVP 0\nc=IN IP4\n").line, 6U);
  EXPECT_EQ(parseErr(head + "c=IN IP4 192.0.2.1\nc=IN IP4 192.0.2.2\n").reason,
            "more than one session-level c= line");
}

TEST(SdpTest, RejectsSessionOnlyLinesInsideMediaSection) {
  const auto e = parseErr("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nm=audio 1 RTP/AVP 0\nt=0 0\n");
  EXPECT_EQ(e.line, 5U);
  EXPECT_EQ(e.reason, "t= not allowed in a media section");
}

TEST(SdpTest, RejectsMalformedLines) {
  const std::string head = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n";
  EXPECT_EQ(parseErr(head + "a\n").reason, "expected <type>=<value>");
  EXPECT_EQ(parseErr(head + "a:b\n").line, 4U);
  EXPECT_EQ(parseErr(head + "A=x\n").reason, "line type is not a lowercase letter");
  EXPECT_EQ(parseErr(head + "a=x\ry\n").reason, "CR or NUL inside line");
  EXPECT_EQ(parseErr(head + std::string("a=x\0y\n", 6)).reason, "CR or NUL inside line");
  EXPECT_EQ(parseErr(head + "a=x\r\r\n").reason, "CR or NUL inside line");
}

TEST(SdpTest, RejectsEmptyLineBeforeMoreContent) {
  const auto e = parseErr("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n\r\ns=-\r\n");
  EXPECT_EQ(e.line, 3U);
  EXPECT_EQ(e.reason, "empty line inside SDP");
}

TEST(SdpTest, EnforcesLineMediaAndSizeLimits) {
  const std::string head = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n";
  std::string lines = head;
  for (size_t i = 4; i < SdpSession::kMaxLines; ++i) {
    lines += "a=x\n";
  }
  EXPECT_TRUE(SdpSession::parse(lines).has_value());
  EXPECT_EQ(parseErr(lines + "a=x\n").line, SdpSession::kMaxLines + 1);

  std::string media = head;
  for (size_t i = 0; i < SdpSession::kMaxMedia; ++i) {
    media += "m=audio 1 RTP/AVP 0\n";
  }
  EXPECT_TRUE(SdpSession::parse(media).has_value());
  EXPECT_EQ(parseErr(media + "m=audio 1 RTP/AVP 0\n").reason, "more than 64 media sections");

  EXPECT_EQ(parseErr(head + "a=" + std::string(SdpSession::kMaxTextBytes, 'x') + "\n").line, 0U);
}

TEST(SdpTest, CountsLineEndsAsCrlfForSizeLimit) {
  // Exactly 64 KiB of LF text is 4 bytes too long once serialized with CRLF, so it is rejected:
  // otherwise the rewritten SDP could not be parsed again.
  const std::string head = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n";
  const std::string text = head + "a=" + std::string(SdpSession::kMaxTextBytes - head.size() - 3, 'x') + "\n";
  ASSERT_EQ(text.size(), SdpSession::kMaxTextBytes);
  EXPECT_EQ(parseErr(text).reason, "SDP larger than 64 KiB");
  // 3 head lines gain a CR each; the last line is "a=" + filler + CRLF.
  const std::string fits = head + "a=" + std::string(SdpSession::kMaxTextBytes - (head.size() + 3) - 4, 'x') + "\n";
  EXPECT_TRUE(SdpSession::parse(fits).has_value());
  EXPECT_EQ(parseOk(fits).serialize().size(), SdpSession::kMaxTextBytes);
}

TEST(SdpTest, SerializedSessionReparsesToSameText) {
  for (const auto text : {kSoftphoneOffer, kIpv6SrtpOffer}) {
    const std::string once = parseOk(text).serialize();
    EXPECT_EQ(parseOk(once).serialize(), once);
  }
}

}  // namespace
}  // namespace rdv::sdp
