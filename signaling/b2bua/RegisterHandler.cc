#include "signaling/b2bua/RegisterHandler.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/b2bua/Reconnect.h"
#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipUri.h"

namespace rdv::b2bua {
namespace {

// The registrar's lowercase transport name for a binding, and back.
std::string_view bindingTransport(sip::SipTransportKind k) {
  switch (k) {
    case sip::SipTransportKind::Tcp:
      return "tcp";
    case sip::SipTransportKind::Tls:
      return "tls";
    case sip::SipTransportKind::Ws:
      return "ws";
    case sip::SipTransportKind::Wss:
      return "wss";
    case sip::SipTransportKind::Udp:
      break;
  }
  return "udp";
}

sip::SipTransportKind bindingKind(std::string_view transport) {
  if (transport == "udp") return sip::SipTransportKind::Udp;
  if (transport == "ws") return sip::SipTransportKind::Ws;
  if (transport == "wss") return sip::SipTransportKind::Wss;
  return transport == "tls" ? sip::SipTransportKind::Tls : sip::SipTransportKind::Tcp;
}

common::SockAddr sourceOf(const sip::Binding& b) {
  return common::SockAddr::fromIp(b.sourceIp, b.sourcePort).value_or(common::SockAddr());
}

// The user part of a name-addr header value's SIP URI; nullopt when either does not parse.
std::optional<std::string> userOf(std::string_view headerValue) {
  auto na = sip::NameAddr::parse(headerValue);
  if (!na) return std::nullopt;
  auto uri = sip::SipUri::parse(na->uri);
  if (!uri) return std::nullopt;
  return uri->unescapedUser();
}

}  // namespace

sip::SipPeer peerOf(const sip::Binding& b) {
  return withReconnect(sip::SipPeer{sourceOf(b), bindingKind(b.transport), b.connectionId}, b.contact);
}

RegisterHandler::RegisterHandler(const config::SipConfig& cfg, sip::SipTransactions& txns, TagMinter& tags,
                                 const common::Clock& clock, B2buaCounters& counters)
    : cfg_(cfg),
      txns_(txns),
      tags_(tags),
      clock_(clock),
      counters_(counters),
      registrar_(cfg.minExpires, cfg.maxExpires, std::min(3600U, cfg.maxExpires)),
      auth_(cfg.realm, std::chrono::seconds(300)) {}

bool RegisterHandler::authorize(sip::TxnId id, const sip::SipMessage& req, bool proxy) {
  const uint64_t now = clock_.monotonicMs();
  auto value = req.header(proxy ? "Proxy-Authorization" : "Authorization");
  bool stale = false;
  if (!value.empty()) {
    auto creds = sip::DigestCredentials::parse(value);
    if (creds) {
      auto user = cfg_.users.find(creds->username);
      auto verdict =
          auth_.verify(req.methodText(), *creds, user == cfg_.users.end() ? "" : user->second, now);
      if (verdict == sip::DigestAuthenticator::Verdict::Ok) return true;
      stale = verdict == sip::DigestAuthenticator::Verdict::StaleNonce;
      if (verdict == sip::DigestAuthenticator::Verdict::BadCredentials ||
          verdict == sip::DigestAuthenticator::Verdict::UnknownUser) {
        spdlog::info("sip: {} from user '{}' failed authentication", req.methodText(), creds->username);
      }
    }
  }
  std::vector<std::string> headers = challengeHeaders(now, stale, proxy);
  counters_.authChallenges.add(1);
  txns_.respond(id, proxy ? 407 : 401, proxy ? "Proxy Authentication Required" : "Unauthorized", tags_.next(),
                headers);
  return false;
}

std::vector<std::string> RegisterHandler::challengeHeaders(uint64_t nowMs, bool stale, bool proxy) {
  std::vector<std::string> all = auth_.challenges(nowMs, stale);
  std::vector<std::string> headers;
  std::string_view list = cfg_.authAlgorithms;
  while (!list.empty()) {
    auto comma = list.find(',');
    const std::string want = fmt::format("algorithm={}", list.substr(0, comma));
    for (const auto& c : all) {
      auto at = c.find(want);
      const size_t end = at + want.size();
      if (at != std::string::npos && (end == c.size() || c[end] == ',' || c[end] == ' ')) {
        headers.push_back(fmt::format("{}: {}", proxy ? "Proxy-Authenticate" : "WWW-Authenticate", c));
      }
    }
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return headers;
}

bool RegisterHandler::authorizeCaller(sip::TxnId id, const sip::SipMessage& req) {
  if (cfg_.authInvite == 0) return true;
  if (!authorize(id, req, true)) return false;
  // The credentials must be the caller's own: no calling as someone else.
  auto creds = sip::DigestCredentials::parse(req.header("Proxy-Authorization"));
  auto caller = userOf(req.header("From"));
  if (!creds || !caller || creds->username != *caller) {
    txns_.respond(id, 403, "Credentials do not match the caller", tags_.next());
    return false;
  }
  return true;
}

std::optional<std::string> RegisterHandler::onRegister(sip::TxnId id, const sip::SipMessage& req,
                                                       const sip::SipPeer& from) {
  auto to = sip::NameAddr::parse(req.header("To"));
  auto uri = to ? sip::SipUri::parse(to->uri) : Unexpected(sip::SipError{400, "Malformed To header"});
  if (!uri || uri->user.empty()) {
    txns_.respond(id, 400, "Malformed To header");
    return std::nullopt;
  }
  const std::string user = uri->unescapedUser();
  if (cfg_.authRegister != 0) {
    if (!authorize(id, req, false)) return std::nullopt;
    auto creds = sip::DigestCredentials::parse(req.header("Authorization"));
    if (!creds || creds->username != user) {
      txns_.respond(id, 403, "Credentials do not match the registered user");
      return std::nullopt;
    }
  }
  sip::RegisterRequest rr;
  rr.aor = user;
  for (auto c : req.headerList("Contact")) {
    auto na = sip::NameAddr::parse(c);
    if (!na) {
      txns_.respond(id, 400, "Malformed Contact header");
      return std::nullopt;
    }
    if (na->star) {
      rr.star = true;
      continue;
    }
    std::optional<uint32_t> expires;
    if (auto e = na->param("expires")) expires = toUint(*e, cfg_.maxExpires);
    rr.contacts.emplace_back(std::string(na->uri), expires);
  }
  if (auto e = req.header("Expires"); !e.empty()) rr.expiresHeader = toUint(e, cfg_.maxExpires);
  rr.callId = std::string(req.callId());
  rr.cseq = req.cseq();
  rr.sourceIp = from.addr.ip();
  rr.sourcePort = from.addr.port();
  rr.transport = std::string(bindingTransport(from.kind));
  rr.connectionId = from.connId;
  const uint64_t now = clock_.monotonicMs();
  sip::RegisterResult r = registrar_.apply(rr, now);
  std::vector<std::string> headers;
  if (r.status == 200) {
    for (const auto& b : r.bindings) {
      headers.push_back(fmt::format("Contact: <{}>;expires={}", b.contact,
                                    (b.expiresAtMs - std::min(b.expiresAtMs, now)) / 1000));
    }
    counters_.registrations.add(1);
    if (!r.bindings.empty()) rememberUser(user);
    spdlog::info("sip: registered {} -> {} binding(s) from {}", user, r.bindings.size(), from.addr.str());
  } else if (r.status == 423) {
    headers.push_back(fmt::format("Min-Expires: {}", r.minExpires));
  }
  txns_.respond(id, r.status, r.reason.empty() ? "OK" : r.reason, tags_.next(), headers);
  if (r.status != 200 || r.bindings.empty()) return std::nullopt;
  return user;
}

bool RegisterHandler::isKnownUser(const std::string& user) const {
  return cfg_.users.count(user) != 0 || registeredUsers_.count(user) != 0;
}

void RegisterHandler::rememberUser(const std::string& user) {
  if (cfg_.users.count(user) != 0 || !registeredUsers_.insert(user).second) return;
  registeredOrder_.push_back(user);
  if (registeredOrder_.size() > kMaxRememberedUsers) {
    registeredUsers_.erase(registeredOrder_.front());
    registeredOrder_.pop_front();
  }
}

void RegisterHandler::sendKeepalives(uint64_t nowMs) {
  if (cfg_.keepaliveSeconds == 0 || nowMs < nextKeepaliveMs_) return;
  nextKeepaliveMs_ = nowMs + static_cast<uint64_t>(cfg_.keepaliveSeconds) * 1000;
  for (const auto& b : registrar_.keepaliveTargets(nowMs)) {
    if (b.transport == "udp")
      txns_.sendStateless(sip::SipPeer{sourceOf(b), sip::SipTransportKind::Udp, 0}, "\r\n\r\n");
  }
}

}  // namespace rdv::b2bua
