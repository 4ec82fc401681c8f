#include "signaling/anchor/MediaAnchor.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/sdp/Sdp.h"

namespace rdv::anchor {
namespace {

using common::SockAddr;

// "0.0.0.0" (RFC 3264 §8.4 hold) and host names give no usable address: the leg then relies
// on latching.
SockAddr remoteAddress(const std::optional<std::string>& ip, uint16_t port) {
  if (!ip || *ip == "0.0.0.0" || *ip == "::") return SockAddr();
  return SockAddr::fromIp(*ip, port).value_or(SockAddr());
}

uint32_t firstClockRate(const sdp::SdpMedia& m) {
  if (m.formats.empty()) return 0;
  unsigned pt = 0;
  const auto& f = m.formats.front();
  auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), pt);
  if (ec != std::errc() || pt > 127) return 0;
  return m.clockRate(static_cast<uint8_t>(pt)).value_or(0);
}

AnchorError relayError(const relay::RelayError& e) {
  bool capacity = e.code == relay::RelayErrorCode::PortsExhausted || e.code == relay::RelayErrorCode::CapacityReached;
  return AnchorError{capacity ? AnchorErrorCode::Capacity : AnchorErrorCode::Internal, e.message};
}

}  // namespace

MediaAnchor::MediaAnchor(relay::RelayControl& relay, std::string advertise, const common::Clock& clock)
    : relay_(relay), clock_(clock), advertise_(std::move(advertise)),
      addrType_(advertise_.find(':') != std::string::npos ? "IP6" : "IP4") {}

Expected<std::string, AnchorError> MediaAnchor::offer(std::string_view callId, std::string_view fromTag,
                                                      std::string_view sdpText, const AnchorOptions& opts) {
  auto sdp = sdp::SdpSession::parse(sdpText);
  if (!sdp) {
    return Unexpected(AnchorError{AnchorErrorCode::BadSdp,
                                  fmt::format("SDP line {}: {}", sdp.error().line, sdp.error().reason)});
  }
  auto it = calls_.find(std::string(callId));
  const bool created = it == calls_.end();
  if (created) {
    Call c;
    c.callId = std::string(callId);
    c.fromTag = std::string(fromTag);
    c.createdUnix = clock_.wallSeconds();
    c.sessionId = relay_.createSession(c.callId);
    bySession_[c.sessionId] = c.callId;
    it = calls_.emplace(c.callId, std::move(c)).first;
  }
  Call& call = it->second;
  int side = 0;
  if (fromTag != call.fromTag) {
    side = 1;
    if (call.toTag.empty()) call.toTag = std::string(fromTag);
  }
  auto out = anchor(call, side, true, *sdp, opts);
  if (!out && created) release(callId);  // nothing of a refused call stays behind
  return out;
}

Expected<std::string, AnchorError> MediaAnchor::answer(std::string_view callId, std::string_view fromTag,
                                                       std::string_view toTag, std::string_view sdpText,
                                                       const AnchorOptions& opts) {
  auto it = calls_.find(std::string(callId));
  if (it == calls_.end()) return Unexpected(AnchorError{AnchorErrorCode::UnknownCall, "Unknown call-id"});
  auto sdp = sdp::SdpSession::parse(sdpText);
  if (!sdp) {
    return Unexpected(AnchorError{AnchorErrorCode::BadSdp,
                                  fmt::format("SDP line {}: {}", sdp.error().line, sdp.error().reason)});
  }
  Call& call = it->second;
  // The answerer is the party of the to-tag; a new to-tag (a forked answer) replaces the old one.
  int side = 1;
  if (!toTag.empty() && toTag == call.fromTag) side = 0;
  else if (!toTag.empty()) call.toTag = std::string(toTag);
  else if (fromTag != call.fromTag && !fromTag.empty()) side = 0;
  return anchor(call, side, false, *sdp, opts);
}

