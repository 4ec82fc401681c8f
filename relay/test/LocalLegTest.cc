// Local legs (LegParams::localEndpoint): a stream whose leg 1 ends inside the server. RTP from the
// participant goes into the worker's queue toward the mixer; packets the mixer queues for the
// endpoint leave from the participant's port to its latched address.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "relay/RelayControl.h"
#include "relay/test/LocalQueues.h"
#include "relay/test/TestPeer.h"

namespace rdv::relay {
namespace {

using test::Peer;

struct LocalCall {
  uint64_t id = 0;
  size_t worker = 0;
  uint16_t port = 0;
  std::shared_ptr<PacketQueue> toMixer;    // the owning worker's queues
  std::shared_ptr<PacketQueue> fromMixer;
};

constexpr uint32_t kEndpoint = 42;

LocalCall setUpLocal(RelayControl& relay, const Peer& p) {
  LocalCall c;
  const test::LocalQueues queues = test::attachLocalQueues(relay);
  c.id = relay.createSession("local-1");
  auto ports = relay.addStream(c.id, true, true);
  EXPECT_TRUE(ports);
  EXPECT_EQ(ports->rtpPort[1], 0) << "a local leg has no port";
  c.port = ports->rtpPort[0];
  c.worker = *relay.workerOf(c.id);
  c.toMixer = queues.toMixer[c.worker];
  c.fromMixer = queues.fromMixer[c.worker];
  LegParams peer;
  peer.rtpRemote = peer.rtcpRemote = p.addr();
  peer.mux = true;
  LegParams local;
  local.mux = true;
  local.localEndpoint = kEndpoint;
  EXPECT_TRUE(relay.updateLeg(c.id, 0, 0, peer));
  EXPECT_TRUE(relay.updateLeg(c.id, 0, 1, local));
  return c;
}

// Waits (bounded) for the worker thread to have queued `n` packets for the mixer.
size_t drainQueued(PacketQueue& q, size_t n, std::vector<uint32_t>* endpoints = nullptr) {
  size_t got = 0;
  for (int i = 0; i < 2000 && got < n; ++i) {
    while (const QueuedPacket* p = q.front()) {
      if (endpoints != nullptr) endpoints->push_back(p->endpoint);
      ++got;
      q.pop();
    }
    if (got < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return got;
}

// Every test runs with both send paths (test::SendPaths): /IoUring and /Sendmmsg.
class LocalLeg : public test::SendPaths {};
INSTANTIATE_TEST_SUITE_P(SendPaths, LocalLeg, ::testing::Bool(), test::sendPathName);

TEST_P(LocalLeg, RtpFromTheParticipantGoesToTheMixerQueueAndNowhereElse) {
  RelayControl relay(test::loopbackOptions(8));
  Peer a;
  LocalCall c = setUpLocal(relay, a);
  for (uint16_t s = 1; s <= 5; ++s) a.sendRtp(c.port, s, 0xA);
  std::vector<uint32_t> endpoints;
  ASSERT_EQ(drainQueued(*c.toMixer, 5, &endpoints), 5U);
  for (uint32_t e : endpoints) EXPECT_EQ(e, kEndpoint);
  EXPECT_EQ(a.receive(100), -1) << "nothing is echoed back";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 5U);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr());
}

TEST_P(LocalLeg, MixerPacketsLeaveFromTheParticipantsPortToItsLatchedAddress) {
  RelayControl relay(test::loopbackOptions(8));
  Peer a;
  LocalCall c = setUpLocal(relay, a);
  a.sendRtp(c.port, 1, 0xA);
  ASSERT_EQ(drainQueued(*c.toMixer, 1), 1U);
  auto pkt = Peer::rtp(7, 0xBEEF);
  ASSERT_TRUE(c.fromMixer->push(kEndpoint, std::as_bytes(std::span(pkt)), 0));
  relay.workers()[c.worker]->wake();
  uint8_t buf[2048];
  common::SockAddr from;
  ASSERT_EQ(a.receive(1000, buf, &from), static_cast<ssize_t>(pkt.size()));
  EXPECT_EQ(from.port(), c.port);
  EXPECT_EQ(buf[11], 0xEF);
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][1].counters.rtpPackets, 1U) << "the local leg counts what the mixer sent";
}

TEST_P(LocalLeg, AFloodIsRateLimitedAndCounted) {
  RelayControl relay(test::loopbackOptions(8));
  Peer a;
  LocalCall c = setUpLocal(relay, a);
  for (uint16_t s = 1; s <= 60; ++s) a.sendRtp(c.port, s, 0xA);
  // The worker has handled the whole burst once its report counts 60 packets (bounded wait).
  std::optional<SessionReport> rep;
  for (int i = 0; i < 500 && (!rep || rep->streams[0][0].counters.rtpPackets < 60); ++i) {
    if (rep) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    rep = test::queryNow(relay, c.id);
    ASSERT_TRUE(rep);
  }
  ASSERT_EQ(rep->streams[0][0].counters.rtpPackets, 60U);
  size_t admitted = 0;  // everything the worker queued is there: it counted the whole burst
  for (; c.toMixer->front() != nullptr; c.toMixer->pop()) ++admitted;
  // 250 ms of burst at one packet per 10 ms, plus the first.
  EXPECT_LE(admitted, 27U);
  EXPECT_GE(admitted, 20U);
  uint64_t limited = 0;
  for (const auto& w : relay.workers()) limited += w->counters().drop(DropReason::RateLimited).get();
  EXPECT_EQ(limited, 60U - admitted);
}

TEST_P(LocalLeg, PacketsForAnEndedParticipantAreDroppedAndCounted) {
  RelayControl relay(test::loopbackOptions(8));
  Peer a;
  LocalCall c = setUpLocal(relay, a);
  ASSERT_TRUE(test::removeNow(relay, c.id));
  auto pkt = Peer::rtp(1, 1);
  ASSERT_TRUE(c.fromMixer->push(kEndpoint, std::as_bytes(std::span(pkt)), 0));
  relay.workers()[c.worker]->wake();
  EXPECT_EQ(a.receive(200), -1);
  uint64_t noSession = 0;
  for (int i = 0; i < 1000 && noSession == 0; ++i) {
    for (const auto& w : relay.workers()) noSession += w->counters().drop(DropReason::NoSession).get();
    if (noSession == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(noSession, 1U);
  EXPECT_EQ(relay.portPairsFree(), relay.portPairsTotal()) << "the participant's port is back in the pool";
}

}  // namespace
}  // namespace rdv::relay
