#include "signaling/b2bua/B2bua.h"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/sip/SipUri.h"

namespace rdv::b2bua {
namespace {

constexpr uint64_t kHousekeepingMs = 1000;
constexpr uint64_t kTcpIdleMs = 3'900'000;  // longer than any registration may live
constexpr std::string_view kAllow = "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, MESSAGE, NOTIFY, REFER";
constexpr std::string_view kSdp = "application/sdp";

// `"Display" <uri>` of a From/To/Contact value, without header parameters (tag etc.).
std::string identity(std::string_view headerValue) {
  auto na = sip::NameAddr::parse(headerValue);
  if (!na) return std::string(headerValue);
  if (na->displayName.empty()) return fmt::format("<{}>", na->uri);
  return fmt::format("{} <{}>", na->displayName, na->uri);
}

std::string uriOf(std::string_view headerValue) {
  auto na = sip::NameAddr::parse(headerValue);
  return na ? std::string(na->uri) : std::string();
}

uint32_t toUint(std::string_view s, uint32_t fallback) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() ? v : fallback;
}

common::SockAddr peerAddr(const sip::Binding& b) {
  return common::SockAddr::fromIp(b.sourceIp, b.sourcePort).value_or(common::SockAddr());
}

// Via sent-by protocol and Contact transport parameter (RFC 3261 §18.2.1, §19.1.1). TLS gets a
// sip: URI with transport=tls rather than sips:, since the other leg may be neither.
std::string_view viaTransport(sip::SipTransportKind k) {
  switch (k) {
    case sip::SipTransportKind::Tcp: return "TCP";
    case sip::SipTransportKind::Tls: return "TLS";
    case sip::SipTransportKind::Udp: break;
  }
  return "UDP";
}

std::string_view contactTransport(sip::SipTransportKind k) {
  switch (k) {
    case sip::SipTransportKind::Tcp: return ";transport=tcp";
    case sip::SipTransportKind::Tls: return ";transport=tls";
    case sip::SipTransportKind::Udp: break;
  }
  return "";
}

// The registrar's lowercase transport name for a binding, and back.
std::string_view bindingTransport(sip::SipTransportKind k) {
  switch (k) {
    case sip::SipTransportKind::Tcp: return "tcp";
    case sip::SipTransportKind::Tls: return "tls";
    case sip::SipTransportKind::Udp: break;
  }
  return "udp";
}

sip::SipTransportKind bindingKind(std::string_view transport) {
  if (transport == "udp") return sip::SipTransportKind::Udp;
  return transport == "tls" ? sip::SipTransportKind::Tls : sip::SipTransportKind::Tcp;
}

}  // namespace

struct B2bua::Leg {
  std::string callId;
  std::string localTag;
  std::string remoteTag;
  std::string localId;       // name-addr we present on this leg
  std::string remoteId;      // the peer's name-addr
  std::string remoteTarget;  // Request-URI for requests on this leg (the peer's Contact)
  sip::SipPeer peer;              // where requests go: the peer's real source (NAT-aware)
  uint32_t localCseq = 0;
};

struct B2bua::Call {
  enum class State : uint8_t { Calling, Early, Answered, Confirmed };
  uint64_t id = 0;
  std::array<Leg, 2> legs;  // 0 = caller (A), 1 = callee (B)
  std::string anchorId;     // A's Call-ID
  State state = State::Calling;
  sip::TxnId aInvite = 0;
  sip::TxnId bInvite = 0;
  uint32_t bInviteCseq = 0;
  bool cancelled = false;
  bool anchored = false;  // the media session exists (false until a late offer arrives)
  bool reofferPending = false;
  std::string answerSdp;    // the rewritten answer A got, reused if B's 2xx carries none
  sip::TxnId awaitingAck[2] = {0, 0};  // server INVITE transactions whose 2xx awaits that side's ACK
  uint64_t ringDeadlineMs = 0;
  uint32_t maxForwards = 70;
  // Late offer (RFC 3264 §5, INVITE without SDP): the 2xx carried the offer, so the ACK to that
  // side must carry the answer, which arrives in the other side's ACK.
  struct DeferredAck {
    bool pending = false;
    int toSide = 0;
    uint32_t cseq = 0;
  } deferredAck;  // the caller's Max-Forwards minus one (loop protection)
};

