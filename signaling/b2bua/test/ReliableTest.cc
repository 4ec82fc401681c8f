// RFC 3262 reliable provisionals towards the caller as pure state: RSeq, T1-doubling
// retransmission for 64*T1, PRACK matching.

#include "signaling/b2bua/Reliable.h"

#include <gtest/gtest.h>

#include <vector>

namespace rdv::b2bua::test {
namespace {

TEST(ReliableTest, RAckAndRSeqParse) {
  auto r = parseRAck("1 314 INVITE");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rseq, 1U);
  EXPECT_EQ(r->cseq, 314U);
  EXPECT_EQ(r->method, "INVITE");
  EXPECT_FALSE(parseRAck("1 INVITE").has_value());
  EXPECT_FALSE(parseRAck("1 2 INVITE extra").has_value());
  EXPECT_FALSE(parseRAck("0 2 INVITE").has_value()) << "response-num starts at 1";
  EXPECT_FALSE(parseRAck("2147483648 2 INVITE").has_value()) << "response-num below 2^31";
  EXPECT_FALSE(parseRAck("1 2147483648 INVITE").has_value()) << "CSeq-num below 2^31";
  EXPECT_FALSE(parseRAck("1 2 INV\x01TE").has_value()) << "Method is a token";
  EXPECT_EQ(parseRSeq(" 988789 "), 988789U);
  EXPECT_FALSE(parseRSeq("0").has_value());
  EXPECT_FALSE(parseRSeq("2147483648").has_value()) << "above 2**31 - 1";
}

TEST(ReliableTest, RetransmitsAtT1DoublingUntil64T1ThenGivesUp) {
  ReliableProvisional r(500);
  EXPECT_EQ(r.start({183, "Session Progress", "sdp"}, 1000), 1U);
  std::vector<uint64_t> at;
  while (r.outstanding()) {
    const uint64_t t = r.deadlineMs();
    if (r.onTimer(t) == ReliableProvisional::Due::Retransmit) at.push_back(t - 1000);
  }
  EXPECT_EQ(at, (std::vector<uint64_t>{500, 1500, 3500, 7500, 15'500, 31'500}));
  EXPECT_EQ(r.deadlineMs(), UINT64_MAX);
}

TEST(ReliableTest, GiveUpComesAt64T1) {
  ReliableProvisional r(500);
  r.start({180, "Ringing", ""}, 0);
  ReliableProvisional::Due last = ReliableProvisional::Due::Nothing;
  uint64_t when = 0;
  while (r.outstanding()) {
    when = r.deadlineMs();
    last = r.onTimer(when);
  }
  EXPECT_EQ(last, ReliableProvisional::Due::GiveUp);
  EXPECT_EQ(when, 32'000U);
}

TEST(ReliableTest, MatchingPrackStopsRetransmissionOthersDoNot) {
  ReliableProvisional r(500);
  const uint32_t rseq = r.start({180, "Ringing", ""}, 0);
  EXPECT_EQ(r.onTimer(499), ReliableProvisional::Due::Nothing);
  EXPECT_FALSE(r.prack({rseq + 1, 7, "INVITE"}, 7)) << "wrong RSeq";
  EXPECT_FALSE(r.prack({rseq, 8, "INVITE"}, 7)) << "wrong CSeq";
  EXPECT_FALSE(r.prack({rseq, 7, "UPDATE"}, 7)) << "wrong method";
  EXPECT_TRUE(r.prack({rseq, 7, "INVITE"}, 7));
  EXPECT_FALSE(r.outstanding());
  EXPECT_FALSE(r.prack({rseq, 7, "INVITE"}, 7)) << "already acknowledged";
  EXPECT_EQ(r.start({183, "Session Progress", ""}, 100), rseq + 1) << "the next one counts on";
}

}  // namespace
}  // namespace rdv::b2bua::test
