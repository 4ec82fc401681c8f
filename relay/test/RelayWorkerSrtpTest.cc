// Legs that terminate SRTP (LegParams::crypto, issue 12) over real loopback sockets: the relay
// unprotects what a terminating leg's peer sends and protects what it sends it, bridging SRTP to
// plain RTP and between different keys; the far ends are libsrtp contexts (test/SrtpPeer.h).

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/Clock.h"
#include "relay/RelayControl.h"
#include "relay/test/LocalQueues.h"
#include "relay/test/SrtpPeer.h"
#include "relay/test/TestPeer.h"

namespace rdv::relay {
namespace {

using srtp::Suite;
using test::Call;
using test::legCrypto;
using test::Peer;
using test::plainRtp;
using test::receiveBytes;
using test::sendBytes;
using test::SrtpPeerKeys;

RelayOptions options() {
  RelayOptions o = test::loopbackOptions(20);
  o.worker.timeoutNs = 10'000'000'000ULL;
  return o;
}

// A call whose leg 0 faces `a` with `cryptoA` and leg 1 faces `b` with `cryptoB` (empty = plain).
Call setUp(RelayControl& relay, const Peer& a, const Peer& b, const LegCrypto& cryptoA,
           const LegCrypto& cryptoB, bool mux = false) {
  const uint64_t id = relay.createSession("srtp-call");
  auto ports = relay.addStream(id, mux);
  EXPECT_TRUE(ports);
  LegParams pa = test::towards(a), pb = test::towards(b);
  pa.crypto = cryptoA;
  pb.crypto = cryptoB;
  if (mux) {
    pa.mux = pb.mux = true;
    pa.rtcpRemote = pa.rtpRemote;
    pb.rtcpRemote = pb.rtpRemote;
  }
  EXPECT_TRUE(relay.updateLeg(id, 0, 0, pa));
  EXPECT_TRUE(relay.updateLeg(id, 0, 1, pb));
  return Call{id, *ports};
}

uint64_t workerSrtpDrops(const RelayControl& relay, srtp::SrtpError e) {
  uint64_t n = 0;
  for (const auto& w : relay.workers()) n += w->counters().srtpDrop(e).get();
  return n;
}

uint64_t workerTotal(const RelayControl& relay, const Counter WorkerCounters::*c) {
  uint64_t n = 0;
  for (const auto& w : relay.workers()) n += (w->counters().*c).get();
  return n;
}

// SR from SSRC 0xA (RFC 3550 §6.4.1), NTP 0x11223344.55667788, and B's RR echoing its middle 32 bits.
constexpr std::array<uint8_t, 28> kSr = {0x80, 200,  0, 6, 0, 0, 0, 0xA, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                                         0x77, 0x88, 0, 0, 0, 0, 0, 0,   0,    1,    0,    0,    0,    160};
constexpr std::array<uint8_t, 32> kRr = {0x81, 201, 0, 7, 0, 0, 0, 0xB, 0,    0,    0,    0xA,  0, 0, 0, 0,
                                         0,    0,   0, 1, 0, 0, 0, 0,   0x33, 0x44, 0x55, 0x66, 0, 0, 0, 0};

// Every test runs with both send paths (test::SendPaths): /IoUring and /Sendmmsg.
class RelayWorkerSrtp : public test::SendPaths {};
INSTANTIATE_TEST_SUITE_P(SendPaths, RelayWorkerSrtp, ::testing::Bool(), test::sendPathName);

TEST_P(RelayWorkerSrtp, SrtpFromATerminatingLegReachesThePlainLegAsTheExactRtpProtected) {
  RelayControl relay(options());
  Peer a, b;
  const LegCrypto ca = legCrypto(Suite::AesCm128HmacSha1_80, 1, 50);
  SrtpPeerKeys ak(ca);
  Call c = setUp(relay, a, b, ca, {});
  for (uint16_t s = 1; s <= 10; ++s) {
    const auto plain = plainRtp(s, 0xA);
    const auto sent = ak.protect(plain);
    ASSERT_EQ(sent.size(), plain.size() + 10) << "HMAC-SHA1-80 tag";
    sendBytes(a, c.ports.rtpPort[0], sent);
    EXPECT_EQ(receiveBytes(b), plain) << "packet " << s;
  }
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  const LegReport& la = rep->streams[0][0];
  EXPECT_TRUE(la.srtpTerminated);
  EXPECT_FALSE(rep->streams[0][1].srtpTerminated);
  EXPECT_EQ(la.counters.srtpUnprotected, 10U);
  EXPECT_EQ(la.counters.rtpPackets, 10U);
  EXPECT_EQ(la.counters.rtpBytes, 10U * test::kRtpSize) << "statistics see the plain packet";
  EXPECT_EQ(la.rtpLost, 0);
  EXPECT_TRUE(la.hasSsrc);
  EXPECT_EQ(la.ssrc, 0xAU);
  EXPECT_EQ(la.latched, a.addr());
  EXPECT_EQ(workerTotal(relay, &WorkerCounters::srtpUnprotected), 10U);
}

TEST_P(RelayWorkerSrtp, PlainRtpToATerminatingLegIsProtectedWithThatLegsKeys) {
  RelayControl relay(options());
  Peer a, b;
  const LegCrypto ca = legCrypto(Suite::AeadAes128Gcm, 1, 50);
  SrtpPeerKeys ak(ca);
  Call c = setUp(relay, a, b, ca, {});
  for (uint16_t s = 1; s <= 10; ++s) {
    const auto plain = plainRtp(s, 0xB);
    sendBytes(b, c.ports.rtpPort[1], plain);
    const auto got = receiveBytes(a);
    ASSERT_EQ(got.size(), plain.size() + 16) << "AES-GCM tag, packet " << s;
    EXPECT_NE(std::vector<uint8_t>(got.begin() + 12, got.begin() + 172),
              std::vector<uint8_t>(plain.begin() + 12, plain.end()))
        << "payload encrypted";
    EXPECT_EQ(ak.unprotect(got.data(), got.size()), plain) << "packet " << s;
  }
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.srtpProtected, 10U);
  EXPECT_EQ(workerTotal(relay, &WorkerCounters::srtpProtected), 10U);
}

TEST_P(RelayWorkerSrtp, BetweenTwoTerminatingLegsEachSideUsesItsOwnKeysAndSuite) {
  RelayControl relay(options());
  Peer a, b;
  const LegCrypto ca = legCrypto(Suite::AeadAes256Gcm, 1, 50);
  const LegCrypto cb = legCrypto(Suite::AesCm128HmacSha1_32, 100, 150);
  SrtpPeerKeys ak(ca), bk(cb);
  Call c = setUp(relay, a, b, ca, cb);
  for (uint16_t s = 1; s <= 5; ++s) {
    const auto fromA = plainRtp(s, 0xA);
    sendBytes(a, c.ports.rtpPort[0], ak.protect(fromA));
    const auto atB = receiveBytes(b);
    ASSERT_EQ(atB.size(), fromA.size() + 4) << "HMAC-SHA1-32 toward B";
    EXPECT_EQ(bk.unprotect(atB.data(), atB.size()), fromA);
    const auto fromB = plainRtp(s, 0xB);
    sendBytes(b, c.ports.rtpPort[1], bk.protect(fromB));
    const auto atA = receiveBytes(a);
    ASSERT_EQ(atA.size(), fromB.size() + 16) << "AES-256-GCM toward A";
    EXPECT_EQ(ak.unprotect(atA.data(), atA.size()), fromB);
  }
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ(rep->streams[0][l].counters.srtpUnprotected, 5U) << "leg " << l;
    EXPECT_EQ(rep->streams[0][l].counters.srtpProtected, 5U) << "leg " << l;
  }
}

