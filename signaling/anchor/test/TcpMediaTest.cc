// TCP media m-lines (RFC 4145, MSRP RFC 4975 / CEMA RFC 6714) anchored by MediaAnchor on a real
// TcpRelay bound on loopback: what each side's SDP becomes, which pair port each peer is sent to,
// that two clients connecting out to those ports get each other's bytes, and that pairs follow
// the call (re-offer, revert, delete, release).

#include "signaling/anchor/MediaAnchor.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "common/Fd.h"
#include "relay/RelayControl.h"
#include "relay/TcpRelay.h"
#include "relay/test/FreePorts.h"
#include "signaling/anchor/TcpMedia.h"
#include "signaling/sdp/Sdp.h"

namespace rdv::anchor {
namespace {

// Audio plus one TCP m-line of `proto` from `ip`, with a=path `msrp://ip:port/<session>;tcp`.
std::string msrpSdp(std::string_view ip, uint16_t port, std::string_view session, std::string_view extra = {},
                    std::string_view proto = "TCP/MSRP", std::string_view setup = "actpass") {
  const std::string i(ip);
  return "v=0\r\no=- 1 1 IN IP4 " + i + "\r\ns=-\r\nc=IN IP4 " + i + "\r\nt=0 0\r\n" +
         "m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" + "m=message " + std::to_string(port) + " " +
         std::string(proto) + " *\r\na=setup:" + std::string(setup) +
         "\r\na=fingerprint:SHA-256 AB:CD\r\na=accept-types:message/cpim\r\na=path:msrp://" + i + ":" +
         std::to_string(port) + "/" + std::string(session) + ";tcp\r\n" + std::string(extra);
}

sdp::SdpSession parsed(const Expected<std::string, AnchorError>& out) {
  EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().reason);
  auto s = sdp::SdpSession::parse(out ? *out : std::string());
  EXPECT_TRUE(s.has_value());
  return s ? std::move(*s) : sdp::SdpSession();
}

std::string attr(const sdp::SdpMedia& m, std::string_view name) {
  return std::string(m.attribute(name).value_or("-"));
}

// A blocking client connected to 127.0.0.1:port (2 s send/receive timeouts).
common::Fd connectTo(uint16_t port) {
  common::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{2, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  auto a = *common::SockAddr::fromIp("127.0.0.1", port);
  EXPECT_EQ(::connect(fd.get(), a.sa(), a.len()), 0) << std::strerror(errno);
  return fd;
}

std::string readExactly(const common::Fd& fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd.get(), out.data() + got, n - got, 0);
    if (r <= 0) break;  // timeout or close: the caller's comparison fails
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return out;
}

class TcpMediaTest : public ::testing::Test {
 protected:
  static relay::RelayOptions udpOptions() {
    relay::RelayOptions o;
    o.portMin = relay::test::freePortWindow(100);
    o.portMax = static_cast<uint16_t>(o.portMin + 99);
    o.workers = 1;
    return o;
  }
  void useTcpRelay(uint32_t maxPairs, bool restrict = true) {
    relay::TcpRelayOptions o;
    o.portMin = relay::test::freePortWindow(64);
    o.portMax = static_cast<uint16_t>(o.portMin + 63);
    o.maxPairs = maxPairs;
    o.splicer.pipeSize = 64 * 1024;
    tcp_ = std::make_unique<relay::TcpRelay>(o);
    anchor_.setTcpRelay(tcp_.get(), restrict);
  }
  bool isTcpPort(uint16_t p) const { return p >= 10000 && p < 20000; }
  relay::TcpPairState state(uint64_t id) {
    auto st = tcp_->find(id);
    return st ? st->state.load() : relay::TcpPairState::Deleted;
  }
  uint64_t onlyPair(std::string_view callId) {
    auto ids = anchor_.tcpPairs(callId);
    EXPECT_EQ(ids.size(), 1U);
    return ids.empty() ? 0 : ids.front();
  }

