#include "signaling/sip/SipMessage.h"

// Reason phrases of parse errors. They go on the wire as the reason phrase of the error response
// and another test suite checks them: change them only together with the tests. Status 400
// unless noted. Checks run in this order, so the first problem found is reported. Some come from
// the parser's helpers: line lexing (SipHeaderLine.cc) and header value checks
// (SipHeaderValues.cc).
//
//   SipMessage::parse
//     "Empty message"                        no bytes at all
//     "Keep-alive only"                      nothing but CR/LF
//     "Message Too Large"              (513) over kMaxMessageSize bytes after leading CR/LF
//     "NUL byte in message header"           NUL in the start line or header section
//     "Control character in message header"  other CTL (not HT) or DEL there, even in a
//                                            quoted-pair (deliberately stricter than RFC 3261)
//     "Bare CR in message header"            CR not followed by LF there
//     "Malformed request line"               not METHOD SP Request-URI SP SIP-Version; method
//                                            not a token; extra or trailing spaces
//     "Missing Request-URI"                  "METHOD SIP/2.0"
//     "Malformed Request-URI"                not an absoluteURI; sip/sips/tel not valid per
//                                            SipUri::parse; sip/sips with ?headers (§19.1.1)
//     "Malformed status line"                not SIP-Version SP Status-Code [SP Reason]
//     "Invalid status code"                  not exactly 3 digits, or outside 100..699
//     "Version Not Supported"          (505) a well-formed SIP/x.y other than SIP/2.0
//     "Header section not terminated"        input ends before the empty line after the headers
//     "Malformed header line"                name not a token, no ':', or a leading fold
//     "Too many headers"                     more than kMaxHeaders header lines
//     "Duplicate Call-ID header"             Call-ID, CSeq, From, To, Content-Length and
//     "Duplicate CSeq header"                Max-Forwards at most once each (RFC 3261 §7.3.1:
//     "Duplicate From header"                only comma-list headers may repeat)
//     "Duplicate To header"
//     "Duplicate Content-Length header"
//     "Duplicate Max-Forwards header"
//     "Malformed Call-ID header"             not word ["@" word] (RFC 3261 §25.1)
//     "Malformed CSeq header"                not 1*DIGIT LWS Method
//     "CSeq number out of range"             >= 2^31 (RFC 3261 §8.1.1.5)
//     "Malformed From header"                not a NameAddr, "*", or a tag that is not
//     "Malformed To header"                  "tag=" token (RFC 3261 §25.1 tag-param)
//     "Malformed Via header"                 an element not valid per Via::parse (or empty)
//     "Malformed Contact header"             an element not a NameAddr (or empty)
//     "Malformed Route header"               an element not a NameAddr, or "*"
//     "Malformed Record-Route header"
//     "Malformed Max-Forwards header"        not 1*DIGIT, or above 255
//     "Malformed Content-Length header"      not 1*DIGIT (negative values included)
//     "Content-Length too large"             above kMaxMessageSize (overflowing values too)
//     "Missing Call-ID header"               checked in this order
//     "Missing CSeq header"
//     "Missing From header"
//     "Missing To header"
//     "Missing Via header"
//     "CSeq method does not match request method"
//                                            requests only (RFC 4475 §3.1.2 mismatch01/02)
//     "Content-Length exceeds body"          datagram shorter than Content-Length says
//   Header values are checked with SipUri::parse, NameAddr::parse and Via::parse, which have their
//   own lists; a message reports their failures as "Malformed <Header> header" / "Malformed
//   Request-URI". Framing errors are listed in SipFraming.cc.

#include <algorithm>
#include <cstdint>

#include "signaling/sip/SipFraming.h"
#include "signaling/sip/SipGrammar.h"
#include "signaling/sip/SipHeaderLine.h"
#include "signaling/sip/SipHeaderValues.h"
#include "signaling/sip/SipLex.h"

