#include "signaling/b2bua/CallTable.h"

namespace rdv::b2bua {

Call& CallTable::add(std::unique_ptr<Call> call) {
  Call& c = *call;
  byCallId_[c.caller.callId] = c.id;
  for (const Branch& b : c.branches) byCallId_[b.leg.callId] = c.id;
  byAnchor_[c.anchorId] = c.id;
  byServerInvite_[c.aInvite] = c.id;
  calls_.emplace(c.id, std::move(call));
  return c;
}

void CallTable::erase(uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  const Call& call = *it->second;
  byCallId_.erase(call.caller.callId);
  for (const Branch& b : call.branches) byCallId_.erase(b.leg.callId);
  byAnchor_.erase(call.anchorId);
  byServerInvite_.erase(call.aInvite);
  calls_.erase(it);
}

Call* CallTable::get(uint64_t id) {
  auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : it->second.get();
}

Call* CallTable::byAnchor(const std::string& anchorId) {
  auto it = byAnchor_.find(anchorId);
  return it == byAnchor_.end() ? nullptr : get(it->second);
}

Call* CallTable::byServerInvite(sip::TxnId inviteTxn) {
  auto it = byServerInvite_.find(inviteTxn);
  return it == byServerInvite_.end() ? nullptr : get(it->second);
}

Call* CallTable::find(const sip::SipMessage& msg, int& side, size_t& branch) {
  auto it = byCallId_.find(std::string(msg.callId()));
  if (it == byCallId_.end()) return nullptr;
  Call* call = get(it->second);
  if (call == nullptr) return nullptr;
  const Leg* leg = &call->caller;
  side = 0;
  branch = 0;
  if (call->caller.callId != msg.callId()) {
    side = 1;
    for (size_t i = 0; i < call->branches.size(); ++i) {
      if (call->branches[i].leg.callId == msg.callId()) branch = i;
    }
    leg = &call->branches[branch].leg;
  }
  // Requests carry our tag in To; responses to our requests carry it in From.
  std::string_view ours = msg.isRequest() ? msg.toTag() : msg.fromTag();
  if (!ours.empty() && ours != leg->localTag) return nullptr;
  return call;
}

std::vector<uint64_t> CallTable::ringExpired(uint64_t nowMs) const {
  std::vector<uint64_t> out;
  for (const auto& [id, c] : calls_) {
    if (c->unanswered() && nowMs >= c->ringDeadlineMs) out.push_back(id);
  }
  return out;
}

PendingRequest* CallTable::pending(sip::TxnId id) {
  auto it = pending_.find(id);
  return it == pending_.end() ? nullptr : it->second.get();
}

std::unique_ptr<PendingRequest> CallTable::takePending(sip::TxnId id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return nullptr;
  auto p = std::move(it->second);
  pending_.erase(it);
  return p;
}

void CallTable::purgePending(uint64_t nowMs) {
  while (!expiries_.empty() && expiries_.front().first <= nowMs) {
    pending_.erase(expiries_.front().second);
    expiries_.pop_front();
  }
}

}  // namespace rdv::b2bua
