#include "signaling/sdp/Sdp.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <limits>

namespace rdv::sdp {

namespace {

constexpr std::string_view kCrlf = "\r\n";

// Fields of a line value separated by runs of spaces (RFC 8866 asks for single spaces; senders
// that pad are tolerated, and the raw line is kept anyway except for m=).
std::vector<std::string_view> splitFields(std::string_view value) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < value.size()) {
    if (value[pos] == ' ') {
      ++pos;
      continue;
    }
    const size_t end = std::min(value.find(' ', pos), value.size());
    fields.push_back(value.substr(pos, end - pos));
    pos = end;
  }
  return fields;
}

// A non-empty run of decimal digits whose value is at most `max`.
std::optional<uint64_t> parseDecimal(std::string_view digits, uint64_t max) {
  if (digits.empty()) {
    return std::nullopt;
  }
  uint64_t value = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
    if (value > max) {  // max < 2^63, so this catches every overflow before it happens
      return std::nullopt;
    }
  }
  return value;
}

bool isCleanText(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// "IN IP4|IP6 <address>" (RFC 8866 §5.7); returns the address.
std::optional<std::string_view> connectionAddressOf(std::string_view value) {
  const auto fields = splitFields(value);
  if (fields.size() != 3 || fields[0] != "IN" || (fields[1] != "IP4" && fields[1] != "IP6")) {
    return std::nullopt;
  }
  return fields[2];
}

std::string connectionValue(std::string_view addrType, std::string_view address) {
  assert(addrType == "IP4" || addrType == "IP6");
  assert(!address.empty() && address.find(' ') == std::string_view::npos && isCleanText(address));
  std::string value = "IN ";
  value += addrType;
  value += ' ';
  value += address;
  return value;
}

// Value of an "a=name[:value]" line when the name matches; "" for a flag attribute.
std::optional<std::string_view> attributeValue(const SdpLine& line, std::string_view name) {
  if (line.type != 'a') {
    return std::nullopt;
  }
  std::string_view value = line.value;
  if (!value.starts_with(name)) {
    return std::nullopt;
  }
  if (value.size() == name.size()) {
    return std::string_view();
  }
  if (value[name.size()] != ':') {
    return std::nullopt;
  }
  return value.substr(name.size() + 1);
}

std::optional<std::string_view> findAttribute(const std::vector<SdpLine>& lines, std::string_view name) {
  for (const auto& line : lines) {
    if (auto value = attributeValue(line, name)) {
      return value;
    }
  }
  return std::nullopt;
}

void removeAttributesFrom(std::vector<SdpLine>& lines, std::string_view name) {
  std::erase_if(lines, [name](const SdpLine& line) { return attributeValue(line, name).has_value(); });
}

void setAttributeIn(std::vector<SdpLine>& lines, std::string_view name, std::optional<std::string_view> value) {
  assert(!name.empty() && name.find(':') == std::string_view::npos && isCleanText(name));
  assert(!value || isCleanText(*value));
  std::string text(name);
  if (value) {
    text += ':';
    text += *value;
  }
  for (auto& line : lines) {
    if (attributeValue(line, name)) {
      line.value = std::move(text);
      return;
    }
  }
  lines.push_back(SdpLine{'a', std::move(text)});
}

// Replaces the first c= in `lines` and drops the others, or inserts one before the first line
// whose type is in `insertBefore` (at the end when there is none).
// The address of the first c= line of a section; nullopt without one or when it is not IN IP4/IP6.
std::optional<std::string> connectionAddressIn(const std::vector<SdpLine>& lines) {
  for (const auto& line : lines) {
    if (line.type == 'c') {
      if (auto address = connectionAddressOf(line.value)) return std::string(*address);
      return std::nullopt;
    }
  }
  return std::nullopt;
}

void setConnectionIn(std::vector<SdpLine>& lines, std::string value, std::string_view insertBefore) {
  auto isConnection = [](const SdpLine& l) { return l.type == 'c'; };
  auto first = std::find_if(lines.begin(), lines.end(), isConnection);
  if (first != lines.end()) {
    first->value = std::move(value);
    lines.erase(std::remove_if(first + 1, lines.end(), isConnection), lines.end());
    return;
  }
  auto at = std::find_if(lines.begin(), lines.end(), [insertBefore](const SdpLine& l) {
    return insertBefore.find(l.type) != std::string_view::npos;
  });
  lines.insert(at, SdpLine{'c', std::move(value)});
}

// "<media> <port>[/<number of ports>] <proto> <fmt> ..." (RFC 8866 §5.14).
std::optional<SdpMedia> parseMediaLine(std::string_view value, std::string& reason) {
  const auto fields = splitFields(value);
  if (fields.size() < 4) {
    reason = "m= needs media, port, proto and at least one format";
    return std::nullopt;
  }
  SdpMedia m;
  m.media = fields[0];
  std::string_view portField = fields[1];
  const size_t slash = portField.find('/');
  const auto port = parseDecimal(portField.substr(0, slash), std::numeric_limits<uint16_t>::max());
  if (!port) {
    reason = "m= port is not a number in 0..65535";
    return std::nullopt;
  }
  m.port = static_cast<uint16_t>(*port);
  if (slash != std::string_view::npos) {
    const auto count = parseDecimal(portField.substr(slash + 1), std::numeric_limits<uint16_t>::max());
    if (!count || *count == 0) {
      reason = "m= port count is not a number in 1..65535";
      return std::nullopt;
    }
    m.portCount = static_cast<uint16_t>(*count);
  }
  m.proto = fields[2];
  m.formats.assign(fields.begin() + 3, fields.end());
  return m;
}

// Line types that belong to the session part only (RFC 8866 §5).
constexpr std::string_view kSessionOnlyTypes = "vosueptrz";

// The session-level lines that may appear at most once, seen so far.
struct SessionLineTally {
  bool sawOrigin = false;
  bool sawName = false;
  bool sawSessionConnection = false;
};

// Why a non-empty line (without its line end) is not "<type>=<value>" with a lowercase type and
// a clean value; nullopt when it is.
std::optional<std::string_view> lineSyntaxError(std::string_view line) {
  if (!isCleanText(line)) {
    return "CR or NUL inside line";
  }
  if (line.size() < 2 || line[1] != '=') {
    return "expected <type>=<value>";
  }
  if (line[0] < 'a' || line[0] > 'z') {
    return "line type is not a lowercase letter";
  }
  return std::nullopt;
}

// Session-level o=, s= and c= rules (RFC 8866 §5): one o= with 6 fields, one s=, at most one c=.
std::optional<std::string> checkSessionLine(SessionLineTally& tally, char type, std::string_view value) {
  if (type == 'o') {
    if (tally.sawOrigin) {
      return "more than one o= line";
    }
    if (splitFields(value).size() != 6) {
      return "o= must have 6 fields";
    }
    tally.sawOrigin = true;
  } else if (type == 's') {
    if (tally.sawName) {
      return "more than one s= line";
    }
    tally.sawName = true;
  } else if (type == 'c') {
    if (tally.sawSessionConnection) {
      return "more than one session-level c= line";
    }
    tally.sawSessionConnection = true;
  }
  return std::nullopt;
}

// Checks one well-formed line in document order and appends it where it belongs: the session
// part, a new media section (m=), or the current media section. Returns why it is refused.
std::optional<std::string> addLine(SdpSession& session, SessionLineTally& tally, bool firstLine, char type,
                                   std::string_view value) {
  if (firstLine) {
    if (type != 'v' || value != "0") {
      return "first line must be v=0";
    }
    session.lines.push_back(SdpLine{type, std::string(value)});
    return std::nullopt;
  }
  if (type == 'v') {
    return "v= allowed only as the first line";
  }
  if (type == 'c' && !connectionAddressOf(value)) {
    return "c= must be \"IN IP4|IP6 <address>\"";
  }
  if (type == 'm') {
    if (session.media.size() >= SdpSession::kMaxMedia) {
      return "more than 64 media sections";
    }
    std::string reason;
    auto m = parseMediaLine(value, reason);
    if (!m) {
      return reason;
    }
    session.media.push_back(std::move(*m));
    return std::nullopt;
  }
  if (!session.media.empty()) {
    if (kSessionOnlyTypes.find(type) != std::string_view::npos) {
      return std::string(1, type) + "= not allowed in a media section";
    }
    session.media.back().lines.push_back(SdpLine{type, std::string(value)});
    return std::nullopt;
  }
  if (auto bad = checkSessionLine(tally, type, value)) {
    return bad;
  }
  session.lines.push_back(SdpLine{type, std::string(value)});
  return std::nullopt;
}

}  // namespace

