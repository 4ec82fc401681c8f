// Offer/answer for conference participants (ConferenceSdp), without the B2BUA around it.

#include "signaling/b2bua/ConferenceSdp.h"

#include <gtest/gtest.h>

#include <string>

#include <fmt/format.h>

#include "signaling/anchor/SrtpMedia.h"
#include "common/test/Crlf.h"
#include "signaling/sdp/Sdp.h"
#include "signaling/sdp/SdpWebrtc.h"
#include "signaling/sdp/test/ChromeOffer.h"

namespace rdv::b2bua {
namespace {

std::string offer(std::string_view session, std::string_view media) {
  return fmt::format("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n{}t=0 0\r\n{}", session, media);
}

TEST(ConferenceSdpTest, AnRtpmapOverridesTheStaticMeaningOfAPayloadType) {
  auto o = negotiateConferenceOffer(
      offer("c=IN IP4 192.0.2.1\r\n", "m=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 G729/8000\r\n"));
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ(o->join.codec, media::CodecId::Pcma);
  EXPECT_EQ(o->join.payloadType, 8);
}

TEST(ConferenceSdpTest, OpusNeedsTwoChannelsAndItsClock) {
  auto o = negotiateConferenceOffer(offer("c=IN IP4 192.0.2.1\r\n",
                                          "m=audio 4000 RTP/AVP 96 97 0\r\na=rtpmap:96 opus/48000\r\n"
                                          "a=rtpmap:97 opus/16000/2\r\n"));
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ(o->join.codec, media::CodecId::Pcmu);
}

TEST(ConferenceSdpTest, AudioLevelIdMayCarryADirectionAndMustFitOneByteHeaders) {
  auto o =
      negotiateConferenceOffer(offer("c=IN IP4 192.0.2.1\r\n",
                                     "m=audio 4000 RTP/AVP 0\r\n"
                                     "a=extmap:15 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
                                     "a=extmap:2 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
                                     "a=extmap:5/sendrecv urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"));
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ(o->join.audioLevelExtId, 5);
}

TEST(ConferenceSdpTest, UnspecifiedOrHostNameAddressIsLeftToLatching) {
  auto zero = negotiateConferenceOffer(offer("c=IN IP4 0.0.0.0\r\n", "m=audio 4000 RTP/AVP 0\r\n"));
  ASSERT_TRUE(zero);
  EXPECT_FALSE(zero->join.rtp.valid());
  auto host = negotiateConferenceOffer(offer("", "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 pbx.example.org\r\n"));
  ASSERT_TRUE(host);
  EXPECT_FALSE(host->join.rtp.valid());
  auto media = negotiateConferenceOffer(
      offer("c=IN IP4 192.0.2.1\r\n", "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.9\r\n"));
  ASSERT_TRUE(media);
  EXPECT_EQ(media->join.rtp, *common::SockAddr::fromIp("192.0.2.9", 4000));
}

TEST(ConferenceSdpTest, SrtpOnlyOrDisabledAudioHasNothingToAnswer) {
  EXPECT_FALSE(negotiateConferenceOffer(offer("c=IN IP4 192.0.2.1\r\n", "m=audio 4000 RTP/SAVP 0\r\n")));
  EXPECT_FALSE(negotiateConferenceOffer(offer("c=IN IP4 192.0.2.1\r\n", "m=audio 0 RTP/AVP 0\r\n")));
  EXPECT_FALSE(negotiateConferenceOffer("not sdp"));
}

TEST(ConferenceSdpTest, AnswersTheSecondAudioSectionWhenTheFirstIsSrtpAndMirrorsTheDirection) {
  auto o =
      negotiateConferenceOffer(offer("c=IN IP4 192.0.2.1\r\na=sendonly\r\n",
                                     "m=audio 4000 RTP/SAVP 0\r\nm=audio 4002 RTP/AVPF 9\r\na=inactive\r\n"));
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ(o->audioIndex, 1U);
  EXPECT_EQ(o->direction, "inactive") << "the section's own direction wins over the session's";
  const std::string answer = conferenceAnswer(*o, *common::SockAddr::fromIp("203.0.113.5", 30000), 42, 3);
  auto parsed = sdp::SdpSession::parse(answer);
  ASSERT_TRUE(parsed) << answer;
  ASSERT_EQ(parsed->media.size(), 2U);
  EXPECT_EQ(parsed->media[0].port, 0);
  EXPECT_EQ(parsed->media[0].proto, "RTP/SAVP");
  EXPECT_EQ(parsed->media[1].port, 30000);
  EXPECT_EQ(parsed->media[1].proto, "RTP/AVPF");
  EXPECT_EQ(parsed->mediaConnectionAddress(1), "203.0.113.5");
  EXPECT_NE(answer.find("o=rendezvous 42 3 IN IP4 203.0.113.5\r\n"), std::string::npos);
}

TEST(ConferenceSdpTest, Ipv6RelayAddressIsWrittenAsIp6) {
  auto o = negotiateConferenceOffer(offer("c=IN IP6 2001:db8::1\r\n", "m=audio 4000 RTP/AVP 0\r\n"));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->join.rtp, *common::SockAddr::fromIp("2001:db8::1", 4000));
  const std::string answer = conferenceAnswer(*o, *common::SockAddr::fromIp("2001:db8::5", 30000), 1, 1);
  EXPECT_NE(answer.find("c=IN IP6 2001:db8::5\r\n"), std::string::npos) << answer;
}

TEST(ConferenceSdpTest, SavpWithCryptoIsAnsweredWithOurOwnKeyForTheRelayToDecrypt) {
  const std::string bad = "1 AES_CM_128_HMAC_SHA1_80 inline:" + std::string(40, 'A') + " UNENCRYPTED_SRTP";
  const std::string key = srtp::SdesCrypto::generate(2, srtp::Suite::AeadAes128Gcm)->format();
  auto o = negotiateConferenceOffer(offer("c=IN IP4 192.0.2.1\r\n", "m=audio 4000 RTP/SAVP 0\r\na=crypto:" + bad +
                                                                       "\r\na=crypto:" + key + "\r\n"));
  ASSERT_TRUE(o) << o.error();
  ASSERT_TRUE(o->peerKey && o->ourKey);
  EXPECT_EQ(o->peerKey->format(), key) << "the first line the relay can terminate";
  EXPECT_EQ(o->ourKey->tag, 2U);
  EXPECT_EQ(o->ourKey->suite, srtp::Suite::AeadAes128Gcm);
  EXPECT_NE(o->ourKey->format(), key);
  EXPECT_TRUE(o->join.crypto.terminates());
  EXPECT_EQ(o->join.crypto.recv, *anchor::toSrtpKeys(*o->peerKey));
  EXPECT_EQ(o->join.crypto.send, *anchor::toSrtpKeys(*o->ourKey));
  auto answer = sdp::SdpSession::parse(conferenceAnswer(*o, *common::SockAddr::fromIp("198.18.0.1", 30000), 1, 1));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->media[0].proto, "RTP/SAVP");
  EXPECT_EQ(answer->media[0].attribute("crypto"), o->ourKey->format());
}

