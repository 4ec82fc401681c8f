#pragma once
// RFC 4028 session timers as the B2BUA sees them: the header values it reads (Session-Expires,
// Min-SE, option tags in Supported/Require), which extension headers cross from one leg to the
// other, and when an unrefreshed session must be ended. Pure functions over text and time.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/sip/SipMessage.h"

namespace rdv::b2bua {

// The smallest session interval we accept (RFC 4028 §4: Min-SE is never below 90 s). A request
// asking for less gets 422 with `Min-SE: 90` (§6 as a proxy would, §8.1 as a UAS).
constexpr uint32_t kMinSessionExpiresSeconds = 90;

struct SessionExpires {
  enum class Refresher : uint8_t { Unspecified, Uac, Uas };
  uint32_t seconds = 0;
  Refresher refresher = Refresher::Unspecified;
};

// `delta-seconds *(;param)` of a Session-Expires value (RFC 4028 §4); nullopt when the delta is
// not a number or is zero.
std::optional<SessionExpires> parseSessionExpires(std::string_view value);
// The delta-seconds of a Min-SE value, nullopt when absent or not a number.
std::optional<uint32_t> parseMinSe(std::string_view value);
// Whether the message lists `tag` in that header (Supported, Require; compact names accepted).
bool hasOptionTag(const sip::SipMessage& msg, std::string_view header, std::string_view tag);

// The instant (ms) at which a session refreshed at `refreshedMs` with an interval of `seconds`
// is ended if no refresh came: Session-Expires minus min(32 s, Session-Expires/3) (RFC 4028 §10).
uint64_t sessionEndMs(uint64_t refreshedMs, uint32_t seconds);

// The option tags the B2BUA carries end to end (both legs see the other's peer behind them):
// 100rel (RFC 3262, reliable provisionals relayed per leg) and timer (RFC 4028).
bool passedOptionTag(std::string_view tag);

// The extension headers of `msg` that cross to the other leg, as header lines without CRLF:
// Session-Expires and Min-SE verbatim, Supported and Require reduced to passedOptionTag() tags
// (a header left without tags is dropped). `withRequire100rel` false drops 100rel from Require
// (in responses the B2BUA decides per leg whether a provisional is reliable).
std::vector<std::string> passedHeaders(const sip::SipMessage& msg, bool withRequire100rel = true);

}  // namespace rdv::b2bua
