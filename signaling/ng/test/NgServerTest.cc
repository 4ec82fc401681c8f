// NG protocol over the real relay control (sockets on loopback): framing, cookie cache, error
// replies, the SDP rewriting of offer/answer including rtcp-mux negotiation, asynchronous
// query/delete, delete semantics (tags, via-branch, unknown calls), capacity errors, the options
// Kamailio and OpenSIPS send, and the stats/MOS report their modules read.

#include "signaling/ng/NgServer.h"

#include <poll.h>

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "relay/RelayControl.h"
#include "relay/TcpRelay.h"
#include "relay/test/FreePorts.h"
#include "relay/test/TestPeer.h"
#include "signaling/ng/test/NgStack.h"
#include "signaling/sdp/Sdp.h"

namespace rdv::ng {
namespace {

using test::NgStack;
using test::relayOptions;

class NgTest : public ::testing::Test {
 protected:
  relay::RelayOptions opts_ = relayOptions();
  NgStack stack_{opts_};
  relay::RelayControl& relay_ = stack_.relay;
  common::ManualClock& clock_ = stack_.clock;
  anchor::MediaAnchor& anchor_ = stack_.anchor;
  NgHandler& handler_ = stack_.handler;
  NgServer& server_ = stack_.server;

  BValue call(std::string_view cookie, const BValue& req) { return stack_.call(cookie, req); }
  static BValue cmd(std::string_view name) {
    BValue d = BValue::dict();
    d.set("command", BValue::string(std::string(name)));
    return d;
  }
};

std::string sdp(int port, bool mux, const std::string& ip = "198.18.0.9") {
  std::string s = "v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=audio " +
                  std::to_string(port) + " RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n";
  if (mux) s += "a=rtcp-mux\r\n";
  return s + "a=ice-ufrag:abcd\r\na=candidate:1 1 UDP 1 " + ip + " " + std::to_string(port) + " typ host\r\n";
}

TEST_F(NgTest, PingIsAnsweredWithPongUnderTheSameCookie) {
  auto r = call("c00kie", cmd("ping"));
  EXPECT_EQ(r.getString("result"), "pong");
}

TEST_F(NgTest, DatagramWithoutCookieIsDroppedAndCounted) {
  EXPECT_EQ(server_.process("d7:command4:pinge"), "");
  EXPECT_EQ(server_.counters().malformed.get(), 1U);
}

TEST_F(NgTest, MalformedBencodeGetsAnErrorReplyWithReason) {
  std::string out = server_.process("k1 d7:command4:pin");
  auto v = parseBencode(std::string_view(out).substr(3));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->getString("result"), "error");
  EXPECT_NE(v->getString("error-reason")->find("bencode"), std::string_view::npos);
}

TEST_F(NgTest, RetransmittedCookieGetsCachedReplyWithoutSecondCall) {
  BValue offer = cmd("offer");
  offer.set("call-id", BValue::string("r1")).set("from-tag", BValue::string("a")).set("sdp", BValue::string(sdp(5000, false)));
  std::string wire = "rtx1 " + encodeBencode(offer);
  std::string first = server_.process(wire);
  std::string second = server_.process(wire);
  EXPECT_EQ(first, second);
  EXPECT_EQ(server_.counters().retransmissions.get(), 1U);
  EXPECT_EQ(anchor_.calls(), 1U);
  EXPECT_EQ(relay_.counters().sessionsCreated.get(), 1U);
}

TEST_F(NgTest, CachedReplyExpiresExactlyAfterTheCacheTtl) {
  const std::string ping = "exp1 " + encodeBencode(cmd("ping"));
  server_.process(ping);
  clock_.advanceMs(29'999);
  server_.process(ping);
  EXPECT_EQ(server_.counters().retransmissions.get(), 1U) << "still cached 1 ms before the 30 s TTL";
  clock_.advanceMs(1);
  server_.process(ping);
  EXPECT_EQ(server_.counters().retransmissions.get(), 1U) << "expired at the TTL: the command ran again";
  EXPECT_EQ(server_.counters().requests.get(), 3U);
}

TEST_F(NgTest, QueryReportsCreationTimeFromTheInjectedWallClock) {
  BValue offer = cmd("offer");
  offer.set("call-id", BValue::string("t1")).set("from-tag", BValue::string("a")).set("sdp", BValue::string(sdp(5000, false)));
  ASSERT_EQ(call("t-1", offer).getString("result"), "ok");
  clock_.advanceMs(5000);
  BValue query = cmd("query");
  query.set("call-id", BValue::string("t1"));
  auto r = call("t-2", query);
  ASSERT_EQ(r.getString("result"), "ok");
  EXPECT_EQ(r.getInt("created"), static_cast<int64_t>(clock_.wallSeconds()) - 5);
  EXPECT_EQ(r.getInt("last signal"), static_cast<int64_t>(clock_.wallSeconds()) - 5);
}

TEST_F(NgTest, MissingKeysAndUnknownCallAreErrors) {
  BValue noCallId = cmd("offer");
  noCallId.set("from-tag", BValue::string("a")).set("sdp", BValue::string(sdp(5000, false)));
  EXPECT_EQ(call("e1", noCallId).getString("error-reason"), "No call-id in message");
  BValue answer = cmd("answer");
  answer.set("call-id", BValue::string("ghost")).set("from-tag", BValue::string("a"))
      .set("to-tag", BValue::string("b")).set("sdp", BValue::string(sdp(5000, false)));
  EXPECT_EQ(call("e2", answer).getString("error-reason"), "Unknown call-id");
  EXPECT_EQ(call("e3", cmd("launch")).getString("result"), "error");
  EXPECT_EQ(anchor_.calls(), 0U);
}

TEST_F(NgTest, OfferAndAnswerPointEachSideAtTheRelayAndStripIce) {
  BValue offer = cmd("offer");
  offer.set("call-id", BValue::string("x")).set("from-tag", BValue::string("a")).set("sdp", BValue::string(sdp(5000, false)));
  auto r = call("o1", offer);
  ASSERT_EQ(r.getString("result"), "ok");
  auto out = sdp::SdpSession::parse(*r.getString("sdp"));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->connectionAddress(), "127.0.0.1");
  ASSERT_EQ(out->media.size(), 1U);
  const uint16_t calleeSends = out->media[0].port;
  EXPECT_GE(calleeSends, opts_.portMin);
  EXPECT_LE(calleeSends, opts_.portMax);
  EXPECT_EQ(out->media[0].rtcpPort(), calleeSends + 1);
  EXPECT_FALSE(out->media[0].hasAttribute("candidate"));
  EXPECT_FALSE(out->media[0].hasAttribute("ice-ufrag"));

  BValue answer = cmd("answer");
  answer.set("call-id", BValue::string("x")).set("from-tag", BValue::string("a"))
      .set("to-tag", BValue::string("b")).set("sdp", BValue::string(sdp(6000, false)));
  r = call("a1", answer);
  ASSERT_EQ(r.getString("result"), "ok");
  auto ans = sdp::SdpSession::parse(*r.getString("sdp"));
  ASSERT_TRUE(ans);
  EXPECT_NE(ans->media[0].port, calleeSends);
  EXPECT_EQ(ans->connectionAddress(), "127.0.0.1");
}

TEST_F(NgTest, RtcpMuxIsKeptWhenBothSidesMuxAndDroppedTowardsOffererOtherwise) {
  BValue offer = cmd("offer");
  offer.set("call-id", BValue::string("m")).set("from-tag", BValue::string("a")).set("sdp", BValue::string(sdp(5000, true)));
  auto r = call("m1", offer);
  auto out = sdp::SdpSession::parse(*r.getString("sdp"));
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->media[0].rtcpMux());
  EXPECT_FALSE(out->media[0].rtcpPort());
  // The answerer does not mux: the offerer must not be told to.
  BValue answer = cmd("answer");
  answer.set("call-id", BValue::string("m")).set("from-tag", BValue::string("a"))
      .set("to-tag", BValue::string("b")).set("sdp", BValue::string(sdp(6000, false)));
  r = call("m2", answer);
  auto ans = sdp::SdpSession::parse(*r.getString("sdp"));
  ASSERT_TRUE(ans);
  EXPECT_FALSE(ans->media[0].rtcpMux());
  EXPECT_EQ(ans->media[0].rtcpPort(), ans->media[0].port + 1);
  EXPECT_EQ(relay_.counters().socketsOpen.get(), 4U) << "both legs now need RTCP sockets";
}

