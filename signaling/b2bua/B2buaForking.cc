// Forking (RFC 3261 §16.6, §16.7 as a B2BUA applies them): a callee with several registered
// contacts rings on all of them at once (sip.forking = parallel) or one after another, highest q
// first, each for sip.fork_step seconds or until it fails (sequential). Every branch is its own
// dialog; the caller sees one. The first 2xx wins and the other branches are CANCELled; early
// media comes from the first branch whose provisional carries SDP; a 6xx from any branch ends the
// search; when every branch failed the caller gets the best failure (Call.h, BranchFailure).

#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/b2bua/B2bua.h"
#include "signaling/b2bua/Reconnect.h"

namespace rdv::b2bua {
namespace {

constexpr std::string_view kSdp = "application/sdp";

}  // namespace

bool B2bua::sequentialForking() const { return cfg_.forking == "sequential"; }

// Starts what should ring now: every waiting branch (parallel), or the next one when none rings
// (sequential). A branch whose INVITE cannot be built fails at once. False when nothing rings.
bool B2bua::ringBranches(Call& call) {
  const bool sequential = sequentialForking();
  bool ringing = false;
  for (size_t k = 0; k < call.branches.size(); ++k) {
    Branch::State st = call.branches[k].state;
    if (st == Branch::State::Waiting && !(sequential && ringing)) {
      ringing = startBranch(call, k) || ringing;
    } else if (st == Branch::State::Ringing) {
      ringing = true;
    }
  }
  return ringing;
}

bool B2bua::startBranch(Call& call, size_t k) {
  Branch& b = call.branches[k];
  b.state = Branch::State::Ringing;
  b.invite = sendOn(b.leg, call.maxForwards, "INVITE", call.offerSdp,
                    call.offerSdp.empty() ? std::string_view() : kSdp, call.inviteHeaders);
  b.inviteCseq = b.leg.localCseq;
  if (b.invite == 0) {  // sendRequest logged why
    b.state = Branch::State::Ended;
    call.failure.consider(500, "Server Internal Error", {warningHeader("cannot build the INVITE to the callee")},
                          true);
    return false;
  }
  if (!call.branches[call.current].live()) call.current = k;
  spdlog::info("call={} branch {} INVITE to {} at {} (b-leg call-id {})", call.anchorId, k, b.leg.remoteTarget,
               b.leg.peer.addr.str(), b.leg.callId);
  auto p = std::make_unique<PendingRequest>();
  p->call = call.id;
  p->toSide = 1;
  p->serverTxn = call.aInvite;
  p->cseq = b.inviteCseq;
  p->initialInvite = true;
  p->branch = k;
  p->peer = b.leg.peer;
  p->method = "INVITE";
  calls_.addPending(b.invite, std::move(p));
  // Sequential: the next contact gets its turn after fork_step seconds; the last one rings until
  // the call's ring timeout.
  if (sequentialForking()) {
    if (k + 1 < call.branches.size() && cfg_.forkStepSeconds > 0) {
      forkSteps_.set(call.id, clock_.monotonicMs() + uint64_t{cfg_.forkStepSeconds} * 1000);
    } else {
      forkSteps_.erase(call.id);
    }
  }
  return true;
}

// A provisional on a ringing branch: PRACKed when reliable, its early media anchored when it is
// the first branch to bring SDP (the relay holds one answer; later branches' SDP is not used
// until one of them answers), and relayed to the caller.
void B2bua::onBranchProvisional(Call& call, size_t branch, const sip::SipMessage& resp) {
  bool reliable = false;
  if (!prackCallee(call, call.branches[branch], resp, reliable)) return;
  call.state = Call::State::Early;
  std::string body;
  const bool mayUse = !call.earlyMedia || call.current == branch;
  if (!resp.body().empty() && call.anchored && mayUse) {  // with a late offer the SDP waits for the 2xx
    auto ans = anchor_.answer(call.anchorId, call.caller.remoteTag, call.branches[branch].leg.remoteTag,
                              resp.body(), answerOptions(call.branches[branch].leg));
    if (ans) {
      body = call.answerSdp = std::move(*ans);
      call.current = branch;
      call.earlyMedia = true;
    }
  }
  relayProvisional(call, resp, reliable, body);
}

// `branch` is over without a 2xx (its final failure, timeout or unreachable transport): remember
// the failure, stop everything on a 6xx (RFC 3261 §16.7 step 5), otherwise let the next branch
// ring; when nothing rings any more the caller gets the best failure.
void B2bua::onBranchFailed(Call& call, size_t branch, int status, std::string_view reason,
                           std::vector<std::string> headers, bool local) {
  call.branches[branch].state = Branch::State::Ended;
  call.failure.consider(status, reason, std::move(headers), local);
  if (call.current == branch) call.earlyMedia = false;  // its early media is over
  if (status >= 600) cancelBranches(call, kNoBranch);
  if (call.current == branch) {
    for (size_t k = 0; k < call.branches.size(); ++k) {
      if (call.branches[k].state == Branch::State::Ringing) call.current = k;
    }
  }
  if (status < 600 && ringBranches(call)) return;
  failCall(call);
}

void B2bua::cancelBranches(Call& call, size_t except) {
  for (size_t k = 0; k < call.branches.size(); ++k) {
    Branch& b = call.branches[k];
    if (k == except || !b.live()) continue;
    if (b.state == Branch::State::Ringing) txns_.cancel(b.invite);
    b.state = Branch::State::Ended;
  }
  forkSteps_.erase(call.id);
}

// Every branch failed: the caller gets the best of their failures.
void B2bua::failCall(Call& call) {
  counters_.callsFailed.add(1);
  BranchFailure& f = call.failure;
  if (f.status == 0) f.consider(480, "Temporarily Unavailable", {}, true);
  spdlog::info("call={} failed: {} {}", call.anchorId, f.status, f.reason);
  txns_.respond(call.aInvite, f.status, f.reason, call.caller.localTag, f.headers);
  anchor_.release(call.anchorId);
  // A real response is the callee's refusal; our own 408/480 means nobody answered at all; any
  // other status of ours (500, 488, 503) is an error on our side.
  const EndReason why = !f.local ? EndReason::Rejected
                        : (f.status == 408 || f.status == 480) ? EndReason::Unreachable
                                                               : EndReason::Error;
  endCall(call, why, f.status);
}

// A response to an INVITE whose branch is over (another branch won, it was CANCELled, the call
// ended). Only a 2xx needs us: it made a dialog nobody wants, which is ACKed and hung up at once
// (the 2xx crossed our CANCEL). The dialog comes from the 2xx itself (From and To as we sent
// them, with the callee's tag and Contact), since the call may be gone.
void B2bua::onStrayInviteResponse(PendingRequest& p, const sip::SipMessage& resp) {
  if (resp.status() < 200 || resp.status() >= 300 || !p.ack.empty()) return;
  Leg leg;
  leg.callId = std::string(resp.callId());
  leg.localTag = std::string(resp.fromTag());
  leg.remoteTag = std::string(resp.toTag());
  leg.localId = identity(resp.header("From"));
  leg.remoteId = identity(resp.header("To"));
  leg.remoteTarget = uriOf(resp.header("Contact"));
  if (leg.remoteTarget.empty()) leg.remoteTarget = uriOf(resp.header("To"));
  leg.peer = p.peer;
  leg.localCseq = p.cseq;
  spdlog::info("call-id={} answered after its branch was given up: ACK and BYE", leg.callId);
  const sip::SipPeer peer = withReconnect(leg.peer, leg.remoteTarget);
  p.ack = ackText(local_, leg, p.cseq, txns_.newBranch(), {});
  p.ackPeer = peer;
  txns_.sendStateless(peer, p.ack);
  txns_.sendRequest(requestText(local_, leg, "BYE", p.cseq + 1, txns_.newBranch(), 70, {}, {}), peer);
}

// A request on a branch's dialog that is not the call's callee dialog (an early dialog of a branch
// that lost or has not brought early media): its BYE is accepted, the rest refused.
void B2bua::onOtherBranchRequest(sip::TxnId id, const sip::SipMessage& req) {
  switch (req.method()) {
    case sip::SipMethod::Ack:
      return;
    case sip::SipMethod::Bye:
      txns_.respond(id, 200, "OK");
      return;
    default:
      txns_.respond(id, 481, "Call/Transaction Does Not Exist");
      return;
  }
}

// Sequential forking: a branch rang for fork_step seconds without an answer; it is CANCELled and
// the next one rings.
void B2bua::runForkSteps(uint64_t nowMs) {
  for (uint64_t id : forkSteps_.takeDue(nowMs)) {
    Call* call = calls_.get(id);
    if (call == nullptr || !call->unanswered()) continue;
    for (size_t k = 0; k < call->branches.size(); ++k) {
      Branch& b = call->branches[k];
      if (b.state != Branch::State::Ringing) continue;
      spdlog::info("call={} branch {} unanswered after {} s: next contact", call->anchorId, k, cfg_.forkStepSeconds);
      txns_.cancel(b.invite);
      onBranchFailed(*call, k, 408, "Request Timeout", {}, true);
      break;
    }
  }
}

}  // namespace rdv::b2bua
