// ICE-lite on a relay leg (LegParams::ice, issue 12) over real loopback sockets: the relay answers
// connectivity checks from the leg's own port, and only checks that authenticate latch or, with
// USE-CANDIDATE, move the latch (RFC 8445 §7.3.1.5); a leg without ICE treats STUN as before.

#include <poll.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "common/Clock.h"
#include "relay/RelayControl.h"
#include "relay/stun/StunBuilder.h"
#include "relay/stun/StunIntegrity.h"
#include "relay/stun/StunMessage.h"
#include "relay/test/SrtpPeer.h"
#include "relay/test/TestPeer.h"

namespace rdv::relay {
namespace {

namespace attr = stun::attr;
using stun::MessageClass;
using stun::StunView;
using test::Call;
using test::Peer;

constexpr std::string_view kUfrag = "rLy9";
constexpr std::string_view kPwd = "relayIcePassword0123456";
constexpr std::string_view kBrowserUfrag = "Br0w";

IceCredential credential(std::string_view s) {
  IceCredential c;
  std::copy(s.begin(), s.end(), c.text.begin());
  c.length = static_cast<uint8_t>(s.size());
  return c;
}

RelayOptions options() {
  RelayOptions o = test::loopbackOptions(20);
  o.worker.timeoutNs = 10'000'000'000ULL;
  return o;
}

// A relay whose workers read a clock the test steps by hand.
struct ClockedRelay {
  static RelayOptions with(const common::Clock& clock) {
    RelayOptions o = options();
    o.worker.clock = &clock;
    return o;
  }
  common::ManualClock clock;
  RelayControl relay{with(clock)};
};

// Leg 0 faces the browser `a` with ICE-lite and rtcp-mux (as WebRTC does), leg 1 the plain peer `b`.
// With `crypto`, leg 0 also terminates SRTP (as a DTLS-keyed WebRTC leg does).
Call setUp(RelayControl& relay, const Peer& a, const Peer& b, bool ice = true, const LegCrypto& crypto = {}) {
  const uint64_t id = relay.createSession("ice-call");
  auto ports = relay.addStream(id, true);
  EXPECT_TRUE(ports);
  LegParams pa = test::towards(a), pb = test::towards(b);
  pa.mux = true;
  pa.rtcpRemote = pa.rtpRemote;
  if (ice) {
    pa.ice.localUfrag = credential(kUfrag);
    pa.ice.localPwd = credential(kPwd);
    pa.ice.remoteUfrag = credential(kBrowserUfrag);
  }
  pa.crypto = crypto;
  EXPECT_TRUE(relay.updateLeg(id, 0, 0, pa));
  EXPECT_TRUE(relay.updateLeg(id, 0, 1, pb));
  return Call{id, *ports};
}

struct CheckOptions {
  std::string_view pwd = kPwd;
  std::string_view ufrag = kUfrag;
  bool useCandidate = false;
  bool controlled = false;  // ICE-CONTROLLED instead of ICE-CONTROLLING
  bool integrity = true;
  uint8_t txn = 1;
  uint32_t priority = 1853824767;
};

// A browser's connectivity check (RFC 8445 §7.2.2): USERNAME, PRIORITY, ICE-CONTROLLING,
// [USE-CANDIDATE], MESSAGE-INTEGRITY, FINGERPRINT.
std::vector<std::byte> check(const CheckOptions& o) {
  std::vector<std::byte> buf(256);
  const stun::TransactionId id{std::byte{0xC0}, std::byte{0xFF}, std::byte{0xEE}, std::byte{o.txn}};
  stun::StunBuilder b(buf, stun::method::kBinding, MessageClass::Request, id);
  b.addText(attr::kUsername, std::string(o.ufrag) + ":" + std::string(kBrowserUfrag));
  b.addU32(attr::kPriority, o.priority);
  const std::array<std::byte, 8> tiebreaker{std::byte{0x12}, std::byte{0x34}};
  b.add(o.controlled ? attr::kIceControlled : attr::kIceControlling, tiebreaker);
  if (o.useCandidate) b.add(attr::kUseCandidate, {});
  if (o.integrity) b.addIntegrity(stun::shortTermKey(o.pwd));
  b.addFingerprint();
  EXPECT_TRUE(b.ok());
  buf.resize(b.size());
  return buf;
}

struct Reply {
  std::vector<std::byte> bytes;
  common::SockAddr from;
};

// Sends a check from `p` to `port` and waits (1 s) for the relay's answer.
std::optional<Reply> exchange(Peer& p, uint16_t port, const CheckOptions& o) {
  const auto req = check(o);
  p.sendRaw(port, req.data(), req.size());
  std::array<uint8_t, 2048> buf{};
  Reply r;
  const ssize_t n = p.receive(1000, buf.data(), &r.from);
  if (n <= 0) return std::nullopt;
  r.bytes.resize(static_cast<size_t>(n));
  std::memcpy(r.bytes.data(), buf.data(), r.bytes.size());
  return r;
}

uint64_t workerIce(const RelayControl& relay, IceCheckResult r) {
  uint64_t n = 0;
  for (const auto& w : relay.workers()) n += w->counters().iceCheck(r).get();
  return n;
}

// Every test runs with both send paths (test::SendPaths): /IoUring and /Sendmmsg.
class RelayWorkerIce : public test::SendPaths {};
INSTANTIATE_TEST_SUITE_P(SendPaths, RelayWorkerIce, ::testing::Bool(), test::sendPathName);

TEST_P(RelayWorkerIce, CheckWithTheRightCredentialsGetsASuccessFromTheLegPortThatMapsTheSender) {
  RelayControl relay(options());
  Peer a, b;
  const Call c = setUp(relay, a, b);
  auto r = exchange(a, c.ports.rtpPort[0], {});
  ASSERT_TRUE(r) << "no answer to the check";
  EXPECT_EQ(r->from.port(), c.ports.rtpPort[0]) << "answered from the leg's own socket";
  auto m = StunView::parse(r->bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->messageClass(), MessageClass::SuccessResponse);
  EXPECT_EQ(m->xorAddress(attr::kXorMappedAddress), a.addr());
  EXPECT_TRUE(m->checkIntegrity(stun::shortTermKey(kPwd)));
  EXPECT_TRUE(m->checkFingerprint());
  EXPECT_EQ(b.receive(100), -1) << "checks end at the relay";

  // The authenticated check latched leg 0: B's RTP goes to A.
  b.sendRtp(c.ports.rtpPort[1], 1, 0xB);
  EXPECT_EQ(a.receive(1000), static_cast<ssize_t>(test::kRtpSize));
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr());
  EXPECT_EQ(rep->streams[0][0].counters.iceChecks[static_cast<size_t>(IceCheckResult::Ok)], 1U);
  EXPECT_EQ(rep->streams[0][0].counters.malformed, 0U);
  EXPECT_EQ(workerIce(relay, IceCheckResult::Ok), 1U);
}

TEST_P(RelayWorkerIce, WrongPasswordGets401AndNeverLatchesOrMovesTheLatch) {
  RelayControl relay(options());
  Peer a, b, attacker;
  const Call c = setUp(relay, a, b);
  // Before anything latched: a 401, and no latch.
  auto r = exchange(attacker, c.ports.rtpPort[0], {.pwd = "notTheRelayPassword0000", .useCandidate = true});
  ASSERT_TRUE(r);
  auto m = StunView::parse(r->bytes);
  ASSERT_TRUE(m && m->errorCode());
  EXPECT_EQ(m->errorCode()->code, 401);
  EXPECT_FALSE(m->hasIntegrity());
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_FALSE(rep->streams[0][0].latched.valid());

  ASSERT_TRUE(exchange(a, c.ports.rtpPort[0], {.useCandidate = true}));  // A latches
  r = exchange(attacker, c.ports.rtpPort[0], {.pwd = "notTheRelayPassword0000", .useCandidate = true, .txn = 2});
  ASSERT_TRUE(r);
  EXPECT_EQ(StunView::parse(r->bytes)->errorCode()->code, 401);
  r = exchange(attacker, c.ports.rtpPort[0], {.ufrag = "xxxx", .useCandidate = true, .txn = 3});
  ASSERT_TRUE(r);
  EXPECT_EQ(StunView::parse(r->bytes)->errorCode()->code, 401);

  b.sendRtp(c.ports.rtpPort[1], 1, 0xB);
  EXPECT_EQ(a.receive(1000), static_cast<ssize_t>(test::kRtpSize));
  EXPECT_EQ(attacker.receive(100), -1);
  rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, a.addr());
  EXPECT_EQ(rep->streams[0][0].counters.relatched, 0U);
  EXPECT_EQ(rep->streams[0][0].counters.iceChecks[static_cast<size_t>(IceCheckResult::Unauthorized)], 3U);
  EXPECT_EQ(workerIce(relay, IceCheckResult::Unauthorized), 3U);
}

