#include "app/ConferenceApi.h"

#include <charconv>

#include "app/cdr/CdrLine.h"
#include "mixer/ConferenceControl.h"

namespace rdv::app {
namespace {

using api::ApiReply;
using nlohmann::json;

std::optional<media::CodecId> codecByName(const std::string& name) {
  for (auto c : {media::CodecId::Opus, media::CodecId::G722, media::CodecId::Pcmu, media::CodecId::Pcma}) {
    if (media::codecInfo(c).name == name) return c;
  }
  return std::nullopt;
}

std::optional<mixer::ParticipantId> parseId(const std::string& s) {
  mixer::ParticipantId id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || p != s.data() + s.size() || id == 0) return std::nullopt;
  return id;
}

json roomJson(const mixer::RoomInfo& r) {
  return {{"name", r.name},
          {"participants", r.members.size()},
          {"locked", r.locked},
          {"declared", r.declared},
          {"pin", r.hasPin},
          {"max_participants", r.maxParticipants},
          {"created", cdr::rfc3339(r.createdUnixMs)}};
}

json memberJson(const mixer::MemberInfo& m, const mixer::ParticipantReport* live) {
  json j = {{"id", std::to_string(m.id)},
            {"label", m.label},
            {"codec", media::codecInfo(m.codec).name},
            {"rtp", {{"port", m.port}, {"advertised", m.advertised.valid() ? json(m.advertised.str()) : json(nullptr)}}},
            {"joined", cdr::rfc3339(m.joinedUnixMs)},
            {"muted", m.muted},
            {"deaf", m.deaf},
            {"pin_pending", m.pinPending},
            {"talking", m.talking}};
  if (live != nullptr) {
    const auto& jb = live->jitterBuffer;
    const uint64_t expected = jb.pushed + jb.lost;
    j["talking"] = live->talking;
    j["packets"] = live->stats.packets;
    j["packets_sent"] = live->stats.sent;
    j["loss"] = expected == 0 ? 0.0 : static_cast<double>(jb.lost - jb.inserted) / static_cast<double>(expected);
    j["jitter_ms"] = live->jitterMs;
    j["jitter_buffer"] = {{"depth_ms", live->jitterBufferDepthMs},
                          {"target_ms", live->jitterBufferTargetMs},
                          {"late", jb.late},
                          {"duplicates", jb.duplicates},
                          {"concealed", live->stats.concealed}};
    j["wrong_payload_type"] = live->stats.wrongPayloadType;
    j["decode_errors"] = live->stats.decodeErrors;
    j["gain_db"] = live->gainDb;
  }
  return j;
}

ApiReply opReply(mixer::OpResult r, json ok) {
  switch (r) {
    case mixer::OpResult::Ok: return ApiReply::ok(std::move(ok));
    case mixer::OpResult::UnknownRoom: return ApiReply::error(404, "no such conference");
    case mixer::OpResult::UnknownParticipant: break;
  }
  return ApiReply::error(404, "no such participant in this conference");
}

}  // namespace

void ConferenceApi::addRoutes(api::ApiServer& api) {
  using api::Access;
  using api::Method;
  using Req = const api::ApiRequest&;
  api.route(Method::Get, "/api/v1/conferences", Access::Token, [this](Req) {
    json rooms = json::array();
    for (const auto& r : conferences_.rooms()) rooms.push_back(roomJson(r));
    const size_t n = rooms.size();
    return ApiReply::ok({{"conferences", std::move(rooms)}, {"count", n}});
  });
  api.routeAsync(Method::Get, "/api/v1/conferences/{room}", Access::Token,
                 [this](Req req, api::ApiServer::Done done) { show(req.params.at("room"), std::move(done)); });
  api.route(Method::Delete, "/api/v1/conferences/{room}", Access::Token, [this](Req req) {
    const std::string& room = req.params.at("room");
    const mixer::RoomInfo* info = conferences_.room(room);
    const size_t n = info != nullptr ? info->members.size() : 0;
    return opReply(conferences_.closeRoom(room), {{"closed", room}, {"participants", n}});
  });
  for (const char* action : {"lock", "unlock"}) {
    api.route(Method::Post, std::string("/api/v1/conferences/{room}/") + action, Access::Token,
              [this, lock = std::string(action) == "lock"](Req req) {
                return opReply(conferences_.setLocked(req.params.at("room"), lock), {{"locked", lock}});
              });
  }
  api.route(Method::Post, "/api/v1/conferences/{room}/participants", Access::Token,
            [this](Req req) { return join(req); });
  api.route(Method::Delete, "/api/v1/conferences/{room}/participants/{id}", Access::Token,
            [this](Req req) { return participantAction(req, "delete"); });
  for (const char* action : {"mute", "unmute", "deaf", "undeaf", "gain"}) {
    api.route(Method::Post, std::string("/api/v1/conferences/{room}/participants/{id}/") + action, Access::Token,
              [this, a = std::string(action)](Req req) { return participantAction(req, a); });
  }
  api.stream("/api/v1/events", Access::Token, events_);
}

