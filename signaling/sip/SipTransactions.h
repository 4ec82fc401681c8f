#pragma once
// RFC 3261 §17 transactions (with the RFC 6026 "Accepted" state for INVITE 2xx): server
// transactions absorb retransmitted requests by resending the last response, retransmit final
// INVITE responses over UDP until the ACK (timers G/H, and 2xx until the dialog's ACK), and
// linger to absorb late retransmissions (timers I/J). Client transactions retransmit requests
// over UDP (timers A/E), give up after 64*T1 without a response (timers B/F), ACK non-2xx finals
// hop by hop and absorb their retransmissions (timer D/K). An INVITE that got a provisional may
// ring for as long as the callee likes (§17.1.1.2: timer B stops); timer C (§16.6 step 11) is the
// guard, after which the transaction CANCELs itself. A CANCEL is only ever sent once the INVITE
// has a provisional (§9.1). Control thread only; the owner calls onTimer() when nextDeadline()
// passes.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/Clock.h"
#include "common/Counter.h"
#include "signaling/sip/SipMessage.h"
#include "signaling/sip/SipSender.h"

namespace rdv::sip {

using TxnId = uint64_t;

// What the transaction user (the registrar/B2BUA) is told. Small on purpose.
class SipTransactionUser {
 public:
  virtual ~SipTransactionUser() = default;
  // A new request, or an ACK to a 2xx (which has no transaction: id 0). CANCEL is handled by
  // the layer (200 to the CANCEL) and reported through onCancel instead.
  virtual void onRequest(TxnId id, const SipMessage& req, const SipPeer& from) = 0;
  virtual void onCancel(TxnId inviteTxn) = 0;
  // Every response to a client transaction, provisional and final (2xx retransmissions too).
  virtual void onResponse(TxnId id, const SipMessage& resp) = 0;
  // The transaction ended without a final response: none within 64*T1 of the request (timer
  // B/F) or of its CANCEL (§9.1). Nothing more is reported for `id`.
  virtual void onTimeout(TxnId id) = 0;
  // The request could not be delivered: no connection to send it on could be opened, or the
  // TCP/TLS connection it went on closed before a final response (RFC 3261 §8.1.3.1, §17.1.4).
  // Unless overridden, reported as a timeout.
  virtual void onTransportError(TxnId id) { onTimeout(id); }
};

struct SipTimers {
  uint64_t t1Ms = 500;
  uint64_t t2Ms = 4000;
  // Timer C (RFC 3261 §16.6 step 11, "MUST be larger than 3 minutes"): how long an INVITE that
  // got a provisional may wait for its final response after the last 101-199 response.
  uint64_t timerCMs = 181'000;
};

class SipTransactions {
 public:
  // `clock` (monotonicMs) times every timer; it must outlive the object.
  SipTransactions(SipSender& transport, SipTransactionUser& user, const common::Clock& clock,
                  SipTimers timers = {});

  // Entry point for every message the transport delivers.
  void onMessage(SipMessage&& msg, const SipPeer& from);

  // Server side: answer transaction `id`. `toTag` is added to To unless present.
  void respond(TxnId id, int status, std::string_view reason, std::string_view toTag = {},
               std::span<const std::string> extraHeaders = {}, std::string_view body = {},
               std::string_view contentType = {});
  // The dialog received the ACK for this INVITE's 2xx: stop retransmitting it.
  void acknowledged(TxnId id);

  // Client side: `request` is complete text whose top Via carries `branch` (from newBranch()).
  TxnId sendRequest(std::string request, const SipPeer& to);
  // CANCEL a pending INVITE client transaction (RFC 3261 §9.1): sent now if the INVITE got a
  // provisional, else held and sent when the first provisional arrives (never if a final response
  // or timer B comes first). The INVITE then waits 64*T1 at most for its final response (487, or
  // a 2xx that crossed the CANCEL). No-op once final or already cancelled.
  void cancel(TxnId inviteTxn);
  // A TCP/TLS connection closed (or one we opened failed): client transactions sent on it that
  // have had no response at all end with onTransportError at the next onTimer(), their request
  // lost with it (RFC 3261 §17.1.4). One with a provisional response waits on: the party has the
  // request and may send its final response over a new connection.
  void onConnectionClosed(uint64_t connId);
  // Sends a message outside any transaction (ACK to a 2xx, stateless replies).
  bool sendStateless(const SipPeer& to, std::string_view data) { return transport_.send(to, data); }

