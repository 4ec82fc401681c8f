// What the operator API asks of the B2BUA: a summary of a live call, and hanging one up.

#include "signaling/b2bua/B2bua.h"

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

}  // namespace rdv::b2bua