// ---- SdpMedia ----

std::optional<std::string> SdpMedia::connectionAddress() const { return connectionAddressIn(lines); }

void SdpMedia::setConnection(std::string_view addrType, std::string_view address) {
  // Media section order is i=, c=, b=, k=, a=: the new c= goes before anything but i=.
  setConnectionIn(lines, connectionValue(addrType, address), "bka");
}

std::optional<std::string_view> SdpMedia::attribute(std::string_view name) const { return findAttribute(lines, name); }

bool SdpMedia::hasAttribute(std::string_view name) const { return attribute(name).has_value(); }

void SdpMedia::removeAttributes(std::string_view name) { removeAttributesFrom(lines, name); }

void SdpMedia::setAttribute(std::string_view name, std::optional<std::string_view> value) {
  setAttributeIn(lines, name, value);
}

std::optional<std::string_view> SdpMedia::rtpmap(uint8_t payloadType) const {
  for (const auto& line : lines) {
    const auto value = attributeValue(line, "rtpmap");
    if (!value) {
      continue;
    }
    // "<payload type> <encoding name>/<clock rate>[/<encoding parameters>]" (RFC 8866 §6.6)
    const size_t space = value->find(' ');
    if (space == std::string_view::npos) {
      continue;
    }
    const auto pt = parseDecimal(value->substr(0, space), 127);
    if (!pt || *pt != payloadType) {
      continue;
    }
    std::string_view encoding = value->substr(space + 1);
    while (!encoding.empty() && (encoding.front() == ' ' || encoding.front() == '\t')) encoding.remove_prefix(1);
    while (!encoding.empty() && (encoding.back() == ' ' || encoding.back() == '\t')) encoding.remove_suffix(1);
    return encoding;
  }
  return std::nullopt;
}

