#pragma once
// The SIP transaction user: registrar (RFC 3261 §10) and back-to-back user agent. A call is two
// dialogs, A (caller <-> us) and B (us <-> callee), with independent Call-IDs, tags, Via and
// Contact (topology hidden both ways), and one MediaAnchor call keyed by A's Call-ID: every SDP
// crossing is rewritten so that media flows through the relay. Requests to a registered user go
// to the address the REGISTER came from (NAT-aware), not to the host in its Contact.
//
// This class is the call state machine: INVITE, re-INVITE, UPDATE, ACK, BYE and CANCEL routed
// between the two dialogs (B2bua.cc); INFO, MESSAGE, NOTIFY and REFER relayed within a call
// (B2buaRequests.cc), and MESSAGE outside one to every contact of its recipient, or kept for a
// user without one and delivered when the user registers (B2buaPager.cc). A callee registered from several devices rings on all
// of them, in parallel or in turn (B2buaForking.cc). A callee may ring until sip.ring_timeout.
// Giving up on the callee (ring timeout, the caller's CANCEL or early BYE, media timeout while
// ringing) answers the caller at once, CANCELs every branch and ends the call; a 2xx crossing the
// CANCEL is ACKed and hung up. A 2xx whose SDP cannot be anchored is never passed on. REGISTER and authentication are RegisterHandler's, admission control Admission's,
// the text we write SipText's, the call indexes CallTable's.
// An INVITE to a conference URI (sip:conf-<room>@..., setConferences) is answered here instead,
// with no callee leg: the participant joins a room of the conference service (B2buaConference.cc).

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/Clock.h"
#include "config/Config.h"
#include "mixer/Conferences.h"
#include "signaling/anchor/MediaAnchor.h"
#include "signaling/b2bua/Admission.h"
#include "signaling/b2bua/B2buaCounters.h"
#include "signaling/b2bua/CallDeadlines.h"
#include "signaling/b2bua/CallRecord.h"
#include "signaling/b2bua/CallTable.h"
#include "signaling/b2bua/ConferenceDialog.h"
#include "signaling/b2bua/RegisterHandler.h"
#include "signaling/b2bua/SipText.h"
#include "signaling/im/MessageStore.h"
#include "signaling/presence/PublicationStore.h"
#include "signaling/presence/SubscriptionTable.h"
#include "signaling/presence/WatcherPolicy.h"
#include "signaling/sip/Registrar.h"
#include "signaling/sip/SipTransactions.h"

namespace rdv::b2bua {

class B2bua final : public sip::SipTransactionUser {
 public:
  // Every reference must outlive the B2BUA; `clock` times transactions, ringing and registrations.
  B2bua(const config::SipConfig& cfg, sip::SipSender& transport, anchor::MediaAnchor& anchor,
        const common::Clock& clock);
  ~B2bua() override;

  void onMessage(sip::SipMessage&& msg, const sip::SipPeer& from) { txns_.onMessage(std::move(msg), from); }
  // A TCP/TLS connection closed, or one we opened failed. Bindings on it stay (requests to them
  // open a new connection); requests sent on it without any answer yet fail (480 for a call).
  void onConnectionClosed(uint64_t connId) { txns_.onConnectionClosed(connId); }
  // The relay tore the call's media down (no packets): hang up both legs.
  void onMediaTimeout(const std::string& anchorCallId);

  uint64_t nextDeadline() const;  // clock.monotonicMs() instant
  void onTimer();                 // runs what is due at the clock's current instant