struct B2bua::Pending {
  uint64_t call = 0;
  int toSide = 0;       // leg the request went out on
  sip::TxnId serverTxn = 0;  // the request it forwards (0: our own, e.g. BYE)
  bool initialInvite = false;
  bool offer = false;   // carried an SDP offer to anchor
  std::string method;
};

B2bua::B2bua(const config::SipConfig& cfg, sip::SipSender& transport, anchor::MediaAnchor& anchor,
             const common::Clock& clock)
    : cfg_(cfg),
      transport_(transport),
      anchor_(anchor),
      clock_(clock),
      txns_(transport, *this, clock),
      registrar_(cfg.minExpires, cfg.maxExpires, std::min(3600U, cfg.maxExpires)),
      auth_(cfg.realm, std::chrono::seconds(300)) {
  const common::SockAddr& local = transport.local();
  advertiseHost_ = cfg.advertise.empty() ? local.ip() : cfg.advertise;
  if (advertiseHost_.find(':') != std::string::npos) advertiseHost_ = "[" + advertiseHost_ + "]";
  advertisePort_ = local.port();
  advertiseTlsPort_ = transport.tlsLocal().port();
  uint64_t salt = 0;
  if (getrandom(&salt, sizeof(salt), 0) != sizeof(salt)) salt = reinterpret_cast<uintptr_t>(this);
  tagSalt_ = fmt::format("{:x}", salt & 0xffffffffULL);
  cpsTokens_ = cfg.maxCallsPerSecond;
}

B2bua::~B2bua() = default;

std::string B2bua::newTag() { return fmt::format("{}{:x}", tagSalt_, ++tagCounter_); }

std::string B2bua::contactHeader(const sip::SipPeer& over) const {
  return fmt::format("Contact: <sip:rendezvous@{}:{}{}>", advertiseHost_,
                     over.kind == sip::SipTransportKind::Tls ? advertiseTlsPort_ : advertisePort_,
                     contactTransport(over.kind));
}

std::string B2bua::viaHeader(const sip::SipPeer& over, const std::string& branch) const {
  return fmt::format("Via: SIP/2.0/{} {}:{};branch={};rport", viaTransport(over.kind), advertiseHost_,
                     over.kind == sip::SipTransportKind::Tls ? advertiseTlsPort_ : advertisePort_, branch);
}

void B2bua::onRequest(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from) {
  if (id == 0) {
    onAck(req);
    return;
  }
  const sip::SipMethod m = req.method();
  if (auto ruri = sip::SipUri::parse(req.requestUri()); !ruri) {
    txns_.respond(id, ruri.error().status, ruri.error().reason, newTag());  // e.g. 416 (RFC 3261 §8.2.2.1)
    return;
  }
  if (m == sip::SipMethod::Register) {
    onRegister(id, req, from);
    return;
  }
  if (!req.toTag().empty()) {
    int side = 0;
    Call* call = findCall(req, side);
    if (call == nullptr) {
      txns_.respond(id, 481, "Call/Transaction Does Not Exist");
      return;
    }
    onInDialog(id, req, *call, side);
    return;
  }
  switch (m) {
    case sip::SipMethod::Invite: onInitialInvite(id, req, from); return;
    case sip::SipMethod::Options: {
      std::array<std::string, 2> h{std::string(kAllow), "Accept: application/sdp"};
      txns_.respond(id, 200, "OK", newTag(), h);
      return;
    }
    case sip::SipMethod::Unknown: txns_.respond(id, 501, "Not Implemented"); return;
    case sip::SipMethod::Bye:
    case sip::SipMethod::Update:
    case sip::SipMethod::Prack:
    case sip::SipMethod::Info: txns_.respond(id, 481, "Call/Transaction Does Not Exist"); return;
    default: {
      std::array<std::string, 1> h{std::string(kAllow)};
      txns_.respond(id, 405, "Method Not Allowed", newTag(), h);
      return;
    }
  }
}

B2bua::Call* B2bua::findCall(const sip::SipMessage& msg, int& side) {
  auto it = byCallId_.find(std::string(msg.callId()));
  if (it == byCallId_.end()) return nullptr;
  auto c = calls_.find(it->second);
  if (c == calls_.end()) return nullptr;
  Call& call = *c->second;
  side = call.legs[0].callId == msg.callId() ? 0 : 1;
  // Requests carry our tag in To; responses to our requests carry it in From.
  std::string_view ours = msg.isRequest() ? msg.toTag() : msg.fromTag();
  if (!ours.empty() && ours != call.legs[side].localTag) return nullptr;
  return &call;
}

