#include "app/TurnSetup.h"

#include <map>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/sip/SipTransport.h"

namespace rdv::app {
namespace {

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    std::string item = text.substr(at, comma - at);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(std::move(item));
    at = comma + 1;
  }
  return out;
}

}  // namespace

Expected<std::unique_ptr<turn::TurnServer>, std::string> startTurn(const config::Config& cfg,
                                                                   const common::Clock& clock,
                                                                   bool ownThread) {
  const auto& tc = cfg.turn;
  if (tc.listen.empty()) return std::unique_ptr<turn::TurnServer>();
  if (tc.users.empty() && tc.secret.empty()) {
    spdlog::info("turn: not started (no turn.users and no turn.secret configured)");
    return std::unique_ptr<turn::TurnServer>();
  }
  auto policy = turn::PeerPolicy::create(splitList(tc.allowPeers));
  if (!policy) return Unexpected(fmt::format("turn.allow_peers: {}", policy.error()));
  turn::TurnServerOptions o;
  o.listen = *common::SockAddr::parseHostPort(tc.listen);  // validated by the loader
  const std::string& relayIp = tc.relayAddress.empty() ? cfg.relay.interface : tc.relayAddress;
  auto relayAddress = common::SockAddr::fromIp(relayIp, 0);
  if (!relayAddress) return Unexpected(fmt::format("turn.relay_address '{}' is not an IP address", relayIp));
  o.relayAddress = *relayAddress;
  if (!tc.relayAdvertise.empty()) {
    o.relayAdvertise = common::SockAddr::fromIp(tc.relayAdvertise, 0);
    if (!o.relayAdvertise) return Unexpected(fmt::format("turn.relay_advertise '{}' is not an IP address", tc.relayAdvertise));
  }
  o.portMin = static_cast<uint16_t>(tc.portMin);
  o.portMax = static_cast<uint16_t>(tc.portMax);
  o.limits.perUser = tc.userQuota;
  o.limits.total = tc.totalQuota;
  o.limits.maxLifetimeS = tc.maxLifetime;
  o.limits.maxBytesPerSecond = uint64_t{tc.maxBps} / 8;
  o.nonceLifetimeS = tc.nonceLifetime;
  o.clientLimits.maxConnections = tc.tcpMaxConnections;
  o.clientLimits.maxPerSource = tc.tcpMaxPerSource;
  o.clientLimits.idleMs = uint64_t{tc.tcpIdleTimeout} * 1000;
  o.batch = cfg.relay.batch;
  sip::SipTransport::TlsContext tls;
  if (!tc.tlsListen.empty() && !tc.tlsCert.empty()) {
    auto at = common::SockAddr::parseHostPort(tc.tlsListen);
    if (!at) return Unexpected(fmt::format("turn.tls_listen '{}' is not host:port", tc.tlsListen));
    auto ctx = sip::SipTransport::serverContext(tc.tlsCert, tc.tlsKey);
    if (!ctx) return Unexpected(fmt::format("turn.tls_cert: {}", ctx.error()));
    tls = std::move(*ctx);
    o.tlsListen = *at;
    o.tlsContext = tls.get();
  }
  std::map<std::string, std::string, std::less<>> users(tc.users.begin(), tc.users.end());
  auto server = (ownThread ? turn::TurnServer::start : turn::TurnServer::create)(
      o, turn::Credentials(tc.realm, std::move(users), tc.secret), std::move(*policy), clock);
  if (!server) return Unexpected(server.error());
  if (auto at = (*server)->tlsAddress()) spdlog::info("TURN over TLS on {}", at->str());
  spdlog::info("TURN/STUN on udp+tcp {} (realm {}, {} user(s){}), relayed ports {}-{} on {}, {}",
               (*server)->localAddress().str(), tc.realm, tc.users.size(),
               tc.secret.empty() ? "" : ", shared secret", tc.portMin, tc.portMax, relayIp,
               ownThread ? "own thread" : "on relay worker 0");
  return std::move(*server);
}

}  // namespace rdv::app
