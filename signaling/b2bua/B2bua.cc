#include "signaling/b2bua/B2bua.h"

#include <algorithm>
#include <array>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/b2bua/Reconnect.h"
#include "signaling/b2bua/SessionTimer.h"
#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipUri.h"

namespace rdv::b2bua {
namespace {

constexpr uint64_t kHousekeepingMs = 1000;
constexpr uint64_t kTcpIdleMs = 3'900'000;  // longer than any registration may live
constexpr std::string_view kAllow = kAllowHeader;
constexpr std::string_view kSdp = "application/sdp";

// Timer C only guards the callee's INVITE: it stays longer than our own ring timeout (plus the
// 64*T1 a CANCEL may wait for its 487), so a long-ringing call ends with our 408 and CANCEL.
sip::SipTimers sipTimers(const config::SipConfig& cfg) {
  sip::SipTimers t;
  t.timerCMs = std::max<uint64_t>(t.timerCMs, uint64_t{cfg.ringTimeoutSeconds} * 1000 + 64 * t.t1Ms);
  return t;
}

}  // namespace

B2bua::B2bua(const config::SipConfig& cfg, sip::SipSender& transport, anchor::MediaAnchor& anchor,
             const common::Clock& clock)
    : cfg_(cfg),
      transport_(transport),
      anchor_(anchor),
      clock_(clock),
      timers_(sipTimers(cfg)),
      txns_(transport, *this, clock, timers_),
      local_(cfg, transport),
      registrations_(cfg_, txns_, tags_, clock, counters_),
      admission_(cfg.maxCalls, cfg.maxCallsPerSecond),
      subscriptions_(cfg.presence.maxSubscriptions, cfg.presence.maxPerWatcher,
                     cfg.presence.notifyMinIntervalMs),
      publications_(cfg.presence.minExpires, cfg.presence.maxExpires, cfg.presence.maxExpires,
                    cfg.presence.maxPublications),
      watcherPolicy_(cfg.presence) {
  // Validated at load (config::validate); a name that slipped through keeps today's behaviour.
  encrypt_[0] = anchor::srtpPolicyFromName(cfg.media.encryptCaller).value_or(anchor::SrtpPolicy::Passthrough);
  encrypt_[1] = anchor::srtpPolicyFromName(cfg.media.encryptCallee).value_or(anchor::SrtpPolicy::Passthrough);
}

B2bua::~B2bua() {
  if (conferences_ != nullptr) conferences_->setOnLeft({});
}

void B2bua::onRequest(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from) {
  if (id == 0) {
    if (!onConferenceAck(req)) onAck(req);
    return;
  }
  const sip::SipMethod m = req.method();
  if (auto ruri = sip::SipUri::parse(req.requestUri()); !ruri) {
    txns_.respond(id, ruri.error().status, ruri.error().reason,
                  tags_.next());  // e.g. 416 (RFC 3261 §8.2.2.1)
    return;
  }
  if (m == sip::SipMethod::Register) {
    // Read before the answer: answering the transaction frees `req`.
    const std::string watched = watchedRegistrant(req);
    auto user = registrations_.onRegister(id, req, from);
    if (user && messageStore_ != nullptr) deliverStored(*user, registrations_.lookup(*user, clock_.monotonicMs()));
    if (!watched.empty()) presenceChanged(watched, clock_.monotonicMs());
    return;
  }
  if (!req.toTag().empty()) {
    if (ConferenceDialog* d = findConference(req)) {
      onConferenceRequest(id, req, *d);
      return;
    }
    if (m == sip::SipMethod::Subscribe) {
      if (presence::Subscription* s = subscriptions_.find(req.callId(), req.toTag())) {
        onSubscribeRefresh(id, req, *s, from);
        return;
      }
    }
    int side = 0;
    size_t branch = 0;
    Call* call = calls_.find(req, side, branch);
    if (call == nullptr) {
      txns_.respond(id, 481, "Call/Transaction Does Not Exist");
      return;
    }
    if (side == 1 && branch != call->current) {
      onOtherBranchRequest(id, req);
      return;
    }
    if (m == sip::SipMethod::Invite || m == sip::SipMethod::Ack || m == sip::SipMethod::Bye ||
        m == sip::SipMethod::Update || m == sip::SipMethod::Prack) {
      onInDialog(id, req, *call, side);
    } else {
      onInDialogRequest(id, req, *call, side);
    }
    return;
  }
  switch (m) {
    case sip::SipMethod::Invite:
      onInitialInvite(id, req, from);
      return;
    case sip::SipMethod::Options: {
      std::array<std::string, 3> h{std::string(kAllow), "Accept: application/sdp",
                                   "Allow-Events: presence, presence.winfo"};
      txns_.respond(id, 200, "OK", tags_.next(), h);
      return;
    }
    case sip::SipMethod::Message:
      onPagerMessage(id, req);
      return;
    case sip::SipMethod::Subscribe:
      onSubscribe(id, req, from);
      return;
    case sip::SipMethod::Publish:
      onPublish(id, req);
      return;
    case sip::SipMethod::Unknown:
      txns_.respond(id, 501, "Not Implemented");
      return;
    case sip::SipMethod::Bye:
    case sip::SipMethod::Update:
    case sip::SipMethod::Prack:
    case sip::SipMethod::Info:
    case sip::SipMethod::Notify:  // no subscription of ours (RFC 6665 §4.1.3)
      txns_.respond(id, 481, "Call/Transaction Does Not Exist");
      return;
    case sip::SipMethod::Refer:  // RFC 3515 allows it outside a dialog; we transfer calls only
      txns_.respond(id, 403, "REFER only within a call", tags_.next());
      return;
    default: {
      std::array<std::string, 1> h{std::string(kAllow)};
      txns_.respond(id, 405, "Method Not Allowed", tags_.next(), h);
      return;
    }
  }
}

anchor::AnchorOptions B2bua::offerOptions(int side) const {
  anchor::AnchorOptions o = anchorOptions_;
  o.srtp.sender = encrypt_[side == 0 ? 0 : 1];
  o.srtp.receiver = encrypt_[side == 0 ? 1 : 0];
  // A side that offers UDP/TLS/RTP/SAVP(F) is a browser: its DTLS and ICE end here (a WebRTC
  // leg), the other side gets RTP/AVP (or SDES per its media.encrypt_* policy).
  o.srtp.terminateDtls = true;
  return o;
}

// RFC 7118: a contact registered over WebSocket is a browser. The binding's flow says so (its
// transport "ws"/"wss"), and so does the Contact URI's ;transport=ws|wss that JsSIP and SIP.js
// register.
bool B2bua::webrtcContact(const sip::Binding& b) {
  if (b.transport == "ws" || b.transport == "wss") return true;
  auto uri = sip::SipUri::parse(b.contact);
  if (!uri) return false;
  auto t = uri->param("transport");
  return t && (sip::equalsIgnoreCase(*t, "ws") || sip::equalsIgnoreCase(*t, "wss"));
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
  if (isConferenceInvite(req)) {
    onConferenceInvite(id, req, from);
    return;
  }
  if (rejectShortSession(id, req, tags_.next())) return;
  if (!admitCall(id)) return;
  std::string callee;
  auto bindings = routeInvite(id, req, callee);
  if (bindings.empty()) {
    admission_.refund();  // 404/480: not a call
    return;
  }
  // An INVITE without SDP is a late offer: the callee's 2xx will carry the offer. The INVITE's
  // source may restrict who connects to the caller's side of a TCP media pair (sipSourceAddress
  // stays off: UDP legs still latch).
  anchor::AnchorOptions offerOpts = offerOptions(0);
  offerOpts.receivedFrom = from.addr.ip();
  // One offer goes to every branch: WebRTC when every contact is a browser (a mix of browsers and
  // phones gets the phones' RTP; the browsers then fail to answer it).
  if (std::all_of(bindings.begin(), bindings.end(), [](const sip::Binding& b) { return webrtcContact(b); })) {
    offerOpts.srtp.receiver = anchor::SrtpPolicy::Dtls;
  }
  auto offer = req.body().empty() ? Expected<std::string, anchor::AnchorError>(std::string())
                                  : anchor_.offer(req.callId(), req.fromTag(), req.body(), offerOpts);
  if (!offer) {
    admission_.refund();
    const bool capacity = offer.error().code == anchor::AnchorErrorCode::Capacity;
    std::array<std::string, 1> h{warningHeader(offer.error().reason)};
    txns_.respond(id, capacity ? 503 : 488, capacity ? "Service Unavailable" : "Not Acceptable Here",
                  tags_.next(), h);
    return;
  }

  Call& c = createCall(id, req, from, bindings, maxForwards, !offer->empty());
  counters_.callsTotal.add(1);
  spdlog::info("call={} INVITE {} -> {} ({} contact(s), {})", c.anchorId, c.caller.remoteId, callee,
               c.branches.size(), c.branches.size() > 1 ? cfg_.forking : "one branch");
  counters_.callsActive.set(calls_.size());
  c.caller100rel = hasOptionTag(req, "Supported", "100rel") || hasOptionTag(req, "Require", "100rel");
  c.callerTimer = hasOptionTag(req, "Supported", "timer");
  c.offeredSessionSeconds = parseSessionExpires(req.header("Session-Expires")).value_or(SessionExpires{}).seconds;
  c.aInviteCseq = req.cseq();
  c.offerSdp = std::move(*offer);
  c.inviteHeaders = passedHeaders(req);
  // An INVITE we built that does not parse (sendRequest logged it) never went out: when no branch
  // could start, the caller hears now rather than at the ring timeout.
  if (!ringBranches(c)) failCall(c);
}

bool B2bua::admitCall(sip::TxnId id) {
  const auto verdict = admission_.admit(calls_.size() + conferenceDialogs_.size(), clock_.monotonicMs());
  if (verdict == Admission::Verdict::Admit) return true;
  counters_.callsRejected.add(1);
  std::array<std::string, 1> h{fmt::format("Retry-After: {}", Admission::retryAfterSeconds(verdict))};
  txns_.respond(id, 503, "Service Unavailable", tags_.next(), h);
  return false;
}

std::vector<sip::Binding> B2bua::routeInvite(sip::TxnId id, const sip::SipMessage& req, std::string& callee,
                                             bool* absent) {
  auto ruri = sip::SipUri::parse(req.requestUri());
  if (!ruri || ruri->user.empty()) {
    txns_.respond(id, 404, "Not Found", tags_.next());
    return {};
  }
  callee = ruri->unescapedUser();
  auto bindings = registrations_.lookup(callee, clock_.monotonicMs());
  if (bindings.empty()) {
    // As Kamailio's registrar answers: a user we have never heard of does not exist; a known one
    // (configured, or registered at some point) is only away.
    if (registrations_.isKnownUser(callee)) {
      if (absent != nullptr) {
        *absent = true;
        return bindings;
      }
      txns_.respond(id, 480, "Temporarily Unavailable", tags_.next());
    } else {
      txns_.respond(id, 404, "Not Found", tags_.next());
    }
  }
  return bindings;
}

Call& B2bua::createCall(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from,
                        const std::vector<sip::Binding>& targets, uint32_t maxForwards, bool anchored) {
  auto call = std::make_unique<Call>();
  Call& c = *call;
  c.id = calls_.newId();
  c.anchorId = std::string(req.callId());
  c.aInvite = id;
  c.ringDeadlineMs = clock_.monotonicMs() + static_cast<uint64_t>(cfg_.ringTimeoutSeconds) * 1000;
  c.startUnixMs = clock_.wallNs() / 1'000'000;
  c.maxForwards = maxForwards;
  c.anchored = anchored;
  c.caller = callerLeg(req, from);
  const Leg& a = c.caller;
  // Topology hiding: the callee sees the caller's name at our host, not the caller's address.
  const std::string presented = presentedCaller(req.header("From"), local_.host());
  const size_t n = std::min<size_t>(targets.size(), std::max<uint32_t>(cfg_.maxBranches, 1));
  c.branches.resize(n);
  for (size_t k = 0; k < n; ++k) {
    Leg& b = c.branches[k].leg;
    b.callId = fmt::format("{}-{}.{}@rendezvous", tags_.next(), c.id, k);
    b.localTag = tags_.next();
    b.localId = presented;
    b.remoteId = a.localId;
    b.remoteTarget = targets[k].contact;
    b.peer = peerOf(targets[k]);
  }
  return calls_.add(std::move(call));
}

Leg B2bua::callerLeg(const sip::SipMessage& req, const sip::SipPeer& from) {
  Leg a;
  a.callId = std::string(req.callId());
  a.localTag = tags_.next();
  a.remoteTag = std::string(req.fromTag());
  a.localId = identity(req.header("To"));
  a.remoteId = identity(req.header("From"));
  a.remoteTarget = uriOf(req.header("Contact"));
  if (a.remoteTarget.empty()) a.remoteTarget = std::string(req.requestUri());
  a.peer = from;
  return a;
}

sip::TxnId B2bua::sendOnLeg(Call& call, int side, std::string_view method, std::string_view body,
                            std::string_view contentType, std::span<const std::string> extraHeaders) {
  return sendOn(call.leg(side), call.maxForwards, method, body, contentType, extraHeaders);
}

sip::TxnId B2bua::sendOn(Leg& leg, uint32_t maxForwards, std::string_view method, std::string_view body,
                         std::string_view contentType, std::span<const std::string> extraHeaders) {
  const uint32_t cseq = ++leg.localCseq;
  return txns_.sendRequest(requestText(local_, leg, method, cseq, txns_.newBranch(), maxForwards, body,
                                       contentType, extraHeaders),
                           withReconnect(leg.peer, leg.remoteTarget));
}

// The ACK of the 2xx that `clientTxn` (an INVITE on `side`, CSeq `cseq`) got; kept with its
// PendingRequest so that a retransmitted 2xx gets the very same ACK (onResponse).
void B2bua::ackInvite(sip::TxnId clientTxn, Call& call, int side, uint32_t cseq, std::string_view sdp) {
  const Leg& leg = call.leg(side);
  std::string text = ackText(local_, leg, cseq, txns_.newBranch(), sdp);
  const sip::SipPeer peer = withReconnect(leg.peer, leg.remoteTarget);
  txns_.sendStateless(peer, text);
  if (PendingRequest* p = calls_.pending(clientTxn)) {
    p->ack = std::move(text);
    p->ackPeer = peer;
  }
}

// Anchors `resp`, a 2xx to `clientTxn` that carries a late offer, and returns the SDP to pass on;
// the ACK to `toSide` then waits for the answer in the other side's ACK.
Expected<std::string, anchor::AnchorError> B2bua::deferAckForLateOffer(sip::TxnId clientTxn, Call& call,
                                                                       int toSide, uint32_t cseq,
                                                                       const sip::SipMessage& resp) {
  auto offer = anchor_.offer(call.anchorId, call.leg(toSide).remoteTag, resp.body(), offerOptions(toSide));
  if (offer) call.deferredAck = Call::DeferredAck{true, toSide, cseq, clientTxn};
  return offer;
}

void B2bua::onInDialog(sip::TxnId id, const sip::SipMessage& req, Call& call, int side) {
  const int other = 1 - side;
  const sip::SipMethod m = req.method();
  if (auto contact = uriOf(req.header("Contact")); !contact.empty()) call.leg(side).remoteTarget = contact;
  if (m == sip::SipMethod::Bye) {
    txns_.respond(id, 200, "OK");
    spdlog::info("call={} BYE from {}", call.anchorId, side == 0 ? "caller" : "callee");
    if (call.unanswered()) {
      // BYE before the final response (RFC 3261 §15): cancel the pending INVITE.
      giveUpOnCallee(call, 487, "Request Terminated", EndReason::CallerCancel);
      return;
    }
    sendOnLeg(call, other, "BYE", {}, {});
    anchor_.release(call.anchorId);
    endCall(call, side == 0 ? EndReason::CallerBye : EndReason::CalleeBye, 200);
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
    auto out = anchor_.offer(call.anchorId, call.leg(side).remoteTag, body, offerOptions(side));
    if (!out) {
      call.reofferPending = false;
      std::array<std::string, 1> h{warningHeader(out.error().reason)};
      txns_.respond(id, 488, "Not Acceptable Here", {}, h);
      return;
    }
    body = std::move(*out);
  }
  const auto extensions = passedHeaders(req);
  sip::TxnId out = sendOnLeg(call, other, req.methodText(), body,
                             body.empty() ? std::string_view() : std::string_view(ctype), extensions);
  if (out == 0) {  // the request we built does not parse (logged): nothing went out
    if (offer) anchor_.revertOffer(call.anchorId);
    if (m == sip::SipMethod::Invite) call.reofferPending = false;
    txns_.respond(id, 500, "Server Internal Error");
    return;
  }
  auto p = std::make_unique<PendingRequest>();
  p->call = call.id;
  p->toSide = other;
  p->serverTxn = id;
  p->cseq = call.leg(other).localCseq;
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
  size_t branch = 0;
  Call* call = calls_.find(req, side, branch);
  if (call == nullptr || (side == 1 && branch != call->current)) return;
  if (call->awaitingAck[side] != 0) {
    txns_.acknowledged(call->awaitingAck[side]);
    call->awaitingAck[side] = 0;
  }
  if (call->deferredAck.pending && call->deferredAck.toSide == 1 - side) {
    // The answer to a late offer: anchor it and complete the other side's ACK with it.
    const int offerer = call->deferredAck.toSide;
    std::string answer;
    if (!req.body().empty()) {
      auto a = anchor_.answer(call->anchorId, call->leg(offerer).remoteTag, call->leg(side).remoteTag,
                              req.body(), answerOptions(call->leg(side)));
      if (a) answer = std::move(*a);
    }
    call->deferredAck.pending = false;
    ackInvite(call->deferredAck.clientTxn, *call, offerer, call->deferredAck.cseq, answer);
  }
  if (side == 0 && call->state == Call::State::Answered) call->state = Call::State::Confirmed;
}

void B2bua::onCancel(sip::TxnId inviteTxn) {
  Call* found = calls_.byServerInvite(inviteTxn);
  if (found == nullptr || !found->unanswered()) return;
  spdlog::info("call={} CANCEL from caller", found->anchorId);
  giveUpOnCallee(*found, 487, "Request Terminated", EndReason::CallerCancel);
}

// The caller gets `status` now, the media goes, and every branch still ringing is CANCELled (the
// transaction layer holds a CANCEL until its branch sent a provisional, RFC 3261 §9.1). The call
// ends here: a 2xx that crosses the CANCEL finds no call and is ACKed and hung up
// (onStrayInviteResponse).
void B2bua::giveUpOnCallee(Call& call, int status, std::string_view reason, EndReason why) {
  cancelBranches(call, kNoBranch);
  txns_.respond(call.aInvite, status, reason, call.caller.localTag);
  anchor_.release(call.anchorId);
  endCall(call, why, status);
}

void B2bua::onResponse(sip::TxnId id, const sip::SipMessage& resp) {
  if (onPagerResponse(id, resp)) return;
  if (resp.status() >= 200 && onNotifyAnswer(id, resp.status())) return;
  PendingRequest* pending = calls_.pending(id);
  if (pending == nullptr) return;
  PendingRequest& p = *pending;
  const int status = resp.status();
  const bool invite = p.method == "INVITE";
  if (invite && status >= 200 && status < 300) {
    if (p.answered) {
      // A retransmitted 2xx: our ACK was lost (a late offer's ACK may still wait for its answer).
      if (!p.ack.empty()) txns_.sendStateless(p.ackPeer, p.ack);
      return;
    }
    // 2xx retransmissions stop within 64*T1 (RFC 3261 §13.3.1.4): so may the entry.
    p.answered = true;
    calls_.expirePendingAt(id, clock_.monotonicMs() + 64 * timers_.t1Ms);
  }
  if (p.initialInvite) {
    Call* call = calls_.get(p.call);
    if (call != nullptr && p.branch < call->branches.size() && call->branches[p.branch].live()) {
      onInviteResponse(id, *call, p.branch, resp);
    } else {
      onStrayInviteResponse(p, resp);
    }
  } else {
    onForwardedResponse(id, p, resp);
  }
  if (status >= 300 || (status >= 200 && !invite)) calls_.erasePending(id);
}

void B2bua::onInviteResponse(sip::TxnId id, Call& call, size_t branch, const sip::SipMessage& resp) {
  const int status = resp.status();
  if (status == 100) return;
  Leg& b = call.branches[branch].leg;
  if (!resp.toTag().empty()) b.remoteTag = std::string(resp.toTag());
  if (auto contact = uriOf(resp.header("Contact")); !contact.empty()) b.remoteTarget = contact;
  if (status >= 200 && status < 300) {
    onInviteSuccess(id, call, branch, resp);
  } else if (status < 200) {
    onBranchProvisional(call, branch, resp);
  } else {
    spdlog::info("call={} branch {} failed: {} {}", call.anchorId, branch, status, resp.reason());
    onBranchFailed(call, branch, status, resp.reason(), passedHeaders(resp, false), false);
  }
}

// A branch answered the initial INVITE: unless its SDP cannot be anchored, it wins. It is ACKed
// (unless a late offer makes the ACK wait for the caller's answer), every other branch is
// CANCELled, and the 2xx goes on to the caller with the anchored SDP.
void B2bua::onInviteSuccess(sip::TxnId id, Call& call, size_t branch, const sip::SipMessage& resp) {
  const int status = resp.status();
  const size_t before = call.current;
  const bool earlyAnswer = call.earlyMedia && before == branch;  // its 183 gave the answer already
  call.current = branch;  // leg(1) is this branch from here on
  const uint32_t cseq = call.branches[branch].inviteCseq;
  if (!call.anchored && !resp.body().empty()) {  // late offer: the 2xx carries the offer
    auto offer = deferAckForLateOffer(id, call, 1, cseq, resp);
    if (!offer) {
      call.current = before;
      failBranchAnswer(call, branch, resp, offer.error());
      return;
    }
    call.answerSdp = std::move(*offer);
    call.anchored = true;
  } else {
    auto anchored = anchorAnswer(call, resp, earlyAnswer);
    if (!anchored) {
      call.current = before;
      failBranchAnswer(call, branch, resp, anchored.error());
      return;
    }
    ackInvite(id, call, 1, cseq);
  }
  call.branches[branch].state = Branch::State::Answered;
  cancelBranches(call, branch);
  call.toCaller.stop();  // RFC 3262 §3: a final response ends reliable provisional retransmission
  reliableResends_.erase(call.id);
  forkSteps_.erase(call.id);
  call.state = Call::State::Answered;
  call.answerUnixMs = clock_.wallNs() / 1'000'000;
  call.awaitingAck[0] = call.aInvite;
  counters_.callsAnswered.add(1);
  spdlog::info("call={} answered ({}){}", call.anchorId, status,
               call.branches.size() > 1 ? fmt::format(" by branch {} of {}", branch, call.branches.size()) : "");
  std::vector<std::string> headers = negotiateSession(call, resp, call.offeredSessionSeconds, call.callerTimer);
  headers.push_back(local_.contact(call.caller.peer));
  headers.emplace_back(kAllow);
  txns_.respond(call.aInvite, status, resp.reason(), call.caller.localTag, headers, call.answerSdp,
                call.answerSdp.empty() ? std::string_view() : kSdp);
}

// The answer in the callee's 2xx (or the one its early media gave, when the 2xx has none) onto the
// relay; call.answerSdp becomes what the caller gets.
Expected<bool, anchor::AnchorError> B2bua::anchorAnswer(Call& call, const sip::SipMessage& resp, bool earlyAnswer) {
  if (call.anchored && !resp.body().empty()) {
    auto ans = anchor_.answer(call.anchorId, call.caller.remoteTag, call.leg(1).remoteTag, resp.body(),
                              answerOptions(call.leg(1)));
    if (!ans) return Unexpected(ans.error());
    call.answerSdp = std::move(*ans);
  } else if (call.anchored && !earlyAnswer) {
    return Unexpected(anchor::AnchorError{anchor::AnchorErrorCode::BadSdp, "2xx without an answer"});
  }
  return true;
}

anchor::AnchorOptions B2bua::answerOptions(const Leg& answerer) const {
  anchor::AnchorOptions o = anchorOptions_;
  if (answerer.peer.addr.valid()) o.receivedFrom = answerer.peer.addr.ip();
  return o;
}

// A branch's 2xx carries SDP the relay cannot take (or no answer at all): passed on, it would
// connect a call without working media. That dialog is ACKed and hung up, and the branch counts
// as failed with 488 (503 when the relay is out of capacity): the caller gets it unless another
// branch still rings.
void B2bua::failBranchAnswer(Call& call, size_t branch, const sip::SipMessage& resp, const anchor::AnchorError& why) {
  spdlog::warn("call={} branch {}: the answer cannot be anchored ({}): hanging up that branch", call.anchorId,
               branch, why.reason);
  if (PendingRequest* p = calls_.pending(call.branches[branch].invite)) onStrayInviteResponse(*p, resp);
  const bool capacity = why.code == anchor::AnchorErrorCode::Capacity;
  onBranchFailed(call, branch, capacity ? 503 : 488, capacity ? "Service Unavailable" : "Not Acceptable Here",
                 {warningHeader(why.reason)}, true);
}

void B2bua::onForwardedResponse(sip::TxnId id, const PendingRequest& p, const sip::SipMessage& resp) {
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
  const bool success = status >= 200 && status < 300;
  bool deferred = false;
  if (success && p.offer) {
    auto ans = body.empty() ? Expected<std::string, anchor::AnchorError>(Unexpected(anchor::AnchorError{
                                  anchor::AnchorErrorCode::BadSdp, "2xx without an answer"}))
                            : anchor_.answer(call.anchorId, call.leg(from).remoteTag,
                                             call.leg(p.toSide).remoteTag, body, answerOptions(call.leg(p.toSide)));
    if (!ans) {
      rejectReoffer(id, p, call, ans.error());
      return;
    }
    body = std::move(*ans);
  } else if (success && invite && !body.empty()) {
    // A re-INVITE without SDP: this 2xx is the offer, the initiator's ACK brings the answer.
    auto offer = deferAckForLateOffer(id, call, p.toSide, p.cseq, resp);
    if (!offer) {
      rejectReoffer(id, p, call, offer.error());
      return;
    }
    body = std::move(*offer);
    deferred = true;
  } else if (status >= 300 && p.offer) {
    anchor_.revertOffer(call.anchorId);  // a rejected re-offer leaves the media as it was
  }
  if (invite && status >= 200) {
    if (success) {
      if (!deferred) ackInvite(id, call, p.toSide, p.cseq);
      call.awaitingAck[from] = p.serverTxn;
    }
    call.reofferPending = false;
  }
  const bool refreshed = (invite || p.method == "UPDATE") && status >= 200 && status < 300;
  std::vector<std::string> headers = refreshed ? negotiateSession(call, resp, p.sessionSeconds, p.requesterTimer)
                                               : passedHeaders(resp, false);
  headers.push_back(local_.contact(call.leg(from).peer));
  txns_.respond(p.serverTxn, status, resp.reason(), call.leg(from).localTag, headers, body,
                body.empty() ? std::string_view() : std::string_view(ctype));
}

// The 2xx to a forwarded offer carries SDP the relay cannot take: the relay stays as it was before
// the offer, the answering side's dialog stays (its 2xx is ACKed), the offer's sender gets 488.
void B2bua::rejectReoffer(sip::TxnId id, const PendingRequest& p, Call& call,
                          const anchor::AnchorError& why) {
  spdlog::warn("call={} {} answer cannot be anchored ({}): 488", call.anchorId, p.method, why.reason);
  anchor_.revertOffer(call.anchorId);
  if (p.method == "INVITE") {
    ackInvite(id, call, p.toSide, p.cseq);
    call.reofferPending = false;
  }
  std::array<std::string, 1> h{warningHeader(why.reason)};
  txns_.respond(p.serverTxn, 488, "Not Acceptable Here", call.leg(1 - p.toSide).localTag, h);
}

void B2bua::onTimeout(sip::TxnId id) {
  if (onPagerFailure(id, 408, "Request Timeout")) return;
  if (onNotifyAnswer(id, 408)) return;
  std::unique_ptr<PendingRequest> p = calls_.takePending(id);
  if (p == nullptr) return;
  Call* found = calls_.get(p->call);
  if (found == nullptr) return;
  Call& call = *found;
  if (p->initialInvite) {
    if (p->branch < call.branches.size() && call.branches[p->branch].live()) {
      spdlog::info("call={} branch {}: the INVITE ended without a final response", call.anchorId, p->branch);
      onBranchFailed(call, p->branch, 408, "Request Timeout", {}, true);
    }
    return;
  }
  if (p->serverTxn != 0) {
    if (p->offer) anchor_.revertOffer(call.anchorId);
    txns_.respond(p->serverTxn, 408, "Request Timeout", call.leg(1 - p->toSide).localTag);
    if (p->method == "INVITE") call.reofferPending = false;
  }
}

// The party could not be reached over TCP/TLS: its connection closed and no new one could be
// opened (RFC 3261 §18.1.1), or the one opened closed before a final response. An unanswered
// branch fails with 480, as a callee without a binding does; anything else is answered as a
// timeout is.
void B2bua::onTransportError(sip::TxnId id) {
  if (onPagerFailure(id, 480, "Temporarily Unavailable")) return;
  if (onNotifyAnswer(id, 408)) return;  // unreachable: as good as no answer
  const PendingRequest* p = calls_.pending(id);
  Call* call = p != nullptr && p->initialInvite ? calls_.get(p->call) : nullptr;
  if (call == nullptr || p->branch >= call->branches.size() || !call->branches[p->branch].live()) {
    onTimeout(id);
    return;
  }
  const size_t branch = p->branch;
  calls_.erasePending(id);
  spdlog::info("call={} branch {} unreachable: its connection is gone and a new one failed", call->anchorId, branch);
  onBranchFailed(*call, branch, 480, "Temporarily Unavailable", {}, true);
}

void B2bua::hangUp(Call& call, EndReason why, std::string_view detail) {
  spdlog::info("call={} hanging up both legs: {}{}", call.anchorId, toString(why), detail);
  if (call.unanswered()) {
    counters_.callsFailed.add(1);
    giveUpOnCallee(call, 408, "Request Timeout", why);
    return;
  }
  sendOnLeg(call, 0, "BYE", {}, {});
  sendOnLeg(call, 1, "BYE", {}, {});
  anchor_.release(call.anchorId);
  endCall(call, why, 200);
}

void B2bua::onMediaTimeout(const std::string& anchorCallId) {
  Call* call = calls_.byAnchor(anchorCallId);
  if (call == nullptr) return;
  counters_.mediaTimeouts.add(1);
  hangUp(*call, EndReason::MediaTimeout);
}

void B2bua::endCall(Call& call, EndReason why, int status) {
  const uint64_t id = call.id;
  counters_.ended[static_cast<size_t>(why)].add(1);
  if (onCallEnded_) {
    const bool answered = call.answerUnixMs != 0;
    CallRecord r{call.anchorId,
                 answered ? call.leg(1).callId : std::string(),
                 call.caller.remoteId,
                 call.caller.localId,
                 answered ? call.leg(1).remoteTarget : std::string(),
                 call.startUnixMs,
                 call.answerUnixMs,
                 clock_.wallNs() / 1'000'000,
                 why,
                 status,
                 static_cast<uint32_t>(call.branches.size())};
    onCallEnded_(std::move(r));
  }
  sessionEnds_.erase(id);
  reliableResends_.erase(id);
  forkSteps_.erase(id);
  calls_.erase(id);
  counters_.callsActive.set(calls_.size());
}

uint64_t B2bua::nextDeadline() const {
  return std::min({txns_.nextDeadline(), nextHousekeepingMs_, calls_.nextPendingExpiry(), sessionEnds_.next(),
                   reliableResends_.next(), forkSteps_.next(), subscriptions_.nextDeadline()});
}

void B2bua::onTimer() {
  txns_.onTimer();
  const uint64_t now = clock_.monotonicMs();
  calls_.purgePending(now);
  runCallTimers(now);
  runForkSteps(now);
  runPresenceTimers(now);
  if (now < nextHousekeepingMs_) return;
  nextHousekeepingMs_ = now + kHousekeepingMs;
  registrations_.purge(now);
  presenceHousekeeping(now);
  transport_.closeIdle(kTcpIdleMs);
  for (auto id : calls_.ringExpired(now)) hangUp(*calls_.get(id), EndReason::RingTimeout);
  registrations_.sendKeepalives(now);
  if (messageStore_ != nullptr) messageStore_->expire(clock_.wallNs() / 1'000'000);
}

void B2bua::setDraining(bool on) { admission_.setDraining(on); }

}  // namespace rdv::b2bua
