#include "signaling/sip/SipMessage.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "common/test/Crlf.h"
#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipBadRequest.h"
#include "signaling/sip/SipFraming.h"
#include "signaling/sip/SipResponse.h"
#include "signaling/sip/SipUri.h"
#include "signaling/sip/Via.h"

namespace rdv::sip {
namespace {

using common::test::crlf;

// A message from a start line and header lines; Content-Length is appended from the body unless
// told otherwise.
class Msg {
 public:
  explicit Msg(std::string startLine) : start_(std::move(startLine)) {}
  Msg& add(std::string line) {
    lines_.push_back(std::move(line));
    return *this;
  }
  // Removes the lines of header `name` (as written before the ':').
  Msg& drop(std::string_view name) {
    std::erase_if(lines_, [&](const std::string& l) { return l.substr(0, l.find(':')) == name; });
    return *this;
  }
  Msg& body(std::string b) {
    body_ = std::move(b);
    return *this;
  }
  Msg& noContentLength() {
    contentLength_ = false;
    return *this;
  }
  std::string str() const {
    std::string out = start_ + "\r\n";
    for (const std::string& l : lines_) {
      out += l + "\r\n";
    }
    if (contentLength_) {
      out += "Content-Length: " + std::to_string(body_.size()) + "\r\n";
    }
    return out + "\r\n" + body_;
  }

