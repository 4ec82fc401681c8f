#pragma once
// WebRTC legs (issue 12): ICE-lite (RFC 8445 §2.5) and terminated DTLS-SRTP (RFC 5763/5764) on one
// leg of an RTP m-line. Which legs are DTLS is decided with the SRTP modes (SrtpMedia.h,
// SdesMode::Dtls); this file reads the peer's ICE credentials, fingerprint and a=setup, keeps our
// own credentials, and writes what the peer of a WebRTC leg receives: session a=ice-lite, our
// a=ice-ufrag/a=ice-pwd, one host a=candidate per component on the relay's address and port,
// a=end-of-candidates, a=fingerprint (the relay's certificate), a=setup and a=mid. Pure functions
// over the SDP model and plain state; MediaAnchor keeps a WebrtcLeg per leg and tells the relay
// (relay::LegParams::ice, ::dtls).
//
// Roles (RFC 5763 §5): answering an `actpass` offer we are `passive` (the browser is the DTLS
// client, so its ClientHello crosses its own NAT first) unless `DTLS=active` asked otherwise;
// offering we say `actpass` (or what NG `DTLS=` asked) and learn our role from the answer.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/Expected.h"
#include "relay/LegWebrtc.h"
#include "signaling/sdp/SdpWebrtc.h"

namespace rdv::anchor {

enum class IcePolicy : uint8_t {
  Default,  // ICE-lite on DTLS-SRTP legs (a browser needs it), none elsewhere
  Remove,   // NG ICE=remove: no ICE towards the receiver, even on a DTLS-SRTP leg
  Force,    // NG ICE=force / force-relay: ICE-lite towards the receiver whatever its transport
};

struct WebrtcOptions {
  IcePolicy ice = IcePolicy::Default;
  // NG DTLS=passive|active: the role we prefer where we choose (our offer's a=setup, our answer
  // to actpass). nullopt: actpass in offers, passive in answers.
  std::optional<relay::DtlsRole> role;
};

// One leg's WebRTC state.
struct WebrtcLeg {
  bool dtls = false;  // DTLS-SRTP terminated on this leg (role stays Off until it is known)
  bool ice = false;   // ICE-lite towards this peer
  relay::IceCredential ufrag;  // ours, random, kept across re-offers (renewed on an ICE restart)
  relay::IceCredential pwd;
  relay::IceCredential peerUfrag;
  relay::IceCredential peerPwd;
  relay::LegDtls dtlsState;    // role + the peer's fingerprint
  std::optional<sdp::DtlsSetup> offeredSetup;  // our a=setup in the offer this peer has
  std::string mid;             // this peer's a=mid from its offer (repeated in the answer it gets)

  relay::LegIce legIce() const;   // empty unless `ice`
  relay::LegDtls legDtls() const; // Off unless `dtls`
};

// What writeWebrtc puts in the SDP a WebRTC leg's peer receives.
struct WebrtcWrite {
  std::string_view addrType;     // "IP4" / "IP6"
  std::string_view address;      // the relay's advertised address
  uint16_t port = 0;             // the relay port facing this peer
  bool mux = true;               // one candidate (rtcp-mux) or two
  std::string_view fingerprint;  // ours, "sha-256 AB:..."
  bool isOffer = false;
};

// Reads the ICE credentials of `sdp.media[i]` (and, on a DTLS leg, its fingerprint and a=setup,
// giving our role) into `leg`. `isOffer`: the peer offered (else it answers our offer). An ICE
// restart (the peer's ufrag changed) renews our credentials (RFC 8445 §9). Errors: a DTLS leg
// without a usable fingerprint (missing, malformed, a hash the relay lacks), or an answer whose
// a=setup contradicts ours.
Expected<bool, std::string> readWebrtcPeer(const sdp::SdpSession& sdp, size_t i, bool isOffer,
                                           const WebrtcOptions& opts, WebrtcLeg& leg);

// Switches ICE on or off for `leg`; on: makes our credentials if it has none (false: no random).
bool enableIce(WebrtcLeg& leg, bool on);

// Writes `leg`'s attributes into `m` (after the caller removed the ICE attributes it passes on).
void writeWebrtc(sdp::SdpMedia& m, WebrtcLeg& leg, const WebrtcOptions& opts, const WebrtcWrite& w);

// The relay's form of an a=fingerprint; nullopt for a hash it does not implement.
std::optional<relay::DtlsFingerprint> toDtlsFingerprint(const sdp::SdpFingerprint& fp);

}  // namespace rdv::anchor
