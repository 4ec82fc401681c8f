#include "signaling/sip/SipMessage.h"

// Reason phrases of parse and framing errors. They go on the wire as the reason phrase of the
// error response and another test suite checks them: change them only together with the tests.
// Status 400 unless noted. Checks run in this order, so the first problem found is reported.
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
//   sipFrameLength (streams)
//     "Message Too Large"               (513) header section or whole frame above maxSize
//     "Missing Content-Length header"        mandatory on streams (RFC 3261 §18.3)
//     "Malformed Content-Length header"
//     "Duplicate Content-Length header"
//     "Content-Length too large"             above maxSize
//   The URI, name-addr and Via parsers (SipUri.cc) have their own list; a message reports their
//   failures as "Malformed <Header> header" / "Malformed Request-URI".

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cstdint>
#include <cstring>

namespace rdv::sip {

namespace {

constexpr std::string_view kSipVersion = "SIP/2.0";

// Headers the parser checks (everything else is kept without looking inside).
enum class HeaderId : uint8_t {
  Other,
  CallId,
  CSeq,
  From,
  To,
  Via,
  Contact,
  Route,
  RecordRoute,
  ContentLength,
  MaxForwards
};

struct KnownHeader {
  std::string_view name;
  HeaderId id = HeaderId::Other;
};

// Canonical spellings (RFC 3261 §20 and extensions in common use).
constexpr KnownHeader kKnownHeaders[] = {
    {"Via", HeaderId::Via},
    {"From", HeaderId::From},
    {"To", HeaderId::To},
    {"Call-ID", HeaderId::CallId},
    {"CSeq", HeaderId::CSeq},
    {"Contact", HeaderId::Contact},
    {"Max-Forwards", HeaderId::MaxForwards},
    {"Content-Length", HeaderId::ContentLength},
    {"Route", HeaderId::Route},
    {"Record-Route", HeaderId::RecordRoute},
    {"Content-Type"},
    {"Accept"},
    {"Accept-Contact"},
    {"Accept-Encoding"},
    {"Accept-Language"},
    {"Alert-Info"},
    {"Allow"},
    {"Allow-Events"},
    {"Authentication-Info"},
    {"Authorization"},
    {"Call-Info"},
    {"Content-Disposition"},
    {"Content-Encoding"},
    {"Content-Language"},
    {"Date"},
    {"Error-Info"},
    {"Event"},
    {"Expires"},
    {"Identity"},
    {"Identity-Info"},
    {"In-Reply-To"},
    {"Join"},
    {"MIME-Version"},
    {"Min-Expires"},
    {"Min-SE"},
    {"Organization"},
    {"P-Asserted-Identity"},
    {"P-Preferred-Identity"},
    {"Path"},
    {"Priority"},
    {"Privacy"},
    {"Proxy-Authenticate"},
    {"Proxy-Authorization"},
    {"Proxy-Require"},
    {"RAck"},
    {"Reason"},
    {"Refer-To"},
    {"Referred-By"},
    {"Reject-Contact"},
    {"Replaces"},
    {"Reply-To"},
    {"Request-Disposition"},
    {"Require"},
    {"Retry-After"},
    {"RSeq"},
    {"Server"},
    {"Service-Route"},
    {"Session-Expires"},
    {"SIP-ETag"},
    {"SIP-If-Match"},
    {"Subject"},
    {"Subscription-State"},
    {"Supported"},
    {"Timestamp"},
    {"Unsupported"},
    {"User-Agent"},
    {"Warning"},
    {"WWW-Authenticate"},
};

// RFC 3261 §7.3.3 compact forms, plus those registered later (RFC 3841, 3892, 4028, 4474, 6665).
KnownHeader lookupHeader(std::string_view name) {
  if (name.size() == 1) {
    // clang-format off
    switch (name[0] | 0x20) {
      case 'a': return {"Accept-Contact"};
      case 'b': return {"Referred-By"};
      case 'c': return {"Content-Type"};
      case 'd': return {"Request-Disposition"};
      case 'e': return {"Content-Encoding"};
      case 'f': return {"From", HeaderId::From};
      case 'i': return {"Call-ID", HeaderId::CallId};
      case 'j': return {"Reject-Contact"};
      case 'k': return {"Supported"};
      case 'l': return {"Content-Length", HeaderId::ContentLength};
      case 'm': return {"Contact", HeaderId::Contact};
      case 'n': return {"Identity-Info"};
      case 'o': return {"Event"};
      case 'r': return {"Refer-To"};
      case 's': return {"Subject"};
      case 't': return {"To", HeaderId::To};
      case 'u': return {"Allow-Events"};
      case 'v': return {"Via", HeaderId::Via};
      case 'x': return {"Session-Expires"};
      case 'y': return {"Identity"};
      default: return {name};
    }
    // clang-format on
  }
  for (const KnownHeader& known : kKnownHeaders) {
    if (known.name.size() == name.size() && equalsIgnoreCase(known.name, name)) {
      return known;
    }
  }
  return {name};
}

SipError error(std::string_view reason, int status = 400) {
  return SipError{status, std::string(reason)};
}

SipError headerError(std::string_view what, std::string_view header) {
  std::string reason;
  reason.reserve(what.size() + header.size() + 8);
  reason.append(what).append(" ").append(header).append(" header");
  return SipError{400, std::move(reason)};
}

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && equalsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

constexpr bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// 1*DIGIT whose value is at most `max`; nullopt for other text, `max + 1` when it is larger.
std::optional<uint64_t> parseBounded(std::string_view digits, uint64_t max) {
  if (digits.empty()) {
    return std::nullopt;
  }
  uint64_t v = 0;
  bool over = false;
  for (const char c : digits) {
    if (!isDigit(c)) {
      return std::nullopt;
    }
    if (!over) {
      v = v * 10 + static_cast<uint64_t>(c - '0');
      over = v > max;
    }
  }
  return over ? max + 1 : v;
}

// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT. 0: SIP/2.0, 505: another version, 400: malformed.
int checkVersion(std::string_view v) {
  if (!startsWithIgnoreCase(v, "SIP/")) {
    return 400;
  }
  const std::string_view number = v.substr(4);
  const size_t dot = number.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot + 1 == number.size() ||
      !std::all_of(number.begin(), number.begin() + static_cast<ptrdiff_t>(dot), isDigit) ||
      !std::all_of(number.begin() + static_cast<ptrdiff_t>(dot) + 1, number.end(), isDigit)) {
    return 400;
  }
  return number == "2.0" ? 0 : 505;
}

// Call-ID = word [ "@" word ] (RFC 3261 §25.1), several '@' tolerated.
bool isCallId(std::string_view v) {
  if (v.empty()) {
    return false;
  }
  for (const char c : v) {
    if (!isSipTokenChar(c) && std::string_view("()<>:\\\"/[]?{}@").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

struct CSeqValue {
  uint64_t number = 0;
  std::string_view method;
};

// CSeq = 1*DIGIT LWS Method; number capped at 2^31 (out of range).
std::optional<CSeqValue> parseCSeq(std::string_view v) {
  size_t pos = 0;
  while (pos < v.size() && isDigit(v[pos])) {
    ++pos;
  }
  if (pos == 0 || pos == v.size() || !isSipLws(v[pos])) {
    return std::nullopt;
  }
  CSeqValue out;
  out.number = *parseBounded(v.substr(0, pos), 0x7fffffffU);
  out.method = trimLws(v.substr(pos));
  if (!isSipToken(out.method)) {
    return std::nullopt;
  }
  return out;
}

// tag-param = "tag" EQUAL token (RFC 3261 §25.1): the first tag's value, "" when there is none,
// nullopt when it is not a token.
std::optional<std::string_view> tagParam(std::string_view params) {
  for (SipParamCursor cursor(params); !cursor.done();) {
    const SipParam p = cursor.next();
    if (equalsIgnoreCase(p.name, "tag")) {
      if (!p.hasValue || !isSipToken(p.value)) {
        return std::nullopt;
      }
      return p.value;
    }
  }
  return std::string_view();
}

// Request-URI = SIP-URI / SIPS-URI / absoluteURI; headers are not allowed in it (§19.1.1 table).
bool validRequestUri(std::string_view uri) {
  auto sip = SipUri::parse(uri);
  if (sip) {
    return sip->headers.empty();
  }
  return sip.error().status == 416 && checkAnyUri(uri).has_value();
}

// The CTL check shared by the start line and header lines; nullopt when c is acceptable.
std::optional<SipError> badHeaderByte(unsigned char c) {
  if (c == 0) {
    return error("NUL byte in message header");
  }
  if ((c < 0x20 && c != '\t') || c == 0x7f) {
    return error("Control character in message header");
  }
  return std::nullopt;
}

void appendNumber(std::string& out, uint64_t v) {
  std::array<char, 24> buf{};
  const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), res.ptr);
}

// Copies a header value with its folds flattened (the CR/LF go, the SP/HT that follow stay).
void appendValue(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c != '\r' && c != '\n') {
      out += c;
    }
  }
}

void appendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ");
  appendValue(out, value);
  out.append("\r\n");
}

// The top Via element with received/rport stamped (RFC 3261 §18.2.1, RFC 3581 §4), the rest of
// the line copied.
void appendStampedVia(std::string& out, std::string_view value, std::string_view sourceIp,
                      uint16_t sourcePort) {
  SipListCursor cursor(value);
  const std::string_view element = cursor.next();
  auto via = Via::parse(element);
  if (!via) {
    appendValue(out, value);  // unreachable for a parsed message: Via elements were checked
    return;
  }
  const bool addReceived = via->hasRport || !equalsIgnoreCase(via->host, sourceIp);
  if (!addReceived) {
    appendValue(out, value);
    return;
  }
  const size_t elementStart = static_cast<size_t>(element.data() - value.data());
  appendValue(out, value.substr(0, elementStart));
  if (via->params.empty()) {
    appendValue(out, element);
    out += ';';
  } else {
    appendValue(out, element.substr(0, static_cast<size_t>(via->params.data() - element.data())));
    for (SipParamCursor params(via->params); !params.done();) {
      const SipParam p = params.next();
      if (equalsIgnoreCase(p.name, "received")) {
        continue;
      }
      out.append(p.name);
      if (equalsIgnoreCase(p.name, "rport") && sourcePort != 0) {
        out += '=';
        appendNumber(out, sourcePort);
      } else if (p.hasValue) {
        out += '=';
        appendValue(out, p.value);
      }
      out += ';';
    }
  }
  out.append("received=").append(sourceIp);
  appendValue(out, value.substr(elementStart + element.size()));
}

