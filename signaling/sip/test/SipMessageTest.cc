// SipMessage::parse: an RFC 4475-style torture table pinning acceptance or the exact status and
// reason phrase that goes on the wire, then what the accepted messages parse to.

#include "signaling/sip/SipMessage.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipUri.h"
#include "signaling/sip/Via.h"
#include "signaling/sip/test/SipTestMessages.h"

namespace rdv::sip {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared test messages

struct TortureCase {
  std::string name;
  std::string message;
  int status;  // 0: must parse
  std::string reason;
};

class CaseList {
 public:
  void ok(std::string name, std::string message) { cases_.push_back({std::move(name), std::move(message), 0, ""}); }
  void bad(std::string name, std::string message, int status, std::string reason) {
    cases_.push_back({std::move(name), std::move(message), status, std::move(reason)});
  }
  std::vector<TortureCase> take() { return std::move(cases_); }

 private:
  std::vector<TortureCase> cases_;
};

// Messages every parser must accept.
void addValidCases(CaseList& c) {
  // Valid.
  c.ok("ShortTortuousInvite", kTortuousInvite);
  c.ok("WideRangeOfValidCharacters", kWideCharacters);
  c.ok("CompactHeaders", kCompact);
  c.ok("MultipleHeadersPerLine", kMultiplePerLine);
  c.ok("EscapedUris", kEscapedUris);
  c.ok("UnknownMethodWithMatchingCSeq",
     invite("NEWMETHOD sip:bob@biloxi.example.com SIP/2.0").drop("CSeq").add("CSeq: 8 NEWMETHOD").str());
  c.ok("UnknownRequestUriScheme",
     invite("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0").drop("CSeq").add("CSeq: 1 OPTIONS").str());
  c.ok("Ipv6References",
     Msg("INVITE sip:[2001:db8::10]:5070 SIP/2.0")
         .add("Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3;received=[2001:db8::9:255]")
         .add("To: sip:user@[2001:db8::10]")
         .add("From: \"Caller\" <sip:caller@[2001:db8::9:1]>;tag=a8d")
         .add("Call-ID: v6@2001:db8::9:1")
         .add("CSeq: 1 INVITE")
         .str());
  c.ok("NoLwsBetweenDisplayNameAndBracket",
     invite().drop("From").add("From: caller<sip:caller@example.com>;tag=323").str());
  c.ok("EmptyReasonPhrase", withStartLine(okResponse().str(), "SIP/2.0 100 "));
  c.ok("ReasonPhraseInUtf8",
     withStartLine(okResponse().str(),
                   "SIP/2.0 200 = 2**3 * 5**2 \xD0\xBD\xD0\xBE \xD1\x81\xD1\x82\xD0\xBE"));
  c.ok("ExtraDatagramOctetsAfterContentLength", invite().str() + "INVITE sip:x@example.com SIP/2.0\r\n\r\n");
  c.ok("LfOnlyLineEndings",
     "INVITE sip:bob@biloxi.example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: "
     "<sip:bob@b.example>\n"
     "From: <sip:a@a.example>;tag=1\nCall-ID: lf@h\nCSeq: 1 INVITE\nContent-Length: 0\n\n");
  c.ok("NulInBodyIsData", invite().body(std::string("\0\x01\x02", 3)).str());
  c.ok("VersionIsCaseInsensitive", invite("INVITE sip:bob@biloxi.example.com sip/2.0").str());
  c.ok("MaximumHeaderCount", [] {
    Msg m = invite();
    for (int i = 0; i < 248; ++i) {
      m.add("X-Filler: " + std::to_string(i));
    }
    return m.str();  // 7 + 248 + Content-Length = 256 lines
  }());
}

// Size limits and Content-Length.
void addSizeAndLengthCases(CaseList& c) {
  // Size limits.
  c.bad("HugeHeaderOverMessageLimit", invite().add("X-Huge: " + std::string(70000, 'a')).str(), 513,
      "Message Too Large");
  c.bad(
      "TooManyHeaders",
      [] {
        Msg m = invite();
        for (int i = 0; i < 249; ++i) {
          m.add("X-Filler: " + std::to_string(i));
        }
        return m.str();
      }(),
      400, "Too many headers");

  // Content-Length.
  c.bad("NegativeContentLength", invite().noContentLength().add("Content-Length: -999").str(), 400,
      "Malformed Content-Length header");
  c.bad("HugeContentLength", invite().noContentLength().add("Content-Length: 18446744073709551618").str(), 400,
      "Content-Length too large");
  c.bad("NonNumericContentLength", invite().noContentLength().add("Content-Length: 12abc").str(), 400,
      "Malformed Content-Length header");
  c.bad("ContentLengthLargerThanBody",
      invite().noContentLength().add("Content-Length: 9999").body(std::string(kSdp)).str(), 400,
      "Content-Length exceeds body");
  c.bad("DuplicateContentLength", invite().add("l: 0").str(), 400, "Duplicate Content-Length header");
}

// Mandatory headers, start lines and CSeq.
void addMandatoryHeaderAndStartLineCases(CaseList& c) {
  // Mandatory headers.
  c.bad("MissingCallId", invite().drop("Call-ID").str(), 400, "Missing Call-ID header");
  c.bad("MissingCSeq", invite().drop("CSeq").str(), 400, "Missing CSeq header");
  c.bad("MissingFrom", invite().drop("From").str(), 400, "Missing From header");
  c.bad("MissingTo", invite().drop("To").str(), 400, "Missing To header");
  c.bad("MissingVia", invite().drop("Via").str(), 400, "Missing Via header");
  c.bad("ResponseMissingVia", okResponse().drop("Via").str(), 400, "Missing Via header");

  // Start lines.
  c.bad("UnknownProtocolVersion", invite("INVITE sip:bob@biloxi.example.com SIP/7.0").str(), 505,
      "Version Not Supported");
  c.bad("ResponseVersion", withStartLine(okResponse().str(), "SIP/3.0 200 OK"), 505, "Version Not Supported");
  c.bad("FourDigitStatus", withStartLine(okResponse().str(), "SIP/2.0 1000 Big"), 400, "Invalid status code");
  c.bad("OverlargeStatus",
      withStartLine(okResponse().str(), "SIP/2.0 4294967301 better not break the receiver"), 400,
      "Invalid status code");
  c.bad("StatusBelow100", withStartLine(okResponse().str(), "SIP/2.0 099 Low"), 400, "Invalid status code");
  c.bad("StatusLineWithoutCode", withStartLine(okResponse().str(), "SIP/2.0"), 400, "Malformed status line");
  c.bad("NoRequestUri", invite("INVITE SIP/2.0").str(), 400, "Missing Request-URI");
  c.bad("NoVersion", invite("INVITE sip:bob@biloxi.example.com").str(), 400, "Malformed request line");
  c.bad("LwsInRequestUri", invite("INVITE sip:bob@biloxi.example.com; lr SIP/2.0").str(), 400,
      "Malformed request line");
  c.bad("MultipleSpacesInRequestLine", invite("INVITE  sip:bob@biloxi.example.com  SIP/2.0").str(), 400,
      "Malformed request line");
  c.bad("TrailingSpacesInRequestLine", invite("INVITE sip:bob@biloxi.example.com SIP/2.0  ").str(), 400,
      "Malformed request line");
  c.bad("AngleBracketsAroundRequestUri", invite("INVITE <sip:bob@biloxi.example.com> SIP/2.0").str(), 400,
      "Malformed Request-URI");
  c.bad("EscapedHeadersInRequestUri",
      invite("INVITE sip:bob@biloxi.example.com?Route=%3Csip:example.com%3E SIP/2.0").str(), 400,
      "Malformed Request-URI");
  c.bad("MethodNotAToken", invite("INV@ITE sip:bob@biloxi.example.com SIP/2.0").str(), 400,
      "Malformed request line");

  // CSeq.
  c.bad("CSeqMethodMismatch", invite().drop("CSeq").add("CSeq: 1 ACK").str(), 400,
      "CSeq method does not match request method");
  c.bad("UnknownMethodWithCSeqMismatch", invite("NEWMETHOD sip:bob@biloxi.example.com SIP/2.0").str(), 400,
      "CSeq method does not match request method");
  c.bad("CSeqMethodCaseMismatch", invite().drop("CSeq").add("CSeq: 1 invite").str(), 400,
      "CSeq method does not match request method");
  c.bad("OverlargeCSeq", invite().drop("CSeq").add("CSeq: 36893488147419103232 INVITE").str(), 400,
      "CSeq number out of range");
  c.bad("CSeqAt2To31", invite().drop("CSeq").add("CSeq: 2147483648 INVITE").str(), 400,
      "CSeq number out of range");
  c.bad("CSeqWithoutMethod", invite().drop("CSeq").add("CSeq: 1").str(), 400, "Malformed CSeq header");
  c.bad("DuplicateCSeq", invite().add("CSeq: 314159 INVITE").str(), 400, "Duplicate CSeq header");
}

// Other header values, bytes and lines.
void addHeaderValueAndByteCases(CaseList& c) {
  // Other header values.
  c.bad("UnterminatedQuotedDisplayName",
      invite().drop("To").add("To: \"Mr. J. User <sip:j.user@example.com>").str(), 400,
      "Malformed To header");
  c.bad("NonTokenDisplayName",
      invite().drop("From").add("From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43").str(), 400,
      "Malformed From header");
  c.bad("SpacesInsideAngleBrackets",
      invite().drop("To").add("To: \"Watson, Thomas\" < sip:t.watson@example.org >").str(), 400,
      "Malformed To header");
  c.bad("ExtraneousViaSeparators", invite().drop("Via").add("Via: SIP/2.0/UDP 192.0.2.15;;,;,,").str(), 400,
      "Malformed Via header");
  c.bad("UnbracketedContactWithHeaders",
      invite().drop("Contact").add("Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E").str(),
      400, "Malformed Contact header");
  c.bad("StarRoute", invite().add("Route: *").str(), 400, "Malformed Route header");
  c.bad("MalformedRecordRoute", invite().add("Record-Route: <sip:p1.example.com;lr").str(), 400,
      "Malformed Record-Route header");
  c.bad("MaxForwardsOver255", invite().drop("Max-Forwards").add("Max-Forwards: 300").str(), 400,
      "Malformed Max-Forwards header");
  c.bad("CallIdWithSpace", invite().drop("Call-ID").add("Call-ID: two words").str(), 400,
      "Malformed Call-ID header");
  c.bad("DuplicateCallId", invite().add("i: other@example.com").str(), 400, "Duplicate Call-ID header");
  c.bad("ToTagWithoutValue", invite().drop("To").add("To: <sip:bob@biloxi.example.com>;tag").str(), 400,
      "Malformed To header");
  c.bad("QuotedFromTag", invite().drop("From").add("From: <sip:a@atlanta.example.com>;tag=\"x\"").str(), 400,
      "Malformed From header");
  c.bad("DuplicateTo", invite().add("t: <sip:x@example.com>").str(), 400, "Duplicate To header");

  // Bytes and lines.
  c.bad("EmptyInput", "", 400, "Empty message");
  c.bad("OnlyCrlf", "\r\n\r\n\r\n", 400, "Keep-alive only");
  c.bad(
      "NulInHeader",
      [] {
        std::string m = invite().str();
        m.insert(m.find("Alice"), 1, '\0');
        return m;
      }(),
      400, "NUL byte in message header");
  c.bad(
      "NulInRequestLine",
      [] {
        std::string m = invite().str();
        m.insert(m.find(".example.com"), 1, '\0');
        return m;
      }(),
      400, "NUL byte in message header");
  c.bad(
      "NulAsHeaderName",
      [] {
        std::string m = invite().str();
        m.insert(m.find("Max-Forwards"), std::string("\0: x\r\n", 6));
        return m;
      }(),
      400, "NUL byte in message header");
  c.bad("QuotedPairOfControlByte", invite().add(std::string("Subject: \"bell \\\x07\"")).str(), 400,
      "Control character in message header");
  c.bad("BareCr", invite().add("Subject: a\rb").str(), 400, "Bare CR in message header");
  c.bad("HeaderWithoutColon", invite().add("Subject hello").str(), 400, "Malformed header line");
  c.bad("FoldBeforeFirstHeader",
      withStartLine(invite().str(), "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n continued"), 400,
      "Malformed header line");
  c.bad("NoEmptyLineAfterHeaders", crlf("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"), 400,
      "Header section not terminated");
  c.bad("StartLineOnly", "OPTIONS sip:a@b SIP/2.0", 400, "Header section not terminated");
}

std::vector<TortureCase> tortureCases() {
  CaseList c;
  addValidCases(c);
  addSizeAndLengthCases(c);
  addMandatoryHeaderAndStartLineCases(c);
  addHeaderValueAndByteCases(c);
  return c.take();
}

void PrintTo(const TortureCase& c, std::ostream* os) {
  *os << c.name;
}

class SipTorture : public testing::TestWithParam<TortureCase> {};

TEST_P(SipTorture, AcceptsOrRejectsWithTheExactReason) {
  const TortureCase& c = GetParam();
  auto parsed = SipMessage::parse(c.message);
  if (c.status == 0) {
    ASSERT_TRUE(parsed) << parsed.error().reason;
  } else {
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().reason, c.reason);
    EXPECT_EQ(parsed.error().status, c.status);
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc4475Style, SipTorture, testing::ValuesIn(tortureCases()),
                         [](const testing::TestParamInfo<TortureCase>& info) { return info.param.name; });

// ---- What the torture messages parse to ----

TEST(SipMessage, TortuousInviteYieldsTheValuesBehindTheFolds) {
  auto msg = SipMessage::parse(kTortuousInvite);
  ASSERT_TRUE(msg) << msg.error().reason;
  EXPECT_TRUE(msg->isRequest());
  EXPECT_EQ(msg->method(), SipMethod::Invite);
  EXPECT_EQ(msg->requestUri(), "sip:carol@chicago.example.com;weirdparam");
  EXPECT_EQ(msg->toTag(), "77aa19x");
  EXPECT_EQ(msg->fromTag(), "5fxced76sl");
  EXPECT_EQ(msg->callId(), "torture.7731ab@192.0.2.4");
  EXPECT_EQ(msg->cseq(), 7U);
  EXPECT_EQ(msg->cseqMethod(), SipMethod::Invite);
  EXPECT_EQ(msg->maxForwards(), 42);
  EXPECT_EQ(msg->topViaBranch(), "z9hG4bKtort1");
  EXPECT_EQ(msg->header("Subject"), "");
  EXPECT_EQ(msg->header("X-Odd-Header"), "first part\r\n second part");
  const auto vias = msg->headerList("v");
  ASSERT_EQ(vias.size(), 3U);
  EXPECT_EQ(Via::parse(vias[2])->branch, "z9hG4bKcore2");
  EXPECT_EQ(Via::parse(vias[1])->host, "edge.example.com");
  auto contact = NameAddr::parse(msg->header("Contact"));
  ASSERT_TRUE(contact);
  EXPECT_EQ(contact->param("q"), "0.5");
  EXPECT_EQ(contact->param("p1"), "v1");
  EXPECT_TRUE(msg->body().starts_with("v=0\r\n"));
  EXPECT_TRUE(msg->body().ends_with("RTP/AVP 0\r\n"));
}

TEST(SipMessage, WideCharacterMethodIsUnknownButKeptVerbatim) {
  auto msg = SipMessage::parse(kWideCharacters);
  ASSERT_TRUE(msg) << msg.error().reason;
  EXPECT_EQ(msg->method(), SipMethod::Unknown);
  EXPECT_EQ(msg->methodText(), "!odd-Method0123456789_*+`.%indeed'~");
  EXPECT_EQ(msg->cseqMethodText(), msg->methodText());
  EXPECT_EQ(msg->callId(), "odd.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
  EXPECT_EQ(msg->fromTag(), "_tok~1'+`-.!%*");
  EXPECT_EQ(msg->header("extensionHeader-!.%*+_`'~"), "\xEF\xBB\xBF\xE5\xA4\xA7\xE5\x81\x9C\xE9\x9B\xBB");
  auto uri = SipUri::parse(msg->requestUri());
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->user, "1_odd.URI~(surely!)&isn't+it$/odd?,/;;*");
  EXPECT_EQ(uri->password, "&it+has=1,odd!*pa$s~w_d.(isnt-it)");
}

TEST(SipMessage, CompactNamesAreExpandedAndFoundByEitherName) {
  auto msg = SipMessage::parse(kCompact);
  ASSERT_TRUE(msg) << msg.error().reason;
  std::vector<std::string_view> names;
  for (const SipHeader& h : msg->headers()) {
    names.push_back(h.name);
  }
  EXPECT_EQ(names, (std::vector<std::string_view>{"Via", "From", "To", "Call-ID", "CSeq", "Contact",
                                                  "Supported", "Content-Length"}));
  EXPECT_EQ(msg->header("i"), "compact-1@192.0.2.7");
  EXPECT_EQ(msg->header("call-id"), "compact-1@192.0.2.7");
  EXPECT_EQ(msg->header("CALL-ID"), "compact-1@192.0.2.7");
  EXPECT_EQ(msg->headerList("Supported"), (std::vector<std::string_view>{"timer", "100rel"}));
  EXPECT_EQ(msg->header("Expires"), "");
  EXPECT_EQ(msg->fromTag(), "aa1");
  EXPECT_EQ(msg->toTag(), "");
  EXPECT_FALSE(msg->maxForwards().has_value());
}

TEST(SipMessage, KnownNamesAreCanonicalisedAndUnknownOnesKeptAsWritten) {
  auto msg = SipMessage::parse(invite().add("RECORD-route: <sip:p@example.com;lr>").add("x-CUSTOM: 1").str());
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->headers()[7].name, "Record-Route");
  EXPECT_EQ(msg->headers()[8].name, "x-CUSTOM");
  EXPECT_EQ(msg->header("X-Custom"), "1");
  EXPECT_EQ(canonicalHeaderName("WWW-AUTHENTICATE"), "WWW-Authenticate");
  EXPECT_EQ(canonicalHeaderName("o"), "Event");
}