// RTCP on its own ports: A's SR through SRTCP reaches plain B as sent, B's RR reaches A as SRTCP;
// the relay measures its round trip to B from the decrypted SR and the plain RR.
TEST_P(RelayWorkerSrtp, SrtcpIsUnprotectedAndProtectedOnTheRtcpPorts) {
  RelayControl relay(options());
  Peer a, b, aRtcp, bRtcp;
  const LegCrypto ca = legCrypto(Suite::AesCm128HmacSha1_80, 1, 50);
  SrtpPeerKeys ak(ca);
  Call c = setUp(relay, a, b, ca, {});
  LegParams pb = test::towards(b);
  pb.rtcpRemote = bRtcp.addr();
  ASSERT_TRUE(relay.updateLeg(c.id, 0, 1, pb));
  const auto rtcpA = static_cast<uint16_t>(c.ports.rtpPort[0] + 1),
             rtcpB = static_cast<uint16_t>(c.ports.rtpPort[1] + 1);
  const auto srtcp = ak.protect(kSr, true);
  ASSERT_EQ(srtcp.size(), kSr.size() + 4 + 10) << "SRTCP index + tag";
  sendBytes(aRtcp, rtcpA, srtcp);
  EXPECT_EQ(receiveBytes(bRtcp), std::vector<uint8_t>(kSr.begin(), kSr.end()))
      << "B's RTCP port gets the plain SR";
  sendBytes(bRtcp, rtcpB, std::vector<uint8_t>(kRr.begin(), kRr.end()));
  const auto atA = receiveBytes(aRtcp);
  ASSERT_EQ(atA.size(), kRr.size() + 14);
  EXPECT_EQ(ak.unprotect(atA.data(), atA.size(), true), std::vector<uint8_t>(kRr.begin(), kRr.end()));
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.rtcpPackets, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.srtpUnprotected, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.srtpProtected, 1U);
  EXPECT_GE(rep->streams[0][1].quality.rttMs, 0.0) << "the SR was parsed after unprotect";
}

