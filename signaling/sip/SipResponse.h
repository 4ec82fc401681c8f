#pragma once
// Building the response to a parsed request (RFC 3261 §8.2.6; Via stamping per §18.2.1 and
// RFC 3581 §4).

#include <span>
#include <string>
#include <string_view>

#include "signaling/sip/SipMessage.h"

namespace rdv::sip {

// Builds a response to `req` (RFC 3261 §8.2.6): status line with the given reason; all Via lines
// (in order; the top one stamped as SipMessage::setSource describes), From, To (adding
// ";tag=<toTag>" if To has no tag, toTag is non-empty and status > 100), Call-ID, CSeq; then
// `extraHeaders` (each "Name: value", no CRLF); then Content-Type (when contentType is non-empty),
// Content-Length and the body. Folds in copied values become plain whitespace. Preconditions:
// req.isRequest(), status in 100..699, reason and extraHeaders without CR/LF.
std::string buildResponse(const SipMessage& req, int status, std::string_view reason,
                          std::string_view toTag = {}, std::span<const std::string> extraHeaders = {},
                          std::string_view body = {}, std::string_view contentType = {});

}  // namespace rdv::sip
