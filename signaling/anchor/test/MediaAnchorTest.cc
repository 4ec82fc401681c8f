// MediaAnchor over a real RelayControl bound on loopback (sockets, no media): what each side's SDP
// becomes after offer and answer, what the relay legs were told, and the call's lifecycle
// (query, remove, release, refused offers) with wall time from a ManualClock.

#include "signaling/anchor/MediaAnchor.h"

#include <poll.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "relay/RelayControl.h"
#include "relay/test/FreePorts.h"
#include "relay/test/TestPeer.h"
#include "signaling/sdp/Sdp.h"

namespace rdv::anchor {
namespace {

constexpr uint64_t kWallSeconds = 1'700'000'123;

relay::RelayOptions relayOptions() {
  relay::RelayOptions o;
  o.portMin = relay::test::freePortWindow(100);
  o.portMax = static_cast<uint16_t>(o.portMin + 99);
  o.workers = 1;
  return o;
}

// One audio m-line from `ip`:`port`, ICE attributes included (the anchor strips them).
std::string audioSdp(std::string_view ip, uint16_t port, bool mux, std::string_view extraMedia = {}) {
  std::string s = "v=0\r\no=- 1 1 IN IP4 " + std::string(ip) + "\r\ns=-\r\nc=IN IP4 " + std::string(ip) +
                  "\r\nt=0 0\r\nm=audio " + std::to_string(port) + " RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n";
  if (mux) s += "a=rtcp-mux\r\n";
  s += "a=ice-ufrag:abcd\r\na=candidate:1 1 UDP 1 " + std::string(ip) + " " + std::to_string(port) +
       " typ host\r\n";
  return s + std::string(extraMedia);
}

sdp::SdpSession parsed(const Expected<std::string, AnchorError>& out) {
  EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().reason);
  auto s = sdp::SdpSession::parse(out ? *out : std::string());
  EXPECT_TRUE(s.has_value());
  return s ? std::move(*s) : sdp::SdpSession();
}

// The o= line's value ("- 1 1 IN IP4 addr").
std::string origin(const sdp::SdpSession& s) {
  for (const auto& l : s.lines) {
    if (l.type == 'o') return l.value;
  }
  return {};
}

common::SockAddr addr(std::string_view ip, uint16_t port) {
  return *common::SockAddr::fromIp(ip, port);
}

class MediaAnchorTest : public ::testing::Test {
 protected:
  bool isRelayPort(uint16_t p) const { return p >= opts_.portMin && p <= opts_.portMax; }

  // Waits (bounded) until the relay worker has confirmed every dropped session and the control
  // side has returned their ports to the pool.
  bool portsAllFreeWithin(int attempts) {
    for (int i = 0; i < attempts; ++i) {
      relay_.drainEnded([](const relay::SessionReport&, bool) {});
      if (relay_.portPairsFree() == relay_.portPairsTotal()) return true;
      pollfd p{relay_.endedFd(), POLLIN, 0};
      ::poll(&p, 1, 100);
    }
    return false;
  }

  // Runs an asynchronous delete or live query to completion (bounded wait for the worker).
  template <typename T, typename Start>
  std::optional<Expected<T, AnchorError>> await(Start start) {
    std::optional<Expected<T, AnchorError>> out;
    start([&](Expected<T, AnchorError> r) { out.emplace(std::move(r)); });
    for (int i = 0; i < 500 && !out; ++i) {
      pollfd p{relay_.replyFd(), POLLIN, 0};
      ::poll(&p, 1, 10);
      relay_.drainReplies();
    }
    EXPECT_TRUE(out.has_value()) << "no answer within 5 s";
    return out;
  }
  Expected<DeleteOutcome, AnchorError> removeNow(DeleteRequest req) {
    auto r = await<DeleteOutcome>([&](MediaAnchor::DeleteCallback cb) { anchor_.remove(req, std::move(cb)); });
    return r ? std::move(*r) : Expected<DeleteOutcome, AnchorError>(Unexpected(AnchorError{AnchorErrorCode::Internal, "timeout"}));
  }
  Expected<CallInfo, AnchorError> queryLive(std::string_view id) {
    auto r = await<CallInfo>([&](MediaAnchor::QueryCallback cb) { anchor_.query(id, std::move(cb)); });
    return r ? std::move(*r) : Expected<CallInfo, AnchorError>(Unexpected(AnchorError{AnchorErrorCode::Internal, "timeout"}));
  }

