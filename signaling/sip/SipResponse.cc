#include "signaling/sip/SipResponse.h"

#include <cassert>
#include <cstdint>

#include "signaling/sip/SipAppend.h"
#include "signaling/sip/SipLex.h"
#include "signaling/sip/Via.h"

namespace rdv::sip {

namespace {

using detail::appendHeader;
using detail::appendNumber;
using detail::appendStatusLine;
using detail::appendValue;

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

}  // namespace

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
  appendStatusLine(out, status, reason);

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

}  // namespace rdv::sip
