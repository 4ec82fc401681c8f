#include "config/ConfigLoader.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "common/SockAddr.h"
#include "config/ConfigKeys.h"

namespace rdv::config {
namespace {

// The map-valued settings: sip.users.<name> = "<password>", conference.rooms.<name> = "[PIN][/MAX]",
// presence.lists.<user> = "bob,carol".
std::map<std::string, std::string>* mapFor(Config& cfg, std::string_view name, std::string_view& rest) {
  static constexpr std::string_view kUsers = "sip.users.", kRooms = "conference.rooms.", kTurn = "turn.users.",
                                    kLists = "presence.lists.";
  for (auto [prefix, map] : {std::pair{kUsers, &cfg.sip.users}, std::pair{kRooms, &cfg.conference.rooms},
                             std::pair{kTurn, &cfg.turn.users}, std::pair{kLists, &cfg.sip.presence.lists}}) {
    if (name.size() > prefix.size() && name.substr(0, prefix.size()) == prefix) {
      rest = name.substr(prefix.size());
      return map;
    }
  }
  return nullptr;
}

// Sets `key` from text; returns an error message or "".
std::string setFromText(Config& cfg, const KeyDef& key, std::string_view text) {
  if (key.type == KeyType::String) {
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
      text = text.substr(1, text.size() - 2);
    }
    key.str(cfg) = std::string(text);
    return {};
  }
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return fmt::format("{}: expected an unsigned integer, got '{}'", key.name, text);
  }
  if (v < key.min || v > key.max) {
    return fmt::format("{}: {} is outside [{}, {}]", key.name, v, key.min, key.max);
  }
  key.num(cfg) = static_cast<uint32_t>(v);
  return {};
}

void applyNode(Config& cfg, const std::string& path, const toml::node& node, std::string_view source,
               std::vector<ConfigError>& errors) {
  size_t line = node.source().begin.line;
  std::string_view name;
  if (auto* map = mapFor(cfg, path, name)) {
    const auto* s = node.as_string();
    const bool room = map == &cfg.conference.rooms;
    const bool list = map == &cfg.sip.presence.lists;
    if (s == nullptr || (room && !parseRoomSpec(s->get())) || (list && !parseBuddyList(s->get()))) {
      errors.push_back({std::string(source), line,
                        fmt::format("{}: expected {}", path,
                                    room   ? "a room spec \"[PIN][/MAX]\""
                                    : list ? "a comma-separated list of user names \"bob,carol\""
                                           : "a password string")});
    } else {
      (*map)[std::string(name)] = s->get();
    }
    return;
  }
  if (const auto* table = node.as_table()) {
    for (const auto& [k, v] : *table) {
      applyNode(cfg, path.empty() ? std::string(k.str()) : path + "." + std::string(k.str()), v,
                source, errors);
    }
    return;
  }
  const KeyDef* key = findKey(path);
  if (key == nullptr) {
    errors.push_back({std::string(source), line, fmt::format("unknown key '{}'", path)});
    return;
  }
  std::string problem;
  if (key->type == KeyType::String) {
    if (const auto* s = node.as_string()) {
      key->str(cfg) = s->get();
    } else {
      problem = fmt::format("{}: expected a string", path);
    }
  } else if (const auto* i = node.as_integer()) {
    int64_t v = i->get();
    problem = v < 0 ? fmt::format("{}: {} is outside [{}, {}]", path, v, key->min, key->max)
                    : setFromText(cfg, *key, std::to_string(v));
  } else {
    problem = fmt::format("{}: expected an integer", path);
  }
  if (!problem.empty()) errors.push_back({std::string(source), line, problem});
}

bool isAddress(const std::string& a) {
  unsigned char buf[16];
  return inet_pton(AF_INET, a.c_str(), buf) == 1 || inet_pton(AF_INET6, a.c_str(), buf) == 1;
}

// "host:port" or "[v6]:port", as the servers parse it.
bool isHostPort(const std::string& hp) { return common::SockAddr::parseHostPort(hp).has_value(); }

// 127.0.0.0/8 or ::1: only processes on this machine can connect.
bool isLoopback(const common::SockAddr& a) {
  if (a.isV6()) return a.ip() == "::1";
  return a.ip().rfind("127.", 0) == 0;
}

void validateApi(const ApiConfig& api, std::vector<ConfigError>& errors) {
  if (api.listen.empty()) return;
  auto addr = common::SockAddr::parseHostPort(api.listen);
  if (!addr) {
    errors.push_back({"config", 0, fmt::format("api.listen '{}' is not host:port", api.listen)});
  } else if (api.token.empty() && !isLoopback(*addr)) {
    errors.push_back({"config", 0,
                      fmt::format("api.listen '{}' is not a loopback address: set api.token (the bearer token "
                                  "the API then requires) or listen on 127.0.0.1",
                                  api.listen)});
  }
}

}  // namespace

std::string ConfigError::str() const {
  if (line == 0) return fmt::format("{}: {}", source, message);
  return fmt::format("{}:{}: {}", source, line, message);
}