// FNV-1a, for a To tag that is the same for every retransmission of the same bad request.
uint64_t fnv1a(uint64_t h, std::string_view text) {
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// ";tag=" anywhere after a ';', with LWS tolerated (a lenient look at an unparsed To value).
bool hasTagLeniently(std::string_view to) {
  for (size_t i = to.find(';'); i != std::string_view::npos; i = to.find(';', i + 1)) {
    std::string_view rest = trimLws(to.substr(i + 1));
    if (startsWithIgnoreCase(rest, "tag")) {
      rest = trimLws(rest.substr(3));
      if (!rest.empty() && rest.front() == '=') {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

// ---- Methods and names ----

namespace {
constexpr std::array<std::string_view, 14> kMethodNames{
    "INVITE", "ACK",  "BYE",     "CANCEL", "OPTIONS", "REGISTER",  "UPDATE",
    "PRACK",  "INFO", "MESSAGE", "REFER",  "NOTIFY",  "SUBSCRIBE", "PUBLISH"};
}  // namespace

SipMethod methodFromName(std::string_view name) {
  for (size_t i = 0; i < kMethodNames.size(); ++i) {
    if (kMethodNames[i] == name) {
      return static_cast<SipMethod>(i);
    }
  }
  return SipMethod::Unknown;
}

std::string_view methodName(SipMethod method) {
  const auto i = static_cast<size_t>(method);
  return i < kMethodNames.size() ? kMethodNames[i] : std::string_view();
}

std::string_view canonicalHeaderName(std::string_view name) {
  return lookupHeader(name).name;
}

// ---- SipMessage ----

Expected<SipMessage, SipError> SipMessage::parse(std::string bytes) {
  if (bytes.empty()) {
    return Unexpected(error("Empty message"));
  }
  const size_t lead = skipKeepalive(bytes);
  if (lead == bytes.size()) {
    return Unexpected(error("Keep-alive only"));
  }
  if (bytes.size() - lead > kMaxMessageSize) {
    return Unexpected(error("Message Too Large", 513));
  }
  bytes.erase(0, lead);
  SipMessage msg;
  msg.raw_ = std::make_unique<std::string>(std::move(bytes));
  if (auto failure = msg.parseOwned()) {
    return Unexpected(std::move(*failure));
  }
  return msg;
}

std::optional<SipError> SipMessage::parseOwned() {
  const std::string_view s(*raw_);
  const size_t n = s.size();

  // ---- Start line (RFC 3261 §7.1, §7.2) ----
  const size_t firstLf = s.find('\n');
  std::string_view line = s.substr(0, firstLf);
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  for (const char c : line) {
    if (c == '\r') {
      return error("Bare CR in message header");
    }
    if (auto bad = badHeaderByte(static_cast<unsigned char>(c))) {
      return bad;
    }
  }
  if (startsWithIgnoreCase(line, "SIP/")) {
    isRequest_ = false;
    const size_t sp = line.find(' ');
    const int version = checkVersion(line.substr(0, sp));
    if (version == 400 || sp == std::string_view::npos) {
      return error("Malformed status line");
    }
    if (version == 505) {
      return error("Version Not Supported", 505);
    }
    const std::string_view code = line.substr(sp + 1, 3);
    if (code.size() != 3 || !std::all_of(code.begin(), code.end(), isDigit) ||
        (sp + 4 < line.size() && line[sp + 4] != ' ')) {
      return error("Invalid status code");
    }
    status_ = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    if (status_ < 100 || status_ > 699) {
      return error("Invalid status code");
    }
    reason_ = sp + 4 < line.size() ? line.substr(sp + 5) : line.substr(line.size());
  } else {
    isRequest_ = true;
    const size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || !isSipToken(line.substr(0, sp1))) {
      return error("Malformed request line");
    }
    methodText_ = line.substr(0, sp1);
    method_ = methodFromName(methodText_);
    const size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) {
      return error(startsWithIgnoreCase(line.substr(sp1 + 1), "SIP/") ? "Missing Request-URI"
                                                                      : "Malformed request line");
    }
    requestUri_ = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (requestUri_.empty()) {
      return error("Malformed request line");
    }
    const int version = checkVersion(line.substr(sp2 + 1));
    if (version == 400) {
      return error("Malformed request line");
    }
    if (version == 505) {
      return error("Version Not Supported", 505);
    }
    if (!validRequestUri(requestUri_)) {
      return error("Malformed Request-URI");
    }
  }
  if (firstLf == std::string_view::npos) {
    return error("Header section not terminated");
  }

  // ---- Header lines (RFC 3261 §7.3), checked as they are read ----
  headers_.reserve(24);
  uint32_t seen = 0;  // bit per HeaderId met so far
  const auto firstTime = [&seen](HeaderId id) {
    const uint32_t bit = 1U << static_cast<unsigned>(id);
    const bool first = (seen & bit) == 0;
    seen |= bit;
    return first;
  };
  std::optional<uint64_t> contentLength;
  bool sawVia = false;
  size_t pos = firstLf + 1;
  while (true) {
    if (pos >= n) {
      return error("Header section not terminated");
    }
    if (s[pos] == '\n' || (s[pos] == '\r' && pos + 1 < n && s[pos + 1] == '\n')) {
      pos += s[pos] == '\n' ? 1U : 2U;
      break;  // the empty line
    }
    const size_t nameStart = pos;
    while (pos < n && isSipTokenChar(s[pos])) {
      ++pos;
    }
    const std::string_view writtenName = s.substr(nameStart, pos - nameStart);
    while (pos < n && (s[pos] == ' ' || s[pos] == '\t')) {
      ++pos;
    }
    if (pos >= n) {
      return error("Header section not terminated");
    }
    if (writtenName.empty() || s[pos] != ':') {
      if (s[pos] == '\r' && pos + 1 >= n) {
        return error("Header section not terminated");
      }
      if (s[pos] == '\r' && s[pos + 1] != '\n') {
        return error("Bare CR in message header");
      }
      if (s[pos] != '\r' && s[pos] != '\n') {
        if (auto bad = badHeaderByte(static_cast<unsigned char>(s[pos]))) {
          return bad;
        }
      }
      return error("Malformed header line");
    }
    ++pos;

    // value: up to the line end that is not followed by SP/HT (a fold continues the value).
    size_t valueStart = std::string_view::npos;
    size_t valueEnd = pos;
    while (true) {
      if (pos >= n) {
        return error("Header section not terminated");
      }
      const auto c = static_cast<unsigned char>(s[pos]);
      if (c == '\r' || c == '\n') {
        if (c == '\r') {
          if (pos + 1 >= n) {
            return error("Header section not terminated");
          }
          if (s[pos + 1] != '\n') {
            return error("Bare CR in message header");
          }
          ++pos;
        }
        ++pos;
        if (pos < n && (s[pos] == ' ' || s[pos] == '\t')) {
          continue;
        }
        break;
      }
      if (auto bad = badHeaderByte(c)) {
        return bad;
      }
      if (c != ' ' && c != '\t') {
        if (valueStart == std::string_view::npos) {
          valueStart = pos;
        }
        valueEnd = pos + 1;
      }
      ++pos;
    }
    if (valueStart == std::string_view::npos) {
      valueStart = valueEnd;
    }
    const KnownHeader known = lookupHeader(writtenName);
    const std::string_view value = s.substr(valueStart, valueEnd - valueStart);
    if (headers_.size() == kMaxHeaders) {
      return error("Too many headers");
    }
    headers_.push_back(SipHeader{known.name, value});

    switch (known.id) {
      case HeaderId::Other:
        break;
      case HeaderId::CallId:
        if (!firstTime(known.id)) {
          return headerError("Duplicate", known.name);
        }
        if (!isCallId(value)) {
          return headerError("Malformed", known.name);
        }
        callId_ = value;
        break;
      case HeaderId::CSeq: {
        if (!firstTime(known.id)) {
          return headerError("Duplicate", known.name);
        }
        const auto cseq = parseCSeq(value);
        if (!cseq) {
          return headerError("Malformed", known.name);
        }
        if (cseq->number > 0x7fffffffU) {
          return error("CSeq number out of range");
        }
        cseq_ = static_cast<uint32_t>(cseq->number);
        cseqMethodText_ = cseq->method;
        cseqMethod_ = methodFromName(cseq->method);
        break;
      }
      case HeaderId::From:
      case HeaderId::To: {
        if (!firstTime(known.id)) {
          return headerError("Duplicate", known.name);
        }
        auto na = NameAddr::parse(value);
        const auto tag = na ? tagParam(na->params) : std::nullopt;
        if (!na || na->star || !tag) {
          return headerError("Malformed", known.name);
        }
        (known.id == HeaderId::From ? fromTag_ : toTag_) = *tag;
        break;
      }
      case HeaderId::Via:
        for (SipListCursor cursor(value); !cursor.done();) {
          auto via = Via::parse(cursor.next());
          if (!via) {
            return headerError("Malformed", known.name);
          }
          if (!sawVia) {
            topViaBranch_ = via->branch;
            sawVia = true;
          }
        }
        break;
      case HeaderId::Contact:
      case HeaderId::Route:
      case HeaderId::RecordRoute:
        for (SipListCursor cursor(value); !cursor.done();) {
          auto na = NameAddr::parse(cursor.next());
          if (!na || (na->star && known.id != HeaderId::Contact)) {
            return headerError("Malformed", known.name);
          }
        }
        break;
      case HeaderId::ContentLength:
        if (!firstTime(known.id)) {
          return headerError("Duplicate", known.name);
        }
        contentLength = parseBounded(value, kMaxMessageSize);
        if (!contentLength) {
          return headerError("Malformed", known.name);
        }
        if (*contentLength > kMaxMessageSize) {
          return error("Content-Length too large");
        }
        break;
      case HeaderId::MaxForwards: {
        if (!firstTime(known.id)) {
          return headerError("Duplicate", known.name);
        }
        const auto hops = parseBounded(value, 255);
        if (!hops || *hops > 255) {
          return headerError("Malformed", known.name);
        }
        maxForwards_ = static_cast<int>(*hops);
        break;
      }
    }
  }

  // ---- Whole-message rules ----
  const auto has = [&seen](HeaderId id) { return (seen & (1U << static_cast<unsigned>(id))) != 0; };
  if (!has(HeaderId::CallId)) {
    return error("Missing Call-ID header");
  }
  if (!has(HeaderId::CSeq)) {
    return error("Missing CSeq header");
  }
  if (!has(HeaderId::From)) {
    return error("Missing From header");
  }
  if (!has(HeaderId::To)) {
    return error("Missing To header");
  }
  if (!sawVia) {
    return error("Missing Via header");
  }
  if (isRequest_ && cseqMethodText_ != methodText_) {
    return error("CSeq method does not match request method");
  }

  // ---- Body (RFC 3261 §18.3, §20.14) ----
  const size_t available = n - pos;
  size_t bodySize = available;
  if (contentLength) {
    if (*contentLength > available) {
      return error("Content-Length exceeds body");
    }
    bodySize = static_cast<size_t>(*contentLength);
  }
  body_ = s.substr(pos, bodySize);
  if (bodySize < available) {
    // Drop the extra datagram bytes. Shrinking keeps the buffer in practice; rebase to be exact.
    const auto oldBase = reinterpret_cast<uintptr_t>(raw_->data());
    const size_t oldSize = raw_->size();
    raw_->resize(pos + bodySize);
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

// ---- Framing ----

size_t skipKeepalive(std::string_view buf) {
  size_t n = 0;
  while (n < buf.size() && (buf[n] == '\r' || buf[n] == '\n')) {
    ++n;
  }
  return n;
}

Expected<size_t, SipError> sipFrameLength(std::string_view buf, size_t maxSize) {
  const size_t start = skipKeepalive(buf);
  std::optional<uint64_t> contentLength;
  size_t clStart = std::string_view::npos;  // the Content-Length value being read (it may be folded)
  size_t clEnd = 0;
  const auto finishContentLength = [&]() -> std::optional<SipError> {
    if (clStart == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view value = trimLws(buf.substr(clStart, clEnd - clStart));
    clStart = std::string_view::npos;
    if (contentLength) {
      return error("Duplicate Content-Length header");
    }
    contentLength = parseBounded(value, maxSize);
    if (!contentLength) {
      return error("Malformed Content-Length header");
    }
    if (*contentLength > maxSize) {
      return error("Content-Length too large");
    }
    return std::nullopt;
  };

  size_t pos = start;
  size_t headerEnd = 0;
  bool firstLine = true;
  while (true) {
    const size_t lf = buf.find('\n', pos);
    if (lf == std::string_view::npos) {
      if (buf.size() - start > maxSize) {
        return Unexpected(error("Message Too Large", 513));
      }
      return size_t{0};
    }
    if (lf + 1 - start > maxSize) {
      return Unexpected(error("Message Too Large", 513));
    }
    std::string_view line = buf.substr(pos, lf - pos);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      if (auto bad = finishContentLength()) {
        return Unexpected(std::move(*bad));
      }
      headerEnd = lf + 1;
      break;
    }
    if (firstLine) {
      firstLine = false;
    } else if (line[0] == ' ' || line[0] == '\t') {
      if (clStart != std::string_view::npos) {
        clEnd = lf;
      }
    } else {
      if (auto bad = finishContentLength()) {
        return Unexpected(std::move(*bad));
      }
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view name = line.substr(0, colon);
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
          name.remove_suffix(1);
        }
        if (equalsIgnoreCase(name, "Content-Length") || equalsIgnoreCase(name, "l")) {
          clStart = pos + colon + 1;
          clEnd = lf;
        }
      }
    }
    pos = lf + 1;
  }
  if (!contentLength) {
    return Unexpected(error("Missing Content-Length header"));
  }
  const size_t frame = headerEnd + static_cast<size_t>(*contentLength);
  if (frame - start > maxSize) {
    return Unexpected(error("Message Too Large", 513));
  }
  return buf.size() < frame ? size_t{0} : frame;
}

// ---- Responses ----

std::string buildResponse(const SipMessage& req, int status, std::string_view reason, std::string_view toTag,
                          std::span<const std::string> extraHeaders, std::string_view body,
                          std::string_view contentType) {
  assert(req.isRequest());
  assert(status >= 100 && status <= 699);
  assert(reason.find_first_of("\r\n") == std::string_view::npos);
  size_t estimate =
      96 + reason.size() + toTag.size() + body.size() + contentType.size() + req.sourceIp().size();
  for (const SipHeader& h : req.headers()) {
    estimate += h.name.size() + h.value.size() + 4;
  }
  for (const std::string& e : extraHeaders) {
    estimate += e.size() + 2;
  }
  std::string out;
  out.reserve(estimate);
  out.append(kSipVersion).append(" ");
  appendNumber(out, static_cast<uint64_t>(status));
  out.append(" ").append(reason).append("\r\n");

  bool top = true;
  for (const SipHeader& h : req.headers()) {
    if (h.name != "Via") {
      continue;
    }
    if (top && !req.sourceIp().empty()) {
      out.append("Via: ");
      appendStampedVia(out, h.value, req.sourceIp(), req.sourcePort());
      out.append("\r\n");
    } else {
      appendHeader(out, "Via", h.value);
    }
    top = false;
  }
  appendHeader(out, "From", req.header("From"));
  out.append("To: ");
  appendValue(out, req.header("To"));
  if (status > 100 && !toTag.empty() && req.toTag().empty()) {
    out.append(";tag=").append(toTag);
  }
  out.append("\r\n");
  appendHeader(out, "Call-ID", req.callId());
  appendHeader(out, "CSeq", req.header("CSeq"));
  for (const std::string& e : extraHeaders) {
    assert(e.find_first_of("\r\n") == std::string::npos);
    out.append(e).append("\r\n");
  }
  if (!contentType.empty()) {
    out.append("Content-Type: ").append(contentType).append("\r\n");
  }
  out.append("Content-Length: ");
  appendNumber(out, body.size());
  out.append("\r\n\r\n").append(body);
  return out;
}

std::string buildBadRequest(std::string_view rawBytes, std::string_view reason) {
  return buildBadRequest(rawBytes, SipError{400, std::string(reason)});
}

std::string buildBadRequest(std::string_view rawBytes, const SipError& err) {
  assert(err.reason.find_first_of("\r\n") == std::string::npos);
  std::string_view s = rawBytes.substr(skipKeepalive(rawBytes));
  if (s.empty() || startsWithIgnoreCase(s, "SIP/")) {
    return {};
  }
  // Lenient scan: lines end at LF, folds continue a value, the first empty line ends the headers.
  std::vector<std::string_view> vias;
  std::string_view from, to, callId, cseq;
  std::string_view* current = nullptr;  // the value being extended by folds
  size_t pos = s.find('\n');
  while (pos != std::string_view::npos && pos + 1 < s.size()) {
    const size_t lineStart = pos + 1;
    pos = s.find('\n', lineStart);
    const size_t lineEnd = pos == std::string_view::npos ? s.size() : pos;
    const std::string_view line = s.substr(lineStart, lineEnd - lineStart);
    if (trimLws(line).empty()) {
      break;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      if (current != nullptr) {
        *current = trimLws(std::string_view(
            current->data(), static_cast<size_t>(line.data() + line.size() - current->data())));
      }
      continue;
    }
    current = nullptr;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    const std::string_view name = canonicalHeaderName(trimLws(line.substr(0, colon)));
    const std::string_view value = trimLws(line.substr(colon + 1));
    if (name == "Via") {
      vias.push_back(value);
      current = &vias.back();
    } else {
      std::string_view* slot = name == "From"      ? &from
                               : name == "To"      ? &to
                               : name == "Call-ID" ? &callId
                               : name == "CSeq"    ? &cseq
                                                   : nullptr;
      if (slot != nullptr && slot->data() == nullptr) {
        *slot = value;
        current = slot;
      }
    }
  }
  // The Via is what routes a response; a request missing From/To/Call-ID/CSeq still gets its 400
  // (naming what is missing), with whichever of them it has.
  if (vias.empty()) {
    return {};
  }
  const auto clean = [](std::string_view v) {
    for (size_t i = 0; i < v.size(); ++i) {
      const auto c = static_cast<unsigned char>(v[i]);
      const bool foldEnd = (c == '\r' && i + 1 < v.size() && v[i + 1] == '\n') || c == '\n';
      if (((c < 0x20 && c != '\t') || c == 0x7f) && !foldEnd) {
        return false;
      }
    }
    return !v.empty();
  };
  for (const std::string_view v : vias) {
    if (!clean(v)) {
      return {};
    }
  }
  for (const std::string_view v : {from, to, callId, cseq}) {
    if (!v.empty() && !clean(v)) {
      return {};
    }
  }

  const int status = err.status >= 400 && err.status <= 699 ? err.status : 400;
  std::string out;
  out.append(kSipVersion).append(" ");
  appendNumber(out, static_cast<uint64_t>(status));
  out.append(" ").append(err.reason).append("\r\n");
  for (const std::string_view v : vias) {
    appendHeader(out, "Via", v);
  }
  if (!from.empty()) {
    appendHeader(out, "From", from);
  }
  if (!to.empty()) {
    out.append("To: ");
    appendValue(out, to);
  }
  auto parsedTo = NameAddr::parse(to);
  if (!to.empty() && (parsedTo ? !parsedTo->param("tag").has_value() : !hasTagLeniently(to))) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const std::string_view part : {callId, cseq, vias.front(), from}) {
      h = fnv1a(h, part);
    }
    std::array<char, 17> hex{};
    const auto res = std::to_chars(hex.data(), hex.data() + hex.size(), h, 16);
    out.append(";tag=").append(hex.data(), res.ptr);
  }
  if (!to.empty()) {
    out.append("\r\n");
  }
  if (!callId.empty()) {
    appendHeader(out, "Call-ID", callId);
  }
  if (!cseq.empty()) {
    appendHeader(out, "CSeq", cseq);
  }
  out.append("Content-Length: 0\r\n\r\n");
  return out;
}

}  // namespace rdv::sip