  relay::RelayOptions opts_ = udpOptions();
  relay::RelayControl relay_{opts_};
  common::ManualClock clock_{1'000'000'000, 1'000'000'000};
  MediaAnchor anchor_{relay_, "127.0.0.1", clock_};
  std::unique_ptr<relay::TcpRelay> tcp_;
  const AnchorOptions plain_{};
};

TEST(TcpMediaRules, TcpTransportsAreRecognisedAndUdpOnesAreNot) {
  for (auto p : {"TCP", "TCP/MSRP", "TCP/TLS/MSRP", "TCP/BFCP", "TCP/TLS/BFCP", "TCP/RTP/AVP", "tcp"}) {
    EXPECT_TRUE(isTcpProto(p)) << p;
  }
  for (auto p : {"RTP/AVP", "udptl", "UDP/TLS/RTP/SAVPF", "TCPX", "UDP/BFCP"})
    EXPECT_FALSE(isTcpProto(p)) << p;
}

TEST(TcpMediaRules, MsrpAuthorityIsReplacedKeepingSessionIdTransportAndUserinfo) {
  EXPECT_EQ(replaceMsrpAuthority("msrp://198.18.1.10:2855/s1;tcp", "127.0.0.1", 40000),
            "msrp://127.0.0.1:40000/s1;tcp");
  EXPECT_EQ(replaceMsrpAuthority("msrps://bob@host.example/x;tcp", "::1", 7), "msrps://bob@[::1]:7/x;tcp");
  EXPECT_EQ(replaceMsrpAuthority("sip:not-msrp", "127.0.0.1", 1), "sip:not-msrp");
}

TEST_F(TcpMediaTest, MsrpLineGetsARelayPairAndBothPeersConnectOutAndExchangeBytes) {
  useTcpRelay(8);
  auto offer = parsed(anchor_.offer("c1", "a", msrpSdp("198.18.1.10", 2855, "s1"), plain_));
  ASSERT_EQ(offer.media.size(), 2U);
  const uint64_t id = onlyPair("c1");
  auto st = tcp_->find(id);
  ASSERT_TRUE(st);
  const uint16_t portA = st->local[0].port();  // the caller connects here
  const uint16_t portB = st->local[1].port();  // the callee connects here
  const sdp::SdpMedia& toCallee = offer.media[1];
  EXPECT_EQ(toCallee.port, portB);
  EXPECT_EQ(toCallee.proto, "TCP/MSRP");
  EXPECT_EQ(toCallee.connectionAddress(), "127.0.0.1");
  EXPECT_EQ(attr(toCallee, "setup"), "passive") << "the relay listens: the callee connects out";
  EXPECT_EQ(attr(toCallee, "connection"), "new");
  EXPECT_EQ(attr(toCallee, "fingerprint"), "SHA-256 AB:CD");
  EXPECT_EQ(attr(toCallee, "path"), "msrp://127.0.0.1:" + std::to_string(portB) + "/s1;tcp");
  EXPECT_NE(offer.media[0].port, portB) << "audio stays on the UDP relay";

  auto answer = parsed(
      anchor_.answer("c1", "a", "b", msrpSdp("198.18.2.10", 3000, "s2", {}, "TCP/MSRP", "active"), plain_));
  const sdp::SdpMedia& toCaller = answer.media[1];
  EXPECT_EQ(toCaller.port, portA);
  EXPECT_EQ(attr(toCaller, "setup"), "passive");
  EXPECT_EQ(attr(toCaller, "path"), "msrp://127.0.0.1:" + std::to_string(portA) + "/s2;tcp");
  EXPECT_EQ(onlyPair("c1"), id) << "the answer uses the offer's pair";
  EXPECT_EQ(tcp_->createdBy()[static_cast<size_t>(relay::TcpPairOrigin::Sdp)].get(), 1U);

  common::Fd caller = connectTo(portA);
  common::Fd callee = connectTo(portB);
  const std::string send = "MSRP a786hjs2 SEND\r\nTo-Path: x\r\n\r\nhello\r\n-------a786hjs2$\r\n";
  ASSERT_EQ(::send(caller.get(), send.data(), send.size(), MSG_NOSIGNAL), static_cast<ssize_t>(send.size()));
  EXPECT_EQ(readExactly(callee, send.size()), send);
  ASSERT_EQ(::send(callee.get(), "200 OK", 6, MSG_NOSIGNAL), 6);
  EXPECT_EQ(readExactly(caller, 6), "200 OK");
}

TEST_F(TcpMediaTest, CemaKeepsThePathAndEveryTcpTransportIsAnchored) {
  useTcpRelay(8);
  auto offer =
      parsed(anchor_.offer("c1", "a", msrpSdp("198.18.1.10", 2855, "s1", "a=msrp-cema\r\n"), plain_));
  EXPECT_EQ(attr(offer.media[1], "path"), "msrp://198.18.1.10:2855/s1;tcp") << "RFC 6714: a=path left alone";
  EXPECT_EQ(offer.media[1].connectionAddress(), "127.0.0.1");
  auto bfcp =
      parsed(anchor_.offer("c2", "a", msrpSdp("198.18.1.10", 1503, "s1", {}, "TCP/TLS/BFCP"), plain_));
  EXPECT_TRUE(isTcpPort(bfcp.media[1].port));
  EXPECT_EQ(attr(bfcp.media[1], "path"), "msrp://198.18.1.10:1503/s1;tcp") << "a=path is MSRP's only";
  EXPECT_EQ(anchor_.tcpPairs("c2").size(), 1U);
}

TEST_F(TcpMediaTest, TcpLinesPassThroughUnchangedWhenTheTcpRelayIsDisabled) {
  useTcpRelay(0);
  auto offer = parsed(anchor_.offer("c1", "a", msrpSdp("198.18.1.10", 2855, "s1"), plain_));
  EXPECT_EQ(offer.media[1].port, 2855);
  EXPECT_EQ(offer.media[1].connectionAddress(), "198.18.1.10")
      << "kept though the session c= now names the relay";
  EXPECT_EQ(attr(offer.media[1], "setup"), "actpass");
  EXPECT_EQ(attr(offer.media[1], "path"), "msrp://198.18.1.10:2855/s1;tcp");
  EXPECT_TRUE(anchor_.tcpPairs("c1").empty());
  auto answer = parsed(anchor_.answer("c1", "a", "b", msrpSdp("198.18.2.10", 3000, "s2"), plain_));
  EXPECT_EQ(answer.media[1].port, 3000);
}

TEST_F(TcpMediaTest, RejectedAndListenOnlyLinesGetNoPair) {
  useTcpRelay(8);
  std::string rejected = msrpSdp("198.18.1.10", 2855, "s1");
  rejected.replace(rejected.find("m=message 2855"), 14, "m=message 0");
  auto offer = parsed(anchor_.offer("c1", "a", rejected, plain_));
  EXPECT_EQ(offer.media[1].port, 0);
  EXPECT_TRUE(anchor_.tcpPairs("c1").empty());
  auto passive =
      parsed(anchor_.offer("c2", "a", msrpSdp("198.18.1.10", 2855, "s1", {}, "TCP/MSRP", "passive"), plain_));
  EXPECT_EQ(passive.media[1].port, 2855) << "a peer that only listens cannot reach a relay that only listens";
  EXPECT_TRUE(anchor_.tcpPairs("c2").empty());
}

TEST_F(TcpMediaTest, AnswerRejectingTheLineRemovesItsPair) {
  useTcpRelay(8);
  ASSERT_TRUE(anchor_.offer("c1", "a", msrpSdp("198.18.1.10", 2855, "s1"), plain_).has_value());
  const uint64_t id = onlyPair("c1");
  std::string rejected = msrpSdp("198.18.2.10", 3000, "s2");
  rejected.replace(rejected.find("m=message 3000"), 14, "m=message 0");
  auto answer = parsed(anchor_.answer("c1", "a", "b", rejected, plain_));
  EXPECT_EQ(answer.media[1].port, 0);
  EXPECT_TRUE(anchor_.tcpPairs("c1").empty());
  EXPECT_EQ(tcp_->find(id), nullptr);
}

TEST_F(TcpMediaTest, UnchangedReofferKeepsThePairAndAChangedOneReplacesItAtTheAnswer) {
  useTcpRelay(8);
  auto offer1 = parsed(anchor_.offer("c1", "a", msrpSdp("198.18.1.10", 2855, "s1"), plain_));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", msrpSdp("198.18.2.10", 3000, "s2"), plain_).has_value());
  const uint64_t id = onlyPair("c1");
  // The callee re-offers what it answered (a session refresh): same pair, same ports.
  auto reoffer = parsed(anchor_.offer("c1", "b", msrpSdp("198.18.2.10", 3000, "s2"), plain_));
  EXPECT_EQ(reoffer.media[1].port, tcp_->find(id)->local[0].port());
  EXPECT_EQ(onlyPair("c1"), id);
  ASSERT_TRUE(anchor_.answer("c1", "b", "a", msrpSdp("198.18.1.10", 2855, "s1"), plain_).has_value());
  EXPECT_EQ(onlyPair("c1"), id);
  // The caller moves: a new pair; the old one goes once the answer accepts the move.
  auto moved = parsed(anchor_.offer("c1", "a", msrpSdp("198.18.1.11", 2855, "s1"), plain_));
  auto ids = anchor_.tcpPairs("c1");
  ASSERT_EQ(ids.size(), 2U);
  const uint64_t next = ids[1];
  EXPECT_EQ(moved.media[1].port, tcp_->find(next)->local[1].port());
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", msrpSdp("198.18.2.10", 3000, "s2"), plain_).has_value());
  EXPECT_EQ(onlyPair("c1"), next);
  EXPECT_EQ(tcp_->find(id), nullptr);
  EXPECT_EQ(offer1.media[1].proto, "TCP/MSRP");
}

TEST_F(TcpMediaTest, RevertedOfferRemovesThePairItCreatedAndKeepsTheOldOne) {
  useTcpRelay(8);
  ASSERT_TRUE(anchor_.offer("c1", "a", msrpSdp("198.18.1.10", 2855, "s1"), plain_).has_value());
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", msrpSdp("198.18.2.10", 3000, "s2"), plain_).has_value());
  const uint64_t id = onlyPair("c1");
  ASSERT_TRUE(anchor_.offer("c1", "a", msrpSdp("198.18.1.11", 2855, "s1"), plain_).has_value());
  ASSERT_EQ(anchor_.tcpPairs("c1").size(), 2U);
  const uint64_t added = anchor_.tcpPairs("c1")[1];
  anchor_.revertOffer("c1");
  EXPECT_EQ(onlyPair("c1"), id);
  EXPECT_EQ(tcp_->find(added), nullptr);
  EXPECT_EQ(state(id), relay::TcpPairState::Waiting);
}

TEST_F(TcpMediaTest, ReleaseAndSwitchingTransportTearDownOrRefuse) {
  useTcpRelay(8);
  ASSERT_TRUE(anchor_.offer("c1", "a", msrpSdp("198.18.1.10", 2855, "s1"), plain_).has_value());
  const uint64_t id = onlyPair("c1");
  std::string udp = msrpSdp("198.18.1.10", 2855, "s1");
  udp.replace(udp.find("TCP/MSRP"), 8, "RTP/AVP");
  auto bad = anchor_.offer("c1", "a", udp, plain_);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, AnchorErrorCode::BadSdp);
  EXPECT_EQ(state(id), relay::TcpPairState::Waiting) << "a refused re-offer changes nothing";
  anchor_.release("c1");
  EXPECT_EQ(tcp_->find(id), nullptr) << "the call's pairs go with it";
}

