#pragma once
// Via values (RFC 3261 §20.42, §18.2.1; rport from RFC 3581).
//
// The parser is a view: every std::string_view it returns points into the text it was given and
// lives as long as that text. Failures are values (SipError); the reason phrases are stable and
// listed at the top of Via.cc.

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/Expected.h"
#include "signaling/sip/SipError.h"

namespace rdv::sip {

// One via-parm: "SIP/2.0/UDP host[:port];branch=..;rport[=n];received=.." (RFC 3261 §20.42, RFC 3581).
// LWS (including folds) is allowed around '/', ':' , ';' and '='. Protocol must be SIP/2.0; the
// transport is any token, as written. host follows the SipUri convention (no IPv6 brackets).
// rport: hasRport when present; rport holds its value when it has one (1..65535). received holds
// the received parameter's value (an IP address; brackets tolerated as written).
struct Via {
  std::string_view transport, host;
  uint16_t port = 0;  // 0 = absent
  std::string_view branch;
  std::string_view params;  // text after the first ';'
  bool hasRport = false;
  std::optional<uint16_t> rport;
  std::optional<std::string_view> received;

  std::optional<std::string_view> param(std::string_view name) const;
  static Expected<Via, SipError> parse(std::string_view text);
};

}  // namespace rdv::sip
