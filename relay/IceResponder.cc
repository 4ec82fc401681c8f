#include "relay/IceResponder.h"

#include <array>

#include "media/RtpPacket.h"
#include "relay/stun/StunBuilder.h"
#include "relay/stun/StunIntegrity.h"
#include "relay/stun/StunMessage.h"
#include "relay/stun/StunTypes.h"

namespace rdv::relay {
namespace {

namespace attr = stun::attr;
namespace wire = media::wire;
using stun::MessageClass;
using stun::StunBuilder;
using stun::StunView;

// What a Binding request may carry that this agent understands (RFC 8445 §16.1, RFC 8489 §14).
constexpr std::array<uint16_t, 8> kKnown = {attr::kUsername,    attr::kMessageIntegrity, attr::kMessageIntegritySha256,
                                            attr::kFingerprint, attr::kPriority,         attr::kUseCandidate,
                                            attr::kIceControlled, attr::kIceControlling};

enum class Integrity : uint8_t { None, Sha1, Sha256 };

IceAnswer dropped(IceCheckReason reason) { return IceAnswer{IceCheckResult::Dropped, reason, 0, false}; }

// The transaction id of a message whose header is known to be well framed.
stun::TransactionId transactionIdOf(std::span<const std::byte> header) {
  stun::TransactionId id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = header[8 + i];
  return id;
}

// Ends a response: integrity of the request's kind (when it authenticated), then FINGERPRINT.
IceAnswer finish(StunBuilder& b, Integrity integrity, std::string_view pwd, IceCheckResult result,
                 IceCheckReason reason) {
  if (integrity == Integrity::Sha1) b.addIntegrity(stun::shortTermKey(pwd));
  if (integrity == Integrity::Sha256) b.addIntegritySha256(stun::shortTermKey(pwd));
  b.addFingerprint();
  if (!b.ok()) return dropped(IceCheckReason::NoRoom);
  return IceAnswer{result, reason, b.size(), false};
}

// A Binding error response with `code` (RFC 8489 §6.3.1.1).
IceAnswer errorResponse(const stun::TransactionId& id, std::span<std::byte> out, uint16_t code, Integrity integrity,
                        std::string_view pwd, IceCheckResult result, IceCheckReason reason,
                        uint16_t unknownType = 0) {
  StunBuilder b(out, stun::method::kBinding, MessageClass::ErrorResponse, id);
  b.addErrorCode(code, stun::reasonPhrase(code));
  if (unknownType != 0) {
    std::array<std::byte, 2> v{};
    wire::storeBe16(v, 0, unknownType);
    b.add(attr::kUnknownAttributes, v);
  }
  return finish(b, integrity, pwd, result, reason);
}

// A well-framed message whose attributes do not parse: a Binding request gets a 400, anything
// else (or a FINGERPRINT that is misplaced or of the wrong size) is dropped.
IceAnswer onUnparsed(std::span<const std::byte> datagram, stun::ParseError e, std::span<std::byte> out) {
  if (e == stun::ParseError::TooShort || e == stun::ParseError::NotStun || e == stun::ParseError::BadLength) {
    return dropped(IceCheckReason::NotStun);
  }
  if (e == stun::ParseError::BadFingerprint) return dropped(IceCheckReason::BadFingerprint);
  const uint16_t type = wire::loadBe16(datagram, 0);
  if (stun::classOf(type) != MessageClass::Request) return dropped(IceCheckReason::NotRequest);
  if (stun::methodOf(type) != stun::method::kBinding) return dropped(IceCheckReason::NotBinding);
  return errorResponse(transactionIdOf(datagram), out, 400, Integrity::None, {}, IceCheckResult::BadRequest,
                       IceCheckReason::MalformedAttribute);
}

// RFC 8489 §9.1.3 with short-term credentials: USERNAME names our ufrag, the integrity verifies
// with our password. Returns the integrity the request used, or the error to answer.
struct Authentication {
  Integrity integrity = Integrity::None;
  uint16_t errorCode = 0;
  IceCheckReason reason = IceCheckReason::Answered;
};

Authentication authenticate(const StunView& m, const LegIce& ice) {
  const auto username = m.text(attr::kUsername);
  if (!username || (!m.hasIntegrity() && !m.hasIntegritySha256())) {
    return {Integrity::None, 400, IceCheckReason::MissingCredentials};
  }
  const std::string_view ufrag = ice.localUfrag.view();
  if (username->size() <= ufrag.size() || username->substr(0, ufrag.size()) != ufrag ||
      (*username)[ufrag.size()] != ':') {
    return {Integrity::None, 401, IceCheckReason::WrongUsername};
  }
  // MESSAGE-INTEGRITY-SHA256 when present (RFC 8489 §9.1.3: the stronger one is checked).
  const auto key = stun::shortTermKey(ice.localPwd.view());
  if (m.hasIntegritySha256()) {
    if (!m.checkIntegritySha256(key)) return {Integrity::None, 401, IceCheckReason::BadIntegrity};
    return {Integrity::Sha256, 0, IceCheckReason::Answered};
  }
  if (!m.checkIntegrity(key)) return {Integrity::None, 401, IceCheckReason::BadIntegrity};
  return {Integrity::Sha1, 0, IceCheckReason::Answered};
}

}  // namespace

const char* toString(IceCheckResult r) {
  switch (r) {
    case IceCheckResult::Ok: return "ok";
    case IceCheckResult::BadRequest: return "bad_request";
    case IceCheckResult::Unauthorized: return "unauthorized";
    case IceCheckResult::UnknownAttribute: return "unknown_attribute";
    case IceCheckResult::RoleConflict: return "role_conflict";
    case IceCheckResult::Dropped: return "dropped";
    case IceCheckResult::kCount: break;
  }
  return "dropped";
}

std::string_view toString(IceCheckReason r) {
  switch (r) {
    case IceCheckReason::Answered: return "answered";
    case IceCheckReason::NotStun: return "not stun";
    case IceCheckReason::BadFingerprint: return "bad fingerprint";
    case IceCheckReason::NotRequest: return "not a request";
    case IceCheckReason::NotBinding: return "not binding";
    case IceCheckReason::NoIce: return "no ice credentials";
    case IceCheckReason::NoRoom: return "no room";
    case IceCheckReason::MalformedAttribute: return "malformed attribute";
    case IceCheckReason::MissingCredentials: return "missing credentials";
    case IceCheckReason::WrongUsername: return "wrong username";
    case IceCheckReason::BadIntegrity: return "bad integrity";
    case IceCheckReason::UnknownAttribute: return "unknown attribute";
    case IceCheckReason::RoleConflict: return "role conflict";
  }
  return "unknown";
}

IceAnswer IceResponder::answer(std::span<const std::byte> datagram, const LegIce& ice, const common::SockAddr& source,
                               std::span<std::byte> out) {
  if (!ice.enabled() || !source.valid()) return dropped(IceCheckReason::NoIce);
  auto parsed = StunView::parse(datagram);
  if (!parsed) return onUnparsed(datagram, parsed.error(), out);
  const StunView& m = *parsed;
  // A FINGERPRINT that does not match is not ours to answer (RFC 8489 §7.3; RFC 7983 demux).
  if (m.hasFingerprint() && !m.checkFingerprint()) return dropped(IceCheckReason::BadFingerprint);
  if (m.messageClass() != MessageClass::Request) return dropped(IceCheckReason::NotRequest);
  if (m.method() != stun::method::kBinding) return dropped(IceCheckReason::NotBinding);

  const stun::TransactionId id = m.transactionId();
  const std::string_view pwd = ice.localPwd.view();
  const Authentication auth = authenticate(m, ice);
  if (auth.errorCode != 0) {
    const auto result = auth.errorCode == 400 ? IceCheckResult::BadRequest : IceCheckResult::Unauthorized;
    return errorResponse(id, out, auth.errorCode, Integrity::None, {}, result, auth.reason);
  }
  if (auto unknown = m.firstUnknownRequired(kKnown)) {
    return errorResponse(id, out, 420, auth.integrity, pwd, IceCheckResult::UnknownAttribute,
                         IceCheckReason::UnknownAttribute, *unknown);
  }
  if (m.find(attr::kIceControlled)) {
    return errorResponse(id, out, 487, auth.integrity, pwd, IceCheckResult::RoleConflict,
                         IceCheckReason::RoleConflict);
  }
  StunBuilder b(out, stun::method::kBinding, MessageClass::SuccessResponse, id);
  b.addXorAddress(attr::kXorMappedAddress, source);
  IceAnswer a = finish(b, auth.integrity, pwd, IceCheckResult::Ok, IceCheckReason::Answered);
  if (a.result != IceCheckResult::Ok) return a;
  a.useCandidate = m.find(attr::kUseCandidate).has_value();
  a.priority = m.u32(attr::kPriority).value_or(0);
  return a;
}

}  // namespace rdv::relay