TEST_F(NgTest, DemuxFlagOffersNoMuxToAnswererButAcceptsItFromOfferer) {
  BValue offer = cmd("offer");
  BValue flags = BValue::list();
  flags.push(BValue::string("demux"));
  offer.set("call-id", BValue::string("d")).set("from-tag", BValue::string("a"))
      .set("sdp", BValue::string(sdp(5000, true))).set("rtcp-mux", std::move(flags));
  auto r = call("d1", offer);
  auto out = sdp::SdpSession::parse(*r.getString("sdp"));
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->media[0].rtcpMux());
  BValue answer = cmd("answer");
  answer.set("call-id", BValue::string("d")).set("from-tag", BValue::string("a"))
      .set("to-tag", BValue::string("b")).set("sdp", BValue::string(sdp(6000, false)));
  r = call("d2", answer);
  auto ans = sdp::SdpSession::parse(*r.getString("sdp"));
  ASSERT_TRUE(ans);
  EXPECT_TRUE(ans->media[0].rtcpMux());
  EXPECT_EQ(relay_.counters().socketsOpen.get(), 4U) << "RTCP sockets were opened with the non-mux offer";
}

TEST_F(NgTest, DeleteReturnsTotalsAndForgetsTheCall) {
  BValue offer = cmd("offer");
  offer.set("call-id", BValue::string("z")).set("from-tag", BValue::string("a")).set("sdp", BValue::string(sdp(5000, false)));
  ASSERT_EQ(call("z1", offer).getString("result"), "ok");
  BValue del = cmd("delete");
  del.set("call-id", BValue::string("z"));
  auto r = call("z2", del);
  ASSERT_EQ(r.getString("result"), "ok");
  ASSERT_NE(r.find("totals"), nullptr);
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.counters().socketsOpen.get(), 0U);
  auto again = call("z3", del);
  EXPECT_EQ(again.getString("result"), "ok") << "a second delete is not an error";
  EXPECT_EQ(again.getString("warning"), "Call-ID not found or tags didn't match");
}

