#include "signaling/b2bua/B2bua.h"

#include <algorithm>
#include <array>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/b2bua/SessionTimer.h"
#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipUri.h"

namespace rdv::b2bua {
namespace {

constexpr uint64_t kHousekeepingMs = 1000;
constexpr uint64_t kTcpIdleMs = 3'900'000;  // longer than any registration may live
constexpr std::string_view kAllow =
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, MESSAGE, NOTIFY, REFER";
constexpr std::string_view kSdp = "application/sdp";

}  // namespace

B2bua::B2bua(const config::SipConfig& cfg, sip::SipSender& transport, anchor::MediaAnchor& anchor,
             const common::Clock& clock)
    : cfg_(cfg),
      transport_(transport),
      anchor_(anchor),
      clock_(clock),
      txns_(transport, *this, clock),
      local_(cfg, transport),
      registrations_(cfg_, txns_, tags_, clock, counters_),
      admission_(cfg.maxCalls, cfg.maxCallsPerSecond) {}

B2bua::~B2bua() = default;

void B2bua::onRequest(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from) {
  if (id == 0) {
    onAck(req);
    return;
  }
  const sip::SipMethod m = req.method();
  if (auto ruri = sip::SipUri::parse(req.requestUri()); !ruri) {
    txns_.respond(id, ruri.error().status, ruri.error().reason,
                  tags_.next());  // e.g. 416 (RFC 3261 §8.2.2.1)
    return;
  }
  if (m == sip::SipMethod::Register) {
    registrations_.onRegister(id, req, from);
    return;
  }
  if (!req.toTag().empty()) {
    int side = 0;
    Call* call = calls_.find(req, side);
    if (call == nullptr) {
      txns_.respond(id, 481, "Call/Transaction Does Not Exist");
      return;
    }
    onInDialog(id, req, *call, side);
    return;
  }
  switch (m) {
    case sip::SipMethod::Invite:
      onInitialInvite(id, req, from);
      return;
    case sip::SipMethod::Options: {
      std::array<std::string, 2> h{std::string(kAllow), "Accept: application/sdp"};
      txns_.respond(id, 200, "OK", tags_.next(), h);
      return;
    }
    case sip::SipMethod::Unknown:
      txns_.respond(id, 501, "Not Implemented");
      return;
    case sip::SipMethod::Bye:
    case sip::SipMethod::Update:
    case sip::SipMethod::Prack:
    case sip::SipMethod::Info:
      txns_.respond(id, 481, "Call/Transaction Does Not Exist");
      return;
    default: {
      std::array<std::string, 1> h{std::string(kAllow)};
      txns_.respond(id, 405, "Method Not Allowed", tags_.next(), h);
      return;
    }
  }
}

void B2bua::onInitialInvite(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from) {
  uint32_t maxForwards = 70;
  if (auto mf = req.header("Max-Forwards"); !mf.empty()) {
    maxForwards = toUint(mf, 70);
    if (maxForwards == 0) {
      txns_.respond(id, 483, "Too Many Hops", tags_.next());
      return;
    }
    maxForwards = std::min<uint32_t>(maxForwards - 1, 70);
  }
  if (!registrations_.authorizeCaller(id, req)) return;
  if (rejectShortSession(id, req, tags_.next())) return;
  if (auto verdict = admission_.admit(calls_.size(), clock_.monotonicMs());
      verdict != Admission::Verdict::Admit) {
    counters_.callsRejected.add(1);
    std::array<std::string, 1> h{fmt::format("Retry-After: {}", Admission::retryAfterSeconds(verdict))};
    txns_.respond(id, 503, "Service Unavailable", tags_.next(), h);
    return;
  }
  std::string callee;
  auto bindings = routeInvite(id, req, callee);
  if (bindings.empty()) return;
  // An INVITE without SDP is a late offer: the callee's 2xx will carry the offer.
  auto offer = req.body().empty() ? Expected<std::string, anchor::AnchorError>(std::string())
                                  : anchor_.offer(req.callId(), req.fromTag(), req.body(), anchorOptions_);
  if (!offer) {
    const bool capacity = offer.error().code == anchor::AnchorErrorCode::Capacity;
    std::array<std::string, 1> h{fmt::format("Warning: 399 rendezvous \"{}\"", offer.error().reason)};
    txns_.respond(id, capacity ? 503 : 488, capacity ? "Service Unavailable" : "Not Acceptable Here",
                  tags_.next(), h);
    return;
  }

  Call& c = createCall(id, req, from, bindings.front(), maxForwards, !offer->empty());
  counters_.callsTotal.add(1);
  spdlog::info("call={} INVITE {} -> {} at {} (b-leg call-id {})", c.anchorId, c.legs[0].remoteId, callee,
               c.legs[1].peer.addr.str(), c.legs[1].callId);
  counters_.callsActive.set(calls_.size());
  c.caller100rel = hasOptionTag(req, "Supported", "100rel") || hasOptionTag(req, "Require", "100rel");
  c.callerTimer = hasOptionTag(req, "Supported", "timer");
  c.offeredSessionSeconds = parseSessionExpires(req.header("Session-Expires")).value_or(SessionExpires{}).seconds;
  c.aInviteCseq = req.cseq();
  const auto extensions = passedHeaders(req);
  c.bInvite = sendOnLeg(c, 1, "INVITE", *offer, offer->empty() ? std::string_view() : kSdp, extensions);
  c.bInviteCseq = c.legs[1].localCseq;
  auto p = std::make_unique<PendingRequest>();
  p->call = c.id;
  p->toSide = 1;
  p->serverTxn = id;
  p->initialInvite = true;
  p->method = "INVITE";
  calls_.addPending(c.bInvite, std::move(p));
}

std::vector<sip::Binding> B2bua::routeInvite(sip::TxnId id, const sip::SipMessage& req, std::string& callee) {
  auto ruri = sip::SipUri::parse(req.requestUri());
  if (!ruri || ruri->user.empty()) {
    txns_.respond(id, 404, "Not Found", tags_.next());
    return {};
  }
  callee = ruri->unescapedUser();
  if (!cfg_.users.empty() && cfg_.users.count(callee) == 0) {
    txns_.respond(id, 404, "Not Found", tags_.next());
    return {};
  }
  auto bindings = registrations_.lookup(callee, clock_.monotonicMs());
  if (bindings.empty()) txns_.respond(id, 480, "Temporarily Unavailable", tags_.next());
  return bindings;
}

Call& B2bua::createCall(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from,
                        const sip::Binding& target, uint32_t maxForwards, bool anchored) {
  auto call = std::make_unique<Call>();
  Call& c = *call;
  c.id = calls_.newId();
  c.anchorId = std::string(req.callId());
  c.aInvite = id;
  c.ringDeadlineMs = clock_.monotonicMs() + static_cast<uint64_t>(cfg_.ringTimeoutSeconds) * 1000;
  c.maxForwards = maxForwards;
  c.anchored = anchored;
  Leg& a = c.legs[0];
  a.callId = std::string(req.callId());
  a.localTag = tags_.next();
  a.remoteTag = std::string(req.fromTag());
  a.localId = identity(req.header("To"));
  a.remoteId = identity(req.header("From"));
  a.remoteTarget = uriOf(req.header("Contact"));
  if (a.remoteTarget.empty()) a.remoteTarget = std::string(req.requestUri());
  a.peer = from;
  Leg& b = c.legs[1];
  b.callId = fmt::format("{}-{}@rendezvous", tags_.next(), c.id);
  b.localTag = tags_.next();
  // Topology hiding: the callee sees the caller's name at our host, not the caller's address.
  auto caller = sip::NameAddr::parse(req.header("From"));
  auto callerUri = caller ? sip::SipUri::parse(caller->uri) : Unexpected(sip::SipError{400, ""});
  b.localId = callerUri && !callerUri->user.empty()
                  ? fmt::format("{}{}<sip:{}@{}>", caller->displayName,
                                caller->displayName.empty() ? "" : " ", callerUri->user, local_.host())
                  : a.remoteId;
  b.remoteId = a.localId;
  b.remoteTarget = target.contact;
  b.peer = peerOf(target);
  return calls_.add(std::move(call));
}

sip::TxnId B2bua::sendOnLeg(Call& call, int side, std::string_view method, std::string_view body,
                            std::string_view contentType, std::span<const std::string> extraHeaders) {
  Leg& leg = call.legs[side];
  const uint32_t cseq = ++leg.localCseq;
  return txns_.sendRequest(requestText(local_, leg, method, cseq, txns_.newBranch(), call.maxForwards, body,
                                       contentType, extraHeaders),
                           leg.peer);
}

void B2bua::sendAck(Call& call, int side, uint32_t cseq, std::string_view sdp) {
  const Leg& leg = call.legs[side];
  txns_.sendStateless(leg.peer, ackText(local_, leg, cseq, txns_.newBranch(), sdp));
}

// Forwards `resp` (a 2xx carrying a late offer) after anchoring it; the ACK to `toSide` waits for
// the answer in the other side's ACK. False when the offer could not be anchored.
bool B2bua::deferAckForLateOffer(Call& call, int toSide, uint32_t cseq, const sip::SipMessage& resp,
                                 std::string& body) {
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
    if (call.unanswered()) {
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
  if (m == sip::SipMethod::Prack) {
    onPrack(id, req, call, side);
    return;
  }
  const bool refresh = m == sip::SipMethod::Invite || m == sip::SipMethod::Update;  // RFC 4028 §7.4
  if (refresh && rejectShortSession(id, req, {})) return;
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
  const auto extensions = passedHeaders(req);
  sip::TxnId out = sendOnLeg(call, other, req.methodText(), body,
                             body.empty() ? std::string_view() : std::string_view(ctype), extensions);
  auto p = std::make_unique<PendingRequest>();
  p->call = call.id;
  p->toSide = other;
  p->serverTxn = id;
  p->offer = offer;
  p->method = std::string(req.methodText());
  if (refresh) {
    p->sessionSeconds = parseSessionExpires(req.header("Session-Expires")).value_or(SessionExpires{}).seconds;
    p->requesterTimer = hasOptionTag(req, "Supported", "timer");
  }
  calls_.addPending(out, std::move(p));
}

void B2bua::onAck(const sip::SipMessage& req) {
  int side = 0;
  Call* call = calls_.find(req, side);
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
      auto a = anchor_.answer(call->anchorId, call->legs[offerer].remoteTag, call->legs[side].remoteTag,
                              req.body(), anchorOptions_);
      if (a) answer = std::move(*a);
    }
    call->deferredAck.pending = false;
    sendAck(*call, offerer, call->deferredAck.cseq, answer);
  }
  if (side == 0 && call->state == Call::State::Answered) call->state = Call::State::Confirmed;
}

