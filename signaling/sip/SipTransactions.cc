#include "signaling/sip/SipTransactions.h"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <functional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/sip/SipResponse.h"
#include "signaling/sip/Via.h"

namespace rdv::sip {
namespace {

constexpr uint64_t kT4Ms = 5000;
// Server transactions not yet answered finally: beyond this, requests get a stateless 503.
constexpr size_t kMaxLiveServer = 50000;
// Answered transactions linger up to 64*T1 (32 s) to absorb retransmissions, keeping only their
// response (about 1 KiB). Past this many the oldest are let go early (a late retransmission is
// then treated as new): memory stays bounded at any request rate without refusing work.
constexpr size_t kMaxLingering = 200000;
// Tables this small are never shrunk: not worth a rehash.
constexpr size_t kMinShrinkSlots = 1024;

bool isUdp(const SipPeer& p) { return p.kind == SipTransportKind::Udp; }

std::string_view topVia(const SipMessage& m) {
  auto vias = m.headerList("Via");
  return vias.empty() ? std::string_view() : vias.front();
}

}  // namespace

SipTransactions::SipTransactions(SipSender& transport, SipTransactionUser& user, const common::Clock& clock,
                                 SipTimers timers)
    : transport_(transport), user_(user), clock_(clock), timers_(timers) {
  uint64_t salt = 0;
  if (getrandom(&salt, sizeof(salt), 0) != sizeof(salt)) salt = reinterpret_cast<uintptr_t>(this);
  branchSalt_ = fmt::format("{:x}", salt & 0xffffffffffULL);
}

std::string SipTransactions::newBranch() { return fmt::format("z9hG4bK{}.{:x}", branchSalt_, ++branchCounter_); }

std::string SipTransactions::serverKey(const SipMessage& m, bool asInvite) const {
  // RFC 3261 §17.2.3: branch, sent-by and method (ACK matches its INVITE).
  auto via = Via::parse(topVia(m));
  std::string_view method = asInvite ? std::string_view("INVITE") : m.methodText();
  if (!via) return fmt::format("{}|{}|{}", m.topViaBranch(), "", method);
  return fmt::format("{}|{}:{}|{}", via->branch, via->host, via->port, method);
}

void SipTransactions::schedule(uint64_t at, TxnId id) {
  if (at == 0) return;
  timerQueue_.emplace_back(at, id);
  std::push_heap(timerQueue_.begin(), timerQueue_.end(), std::greater<>());
}

uint64_t SipTransactions::nextDeadline() const {
  return timerQueue_.empty() ? UINT64_MAX : timerQueue_.front().first;
}

size_t SipTransactions::capacity() const {
  return server_.bucket_count() + serverByKey_.bucket_count() + client_.bucket_count() +
         clientByBranch_.bucket_count() + clientByConnection_.bucket_count() + timerQueue_.capacity();
}

void SipTransactions::shrinkAfterPeak() {
  const auto shrink = [](auto& table) {
    // rehash(0) picks the bucket count for the current size (libstdc++ shrinks as well as grows).
    if (table.bucket_count() > kMinShrinkSlots && table.size() * 8 < table.bucket_count()) table.rehash(0);
  };
  shrink(server_);
  shrink(serverByKey_);
  shrink(client_);
  shrink(clientByBranch_);
  shrink(clientByConnection_);
  if (timerQueue_.capacity() > kMinShrinkSlots && timerQueue_.size() * 8 < timerQueue_.capacity())
    timerQueue_.shrink_to_fit();
}

void SipTransactions::onMessage(SipMessage&& msg, const SipPeer& from) {
  if (msg.isRequest()) onRequest(std::move(msg), from);
  else onResponse(std::move(msg));
}

void SipTransactions::onRequest(SipMessage&& msg, const SipPeer& from) {
  const SipMethod m = msg.method();
  if (m == SipMethod::Ack) {
    auto it = serverByKey_.find(serverKey(msg, true));
    if (it != serverByKey_.end()) {
      Server& s = server_.at(it->second);
      if (s.state == State::Completed) {  // ACK to a non-2xx final: absorbed here (timer I)
        s.state = State::Confirmed;
        s.retransmitAt = 0;
        s.endAt = clock_.monotonicMs() + (isUdp(s.peer) ? kT4Ms : 0);
        schedule(s.endAt, it->second);
      }
      return;
    }
    user_.onRequest(0, msg, from);  // ACK to a 2xx belongs to the dialog
    return;
  }
  const std::string key = serverKey(msg, false);
  if (auto it = serverByKey_.find(key); it != serverByKey_.end()) {
    const Server& s = server_.at(it->second);
    if (!s.lastResponse.empty()) transport_.send(s.peer, s.lastResponse);  // retransmission
    return;
  }
  if (server_.size() - finalServers_ >= kMaxLiveServer) {
    // Overload: answer without keeping state, so a flood cannot grow memory without bound.
    std::array<std::string, 1> retry{"Retry-After: 5"};
    transport_.send(from, buildResponse(msg, 503, "Service Unavailable", {}, retry));
    shed_.add(1);
    return;
  }
  const TxnId id = nextId_++;
  auto& ref = server_.emplace(id, Server{key, std::move(msg), from, m == SipMethod::Invite}).first->second;
  serverByKey_.emplace(key, id);
  if (m == SipMethod::Cancel) {
    auto inv = serverByKey_.find(serverKey(*ref.req, true));
    if (inv == serverByKey_.end()) {
      respond(id, 481, "Call/Transaction Does Not Exist");
      return;
    }
    respond(id, 200, "OK");
    const Server& invite = server_.at(inv->second);
    if (invite.lastStatus < 200) user_.onCancel(inv->second);
    return;
  }
  if (m == SipMethod::Invite) respond(id, 100, "Trying");
  user_.onRequest(id, *ref.req, from);
}

void SipTransactions::respond(TxnId id, int status, std::string_view reason, std::string_view toTag,
                              std::span<const std::string> extraHeaders, std::string_view body,
                              std::string_view contentType) {
  auto it = server_.find(id);
  if (it == server_.end()) return;
  Server& s = it->second;
  if (s.lastStatus >= 200 || !s.req) return;  // already final
  s.lastResponse = buildResponse(*s.req, status, reason, status == 100 ? std::string_view() : toTag, extraHeaders,
                                 body, contentType);
  s.lastStatus = status;
  transport_.send(s.peer, s.lastResponse);
  if (status < 200) {
    s.state = State::Proceeding;
    return;
  }
  const uint64_t now = clock_.monotonicMs();
  const bool invite = s.invite;
  s.req.reset();
  ++finalServers_;
  lingering_.push_back(id);
  trimLingering();
  if (invite) {
    // 2xx (RFC 6026 Accepted) and non-2xx (Completed) are retransmitted over UDP until the ACK.
    s.state = status < 300 ? State::Accepted : State::Completed;
    if (isUdp(s.peer)) {
      s.interval = timers_.t1Ms;
      s.retransmitAt = now + s.interval;
    }
    s.endAt = now + 64 * timers_.t1Ms;
  } else {
    s.state = State::Completed;
    s.endAt = now + (isUdp(s.peer) ? 64 * timers_.t1Ms : 0);  // timer J
  }
  schedule(std::min(s.retransmitAt == 0 ? s.endAt : s.retransmitAt, s.endAt), id);
}

void SipTransactions::forgetConnection(TxnId id, uint64_t connId) {
  auto [first, last] = clientByConnection_.equal_range(connId);
  for (auto it = first; it != last; ++it) {
    if (it->second == id) {
      clientByConnection_.erase(it);
      return;
    }
  }
}

void SipTransactions::trimLingering() {
  // Entries of transactions that already expired sit at the front (all linger about as long).
  while (!lingering_.empty()) {
    auto it = server_.find(lingering_.front());
    if (it != server_.end() && finalServers_ <= kMaxLingering) break;
    lingering_.pop_front();
    if (it == server_.end()) continue;
    --finalServers_;
    serverByKey_.erase(it->second.key);
    server_.erase(it);
  }
}

void SipTransactions::acknowledged(TxnId id) {
  auto it = server_.find(id);
  if (it != server_.end() && it->second.state == State::Accepted) it->second.retransmitAt = 0;
}

TxnId SipTransactions::sendRequest(std::string text, const SipPeer& to) {
  auto parsed = SipMessage::parse(text);
  if (!parsed) {
    spdlog::error("sip: built an unparsable request ({}): {}", parsed.error().reason, text.substr(0, 80));
    return 0;
  }
  const TxnId id = nextId_++;
  std::string branch = std::string(parsed->topViaBranch()) + "|" + std::string(parsed->methodText());
  Client c{std::move(branch), std::move(*parsed)};
  c.isInvite = c.req.method() == SipMethod::Invite;
  c.peer = to;
  c.text = std::move(text);
  const uint64_t now = clock_.monotonicMs();
  if (isUdp(to)) {
    c.interval = timers_.t1Ms;
    c.retransmitAt = now + c.interval;
  }
  c.endAt = now + 64 * timers_.t1Ms;  // timer B / F
  const SendResult sent = transport_.send(to, c.text);
  if (sent.connId != 0) {
    c.peer.connId = sent.connId;  // perhaps a new connection: the CANCEL and ACK follow it
    clientByConnection_.emplace(sent.connId, id);
  }
  clientByBranch_[c.branch] = id;
  auto& ref = client_.emplace(id, std::move(c)).first->second;
  if (!sent) {  // reported on the next timer pass
    ref.endAt = now;
    ref.transportError = true;
  }
  schedule(ref.retransmitAt != 0 ? std::min(ref.retransmitAt, ref.endAt) : ref.endAt, id);
  return id;
}

std::string SipTransactions::buildAck(const Client& c, const SipMessage& resp) const {
  // RFC 3261 §17.1.1.3: same Request-URI, top Via, From, Call-ID; To from the response.
  return fmt::format("ACK {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\n"
                     "CSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
                     c.req.requestUri(), topVia(c.req), c.req.header("From"), resp.header("To"), c.req.callId(),
                     c.req.cseq());
}

void SipTransactions::cancel(TxnId inviteTxn) {
  auto it = client_.find(inviteTxn);
  if (it == client_.end()) return;
  Client& c = it->second;
  if (!c.isInvite || c.finalStatus != 0 || c.cancelHeld || c.cancelSent) return;
  if (c.state == State::Trying) {
    c.cancelHeld = true;  // §9.1: "MUST NOT be sent" before a provisional response
    return;
  }
  sendCancel(inviteTxn, c, clock_.monotonicMs());
}

void SipTransactions::sendCancel(TxnId id, Client& c, uint64_t now) {
  c.cancelHeld = false;
  c.cancelSent = true;
  std::string text = fmt::format(
      "CANCEL {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\n"
      "CSeq: {} CANCEL\r\nContent-Length: 0\r\n\r\n",
      c.req.requestUri(), topVia(c.req), c.req.header("From"), c.req.header("To"), c.req.callId(), c.req.cseq());
  const SipPeer peer = c.peer;
  // §9.1: without a final response 64*T1 after the CANCEL, the INVITE transaction is given up
  // (this replaces timer C).
  c.endAt = now + 64 * timers_.t1Ms;
  schedule(c.endAt, id);
  sendRequest(std::move(text), peer);  // adds to client_: references (c) stay valid, iterators do not
}

// A 1xx to an INVITE: timer A and timer B stop (§17.1.1.2), timer C runs from here and restarts
// on every 101-199 (§16.7 step 2), and a held CANCEL goes out.
void SipTransactions::onProvisional(TxnId id, Client& c, int status, uint64_t now) {
  const bool first = c.state == State::Trying;
  c.state = State::Proceeding;
  c.retransmitAt = 0;
  if (c.cancelSent) return;  // the CANCEL's guard bounds the transaction now
  if (first || status > 100) {
    c.endAt = now + timers_.timerCMs;
    schedule(c.endAt, id);
  }
  if (c.cancelHeld) sendCancel(id, c, now);
}

void SipTransactions::onConnectionClosed(uint64_t connId) {
  const uint64_t now = clock_.monotonicMs();
  auto [first, last] = clientByConnection_.equal_range(connId);
  for (auto it = first; it != last; ++it) {
    auto c = client_.find(it->second);
    // One with a provisional response got through; its final one may come over a new connection.
    if (c == client_.end() || c->second.state != State::Trying) continue;
    c->second.transportError = true;
    c->second.retransmitAt = 0;
    c->second.endAt = now;
    schedule(now, it->second);
  }
  clientByConnection_.erase(connId);
}

void SipTransactions::onResponse(SipMessage&& msg) {
  auto b = clientByBranch_.find(std::string(msg.topViaBranch()) + "|" + std::string(msg.cseqMethodText()));
  if (b == clientByBranch_.end()) return;  // stray response: nothing to do (a proxy would forward)
  const TxnId id = b->second;
  Client& c = client_.at(id);
  const int status = msg.status();
  const uint64_t now = clock_.monotonicMs();
  if (status < 200) {
    if (c.finalStatus != 0) return;
    if (c.isInvite) {
      onProvisional(id, c, status, now);
    } else {
      c.state = State::Proceeding;
      if (c.retransmitAt != 0) c.interval = timers_.t2Ms;  // non-INVITE keeps retransmitting at T2
    }
    user_.onResponse(id, msg);
    return;
  }
  if (c.isInvite && status < 300) {
    // RFC 6026: 2xx retransmissions go to the TU, which re-sends its ACK.
    c.finalStatus = status;
    c.state = State::Accepted;
    c.retransmitAt = 0;
    c.endAt = now + 64 * timers_.t1Ms;
    schedule(c.endAt, id);
    user_.onResponse(id, msg);
    return;
  }
  if (c.finalStatus != 0) {
    if (c.isInvite && !c.ack.empty()) transport_.send(c.peer, c.ack);  // retransmitted non-2xx
    return;
  }
  c.finalStatus = status;
  c.state = State::Completed;
  c.retransmitAt = 0;
  if (c.isInvite) {
    c.ack = buildAck(c, msg);
    transport_.send(c.peer, c.ack);
    c.endAt = now + (isUdp(c.peer) ? 64 * timers_.t1Ms : 0);  // timer D
  } else {
    c.endAt = now + (isUdp(c.peer) ? kT4Ms : 0);  // timer K
  }
  schedule(c.endAt, id);
  user_.onResponse(id, msg);
}

void SipTransactions::onTimer() {
  const uint64_t now = clock_.monotonicMs();
  while (!timerQueue_.empty() && timerQueue_.front().first <= now) {
    const TxnId id = timerQueue_.front().second;
    std::pop_heap(timerQueue_.begin(), timerQueue_.end(), std::greater<>());
    timerQueue_.pop_back();
    if (auto it = server_.find(id); it != server_.end()) {
      Server& s = it->second;
      if (now >= s.endAt && s.endAt != 0) {
        if (s.state == State::Accepted && s.retransmitAt != 0) {
          spdlog::info("sip: no ACK for a 2xx (transaction {})", s.key);
        }
        if (s.lastStatus >= 200) --finalServers_;
        serverByKey_.erase(s.key);
        server_.erase(it);
        continue;
      }
      if (s.retransmitAt != 0 && now >= s.retransmitAt) {
        transport_.send(s.peer, s.lastResponse);
        s.interval = std::min(2 * s.interval, timers_.t2Ms);  // timer G
        s.retransmitAt = now + s.interval;
      }
      if (s.endAt != 0) schedule(s.retransmitAt != 0 ? std::min(s.retransmitAt, s.endAt) : s.endAt, id);
      continue;
    }
    if (auto it = client_.find(id); it != client_.end()) {
      Client& c = it->second;
      if (now >= c.endAt && c.isInvite && c.finalStatus == 0 && c.state == State::Proceeding &&
          !c.cancelSent) {
        // Timer C (§16.8): CANCEL, then wait 64*T1 for the 487 (or a 2xx that crossed it).
        spdlog::info("sip: timer C fired, cancelling {}", c.branch);
        sendCancel(id, c, now);
        continue;
      }
      if (now >= c.endAt) {
        const bool timedOut = c.finalStatus == 0;
        const bool transportError = c.transportError;
        forgetConnection(id, c.peer.connId);
        clientByBranch_.erase(c.branch);
        client_.erase(it);
        if (timedOut && transportError) {
          user_.onTransportError(id);
        } else if (timedOut) {
          user_.onTimeout(id);
        }
        continue;
      }
      if (c.retransmitAt != 0 && now >= c.retransmitAt) {
        transport_.send(c.peer, c.text);
        c.interval = c.isInvite ? 2 * c.interval : std::min(2 * c.interval, timers_.t2Ms);  // timers A / E
        c.retransmitAt = now + c.interval;
      }
      schedule(c.retransmitAt != 0 ? std::min(c.retransmitAt, c.endAt) : c.endAt, id);
    }
  }
  shrinkAfterPeak();
}

}  // namespace rdv::sip