TEST(SipMessage, HeaderListSplitsEveryLineAndRespectsQuotesAndBrackets) {
  auto msg = SipMessage::parse(kMultiplePerLine);  // MultipleHeadersPerLine
  ASSERT_TRUE(msg) << msg.error().reason;
  EXPECT_EQ(msg->headerList("Via").size(), 3U);
  EXPECT_EQ(msg->topViaBranch(), "z9hG4bKa1");
  EXPECT_EQ(msg->headerList("Route"),
            (std::vector<std::string_view>{"<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"}));
  const auto contacts = msg->headerList("m");
  ASSERT_EQ(contacts.size(), 2U);
  EXPECT_EQ(contacts[0], "\"Desk, Phone\" <sip:desk@192.0.2.1>;expires=60");
  EXPECT_EQ(msg->header("Via"),
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa1, SIP/2.0/TCP proxy.example.com;branch=z9hG4bKa2");
}

TEST(SipMessage, EscapedUrisStayEscapedInViews) {
  auto msg = SipMessage::parse(kEscapedUris);
  ASSERT_TRUE(msg) << msg.error().reason;
  EXPECT_EQ(SipUri::parse(msg->requestUri())->unescapedUser(), "sips:user@example.com");
  auto contact = NameAddr::parse(msg->header("Contact"));
  ASSERT_TRUE(contact);
  auto uri = SipUri::parse(contact->uri);
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->param("n%61me"), "v%61lue%25%34%31");
  EXPECT_EQ(msg->body(), "v=0\r\n");
}