bool B2bua::authorize(sip::TxnId id, const sip::SipMessage& req, bool proxy) {
  const uint64_t now = clock_.monotonicMs();
  auto value = req.header(proxy ? "Proxy-Authorization" : "Authorization");
  bool stale = false;
  if (!value.empty()) {
    auto creds = sip::DigestCredentials::parse(value);
    if (creds) {
      auto user = cfg_.users.find(creds->username);
      auto verdict = auth_.verify(req.methodText(), *creds, user == cfg_.users.end() ? "" : user->second, now);
      if (verdict == sip::DigestAuthenticator::Verdict::Ok) return true;
      stale = verdict == sip::DigestAuthenticator::Verdict::StaleNonce;
      if (verdict == sip::DigestAuthenticator::Verdict::BadCredentials || verdict == sip::DigestAuthenticator::Verdict::UnknownUser) {
        spdlog::info("sip: {} from user '{}' failed authentication", req.methodText(), creds->username);
      }
    }
  }
  // Offer the configured algorithms in the configured order (sip.auth_algorithms).
  std::vector<std::string> all = auth_.challenges(now, stale);
  std::vector<std::string> challenges;
  std::string_view list = cfg_.authAlgorithms;
  while (!list.empty()) {
    auto comma = list.find(',');
    const std::string want = fmt::format("algorithm={}", list.substr(0, comma));
    for (const auto& c : all) {
      auto at = c.find(want);
      const size_t end = at + want.size();
      if (at != std::string::npos && (end == c.size() || c[end] == ',' || c[end] == ' ')) challenges.push_back(c);
    }
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  std::vector<std::string> headers;
  for (auto& c : challenges) {
    headers.push_back(fmt::format("{}: {}", proxy ? "Proxy-Authenticate" : "WWW-Authenticate", c));
  }
  counters_.authChallenges.add(1);
  txns_.respond(id, proxy ? 407 : 401, proxy ? "Proxy Authentication Required" : "Unauthorized", newTag(), headers);
  return false;
}

void B2bua::onRegister(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from) {
  auto to = sip::NameAddr::parse(req.header("To"));
  auto uri = to ? sip::SipUri::parse(to->uri) : Unexpected(sip::SipError{400, "Malformed To header"});
  if (!uri || uri->user.empty()) {
    txns_.respond(id, 400, "Malformed To header");
    return;
  }
  const std::string user = uri->unescapedUser();
  if (cfg_.authRegister != 0) {
    if (!authorize(id, req, false)) return;
    auto creds = sip::DigestCredentials::parse(req.header("Authorization"));
    if (!creds || creds->username != user) {
      txns_.respond(id, 403, "Credentials do not match the registered user");
      return;
    }
  }
  sip::RegisterRequest rr;
  rr.aor = user;
  for (auto c : req.headerList("Contact")) {
    auto na = sip::NameAddr::parse(c);
    if (!na) {
      txns_.respond(id, 400, "Malformed Contact header");
      return;
    }
    if (na->star) {
      rr.star = true;
      continue;
    }
    std::optional<uint32_t> expires;
    if (auto e = na->param("expires")) expires = toUint(*e, cfg_.maxExpires);
    rr.contacts.emplace_back(std::string(na->uri), expires);
  }
  if (auto e = req.header("Expires"); !e.empty()) rr.expiresHeader = toUint(e, cfg_.maxExpires);
  rr.callId = std::string(req.callId());
  rr.cseq = req.cseq();
  rr.sourceIp = from.addr.ip();
  rr.sourcePort = from.addr.port();
  rr.transport = std::string(bindingTransport(from.kind));
  rr.connectionId = from.connId;
  const uint64_t now = clock_.monotonicMs();
  sip::RegisterResult r = registrar_.apply(rr, now);
  std::vector<std::string> headers;
  if (r.status == 200) {
    for (const auto& b : r.bindings) {
      headers.push_back(fmt::format("Contact: <{}>;expires={}", b.contact, (b.expiresAtMs - std::min(b.expiresAtMs, now)) / 1000));
    }
    counters_.registrations.add(1);
    spdlog::info("sip: registered {} -> {} binding(s) from {}", user, r.bindings.size(), from.addr.str());
  } else if (r.status == 423) {
    headers.push_back(fmt::format("Min-Expires: {}", r.minExpires));
  }
  txns_.respond(id, r.status, r.reason.empty() ? "OK" : r.reason, newTag(), headers);
}

void B2bua::onInitialInvite(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from) {
  uint32_t maxForwards = 70;
  if (auto mf = req.header("Max-Forwards"); !mf.empty()) {
    maxForwards = toUint(mf, 70);
    if (maxForwards == 0) {
      txns_.respond(id, 483, "Too Many Hops", newTag());
      return;
    }
    maxForwards = std::min<uint32_t>(maxForwards - 1, 70);
  }
  if (cfg_.authInvite != 0) {
    if (!authorize(id, req, true)) return;
    // The credentials must be the caller's own: no calling as someone else.
    auto creds = sip::DigestCredentials::parse(req.header("Proxy-Authorization"));
    auto from = sip::NameAddr::parse(req.header("From"));
    auto fromUri = from ? sip::SipUri::parse(from->uri) : Unexpected(sip::SipError{400, "Malformed From header"});
    if (!creds || !fromUri || creds->username != fromUri->unescapedUser()) {
      txns_.respond(id, 403, "Credentials do not match the caller", newTag());
      return;
    }
  }
  // Admission control: concurrent calls, then calls per second.
  const uint64_t now = clock_.monotonicMs();
  cpsTokens_ = std::min<double>(cfg_.maxCallsPerSecond,
                                cpsTokens_ + static_cast<double>(now - cpsRefillMs_) * cfg_.maxCallsPerSecond / 1000.0);
  cpsRefillMs_ = now;
  if (calls_.size() >= cfg_.maxCalls || cpsTokens_ < 1.0) {
    counters_.callsRejected.add(1);
    std::array<std::string, 1> h{calls_.size() >= cfg_.maxCalls ? "Retry-After: 5" : "Retry-After: 1"};
    txns_.respond(id, 503, "Service Unavailable", newTag(), h);
    return;
  }
  cpsTokens_ -= 1.0;

  auto ruri = sip::SipUri::parse(req.requestUri());
  if (!ruri || ruri->user.empty()) {
    txns_.respond(id, 404, "Not Found", newTag());
    return;
  }
  const std::string callee = ruri->unescapedUser();
  if (!cfg_.users.empty() && cfg_.users.count(callee) == 0) {
    txns_.respond(id, 404, "Not Found", newTag());
    return;
  }
  auto bindings = registrar_.lookup(callee, now);
  if (bindings.empty()) {
    txns_.respond(id, 480, "Temporarily Unavailable", newTag());
    return;
  }
  // An INVITE without SDP is a late offer: the callee's 2xx will carry the offer.
  auto offer = req.body().empty() ? Expected<std::string, anchor::AnchorError>(std::string())
                                  : anchor_.offer(req.callId(), req.fromTag(), req.body(), anchorOptions_);
  if (!offer) {
    const bool capacity = offer.error().code == anchor::AnchorErrorCode::Capacity;
    std::array<std::string, 1> h{fmt::format("Warning: 399 rendezvous \"{}\"", offer.error().reason)};
    txns_.respond(id, capacity ? 503 : 488, capacity ? "Service Unavailable" : "Not Acceptable Here", newTag(), h);
    return;
  }

  auto call = std::make_unique<Call>();
  Call& c = *call;
  c.id = nextCallId_++;
  c.anchorId = std::string(req.callId());
  c.aInvite = id;
  c.ringDeadlineMs = now + static_cast<uint64_t>(cfg_.ringTimeoutSeconds) * 1000;
  c.maxForwards = maxForwards;
  c.anchored = !offer->empty();
  Leg& a = c.legs[0];
  a.callId = std::string(req.callId());
  a.localTag = newTag();
  a.remoteTag = std::string(req.fromTag());
  a.localId = identity(req.header("To"));
  a.remoteId = identity(req.header("From"));
  a.remoteTarget = uriOf(req.header("Contact"));
  if (a.remoteTarget.empty()) a.remoteTarget = std::string(req.requestUri());
  a.peer = from;
  Leg& b = c.legs[1];
  const sip::Binding& target = bindings.front();
  b.callId = fmt::format("{}-{}@rendezvous", newTag(), c.id);
  b.localTag = newTag();
  // Topology hiding: the callee sees the caller's name at our host, not the caller's address.
  auto caller = sip::NameAddr::parse(req.header("From"));
  auto callerUri = caller ? sip::SipUri::parse(caller->uri) : Unexpected(sip::SipError{400, ""});
  b.localId = callerUri && !callerUri->user.empty()
                  ? fmt::format("{}{}<sip:{}@{}>", caller->displayName, caller->displayName.empty() ? "" : " ",
                                callerUri->user, advertiseHost_)
                  : a.remoteId;
  b.remoteId = a.localId;
  b.remoteTarget = target.contact;
  b.peer = sip::SipPeer{peerAddr(target), bindingKind(target.transport), target.connectionId};

  byCallId_[a.callId] = c.id;
  byCallId_[b.callId] = c.id;
  byAnchor_[c.anchorId] = c.id;
  byServerInvite_[id] = c.id;
  counters_.callsTotal.add(1);
  spdlog::info("call={} INVITE {} -> {} at {} (b-leg call-id {})", c.anchorId, a.remoteId, callee, b.peer.addr.str(),
               b.callId);
  calls_.emplace(c.id, std::move(call));
  counters_.callsActive.set(calls_.size());
  c.bInvite = sendOnLeg(c, 1, "INVITE", *offer, offer->empty() ? std::string_view() : kSdp);
  c.bInviteCseq = b.localCseq;
  auto p = std::make_unique<Pending>();
  p->call = c.id;
  p->toSide = 1;
  p->serverTxn = id;
  p->initialInvite = true;
  p->method = "INVITE";
  pending_[c.bInvite] = std::move(p);
}

sip::TxnId B2bua::sendOnLeg(Call& call, int side, std::string_view method, std::string_view body,
                       std::string_view contentType, std::string_view extraHeaders) {
  Leg& leg = call.legs[side];
  const uint32_t cseq = ++leg.localCseq;
  std::string text = fmt::format("{} {} SIP/2.0\r\n{}\r\nMax-Forwards: {}\r\nFrom: {};tag={}\r\nTo: {}{}{}\r\n"
                                 "Call-ID: {}\r\nCSeq: {} {}\r\n{}\r\n{}",
                                 method, leg.remoteTarget, viaHeader(leg.peer, txns_.newBranch()), call.maxForwards,
                                 leg.localId,
                                 leg.localTag, leg.remoteId, leg.remoteTag.empty() ? "" : ";tag=", leg.remoteTag,
                                 leg.callId, cseq, method, contactHeader(leg.peer), extraHeaders);
  if (!contentType.empty()) text += fmt::format("Content-Type: {}\r\n", contentType);
  text += fmt::format("Content-Length: {}\r\n\r\n", body.size());
  text += body;
  return txns_.sendRequest(std::move(text), leg.peer);
}

void B2bua::sendAck(Call& call, int side, uint32_t cseq, std::string_view sdp) {
  const Leg& leg = call.legs[side];
  std::string text = fmt::format("ACK {} SIP/2.0\r\n{}\r\nMax-Forwards: 70\r\nFrom: {};tag={}\r\nTo: {};tag={}\r\n"
                                 "Call-ID: {}\r\nCSeq: {} ACK\r\n{}\r\n{}Content-Length: {}\r\n\r\n{}",
                                 leg.remoteTarget, viaHeader(leg.peer, txns_.newBranch()), leg.localId, leg.localTag,
                                 leg.remoteId, leg.remoteTag, leg.callId, cseq, contactHeader(leg.peer),
                                 sdp.empty() ? "" : "Content-Type: application/sdp\r\n", sdp.size(), sdp);
  txns_.sendStateless(leg.peer, text);
}

// Forwards `resp` (a 2xx carrying a late offer) after anchoring it; the ACK to `toSide` waits for
// the answer in the other side's ACK. False when the offer could not be anchored.
bool B2bua::deferAckForLateOffer(Call& call, int toSide, uint32_t cseq, const sip::SipMessage& resp, std::string& body) {
  auto offer = anchor_.offer(call.anchorId, call.legs[toSide].remoteTag, resp.body(), anchorOptions_);
  if (!offer) return false;
  body = std::move(*offer);
  call.deferredAck = Call::DeferredAck{true, toSide, cseq};
  return true;
}

void B2bua::onInDialog(sip::TxnId id, const sip::SipMessage& req, Call& call, int side) {
  const int other = 1 - side;
  const sip::SipMethod m = req.method();
  if (auto contact = uriOf(req.header("Contact")); !contact.empty()) call.legs[side].remoteTarget = contact;
  if (m == sip::SipMethod::Bye) {
    txns_.respond(id, 200, "OK");
    spdlog::info("call={} BYE from {}", call.anchorId, side == 0 ? "caller" : "callee");
    if (call.state == Call::State::Calling || call.state == Call::State::Early) {
      // BYE before the final response (RFC 3261 §15): cancel the pending INVITE.
      txns_.cancel(call.bInvite);
      txns_.respond(call.aInvite, 487, "Request Terminated", call.legs[0].localTag);
    } else {
      sendOnLeg(call, other, "BYE", {}, {});
    }
    anchor_.release(call.anchorId);
    endCall(call.id);
    return;
  }
  if (m == sip::SipMethod::Ack) return;  // in-dialog ACK without transaction is handled in onAck
  std::string body(req.body());
  std::string ctype(req.header("Content-Type"));
  const bool offer = (m == sip::SipMethod::Invite || m == sip::SipMethod::Update) && !body.empty();
  if (m == sip::SipMethod::Invite) {
    if (call.reofferPending || call.state != Call::State::Confirmed) {
      std::array<std::string, 1> h{"Retry-After: 1"};
      txns_.respond(id, 491, "Request Pending", {}, h);
      return;
    }
    call.reofferPending = true;
  }
  if (offer) {
    auto out = anchor_.offer(call.anchorId, call.legs[side].remoteTag, body, anchorOptions_);
    if (!out) {
      call.reofferPending = false;
      txns_.respond(id, 488, "Not Acceptable Here");
      return;
    }
    body = std::move(*out);
  }
  sip::TxnId out = sendOnLeg(call, other, req.methodText(), body, body.empty() ? std::string_view() : std::string_view(ctype));
  auto p = std::make_unique<Pending>();
  p->call = call.id;
  p->toSide = other;
  p->serverTxn = id;
  p->offer = offer;
  p->method = std::string(req.methodText());
  pending_[out] = std::move(p);
}

void B2bua::onAck(const sip::SipMessage& req) {
  int side = 0;
  Call* call = findCall(req, side);
  if (call == nullptr) return;
  if (call->awaitingAck[side] != 0) {
    txns_.acknowledged(call->awaitingAck[side]);
    call->awaitingAck[side] = 0;
  }
  if (call->deferredAck.pending && call->deferredAck.toSide == 1 - side) {
    // The answer to a late offer: anchor it and complete the other side's ACK with it.
    const int offerer = call->deferredAck.toSide;
    std::string answer;
    if (!req.body().empty()) {
      auto a = anchor_.answer(call->anchorId, call->legs[offerer].remoteTag, call->legs[side].remoteTag, req.body(),
                              anchorOptions_);
      if (a) answer = std::move(*a);
    }
    call->deferredAck.pending = false;
    sendAck(*call, offerer, call->deferredAck.cseq, answer);
  }
  if (side == 0 && call->state == Call::State::Answered) call->state = Call::State::Confirmed;
}

void B2bua::onCancel(sip::TxnId inviteTxn) {
  auto it = byServerInvite_.find(inviteTxn);
  if (it == byServerInvite_.end()) return;
  auto c = calls_.find(it->second);
  if (c == calls_.end()) return;
  Call& call = *c->second;
  if (call.state != Call::State::Calling && call.state != Call::State::Early) return;
  spdlog::info("call={} CANCEL from caller", call.anchorId);
  call.cancelled = true;
  txns_.cancel(call.bInvite);
  txns_.respond(call.aInvite, 487, "Request Terminated", call.legs[0].localTag);
  anchor_.release(call.anchorId);
  // The call object lives on until the callee's final response (487, or a 2xx to hang up).
}

void B2bua::onResponse(sip::TxnId id, const sip::SipMessage& resp) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  const Pending& p = *it->second;
  if (p.initialInvite) {
    auto c = calls_.find(p.call);
    if (c != calls_.end()) onInviteResponse(*c->second, resp);
  } else {
    onForwardedResponse(p, resp);
  }
  // Keep the entry while 2xx retransmissions may still come for an INVITE; drop it on other finals.
  if (resp.status() >= 300 || (resp.status() >= 200 && p.method != "INVITE")) pending_.erase(id);
}

