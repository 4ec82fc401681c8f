// Relay behaviour over real loopback sockets: RelayControl + workers, driven as the NG layer
// drives them, with plain UDP sockets as the peers.

#include <poll.h>

#include <array>
#include <chrono>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "common/Clock.h"
#include "common/test/ThreadPolicy.h"
#include "relay/RelayControl.h"
#include "relay/test/TestPeer.h"

namespace rdv::relay {
namespace {

using test::Call;
using test::Peer;
using test::setUpCall;

// A relay on `pairs` port pairs with 1 s media and setup timeouts.
RelayOptions options(uint16_t pairs) {
  RelayOptions o = test::loopbackOptions(pairs);
  o.worker.timeoutNs = 1'000'000'000ULL;
  o.worker.setupTimeoutNs = 1'000'000'000ULL;
  return o;
}

// Every test runs with both send paths (test::SendPaths): /IoUring and /Sendmmsg.
class RelayWorker : public test::SendPaths {};
INSTANTIATE_TEST_SUITE_P(SendPaths, RelayWorker, ::testing::Bool(), test::sendPathName);

TEST_P(RelayWorker, ForwardsRtpBothWaysAndCountsPerLeg) {
  RelayControl relay(options(50));
  Peer a, b;
  Call c = setUpCall(relay, a, b);
  // A sends to the leg facing it (leg 0); it arrives at B from the leg facing B (leg 1).
  for (uint16_t s = 1; s <= 10; ++s) {
    a.sendRtp(c.ports.rtpPort[0], s, 0xA);
    common::SockAddr from;
    ASSERT_EQ(b.receive(1000, nullptr, &from), 172) << "packet " << s;
    EXPECT_EQ(from.port(), c.ports.rtpPort[1]);
  }
  for (uint16_t s = 1; s <= 5; ++s) {
    b.sendRtp(c.ports.rtpPort[1], s, 0xB);
    ASSERT_EQ(a.receive(1000), 172);
  }
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  ASSERT_EQ(rep->streams.size(), 1U);
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 10U);
  EXPECT_EQ(rep->streams[0][1].counters.rtpPackets, 5U);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr());
  EXPECT_EQ(rep->streams[0][0].rtpLost, 0);
}

TEST_P(RelayWorker, SpoofedSourceIsDroppedAndCountedGenuineStreamUnaffected) {
  RelayControl relay(options(50));
  Peer a, b, attacker;
  Call c = setUpCall(relay, a, b);
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), 172);
  attacker.sendRtp(c.ports.rtpPort[0], 2, 0xEE);
  attacker.sendRtp(c.ports.rtpPort[0], 3, 0xA);  // even with the genuine SSRC
  a.sendRtp(c.ports.rtpPort[0], 2, 0xA);
  uint8_t buf[2048];
  ASSERT_EQ(b.receive(1000, buf), 172);
  EXPECT_EQ(buf[11], 0xA) << "B must receive the genuine stream, not the attacker's";
  EXPECT_EQ(b.receive(200), -1) << "no attacker packet may reach B";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.spoofed, 2U);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr());
  uint64_t spoofed = 0;
  for (const auto& w : relay.workers()) spoofed += w->counters().drop(DropReason::Spoofed).get();
  EXPECT_EQ(spoofed, 2U);
}

TEST_P(RelayWorker, MalformedPacketsAreCountedNotForwarded) {
  RelayControl relay(options(50));
  Peer a, b;
  Call c = setUpCall(relay, a, b);
  const uint8_t junk[] = {0x00, 0x01, 0x02};
  a.sendRaw(c.ports.rtpPort[0], junk, sizeof(junk));
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  auto got = b.receive(1000);
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  ASSERT_EQ(got, 172) << "malformed=" << rep->streams[0][0].counters.malformed << " rtp=" << rep->streams[0][0].counters.rtpPackets;
  EXPECT_EQ(rep->streams[0][0].counters.malformed, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 1U);
}

