#pragma once
// The NG requests the load generator sends (offer / answer / delete, shaped like Kamailio's
// rtpengine module sends them) and the parts of replies it reads. Bencode is the project codec
// (signaling/Bencode.h); this file only decides which keys go where.

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/Expected.h"
#include "signaling/ng/Bencode.h"

namespace rdv::bench {

// Dialog identifiers of one generated call.
struct CallIds {
  std::string callId;
  std::string fromTag;
  std::string toTag;
};

// A G.711 audio SDP from 127.0.0.1:rtpPort, as a SIP phone would offer or answer: RTP/AVP, or
// RTP/SAVP with `a=crypto:<crypto>` when crypto is not empty (SDES, RFC 4568).
std::string phoneSdp(uint64_t sessionId, uint16_t rtpPort, std::string_view crypto = {});

// {command: offer, call-id, from-tag, sdp, replace: [origin, session-connection]}. With `crypto`
// the caller offers RTP/SAVP with that a=crypto value and asks for `transport-protocol: RTP/AVP`
// towards the callee: the relay bridges SRTP (caller) to plain RTP (callee).
ng::BValue makeOffer(const CallIds& ids, uint16_t callerRtpPort, std::string_view crypto = {});
// As makeOffer plus to-tag, with the callee's SDP.
ng::BValue makeAnswer(const CallIds& ids, uint16_t calleeRtpPort);
// {command: delete, call-id, from-tag}: ends the whole call.
ng::BValue makeDelete(const CallIds& ids);

// What the generator needs from a reply dictionary.
struct NgReply {
  bool ok = false;          // result == "ok" (or "pong")
  std::string result;       // as received
  std::string errorReason;  // error-reason when result == "error"
  std::string sdp;          // rewritten SDP, when present
};

// Parses the dictionary part of a reply (the bytes after "<cookie> "). A reply that is not a
// bencoded dictionary with a string `result` is an error.
[[nodiscard]] Expected<NgReply, std::string> parseReply(std::string_view body);

// Where the first audio m-line of an SDP wants media: its port and the c= address in force for
// it (media-level c= overrides session-level). Only IPv4 is accepted.
[[nodiscard]] Expected<sockaddr_in, std::string> audioDestination(std::string_view sdp);

// The value of the first a=crypto line of the first audio m-line (the text after "a=crypto:"),
// or empty when there is none.
std::string_view audioCrypto(std::string_view sdp);

}  // namespace rdv::bench