void B2bua::onInviteResponse(Call& call, const sip::SipMessage& resp) {
  const int status = resp.status();
  if (status == 100) return;
  Leg& b = call.legs[1];
  if (!resp.toTag().empty()) b.remoteTag = std::string(resp.toTag());
  if (auto contact = uriOf(resp.header("Contact")); !contact.empty()) b.remoteTarget = contact;
  std::vector<std::string> headers{contactHeader(call.legs[0].peer)};
  if (status >= 200 && status < 300) {
    if (call.state == Call::State::Answered || call.state == Call::State::Confirmed) {
      // A retransmitted 2xx: our ACK was lost (or, for a late offer, is still waiting).
      if (!call.deferredAck.pending) sendAck(call, 1, call.bInviteCseq);
      return;
    }
    const bool lateOffer = !call.anchored;
    if (!lateOffer || call.cancelled || resp.body().empty()) sendAck(call, 1, call.bInviteCseq);
    if (call.cancelled) {  // answered while the caller's CANCEL was on its way
      sendOnLeg(call, 1, "BYE", {}, {});
      endCall(call.id);
      return;
    }
    if (lateOffer && !resp.body().empty()) {
      if (!deferAckForLateOffer(call, 1, call.bInviteCseq, resp, call.answerSdp)) {
        sendAck(call, 1, call.bInviteCseq);
        sendOnLeg(call, 1, "BYE", {}, {});
        txns_.respond(call.aInvite, 488, "Not Acceptable Here", call.legs[0].localTag);
        endCall(call.id);
        return;
      }
      call.anchored = true;
    } else if (!resp.body().empty()) {
      auto ans = anchor_.answer(call.anchorId, call.legs[0].remoteTag, b.remoteTag, resp.body(), anchorOptions_);
      if (ans) call.answerSdp = std::move(*ans);
    }
    call.state = Call::State::Answered;
    call.awaitingAck[0] = call.aInvite;
    counters_.callsAnswered.add(1);
    spdlog::info("call={} answered ({})", call.anchorId, status);
    txns_.respond(call.aInvite, status, resp.reason(), call.legs[0].localTag, headers, call.answerSdp,
                  call.answerSdp.empty() ? std::string_view() : kSdp);
    return;
  }
  if (status < 200) {
    if (call.cancelled) return;
    call.state = Call::State::Early;
    std::string body;
    if (!resp.body().empty() && call.anchored) {  // early media; with a late offer the SDP waits for the 2xx
      auto ans = anchor_.answer(call.anchorId, call.legs[0].remoteTag, b.remoteTag, resp.body(), anchorOptions_);
      if (ans) body = call.answerSdp = std::move(*ans);
    }
    txns_.respond(call.aInvite, status, resp.reason(), call.legs[0].localTag, headers, body,
                  body.empty() ? std::string_view() : kSdp);
    return;
  }
  // Final failure: pass the callee's status on (RFC 3261 §16.7 style mapping keeps the code).
  if (!call.cancelled) {
    counters_.callsFailed.add(1);
    spdlog::info("call={} failed: {} {}", call.anchorId, status, resp.reason());
    txns_.respond(call.aInvite, status, resp.reason(), call.legs[0].localTag);
    anchor_.release(call.anchorId);
  }
  endCall(call.id);
}