// RFC 3550 §6.4.1: the relay measures its round trip to B from the SR it forwarded to B and the
// RR B sends back with that SR's LSR and its DLSR.
TEST_P(RelayWorker, RttToPeerComesFromForwardedSrAndReturningRr) {
  RelayControl relay(options(50));
  Peer a, b, aRtcp;
  Call c = setUpCall(relay, a, b);
  // SR from A: V=2 RC=0 PT=200 len=6, SSRC, NTP (sec 0x11223344, frac 0x55667788), RTP ts, counts.
  const uint8_t sr[28] = {0x80, 200, 0, 6, 0, 0, 0, 0xA, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                          0x77, 0x88, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 160};
  aRtcp.sendRaw(static_cast<uint16_t>(c.ports.rtpPort[0] + 1), sr, sizeof(sr));
  ASSERT_EQ(b.receive(200), -1) << "RTCP must go to B's RTCP port, not its RTP port";
  // B answers with an RR (from its RTP socket's address family; source learnt by RTCP latch)
  // with one report block: LSR = middle 32 bits of the SR's NTP, DLSR = 0.
  const uint8_t rr[32] = {0x81, 201, 0, 7, 0, 0, 0, 0xB, 0, 0, 0, 0xA, 0, 0, 0, 0,
                          0, 0, 0, 1, 0, 0, 0, 0, 0x33, 0x44, 0x55, 0x66, 0, 0, 0, 0};
  b.sendRaw(static_cast<uint16_t>(c.ports.rtpPort[1] + 1), rr, sizeof(rr));
  ASSERT_GT(aRtcp.receive(1000), 0) << "A's RTCP address latched from its SR gets B's RR";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_GE(rep->streams[0][1].quality.rttMs, 0.0) << "RTT relay<->B";
  EXPECT_LT(rep->streams[0][1].quality.rttMs, 1000.0);
  EXPECT_EQ(rep->streams[0][1].counters.rtcpPackets, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.rtcpPackets, 1U);
}

// B's RR without blocks + an XR with one VoIP Metrics block (RFC 3611 §4.7) about SSRC 0xA:
// loss and discard rates as given (/256), round trip 0x00b4 ms, end system delay 60 ms, MOS-LQ
// 3.9, R 78.
std::array<uint8_t, 52> rrXrVoip(uint8_t lossRate, uint8_t discardRate) {
  return {0x80, 201, 0, 1, 0, 0, 0, 0xB,
          0x80, 207, 0, 10, 0, 0, 0, 0xB,
          7, 0, 0, 8, 0, 0, 0, 0xA,
          lossRate, discardRate, 64, 2, 0x00, 0x78, 0x11, 0x94,
          0x00, 0xb4, 0x00, 0x3c, 0xec, 0xbf, 127, 16,
          78, 127, 39, 37, 0xf0, 0, 0x00, 0x28,
          0x00, 0x50, 0x00, 0xc8};
}

