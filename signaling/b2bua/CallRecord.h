#pragma once
// What the B2BUA knows of a call when it ends, for call detail records and metrics: who called
// whom, when it started, was answered and ended, and why it ended. The media side (packets, loss,
// jitter, MOS per leg) comes from the relay's SessionReport of the same Call-ID.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace rdv::b2bua {

enum class EndReason : uint8_t {
  CallerBye,       // the caller hung up an answered call
  CalleeBye,       // the callee did
  CallerCancel,    // the caller gave up before an answer (CANCEL, or BYE on the early dialog)
  Rejected,        // every contact answered with a failure (status: the one the caller got)
  Unreachable,     // no contact answered at all (timeout, connection failure)
  RingTimeout,     // sip.ring_timeout passed unanswered
  MediaTimeout,    // the relay saw no media for relay.timeout
  SessionExpired,  // RFC 4028: no refresh in time
  NoPrack,         // RFC 3262: the caller never PRACKed a reliable provisional
  Error,           // ours: an answer the relay could not anchor, a request we could not build
  Operator,        // hung up through the operator API
};
inline constexpr size_t kEndReasons = 11;

inline std::string_view toString(EndReason r) {
  static constexpr std::array<std::string_view, kEndReasons> kNames = {
      "caller_bye", "callee_bye",      "caller_cancel", "rejected", "unreachable", "ring_timeout",
      "media_timeout", "session_expired", "no_prack",   "error",    "operator"};
  return kNames[static_cast<size_t>(r)];
}

struct CallRecord {
  std::string callId;         // the caller's Call-ID: also the relay session's (MediaAnchor key)
  std::string calleeCallId;   // the answering branch's dialog; empty when never answered
  std::string caller;         // From of the caller's INVITE (name-addr, no tag)
  std::string callee;         // its To
  std::string calleeContact;  // the contact that answered; empty when never answered
  uint64_t startUnixMs = 0;
  uint64_t answerUnixMs = 0;  // 0: never answered
  uint64_t endUnixMs = 0;
  EndReason reason = EndReason::Error;
  int status = 0;             // the final response the caller got to its INVITE
  uint32_t branches = 0;      // contacts rung
};

}  // namespace rdv::b2bua
