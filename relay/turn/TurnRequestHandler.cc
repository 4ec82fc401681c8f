#include "relay/turn/TurnRequestHandler.h"

#include <algorithm>
#include <array>

#include <spdlog/spdlog.h>

#include "relay/stun/StunBuilder.h"

namespace rdv::turn {

using stun::MessageClass;
using stun::StunBuilder;
namespace attr = stun::attr;
namespace method = stun::method;

namespace {

// Comprehension-required attributes this server understands or safely ignores (§6.3.1: any
// other gets a 420). EVEN-PORT and RESERVATION-TOKEN are accepted but not honoured: the relayed
// port is any free one (clients asking for an RTP/RTCP pair get two unrelated ports).
constexpr std::array<uint16_t, 19> kKnown{
    attr::kUsername,          attr::kMessageIntegrity,       attr::kRealm,           attr::kNonce,
    attr::kLifetime,          attr::kRequestedTransport,     attr::kXorPeerAddress,  attr::kChannelNumber,
    attr::kData,              attr::kRequestedAddressFamily, attr::kDontFragment,    attr::kEvenPort,
    attr::kPriority,          attr::kUseCandidate,           attr::kMessageIntegritySha256,
    attr::kPasswordAlgorithm, attr::kErrorCode,            attr::kReservationToken, attr::kConnectionId};

}  // namespace

std::string_view toString(TurnMethod m) {
  switch (m) {
    case TurnMethod::Binding: return "binding";
    case TurnMethod::Allocate: return "allocate";
    case TurnMethod::Refresh: return "refresh";
    case TurnMethod::CreatePermission: return "create_permission";
    case TurnMethod::ChannelBind: return "channel_bind";
    case TurnMethod::Connect: return "connect";
    case TurnMethod::ConnectionBind: return "connection_bind";
    default: return "other";
  }
}

TurnMethod turnMethodOf(uint16_t m) {
  switch (m) {
    case method::kBinding: return TurnMethod::Binding;
    case method::kAllocate: return TurnMethod::Allocate;
    case method::kRefresh: return TurnMethod::Refresh;
    case method::kCreatePermission: return TurnMethod::CreatePermission;
    case method::kChannelBind: return TurnMethod::ChannelBind;
    case method::kConnect: return TurnMethod::Connect;
    case method::kConnectionBind: return TurnMethod::ConnectionBind;
    default: return TurnMethod::Other;
  }
}

std::string_view toString(Refusal r) {
  static constexpr std::array<std::string_view, static_cast<size_t>(Refusal::kCount)> kNames{
      "unauthenticated", "stale_nonce", "bad_request", "unknown_attribute", "forbidden_peer", "allocation_mismatch",
      "wrong_credentials", "unsupported_transport", "quota", "capacity", "malformed", "no_allocation",
      "no_permission", "connection_exists", "connect_failed", "bandwidth", "tcp_source_limit",
      "tcp_connection_limit", "tcp_idle"};
  return kNames[static_cast<size_t>(r)];
}

// One answer in the making: the request, where it came from, and the key once authenticated
// (success and post-authentication errors carry MESSAGE-INTEGRITY with it, §9.2.4).
struct TurnRequestHandler::Reply {
  const stun::StunView& req;
  const FiveTuple& tuple;
  std::span<std::byte> out;
  uint64_t wallS;
  std::optional<stun::Md5Key> key;
  bool failed = false;