namespace rdv::sip {

namespace {

using detail::badHeaderByte;
using detail::checkAddressList;
using detail::checkTaggedNameAddr;
using detail::checkVersion;
using detail::checkViaLine;
using detail::headerError;
using detail::HeaderId;
using detail::isCallId;
using detail::isDigit;
using detail::KnownHeader;
using detail::parseBounded;
using detail::parseCSeq;
using detail::readHeaderName;
using detail::readHeaderValue;
using detail::sipError;
using detail::startsWithIgnoreCase;
using detail::validRequestUri;

// Call-ID, CSeq, From, To, Content-Length and Max-Forwards appear at most once (RFC 3261 §7.3.1:
// only comma-list headers may repeat).
bool isSingleton(HeaderId id) {
  return id == HeaderId::CallId || id == HeaderId::CSeq || id == HeaderId::From || id == HeaderId::To ||
         id == HeaderId::ContentLength || id == HeaderId::MaxForwards;
}

}  // namespace

Expected<SipMessage, SipError> SipMessage::parse(std::string bytes) {
  if (bytes.empty()) {
    return Unexpected(sipError("Empty message"));
  }
  const size_t lead = skipKeepalive(bytes);
  if (lead == bytes.size()) {
    return Unexpected(sipError("Keep-alive only"));
  }
  if (bytes.size() - lead > kMaxMessageSize) {
    return Unexpected(sipError("Message Too Large", 513));
  }
  bytes.erase(0, lead);
  SipMessage msg;
  msg.raw_ = std::make_unique<std::string>(std::move(bytes));
  if (auto failure = msg.parseOwned()) {
    return Unexpected(std::move(*failure));
  }
  return msg;
}

struct SipMessage::HeaderTally {
  uint32_t seen = 0;  // bit per HeaderId met so far
  std::optional<uint64_t> contentLength;
  bool sawVia = false;

  // Records id; false when it was already there.
  bool firstTime(HeaderId id) {
    const uint32_t bit = 1U << static_cast<unsigned>(id);
    const bool first = (seen & bit) == 0;
    seen |= bit;
    return first;
  }
  bool has(HeaderId id) const { return (seen & (1U << static_cast<unsigned>(id))) != 0; }
};

std::optional<SipError> SipMessage::parseOwned() {
  const std::string_view s(*raw_);
  const size_t firstLf = s.find('\n');
  std::string_view line = s.substr(0, firstLf);
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (auto bad = parseStartLine(line)) {
    return bad;
  }
  if (firstLf == std::string_view::npos) {
    return sipError("Header section not terminated");
  }
  HeaderTally tally;
  size_t pos = firstLf + 1;
  if (auto bad = parseHeaderSection(pos, tally)) {
    return bad;
  }
  if (auto bad = checkWholeMessage(tally)) {
    return bad;
  }
  return cutBody(pos, tally.contentLength);
}

// Start line (RFC 3261 §7.1, §7.2), without its line end.
std::optional<SipError> SipMessage::parseStartLine(std::string_view line) {
  for (const char c : line) {
    if (c == '\r') {
      return sipError("Bare CR in message header");
    }
    if (auto bad = badHeaderByte(static_cast<unsigned char>(c))) {
      return bad;
    }
  }
  if (startsWithIgnoreCase(line, "SIP/")) {
    return parseStatusLine(line);
  }
  return parseRequestLine(line);
}

// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (the reason may be missing).
std::optional<SipError> SipMessage::parseStatusLine(std::string_view line) {
  isRequest_ = false;
  const size_t sp = line.find(' ');
  const int version = checkVersion(line.substr(0, sp));
  if (version == 400 || sp == std::string_view::npos) {
    return sipError("Malformed status line");
  }
  if (version == 505) {
    return sipError("Version Not Supported", 505);
  }
  const std::string_view code = line.substr(sp + 1, 3);
  if (code.size() != 3 || !std::all_of(code.begin(), code.end(), isDigit) ||
      (sp + 4 < line.size() && line[sp + 4] != ' ')) {
    return sipError("Invalid status code");
  }
  status_ = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  if (status_ < 100 || status_ > 699) {
    return sipError("Invalid status code");
  }
  reason_ = sp + 4 < line.size() ? line.substr(sp + 5) : line.substr(line.size());
  return std::nullopt;
}

// Request-Line = Method SP Request-URI SP SIP-Version.
std::optional<SipError> SipMessage::parseRequestLine(std::string_view line) {
  isRequest_ = true;
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || !isSipToken(line.substr(0, sp1))) {
    return sipError("Malformed request line");
  }
  methodText_ = line.substr(0, sp1);
  method_ = methodFromName(methodText_);
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) {
    return sipError(startsWithIgnoreCase(line.substr(sp1 + 1), "SIP/") ? "Missing Request-URI"
                                                                       : "Malformed request line");
  }
  requestUri_ = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (requestUri_.empty()) {
    return sipError("Malformed request line");
  }
  const int version = checkVersion(line.substr(sp2 + 1));
  if (version == 400) {
    return sipError("Malformed request line");
  }
  if (version == 505) {
    return sipError("Version Not Supported", 505);
  }
  if (!validRequestUri(requestUri_)) {
    return sipError("Malformed Request-URI");
  }
  return std::nullopt;
}