TEST(SipMessage, ResponseExposesStatusReasonAndCSeqMethod) {
  auto msg = SipMessage::parse(okResponse().str());
  ASSERT_TRUE(msg) << msg.error().reason;
  EXPECT_FALSE(msg->isRequest());
  EXPECT_EQ(msg->status(), 200);
  EXPECT_EQ(msg->reason(), "OK");
  EXPECT_EQ(msg->cseqMethod(), SipMethod::Invite);
  EXPECT_EQ(msg->toTag(), "a6c85cf");
  auto empty = SipMessage::parse(withStartLine(okResponse().str(), "SIP/2.0 100"));
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->reason(), "");
}

// ---- Body, raw bytes and ownership ----

TEST(SipMessage, ContentLengthTruncatesTheDatagramAndRawDropsTheExtraBytes) {
  const std::string first = invite().body("hello").str();
  auto msg = SipMessage::parse(first + "garbage after the message");
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->body(), "hello");
  EXPECT_EQ(msg->raw(), first);
}

TEST(SipMessage, WithoutContentLengthTheBodyIsTheRestOfTheDatagram) {
  auto msg = SipMessage::parse(invite().noContentLength().body(std::string(kSdp)).str());
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->body(), kSdp);
}

TEST(SipMessage, LeadingCrlfIsNotPartOfTheMessage) {
  const std::string m = invite().str();
  auto msg = SipMessage::parse("\r\n\r\n" + m);
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->raw(), m);
  EXPECT_EQ(msg->methodText(), "INVITE");
}