  StunBuilder start(MessageClass cls) { return StunBuilder(out, req.method(), cls, req.transactionId()); }
  std::span<const std::byte> finish(StunBuilder& b) {
    if (key) b.addIntegrity(*key);
    if (req.hasFingerprint()) b.addFingerprint();
    return b.bytes();
  }
  std::span<const std::byte> error(uint16_t code) {
    failed = true;
    spdlog::debug("turn: {} {} from {}", stun::methodName(req.method()), code, tuple.client.str());
    auto b = start(MessageClass::ErrorResponse);
    b.addErrorCode(code, stun::reasonPhrase(code));
    return finish(b);
  }
};

TurnRequestHandler::TurnRequestHandler(Credentials credentials, PeerPolicy policy, AllocationLimits limits,
                                       uint32_t nonceLifetimeS, RelayPorts& ports, TurnCounters& counters)
    : credentials_(std::move(credentials)),
      policy_(std::move(policy)),
      nonces_(nonceLifetimeS),
      table_(limits),
      ports_(ports),
      counters_(counters) {}

std::span<const std::byte> TurnRequestHandler::handle(const stun::StunView& req, const FiveTuple& tuple,
                                                      uint64_t nowMs, uint64_t wallS, std::span<std::byte> out) {
  if (req.messageClass() != MessageClass::Request || (req.hasFingerprint() && !req.checkFingerprint())) {
    counters_.refuse(Refusal::Malformed);
    return {};
  }
  Reply r{req, tuple, out, wallS, std::nullopt};
  auto fail = [&](uint16_t code, Refusal why, bool challenge = false) {
    counters_.refuse(why);
    r.failed = true;
    spdlog::debug("turn: {} {} from {}", stun::methodName(req.method()), code, tuple.client.str());
    auto b = r.start(MessageClass::ErrorResponse);
    b.addErrorCode(code, stun::reasonPhrase(code));
    if (challenge) {
      b.addText(attr::kRealm, credentials_.realm());
      b.addText(attr::kNonce, nonces_.issue(wallS, tuple.client));
    }
    return r.finish(b);
  };
  const auto methodIndex = static_cast<size_t>(turnMethodOf(req.method()));
  auto answer = [&]() -> std::span<const std::byte> {
    if (auto unknown = req.firstUnknownRequired(kKnown)) {
      counters_.refuse(Refusal::UnknownAttribute);
      spdlog::debug("turn: 420 to {} for attribute 0x{:04x}", tuple.client.str(), *unknown);
      r.failed = true;
      auto b = r.start(MessageClass::ErrorResponse);
      b.addErrorCode(420, stun::reasonPhrase(420)).addU32(attr::kUnknownAttributes, uint32_t{*unknown} << 16);
      return r.finish(b);
    }
    if (req.method() == method::kBinding) {
      auto b = r.start(MessageClass::SuccessResponse);
      b.addXorAddress(attr::kXorMappedAddress, tuple.client);
      return r.finish(b);
    }
    // Long-term credentials (RFC 8489 §9.2.4): challenge, then check nonce, user and integrity.
    if (!req.hasIntegrity()) return fail(401, Refusal::Unauthenticated, true);
    const auto username = req.text(attr::kUsername);
    const auto nonce = req.text(attr::kNonce);
    if (!username || !nonce || !req.text(attr::kRealm)) return fail(400, Refusal::BadRequest);
    if (!nonces_.valid(*nonce, wallS, tuple.client)) return fail(438, Refusal::StaleNonce, true);
    auto key = credentials_.keyFor(*username, wallS);
    if (!key || !req.checkIntegrity(*key)) return fail(401, Refusal::Unauthenticated, true);
    r.key = *key;
    if (req.method() == method::kAllocate) return allocate(r, tuple, nowMs);
    if (req.method() == method::kConnectionBind) return connectionBind(r, *username, nowMs);
    Allocation* a = table_.find(tuple);
    if (a == nullptr) return fail(437, Refusal::Mismatch);
    if (a->username != *username) return fail(441, Refusal::WrongCredentials);
    switch (req.method()) {
      case method::kRefresh: return refresh(r, *a, nowMs);
      case method::kCreatePermission: return createPermission(r, *a, nowMs);
      case method::kChannelBind: return channelBind(r, *a, nowMs);
      case method::kConnect: return connect(r, *a, nowMs);
      default: return fail(400, Refusal::BadRequest);
    }
  };
  const auto bytes = answer();
  (r.failed ? counters_.error : counters_.success)[methodIndex].add(1);
  return bytes;
}

std::span<const std::byte> TurnRequestHandler::allocate(Reply& r, const FiveTuple& tuple, uint64_t nowMs) {
  auto fail = [&](uint16_t code, Refusal why) {
    counters_.refuse(why);
    return r.error(code);
  };
  const auto username = *r.req.text(attr::kUsername);
  if (table_.find(tuple) != nullptr) return fail(437, Refusal::Mismatch);
  const auto transport = r.req.requestedTransport();
  if (!transport) return fail(400, Refusal::BadRequest);
  if (*transport != kUdp && *transport != kTcp) return fail(442, Refusal::UnsupportedTransport);
  if (*transport == kTcp) {
    // RFC 6062 §5.1: only over a TCP (or TLS) control connection, without the UDP-only attributes.
    if (tuple.transport != kTcp) return fail(400, Refusal::BadRequest);
    for (uint16_t type : {attr::kDontFragment, attr::kEvenPort, attr::kReservationToken}) {
      if (r.req.find(type)) return fail(400, Refusal::BadRequest);
    }
  }
  if (auto family = r.req.find(attr::kRequestedAddressFamily)) {
    if (family->value.empty() || std::to_integer<uint8_t>(family->value[0]) != 0x01) {
      return fail(440, Refusal::UnsupportedTransport);  // relayed addresses are IPv4 for now
    }
  }
  if (const uint16_t code = table_.admit(tuple, username); code != 0) {
    return fail(code, code == 486 ? Refusal::Quota : Refusal::Mismatch);
  }
  const auto relayed = ports_.open(table_.nextId(), *transport);
  if (!relayed) return fail(508, Refusal::Capacity);
  // §7.2: min(requested, maximum), but never below the default.
  const uint32_t lifetime = std::max(table_.lifetimeFor(r.req.u32(attr::kLifetime)), table_.lifetimeFor(std::nullopt));
  table_.create(tuple, username, *r.key, *relayed, lifetime, nowMs)->relayTransport = *transport;
  counters_.allocations.set(table_.size());
  auto b = r.start(MessageClass::SuccessResponse);
  b.addXorAddress(attr::kXorRelayedAddress, *relayed)
      .addU32(attr::kLifetime, lifetime)
      .addXorAddress(attr::kXorMappedAddress, tuple.client);
  return r.finish(b);
}

std::span<const std::byte> TurnRequestHandler::refresh(Reply& r, Allocation& a, uint64_t nowMs) {
  const uint32_t lifetime = table_.lifetimeFor(r.req.u32(attr::kLifetime));
  if (lifetime == 0) ports_.close(a.id);
  table_.refresh(a, lifetime, nowMs);  // may delete `a`
  counters_.allocations.set(table_.size());
  auto b = r.start(MessageClass::SuccessResponse);
  b.addU32(attr::kLifetime, lifetime);
  return r.finish(b);
}

uint16_t TurnRequestHandler::checkPeer(const Allocation& a, const common::SockAddr& peer) const {
  if (peer.isV6() != a.relayed.isV6()) return 443;
  if (!policy_.allowed(peer)) return 403;
  return 0;
}

std::span<const std::byte> TurnRequestHandler::createPermission(Reply& r, Allocation& a, uint64_t nowMs) {
  std::array<common::SockAddr, 16> peers;
  size_t count = 0;
  uint16_t code = 0;
  r.req.forEach([&](const stun::StunAttribute& at) {
    if (at.type != attr::kXorPeerAddress) return true;
    auto peer = r.req.xorAddressOf(at);
    if (!peer || count == peers.size()) {
      code = 400;
      return false;
    }
    if (const uint16_t c = checkPeer(a, *peer); c != 0) {
      code = c;
      return false;
    }
    peers[count++] = *peer;
    return true;
  });
  if (count == 0 && code == 0) code = 400;
  if (code != 0) {
    counters_.refuse(code == 403 ? Refusal::ForbiddenPeer : Refusal::BadRequest);
    return r.error(code);
  }
  for (size_t i = 0; i < count; ++i) table_.permit(a, peers[i], nowMs);
  auto b = r.start(MessageClass::SuccessResponse);
  return r.finish(b);
}

std::span<const std::byte> TurnRequestHandler::channelBind(Reply& r, Allocation& a, uint64_t nowMs) {
  const auto number = r.req.channelNumber();
  const auto peer = r.req.xorAddress(attr::kXorPeerAddress);
  uint16_t code = (!number || !peer) ? 400 : checkPeer(a, *peer);
  if (code == 0) code = table_.bindChannel(a, *number, *peer, nowMs);
  if (code != 0) {
    counters_.refuse(code == 403 ? Refusal::ForbiddenPeer : Refusal::BadRequest);
    return r.error(code);
  }
  auto b = r.start(MessageClass::SuccessResponse);
  return r.finish(b);
}

std::span<const std::byte> TurnRequestHandler::connect(Reply& r, Allocation& a, uint64_t nowMs) {
  const auto peer = r.req.xorAddress(attr::kXorPeerAddress);
  uint16_t code = (a.relayTransport != kTcp || !peer) ? 400 : checkPeer(a, *peer);
  if (code == 0) {
    table_.permit(a, *peer, nowMs);  // the peer's answers and later connections from it are welcome
    code = ports_.connect(a.id, *peer, r.req.transactionId(), nowMs);
  }
  if (code == 0) return {};  // answered when the handshake ends (TurnServer)
  counters_.refuse(code == 403   ? Refusal::ForbiddenPeer
                   : code == 446 ? Refusal::ConnectionExists
                   : code == 447 ? Refusal::ConnectFailed
                   : code == 486 ? Refusal::Quota
                                 : Refusal::BadRequest);
  return r.error(code);
}

// RFC 6062 §5.4: on a new TCP connection without an allocation, by the allocation's user.
std::span<const std::byte> TurnRequestHandler::connectionBind(Reply& r, std::string_view username, uint64_t nowMs) {
  const auto id = r.req.u32(attr::kConnectionId);
  const uint32_t allocationId =
      (r.tuple.transport != kTcp || !id || table_.find(r.tuple) != nullptr) ? 0 : ports_.awaitingBind(*id, nowMs);
  const Allocation* a = allocationId == 0 ? nullptr : table_.byId(allocationId);
  if (a == nullptr) {
    counters_.refuse(Refusal::BadRequest);
    return r.error(400);
  }
  if (a->username != username) {
    counters_.refuse(Refusal::WrongCredentials);
    return r.error(441);
  }
  ports_.bind(*id, r.tuple, nowMs);
  auto b = r.start(MessageClass::SuccessResponse);
  return r.finish(b);
}

void TurnRequestHandler::release(const FiveTuple& tuple) {
  if (Allocation* a = table_.find(tuple)) {
    ports_.close(a->id);
    table_.remove(a->id);
    counters_.allocations.set(table_.size());
  }
}

void TurnRequestHandler::expire(uint64_t nowMs) {
  table_.expire(nowMs, [&](const Allocation& a) { ports_.close(a.id); });
  counters_.allocations.set(table_.size());
}

}  // namespace rdv::turn
