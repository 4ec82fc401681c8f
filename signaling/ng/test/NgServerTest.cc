// NG protocol over the real relay control (sockets on loopback, no media): framing, cookie
// cache, error replies, and the SDP rewriting of offer/answer including rtcp-mux negotiation.

#include "signaling/ng/NgServer.h"

#include <gtest/gtest.h>

#include "relay/RelayControl.h"
#include "relay/test/FreePorts.h"
#include "signaling/sdp/Sdp.h"

namespace rdv::ng {
namespace {

relay::RelayOptions relayOptions() {
  relay::RelayOptions o;
  o.portMin = relay::test::freePortWindow(100);
  o.portMax = static_cast<uint16_t>(o.portMin + 99);
  o.workers = 1;
  return o;
}

class NgTest : public ::testing::Test {
 protected:
  relay::RelayOptions opts_ = relayOptions();
  relay::RelayControl relay_{opts_};
  common::ManualClock clock_;
  anchor::MediaAnchor anchor_{relay_, "127.0.0.1", clock_};
  NgHandler handler_{anchor_};
  NgServer server_{handler_, std::chrono::seconds(30), clock_};

  BValue call(std::string_view cookie, const BValue& req) {
    std::string out = server_.process(std::string(cookie) + " " + encodeBencode(req));
    EXPECT_EQ(out.substr(0, cookie.size() + 1), std::string(cookie) + " ");
    auto v = parseBencode(std::string_view(out).substr(cookie.size() + 1));
    EXPECT_TRUE(v.has_value());
    return v ? *v : BValue();
  }
  static BValue cmd(std::string_view name) {
    BValue d = BValue::dict();
    d.set("command", BValue::string(std::string(name)));
    return d;
  }
};

std::string sdp(int port, bool mux) {
  std::string s = "v=0\r\no=- 1 1 IN IP4 198.18.0.9\r\ns=-\r\nc=IN IP4 198.18.0.9\r\nt=0 0\r\nm=audio " +
                  std::to_string(port) + " RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n";
  if (mux) s += "a=rtcp-mux\r\n";
  return s + "a=ice-ufrag:abcd\r\na=candidate:1 1 UDP 1 198.18.0.9 " + std::to_string(port) + " typ host\r\n";
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
  EXPECT_EQ(call("z3", del).getString("result"), "error");
}

}  // namespace
}  // namespace rdv::ng