BValue words(std::initializer_list<const char*> ws) {
  BValue l = BValue::list();
  for (const char* w : ws) l.push(BValue::string(w));
  return l;
}

BValue offerReq(std::string_view callId, std::string_view fromTag, const std::string& body) {
  BValue d = BValue::dict();
  d.set("command", BValue::string("offer")).set("call-id", BValue::string(std::string(callId)));
  d.set("from-tag", BValue::string(std::string(fromTag))).set("sdp", BValue::string(body));
  return d;
}

BValue answerReq(std::string_view callId, std::string_view fromTag, std::string_view toTag, const std::string& body) {
  BValue d = offerReq(callId, fromTag, body);
  d.set("command", BValue::string("answer")).set("to-tag", BValue::string(std::string(toTag)));
  return d;
}

BValue deleteReq(std::string_view callId, std::string_view fromTag = {}, std::string_view toTag = {}) {
  BValue d = BValue::dict();
  d.set("command", BValue::string("delete")).set("call-id", BValue::string(std::string(callId)));
  if (!fromTag.empty()) d.set("from-tag", BValue::string(std::string(fromTag)));
  if (!toTag.empty()) d.set("to-tag", BValue::string(std::string(toTag)));
  return d;
}

TEST_F(NgTest, DeleteOfAnUnknownCallIsOkWithAWarningAndFatalMakesItAnError) {
  auto r = call("u1", deleteReq("never-was", "a"));
  EXPECT_EQ(r.getString("result"), "ok");
  EXPECT_EQ(r.getString("warning"), "Call-ID not found or tags didn't match");
  BValue fatal = deleteReq("never-was", "a");
  fatal.set("flags", words({"fatal"}));
  r = call("u2", fatal);
  EXPECT_EQ(r.getString("result"), "error");
  EXPECT_EQ(r.getString("error-reason"), "Call-ID not found or tags didn't match");
  EXPECT_EQ(server_.counters().errors.get(), 1U);
}

// CANCEL: the 487 deletes with the caller's from-tag and the callee's fresh to-tag (no SDP ever
// came from it); the failure route's delete follows and only warns.
TEST_F(NgTest, CancelledCallIsDeletedByItsFirstDeleteAndTheSecondOnlyWarns) {
  ASSERT_EQ(call("c1", offerReq("cx", "a", sdp(5000, false))).getString("result"), "ok");
  auto first = call("c2", deleteReq("cx", "a", "b-487"));
  EXPECT_EQ(first.getString("result"), "ok");
  EXPECT_EQ(first.find("warning"), nullptr);
  EXPECT_NE(first.find("totals"), nullptr);
  EXPECT_EQ(anchor_.calls(), 0U);
  auto second = call("c3", deleteReq("cx", "a"));
  EXPECT_EQ(second.getString("result"), "ok");
  EXPECT_EQ(second.getString("warning"), "Call-ID not found or tags didn't match");
  EXPECT_EQ(server_.counters().errors.get(), 0U);
}

