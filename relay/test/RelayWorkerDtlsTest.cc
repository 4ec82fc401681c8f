// DTLS-SRTP on relay legs (LegParams::dtls, issue 12) over real loopback sockets: a test-side
// dtls::DtlsEndpoint handshakes with the leg, then speaks SRTP with the exported keys to the relay,
// which bridges it to a plain RTP peer; media before the keys is dropped and counted.

#include <poll.h>

#include <chrono>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "media/dtls/DtlsEndpoint.h"
#include "relay/RelayControl.h"
#include "relay/test/SrtpPeer.h"
#include "relay/test/TestPeer.h"

namespace rdv::relay {
namespace {

using test::Call;
using test::Peer;
using test::plainRtp;
using test::receiveBytes;
using test::sendBytes;
using test::SrtpPeerKeys;

std::shared_ptr<const dtls::DtlsIdentity> newIdentity() { return std::move(dtls::DtlsIdentity::generate()).value(); }

DtlsFingerprint fingerprintOf(const dtls::DtlsIdentity& id) {
  const dtls::Fingerprint f = *dtls::parseFingerprint(id.fingerprint());
  DtlsFingerprint out;
  out.hash = FingerprintHash::Sha256;
  out.digest = f.digest;
  out.length = f.length;
  return out;
}

struct Fixture {
  std::shared_ptr<const dtls::DtlsIdentity> relayId = newIdentity();
  std::shared_ptr<const dtls::DtlsIdentity> peerId = newIdentity();
  std::unique_ptr<RelayControl> relay;
  Peer a, b;
  Call call{};

  // Leg 0 faces `a` with DTLS in `role` (rtcp-mux, as WebRTC), expecting `expected`'s certificate;
  // leg 1 faces `b` in plain RTP.
  explicit Fixture(DtlsRole role, const dtls::DtlsIdentity* expected = nullptr) {
    RelayOptions o = test::loopbackOptions(10);
    o.worker.dtlsIdentity = relayId;
    relay = std::make_unique<RelayControl>(o);
    const uint64_t id = relay->createSession("dtls-call");
    auto ports = relay->addStream(id, true);
    EXPECT_TRUE(ports);
    call = Call{id, *ports};
    EXPECT_TRUE(relay->updateLeg(id, 0, 0, legA(role, expected != nullptr ? *expected : *peerId)));
    LegParams pb = test::towards(b);
    pb.mux = true;
    pb.rtcpRemote = pb.rtpRemote;
    EXPECT_TRUE(relay->updateLeg(id, 0, 1, pb));
  }
  LegParams legA(DtlsRole role, const dtls::DtlsIdentity& expected) const {
    LegParams pa = test::towards(a);
    pa.mux = true;
    pa.rtcpRemote = pa.rtpRemote;
    pa.dtls.role = role;
    pa.dtls.remote = fingerprintOf(expected);
    return pa;
  }

  // The peer's end of the handshake, in `role`, checking the relay's certificate.
  std::unique_ptr<dtls::DtlsEndpoint> peerEndpoint(dtls::Role role) const {
    dtls::EndpointOptions o;
    o.role = role;
    o.remote = *dtls::parseFingerprint(relayId->fingerprint());
    return std::move(dtls::DtlsEndpoint::create(*peerId, o)).value();
  }

  // Runs the handshake from `a`'s side until `ep` is done (bounded: 50 rounds of up to 200 ms).
  void handshake(dtls::DtlsEndpoint& ep) {
    for (int round = 0; round < 50 && ep.state() != dtls::State::Connected && ep.state() != dtls::State::Failed;
         ++round) {
      for (size_t k = 0; k < ep.outgoingCount(); ++k) {
        const auto d = ep.outgoing(k);
        a.sendRaw(call.ports.rtpPort[0], d.data(), d.size());
      }
      ep.clearOutgoing();
      const auto got = receiveBytes(a, 200);
      if (!got.empty()) ep.feed(std::as_bytes(std::span(got)), 0);
    }
    for (size_t k = 0; k < ep.outgoingCount(); ++k) {  // the client's last flight
      const auto d = ep.outgoing(k);
      a.sendRaw(call.ports.rtpPort[0], d.data(), d.size());
    }
    ep.clearOutgoing();
  }