Expected<std::string, AnchorError> MediaAnchor::anchor(Call& call, int side, bool isOffer, sdp::SdpSession& sdp,
                                                       const AnchorOptions& opts) {
  const int other = 1 - side;
  if (sdp.media.size() > 64) return Unexpected(AnchorError{AnchorErrorCode::BadSdp, "too many m-lines"});
  if (!isOffer && sdp.media.size() > call.streams.size()) {
    return Unexpected(AnchorError{AnchorErrorCode::BadSdp, "answer has more m-lines than the offer"});
  }
  for (size_t i = 0; i < sdp.media.size(); ++i) {
    sdp::SdpMedia& m = sdp.media[i];
    if (i >= call.streams.size()) call.streams.emplace_back();
    StreamState& st = call.streams[i];
    if (m.port == 0) continue;  // rejected or disabled m-line: nothing to anchor
    auto conn = sdp.mediaConnectionAddress(i);
    if (!conn) {
      return Unexpected(AnchorError{AnchorErrorCode::BadSdp, fmt::format("m-line {} has no connection address", i + 1)});
    }
    if (!st.active) {
      if (!isOffer) {
        return Unexpected(AnchorError{AnchorErrorCode::BadSdp, fmt::format("m-line {} was not offered", i + 1)});
      }
      // Without rtcp-mux on offer, both legs' RTCP sockets are opened now, where a taken port
      // can still be skipped; with it, they are opened by updateLeg only if the answer declines.
      const bool offerMux = (m.rtcpMux() || opts.muxOffer) && !opts.muxDemux;
      auto ports = relay_.addStream(call.sessionId, offerMux);
      if (!ports) return Unexpected(relayError(ports.error()));
      st.active = true;
      st.relayIndex = call.relayStreams++;
      st.port[0] = ports->rtpPort[0];
      st.port[1] = ports->rtpPort[1];
    }

    relay::LegParams& p = st.params[side];
    const bool peerMux = m.rtcpMux();
    p.rtpRemote = remoteAddress(conn, m.port);
    p.rtcpRemote = peerMux ? p.rtpRemote : remoteAddress(conn, m.rtcpPort().value_or(static_cast<uint16_t>(m.port + 1)));
    p.asymmetric = opts.asymmetric;
    p.srtp = m.proto.find("SAVP") != std::string::npos;
    p.clockRate = firstClockRate(m);
    bool muxTowardReceiver = false;  // does the SDP we pass on carry a=rtcp-mux?
    if (isOffer) {
      st.offerer = side;
      st.offeredMux = peerMux;
      st.demuxed = opts.muxDemux;
      p.mux = peerMux;  // provisional until the answer
      muxTowardReceiver = (peerMux || opts.muxOffer) && !opts.muxDemux;
      st.params[other].mux = muxTowardReceiver;
      st.params[other].srtp = p.srtp;
    } else {
      p.mux = peerMux;
      relay::LegParams& off = st.params[st.offerer];
      off.mux = st.offeredMux && (peerMux || st.demuxed);
      muxTowardReceiver = off.mux;
    }
    for (int l : {side, other}) {
      auto r = relay_.updateLeg(call.sessionId, st.relayIndex, static_cast<uint8_t>(l), st.params[l]);
      if (!r) return Unexpected(relayError(r.error()));
    }

    // What the receiver of this SDP must use: the relay's ports on the leg facing it.
    const uint16_t port = st.port[other];
    m.port = port;
    if (m.connectionAddress()) m.setConnection(addrType_, advertise_);
    if (muxTowardReceiver) {
      m.setAttribute("rtcp-mux", std::nullopt);
      m.removeAttributes("rtcp");
    } else {
      m.removeAttributes("rtcp-mux");
      m.setAttribute("rtcp", std::to_string(port + 1));
    }
  }
  sdp.setConnection(addrType_, advertise_);
  if (opts.replaceOrigin) sdp.setOriginAddress(addrType_, advertise_);
  removeIceAttributes(sdp);
  call.lastSignalUnix = clock_.wallSeconds();
  spdlog::info("call={} {} from leg {} anchored: {} stream(s)", call.callId, isOffer ? "offer" : "answer", side,
               sdp.media.size());
  return sdp.serialize();
}

CallInfo MediaAnchor::info(const Call& call, relay::SessionReport report) const {
  return CallInfo{call.callId, call.fromTag, call.toTag, call.createdUnix, call.lastSignalUnix, std::move(report)};
}

Expected<CallInfo, AnchorError> MediaAnchor::remove(std::string_view callId) {
  auto it = calls_.find(std::string(callId));
  if (it == calls_.end()) return Unexpected(AnchorError{AnchorErrorCode::UnknownCall, "Unknown call-id"});
  auto report = relay_.remove(it->second.sessionId);
  CallInfo ci = info(it->second, report.value_or(relay::SessionReport{}));
  bySession_.erase(it->second.sessionId);
  calls_.erase(it);
  if (onRemoved_ && report) onRemoved_(ci.report);
  spdlog::info("call={} deleted", ci.callId);
  return ci;
}

void MediaAnchor::release(std::string_view callId) {
  auto it = calls_.find(std::string(callId));
  if (it == calls_.end()) return;
  relay_.drop(it->second.sessionId);
  bySession_.erase(it->second.sessionId);
  spdlog::info("call={} media released", it->first);
  calls_.erase(it);
}

Expected<CallInfo, AnchorError> MediaAnchor::query(std::string_view callId) {
  auto it = calls_.find(std::string(callId));
  if (it == calls_.end()) return Unexpected(AnchorError{AnchorErrorCode::UnknownCall, "Unknown call-id"});
  auto report = relay_.query(it->second.sessionId);
  if (!report) return Unexpected(AnchorError{AnchorErrorCode::Internal, "relay worker did not answer"});
  return info(it->second, std::move(*report));
}

std::vector<std::string> MediaAnchor::list(size_t limit) const {
  std::vector<std::string> out;
  for (const auto& [id, c] : calls_) {
    if (out.size() >= limit) break;
    out.push_back(id);
  }
  return out;
}

std::optional<std::string> MediaAnchor::onSessionEnded(const relay::SessionReport& report) {
  auto s = bySession_.find(report.id);
  if (s == bySession_.end()) return std::nullopt;
  std::string callId = s->second;
  bySession_.erase(s);
  calls_.erase(callId);
  return callId;
}

}  // namespace rdv::anchor