TEST_F(TcpMediaTest, OffererSideIsRestrictedToTheSignallingSourceWhenConfigured) {
  useTcpRelay(8);
  AnchorOptions fromSip{.receivedFrom = "198.18.1.10", .tcpOrigin = relay::TcpPairOrigin::Ng};
  ASSERT_TRUE(anchor_.offer("c1", "a", msrpSdp("10.0.0.5", 2855, "s1"), fromSip).has_value());
  auto st = tcp_->find(onlyPair("c1"));
  ASSERT_TRUE(st);
  ASSERT_TRUE(st->allowed[0].has_value());
  EXPECT_EQ(st->allowed[0]->ip(), "198.18.1.10");
  EXPECT_FALSE(st->allowed[1].has_value()) << "the answerer's address is not known when the pair opens";
  EXPECT_EQ(tcp_->createdBy()[static_cast<size_t>(relay::TcpPairOrigin::Ng)].get(), 1U);
  anchor_.setTcpRelay(tcp_.get(), false);
  ASSERT_TRUE(anchor_.offer("c2", "a", msrpSdp("10.0.0.5", 2855, "s1"), fromSip).has_value());
  EXPECT_FALSE(tcp_->find(onlyPair("c2"))->allowed[0].has_value());
}

// True when a connection from `src` to 127.0.0.1:port is reset by the relay (the RST may beat
// connect() back on loopback).
bool resetFrom(const char* src, uint16_t port) {
  common::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{2, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  auto from = *common::SockAddr::fromIp(src, 0);
  auto to = *common::SockAddr::fromIp("127.0.0.1", port);
  if (::bind(fd.get(), from.sa(), from.len()) != 0) return false;
  if (::connect(fd.get(), to.sa(), to.len()) != 0) return errno == ECONNRESET;
  char b;
  return ::recv(fd.get(), &b, 1, 0) < 0 && errno == ECONNRESET;
}

// The answer's signalling source (NG received-from, the B2BUA's callee flow) restricts the
// answerer's side as the offer's restricts the offerer's; a later answer from another fork moves
// it; nothing without the option or without an address.
TEST_F(TcpMediaTest, AnswererSideIsRestrictedToTheAnswersSignallingSource) {
  useTcpRelay(8);
  const AnchorOptions caller{.receivedFrom = "127.0.0.4"};
  const AnchorOptions callee{.receivedFrom = "127.0.0.5"};
  ASSERT_TRUE(anchor_.offer("c1", "a", msrpSdp("127.0.0.4", 2855, "s1"), caller).has_value());
  const uint64_t id = onlyPair("c1");
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", msrpSdp("127.0.0.5", 2856, "s2"), callee).has_value());
  auto st = tcp_->find(id);
  ASSERT_TRUE(st && st->allowed[0] && st->allowed[1]);
  EXPECT_EQ(st->allowed[0]->ip(), "127.0.0.4");
  EXPECT_EQ(st->allowed[1]->ip(), "127.0.0.5");
  const uint16_t calleePort = st->local[1].port();
  EXPECT_TRUE(resetFrom("127.0.0.4", calleePort)) << "the caller's address may not take the callee's side";
  ASSERT_TRUE(anchor_.answer("c1", "a", "b2", msrpSdp("127.0.0.6", 2856, "s3"), AnchorOptions{.receivedFrom = "127.0.0.6"})
                  .has_value());
  EXPECT_EQ(st->allowed[1]->ip(), "127.0.0.6") << "the answer of another fork moves the restriction";
  EXPECT_TRUE(resetFrom("127.0.0.5", calleePort));
  EXPECT_TRUE(resetFrom("127.0.0.1", st->local[0].port())) << "the caller's side: 127.0.0.4 only";
  EXPECT_EQ(tcp_->splicer().counters().refused[static_cast<size_t>(relay::TcpRefusal::WrongSource)].get(), 3U);

  ASSERT_TRUE(anchor_.offer("c2", "a", msrpSdp("127.0.0.4", 2855, "s1"), caller).has_value());
  ASSERT_TRUE(anchor_.answer("c2", "a", "b", msrpSdp("127.0.0.5", 2856, "s2"), plain_).has_value());
  EXPECT_FALSE(tcp_->find(onlyPair("c2"))->allowed[1].has_value()) << "no address, no restriction";
  anchor_.setTcpRelay(tcp_.get(), false);
  ASSERT_TRUE(anchor_.offer("c3", "a", msrpSdp("127.0.0.4", 2855, "s1"), caller).has_value());
  ASSERT_TRUE(anchor_.answer("c3", "a", "b", msrpSdp("127.0.0.5", 2856, "s2"), callee).has_value());
  EXPECT_FALSE(tcp_->find(onlyPair("c3"))->allowed[1].has_value()) << "restrict_sdp_source = 0";
}

TEST_F(TcpMediaTest, PairLimitRefusesTheOfferAndLeavesNothingBehind) {
  useTcpRelay(1);
  ASSERT_TRUE(anchor_.offer("c1", "a", msrpSdp("198.18.1.10", 2855, "s1"), plain_).has_value());
  auto refused = anchor_.offer("c2", "a", msrpSdp("198.18.1.10", 2855, "s1"), plain_);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, AnchorErrorCode::Capacity);
  EXPECT_EQ(anchor_.calls(), 1U);
}

}  // namespace
}  // namespace rdv::anchor

