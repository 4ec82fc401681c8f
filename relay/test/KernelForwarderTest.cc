// The kernel fast path end to end: a RelayControl with relay.kernel_forwarding on 127.0.0.1
// attaches its TC program to lo, and plain UDP sockets play the peers. These tests need root
// (CAP_BPF + CAP_NET_ADMIN), as CI has; without it they fail and say so, since a skipped test
// would let the fast path rot unnoticed.

#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "relay/RelayControl.h"
#include "relay/test/SrtpPeer.h"
#include "relay/test/TestPeer.h"

namespace rdv::relay {
namespace {

using test::Call;
using test::kRtpSize;
using test::Peer;
using test::setUpCall;

uint16_t foldSum(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Sends `payload` as a UDP datagram with a full software checksum through a raw socket, so it
// arrives without checksum offload (CHECKSUM_NONE): the receiving stack verifies the checksum,
// and a wrong rewrite in the kernel path would make the datagram vanish. `checksum` false sends
// UDP checksum 0 ("none", RFC 768), which must stay 0.
void sendRaw(const common::SockAddr& from, uint16_t toPort, const uint8_t* payload, size_t len, bool checksum) {
  common::Fd raw(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
  ASSERT_TRUE(raw.valid()) << std::strerror(errno);
  std::array<uint8_t, 2048> pkt{};
  auto* ip = reinterpret_cast<iphdr*>(pkt.data());
  auto* udp = reinterpret_cast<udphdr*>(pkt.data() + sizeof(iphdr));
  const auto* src = reinterpret_cast<const sockaddr_in*>(from.sa());
  ip->version = 4;
  ip->ihl = 5;
  ip->ttl = 64;
  ip->protocol = IPPROTO_UDP;
  ip->saddr = src->sin_addr.s_addr;
  ip->daddr = htonl(INADDR_LOOPBACK);
  ip->tot_len = htons(static_cast<uint16_t>(sizeof(iphdr) + sizeof(udphdr) + len));
  udp->source = src->sin_port;
  udp->dest = htons(toPort);
  udp->len = htons(static_cast<uint16_t>(sizeof(udphdr) + len));
  std::memcpy(pkt.data() + sizeof(iphdr) + sizeof(udphdr), payload, len);
  if (checksum) {
    uint32_t sum = 0;
    auto add16 = [&sum](const uint8_t* p, size_t n) {
      for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
      if (n % 2 != 0) sum += static_cast<uint32_t>(p[n - 1] << 8);
    };
    add16(reinterpret_cast<const uint8_t*>(&ip->saddr), 8);
    sum += IPPROTO_UDP + sizeof(udphdr) + len;
    add16(reinterpret_cast<const uint8_t*>(udp), sizeof(udphdr) + len);
    uint16_t c = static_cast<uint16_t>(~foldSum(sum));
    udp->check = htons(c == 0 ? 0xffff : c);
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const size_t total = sizeof(iphdr) + sizeof(udphdr) + len;
  ASSERT_EQ(::sendto(raw.get(), pkt.data(), total, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
            static_cast<ssize_t>(total));
}

void requireRoot() {
  ASSERT_EQ(::geteuid(), 0U) << "KernelForwarder tests attach an eBPF program to lo and must run as root "
                                "(CAP_BPF + CAP_NET_ADMIN); run them as root (CI does)";
}

RelayOptions kernelOptions(uint16_t pairs) {
  RelayOptions o = test::loopbackOptions(pairs);
  o.kernelForwarding = true;
  o.worker.relatchSilenceNs = 200'000'000ULL;
  return o;
}

// One packet each way through userspace latches both legs, which installs both kernel entries.
void latchBoth(const Call& c, Peer& a, Peer& b, uint16_t& seq) {
  ++seq;
  a.sendRtp(c.ports.rtpPort[0], seq, 0xA);
  ASSERT_EQ(b.receive(1000), static_cast<ssize_t>(kRtpSize));
  b.sendRtp(c.ports.rtpPort[1], seq, 0xB);
  ASSERT_EQ(a.receive(1000), static_cast<ssize_t>(kRtpSize));
}

// Sends `n` packets each way, each answered before the next; checks source port and payload.
void exchange(const Call& c, Peer& a, Peer& b, uint16_t& seq, int n) {
  for (int i = 0; i < n; ++i) {
    ++seq;
    a.sendRtp(c.ports.rtpPort[0], seq, 0xA);
    uint8_t got[2048];
    common::SockAddr from;
    ASSERT_EQ(b.receive(1000, got, &from), static_cast<ssize_t>(kRtpSize)) << "A->B packet " << seq;
    EXPECT_EQ(from.port(), c.ports.rtpPort[1]);
    auto want = Peer::rtp(seq, 0xA);
    ASSERT_EQ(std::memcmp(got, want.data(), want.size()), 0) << "payload changed";
    b.sendRtp(c.ports.rtpPort[1], seq, 0xB);
    ASSERT_EQ(a.receive(1000, nullptr, &from), static_cast<ssize_t>(kRtpSize)) << "B->A packet " << seq;
    EXPECT_EQ(from.port(), c.ports.rtpPort[0]);
  }
}

TEST(KernelForwarder, CarriesLatchedRtpDropsSpoofedAndStopsAfterDelete) {
  requireRoot();
  RelayControl relay(kernelOptions(20));
  const KernelForwarder* k = relay.kernelForwarder();
  ASSERT_NE(k, nullptr) << "the TC program did not attach (see the warning above)";
  EXPECT_EQ(k->interfaceName(), "lo");
  Peer a, b, attacker;
  Call c = setUpCall(relay, a, b, "kernel-call");
  uint16_t seq = 0;
  latchBoth(c, a, b, seq);
  const uint64_t before = k->totals().packets;
  exchange(c, a, b, seq, 100);
  EXPECT_EQ(k->totals().packets - before, 200U);

  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  for (int l = 0; l < 2; ++l) {
    const LegCounters& lc = rep->streams[0][l].counters;
    EXPECT_EQ(lc.rtpPackets, 101U) << "leg " << l;
    EXPECT_EQ(lc.rtpBytes, 101U * kRtpSize) << "leg " << l;
    EXPECT_EQ(lc.kernelPackets, 100U) << "leg " << l << ": userspace should only have seen the latching packet";
    EXPECT_EQ(rep->streams[0][l].rtpLost, 0) << "leg " << l;
  }
  EXPECT_EQ(relay.workers()[0]->counters().packetsRelayed.get() + relay.workers()[1]->counters().packetsRelayed.get(),
            2U);

  // Full software checksums (and checksum 0) survive the rewrite: the receiver verifies them.
  for (bool withChecksum : {true, false}) {
    ++seq;
    auto p = Peer::rtp(seq, 0xA);
    sendRaw(a.addr(), c.ports.rtpPort[0], p.data(), p.size(), withChecksum);
    uint8_t got[2048];
    ASSERT_EQ(b.receive(1000, got), static_cast<ssize_t>(kRtpSize)) << "checksum " << withChecksum;
    EXPECT_EQ(std::memcmp(got, p.data(), p.size()), 0);
  }

  // RTP Bleed: another source, even with A's SSRC, is dropped in the kernel and counted.
  for (uint16_t i = 0; i < 10; ++i) attacker.sendRtp(c.ports.rtpPort[0], static_cast<uint16_t>(seq + 1 + i), 0xA);
  EXPECT_EQ(b.receive(300), -1) << "spoofed RTP reached B";
  rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.spoofed, 10U);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr());
  EXPECT_EQ(k->totals().spoofed, 10U);
  exchange(c, a, b, seq, 3);  // the genuine stream is unaffected

  const common::SockAddr entryA = k->localAddress(c.ports.rtpPort[0]);
  ASSERT_TRUE(k->readCounters(entryA).has_value());
  auto fin = test::removeNow(relay, c.id);
  ASSERT_TRUE(fin);
  EXPECT_EQ(fin->streams[0][0].counters.rtpPackets, 1U + 100 + 2 + 3);
  EXPECT_EQ(fin->streams[0][1].counters.rtpPackets, 1U + 100 + 3);
  EXPECT_EQ(fin->streams[0][0].counters.spoofed, 10U);
  EXPECT_FALSE(k->readCounters(entryA).has_value()) << "delete left the kernel entry";
  EXPECT_FALSE(k->readCounters(k->localAddress(c.ports.rtpPort[1])).has_value());
  const uint64_t afterDelete = k->totals().packets;
  a.sendRtp(c.ports.rtpPort[0], ++seq, 0xA);
  EXPECT_EQ(b.receive(300), -1) << "media still forwarded after delete";
  EXPECT_EQ(k->totals().packets, afterDelete);
}

// New parameters for a leg (a re-offer that moves the caller): the stream's entries are gone when
// updateLeg returns, not only once the worker has run the command, so the moved caller's very
// first packet reaches userspace, where it latches; what the kernel had counted stays counted.
TEST(KernelForwarder, UpdateLegRemovesTheEntriesBeforeItReturnsAndKeepsTheirCounts) {
  requireRoot();
  RelayControl relay(kernelOptions(20));
  const KernelForwarder* k = relay.kernelForwarder();
  ASSERT_NE(k, nullptr) << "the TC program did not attach (see the warning above)";
  Peer a, b, moved;
  Call c = setUpCall(relay, a, b, "kernel-move");
  uint16_t seq = 0;
  latchBoth(c, a, b, seq);
  exchange(c, a, b, seq, 5);
  ASSERT_TRUE(k->readCounters(k->localAddress(c.ports.rtpPort[0])).has_value());

  ASSERT_TRUE(relay.updateLeg(c.id, 0, 0, test::towards(moved)));
  EXPECT_FALSE(k->readCounters(k->localAddress(c.ports.rtpPort[0])).has_value()) << "entry A->B left behind";
  EXPECT_FALSE(k->readCounters(k->localAddress(c.ports.rtpPort[1])).has_value()) << "entry B->A left behind";
  moved.sendRtp(c.ports.rtpPort[0], 1, 0xC);
  ASSERT_EQ(b.receive(1000), static_cast<ssize_t>(kRtpSize)) << "the moved caller's first packet";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, moved.addr());
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 1U + 5 + 1);
  EXPECT_EQ(rep->streams[0][0].counters.kernelPackets, 5U);
  EXPECT_EQ(rep->streams[0][1].counters.rtpPackets, 1U + 5);
  EXPECT_EQ(rep->streams[0][1].counters.kernelPackets, 5U);
}

TEST(KernelForwarder, SilentEntryExpiresSoNatRebindingRelatchesInUserspace) {
  requireRoot();
  RelayControl relay(kernelOptions(20));  // relatch_silence 200 ms
  const KernelForwarder* k = relay.kernelForwarder();
  ASSERT_NE(k, nullptr);
  Peer a, b;
  Call c = setUpCall(relay, a, b, "kernel-call");
  uint16_t seq = 0;
  latchBoth(c, a, b, seq);
  exchange(c, a, b, seq, 20);
  ASSERT_TRUE(k->readCounters(k->localAddress(c.ports.rtpPort[0])).has_value());

  // A's NAT mapping changes: same SSRC from a new port. While A's entry exists the kernel drops it.
  Peer rebound;
  rebound.sendRtp(c.ports.rtpPort[0], ++seq, 0xA);
  EXPECT_EQ(b.receive(300), -1);

  // After relatch_silence without packets (seen on the worker's 1 s tick) the entry is gone...
  bool expired = false;
  for (int i = 0; i < 40 && !expired; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    expired = !k->readCounters(k->localAddress(c.ports.rtpPort[0])).has_value();
  }
  ASSERT_TRUE(expired) << "a silent source's kernel entry did not expire";
  // ...so userspace sees the new source and re-latches, and the kernel then carries it.
  rebound.sendRtp(c.ports.rtpPort[0], ++seq, 0xA);
  common::SockAddr from;
  ASSERT_EQ(b.receive(1000, nullptr, &from), static_cast<ssize_t>(kRtpSize));
  EXPECT_EQ(from.port(), c.ports.rtpPort[1]);
  b.drain();
  for (int i = 0; i < 20; ++i) {
    ++seq;
    rebound.sendRtp(c.ports.rtpPort[0], seq, 0xA);
    ASSERT_EQ(b.receive(1000), static_cast<ssize_t>(kRtpSize));
    b.sendRtp(c.ports.rtpPort[1], seq, 0xB);
    ASSERT_EQ(rebound.receive(1000), static_cast<ssize_t>(kRtpSize)) << "B's media must follow A's new address";
  }
  EXPECT_EQ(a.receive(200), -1) << "the old address still gets media";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, rebound.addr());
  EXPECT_EQ(rep->streams[0][0].counters.relatched, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.spoofed, 1U);  // the packet sent before the silence
  EXPECT_GE(rep->streams[0][0].counters.kernelPackets, 20U + 15U);
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 1U + 20 + 1 + 20);
}