TEST_F(NgTest, DeletingOneForkByToTagKeepsTheCallForTheOthers) {
  ASSERT_EQ(call("f1", offerReq("fork", "a", sdp(5000, false))).getString("result"), "ok");
  ASSERT_EQ(call("f2", answerReq("fork", "a", "b1", sdp(6000, false))).getString("result"), "ok");
  ASSERT_EQ(call("f3", answerReq("fork", "a", "b2", sdp(6002, false))).getString("result"), "ok");
  auto r = call("f4", deleteReq("fork", "a", "b1"));
  EXPECT_EQ(r.getString("result"), "ok");
  EXPECT_EQ(r.find("warning"), nullptr);
  EXPECT_EQ(r.find("totals"), nullptr) << "only a branch went";
  EXPECT_EQ(anchor_.calls(), 1U);
  BValue q = cmd("query");
  q.set("call-id", BValue::string("fork"));
  auto rep = call("f5", q);
  ASSERT_EQ(rep.getString("result"), "ok");
  EXPECT_NE(rep.find("tags")->find("b2"), nullptr);
  EXPECT_EQ(rep.find("tags")->find("b1"), nullptr);
  // b1 again: no such branch any more.
  EXPECT_EQ(call("f6", deleteReq("fork", "a", "b1")).getString("warning"), "Call-ID not found or tags didn't match");
  EXPECT_EQ(anchor_.calls(), 1U);
  r = call("f7", deleteReq("fork", "a", "b2"));
  EXPECT_NE(r.find("totals"), nullptr) << "the last branch takes the call with it";
  EXPECT_EQ(anchor_.calls(), 0U);
}

TEST_F(NgTest, DeleteByViaBranchRemovesThatForkOnly) {
  BValue o1 = offerReq("via", "a", sdp(5000, false));
  o1.set("via-branch", BValue::string("z9hG4bK-1"));
  ASSERT_EQ(call("v1", o1).getString("result"), "ok");
  BValue o2 = offerReq("via", "a", sdp(5000, false));
  o2.set("via-branch", BValue::string("z9hG4bK-2"));
  ASSERT_EQ(call("v2", o2).getString("result"), "ok");
  BValue d = deleteReq("via", "a");
  d.set("via-branch", BValue::string("z9hG4bK-1"));
  auto r = call("v3", d);
  EXPECT_EQ(r.getString("result"), "ok");
  EXPECT_EQ(r.find("warning"), nullptr);
  EXPECT_EQ(anchor_.calls(), 1U);
  BValue a2 = answerReq("via", "a", "b2", sdp(6000, false));
  a2.set("via-branch", BValue::string("z9hG4bK-2"));
  ASSERT_EQ(call("v4", a2).getString("result"), "ok");
  BValue q = cmd("query");
  q.set("call-id", BValue::string("via"));
  auto rep = call("v5", q);
  EXPECT_EQ(rep.find("tags")->find("b2")->getString("via-branch"), "z9hG4bK-2");
  d.set("via-branch", BValue::string("z9hG4bK-2"));
  EXPECT_NE(call("v6", d).find("totals"), nullptr);
  EXPECT_EQ(anchor_.calls(), 0U);
}

// A relay with room for exactly one two-leg stream; `budget` caps its sockets.
relay::RelayOptions tinyRelay(size_t budget) {
  relay::RelayOptions o = relayOptions();
  o.portMax = static_cast<uint16_t>(o.portMin + 3);
  o.descriptorBudget = budget;
  return o;
}

TEST(NgCapacity, PortExhaustionIsRtpenginesRanOutOfPorts) {
  NgStack s(tinyRelay(1000));
  ASSERT_EQ(s.call("p1", offerReq("one", "a", sdp(5000, false))).getString("result"), "ok");
  auto r = s.call("p2", offerReq("two", "a", sdp(5002, false)));
  EXPECT_EQ(r.getString("result"), "error");
  EXPECT_EQ(r.getString("error-reason"), "Ran out of ports");
  EXPECT_EQ(s.anchor.calls(), 1U) << "the refused call leaves nothing behind";
}

