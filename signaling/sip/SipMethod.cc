#include "signaling/sip/SipMethod.h"

#include <array>
#include <cstddef>

namespace rdv::sip {

namespace {

// Indexed by SipMethod.
constexpr std::array<std::string_view, 14> kMethodNames{
    "INVITE", "ACK",  "BYE",     "CANCEL", "OPTIONS", "REGISTER",  "UPDATE",
    "PRACK",  "INFO", "MESSAGE", "REFER",  "NOTIFY",  "SUBSCRIBE", "PUBLISH"};
static_assert(kMethodNames.size() == static_cast<size_t>(SipMethod::Unknown));

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

}  // namespace rdv::sip