  // A client endpoint on `a` that completed its handshake with the leg, which counted it as the
  // `nth` handshake; nullptr (with a test failure) otherwise.
  std::unique_ptr<dtls::DtlsEndpoint> connectedPeer(uint64_t nth = 1) {
    auto ep = peerEndpoint(dtls::Role::Client);
    ep->start(0);
    handshake(*ep);
    EXPECT_EQ(ep->state(), dtls::State::Connected) << ep->failureText();
    if (ep->state() != dtls::State::Connected) return nullptr;
    if (!eventually([&] { return total(&WorkerCounters::dtlsHandshakesOk) == nth; })) {
      ADD_FAILURE() << "the relay did not count handshake " << nth;
      return nullptr;
    }
    return ep;
  }
  // Sends the close_notify `ep` queues for the leg.
  void closeFrom(dtls::DtlsEndpoint& ep) {
    ep.close();
    ASSERT_EQ(ep.outgoingCount(), 1U);
    const auto alert = ep.outgoing(0);
    a.sendRaw(call.ports.rtpPort[0], alert.data(), alert.size());
    ep.clearOutgoing();
  }
  // A connected peer on `a` that then closes: its clear RTP afterwards is dropped as peer_closed.
  void connectThenClose() {
    auto ep = connectedPeer();
    ASSERT_TRUE(ep);
    closeFrom(*ep);
    sendBytes(a, call.ports.rtpPort[0], plainRtp(1, 0xA));
    ASSERT_TRUE(eventually([&] { return drops(DtlsDrop::PeerClosed) == 1; }));
  }

