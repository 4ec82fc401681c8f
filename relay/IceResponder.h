#pragma once
// The STUN server side of ICE-lite (RFC 8445 §2.5, §7.3) on one relay leg, as a pure function over
// bytes: no sockets, no state, no allocation. Given a datagram that RFC 7983 demultiplexed as STUN,
// the leg's credentials (LegIce) and the datagram's source, it decides what to answer and writes
// the answer into the caller's buffer; the worker sends it and latches (relay/RelayWorkerIce.cc).
//
// The rules, in RFC 8489 §6.3 order:
//  - framing that does not parse, a bad FINGERPRINT, responses, indications and requests other
//    than Binding: silently dropped (nothing trustworthy to answer, and no reflection);
//  - a Binding request whose attributes are malformed, or without USERNAME or
//    MESSAGE-INTEGRITY(-SHA256): 400 (§9.1.3);
//  - USERNAME not "localUfrag:..." or an integrity that does not verify with localPwd as the
//    short-term key: 401, without integrity (§9.1.3);
//  - an unknown comprehension-required attribute: 420 with UNKNOWN-ATTRIBUTES (§6.3.1);
//  - ICE-CONTROLLED: 487 Role Conflict. A lite agent is always controlled (RFC 8445 §6.1.1) and
//    can never switch to controlling, so it keeps its role whatever the tiebreaker (§7.3.1.1);
//    ICE-CONTROLLING is what it expects;
//  - otherwise a Binding success response: XOR-MAPPED-ADDRESS = the source, integrity of the
//    request's kind keyed with localPwd, FINGERPRINT.
// Every response ends with FINGERPRINT (RFC 8445 §7); responses to an authenticated request carry
// MESSAGE-INTEGRITY (or -SHA256, whichever the request used).
//
// The remote half of USERNAME is not checked: the peer's ufrag may not have reached the relay yet
// when its first checks arrive (RFC 8445 §7.3: the local ufrag and password identify the session).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/SockAddr.h"
#include "relay/LegWebrtc.h"

namespace rdv::relay {

// What became of one STUN datagram on an ICE leg: the `result` label of rdv_ice_checks_total.
enum class IceCheckResult : uint8_t { Ok, BadRequest, Unauthorized, UnknownAttribute, RoleConflict, Dropped, kCount };
inline constexpr size_t kIceCheckResultCount = static_cast<size_t>(IceCheckResult::kCount);
// "ok", "bad_request", "unauthorized", "unknown_attribute", "role_conflict", "dropped".
const char* toString(IceCheckResult r);

// Why, one step finer (for logs and tests).
enum class IceCheckReason : uint8_t {
  Answered,            // Ok
  NotStun,             // framing did not parse: Dropped
  BadFingerprint,      // FINGERPRINT misplaced, of the wrong size or not matching: Dropped
  NotRequest,          // a response or an indication: Dropped
  NotBinding,          // a request of another method: Dropped
  NoIce,               // the leg has no local ufrag/password, or the source no address: Dropped
  NoRoom,              // the output buffer is too small for the answer: Dropped
  MalformedAttribute,  // a Binding request whose attributes do not parse: BadRequest
  MissingCredentials,  // no USERNAME or no MESSAGE-INTEGRITY(-SHA256): BadRequest
  WrongUsername,       // USERNAME does not start with "localUfrag:": Unauthorized
  BadIntegrity,        // MESSAGE-INTEGRITY(-SHA256) does not verify with localPwd: Unauthorized
  UnknownAttribute,    // authenticated, with an unknown comprehension-required attribute
  RoleConflict,        // authenticated, with ICE-CONTROLLED
};
std::string_view toString(IceCheckReason r);

struct IceAnswer {
  IceCheckResult result = IceCheckResult::Dropped;
  IceCheckReason reason = IceCheckReason::NotStun;
  // The first `responseSize` bytes of the output buffer go back to the source; 0 = send nothing.
  size_t responseSize = 0;
  // The check carried USE-CANDIDATE: the controlling agent nominated this pair (RFC 8445 §7.3.1.5).
  // Only set on Ok.
  bool useCandidate = false;
  // The check's PRIORITY attribute (RFC 8445 §7.1.1), 0 when absent; only set on Ok. Pairs that
  // share the relay's one host candidate rank by it, which is how a lite agent picks among several
  // nominated pairs (aggressive nomination, RFC 5245 §8.2.2).
  uint32_t priority = 0;
  // The answer is an error response (400, 401, 420, 487): the worker bounds how many it sends.
  bool isError() const { return responseSize > 0 && result != IceCheckResult::Ok; }
};

class IceResponder {
 public:
  // Room for the largest answer (a 420 with UNKNOWN-ATTRIBUTES, or a success with an IPv6
  // XOR-MAPPED-ADDRESS and MESSAGE-INTEGRITY-SHA256), with margin.
  static constexpr size_t kMaxResponse = 256;

  // Decides what to do with `datagram` from `source` on a leg with credentials `ice`, writing any
  // response into `out` (which must not overlap `datagram`). Never reads past either span.
  static IceAnswer answer(std::span<const std::byte> datagram, const LegIce& ice, const common::SockAddr& source,
                          std::span<std::byte> out);
};

}  // namespace rdv::relay