  const B2buaCounters& counters() const { return counters_; }
  const common::Counter& transactionsShed() const { return txns_.shed(); }
  // Calls in the table, including those given up on whose callee INVITE has not ended yet.
  size_t activeCalls() const { return calls_.size(); }
  // Client transactions we track (PendingRequest): bounded, each ends with its transaction or
  // 64*T1 after an INVITE's 2xx.
  size_t pendingRequests() const { return calls_.pendingCount(); }
  const sip::Registrar& registrar() const { return registrations_.registrar(); }
  // What the operator API shows of a live call (B2buaOperator.cc); nullopt for a Call-ID that is
  // not one of our calls (an NG-driven relay session, or gone).
  struct CallSummary {
    std::string caller;   // From of the caller's INVITE
    std::string callee;   // its To
    std::string state;    // "ringing", "early", "answered", "confirmed"
    uint64_t startUnixMs = 0;
    uint64_t answerUnixMs = 0;
    uint32_t branches = 0;
  };
  std::optional<CallSummary> summary(const std::string& anchorCallId);
  // The operator hangs up: BYE on both legs of an answered call, CANCEL/487 of a ringing one. False
  // when no such call.
  bool hangUpCall(const std::string& anchorCallId);
  // A configuration reload (B2buaOperator.cc): whether sip.* `key` may take `next`'s value while
  // calls run (users, auth_register, auth_invite, auth_algorithms, max_calls, max_cps, keepalive,
  // forking, fork_step, max_branches, max_message_bytes, and ring_timeout as long as timer C,
  // fixed at start, still covers it); the rest need a restart (the message store among them).
  bool canApplyLive(std::string_view key, const config::SipConfig& next) const;
  // Runs with `cfg` from now on; it may differ from the running one only in keys canApplyLive()
  // accepted.
  void applyLive(const config::SipConfig& cfg);
  // Called (on the control thread) with the record of every call that ends.
  void setOnCallEnded(std::function<void(CallRecord&&)> fn) { onCallEnded_ = std::move(fn); }
  // Operator drain: new INVITEs get 503 with Retry-After (Admission::Verdict::Draining); calls
  // already up, and requests within them, go on.
  void setDraining(bool on);
  // From now on an initial INVITE whose Request-URI user is `prefix` + room (sip:conf-test@host)
  // joins that room of `conferences`, answered by us; conference participants count against
  // sip.max_calls like calls. Null or an empty prefix turns it off (dialogs already up stay, and
  // end without telling the service). `conferences` must outlive the B2BUA or its replacement here
  // (its onLeft callback is ours until then).
  void setConferences(mixer::Conferences* conferences, std::string prefix = "conf-");
  size_t conferenceParticipants() const { return conferenceDialogs_.size(); }
  // From now on a MESSAGE to a known user without a contact is kept in `store` (202), and what it
  // holds for a user goes out when the user registers; null: such a MESSAGE gets 480.
  void setMessageStore(std::unique_ptr<im::MessageStore> store) { messageStore_ = std::move(store); }
  im::MessageStore* messageStore() { return messageStore_.get(); }
  size_t presenceSubscriptions() const { return subscriptions_.size(); }
  size_t presencePublications() const { return publications_.size(); }

  // SipTransactionUser
  void onRequest(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from) override;
  void onCancel(sip::TxnId inviteTxn) override;
  void onResponse(sip::TxnId id, const sip::SipMessage& resp) override;
  void onTimeout(sip::TxnId id) override;
  void onTransportError(sip::TxnId id) override;