// RFC 3611 §4.7: what B reports about A's stream (loss and discards after the relay, its end system
// delay) rates that stream even though the relay saw no loss; a malformed XR is forwarded and counted.
TEST_P(RelayWorker, XrFromTheReceiverFeedsTheEModelOfTheStreamItReceives) {
  RelayControl relay(options(50));
  Peer a, b, aRtcp;
  Call c = setUpCall(relay, a, b);
  for (uint16_t s = 1; s <= 40; ++s) {
    a.sendRtp(c.ports.rtpPort[0], s, 0xA);
    ASSERT_EQ(b.receive(1000), 172) << "packet " << s;
  }
  auto clean = test::queryNow(relay, c.id);
  ASSERT_TRUE(clean);
  ASSERT_GT(clean->streams[0][0].mos.samples(), 0U);
  const double cleanMos = clean->streams[0][0].mos.average().mos;
  // About 0xA: loss 26/256 and discards 13/256 (15 %), end system delay 60 ms.
  const auto rrXr = rrXrVoip(26, 13);
  b.sendRaw(static_cast<uint16_t>(c.ports.rtpPort[1] + 1), rrXr.data(), rrXr.size());
  // An XR whose VoIP Metrics block claims 8 words in a 2-word packet.
  const uint8_t badXr[20] = {0x80, 201, 0, 1, 0, 0, 0, 0xB, 0x80, 207, 0, 2, 0, 0, 0, 0xB, 7, 0, 0, 8};
  b.sendRaw(static_cast<uint16_t>(c.ports.rtpPort[1] + 1), badXr, sizeof(badXr));
  std::optional<SessionReport> rep;
  for (int i = 0; i < 500 && (!rep || rep->streams[0][1].counters.rtcpPackets < 2); ++i) {
    rep = test::queryNow(relay, c.id);
    ASSERT_TRUE(rep);
  }
  const LegReport& towardB = rep->streams[0][1];
  EXPECT_EQ(towardB.counters.xrReports, 1U);
  EXPECT_EQ(towardB.counters.xrMalformed, 1U);
  const double reported = rep->streams[0][0].mos.average().mos;
  EXPECT_EQ(rep->streams[0][0].rtpLost, 0) << "the relay itself saw no loss";
  // 15 % loss on G.711 with PLC: MOS about 2.6 (G.107, Bpl 25.1), far below the clean 4.4.
  EXPECT_LT(reported, cleanMos - 1.0) << "clean " << cleanMos << ", with B's XR " << reported;
  uint64_t malformed = 0;
  for (const auto& w : relay.workers()) malformed += w->counters().xrMalformed.get();
  EXPECT_EQ(malformed, 1U);
}

// RFC 3611: B's RTCP XR VoIP Metrics block is forwarded byte for byte and kept on the leg facing
// B; the burst/gap loss of the leg facing A comes from the sequence numbers A sends.
TEST_P(RelayWorker, XrVoipMetricsAreForwardedAndKeptAndBurstGapLossIsMeasured) {
  RelayControl relay(options(50));
  Peer a, b, aRtcp;
  Call c = setUpCall(relay, a, b);
  // Seq 1 is A.1's probation packet; 20 and 21 are lost: a burst of 2 between gaps of 18 and 19.
  for (uint16_t s = 1; s <= 40; ++s) {
    if (s == 20 || s == 21) continue;
    a.sendRtp(c.ports.rtpPort[0], s, 0xA);
    ASSERT_EQ(b.receive(1000), 172) << "packet " << s;
  }
  // A's RTCP address is latched from its SR, so B's report reaches aRtcp.
  const uint8_t sr[28] = {0x80, 200, 0, 6, 0, 0, 0, 0xA, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                          0x77, 0x88, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 160};
  aRtcp.sendRaw(static_cast<uint16_t>(c.ports.rtpPort[0] + 1), sr, sizeof(sr));
  // About 0xA: loss 13/256, MOS-LQ 3.9, R 78.
  const auto rrXr = rrXrVoip(13, 3);
  b.sendRaw(static_cast<uint16_t>(c.ports.rtpPort[1] + 1), rrXr.data(), rrXr.size());
  uint8_t got[64];
  ASSERT_EQ(aRtcp.receive(1000, got), static_cast<ssize_t>(rrXr.size()));
  EXPECT_EQ(std::memcmp(got, rrXr.data(), rrXr.size()), 0) << "forwarded unchanged";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  const LegReport& towardB = rep->streams[0][1];
  ASSERT_TRUE(towardB.quality.xr);
  EXPECT_EQ(towardB.quality.xr->ssrc, 0xAU);
  EXPECT_EQ(towardB.quality.xr->lossRate, 13);
  EXPECT_EQ(towardB.quality.xr->mosLq, 39);
  EXPECT_EQ(towardB.quality.xr->rFactor, 78);
  EXPECT_EQ(towardB.quality.xr->endSystemDelayMs, 60);
  EXPECT_FALSE(rep->streams[0][0].quality.xr) << "A sent no XR";
  const media::BurstGapMetrics& bg = rep->streams[0][0].burstGap;
  EXPECT_EQ(bg.bursts, 1U);
  EXPECT_DOUBLE_EQ(bg.burstDensity, 1.0);
  EXPECT_DOUBLE_EQ(bg.burstMs, 40.0);
  EXPECT_EQ(bg.gaps, 2U);
  EXPECT_DOUBLE_EQ(bg.gapDensity, 0.0);
  EXPECT_DOUBLE_EQ(bg.gapMs, 37 * 20.0 / 2);
}

