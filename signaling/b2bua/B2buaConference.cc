// B2bua as the user agent of a conference: an initial INVITE to sip:<prefix><room>@... is
// answered by us (RFC 3261 §12.1.1 UAS dialog, no callee leg) after the same authentication and
// admission as a call, once the conference service took the participant in; the answer points the
// participant's media at the relay port the service gave. Within the dialog BYE leaves the room,
// re-offers get the same answer (version bumped), OPTIONS and INFO are answered; when the service
// lets a participant go for its own reasons (media timeout, kick, room closed, wrong PIN,
// shutdown) we send the BYE, over the path the INVITE came from (NAT-aware, as for calls).
//
// Choices made here:
//  - a full room is 486 Busy Here rather than 503: the room, not this server, is busy, and a 503
//    would make a proxy try another server that holds the same room;
//  - a re-offer keeps the media as joined: the codec and payload types must stay (else 488 and the
//    old session goes on, RFC 3264 §8), the answer follows the new offer's m= lines and direction
//    (hold), and a changed address is not passed on: the relay latches to where RTP comes from;
//  - a participant who leaves gets a call record and counts in `ended` like a call: the callee is
//    the conference URI, the reason CallerBye (its BYE), MediaTimeout, Operator (kicked, room
//    closed, shutdown) or Rejected (too many wrong PINs). Refused INVITEs get no record, as calls
//    refused before routing get none.

#include <algorithm>
#include <array>
#include <cassert>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/b2bua/B2bua.h"
#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipUri.h"

