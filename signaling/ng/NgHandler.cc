#include "signaling/ng/NgHandler.h"

#include <chrono>

#include <spdlog/spdlog.h>

namespace rdv::ng {
namespace {

// Options arrive as a list of strings (`flags: [trust-address, symmetric]`), as a single
// string, or (older modules) as a space-separated string. Calls fn for each word.
template <typename Fn>
void forEachWord(const BValue* v, Fn&& fn) {
  if (v == nullptr) return;
  auto words = [&](std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      size_t j = s.find(' ', i);
      if (j == std::string_view::npos) j = s.size();
      if (j > i) fn(s.substr(i, j - i));
      i = j + 1;
    }
  };
  if (v->isString()) {
    words(v->asString());
  } else if (v->isList()) {
    for (const auto& e : v->asList()) {
      if (e.isString()) words(e.asString());
    }
  }
}

BValue endpoint(const common::SockAddr& a) {
  BValue e = BValue::dict();
  if (!a.valid()) return e;
  e.set("family", BValue::string(a.isV6() ? "IP6" : "IP4"));
  e.set("address", BValue::string(a.ip()));
  e.set("port", BValue::integer(a.port()));
  return e;
}

BValue legStats(const relay::LegReport& l) {
  BValue s = BValue::dict();
  s.set("packets", BValue::integer(static_cast<int64_t>(l.counters.rtpPackets)));
  s.set("bytes", BValue::integer(static_cast<int64_t>(l.counters.rtpBytes)));
  s.set("errors", BValue::integer(static_cast<int64_t>(l.counters.malformed)));
  s.set("spoofed", BValue::integer(static_cast<int64_t>(l.counters.spoofed)));
  s.set("rtcp packets", BValue::integer(static_cast<int64_t>(l.counters.rtcpPackets)));
  s.set("expected", BValue::integer(static_cast<int64_t>(l.rtpExpected)));
  s.set("lost", BValue::integer(l.rtpLost));
  // Fractions and times as integers: bencode has no floats (per-mille and microseconds).
  s.set("loss permille", BValue::integer(static_cast<int64_t>(l.lossFraction * 1000)));
  s.set("jitter us", BValue::integer(static_cast<int64_t>(l.jitterMs * 1000)));
  if (l.quality.rttMs >= 0) s.set("rtt us", BValue::integer(static_cast<int64_t>(l.quality.rttMs * 1000)));
  return s;
}

// rtpengine-style report: per tag, its medias, each with the relay stream facing that party.
BValue callReport(const anchor::CallInfo& ci) {
  BValue r = BValue::dict();
  r.set("result", BValue::string("ok"));
  r.set("created", BValue::integer(static_cast<int64_t>(ci.createdUnix)));
  r.set("last signal", BValue::integer(static_cast<int64_t>(ci.lastSignalUnix)));
  BValue tags = BValue::dict();
  uint64_t totals[2][2] = {};  // [rtp|rtcp][packets|bytes]
  uint64_t errors = 0;
  for (int leg = 0; leg < 2; ++leg) {
    BValue tag = BValue::dict();
    tag.set("tag", BValue::string(leg == 0 ? ci.fromTag : ci.toTag));
    BValue medias = BValue::list();
    for (size_t i = 0; i < ci.report.streams.size(); ++i) {
      const auto& l = ci.report.streams[i][leg];
      BValue stream = BValue::dict();
      stream.set("local port", BValue::integer(l.rtpPort));
      if (l.rtcpPort != 0) stream.set("local rtcp port", BValue::integer(l.rtcpPort));
      stream.set("advertised endpoint", endpoint(l.advertised));
      stream.set("endpoint", endpoint(l.latched));
      stream.set("stats", legStats(l));
      BValue streams = BValue::list();
      streams.push(std::move(stream));
      BValue media = BValue::dict();
      media.set("index", BValue::integer(static_cast<int64_t>(i + 1)));
      media.set("streams", std::move(streams));
      medias.push(std::move(media));
      totals[0][0] += l.counters.rtpPackets;
      totals[0][1] += l.counters.rtpBytes;
      totals[1][0] += l.counters.rtcpPackets;
      totals[1][1] += l.counters.rtcpBytes;
      errors += l.counters.malformed;
    }
    tag.set("medias", std::move(medias));
    tags.set(leg == 0 ? ci.fromTag : (ci.toTag.empty() ? std::string("-") : ci.toTag), std::move(tag));
  }
  r.set("tags", std::move(tags));
  BValue tot = BValue::dict();
  for (int k = 0; k < 2; ++k) {
    BValue t = BValue::dict();
    t.set("packets", BValue::integer(static_cast<int64_t>(totals[k][0])));
    t.set("bytes", BValue::integer(static_cast<int64_t>(totals[k][1])));
    t.set("errors", BValue::integer(static_cast<int64_t>(k == 0 ? errors : 0)));
    tot.set(k == 0 ? "RTP" : "RTCP", std::move(t));
  }
  r.set("totals", std::move(tot));
  return r;
}

BValue anchorError(const anchor::AnchorError& e) { return ngError(e.reason); }

}  // namespace

