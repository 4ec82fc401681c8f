#include "signaling/sip/Via.h"

// Reason phrases of the errors returned here (status 400). They are part of the wire contract
// (callers may answer with them), so they only change together with the tests.
//
//   Via::parse
//     "Malformed Via sent-protocol"   not SIP / 2.0 / transport-token
//     "Malformed Via sent-by"         missing/invalid host, port not 1..65535, junk before ';'
//     "Malformed Via parameters"      empty/invalid generic-param, empty branch or received,
//                                     rport value not 1..65535

#include <array>

#include "signaling/sip/SipGrammar.h"
#include "signaling/sip/SipLex.h"

namespace rdv::sip {

namespace {

using detail::fail;
using detail::parseHost;
using detail::parsePort;
using detail::skipDigits;
using detail::skipLws;
using detail::validGenericParams;

// sent-protocol = protocol-name SLASH protocol-version SLASH transport, SLASH = SWS "/" SWS.
// Reads from the start of t; on success via.transport is set and pos is just past the transport.
bool parseSentProtocol(std::string_view t, size_t& pos, Via& via) {
  std::array<std::string_view, 3> parts;
  pos = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      pos = skipLws(t, pos);
      if (pos >= t.size() || t[pos] != '/') {
        return false;
      }
      pos = skipLws(t, pos + 1);
    }
    const size_t start = pos;
    while (pos < t.size() && isSipTokenChar(t[pos])) {
      ++pos;
    }
    parts[i] = t.substr(start, pos - start);
  }
  if (!equalsIgnoreCase(parts[0], "SIP") || parts[1] != "2.0" || parts[2].empty()) {
    return false;
  }
  via.transport = parts[2];
  return true;
}

// LWS sent-by, sent-by = host [ COLON port ], COLON = SWS ":" SWS. On success via.host/port are
// set and pos is past the sent-by and any LWS after it.
bool parseSentBy(std::string_view t, size_t& pos, Via& via) {
  if (pos >= t.size() || !isSipLws(t[pos])) {
    return false;
  }
  pos = skipLws(t, pos);
  if (!parseHost(t, pos, via.host)) {
    return false;
  }
  pos = skipLws(t, pos);
  if (pos < t.size() && t[pos] == ':') {
    pos = skipLws(t, pos + 1);
    const size_t end = skipDigits(t, pos);
    const auto port = parsePort(t.substr(pos, end - pos));
    if (!port) {
      return false;
    }
    via.port = *port;
    pos = skipLws(t, end);
  }
  return true;
}

// via-params (the text after the first ';'): generic-params, of which the first branch, rport and
// received are read into via.
bool parseViaParams(std::string_view params, Via& via) {
  via.params = params;
  if (!validGenericParams(via.params)) {
    return false;
  }
  bool sawBranch = false;
  for (SipParamCursor cursor(via.params); !cursor.done();) {
    const SipParam p = cursor.next();
    if (equalsIgnoreCase(p.name, "branch") && !sawBranch) {
      if (!isSipToken(p.value)) {
        return false;
      }
      via.branch = p.value;
      sawBranch = true;
    } else if (equalsIgnoreCase(p.name, "rport") && !via.hasRport) {
      via.hasRport = true;
      if (p.hasValue) {
        via.rport = parsePort(p.value);
        if (!via.rport) {
          return false;
        }
      }
    } else if (equalsIgnoreCase(p.name, "received") && !via.received) {
      if (p.value.empty() || p.value.front() == '"') {
        return false;
      }
      via.received = p.value;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string_view> Via::param(std::string_view name) const {
  return findSipParam(params, name);
}

Expected<Via, SipError> Via::parse(std::string_view text) {
  const std::string_view t = trimLws(text);
  Via via;
  size_t pos = 0;
  if (!parseSentProtocol(t, pos, via)) {
    return fail("Malformed Via sent-protocol");
  }
  if (!parseSentBy(t, pos, via)) {
    return fail("Malformed Via sent-by");
  }
  if (pos == t.size()) {
    return via;
  }
  if (t[pos] != ';') {
    return fail("Malformed Via sent-by");
  }
  if (!parseViaParams(trimLws(t.substr(pos + 1)), via)) {
    return fail("Malformed Via parameters");
  }
  return via;
}

}  // namespace rdv::sip