TEST_P(RelayWorker, ExhaustedPoolIsAnErrorAndFreedPortsAreReusable) {
  RelayControl relay(options(4));  // 4 pairs: exactly one two-leg stream twice
  uint64_t s1 = relay.createSession("a");
  ASSERT_TRUE(relay.addStream(s1, false));
  uint64_t s2 = relay.createSession("b");
  ASSERT_TRUE(relay.addStream(s2, false));
  uint64_t s3 = relay.createSession("c");
  auto r = relay.addStream(s3, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RelayErrorCode::PortsExhausted);
  EXPECT_EQ(relay.counters().poolExhausted.get(), 1U);
  ASSERT_TRUE(test::removeNow(relay, s1));
  EXPECT_TRUE(relay.addStream(s3, false));
}

// The B2BUA's path: dropping returns at once; the ports stay reserved until the worker has
// closed the sockets and reported the session's final counters.
TEST_P(RelayWorker, DropDoesNotWaitAndReleasesPortsWhenTheWorkerConfirms) {
  RelayControl relay(options(50));
  Peer a, b;
  Call c = setUpCall(relay, a, b);
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), 172);
  relay.drop(c.id);
  EXPECT_EQ(relay.activeSessions(), 0U);
  EXPECT_LT(relay.portPairsFree(), relay.portPairsTotal()) << "ports held until the worker confirms";
  pollfd pfd{relay.endedFd(), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 2000), 1) << "drop not confirmed";
  std::vector<uint64_t> packets;
  relay.drainEnded([&](const SessionReport& r, bool timedOut) {
    EXPECT_FALSE(timedOut);
    packets.push_back(r.streams.at(0)[0].counters.rtpPackets);
  });
  EXPECT_EQ(packets, std::vector<uint64_t>{1});
  EXPECT_EQ(relay.portPairsFree(), relay.portPairsTotal());
  EXPECT_EQ(relay.counters().sessionsEnded.get(), 1U);
}

TEST_P(RelayWorker, SessionWithoutMediaTimesOutAndIsReported) {
  RelayControl relay(options(50));
  uint64_t id = relay.createSession("quiet-call");
  ASSERT_TRUE(relay.addStream(id, false));
  pollfd pfd{relay.endedFd(), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 5000), 1) << "timeout not reported";
  std::vector<uint64_t> ended;
  relay.drainEnded([&](const SessionReport& r, bool timedOut) {
    EXPECT_TRUE(timedOut);
    ended.push_back(r.id);
  });
  EXPECT_EQ(ended, std::vector<uint64_t>{id});
  EXPECT_EQ(relay.activeSessions(), 0U);
  EXPECT_EQ(relay.portPairsFree(), relay.portPairsTotal());
}