TEST_P(RelayWorkerIce, UseCandidateFromASecondAddressMovesTheLatchAndRtpFollows) {
  RelayControl relay(options());
  Peer a, a2, b;
  const Call c = setUp(relay, a, b);
  ASSERT_TRUE(exchange(a, c.ports.rtpPort[0], {}));  // the first authenticated check latches
  // Another candidate pair checked but not nominated: answered, the latch stays.
  auto r = exchange(a2, c.ports.rtpPort[0], {.txn = 2});
  ASSERT_TRUE(r);
  EXPECT_EQ(StunView::parse(r->bytes)->xorAddress(attr::kXorMappedAddress), a2.addr());
  b.sendRtp(c.ports.rtpPort[1], 1, 0xB);
  EXPECT_EQ(a.receive(1000), static_cast<ssize_t>(test::kRtpSize));
  EXPECT_EQ(a2.receive(100), -1);

  // The browser nominates the pair through a2 (say, it moved from Wi-Fi to LTE).
  ASSERT_TRUE(exchange(a2, c.ports.rtpPort[0], {.useCandidate = true, .txn = 3}));
  b.sendRtp(c.ports.rtpPort[1], 2, 0xB);
  EXPECT_EQ(a2.receive(1000), static_cast<ssize_t>(test::kRtpSize));
  EXPECT_EQ(a.receive(100), -1);
  // And what a2 sends now is the leg's media.
  a2.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  EXPECT_EQ(b.receive(1000), static_cast<ssize_t>(test::kRtpSize));
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, a2.addr());
  EXPECT_EQ(rep->streams[0][0].counters.relatched, 1U);
  EXPECT_EQ(rep->streams[0][0].counters.spoofed, 0U);
  EXPECT_EQ(rep->streams[0][0].counters.iceChecks[static_cast<size_t>(IceCheckResult::Ok)], 3U);
}