TEST(SipMessage, ViewsStayValidAcrossMovesAndCopies) {
  auto parsed = SipMessage::parse(kTortuousInvite);
  ASSERT_TRUE(parsed);
  std::vector<SipMessage> kept;
  kept.push_back(std::move(*parsed));
  kept.reserve(100);  // reallocation moves the element
  SipMessage copy = kept.front();
  kept.clear();  // the copy must not point into the destroyed original
  EXPECT_EQ(copy.callId(), "torture.7731ab@192.0.2.4");
  EXPECT_EQ(copy.topViaBranch(), "z9hG4bKtort1");
  EXPECT_EQ(copy.header("X-Odd-Header"), "first part\r\n second part");
  EXPECT_EQ(copy.headers()[0].name, "To");
  EXPECT_EQ(copy.headers()[0].value.data(),
            copy.raw().data() + copy.raw().find("sip:carol@chicago.example.com ;"));
  EXPECT_EQ(copy.body().data() + copy.body().size(), copy.raw().data() + copy.raw().size());
  SipMessage assigned = *SipMessage::parse(kCompact);
  assigned = copy;
  EXPECT_EQ(assigned.fromTag(), "5fxced76sl");
  EXPECT_NE(assigned.raw().data(), copy.raw().data());
}

TEST(SipMethod, NamesRoundTripAndAreCaseSensitive) {
  for (const auto m :
       {SipMethod::Invite, SipMethod::Ack, SipMethod::Bye, SipMethod::Cancel, SipMethod::Options,
        SipMethod::Register, SipMethod::Update, SipMethod::Prack, SipMethod::Info, SipMethod::Message,
        SipMethod::Refer, SipMethod::Notify, SipMethod::Subscribe, SipMethod::Publish}) {
    EXPECT_EQ(methodFromName(methodName(m)), m);
  }
  EXPECT_EQ(methodName(SipMethod::Register), "REGISTER");
  EXPECT_EQ(methodFromName("invite"), SipMethod::Unknown);
  EXPECT_EQ(methodName(SipMethod::Unknown), "");
}

}  // namespace
}  // namespace rdv::sip