TEST(NgCapacity, SessionLimitIsLoadLimitForClientsThatSupportIt) {
  NgStack s(tinyRelay(2));  // two sockets: not even one stream without rtcp-mux
  auto legacy = s.call("l1", offerReq("one", "a", sdp(5000, false)));
  EXPECT_EQ(legacy.getString("result"), "error");
  EXPECT_EQ(legacy.getString("error-reason"), "Parallel session limit reached");
  BValue modern = offerReq("two", "a", sdp(5000, false));
  modern.set("supports", words({"load limit"}));
  auto r = s.call("l2", modern);
  EXPECT_EQ(r.getString("result"), "load limit");
  EXPECT_EQ(r.getString("message"), "Parallel session limit reached");
  EXPECT_EQ(s.anchor.calls(), 0U);
}

TEST_F(NgTest, DrainingRefusesOffersForNewCallsAsASessionLimitAndKeepsKnownCalls) {
  ASSERT_EQ(call("d1", offerReq("old", "a", sdp(5000, false))).getString("result"), "ok");
  handler_.setDraining(true);
  auto legacy = call("d2", offerReq("new", "a", sdp(5002, false)));
  EXPECT_EQ(legacy.getString("result"), "error");
  EXPECT_EQ(legacy.getString("error-reason"), "Parallel session limit reached");
  BValue modern = offerReq("new", "a", sdp(5002, false));
  modern.set("supports", words({"load limit"}));
  EXPECT_EQ(call("d3", modern).getString("result"), "load limit");
  EXPECT_EQ(anchor_.calls(), 1U) << "nothing was allocated for the refused call";
  EXPECT_EQ(call("d4", offerReq("old", "a", sdp(5004, false))).getString("result"), "ok")
      << "a re-offer of a call already up goes on while draining";
  handler_.setDraining(false);
  EXPECT_EQ(call("d5", offerReq("new", "a", sdp(5002, false))).getString("result"), "ok");
  EXPECT_EQ(anchor_.calls(), 2U);
}

TEST_F(NgTest, RtppFlagsStringIsReadLikeTheDictionary) {
  BValue o = offerReq("rf", "a", sdp(5000, false));
  o.set("received-from", words({"IP4", "198.51.100.7"}));
  o.set("rtpp-flags", BValue::string("replace-origin  SIP-source-address ICE=remove rtcp-mux=[offer require] "
                                     "label=caller generate-mid no-rtcp-attribute"));
  auto r = call("r1", o);
  ASSERT_EQ(r.getString("result"), "ok") << encodeBencode(r);
  auto out = sdp::SdpSession::parse(*r.getString("sdp"));
  ASSERT_TRUE(out);
  EXPECT_NE(out->lines[1].value.find("127.0.0.1"), std::string::npos) << "replace-origin: " << out->lines[1].value;
  EXPECT_TRUE(out->media[0].rtcpMux()) << "rtcp-mux=[offer require]";
  EXPECT_EQ(out->media[0].attribute("mid"), "0") << "generate-mid";
  EXPECT_FALSE(out->media[0].hasAttribute("rtcp"));
  BValue q = cmd("query");
  q.set("call-id", BValue::string("rf"));
  auto rep = call("r2", q);
  const BValue* tagA = rep.find("tags")->find("a");
  ASSERT_NE(tagA, nullptr);
  EXPECT_EQ(tagA->getString("label"), "caller");
  const BValue& stream = tagA->find("medias")->asList().at(0).find("streams")->asList().at(0);
  EXPECT_EQ(stream.find("advertised endpoint")->getString("address"), "198.51.100.7")
      << "SIP-source-address: the signalling source, not the SDP's 198.18.0.9";
  EXPECT_EQ(stream.find("advertised endpoint")->getInt("port"), 5000);
  EXPECT_EQ(stream.find("endpoint")->getString("family"), "IPv4");
  EXPECT_EQ(handler_.unknownNamesLogged(), 0U);
}

TEST_F(NgTest, TrustAddressAndMediaAddressChooseTheAdvertisedAddress) {
  BValue o = offerReq("ta", "a", sdp(5000, false));
  o.set("received-from", words({"IP4", "198.51.100.7"}));
  o.set("flags", words({"trust-address"}));
  ASSERT_EQ(call("t1", o).getString("result"), "ok");
  BValue a = answerReq("ta", "a", "b", sdp(6000, false));
  a.set("media-address", BValue::string("203.0.113.5"));
  a.set("received-from", words({"IP4", "198.51.100.8"}));
  a.set("flags", words({"SIP-source-address"}));
  ASSERT_EQ(call("t2", a).getString("result"), "ok");
  auto info = anchor_.query("ta");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->report.streams[0][0].advertised, *common::SockAddr::fromIp("198.18.0.9", 5000));
  EXPECT_EQ(info->report.streams[0][1].advertised, *common::SockAddr::fromIp("203.0.113.5", 6000));
}