TEST(KernelForwarder, KernelOnlyMediaKeepsTheSessionAlive) {
  requireRoot();
  RelayOptions o = kernelOptions(20);
  o.worker.timeoutNs = 1'000'000'000ULL;
  o.worker.relatchSilenceNs = 5'000'000'000ULL;  // no expiry: userspace sees nothing after latching
  RelayControl relay(o);
  ASSERT_NE(relay.kernelForwarder(), nullptr);
  Peer a, b;
  Call c = setUpCall(relay, a, b, "kernel-call");
  uint16_t seq = 0;
  latchBoth(c, a, b, seq);
  // 2.5 s of media, all in the kernel, across two timeout checks of a 1 s media timeout.
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
  while (std::chrono::steady_clock::now() < end) {
    exchange(c, a, b, seq, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep) << "the session timed out although the kernel was forwarding its media";
  EXPECT_GT(rep->streams[0][0].counters.kernelPackets, 50U);
  EXPECT_EQ(relay.counters().sessionsTimedOut.get(), 0U);
}

// Encrypted legs stay in userspace (issue 12): a stream with a leg that terminates SRTP gets no
// kernel entry however long both sides are latched, and the relay keeps bridging it.
TEST(KernelForwarder, StreamsWithALegThatTerminatesSrtpStayInUserspace) {
  requireRoot();
  RelayControl relay(kernelOptions(20));
  const KernelForwarder* k = relay.kernelForwarder();
  ASSERT_NE(k, nullptr);
  Peer a, b;
  Call c = setUpCall(relay, a, b, "srtp-call");
  const LegCrypto ca = test::legCrypto(srtp::Suite::AeadAes128Gcm, 1, 50);
  LegParams pa = test::towards(a);
  pa.crypto = ca;
  ASSERT_TRUE(relay.updateLeg(c.id, 0, 0, pa));
  test::SrtpPeerKeys ak(ca);
  const uint64_t before = k->totals().packets;
  for (uint16_t s = 1; s <= 30; ++s) {
    const auto fromA = test::plainRtp(s, 0xA);
    test::sendBytes(a, c.ports.rtpPort[0], ak.protect(fromA));
    ASSERT_EQ(test::receiveBytes(b), fromA) << "packet " << s;
    b.sendRtp(c.ports.rtpPort[1], s, 0xB);
    const auto atA = test::receiveBytes(a);
    ASSERT_EQ(ak.unprotect(atA.data(), atA.size()), test::plainRtp(s, 0xB)) << "packet " << s;
  }
  EXPECT_EQ(k->totals().packets, before) << "the kernel forwarded packets of an SRTP stream";
  EXPECT_FALSE(k->readCounters(k->localAddress(c.ports.rtpPort[0])).has_value());
  EXPECT_FALSE(k->readCounters(k->localAddress(c.ports.rtpPort[1])).has_value());
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ(rep->streams[0][l].counters.kernelPackets, 0U) << "leg " << l;
    EXPECT_EQ(rep->streams[0][l].counters.rtpPackets, 30U) << "leg " << l;
  }
  uint64_t entries = 0;
  for (const auto& w : relay.workers()) entries += w->counters().kernelEntries.get();
  EXPECT_EQ(entries, 0U);
}

}  // namespace
}  // namespace rdv::relay
