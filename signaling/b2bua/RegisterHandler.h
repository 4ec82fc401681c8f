#pragma once
// The registrar side of the B2BUA: REGISTER (RFC 3261 §10.3) behind digest authentication
// (§22.4), proxy authentication of callers, where a registered user is reached, and CRLF
// keep-alives that hold UDP clients' NAT mappings open (RFC 5626 §3.5 spirit).
// Control thread only; answers through the transaction layer it is given.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/Clock.h"
#include "config/Config.h"
#include "signaling/b2bua/B2buaCounters.h"
#include "signaling/b2bua/SipText.h"
#include "signaling/sip/DigestAuth.h"
#include "signaling/sip/Registrar.h"
#include "signaling/sip/SipTransactions.h"

namespace rdv::b2bua {

// Where requests to a registered contact go: the REGISTER's real source and transport (NAT-aware),
// not the host in its Contact; over TCP/TLS its connection, or a new one (Reconnect.h) once that
// has closed.
sip::SipPeer peerOf(const sip::Binding& b);

class RegisterHandler {
 public:
  // Every reference must outlive the handler. Counts registrations and authChallenges.
  RegisterHandler(const config::SipConfig& cfg, sip::SipTransactions& txns, TagMinter& tags,
                  const common::Clock& clock, B2buaCounters& counters);

  // Answers the REGISTER transaction `id`: 401 until authenticated (sip.auth_register), 403 when
  // the credentials are another user's, then the registrar's verdict (200 listing the bindings,
  // 423 with Min-Expires, 400/403/500). Returns the user when the answer was 200 with bindings.
  std::optional<std::string> onRegister(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from);
  // For an initial INVITE: true when it may proceed (sip.auth_invite off, or valid
  // Proxy-Authorization of the From user). Otherwise the request has been answered (407 or 403).
  bool authorizeCaller(sip::TxnId id, const sip::SipMessage& req);
  // A user in sip.users, or one that has held a binding since start-up (an open registrar,
  // sip.auth_register = 0, takes anyone): a call to a known user without a live binding is 480,
  // to anyone else 404. The most recent kMaxRememberedUsers registered users are remembered.
  bool isKnownUser(const std::string& user) const;
  static constexpr size_t kMaxRememberedUsers = 100'000;
  // Live bindings of `user`, highest q first.
  std::vector<sip::Binding> lookup(const std::string& user, uint64_t nowMs) const {
    return registrar_.lookup(user, nowMs);
  }

  // Expires bindings; call once per housekeeping tick.
  void purge(uint64_t nowMs) { registrar_.purge(nowMs); }
  // Every sip.keepalive_seconds (checked at each call), a CRLF pair to each live UDP binding.
  void sendKeepalives(uint64_t nowMs);

  const sip::Registrar& registrar() const { return registrar_; }

 private:
  // True when `req` carries valid (Proxy-)Authorization; otherwise answers 401/407 with fresh
  // challenges (stale=true for an expired nonce) and returns false.
  bool authorize(sip::TxnId id, const sip::SipMessage& req, bool proxy);
  // (Proxy-|WWW-)Authenticate headers for the algorithms of sip.auth_algorithms, in its order.
  std::vector<std::string> challengeHeaders(uint64_t nowMs, bool stale, bool proxy);
  void rememberUser(const std::string& user);

  const config::SipConfig& cfg_;
  sip::SipTransactions& txns_;
  TagMinter& tags_;
  const common::Clock& clock_;
  B2buaCounters& counters_;
  sip::Registrar registrar_;
  sip::DigestAuthenticator auth_;
  uint64_t nextKeepaliveMs_ = 0;
  std::unordered_set<std::string> registeredUsers_;  // not in sip.users, bound at some point
  std::deque<std::string> registeredOrder_;          // the same, oldest first
};

}  // namespace rdv::b2bua
