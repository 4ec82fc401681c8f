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

#include "config/Config.h"
#include "signaling/DigestAuth.h"
#include "signaling/MediaAnchor.h"
#include "signaling/Registrar.h"
#include "signaling/SipTransactions.h"

namespace rdv::signaling {

struct B2buaCounters {
  relay::Counter registrations;      // successful REGISTERs
  relay::Counter authChallenges;     // 401/407 sent
  relay::Counter callsTotal;         // INVITEs accepted for routing
  relay::Counter callsAnswered;
  relay::Counter callsFailed;        // final non-2xx from the callee, timeouts
  relay::Counter callsRejected;      // 503 by admission control
  relay::Counter callsActive;
  relay::Counter mediaTimeouts;
};

class B2bua final : public SipTransactionUser {
 public:
  B2bua(const config::SipConfig& cfg, SipTransport& transport, MediaAnchor& anchor);
  ~B2bua() override;

  void onMessage(SipMessage&& msg, const SipPeer& from) { txns_.onMessage(std::move(msg), from); }
  void onConnectionClosed(uint64_t connId);
  // The relay tore the call's media down (no packets): hang up both legs.
  void onMediaTimeout(const std::string& anchorCallId);

  uint64_t nextDeadline() const;
  void onTimer(uint64_t nowMs);

  const B2buaCounters& counters() const { return counters_; }
  const relay::Counter& transactionsShed() const { return txns_.shed(); }
  size_t activeCalls() const { return calls_.size(); }
  const Registrar& registrar() const { return registrar_; }

  // SipTransactionUser
  void onRequest(TxnId id, const SipMessage& req, const SipPeer& from) override;
  void onCancel(TxnId inviteTxn) override;
  void onResponse(TxnId id, const SipMessage& resp) override;
  void onTimeout(TxnId id) override;

 private:
  struct Leg;
  struct Call;
  struct Pending;  // a client transaction and what to do with its responses

  void onRegister(TxnId id, const SipMessage& req, const SipPeer& from);
  void onInitialInvite(TxnId id, const SipMessage& req, const SipPeer& from);
  void onInDialog(TxnId id, const SipMessage& req, Call& call, int side);
  void onAck(const SipMessage& req);
  bool authorize(TxnId id, const SipMessage& req, bool proxy);
  void onInviteResponse(Call& call, const SipMessage& resp);
  void onForwardedResponse(const Pending& p, const SipMessage& resp);
  TxnId sendOnLeg(Call& call, int side, std::string_view method, std::string_view body,
                  std::string_view contentType, std::string_view extraHeaders = {});
  void sendAck(Call& call, int side, uint32_t cseq, std::string_view sdp = {});
  bool deferAckForLateOffer(Call& call, int toSide, uint32_t cseq, const SipMessage& resp, std::string& body);
  void hangUp(Call& call, std::string_view why);
  void endCall(uint64_t callId);
  std::string contactHeader(const SipPeer& over) const;
  std::string viaHeader(const SipPeer& over, const std::string& branch) const;
  std::string newTag();
  Call* findCall(const SipMessage& msg, int& side);

  config::SipConfig cfg_;
  SipTransport& transport_;
  MediaAnchor& anchor_;
  SipTransactions txns_;
  Registrar registrar_;
  DigestAuthenticator auth_;
  std::string advertiseHost_;
  uint16_t advertisePort_ = 5060;
  uint16_t advertiseTlsPort_ = 5061;  // the TLS listen port, for Via/Contact towards TLS peers
  uint64_t nextCallId_ = 1;
  uint64_t tagCounter_ = 0;
  std::string tagSalt_;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
  std::unordered_map<std::string, uint64_t> byCallId_;   // either leg's Call-ID -> call
  std::unordered_map<std::string, uint64_t> byAnchor_;   // MediaAnchor key -> call
  std::unordered_map<TxnId, uint64_t> byServerInvite_;   // A's INVITE transaction -> call
  std::unordered_map<TxnId, std::unique_ptr<Pending>> pending_;
  uint64_t nextHousekeepingMs_ = 0;
  uint64_t nextKeepaliveMs_ = 0;
  // Admission: a token bucket of calls per second.
  double cpsTokens_ = 0;
  uint64_t cpsRefillMs_ = 0;
  // Topology hiding: o= is rewritten too, so no party sees another's address.
  const AnchorOptions anchorOptions_{.asymmetric = false, .replaceOrigin = true};
  B2buaCounters counters_;
};

}  // namespace rdv::signaling
