// libFuzzer target for the conference offer/answer (signaling/b2bua/ConferenceSdp.h): hostile SDP
// offers to sip:conf-<room>@. For every offer it accepts, the invariants the B2BUA and the mixer
// rely on: a payload type in 0..127, a DTMF type different from the codec's, an RFC 6464 id in
// 1..14 or 0, a rejected line per other m= section, and an answer that itself negotiates again to
// the same codec (what a re-INVITE with our answer as the offer would do).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "signaling/b2bua/ConferenceSdp.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view sdp(reinterpret_cast<const char*>(data), size);
  auto offer = rdv::b2bua::negotiateConferenceOffer(sdp);
  if (!offer) {
    check(!offer.error().empty());  // a 488 always says why
    return 0;
  }
  const auto& j = offer->join;
  check(j.payloadType <= 127);
  check(j.dtmfPayloadType == 0 || (j.dtmfPayloadType <= 127 && j.dtmfPayloadType != j.payloadType));
  check(j.audioLevelExtId <= 14);
  // The B2BUA writes the relay's certificate fingerprint into every WebRTC answer
  // (B2buaConference.cc, MediaAnchor::dtlsFingerprint()); an answer without it would not negotiate.
  offer->fingerprint =
      "sha-256 49:66:12:17:0D:1C:91:AE:57:4C:C6:36:DD:D5:97:D2:7D:62:C9:9A:7F:B9:A3:F4:70:03:E7:43:91:73:23:5A";
  const auto local = rdv::common::SockAddr::fromIp("127.0.0.1", 30000);
  const std::string answer = rdv::b2bua::conferenceAnswer(*offer, *local, 1, 1);
  auto again = rdv::b2bua::negotiateConferenceOffer(answer);
  check(again.has_value() && again->join.codec == j.codec && again->join.payloadType == j.payloadType);
  return 0;
}