  relay::RelayOptions opts_ = relayOptions();
  relay::RelayControl relay_{opts_};
  common::ManualClock clock_{1'000'000'000, kWallSeconds * 1'000'000'000};
  MediaAnchor anchor_{relay_, "127.0.0.1", clock_};
  const AnchorOptions plain_{};
};

TEST_F(MediaAnchorTest, OfferPointsTheAnswererAtARelayPortAndStripsIce) {
  auto out = parsed(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  EXPECT_EQ(out.connectionAddress(), "127.0.0.1");
  ASSERT_EQ(out.media.size(), 1U);
  const uint16_t port = out.media[0].port;
  EXPECT_TRUE(isRelayPort(port)) << port;
  EXPECT_EQ(out.media[0].rtcpPort(), port + 1);
  EXPECT_FALSE(out.media[0].rtcpMux());
  EXPECT_FALSE(out.media[0].hasAttribute("candidate"));
  EXPECT_FALSE(out.media[0].hasAttribute("ice-ufrag"));
  EXPECT_EQ(origin(out), "- 1 1 IN IP4 198.18.0.9") << "o= is kept unless replaceOrigin";
  EXPECT_EQ(anchor_.calls(), 1U);
  EXPECT_EQ(relay_.activeSessions(), 1U);
}

TEST_F(MediaAnchorTest, ReplaceOriginRewritesTheOriginAddress) {
  const AnchorOptions opts{.replaceOrigin = true};
  auto offer = parsed(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), opts));
  EXPECT_EQ(origin(offer), "- 1 1 IN IP4 127.0.0.1");
  auto answer = parsed(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false), opts));
  EXPECT_EQ(origin(answer), "- 1 1 IN IP4 127.0.0.1");
}

TEST_F(MediaAnchorTest, AnswerPointsTheOffererAtTheOtherRelayPortAndTellsTheRelayBothPeers) {
  auto offer = parsed(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  auto answer = parsed(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false), plain_));
  ASSERT_EQ(answer.media.size(), 1U);
  const uint16_t towardAnswerer = offer.media[0].port;
  const uint16_t towardOfferer = answer.media[0].port;
  EXPECT_TRUE(isRelayPort(towardOfferer)) << towardOfferer;
  EXPECT_NE(towardOfferer, towardAnswerer);
  EXPECT_EQ(answer.connectionAddress(), "127.0.0.1");
  EXPECT_EQ(answer.media[0].rtcpPort(), towardOfferer + 1);

  auto info = anchor_.query("c1");
  ASSERT_TRUE(info.has_value());
  ASSERT_EQ(info->report.streams.size(), 1U);
  const auto& legs = info->report.streams[0];
  EXPECT_EQ(legs[0].rtpPort, towardOfferer);
  EXPECT_EQ(legs[1].rtpPort, towardAnswerer);
  EXPECT_EQ(legs[0].advertised, addr("198.18.0.9", 5000));
  EXPECT_EQ(legs[1].advertised, addr("198.18.0.10", 6000));
}

