#pragma once
// SDES-SRTP (RFC 4568 a=crypto) per leg: which legs of an RTP m-line Rendezvous terminates, the
// proto and a=crypto lines of the SDP each peer receives, and the keys each relay leg carries
// (relay::LegCrypto). Pure functions over the SDP model and plain state; MediaAnchor keeps the
// state per stream and tells the relay.
//
// Every leg is in one of three modes:
//  - Pass: SRTP, if any, passes through untouched end to end (both legs Pass: today's anchoring,
//    the SDP byte for byte as without this file);
//  - Plain: plain RTP towards that peer, no a=crypto in the SDP it receives;
//  - Sdes: Rendezvous terminates SRTP on that leg: the peer's chosen a=crypto is what it sends us
//    (LegCrypto::recv), our own key (fresh per leg, srtp::SdesCrypto::generate) is the a=crypto in
//    the SDP it receives (LegCrypto::send).
// Our keys stay as long as the peer's key does (an unchanged re-offer or hold gives equal
// LegCrypto, so the relay keeps its SRTP state); the key we answer with is renewed when the
// peer's key changes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/Expected.h"
#include "media/srtp/SdesCrypto.h"
#include "relay/LegCrypto.h"

namespace rdv::sdp {
class SdpMedia;
}  // namespace rdv::sdp

namespace rdv::anchor {

// What Rendezvous puts towards one side of a call (config `media.encrypt_caller|callee`).
enum class SrtpPolicy : uint8_t {
  Passthrough,  // as that side's peer takes part (SRTP end to end, untouched, while both sides are)
  Offer,        // SRTP offered best effort: RTP/AVP + a=crypto (RFC 8643 OSRTP); plain if declined
  Require,      // SRTP only: RTP/SAVP + a=crypto; an answer or offer without usable a=crypto fails
  Never,        // plain RTP: RTP/AVP, no a=crypto (SRTP offered by the other side is terminated)
  Dtls,         // a WebRTC leg: UDP/TLS/RTP/SAVP(F), DTLS-SRTP terminated, ICE-lite (WebrtcMedia.h)
};
std::optional<SrtpPolicy> srtpPolicyFromName(std::string_view name);  // "passthrough", "offer", ...
std::string_view toString(SrtpPolicy p);

// Bit (1 << suite) for each srtp::Suite offered towards, and accepted from, a terminated leg.
inline constexpr uint8_t kAllSuites = (1U << srtp::kSuiteCount) - 1;
constexpr uint8_t suiteBit(srtp::Suite s) { return static_cast<uint8_t>(1U << static_cast<unsigned>(s)); }

// The SRTP part of one offer, relative to its direction.
struct SrtpOptions {
  SrtpPolicy sender = SrtpPolicy::Passthrough;    // towards the party sending the offer
  SrtpPolicy receiver = SrtpPolicy::Passthrough;  // towards the party receiving it
  uint8_t suites = kAllSuites;
  // An offer of RTP/AVP with usable a=crypto (RFC 8643 OSRTP) is SRTP and gets terminated; false:
  // it counts as plain RTP and its a=crypto lines are dropped (NG without `OSRTP-accept`).
  bool osrtpAccept = true;
  // AVPF (true) or AVP (false) towards the receiver (NG transport-protocol); nullopt: as offered.
  std::optional<bool> receiverFeedback;
  // A DTLS-SRTP offer (UDP/TLS/RTP/SAVP(F)) is terminated even when both policies are
  // Passthrough; the receiver then gets plain RTP/AVP (the B2BUA; NG passes such an offer through
  // unless a flag converts it).
  bool terminateDtls = false;
  bool active() const { return sender != SrtpPolicy::Passthrough || receiver != SrtpPolicy::Passthrough; }
};

enum class SdesMode : uint8_t { Pass, Plain, Sdes, Dtls };  // Dtls: keyed by the relay's DTLS

// One leg of one RTP m-line.
struct SdesLeg {
  SdesMode mode = SdesMode::Pass;
  std::string proto;      // of the offer exchanged with this peer: an answer to it repeats it
  bool required = false;  // we offered it RTP/SAVP: its answer must carry a usable a=crypto
  std::vector<srtp::SdesCrypto> keys;     // ours, at most one per suite, kept until renewed
  std::vector<srtp::SdesCrypto> offered;  // the lines of our last offer to it (tag -> suite)
  std::optional<srtp::SdesCrypto> peer;   // its key in use

  // Our key of `suite`, or nullptr.
  const srtp::SdesCrypto* key(srtp::Suite suite) const;
  // The keys the relay leg carries: both directions when terminated and keyed, else none.
  relay::LegCrypto crypto() const;
};

// An offer from the `sender` leg's peer to the `receiver` leg's: decides both legs' modes and
// rewrites `m` (proto, a=crypto) for the receiver. A DTLS-SRTP offer makes the sender's leg Dtls
// (refused when SRTP is `never` towards it); a receiver that is `Dtls` gets UDP/TLS/RTP/SAVP(F)
// without a=crypto (its ICE and DTLS attributes are WebrtcMedia's). Leaves `m` untouched when both options are
// Passthrough or `m` is not RTP. On error (the reason, for a 488 Warning) `m` may be half
// rewritten; the legs are the caller's to restore.
Expected<bool, std::string> offerSdes(const SrtpOptions& opts, sdp::SdpMedia& m, SdesLeg& sender,
                                      SdesLeg& receiver);

// The answer from the `answerer` leg's peer to the offer that `offerer`'s peer made: takes the
// answerer's key (the a=crypto line answering one of ours, same tag and suite) and rewrites `m`
// for the offerer (its offer's proto, our key with the tag and suite of the line it chose). An
// answerer we offered RTP/AVP + a=crypto to that declines goes Plain; one we required SRTP of is
// an error.
Expected<bool, std::string> answerSdes(sdp::SdpMedia& m, SdesLeg& answerer, SdesLeg& offerer);

// The a=crypto lines of `m` that parse, name one of `suites`, have no session parameter the relay
// does not implement and fit relay::SrtpKeys, in the peer's order (RFC 4568 §7.1.1: an answerer
// skips the others).
std::vector<srtp::SdesCrypto> usableCryptos(const sdp::SdpMedia& m, uint8_t suites);

// The relay's form of an a=crypto value; nullopt when it does not fit (more than 4 keys, an MKI
// over 8 bytes).
std::optional<relay::SrtpKeys> toSrtpKeys(const srtp::SdesCrypto& c);

}  // namespace rdv::anchor