void B2bua::onForwardedResponse(const Pending& p, const sip::SipMessage& resp) {
  if (p.serverTxn == 0) return;  // our own request (BYE): nothing to relay
  auto c = calls_.find(p.call);
  if (c == calls_.end()) return;
  Call& call = *c->second;
  const int status = resp.status();
  if (status == 100) return;
  const int from = 1 - p.toSide;  // side that sent the original request
  std::string body(resp.body());
  std::string ctype(resp.header("Content-Type"));
  const bool invite = p.method == "INVITE";
  bool deferred = false;
  if (p.offer && status >= 200 && status < 300 && !body.empty()) {
    auto ans = anchor_.answer(call.anchorId, call.legs[from].remoteTag, call.legs[p.toSide].remoteTag, body,
                              anchorOptions_);
    if (ans) body = std::move(*ans);
  } else if (invite && !p.offer && status >= 200 && status < 300 && !body.empty() && call.reofferPending) {
    // A re-INVITE without SDP: this 2xx is the offer, the initiator's ACK brings the answer.
    deferred = deferAckForLateOffer(call, p.toSide, call.legs[p.toSide].localCseq, resp, body);
  }
  if (invite && status >= 200) {
    if (status < 300) {
      if (!call.reofferPending && call.awaitingAck[from] == 0) {
        if (!call.deferredAck.pending) sendAck(call, p.toSide, call.legs[p.toSide].localCseq);  // retransmitted 2xx
        return;
      }
      if (!deferred) sendAck(call, p.toSide, call.legs[p.toSide].localCseq);
      call.awaitingAck[from] = p.serverTxn;
    }
    call.reofferPending = false;
  }
  std::vector<std::string> headers{contactHeader(call.legs[from].peer)};
  txns_.respond(p.serverTxn, status, resp.reason(), call.legs[from].localTag, headers, body,
                body.empty() ? std::string_view() : std::string_view(ctype));
}