TEST_F(NgTest, UnknownFlagsAreLoggedOncePerNameAndIgnored) {
  BValue o = offerReq("uf", "a", sdp(5000, false));
  o.set("flags", words({"frobnicate", "trust-address"}));
  ASSERT_EQ(call("k1", o).getString("result"), "ok");
  EXPECT_EQ(handler_.unknownNamesLogged(), 1U);
  BValue again = offerReq("uf", "a", sdp(5000, false));
  again.set("flags", words({"frobnicate"}));
  again.set("rtpp-flags", BValue::string("frobnicate wibble=1"));
  ASSERT_EQ(call("k2", again).getString("result"), "ok");
  EXPECT_EQ(handler_.unknownNamesLogged(), 2U) << "frobnicate once; the unknown key wibble once";
}

TEST_F(NgTest, RecordCallIsAcceptedAndReportedAsNotSupported) {
  BValue o = offerReq("rc", "a", sdp(5000, false));
  o.set("flags", words({"record-call"}));
  auto r = call("rc1", o);
  EXPECT_EQ(r.getString("result"), "ok");
  EXPECT_EQ(r.getString("warning"), "Call recording is not supported");
  EXPECT_EQ(handler_.unknownNamesLogged(), 0U);
}

TEST_F(NgTest, AddressFamilyOtherThanTheRelaysIsRefused) {
  BValue o = offerReq("af", "a", sdp(5000, false));
  o.set("address-family", BValue::string("IP6"));
  auto r = call("af1", o);
  EXPECT_EQ(r.getString("result"), "error");
  EXPECT_EQ(anchor_.calls(), 0U);
  o.set("address-family", BValue::string("IP4"));
  EXPECT_EQ(call("af2", o).getString("result"), "ok");
}

// query waits for the relay worker without blocking: other requests are served meanwhile, and a
// retransmission of the pending cookie neither runs the command again nor gets a second reply.
TEST_F(NgTest, QueryAnswersAsynchronouslyAndRetransmissionsDoNotRunItTwice) {
  ASSERT_EQ(call("q0", offerReq("aq", "a", sdp(5000, false))).getString("result"), "ok");
  BValue q = cmd("query");
  q.set("call-id", BValue::string("aq"));
  const std::string wire = "q1 " + encodeBencode(q);
  EXPECT_EQ(server_.process(wire), "") << "deferred until the worker answers";
  EXPECT_EQ(server_.pending(), 1U);
  EXPECT_NE(server_.process("p1 " + encodeBencode(cmd("ping"))), "") << "served while the query waits";
  EXPECT_EQ(server_.process(wire), "") << "retransmission of a pending command";
  EXPECT_EQ(server_.counters().retransmissions.get(), 1U);
  EXPECT_EQ(relay_.pendingReplies(), 1U) << "one worker request, not two";
  for (int i = 0; i < 500 && server_.pending() > 0; ++i) {
    pollfd p{relay_.replyFd(), POLLIN, 0};
    ::poll(&p, 1, 10);
    relay_.drainReplies();
  }
  ASSERT_EQ(stack_.sent.size(), 1U);
  EXPECT_EQ(stack_.sent[0].rfind("q1 ", 0), 0U);
  EXPECT_EQ(server_.process(wire), stack_.sent[0]) << "later retransmissions get the cached reply";
}