TEST_F(MediaAnchorTest, ReofferFromEitherSideKeepsTheRelayPortsAndMovesThatPeer) {
  auto offer = parsed(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  auto answer = parsed(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false), plain_));
  // The answerer re-offers from a new port: the offerer is pointed at the same relay port.
  auto reoffer = parsed(anchor_.offer("c1", "b", audioSdp("198.18.0.10", 6002, false), plain_));
  EXPECT_EQ(reoffer.media[0].port, answer.media[0].port);
  auto reanswer = parsed(anchor_.answer("c1", "b", "a", audioSdp("198.18.0.9", 5002, false), plain_));
  EXPECT_EQ(reanswer.media[0].port, offer.media[0].port);
  auto info = anchor_.query("c1");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->report.streams[0][0].advertised, addr("198.18.0.9", 5002));
  EXPECT_EQ(info->report.streams[0][1].advertised, addr("198.18.0.10", 6002));
  EXPECT_EQ(relay_.activeSessions(), 1U);
}

TEST_F(MediaAnchorTest, RtcpMuxOfferedAndAcceptedIsKeptOnBothSides) {
  auto offer = parsed(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, true), plain_));
  EXPECT_TRUE(offer.media[0].rtcpMux());
  EXPECT_FALSE(offer.media[0].rtcpPort().has_value()) << "no a=rtcp beside rtcp-mux";
  auto answer = parsed(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, true), plain_));
  EXPECT_TRUE(answer.media[0].rtcpMux());
  EXPECT_FALSE(answer.media[0].rtcpPort().has_value());
  auto info = anchor_.query("c1");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->report.streams[0][0].rtcpPort, 0U) << "muxed legs have no RTCP socket";
  EXPECT_EQ(info->report.streams[0][1].rtcpPort, 0U);
}

TEST_F(MediaAnchorTest, RtcpMuxDeclinedByTheAnswererGivesTheOffererSeparateRtcp) {
  auto offer = parsed(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, true), plain_));
  EXPECT_TRUE(offer.media[0].rtcpMux());
  auto answer = parsed(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false), plain_));
  const uint16_t port = answer.media[0].port;
  EXPECT_FALSE(answer.media[0].rtcpMux());
  EXPECT_EQ(answer.media[0].rtcpPort(), port + 1);
  auto info = anchor_.query("c1");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->report.streams[0][0].rtcpPort, port + 1) << "the offerer's leg opened its RTCP socket";
  EXPECT_EQ(info->report.streams[0][1].rtcpPort, info->report.streams[0][1].rtpPort + 1);
}

TEST_F(MediaAnchorTest, MuxOfferOptionOffersRtcpMuxToTheAnswerer) {
  const AnchorOptions opts{.muxOffer = true};
  auto offer = parsed(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), opts));
  EXPECT_TRUE(offer.media[0].rtcpMux());
}

TEST_F(MediaAnchorTest, RejectedMediaLineStaysRejectedAndGetsNoRelayStream) {
  const std::string video = "m=video 0 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
  auto offer = parsed(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false, video), plain_));
  ASSERT_EQ(offer.media.size(), 2U);
  EXPECT_TRUE(isRelayPort(offer.media[0].port));
  EXPECT_EQ(offer.media[1].port, 0U);
  auto answer = parsed(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false, video), plain_));
  ASSERT_EQ(answer.media.size(), 2U);
  EXPECT_EQ(answer.media[1].port, 0U);
  auto info = anchor_.query("c1");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->report.streams.size(), 1U);
}

TEST_F(MediaAnchorTest, ReofferThatCannotBeAnchoredLeavesEveryRelayLegAsItWas) {
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false), plain_));
  // m-line 1 is fine (a new port), m-line 2 has no connection address at either level.
  const std::string reoffer =
      "v=0\r\no=- 1 2 IN IP4 198.18.0.9\r\ns=-\r\nt=0 0\r\nm=audio 5002 RTP/AVP 0\r\n"
      "c=IN IP4 198.18.0.9\r\nm=video 5004 RTP/AVP 96\r\n";
  auto out = anchor_.offer("c1", "a", reoffer, plain_);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().reason, "m-line 2 has no connection address");
  auto info = anchor_.query("c1");
  ASSERT_TRUE(info.has_value());
  ASSERT_EQ(info->report.streams.size(), 1U) << "no relay stream for the refused m-line";
  EXPECT_EQ(info->report.streams[0][0].advertised, addr("198.18.0.9", 5000)) << "m-line 1 was not applied";
  EXPECT_EQ(info->report.streams[0][1].advertised, addr("198.18.0.10", 6000));
  EXPECT_EQ(anchor_.query("c1")->toTag, "b");
}

