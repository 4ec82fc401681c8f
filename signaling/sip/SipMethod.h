#pragma once
// SIP request methods (RFC 3261 §7.1, and the extension methods a B2BUA meets: RFC 3262, 3311,
// 3428, 3515, 6086, 6665, 3903).

#include <cstdint>
#include <string_view>

namespace rdv::sip {

enum class SipMethod : uint8_t {
  Invite,
  Ack,
  Bye,
  Cancel,
  Options,
  Register,
  Update,
  Prack,
  Info,
  Message,
  Refer,
  Notify,
  Subscribe,
  Publish,
  Unknown
};

// Method names are case-sensitive (RFC 3261 §7.1): "invite" is Unknown.
SipMethod methodFromName(std::string_view name);
// "INVITE", ...; "" for Unknown (use the message's methodText()).
std::string_view methodName(SipMethod method);

}  // namespace rdv::sip
