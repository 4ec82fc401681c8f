#include "signaling/sip/SipBadRequest.h"

#include <array>
#include <cassert>
#include <charconv>
#include <cstdint>
#include <vector>

#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipAppend.h"
#include "signaling/sip/SipFraming.h"
#include "signaling/sip/SipGrammar.h"
#include "signaling/sip/SipHeaderNames.h"
#include "signaling/sip/SipLex.h"

namespace rdv::sip {

namespace {

using detail::appendHeader;
using detail::appendStatusLine;
using detail::appendValue;
using detail::startsWithIgnoreCase;

// What the lenient scan found: every Via line's value, and the first From, To, Call-ID and CSeq
// (views into the scanned bytes; a default view, with a null data(), when absent). Values are
// trimmed and may span folds.
struct ScannedHeaders {
  std::vector<std::string_view> vias;
  std::string_view from, to, callId, cseq;
};

// Lenient scan of the header lines after the start line: lines end at LF, folds continue a value,
// the first empty line ends the headers, names are matched in any case and compact form.
ScannedHeaders scanHeaders(std::string_view s) {
  ScannedHeaders found;
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
      found.vias.push_back(value);
      current = &found.vias.back();
    } else {
      std::string_view* slot = name == "From"      ? &found.from
                               : name == "To"      ? &found.to
                               : name == "Call-ID" ? &found.callId
                               : name == "CSeq"    ? &found.cseq
                                                   : nullptr;
      if (slot != nullptr && slot->data() == nullptr) {
        *slot = value;
        current = slot;
      }
    }
  }
  return found;
}

// Non-empty, and no control character (HT and the CR/LF of a fold aside) to copy into a reply.
bool isCleanValue(std::string_view v) {
  for (size_t i = 0; i < v.size(); ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    const bool foldEnd = (c == '\r' && i + 1 < v.size() && v[i + 1] == '\n') || c == '\n';
    if (((c < 0x20 && c != '\t') || c == 0x7f) && !foldEnd) {
      return false;
    }
  }
  return !v.empty();
}

// Every Via is clean, and so is each of From, To, Call-ID and CSeq that is present.
bool allClean(const ScannedHeaders& found) {
  for (const std::string_view v : found.vias) {
    if (!isCleanValue(v)) {
      return false;
    }
  }
  for (const std::string_view v : {found.from, found.to, found.callId, found.cseq}) {
    if (!v.empty() && !isCleanValue(v)) {
      return false;
    }
  }
  return true;
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

// "To: <value>[;tag=<hash>]\r\n" when there is a To; the tag is added when To has none
// (RFC 3261 §8.2.6.2), derived from the request so retransmissions get the same one.
void appendToWithTag(std::string& out, const ScannedHeaders& found) {
  if (!found.to.empty()) {
    out.append("To: ");
    appendValue(out, found.to);
  }
  auto parsedTo = NameAddr::parse(found.to);
  if (!found.to.empty() && (parsedTo ? !parsedTo->param("tag").has_value() : !hasTagLeniently(found.to))) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const std::string_view part : {found.callId, found.cseq, found.vias.front(), found.from}) {
      h = fnv1a(h, part);
    }
    std::array<char, 17> hex{};
    const auto res = std::to_chars(hex.data(), hex.data() + hex.size(), h, 16);
    out.append(";tag=").append(hex.data(), res.ptr);
  }
  if (!found.to.empty()) {
    out.append("\r\n");
  }
}

}  // namespace

std::string buildBadRequest(std::string_view rawBytes, std::string_view reason) {
  return buildBadRequest(rawBytes, SipError{400, std::string(reason)});
}

std::string buildBadRequest(std::string_view rawBytes, const SipError& err) {
  assert(err.reason.find_first_of("\r\n") == std::string::npos);
  const std::string_view s = rawBytes.substr(skipKeepalive(rawBytes));
  if (s.empty() || startsWithIgnoreCase(s, "SIP/")) {
    return {};
  }
  const ScannedHeaders found = scanHeaders(s);
  // The Via is what routes a response; a request missing From/To/Call-ID/CSeq still gets its 400
  // (naming what is missing), with whichever of them it has.
  if (found.vias.empty() || !allClean(found)) {
    return {};
  }

  const int status = err.status >= 400 && err.status <= 699 ? err.status : 400;
  std::string out;
  appendStatusLine(out, status, err.reason);
  for (const std::string_view v : found.vias) {
    appendHeader(out, "Via", v);
  }
  if (!found.from.empty()) {
    appendHeader(out, "From", found.from);
  }
  appendToWithTag(out, found);
  if (!found.callId.empty()) {
    appendHeader(out, "Call-ID", found.callId);
  }
  if (!found.cseq.empty()) {
    appendHeader(out, "CSeq", found.cseq);
  }
  out.append("Content-Length: 0\r\n\r\n");
  return out;
}

}  // namespace rdv::sip