TEST_F(MediaAnchorTest, AnswerThatCannotBeAnchoredChangesNothingAndRevertOfferRestoresTheOfferer) {
  const auto video = [](uint16_t port) {
    return "m=video " + std::to_string(port) + " RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
  };
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false, video(5010)), plain_));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false, video(6010)), plain_));
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5002, false, video(5012)), plain_));
  // Audio answered from a new port, video without any connection address.
  const std::string badAnswer =
      "v=0\r\no=- 1 2 IN IP4 198.18.0.10\r\ns=-\r\nt=0 0\r\nm=audio 6002 RTP/AVP 0\r\n"
      "c=IN IP4 198.18.0.10\r\nm=video 6012 RTP/AVP 96\r\n";
  ASSERT_FALSE(anchor_.answer("c1", "a", "b", badAnswer, plain_).has_value());
  auto info = anchor_.query("c1");
  ASSERT_TRUE(info.has_value());
  ASSERT_EQ(info->report.streams.size(), 2U);
  EXPECT_EQ(info->report.streams[0][1].advertised, addr("198.18.0.10", 6000)) << "audio answer not applied";
  EXPECT_EQ(info->report.streams[0][0].advertised, addr("198.18.0.9", 5002)) << "the offer took effect";

  anchor_.revertOffer("c1");
  info = anchor_.query("c1");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->report.streams[0][0].advertised, addr("198.18.0.9", 5000));
  EXPECT_EQ(info->report.streams[0][1].advertised, addr("198.18.0.10", 6000));
  EXPECT_EQ(info->report.streams[1][0].advertised, addr("198.18.0.9", 5010));
  EXPECT_EQ(info->report.streams[1][1].advertised, addr("198.18.0.10", 6010));
  anchor_.revertOffer("c1");  // nothing pending: a no-op
  EXPECT_EQ(anchor_.query("c1")->report.streams[0][0].advertised, addr("198.18.0.9", 5000));
}

TEST_F(MediaAnchorTest, RevertedOfferIdlesTheStreamItAddedAndTheNextOfferReusesIt) {
  const std::string video = "m=video 5010 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false), plain_));
  auto first = parsed(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false, video), plain_));
  ASSERT_EQ(first.media.size(), 2U);
  anchor_.revertOffer("c1");
  EXPECT_EQ(anchor_.query("c1")->report.streams.size(), 1U) << "signalling forgets the reverted stream";
  auto info = queryLive("c1");  // the relay's own view
  ASSERT_TRUE(info.has_value());
  ASSERT_EQ(info->report.streams.size(), 2U) << "a relay session keeps its streams";
  EXPECT_EQ(info->report.streams[1][0].advertised, common::SockAddr()) << "the added stream is idle";
  EXPECT_EQ(info->report.streams[1][1].advertised, common::SockAddr());
  EXPECT_FALSE(
      anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false, video), plain_).has_value())
      << "the reverted offer's video line is no longer offered";

  auto again = parsed(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false, video), plain_));
  ASSERT_EQ(again.media.size(), 2U);
  EXPECT_EQ(again.media[1].port, first.media[1].port) << "the idle stream is reused";
  EXPECT_EQ(anchor_.query("c1")->report.streams.size(), 2U);
}

TEST_F(MediaAnchorTest, UnparsableOfferIsBadSdpAndLeavesNoCallBehind) {
  auto out = anchor_.offer("c1", "a", "this is not sdp", plain_);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code, AnchorErrorCode::BadSdp);
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
  EXPECT_EQ(anchor_.query("c1").error().code, AnchorErrorCode::UnknownCall);
}