// Aggressive nomination (RFC 5245 §8.1.1.2, still sent by some full agents): every check carries
// USE-CANDIDATE, and the highest-priority nominated pair must carry the media, not the last one
// checked. A lower-priority nomination moves the latch only once the latched address has gone
// silent (a real network change).
TEST_P(RelayWorkerIce, AggressiveNominationKeepsTheHighestPriorityPairUntilItFallsSilent) {
  ClockedRelay cr;
  auto& [clock, relay] = cr;
  Peer host, relayed, b;
  const Call c = setUp(relay, host, b);
  constexpr uint32_t kHost = 2130706431, kRelayed = 16777215;
  ASSERT_TRUE(exchange(host, c.ports.rtpPort[0], {.useCandidate = true, .priority = kHost}));
  ASSERT_TRUE(exchange(relayed, c.ports.rtpPort[0], {.useCandidate = true, .txn = 2, .priority = kRelayed}));
  b.sendRtp(c.ports.rtpPort[1], 1, 0xB);
  EXPECT_EQ(host.receive(1000), static_cast<ssize_t>(test::kRtpSize)) << "the host pair keeps the media";
  EXPECT_EQ(relayed.receive(100), -1);

  // The host path goes quiet for longer than the re-latch silence: the next lower-priority
  // nomination takes over.
  clock.advanceMs(1500);
  ASSERT_TRUE(exchange(relayed, c.ports.rtpPort[0], {.useCandidate = true, .txn = 3, .priority = kRelayed}));
  b.sendRtp(c.ports.rtpPort[1], 2, 0xB);
  EXPECT_EQ(relayed.receive(1000), static_cast<ssize_t>(test::kRtpSize));
  EXPECT_EQ(host.receive(100), -1);
  // And a nomination at a higher priority moves it back at once.
  ASSERT_TRUE(exchange(host, c.ports.rtpPort[0], {.useCandidate = true, .txn = 4, .priority = kHost}));
  b.sendRtp(c.ports.rtpPort[1], 3, 0xB);
  EXPECT_EQ(host.receive(1000), static_cast<ssize_t>(test::kRtpSize));
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, host.addr());
  EXPECT_EQ(rep->streams[0][0].counters.relatched, 2U);
}

