// Operator: the drain state lives here and is pushed to the two places that admit new calls (the
// B2BUA's Admission and the NG handler); reload compares the new configuration with the running
// one key by key and applies what it can.

#include "app/Operator.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "config/ConfigKeys.h"
#include "relay/RelayControl.h"
#include "signaling/anchor/MediaAnchor.h"
#include "signaling/b2bua/B2bua.h"
#include "signaling/ng/NgHandler.h"
#include "signaling/sip/SipTransport.h"

namespace rdv::app {
namespace {

using api::ApiReply;
using nlohmann::json;

// Keys a reload applies to the running server; every other changed key needs a restart.
struct LiveKey {
  std::string_view name;
  void (*apply)(config::Config& running, const config::Config& next);
};

const std::array kLiveKeys{
    LiveKey{"log.level",
            [](config::Config& running, const config::Config& next) {
              running.log.level = next.log.level;
              spdlog::default_logger()->set_level(spdlog::level::from_str(next.log.level));
            }},
};

// `key`'s value from `next` into `running` (a key some plane has applied).
void copyKey(config::Config& running, config::Config& next, std::string_view key) {
  if (key == "sip.users") {
    running.sip.users = next.sip.users;
    return;
  }
  const config::KeyDef* def = config::findKey(key);
  if (def == nullptr) return;
  if (def->type == config::KeyType::String) {
    def->str(running) = def->str(next);
  } else {
    def->num(running) = def->num(next);
  }
}

const LiveKey* liveKey(std::string_view name) {
  auto it = std::find_if(kLiveKeys.begin(), kLiveKeys.end(), [&](const LiveKey& k) { return k.name == name; });
  return it == kLiveKeys.end() ? nullptr : &*it;
}

}  // namespace

Operator::Operator(config::Config& running, config::ConfigSource source, Planes planes)
    : running_(running), source_(std::move(source)), planes_(planes) {}

size_t Operator::activeCalls() const {
  return std::max(planes_.anchor.calls(), planes_.b2bua != nullptr ? planes_.b2bua->activeCalls() : 0);
}

bool Operator::exitDue() const {
  if (!draining_ || !exitWhenIdle_ || activeCalls() != 0) return false;
  if (planes_.relay.pendingReplies() != 0) return false;
  return planes_.b2bua == nullptr || planes_.b2bua->pendingRequests() == 0;
}

void Operator::addRoutes(api::ApiServer& api) {
  using api::Access;
  using api::Method;
  // Answered by the control thread, so "alive" means the control loop turns.
  api.route(Method::Get, "/health", Access::Public, [](const api::ApiRequest&) {
    return ApiReply::ok({{"status", "ok"}});
  });
  api.route(Method::Get, "/ready", Access::Public, [this](const api::ApiRequest&) { return ready(); });
  api.route(Method::Post, "/api/v1/drain", Access::Token, [this](const api::ApiRequest& req) {
    auto exit = req.flag("exit_when_idle", false);
    if (!exit) return ApiReply::error(400, exit.error());
    return drain(*exit);
  });
  api.route(Method::Post, "/api/v1/undrain", Access::Token, [this](const api::ApiRequest&) { return undrain(); });
  api.route(Method::Post, "/api/v1/reload", Access::Token, [this](const api::ApiRequest&) { return reload("API"); });
}

ApiReply Operator::ready() const {
  std::string_view reason;
  if (draining_) {
    reason = "draining";
  } else if (planes_.relay.portPairsFree() < 2) {
    reason = "no free relay ports";  // a call needs a port pair per leg
  } else if (planes_.relay.activeSessions() >= planes_.relay.sessionCapacity()) {
    reason = "relay at its session capacity";
  }
  if (reason.empty()) return ApiReply::ok({{"ready", true}});
  return ApiReply{503, {{"ready", false}, {"reason", reason}}, {}};
}

ApiReply Operator::drain(bool exitWhenIdle) {
  draining_ = true;
  exitWhenIdle_ = exitWhenIdle;
  planes_.ng.setDraining(true);
  if (planes_.b2bua != nullptr) planes_.b2bua->setDraining(true);
  spdlog::info("drain: new calls refused, {} active call(s) go on{}", activeCalls(),
               exitWhenIdle ? "; exiting when the last one ends" : "");
  return ApiReply::ok({{"draining", true}, {"exit_when_idle", exitWhenIdle}, {"active_calls", activeCalls()}});
}

ApiReply Operator::undrain() {
  draining_ = false;
  exitWhenIdle_ = false;
  planes_.ng.setDraining(false);
  if (planes_.b2bua != nullptr) planes_.b2bua->setDraining(false);
  spdlog::info("undrain: accepting new calls ({} active)", activeCalls());
  return ApiReply::ok({{"draining", false}, {"active_calls", activeCalls()}});
}

ApiReply Operator::reload(std::string_view trigger) {
  if (source_.path.empty()) {
    spdlog::warn("config reload ({}): no configuration file was given (--config), nothing to re-read", trigger);
    return ApiReply::error(409, "no configuration file was given on the command line (--config)");
  }
  std::vector<config::ConfigError> errors;
  config::Config next = config::load(source_, errors);
  if (!errors.empty()) {
    json list = json::array();
    for (const auto& e : errors) {
      spdlog::error("config reload ({}) refused: {}", trigger, e.str());
      list.push_back(e.str());
    }
    return ApiReply::error(400, "configuration refused; the running configuration stays", {{"errors", list}});
  }
  std::vector<std::string> applied;
  std::vector<std::string> restart;
  std::vector<std::string> failed;
  std::vector<std::string> changed = config::changedKeys(running_, next);
  const std::string tls = reloadTlsCertificate(next, changed, applied, failed);
  bool sipChanged = false;
  for (const std::string& key : changed) {
    if (const LiveKey* live = liveKey(key)) {
      live->apply(running_, next);
      applied.push_back(key);
    } else if (planes_.b2bua != nullptr && planes_.b2bua->canApplyLive(key, next.sip)) {
      // The B2BUA takes the sip.* keys it can change while calls run (users, limits, timeouts...).
      copyKey(running_, next, key);
      applied.push_back(key);
      sipChanged = true;
    } else {
      restart.push_back(key);
    }
  }
  if (sipChanged) planes_.b2bua->applyLive(running_.sip);
  // After applying, so the line obeys the new log level; warn when the operator has to act.
  spdlog::log(restart.empty() && failed.empty() ? spdlog::level::info : spdlog::level::warn,
              "config reload ({}) from {}: applied [{}]; restart required for [{}]{}{}", trigger, source_.path,
              fmt::join(applied, ", "), fmt::join(restart, ", "), failed.empty() ? "" : "; failed ",
              failed.empty() ? "" : fmt::format("[{}]", fmt::join(failed, ", ")));
  json body{{"file", source_.path}, {"applied", applied}, {"restart_required", restart}, {"failed", failed}};
  if (!tls.empty()) body["tls_certificate"] = tls;
  return ApiReply::ok(std::move(body));
}

std::string Operator::reloadTlsCertificate(config::Config& next, std::vector<std::string>& changed,
                                           std::vector<std::string>& applied, std::vector<std::string>& failed) {
  // A new or moved listener needs a restart; then the certificate keys wait for it too.
  if (planes_.sip == nullptr || running_.sip.tlsListen.empty() || next.sip.tlsListen != running_.sip.tlsListen) {
    return "";
  }
  const auto r = planes_.sip->reloadTlsCertificate(next.sip.tlsCert, next.sip.tlsKey);
  if (r) {
    spdlog::info("SIP TLS certificate reloaded from {} (key {})", next.sip.tlsCert, next.sip.tlsKey);
  } else {
    spdlog::error("SIP TLS certificate reload failed, the old one stays served: {}", r.error());
  }
  for (std::string_view key : {"sip.tls_cert", "sip.tls_key"}) {
    auto it = std::find(changed.begin(), changed.end(), key);
    if (it == changed.end()) continue;
    changed.erase(it);
    if (r) {
      copyKey(running_, next, key);
      applied.emplace_back(key);
    } else {
      failed.emplace_back(key);
    }
  }
  return r ? "reloaded" : r.error();
}

}  // namespace rdv::app
