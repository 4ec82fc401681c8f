// WebRTC through the B2BUA (issue 12): a Chrome caller (UDP/TLS/RTP/SAVPF, ICE, BUNDLE, actpass,
// rtcp-mux, rtcp-fb, Opus) answered by a plain phone, and a plain caller calling a callee that
// registered over WebSocket; the SDP each side receives and the relay legs' ICE/DTLS.

#include <gtest/gtest.h>

#include "signaling/b2bua/B2bua.h"
#include "signaling/b2bua/test/B2buaCallTest.h"
#include "signaling/sdp/SdpWebrtc.h"
#include "signaling/sdp/test/ChromeOffer.h"

namespace rdv::b2bua::test {
namespace {

constexpr std::string_view kOurFingerprint =
    "sha-256 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF";
constexpr std::string_view kBobWsContact = "sip:bob@df7jal23ls0d.invalid;transport=ws";

sdp::SdpSession sdpOf(const sip::SipMessage& m) {
  auto s = sdp::SdpSession::parse(m.body());
  EXPECT_TRUE(s.has_value() && !s->media.empty());
  return s && !s->media.empty() ? *s : sdp::SdpSession{};
}

class B2buaWebrtcTest : public B2buaCallTest {
 protected:
  B2buaWebrtcTest() { anchor_.setDtlsFingerprint(std::string(kOurFingerprint)); }
  const relay::LegParams& leg(int l) {
    const relay::LegParams* p = anchor_.legParams("call-1", 0, l);
    EXPECT_NE(p, nullptr);
    static const relay::LegParams kNone;
    return p != nullptr ? *p : kNone;
  }
};

TEST_F(B2buaWebrtcTest, ChromeCallerGetsIceLiteAndDtlsWhileThePlainCalleeGetsRtpAvp) {
  registerBob();
  auto inv = inviteBob("call-1", sdp::test::kChromeAudioOffer);
  auto toBob = sdpOf(inv);
  const sdp::SdpMedia& b = toBob.media.at(0);
  EXPECT_EQ(b.proto, "RTP/AVP");
  for (std::string_view gone : {"ice-ufrag", "ice-pwd", "candidate", "fingerprint", "setup", "crypto"}) {
    EXPECT_FALSE(b.hasAttribute(gone)) << gone;
  }
  EXPECT_FALSE(toBob.hasAttribute("ice-lite"));
  EXPECT_TRUE(sdp::bundleGroup(toBob).empty());
  EXPECT_EQ(b.rtpmap(111), "opus/48000/2");

  receive(responseLf(inv, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "alice: SIP/2.0 200 OK"}));
  auto toAlice = sdpOf(parsedSent(sent[1]));
  const sdp::SdpMedia& a = toAlice.media.at(0);
  EXPECT_EQ(a.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_TRUE(toAlice.hasAttribute("ice-lite"));
  EXPECT_EQ(sdp::bundleGroup(toAlice), std::vector<std::string>{"0"});
  auto w = sdp::webrtcMedia(toAlice, 0);
  ASSERT_TRUE(w.has_value()) << w.error().reason;
  ASSERT_TRUE(w->fingerprint.has_value());
  EXPECT_EQ(w->fingerprint->format(), kOurFingerprint);
  EXPECT_EQ(w->setup, sdp::DtlsSetup::Passive);
  EXPECT_EQ(w->mid, "0");
  EXPECT_TRUE(w->rtcpMux);
  EXPECT_EQ(w->candidates, 1U);
  const std::string candidate = "candidate:1 1 udp 2130706431 127.0.0.1 " + std::to_string(a.port) + " typ host";
  EXPECT_TRUE(std::any_of(a.lines.begin(), a.lines.end(), [&](const sdp::SdpLine& l) { return l.value == candidate; }))
      << candidate;

  const relay::LegParams& browser = leg(0);
  EXPECT_EQ(browser.dtls.role, relay::DtlsRole::Passive);
  EXPECT_EQ(browser.dtls.remote.length, 32U);
  EXPECT_EQ(browser.dtls.remote.digest[0], std::byte{0x5D});
  ASSERT_TRUE(w->ice.has_value());
  EXPECT_EQ(browser.ice.localUfrag.view(), w->ice->ufrag);
  EXPECT_EQ(browser.ice.localPwd.view(), w->ice->pwd);
  EXPECT_EQ(browser.ice.remoteUfrag.view(), "Tw6e");
  EXPECT_EQ(browser.ice.remotePwd.view(), "b9FkvY6Es1y0MVLAiRYH/C1v");
  EXPECT_TRUE(browser.mux);
  EXPECT_FALSE(browser.crypto.terminates());
  EXPECT_FALSE(leg(1).webrtc()) << "the phone's leg is plain RTP";
}

TEST_F(B2buaWebrtcTest, CalleeRegisteredOverWebSocketGetsAWebrtcOffer) {
  receive(registerLf("bob", kBobWsContact, 1), bob_);
  ASSERT_EQ(takeStartLines(), std::vector<std::string>{"bob: SIP/2.0 200 OK"});
  receive(inviteLf("call-1", "bob", aliceSdp()), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent),
            (Lines{"alice: SIP/2.0 100 Trying", "bob: INVITE " + std::string(kBobWsContact) + " SIP/2.0"}));
  auto inv = parsedSent(sent[1]);
  auto toBob = sdpOf(inv);
  const sdp::SdpMedia& b = toBob.media.at(0);
  EXPECT_EQ(b.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_TRUE(toBob.hasAttribute("ice-lite"));
  EXPECT_EQ(b.attribute("setup"), "actpass");
  EXPECT_EQ(b.attribute("fingerprint"), kOurFingerprint);
  EXPECT_TRUE(b.rtcpMux());
  EXPECT_EQ(b.attribute("mid"), "0");

  const std::string answer =
      "v=0\no=- 99 2 IN IP4 127.0.0.1\ns=-\nt=0 0\na=group:BUNDLE 0\n"
      "m=audio 51000 UDP/TLS/RTP/SAVPF 0\nc=IN IP4 198.18.0.3\n"
      "a=candidate:1 1 udp 2122260223 198.18.0.3 51000 typ host\n"
      "a=ice-ufrag:Brws\na=ice-pwd:abcdefghijklmnopqrstuvwx\n"
      "a=fingerprint:sha-256 5D:7A:38:AB:32:4B:F1:67:0D:36:13:6F:12:84:0C:CA:91:A4:3A:7E:0E:CC:4C:66:22:4E:F8:37:DC:93:57:99\n"
      "a=setup:active\na=mid:0\na=rtcp-mux\na=rtpmap:0 PCMU/8000\n";
  receive(responseLf(inv, 200, "OK", "b1", kBobWsContact, answer), bob_);
  sent = take();
  ASSERT_EQ(sent.size(), 2U);
  auto toAlice = sdpOf(parsedSent(sent[1]));
  EXPECT_EQ(toAlice.media.at(0).proto, "RTP/AVP");
  EXPECT_FALSE(toAlice.hasAttribute("ice-lite"));
  EXPECT_FALSE(toAlice.media[0].hasAttribute("fingerprint"));
  EXPECT_EQ(leg(1).dtls.role, relay::DtlsRole::Passive) << "the browser answered active";
  EXPECT_EQ(leg(1).ice.remoteUfrag.view(), "Brws");
  EXPECT_FALSE(leg(0).webrtc());
}

}  // namespace
}  // namespace rdv::b2bua::test
