// BUNDLE (RFC 9143) on the relay over real loopback sockets (relay/LegBundle.h): a browser-like
// peer sends audio (PT 111) and video (PT 96) as SRTP from one socket to one relay port; the relay
// splits them onto two plain legs (each its own port and peer) by payload type, then by the SSRC
// it learned, and sends both plain streams back protected, from that one port, with one SRTP
// session. SDES keys stand in for DTLS so the test needs no handshake.

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "relay/RelayControl.h"
#include "relay/test/SrtpPeer.h"
#include "relay/test/TestPeer.h"

namespace rdv::relay {
namespace {

using srtp::Suite;
using test::Peer;
using test::receiveBytes;
using test::sendBytes;
using test::SrtpPeerKeys;

constexpr uint32_t kAudioSsrc = 0xA0D10;
constexpr uint32_t kVideoSsrc = 0x71DE0;

std::vector<uint8_t> rtp(uint16_t seq, uint32_t ssrc, uint8_t pt) {
  auto p = Peer::rtp(seq, ssrc);
  p[1] = pt;
  return {p.begin(), p.end()};
}

LegParams muxed(const Peer& p) {
  LegParams lp = test::towards(p);
  lp.mux = true;
  lp.rtcpRemote = lp.rtpRemote;
  return lp;
}

PayloadTypeSet pts(uint8_t pt) {
  PayloadTypeSet s;
  s.add(pt);
  return s;
}

uint64_t bundleDrops(const RelayControl& relay) {
  uint64_t n = 0;
  for (const auto& w : relay.workers()) n += w->counters().drop(DropReason::BundleUnknown).get();
  return n;
}

// Stream 0 (audio) and stream 1 (video); leg 0 of both faces `browser` through stream 0's port.
struct BundledCall {
  uint64_t id = 0;
  StreamPorts audio{};
  StreamPorts video{};
};

BundledCall setUp(RelayControl& relay, const Peer& browser, const Peer& audio, const Peer& video,
                  const LegCrypto& crypto) {
  BundledCall c;
  c.id = relay.createSession("bundle-call");
  auto a = relay.addStream(c.id, true);
  auto v = relay.addStream(c.id, true, false, 0);
  EXPECT_TRUE(a && v);
  c.audio = *a;
  c.video = *v;
  LegParams ba = muxed(browser);
  ba.crypto = crypto;
  ba.bundle.payloadTypes = pts(111);
  LegParams bv;  // bundled: no address or keys of its own
  bv.mux = true;
  bv.bundle.transport = 0;
  bv.bundle.payloadTypes = pts(96);
  EXPECT_TRUE(relay.updateLeg(c.id, 0, 0, ba));
  EXPECT_TRUE(relay.updateLeg(c.id, 0, 1, muxed(audio)));
  EXPECT_TRUE(relay.updateLeg(c.id, 1, 0, bv));
  EXPECT_TRUE(relay.updateLeg(c.id, 1, 1, muxed(video)));
  return c;
}

// Every test runs with both send paths (test::SendPaths): /IoUring and /Sendmmsg.
class RelayWorkerBundle : public test::SendPaths {};
INSTANTIATE_TEST_SUITE_P(SendPaths, RelayWorkerBundle, ::testing::Bool(), test::sendPathName);

TEST_P(RelayWorkerBundle, ABundledLegTakesNoPortFromThePool) {
  RelayControl relay(test::loopbackOptions(8));
  const uint64_t id = relay.createSession("ports");
  ASSERT_TRUE(relay.addStream(id, true));
  const size_t free = relay.portPairsFree();
  auto v = relay.addStream(id, true, false, 0);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->rtpPort[0], 0);
  EXPECT_NE(v->rtpPort[1], 0);
  EXPECT_EQ(relay.portPairsFree(), free - 1);
  ASSERT_TRUE(test::removeNow(relay, id));
  EXPECT_EQ(relay.portPairsFree(), relay.portPairsTotal());
}

TEST_P(RelayWorkerBundle, AudioAndVideoFromOneSrtpTransportReachTheirOwnPlainLegsByPayloadTypeThenSsrc) {
  RelayControl relay(test::loopbackOptions(8));
  Peer browser, audio, video;
  const LegCrypto crypto = test::legCrypto(Suite::AesCm128HmacSha1_80, 1, 50);
  SrtpPeerKeys keys(crypto);
  BundledCall c = setUp(relay, browser, audio, video, crypto);
  const uint16_t port = c.audio.rtpPort[0];

  sendBytes(browser, port, keys.protect(rtp(1, kAudioSsrc, 111)));
  EXPECT_EQ(receiveBytes(audio), rtp(1, kAudioSsrc, 111));
  sendBytes(browser, port, keys.protect(rtp(1, kVideoSsrc, 96)));
  EXPECT_EQ(receiveBytes(video), rtp(1, kVideoSsrc, 96));
  // Learned: the video SSRC with a payload type of no m-line (RTX-like) still goes to video.
  sendBytes(browser, port, keys.protect(rtp(2, kVideoSsrc, 97)));
  EXPECT_EQ(receiveBytes(video), rtp(2, kVideoSsrc, 97));
  // A stranger SSRC with an unknown payload type: dropped and counted; the next video packet is
  // the next thing the video peer receives.
  sendBytes(browser, port, keys.protect(rtp(1, 0xBAD, 100)));
  sendBytes(browser, port, keys.protect(rtp(3, kVideoSsrc, 96)));
  EXPECT_EQ(receiveBytes(video), rtp(3, kVideoSsrc, 96));
  EXPECT_EQ(bundleDrops(relay), 1U);

  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  ASSERT_EQ(rep->streams.size(), 2U);
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 1U) << "audio stream";
  EXPECT_EQ(rep->streams[1][0].counters.rtpPackets, 3U) << "video stream";
  EXPECT_EQ(rep->streams[1][0].ssrc, kVideoSsrc);
  EXPECT_EQ(rep->streams[0][0].counters.bundleUnknown, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.srtpUnprotected, 5U) << "one SRTP session for the group";
  EXPECT_EQ(rep->streams[0][0].latched, browser.addr());
}