namespace rdv::anchor {
namespace {

// The UDP relay times out a session without packets; a call whose only media is an open TCP
// pair (MSRP without audio) goes on with a new relay session, one with audio or without an
// open pair does not.
TEST_F(TcpMediaTest, TcpOnlyCallOutlivesTheUdpMediaTimeoutWhileItsPairIsOpen) {
  useTcpRelay(8);
  std::string msrpOnly = msrpSdp("198.18.1.10", 2855, "s1");
  msrpOnly.replace(msrpOnly.find("m=audio 5000"), 12, "m=audio 0");
  ASSERT_TRUE(anchor_.offer("c1", "a", msrpOnly, plain_).has_value());
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", msrpOnly, plain_).has_value());
  relay::SessionReport timedOut;
  timedOut.id = anchor_.query("c1")->report.id;
  EXPECT_TRUE(anchor_.renewForTcp(timedOut));
  EXPECT_EQ(anchor_.calls(), 1U);
  const uint64_t renewed = anchor_.query("c1")->report.id;
  EXPECT_NE(renewed, timedOut.id);
  EXPECT_FALSE(anchor_.onSessionEnded(timedOut).has_value()) << "the old session names no call now";

  ASSERT_TRUE(anchor_.offer("c2", "a", msrpSdp("198.18.1.10", 2855, "s1"), plain_).has_value());
  relay::SessionReport withAudio;
  withAudio.id = anchor_.query("c2")->report.id;
  EXPECT_FALSE(anchor_.renewForTcp(withAudio)) << "silent audio ends the call as before";

  tcp_->remove(onlyPair("c1"));
  relay::SessionReport again;
  again.id = renewed;
  EXPECT_FALSE(anchor_.renewForTcp(again)) << "no open pair left";
  EXPECT_EQ(anchor_.onSessionEnded(again), "c1");
}

}  // namespace
}  // namespace rdv::anchor
