#include "signaling/sdp/SdpWebrtc.h"

#include <gtest/gtest.h>

#include <string>

#include "common/test/Crlf.h"
#include "signaling/sdp/test/ChromeOffer.h"

namespace rdv::sdp {
namespace {

using common::test::crlf;
using test::kChromeOffer;

SdpSession parseOk(std::string_view text) {
  auto s = SdpSession::parse(crlf(text));
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().reason);
  return s ? *s : SdpSession{};
}

TEST(SdpWebrtcTest, ReadsChromeOfferAttributes) {
  const SdpSession s = parseOk(kChromeOffer);
  auto a = webrtcMedia(s, 0);
  ASSERT_TRUE(a.has_value()) << a.error().reason;
  ASSERT_TRUE(a->ice.has_value());
  EXPECT_EQ(a->ice->ufrag, "Tw6e");
  EXPECT_EQ(a->ice->pwd, "b9FkvY6Es1y0MVLAiRYH/C1v");
  EXPECT_FALSE(a->iceRefused);
  EXPECT_FALSE(a->iceLite);
  EXPECT_EQ(a->candidates, 1U);
  ASSERT_TRUE(a->fingerprint.has_value());
  EXPECT_EQ(a->fingerprint->hash, "sha-256");
  ASSERT_EQ(a->fingerprint->digest.size(), 32U);
  EXPECT_EQ(a->fingerprint->digest[0], std::byte{0x5D});
  EXPECT_EQ(a->fingerprint->digest[31], std::byte{0x99});
  EXPECT_EQ(a->setup, DtlsSetup::ActPass);
  EXPECT_EQ(a->mid, "0");
  EXPECT_TRUE(a->rtcpMux);
  ASSERT_EQ(a->rtcpFb.size(), 1U);
  EXPECT_EQ(a->rtcpFb[0], "111 transport-cc");

  auto v = webrtcMedia(s, 1);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->mid, "1");
  EXPECT_EQ(v->rtcpFb.size(), 3U);
  EXPECT_EQ(bundleGroup(s), (std::vector<std::string>{"0", "1"}));
}

TEST(SdpWebrtcTest, SessionLevelCredentialsFingerprintAndLite) {
  const SdpSession s = parseOk(
      "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\na=ice-lite\na=ice-ufrag:abcd\n"
      "a=ice-pwd:0123456789abcdefghijkl\na=fingerprint:SHA-1 "
      "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33\na=setup:passive\n"
      "m=audio 4000 UDP/TLS/RTP/SAVP 0\nc=IN IP4 192.0.2.1\na=end-of-candidates\n");
  auto a = webrtcMedia(s, 0);
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->iceLite);
  ASSERT_TRUE(a->ice.has_value());
  EXPECT_EQ(a->ice->ufrag, "abcd");
  EXPECT_TRUE(a->endOfCandidates);
  ASSERT_TRUE(a->fingerprint.has_value());
  EXPECT_EQ(a->fingerprint->hash, "sha-1");
  EXPECT_EQ(a->fingerprint->format(), "sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33");
  EXPECT_EQ(a->setup, DtlsSetup::Passive);
  EXPECT_TRUE(bundleGroup(s).empty());
}

TEST(SdpWebrtcTest, MalformedFingerprintsAreRefused) {
  for (std::string_view bad : {"sha-256", "sha-256 ", "sha-256 5D:7A", "sha-256 5D7A38",
                               "sha-1 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:3G",
                               "sha-1 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:",
                               " 00:11", "sha@1 00:11"}) {
    EXPECT_FALSE(parseFingerprint(bad).has_value()) << bad;
  }
  // An unknown hash name is kept (a peer may offer several); its length is not checked.
  EXPECT_TRUE(parseFingerprint("sha-3 AB:CD").has_value());
  const SdpSession s = parseOk(
      "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 UDP/TLS/RTP/SAVPF 0\n"
      "c=IN IP4 192.0.2.1\na=fingerprint:sha-256 ZZ\n");
  EXPECT_FALSE(webrtcMedia(s, 0).has_value());
  const SdpSession setup = parseOk(
      "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 UDP/TLS/RTP/SAVPF 0\n"
      "c=IN IP4 192.0.2.1\na=setup:sideways\n");
  EXPECT_FALSE(webrtcMedia(setup, 0).has_value());
}

TEST(SdpWebrtcTest, UnusableIceCredentialsRefuseIceOnly) {
  const std::string longUfrag(65, 'a');
  for (const std::string& creds : {"a=ice-ufrag:" + longUfrag + "\na=ice-pwd:0123456789abcdefghijkl\n",
                                   std::string("a=ice-ufrag:abc\na=ice-pwd:0123456789abcdefghijkl\n"),
                                   std::string("a=ice-ufrag:abcd\na=ice-pwd:short\n"),
                                   std::string("a=ice-ufrag:ab:d\na=ice-pwd:0123456789abcdefghijkl\n"),
                                   std::string("a=ice-ufrag:abcd\n")}) {
    const SdpSession s = parseOk("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
                                 "c=IN IP4 192.0.2.1\n" + creds);
    auto a = webrtcMedia(s, 0);
    ASSERT_TRUE(a.has_value()) << creds;
    EXPECT_FALSE(a->ice.has_value()) << creds;
    EXPECT_TRUE(a->iceRefused) << creds;
  }
}

TEST(SdpWebrtcTest, BundleGroupWithBadTagsIsIgnored) {
  auto group = [](std::string_view line) {
    return bundleGroup(parseOk(std::string("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n") + std::string(line) +
                               "\nm=audio 4000 RTP/AVP 0\nc=IN IP4 192.0.2.1\n"));
  };
  EXPECT_EQ(group("a=group:BUNDLE audio"), std::vector<std::string>{"audio"});
  EXPECT_TRUE(group("a=group:BUNDLE a a").empty());
  EXPECT_TRUE(group("a=group:BUNDLEX a").empty());
  EXPECT_TRUE(group("a=group:LS 0 1").empty());
}

TEST(SdpWebrtcTest, RemovesDtlsAttributes) {
  SdpSession s = parseOk(kChromeOffer);
  removeDtlsAttributes(s);
  for (auto& m : s.media) removeDtlsAttributes(m);
  const std::string out = s.serialize();
  EXPECT_EQ(out.find("a=fingerprint"), std::string::npos);
  EXPECT_EQ(out.find("a=setup"), std::string::npos);
  EXPECT_NE(out.find("a=mid:0"), std::string::npos);
}

}  // namespace
}  // namespace rdv::sdp
