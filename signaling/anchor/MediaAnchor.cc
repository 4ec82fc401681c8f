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

bool sameParams(const relay::LegParams& a, const relay::LegParams& b) {
  return a.rtpRemote == b.rtpRemote && a.rtcpRemote == b.rtcpRemote && a.mux == b.mux &&
         a.asymmetric == b.asymmetric && a.srtp == b.srtp && a.clockRate == b.clockRate;
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
  const std::string toTagBefore = call.toTag;
  int side = 0;
  if (fromTag != call.fromTag) {
    side = 1;
    if (call.toTag.empty()) call.toTag = std::string(fromTag);
  }
  std::vector<StreamState> before = call.streams;
  auto out = anchor(call, side, true, *sdp, opts);
  if (!out) {
    if (created) {
      release(callId);  // nothing of a refused call stays behind
    } else {
      call.toTag = toTagBefore;
    }
    return out;
  }
  if (!call.beforeOffer) call.beforeOffer = std::move(before);  // a repeated offer keeps the first state
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
  const std::string toTagBefore = call.toTag;
  // The answerer is the party of the to-tag; a new to-tag (a forked answer) replaces the old one.
  int side = 1;
  if (!toTag.empty() && toTag == call.fromTag) side = 0;
  else if (!toTag.empty()) call.toTag = std::string(toTag);
  else if (fromTag != call.fromTag && !fromTag.empty()) side = 0;
  auto out = anchor(call, side, false, *sdp, opts);
  if (!out) {
    call.toTag = toTagBefore;
    return out;
  }
  call.beforeOffer.reset();
  return out;
}

void MediaAnchor::revertOffer(std::string_view callId) {
  auto it = calls_.find(std::string(callId));
  if (it == calls_.end() || !it->second.beforeOffer) return;
  Call& call = it->second;
  restore(call, *call.beforeOffer);
  call.beforeOffer.reset();
  spdlog::info("call={} offer rejected: media as before it", call.callId);
}

std::optional<AnchorError> MediaAnchor::check(const Call& call, bool isOffer,
                                              const sdp::SdpSession& sdp) const {
  if (sdp.media.size() > 64) return AnchorError{AnchorErrorCode::BadSdp, "too many m-lines"};
  if (!isOffer && sdp.media.size() > call.streams.size()) {
    return AnchorError{AnchorErrorCode::BadSdp, "answer has more m-lines than the offer"};
  }
  for (size_t i = 0; i < sdp.media.size(); ++i) {
    if (sdp.media[i].port == 0) continue;  // rejected or disabled m-line: nothing to anchor
    if (!sdp.mediaConnectionAddress(i)) {
      return AnchorError{AnchorErrorCode::BadSdp, fmt::format("m-line {} has no connection address", i + 1)};
    }
    if (!isOffer && !call.streams[i].active) {
      return AnchorError{AnchorErrorCode::BadSdp, fmt::format("m-line {} was not offered", i + 1)};
    }
  }
  return std::nullopt;
}

Expected<bool, AnchorError> MediaAnchor::allocate(Call& call, StreamState& st, bool mux) {
  if (!call.spare.empty()) {
    const SpareStream sp = call.spare.back();
    call.spare.pop_back();
    st.relayIndex = sp.relayIndex;
    st.port[0] = sp.port[0];
    st.port[1] = sp.port[1];
  } else {
    auto ports = relay_.addStream(call.sessionId, mux);
    if (!ports) return Unexpected(relayError(ports.error()));
    st.relayIndex = call.relayStreams++;
    st.port[0] = ports->rtpPort[0];
    st.port[1] = ports->rtpPort[1];
  }
  st.active = true;
  return true;
}

void MediaAnchor::restore(Call& call, const std::vector<StreamState>& before) {
  relay::LegParams idle;  // no peer, and no RTCP socket opened for it
  idle.mux = true;
  for (size_t i = 0; i < call.streams.size(); ++i) {
    const StreamState& cur = call.streams[i];
    if (!cur.active) continue;
    const bool existed = i < before.size() && before[i].active;
    for (uint8_t l = 0; l < 2; ++l) {
      const relay::LegParams& want = existed ? before[i].params[l] : idle;
      if (existed && sameParams(cur.params[l], want)) continue;
      if (auto r = relay_.updateLeg(call.sessionId, cur.relayIndex, l, want); !r) {
        spdlog::error("call={} could not restore relay stream {}: {}", call.callId, cur.relayIndex,
                      r.error().message);
      }
    }
    if (!existed) call.spare.push_back(SpareStream{cur.relayIndex, {cur.port[0], cur.port[1]}});
  }
  call.streams = before;
}

Expected<std::string, AnchorError> MediaAnchor::anchor(Call& call, int side, bool isOffer, sdp::SdpSession& sdp,
                                                       const AnchorOptions& opts) {
  if (auto bad = check(call, isOffer, sdp)) return Unexpected(std::move(*bad));
  const int other = 1 - side;
  const std::vector<StreamState> before = call.streams;
  auto undo = [&](AnchorError e) {
    restore(call, before);
    return Unexpected(std::move(e));
  };
  for (size_t i = 0; i < sdp.media.size(); ++i) {
    sdp::SdpMedia& m = sdp.media[i];
    if (i >= call.streams.size()) call.streams.emplace_back();
    StreamState& st = call.streams[i];
    if (m.port == 0) continue;  // rejected or disabled m-line: nothing to anchor
    auto conn = sdp.mediaConnectionAddress(i);  // present: check()
    if (!st.active) {
      // Without rtcp-mux on offer, both legs' RTCP sockets are opened now, where a taken port
      // can still be skipped; with it, they are opened by updateLeg only if the answer declines.
      const bool offerMux = (m.rtcpMux() || opts.muxOffer) && !opts.muxDemux;
      if (auto ok = allocate(call, st, offerMux); !ok) return undo(ok.error());
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
      if (!r) return undo(relayError(r.error()));
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
