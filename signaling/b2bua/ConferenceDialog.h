#pragma once
// A conference participant's dialog with us as plain state: the B2BUA answered the participant's
// INVITE to a conference URI itself (no callee leg), and the conference service holds its media.
// No behaviour here; B2bua drives it (B2buaConference.cc).

#include <cstdint>
#include <string>

#include "common/SockAddr.h"
#include "mixer/MixerSink.h"
#include "signaling/b2bua/Call.h"
#include "signaling/b2bua/ConferenceSdp.h"
#include "signaling/sip/SipTransactions.h"

namespace rdv::b2bua {

struct ConferenceDialog {
  Leg leg;          // the dialog with the participant (peer: where its INVITE came from)
  std::string uri;  // the conference's Request-URI, for the call record
  mixer::ParticipantId participant = 0;
  common::SockAddr local;  // the relay address in our answer
  ConferenceOffer offer;   // what the answer repeats on every re-offer
  uint64_t sdpSessionId = 0;
  uint64_t sdpVersion = 0;     // o= version of the last answer (RFC 3264 §8)
  sip::TxnId awaitingAck = 0;  // the INVITE whose 2xx the participant has not ACKed yet
  uint64_t startUnixMs = 0;    // wall clock: the call record
};

}  // namespace rdv::b2bua
