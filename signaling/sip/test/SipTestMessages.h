#pragma once
// SIP messages shared by the codec tests (SipMessageTest, SipFramingTest, SipResponseTest): a
// small builder and RFC 4475-style tortuous messages. Written with LF and converted to CRLF.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/test/Crlf.h"

namespace rdv::sip::test {

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

inline Msg invite(std::string startLine = "INVITE sip:bob@biloxi.example.com SIP/2.0") {
  return Msg(std::move(startLine))
      .add("Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport")
      .add("Max-Forwards: 70")
      .add("To: Bob <sip:bob@biloxi.example.com>")
      .add("From: Alice <sip:alice@atlanta.example.com>;tag=1928301774")
      .add("Call-ID: a84b4c76e66710@pc33.atlanta.example.com")
      .add("CSeq: 314159 INVITE")
      .add("Contact: <sip:alice@pc33.atlanta.example.com>");
}

inline Msg okResponse() {
  return Msg("SIP/2.0 200 OK")
      .add("Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1")
      .add("To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf")
      .add("From: Alice <sip:alice@atlanta.example.com>;tag=1928301774")
      .add("Call-ID: a84b4c76e66710@pc33.atlanta.example.com")
      .add("CSeq: 314159 INVITE");
}

inline constexpr std::string_view kSdp =
    "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.4\r\ns=-\r\nc=IN IP4 192.0.2.4\r\nt=0 0\r\n"
    "m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

// The message with its start line replaced.
inline std::string withStartLine(const std::string& message, std::string_view startLine) {
  return std::string(startLine) + message.substr(message.find("\r\n"));
}

// Replaces "{len}" with the length of what follows the first empty line.
inline std::string withLength(std::string message) {
  const size_t bodyStart = message.find("\r\n\r\n") + 4;
  const size_t at = message.find("{len}");
  const std::string len = std::to_string(message.size() - bodyStart);
  return message.replace(at, 5, len);
}

// Messages written for these suites in the spirit of RFC 4475 §3.1.

// Short tortuous INVITE: mixed-case and padded header names, folds everywhere LWS may appear,
// escaped quotes, compact forms, addr-spec To with spaced params, several Vias on one line.
inline const std::string kTortuousInvite =
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
inline const std::string kWideCharacters = crlf(
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

inline const std::string kCompact = crlf(
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

inline const std::string kEscapedUris =
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

inline const std::string kMultiplePerLine =
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


}  // namespace rdv::sip::test
