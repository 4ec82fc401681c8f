// libFuzzer target for the SIP message codec (signaling/sip/: SipMessage, SipFraming, SipResponse,
// SipBadRequest, SipUri, NameAddr, Via). Checks:
//  - framing: sipFrameLength/skipKeepalive stay within the buffer and the size limit;
//  - every accepted message keeps the parser's guarantees (Via/From/To/Contact values parse, views
//    point into raw()), survives copy and move, and parses again from raw() to the same values;
//  - for accepted requests, buildResponse (with and without a known source) produces a response
//    that parses, whenever it fits the message limits;
//  - for rejected input, the reason is non-empty and buildBadRequest gives "" or a well-formed 400;
//  - the URI / name-addr / Via parsers never crash on any header value or list element.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipBadRequest.h"
#include "signaling/sip/SipFraming.h"
#include "signaling/sip/SipLex.h"
#include "signaling/sip/SipMessage.h"
#include "signaling/sip/SipResponse.h"
#include "signaling/sip/SipUri.h"
#include "signaling/sip/Via.h"

namespace {

using rdv::sip::NameAddr;
using rdv::sip::SipHeader;
using rdv::sip::SipListCursor;
using rdv::sip::SipMessage;
using rdv::sip::SipUri;
using rdv::sip::Via;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

bool inside(std::string_view view, const std::string& raw) {
  return view.empty() || (view.data() >= raw.data() && view.data() + view.size() <= raw.data() + raw.size());
}

// formatNameAddr writes what NameAddr::parse reads back as the same URI and display name (less
// the control characters no display name can carry, which it drops).
void checkNameAddrRoundTrip(const NameAddr& na) {
  const std::string text = na.displayNameText();
  const std::string written = rdv::sip::formatNameAddr(text, na.uri);
  auto back = NameAddr::parse(written);
  check(back.has_value());
  check(back->uri == na.uri);
  std::string expected;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\r' || c == '\n') {
      expected += ' ';
    } else if (u >= 0x20 || c == '\t') {
      if (u != 0x7f) expected += c;
    }
  }
  check(back->displayNameText() == expected);
}

void exerciseValueParsers(std::string_view value) {
  (void)SipUri::parse(value);
  (void)NameAddr::parse(value);
  (void)Via::parse(value);
  for (SipListCursor cursor(value); !cursor.done();) {
    const std::string_view element = cursor.next();
    if (auto na = NameAddr::parse(element)) {
      (void)na->param("tag");
      if (auto uri = SipUri::parse(na->uri)) {
        (void)uri->param("lr");
        (void)uri->unescapedUser();
      }
      if (!na->star) checkNameAddrRoundTrip(*na);
    }
    if (auto via = Via::parse(element)) {
      (void)via->param("branch");
    }
  }
}

void checkGuarantees(const SipMessage& m) {
  const std::string& raw = m.raw();
  check(raw.size() <= SipMessage::kMaxMessageSize);
  check(m.headers().size() <= SipMessage::kMaxHeaders);
  check(inside(m.body(), raw) && inside(m.callId(), raw) && inside(m.topViaBranch(), raw));
  check(!m.callId().empty());
  check(m.cseq() < 0x80000000U);
  check(NameAddr::parse(m.header("From")).has_value());
  check(NameAddr::parse(m.header("To")).has_value());
  const auto vias = m.headerList("Via");
  check(!vias.empty());
  for (const std::string_view v : vias) {
    check(Via::parse(v).has_value());
  }
  for (const std::string_view c : m.headerList("Contact")) {
    check(NameAddr::parse(c).has_value());
  }
  if (m.isRequest()) {
    check(m.cseqMethodText() == m.methodText());
    check(!m.requestUri().empty());
  } else {
    check(m.status() >= 100 && m.status() <= 699);
  }
  for (const SipHeader& h : m.headers()) {
    check(inside(h.value, raw));
    (void)m.headerList(h.name);
    exerciseValueParsers(h.value);
  }
}

void checkResponses(const SipMessage& req) {
  size_t viaLines = 0;
  for (const SipHeader& h : req.headers()) {
    viaLines += h.name == "Via" ? 1 : 0;
  }
  const std::vector<std::string> extra{"Contact: <sip:b2bua@203.0.113.1:5060>", "Server: rendezvous"};
  const std::string body = "v=0\r\n";
  SipMessage withSource = req;
  withSource.setSource("203.0.113.77", 40000);
  for (const SipMessage* m : {&req, static_cast<const SipMessage*>(&withSource)}) {
    for (const int status : {100, 180, 200, 487}) {
      const std::string text =
          buildResponse(*m, status, "Fuzz Reason", "fz1", extra, body, "application/sdp");
      if (text.size() > SipMessage::kMaxMessageSize || viaLines + 8 > SipMessage::kMaxHeaders) {
        continue;
      }
      auto resp = SipMessage::parse(text);
      check(resp.has_value());
      check(!resp->isRequest() && resp->status() == status);
      check(resp->callId() == req.callId() && resp->cseq() == req.cseq());
      check(resp->cseqMethodText() == req.cseqMethodText());
      check(resp->fromTag() == req.fromTag());
      check(resp->headerList("Via").size() == req.headerList("Via").size());
      check(resp->body() == body);
      if (!req.toTag().empty()) {
        check(resp->toTag() == req.toTag());
      } else if (status > 100) {
        check(resp->toTag() == "fz1");
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const size_t keepalive = rdv::sip::skipKeepalive(input);
  check(keepalive <= input.size());
  for (const size_t maxSize : {size_t{256}, SipMessage::kMaxMessageSize}) {
    auto frame = rdv::sip::sipFrameLength(input, maxSize);
    if (frame) {
      check(*frame <= input.size());
      check(*frame == 0 || *frame - keepalive <= maxSize);
    } else {
      check(!frame.error().reason.empty());
    }
  }

  auto parsed = SipMessage::parse(std::string(input));
  if (!parsed) {
    const auto& err = parsed.error();
    check(!err.reason.empty() && err.status >= 400 && err.status <= 599);
    const std::string bad = rdv::sip::buildBadRequest(input, err);
    if (!bad.empty()) {
      check(bad.starts_with("SIP/2.0 ") && bad.ends_with("Content-Length: 0\r\n\r\n"));
    }
    // Values the lenient path might meet.
    size_t lineStart = 0;
    for (size_t i = 0; i < input.size() && lineStart < 4096; ++i) {
      if (input[i] == '\n') {
        const std::string_view line = input.substr(lineStart, i - lineStart);
        const size_t colon = line.find(':');
        if (colon != std::string_view::npos) {
          exerciseValueParsers(line.substr(colon + 1));
        }
        lineStart = i + 1;
      }
    }
    return 0;
  }

  SipMessage copy = *parsed;  // copies re-point their views
  SipMessage moved = std::move(*parsed);
  checkGuarantees(moved);
  checkGuarantees(copy);
  check(copy.raw() == moved.raw() && copy.callId() == moved.callId() && copy.body() == moved.body());

  auto again = SipMessage::parse(moved.raw());
  check(again.has_value());
  check(again->raw() == moved.raw() && again->headers().size() == moved.headers().size());
  check(again->topViaBranch() == moved.topViaBranch() && again->toTag() == moved.toTag());

  if (moved.isRequest()) {
    checkResponses(moved);
  }
  return 0;
}