TEST_F(MediaAnchorTest, OfferRefusedWhileAnchoringReleasesTheSessionItCreated) {
  // Parses, but the m-line has no connection address at either level.
  const std::string noConnection =
      "v=0\r\no=- 1 1 IN IP4 198.18.0.9\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
  auto out = anchor_.offer("c1", "a", noConnection, plain_);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code, AnchorErrorCode::BadSdp);
  EXPECT_EQ(out.error().reason, "m-line 1 has no connection address");
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
}

TEST_F(MediaAnchorTest, AnswerToAnUnknownCallIsUnknownCall) {
  auto out = anchor_.answer("ghost", "a", "b", audioSdp("198.18.0.10", 6000, false), plain_);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code, AnchorErrorCode::UnknownCall);
  EXPECT_EQ(relay_.activeSessions(), 0U);
}

TEST_F(MediaAnchorTest, QueryAndRemoveReportTheTagsAndStreamsThenTheCallIsGone) {
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false), plain_));
  int removedReports = 0;
  anchor_.setOnRemoved([&](const relay::SessionReport&) { ++removedReports; });

  auto q = queryLive("c1");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->callId, "c1");
  EXPECT_EQ(q->fromTag, "a");
  EXPECT_EQ(q->toTag, "b");
  EXPECT_EQ(q->caller.tag, "a");
  EXPECT_EQ(q->callee.tag, "b");
  EXPECT_EQ(q->report.callId, "c1");
  EXPECT_EQ(q->report.streams.size(), 1U);

  auto r = removeNow({"c1", "", "", ""});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->callGone);
  EXPECT_EQ(r->info.callId, "c1");
  EXPECT_EQ(r->info.fromTag, "a");
  EXPECT_EQ(r->info.toTag, "b");
  EXPECT_EQ(r->info.report.streams.size(), 1U);
  EXPECT_EQ(removedReports, 1);
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
  EXPECT_EQ(relay_.portPairsFree(), relay_.portPairsTotal()) << "ports are back once the removal is answered";
  EXPECT_EQ(anchor_.query("c1").error().code, AnchorErrorCode::UnknownCall);
  EXPECT_EQ(queryLive("c1").error().code, AnchorErrorCode::UnknownCall);
  EXPECT_EQ(removeNow({"c1", "", "", ""}).error().code, AnchorErrorCode::UnknownCall);
}

TEST_F(MediaAnchorTest, ReleaseForgetsTheCallAtOnceAndThePortsReturnOnceTheWorkerConfirms) {
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false), plain_));
  ASSERT_LT(relay_.portPairsFree(), relay_.portPairsTotal());
  anchor_.release("c1");
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
  EXPECT_EQ(anchor_.query("c1").error().code, AnchorErrorCode::UnknownCall);
  EXPECT_TRUE(anchor_.list(10).empty());
  EXPECT_TRUE(portsAllFreeWithin(50));
  anchor_.release("c1");  // a second release is a no-op
  EXPECT_EQ(anchor_.calls(), 0U);
}

TEST_F(MediaAnchorTest, CreatedAndLastSignalTimesComeFromTheInjectedWallClock) {
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  clock_.advanceMs(7000);
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false), plain_));
  auto q = anchor_.query("c1");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->createdUnix, kWallSeconds);
  EXPECT_EQ(q->lastSignalUnix, kWallSeconds + 7);
}

TEST_F(MediaAnchorTest, ListNamesEveryCallUpToTheLimit) {
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  ASSERT_TRUE(anchor_.offer("c2", "a", audioSdp("198.18.0.9", 5002, false), plain_));
  auto all = anchor_.list(10);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<std::string>{"c1", "c2"}));
  EXPECT_EQ(anchor_.list(1).size(), 1U);
}

