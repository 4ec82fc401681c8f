#pragma once
// The operator's controls over a running server, shared by the HTTP API and SIGHUP: liveness,
// readiness, drain/undrain (new calls refused with SIP 503 and NG "Parallel session limit
// reached", calls already up go on, optionally exit when the last one ends) and configuration
// reload (a bad file changes nothing; keys that cannot change live are reported, not pretended).
// Control thread only: API routes reach it through the ControlQueue.

#include <string>
#include <string_view>
#include <vector>

#include "app/api/ApiServer.h"
#include "config/Config.h"
#include "config/ConfigLoader.h"

namespace rdv::relay {
class RelayControl;
}
namespace rdv::anchor {
class MediaAnchor;
}
namespace rdv::ng {
class NgHandler;
}
namespace rdv::b2bua {
class B2bua;
}
namespace rdv::sip {
class SipTransport;
}

namespace rdv::app {

class Operator {
 public:
  struct Planes {
    relay::RelayControl& relay;
    anchor::MediaAnchor& anchor;
    ng::NgHandler& ng;
    b2bua::B2bua* b2bua;     // null when SIP is off
    sip::SipTransport* sip;  // null when SIP is off
  };

  // `running` is the configuration in effect; reload() changes only the keys it applies live.
  Operator(config::Config& running, config::ConfigSource source, Planes planes);

  // GET /health, GET /ready, POST /api/v1/drain, /undrain, /reload.
  void addRoutes(api::ApiServer& api);

  // 200 {"ready": true}, or 503 {"ready": false, "reason": ...} while draining or when the relay
  // cannot take another call.
  api::ApiReply ready() const;
  api::ApiReply drain(bool exitWhenIdle);
  api::ApiReply undrain();
  // Builds the configuration again from its source; `trigger` ("SIGHUP", "API") is for the log.
  // 200 {"applied": [...], "restart_required": [...], "failed": [...]}, 400 {"error", "errors":
  // ["file:line: ..."]} (nothing changed), 409 when no file was given on the command line.
  // While SIP over TLS listens (and sip.tls_listen is unchanged) every reload reads the certificate
  // and key files again, so a renewed certificate written over the old files is picked up:
  // "tls_certificate" is "reloaded" or the error. On an error the old certificate stays served,
  // a changed sip.tls_cert / sip.tls_key is listed under "failed" (the running configuration
  // keeps the old names) and the other keys are applied as usual.
  api::ApiReply reload(std::string_view trigger);

  // A drain asked to exit when idle, no call is left and nothing is still to be answered (the NG
  // reply to the last delete comes from the relay worker's report; SIP client transactions): the
  // control loop should return.
  bool exitDue() const;
  bool draining() const { return draining_; }
  size_t activeCalls() const;

 private:
  // The TLS certificate part of reload(): the outcome for "tls_certificate" ("" when it was not
  // reloaded); the changed sip.tls_cert / sip.tls_key leave `changed` for `applied` or `failed`.
  std::string reloadTlsCertificate(config::Config& next, std::vector<std::string>& changed,
                                   std::vector<std::string>& applied, std::vector<std::string>& failed);

  config::Config& running_;
  config::ConfigSource source_;
  Planes planes_;
  bool draining_ = false;
  bool exitWhenIdle_ = false;
};

}  // namespace rdv::app