TEST_P(RelayWorkerBundle, BothPlainStreamsLeaveTheOneTransportPortProtectedWithItsKeys) {
  RelayControl relay(test::loopbackOptions(8));
  Peer browser, audio, video;
  const LegCrypto crypto = test::legCrypto(Suite::AeadAes128Gcm, 1, 50);
  SrtpPeerKeys keys(crypto);
  BundledCall c = setUp(relay, browser, audio, video, crypto);
  // The browser speaks first (latching its address), as a browser does after ICE.
  sendBytes(browser, c.audio.rtpPort[0], keys.protect(rtp(1, kAudioSsrc, 111)));
  ASSERT_EQ(receiveBytes(audio), rtp(1, kAudioSsrc, 111));
  for (uint16_t s = 1; s <= 3; ++s) {
    audio.sendRaw(c.audio.rtpPort[1], rtp(s, 0xA, 0).data(), test::kRtpSize);
    video.sendRaw(c.video.rtpPort[1], rtp(s, 0xB, 96).data(), test::kRtpSize);
    for (int k = 0; k < 2; ++k) {
      std::vector<uint8_t> buf(2048);
      common::SockAddr from;
      const ssize_t n = browser.receive(1000, buf.data(), &from);
      ASSERT_GT(n, 0) << "packet " << s << "/" << k;
      EXPECT_EQ(from.port(), c.audio.rtpPort[0]) << "every stream leaves the bundle's port";
      const auto plain = keys.unprotect(buf.data(), static_cast<size_t>(n));
      ASSERT_FALSE(plain.empty()) << "protected with the transport's keys";
      const bool isVideo = plain[1] == 96;
      EXPECT_EQ(plain, rtp(s, isVideo ? 0xB : 0xA, isVideo ? 96 : 0));
    }
  }
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][1].counters.rtpPackets, 3U);
  EXPECT_EQ(rep->streams[1][1].counters.rtpPackets, 3U);
  EXPECT_EQ(rep->streams[0][0].counters.srtpProtected, 6U);
}

