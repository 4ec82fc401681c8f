// What the operator asks of the B2BUA: a summary of a live call, hanging one up, and applying a
// reloaded configuration.

#include "signaling/b2bua/B2bua.h"

#include <algorithm>
#include <iterator>

namespace rdv::b2bua {
namespace {

std::string_view stateName(Call::State s) {
  switch (s) {
    case Call::State::Calling: return "ringing";
    case Call::State::Early: return "early";
    case Call::State::Answered: return "answered";
    case Call::State::Confirmed: return "confirmed";
  }
  return "ringing";
}

}  // namespace

std::optional<B2bua::CallSummary> B2bua::summary(const std::string& anchorCallId) {
  const Call* call = calls_.byAnchor(anchorCallId);
  if (call == nullptr) return std::nullopt;
  return CallSummary{call->caller.remoteId, call->caller.localId, std::string(stateName(call->state)),
                     call->startUnixMs, call->answerUnixMs, static_cast<uint32_t>(call->branches.size())};
}

bool B2bua::hangUpCall(const std::string& anchorCallId) {
  Call* call = calls_.byAnchor(anchorCallId);
  if (call == nullptr) return false;
  hangUp(*call, EndReason::Operator);
  return true;
}

bool B2bua::canApplyLive(std::string_view key, const config::SipConfig& next) const {
  static constexpr std::string_view kLive[] = {
      "sip.users",     "sip.auth_register", "sip.auth_invite", "sip.auth_algorithms", "sip.max_calls", "sip.max_cps",
      "sip.keepalive", "sip.forking",       "sip.fork_step",   "sip.max_branches",    "sip.ring_timeout",
      "sip.max_message_bytes"};
  // New SUBSCRIBEs and PUBLISHes see these; live subscriptions keep the decision they got.
  static constexpr std::string_view kLivePresence[] = {"presence.lists",
                                                       "presence.allow_same_domain",
                                                       "presence.polite_block",
                                                       "presence.notify_min_interval_ms",
                                                       "presence.max_subscriptions",
                                                       "presence.max_per_watcher",
                                                       "presence.max_body_bytes"};
  if (std::find(std::begin(kLivePresence), std::end(kLivePresence), key) != std::end(kLivePresence))
    return true;
  if (std::find(std::begin(kLive), std::end(kLive), key) == std::end(kLive)) return false;
  // Timer C guards the callee's INVITE beyond the ring timeout; it was set at start.
  return key != "sip.ring_timeout" || uint64_t{next.ringTimeoutSeconds} * 1000 + 64 * timers_.t1Ms <= timers_.timerCMs;
}

void B2bua::applyLive(const config::SipConfig& cfg) {
  cfg_ = cfg;  // in place: RegisterHandler reads the same object
  admission_.setLimits(cfg_.maxCalls, cfg_.maxCallsPerSecond);
  // Live subscriptions keep the decision they got; new ones and refreshes see the new policy.
  watcherPolicy_ = presence::WatcherPolicy(cfg_.presence);
  subscriptions_.setLimits(cfg_.presence.maxSubscriptions, cfg_.presence.maxPerWatcher,
                           cfg_.presence.notifyMinIntervalMs);
}

}  // namespace rdv::b2bua