ApiReply ConferenceApi::join(const api::ApiRequest& req) {
  const json& b = req.body;
  if (!b.is_object() || !b.contains("rtp") || !b["rtp"].is_object()) {
    return ApiReply::error(400, "body must be {\"rtp\": {\"ip\": ..., \"port\": ...}, \"codec\": ...}");
  }
  const json& rtp = b["rtp"];
  if (!rtp.contains("ip") || !rtp["ip"].is_string() || !rtp.contains("port") || !rtp["port"].is_number_unsigned() ||
      rtp["port"].get<uint64_t>() == 0 || rtp["port"].get<uint64_t>() > 65535) {
    return ApiReply::error(400, "rtp.ip must be an IP address string and rtp.port a port number");
  }
  auto addr = common::SockAddr::fromIp(rtp["ip"].get<std::string>(), rtp["port"].get<uint16_t>());
  if (!addr) return ApiReply::error(400, "rtp.ip is not an IP address");
  const std::string codecName = b.value("codec", std::string("opus"));
  auto codec = b.contains("codec") && !b["codec"].is_string() ? std::nullopt : codecByName(codecName);
  if (!codec) return ApiReply::error(400, "codec must be one of opus, g722, pcmu, pcma");
  mixer::JoinRequest jr;
  jr.room = req.params.at("room");
  jr.rtp = *addr;
  jr.codec = *codec;
  jr.payloadType = media::codecInfo(*codec).defaultPayloadType;
  for (auto [key, dst] : {std::pair{"payload_type", &jr.payloadType}, std::pair{"dtmf_payload_type", &jr.dtmfPayloadType}}) {
    if (!b.contains(key)) continue;
    if (!b[key].is_number_unsigned() || b[key].get<uint64_t>() > 127) {
      return ApiReply::error(400, std::string(key) + " must be 0-127");
    }
    *dst = b[key].get<uint8_t>();
  }
  auto mux = req.flag("rtcp_mux", true);
  if (!mux) return ApiReply::error(400, mux.error());
  jr.rtcpMux = *mux;
  for (auto [key, dst] : {std::pair{"pin", &jr.pin}, std::pair{"label", &jr.label}}) {
    if (!b.contains(key)) continue;
    if (!b[key].is_string() || b[key].get<std::string>().size() > 128) {
      return ApiReply::error(400, std::string(key) + " must be a string (at most 128 bytes)");
    }
    *dst = b[key].get<std::string>();
  }
  if (jr.label.empty()) jr.label = "api:" + addr->str();
  auto r = conferences_.join(jr);
  if (!r) {
    using C = mixer::JoinErrorCode;
    static constexpr std::pair<C, int> kStatus[] = {{C::BadRequest, 400}, {C::NotFound, 404}, {C::Locked, 409},
                                                    {C::Full, 503},       {C::NoMedia, 503},  {C::WrongPin, 403}};
    int status = 500;
    for (auto [code, s] : kStatus) status = code == r.error().code ? s : status;
    return ApiReply::error(status, r.error().reason);
  }
  ApiReply out = ApiReply::ok({{"id", std::to_string(r->id)},
                               {"rtp", {{"ip", r->local.ip()}, {"port", r->local.port()}}},
                               {"pin_pending", r->pinPending}});
  out.status = 201;
  return out;
}

void ConferenceApi::show(const std::string& room, api::ApiServer::Done done) {
  conferences_.report(room, [this, room, done = std::move(done)](std::optional<mixer::ConferenceReport> rep) {
    const mixer::RoomInfo* info = conferences_.room(room);
    if (!rep || info == nullptr) {
      done(ApiReply::error(404, "no such conference"));
      return;
    }
    json parts = json::array();
    size_t talkers = 0;
    for (mixer::ParticipantId id : info->members) {
      const mixer::MemberInfo* m = conferences_.member(id);
      if (m == nullptr) continue;
      const mixer::ParticipantReport* live = nullptr;
      for (const auto& p : rep->participants) live = p.id == id ? &p : live;
      parts.push_back(memberJson(*m, live));
      talkers += parts.back()["talking"].get<bool>() ? 1 : 0;
    }
    json j = roomJson(*info);
    j["talkers"] = talkers;
    j["participants"] = std::move(parts);
    done(ApiReply::ok(std::move(j)));
  });
}

ApiReply ConferenceApi::participantAction(const api::ApiRequest& req, const std::string& action) {
  auto id = parseId(req.params.at("id"));
  const mixer::MemberInfo* m = id ? conferences_.member(*id) : nullptr;
  if (m == nullptr || m->room != req.params.at("room")) return ApiReply::error(404, "no such participant in this conference");
  json ok = {{"id", std::to_string(*id)}, {"action", action}};
  if (action == "delete") return opReply(conferences_.kick(*id), ok);
  if (action == "mute" || action == "unmute") return opReply(conferences_.setMuted(*id, action == "mute"), ok);
  if (action == "deaf" || action == "undeaf") return opReply(conferences_.setDeaf(*id, action == "deaf"), ok);
  const json& b = req.body;
  if (!b.is_object() || !b.contains("db") || !b["db"].is_number() || b["db"].get<double>() < -60 ||
      b["db"].get<double>() > 24) {
    return ApiReply::error(400, "body must be {\"db\": <gain in dB, -60 to 24>}");
  }
  return opReply(conferences_.setGainDb(*id, b["db"].get<double>()), ok);
}

void ConferenceApi::publish(const mixer::ConferenceEvent& e) {
  json j = {{"type", e.type}, {"room", e.room}, {"time", cdr::rfc3339(e.unixMs)}};
  if (e.participant != 0) j["participant"] = std::to_string(e.participant);
  if (!e.detail.empty()) j["detail"] = e.detail;
  events_->publish(e.type, j.dump());
}

}  // namespace rdv::app
