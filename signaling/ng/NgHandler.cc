#include "signaling/ng/NgHandler.h"

#include <cmath>
#include <cstdlib>

#include <spdlog/spdlog.h>

namespace rdv::ng {
namespace {

constexpr size_t kMaxUnknownNames = 1024;
constexpr std::string_view kNotFound = "Call-ID not found or tags didn't match";

BValue integer(double v) { return BValue::integer(static_cast<int64_t>(std::llround(v))); }

BValue endpoint(const common::SockAddr& a) {
  BValue e = BValue::dict();
  if (!a.valid()) return e;
  e.set("family", BValue::string(a.isV6() ? "IPv6" : "IPv4"));
  e.set("address", BValue::string(a.ip()));
  e.set("port", BValue::integer(a.port()));
  return e;
}

// The peer's own RTCP XR VoIP Metrics (RFC 3611 §4.7) about what it receives: MOS x 10 and R as
// on the wire (omitted when the peer marks them unavailable, 127), rates and densities from
// 1/256 to per mille, durations and delays in ms.
BValue xrStats(const media::XrVoipMetrics& x) {
  BValue e = BValue::dict();
  e.set("SSRC", BValue::integer(x.ssrc));
  if (media::XrVoipMetrics::available(x.mosLq)) e.set("MOS-LQ", BValue::integer(x.mosLq));
  if (media::XrVoipMetrics::available(x.mosCq)) e.set("MOS-CQ", BValue::integer(x.mosCq));
  if (media::XrVoipMetrics::available(x.rFactor)) e.set("R factor", BValue::integer(x.rFactor));
  if (media::XrVoipMetrics::available(x.extRFactor)) e.set("ext R factor", BValue::integer(x.extRFactor));
  e.set("loss rate permille", integer(x.lossFraction() * 1000));
  e.set("discard rate permille", integer(x.discardFraction() * 1000));
  e.set("burst density permille", integer(x.burstFraction() * 1000));
  e.set("gap density permille", integer(x.gapFraction() * 1000));
  e.set("burst ms", BValue::integer(x.burstDurationMs));
  e.set("gap ms", BValue::integer(x.gapDurationMs));
  e.set("round trip delay ms", BValue::integer(x.roundTripDelayMs));
  e.set("end system delay ms", BValue::integer(x.endSystemDelayMs));
  e.set("jitter buffer nominal ms", BValue::integer(x.jbNominalMs));
  e.set("jitter buffer max ms", BValue::integer(x.jbMaximumMs));
  return e;
}

BValue legStats(const relay::LegReport& l) {
  BValue s = BValue::dict();
  s.set("packets", BValue::integer(static_cast<int64_t>(l.counters.rtpPackets)));
  s.set("bytes", BValue::integer(static_cast<int64_t>(l.counters.rtpBytes)));
  s.set("errors", BValue::integer(static_cast<int64_t>(l.counters.malformed)));
  s.set("spoofed", BValue::integer(static_cast<int64_t>(l.counters.spoofed)));
  s.set("rtcp packets", BValue::integer(static_cast<int64_t>(l.counters.rtcpPackets)));
  s.set("other packets", BValue::integer(static_cast<int64_t>(l.counters.otherPackets)));
  s.set("other bytes", BValue::integer(static_cast<int64_t>(l.counters.otherBytes)));
  s.set("expected", BValue::integer(static_cast<int64_t>(l.rtpExpected)));
  s.set("lost", BValue::integer(l.rtpLost));
  // Fractions and times as integers: bencode has no floats (per-mille and microseconds).
  s.set("loss permille", BValue::integer(static_cast<int64_t>(l.lossFraction * 1000)));
  s.set("jitter us", BValue::integer(static_cast<int64_t>(l.jitterMs * 1000)));
  if (l.quality.rttMs >= 0) s.set("rtt us", BValue::integer(static_cast<int64_t>(l.quality.rttMs * 1000)));
  // RFC 3611 §4.7.2 burst/gap loss of what the relay received from this party (Gmin 16).
  s.set("burst density permille", integer(l.burstGap.burstDensity * 1000));
  s.set("gap density permille", integer(l.burstGap.gapDensity * 1000));
  s.set("burst ms", integer(l.burstGap.burstMs));
  s.set("gap ms", integer(l.burstGap.gapMs));
  if (l.quality.xr) s.set("xr", xrStats(*l.quality.xr));
  return s;
}

// rtpengine's units: MOS x 10, round-trip time in microseconds, jitter in milliseconds, packet
// loss in percent, all integers.
BValue mosEntry(const media::MosSample& s, bool average, uint32_t samples) {
  BValue e = BValue::dict();
  e.set("MOS", BValue::integer(static_cast<int64_t>(s.mos * 10.0)));
  e.set("round-trip time", integer(s.rttMs * 1000.0));
  e.set("jitter", integer(s.jitterMs));
  e.set("packet loss", integer(s.lossPercent));
  if (average) e.set("samples", BValue::integer(samples));
  else e.set("reported at", BValue::integer(static_cast<int64_t>(s.atUnix)));
  return e;
}

BValue ssrcEntry(const media::MosSummary& m) {
  BValue e = BValue::dict();
  e.set("average MOS", mosEntry(m.average(), true, m.samples()));
  e.set("lowest MOS", mosEntry(m.lowest(), false, 0));
  e.set("highest MOS", mosEntry(m.highest(), false, 0));
  return e;
}

// What rtpengine answers when it takes no new call (its magic_load_limit_strings): `load limit`
// to clients that support it, else an error whose reason Kamailio's module recognises; either
// way Kamailio and OpenSIPS try the next relay.
BValue loadLimit(std::string_view message, bool supportsLoadLimit) {
  if (!supportsLoadLimit) return ngError(message);
  BValue r = BValue::dict();
  r.set("result", BValue::string("load limit"));
  r.set("message", BValue::string(std::string(message)));
  return r;
}

BValue anchorError(const anchor::AnchorError& e, bool supportsLoadLimit) {
  if (e.limit == anchor::CapacityLimit::Sessions) return loadLimit(e.reason, supportsLoadLimit);
  return ngError(e.reason);
}

}  // namespace

BValue ngError(std::string_view reason) {
  BValue r = BValue::dict();
  r.set("result", BValue::string("error"));
  r.set("error-reason", BValue::string(std::string(reason)));
  return r;
}

BValue callReport(const anchor::CallInfo& ci) {
  BValue r = BValue::dict();
  r.set("result", BValue::string("ok"));
  r.set("created", BValue::integer(static_cast<int64_t>(ci.createdUnix)));
  r.set("last signal", BValue::integer(static_cast<int64_t>(ci.lastSignalUnix)));
  BValue ssrcs = BValue::dict();
  BValue tags = BValue::dict();
  uint64_t totals[2][2] = {};  // [rtp|rtcp][packets|bytes]
  uint64_t errors = 0;
  for (int leg = 0; leg < 2; ++leg) {
    const anchor::Party& party = leg == 0 ? ci.caller : ci.callee;
    BValue tag = BValue::dict();
    tag.set("tag", BValue::string(party.tag));
    if (!party.label.empty()) tag.set("label", BValue::string(party.label));
    if (!party.viaBranch.empty()) tag.set("via-branch", BValue::string(party.viaBranch));
    tag.set("created", BValue::integer(static_cast<int64_t>(ci.createdUnix)));
    BValue medias = BValue::list();
    for (size_t i = 0; i < ci.report.streams.size(); ++i) {
      const auto& l = ci.report.streams[i][leg];
      BValue stream = BValue::dict();
      stream.set("local port", BValue::integer(l.rtpPort));
      if (l.rtcpPort != 0) stream.set("local rtcp port", BValue::integer(l.rtcpPort));
      // Where the relay sends to this party: its latched source, else what its SDP said.
      stream.set("endpoint", endpoint(l.latched.valid() ? l.latched : l.advertised));
      stream.set("advertised endpoint", endpoint(l.advertised));
      BValue flags = BValue::list();
      flags.push(BValue::string("RTP"));
      if (l.rtcpPort == 0) flags.push(BValue::string("RTCP"));
      stream.set("flags", std::move(flags));
      if (l.hasSsrc) {
        stream.set("SSRC", BValue::integer(l.ssrc));
        if (l.mos.samples() > 0) ssrcs.set(std::to_string(l.ssrc), ssrcEntry(l.mos));
      }
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
    tags.set(party.tag.empty() ? std::string("-") : party.tag, std::move(tag));
  }
  r.set("SSRC", std::move(ssrcs));
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

void NgHandler::handle(const BValue& req, Reply reply) {
  if (!req.isDict()) return reply(ngError("Request is not a dictionary"));
  auto cmd = req.getString("command");
  if (!cmd) return reply(ngError("No command given"));
  if (*cmd == "ping") return reply(BValue::dict().set("result", BValue::string("pong")));
  if (*cmd == "list") return reply(list(req));
  if (*cmd != "offer" && *cmd != "answer" && *cmd != "delete" && *cmd != "query") {
    return reply(ngError("Unrecognized command"));
  }
  const NgOptions o = parseNgOptions(req);
  noteOptions(o);
  if (*cmd == "offer") return reply(offerOrAnswer(o, true));
  if (*cmd == "answer") return reply(offerOrAnswer(o, false));
  if (*cmd == "delete") return remove(o, std::move(reply));
  query(o, std::move(reply));
}

void NgHandler::noteOptions(const NgOptions& o) {
  auto once = [&](const std::string& name, const char* what) {
    if (unknownLogged_.size() >= kMaxUnknownNames) {
      if (!unknownCapLogged_) spdlog::warn("NG: more than {} unknown option names; no longer logged", kMaxUnknownNames);
      unknownCapLogged_ = true;
      return;
    }
    if (unknownLogged_.insert(name).second) spdlog::warn("NG: {} {} ignored (logged once)", what, name);
  };
  for (const auto& n : o.unknown) once(n, "unknown");
  for (const auto& n : o.unsupported) once(n, "unsupported option");
}

BValue NgHandler::offerOrAnswer(const NgOptions& o, bool isOffer) {
  if (o.callId.empty()) return ngError("No call-id in message");
  if (o.fromTag.empty()) return ngError("No from-tag in message");
  if (!o.sdp) return ngError("No SDP body in message");
  if (!isOffer && o.toTag.empty()) return ngError("No to-tag in message");
  if (!o.addressFamily.empty() && o.addressFamily != anchor_.addressType()) {
    return ngError("Address family " + o.addressFamily + " not available (relay advertises " +
                   anchor_.addressType() + ")");
  }
  if (isOffer && !o.srtpError.empty()) return ngError(o.srtpError);
  if (isOffer && draining_ && !anchor_.query(o.callId)) {
    spdlog::info("call={} offer refused: draining", o.callId);
    return loadLimit(kDrainingLimit, o.supportsLoadLimit);
  }
  auto out = isOffer ? anchor_.offer(o.callId, o.fromTag, *o.sdp, o.anchor)
                     : anchor_.answer(o.callId, o.fromTag, o.toTag, *o.sdp, o.anchor);
  if (!out) {
    spdlog::warn("call={} {} failed: {}", o.callId, isOffer ? "offer" : "answer", out.error().reason);
    return anchorError(out.error(), o.supportsLoadLimit);
  }
  BValue r = BValue::dict();
  r.set("result", BValue::string("ok"));
  r.set("sdp", BValue::string(std::move(*out)));
  if (o.recordCall) r.set("warning", BValue::string("Call recording is not supported"));
  return r;
}

void NgHandler::remove(const NgOptions& o, Reply reply) {
  if (o.callId.empty()) return reply(ngError("No call-id in message"));
  anchor::DeleteRequest d{o.callId, o.fromTag, o.toTag, o.anchor.viaBranch};
  anchor_.remove(d, [reply = std::move(reply), fatal = o.fatal, callId = o.callId](
                        Expected<anchor::DeleteOutcome, anchor::AnchorError> out) {
    if (!out) {
      const auto code = out.error().code;
      if (code != anchor::AnchorErrorCode::UnknownCall && code != anchor::AnchorErrorCode::TagMismatch) {
        return reply(ngError(out.error().reason));
      }
      // The usual second delete (a 487 after CANCEL, BYE after a failed INVITE): not an error
      // for rtpengine either, unless the proxy asked for `fatal`.
      spdlog::info("call={} delete: {}", callId, kNotFound);
      if (fatal) return reply(ngError(kNotFound));
      BValue r = BValue::dict();
      r.set("result", BValue::string("ok"));
      r.set("warning", BValue::string(std::string(kNotFound)));
      return reply(std::move(r));
    }
    if (!out->callGone) {
      BValue r = BValue::dict();
      r.set("result", BValue::string("ok"));
      r.set("created", BValue::integer(static_cast<int64_t>(out->info.createdUnix)));
      r.set("last signal", BValue::integer(static_cast<int64_t>(out->info.lastSignalUnix)));
      return reply(std::move(r));
    }
    reply(callReport(out->info));
  });
}

void NgHandler::query(const NgOptions& o, Reply reply) {
  if (o.callId.empty()) return reply(ngError("No call-id in message"));
  anchor_.query(o.callId, [reply = std::move(reply)](Expected<anchor::CallInfo, anchor::AnchorError> ci) {
    if (!ci) return reply(ngError(ci.error().reason));
    reply(callReport(*ci));
  });
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