// rtcp-mux (RFC 5761): RTP and RTCP share the port and are told apart by packet type, so SRTP and
// SRTCP each get their own transform both ways.
TEST_P(RelayWorkerSrtp, RtcpMuxUsesSrtpForRtpAndSrtcpForRtcp) {
  RelayControl relay(options());
  Peer a, b;
  const LegCrypto ca = legCrypto(Suite::AeadAes128Gcm, 1, 50);
  SrtpPeerKeys ak(ca);
  Call c = setUp(relay, a, b, ca, {}, true);
  const auto rtp = plainRtp(1, 0xA);
  sendBytes(a, c.ports.rtpPort[0], ak.protect(rtp));
  EXPECT_EQ(receiveBytes(b), rtp);
  sendBytes(a, c.ports.rtpPort[0], ak.protect(kSr, true));
  EXPECT_EQ(receiveBytes(b), std::vector<uint8_t>(kSr.begin(), kSr.end()));
  sendBytes(b, c.ports.rtpPort[1], std::vector<uint8_t>(kRr.begin(), kRr.end()));
  const auto rr = receiveBytes(a);
  EXPECT_EQ(ak.unprotect(rr.data(), rr.size(), true), std::vector<uint8_t>(kRr.begin(), kRr.end()));
  const auto back = plainRtp(1, 0xB);
  sendBytes(b, c.ports.rtpPort[1], back);
  const auto got = receiveBytes(a);
  EXPECT_EQ(ak.unprotect(got.data(), got.size()), back);
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.rtcpPackets, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.srtpUnprotected, 2U);
  EXPECT_EQ(rep->streams[0][0].counters.srtpProtected, 2U);
}