BValue ngError(std::string_view reason) {
  BValue r = BValue::dict();
  r.set("result", BValue::string("error"));
  r.set("error-reason", BValue::string(std::string(reason)));
  return r;
}

BValue NgHandler::handle(const BValue& req) {
  if (!req.isDict()) return ngError("Request is not a dictionary");
  auto cmd = req.getString("command");
  if (!cmd) return ngError("No command given");
  if (*cmd == "ping") return BValue::dict().set("result", BValue::string("pong"));
  if (*cmd == "offer") return offerOrAnswer(req, true);
  if (*cmd == "answer") return offerOrAnswer(req, false);
  if (*cmd == "delete") return remove(req);
  if (*cmd == "query") return query(req);
  if (*cmd == "list") return list(req);
  return ngError("Unrecognized command");
}

BValue NgHandler::offerOrAnswer(const BValue& req, bool isOffer) {
  auto callId = req.getString("call-id");
  auto fromTag = req.getString("from-tag");
  auto sdp = req.getString("sdp");
  if (!callId || callId->empty()) return ngError("No call-id in message");
  if (!fromTag || fromTag->empty()) return ngError("No from-tag in message");
  if (!sdp) return ngError("No SDP body in message");
  auto toTag = req.getString("to-tag");
  if (!isOffer && (!toTag || toTag->empty())) return ngError("No to-tag in message");

  anchor::AnchorOptions opts;
  forEachWord(req.find("flags"), [&](std::string_view f) {
    if (f == "asymmetric") opts.asymmetric = true;
    else if (f == "symmetric") opts.asymmetric = false;
    // trust-address: SDP addresses are always used (the relay does not see the SIP source).
  });
  forEachWord(req.find("replace"), [&](std::string_view f) {
    if (f == "origin") opts.replaceOrigin = true;
    // session-connection: c= lines are always rewritten.
  });
  forEachWord(req.find("rtcp-mux"), [&](std::string_view f) {
    if (f == "offer") opts.muxOffer = true;
    else if (f == "demux") opts.muxDemux = true;
  });
  // `ICE: remove|force|...`: ICE attributes are always removed (the relay is the only path).
  // `direction`, `transport-protocol` (RTP/AVP pass-through) need no action.

  auto out = isOffer ? anchor_.offer(*callId, *fromTag, *sdp, opts)
                     : anchor_.answer(*callId, *fromTag, toTag.value_or(""), *sdp, opts);
  if (!out) {
    spdlog::warn("call={} {} failed: {}", *callId, isOffer ? "offer" : "answer", out.error().reason);
    return anchorError(out.error());
  }
  BValue r = BValue::dict();
  r.set("result", BValue::string("ok"));
  r.set("sdp", BValue::string(std::move(*out)));
  return r;
}

BValue NgHandler::remove(const BValue& req) {
  auto callId = req.getString("call-id");
  if (!callId || callId->empty()) return ngError("No call-id in message");
  auto ci = anchor_.remove(*callId);
  if (!ci) return anchorError(ci.error());
  return callReport(*ci);
}

BValue NgHandler::query(const BValue& req) {
  auto callId = req.getString("call-id");
  if (!callId || callId->empty()) return ngError("No call-id in message");
  auto ci = anchor_.query(*callId);
  if (!ci) return anchorError(ci.error());
  return callReport(*ci);
}

BValue NgHandler::list(const BValue& req) {
  size_t limit = 32;
  if (const auto* l = req.find("limit"); l != nullptr && l->isInt() && l->asInt() > 0) {
    limit = static_cast<size_t>(l->asInt());
  } else if (auto s = req.getString("limit")) {
    limit = std::strtoul(std::string(*s).c_str(), nullptr, 10);
  }
  BValue calls = BValue::list();
  for (auto& id : anchor_.list(limit)) calls.push(BValue::string(std::move(id)));
  BValue r = BValue::dict();
  r.set("result", BValue::string("ok"));
  r.set("calls", std::move(calls));
  return r;
}

}  // namespace rdv::ng