  std::string newBranch();
  uint64_t nextDeadline() const;  // clock.monotonicMs() instant, UINT64_MAX if none
  // Runs every timer due at the clock's current instant.
  void onTimer();
  size_t size() const { return server_.size() + client_.size(); }
  // Slots the tables hold (hash buckets and timer heap capacity): after a burst they are given
  // back once the live transactions drop to an eighth of them (shrinkAfterPeak), so a set-up peak
  // does not stay in the process for good.
  size_t capacity() const;
  // Requests answered 503 statelessly because the transaction table was full.
  const common::Counter& shed() const { return shed_; }

 private:
  enum class State : uint8_t { Trying, Proceeding, Accepted, Completed, Confirmed, Terminated };
  struct Server {
    std::string key;
    std::optional<SipMessage> req;  // freed once final: a lingering transaction keeps only its reply
    SipPeer peer;
    bool invite = false;
    State state = State::Trying;
    std::string lastResponse{};
    int lastStatus = 0;
    uint64_t retransmitAt = 0;
    uint64_t interval = 0;
    uint64_t endAt = 0;
  };
  struct Client {
    std::string branch;
    SipMessage req;
    std::string text{};
    SipPeer peer{};
    State state = State::Trying;
    bool isInvite = false;
    int finalStatus = 0;
    std::string ack{};  // for non-2xx finals, resent on retransmitted finals
    uint64_t retransmitAt = 0;
    uint64_t interval = 0;
    uint64_t endAt = 0;       // timer B/F, then timer C (INVITE in Proceeding), the CANCEL guard, D/K
    bool cancelHeld = false;  // cancel() before any provisional: sent on the first one
    bool cancelSent = false;
    bool transportError = false;  // ends (at endAt) with onTransportError rather than onTimeout
  };

  void onRequest(SipMessage&& msg, const SipPeer& from);
  void onResponse(SipMessage&& msg);
  void schedule(uint64_t at, TxnId id);
  std::string serverKey(const SipMessage& m, bool asInvite) const;
  std::string buildAck(const Client& c, const SipMessage& resp) const;
  void onProvisional(TxnId id, Client& c, int status, uint64_t now);
  void sendCancel(TxnId id, Client& c, uint64_t now);
  void trimLingering();
  // Rehashes tables and trims the timer heap that are at most 1/8 full (amortised O(1): a table
  // that shrank must lose 7/8 of its entries again, or double, before it is resized again).
  void shrinkAfterPeak();
  // Drops `id` from clientByConnection_ (it ended before its connection did).
  void forgetConnection(TxnId id, uint64_t connId);

  SipSender& transport_;
  SipTransactionUser& user_;
  const common::Clock& clock_;
  SipTimers timers_;
  uint64_t nextId_ = 1;
  uint64_t branchCounter_ = 0;
  std::string branchSalt_;
  std::unordered_map<TxnId, Server> server_;
  std::unordered_map<std::string, TxnId> serverByKey_;
  std::unordered_map<TxnId, Client> client_;
  std::unordered_map<std::string, TxnId> clientByBranch_;
  std::unordered_multimap<uint64_t, TxnId> clientByConnection_;  // TCP/TLS client transactions
  using Timer = std::pair<uint64_t, TxnId>;
  std::vector<Timer> timerQueue_;  // a min-heap on the instant (std::push_heap with std::greater)
  common::Counter shed_;
  size_t finalServers_ = 0;     // server transactions answered finally (lingering)
  std::deque<TxnId> lingering_;  // those, oldest first (may hold ids already expired)
};

}  // namespace rdv::sip
