#pragma once
// The operator API's view of live calls and of the relay, and the status page:
//   GET    /api/v1/calls        every live call (SIP calls of the B2BUA and NG-driven sessions):
//                               parties, start, state, and per leg codec, packets, loss, jitter,
//                               RTT, MOS (min/avg/max), latched address - read from the relay
//                               workers, so the reply waits for them (bounded by the API timeout)
//   GET    /api/v1/calls/{id}   one of them (404 when unknown)
//   DELETE /api/v1/calls/{id}   hang it up: BYE on both legs of a SIP call (CANCEL when ringing),
//                               the relay session of an NG call deleted
//   GET    /api/v1/stats        totals for the status page: calls, sessions, packets, drops by
//                               reason, worker busy time, draining
//   GET    /                    the status page (app/api/dashboard.html, built into the binary)
//   GET    /phone               the web phone (app/api/phone.html, built into the binary)
// Control thread only (the handlers run there through the ControlQueue).

#include <functional>

#include "app/api/ApiServer.h"

namespace rdv::relay {
class RelayControl;
}
namespace rdv::anchor {
class MediaAnchor;
}
namespace rdv::b2bua {
class B2bua;
}

namespace rdv::app {

class CallsApi {
 public:
  // `b2bua` is null when SIP is off; `draining` tells whether new calls are refused.
  CallsApi(relay::RelayControl& relay, anchor::MediaAnchor& anchor, b2bua::B2bua* b2bua,
           std::function<bool()> draining)
      : relay_(relay), anchor_(anchor), b2bua_(b2bua), draining_(std::move(draining)) {}

  void addRoutes(api::ApiServer& api);

  static constexpr size_t kMaxListed = 1000;  // GET /api/v1/calls lists at most this many

 private:
  void list(api::ApiServer::Done done);
  void one(const std::string& id, api::ApiServer::Done done);
  api::ApiReply hangUp(const std::string& id, api::ApiServer::Done& done);
  api::ApiReply stats() const;

  relay::RelayControl& relay_;
  anchor::MediaAnchor& anchor_;
  b2bua::B2bua* b2bua_;
  std::function<bool()> draining_;
};

// The status page's HTML (generated from app/api/dashboard.html at build time).
extern const char* const kDashboardHtml;
// The web phone's HTML (generated from app/api/phone.html at build time).
extern const char* const kPhoneHtml;

}  // namespace rdv::app