TEST_F(MediaAnchorTest, DeletingOneForkKeepsTheCallAndTheLastForkTakesItAlong) {
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b1", audioSdp("198.18.0.10", 6000, false), plain_));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b2", audioSdp("198.18.0.11", 6000, false), plain_));
  auto r = removeNow({"c1", "a", "b1", ""});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->callGone);
  EXPECT_EQ(anchor_.calls(), 1U);
  EXPECT_EQ(anchor_.query("c1")->toTag, "b2");
  EXPECT_EQ(removeNow({"c1", "a", "b1", ""}).error().code, AnchorErrorCode::TagMismatch);
  EXPECT_EQ(removeNow({"c1", "zz", "", ""}).error().code, AnchorErrorCode::TagMismatch);
  // The callee's BYE: from-tag b2, to-tag a.
  r = removeNow({"c1", "b2", "a", ""});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->callGone);
  EXPECT_EQ(anchor_.calls(), 0U);
}

TEST_F(MediaAnchorTest, DeleteWithTheCallersTagOnlyOrAnUnansweredToTagEndsTheCall) {
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  auto r = removeNow({"c1", "a", "never-sent-sdp", ""});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->callGone) << "the 487 of an unforked call";
  ASSERT_TRUE(anchor_.offer("c2", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  ASSERT_TRUE(anchor_.answer("c2", "a", "b", audioSdp("198.18.0.10", 6000, false), plain_));
  r = removeNow({"c2", "a", "", ""});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->callGone);
}

TEST_F(MediaAnchorTest, ViaBranchNamesTheForkOfOfferAnswerAndDelete) {
  AnchorOptions v1 = plain_;
  v1.viaBranch = "br1";
  AnchorOptions v2 = plain_;
  v2.viaBranch = "br2";
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), v1));
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), v2));
  ASSERT_TRUE(anchor_.answer("c1", "a", "b2", audioSdp("198.18.0.11", 6000, false), v2));
  EXPECT_EQ(anchor_.query("c1")->callee.viaBranch, "br2");
  auto r = removeNow({"c1", "a", "", "br1"});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->callGone);
  EXPECT_EQ(removeNow({"c1", "a", "", "br9"}).error().code, AnchorErrorCode::TagMismatch);
  r = removeNow({"c1", "a", "", "br2"});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->callGone);
}

TEST_F(MediaAnchorTest, LabelsBelongToTheSenderOfTheSdpAndToLabelToTheOtherParty) {
  AnchorOptions offer = plain_;
  offer.label = "caller";
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), offer));
  AnchorOptions answer = plain_;
  answer.label = "callee";
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false), answer));
  auto q = anchor_.query("c1");
  EXPECT_EQ(q->caller.label, "caller");
  EXPECT_EQ(q->callee.label, "callee");
  AnchorOptions relabel = plain_;
  relabel.otherLabel = "A";
  ASSERT_TRUE(anchor_.offer("c1", "b", audioSdp("198.18.0.10", 6000, false), relabel));
  EXPECT_EQ(anchor_.query("c1")->caller.label, "A");
}

TEST_F(MediaAnchorTest, SipSourceAddressUsesTheSignallingSourceAndMediaAddressOverridesIt) {
  AnchorOptions src = plain_;
  src.sipSourceAddress = true;
  src.receivedFrom = "192.0.2.50";
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("10.0.0.5", 5000, false), src));
  AnchorOptions media = plain_;
  media.mediaAddress = "203.0.113.9";
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", audioSdp("10.0.0.6", 6000, false), media));
  auto q = anchor_.query("c1");
  EXPECT_EQ(q->report.streams[0][0].advertised, addr("192.0.2.50", 5000));
  EXPECT_EQ(q->report.streams[0][1].advertised, addr("203.0.113.9", 6000));
  // Hold (c=0.0.0.0) stays hold whatever the flags say.
  ASSERT_TRUE(anchor_.offer("c1", "a", audioSdp("0.0.0.0", 5000, false), src));
  EXPECT_FALSE(anchor_.query("c1")->report.streams[0][0].advertised.valid());
}