// Timeouts on an injected ManualClock: nothing happens one millisecond early, the session ends at
// the exact instant. (The worker's own 1 s tick may also run the check; it reads the same clock.)
TEST_P(RelayWorker, SetupTimeoutFollowsTheInjectedClockToTheMillisecond) {
  common::ManualClock clock;
  RelayOptions o = options(50);
  o.worker.clock = &clock;
  o.worker.setupTimeoutNs = 3'000'000'000ULL;
  RelayControl relay(o);
  const uint64_t id = relay.createSession("ringing-call");
  ASSERT_TRUE(relay.addStream(id, false));
  ASSERT_TRUE(test::queryNow(relay, id));  // a round trip: the worker has stamped the session at the start instant
  clock.advanceMs(2999);
  relay.checkTimeouts();
  auto early = test::queryNow(relay, id);  // runs after the check
  ASSERT_TRUE(early) << "ended before the setup timeout";
  EXPECT_EQ(early->createdNs, 1'000'000'000U);
  pollfd pfd{relay.endedFd(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);
  clock.advanceMs(1);
  relay.checkTimeouts();
  ASSERT_EQ(::poll(&pfd, 1, 5000), 1) << "setup timeout not reported";
  std::vector<uint64_t> ended;
  relay.drainEnded([&](const SessionReport& r, bool timedOut) {
    EXPECT_TRUE(timedOut);
    ended.push_back(r.id);
  });
  EXPECT_EQ(ended, std::vector<uint64_t>{id});
}

TEST_P(RelayWorker, MediaTimeoutCountsFromTheLastPacketOnTheInjectedClock) {
  common::ManualClock clock;
  RelayOptions o = options(50);
  o.worker.clock = &clock;
  o.worker.timeoutNs = 2'000'000'000ULL;
  o.worker.setupTimeoutNs = 60'000'000'000ULL;
  RelayControl relay(o);
  Peer a, b;
  Call c = setUpCall(relay, a, b);
  ASSERT_TRUE(test::queryNow(relay, c.id));  // the worker has the session before the clock moves
  clock.advanceMs(10'000);  // long silence before the first packet: only the setup timeout applies
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), 172);  // the worker has stamped the packet at +10 s
  clock.advanceMs(1999);
  relay.checkTimeouts();
  ASSERT_TRUE(test::queryNow(relay, c.id)) << "ended before the media timeout";
  pollfd pfd{relay.endedFd(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);
  clock.advanceMs(1);
  relay.checkTimeouts();
  ASSERT_EQ(::poll(&pfd, 1, 5000), 1) << "media timeout not reported";
  std::vector<uint64_t> packets;
  relay.drainEnded([&](const SessionReport& r, bool timedOut) {
    EXPECT_TRUE(timedOut);
    packets.push_back(r.streams.at(0)[0].counters.rtpPackets);
  });
  EXPECT_EQ(packets, std::vector<uint64_t>{1});
}

// STUN binding request header (RFC 8489 §5): first byte 0x00, not RTP version 2.
constexpr uint8_t kStun[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

uint64_t workerTotal(const RelayControl& relay, const Counter WorkerCounters::*c) {
  uint64_t n = 0;
  for (const auto& w : relay.workers()) n += (w->counters().*c).get();
  return n;
}

TEST_P(RelayWorker, OtherDatagramsFromTheLatchedPeerAreForwardedUnchangedAndCounted) {
  RelayControl relay(options(50));
  Peer a, b;
  Call c = setUpCall(relay, a, b);
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), 172);
  a.sendRaw(c.ports.rtpPort[0], kStun, sizeof(kStun));
  uint8_t got[2048];
  ASSERT_EQ(b.receive(1000, got), static_cast<ssize_t>(sizeof(kStun)));
  EXPECT_EQ(std::memcmp(got, kStun, sizeof(kStun)), 0) << "forwarded unchanged";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.otherPackets, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.otherBytes, sizeof(kStun));
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.malformed, 0U);
  EXPECT_EQ(workerTotal(relay, &WorkerCounters::otherRelayed), 1U);
}

TEST_P(RelayWorker, OtherDatagramsFromUnlatchedOrStrangerSourcesAreDroppedAndCounted) {
  RelayControl relay(options(50));
  Peer a, b, stranger;
  Call c = setUpCall(relay, a, b);
  a.sendRaw(c.ports.rtpPort[0], kStun, sizeof(kStun));  // nothing latched yet: nothing vouches for it
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), 172) << "the RTP packet, not the STUN one";
  stranger.sendRaw(c.ports.rtpPort[0], kStun, sizeof(kStun));
  a.sendRtp(c.ports.rtpPort[0], 2, 0xA);
  ASSERT_EQ(b.receive(1000), 172);
  EXPECT_EQ(b.receive(200), -1);
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.malformed, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.spoofed, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.otherPackets, 0U);
  EXPECT_EQ(workerTotal(relay, &WorkerCounters::otherRelayed), 0U);
}