void applyToml(Config& cfg, std::string_view text, std::string_view sourceName,
               std::vector<ConfigError>& errors) {
  toml::table doc;
  try {
    doc = toml::parse(text, sourceName);
  } catch (const toml::parse_error& e) {
    errors.push_back({std::string(sourceName), e.source().begin.line, std::string(e.description())});
    return;
  }
  const size_t first = errors.size();
  applyNode(cfg, "", doc, sourceName, errors);
  // Tables iterate in key order; report in file order.
  std::stable_sort(errors.begin() + static_cast<std::ptrdiff_t>(first), errors.end(),
                   [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
}

void applySet(Config& cfg, std::string_view assignment, std::vector<ConfigError>& errors) {
  auto eq = assignment.find('=');
  if (eq == std::string_view::npos) {
    errors.push_back({"--set", 0, fmt::format("'{}' is not key=value", assignment)});
    return;
  }
  auto name = assignment.substr(0, eq);
  std::string_view mapKey;
  if (auto* map = mapFor(cfg, name, mapKey)) {
    const auto value = assignment.substr(eq + 1);
    if (map == &cfg.conference.rooms && !parseRoomSpec(value)) {
      errors.push_back({"--set", 0, fmt::format("{}: expected a room spec \"[PIN][/MAX]\"", name)});
      return;
    }
    if (map == &cfg.sip.presence.lists && !parseBuddyList(value)) {
      errors.push_back({"--set", 0, fmt::format("{}: expected a comma-separated list of user names", name)});
      return;
    }
    (*map)[std::string(mapKey)] = std::string(value);
    return;
  }
  const KeyDef* key = findKey(name);
  if (key == nullptr) {
    errors.push_back({"--set", 0, fmt::format("unknown key '{}'", name)});
    return;
  }
  auto problem = setFromText(cfg, *key, assignment.substr(eq + 1));
  if (!problem.empty()) errors.push_back({"--set", 0, problem});
}

void validate(const Config& cfg, std::vector<ConfigError>& errors) {
  auto err = [&](std::string m) { errors.push_back({"config", 0, std::move(m)}); };
  if (cfg.relay.portMin >= cfg.relay.portMax) {
    err(fmt::format("relay.port_min ({}) must be below relay.port_max ({})", cfg.relay.portMin,
                    cfg.relay.portMax));
  } else if (cfg.relay.portMax - (cfg.relay.portMin + (cfg.relay.portMin & 1U)) < 3) {
    err("relay port range must hold at least two RTP/RTCP pairs");
  }
  if (cfg.sip.presence.minExpires > cfg.sip.presence.maxExpires) {
    err(fmt::format("presence.min_expires ({}) must not exceed presence.max_expires ({})",
                    cfg.sip.presence.minExpires, cfg.sip.presence.maxExpires));
  }
  if (!isAddress(cfg.relay.interface)) err(fmt::format("relay.interface '{}' is not an IP address", cfg.relay.interface));
  if (!cfg.relay.advertise.empty() && !isAddress(cfg.relay.advertise)) {
    err(fmt::format("relay.advertise '{}' is not an IP address", cfg.relay.advertise));
  }
  if (!isHostPort(cfg.ng.listen)) err(fmt::format("ng.listen '{}' is not host:port", cfg.ng.listen));
  if (!cfg.metrics.listen.empty() && !isHostPort(cfg.metrics.listen)) {
    err(fmt::format("metrics.listen '{}' is not host:port", cfg.metrics.listen));
  }
  if (!cfg.turn.listen.empty() && !isHostPort(cfg.turn.listen)) {
    err(fmt::format("turn.listen '{}' is not host:port", cfg.turn.listen));
  }
  if (!cfg.turn.tlsListen.empty() && !isHostPort(cfg.turn.tlsListen)) {
    err(fmt::format("turn.tls_listen '{}' is not host:port", cfg.turn.tlsListen));
  }
  if (cfg.turn.tlsCert.empty() != cfg.turn.tlsKey.empty()) err("turn.tls_cert and turn.tls_key go together");
  if (!cfg.turn.relayAddress.empty() && !isAddress(cfg.turn.relayAddress)) {
    err(fmt::format("turn.relay_address '{}' is not an IP address", cfg.turn.relayAddress));
  }
  if (!cfg.turn.relayAdvertise.empty() && !isAddress(cfg.turn.relayAdvertise)) {
    err(fmt::format("turn.relay_advertise '{}' is not an IP address", cfg.turn.relayAdvertise));
  }
  if (cfg.turn.portMin > cfg.turn.portMax) err("turn.port_min is above turn.port_max");
  if (const uint32_t slots = cfg.conference.tickSlots; slots == 0 || 20 % slots != 0) {
    err(fmt::format("conference.tick_slots ({}) must divide the 20 ms period: 1, 2, 4, 5, 10 or 20", slots));
  }
  if (const uint32_t high = cfg.conference.adaptiveHighPercent; high != 0 && high < 10) {
    err(fmt::format("conference.adaptive_high_percent ({}) must be 0 (automatic) or at least 10", high));
  }
  if (cfg.conference.adaptiveLow() >= cfg.conference.adaptiveHigh()) {
    err(fmt::format("conference.adaptive_low_percent ({}) must be below conference.adaptive_high_percent ({})",
                    cfg.conference.adaptiveLow(), cfg.conference.adaptiveHigh()));
  }
  if (!cfg.sip.listen.empty() && !isHostPort(cfg.sip.listen)) {
    err(fmt::format("sip.listen '{}' is not host:port", cfg.sip.listen));
  }
  if (!cfg.sip.tlsListen.empty()) {
    if (!isHostPort(cfg.sip.tlsListen)) err(fmt::format("sip.tls_listen '{}' is not host:port", cfg.sip.tlsListen));
    if (cfg.sip.listen.empty()) err("sip.tls_listen needs sip.listen (SIP is disabled)");
    if (cfg.sip.tlsCert.empty()) err("sip.tls_listen is set but sip.tls_cert (PEM certificate file) is empty");
    if (cfg.sip.tlsKey.empty()) err("sip.tls_listen is set but sip.tls_key (PEM private key file) is empty");
  }
  if (!cfg.sip.wsListen.empty()) {
    if (!isHostPort(cfg.sip.wsListen)) err(fmt::format("sip.ws_listen '{}' is not host:port", cfg.sip.wsListen));
    if (cfg.sip.listen.empty()) err("sip.ws_listen needs sip.listen (SIP is disabled)");
  }
  if (!cfg.sip.wssListen.empty()) {
    if (!isHostPort(cfg.sip.wssListen)) err(fmt::format("sip.wss_listen '{}' is not host:port", cfg.sip.wssListen));
    if (cfg.sip.listen.empty()) err("sip.wss_listen needs sip.listen (SIP is disabled)");
    if (cfg.sip.tlsCert.empty() || cfg.sip.tlsKey.empty()) {
      err("sip.wss_listen is set but sip.tls_cert or sip.tls_key (PEM files) is empty");
    }
  }
  {
    std::string_view list = cfg.sip.authAlgorithms;
    bool ok = !list.empty();
    while (ok && !list.empty()) {
      auto comma = list.find(',');
      auto item = list.substr(0, comma);
      ok = item == "SHA-256" || item == "MD5";
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    if (!ok) err(fmt::format("sip.auth_algorithms '{}' must list SHA-256 and/or MD5, comma-separated", cfg.sip.authAlgorithms));
  }
  if (cfg.sip.minExpires > cfg.sip.maxExpires) err("sip.min_expires must not exceed sip.max_expires");
  if (cfg.sip.forking != "parallel" && cfg.sip.forking != "sequential") {
    err(fmt::format("sip.forking '{}' is not one of parallel, sequential", cfg.sip.forking));
  }
  auto encryptPolicy = [&](std::string_view key, const std::string& value) {
    if (value != "passthrough" && value != "offer" && value != "require" && value != "never") {
      err(fmt::format("{} '{}' is not one of passthrough, offer, require, never", key, value));
    }
  };
  encryptPolicy("media.encrypt_caller", cfg.sip.media.encryptCaller);
  encryptPolicy("media.encrypt_callee", cfg.sip.media.encryptCallee);
  if (cfg.sip.media.dtlsCertificate.empty() != cfg.sip.media.dtlsPrivateKey.empty()) {
    err("media.dtls_certificate and media.dtls_private_key go together");
  }
  validateApi(cfg.api, errors);
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  bool levelOk = false;
  for (auto l : kLevels) levelOk = levelOk || l == cfg.log.level;
  if (!levelOk) err(fmt::format("log.level '{}' is not one of trace, debug, info, warn, error, off", cfg.log.level));
}

Config load(const ConfigSource& source, std::vector<ConfigError>& errors) {
  Config cfg;
  if (!source.path.empty()) {
    std::ifstream in(source.path);
    if (!in) {
      errors.push_back({source.path, 0, "cannot open"});
      return cfg;
    }
    std::stringstream text;
    text << in.rdbuf();
    applyToml(cfg, text.str(), source.path, errors);
  }
  for (const auto& s : source.sets) applySet(cfg, s, errors);
  validate(cfg, errors);  // all problems at once, file ones first
  return cfg;
}

std::string describeKeys() {
  Config defaults;
  std::string out = "Configuration keys (set in the TOML file or with --set key=value):\n";
  for (const auto& k : allKeys()) {
    out += fmt::format("  {:<26} default {:<18} {}\n", k.name, formatValue(k, defaults), k.doc);
  }
  out += fmt::format("  {:<26} {:<26} {}\n", "sip.users.<name>", "", "password of SIP user <name> (repeatable)");
  out += fmt::format("  {:<26} {:<26} {}\n", "conference.rooms.<name>", "",
                    "declared room: \"[PIN][/MAX]\" (repeatable)");
  out += fmt::format("  {:<26} {:<26} {}\n", "presence.lists.<user>", "",
                     "who may watch <user>'s presence: \"bob,carol\" (repeatable)");
  return out;
}

}  // namespace rdv::config
