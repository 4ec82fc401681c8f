#pragma once
// The SIP transaction user: registrar (RFC 3261 §10) and back-to-back user agent. A call is two
// dialogs, A (caller <-> us) and B (us <-> callee), with independent Call-IDs, tags, Via and
// Contact (topology hidden both ways), and one MediaAnchor call keyed by A's Call-ID: every SDP
// crossing is rewritten so that media flows through the relay. Requests to a registered user go
// to the address the REGISTER came from (NAT-aware), not to the host in its Contact.
//
// This class is the call state machine: INVITE, re-INVITE, UPDATE, ACK, BYE and CANCEL routed
// between the two dialogs. REGISTER and authentication are RegisterHandler's, admission control
// Admission's, the text we write SipText's, the call indexes CallTable's.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/Clock.h"
#include "config/Config.h"
#include "signaling/anchor/MediaAnchor.h"
#include "signaling/b2bua/Admission.h"
#include "signaling/b2bua/B2buaCounters.h"
#include "signaling/b2bua/CallDeadlines.h"
#include "signaling/b2bua/CallTable.h"
#include "signaling/b2bua/RegisterHandler.h"
#include "signaling/b2bua/SipText.h"
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
  void onConnectionClosed(uint64_t connId) { registrations_.onConnectionClosed(connId); }
  // The relay tore the call's media down (no packets): hang up both legs.
  void onMediaTimeout(const std::string& anchorCallId);

  uint64_t nextDeadline() const;  // clock.monotonicMs() instant
  void onTimer();                 // runs what is due at the clock's current instant

  const B2buaCounters& counters() const { return counters_; }
  const common::Counter& transactionsShed() const { return txns_.shed(); }
  size_t activeCalls() const { return calls_.size(); }
  const sip::Registrar& registrar() const { return registrations_.registrar(); }

  // SipTransactionUser
  void onRequest(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from) override;
  void onCancel(sip::TxnId inviteTxn) override;
  void onResponse(sip::TxnId id, const sip::SipMessage& resp) override;
  void onTimeout(sip::TxnId id) override;

 private:
  void onInitialInvite(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from);
  // The callee's bindings, or empty after answering 404/480.
  std::vector<sip::Binding> routeInvite(sip::TxnId id, const sip::SipMessage& req, std::string& callee);
  Call& createCall(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from,
                   const sip::Binding& target, uint32_t maxForwards, bool anchored);
  void onInDialog(sip::TxnId id, const sip::SipMessage& req, Call& call, int side);
  void onAck(const sip::SipMessage& req);
  void onInviteResponse(Call& call, const sip::SipMessage& resp);
  void onInviteSuccess(Call& call, const sip::SipMessage& resp);
  void onForwardedResponse(const PendingRequest& p, const sip::SipMessage& resp);
  sip::TxnId sendOnLeg(Call& call, int side, std::string_view method, std::string_view body,
                       std::string_view contentType, std::span<const std::string> extraHeaders = {});
  void sendAck(Call& call, int side, uint32_t cseq, std::string_view sdp = {});
  bool deferAckForLateOffer(Call& call, int toSide, uint32_t cseq, const sip::SipMessage& resp,
                            std::string& body);
  void hangUp(Call& call, std::string_view why);
  // RFC 4028 and RFC 3262 across the two legs (B2buaExtensions.cc).
  bool rejectShortSession(sip::TxnId id, const sip::SipMessage& req, std::string_view toTag);
  std::vector<std::string> negotiateSession(Call& call, const sip::SipMessage& resp, uint32_t requested,
                                            bool requesterTimer);
  bool prackCallee(Call& call, const sip::SipMessage& resp, bool& reliable);
  void relayProvisional(Call& call, const sip::SipMessage& resp, bool reliable, std::string_view body);
  void sendReliable(Call& call);
  void onPrack(sip::TxnId id, const sip::SipMessage& req, Call& call, int side);
  void runCallTimers(uint64_t nowMs);
  void endCall(uint64_t callId);

  config::SipConfig cfg_;
  sip::SipSender& transport_;
  anchor::MediaAnchor& anchor_;
  const common::Clock& clock_;
  sip::SipTransactions txns_;
  LocalContact local_;
  TagMinter tags_;
  B2buaCounters counters_;
  RegisterHandler registrations_;
  Admission admission_;
  CallTable calls_;
  uint64_t nextHousekeepingMs_ = 0;
  CallDeadlines sessionEnds_;     // RFC 4028 §10 instants of calls with a session timer
  CallDeadlines reliableResends_;  // RFC 3262 §3 retransmissions of reliable provisionals
  // Topology hiding: o= is rewritten too, so no party sees another's address.
  const anchor::AnchorOptions anchorOptions_{.asymmetric = false, .replaceOrigin = true};
};

}  // namespace rdv::b2bua
