// Relay behaviour over real loopback sockets: RelayControl + workers, driven as the NG layer
// drives them, with plain UDP sockets as the peers.

#include <poll.h>

#include <gtest/gtest.h>

#include "common/Clock.h"
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

TEST(RelayWorker, ForwardsRtpBothWaysAndCountsPerLeg) {
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
  auto rep = relay.query(c.id);
  ASSERT_TRUE(rep);
  ASSERT_EQ(rep->streams.size(), 1U);
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 10U);
  EXPECT_EQ(rep->streams[0][1].counters.rtpPackets, 5U);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr());
  EXPECT_EQ(rep->streams[0][0].rtpLost, 0);
}

TEST(RelayWorker, SpoofedSourceIsDroppedAndCountedGenuineStreamUnaffected) {
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
  auto rep = relay.query(c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.spoofed, 2U);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr());
  uint64_t spoofed = 0;
  for (const auto& w : relay.workers()) spoofed += w->counters().drop(DropReason::Spoofed).get();
  EXPECT_EQ(spoofed, 2U);
}

TEST(RelayWorker, MalformedPacketsAreCountedNotForwarded) {
  RelayControl relay(options(50));
  Peer a, b;
  Call c = setUpCall(relay, a, b);
  const uint8_t junk[] = {0x00, 0x01, 0x02};
  a.sendRaw(c.ports.rtpPort[0], junk, sizeof(junk));
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  auto got = b.receive(1000);
  auto rep = relay.query(c.id);
  ASSERT_TRUE(rep);
  ASSERT_EQ(got, 172) << "malformed=" << rep->streams[0][0].counters.malformed << " rtp=" << rep->streams[0][0].counters.rtpPackets;
  EXPECT_EQ(rep->streams[0][0].counters.malformed, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 1U);
}

// RFC 3550 §6.4.1: the relay measures its round trip to B from the SR it forwarded to B and the
// RR B sends back with that SR's LSR and its DLSR.
TEST(RelayWorker, RttToPeerComesFromForwardedSrAndReturningRr) {
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
  auto rep = relay.query(c.id);
  ASSERT_TRUE(rep);
  EXPECT_GE(rep->streams[0][1].quality.rttMs, 0.0) << "RTT relay<->B";
  EXPECT_LT(rep->streams[0][1].quality.rttMs, 1000.0);
  EXPECT_EQ(rep->streams[0][1].counters.rtcpPackets, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.rtcpPackets, 1U);
}

TEST(RelayWorker, ExhaustedPoolIsAnErrorAndFreedPortsAreReusable) {
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
  ASSERT_TRUE(relay.remove(s1));
  EXPECT_TRUE(relay.addStream(s3, false));
}

// The B2BUA's path: dropping returns at once; the ports stay reserved until the worker has
// closed the sockets and reported the session's final counters.
TEST(RelayWorker, DropDoesNotWaitAndReleasesPortsWhenTheWorkerConfirms) {
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

TEST(RelayWorker, SessionWithoutMediaTimesOutAndIsReported) {
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
TEST(RelayWorker, SetupTimeoutFollowsTheInjectedClockToTheMillisecond) {
  common::ManualClock clock;
  RelayOptions o = options(50);
  o.worker.clock = &clock;
  o.worker.setupTimeoutNs = 3'000'000'000ULL;
  RelayControl relay(o);
  const uint64_t id = relay.createSession("ringing-call");
  ASSERT_TRUE(relay.addStream(id, false));
  ASSERT_TRUE(relay.query(id));  // a round trip: the worker has stamped the session at the start instant
  clock.advanceMs(2999);
  relay.checkTimeouts();
  auto early = relay.query(id);  // runs after the check
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

TEST(RelayWorker, MediaTimeoutCountsFromTheLastPacketOnTheInjectedClock) {
  common::ManualClock clock;
  RelayOptions o = options(50);
  o.worker.clock = &clock;
  o.worker.timeoutNs = 2'000'000'000ULL;
  o.worker.setupTimeoutNs = 60'000'000'000ULL;
  RelayControl relay(o);
  Peer a, b;
  Call c = setUpCall(relay, a, b);
  ASSERT_TRUE(relay.query(c.id));  // the worker has the session before the clock moves
  clock.advanceMs(10'000);  // long silence before the first packet: only the setup timeout applies
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), 172);  // the worker has stamped the packet at +10 s
  clock.advanceMs(1999);
  relay.checkTimeouts();
  ASSERT_TRUE(relay.query(c.id)) << "ended before the media timeout";
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

}  // namespace
}  // namespace rdv::relay