// m=image udptl: no RTP at all. The leg latches on the first datagram and forwards UDPTL.
TEST_P(RelayWorker, OpaqueLegLatchesOnAnyDatagramAndForwardsIt) {
  RelayControl relay(options(50));
  Peer a, b, stranger;
  const uint64_t id = relay.createSession("fax");
  auto ports = relay.addStream(id, false);
  ASSERT_TRUE(ports);
  LegParams pa = test::towards(a), pb = test::towards(b);
  pa.opaque = pb.opaque = true;
  ASSERT_TRUE(relay.updateLeg(id, 0, 0, pa));
  ASSERT_TRUE(relay.updateLeg(id, 0, 1, pb));
  const uint8_t udptl[6] = {0x00, 0x00, 0x06, 0xC0, 0x01, 0x80};
  a.sendRaw(ports->rtpPort[0], udptl, sizeof(udptl));
  ASSERT_EQ(b.receive(1000), static_cast<ssize_t>(sizeof(udptl)));
  stranger.sendRaw(ports->rtpPort[0], udptl, sizeof(udptl));
  EXPECT_EQ(b.receive(200), -1);
  b.sendRaw(ports->rtpPort[1], udptl, sizeof(udptl));
  ASSERT_EQ(a.receive(1000), static_cast<ssize_t>(sizeof(udptl)));
  auto rep = test::queryNow(relay, id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr());
  EXPECT_EQ(rep->streams[0][0].counters.otherPackets, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.spoofed, 1U);
  EXPECT_EQ(rep->streams[0][1].counters.otherPackets, 1U);
}

TEST_P(RelayWorker, ReofferThatMovesThePeerResetsItsLatch) {
  RelayControl relay(options(50));
  Peer a, b, moved;
  Call c = setUpCall(relay, a, b);
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), 172);
  ASSERT_TRUE(relay.updateLeg(c.id, 0, 0, test::towards(moved)));
  moved.sendRtp(c.ports.rtpPort[0], 1, 0xB0);
  ASSERT_EQ(b.receive(1000), 172) << "the moved peer latches";
  a.sendRtp(c.ports.rtpPort[0], 2, 0xA);
  EXPECT_EQ(b.receive(200), -1) << "the old source is dropped";
  b.sendRtp(c.ports.rtpPort[1], 1, 0xB);
  ASSERT_EQ(moved.receive(1000), 172) << "and the other direction follows the new latch";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, moved.addr());
  EXPECT_EQ(rep->streams[0][0].counters.relatched, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.spoofed, 1U);
  EXPECT_EQ(workerTotal(relay, &WorkerCounters::legsRelatched), 1U);
}

TEST_P(RelayWorker, AnotherPartyTakingTheLegRelatchesEvenFromTheSameAdvertisedAddress) {
  // Two forks behind NATs that both advertise the same private address: the answer of the second
  // (a new party) must let its packets latch although the SDP address did not move.
  RelayControl relay(options(50));
  Peer a, b, secondFork;
  Call c = setUpCall(relay, a, b);
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), 172);
  LegParams same = test::towards(a);
  same.party = 1;
  ASSERT_TRUE(relay.updateLeg(c.id, 0, 0, same));
  secondFork.sendRtp(c.ports.rtpPort[0], 1, 0xC);
  ASSERT_EQ(b.receive(1000), 172) << "the new party latches";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, secondFork.addr());
  EXPECT_EQ(rep->streams[0][0].counters.relatched, 1U);
}