TEST_F(MediaAnchorTest, RtcpMuxRequireKeepsTheAnswererMuxedAndRejectDeclinesTheOfferersMux) {
  AnchorOptions require = plain_;
  require.muxRequire = true;
  auto offer = parsed(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), require));
  EXPECT_TRUE(offer.media[0].rtcpMux());
  EXPECT_FALSE(offer.media[0].rtcpPort().has_value());
  auto answer = parsed(anchor_.answer("c1", "a", "b", audioSdp("198.18.0.10", 6000, false), plain_));
  EXPECT_FALSE(answer.media[0].rtcpMux()) << "the offerer did not offer mux";
  auto q = anchor_.query("c1");
  EXPECT_EQ(q->report.streams[0][1].rtcpPort, 0U) << "the answerer's leg stays muxed";
  EXPECT_NE(q->report.streams[0][0].rtcpPort, 0U);

  AnchorOptions reject = plain_;
  reject.muxReject = true;
  auto offer2 = parsed(anchor_.offer("c2", "a", audioSdp("198.18.0.9", 5000, true), reject));
  EXPECT_FALSE(offer2.media[0].rtcpMux());
  auto answer2 = parsed(anchor_.answer("c2", "a", "b", audioSdp("198.18.0.10", 6000, true), plain_));
  EXPECT_FALSE(answer2.media[0].rtcpMux()) << "declined toward the offerer too";
  EXPECT_EQ(answer2.media[0].rtcpPort(), answer2.media[0].port + 1);
}

TEST_F(MediaAnchorTest, NoRtcpAttributeAndGenerateMidShapeTheSdpPassedOn) {
  AnchorOptions o = plain_;
  o.noRtcpAttribute = true;
  o.generateMid = true;
  const std::string video = "m=video 7000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\na=mid:v\r\n";
  auto offer = parsed(anchor_.offer("c1", "a", audioSdp("198.18.0.9", 5000, false, video), o));
  EXPECT_FALSE(offer.media[0].hasAttribute("rtcp"));
  EXPECT_EQ(offer.media[0].attribute("mid"), "0");
  EXPECT_EQ(offer.media[1].attribute("mid"), "v") << "an existing mid is kept";
}

TEST_F(MediaAnchorTest, CodecAndTransportOfEachLegComeFromItsSdp) {
  const std::string g722 = "v=0\r\no=- 1 1 IN IP4 198.18.0.9\r\ns=-\r\nc=IN IP4 198.18.0.9\r\nt=0 0\r\n"
                           "m=audio 5000 RTP/AVP 9 0\r\nm=image 5002 udptl t38\r\n";
  ASSERT_TRUE(anchor_.offer("c1", "a", g722, plain_));
  const std::string opus = "v=0\r\no=- 1 1 IN IP4 198.18.0.10\r\ns=-\r\nc=IN IP4 198.18.0.10\r\nt=0 0\r\n"
                           "m=audio 6000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\nm=image 6002 udptl t38\r\n";
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", opus, plain_));
  auto q = anchor_.query("c1");
  ASSERT_EQ(q->report.streams.size(), 2U);
  EXPECT_EQ(q->report.streams[0][0].codec, media::VoiceCodec::G722) << "static payload type 9";
  EXPECT_EQ(q->report.streams[0][1].codec, media::VoiceCodec::Opus);
}

TEST_F(MediaAnchorTest, CapacityErrorsUseRtpenginesWording) {
  relay::RelayOptions tiny = relayOptions();
  tiny.portMax = static_cast<uint16_t>(tiny.portMin + 3);  // one two-leg stream
  relay::RelayControl relay(tiny);
  MediaAnchor anchor(relay, "127.0.0.1", clock_);
  ASSERT_TRUE(anchor.offer("c1", "a", audioSdp("198.18.0.9", 5000, false), plain_));
  auto out = anchor.offer("c2", "a", audioSdp("198.18.0.9", 5002, false), plain_);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code, AnchorErrorCode::Capacity);
  EXPECT_EQ(out.error().reason, "Ran out of ports");
  EXPECT_EQ(out.error().limit, CapacityLimit::Ports);

  relay::RelayOptions few = relayOptions();
  few.descriptorBudget = 2;
  relay::RelayControl small(few);
  MediaAnchor anchor2(small, "127.0.0.1", clock_);
  auto refused = anchor2.offer("c3", "a", audioSdp("198.18.0.9", 5000, false), plain_);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().reason, "Parallel session limit reached");
  EXPECT_EQ(refused.error().limit, CapacityLimit::Sessions);
}

