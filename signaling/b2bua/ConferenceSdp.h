#pragma once
// Offer/answer (RFC 3264) for a participant of a conference the B2BUA answers itself: which of
// the caller's audio codecs the mixer takes, and the answer SDP pointing at the relay port the
// conference service gave. Pure functions over text, no state.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/Expected.h"
#include "common/SockAddr.h"
#include "media/srtp/SdesCrypto.h"
#include "mixer/Conferences.h"
#include "signaling/anchor/WebrtcMedia.h"

namespace rdv::b2bua {

// What an offer negotiated, and what its answer must repeat.
struct ConferenceOffer {
  // codec, payloadType, dtmfPayloadType, audioLevelExtId, rtcpMux and rtp filled in; room, label
  // and pin are the caller's business.
  mixer::JoinRequest join;
  std::string proto;                   // of the answered m= line (RTP/AVP, RTP/AVPF, RTP/SAVP, RTP/SAVPF)
  // RTP/SAVP(F) (SDES, RFC 4568): the caller's first usable a=crypto and ours answering it (same
  // tag and suite); join.crypto carries both to the relay leg, which decrypts before the mixer.
  std::optional<srtp::SdesCrypto> peerKey;
  std::optional<srtp::SdesCrypto> ourKey;
  // UDP/TLS/RTP/SAVP(F) (a browser, issue 12): DTLS-SRTP terminated on the participant's leg
  // (we answer a=setup:passive to actpass) and ICE-lite when it offered ICE; join.ice and
  // join.dtls carry them to the relay leg, rtcp-mux is required.
  anchor::WebrtcLeg webrtc;
  std::string fingerprint;  // ours (MediaAnchor::dtlsFingerprint()), written in the answer
  std::string direction = "sendrecv";  // our side of it (RFC 3264 §6.1: sendonly -> recvonly)
  size_t audioIndex = 0;               // the answered m= section
  // Every offered m= line as the answer rejects it ("video 0 RTP/AVP 96", RFC 3264 §6): the answer
  // has as many m= lines as the offer, in order; the entry at audioIndex is not used.
  std::vector<std::string> rejected;
};

// Negotiates `sdp`, an offer: the first audio m= section over RTP/AVP or RTP/AVPF with a port, or
// over RTP/SAVP or RTP/SAVPF with a usable a=crypto (an OSRTP offer, RTP/AVP + a=crypto, is
// answered as plain RTP, RFC 8643), or over UDP/TLS/RTP/SAVP(F) with a usable a=fingerprint,
// its first format in the caller's order that the mixer codes (opus/48000/2, G722/8000,
// PCMU/8000, PCMA/8000; static 0, 8 and 9 count without an rtpmap), telephone-event/8000 for
// DTMF, the RFC 6464 audio level extension (one-byte ids 1-14), a=rtcp-mux and the c=/m= address
// (invalid when it is no IP address, e.g. 0.0.0.0 or a host name: the relay learns it by
// latching). The error says why there is nothing to answer (for a 488's Warning).
Expected<ConferenceOffer, std::string> negotiateConferenceOffer(std::string_view sdp);

// The answer (CRLF lines): o= with `sessionId`/`version` (RFC 3264 §8: bumped on every new
// answer in the dialog) and c= on `local`, the relay's address for this participant; the chosen
// codec (opus with useinbandfec=1), telephone-event 0-15 when offered, ptime 20, rtcp-mux and the
// audio level extension when offered, our a=crypto for SRTP, the direction; every other offered
// m= line rejected. A WebRTC offer gets session a=ice-lite and a=group:BUNDLE of the answered
// a=mid, our ICE credentials, a host candidate on `local`, a=end-of-candidates, a=fingerprint
// (offer.fingerprint), a=setup and a=mid.
std::string conferenceAnswer(const ConferenceOffer& offer, const common::SockAddr& local, uint64_t sessionId,
                             uint64_t version);

}  // namespace rdv::b2bua