TEST(ConferenceSdpTest, SavpWithoutUsableCryptoIsRefusedAndOsrtpIsAnsweredPlain) {
  auto none = negotiateConferenceOffer(offer("c=IN IP4 192.0.2.1\r\n", "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 X inline:AAAA\r\n"));
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().find("a=crypto"), std::string::npos) << none.error();
  const std::string key = srtp::SdesCrypto::generate(1, srtp::Suite::AesCm128HmacSha1_80)->format();
  auto osrtp = negotiateConferenceOffer(offer("c=IN IP4 192.0.2.1\r\n", "m=audio 4000 RTP/AVP 0\r\na=crypto:" + key + "\r\n"));
  ASSERT_TRUE(osrtp) << osrtp.error();
  EXPECT_FALSE(osrtp->ourKey.has_value());
  EXPECT_FALSE(osrtp->join.crypto.terminates());
  auto answer = conferenceAnswer(*osrtp, *common::SockAddr::fromIp("198.18.0.1", 30000), 1, 1);
  EXPECT_EQ(answer.find("a=crypto"), std::string::npos) << answer;
}

TEST(ConferenceSdpTest, ABrowserJoinsWithDtlsSrtpAndIceLite) {
  auto o = negotiateConferenceOffer(common::test::crlf(sdp::test::kChromeAudioOffer));
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ(o->join.codec, media::CodecId::Opus);
  EXPECT_TRUE(o->webrtc.dtls);
  EXPECT_TRUE(o->join.rtcpMux);
  EXPECT_EQ(o->join.dtls.role, relay::DtlsRole::Passive) << "the browser offered actpass";
  EXPECT_EQ(o->join.dtls.remote.length, 32U);
  EXPECT_TRUE(o->join.ice.enabled());
  EXPECT_EQ(o->join.ice.remoteUfrag.view(), "Tw6e");
  EXPECT_FALSE(o->join.crypto.terminates()) << "no SDES keys";

  o->fingerprint = "sha-256 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF";
  auto answer = sdp::SdpSession::parse(conferenceAnswer(*o, *common::SockAddr::fromIp("127.0.0.1", 40000), 1, 1));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->media.at(0).proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_TRUE(answer->hasAttribute("ice-lite"));
  EXPECT_EQ(sdp::bundleGroup(*answer), std::vector<std::string>{"0"});
  auto w = sdp::webrtcMedia(*answer, 0);
  ASSERT_TRUE(w.has_value()) << w.error().reason;
  EXPECT_EQ(w->fingerprint->format(), o->fingerprint);
  EXPECT_EQ(w->setup, sdp::DtlsSetup::Passive);
  EXPECT_EQ(w->mid, "0");
  EXPECT_TRUE(w->rtcpMux);
  ASSERT_TRUE(w->ice.has_value());
  EXPECT_EQ(w->ice->ufrag, o->join.ice.localUfrag.view());
  EXPECT_EQ(w->candidates, 1U);
  EXPECT_NE(conferenceAnswer(*o, *common::SockAddr::fromIp("127.0.0.1", 40000), 1, 1)
                .find("a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host"),
            std::string::npos);
}

TEST(ConferenceSdpTest, ABrowserWithoutAUsableFingerprintIsRefused) {
  std::string bad = common::test::crlf(sdp::test::kChromeAudioOffer);
  bad.replace(bad.find("a=fingerprint:sha-256 5D"), 24, "a=fingerprint:sha-256 5G");
  EXPECT_FALSE(negotiateConferenceOffer(bad).has_value());
}

}  // namespace
}  // namespace rdv::b2bua