// Item: a re-offer that moves a party (transfer, device handover) lets its new device latch;
// without it, the new device's packets were dropped as spoofed for the rest of the call.
TEST_F(MediaAnchorTest, ReofferMovingAPartyLetsItsNewSourceLatch) {
  relay::test::Peer a, b, a2;
  auto offer = parsed(anchor_.offer("c1", "a", audioSdp("127.0.0.1", a.addr().port(), false), plain_));
  auto answer = parsed(anchor_.answer("c1", "a", "b", audioSdp("127.0.0.1", b.addr().port(), false), plain_));
  const uint16_t towardA = answer.media[0].port;  // where A sends
  a.sendRtp(towardA, 1, 0xA);
  ASSERT_EQ(b.receive(1000), 172);
  a2.sendRtp(towardA, 1, 0xA2);
  EXPECT_EQ(b.receive(200), -1) << "before the re-offer the new device is a stranger";
  // A's party moves to a2 (same tag, new address in its re-offer).
  auto reoffer = parsed(anchor_.offer("c1", "a", audioSdp("127.0.0.1", a2.addr().port(), false), plain_));
  EXPECT_EQ(reoffer.media[0].port, offer.media[0].port);
  ASSERT_TRUE(anchor_.answer("c1", "a", "b", audioSdp("127.0.0.1", b.addr().port(), false), plain_));
  a2.sendRtp(towardA, 2, 0xA2);
  ASSERT_EQ(b.receive(1000), 172) << "the moved party latches";
  a.sendRtp(towardA, 3, 0xA);
  EXPECT_EQ(b.receive(200), -1) << "and the old address is now the stranger";
  auto q = queryLive("c1");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->report.streams[0][0].latched, a2.addr());
  EXPECT_EQ(q->report.streams[0][0].counters.relatched, 1U);
  EXPECT_EQ(q->report.streams[0][0].counters.spoofed, 2U);
}

// Forking: early media latched from one branch, then another branch answers advertising the same
// (private, NATed) address: the answering branch is a new party on leg 1 and latches.
TEST_F(MediaAnchorTest, AnswerFromAnotherForkRelatchesEvenAtTheSameAdvertisedAddress) {
  relay::test::Peer a, b1, b2;
  auto offer = parsed(anchor_.offer("c1", "a", audioSdp("127.0.0.1", a.addr().port(), false), plain_));
  const uint16_t towardB = offer.media[0].port;  // where the callee side sends
  const std::string sameAddress = audioSdp("127.0.0.1", b1.addr().port(), false);
  ASSERT_TRUE(anchor_.answer("c1", "a", "b1", sameAddress, plain_));  // b1's early media
  b1.sendRtp(towardB, 1, 0xB1);
  ASSERT_EQ(a.receive(1000), 172);
  ASSERT_TRUE(anchor_.answer("c1", "a", "b2", sameAddress, plain_));  // b2 answers
  b2.sendRtp(towardB, 1, 0xB2);
  ASSERT_EQ(a.receive(1000), 172) << "the answering fork latches";
  auto q = queryLive("c1");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->report.streams[0][1].latched, b2.addr());
  EXPECT_EQ(q->report.streams[0][1].counters.relatched, 1U);
  EXPECT_EQ(q->callee.tag, "b2");
}

}  // namespace
}  // namespace rdv::anchor
