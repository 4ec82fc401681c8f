#include "app/cdr/CdrLine.h"

#include <cmath>
#include <ctime>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "relay/WorkerCounters.h"

namespace rdv::cdr {

using nlohmann::json;

std::string rfc3339(uint64_t unixMs) {
  const std::time_t s = static_cast<std::time_t>(unixMs / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, unixMs % 1000);
}

namespace {

std::string_view codecName(media::VoiceCodec c) {
  switch (c) {
    case media::VoiceCodec::G711:
    case media::VoiceCodec::G711Plc:
      return "g711";
    case media::VoiceCodec::G722:
      return "g722";
    case media::VoiceCodec::Opus:
      return "opus";
  }
  return "g711";
}

// -1 (unknown) as null, everything else rounded to 0.01.
json measured(double v) { return v < 0 ? json(nullptr) : json(std::round(v * 100) / 100); }

// 127 (RFC 3611 §4.7.5: unavailable) as null.
json xrScore(uint8_t v, double scale) {
  return media::XrVoipMetrics::available(v) ? json(v / scale) : json(nullptr);
}

// Fractions as percent rounded to 0.01.
json percent(double fraction) { return measured(fraction * 100); }

// The peer's RTCP XR VoIP Metrics (RFC 3611 §4.7) about what it receives, or null.
json xrJson(const std::optional<media::XrVoipMetrics>& xr) {
  if (!xr) return nullptr;
  const media::XrVoipMetrics& x = *xr;
  return {{"ssrc", x.ssrc},
          {"mos_lq", xrScore(x.mosLq, 10)},
          {"mos_cq", xrScore(x.mosCq, 10)},
          {"r_factor", xrScore(x.rFactor, 1)},
          {"ext_r_factor", xrScore(x.extRFactor, 1)},
          {"loss_rate_percent", percent(x.lossFraction())},
          {"discard_rate_percent", percent(x.discardFraction())},
          {"burst_density_percent", percent(x.burstFraction())},
          {"gap_density_percent", percent(x.gapFraction())},
          {"burst_ms", x.burstDurationMs},
          {"gap_ms", x.gapDurationMs},
          {"round_trip_delay_ms", x.roundTripDelayMs},
          {"end_system_delay_ms", x.endSystemDelayMs},
          {"jb_nominal_ms", x.jbNominalMs},
          {"jb_max_ms", x.jbMaximumMs},
          {"jb_abs_max_ms", x.jbAbsMaxMs}};
}

}  // namespace

json legJson(const relay::LegReport& l, size_t stream, int side) {
  json j = {{"stream", stream},
            {"side", side == 0 ? "caller" : "callee"},
            {"codec", codecName(l.codec)},
            {"packets", l.counters.rtpPackets},
            {"bytes", l.counters.rtpBytes},
            {"rtcp_packets", l.counters.rtcpPackets},
            {"expected", l.rtpExpected},
            {"lost", l.rtpLost},
            {"loss_percent", measured(l.lossFraction * 100)},
            {"jitter_ms", measured(l.jitterMs)},
            {"rtt_ms", measured(l.quality.rttMs)},
            {"burst_density_percent", percent(l.burstGap.burstDensity)},
            {"gap_density_percent", percent(l.burstGap.gapDensity)},
            {"burst_ms", measured(l.burstGap.burstMs)},
            {"gap_ms", measured(l.burstGap.gapMs)},
            {"xr", xrJson(l.quality.xr)},
            {"xr_reports", l.counters.xrReports},
            {"xr_malformed", l.counters.xrMalformed},
            {"spoofed", l.counters.spoofed},
            {"latched", l.latched.valid() ? json(l.latched.str()) : json(nullptr)}};
  // SRTP terminated on this leg (issue 12): what authenticated, what was protected, what was dropped.
  if (l.srtpTerminated) {
    json dropped = json::object();
    for (size_t r = 0; r < l.counters.srtpDropped.size(); ++r) {
      if (l.counters.srtpDropped[r] != 0) {
        dropped[relay::srtpDropLabel(static_cast<srtp::SrtpError>(r))] = l.counters.srtpDropped[r];
      }
    }
    j["srtp"] = {{"unprotected", l.counters.srtpUnprotected},
                 {"protected", l.counters.srtpProtected},
                 {"dropped", dropped}};
  } else {
    j["srtp"] = nullptr;
  }
  if (l.mos.samples() > 0) {
    j["mos"] = {{"min", measured(l.mos.lowest().mos)},
                {"avg", measured(l.mos.average().mos)},
                {"max", measured(l.mos.highest().mos)},
                {"samples", l.mos.samples()}};
  } else {
    j["mos"] = nullptr;
  }
  return j;
}

std::string cdrLine(const b2bua::CallRecord* call, const relay::SessionReport* media, std::string_view ngReason) {
  json j;
  j["type"] = "call";
  if (call != nullptr) {
    j["source"] = "sip";
    j["call_id"] = call->callId;
    j["callee_call_id"] = call->calleeCallId.empty() ? json(nullptr) : json(call->calleeCallId);
    j["caller"] = call->caller;
    j["callee"] = call->callee;
    j["callee_contact"] = call->calleeContact.empty() ? json(nullptr) : json(call->calleeContact);
    j["start"] = rfc3339(call->startUnixMs);
    j["answer"] = call->answerUnixMs == 0 ? json(nullptr) : json(rfc3339(call->answerUnixMs));
    j["end"] = rfc3339(call->endUnixMs);
    j["duration_s"] = call->answerUnixMs == 0 ? 0.0 : (call->endUnixMs - call->answerUnixMs) / 1000.0;
    j["end_reason"] = b2bua::toString(call->reason);
    j["status"] = call->status;
    j["branches"] = call->branches;
  } else {
    // A participant who joined a conference through the API has no SIP half either.
    j["source"] = ngReason.starts_with("conference_") ? "conference" : "ng";
    j["call_id"] = media != nullptr ? media->callId : std::string();
    j["end_reason"] = ngReason;
  }
  json legs = json::array();
  if (media != nullptr) {
    for (size_t s = 0; s < media->streams.size(); ++s) {
      for (int side = 0; side < 2; ++side) legs.push_back(legJson(media->streams[s][side], s, side));
    }
  }
  j["legs"] = std::move(legs);
  // Invalid UTF-8 in a display name must not make the record unwritable: replaced, not thrown.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace rdv::cdr