TEST_P(RelayWorker, ReofferFromTheSameAddressOrOnHoldKeepsTheLatch) {
  RelayControl relay(options(50));
  Peer a, b, attacker;
  Call c = setUpCall(relay, a, b);
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), 172);
  ASSERT_TRUE(relay.updateLeg(c.id, 0, 0, test::towards(a)));  // session refresh
  LegParams hold;  // c=0.0.0.0: no address
  ASSERT_TRUE(relay.updateLeg(c.id, 0, 0, hold));
  ASSERT_TRUE(relay.updateLeg(c.id, 0, 0, test::towards(a)));  // resume
  attacker.sendRtp(c.ports.rtpPort[0], 2, 0xEE);
  a.sendRtp(c.ports.rtpPort[0], 2, 0xA);
  uint8_t buf[2048];
  ASSERT_EQ(b.receive(1000, buf), 172);
  EXPECT_EQ(buf[11], 0xA);
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr());
  EXPECT_EQ(rep->streams[0][0].counters.relatched, 0U);
  EXPECT_EQ(rep->streams[0][0].counters.spoofed, 1U);
}

// NG `strict-source`: a new source is never accepted, not even one that looks like a NAT
// rebinding (same SSRC after the old source went silent).
TEST_P(RelayWorker, StrictSourceNeverRelatchesEvenOnANatRebinding) {
  common::ManualClock clock;
  RelayOptions o = options(50);
  o.worker.clock = &clock;
  RelayControl relay(o);
  for (bool strict : {false, true}) {
    Peer a, b, rebound;
    Call c = setUpCall(relay, a, b, strict ? "strict" : "loose");
    LegParams pa = test::towards(a);
    pa.strictSource = strict;
    ASSERT_TRUE(relay.updateLeg(c.id, 0, 0, pa));
    a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
    ASSERT_EQ(b.receive(1000), 172);
    clock.advanceMs(2000);  // longer than relatch_silence
    rebound.sendRtp(c.ports.rtpPort[0], 2, 0xA);
    EXPECT_EQ(b.receive(strict ? 200 : 1000), strict ? -1 : 172) << (strict ? "strict" : "loose");
    auto rep = test::queryNow(relay, c.id);
    ASSERT_TRUE(rep);
    EXPECT_EQ(rep->streams[0][0].latched, strict ? a.addr() : rebound.addr());
  }
}