// What Kamailio's $rtpstat and mos_* read: totals, per-tag streams with SSRC, and the SSRC
// dictionary with lowest/highest/average MOS in rtpengine's units.
TEST_F(NgTest, QueryAndDeleteCarryPerSsrcMosThatKamailioReads) {
  relay::test::Peer a, b;
  auto offer = call("m1", offerReq("mos", "a", sdp(a.addr().port(), false, "127.0.0.1")));
  auto towardB = sdp::SdpSession::parse(*offer.getString("sdp"));
  ASSERT_TRUE(towardB);
  auto ans = call("m2", answerReq("mos", "a", "b", sdp(b.addr().port(), false, "127.0.0.1")));
  auto towardA = sdp::SdpSession::parse(*ans.getString("sdp"));
  ASSERT_TRUE(towardA);
  for (uint16_t seq = 1; seq <= 10; ++seq) {
    a.sendRtp(towardA->media[0].port, seq, 0xA1A1);
    ASSERT_GT(b.receive(1000), 0);
  }
  BValue q = cmd("query");
  q.set("call-id", BValue::string("mos"));
  auto rep = call("m3", q);
  const BValue& stream = rep.find("tags")->find("a")->find("medias")->asList().at(0).find("streams")->asList().at(0);
  EXPECT_EQ(stream.getInt("SSRC"), 0xA1A1);
  EXPECT_EQ(stream.getInt("local port"), towardA->media[0].port);
  const BValue* stats = stream.find("stats");
  EXPECT_EQ(stats->getInt("packets"), 10);
  // Seq 1 is RFC 3550 A.1's probation packet: 2..10 form one loss-free gap of 9 x 20 ms.
  EXPECT_EQ(stats->getInt("burst density permille"), 0);
  EXPECT_EQ(stats->getInt("gap density permille"), 0);
  EXPECT_EQ(stats->getInt("burst ms"), 0);
  EXPECT_EQ(stats->getInt("gap ms"), 180);
  EXPECT_EQ(stats->find("xr"), nullptr) << "A sent no RTCP XR";
  const BValue* entry = rep.find("SSRC")->find(std::to_string(0xA1A1));
  ASSERT_NE(entry, nullptr) << encodeBencode(rep);
  // Lossless, jitter far below 45 ms, no RTT: R = 93.2, MOS 4.41 -> 44.
  EXPECT_EQ(entry->find("average MOS")->getInt("MOS"), 44);
  EXPECT_EQ(entry->find("average MOS")->getInt("samples"), 1);
  EXPECT_EQ(entry->find("average MOS")->getInt("packet loss"), 0);
  EXPECT_EQ(entry->find("lowest MOS")->getInt("MOS"), 44);
  EXPECT_EQ(entry->find("highest MOS")->getInt("round-trip time"), 0);
  EXPECT_GT(entry->find("lowest MOS")->getInt("reported at").value_or(0), 0);
  EXPECT_EQ(rep.find("SSRC")->asDict().size(), 1U) << "B sent nothing: no entry for it";
  auto del = call("m4", deleteReq("mos", "a"));
  EXPECT_EQ(del.find("totals")->find("RTP")->getInt("packets"), 10);
  EXPECT_EQ(del.find("SSRC")->find(std::to_string(0xA1A1))->find("lowest MOS")->getInt("MOS"), 44);
}

// RFC 3611 in the per-stream stats: the relay's burst/gap loss of what it received from each
// party, and the party's own RTCP XR VoIP Metrics under "xr" when it sent them.
TEST(NgCallReport, StreamStatsCarryBurstGapLossAndXrVoipMetrics) {
  anchor::CallInfo ci;
  ci.callId = "xr";
  ci.caller.tag = "a";
  ci.callee.tag = "b";
  std::array<relay::LegReport, 2> legs{};
  legs[0].burstGap = media::BurstGapMetrics{.burstDensity = 0.4, .gapDensity = 0.015, .burstMs = 220, .gapMs = 1000,
                                            .bursts = 1, .gaps = 2};
  legs[1].quality.xr = media::XrVoipMetrics{.ssrc = 0xA1A1, .lossRate = 13, .discardRate = 3, .roundTripDelayMs = 180,
                                            .endSystemDelayMs = 60, .rFactor = 78, .mosLq = 39, .mosCq = 37};
  ci.report.streams.push_back(legs);
  const BValue r = callReport(ci);
  const auto stats = [&](const char* tag) {
    return r.find("tags")->find(tag)->find("medias")->asList().at(0).find("streams")->asList().at(0).find("stats");
  };
  const BValue* a = stats("a");
  EXPECT_EQ(a->getInt("burst density permille"), 400);
  EXPECT_EQ(a->getInt("gap density permille"), 15);
  EXPECT_EQ(a->getInt("burst ms"), 220);
  EXPECT_EQ(a->getInt("gap ms"), 1000);
  EXPECT_EQ(a->find("xr"), nullptr);
  const BValue* xr = stats("b")->find("xr");
  ASSERT_NE(xr, nullptr) << encodeBencode(r);
  EXPECT_EQ(xr->getInt("SSRC"), 0xA1A1);
  EXPECT_EQ(xr->getInt("MOS-LQ"), 39);
  EXPECT_EQ(xr->getInt("MOS-CQ"), 37);
  EXPECT_EQ(xr->getInt("R factor"), 78);
  EXPECT_EQ(xr->find("ext R factor"), nullptr) << "127: unavailable";
  EXPECT_EQ(xr->getInt("loss rate permille"), 51);     // 13/256
  EXPECT_EQ(xr->getInt("discard rate permille"), 12);  // 3/256
  EXPECT_EQ(xr->getInt("round trip delay ms"), 180);
  EXPECT_EQ(xr->getInt("end system delay ms"), 60);
}

}  // namespace
}  // namespace rdv::ng