// RTP Bleed with SRTP: a packet with a bad tag never latches nor re-latches, however it looks;
// a packet that authenticates from a new address after the old one went silent is a NAT
// rebinding and moves the latch.
TEST_P(RelayWorkerSrtp, OnlyAnAuthenticatedPacketLatchesOrRelatches) {
  common::ManualClock clock;
  RelayOptions o = options();
  o.worker.clock = &clock;
  RelayControl relay(o);
  Peer a, b, attacker, rebound;
  const LegCrypto ca = legCrypto(Suite::AesCm128HmacSha1_80, 1, 50);
  SrtpPeerKeys ak(ca);
  Call c = setUp(relay, a, b, ca, {});
  auto forged = ak.protect(plainRtp(1, 0xA));
  forged.back() ^= 0x01;
  sendBytes(attacker, c.ports.rtpPort[0], forged);  // before anything latched
  sendBytes(a, c.ports.rtpPort[0], ak.protect(plainRtp(2, 0xA)));
  EXPECT_EQ(receiveBytes(b), plainRtp(2, 0xA)) << "only the authentic packet comes through";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr()) << "the forged packet did not latch";

  clock.advanceMs(2000);  // longer than relatch_silence: a rebinding would be accepted now
  auto forged2 = ak.protect(plainRtp(3, 0xA));
  forged2[20] ^= 0x40;  // payload bit flipped: the tag no longer matches
  sendBytes(attacker, c.ports.rtpPort[0], forged2);
  b.sendRtp(c.ports.rtpPort[1], 1, 0xB);
  EXPECT_FALSE(receiveBytes(a).empty()) << "B's media still goes to A";
  EXPECT_EQ(b.receive(200), -1) << "nothing from the attacker reaches B";
  rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr()) << "a bad tag must not move the latch";
  EXPECT_EQ(rep->streams[0][0].counters.srtpDrop(srtp::SrtpError::AuthFail), 2U);
  EXPECT_EQ(rep->streams[0][0].counters.relatched, 0U);
  EXPECT_EQ(workerSrtpDrops(relay, srtp::SrtpError::AuthFail), 2U);

  sendBytes(rebound, c.ports.rtpPort[0], ak.protect(plainRtp(4, 0xA)));  // A's NAT mapping changed
  EXPECT_EQ(receiveBytes(b), plainRtp(4, 0xA));
  b.sendRtp(c.ports.rtpPort[1], 2, 0xB);
  EXPECT_FALSE(receiveBytes(rebound).empty()) << "B's media follows A's new address";
  rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, rebound.addr());
  EXPECT_EQ(rep->streams[0][0].counters.relatched, 1U);
}

TEST_P(RelayWorkerSrtp, AReplayedPacketIsDroppedAndCounted) {
  RelayControl relay(options());
  Peer a, b;
  const LegCrypto ca = legCrypto(Suite::AeadAes128Gcm, 1, 50);
  SrtpPeerKeys ak(ca);
  Call c = setUp(relay, a, b, ca, {});
  const auto first = ak.protect(plainRtp(1, 0xA));
  sendBytes(a, c.ports.rtpPort[0], first);
  ASSERT_EQ(receiveBytes(b), plainRtp(1, 0xA));
  sendBytes(a, c.ports.rtpPort[0], first);
  const auto srtcp = ak.protect(kSr, true);
  const auto rtcpPort = static_cast<uint16_t>(c.ports.rtpPort[0] + 1);
  sendBytes(a, rtcpPort, srtcp);
  sendBytes(a, rtcpPort, srtcp);
  sendBytes(a, c.ports.rtpPort[0], ak.protect(plainRtp(2, 0xA)));
  EXPECT_EQ(receiveBytes(b), plainRtp(2, 0xA)) << "the replay was not forwarded";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.srtpDrop(srtp::SrtpError::ReplayFail), 2U) << "one SRTP, one SRTCP";
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 2U);
  EXPECT_EQ(workerSrtpDrops(relay, srtp::SrtpError::ReplayFail), 2U);
}