// Header lines (RFC 3261 §7.3), each checked as it is read.
std::optional<SipError> SipMessage::parseHeaderSection(size_t& pos, HeaderTally& tally) {
  const std::string_view s(*raw_);
  const size_t n = s.size();
  headers_.reserve(24);
  while (true) {
    if (pos >= n) {
      return sipError("Header section not terminated");
    }
    if (s[pos] == '\n' || (s[pos] == '\r' && pos + 1 < n && s[pos + 1] == '\n')) {
      pos += s[pos] == '\n' ? 1U : 2U;
      return std::nullopt;  // the empty line
    }
    const auto writtenName = readHeaderName(s, pos);
    if (!writtenName) {
      return writtenName.error();
    }
    const auto value = readHeaderValue(s, pos);
    if (!value) {
      return value.error();
    }
    const KnownHeader known = detail::lookupHeader(*writtenName);
    if (headers_.size() == kMaxHeaders) {
      return sipError("Too many headers");
    }
    headers_.push_back(SipHeader{known.name, *value});
    if (auto bad = checkHeader(known, *value, tally)) {
      return bad;
    }
  }
}

std::optional<SipError> SipMessage::checkHeader(const KnownHeader& known, std::string_view value,
                                                HeaderTally& tally) {
  if (isSingleton(known.id) && !tally.firstTime(known.id)) {
    return headerError("Duplicate", known.name);
  }
  switch (known.id) {
    case HeaderId::Other:
      break;
    case HeaderId::CallId:
      if (!isCallId(value)) {
        return headerError("Malformed", known.name);
      }
      callId_ = value;
      break;
    case HeaderId::CSeq: {
      const auto cseq = parseCSeq(value);
      if (!cseq) {
        return headerError("Malformed", known.name);
      }
      if (cseq->number > 0x7fffffffU) {
        return sipError("CSeq number out of range");
      }
      cseq_ = static_cast<uint32_t>(cseq->number);
      cseqMethodText_ = cseq->method;
      cseqMethod_ = methodFromName(cseq->method);
      break;
    }
    case HeaderId::From:
    case HeaderId::To: {
      const auto tag = checkTaggedNameAddr(known.name, value);
      if (!tag) {
        return tag.error();
      }
      (known.id == HeaderId::From ? fromTag_ : toTag_) = *tag;
      break;
    }
    case HeaderId::Via: {
      const auto branch = checkViaLine(known.name, value);
      if (!branch) {
        return branch.error();
      }
      if (!tally.sawVia) {
        topViaBranch_ = *branch;
        tally.sawVia = true;
      }
      break;
    }
    case HeaderId::Contact:
    case HeaderId::Route:
    case HeaderId::RecordRoute:
      return checkAddressList(known, value);
    case HeaderId::ContentLength:
      tally.contentLength = parseBounded(value, kMaxMessageSize);
      if (!tally.contentLength) {
        return headerError("Malformed", known.name);
      }
      if (*tally.contentLength > kMaxMessageSize) {
        return sipError("Content-Length too large");
      }
      break;
    case HeaderId::MaxForwards: {
      const auto hops = parseBounded(value, 255);
      if (!hops || *hops > 255) {
        return headerError("Malformed", known.name);
      }
      maxForwards_ = static_cast<int>(*hops);
      break;
    }
  }
  return std::nullopt;
}

// Rules over the whole header section, checked in this order.
std::optional<SipError> SipMessage::checkWholeMessage(const HeaderTally& tally) const {
  if (!tally.has(HeaderId::CallId)) {
    return sipError("Missing Call-ID header");
  }
  if (!tally.has(HeaderId::CSeq)) {
    return sipError("Missing CSeq header");
  }
  if (!tally.has(HeaderId::From)) {
    return sipError("Missing From header");
  }
  if (!tally.has(HeaderId::To)) {
    return sipError("Missing To header");
  }
  if (!tally.sawVia) {
    return sipError("Missing Via header");
  }
  if (isRequest_ && cseqMethodText_ != methodText_) {
    return sipError("CSeq method does not match request method");
  }
  return std::nullopt;
}