void B2bua::onTimeout(sip::TxnId id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  auto p = std::move(it->second);
  pending_.erase(it);
  auto c = calls_.find(p->call);
  if (c == calls_.end()) return;
  Call& call = *c->second;
  if (p->initialInvite) {
    if (call.state == Call::State::Calling || call.state == Call::State::Early) {
      counters_.callsFailed.add(1);
      spdlog::info("call={} callee did not answer the INVITE (timer B)", call.anchorId);
      txns_.respond(call.aInvite, 408, "Request Timeout", call.legs[0].localTag);
      anchor_.release(call.anchorId);
      endCall(call.id);
    }
    return;
  }
  if (p->serverTxn != 0) {
    txns_.respond(p->serverTxn, 408, "Request Timeout", call.legs[1 - p->toSide].localTag);
    if (p->method == "INVITE") call.reofferPending = false;
  }
}

void B2bua::hangUp(Call& call, std::string_view why) {
  spdlog::info("call={} hanging up both legs: {}", call.anchorId, why);
  if (call.state == Call::State::Calling || call.state == Call::State::Early) {
    txns_.cancel(call.bInvite);
    txns_.respond(call.aInvite, 408, "Request Timeout", call.legs[0].localTag);
  } else {
    sendOnLeg(call, 0, "BYE", {}, {});
    sendOnLeg(call, 1, "BYE", {}, {});
  }
  anchor_.release(call.anchorId);
  endCall(call.id);
}

