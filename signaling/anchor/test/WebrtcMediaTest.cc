// WebRTC legs through MediaAnchor over a real RelayControl on loopback: a Chrome offer answered
// by a plain RTP peer and a plain offer sent to a browser; the SDP each side receives (proto,
// ICE-lite, candidates on the relay's port, fingerprint, setup, mid, BUNDLE, rtcp-mux) and what
// the relay legs were told (relay::LegParams::ice and ::dtls).

#include "signaling/anchor/MediaAnchor.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/test/Crlf.h"
#include "relay/RelayControl.h"
#include "relay/test/FreePorts.h"
#include "signaling/sdp/Sdp.h"
#include "signaling/sdp/SdpWebrtc.h"
#include "signaling/sdp/test/ChromeOffer.h"

namespace rdv::anchor {
namespace {

using common::test::crlf;

// A fixed stand-in for dtls::DtlsIdentity::fingerprint().
constexpr std::string_view kOurFingerprint =
    "sha-256 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF";
constexpr std::string_view kBrowserFingerprint =
    "sha-256 5D:7A:38:AB:32:4B:F1:67:0D:36:13:6F:12:84:0C:CA:91:A4:3A:7E:0E:CC:4C:66:22:4E:F8:37:DC:93:57:99";

relay::RelayOptions relayOptions() {
  relay::RelayOptions o;
  o.portMin = relay::test::freePortWindow(60);
  o.portMax = static_cast<uint16_t>(o.portMin + 59);
  o.workers = 1;
  return o;
}

std::string plainSdp(std::string_view ip, uint16_t port, std::string_view media = "m=audio {} RTP/AVP 0 8") {
  std::string m(media);
  m.replace(m.find("{}"), 2, std::to_string(port));
  return "v=0\r\no=- 1 1 IN IP4 " + std::string(ip) + "\r\ns=-\r\nc=IN IP4 " + std::string(ip) + "\r\nt=0 0\r\n" + m +
         "\r\na=rtpmap:0 PCMU/8000\r\n";
}

// A browser's answer to our offer: its own credentials, fingerprint and `setup`.
std::string browserAnswer(std::string_view setup) {
  return crlf(
      "v=0\no=- 99 2 IN IP4 127.0.0.1\ns=-\nt=0 0\na=group:BUNDLE 0\n"
      "m=audio 51000 UDP/TLS/RTP/SAVPF 0\nc=IN IP4 198.18.0.20\n"
      "a=candidate:1 1 udp 2122260223 198.18.0.20 51000 typ host\n"
      "a=ice-ufrag:Brws\na=ice-pwd:abcdefghijklmnopqrstuvwx\n"
      "a=fingerprint:" + std::string(kBrowserFingerprint) + "\na=setup:" + std::string(setup) +
      "\na=mid:0\na=rtcp-mux\na=rtpmap:0 PCMU/8000\n");
}

sdp::SdpSession parsed(const Expected<std::string, AnchorError>& out) {
  EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().reason);
  auto s = sdp::SdpSession::parse(out ? *out : std::string());
  EXPECT_TRUE(s.has_value());
  return s ? *s : sdp::SdpSession{};
}

size_t count(const sdp::SdpMedia& m, std::string_view prefix) {
  size_t n = 0;
  for (const auto& l : m.lines) n += l.type == 'a' && std::string_view(l.value).starts_with(prefix) ? 1 : 0;
  return n;
}

class WebrtcMediaTest : public ::testing::Test {
 protected:
  WebrtcMediaTest() { anchor_.setDtlsFingerprint(std::string(kOurFingerprint)); }

  static AnchorOptions toPlain() {
    AnchorOptions o;
    o.srtp.terminateDtls = true;  // the B2BUA's setting
    return o;
  }
  static AnchorOptions toBrowser() {
    AnchorOptions o;
    o.srtp.receiver = SrtpPolicy::Dtls;
    return o;
  }
  const relay::LegParams& leg(int l, size_t mline = 0) {
    const relay::LegParams* p = anchor_.legParams("c1", mline, l);
    EXPECT_NE(p, nullptr);
    static const relay::LegParams kNone;
    return p != nullptr ? *p : kNone;
  }
  uint16_t relayPort(int l, size_t mline = 0) {
    auto q = anchor_.query("c1");
    return q ? q->report.streams.at(mline)[l].rtpPort : 0;
  }