 private:
  void onInitialInvite(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from);
  // Admission control for a new call or conference participant; false after answering 503.
  bool admitCall(sip::TxnId id);
  // Our dialog with the sender of the initial request `req`, under a fresh local tag.
  Leg callerLeg(const sip::SipMessage& req, const sip::SipPeer& from);
  // The callee's bindings, or empty after answering 404/480. With `absent`, a known user without
  // a binding is not answered: *absent is set instead.
  std::vector<sip::Binding> routeInvite(sip::TxnId id, const sip::SipMessage& req, std::string& callee,
                                        bool* absent = nullptr);
  // The call with one branch per target (at most sip.max_branches, in the given order); nothing sent.
  Call& createCall(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from,
                   const std::vector<sip::Binding>& targets, uint32_t maxForwards, bool anchored);
  void onInDialog(sip::TxnId id, const sip::SipMessage& req, Call& call, int side);
  // B2buaRequests.cc. In-dialog requests other than INVITE, ACK, BYE and UPDATE: INFO, MESSAGE,
  // NOTIFY and REFER relayed to the other party; the rest answered here.
  void onInDialogRequest(sip::TxnId id, const sip::SipMessage& req, Call& call, int side);
  // B2buaPager.cc. MESSAGE outside a dialog: routed like an INVITE (404/480) and relayed to every
  // contact of the callee, or kept in the message store.
  void onPagerMessage(sip::TxnId id, const sip::SipMessage& req);
  // A response to, or the failure of, a relayed pager MESSAGE; false when `id` is no such relay.
  bool onPagerResponse(sip::TxnId id, const sip::SipMessage& resp);
  bool onPagerFailure(sip::TxnId id, int status, std::string_view reason);
  // Our MESSAGE to `b` as a one-request dialog-less exchange, topology hidden as for a call
  // (RFC 3428 §7); 0 when it could not be sent.
  sip::TxnId sendPager(const sip::Binding& b, std::string_view from, std::string_view to, uint32_t maxForwards,
                       std::string_view body, std::string_view contentType,
                       std::span<const std::string> extraHeaders = {});
  void onPagerAnswer(sip::TxnId id, int status, std::string_view reason, const sip::SipMessage* resp);
  // Every contact of a fan-out answered without a 2xx: its best failure, or kept when nobody answered.
  void failFanout(uint64_t fanoutId);
  // Answers `id` after keeping the message: 202, or 480/507 over a quota (500 when the database
  // fails). It expires a week from now (kStoredMessageLifetimeMs).
  void keepMessage(sip::TxnId id, std::string_view toTag, std::string_view recipient, std::string_view sender,
                   std::string_view contentType, std::string_view body);
  // What the store holds for `user` to each of `bindings` (the first sip.max_branches), oldest
  // first; a message already on its way is not sent again.
  void deliverStored(const std::string& user, const std::vector<sip::Binding>& bindings);
  void onStoredAnswer(int64_t storedId, bool success);
  // Presence (B2buaPresence.cc, B2buaPublish.cc): SUBSCRIBE to "presence"/"presence.winfo"
  // outside a dialog and within one (refresh, unsubscribe), PUBLISH, and our NOTIFYs.
  void onSubscribe(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from);
  void onSubscribeRefresh(sip::TxnId id, const sip::SipMessage& req, presence::Subscription& s,
                          const sip::SipPeer& from);
  // The Expires a SUBSCRIBE asks for (initial or in-dialog); nullopt after answering 423 when it is
  // under presence.min_expires.
  std::optional<uint32_t> subscribeExpires(sip::TxnId id, const sip::SipMessage& req);
  void answerSubscribe(sip::TxnId id, const presence::Subscription& s, uint32_t expires,
                       const sip::SipPeer& from);
  // Where NOTIFYs to `watcher` go: its binding registered with `contact`, else the SUBSCRIBE's source.
  sip::SipPeer watcherPeer(std::string_view watcher, std::string_view contact, const sip::SipPeer& from);
  void onPublish(sip::TxnId id, const sip::SipMessage& req);
  void refusePresence(sip::TxnId id, bool publish, PresenceRefusal why, int status, std::string_view reason,
                      std::span<const std::string> headers = {});
  // What decides whether watchers of `user` must hear: its newest publication, else open/closed.
  std::string presenceFingerprint(const std::string& user, uint64_t nowMs) const;
  // Recomputes `user`'s state; when it differs from what its watchers were last marked with, their
  // subscriptions become dirty and what is due goes out.
  void presenceChanged(const std::string& user, uint64_t nowMs);
  // The user a REGISTER is for when someone watches that user's presence, else empty.
  std::string watchedRegistrant(const sip::SipMessage& req) const;
  // The NOTIFY body for `s` at send time and its Content-Type.
  std::string presenceBody(const presence::Subscription& s, std::string& contentType);
  // A NOTIFY on `s`'s dialog: Subscription-State from `s`, or `terminated` when not empty (a final
  // one); the state only when `s` is active and not rejected.
  void sendNotify(presence::Subscription& s, std::string_view terminated);
  // The final NOTIFY, then `s` is removed (it dangles after).
  void endSubscription(presence::Subscription& s, std::string_view state);
  void flushNotifies(uint64_t nowMs);
  // A final answer (or 408/480 for none) to our NOTIFY `id`; false when `id` is none of ours.
  bool onNotifyAnswer(sip::TxnId id, int status);
  void runPresenceTimers(uint64_t nowMs);
  void presenceHousekeeping(uint64_t nowMs);
  void onAck(const sip::SipMessage& req);
  void onInviteResponse(sip::TxnId id, Call& call, size_t branch, const sip::SipMessage& resp);
  void onInviteSuccess(sip::TxnId id, Call& call, size_t branch, const sip::SipMessage& resp);
  Expected<bool, anchor::AnchorError> anchorAnswer(Call& call, const sip::SipMessage& resp, bool earlyAnswer);
  // Anchor options for an answer sent by `answerer`: its flow address (where its requests go, the
  // registered source for a callee) may restrict who connects to its side of a TCP media pair.
  anchor::AnchorOptions answerOptions(const Leg& answerer) const;
  void failBranchAnswer(Call& call, size_t branch, const sip::SipMessage& resp, const anchor::AnchorError& why);
  // Forking (B2buaForking.cc). Calls that end the call (failCall, and onBranchFailed when it
  // does) leave `call` dangling.
  static constexpr size_t kNoBranch = SIZE_MAX;
  bool sequentialForking() const;
  bool ringBranches(Call& call);
  bool startBranch(Call& call, size_t k);
  void onBranchProvisional(Call& call, size_t branch, const sip::SipMessage& resp);
  void onBranchFailed(Call& call, size_t branch, int status, std::string_view reason,
                      std::vector<std::string> headers, bool local);
  void cancelBranches(Call& call, size_t except);
  void failCall(Call& call);
  void onStrayInviteResponse(PendingRequest& p, const sip::SipMessage& resp);
  void onOtherBranchRequest(sip::TxnId id, const sip::SipMessage& req);
  void runForkSteps(uint64_t nowMs);
  void onForwardedResponse(sip::TxnId id, const PendingRequest& p, const sip::SipMessage& resp);
  void rejectReoffer(sip::TxnId id, const PendingRequest& p, Call& call, const anchor::AnchorError& why);
  sip::TxnId sendOnLeg(Call& call, int side, std::string_view method, std::string_view body,
                       std::string_view contentType, std::span<const std::string> extraHeaders = {});
  sip::TxnId sendOn(Leg& leg, uint32_t maxForwards, std::string_view method, std::string_view body,
                    std::string_view contentType, std::span<const std::string> extraHeaders = {});
  void ackInvite(sip::TxnId clientTxn, Call& call, int side, uint32_t cseq, std::string_view sdp = {});
  Expected<std::string, anchor::AnchorError> deferAckForLateOffer(sip::TxnId clientTxn, Call& call,
                                                                  int toSide, uint32_t cseq,
                                                                  const sip::SipMessage& resp);
  void giveUpOnCallee(Call& call, int status, std::string_view reason, EndReason why);
  void hangUp(Call& call, EndReason why, std::string_view detail = {});
  // RFC 4028 and RFC 3262 across the two legs (B2buaExtensions.cc).
  bool rejectShortSession(sip::TxnId id, const sip::SipMessage& req, std::string_view toTag);
  std::vector<std::string> negotiateSession(Call& call, const sip::SipMessage& resp, uint32_t requested,
                                            bool requesterTimer);
  bool prackCallee(Call& call, Branch& branch, const sip::SipMessage& resp, bool& reliable);
  void relayProvisional(Call& call, const sip::SipMessage& resp, bool reliable, std::string_view body);
  void sendReliable(Call& call);
  void onPrack(sip::TxnId id, const sip::SipMessage& req, Call& call, int side);
  void runCallTimers(uint64_t nowMs);
  // Forgets the call, counts it by `why` and hands its record to the onCallEnded callback.
  void endCall(Call& call, EndReason why, int status);
  // Conference participants (B2buaConference.cc).
  bool isConferenceInvite(const sip::SipMessage& req) const;
  void onConferenceInvite(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from);
  // The conference dialog `req` (with a To tag) belongs to; null when none.
  ConferenceDialog* findConference(const sip::SipMessage& req);
  void onConferenceRequest(sip::TxnId id, const sip::SipMessage& req, ConferenceDialog& d);
  void answerConferenceReoffer(sip::TxnId id, const sip::SipMessage& req, ConferenceDialog& d);
  // True when `req` (an ACK without transaction) belongs to a conference dialog.
  bool onConferenceAck(const sip::SipMessage& req);
  void onConferenceLeft(mixer::ParticipantId who, mixer::LeaveReason why);
  // Forgets the dialog (`d` dangles after) and hands its record to the onCallEnded callback.
  void endConference(ConferenceDialog& d, EndReason why);