// A re-offer with the same keys keeps the contexts (replay window, ROC); new keys replace them.
TEST_P(RelayWorkerSrtp, ReofferWithTheSameKeysKeepsStateAndNewKeysRebuild) {
  RelayControl relay(options());
  Peer a, b;
  const LegCrypto ca = legCrypto(Suite::AesCm128HmacSha1_80, 1, 50);
  SrtpPeerKeys ak(ca);
  Call c = setUp(relay, a, b, ca, {});
  const auto p1 = ak.protect(plainRtp(1, 0xA));
  sendBytes(a, c.ports.rtpPort[0], p1);
  ASSERT_EQ(receiveBytes(b), plainRtp(1, 0xA));
  LegParams same = test::towards(a);
  same.crypto = ca;
  ASSERT_TRUE(relay.updateLeg(c.id, 0, 0, same));
  sendBytes(a, c.ports.rtpPort[0], p1);
  EXPECT_EQ(b.receive(200), -1) << "still a replay: the window survived the re-offer";

  const LegCrypto rekeyed = legCrypto(Suite::AesCm128HmacSha1_80, 7, 77);
  SrtpPeerKeys ak2(rekeyed);
  LegParams fresh = test::towards(a);
  fresh.crypto = rekeyed;
  ASSERT_TRUE(relay.updateLeg(c.id, 0, 0, fresh));
  sendBytes(a, c.ports.rtpPort[0], ak.protect(plainRtp(2, 0xA)));  // old key
  sendBytes(a, c.ports.rtpPort[0], ak2.protect(plainRtp(3, 0xA)));
  EXPECT_EQ(receiveBytes(b), plainRtp(3, 0xA));
  b.sendRtp(c.ports.rtpPort[1], 1, 0xB);
  const auto back = receiveBytes(a);
  EXPECT_EQ(ak2.unprotect(back.data(), back.size()), plainRtp(1, 0xB)) << "protected with the new key";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.srtpDrop(srtp::SrtpError::ReplayFail), 1U);
  EXPECT_EQ(rep->streams[0][0].counters.srtpDrop(srtp::SrtpError::AuthFail), 1U);

  LegParams plain = test::towards(a);  // keys dropped (SDES-off re-offer): plain RTP again
  ASSERT_TRUE(relay.updateLeg(c.id, 0, 0, plain));
  a.sendRtp(c.ports.rtpPort[0], 9, 0xA);
  EXPECT_EQ(receiveBytes(b), plainRtp(9, 0xA));
}

// Keys libsrtp refuses (a key||salt length that does not fit the suite) fail closed.
TEST_P(RelayWorkerSrtp, UnusableKeysDropEverythingAndCountIt) {
  RelayControl relay(options());
  Peer a, b;
  LegCrypto bad = legCrypto(Suite::AesCm128HmacSha1_80, 1, 50);
  bad.recv.keys[0].keySaltLength = 20;
  bad.send.keys[0].keySaltLength = 20;
  Call c = setUp(relay, a, b, bad, {});
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  b.sendRtp(c.ports.rtpPort[1], 1, 0xB);
  EXPECT_EQ(b.receive(200), -1);
  EXPECT_EQ(a.receive(200), -1) << "no clear media toward a leg meant to be encrypted";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.srtpDrop(srtp::SrtpError::BadConfig), 2U);
}