std::optional<uint32_t> SdpMedia::clockRate(uint8_t payloadType) const {
  const auto encoding = rtpmap(payloadType);
  if (!encoding) {
    return std::nullopt;
  }
  const size_t slash = encoding->find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view rate = encoding->substr(slash + 1);
  rate = rate.substr(0, rate.find('/'));
  const auto parsed = parseDecimal(rate, std::numeric_limits<uint32_t>::max());
  if (!parsed || *parsed == 0) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(*parsed);
}

std::optional<uint16_t> SdpMedia::rtcpPort() const {
  const auto value = attribute("rtcp");
  if (!value) {
    return std::nullopt;
  }
  const auto parsed = parseDecimal(value->substr(0, value->find(' ')), std::numeric_limits<uint16_t>::max());
  if (!parsed) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(*parsed);
}

bool SdpMedia::rtcpMux() const { return hasAttribute("rtcp-mux"); }

// ---- SdpSession ----

Expected<SdpSession, SdpError> SdpSession::parse(std::string_view text) {
  auto fail = [](size_t line, std::string reason) { return Unexpected(SdpError{line, std::move(reason)}); };
  if (text.size() > kMaxTextBytes) {
    return fail(0, "SDP larger than 64 KiB");
  }

  SdpSession session;
  SessionLineTally tally;
  size_t lineNumber = 0;
  size_t firstEmptyLine = 0;  // an empty line is fine only if nothing but empty lines follows
  size_t normalizedBytes = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t newline = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, newline - pos);
    pos = newline + 1;
    ++lineNumber;
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      if (firstEmptyLine == 0) {
        firstEmptyLine = lineNumber;
      }
      continue;
    }
    if (firstEmptyLine != 0) {
      return fail(firstEmptyLine, "empty line inside SDP");
    }
    if (lineNumber > kMaxLines) {
      return fail(lineNumber, "more than 1000 lines");
    }
    normalizedBytes += line.size() + kCrlf.size();
    if (normalizedBytes > kMaxTextBytes) {
      return fail(lineNumber, "SDP larger than 64 KiB");
    }
    if (auto bad = lineSyntaxError(line)) {
      return fail(lineNumber, std::string(*bad));
    }
    if (auto bad = addLine(session, tally, lineNumber == 1, line[0], line.substr(2))) {
      return fail(lineNumber, std::move(*bad));
    }
  }
  if (session.lines.empty()) {
    return fail(1, "first line must be v=0");
  }
  if (!tally.sawOrigin) {
    return fail(0, "missing o= line");
  }
  if (!tally.sawName) {
    return fail(0, "missing s= line");
  }
  return session;
}

