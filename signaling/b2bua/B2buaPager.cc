// MESSAGE outside a call (RFC 3428 pager mode). It goes to every registered contact of its
// recipient, each as its own transaction; the sender hears the first 2xx, or, when every contact
// failed, the best failure as for a forked call (BranchFailure). With a message store, a message
// for a known user that no device could take (no contact, or none answered at all) is kept and
// answered 202; the user's next REGISTER sends what is kept to each contact, oldest first and one
// at a time (the next once a contact took one, so none overtakes another by retransmission), and
// a message leaves the store on the first 2xx. isComposing notices (RFC 3994) are never kept: they
// are stale by the time anyone reads them. Bodies (IMDN's message/cpim included) pass untouched.

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/b2bua/B2bua.h"

namespace rdv::b2bua {
namespace {

// How long a kept message waits for its recipient.
constexpr uint64_t kStoredMessageLifetimeMs = 7ULL * 24 * 3600 * 1000;

bool isComposing(std::string_view contentType) {
  constexpr std::string_view kType = "application/im-iscomposing+xml";
  return contentType.size() >= kType.size() &&
         std::equal(kType.begin(), kType.end(), contentType.begin(),
                    [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
}

// "Date: Sun, 06 Dec 2026 11:43:52 GMT" (RFC 3261 §20.17) of a Unix instant in ms.
std::string dateHeader(uint64_t unixMs) {
  const auto t = static_cast<time_t>(unixMs / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 64> buf{};
  const size_t n = std::strftime(buf.data(), buf.size(), "Date: %a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf.data(), n);
}

}  // namespace

sip::TxnId B2bua::sendPager(const sip::Binding& b, std::string_view from, std::string_view to,
                            uint32_t maxForwards, std::string_view body, std::string_view contentType,
                            std::span<const std::string> extraHeaders) {
  Leg leg;
  leg.callId = fmt::format("{}-m@rendezvous", tags_.next());
  leg.localTag = tags_.next();
  leg.localId = presentedCaller(from, local_.host());
  leg.remoteId = identity(to);
  leg.remoteTarget = b.contact;
  leg.peer = peerOf(b);
  return txns_.sendRequest(requestText(local_, leg, "MESSAGE", 1, txns_.newBranch(), maxForwards, body,
                                       body.empty() ? std::string_view() : contentType, extraHeaders),
                           leg.peer);
}

void B2bua::onPagerMessage(sip::TxnId id, const sip::SipMessage& req) {
  uint32_t maxForwards = 70;
  if (auto mf = req.maxForwards()) {
    if (*mf == 0) {
      txns_.respond(id, 483, "Too Many Hops", tags_.next());
      return;
    }
    maxForwards = std::min<uint32_t>(static_cast<uint32_t>(*mf) - 1, 70);
  }
  if (!registrations_.authorizeCaller(id, req)) return;  // sip.auth_invite: no open relay for spam
  const std::string_view body = req.body();
  if (body.size() > cfg_.maxMessageBytes) {
    txns_.respond(id, 413, "Request Entity Too Large", tags_.next());
    counters_.messagesRefused.add(1);
    return;
  }
  const std::string_view ctype = body.empty() ? std::string_view() : req.header("Content-Type");
  const bool keepable = messageStore_ != nullptr && !isComposing(ctype);
  std::string callee;
  bool absent = false;
  auto bindings = routeInvite(id, req, callee, keepable ? &absent : nullptr);
  if (absent) {
    keepMessage(id, tags_.next(), callee, req.header("From"), ctype, body);
    return;
  }
  if (bindings.empty()) return;
  if (bindings.size() > cfg_.maxBranches) bindings.resize(cfg_.maxBranches);
  const uint64_t fanoutId = nextFanout_++;
  PagerFanout& f = fanouts_[fanoutId];
  f.serverTxn = id;
  f.toTag = tags_.next();
  if (keepable) {
    f.recipient = callee;
    f.sender = std::string(req.header("From"));
    f.contentType = std::string(ctype);
    f.body = std::string(body);
  }
  for (const auto& b : bindings) {
    const sip::TxnId out = sendPager(b, req.header("From"), req.header("To"), maxForwards, body, ctype);
    if (out == 0) {
      f.failure.consider(500, "Server Internal Error", {}, true);
      continue;
    }
    pagers_[out] = PagerRelay{fanoutId, 0};
    ++f.outstanding;
  }
  spdlog::debug("sip: MESSAGE to {} relayed to {} of {} contact(s)", callee, f.outstanding, bindings.size());
  if (f.outstanding == 0) failFanout(fanoutId);
}

bool B2bua::onPagerResponse(sip::TxnId id, const sip::SipMessage& resp) {
  if (pagers_.count(id) == 0) return false;
  // Provisionals stay here: the sender hears one final answer (RFC 3428 §7).
  if (resp.status() >= 200) onPagerAnswer(id, resp.status(), resp.reason(), &resp);
  return true;
}

bool B2bua::onPagerFailure(sip::TxnId id, int status, std::string_view reason) {
  if (pagers_.count(id) == 0) return false;
  onPagerAnswer(id, status, reason, nullptr);
  return true;
}

void B2bua::onPagerAnswer(sip::TxnId id, int status, std::string_view reason, const sip::SipMessage* resp) {
  auto node = pagers_.extract(id);
  const PagerRelay relay = node.mapped();
  const bool success = status >= 200 && status < 300;
  if (relay.fanout == 0) {
    onStoredAnswer(relay.storedId, success);
    return;
  }
  auto it = fanouts_.find(relay.fanout);
  if (it == fanouts_.end()) return;
  PagerFanout& f = it->second;
  --f.outstanding;
  if (success && !f.answered) {
    const std::string_view body = resp != nullptr ? resp->body() : std::string_view();
    txns_.respond(f.serverTxn, status, reason, f.toTag, {}, body,
                  body.empty() ? std::string_view() : resp->header("Content-Type"));
    f.answered = true;
    counters_.messagesRelayed.add(1);
  } else if (!success) {
    f.failure.consider(status, reason, {}, resp == nullptr);
  }
  if (f.outstanding > 0) return;
  if (f.answered) {
    fanouts_.erase(it);
  } else {
    failFanout(relay.fanout);
  }
}

void B2bua::failFanout(uint64_t fanoutId) {
  auto it = fanouts_.find(fanoutId);
  PagerFanout& f = it->second;
  if (f.failure.status == 0) f.failure.consider(480, "Temporarily Unavailable", {}, true);
  // Our own 408/480: no device answered at all, as if the user had none.
  const bool unreached = f.failure.local && (f.failure.status == 408 || f.failure.status == 480);
  if (unreached && !f.recipient.empty()) {
    keepMessage(f.serverTxn, f.toTag, f.recipient, f.sender, f.contentType, f.body);
  } else {
    txns_.respond(f.serverTxn, f.failure.status, f.failure.reason, f.toTag, f.failure.headers);
    counters_.messagesRefused.add(1);
  }
  fanouts_.erase(it);
}

void B2bua::keepMessage(sip::TxnId id, std::string_view toTag, std::string_view recipient,
                        std::string_view sender, std::string_view contentType, std::string_view body) {
  const uint64_t now = clock_.wallNs() / 1'000'000;
  auto kept = messageStore_->store(
      im::NewMessage{recipient, sender, contentType, body, now, now + kStoredMessageLifetimeMs});
  if (kept) {
    spdlog::info("sip: MESSAGE for {} kept until the user registers (id {})", recipient, *kept);
    txns_.respond(id, 202, "Accepted", toTag);
    counters_.messagesStored.add(1);
    return;
  }
  counters_.messagesRefused.add(1);
  switch (kept.error()) {
    case im::StoreError::UserFull:
      txns_.respond(id, 480, "Temporarily Unavailable", toTag);
      return;
    case im::StoreError::StoreFull:
      txns_.respond(id, 507, "Insufficient Storage", toTag);
      return;
    case im::StoreError::Database:
      break;
  }
  txns_.respond(id, 500, "Server Internal Error", toTag);
}

// The user's oldest stored message to each contact, unless one is on its way already (since an
// earlier REGISTER): the next follows when a contact took this one (onStoredAnswer).
void B2bua::deliverStored(const std::string& user, const std::vector<sip::Binding>& bindings) {
  if (deliveringTo_.count(user) != 0 || bindings.empty()) return;
  const auto next = messageStore_->pending(user, 1);
  if (next.empty()) return;
  const im::StoredMessage& m = next.front();
  const std::string to = fmt::format("<sip:{}@{}>", user, local_.host());
  const std::array<std::string, 1> date{dateHeader(m.storedUnixMs)};
  size_t sent = 0;
  for (size_t k = 0; k < std::min<size_t>(bindings.size(), cfg_.maxBranches); ++k) {
    const sip::TxnId out = sendPager(bindings[k], m.sender, to, 70, m.body, m.contentType, date);
    if (out == 0) continue;
    pagers_[out] = PagerRelay{0, m.id};
    ++sent;
  }
  if (sent == 0) return;
  StoredDelivery& d = delivering_[m.id];
  d.user = user;
  d.unanswered += sent;
  deliveringTo_[user] = m.id;
}

// A contact's final answer to a stored message: a 2xx takes it out of the store and sends the
// user's next one; when every contact failed it stays stored for the next REGISTER.
void B2bua::onStoredAnswer(int64_t storedId, bool success) {
  auto d = delivering_.find(storedId);
  if (d == delivering_.end()) return;
  const std::string user = d->second.user;
  const bool taken = success && messageStore_ != nullptr && messageStore_->remove(storedId);
  if (taken) {
    counters_.messagesDelivered.add(1);
    spdlog::info("sip: stored MESSAGE {} delivered", storedId);
  }
  if (--d->second.unanswered == 0) delivering_.erase(d);
  auto cur = deliveringTo_.find(user);
  const bool current = cur != deliveringTo_.end() && cur->second == storedId;
  // Any 2xx moves on (a message that expired meanwhile is gone anyway); a failure only once every
  // contact failed, and then the rest waits for the user's next REGISTER.
  if (!current || !(success || delivering_.count(storedId) == 0)) return;
  deliveringTo_.erase(cur);
  if (success) deliverStored(user, registrations_.lookup(user, clock_.monotonicMs()));
}

}  // namespace rdv::b2bua