// Waits (bounded) for the worker thread to have queued `n` packets for the mixer; returns them.
std::vector<std::vector<uint8_t>> drainMixerQueue(PacketQueue& q, size_t n) {
  std::vector<std::vector<uint8_t>> got;
  for (int i = 0; i < 2000 && got.size() < n; ++i) {
    while (const QueuedPacket* p = q.front()) {
      const auto* b = reinterpret_cast<const uint8_t*>(p->data().data());
      got.emplace_back(b, b + p->size);
      q.pop();
    }
    if (got.size() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return got;
}

// A conference participant on SRTP: the mixer gets its RTP decrypted, and what the mixer sends it
// leaves protected with the participant's keys; a forged packet never reaches the mixer.
TEST_P(RelayWorkerSrtp, AConferenceParticipantOnSrtpFeedsTheMixerPlainRtpAndGetsProtectedRtp) {
  RelayControl relay(options());
  Peer a, attacker;
  const test::LocalQueues queues = test::attachLocalQueues(relay);
  const uint64_t id = relay.createSession("srtp-conference");
  auto ports = relay.addStream(id, true, true);
  ASSERT_TRUE(ports);
  auto toMixer = queues.toMixer[*relay.workerOf(id)], fromMixer = queues.fromMixer[*relay.workerOf(id)];
  const LegCrypto ca = legCrypto(Suite::AeadAes128Gcm, 1, 50);
  SrtpPeerKeys ak(ca);
  LegParams peer;
  peer.rtpRemote = peer.rtcpRemote = a.addr();
  peer.mux = true;
  peer.crypto = ca;
  LegParams local;
  local.mux = true;
  local.localEndpoint = 42;
  ASSERT_TRUE(relay.updateLeg(id, 0, 0, peer));
  ASSERT_TRUE(relay.updateLeg(id, 0, 1, local));
  auto forged = ak.protect(plainRtp(1, 0xA));
  forged.back() ^= 0x80;
  sendBytes(attacker, ports->rtpPort[0], forged);
  for (uint16_t s = 2; s <= 4; ++s) sendBytes(a, ports->rtpPort[0], ak.protect(plainRtp(s, 0xA)));
  const auto queued = drainMixerQueue(*toMixer, 3);
  ASSERT_EQ(queued.size(), 3U);
  for (uint16_t s = 2; s <= 4; ++s) EXPECT_EQ(queued[s - 2], plainRtp(s, 0xA)) << "the mixer gets plain RTP";

  const auto mixed = Peer::rtp(7, 0xBEEF);
  ASSERT_TRUE(fromMixer->push(42, std::as_bytes(std::span(mixed)), 0));
  relay.workers()[*relay.workerOf(id)]->wake();
  const auto got = receiveBytes(a);
  ASSERT_EQ(got.size(), mixed.size() + 16);
  EXPECT_EQ(ak.unprotect(got.data(), got.size()), std::vector<uint8_t>(mixed.begin(), mixed.end()));
  auto rep = test::queryNow(relay, id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr());
  EXPECT_EQ(rep->streams[0][0].counters.srtpUnprotected, 3U);
  EXPECT_EQ(rep->streams[0][0].counters.srtpProtected, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.srtpDrop(srtp::SrtpError::AuthFail), 1U);
  EXPECT_EQ(rep->streams[0][1].counters.rtpPackets, 1U) << "the local leg counts what the mixer sent";
}

// The kernel fast path never carries a stream with a leg that terminates SRTP: every packet has
// to be unprotected or protected in userspace (KernelForwarderTest has it end to end, as root).
TEST_P(RelayWorkerSrtp, KernelFastPathIsNeverEligibleForATerminatingLeg) {
  MediaStream st;
  auto src = *common::SockAddr::fromIp("127.0.0.1", 4000);
  for (int l = 0; l < 2; ++l) {
    Leg& leg = st.legs[l];
    leg.peer = &st.legs[1 - l];
    leg.rtp.leg = &leg;
    leg.rtp.fd = common::Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    src.setPort(static_cast<uint16_t>(4000 + l));
    leg.rtp.latch.onPacket(src, 1, 1, 0);
  }
  EXPECT_TRUE(kernelEligible(st.legs[0])) << "plain and latched both ways";
  EXPECT_TRUE(kernelEligible(st.legs[1]));
  st.legs[1].params.srtp = true;  // SRTP passed through: opaque bytes, the kernel may forward them
  EXPECT_TRUE(kernelEligible(st.legs[0]));
  st.legs[1].params.crypto = legCrypto(Suite::AeadAes128Gcm, 1, 2);
  EXPECT_FALSE(kernelEligible(st.legs[0])) << "toward a terminating leg";
  EXPECT_FALSE(kernelEligible(st.legs[1])) << "from a terminating leg";
  st.legs[1].params.crypto.send.count = 0;  // one direction only: not terminating
  EXPECT_TRUE(kernelEligible(st.legs[0]));
}

}  // namespace
}  // namespace rdv::relay