// Error answers are bounded per socket (5 at once, then one per 100 ms): forged checks cannot make
// the port an amplifier. The clock stands still, so exactly the burst is answered; the rest are
// counted as checks and as rate-limited drops.
TEST_P(RelayWorkerIce, ErrorAnswersAreRateLimitedAndTheRestCounted) {
  ClockedRelay cr;
  auto& [clock, relay] = cr;
  Peer a, b, attacker;
  const Call c = setUp(relay, a, b);
  constexpr int kSent = 20;
  for (int i = 0; i < kSent; ++i) {
    const auto req = check({.pwd = "notTheRelayPassword0000", .txn = static_cast<uint8_t>(i)});
    attacker.sendRaw(c.ports.rtpPort[0], req.data(), req.size());
  }
  // A valid check after the flood is still answered (successes are not limited) and proves the
  // worker has handled every forged one before it.
  ASSERT_TRUE(exchange(a, c.ports.rtpPort[0], {.txn = 200}));
  int answered = 0;
  std::array<uint8_t, 2048> buf{};
  while (attacker.receive(200, buf.data()) > 0) ++answered;
  EXPECT_EQ(answered, 5);
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.iceChecks[static_cast<size_t>(IceCheckResult::Unauthorized)],
            static_cast<uint64_t>(kSent));
  uint64_t limited = 0;
  for (const auto& w : relay.workers()) limited += w->counters().drop(DropReason::RateLimited).get();
  EXPECT_EQ(limited, static_cast<uint64_t>(kSent - 5));
  // Time refills the allowance.
  clock.advanceMs(1000);
  auto r = exchange(attacker, c.ports.rtpPort[0], {.pwd = "notTheRelayPassword0000", .txn = 201});
  ASSERT_TRUE(r);
  EXPECT_EQ(StunView::parse(r->bytes)->errorCode()->code, 401);
}

TEST_P(RelayWorkerIce, RoleConflictAndBadRequestsAreAnsweredCountedAndNeverLatch) {
  RelayControl relay(options());
  Peer a, b;
  const Call c = setUp(relay, a, b);
  auto r = exchange(a, c.ports.rtpPort[0], {.controlled = true});
  ASSERT_TRUE(r);
  auto m = StunView::parse(r->bytes);
  ASSERT_TRUE(m && m->errorCode());
  EXPECT_EQ(m->errorCode()->code, 487);
  EXPECT_TRUE(m->checkIntegrity(stun::shortTermKey(kPwd)));
  r = exchange(a, c.ports.rtpPort[0], {.integrity = false, .txn = 2});
  ASSERT_TRUE(r);
  EXPECT_EQ(StunView::parse(r->bytes)->errorCode()->code, 400);
  // A Binding response (here the relay's own 400, reflected) is dropped silently: the next answer
  // A gets is the one to its next request.
  a.sendRaw(c.ports.rtpPort[0], r->bytes.data(), r->bytes.size());
  r = exchange(a, c.ports.rtpPort[0], {.integrity = false, .txn = 3});
  ASSERT_TRUE(r);
  EXPECT_EQ(std::to_integer<int>(r->bytes[11]), 3) << "the answer to transaction 3, not to the response";

  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  const auto& n = rep->streams[0][0].counters.iceChecks;
  EXPECT_EQ(n[static_cast<size_t>(IceCheckResult::RoleConflict)], 1U);
  EXPECT_EQ(n[static_cast<size_t>(IceCheckResult::BadRequest)], 2U);
  EXPECT_EQ(n[static_cast<size_t>(IceCheckResult::Dropped)], 1U);
  EXPECT_EQ(n[static_cast<size_t>(IceCheckResult::Ok)], 0U);
  EXPECT_FALSE(rep->streams[0][0].latched.valid());
  EXPECT_EQ(workerIce(relay, IceCheckResult::RoleConflict), 1U);
  EXPECT_EQ(workerIce(relay, IceCheckResult::Dropped), 1U);
}