void B2bua::onCancel(sip::TxnId inviteTxn) {
  Call* found = calls_.byServerInvite(inviteTxn);
  if (found == nullptr || !found->unanswered()) return;
  Call& call = *found;
  spdlog::info("call={} CANCEL from caller", call.anchorId);
  call.cancelled = true;
  txns_.cancel(call.bInvite);
  txns_.respond(call.aInvite, 487, "Request Terminated", call.legs[0].localTag);
  anchor_.release(call.anchorId);
  // The call object lives on until the callee's final response (487, or a 2xx to hang up).
}

void B2bua::onResponse(sip::TxnId id, const sip::SipMessage& resp) {
  const PendingRequest* pending = calls_.pending(id);
  if (pending == nullptr) return;
  const PendingRequest& p = *pending;
  if (p.initialInvite) {
    if (Call* call = calls_.get(p.call)) onInviteResponse(*call, resp);
  } else {
    onForwardedResponse(p, resp);
  }
  // Keep the entry while 2xx retransmissions may still come for an INVITE; drop it on other finals.
  if (resp.status() >= 300 || (resp.status() >= 200 && p.method != "INVITE")) calls_.erasePending(id);
}

void B2bua::onInviteResponse(Call& call, const sip::SipMessage& resp) {
  const int status = resp.status();
  if (status == 100) return;
  Leg& b = call.legs[1];
  if (!resp.toTag().empty()) b.remoteTag = std::string(resp.toTag());
  if (auto contact = uriOf(resp.header("Contact")); !contact.empty()) b.remoteTarget = contact;
  if (status >= 200) {  // RFC 3262 §3: a final response ends reliable provisional retransmission
    call.toCaller.stop();
    reliableResends_.erase(call.id);
  }
  if (status >= 200 && status < 300) {
    onInviteSuccess(call, resp);
    return;
  }
  if (status < 200) {
    if (call.cancelled) return;
    bool reliable = false;
    if (!prackCallee(call, resp, reliable)) return;
    call.state = Call::State::Early;
    std::string body;
    if (!resp.body().empty() && call.anchored) {  // early media; with a late offer the SDP waits for the 2xx
      auto ans =
          anchor_.answer(call.anchorId, call.legs[0].remoteTag, b.remoteTag, resp.body(), anchorOptions_);
      if (ans) body = call.answerSdp = std::move(*ans);
    }
    relayProvisional(call, resp, reliable, body);
    return;
  }
  // Final failure: pass the callee's status on (RFC 3261 §16.7 style mapping keeps the code).
  if (!call.cancelled) {
    counters_.callsFailed.add(1);
    spdlog::info("call={} failed: {} {}", call.anchorId, status, resp.reason());
    const auto extensions = passedHeaders(resp, false);  // e.g. Min-SE of a 422
    txns_.respond(call.aInvite, status, resp.reason(), call.legs[0].localTag, extensions);
    anchor_.release(call.anchorId);
  }
  endCall(call.id);
}

