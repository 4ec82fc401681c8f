#include "app/TcpRelayApi.h"

#include <charconv>

#include "relay/TcpRelay.h"

namespace rdv::app {
namespace {

using api::ApiReply;
using nlohmann::json;

std::optional<uint64_t> parseId(const std::string& s) {
  uint64_t id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || p != s.data() + s.size() || id == 0) return std::nullopt;
  return id;
}

json endpointJson(const std::string& ip, uint16_t port) {
  return {{"ip", ip}, {"port", port}};
}

json pairJson(const relay::TcpPairStatus& st, const std::string& advertise, uint64_t nowNs) {
  const relay::TcpPairState state = st.state.load(std::memory_order_acquire);
  json j = {{"id", std::to_string(st.id)},
            {"state", relay::toString(state)},
            {"age_seconds", static_cast<double>(nowNs - st.createdNs) / 1e9},
            {"idle_timeout", st.idleTimeoutS},
            {"bytes", {{"a_to_b", st.bytes[0].get()}, {"b_to_a", st.bytes[1].get()}}}};
  for (int s = 0; s < 2; ++s) {
    json side = endpointJson(advertise, st.local[s].port());
    side["allowed"] = st.allowed[s] ? json(st.allowed[s]->ip()) : json(nullptr);
    side["connected"] =
        st.connected[s].load(std::memory_order_acquire) ? json(st.peer[s].str()) : json(nullptr);
    side["eof"] = st.eof[s].load(std::memory_order_acquire);
    j[s == 0 ? "a" : "b"] = std::move(side);
  }
  if (relay::terminal(state)) j["ended_seconds_ago"] = static_cast<double>(nowNs - st.endedNs.get()) / 1e9;
  return j;
}

}  // namespace

void TcpRelayApi::addRoutes(api::ApiServer& api) {
  using api::Access;
  using api::Method;
  using Req = const api::ApiRequest&;
  api.route(Method::Post, "/api/v1/tcp-relays", Access::Token, [this](Req req) { return create(req); });
  api.route(Method::Get, "/api/v1/tcp-relays", Access::Token, [this](Req) {
    json pairs = json::array();
    const uint64_t now = relay_.nowNs();
    for (const auto& st : relay_.list()) pairs.push_back(pairJson(*st, relay_.advertise(), now));
    const size_t n = pairs.size();
    return ApiReply::ok({{"tcp_relays", std::move(pairs)}, {"count", n}, {"live", relay_.live()}});
  });
  api.route(Method::Get, "/api/v1/tcp-relays/{id}", Access::Token, [this](Req req) {
    auto id = parseId(req.params.at("id"));
    auto st = id ? relay_.find(*id) : nullptr;
    if (!st) return ApiReply::error(404, "no such TCP relay pair");
    return ApiReply::ok(pairJson(*st, relay_.advertise(), relay_.nowNs()));
  });
  api.route(Method::Delete, "/api/v1/tcp-relays/{id}", Access::Token, [this](Req req) {
    auto id = parseId(req.params.at("id"));
    auto st = id ? relay_.find(*id) : nullptr;
    if (!st || !relay_.remove(*id)) return ApiReply::error(404, "no such TCP relay pair");
    return ApiReply::ok({{"id", std::to_string(*id)},
                         {"deleted", true},
                         {"bytes", {{"a_to_b", st->bytes[0].get()}, {"b_to_a", st->bytes[1].get()}}}});
  });
}

ApiReply TcpRelayApi::create(const api::ApiRequest& req) {
  const json& b = req.body;
  constexpr const char* kShape =
      "body must be {\"peers\": [{\"ip\": ...}, {\"ip\": ...}], \"idle_timeout\": seconds} (all optional)";
  if (!b.is_null() && !b.is_object()) return ApiReply::error(400, kShape);
  relay::TcpPairRequest pr;
  if (b.is_object() && b.contains("peers")) {
    const json& peers = b["peers"];
    if (!peers.is_array() || peers.size() != 2)
      return ApiReply::error(400, "peers must be an array of two objects");
    for (size_t i = 0; i < 2; ++i) {
      const json& p = peers[i];
      if (!p.is_object()) return ApiReply::error(400, "peers must be an array of two objects");
      if (!p.contains("ip") || p["ip"].is_null()) continue;  // any source
      if (!p["ip"].is_string()) return ApiReply::error(400, "peers[].ip must be an IP address string");
      pr.peers[i] = common::SockAddr::fromIp(p["ip"].get<std::string>(), 0);
      if (!pr.peers[i]) return ApiReply::error(400, "peers[].ip is not an IP address");
    }
  }
  if (b.is_object() && b.contains("idle_timeout")) {
    const json& t = b["idle_timeout"];
    if (!t.is_number_unsigned() || t.get<uint64_t>() == 0 || t.get<uint64_t>() > 0xFFFFFFFFULL) {
      return ApiReply::error(400, "idle_timeout must be a positive number of seconds");
    }
    pr.idleTimeoutS = t.get<uint32_t>();
  }
  auto r = relay_.create(pr);
  if (!r) {
    const int status = r.error().code == relay::TcpRelayErrorCode::BadRequest ? 400 : 503;
    return ApiReply::error(status, r.error().reason, {{"code", relay::toString(r.error().code)}});
  }
  const relay::TcpPairStatus& st = **r;
  ApiReply out = ApiReply::ok({{"id", std::to_string(st.id)},
                               {"a", endpointJson(relay_.advertise(), st.local[0].port())},
                               {"b", endpointJson(relay_.advertise(), st.local[1].port())},
                               {"idle_timeout", st.idleTimeoutS}});
  out.status = 201;
  return out;
}

}  // namespace rdv::app