namespace rdv::ng {
namespace {

// An NG offer/answer with a TCP/MSRP m-line (RFC 4975) anchors it on a TCP relay pair counted as
// "ng", whose caller side only accepts the received-from address; delete closes the pair.
TEST_F(NgTest, TcpMsrpLineIsAnchoredOnATcpRelayPairThatDeleteCloses) {
  relay::TcpRelayOptions to;
  to.portMin = relay::test::freePortWindow(16);
  to.portMax = static_cast<uint16_t>(to.portMin + 15);
  to.maxPairs = 4;
  relay::TcpRelay tcp(to);
  anchor_.setTcpRelay(&tcp, true);
  const std::string msrp =
      "m=message 2855 TCP/MSRP *\r\na=setup:active\r\na=path:msrp://198.18.0.9:2855/s1;tcp\r\n";
  BValue o = offerReq("t", "a", sdp(5000, false) + msrp);
  o.set("received-from", words({"IP4", "198.18.0.99"}));
  auto r = call("t1", o);
  ASSERT_EQ(r.getString("result"), "ok") << encodeBencode(r);
  auto out = sdp::SdpSession::parse(*r.getString("sdp"));
  ASSERT_TRUE(out);
  ASSERT_EQ(out->media.size(), 2U);
  const auto ids = anchor_.tcpPairs("t");
  ASSERT_EQ(ids.size(), 1U);
  auto st = tcp.find(ids[0]);
  ASSERT_TRUE(st);
  EXPECT_EQ(out->media[1].port, st->local[1].port());
  EXPECT_EQ(out->media[1].attribute("setup"), "passive");
  EXPECT_EQ(out->media[1].attribute("path"), "msrp://127.0.0.1:" + std::to_string(st->local[1].port()) + "/s1;tcp");
  ASSERT_TRUE(st->allowed[0].has_value());
  EXPECT_EQ(st->allowed[0]->ip(), "198.18.0.99");
  EXPECT_EQ(tcp.createdBy()[static_cast<size_t>(relay::TcpPairOrigin::Ng)].get(), 1U);

  BValue del = cmd("delete");
  del.set("call-id", BValue::string("t"));
  ASSERT_EQ(call("t2", del).getString("result"), "ok");
  EXPECT_EQ(tcp.find(ids[0]), nullptr);
  anchor_.setTcpRelay(nullptr, true);
}

TEST_F(NgTest, TransportProtocolBridgesAnSrtpOffererToAPlainAnswerer) {
  const std::string key = "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
  std::string savp = sdp(5000, false);
  savp.replace(savp.find("RTP/AVP"), 7, "RTP/SAVP");
  savp += "a=crypto:" + key + "\r\n";
  BValue offer = cmd("offer");
  offer.set("call-id", BValue::string("s")).set("from-tag", BValue::string("a")).set("sdp", BValue::string(savp));
  offer.set("transport-protocol", BValue::string("RTP/AVP"));
  auto r = call("o1", offer);
  ASSERT_EQ(r.getString("result"), "ok") << (r.getString("error-reason") ? *r.getString("error-reason") : "");
  auto out = sdp::SdpSession::parse(*r.getString("sdp"));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->media[0].proto, "RTP/AVP");
  EXPECT_FALSE(out->media[0].hasAttribute("crypto"));

  BValue answer = cmd("answer");
  answer.set("call-id", BValue::string("s")).set("from-tag", BValue::string("a"))
      .set("to-tag", BValue::string("b")).set("sdp", BValue::string(sdp(6000, false)));
  r = call("a1", answer);
  ASSERT_EQ(r.getString("result"), "ok");
  auto ans = sdp::SdpSession::parse(*r.getString("sdp"));
  ASSERT_TRUE(ans);
  EXPECT_EQ(ans->media[0].proto, "RTP/SAVP");
  auto ours = ans->media[0].attribute("crypto");
  ASSERT_TRUE(ours.has_value());
  EXPECT_TRUE(ours->starts_with("1 AES_CM_128_HMAC_SHA1_80 inline:")) << *ours;
  EXPECT_NE(*ours, key);
  const relay::LegParams* a = anchor_.legParams("s", 0, 0);
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->crypto.terminates());
  EXPECT_FALSE(anchor_.legParams("s", 0, 1)->crypto.terminates());
}

}  // namespace
}  // namespace rdv::ng