// The callee answered the initial INVITE: ACK it (unless a late offer makes the ACK wait for the
// caller's answer) and pass the 2xx on with the anchored answer.
void B2bua::onInviteSuccess(Call& call, const sip::SipMessage& resp) {
  const int status = resp.status();
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
    auto ans = anchor_.answer(call.anchorId, call.legs[0].remoteTag, call.legs[1].remoteTag, resp.body(),
                              anchorOptions_);
    if (ans) call.answerSdp = std::move(*ans);
  }
  call.state = Call::State::Answered;
  call.awaitingAck[0] = call.aInvite;
  counters_.callsAnswered.add(1);
  spdlog::info("call={} answered ({})", call.anchorId, status);
  std::vector<std::string> headers = negotiateSession(call, resp, call.offeredSessionSeconds, call.callerTimer);
  headers.push_back(local_.contact(call.legs[0].peer));
  txns_.respond(call.aInvite, status, resp.reason(), call.legs[0].localTag, headers, call.answerSdp,
                call.answerSdp.empty() ? std::string_view() : kSdp);
}

void B2bua::onForwardedResponse(const PendingRequest& p, const sip::SipMessage& resp) {
  if (p.serverTxn == 0) return;  // our own request (BYE): nothing to relay
  Call* found = calls_.get(p.call);
  if (found == nullptr) return;
  Call& call = *found;
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
        if (!call.deferredAck.pending)
          sendAck(call, p.toSide, call.legs[p.toSide].localCseq);  // retransmitted 2xx
        return;
      }
      if (!deferred) sendAck(call, p.toSide, call.legs[p.toSide].localCseq);
      call.awaitingAck[from] = p.serverTxn;
    }
    call.reofferPending = false;
  }
  const bool refreshed = (invite || p.method == "UPDATE") && status >= 200 && status < 300;
  std::vector<std::string> headers = refreshed ? negotiateSession(call, resp, p.sessionSeconds, p.requesterTimer)
                                               : passedHeaders(resp, false);
  headers.push_back(local_.contact(call.legs[from].peer));
  txns_.respond(p.serverTxn, status, resp.reason(), call.legs[from].localTag, headers, body,
                body.empty() ? std::string_view() : std::string_view(ctype));
}

