#include "signaling/ng/Bencode.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace rdv::ng {
namespace {

// Prefixes `s` with its bencode length.
std::string bstr(std::string_view s) { return std::to_string(s.size()) + ":" + std::string(s); }

BValue parseOk(std::string_view input) {
  auto r = parseBencode(input);
  EXPECT_TRUE(r.has_value()) << "input: " << input << " error: " << (r ? "" : r.error().reason);
  return r ? *r : BValue();
}

BencodeError parseErr(std::string_view input, const BencodeLimits& limits = {}) {
  auto r = parseBencode(input, limits);
  EXPECT_FALSE(r.has_value()) << "input unexpectedly parsed: " << input;
  return r ? BencodeError{0, ""} : r.error();
}

TEST(BencodeTest, ParsesIntegers) {
  EXPECT_EQ(parseOk("i0e").asInt(), 0);
  EXPECT_EQ(parseOk("i42e").asInt(), 42);
  EXPECT_EQ(parseOk("i-17e").asInt(), -17);
}

TEST(BencodeTest, ParsesInt64Extremes) {
  EXPECT_EQ(parseOk("i9223372036854775807e").asInt(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(parseOk("i-9223372036854775808e").asInt(), std::numeric_limits<int64_t>::min());
}

TEST(BencodeTest, RejectsIntegerOutsideInt64) {
  EXPECT_EQ(parseErr("i9223372036854775808e").reason, "integer does not fit int64");
  EXPECT_EQ(parseErr("i-9223372036854775809e").reason, "integer does not fit int64");
  EXPECT_EQ(parseErr("i99999999999999999999999999e").reason, "integer does not fit int64");
}

TEST(BencodeTest, RejectsLeadingZeroInteger) {
  const auto e = parseErr("i03e");
  EXPECT_EQ(e.reason, "integer has leading zero");
  EXPECT_EQ(e.offset, 1U);
  parseErr("i-03e");
  parseErr("i00e");
}

TEST(BencodeTest, RejectsNegativeZero) { EXPECT_EQ(parseErr("i-0e").reason, "negative zero integer"); }

TEST(BencodeTest, RejectsIntegerWithoutDigitsOrTerminator) {
  parseErr("ie");
  parseErr("i-e");
  parseErr("i12");
  parseErr("i1x2e");
  parseErr("i+1e");
}

TEST(BencodeTest, ParsesByteStringsWithArbitraryBytes) {
  const std::string raw("a\0e:d\xff", 6);
  EXPECT_EQ(parseOk("6:" + raw).asString(), raw);
  EXPECT_EQ(parseOk("0:").asString(), "");
}

TEST(BencodeTest, RejectsStringLengthBeyondInput) {
  const auto e = parseErr("5:abc");
  EXPECT_EQ(e.reason, "string length exceeds input");
  EXPECT_EQ(e.offset, 0U);
}

TEST(BencodeTest, RejectsHugeStringLengthWithoutOverflow) {
  EXPECT_EQ(parseErr("18446744073709551617:x").reason, "string length exceeds input");
  EXPECT_EQ(parseErr("99999999999999999999999999999999:x").reason, "string length exceeds input");
}

TEST(BencodeTest, RejectsLeadingZeroStringLength) {
  EXPECT_EQ(parseErr("03:abc").reason, "string length has leading zero");
}

TEST(BencodeTest, RejectsStringLengthWithoutColon) {
  parseErr("3");
  parseErr("3abc");
}

TEST(BencodeTest, RejectsTrailingBytes) {
  const auto e = parseErr("i1ex");
  EXPECT_EQ(e.reason, "trailing data after value");
  EXPECT_EQ(e.offset, 3U);
  parseErr("dede");
}

TEST(BencodeTest, RejectsEmptyInputAndUnknownType) {
  EXPECT_EQ(parseErr("").reason, "empty input");
  EXPECT_EQ(parseErr("x").reason, "unexpected byte");
  parseErr("e");
}

TEST(BencodeTest, RejectsUnterminatedContainers) {
  EXPECT_EQ(parseErr("li1e").reason, "unterminated list");
  EXPECT_EQ(parseErr("d1:ai1e").reason, "unterminated dictionary");
  EXPECT_EQ(parseErr("d1:ae").reason, "dictionary key without value");
  parseErr("d1:a");
}

TEST(BencodeTest, RejectsNonStringDictionaryKey) {
  const auto e = parseErr("di1ei2ee");
  EXPECT_EQ(e.reason, "dictionary key must be a string");
  EXPECT_EQ(e.offset, 1U);
  parseErr("dlei1ee");
}

TEST(BencodeTest, RejectsDuplicateDictionaryKey) {
  const auto e = parseErr("d1:ai1e1:bi2e1:ai3ee");
  EXPECT_EQ(e.reason, "duplicate dictionary key");
  EXPECT_EQ(e.offset, 0U);
}

TEST(BencodeTest, KeepsDictionaryKeysInInsertionOrder) {
  const std::string input = "d7:command4:ping1:ai1e1:Ble0:0:e";
  const BValue v = parseOk(input);
  ASSERT_TRUE(v.isDict());
  ASSERT_EQ(v.asDict().size(), 4U);
  EXPECT_EQ(v.asDict()[0].first, "command");
  EXPECT_EQ(v.asDict()[1].first, "a");
  EXPECT_EQ(v.asDict()[3].first, "");
  EXPECT_EQ(encodeBencode(v), input);
}

TEST(BencodeTest, RejectsNestingDeeperThanLimit) {
  const std::string ok = std::string(32, 'l') + std::string(32, 'e');
  EXPECT_TRUE(parseBencode(ok).has_value());
  const std::string deep = std::string(33, 'l') + std::string(33, 'e');
  const auto e = parseErr(deep);
  EXPECT_EQ(e.reason, "nesting deeper than limit");
  EXPECT_EQ(e.offset, 32U);
  EXPECT_EQ(parseErr("d1:ad1:ad1:ad1:ai1eeeee", BencodeLimits{3, 100}).reason, "nesting deeper than limit");
}

TEST(BencodeTest, SurvivesHostileNestingWithoutDeepRecursion) {
  // A hundred thousand open lists must fail fast on the depth limit, not exhaust the stack.
  const std::string hostile(100'000, 'l');
  EXPECT_EQ(parseErr(hostile).reason, "nesting deeper than limit");
  // With the depth limit lifted the parser itself still runs in constant stack.
  EXPECT_EQ(parseErr(hostile, BencodeLimits{std::numeric_limits<size_t>::max(), 200'000}).reason,
            "unterminated list");
}

TEST(BencodeTest, RejectsMoreElementsThanLimit) {
  EXPECT_TRUE(parseBencode("li1ei2ei3ee", BencodeLimits{32, 4}).has_value());
  EXPECT_EQ(parseErr("li1ei2ei3ei4ee", BencodeLimits{32, 4}).reason, "too many elements");
}

TEST(BencodeTest, RoundTripsKamailioOffer) {
  const std::string sdp =
      "v=0\r\no=- 1545997027 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
      "m=audio 16000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
  const std::string offer = "d" + bstr("command") + bstr("offer") + bstr("call-id") +
                            bstr("a84b4c76e66710@pc33.example.com") + bstr("from-tag") + bstr("1928301774") +
                            bstr("via-branch") + bstr("z9hG4bK776asdhds.0") + bstr("received-from") + "l" +
                            bstr("IP4") + bstr("198.51.100.7") + "e" + bstr("flags") + "l" +
                            bstr("trust-address") + "e" + bstr("replace") + "l" + bstr("origin") +
                            bstr("session-connection") + "e" + bstr("ICE") + bstr("remove") + bstr("rtcp-mux") +
                            "l" + bstr("demux") + "e" + bstr("sdp") + bstr(sdp) + "e";
  const BValue v = parseOk(offer);
  EXPECT_EQ(v.getString("command"), "offer");
  EXPECT_EQ(v.getString("call-id"), "a84b4c76e66710@pc33.example.com");
  EXPECT_EQ(v.getString("sdp"), sdp);
  EXPECT_EQ(v.getString("ICE"), "remove");
  const BValue* replace = v.find("replace");
  ASSERT_NE(replace, nullptr);
  ASSERT_TRUE(replace->isList());
  ASSERT_EQ(replace->asList().size(), 2U);
  EXPECT_EQ(replace->asList()[1].asString(), "session-connection");
  EXPECT_EQ(encodeBencode(v), offer);
}

TEST(BencodeTest, BuildsNgReplyInInsertionOrder) {
  BValue reply;
  reply.set("result", BValue::string("ok")).set("sdp", BValue::string("v=0\r\n"));
  BValue warnings = BValue::list();
  warnings.push(BValue::string("w"));
  warnings.push(BValue::integer(-3));
  reply.set("warnings", std::move(warnings));
  EXPECT_EQ(encodeBencode(reply), "d6:result2:ok3:sdp5:v=0\r\n8:warningsl1:wi-3eee");
}

TEST(BencodeTest, SetReplacesExistingKeyInPlace) {
  BValue d;
  d.set("a", BValue::integer(1)).set("b", BValue::integer(2)).set("a", BValue::string("x"));
  EXPECT_EQ(encodeBencode(d), "d1:a1:x1:bi2ee");
}

TEST(BencodeTest, LookupsReturnNothingForWrongKinds) {
  const BValue d = parseOk("d1:ai5e1:s2:hie");
  EXPECT_EQ(d.find("missing"), nullptr);
  EXPECT_EQ(d.getString("a"), std::nullopt);
  EXPECT_EQ(d.getInt("a"), 5);
  EXPECT_EQ(d.getInt("s"), std::nullopt);
  const BValue list = parseOk("l1:ae");
  EXPECT_EQ(list.find("a"), nullptr);
  EXPECT_EQ(list.getString("a"), std::nullopt);
}

TEST(BencodeTest, DefaultValueIsEmptyDictionary) {
  const BValue v;
  EXPECT_TRUE(v.isDict());
  EXPECT_TRUE(v.asDict().empty());
  EXPECT_EQ(encodeBencode(v), "de");
}

TEST(BencodeTest, EncodesFactoryValuesCanonically) {
  EXPECT_EQ(encodeBencode(BValue::integer(std::numeric_limits<int64_t>::min())), "i-9223372036854775808e");
  EXPECT_EQ(encodeBencode(BValue::string("")), "0:");
  EXPECT_EQ(encodeBencode(BValue::list({BValue::list(), BValue::dict()})), "lledee");
  EXPECT_EQ(encodeBencode(BValue::dict({{"k", BValue::list({BValue::integer(0)})}})), "d1:kli0eee");
}

TEST(BencodeTest, ParseOfEncodeIsIdentity) {
  BValue v = BValue::dict({{"n", BValue::integer(-1)},
                           {"l", BValue::list({BValue::string(std::string("\0\1", 2)), BValue::dict()})}});
  auto back = parseBencode(encodeBencode(v));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, v);
}

}  // namespace
}  // namespace rdv::ng