TEST_P(RelayWorkerIce, OnlyAuthenticatedChecksKeepTheSessionAlive) {
  ClockedRelay cr;
  auto& [clock, relay] = cr;
  Peer a, b;
  const Call c = setUp(relay, a, b);
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  const uint64_t created = rep->createdNs;
  clock.advanceMs(5000);
  ASSERT_TRUE(exchange(a, c.ports.rtpPort[0], {.pwd = "notTheRelayPassword0000"}));
  rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->lastMediaNs, created) << "a 401 is not activity";
  ASSERT_TRUE(exchange(a, c.ports.rtpPort[0], {.txn = 2}));
  rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->lastMediaNs, created + 5'000'000'000ULL) << "consent (RFC 7675) keeps the session";
}

TEST_P(RelayWorkerIce, LegWithoutIceStillForwardsStunFromItsLatchedPeerAndAnswersNothing) {
  RelayControl relay(options());
  Peer a, b;
  const Call c = setUp(relay, a, b, /*ice=*/false);
  a.sendRtp(c.ports.rtpPort[0], 1, 0xA);
  ASSERT_EQ(b.receive(1000), static_cast<ssize_t>(test::kRtpSize));
  const auto req = check({.useCandidate = true});
  a.sendRaw(c.ports.rtpPort[0], req.data(), req.size());
  std::array<uint8_t, 2048> got{};
  ASSERT_EQ(b.receive(1000, got.data()), static_cast<ssize_t>(req.size()));
  EXPECT_EQ(std::memcmp(got.data(), req.data(), req.size()), 0) << "forwarded unchanged";
  EXPECT_EQ(a.receive(200), -1) << "no answer without ICE";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.otherPackets, 1U);
  for (uint64_t n : rep->streams[0][0].counters.iceChecks) EXPECT_EQ(n, 0U);
}

// ICE and SRTP on one leg: checks are answered before SRTP sees anything (RFC 7983), the check
// latches, SRTP then flows both ways through the latched address, and after a nomination from
// another address the old one is a stranger (the clock stands still: no silence, no NAT re-latch).
TEST_P(RelayWorkerIce, ChecksAndSrtpShareTheLegAndTheNominatedAddressCarriesTheMedia) {
  ClockedRelay cr;
  auto& [clock, relay] = cr;
  Peer a, a2, b;
  const LegCrypto ca = test::legCrypto(srtp::Suite::AesCm128HmacSha1_80, 1, 50);
  test::SrtpPeerKeys ak(ca);
  const Call c = setUp(relay, a, b, true, ca);
  ASSERT_TRUE(exchange(a, c.ports.rtpPort[0], {}));
  test::sendBytes(a, c.ports.rtpPort[0], ak.protect(test::plainRtp(1, 0xA)));
  EXPECT_EQ(test::receiveBytes(b), test::plainRtp(1, 0xA));
  b.sendRtp(c.ports.rtpPort[1], 1, 0xB);
  const auto toA = test::receiveBytes(a);
  EXPECT_EQ(ak.unprotect(toA.data(), toA.size()), test::plainRtp(1, 0xB));

  ASSERT_TRUE(exchange(a2, c.ports.rtpPort[0], {.useCandidate = true, .txn = 2}));
  test::sendBytes(a2, c.ports.rtpPort[0], ak.protect(test::plainRtp(2, 0xA)));
  EXPECT_EQ(test::receiveBytes(b), test::plainRtp(2, 0xA));
  test::sendBytes(a, c.ports.rtpPort[0], ak.protect(test::plainRtp(3, 0xA)));
  // A check from the old address after it: once answered, the SRTP before it was handled (one
  // socket, one worker). It is answered but, without USE-CANDIDATE, moves nothing.
  ASSERT_TRUE(exchange(a, c.ports.rtpPort[0], {.txn = 3}));
  b.sendRtp(c.ports.rtpPort[1], 2, 0xB);
  const auto toA2 = test::receiveBytes(a2);
  EXPECT_EQ(ak.unprotect(toA2.data(), toA2.size()), test::plainRtp(2, 0xB));
  EXPECT_TRUE(test::receiveBytes(b, 100).empty()) << "SRTP from the old address is not forwarded";
  auto rep = test::queryNow(relay, c.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].latched, a2.addr());
  EXPECT_EQ(rep->streams[0][0].counters.spoofed, 1U);
  // The old address's packet authenticated, then failed the latch.
  EXPECT_EQ(rep->streams[0][0].counters.srtpUnprotected, 3U);
}

}  // namespace
}  // namespace rdv::relay