void B2bua::onTimeout(sip::TxnId id) {
  std::unique_ptr<PendingRequest> p = calls_.takePending(id);
  if (p == nullptr) return;
  Call* found = calls_.get(p->call);
  if (found == nullptr) return;
  Call& call = *found;
  if (p->initialInvite) {
    if (call.unanswered()) {
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
  if (call.unanswered()) {
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
  Call* call = calls_.byAnchor(anchorCallId);
  if (call == nullptr) return;
  counters_.mediaTimeouts.add(1);
  hangUp(*call, "media timeout");
}

void B2bua::endCall(uint64_t id) {
  sessionEnds_.erase(id);
  reliableResends_.erase(id);
  calls_.erase(id);
  counters_.callsActive.set(calls_.size());
}

uint64_t B2bua::nextDeadline() const {
  return std::min({txns_.nextDeadline(), nextHousekeepingMs_, sessionEnds_.next(), reliableResends_.next()});
}

void B2bua::onTimer() {
  txns_.onTimer();
  const uint64_t now = clock_.monotonicMs();
  runCallTimers(now);
  if (now < nextHousekeepingMs_) return;
  nextHousekeepingMs_ = now + kHousekeepingMs;
  registrations_.purge(now);
  transport_.closeIdle(kTcpIdleMs);
  for (auto id : calls_.ringExpired(now)) hangUp(*calls_.get(id), "ring timeout");
  registrations_.sendKeepalives(now);
}

}  // namespace rdv::b2bua