namespace rdv::b2bua {
namespace {

// Both plain, or both SRTP with the same key (the tag only numbers the line): the relay leg's keys
// stay as joined (RFC 4568 §7.1.4 would allow a new key, which the joined leg cannot take).
bool sameSrtpKey(const std::optional<srtp::SdesCrypto>& a, const std::optional<srtp::SdesCrypto>& b) {
  if (!a || !b) return !a && !b;
  srtp::SdesCrypto t = *a;
  t.tag = b->tag;
  return t.format() == b->format();
}

constexpr std::string_view kSdp = "application/sdp";
constexpr size_t kMaxRoomName = 64;
// What a conference dialog takes: no REFER, MESSAGE or NOTIFY, which for calls go to the other party.
constexpr std::string_view kConferenceAllow = "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO";

bool validRoom(std::string_view room) {
  return !room.empty() && room.size() <= kMaxRoomName && std::all_of(room.begin(), room.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

struct Refusal {
  int status;
  std::string_view reason;
};

Refusal refusalOf(mixer::JoinErrorCode code) {
  switch (code) {
    case mixer::JoinErrorCode::NotFound:
      return {404, "Not Found"};
    case mixer::JoinErrorCode::Locked:
      return {403, "Conference locked"};
    case mixer::JoinErrorCode::Full:
      return {486, "Busy Here"};
    case mixer::JoinErrorCode::NoMedia:
      return {503, "Service Unavailable"};
    case mixer::JoinErrorCode::WrongPin:
      return {403, "Wrong PIN"};
    case mixer::JoinErrorCode::BadRequest:
      break;
  }
  return {488, "Not Acceptable Here"};
}

EndReason endReasonOf(mixer::LeaveReason why) {
  switch (why) {
    case mixer::LeaveReason::Hangup:
      return EndReason::CallerBye;
    case mixer::LeaveReason::MediaTimeout:
      return EndReason::MediaTimeout;
    case mixer::LeaveReason::PinRejected:
      return EndReason::Rejected;
    case mixer::LeaveReason::Kicked:
    case mixer::LeaveReason::RoomClosed:
    case mixer::LeaveReason::Shutdown:
      break;
  }
  return EndReason::Operator;
}

}  // namespace

void B2bua::setConferences(mixer::Conferences* conferences, std::string prefix) {
  if (conferences_ != nullptr) conferences_->setOnLeft({});
  conferences_ = conferences;
  conferencePrefix_ = std::move(prefix);
  if (conferences_ != nullptr) {
    conferences_->setOnLeft(
        [this](mixer::ParticipantId who, mixer::LeaveReason why) { onConferenceLeft(who, why); });
  }
}

bool B2bua::isConferenceInvite(const sip::SipMessage& req) const {
  if (conferences_ == nullptr || conferencePrefix_.empty()) return false;
  auto ruri = sip::SipUri::parse(req.requestUri());
  return ruri && ruri->unescapedUser().starts_with(conferencePrefix_);
}

void B2bua::onConferenceInvite(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from) {
  const std::string callId(req.callId());
  if (conferenceDialogs_.contains(callId)) {  // the same INVITE by another path (RFC 3261 §8.2.2.2)
    txns_.respond(id, 482, "Loop Detected", tags_.next());
    return;
  }
  if (!admitCall(id)) return;
  counters_.conferenceInvites.add(1);
  const std::string room =
      sip::SipUri::parse(req.requestUri())->unescapedUser().substr(conferencePrefix_.size());
  auto refuse = [&](int status, std::string_view reason, std::string_view why) {
    admission_.refund();
    counters_.conferenceRejected.add(1);
    spdlog::info("conference={} INVITE {} refused: {} ({})", room, callId, status, why);
    std::array<std::string, 1> h{warningHeader(why)};
    txns_.respond(id, status, reason, tags_.next(), h);
  };
  if (!validRoom(room)) return refuse(404, "Not Found", "bad conference name");
  auto offer = negotiateConferenceOffer(req.body());
  if (!offer) return refuse(488, "Not Acceptable Here", offer.error());
  offer->fingerprint = anchor_.dtlsFingerprint();
  if (offer->webrtc.dtls && offer->fingerprint.empty()) {
    return refuse(488, "Not Acceptable Here", "DTLS-SRTP needs the relay's certificate, and none is configured");
  }
  offer->join.room = room;
  offer->join.label = uriOf(req.header("From"));
  offer->join.callId = callId;  // the relay session, and so the call record, carry the SIP Call-ID
  auto joined = conferences_->join(offer->join);
  if (!joined) {
    const Refusal r = refusalOf(joined.error().code);
    return refuse(r.status, r.reason, joined.error().reason);
  }
  ConferenceDialog& d = conferenceDialogs_[callId];
  d.leg = callerLeg(req, from);
  d.uri = sip::formatNameAddr({}, req.requestUri());
  d.participant = joined->id;
  d.local = joined->local;
  d.offer = std::move(*offer);
  d.startUnixMs = clock_.wallNs() / 1'000'000;
  d.sdpSessionId = d.startUnixMs;
  d.sdpVersion = 1;
  d.awaitingAck = id;
  conferenceCallIds_[d.participant] = callId;
  counters_.conferenceJoins.add(1);
  spdlog::info("conference={} call={} {} joined as participant {} ({}{})", room, callId, d.offer.join.label,
               d.participant, media::codecInfo(d.offer.join.codec).name,
               joined->pinPending ? ", PIN pending" : "");
  std::array<std::string, 2> h{local_.contact(from), std::string(kConferenceAllow)};
  txns_.respond(id, 200, "OK", d.leg.localTag, h,
                conferenceAnswer(d.offer, d.local, d.sdpSessionId, d.sdpVersion), kSdp);
}

ConferenceDialog* B2bua::findConference(const sip::SipMessage& req) {
  auto it = conferenceDialogs_.find(std::string(req.callId()));
  if (it == conferenceDialogs_.end() || it->second.leg.localTag != req.toTag()) return nullptr;
  return &it->second;
}

bool B2bua::onConferenceAck(const sip::SipMessage& req) {
  ConferenceDialog* d = findConference(req);
  if (d == nullptr) return false;
  if (d->awaitingAck != 0) {
    txns_.acknowledged(d->awaitingAck);
    d->awaitingAck = 0;
  }
  return true;
}

void B2bua::onConferenceRequest(sip::TxnId id, const sip::SipMessage& req, ConferenceDialog& d) {
  switch (req.method()) {
    case sip::SipMethod::Bye:
      txns_.respond(id, 200, "OK");
      spdlog::info("call={} BYE from conference participant {}", d.leg.callId, d.participant);
      if (conferences_ != nullptr) conferences_->leave(d.participant, mixer::LeaveReason::Hangup);
      endConference(d, EndReason::CallerBye);
      return;
    case sip::SipMethod::Ack:  // an ACK with a transaction is a non-2xx's: the layer's business
      return;
    case sip::SipMethod::Invite:
    case sip::SipMethod::Update:
      answerConferenceReoffer(id, req, d);
      return;
    case sip::SipMethod::Options: {
      std::array<std::string, 2> h{std::string(kConferenceAllow), "Accept: application/sdp"};
      txns_.respond(id, 200, "OK", {}, h);
      return;
    }
    case sip::SipMethod::Info:  // DTMF for the PIN travels in RTP (RFC 4733), not here
      txns_.respond(id, 200, "OK");
      return;
    case sip::SipMethod::Prack:  // we send no reliable provisionals
      txns_.respond(id, 481, "Call/Transaction Does Not Exist");
      return;
    case sip::SipMethod::Unknown:
      txns_.respond(id, 501, "Not Implemented");
      return;
    default: {
      std::array<std::string, 1> h{std::string(kConferenceAllow)};
      txns_.respond(id, 405, "Method Not Allowed", {}, h);
      return;
    }
  }
}

// A re-INVITE or UPDATE: with an offer, the answer is the joined media laid out as the new offer
// asks (its m= lines and direction); without one (RFC 3264 §5, late offer in a re-INVITE), our
// 2xx offers the same SDP and the answer in the ACK changes nothing.
void B2bua::answerConferenceReoffer(sip::TxnId id, const sip::SipMessage& req, ConferenceDialog& d) {
  if (auto contact = uriOf(req.header("Contact")); !contact.empty()) d.leg.remoteTarget = contact;
  const bool invite = req.method() == sip::SipMethod::Invite;
  if (!req.body().empty()) {
    auto offer = negotiateConferenceOffer(req.body());
    if (offer &&
        (offer->join.codec != d.offer.join.codec || offer->join.payloadType != d.offer.join.payloadType)) {
      offer = Unexpected(std::string("a conference participant keeps its codec"));
    }
    if (offer && !sameSrtpKey(offer->peerKey, d.offer.peerKey)) {
      offer = Unexpected(std::string("a conference participant keeps its SRTP key"));
    }
    // A browser's re-offer is answered with the DTLS association and ICE credentials in place.
    if (offer && (offer->webrtc.dtls != d.offer.webrtc.dtls ||
                  !(offer->webrtc.dtlsState.remote == d.offer.webrtc.dtlsState.remote))) {
      offer = Unexpected(std::string("a conference participant keeps its DTLS certificate"));
    }
    if (!offer) {
      std::array<std::string, 1> h{warningHeader(offer.error())};
      txns_.respond(id, 488, "Not Acceptable Here", {}, h);
      return;
    }
    d.offer.proto = offer->proto;
    d.offer.direction = offer->direction;
    d.offer.audioIndex = offer->audioIndex;
    d.offer.rejected = std::move(offer->rejected);
    if (d.offer.ourKey) d.offer.ourKey->tag = offer->peerKey->tag;  // answers the re-offer's line
  } else if (!invite) {  // an UPDATE without an offer only refreshes the dialog
    std::array<std::string, 2> h{local_.contact(d.leg.peer), std::string(kConferenceAllow)};
    txns_.respond(id, 200, "OK", {}, h);
    return;
  }
  if (invite) {
    if (d.awaitingAck != 0) txns_.acknowledged(d.awaitingAck);  // a new INVITE: the last 2xx arrived
    d.awaitingAck = id;
  }
  std::array<std::string, 2> h{local_.contact(d.leg.peer), std::string(kConferenceAllow)};
  txns_.respond(id, 200, "OK", {}, h, conferenceAnswer(d.offer, d.local, d.sdpSessionId, ++d.sdpVersion),
                kSdp);
}

void B2bua::onConferenceLeft(mixer::ParticipantId who, mixer::LeaveReason why) {
  auto it = conferenceCallIds_.find(who);
  if (it == conferenceCallIds_.end()) return;
  auto d = conferenceDialogs_.find(it->second);
  assert(d != conferenceDialogs_.end());
  spdlog::info("call={} conference participant {} let go ({}): BYE", d->first, who, mixer::toString(why));
  sendOn(d->second.leg, 70, "BYE", {}, {});
  endConference(d->second, endReasonOf(why));
}

void B2bua::endConference(ConferenceDialog& d, EndReason why) {
  counters_.ended[static_cast<size_t>(why)].add(1);
  if (onCallEnded_) {
    onCallEnded_(CallRecord{.callId = d.leg.callId,
                            .calleeCallId = {},  // no callee leg
                            .caller = d.leg.remoteId,
                            .callee = d.uri,
                            .calleeContact = {},
                            .startUnixMs = d.startUnixMs,
                            .answerUnixMs = d.startUnixMs,
                            .endUnixMs = clock_.wallNs() / 1'000'000,
                            .reason = why,
                            .status = 200,
                            .branches = 0});
  }
  if (d.awaitingAck != 0) txns_.acknowledged(d.awaitingAck);
  conferenceCallIds_.erase(d.participant);
  conferenceDialogs_.erase(d.leg.callId);  // `d` dangles from here
}

}  // namespace rdv::b2bua
