// DtlsEndpoint (DTLS-SRTP, RFC 5764) client <-> server in memory: keys crosswise, every profile,
// fingerprint checks, retransmission on the timer, hostile datagrams.

#include <poll.h>

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/Clock.h"
#include "media/dtls/DtlsEndpoint.h"
#include "media/dtls/test/DtlsTestPair.h"

namespace rdv::dtls {
namespace {

using test::deliver;
using test::endpoint;
using test::identity;
using test::shuttle;

constexpr uint64_t kNow = 1'000'000'000;

bool sameKeys(const std::array<std::byte, srtp::kMaxKeySaltLength>& a,
              const std::array<std::byte, srtp::kMaxKeySaltLength>& b, size_t n) {
  return std::memcmp(a.data(), b.data(), n) == 0;
}

struct ProfileCase {
  const char* profile;
  srtp::Suite suite;
};

class DtlsEndpointProfiles : public ::testing::TestWithParam<ProfileCase> {};

TEST_P(DtlsEndpointProfiles, HandshakeExportsTheSameKeysCrosswise) {
  auto ca = identity(), sa = identity();
  EndpointOptions o;
  o.srtpProfiles = GetParam().profile;
  auto client = endpoint(*ca, *sa, Role::Client, o);
  auto server = endpoint(*sa, *ca, Role::Server, o);
  client->start(kNow);
  ASSERT_GT(client->outgoingCount(), 0U) << "ClientHello queued";
  shuttle(*client, *server, kNow);
  ASSERT_EQ(client->state(), State::Connected) << client->failureText();
  ASSERT_EQ(server->state(), State::Connected) << server->failureText();
  const SrtpKeying& ck = *client->keying();
  const SrtpKeying& sk = *server->keying();
  EXPECT_EQ(ck.suite, GetParam().suite);
  EXPECT_EQ(sk.suite, GetParam().suite);
  ASSERT_EQ(ck.length, srtp::suiteInfo(GetParam().suite).keySaltLength());
  EXPECT_TRUE(sameKeys(ck.local, sk.remote, ck.length)) << "what the client sends, the server unprotects";
  EXPECT_TRUE(sameKeys(ck.remote, sk.local, ck.length)) << "and back";
  EXPECT_FALSE(sameKeys(ck.local, ck.remote, ck.length)) << "each direction has its own key";
  EXPECT_FALSE(client->nextTimeoutNs(kNow).has_value()) << "no flight waits once connected";
}

INSTANTIATE_TEST_SUITE_P(All, DtlsEndpointProfiles,
                         ::testing::Values(ProfileCase{"SRTP_AEAD_AES_128_GCM", srtp::Suite::AeadAes128Gcm},
                                           ProfileCase{"SRTP_AES128_CM_SHA1_80", srtp::Suite::AesCm128HmacSha1_80},
                                           ProfileCase{"SRTP_AES128_CM_SHA1_32", srtp::Suite::AesCm128HmacSha1_32},
                                           ProfileCase{"SRTP_AEAD_AES_256_GCM", srtp::Suite::AeadAes256Gcm}),
                         [](const auto& info) { return std::string(info.param.profile).substr(5); });

TEST(DtlsEndpoint, CloseSendsCloseNotifyAndThePeerSeesItClosed) {
  auto ca = identity(), sa = identity();
  auto client = endpoint(*ca, *sa, Role::Client);
  auto server = endpoint(*sa, *ca, Role::Server);
  client->close();
  EXPECT_EQ(client->outgoingCount(), 0U) << "nothing to close before the handshake";
  client->start(kNow);
  shuttle(*client, *server, kNow);
  ASSERT_EQ(server->state(), State::Connected) << server->failureText();
  EXPECT_FALSE(server->peerClosed());
  client->close();
  ASSERT_EQ(client->outgoingCount(), 1U) << "one close_notify alert";
  EXPECT_EQ(std::to_integer<int>(client->outgoing(0)[0]), 21) << "an alert record (RFC 5246 §6.2.1)";
  client->close();
  EXPECT_EQ(client->outgoingCount(), 1U) << "once";
  deliver(*client, *server, kNow);
  EXPECT_TRUE(server->peerClosed());
  EXPECT_EQ(server->state(), State::Connected) << "keys stay exported; what follows is the caller's policy";
  EXPECT_FALSE(client->peerClosed()) << "closing is not being closed";
}

TEST(DtlsEndpoint, ServerPicksItsMostPreferredProfileTheClientOffers) {
  auto ca = identity(), sa = identity();
  EndpointOptions co;
  co.srtpProfiles = "SRTP_AES128_CM_SHA1_32:SRTP_AES128_CM_SHA1_80";
  auto client = endpoint(*ca, *sa, Role::Client, co);
  auto server = endpoint(*sa, *ca, Role::Server);  // defaults: GCM first, then CM_SHA1_80
  client->start(kNow);
  shuttle(*client, *server, kNow);
  ASSERT_EQ(server->state(), State::Connected);
  EXPECT_EQ(server->keying()->suite, srtp::Suite::AesCm128HmacSha1_80);
  EXPECT_EQ(client->keying()->suite, srtp::Suite::AesCm128HmacSha1_80);
}

TEST(DtlsEndpoint, ServerRefusesAClientWhoseCertificateDoesNotMatchTheFingerprint) {
  auto ca = identity(), sa = identity(), other = identity();
  auto client = endpoint(*ca, *sa, Role::Client);
  auto server = endpoint(*sa, *other, Role::Server);  // expects someone else
  client->start(kNow);
  shuttle(*client, *server, kNow);
  EXPECT_EQ(server->state(), State::Failed);
  EXPECT_EQ(server->failure(), Failure::FingerprintMismatch);
  EXPECT_FALSE(server->keying().has_value());
  EXPECT_EQ(client->state(), State::Failed) << "the server's alert ends the client's attempt";
  EXPECT_EQ(client->failure(), Failure::Alert) << client->failureText();
  EXPECT_FALSE(client->keying().has_value());
}

TEST(DtlsEndpoint, ClientRefusesAServerWhoseCertificateDoesNotMatchTheFingerprint) {
  auto ca = identity(), sa = identity(), other = identity();
  auto client = endpoint(*ca, *other, Role::Client);
  auto server = endpoint(*sa, *ca, Role::Server);
  client->start(kNow);
  shuttle(*client, *server, kNow);
  EXPECT_EQ(client->state(), State::Failed);
  EXPECT_EQ(client->failure(), Failure::FingerprintMismatch);
  EXPECT_NE(server->state(), State::Connected);
}

TEST(DtlsEndpoint, WithoutAFingerprintNothingIsAccepted) {
  auto ca = identity(), sa = identity();
  EndpointOptions o;
  o.role = Role::Server;  // remote left empty
  auto server = std::move(DtlsEndpoint::create(*sa, o)).value();
  auto client = endpoint(*ca, *sa, Role::Client);
  client->start(kNow);
  shuttle(*client, *server, kNow);
  EXPECT_EQ(server->state(), State::Failed);
  EXPECT_EQ(server->failure(), Failure::NoFingerprint);
}

TEST(DtlsEndpoint, NoCommonSrtpProfileFailsBothSides) {
  auto ca = identity(), sa = identity();
  EndpointOptions co, so;
  co.srtpProfiles = "SRTP_AES128_CM_SHA1_80";
  so.srtpProfiles = "SRTP_AEAD_AES_128_GCM";
  auto client = endpoint(*ca, *sa, Role::Client, co);
  auto server = endpoint(*sa, *ca, Role::Server, so);
  client->start(kNow);
  shuttle(*client, *server, kNow);
  EXPECT_EQ(server->failure(), Failure::NoSrtpProfile);
  EXPECT_EQ(client->state(), State::Failed);
}

// Waits (bounded, real time: OpenSSL 3.0 measures its timer on the system clock) until `ep`'s
// timer is due, then calls onTimer.
void runTimer(DtlsEndpoint& ep) {
  const auto& clock = common::SystemClock::instance();
  for (int i = 0; i < 100; ++i) {
    const uint64_t now = clock.monotonicNs();
    const auto due = ep.nextTimeoutNs(now);
    ASSERT_TRUE(due.has_value());
    if (*due <= now) {
      ep.onTimer(now);
      return;
    }
    ::poll(nullptr, 0, static_cast<int>((*due - now) / 1'000'000 + 1));
  }
  FAIL() << "timer never came due";
}

TEST(DtlsEndpoint, LostFlightIsSentAgainWhenTheTimerExpires) {
  auto ca = identity(), sa = identity();
  EndpointOptions o;
  o.initialTimeoutMs = 20;
  auto client = endpoint(*ca, *sa, Role::Client, o);
  auto server = endpoint(*sa, *ca, Role::Server, o);
  client->start(kNow);
  ASSERT_EQ(deliver(*client, *server, kNow, [](auto) { return false; }), 1U) << "the ClientHello is lost";
  EXPECT_EQ(server->state(), State::New);
  const auto due = client->nextTimeoutNs(kNow);
  ASSERT_TRUE(due.has_value());
  EXPECT_LE(*due - kNow, 20'000'000U);
  client->onTimer(kNow);  // not yet due: nothing
  EXPECT_EQ(client->outgoingCount(), 0U);
  runTimer(*client);
  EXPECT_EQ(client->outgoingCount(), 1U) << "ClientHello again";
  EXPECT_EQ(client->stats().retransmissions, 1U);
  shuttle(*client, *server, kNow);
  EXPECT_EQ(client->state(), State::Connected);
  EXPECT_EQ(server->state(), State::Connected);
}

TEST(DtlsEndpoint, LostServerFlightIsRecoveredAndTheHandshakeCompletes) {
  auto ca = identity(), sa = identity();
  EndpointOptions o;
  o.initialTimeoutMs = 20;
  auto client = endpoint(*ca, *sa, Role::Client, o);
  auto server = endpoint(*sa, *ca, Role::Server, o);
  client->start(kNow);
  deliver(*client, *server, kNow);
  ASSERT_GT(deliver(*server, *client, kNow, [](auto) { return false; }), 0U) << "the server's flight is lost";
  runTimer(*server);  // the server resends its flight on its own timer
  EXPECT_GT(server->outgoingCount(), 0U);
  EXPECT_EQ(server->stats().retransmissions, 1U);
  shuttle(*client, *server, kNow);
  EXPECT_EQ(client->state(), State::Connected) << client->failureText();
  EXPECT_EQ(server->state(), State::Connected) << server->failureText();
}

TEST(DtlsEndpoint, TooManyRetransmissionsFailWithTimeout) {
  auto ca = identity(), sa = identity();
  EndpointOptions o;
  o.initialTimeoutMs = 20;
  o.maxTimeoutMs = 20;
  o.maxRetransmissions = 2;
  auto client = endpoint(*ca, *sa, Role::Client, o);
  client->start(kNow);
  for (int i = 0; i < 3 && client->state() == State::Handshaking; ++i) {
    client->clearOutgoing();
    runTimer(*client);
  }
  EXPECT_EQ(client->state(), State::Failed);
  EXPECT_EQ(client->failure(), Failure::Timeout);
  EXPECT_EQ(client->stats().retransmissions, 2U);
  EXPECT_FALSE(client->nextTimeoutNs(kNow).has_value());
}

TEST(DtlsEndpoint, DatagramsThatAreNotDtlsRecordsAreCountedAndChangeNothing) {
  auto ca = identity(), sa = identity();
  auto client = endpoint(*ca, *sa, Role::Client);
  auto server = endpoint(*sa, *ca, Role::Server);
  const std::vector<std::vector<uint8_t>> junk = {
      {},
      {22},
      {22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50, 1},  // claims 50 bytes, has 1
      {99, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},     // content type 99
      {22, 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},     // TLS, not DTLS
  };
  for (const auto& j : junk) server->feed(std::as_bytes(std::span(j)), kNow);
  EXPECT_EQ(server->stats().malformed, junk.size());
  EXPECT_EQ(server->state(), State::New);
  EXPECT_EQ(server->outgoingCount(), 0U);
  client->start(kNow);
  shuttle(*client, *server, kNow);
  EXPECT_EQ(server->state(), State::Connected) << "the real handshake still works";
}

TEST(DtlsEndpoint, WellFramedGarbageNeverCrashesAndEndsInAState) {
  auto sa = identity(), ca = identity();
  uint32_t seed = 12345;
  for (int round = 0; round < 50; ++round) {
    auto server = endpoint(*sa, *ca, Role::Server);
    for (int d = 0; d < 4; ++d) {
      std::vector<uint8_t> g(13 + 40);
      for (auto& b : g) b = static_cast<uint8_t>((seed = seed * 1103515245 + 12345) >> 16);
      g[0] = static_cast<uint8_t>(20 + round % 4);
      g[1] = 0xFE, g[2] = 0xFD, g[11] = 0, g[12] = 40;
      if (round % 2 == 0) g[13] = 1;  // looks like a ClientHello
      server->feed(std::as_bytes(std::span(g)), kNow);
    }
    EXPECT_NE(server->state(), State::Connected);
    EXPECT_EQ(server->stats().malformed, 0U) << "framed: OpenSSL judged them";
  }
}

TEST(DtlsEndpoint, DatagramsFitTheMtu) {
  auto ca = identity(), sa = identity();
  EndpointOptions o;
  o.mtu = 600;
  auto client = endpoint(*ca, *sa, Role::Client, o);
  auto server = endpoint(*sa, *ca, Role::Server, o);
  client->start(kNow);
  size_t largest = 0;
  for (int i = 0; i < 10; ++i) {
    for (DtlsEndpoint* ep : {client.get(), server.get()}) {
      for (size_t k = 0; k < ep->outgoingCount(); ++k) largest = std::max(largest, ep->outgoing(k).size());
    }
    if (deliver(*client, *server, kNow) + deliver(*server, *client, kNow) == 0) break;
  }
  EXPECT_EQ(client->state(), State::Connected);
  EXPECT_LE(largest, 600U);
  EXPECT_GT(largest, 0U);
}

TEST(DtlsFingerprint, ParsesWhatTheIdentityWrites) {
  auto id = identity();
  auto f = parseFingerprint(id->fingerprint());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->hash, Hash::Sha256);
  EXPECT_EQ(f->length, 32U);
  EXPECT_TRUE(parseFingerprint("SHA-1 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33"));
  EXPECT_FALSE(parseFingerprint("sha-256 00:11"));
  EXPECT_FALSE(parseFingerprint("md5 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"));
  EXPECT_FALSE(parseFingerprint("sha-1 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:3g"));
}

}  // namespace
}  // namespace rdv::dtls