  relay::RelayOptions opts_ = relayOptions();
  relay::RelayControl relay_{opts_};
  common::ManualClock clock_{1'000'000'000, 1'700'000'000'000'000'000};
  MediaAnchor anchor_{relay_, "127.0.0.1", clock_};
};

TEST_F(WebrtcMediaTest, ChromeOfferReachesThePlainSideAsRtpAvpWithoutIceOrDtls) {
  auto offer = parsed(anchor_.offer("c1", "a", crlf(sdp::test::kChromeAudioOffer), toPlain()));
  ASSERT_EQ(offer.media.size(), 1U);
  const sdp::SdpMedia& m = offer.media[0];
  EXPECT_EQ(m.proto, "RTP/AVP");
  for (std::string_view gone : {"ice-ufrag", "ice-pwd", "candidate", "fingerprint", "setup", "crypto"}) {
    EXPECT_FALSE(m.hasAttribute(gone)) << gone;
    EXPECT_FALSE(offer.hasAttribute(gone)) << gone;
  }
  EXPECT_FALSE(offer.hasAttribute("ice-lite"));
  EXPECT_TRUE(sdp::bundleGroup(offer).empty()) << "no BUNDLE towards a plain peer";
  EXPECT_EQ(m.port, relayPort(1));
  EXPECT_EQ(count(m, "rtcp-fb:"), 1U) << "a=rtcp-fb passes through";
}

TEST_F(WebrtcMediaTest, ChromeGetsIceLiteOurFingerprintAndPassiveSetupInTheAnswer) {
  ASSERT_TRUE(anchor_.offer("c1", "a", crlf(sdp::test::kChromeAudioOffer), toPlain()));
  auto answer = parsed(anchor_.answer("c1", "a", "b", plainSdp("198.18.0.30", 7000), AnchorOptions{}));
  ASSERT_EQ(answer.media.size(), 1U);
  const sdp::SdpMedia& m = answer.media[0];
  EXPECT_EQ(m.proto, "UDP/TLS/RTP/SAVPF") << "the answer repeats the browser's proto";
  EXPECT_TRUE(answer.hasAttribute("ice-lite"));
  EXPECT_EQ(sdp::bundleGroup(answer), std::vector<std::string>{"0"});
  auto w = sdp::webrtcMedia(answer, 0);
  ASSERT_TRUE(w.has_value()) << w.error().reason;
  ASSERT_TRUE(w->ice.has_value());
  EXPECT_GE(w->ice->ufrag.size(), 4U);
  EXPECT_GE(w->ice->pwd.size(), 22U);
  EXPECT_EQ(w->candidates, 1U) << "rtcp-mux: one component";
  EXPECT_TRUE(w->endOfCandidates);
  EXPECT_EQ(w->fingerprint->format(), kOurFingerprint);
  EXPECT_EQ(w->setup, sdp::DtlsSetup::Passive);
  EXPECT_EQ(w->mid, "0");
  EXPECT_TRUE(w->rtcpMux);
  EXPECT_EQ(m.port, relayPort(0));
  const std::string candidate = "candidate:1 1 udp 2130706431 127.0.0.1 " + std::to_string(relayPort(0)) + " typ host";
  EXPECT_EQ(count(m, candidate), 1U) << candidate;

  const relay::LegParams& browser = leg(0);
  EXPECT_TRUE(browser.webrtc());
  EXPECT_EQ(browser.dtls.role, relay::DtlsRole::Passive);
  EXPECT_EQ(browser.dtls.remote.hash, relay::FingerprintHash::Sha256);
  ASSERT_EQ(browser.dtls.remote.length, 32U);
  EXPECT_EQ(browser.dtls.remote.digest[0], std::byte{0x5D});
  EXPECT_EQ(browser.ice.localUfrag.view(), w->ice->ufrag);
  EXPECT_EQ(browser.ice.localPwd.view(), w->ice->pwd);
  EXPECT_EQ(browser.ice.remoteUfrag.view(), "Tw6e");
  EXPECT_EQ(browser.ice.remotePwd.view(), "b9FkvY6Es1y0MVLAiRYH/C1v");
  EXPECT_TRUE(browser.mux);
  EXPECT_FALSE(browser.srtp) << "terminated, not opaque";
  EXPECT_FALSE(browser.crypto.terminates()) << "no SDES keys on a DTLS leg";
  EXPECT_FALSE(leg(1).webrtc());
}

TEST_F(WebrtcMediaTest, BundledAudioAndVideoShareOneRelayPortTowardTheBrowserAndKeepAPortEachTowardThePhone) {
  auto offer = parsed(anchor_.offer("c1", "a", crlf(sdp::test::kChromeOffer), toPlain()));
  ASSERT_EQ(offer.media.size(), 2U);
  EXPECT_NE(offer.media[0].port, offer.media[1].port) << "the phone gets a port per m-line";
  EXPECT_NE(offer.media[1].port, 0);
  EXPECT_TRUE(sdp::bundleGroup(offer).empty()) << "no BUNDLE towards a plain peer";
  std::string phone = plainSdp("198.18.0.30", 7000) + "m=video 7002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
  auto answer = parsed(anchor_.answer("c1", "a", "b", phone, AnchorOptions{}));
  ASSERT_EQ(answer.media.size(), 2U);
  EXPECT_EQ(sdp::bundleGroup(answer), (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(answer.media[0].port, relayPort(0));
  EXPECT_EQ(answer.media[1].port, answer.media[0].port) << "one transport for the group";
  EXPECT_EQ(relayPort(0, 1), 0) << "the bundled leg took no port from the pool";
  auto audio = sdp::webrtcMedia(answer, 0);
  auto video = sdp::webrtcMedia(answer, 1);
  ASSERT_TRUE(audio && video);
  ASSERT_TRUE(audio->ice && video->ice);
  EXPECT_EQ(video->ice->ufrag, audio->ice->ufrag);
  EXPECT_EQ(video->ice->pwd, audio->ice->pwd);
  EXPECT_EQ(video->fingerprint->format(), kOurFingerprint);
  EXPECT_EQ(video->setup, sdp::DtlsSetup::Passive);
  EXPECT_TRUE(video->rtcpMux);
  EXPECT_EQ(answer.media[0].attribute("mid"), "0");
  EXPECT_EQ(answer.media[1].attribute("mid"), "1");
  EXPECT_EQ(count(answer.media[1], "rtcp-fb:96 nack pli"), 1U) << "generated for the browser";

  // The relay: video's browser leg rides on audio's transport, demultiplexed by payload type.
  const relay::LegParams& transport = leg(0, 0);
  const relay::LegParams& bundled = leg(0, 1);
  EXPECT_FALSE(transport.bundle.bundled());
  EXPECT_TRUE(transport.bundle.payloadTypes.has(111));
  EXPECT_FALSE(transport.bundle.payloadTypes.has(96));
  EXPECT_EQ(bundled.bundle.transport, 0U);
  EXPECT_TRUE(bundled.bundle.payloadTypes.has(96));
  EXPECT_TRUE(bundled.bundle.payloadTypes.has(97));
  EXPECT_FALSE(bundled.bundle.payloadTypes.has(111));
  EXPECT_EQ(transport.dtls.role, relay::DtlsRole::Passive);
  EXPECT_FALSE(leg(1, 1).bundle.bundled()) << "the phone's video leg has its own port";
  EXPECT_EQ(transport.bundle.midView(), "0");
  EXPECT_EQ(bundled.bundle.midView(), "1");
}

TEST_F(WebrtcMediaTest, MaxBundleBrowsersBundleOnlyVideoIsAnchoredOnTheAudioTransport) {
  std::string offer = crlf(sdp::test::kChromeOffer);
  const size_t video = offer.find("m=video 50002");
  ASSERT_NE(video, std::string::npos);
  offer.replace(video, 13, "m=video 0");
  offer.insert(offer.find("a=mid:1"), "a=bundle-only\r\na=extmap:4/sendrecv urn:ietf:params:rtp-hdrext:sdes:mid\r\n");
  auto toPhone = parsed(anchor_.offer("c1", "a", offer, toPlain()));
  ASSERT_EQ(toPhone.media.size(), 2U);
  EXPECT_NE(toPhone.media[1].port, 0) << "bundle-only video reaches the phone with a port";
  EXPECT_FALSE(toPhone.media[1].hasAttribute("bundle-only"));
  std::string phone = plainSdp("198.18.0.30", 7000) + "m=video 7002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
  auto answer = parsed(anchor_.answer("c1", "a", "b", phone, AnchorOptions{}));
  EXPECT_EQ(sdp::bundleGroup(answer), (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(answer.media.at(1).port, answer.media.at(0).port);
  EXPECT_EQ(leg(0, 1).bundle.midView(), "1");
  EXPECT_EQ(leg(0, 1).bundle.midExtensionId, 4) << "the browser's MID header extension id";
}

TEST_F(WebrtcMediaTest, AnOfferWithoutAGroupKeepsATransportPerMline) {
  std::string offer = crlf(sdp::test::kChromeOffer);
  offer.erase(offer.find("a=group:BUNDLE 0 1\r\n"), 20);
  ASSERT_TRUE(anchor_.offer("c1", "a", offer, toPlain()));
  std::string phone = plainSdp("198.18.0.30", 7000) + "m=video 7002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
  auto answer = parsed(anchor_.answer("c1", "a", "b", phone, AnchorOptions{}));
  ASSERT_EQ(answer.media.size(), 2U);
  EXPECT_NE(answer.media[0].port, answer.media[1].port);
  EXPECT_TRUE(sdp::bundleGroup(answer).empty());
  EXPECT_FALSE(leg(0, 1).bundle.bundled());
}

// A browser's answer to our audio+video offer, bundling both on the audio transport (`group`
// "0 1") or not (no group, a port each).
std::string browserAvAnswer(bool group) {
  std::string common = "a=ice-ufrag:Brws\na=ice-pwd:abcdefghijklmnopqrstuvwx\na=fingerprint:" +
                       std::string(kBrowserFingerprint) + "\na=setup:active\na=rtcp-mux\n";
  return crlf("v=0\no=- 99 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n" + std::string(group ? "a=group:BUNDLE 0 1\n" : "") +
              "m=audio 51000 UDP/TLS/RTP/SAVPF 0\nc=IN IP4 198.18.0.20\n" + common +
              "a=mid:0\na=rtpmap:0 PCMU/8000\n"
              "m=video " + std::string(group ? "51000" : "51002") + " UDP/TLS/RTP/SAVPF 96\nc=IN IP4 198.18.0.20\n" +
              common + "a=mid:1\na=rtpmap:96 VP8/90000\n");
}

TEST_F(WebrtcMediaTest, OurOfferToABrowserGroupsItsMlinesAndABundlingAnswerPutsVideoOnTheAudioTransport) {
  const std::string phone = plainSdp("198.18.0.30", 7000) + "m=video 7002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
  auto offer = parsed(anchor_.offer("c1", "a", phone, toBrowser()));
  ASSERT_EQ(offer.media.size(), 2U);
  EXPECT_EQ(sdp::bundleGroup(offer), (std::vector<std::string>{"0", "1"}));
  EXPECT_NE(offer.media[0].port, offer.media[1].port) << "unique addresses in an offer (RFC 9143 §7.2)";
  EXPECT_NE(relayPort(1, 1), 0) << "video keeps a socket until the answer bundles it";
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", browserAvAnswer(true), AnchorOptions{}));
  EXPECT_EQ(leg(1, 1).bundle.transport, 0U) << "the browser's video rides on the audio transport";
  EXPECT_FALSE(leg(1, 0).bundle.bundled());
  EXPECT_TRUE(leg(1, 1).bundle.payloadTypes.has(96));
  EXPECT_EQ(leg(1, 0).dtls.role, relay::DtlsRole::Passive);
  EXPECT_FALSE(leg(0, 1).bundle.bundled()) << "the phone keeps its video port";
}

TEST_F(WebrtcMediaTest, AnAnswerThatDeclinesOurGroupKeepsATransportPerMline) {
  const std::string phone = plainSdp("198.18.0.30", 7000) + "m=video 7002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
  ASSERT_TRUE(anchor_.offer("c1", "a", phone, toBrowser()));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", browserAvAnswer(false), AnchorOptions{}));
  EXPECT_FALSE(leg(1, 1).bundle.bundled());
  EXPECT_EQ(leg(1, 1).dtls.role, relay::DtlsRole::Passive) << "video has its own handshake";
}

TEST_F(WebrtcMediaTest, PlainOfferToABrowserIsWebrtcAndTheAnswerSetsOurRole) {
  auto offer = parsed(anchor_.offer("c1", "a", plainSdp("198.18.0.30", 7000), toBrowser()));
  const sdp::SdpMedia& m = offer.media.at(0);
  EXPECT_EQ(m.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_TRUE(offer.hasAttribute("ice-lite"));
  EXPECT_EQ(m.attribute("setup"), "actpass");
  EXPECT_EQ(m.attribute("fingerprint"), kOurFingerprint);
  EXPECT_EQ(m.attribute("mid"), "0");
  EXPECT_TRUE(m.rtcpMux());
  EXPECT_EQ(sdp::bundleGroup(offer), std::vector<std::string>{"0"});
  EXPECT_TRUE(leg(1).ice.enabled());
  EXPECT_EQ(leg(1).dtls.role, relay::DtlsRole::Off) << "unknown until the answer";

  auto answer = parsed(anchor_.answer("c1", "a", "b", browserAnswer("active"), AnchorOptions{}));
  EXPECT_EQ(answer.media.at(0).proto, "RTP/AVP");
  EXPECT_FALSE(answer.hasAttribute("ice-lite"));
  EXPECT_FALSE(answer.media[0].hasAttribute("fingerprint"));
  EXPECT_FALSE(answer.media[0].hasAttribute("ice-ufrag"));
  EXPECT_EQ(leg(1).dtls.role, relay::DtlsRole::Passive) << "the browser is active";
  EXPECT_EQ(leg(1).ice.remoteUfrag.view(), "Brws");
  EXPECT_TRUE(leg(1).mux);
  EXPECT_FALSE(leg(0).webrtc());
}

TEST_F(WebrtcMediaTest, PassiveAnswerMakesUsTheClientAndDtlsOptionSetsOurSetup) {
  ASSERT_TRUE(anchor_.offer("c1", "a", plainSdp("198.18.0.30", 7000), toBrowser()));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", browserAnswer("passive"), AnchorOptions{}));
  EXPECT_EQ(leg(1).dtls.role, relay::DtlsRole::Active);

  AnchorOptions passive = toBrowser();
  passive.webrtc.role = relay::DtlsRole::Passive;
  auto offer = parsed(anchor_.offer("c2", "a", plainSdp("198.18.0.30", 7000), passive));
  EXPECT_EQ(offer.media.at(0).attribute("setup"), "passive");
  auto contradiction = anchor_.answer("c2", "a", "b", browserAnswer("passive"), AnchorOptions{});
  ASSERT_FALSE(contradiction.has_value());
  EXPECT_NE(contradiction.error().reason.find("contradicts"), std::string::npos) << contradiction.error().reason;
}

TEST_F(WebrtcMediaTest, CredentialsStayAcrossReOffersAndChangeOnIceRestart) {
  ASSERT_TRUE(anchor_.offer("c1", "a", crlf(sdp::test::kChromeAudioOffer), toPlain()));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", plainSdp("198.18.0.30", 7000), AnchorOptions{}));
  const relay::LegIce first = leg(0).ice;
  ASSERT_TRUE(anchor_.offer("c1", "a", crlf(sdp::test::kChromeAudioOffer), toPlain()));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", plainSdp("198.18.0.30", 7000), AnchorOptions{}));
  EXPECT_EQ(leg(0).ice, first) << "an unchanged re-offer keeps our ufrag and pwd";

  std::string restart = crlf(sdp::test::kChromeAudioOffer);
  restart.replace(restart.find("ice-ufrag:Tw6e"), 14, "ice-ufrag:Rst2");
  ASSERT_TRUE(anchor_.offer("c1", "a", restart, toPlain()));
  EXPECT_NE(leg(0).ice.localUfrag, first.localUfrag) << "ICE restart: new credentials of ours";
  EXPECT_EQ(leg(0).ice.remoteUfrag.view(), "Rst2");
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", plainSdp("198.18.0.30", 7000), AnchorOptions{}));

  // A re-offer from the plain side keeps the browser's leg WebRTC.
  auto reoffer = parsed(anchor_.offer("c1", "b", plainSdp("198.18.0.30", 7000), AnchorOptions{}));
  EXPECT_EQ(reoffer.media.at(0).proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(reoffer.media[0].attribute("fingerprint"), kOurFingerprint);
}

TEST_F(WebrtcMediaTest, HostileOrIncompleteDtlsIsRefused) {
  std::string badFp = crlf(sdp::test::kChromeAudioOffer);
  badFp.replace(badFp.find("5D:7A"), 5, "5D7A:");
  auto r = anchor_.offer("c1", "a", badFp, toPlain());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, AnchorErrorCode::BadSdp);
  EXPECT_EQ(anchor_.calls(), 0U) << "nothing of a refused offer stays";

  ASSERT_TRUE(anchor_.offer("c1", "a", plainSdp("198.18.0.30", 7000), toBrowser()));
  std::string noFp = browserAnswer("active");
  noFp.erase(noFp.find("a=fingerprint"), noFp.find("a=setup") - noFp.find("a=fingerprint"));
  EXPECT_FALSE(anchor_.answer("c1", "a", "b", noFp, AnchorOptions{}).has_value());

  MediaAnchor noCert(relay_, "127.0.0.1", clock_);
  auto refused = noCert.offer("c9", "a", crlf(sdp::test::kChromeAudioOffer), toPlain());
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().reason.find("certificate"), std::string::npos);
}

TEST_F(WebrtcMediaTest, LongIceCredentialsRefuseIceButNotTheCall) {
  std::string longUfrag = crlf(sdp::test::kChromeAudioOffer);
  longUfrag.replace(longUfrag.find("ice-ufrag:Tw6e"), 14, "ice-ufrag:" + std::string(80, 'u'));
  ASSERT_TRUE(anchor_.offer("c1", "a", longUfrag, toPlain()));
  auto answer = parsed(anchor_.answer("c1", "a", "b", plainSdp("198.18.0.30", 7000), AnchorOptions{}));
  EXPECT_FALSE(answer.media.at(0).hasAttribute("ice-ufrag"));
  EXPECT_FALSE(leg(0).ice.enabled());
  EXPECT_EQ(leg(0).dtls.role, relay::DtlsRole::Passive) << "DTLS still terminated";
}

TEST_F(WebrtcMediaTest, IceForceGivesAPlainReceiverIceLiteWithACandidatePerComponent) {
  AnchorOptions force;
  force.webrtc.ice = IcePolicy::Force;
  auto offer = parsed(anchor_.offer("c1", "a", plainSdp("198.18.0.30", 7000), force));
  const sdp::SdpMedia& m = offer.media.at(0);
  EXPECT_EQ(m.proto, "RTP/AVP");
  EXPECT_TRUE(offer.hasAttribute("ice-lite"));
  EXPECT_EQ(count(m, "candidate:"), 2U) << "no rtcp-mux: RTP and RTCP components";
  EXPECT_FALSE(m.hasAttribute("fingerprint"));
  EXPECT_TRUE(leg(1).ice.enabled());

  AnchorOptions remove = toBrowser();
  remove.webrtc.ice = IcePolicy::Remove;
  auto none = parsed(anchor_.offer("c2", "a", plainSdp("198.18.0.30", 7000), remove));
  EXPECT_FALSE(none.hasAttribute("ice-lite"));
  EXPECT_FALSE(none.media.at(0).hasAttribute("ice-ufrag"));
  EXPECT_TRUE(none.media[0].hasAttribute("fingerprint"));
}

}  // namespace
}  // namespace rdv::anchor
