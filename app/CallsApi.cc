#include "app/CallsApi.h"

#include <memory>
#include <vector>

#include <spdlog/spdlog.h>

#include "app/Metrics.h"
#include "app/cdr/CdrLine.h"
#include "relay/RelayControl.h"
#include "signaling/anchor/MediaAnchor.h"
#include "signaling/b2bua/B2bua.h"

namespace rdv::app {
namespace {

using api::ApiReply;
using nlohmann::json;

// One call as the API shows it: the B2BUA's half when it is a SIP call, the relay's legs.
json callJson(const anchor::CallInfo& info, b2bua::B2bua* b2bua) {
  json j = {{"id", info.callId}, {"from_tag", info.fromTag}, {"to_tag", info.toTag}};
  std::optional<b2bua::B2bua::CallSummary> sip = b2bua != nullptr ? b2bua->summary(info.callId) : std::nullopt;
  if (sip) {
    j["source"] = "sip";
    j["caller"] = sip->caller;
    j["callee"] = sip->callee;
    j["state"] = sip->state;
    j["start"] = cdr::rfc3339(sip->startUnixMs);
    j["answer"] = sip->answerUnixMs == 0 ? json(nullptr) : json(cdr::rfc3339(sip->answerUnixMs));
    j["branches"] = sip->branches;
  } else {
    j["source"] = "ng";
    j["state"] = info.toTag.empty() ? "offered" : "answered";
    j["start"] = cdr::rfc3339(info.createdUnix * 1000);
  }
  json legs = json::array();
  for (size_t s = 0; s < info.report.streams.size(); ++s) {
    for (int side = 0; side < 2; ++side) {
      json leg = cdr::legJson(info.report.streams[s][side], s, side);
      // The dashboard reads one number per leg: the average MOS.
      leg["mos_avg"] = leg["mos"].is_null() ? json(nullptr) : leg["mos"]["avg"];
      legs.push_back(std::move(leg));
    }
  }
  j["legs"] = std::move(legs);
  return j;
}

}  // namespace

void CallsApi::addRoutes(api::ApiServer& api) {
  using api::Access;
  using api::Method;
  api.routeAsync(Method::Get, "/api/v1/calls", Access::Token,
                 [this](const api::ApiRequest&, api::ApiServer::Done done) { list(std::move(done)); });
  api.routeAsync(Method::Get, "/api/v1/calls/{id}", Access::Token,
                 [this](const api::ApiRequest& req, api::ApiServer::Done done) {
                   one(req.params.at("id"), std::move(done));
                 });
  api.routeAsync(Method::Delete, "/api/v1/calls/{id}", Access::Token,
                 [this](const api::ApiRequest& req, api::ApiServer::Done done) {
                   ApiReply r = hangUp(req.params.at("id"), done);
                   if (done) done(std::move(r));
                 });
  api.route(Method::Get, "/api/v1/stats", Access::Token, [this](const api::ApiRequest&) { return stats(); });
  // The page carries no data itself (it fetches the routes above with the token it is given), so
  // it is public like /health.
  api.page("/", Access::Public, "text/html; charset=utf-8", kDashboardHtml);
  // The web phone: a SIP user agent in the browser (over sip.wss_listen) that asks the user for the
  // credentials; public for the same reason.
  api.page("/phone", Access::Public, "text/html; charset=utf-8", kPhoneHtml);
}

// Queries every call's relay session (the workers answer through the control loop) and replies
// when the last answer is in.
void CallsApi::list(api::ApiServer::Done done) {
  std::vector<std::string> ids = anchor_.list(kMaxListed);
  if (ids.empty()) {
    done(ApiReply::ok({{"calls", json::array()}, {"count", 0}}));
    return;
  }
  struct Gather {
    size_t waiting;
    json calls = json::array();
    api::ApiServer::Done done;
  };
  auto g = std::make_shared<Gather>(Gather{ids.size(), json::array(), std::move(done)});
  for (const std::string& id : ids) {
    anchor_.query(id, [this, g](Expected<anchor::CallInfo, anchor::AnchorError> info) {
      if (info) g->calls.push_back(callJson(*info, b2bua_));  // a call that ended meanwhile is left out
      if (--g->waiting == 0) {
        const size_t n = g->calls.size();
        g->done(ApiReply::ok({{"calls", std::move(g->calls)}, {"count", n}}));
      }
    });
  }
}

void CallsApi::one(const std::string& id, api::ApiServer::Done done) {
  anchor_.query(id, [this, id, done = std::move(done)](Expected<anchor::CallInfo, anchor::AnchorError> info) {
    if (!info) {
      done(ApiReply::error(404, "no such call: " + id));
      return;
    }
    done(ApiReply::ok(callJson(*info, b2bua_)));
  });
}

// A SIP call is hung up by the B2BUA; an NG session is deleted like an NG `delete`, answering
// when the relay confirmed. Returns the reply when known now (then `done` is still to be called by
// the caller), or moves `done` into the pending delete.
ApiReply CallsApi::hangUp(const std::string& id, api::ApiServer::Done& done) {
  if (b2bua_ != nullptr && b2bua_->hangUpCall(id)) {
    spdlog::info("call={} hung up through the operator API", id);
    return ApiReply::ok({{"hung_up", id}});
  }
  if (!anchor_.query(id)) return ApiReply::error(404, "no such call: " + id);
  anchor_.remove(anchor::DeleteRequest{id, {}, {}, {}},
                 [id, done = std::move(done)](Expected<anchor::DeleteOutcome, anchor::AnchorError> r) {
                   if (!r) {
                     done(ApiReply::error(404, r.error().reason));
                     return;
                   }
                   spdlog::info("call={} relay session deleted through the operator API", id);
                   done(ApiReply::ok({{"deleted", id}}));
                 });
  done = nullptr;
  return {};
}

ApiReply CallsApi::stats() const {
  const RelayTotals t = relayTotals(relay_);
  json drops = json::object();
  for (size_t r = 0; r < t.drops.size(); ++r) {
    drops[relay::toString(static_cast<relay::DropReason>(r))] = t.drops[r];
  }
  const auto& cc = relay_.counters();
  return ApiReply::ok({{"calls", b2bua_ != nullptr ? b2bua_->activeCalls() : 0},
                       {"sessions", cc.sessionsCreated.get() - cc.sessionsEnded.get()},
                       {"packets", t.packets},
                       {"bytes", t.bytes},
                       {"drops", std::move(drops)},
                       {"worker_busy_seconds", t.busySeconds},
                       {"workers", relay_.workers().size()},
                       {"draining", draining_ ? draining_() : false}});
}

}  // namespace rdv::app
