// The Prometheus collector: on each scrape it sums what the relay workers and the control plane
// counted. Driven through a real relay on loopback and read back through render().

#include "app/Metrics.h"

#include <poll.h>

#include <gtest/gtest.h>

#include "app/test/TestSockets.h"
#include "relay/RelayControl.h"
#include "relay/stun/StunBuilder.h"
#include "relay/stun/StunIntegrity.h"
#include "relay/test/SrtpPeer.h"
#include "relay/test/TestPeer.h"
#include "signaling/anchor/MediaAnchor.h"
#include "signaling/ng/NgServer.h"

namespace rdv::app {
namespace {

using test::sample;

class MetricsTest : public ::testing::Test {
 protected:
  relay::RelayOptions opts_ = relay::test::loopbackOptions(20);
  relay::RelayControl relay_{opts_};
  common::ManualClock clock_;
  anchor::MediaAnchor anchor_{relay_, "127.0.0.1", clock_};
  ng::NgHandler handler_{anchor_};
  ng::NgServer ng_{handler_, std::chrono::seconds(30), clock_};
  Metrics metrics_{relay_, ng_, nullptr, nullptr};

  // The scrape once `name` reads `value`, or after 2 s the last one. A worker counts a packet
  // after sendmmsg returns, so the receiver may hold it a moment before the counter moves.
  std::string renderWhen(const std::string& name, double value) {
    std::string text = metrics_.render();
    for (int i = 0; i < 200 && sample(text, name) != value; ++i) {
      pollfd none{-1, 0, 0};
      ::poll(&none, 0, 10);  // nothing to wait on: the counter has no descriptor
      text = metrics_.render();
    }
    return text;
  }
};

TEST_F(MetricsTest, SumsRelayedPacketsAndSessionsAcrossWorkers) {
  const std::string before = metrics_.render();
  EXPECT_EQ(sample(before, "rdv_relay_packets_total"), 0);
  EXPECT_EQ(sample(before, "rdv_sessions_active"), 0);
  EXPECT_EQ(sample(before, "rdv_ports_free"), 40);
  // Two sessions: with two workers they land on different ones, and the totals add up.
  relay::test::Peer a, b, c, d;
  auto first = relay::test::setUpCall(relay_, a, b, "m1");
  auto second = relay::test::setUpCall(relay_, c, d, "m2");
  for (uint16_t s = 1; s <= 3; ++s) {
    a.sendRtp(first.ports.rtpPort[0], s, 0xA);
    ASSERT_EQ(b.receive(1000), 172);
  }
  for (uint16_t s = 1; s <= 2; ++s) {
    c.sendRtp(second.ports.rtpPort[0], s, 0xC);
    ASSERT_EQ(d.receive(1000), 172);
  }
  const std::string after = renderWhen("rdv_relay_packets_total", 5);
  EXPECT_EQ(sample(after, "rdv_relay_packets_total"), 5);
  EXPECT_EQ(sample(after, "rdv_relay_bytes_total"), 5 * 172);
  EXPECT_EQ(sample(after, "rdv_sessions_active"), 2);
  EXPECT_EQ(sample(after, "rdv_sessions_total"), 2);
  EXPECT_EQ(sample(after, "rdv_ports_used"), 8);  // RTP + RTCP for two legs each
  EXPECT_EQ(sample(after, "rdv_ports_free"), 32);
  EXPECT_NE(after.find("rdv_worker_packets_total{worker=\"0\"}"), std::string::npos);
  EXPECT_NE(after.find("rdv_worker_packets_total{worker=\"1\"}"), std::string::npos);
  EXPECT_NE(after.find("rdv_worker_send_syscalls_total{worker=\"0\"}"), std::string::npos);
}

TEST_F(MetricsTest, DropsAreLabelledByReason) {
  relay::test::Peer a, b, attacker;
  auto call = relay::test::setUpCall(relay_, a, b, "m3");
  a.sendRtp(call.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), 172);
  attacker.sendRtp(call.ports.rtpPort[0], 2, 0xA);
  attacker.sendRtp(call.ports.rtpPort[0], 3, 0xA);
  // The drops are counted by the worker before it forwards the next genuine packet.
  a.sendRtp(call.ports.rtpPort[0], 2, 0xA);
  ASSERT_EQ(b.receive(1000), 172);
  const std::string text = metrics_.render();
  EXPECT_NE(text.find("rdv_relay_dropped_packets_total{reason=\"spoofed_source\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("rdv_relay_dropped_packets_total{reason=\"malformed\"} 0"), std::string::npos);
}

TEST_F(MetricsTest, OtherDatagramsFromLatchedPeersAreCountedApart) {
  relay::test::Peer a, b;
  auto call = relay::test::setUpCall(relay_, a, b, "m4");
  a.sendRtp(call.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), 172);
  const uint8_t stun[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42};
  a.sendRaw(call.ports.rtpPort[0], stun, sizeof(stun));
  ASSERT_EQ(b.receive(1000), static_cast<ssize_t>(sizeof(stun)));
  const std::string text = renderWhen("rdv_relay_packets_total", 2);
  EXPECT_EQ(sample(text, "rdv_relay_other_packets_total"), 1);
  EXPECT_EQ(sample(text, "rdv_relay_packets_total"), 2) << "other datagrams are relayed packets too";
}

// SRTP terminated on a leg (issue 12): packets unprotected/protected, and drops by reason.
TEST_F(MetricsTest, SrtpPacketsAndDropsAreLabelled) {
  relay::test::Peer a, b;
  auto call = relay::test::setUpCall(relay_, a, b, "m-srtp");
  const relay::LegCrypto ca = relay::test::legCrypto(srtp::Suite::AeadAes128Gcm, 1, 50);
  relay::LegParams pa = relay::test::towards(a);
  pa.crypto = ca;
  ASSERT_TRUE(relay_.updateLeg(call.id, 0, 0, pa));
  relay::test::SrtpPeerKeys ak(ca);
  auto forged = ak.protect(relay::test::plainRtp(1, 0xA));
  forged.back() ^= 0x01;
  relay::test::sendBytes(a, call.ports.rtpPort[0], forged);
  relay::test::sendBytes(a, call.ports.rtpPort[0], ak.protect(relay::test::plainRtp(2, 0xA)));
  ASSERT_EQ(b.receive(1000), 172);
  b.sendRtp(call.ports.rtpPort[1], 1, 0xB);
  ASSERT_EQ(a.receive(1000), 172 + 16);
  const std::string text = metrics_.render();
  EXPECT_NE(text.find("rdv_srtp_packets_total{op=\"unprotect\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("rdv_srtp_packets_total{op=\"protect\"} 1"), std::string::npos);
  EXPECT_NE(text.find("rdv_srtp_packets_dropped_total{reason=\"auth_fail\"} 1"), std::string::npos);
  EXPECT_NE(text.find("rdv_srtp_packets_dropped_total{reason=\"replay_fail\"} 0"), std::string::npos);
}

// ICE-lite on a leg (issue 12): checks counted by result.
TEST_F(MetricsTest, IceChecksAreLabelledByResult) {
  relay::test::Peer a, b;
  auto call = relay::test::setUpCall(relay_, a, b, "m-ice");
  relay::LegParams pa = relay::test::towards(a);
  const auto cred = [](std::string_view s) {
    relay::IceCredential c;
    std::copy(s.begin(), s.end(), c.text.begin());
    c.length = static_cast<uint8_t>(s.size());
    return c;
  };
  pa.ice.localUfrag = cred("uF1x");
  pa.ice.localPwd = cred("metricsIcePassword00000");
  ASSERT_TRUE(relay_.updateLeg(call.id, 0, 0, pa));
  for (std::string_view pwd : {"metricsIcePassword00000", "wrongIcePassword0000000"}) {
    std::array<std::byte, 128> buf{};
    stun::StunBuilder req(buf, stun::method::kBinding, stun::MessageClass::Request, stun::TransactionId{});
    req.addText(stun::attr::kUsername, "uF1x:peer").addIntegrity(stun::shortTermKey(pwd)).addFingerprint();
    a.sendRaw(call.ports.rtpPort[0], req.bytes().data(), req.size());
    ASSERT_GT(a.receive(1000), 0) << "the relay answers every Binding request";
  }
  const std::string text = metrics_.render();
  EXPECT_NE(text.find("rdv_ice_checks_total{result=\"ok\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("rdv_ice_checks_total{result=\"unauthorized\"} 1"), std::string::npos);
  EXPECT_NE(text.find("rdv_ice_checks_total{result=\"role_conflict\"} 0"), std::string::npos);
}

// DTLS-SRTP legs (issue 12): handshakes by result, and RTP toward a leg not keyed yet dropped.
TEST_F(MetricsTest, DtlsHandshakesAndDropsAreLabelled) {
  relay::test::Peer a, b;
  auto call = relay::test::setUpCall(relay_, a, b, "m-dtls");
  relay::LegParams pa = relay::test::towards(a);
  pa.dtls.role = relay::DtlsRole::Passive;
  ASSERT_TRUE(relay_.updateLeg(call.id, 0, 0, pa));
  b.sendRtp(call.ports.rtpPort[1], 1, 0xB);
  const std::string text = renderWhen("rdv_dtls_dropped_packets_total{reason=\"not_keyed\"}", 1);
  EXPECT_NE(text.find("rdv_dtls_handshakes_total{result=\"ok\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("rdv_dtls_handshakes_total{result=\"failed\"} 0"), std::string::npos);
  EXPECT_NE(text.find("rdv_dtls_dropped_packets_total{reason=\"malformed\"} 0"), std::string::npos);
  EXPECT_EQ(a.receive(0), -1) << "nothing in clear toward the DTLS leg";
}

TEST_F(MetricsTest, NgCountersAreExported) {
  ng_.process("c1 d7:command4:pinge");
  ng_.process("c1 d7:command4:pinge");  // retransmission: cached
  ng_.process("c2 not-bencode");
  const std::string text = metrics_.render();
  EXPECT_EQ(sample(text, "rdv_ng_requests_total"), 3);
  EXPECT_EQ(sample(text, "rdv_ng_retransmissions_total"), 1);
  EXPECT_EQ(sample(text, "rdv_ng_errors_total"), 1);
  EXPECT_EQ(sample(text, "rdv_ng_commands_total{command=\"ping\"}"), 1) << "the retransmission is not a command";
  EXPECT_EQ(sample(text, "rdv_ng_commands_total{command=\"offer\"}"), 0);
  EXPECT_EQ(text.find("rdv_sip_"), std::string::npos) << "no SIP families without SIP";
}

TEST_F(MetricsTest, EndedLegsWithRtpFeedTheQualityHistograms) {
  relay::SessionReport report;
  report.streams.resize(1);
  auto& carried = report.streams[0][0];
  carried.counters.rtpPackets = 100;
  carried.lossFraction = 0.03;   // 3 %
  carried.jitterMs = 7;
  carried.quality.rttMs = 30;
  auto& silent = report.streams[0][1];  // no RTP: not a quality sample
  silent.counters.rtpPackets = 0;
  metrics_.observeEnded(report);
  const std::string text = metrics_.render();
  EXPECT_EQ(sample(text, "rdv_leg_loss_percent_count"), 1);
  EXPECT_EQ(sample(text, "rdv_leg_loss_percent_sum"), 3);
  EXPECT_NE(text.find("rdv_leg_loss_percent_bucket{le=\"2\"} 0"), std::string::npos);
  EXPECT_NE(text.find("rdv_leg_loss_percent_bucket{le=\"5\"} 1"), std::string::npos);
  EXPECT_EQ(sample(text, "rdv_leg_jitter_ms_count"), 1);
  EXPECT_EQ(sample(text, "rdv_leg_rtt_ms_sum"), 30);
}

TEST(MetricsLiveTest, LiveLegsAreSampledIntoTheLiveQualityHistograms) {
  relay::RelayOptions opts = relay::test::loopbackOptions(4);
  opts.worker.mosIntervalNs = 1;  // every worker tick (1 s) with new packets samples the leg
  relay::RelayControl relay(opts);
  common::ManualClock clock;
  anchor::MediaAnchor anchor(relay, "127.0.0.1", clock);
  ng::NgHandler handler(anchor);
  ng::NgServer ng(handler, std::chrono::seconds(30), clock);
  Metrics metrics(relay, ng, nullptr, nullptr);
  relay::test::Peer a, b;
  auto call = relay::test::setUpCall(relay, a, b, "live");
  std::string text = metrics.render();
  EXPECT_EQ(sample(text, "rdv_live_leg_mos_count"), 0);
  // A packet every 20 ms until two worker ticks have seen packets (the first opens the window,
  // the second samples it): at most 4 s.
  for (uint16_t seq = 1; seq < 200 && sample(text, "rdv_live_leg_mos_count") < 1; ++seq) {
    a.sendRtp(call.ports.rtpPort[0], seq, 0xA);
    ASSERT_EQ(b.receive(1000), 172);
    pollfd none{-1, 0, 0};
    ::poll(&none, 0, 20);
    text = metrics.render();
  }
  ASSERT_GE(sample(text, "rdv_live_leg_mos_count"), 1) << text;
  EXPECT_GT(sample(text, "rdv_live_leg_mos_sum"), 4.0) << "a clean loopback G.711 stream";
  EXPECT_NE(text.find("rdv_live_leg_mos_bucket{le=\"+Inf\"}"), std::string::npos);
  EXPECT_GE(sample(text, "rdv_live_leg_loss_percent_count"), 1);
  EXPECT_EQ(sample(text, "rdv_live_leg_rtt_ms_count"), 0) << "no RTCP, no round trip";
  EXPECT_GE(sample(text, "rdv_cpu_seconds_total{group=\"relay\"}"), 0);
}

}  // namespace
}  // namespace rdv::app
