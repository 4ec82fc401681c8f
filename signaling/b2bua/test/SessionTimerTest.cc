// RFC 4028 header values and instants, and which extension headers cross between the legs.

#include "signaling/b2bua/SessionTimer.h"

#include <gtest/gtest.h>

#include "signaling/b2bua/CallDeadlines.h"
#include "signaling/sip/test/FakeSipSender.h"

namespace rdv::b2bua::test {
namespace {

sip::SipMessage requestWith(std::string_view headersLf) {
  return sip::test::parseSip(std::string("INVITE sip:bob@127.0.0.1 SIP/2.0\n"
                                         "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-1\n"
                                         "From: <sip:alice@127.0.0.1>;tag=a1\nTo: <sip:bob@127.0.0.1>\n"
                                         "Call-ID: c1\nCSeq: 1 INVITE\n") +
                             std::string(headersLf) + "Content-Length: 0\n\n");
}

TEST(SessionTimerTest, SessionExpiresParsesSecondsAndRefresher) {
  auto se = parseSessionExpires("1800;refresher=uas");
  ASSERT_TRUE(se.has_value());
  EXPECT_EQ(se->seconds, 1800U);
  EXPECT_EQ(se->refresher, SessionExpires::Refresher::Uas);
  EXPECT_EQ(parseSessionExpires(" 90 ; refresher = UAC ")->refresher, SessionExpires::Refresher::Uac);
  EXPECT_EQ(parseSessionExpires("90")->refresher, SessionExpires::Refresher::Unspecified);
  EXPECT_FALSE(parseSessionExpires("").has_value());
  EXPECT_FALSE(parseSessionExpires("0").has_value());
  EXPECT_FALSE(parseSessionExpires("ninety").has_value());
  EXPECT_EQ(parseMinSe("120"), 120U);
  EXPECT_FALSE(parseMinSe("x").has_value());
}

TEST(SessionTimerTest, SessionEndsAtExpiryMinusTheSmallerOf32SecondsAndAThird) {
  EXPECT_EQ(sessionEndMs(1000, 90), 1000U + 60'000U) << "90 - min(32, 30)";
  EXPECT_EQ(sessionEndMs(0, 1800), 1'768'000U) << "1800 - min(32, 600)";
  EXPECT_EQ(sessionEndMs(0, 96), 64'000U) << "96 - min(32, 32)";
}

TEST(SessionTimerTest, OnlyTimerAnd100relCrossInSupportedAndRequire) {
  auto req = requestWith(
      "Session-Expires: 90;refresher=uac\nMin-SE: 90\nSupported: replaces, timer, 100rel, path\n"
      "Require: 100rel, foo\n");
  EXPECT_EQ(passedHeaders(req), (std::vector<std::string>{"Session-Expires: 90;refresher=uac", "Min-SE: 90",
                                                          "Supported: timer, 100rel", "Require: 100rel"}));
  EXPECT_EQ(passedHeaders(req, false), (std::vector<std::string>{"Session-Expires: 90;refresher=uac",
                                                                 "Min-SE: 90", "Supported: timer, 100rel"}))
      << "Require without 100rel left empty is dropped";
  EXPECT_TRUE(passedHeaders(requestWith("Supported: replaces\n")).empty());
  EXPECT_TRUE(hasOptionTag(req, "Supported", "TIMER"));
  EXPECT_TRUE(hasOptionTag(requestWith("k: timer\n"), "Supported", "timer")) << "compact form";
  EXPECT_FALSE(hasOptionTag(req, "Require", "timer"));
}

TEST(CallDeadlinesTest, DueCallsComeOutEarliestFirstAndMovedDeadlinesReplaceOldOnes) {
  CallDeadlines d;
  EXPECT_EQ(d.next(), UINT64_MAX);
  d.set(1, 500);
  d.set(2, 300);
  d.set(1, 900);  // moved
  d.set(3, 300);
  EXPECT_EQ(d.next(), 300U);
  EXPECT_EQ(d.takeDue(299), std::vector<uint64_t>{});
  EXPECT_EQ(d.takeDue(500), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(d.at(1), 900U);
  d.erase(1);
  EXPECT_EQ(d.next(), UINT64_MAX);
  EXPECT_TRUE(d.takeDue(10'000).empty());
}

}  // namespace
}  // namespace rdv::b2bua::test