// MOS samples: one per interval on the worker's timer, a provisional one in queries for packets
// not sampled yet, and a final one when the session goes; each is the E-model of that interval.
TEST_P(RelayWorker, MosIsSampledPerIntervalAndOnRemoval) {
  common::ManualClock clock;
  RelayOptions o = options(50);
  o.worker.clock = &clock;
  o.worker.mosIntervalNs = 5'000'000'000ULL;
  o.worker.timeoutNs = 600'000'000'000ULL;
  RelayControl relay(o);
  Peer a, b;
  Call c = setUpCall(relay, a, b);
  LegParams pa = test::towards(a);
  pa.codec = media::VoiceCodec::G722;
  ASSERT_TRUE(relay.updateLeg(c.id, 0, 0, pa));
  // Sequence 1..10, 12..21: one lost of the 20 RFC 3550 expects (seq 1 is probation).
  for (uint16_t s = 1; s <= 21; ++s) {
    if (s == 11) continue;
    a.sendRtp(c.ports.rtpPort[0], s, 0xA);
    ASSERT_EQ(b.receive(1000), 172);
  }
  relay.checkTimeouts();  // opens the first window
  auto early = test::queryNow(relay, c.id);
  ASSERT_TRUE(early);
  EXPECT_EQ(early->streams[0][0].mos.samples(), 1U) << "provisional sample of the open window";
  EXPECT_EQ(early->streams[0][1].mos.samples(), 0U) << "B sent nothing";
  clock.advanceMs(5000);
  relay.checkTimeouts();  // closes it
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  const auto& leg = rep->streams[0][0];
  ASSERT_EQ(leg.mos.samples(), 1U);
  const media::MosSample first = leg.mos.lowest();
  EXPECT_DOUBLE_EQ(first.lossPercent, 5.0);
  EXPECT_EQ(first.atUnix, clock.wallSeconds());
  EXPECT_EQ(first.rttMs, 0.0);
  EXPECT_DOUBLE_EQ(first.mos, media::estimateQuality({.lossPercent = 5.0, .jitterMs = first.jitterMs,
                                                      .rttMs = -1, .codec = media::VoiceCodec::G722})
                                  .mos);
  EXPECT_EQ(leg.codec, media::VoiceCodec::G722);
  EXPECT_TRUE(leg.hasSsrc);
  EXPECT_EQ(leg.ssrc, 0xAU);
  for (uint16_t s = 22; s <= 31; ++s) {
    a.sendRtp(c.ports.rtpPort[0], s, 0xA);
    ASSERT_EQ(b.receive(1000), 172);
  }
  clock.advanceMs(1000);
  auto fin = test::removeNow(relay, c.id);
  ASSERT_TRUE(fin);
  const auto& end = fin->streams[0][0];
  ASSERT_EQ(end.mos.samples(), 2U) << "the final, shorter interval";
  // Lossless, but the 5 s the frozen clock jumped between the batches shows as jitter.
  const double finalMos = media::estimateQuality({.lossPercent = 0, .jitterMs = end.jitterMs, .rttMs = -1,
                                                  .codec = media::VoiceCodec::G722})
                              .mos;
  const bool finalIsLowest = finalMos < first.mos;
  const media::MosSample& last = finalIsLowest ? end.mos.lowest() : end.mos.highest();
  EXPECT_DOUBLE_EQ(last.mos, finalMos);
  EXPECT_DOUBLE_EQ(last.lossPercent, 0.0);
  EXPECT_EQ(last.atUnix, clock.wallSeconds());
  EXPECT_DOUBLE_EQ((finalIsLowest ? end.mos.highest() : end.mos.lowest()).mos, first.mos);
  EXPECT_DOUBLE_EQ(end.mos.average().lossPercent, 2.5);
  EXPECT_DOUBLE_EQ(end.mos.average().mos, (first.mos + finalMos) / 2);
}

// The scheduling policies of the workers' threads, once both have named themselves (at the start
// of their loop): polled, at most 5 s.
std::vector<int> workerPolicies() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    auto w0 = testutil::policiesOf("rdv-relay-0");
    auto w1 = testutil::policiesOf("rdv-relay-1");
    if ((w0.size() == 1 && w1.size() == 1) || std::chrono::steady_clock::now() > deadline) {
      w0.insert(w0.end(), w1.begin(), w1.end());
      return w0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

TEST(RelayWorkerRealtime, WorkersRunSchedFifoOrSayWhyNotAndForwardEitherWay) {
  RelayOptions o = options(50);
  o.worker.realtimePriority = 4;
  RelayControl relay(o);
  const std::string error = relay.workers()[0]->realtimeError();
  EXPECT_EQ(relay.workers()[1]->realtimeError(), error);
  // As root (CI) the kernel grants it; without CAP_SYS_NICE it refuses and the worker says so.
  const int expected = error.empty() ? SCHED_FIFO : SCHED_OTHER;
  EXPECT_EQ(workerPolicies(), (std::vector<int>{expected, expected})) << error;
  if (testutil::hasCapSysNice()) {
    EXPECT_EQ(error, "") << "CAP_SYS_NICE may use SCHED_FIFO";
  }
  Peer a, b;
  Call c = setUpCall(relay, a, b);
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  EXPECT_EQ(b.receive(1000), 172);
}

TEST(RelayWorkerRealtime, WithoutAPriorityTheWorkersKeepTheDefaultScheduler) {
  RelayControl relay(options(50));
  EXPECT_EQ(workerPolicies(), (std::vector<int>{SCHED_OTHER, SCHED_OTHER}));
  EXPECT_EQ(relay.workers()[0]->realtimeError(), "");
}

}  // namespace
}  // namespace rdv::relay