std::string SdpSession::serialize() const {
  std::string out;
  auto put = [&out](char type, std::string_view value) {
    out += type;
    out += '=';
    out += value;
    out += kCrlf;
  };
  for (const auto& line : lines) {
    put(line.type, line.value);
  }
  for (const auto& m : media) {
    std::string mline = m.media;
    mline += ' ';
    mline += std::to_string(m.port);
    if (m.portCount) {
      mline += '/';
      mline += std::to_string(*m.portCount);
    }
    mline += ' ';
    mline += m.proto;
    for (const auto& format : m.formats) {
      mline += ' ';
      mline += format;
    }
    put('m', mline);
    for (const auto& line : m.lines) {
      put(line.type, line.value);
    }
  }
  return out;
}

std::optional<std::string> SdpSession::connectionAddress() const { return connectionAddressIn(lines); }

void SdpSession::setConnection(std::string_view addrType, std::string_view address) {
  setConnectionIn(lines, connectionValue(addrType, address), "btrzka");
}

void SdpSession::setOriginAddress(std::string_view addrType, std::string_view address) {
  assert(!addrType.empty() && addrType.find(' ') == std::string_view::npos && isCleanText(addrType));
  assert(!address.empty() && address.find(' ') == std::string_view::npos && isCleanText(address));
  for (auto& line : lines) {
    if (line.type != 'o') {
      continue;
    }
    auto fields = splitFields(line.value);
    if (fields.size() != 6) {
      return;
    }
    fields[4] = addrType;
    fields[5] = address;
    std::string value;
    for (const auto field : fields) {
      if (!value.empty()) {
        value += ' ';
      }
      value += field;
    }
    line.value = std::move(value);  // `fields` views the old value; it is not used after this
    return;
  }
}

bool SdpSession::hasAttribute(std::string_view name) const { return attribute(name).has_value(); }

std::optional<std::string_view> SdpSession::attribute(std::string_view name) const {
  return findAttribute(lines, name);
}

void SdpSession::removeAttributes(std::string_view name) { removeAttributesFrom(lines, name); }

void SdpSession::setAttribute(std::string_view name, std::optional<std::string_view> value) {
  setAttributeIn(lines, name, value);
}

std::optional<std::string> SdpSession::mediaConnectionAddress(size_t index) const {
  if (index >= media.size()) {
    return std::nullopt;
  }
  if (auto address = media[index].connectionAddress()) {
    return address;
  }
  return connectionAddress();
}

void removeIceAttributes(SdpSession& sdp) {
  static constexpr std::array<std::string_view, 9> kIceAttributes = {
      "candidate", "remote-candidates", "ice-ufrag",         "ice-pwd",    "ice-options",
      "ice-lite",  "ice-mismatch",      "end-of-candidates", "ice-pacing",
  };
  auto isIce = [](const SdpLine& line) {
    return std::any_of(kIceAttributes.begin(), kIceAttributes.end(),
                       [&line](std::string_view name) { return attributeValue(line, name).has_value(); });
  };
  std::erase_if(sdp.lines, isIce);
  for (auto& m : sdp.media) {
    std::erase_if(m.lines, isIce);
  }
}

}  // namespace rdv::sdp