TEST_P(RelayWorkerBundle, RtcpFromTheBrowserGoesToTheStreamItReportsOn) {
  RelayControl relay(test::loopbackOptions(8));
  Peer browser, audio, video;
  const LegCrypto crypto = test::legCrypto(Suite::AesCm128HmacSha1_80, 1, 50);
  SrtpPeerKeys keys(crypto);
  BundledCall c = setUp(relay, browser, audio, video, crypto);
  sendBytes(browser, c.audio.rtpPort[0], keys.protect(rtp(1, kAudioSsrc, 111)));
  ASSERT_FALSE(receiveBytes(audio).empty());
  video.sendRaw(c.video.rtpPort[1], rtp(1, 0xB, 96).data(), test::kRtpSize);
  ASSERT_FALSE(receiveBytes(browser).empty());
  // RR from the browser's audio SSRC with one block about the video phone's SSRC 0xB.
  const std::vector<uint8_t> rr = {0x81, 201, 0, 7, 0x00, 0x0A, 0x0D, 0x10, 0, 0, 0, 0xB, 0, 0, 0, 0,
                                   0,    0,   0, 1, 0,    0,    0,    0,    0, 0, 0, 0,   0, 0, 0, 0};
  sendBytes(browser, c.audio.rtpPort[0], keys.protect(rr, true));
  EXPECT_EQ(receiveBytes(video), rr);
  // PLI about the video SSRC, behind an empty RR (reduced-size would do as well).
  const std::vector<uint8_t> pli = {0x80, 201, 0, 1, 0, 0, 0, 1, 0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0xB};
  sendBytes(browser, c.audio.rtpPort[0], keys.protect(pli, true));
  EXPECT_EQ(receiveBytes(video), pli);
  // An SR from the browser's audio SSRC (learned from its RTP) goes with audio.
  const std::vector<uint8_t> sr = {0x80, 200, 0, 6, 0x00, 0x0A, 0x0D, 0x10, 1, 2, 3, 4, 5, 6,
                                   7,    8,   0, 0, 0,    0,    0,    0,    0, 1, 0, 0, 0, 160};
  sendBytes(browser, c.audio.rtpPort[0], keys.protect(sr, true));
  EXPECT_EQ(receiveBytes(audio), sr);
}

TEST_P(RelayWorkerBundle, TwoBundledStreamsWithTheSamePayloadTypeAreToldApartByTheMidExtension) {
  RelayControl relay(test::loopbackOptions(8));
  Peer browser, cam, screen;
  const LegCrypto crypto = test::legCrypto(Suite::AesCm128HmacSha1_80, 1, 50);
  SrtpPeerKeys keys(crypto);
  const uint64_t id = relay.createSession("mid-call");
  auto a = relay.addStream(id, true);
  auto b = relay.addStream(id, true, false, 0);
  ASSERT_TRUE(a && b);
  LegParams t = muxed(browser);
  t.crypto = crypto;
  t.bundle.payloadTypes = pts(96);
  t.bundle.mid = {'c', 'a', 'm'};
  t.bundle.midLength = 3;
  t.bundle.midExtensionId = 4;
  LegParams m;
  m.mux = true;
  m.bundle.transport = 0;
  m.bundle.payloadTypes = pts(96);
  m.bundle.mid = {'s', 'c', 'r'};
  m.bundle.midLength = 3;
  m.bundle.midExtensionId = 4;
  ASSERT_TRUE(relay.updateLeg(id, 0, 0, t));
  ASSERT_TRUE(relay.updateLeg(id, 0, 1, muxed(cam)));
  ASSERT_TRUE(relay.updateLeg(id, 1, 0, m));
  ASSERT_TRUE(relay.updateLeg(id, 1, 1, muxed(screen)));
  // RTP with X and a one-byte extension block: element 4 = the mid (RFC 8285 §4.2).
  auto withMid = [](uint16_t seq, uint32_t ssrc, std::string_view mid) {
    std::vector<uint8_t> p = rtp(seq, ssrc, 96);
    p[0] = 0x90;
    std::vector<uint8_t> ext = {0xBE, 0xDE, 0, 1, static_cast<uint8_t>(0x40 | (mid.size() - 1))};
    ext.insert(ext.end(), mid.begin(), mid.end());
    p.insert(p.begin() + 12, ext.begin(), ext.end());
    return p;
  };
  sendBytes(browser, a->rtpPort[0], keys.protect(withMid(1, 0x5C, "scr")));
  EXPECT_EQ(receiveBytes(screen), withMid(1, 0x5C, "scr"));
  sendBytes(browser, a->rtpPort[0], keys.protect(withMid(1, 0xCA, "cam")));
  EXPECT_EQ(receiveBytes(cam), withMid(1, 0xCA, "cam"));
  sendBytes(browser, a->rtpPort[0], keys.protect(rtp(2, 0x5C, 96)));  // learned SSRC, no extension
  EXPECT_EQ(receiveBytes(screen), rtp(2, 0x5C, 96));
  EXPECT_EQ(bundleDrops(relay), 0U);
}

}  // namespace
}  // namespace rdv::relay
