#pragma once
// The B2BUA's live calls and the indexes that route SIP traffic to them: by any dialog's Call-ID,
// by MediaAnchor key, by the caller's INVITE server transaction, and client transactions we sent
// (PendingRequest) by their id. Owns the Call objects; a Call& stays valid until erase(id).

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "signaling/b2bua/Call.h"
#include "signaling/sip/SipMessage.h"

namespace rdv::b2bua {

class CallTable {
 public:
  // A fresh call id (never reused).
  uint64_t newId() { return nextId_++; }
  // Takes the call (caller, branches, anchorId and aInvite filled in) and indexes it.
  Call& add(std::unique_ptr<Call> call);
  // Forgets the call and its indexes; its pending client transactions stay until they end.
  void erase(uint64_t id);

  Call* get(uint64_t id);
  Call* byAnchor(const std::string& anchorId);
  Call* byServerInvite(sip::TxnId inviteTxn);
  // The call an in-dialog request or a response belongs to, which side (0 caller, 1 callee) it
  // came from and, for the callee, which branch. Null when the Call-ID is unknown or the tag
  // naming us (To of a request, From of a response) is not that dialog's local tag.
  Call* find(const sip::SipMessage& msg, int& side, size_t& branch);
  // Unanswered calls whose ring deadline is at or before nowMs.
  std::vector<uint64_t> ringExpired(uint64_t nowMs) const;
  size_t size() const { return calls_.size(); }

  void addPending(sip::TxnId id, std::unique_ptr<PendingRequest> p) { pending_[id] = std::move(p); }
  // Null when `id` is not ours; the pointer lives until erasePending/takePending/purgePending of
  // the same id.
  PendingRequest* pending(sip::TxnId id);
  std::unique_ptr<PendingRequest> takePending(sip::TxnId id);
  void erasePending(sip::TxnId id) { pending_.erase(id); }
  // Forget `id` at `atMs` (an INVITE answered 2xx: its retransmissions stop within 64*T1). Calls
  // must come in non-decreasing `atMs` order.
  void expirePendingAt(sip::TxnId id, uint64_t atMs) { expiries_.emplace_back(atMs, id); }
  // Drops the entries whose expiry is at or before nowMs.
  void purgePending(uint64_t nowMs);
  uint64_t nextPendingExpiry() const { return expiries_.empty() ? UINT64_MAX : expiries_.front().first; }
  size_t pendingCount() const { return pending_.size(); }

 private:
  uint64_t nextId_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
  std::unordered_map<std::string, uint64_t> byCallId_;       // the caller's and every branch's Call-ID -> call
  std::unordered_map<std::string, uint64_t> byAnchor_;       // MediaAnchor key -> call
  std::unordered_map<sip::TxnId, uint64_t> byServerInvite_;  // A's INVITE transaction -> call
  std::unordered_map<sip::TxnId, std::unique_ptr<PendingRequest>> pending_;
  std::deque<std::pair<uint64_t, sip::TxnId>> expiries_;  // oldest first
};

}  // namespace rdv::b2bua
