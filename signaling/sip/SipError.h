#pragma once
// The failure value of every SIP parser (URI, name-addr, Via, message, framing).

#include <string>

namespace rdv::sip {

// Why a SIP message or value was rejected: the response status to answer with (400 unless a more
// precise code exists, e.g. 416, 505, 513) and its reason phrase. Each parser lists its reason
// phrases at the top of its .cc; they are stable and fit on the wire as the reason phrase of the
// error response.
struct SipError {
  int status = 400;
  std::string reason;
};

}  // namespace rdv::sip
