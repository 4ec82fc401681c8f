// The B2BUA's RFC 4028 session timers and RFC 3262 reliable provisionals: the few call-state
// steps B2bua.cc hooks in. The header logic is SessionTimer's, the retransmission state
// Reliable's; this file joins them to the two legs.
//
// Session timers: Session-Expires, Min-SE and the `timer` option tag cross to the other leg in
// requests and 2xx, so refreshes (re-INVITE or UPDATE from either side) go end to end. Each 2xx
// to an INVITE or UPDATE sets the call's interval (§7.2, §9: none when the 2xx has no
// Session-Expires, unless the requester supports timer and we add one as §8.1 lets a proxy);
// a call not refreshed by Session-Expires - min(32, Session-Expires/3) gets a BYE on both legs.
//
// 100rel: a reliable 18x from the callee is PRACKed on leg B and relayed to the caller,
// reliably (own RSeq, retransmitted until the caller's PRACK) when the caller supports 100rel,
// else as a plain 18x. The caller's PRACK is answered here; a PRACK with a body (an offer or
// answer in PRACK, RFC 3262 §5) is refused with 488: we do not carry SDP in PRACK.

#include <array>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/b2bua/B2bua.h"
#include "signaling/b2bua/SessionTimer.h"

namespace rdv::b2bua {
namespace {
constexpr std::string_view kSdpType = "application/sdp";
}  // namespace

// RFC 4028 §8.1 (and §6 for a proxy): a Session-Expires below our minimum gets 422 naming it.
bool B2bua::rejectShortSession(sip::TxnId id, const sip::SipMessage& req, std::string_view toTag) {
  auto se = parseSessionExpires(req.header("Session-Expires"));
  if (!se || se->seconds >= kMinSessionExpiresSeconds) return false;
  std::array<std::string, 1> h{fmt::format("Min-SE: {}", kMinSessionExpiresSeconds)};
  txns_.respond(id, 422, "Session Interval Too Small", toTag, h);
  return true;
}

std::vector<std::string> B2bua::negotiateSession(Call& call, const sip::SipMessage& resp, uint32_t requested,
                                                 bool requesterTimer) {
  std::vector<std::string> headers = passedHeaders(resp, false);
  uint32_t seconds = 0;
  if (auto se = parseSessionExpires(resp.header("Session-Expires"))) {
    seconds = se->seconds;
  } else if (requested != 0 && requesterTimer) {
    // The answerer does not do session timers; the requester does and refreshes (§8.1).
    seconds = requested;
    headers.push_back(fmt::format("Session-Expires: {};refresher=uac", requested));
    if (!hasOptionTag(resp, "Require", "timer")) headers.emplace_back("Require: timer");
  }
  call.sessionSeconds = seconds;
  if (seconds == 0) {
    sessionEnds_.erase(call.id);
  } else {
    sessionEnds_.set(call.id, sessionEndMs(clock_.monotonicMs(), seconds));
  }
  return headers;
}

// A provisional from the callee: PRACKs it when it is reliable (RFC 3262 §4). False when it is a
// retransmission of one already PRACKed (absorbed, not relayed again).
bool B2bua::prackCallee(Call& call, Branch& branch, const sip::SipMessage& resp, bool& reliable) {
  reliable = false;
  if (!hasOptionTag(resp, "Require", "100rel")) return true;
  auto rseq = parseRSeq(resp.header("RSeq"));
  if (!rseq) return true;  // not usable as reliable: relayed as a plain provisional
  if (branch.rseq != 0 && *rseq <= branch.rseq) return false;
  branch.rseq = *rseq;
  reliable = true;
  std::array<std::string, 1> rack{fmt::format("RAck: {} {} INVITE", *rseq, resp.cseq())};
  sip::TxnId t = sendOn(branch.leg, call.maxForwards, "PRACK", {}, {}, rack);
  if (t == 0) return true;  // the PRACK we built does not parse (logged): relay the 18x anyway
  auto p = std::make_unique<PendingRequest>();
  p->call = call.id;
  p->toSide = 1;
  p->method = "PRACK";
  calls_.addPending(t, std::move(p));
  return true;
}

void B2bua::relayProvisional(Call& call, const sip::SipMessage& resp, bool reliable, std::string_view body) {
  if (reliable && call.caller100rel && !call.toCaller.outstanding()) {
    call.toCaller.start({resp.status(), std::string(resp.reason()), std::string(body)}, clock_.monotonicMs());
    sendReliable(call);
    return;
  }
  std::array<std::string, 1> headers{local_.contact(call.leg(0).peer)};
  txns_.respond(call.aInvite, resp.status(), resp.reason(), call.leg(0).localTag, headers, body,
                body.empty() ? std::string_view() : kSdpType);
}

// (Re)sends the outstanding reliable provisional to the caller and schedules the next copy.
void B2bua::sendReliable(Call& call) {
  const auto& r = call.toCaller.response();
  std::array<std::string, 3> headers{local_.contact(call.leg(0).peer), "Require: 100rel",
                                     fmt::format("RSeq: {}", call.toCaller.rseq())};
  txns_.respond(call.aInvite, r.status, r.reason, call.leg(0).localTag, headers, r.body,
                r.body.empty() ? std::string_view() : kSdpType);
  reliableResends_.set(call.id, call.toCaller.deadlineMs());
}

void B2bua::onPrack(sip::TxnId id, const sip::SipMessage& req, Call& call, int side) {
  auto rack = parseRAck(req.header("RAck"));
  if (side != 0 || !rack || !call.unanswered() || !call.toCaller.prack(*rack, call.aInviteCseq)) {
    // RFC 3262 §3: a PRACK matching no outstanding reliable provisional.
    txns_.respond(id, 481, "Call/Transaction Does Not Exist");
    return;
  }
  reliableResends_.erase(call.id);
  if (!req.body().empty()) {
    // Offer/answer in PRACK is not supported: the provisional is acknowledged, the SDP refused.
    txns_.respond(id, 488, "Not Acceptable Here");
    return;
  }
  txns_.respond(id, 200, "OK");
}

void B2bua::runCallTimers(uint64_t nowMs) {
  for (uint64_t id : reliableResends_.takeDue(nowMs)) {
    Call* call = calls_.get(id);
    if (call == nullptr || !call->unanswered()) continue;
    switch (call->toCaller.onTimer(nowMs)) {
      case ReliableProvisional::Due::Retransmit:
        sendReliable(*call);
        break;
      case ReliableProvisional::Due::GiveUp:
        // RFC 3262 §3: no PRACK within 64*T1, the INVITE is rejected with a 5xx.
        spdlog::info("call={} caller never PRACKed the reliable provisional", call->anchorId);
        counters_.callsFailed.add(1);
        giveUpOnCallee(*call, 504, "Server Time-out", EndReason::NoPrack);
        break;
      case ReliableProvisional::Due::Nothing:
        reliableResends_.set(id, call->toCaller.deadlineMs());
        break;
    }
  }
  for (uint64_t id : sessionEnds_.takeDue(nowMs)) {
    Call* call = calls_.get(id);
    if (call == nullptr) continue;
    counters_.sessionExpired.add(1);
    hangUp(*call, EndReason::SessionExpired, fmt::format(" ({} s without refresh)", call->sessionSeconds));
  }
}

}  // namespace rdv::b2bua