 private:
  std::string start_;
  std::vector<std::string> lines_;
  std::string body_;
  bool contentLength_ = true;
};

Msg invite(std::string startLine = "INVITE sip:bob@biloxi.example.com SIP/2.0") {
  return Msg(std::move(startLine))
      .add("Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport")
      .add("Max-Forwards: 70")
      .add("To: Bob <sip:bob@biloxi.example.com>")
      .add("From: Alice <sip:alice@atlanta.example.com>;tag=1928301774")
      .add("Call-ID: a84b4c76e66710@pc33.atlanta.example.com")
      .add("CSeq: 314159 INVITE")
      .add("Contact: <sip:alice@pc33.atlanta.example.com>");
}

Msg okResponse() {
  return Msg("SIP/2.0 200 OK")
      .add("Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1")
      .add("To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf")
      .add("From: Alice <sip:alice@atlanta.example.com>;tag=1928301774")
      .add("Call-ID: a84b4c76e66710@pc33.atlanta.example.com")
      .add("CSeq: 314159 INVITE");
}

constexpr std::string_view kSdp =
    "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.4\r\ns=-\r\nc=IN IP4 192.0.2.4\r\nt=0 0\r\n"
    "m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

// The message with its start line replaced.
std::string withStartLine(const std::string& message, std::string_view startLine) {
  return std::string(startLine) + message.substr(message.find("\r\n"));
}

// Replaces "{len}" with the length of what follows the first empty line.
std::string withLength(std::string message) {
  const size_t bodyStart = message.find("\r\n\r\n") + 4;
  const size_t at = message.find("{len}");
  const std::string len = std::to_string(message.size() - bodyStart);
  return message.replace(at, 5, len);
}

// ---- RFC 4475-inspired torture table ----
//
// Messages written for this suite in the spirit of RFC 4475 §3.1 (valid and invalid parser
// cases); each pins acceptance or the exact status and reason phrase that goes on the wire.

// Short tortuous INVITE: mixed-case and padded header names, folds everywhere LWS may appear,
// escaped quotes, compact forms, addr-spec To with spaced params, several Vias on one line.
const std::string kTortuousInvite =
    withLength(crlf(R"SIP(INVITE sip:carol@chicago.example.com;weirdparam SIP/2.0
TO :
 sip:carol@chicago.example.com ;   tag    = 77aa19x
from   : "Alice \\\"Ally\\\" Liddell"     <sip:alice%20l@atlanta.example.com>
  ;
  tag = 5fxced76sl
MaX-fOrWaRdS: 0042
Call-ID: torture.7731ab@192.0.2.4
Content-Length   : {len}
cseq: 0007
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.4;rport;branch=z9hG4bKtort1
s :
X-Odd-Header:   first part
 second part
X-Empty-Lists: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:proxy.example.com;lr;flag;k=v>
v:  SIP  / 2.0  / TCP     edge.example.com   ;
  branch  =   z9hG4bKedge1  ,
 SIP  /    2.0   / UDP  198.51.100.20   ; branch=
 z9hG4bKcore2
m:"Quoted \"\" name" <sip:alice@192.0.2.4> ; p1 =
      v1 ;
  p2 ; q = 0.5

v=0
o=alice 1 1 IN IP4 192.0.2.4
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49170 RTP/AVP 0
)SIP"));

// Every token character in the method, user-unreserved and password characters in the URI, word
// characters in Call-ID, UTF-8 in an extension header.
const std::string kWideCharacters = crlf(
    "!odd-Method0123456789_*+`.%indeed'~ "
    "sip:1_odd.URI~(surely!)&isn't+it$/odd?,/;;*:&it+has=1,odd!*pa$s~w_d.(isnt-it)@example.com SIP/2.0\n"
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
    "To: \"Odd ~!#$%^&*()_+| \\\" name\" <sip:1_odd.URI~(surely!)&isn't+it$/odd?,/;;*@example.com>\n"
    "From: \"\\\\Q\\\"uoted\" <sip:odd@example.com>;tag=_tok~1'+`-.!%*\n"
    "Call-ID: odd.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
    "CSeq: 139122385 !odd-Method0123456789_*+`.%indeed'~\n"
    "Max-Forwards: 255\n"
    "extensionHeader-!.%*+_`'~: \xEF\xBB\xBF\xE5\xA4\xA7\xE5\x81\x9C\xE9\x9B\xBB\n"
    "Content-Length: 0\n"
    "\n");

const std::string kCompact = crlf(
    "OPTIONS sip:user@example.com SIP/2.0\n"
    "v: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKcmp1;rport\n"
    "f: <sip:caller@example.net>;tag=aa1\n"
    "t: <sip:user@example.com>\n"
    "i: compact-1@192.0.2.7\n"
    "CSeq: 1 OPTIONS\n"
    "m: <sip:caller@192.0.2.7:5060>\n"
    "k: timer, 100rel\n"
    "l: 0\n"
    "\n");

const std::string kEscapedUris =
    withLength(crlf("INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\n"
                    "To: sip:%75se%72@example.com\n"
                    "From: <sip:I%20have%20spaces@example.net>;tag=1234\n"
                    "Max-Forwards: 87\n"
                    "i: esc01.239409asdfakjkn23onasd0-3234\n"
                    "CSeq: 234234 INVITE\n"
                    "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\n"
                    "C: application/sdp\n"
                    "Contact:\n"
                    "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\n"
                    "Content-Length: {len}\n"
                    "\n"
                    "v=0\n"));

const std::string kMultiplePerLine =
    Msg("REGISTER sip:registrar.example.com SIP/2.0")
        .add("Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa1, SIP/2.0/TCP proxy.example.com;branch=z9hG4bKa2")
        .add("Via: SIP/2.0/UDP 203.0.113.9:5070;branch=z9hG4bKa3")
        .add("Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>")
        .add("To: <sip:desk@example.com>")
        .add("From: <sip:desk@example.com>;tag=r1")
        .add("Call-ID: multi@192.0.2.1")
        .add("CSeq: 2 REGISTER")
        .add("Contact: \"Desk, Phone\" <sip:desk@192.0.2.1>;expires=60, <sip:mobile@198.51.100.4>;q=0.5")
        .str();

struct TortureCase {
  std::string name;
  std::string message;
  int status;  // 0: must parse
  std::string reason;
};

std::vector<TortureCase> tortureCases() {
  std::vector<TortureCase> cases;
  const auto ok = [&](std::string name, std::string message) {
    cases.push_back({std::move(name), std::move(message), 0, ""});
  };
  const auto bad = [&](std::string name, std::string message, int status, std::string reason) {
    cases.push_back({std::move(name), std::move(message), status, std::move(reason)});
  };

  // Valid.
  ok("ShortTortuousInvite", kTortuousInvite);
  ok("WideRangeOfValidCharacters", kWideCharacters);
  ok("CompactHeaders", kCompact);
  ok("MultipleHeadersPerLine", kMultiplePerLine);
  ok("EscapedUris", kEscapedUris);
  ok("UnknownMethodWithMatchingCSeq",
     invite("NEWMETHOD sip:bob@biloxi.example.com SIP/2.0").drop("CSeq").add("CSeq: 8 NEWMETHOD").str());
  ok("UnknownRequestUriScheme",
     invite("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0").drop("CSeq").add("CSeq: 1 OPTIONS").str());
  ok("Ipv6References",
     Msg("INVITE sip:[2001:db8::10]:5070 SIP/2.0")
         .add("Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3;received=[2001:db8::9:255]")
         .add("To: sip:user@[2001:db8::10]")
         .add("From: \"Caller\" <sip:caller@[2001:db8::9:1]>;tag=a8d")
         .add("Call-ID: v6@2001:db8::9:1")
         .add("CSeq: 1 INVITE")
         .str());
  ok("NoLwsBetweenDisplayNameAndBracket",
     invite().drop("From").add("From: caller<sip:caller@example.com>;tag=323").str());
  ok("EmptyReasonPhrase", withStartLine(okResponse().str(), "SIP/2.0 100 "));
  ok("ReasonPhraseInUtf8",
     withStartLine(okResponse().str(),
                   "SIP/2.0 200 = 2**3 * 5**2 \xD0\xBD\xD0\xBE \xD1\x81\xD1\x82\xD0\xBE"));
  ok("ExtraDatagramOctetsAfterContentLength", invite().str() + "INVITE sip:x@example.com SIP/2.0\r\n\r\n");
  ok("LfOnlyLineEndings",
     "INVITE sip:bob@biloxi.example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: "
     "<sip:bob@b.example>\n"
     "From: <sip:a@a.example>;tag=1\nCall-ID: lf@h\nCSeq: 1 INVITE\nContent-Length: 0\n\n");
  ok("NulInBodyIsData", invite().body(std::string("\0\x01\x02", 3)).str());
  ok("VersionIsCaseInsensitive", invite("INVITE sip:bob@biloxi.example.com sip/2.0").str());
  ok("MaximumHeaderCount", [] {
    Msg m = invite();
    for (int i = 0; i < 248; ++i) {
      m.add("X-Filler: " + std::to_string(i));
    }
    return m.str();  // 7 + 248 + Content-Length = 256 lines
  }());

  // Size limits.
  bad("HugeHeaderOverMessageLimit", invite().add("X-Huge: " + std::string(70000, 'a')).str(), 513,
      "Message Too Large");
  bad(
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
  bad("NegativeContentLength", invite().noContentLength().add("Content-Length: -999").str(), 400,
      "Malformed Content-Length header");
  bad("HugeContentLength", invite().noContentLength().add("Content-Length: 18446744073709551618").str(), 400,
      "Content-Length too large");
  bad("NonNumericContentLength", invite().noContentLength().add("Content-Length: 12abc").str(), 400,
      "Malformed Content-Length header");
  bad("ContentLengthLargerThanBody",
      invite().noContentLength().add("Content-Length: 9999").body(std::string(kSdp)).str(), 400,
      "Content-Length exceeds body");
  bad("DuplicateContentLength", invite().add("l: 0").str(), 400, "Duplicate Content-Length header");

  // Mandatory headers.
  bad("MissingCallId", invite().drop("Call-ID").str(), 400, "Missing Call-ID header");
  bad("MissingCSeq", invite().drop("CSeq").str(), 400, "Missing CSeq header");
  bad("MissingFrom", invite().drop("From").str(), 400, "Missing From header");
  bad("MissingTo", invite().drop("To").str(), 400, "Missing To header");
  bad("MissingVia", invite().drop("Via").str(), 400, "Missing Via header");
  bad("ResponseMissingVia", okResponse().drop("Via").str(), 400, "Missing Via header");

  // Start lines.
  bad("UnknownProtocolVersion", invite("INVITE sip:bob@biloxi.example.com SIP/7.0").str(), 505,
      "Version Not Supported");
  bad("ResponseVersion", withStartLine(okResponse().str(), "SIP/3.0 200 OK"), 505, "Version Not Supported");
  bad("FourDigitStatus", withStartLine(okResponse().str(), "SIP/2.0 1000 Big"), 400, "Invalid status code");
  bad("OverlargeStatus",
      withStartLine(okResponse().str(), "SIP/2.0 4294967301 better not break the receiver"), 400,
      "Invalid status code");
  bad("StatusBelow100", withStartLine(okResponse().str(), "SIP/2.0 099 Low"), 400, "Invalid status code");
  bad("StatusLineWithoutCode", withStartLine(okResponse().str(), "SIP/2.0"), 400, "Malformed status line");
  bad("NoRequestUri", invite("INVITE SIP/2.0").str(), 400, "Missing Request-URI");
  bad("NoVersion", invite("INVITE sip:bob@biloxi.example.com").str(), 400, "Malformed request line");
  bad("LwsInRequestUri", invite("INVITE sip:bob@biloxi.example.com; lr SIP/2.0").str(), 400,
      "Malformed request line");
  bad("MultipleSpacesInRequestLine", invite("INVITE  sip:bob@biloxi.example.com  SIP/2.0").str(), 400,
      "Malformed request line");
  bad("TrailingSpacesInRequestLine", invite("INVITE sip:bob@biloxi.example.com SIP/2.0  ").str(), 400,
      "Malformed request line");
  bad("AngleBracketsAroundRequestUri", invite("INVITE <sip:bob@biloxi.example.com> SIP/2.0").str(), 400,
      "Malformed Request-URI");
  bad("EscapedHeadersInRequestUri",
      invite("INVITE sip:bob@biloxi.example.com?Route=%3Csip:example.com%3E SIP/2.0").str(), 400,
      "Malformed Request-URI");
  bad("MethodNotAToken", invite("INV@ITE sip:bob@biloxi.example.com SIP/2.0").str(), 400,
      "Malformed request line");

  // CSeq.
  bad("CSeqMethodMismatch", invite().drop("CSeq").add("CSeq: 1 ACK").str(), 400,
      "CSeq method does not match request method");
  bad("UnknownMethodWithCSeqMismatch", invite("NEWMETHOD sip:bob@biloxi.example.com SIP/2.0").str(), 400,
      "CSeq method does not match request method");
  bad("CSeqMethodCaseMismatch", invite().drop("CSeq").add("CSeq: 1 invite").str(), 400,
      "CSeq method does not match request method");
  bad("OverlargeCSeq", invite().drop("CSeq").add("CSeq: 36893488147419103232 INVITE").str(), 400,
      "CSeq number out of range");
  bad("CSeqAt2To31", invite().drop("CSeq").add("CSeq: 2147483648 INVITE").str(), 400,
      "CSeq number out of range");
  bad("CSeqWithoutMethod", invite().drop("CSeq").add("CSeq: 1").str(), 400, "Malformed CSeq header");
  bad("DuplicateCSeq", invite().add("CSeq: 314159 INVITE").str(), 400, "Duplicate CSeq header");

  // Other header values.
  bad("UnterminatedQuotedDisplayName",
      invite().drop("To").add("To: \"Mr. J. User <sip:j.user@example.com>").str(), 400,
      "Malformed To header");
  bad("NonTokenDisplayName",
      invite().drop("From").add("From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43").str(), 400,
      "Malformed From header");
  bad("SpacesInsideAngleBrackets",
      invite().drop("To").add("To: \"Watson, Thomas\" < sip:t.watson@example.org >").str(), 400,
      "Malformed To header");
  bad("ExtraneousViaSeparators", invite().drop("Via").add("Via: SIP/2.0/UDP 192.0.2.15;;,;,,").str(), 400,
      "Malformed Via header");
  bad("UnbracketedContactWithHeaders",
      invite().drop("Contact").add("Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E").str(),
      400, "Malformed Contact header");
  bad("StarRoute", invite().add("Route: *").str(), 400, "Malformed Route header");
  bad("MalformedRecordRoute", invite().add("Record-Route: <sip:p1.example.com;lr").str(), 400,
      "Malformed Record-Route header");
  bad("MaxForwardsOver255", invite().drop("Max-Forwards").add("Max-Forwards: 300").str(), 400,
      "Malformed Max-Forwards header");
  bad("CallIdWithSpace", invite().drop("Call-ID").add("Call-ID: two words").str(), 400,
      "Malformed Call-ID header");
  bad("DuplicateCallId", invite().add("i: other@example.com").str(), 400, "Duplicate Call-ID header");
  bad("ToTagWithoutValue", invite().drop("To").add("To: <sip:bob@biloxi.example.com>;tag").str(), 400,
      "Malformed To header");
  bad("QuotedFromTag", invite().drop("From").add("From: <sip:a@atlanta.example.com>;tag=\"x\"").str(), 400,
      "Malformed From header");
  bad("DuplicateTo", invite().add("t: <sip:x@example.com>").str(), 400, "Duplicate To header");

  // Bytes and lines.
  bad("EmptyInput", "", 400, "Empty message");
  bad("OnlyCrlf", "\r\n\r\n\r\n", 400, "Keep-alive only");
  bad(
      "NulInHeader",
      [] {
        std::string m = invite().str();
        m.insert(m.find("Alice"), 1, '\0');
        return m;
      }(),
      400, "NUL byte in message header");
  bad(
      "NulInRequestLine",
      [] {
        std::string m = invite().str();
        m.insert(m.find(".example.com"), 1, '\0');
        return m;
      }(),
      400, "NUL byte in message header");
  bad(
      "NulAsHeaderName",
      [] {
        std::string m = invite().str();
        m.insert(m.find("Max-Forwards"), std::string("\0: x\r\n", 6));
        return m;
      }(),
      400, "NUL byte in message header");
  bad("QuotedPairOfControlByte", invite().add(std::string("Subject: \"bell \\\x07\"")).str(), 400,
      "Control character in message header");
  bad("BareCr", invite().add("Subject: a\rb").str(), 400, "Bare CR in message header");
  bad("HeaderWithoutColon", invite().add("Subject hello").str(), 400, "Malformed header line");
  bad("FoldBeforeFirstHeader",
      withStartLine(invite().str(), "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n continued"), 400,
      "Malformed header line");
  bad("NoEmptyLineAfterHeaders", crlf("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"), 400,
      "Header section not terminated");
  bad("StartLineOnly", "OPTIONS sip:a@b SIP/2.0", 400, "Header section not terminated");
  return cases;
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

// ---- Stream framing ----

TEST(SipFrameLength, NeedsMoreBytesUntilHeadersAndBodyHaveArrived) {
  const std::string m = invite().body(std::string(kSdp)).str();
  for (size_t cut = 0; cut < m.size(); ++cut) {
    auto len = sipFrameLength(std::string_view(m).substr(0, cut));
    ASSERT_TRUE(len) << cut;
    ASSERT_EQ(*len, 0U) << cut;
  }
  EXPECT_EQ(*sipFrameLength(m), m.size());
}

TEST(SipFrameLength, CutsPipelinedMessagesOneAtATime) {
  const std::string a = invite().body("abc").str();
  const std::string b = okResponse().str();
  const std::string stream = a + b + "INVITE sip:partial";
  std::string_view rest = stream;
  auto first = sipFrameLength(rest);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, a.size());
  rest.remove_prefix(*first);
  auto second = sipFrameLength(rest);
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, b.size());
  EXPECT_TRUE(SipMessage::parse(std::string(rest.substr(0, *second))));
  rest.remove_prefix(*second);
  EXPECT_EQ(*sipFrameLength(rest), 0U);
}

TEST(SipFrameLength, ReadsCompactAndFoldedContentLength) {
  const std::string compact = invite().noContentLength().add("l: 3").body("xyz").str();
  EXPECT_EQ(*sipFrameLength(compact + "next"), compact.size());
  const std::string folded = invite().noContentLength().add("Content-Length:\r\n  3").body("xyz").str();
  EXPECT_EQ(*sipFrameLength(folded), folded.size());
}

TEST(SipFrameLength, KeepalivesBeforeAMessageAreSkippedOrCounted) {
  const std::string m = invite().str();
  const std::string stream = "\r\n\r\n" + m;
  EXPECT_EQ(skipKeepalive(stream), 4U);
  EXPECT_EQ(skipKeepalive(m), 0U);
  EXPECT_EQ(skipKeepalive("\r\n"), 2U);
  EXPECT_EQ(*sipFrameLength(stream), stream.size());
  EXPECT_EQ(*sipFrameLength("\r\n\r\n"), 0U);
}

TEST(SipFrameLength, RejectsStreamsItCannotFrame) {
  struct Case {
    std::string buf;
    size_t maxSize;
    int status;
    const char* reason;
  };
  const Case cases[] = {
      {invite().noContentLength().str(), 65536, 400, "Missing Content-Length header"},
      {invite().noContentLength().add("Content-Length: -1").str(), 65536, 400,
       "Malformed Content-Length header"},
      {invite().noContentLength().add("Content-Length: 99999999999999999999999").str(), 65536, 400,
       "Content-Length too large"},
      {invite().add("l: 0").str(), 65536, 400, "Duplicate Content-Length header"},
      {invite().str(), 100, 513, "Message Too Large"},
      {"INVITE sip:a@b SIP/2.0\r\nX: " + std::string(200, 'x'), 100, 513, "Message Too Large"},
      {invite().noContentLength().add("Content-Length: 90").str(), 400, 513, "Message Too Large"},
  };
  for (const Case& c : cases) {
    auto len = sipFrameLength(c.buf, c.maxSize);
    ASSERT_FALSE(len) << c.reason;
    EXPECT_EQ(len.error().reason, c.reason);
    EXPECT_EQ(len.error().status, c.status);
  }
}

// ---- Responses ----

TEST(BuildResponse, CopiesViasInOrderAndTheDialogHeaders) {
  auto req = SipMessage::parse(kMultiplePerLine);  // three Vias on two lines
  ASSERT_TRUE(req);
  const std::string text = buildResponse(*req, 200, "OK", "srv1");
  auto resp = SipMessage::parse(text);
  ASSERT_TRUE(resp) << resp.error().reason << "\n" << text;
  EXPECT_EQ(resp->status(), 200);
  EXPECT_EQ(resp->reason(), "OK");
  EXPECT_EQ(resp->headerList("Via"), req->headerList("Via"));
  EXPECT_EQ(resp->callId(), req->callId());
  EXPECT_EQ(resp->cseq(), 2U);
  EXPECT_EQ(resp->cseqMethod(), SipMethod::Register);
  EXPECT_EQ(resp->fromTag(), "r1");
  EXPECT_EQ(resp->toTag(), "srv1");
  EXPECT_EQ(resp->header("Contact"), "");
  EXPECT_EQ(resp->body(), "");
  EXPECT_TRUE(text.ends_with("Content-Length: 0\r\n\r\n"));
}

TEST(BuildResponse, AddsAToTagOnlyWhenMissingAndNotTo100) {
  auto req = SipMessage::parse(invite().str());
  ASSERT_TRUE(req);
  EXPECT_EQ(SipMessage::parse(buildResponse(*req, 100, "Trying", "t1"))->toTag(), "");
  EXPECT_EQ(SipMessage::parse(buildResponse(*req, 180, "Ringing", "t1"))->toTag(), "t1");
  EXPECT_EQ(SipMessage::parse(buildResponse(*req, 486, "Busy Here"))->toTag(), "");
  auto inDialog =
      SipMessage::parse(invite().drop("To").add("To: Bob <sip:bob@biloxi.example.com>;tag=old").str());
  ASSERT_TRUE(inDialog);
  const std::string text = buildResponse(*inDialog, 200, "OK", "new");
  EXPECT_EQ(SipMessage::parse(text)->toTag(), "old");
  EXPECT_EQ(text.find("new"), std::string::npos);
}

TEST(BuildResponse, AppendsExtraHeadersContentTypeAndBody) {
  auto req = SipMessage::parse(invite().body(std::string(kSdp)).str());
  ASSERT_TRUE(req);
  const std::vector<std::string> extra{"Contact: <sip:b2bua@203.0.113.1>", "Allow: INVITE, ACK, BYE"};
  const std::string text = buildResponse(*req, 200, "OK", "x", extra, kSdp, "application/sdp");
  auto resp = SipMessage::parse(text);
  ASSERT_TRUE(resp) << resp.error().reason;
  EXPECT_EQ(resp->header("Contact"), "<sip:b2bua@203.0.113.1>");
  EXPECT_EQ(resp->headerList("Allow").size(), 3U);
  EXPECT_EQ(resp->header("Content-Type"), "application/sdp");
  EXPECT_EQ(resp->body(), kSdp);
  EXPECT_LT(text.find("Allow:"), text.find("Content-Type:"));
  EXPECT_LT(text.find("Content-Type:"), text.find("Content-Length:"));
}

TEST(BuildResponse, FlattensFoldsOfCopiedValues) {
  auto req = SipMessage::parse(kTortuousInvite);
  ASSERT_TRUE(req);
  const std::string text = buildResponse(*req, 481, "Call/Transaction Does Not Exist", "abc");
  EXPECT_TRUE(text.starts_with("SIP/2.0 481 Call/Transaction Does Not Exist\r\n"));
  EXPECT_NE(text.find("CSeq: 0007  INVITE\r\n"), std::string::npos);
  auto resp = SipMessage::parse(text);
  ASSERT_TRUE(resp) << resp.error().reason;
  EXPECT_EQ(resp->headerList("Via").size(), 3U);
  EXPECT_EQ(resp->toTag(), "77aa19x");
  for (const SipHeader& h : resp->headers()) {
    EXPECT_EQ(h.value.find('\n'), std::string_view::npos) << h.name;
  }
}

TEST(BuildResponse, StampsReceivedAndRportOnTheTopViaWhenTheSourceIsKnown) {
  auto req = SipMessage::parse(kMultiplePerLine);
  ASSERT_TRUE(req);
  auto rport = SipMessage::parse(invite().str());  // top Via has ;rport
  ASSERT_TRUE(rport);
  rport->setSource("198.51.100.7", 40123);
  auto stampedResp = SipMessage::parse(buildResponse(*rport, 200, "OK", "t"));
  ASSERT_TRUE(stampedResp);
  auto stamped = Via::parse(stampedResp->headerList("Via")[0]);
  ASSERT_TRUE(stamped);
  EXPECT_EQ(stamped->rport, 40123);
  EXPECT_EQ(stamped->received, "198.51.100.7");
  EXPECT_EQ(stamped->branch, "z9hG4bK776asdhds");

  // No rport and a sent-by that matches the source: nothing to add (RFC 3261 §18.2.1).
  req->setSource("192.0.2.1", 5060);
  auto resp = SipMessage::parse(buildResponse(*req, 200, "OK", "t"));
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->headerList("Via"), req->headerList("Via"));
  // A different source: received, and only on the top element.
  req->setSource("203.0.113.50", 5060);
  resp = SipMessage::parse(buildResponse(*req, 200, "OK", "t"));
  ASSERT_TRUE(resp);
  const auto vias = resp->headerList("Via");
  ASSERT_EQ(vias.size(), 3U);
  EXPECT_EQ(vias[0], "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa1;received=203.0.113.50");
  EXPECT_EQ(vias[1], req->headerList("Via")[1]);
  EXPECT_FALSE(Via::parse(vias[0])->hasRport);
}

TEST(BuildBadRequest, AnswersWithTheHeadersFoundLenientlyAndADeterministicToTag) {
  const std::string raw = invite().noContentLength().add("Content-Length: -5").str();
  ASSERT_FALSE(SipMessage::parse(raw));
  const std::string text = buildBadRequest(raw, "Malformed Content-Length header");
  auto resp = SipMessage::parse(text);
  ASSERT_TRUE(resp) << text;
  EXPECT_EQ(resp->status(), 400);
  EXPECT_EQ(resp->reason(), "Malformed Content-Length header");
  EXPECT_EQ(resp->topViaBranch(), "z9hG4bK776asdhds");
  EXPECT_EQ(resp->callId(), "a84b4c76e66710@pc33.atlanta.example.com");
  EXPECT_EQ(resp->fromTag(), "1928301774");
  EXPECT_FALSE(resp->toTag().empty());
  EXPECT_EQ(buildBadRequest(raw, "Malformed Content-Length header"), text);  // retransmissions match
}

TEST(BuildBadRequest, KeepsAnExistingToTagAndUsesTheErrorStatus) {
  const std::string raw = invite("INVITE sip:bob@biloxi.example.com SIP/7.0")
                              .drop("To")
                              .add("To: <sip:bob@biloxi.example.com>;tag=dlg1")
                              .str();
  auto parsed = SipMessage::parse(raw);
  ASSERT_FALSE(parsed);
  auto resp = SipMessage::parse(buildBadRequest(raw, parsed.error()));
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->status(), 505);
  EXPECT_EQ(resp->reason(), "Version Not Supported");
  EXPECT_EQ(resp->toTag(), "dlg1");
}

TEST(BuildBadRequest, FindsFoldedAndCompactHeaders) {
  const std::string raw = crlf(
      "INVITE sip:x@example.com SIP/2.0\n"
      "v: SIP/2.0/UDP\n 192.0.2.1;branch=z9hG4bKf\n"
      "f: <sip:a@example.com>;tag=1\n"
      "t: <sip:x@example.com>\n"
      "i: fold@x\n"
      "CSeq: 1 INVITE\n"
      "l: abc\n"
      "\n");
  auto resp = SipMessage::parse(buildBadRequest(raw, "Malformed Content-Length header"));
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->topViaBranch(), "z9hG4bKf");
  EXPECT_EQ(resp->callId(), "fold@x");
}

