#pragma once
// SIP over streams (TCP, TLS): cutting messages out of the byte stream (RFC 3261 §18.3) and
// dropping CRLF keep-alives between them (RFC 5626 §3.5.1). The reason phrases of framing errors
// are listed at the top of SipFraming.cc.

#include <cstddef>
#include <string_view>

#include "common/Expected.h"
#include "signaling/sip/SipError.h"
#include "signaling/sip/SipMessage.h"

namespace rdv::sip {

// RFC 3261 §18.3 stream framing: length of the first complete message at the start of buf
// (headers + Content-Length body); 0 if more bytes are needed. Errors: the header section or the
// whole frame exceeds maxSize (513 "Message Too Large"), Content-Length missing ("Missing
// Content-Length header", mandatory on streams), malformed, repeated, or larger than maxSize.
// Leading CR/LF (keep-alives, RFC 5626 §3.5.1) should be dropped with skipKeepalive first; any
// that are left are counted in the frame (and parse() drops them). maxSize excludes them.
Expected<size_t, SipError> sipFrameLength(std::string_view buf, size_t maxSize = SipMessage::kMaxMessageSize);
// How many leading CR/LF bytes of buf are keep-alives to drop.
size_t skipKeepalive(std::string_view buf);

}  // namespace rdv::sip
