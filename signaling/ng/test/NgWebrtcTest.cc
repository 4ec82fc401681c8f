// NG as a WebRTC gateway drives it (issue 12): Kamailio's rtpengine_manage() with
// `ICE=force RTP/SAVPF DTLS=passive` towards the browser and `ICE=remove RTP/AVP` towards the SIP
// phone, in both call directions; the SDP each side receives and the relay legs' ICE/DTLS.

#include <gtest/gtest.h>

#include <string>

#include "common/test/Crlf.h"
#include "signaling/ng/test/NgStack.h"
#include "signaling/sdp/Sdp.h"
#include "signaling/sdp/SdpWebrtc.h"
#include "signaling/sdp/test/ChromeOffer.h"

namespace rdv::ng {
namespace {

constexpr std::string_view kOurFingerprint =
    "sha-256 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF";
constexpr std::string_view kToBrowser = "ICE=force RTP/SAVPF DTLS=passive replace-origin";
constexpr std::string_view kToPhone = "ICE=remove RTP/AVP replace-origin";

std::string phoneSdp(int port) {
  return "v=0\r\no=- 1 1 IN IP4 198.18.0.30\r\ns=-\r\nc=IN IP4 198.18.0.30\r\nt=0 0\r\nm=audio " +
         std::to_string(port) + " RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n";
}

std::string browserAnswer() {
  return common::test::crlf(
      "v=0\no=- 99 2 IN IP4 127.0.0.1\ns=-\nt=0 0\na=group:BUNDLE 0\n"
      "m=audio 51000 UDP/TLS/RTP/SAVPF 0\nc=IN IP4 198.18.0.20\n"
      "a=candidate:1 1 udp 2122260223 198.18.0.20 51000 typ host\n"
      "a=ice-ufrag:Brws\na=ice-pwd:abcdefghijklmnopqrstuvwx\n"
      "a=fingerprint:sha-256 5D:7A:38:AB:32:4B:F1:67:0D:36:13:6F:12:84:0C:CA:91:A4:3A:7E:0E:CC:4C:66:22:4E:F8:37:DC:93:57:99\n"
      "a=setup:active\na=mid:0\na=rtcp-mux\na=rtpmap:0 PCMU/8000\n");
}

class NgWebrtcTest : public ::testing::Test {
 protected:
  NgWebrtcTest() { stack_.anchor.setDtlsFingerprint(std::string(kOurFingerprint)); }

  sdp::SdpSession request(std::string_view command, std::string_view fromTag, std::string_view toTag,
                          const std::string& body, std::string_view flags) {
    BValue r = BValue::dict();
    r.set("command", BValue::string(std::string(command)));
    r.set("call-id", BValue::string("w1")).set("from-tag", BValue::string(std::string(fromTag)));
    if (!toTag.empty()) r.set("to-tag", BValue::string(std::string(toTag)));
    r.set("sdp", BValue::string(body)).set("rtpp-flags", BValue::string(std::string(flags)));
    auto reply = stack_.call(std::to_string(++cookie_), r);
    EXPECT_EQ(reply.getString("result"), "ok") << reply.getString("error-reason").value_or("");
    auto s = sdp::SdpSession::parse(reply.getString("sdp").value_or(""));
    EXPECT_TRUE(s.has_value());
    return s ? *s : sdp::SdpSession{};
  }
  const relay::LegParams& leg(int l) {
    const relay::LegParams* p = stack_.anchor.legParams("w1", 0, l);
    EXPECT_NE(p, nullptr);
    static const relay::LegParams kNone;
    return p != nullptr ? *p : kNone;
  }

  relay::RelayOptions opts_ = test::relayOptions();
  test::NgStack stack_{opts_};
  int cookie_ = 0;
};

void expectPlain(const sdp::SdpSession& s) {
  const sdp::SdpMedia& m = s.media.at(0);
  EXPECT_EQ(m.proto, "RTP/AVP");
  for (std::string_view gone : {"ice-ufrag", "candidate", "fingerprint", "setup", "crypto"}) {
    EXPECT_FALSE(m.hasAttribute(gone)) << gone;
  }
  EXPECT_FALSE(s.hasAttribute("ice-lite"));
  EXPECT_FALSE(s.hasAttribute("fingerprint"));
}

TEST_F(NgWebrtcTest, BrowserCallsPhone) {
  expectPlain(request("offer", "br", "", common::test::crlf(sdp::test::kChromeAudioOffer), kToPhone));
  auto answer = request("answer", "br", "ph", phoneSdp(7000), kToBrowser);
  const sdp::SdpMedia& m = answer.media.at(0);
  EXPECT_EQ(m.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_TRUE(answer.hasAttribute("ice-lite"));
  EXPECT_EQ(m.attribute("fingerprint"), kOurFingerprint);
  EXPECT_EQ(m.attribute("setup"), "passive");
  EXPECT_EQ(m.attribute("mid"), "0");
  EXPECT_TRUE(m.rtcpMux());
  auto w = sdp::webrtcMedia(answer, 0);
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->candidates, 1U);
  EXPECT_EQ(leg(0).dtls.role, relay::DtlsRole::Passive);
  EXPECT_EQ(leg(0).ice.remoteUfrag.view(), "Tw6e");
  EXPECT_FALSE(leg(1).webrtc());
}

TEST_F(NgWebrtcTest, PhoneCallsBrowser) {
  auto offer = request("offer", "ph", "", phoneSdp(7000), kToBrowser);
  const sdp::SdpMedia& m = offer.media.at(0);
  EXPECT_EQ(m.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_TRUE(offer.hasAttribute("ice-lite"));
  EXPECT_EQ(m.attribute("setup"), "passive") << "DTLS=passive";
  EXPECT_EQ(m.attribute("fingerprint"), kOurFingerprint);
  EXPECT_TRUE(m.rtcpMux());
  EXPECT_TRUE(leg(1).ice.enabled());

  expectPlain(request("answer", "ph", "br", browserAnswer(), kToPhone));
  EXPECT_EQ(leg(1).dtls.role, relay::DtlsRole::Passive);
  EXPECT_EQ(leg(1).ice.remoteUfrag.view(), "Brws");
  EXPECT_EQ(leg(1).dtls.remote.length, 32U);
  EXPECT_TRUE(leg(1).mux) << "rtcp-mux required on the WebRTC leg";
  EXPECT_FALSE(leg(0).webrtc());
}

TEST_F(NgWebrtcTest, UdpTlsTransportProtocolIsAnsweredNotRefused) {
  auto offer = request("offer", "ph", "", phoneSdp(7000), "UDP/TLS/RTP/SAVPF rtcp-mux-require");
  EXPECT_EQ(offer.media.at(0).proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(offer.media[0].attribute("setup"), "actpass");
  EXPECT_TRUE(offer.hasAttribute("ice-lite")) << "ICE-lite by default on a DTLS leg";
}

}  // namespace
}  // namespace rdv::ng
