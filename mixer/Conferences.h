#pragma once
// What signalling (the B2BUA answering conf-<room> URIs, the HTTP API) asks of the conference
// service: join a participant whose media is anchored on the relay and mixed by a mixer worker,
// let it go, and hear when it went for a reason of the server's own (media timeout, kicked by the
// operator, room deleted, wrong PIN) so a SIP dialog can be hung up with BYE. Control thread only;
// ConferenceControl implements it, tests use fakes.

#include <cstdint>
#include <functional>
#include <string>

#include "common/Expected.h"
#include "common/SockAddr.h"
#include "media/AudioCodec.h"
#include "mixer/MixerSink.h"
#include "relay/LegCrypto.h"
#include "relay/LegWebrtc.h"

namespace rdv::mixer {

struct JoinRequest {
  std::string room;            // the name after the prefix ("test" for sip:conf-test@...)
  common::SockAddr rtp;        // what the participant advertised; invalid = learn it by latching
  media::CodecId codec = media::CodecId::Opus;
  uint8_t payloadType = 111;   // negotiated, used both ways
  uint8_t dtmfPayloadType = 0; // RFC 4733 telephone-event payload type, 0 = none negotiated
  uint8_t audioLevelExtId = 0; // RFC 6464 extension id, 0 = none
  bool rtcpMux = true;
  std::string label;           // who it is, for the API and the log ("sip:alice@example.org")
  std::string callId;          // names the relay session (and so the call record); empty: "conf-<room>-<n>"
  std::string pin;             // a PIN given up front (API); SIP callers enter it by DTMF
  relay::LegCrypto crypto;     // SRTP terminated on the participant's leg (SDES); empty: plain RTP
  relay::LegIce ice;           // a browser (issue 12): ICE-lite on the participant's leg
  relay::LegDtls dtls;         // and DTLS-SRTP keying it (relay/LegWebrtc.h)
};

enum class JoinErrorCode : uint8_t {
  BadRequest,  // unknown codec, bad room name
  NotFound,    // the room does not exist and rooms are not created on first join
  Locked,      // the room is locked
  Full,        // the room's max size is reached
  NoMedia,     // the relay has no ports or descriptors left
  WrongPin,    // a PIN given up front does not match
};

struct JoinError {
  JoinErrorCode code;
  std::string reason;
};

struct JoinResult {
  ParticipantId id = 0;
  common::SockAddr local;  // where the participant sends RTP to (and receives it from)
  bool pinPending = false; // muted and deaf until the right PIN arrives by DTMF
};

enum class LeaveReason : uint8_t {
  Hangup,        // the participant's side ended it (BYE, CANCEL, API DELETE of the participant)
  MediaTimeout,  // no RTP for relay.timeout
  Kicked,        // the operator removed the participant
  RoomClosed,    // the operator deleted the room
  PinRejected,   // too many wrong PINs
  Shutdown,
};

const char* toString(LeaveReason r);

class Conferences {
 public:
  virtual ~Conferences() = default;
  virtual Expected<JoinResult, JoinError> join(const JoinRequest& req) = 0;
  // The participant leaves (idempotent; false when unknown). Does not call the onLeft callback:
  // the caller already knows.
  virtual bool leave(ParticipantId id, LeaveReason reason) = 0;
  // Called when a participant left for a reason of the server's own (not by leave()).
  virtual void setOnLeft(std::function<void(ParticipantId, LeaveReason)> fn) = 0;
};

}  // namespace rdv::mixer