  config::SipConfig cfg_;
  sip::SipSender& transport_;
  anchor::MediaAnchor& anchor_;
  const common::Clock& clock_;
  const sip::SipTimers timers_;
  sip::SipTransactions txns_;
  LocalContact local_;
  TagMinter tags_;
  B2buaCounters counters_;
  RegisterHandler registrations_;
  Admission admission_;
  CallTable calls_;
  std::function<void(CallRecord&&)> onCallEnded_;
  uint64_t nextHousekeepingMs_ = 0;
  CallDeadlines sessionEnds_;     // RFC 4028 §10 instants of calls with a session timer
  CallDeadlines reliableResends_;  // RFC 3262 §3 retransmissions of reliable provisionals
  CallDeadlines forkSteps_;        // sequential forking: when the ringing branch gives way
  // A MESSAGE relayed to every contact of its recipient: the first 2xx answers the sender.
  struct PagerFanout {
    sip::TxnId serverTxn = 0;
    std::string toTag;
    size_t outstanding = 0;  // our MESSAGEs without a final answer
    bool answered = false;
    BranchFailure failure;
    // Kept when no contact answered at all; recipient empty: never kept (no store, isComposing).
    std::string recipient, sender, contentType, body;
  };
  struct PagerRelay {
    uint64_t fanout = 0;   // the sender's fan-out; 0 for the delivery of a stored message
    int64_t storedId = 0;  // that stored message
  };
  std::unordered_map<sip::TxnId, PagerRelay> pagers_;  // our MESSAGE transactions
  std::unordered_map<uint64_t, PagerFanout> fanouts_;
  uint64_t nextFanout_ = 1;
  std::unique_ptr<im::MessageStore> messageStore_;
  // A stored message on its way: one at a time per user, the next once a contact took it, so they
  // arrive in order even over a lossy path (a burst could overtake itself by retransmission).
  struct StoredDelivery {
    std::string user;
    size_t unanswered = 0;  // our MESSAGEs (one per contact) without a final answer
  };
  std::unordered_map<int64_t, StoredDelivery> delivering_;  // stored message id ->
  std::unordered_map<std::string, int64_t> deliveringTo_;   // user -> the stored message in flight
  presence::SubscriptionTable subscriptions_;
  presence::PublicationStore publications_;
  presence::WatcherPolicy watcherPolicy_;
  std::unordered_map<sip::TxnId, uint64_t> notifies_;          // our NOTIFY -> subscription id
  std::unordered_map<std::string, std::string> presenceSeen_;  // watched presentity -> its last fingerprint
  mixer::Conferences* conferences_ = nullptr;
  std::string conferencePrefix_;
  std::unordered_map<std::string, ConferenceDialog> conferenceDialogs_;  // by the participant's Call-ID
  std::unordered_map<mixer::ParticipantId, std::string> conferenceCallIds_;
  // Topology hiding: o= is rewritten too, so no party sees another's address.
  const anchor::AnchorOptions anchorOptions_{.asymmetric = false, .replaceOrigin = true};
  // SRTP towards the caller (0) and the callee (1): media.encrypt_caller / media.encrypt_callee.
  std::array<anchor::SrtpPolicy, 2> encrypt_{anchor::SrtpPolicy::Passthrough, anchor::SrtpPolicy::Passthrough};
  // anchorOptions_ for an offer that the party on `side` (0 = caller) sends: SRTP by encrypt_.
  anchor::AnchorOptions offerOptions(int side) const;
  static bool webrtcContact(const sip::Binding& b);  // registered over WebSocket (RFC 7118)
};

}  // namespace rdv::b2bua
