#pragma once
// The SIP transaction user: registrar (RFC 3261 §10) and back-to-back user agent. A call is two
// dialogs, A (caller <-> us) and B (us <-> callee), with independent Call-IDs, tags, Via and
// Contact (topology hidden both ways), and one MediaAnchor call keyed by A's Call-ID: every SDP
// crossing is rewritten so that media flows through the relay. Requests to a registered user go
// to the address the REGISTER came from (NAT-aware), not to the host in its Contact.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/Clock.h"
#include "config/Config.h"
#include "signaling/sip/DigestAuth.h"
#include "signaling/anchor/MediaAnchor.h"
#include "signaling/sip/Registrar.h"
#include "signaling/sip/SipTransactions.h"

namespace rdv::b2bua {

struct B2buaCounters {
  common::Counter registrations;      // successful REGISTERs
  common::Counter authChallenges;     // 401/407 sent
  common::Counter callsTotal;         // INVITEs accepted for routing
  common::Counter callsAnswered;
  common::Counter callsFailed;        // final non-2xx from the callee, timeouts
  common::Counter callsRejected;      // 503 by admission control
  common::Counter callsActive;
  common::Counter mediaTimeouts;
};

class B2bua final : public sip::SipTransactionUser {
 public:
  // Every reference must outlive the B2BUA; `clock` times transactions, ringing and registrations.
  B2bua(const config::SipConfig& cfg, sip::SipSender& transport, anchor::MediaAnchor& anchor,
        const common::Clock& clock);
  ~B2bua() override;

  void onMessage(sip::SipMessage&& msg, const sip::SipPeer& from) { txns_.onMessage(std::move(msg), from); }
  void onConnectionClosed(uint64_t connId);
  // The relay tore the call's media down (no packets): hang up both legs.
  void onMediaTimeout(const std::string& anchorCallId);

  uint64_t nextDeadline() const;  // clock.monotonicMs() instant
  void onTimer();                 // runs what is due at the clock's current instant

  const B2buaCounters& counters() const { return counters_; }
  const common::Counter& transactionsShed() const { return txns_.shed(); }
  size_t activeCalls() const { return calls_.size(); }
  const sip::Registrar& registrar() const { return registrar_; }

  // SipTransactionUser
  void onRequest(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from) override;
  void onCancel(sip::TxnId inviteTxn) override;
  void onResponse(sip::TxnId id, const sip::SipMessage& resp) override;
  void onTimeout(sip::TxnId id) override;

 private:
  struct Leg;
  struct Call;
  struct Pending;  // a client transaction and what to do with its responses

  void onRegister(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from);
  void onInitialInvite(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from);
  void onInDialog(sip::TxnId id, const sip::SipMessage& req, Call& call, int side);
  void onAck(const sip::SipMessage& req);
  bool authorize(sip::TxnId id, const sip::SipMessage& req, bool proxy);
  void onInviteResponse(Call& call, const sip::SipMessage& resp);
  void onForwardedResponse(const Pending& p, const sip::SipMessage& resp);
  sip::TxnId sendOnLeg(Call& call, int side, std::string_view method, std::string_view body,
                  std::string_view contentType, std::string_view extraHeaders = {});
  void sendAck(Call& call, int side, uint32_t cseq, std::string_view sdp = {});
  bool deferAckForLateOffer(Call& call, int toSide, uint32_t cseq, const sip::SipMessage& resp, std::string& body);
  void hangUp(Call& call, std::string_view why);
  void endCall(uint64_t callId);
  std::string contactHeader(const sip::SipPeer& over) const;
  std::string viaHeader(const sip::SipPeer& over, const std::string& branch) const;
  std::string newTag();
  Call* findCall(const sip::SipMessage& msg, int& side);

  config::SipConfig cfg_;
  sip::SipSender& transport_;
  anchor::MediaAnchor& anchor_;
  const common::Clock& clock_;
  sip::SipTransactions txns_;
  sip::Registrar registrar_;
  sip::DigestAuthenticator auth_;
  std::string advertiseHost_;
  uint16_t advertisePort_ = 5060;
  uint16_t advertiseTlsPort_ = 5061;  // the TLS listen port, for Via/Contact towards TLS peers
  uint64_t nextCallId_ = 1;
  uint64_t tagCounter_ = 0;
  std::string tagSalt_;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
  std::unordered_map<std::string, uint64_t> byCallId_;   // either leg's Call-ID -> call
  std::unordered_map<std::string, uint64_t> byAnchor_;   // MediaAnchor key -> call
  std::unordered_map<sip::TxnId, uint64_t> byServerInvite_;   // A's INVITE transaction -> call
  std::unordered_map<sip::TxnId, std::unique_ptr<Pending>> pending_;
  uint64_t nextHousekeepingMs_ = 0;
  uint64_t nextKeepaliveMs_ = 0;
  // Admission: a token bucket of calls per second.
  double cpsTokens_ = 0;
  uint64_t cpsRefillMs_ = 0;
  // Topology hiding: o= is rewritten too, so no party sees another's address.
  const anchor::AnchorOptions anchorOptions_{.asymmetric = false, .replaceOrigin = true};
  B2buaCounters counters_;
};

}  // namespace rdv::b2bua