  uint64_t total(const Counter WorkerCounters::*c) const {
    uint64_t n = 0;
    for (const auto& w : relay->workers()) n += (w->counters().*c).get();
    return n;
  }
  uint64_t drops(DtlsDrop d) const {
    uint64_t n = 0;
    for (const auto& w : relay->workers()) n += w->counters().dtlsDrop(d).get();
    return n;
  }
  // Waits (bounded, 2 s) until `f()` holds: the worker counts on its own thread.
  template <typename F>
  bool eventually(F f) const {
    for (int i = 0; i < 200 && !f(); ++i) ::poll(nullptr, 0, 10);
    return f();
  }
};

// The leg as the far end sees it: it sends with the leg's recv keys, receives with its send keys.
SrtpPeerKeys peerKeys(const dtls::DtlsEndpoint& ep) {
  const dtls::SrtpKeying& k = *ep.keying();
  auto keys = [&](const std::array<std::byte, srtp::kMaxKeySaltLength>& ks) {
    SrtpKeys out;
    out.suite = k.suite;
    out.count = 1;
    out.keys[0].keySaltLength = k.length;
    std::copy(ks.begin(), ks.begin() + k.length, out.keys[0].keySalt.begin());
    return out;
  };
  return SrtpPeerKeys(LegCrypto{keys(k.local), keys(k.remote)});
}

void expectSrtpBothWays(Fixture& f, SrtpPeerKeys& ak, uint16_t firstSeq) {
  for (uint16_t s = firstSeq; s < firstSeq + 5; ++s) {
    const auto fromA = plainRtp(s, 0xA);
    sendBytes(f.a, f.call.ports.rtpPort[0], ak.protect(fromA));
    EXPECT_EQ(receiveBytes(f.b), fromA) << "SRTP from the DTLS leg reaches the plain leg decrypted, packet " << s;
    const auto fromB = plainRtp(s, 0xB);
    sendBytes(f.b, f.call.ports.rtpPort[1], fromB);
    const auto atA = receiveBytes(f.a);
    ASSERT_GT(atA.size(), fromB.size()) << "protected toward the DTLS leg, packet " << s;
    EXPECT_EQ(ak.unprotect(atA.data(), atA.size()), fromB) << "packet " << s;
  }
}

// Every test runs with both send paths (test::SendPaths): /IoUring and /Sendmmsg.
class RelayWorkerDtls : public test::SendPaths {};
INSTANTIATE_TEST_SUITE_P(SendPaths, RelayWorkerDtls, ::testing::Bool(), test::sendPathName);

TEST_P(RelayWorkerDtls, PassiveLegHandshakesWithThePeerThenBridgesSrtpToPlainRtpAndBack) {
  Fixture f(DtlsRole::Passive);
  auto ep = f.connectedPeer();
  ASSERT_TRUE(ep);
  SrtpPeerKeys ak = peerKeys(*ep);
  expectSrtpBothWays(f, ak, 1);
  auto rep = test::queryNow(*f.relay, f.call.id);
  ASSERT_TRUE(rep);
  const LegReport& la = rep->streams[0][0];
  EXPECT_TRUE(la.srtpTerminated);
  EXPECT_EQ(la.counters.srtpUnprotected, 5U);
  EXPECT_EQ(la.counters.srtpProtected, 5U);
  EXPECT_EQ(la.latched, f.a.addr());
  EXPECT_EQ(f.total(&WorkerCounters::dtlsHandshakesFailed), 0U);
}

TEST_P(RelayWorkerDtls, ActiveLegSendsTheClientHelloToTheAdvertisedAddress) {
  Fixture f(DtlsRole::Active);
  common::SockAddr from;
  std::array<uint8_t, 2048> buf{};
  const ssize_t n = f.a.receive(2000, buf.data(), &from);
  ASSERT_GT(n, 0) << "the relay starts the handshake itself";
  EXPECT_EQ(from.port(), f.call.ports.rtpPort[0]) << "from the leg's own socket";
  auto ep = f.peerEndpoint(dtls::Role::Server);
  ep->feed(std::as_bytes(std::span(buf.data(), static_cast<size_t>(n))), 0);
  f.handshake(*ep);
  ASSERT_EQ(ep->state(), dtls::State::Connected) << ep->failureText();
  ASSERT_TRUE(f.eventually([&] { return f.total(&WorkerCounters::dtlsHandshakesOk) == 1; }));
  SrtpPeerKeys ak = peerKeys(*ep);
  expectSrtpBothWays(f, ak, 1);
}

TEST_P(RelayWorkerDtls, ActiveLegResendsALostClientHelloOnTheWorkersTimer) {
  Fixture f(DtlsRole::Active);
  std::array<uint8_t, 2048> first{}, again{};
  const ssize_t n = f.a.receive(2000, first.data());
  ASSERT_GT(n, 0);
  // Unanswered: the worker's timer tick (1 s) resends it once OpenSSL's 1 s timer expired.
  const ssize_t m = f.a.receive(5000, again.data());
  ASSERT_GT(m, 0) << "ClientHello sent again";
  EXPECT_EQ(again[0], 22) << "a handshake record";
  auto ep = f.peerEndpoint(dtls::Role::Server);
  ep->feed(std::as_bytes(std::span(again.data(), static_cast<size_t>(m))), 0);
  f.handshake(*ep);
  ASSERT_EQ(ep->state(), dtls::State::Connected) << ep->failureText();
  ASSERT_TRUE(f.eventually([&] { return f.total(&WorkerCounters::dtlsHandshakesOk) == 1; }));
}

TEST_P(RelayWorkerDtls, RtpBeforeTheHandshakeIsDroppedAndCountedBothWays) {
  Fixture f(DtlsRole::Passive);
  sendBytes(f.a, f.call.ports.rtpPort[0], plainRtp(1, 0xA));  // clear RTP from the DTLS side
  sendBytes(f.b, f.call.ports.rtpPort[1], plainRtp(1, 0xB));  // clear RTP toward it
  ASSERT_TRUE(f.eventually([&] { return f.drops(DtlsDrop::NotKeyed) == 2; }));
  EXPECT_TRUE(receiveBytes(f.a, 0).empty());
  EXPECT_TRUE(receiveBytes(f.b, 0).empty());
  auto rep = test::queryNow(*f.relay, f.call.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.dtlsDropped, 2U);
  EXPECT_EQ(rep->streams[0][0].counters.rtpPackets, 0U) << "nothing latched or measured";
  EXPECT_FALSE(rep->streams[0][0].latched.valid());
  EXPECT_FALSE(rep->streams[0][0].srtpTerminated);
}

TEST_P(RelayWorkerDtls, APeerWithTheWrongCertificateIsRefusedAndMediaStaysBlocked) {
  auto stranger = newIdentity();
  Fixture f(DtlsRole::Passive, stranger.get());  // signalling said someone else's fingerprint
  auto ep = f.peerEndpoint(dtls::Role::Client);
  ep->start(0);
  f.handshake(*ep);
  EXPECT_EQ(ep->state(), dtls::State::Failed);
  ASSERT_TRUE(f.eventually([&] { return f.total(&WorkerCounters::dtlsHandshakesFailed) == 1; }));
  EXPECT_EQ(f.total(&WorkerCounters::dtlsHandshakesOk), 0U);
  sendBytes(f.b, f.call.ports.rtpPort[1], plainRtp(1, 0xB));
  ASSERT_TRUE(f.eventually([&] { return f.drops(DtlsDrop::NotKeyed) == 1; }));
  EXPECT_TRUE(receiveBytes(f.a, 0).empty());
}

TEST_P(RelayWorkerDtls, GarbageOnTheDtlsRangeIsDroppedAndCountedAndTheHandshakeStillWorks) {
  Fixture f(DtlsRole::Passive);
  const std::vector<uint8_t> notRecords = {22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 99, 1};
  sendBytes(f.a, f.call.ports.rtpPort[0], notRecords);
  ASSERT_TRUE(f.eventually([&] { return f.drops(DtlsDrop::Malformed) == 1; }));
  auto ep = f.peerEndpoint(dtls::Role::Client);
  ep->start(0);
  f.handshake(*ep);
  EXPECT_EQ(ep->state(), dtls::State::Connected) << ep->failureText();
}

TEST_P(RelayWorkerDtls, DtlsFromAnotherSourceDuringTheHandshakeIsDroppedAsWrongSource) {
  Fixture f(DtlsRole::Passive);
  auto ep = f.peerEndpoint(dtls::Role::Client);
  ep->start(0);
  const std::vector<uint8_t> hello(reinterpret_cast<const uint8_t*>(ep->outgoing(0).data()),
                                   reinterpret_cast<const uint8_t*>(ep->outgoing(0).data()) + ep->outgoing(0).size());
  ep->clearOutgoing();
  sendBytes(f.a, f.call.ports.rtpPort[0], hello);  // binds the handshake to a
  ASSERT_FALSE(receiveBytes(f.a).empty()) << "the relay's flight";
  Peer stranger;
  sendBytes(stranger, f.call.ports.rtpPort[0], hello);
  ASSERT_TRUE(f.eventually([&] { return f.drops(DtlsDrop::WrongSource) == 1; }));
  EXPECT_TRUE(receiveBytes(stranger, 0).empty()) << "nothing answers the stranger";
}

// baresip ends a DTLS-SRTP call with close_notify, then its RTCP BYE in clear: after the peer's
// close_notify its packets are dropped as peer_closed, not counted as forged SRTP.
TEST_P(RelayWorkerDtls, AfterThePeersCloseNotifyItsClearPacketsAreDroppedAsPeerClosedNotAsAuthFailures) {
  Fixture f(DtlsRole::Passive);
  auto ep = f.connectedPeer();
  ASSERT_TRUE(ep);
  SrtpPeerKeys ak = peerKeys(*ep);
  expectSrtpBothWays(f, ak, 1);
  f.closeFrom(*ep);
  // An RTCP BYE (RFC 3550 §6.6) in clear, then clear RTP.
  const std::vector<uint8_t> bye{0x81, 0xcb, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0a};
  sendBytes(f.a, f.call.ports.rtpPort[0], bye);
  sendBytes(f.a, f.call.ports.rtpPort[0], plainRtp(6, 0xA));
  ASSERT_TRUE(f.eventually([&] { return f.drops(DtlsDrop::PeerClosed) == 2; }));
  EXPECT_TRUE(receiveBytes(f.b, 0).empty()) << "nothing reaches the plain leg";
  auto rep = test::queryNow(*f.relay, f.call.id);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->streams[0][0].counters.srtpDrop(srtp::SrtpError::AuthFail), 0U);
  EXPECT_EQ(rep->streams[0][0].counters.srtpUnprotected, 5U);
  EXPECT_EQ(rep->streams[0][0].counters.dtlsDropped, 2U);
}

TEST_P(RelayWorkerDtls, AFreshHandshakeAfterTheCloseKeysTheLegAgain) {
  Fixture f(DtlsRole::Passive);
  ASSERT_NO_FATAL_FAILURE(f.connectThenClose());
  auto again = f.connectedPeer(2);  // the peer restarts DTLS on the same leg
  ASSERT_TRUE(again);
  SrtpPeerKeys ak = peerKeys(*again);
  expectSrtpBothWays(f, ak, 1);
}

// After the peer closed DTLS, a re-offer (even an unchanged one) starts the leg's DTLS over: its
// media waits for new keys (not_keyed), it is no longer dropped as closed.
TEST_P(RelayWorkerDtls, AReofferAfterThePeersCloseStartsOver) {
  Fixture f(DtlsRole::Passive);
  ASSERT_NO_FATAL_FAILURE(f.connectThenClose());
  ASSERT_TRUE(f.relay->updateLeg(f.call.id, 0, 0, f.legA(DtlsRole::Passive, *f.peerId)));
  sendBytes(f.a, f.call.ports.rtpPort[0], plainRtp(2, 0xA));
  ASSERT_TRUE(f.eventually([&] { return f.drops(DtlsDrop::NotKeyed) == 1; }));
  EXPECT_EQ(f.drops(DtlsDrop::PeerClosed), 1U);
  auto again = f.connectedPeer(2);
  ASSERT_TRUE(again);
  SrtpPeerKeys ak = peerKeys(*again);
  expectSrtpBothWays(f, ak, 3);
}

TEST_P(RelayWorkerDtls, AnUnchangedReofferKeepsTheKeys) {
  Fixture f(DtlsRole::Passive);
  auto ep = f.connectedPeer();
  ASSERT_TRUE(ep);
  SrtpPeerKeys ak = peerKeys(*ep);
  expectSrtpBothWays(f, ak, 1);
  ASSERT_TRUE(f.relay->updateLeg(f.call.id, 0, 0, f.legA(DtlsRole::Passive, *f.peerId)));
  expectSrtpBothWays(f, ak, 10);  // same keys, replay and ROC state kept
}

}  // namespace
}  // namespace rdv::relay