// A request that names where its response goes (Via) gets a 400 even when other mandatory
// headers are missing: the reason phrase tells the sender what to fix.
TEST(BuildBadRequest, AnswersARequestMissingCallIdThroughItsVia) {
  std::string r = buildBadRequest(invite().drop("Call-ID").str(), "Missing Call-ID header");
  EXPECT_EQ(r.rfind("SIP/2.0 400 Missing Call-ID header\r\n", 0), 0U) << r;
  EXPECT_NE(r.find("Via: SIP/2.0/UDP pc33.atlanta.example.com"), std::string::npos);
  EXPECT_EQ(r.find("\r\nCall-ID:"), std::string::npos);
}

TEST(BuildBadRequest, GivesUpWhenViaIsMissingOrTheBytesAreAResponse) {
  EXPECT_EQ(buildBadRequest("", "Empty message"), "");
  EXPECT_EQ(buildBadRequest("\r\n\r\n", "Keep-alive only"), "");
  EXPECT_EQ(buildBadRequest(invite().drop("Via").str(), "Missing Via header"), "");
  EXPECT_EQ(buildBadRequest(okResponse().add("Content-Length: x").str(), "Malformed Content-Length header"),
            "");
  std::string nul = invite().str();
  nul.insert(nul.find("a84b4c76"), 1, '\0');
  EXPECT_EQ(buildBadRequest(nul, "NUL byte in message header"), "");
}

}  // namespace
}  // namespace rdv::sip