void B2bua::onMediaTimeout(const std::string& anchorCallId) {
  auto it = byAnchor_.find(anchorCallId);
  if (it == byAnchor_.end()) return;
  auto c = calls_.find(it->second);
  if (c == calls_.end()) return;
  counters_.mediaTimeouts.add(1);
  hangUp(*c->second, "media timeout");
}

void B2bua::endCall(uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  byCallId_.erase(call.legs[0].callId);
  byCallId_.erase(call.legs[1].callId);
  byAnchor_.erase(call.anchorId);
  byServerInvite_.erase(call.aInvite);
  calls_.erase(it);
  counters_.callsActive.set(calls_.size());
}

void B2bua::onConnectionClosed(uint64_t connId) { registrar_.removeConnection(connId); }

uint64_t B2bua::nextDeadline() const { return std::min(txns_.nextDeadline(), nextHousekeepingMs_); }

void B2bua::onTimer() {
  txns_.onTimer();
  const uint64_t now = clock_.monotonicMs();
  if (now < nextHousekeepingMs_) return;
  nextHousekeepingMs_ = now + kHousekeepingMs;
  registrar_.purge(now);
  transport_.closeIdle(kTcpIdleMs);
  std::vector<uint64_t> ringing;
  for (const auto& [id, c] : calls_) {
    if ((c->state == Call::State::Calling || c->state == Call::State::Early) && !c->cancelled &&
        now >= c->ringDeadlineMs) {
      ringing.push_back(id);
    }
  }
  for (auto id : ringing) hangUp(*calls_.at(id), "ring timeout");
  if (cfg_.keepaliveSeconds != 0 && now >= nextKeepaliveMs_) {
    nextKeepaliveMs_ = now + static_cast<uint64_t>(cfg_.keepaliveSeconds) * 1000;
    for (const auto& b : registrar_.keepaliveTargets(now)) {
      if (b.transport == "udp") txns_.sendStateless(sip::SipPeer{peerAddr(b), sip::SipTransportKind::Udp, 0}, "\r\n\r\n");
    }
  }
}

}  // namespace rdv::b2bua
