// What the operator asks of the B2BUA: a summary of a live call, hanging one up, and applying a
// reloaded configuration.

#include "signaling/b2bua/B2bua.h"

#include <utility>

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

std::vector<std::string> B2bua::reconfigure(const config::SipConfig& next, const std::vector<std::string>& changed) {
  using Apply = void (*)(config::SipConfig&, const config::SipConfig&);
  static constexpr std::pair<std::string_view, Apply> kLive[] = {
      {"sip.users", [](config::SipConfig& c, const config::SipConfig& n) { c.users = n.users; }},
      {"sip.auth_register", [](config::SipConfig& c, const config::SipConfig& n) { c.authRegister = n.authRegister; }},
      {"sip.auth_invite", [](config::SipConfig& c, const config::SipConfig& n) { c.authInvite = n.authInvite; }},
      {"sip.auth_algorithms",
       [](config::SipConfig& c, const config::SipConfig& n) { c.authAlgorithms = n.authAlgorithms; }},
      {"sip.max_calls", [](config::SipConfig& c, const config::SipConfig& n) { c.maxCalls = n.maxCalls; }},
      {"sip.max_cps", [](config::SipConfig& c, const config::SipConfig& n) { c.maxCallsPerSecond = n.maxCallsPerSecond; }},
      {"sip.keepalive", [](config::SipConfig& c, const config::SipConfig& n) { c.keepaliveSeconds = n.keepaliveSeconds; }},
      {"sip.forking", [](config::SipConfig& c, const config::SipConfig& n) { c.forking = n.forking; }},
      {"sip.fork_step", [](config::SipConfig& c, const config::SipConfig& n) { c.forkStepSeconds = n.forkStepSeconds; }},
      {"sip.max_branches", [](config::SipConfig& c, const config::SipConfig& n) { c.maxBranches = n.maxBranches; }},
      {"sip.ring_timeout",
       [](config::SipConfig& c, const config::SipConfig& n) { c.ringTimeoutSeconds = n.ringTimeoutSeconds; }},
  };
  std::vector<std::string> applied;
  for (const std::string& key : changed) {
    for (const auto& [name, apply] : kLive) {
      if (key != name) continue;
      // Timer C guards the callee's INVITE beyond the ring timeout; it was set at start.
      if (name == "sip.ring_timeout" && uint64_t{next.ringTimeoutSeconds} * 1000 + 64 * timers_.t1Ms > timers_.timerCMs) {
        break;
      }
      apply(cfg_, next);
      applied.push_back(key);
    }
  }
  admission_.setLimits(cfg_.maxCalls, cfg_.maxCallsPerSecond);
  return applied;
}

}  // namespace rdv::b2bua