// Body (RFC 3261 §18.3, §20.14): Content-Length bytes when given, else the rest of the datagram.
std::optional<SipError> SipMessage::cutBody(size_t bodyStart, std::optional<uint64_t> contentLength) {
  const std::string_view s(*raw_);
  const size_t available = s.size() - bodyStart;
  size_t bodySize = available;
  if (contentLength) {
    if (*contentLength > available) {
      return sipError("Content-Length exceeds body");
    }
    bodySize = static_cast<size_t>(*contentLength);
  }
  body_ = s.substr(bodyStart, bodySize);
  if (bodySize < available) {
    // Drop the extra datagram bytes. Shrinking keeps the buffer in practice; rebase to be exact.
    const auto oldBase = reinterpret_cast<uintptr_t>(raw_->data());
    const size_t oldSize = raw_->size();
    raw_->resize(bodyStart + bodySize);
    rebaseViews(oldBase, oldSize);
  }
  return std::nullopt;
}

SipMessage::SipMessage(const SipMessage& other)
    : raw_(std::make_unique<std::string>(*other.raw_)),
      headers_(other.headers_),
      isRequest_(other.isRequest_),
      method_(other.method_),
      methodText_(other.methodText_),
      requestUri_(other.requestUri_),
      status_(other.status_),
      reason_(other.reason_),
      body_(other.body_),
      callId_(other.callId_),
      cseq_(other.cseq_),
      cseqMethod_(other.cseqMethod_),
      cseqMethodText_(other.cseqMethodText_),
      fromTag_(other.fromTag_),
      toTag_(other.toTag_),
      topViaBranch_(other.topViaBranch_),
      maxForwards_(other.maxForwards_),
      sourceIp_(other.sourceIp_),
      sourcePort_(other.sourcePort_) {
  rebaseViews(reinterpret_cast<uintptr_t>(other.raw_->data()), other.raw_->size());
}

SipMessage& SipMessage::operator=(const SipMessage& other) {
  if (this != &other) {
    SipMessage copy(other);
    *this = std::move(copy);
  }
  return *this;
}

// Views that pointed into [oldBase, oldBase + oldSize] now point at the same offsets of raw_,
// which holds the same bytes (a copy, or the same buffer after a shrink). Views into static
// storage (canonical header names) are kept.
void SipMessage::rebaseViews(uintptr_t oldBase, size_t oldSize) {
  const char* newBase = raw_->data();
  if (reinterpret_cast<uintptr_t>(newBase) == oldBase) {
    return;
  }
  const auto rebase = [&](std::string_view& v) {
    const auto p = reinterpret_cast<uintptr_t>(v.data());
    if (v.data() != nullptr && p >= oldBase && p <= oldBase + oldSize) {
      v = std::string_view(newBase + (p - oldBase), v.size());
    }
  };
  for (SipHeader& h : headers_) {
    rebase(h.name);
    rebase(h.value);
  }
  for (std::string_view* v : {&methodText_, &requestUri_, &reason_, &body_, &callId_, &cseqMethodText_,
                              &fromTag_, &toTag_, &topViaBranch_}) {
    rebase(*v);
  }
}

std::string_view SipMessage::header(std::string_view name) const {
  const std::string_view wanted = canonicalHeaderName(name);
  for (const SipHeader& h : headers_) {
    if (equalsIgnoreCase(h.name, wanted)) {
      return h.value;
    }
  }
  return {};
}

std::vector<std::string_view> SipMessage::headerList(std::string_view name) const {
  const std::string_view wanted = canonicalHeaderName(name);
  std::vector<std::string_view> out;
  for (const SipHeader& h : headers_) {
    if (!equalsIgnoreCase(h.name, wanted)) {
      continue;
    }
    for (SipListCursor cursor(h.value); !cursor.done();) {
      const std::string_view element = cursor.next();
      if (!element.empty()) {
        out.push_back(element);
      }
    }
  }
  return out;
}

void SipMessage::setSource(std::string_view ip, uint16_t port) {
  sourceIp_.assign(ip);
  sourcePort_ = port;
}

}  // namespace rdv::sip
