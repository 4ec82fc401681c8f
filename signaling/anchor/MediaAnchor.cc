#include "signaling/anchor/MediaAnchor.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/anchor/TcpMedia.h"
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

std::optional<uint8_t> firstPayloadType(const sdp::SdpMedia& m) {
  if (m.formats.empty()) return std::nullopt;
  unsigned pt = 0;
  const auto& f = m.formats.front();
  auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), pt);
  if (ec != std::errc() || p != f.data() + f.size() || pt > 127) return std::nullopt;
  return static_cast<uint8_t>(pt);
}

bool sameParams(const relay::LegParams& a, const relay::LegParams& b) {
  return a.rtpRemote == b.rtpRemote && a.rtcpRemote == b.rtcpRemote && a.mux == b.mux &&
         a.asymmetric == b.asymmetric && a.srtp == b.srtp && a.opaque == b.opaque &&
         a.strictSource == b.strictSource && a.clockRate == b.clockRate && a.codec == b.codec &&
         a.party == b.party && a.crypto == b.crypto && a.ice == b.ice && a.dtls == b.dtls && a.bundle == b.bundle;
}

uint32_t firstClockRate(const sdp::SdpMedia& m) {
  auto pt = firstPayloadType(m);
  return pt ? m.clockRate(*pt).value_or(0) : 0;
}

// The codec of the first format: its a=rtpmap encoding name, else the RFC 3551 static table.
media::VoiceCodec firstCodec(const sdp::SdpMedia& m) {
  auto pt = firstPayloadType(m);
  if (!pt) return media::VoiceCodec::G711Plc;
  if (auto map = m.rtpmap(*pt)) return media::voiceCodecFromEncoding(map->substr(0, map->find('/')));
  return *pt == 9 ? media::VoiceCodec::G722 : media::VoiceCodec::G711Plc;
}

// rtpengine's wording, which Kamailio's and OpenSIPS's modules match to fail over to the next
// relay: "Ran out of ports" (no port or socket left) and "Parallel session limit reached".
AnchorError relayError(const relay::RelayError& e) {
  switch (e.code) {
    case relay::RelayErrorCode::PortsExhausted:
    case relay::RelayErrorCode::SocketFailed:
      spdlog::warn("relay: {}", e.message);
      return AnchorError{AnchorErrorCode::Capacity, "Ran out of ports", CapacityLimit::Ports};
    case relay::RelayErrorCode::CapacityReached:
      spdlog::warn("relay: {}", e.message);
      return AnchorError{AnchorErrorCode::Capacity, "Parallel session limit reached", CapacityLimit::Sessions};
    case relay::RelayErrorCode::UnknownSession: break;
  }
  return AnchorError{AnchorErrorCode::Internal, e.message};
}

AnchorError tcpRelayError(const relay::TcpRelayError& e) {
  spdlog::warn("TCP relay: {}", e.reason);
  switch (e.code) {
    case relay::TcpRelayErrorCode::NoPorts:
      return AnchorError{AnchorErrorCode::Capacity, "Ran out of ports", CapacityLimit::Ports};
    case relay::TcpRelayErrorCode::TotalLimit:
    case relay::TcpRelayErrorCode::PerSourceLimit:
      return AnchorError{AnchorErrorCode::Capacity, "Parallel session limit reached", CapacityLimit::Sessions};
    case relay::TcpRelayErrorCode::BadRequest:
    case relay::TcpRelayErrorCode::Disabled: break;
  }
  return AnchorError{AnchorErrorCode::Internal, e.reason};
}

const char* addrTypeOf(std::string_view address) { return address.find(':') != std::string_view::npos ? "IP6" : "IP4"; }

AnchorError tagMismatch() {
  return AnchorError{AnchorErrorCode::TagMismatch, "Call-ID not found or tags didn't match"};
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
    // A re-offer from the other side: its party is (now) the branch on leg 1.
    side = 1;
    call.toTag = std::string(fromTag);
    if (!toTagBefore.empty() && toTagBefore != call.toTag) ++call.calleeParty;
    Party& b = branch(call, fromTag);
    if (!opts.viaBranch.empty()) b.viaBranch = opts.viaBranch;
  } else if (!opts.viaBranch.empty()) {
    // The caller's offer toward one fork: remember the branch until its answer names its tag.
    const bool known = std::any_of(call.branches.begin(), call.branches.end(),
                                   [&](const Party& b) { return b.viaBranch == opts.viaBranch; });
    if (!known) call.branches.push_back(Party{"", "", opts.viaBranch});
  }
  applyLabels(call, side, opts);
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
  if (!toTag.empty() && toTag == call.fromTag) {
    side = 0;
  } else if (!toTag.empty()) {
    call.toTag = std::string(toTag);
    if (!toTagBefore.empty() && toTagBefore != call.toTag) ++call.calleeParty;  // another fork answers
    // The fork this answer comes from: by via-branch (its offer named it), else by tag.
    auto byVia = std::find_if(call.branches.begin(), call.branches.end(), [&](const Party& b) {
      return !opts.viaBranch.empty() && b.viaBranch == opts.viaBranch && (b.tag.empty() || b.tag == toTag);
    });
    if (byVia != call.branches.end()) {
      byVia->tag = std::string(toTag);
    } else {
      Party& b = branch(call, toTag);
      if (!opts.viaBranch.empty()) b.viaBranch = opts.viaBranch;
    }
  } else if (fromTag != call.fromTag && !fromTag.empty()) {
    side = 0;
  }
  applyLabels(call, side, opts);
  auto out = anchor(call, side, false, *sdp, opts);
  if (!out) {
    call.toTag = toTagBefore;
    return out;
  }
  call.beforeOffer.reset();
  dropTcpPairs(call);  // pairs the answer replaced or rejected
  if (tcpEnabled() && tcpRestrictSource_) {
    for (const StreamState& st : call.streams) {
      if (st.tcp && st.tcpPair != 0) restrictTcpSide(*tcp_, st.tcpPair, side, opts.receivedFrom, call.callId);
    }
  }
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
    if (i < call.streams.size() && call.streams[i].active && call.streams[i].tcp != isTcpProto(sdp.media[i].proto)) {
      return AnchorError{AnchorErrorCode::BadSdp, fmt::format("m-line {} changes between UDP and TCP", i + 1)};
    }
  }
  return std::nullopt;
}

Expected<bool, AnchorError> MediaAnchor::allocate(Call& call, StreamState& st, bool mux,
                                                  std::optional<uint8_t> bundledLeg) {
  if (!call.spare.empty()) {
    const SpareStream sp = call.spare.back();
    call.spare.pop_back();
    st.relayIndex = sp.relayIndex;
    st.port[0] = sp.port[0];
    st.port[1] = sp.port[1];
  } else {
    auto ports = relay_.addStream(call.sessionId, mux, false, bundledLeg);
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
    if (!cur.active || cur.tcp) continue;  // TCP media has no relay stream
    const bool existed = i < before.size() && before[i].active;
    for (uint8_t l = 0; l < 2; ++l) {
      const relay::LegParams& want = existed ? before[i].params[l] : idle;
      if (existed && sameParams(cur.params[l], want)) continue;
      if (auto r = relay_.updateLeg(call.sessionId, cur.relayIndex, l, want); !r) {
        spdlog::error("call={} could not restore relay stream {}: {}", call.callId, cur.relayIndex,
                      r.error().message);
      }
    }
    // A stream with a socketless (bundled) leg is not reused: a later offer may want both sockets.
    if (!existed && cur.port[0] != 0 && cur.port[1] != 0) {
      call.spare.push_back(SpareStream{cur.relayIndex, {cur.port[0], cur.port[1]}});
    }
  }
  call.streams = before;
  dropTcpPairs(call);
}

void MediaAnchor::dropTcpPairs(Call& call) {
  auto named = [&](uint64_t id) {
    auto in = [id](const std::vector<StreamState>& v) {
      return std::any_of(v.begin(), v.end(), [id](const StreamState& st) { return st.tcpPair == id; });
    };
    return in(call.streams) || (call.beforeOffer && in(*call.beforeOffer));
  };
  std::erase_if(call.tcpPairs, [&](uint64_t id) {
    if (named(id)) return false;
    if (tcp_ != nullptr) tcp_->remove(id);
    return true;
  });
}

void MediaAnchor::removeTcpPairs(Call& call) {
  for (uint64_t id : call.tcpPairs) {
    if (tcp_ != nullptr) tcp_->remove(id);
  }
  call.tcpPairs.clear();
}

std::vector<uint64_t> MediaAnchor::tcpPairs(std::string_view callId) const {
  auto it = calls_.find(std::string(callId));
  return it == calls_.end() ? std::vector<uint64_t>{} : it->second.tcpPairs;
}

Expected<bool, AnchorError> MediaAnchor::anchorTcp(Call& call, StreamState& st, int side, bool isOffer,
                                                   sdp::SdpSession& sdp, size_t i, const AnchorOptions& opts) {
  sdp::SdpMedia& m = sdp.media[i];
  const std::string conn = *sdp.mediaConnectionAddress(i);  // present: check()
  const std::string key = fmt::format("{} {} {}", m.proto, conn, m.port);
  st.tcp = true;
  st.active = true;
  if (isOffer) {
    st.offerer = side;
    auto status = st.tcpPair != 0 && tcp_ != nullptr ? tcp_->find(st.tcpPair) : nullptr;
    const auto state = status ? status->state.load(std::memory_order_acquire) : relay::TcpPairState::Deleted;
    const bool unchanged = st.tcpKey[side] == key && !relay::terminal(state);
    st.tcpKey[side] = key;
    st.tcpReused = false;
    if (!tcpEnabled() || !senderCanConnect(m)) {
      st.tcpPair = 0;  // the relay only listens: a peer that will not connect out is passed through
    } else if (unchanged) {
      // RFC 4145 §5: the connection in place goes on (while the peers have yet to connect, the
      // listeners are still open and the line still says "new").
      st.tcpReused = state == relay::TcpPairState::Connected;
    } else {
      relay::TcpPairRequest req;
      req.origin = opts.tcpOrigin;
      if (tcpRestrictSource_ && !opts.receivedFrom.empty()) req.peers[side] = SockAddr::fromIp(opts.receivedFrom, 0);
      auto pair = tcp_->create(req);
      if (!pair) return Unexpected(tcpRelayError(pair.error()));
      st.tcpPair = (*pair)->id;
      st.tcpPort[0] = (*pair)->local[0].port();
      st.tcpPort[1] = (*pair)->local[1].port();
      call.tcpPairs.push_back(st.tcpPair);
      spdlog::info("call={} m-line {} ({}) on TCP relay pair {}: ports {}/{}", call.callId, i + 1, m.proto,
                   st.tcpPair, st.tcpPort[0], st.tcpPort[1]);
    }
  } else {
    st.tcpKey[side] = key;
  }
  if (st.tcpPair == 0) {
    // Unanchored: keep the peer's own address even though the session c= is rewritten.
    if (!m.connectionAddress()) m.setConnection(addrTypeOf(conn), conn);
    return true;
  }
  const std::string& adv = tcp_->advertise();
  pointTcpMediaAtRelay(m, addrTypeOf(adv), adv, st.tcpPort[1 - side], st.tcpReused);
  return true;
}

SrtpOptions MediaAnchor::srtpOptions(StreamState& st, int side, const SrtpOptions& given) {
  SrtpOptions o = given;
  const bool converted = st.sdes[0].mode != SdesMode::Pass || st.sdes[1].mode != SdesMode::Pass;
  if (!given.active() && converted) {
    o.sender = st.srtpToward[side];
    o.receiver = st.srtpToward[1 - side];
    o.suites = st.srtpSuites;
    o.osrtpAccept = st.osrtpAccept;
  }
  st.srtpToward[side] = o.sender;
  st.srtpToward[1 - side] = o.receiver;
  st.srtpSuites = o.suites;
  st.osrtpAccept = o.osrtpAccept;
  return o;
}

Party& MediaAnchor::branch(Call& call, std::string_view tag) {
  for (Party& b : call.branches) {
    if (b.tag == tag) return b;
  }
  call.branches.push_back(Party{std::string(tag), "", ""});
  return call.branches.back();
}

void MediaAnchor::applyLabels(Call& call, int side, const AnchorOptions& opts) {
  auto labelOf = [&](int s) -> std::string* {
    if (s == 0) return &call.fromLabel;
    if (call.toTag.empty()) return nullptr;
    return &branch(call, call.toTag).label;
  };
  if (!opts.label.empty()) {
    if (auto* l = labelOf(side)) *l = opts.label;
  }
  if (!opts.otherLabel.empty()) {
    if (auto* l = labelOf(1 - side)) *l = opts.otherLabel;
  }
}

SockAddr MediaAnchor::peerAddress(const std::optional<std::string>& sdpAddress, uint16_t port,
                                  const AnchorOptions& opts) const {
  auto hold = remoteAddress(sdpAddress, port);
  if (!hold.valid()) return hold;  // RFC 3264 hold or an unusable address: nothing to send to
  if (!opts.mediaAddress.empty()) {
    if (auto a = SockAddr::fromIp(opts.mediaAddress, port)) return *a;
  }
  if (opts.sipSourceAddress && !opts.receivedFrom.empty()) {
    if (auto a = SockAddr::fromIp(opts.receivedFrom, port)) return *a;
  }
  return hold;
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
  const std::vector<int> group = offeredBundle(sdp);
  for (size_t i = 0; i < sdp.media.size(); ++i) {
    sdp::SdpMedia& m = sdp.media[i];
    if (i >= call.streams.size()) call.streams.emplace_back();
    StreamState& st = call.streams[i];
    // RFC 9143 §7.2.1: a bundle-only m-line (port 0) of an offer is accepted only in its BUNDLE group.
    const bool bundleOnly = m.port == 0 && i < group.size() && group[i] >= 0 && m.hasAttribute("bundle-only");
    // The offerer's group, or the group of an answer to our offer (a balanced BUNDLE offer).
    if ((isOffer || st.offerer != side) && !st.tcp && !isTcpProto(m.proto)) bundleOffer(call, st, side, i, group);
    if (bundleOnly && st.bundleOn[side] < 0) continue;  // not bundled after all: stays rejected
    if (m.port == 0 && !bundleOnly) {  // rejected or disabled m-line: nothing to anchor
      if (!isOffer && st.tcp) st.tcpPair = 0;  // a rejected TCP line's pair goes with the answer
      continue;
    }
    if (st.tcp || isTcpProto(m.proto)) {
      if (auto ok = anchorTcp(call, st, side, isOffer, sdp, i, opts); !ok) return undo(ok.error());
      continue;
    }
    auto conn = sdp.mediaConnectionAddress(i);  // present: check()
    if (!st.active) {
      // Without rtcp-mux on offer, both legs' RTCP sockets are opened now, where a taken port
      // can still be skipped; with it, they are opened by updateLeg only if the answer declines.
      const bool offerMux =
          ((m.rtcpMux() && !opts.muxReject) || opts.muxOffer || opts.muxRequire) && !opts.muxDemux;
      const auto bundled = st.bundleOn[side] >= 0 ? std::optional<uint8_t>(static_cast<uint8_t>(side)) : std::nullopt;
      if (auto ok = allocate(call, st, offerMux, bundled); !ok) return undo(ok.error());
    }

    relay::LegParams& p = st.params[side];
    const bool peerMux = m.rtcpMux();
    p.rtpRemote = peerAddress(conn, m.port, opts);
    p.rtcpRemote = peerMux ? p.rtpRemote
                           : peerAddress(conn, m.rtcpPort().value_or(static_cast<uint16_t>(m.port + 1)), opts);
    p.asymmetric = opts.asymmetric;
    p.strictSource = opts.strictSource;
    const bool savp = m.proto.find("SAVP") != std::string::npos;
    auto sdes = isOffer              ? offerSdes(srtpOptions(st, side, opts.srtp), m, st.sdes[side], st.sdes[other])
                : st.offerer != side ? answerSdes(m, st.sdes[side], st.sdes[st.offerer])
                                     : Expected<bool, std::string>(true);
    if (!sdes) {
      return undo(AnchorError{AnchorErrorCode::BadSdp, fmt::format("m-line {}: {}", i + 1, sdes.error())});
    }
    if (auto w = readWebrtc(st, side, isOffer, sdp, i, opts); !w) return undo(w.error());
    // Payload opaque to the relay only while SRTP passes through; a terminated leg is decrypted.
    p.srtp = savp && st.sdes[side].mode == SdesMode::Pass;
    p.crypto = st.sdes[side].crypto();
    st.params[other].crypto = st.sdes[other].crypto();
    p.opaque = m.proto.find("RTP") == std::string::npos;  // udptl and other non-RTP transports
    p.clockRate = firstClockRate(m);
    p.codec = firstCodec(m);
    p.party = side == 1 ? call.calleeParty : 0;
    p.bundle.transport = bundleTransport(call, st, side);
    p.bundle.payloadTypes = payloadTypes(m);
    readMid(p.bundle, m);
    bool muxTowardReceiver = false;  // does the SDP we pass on carry a=rtcp-mux?
    if (isOffer) {
      st.offerer = side;
      st.offeredMux = peerMux && !opts.muxReject;
      // A WebRTC leg is always muxed (RFC 8829 §5.1.3): the offerer's whatever the answer says,
      // the receiver's offered and required.
      st.demuxed = opts.muxDemux || st.webrtc[side].dtls;
      st.muxRequired = (opts.muxRequire && !opts.muxDemux) || st.webrtc[other].dtls;
      p.mux = st.offeredMux;  // provisional until the answer
      muxTowardReceiver = (st.offeredMux || opts.muxOffer || st.muxRequired) &&
                          (!opts.muxDemux || st.webrtc[other].dtls);
      st.params[other].mux = muxTowardReceiver;
      st.params[other].srtp = p.srtp;
    } else {
      p.mux = peerMux || st.muxRequired;
      relay::LegParams& off = st.params[st.offerer];
      off.mux = st.offeredMux && (peerMux || st.demuxed || st.muxRequired);
      muxTowardReceiver = off.mux;
    }
    for (int l : {side, other}) {
      auto r = relay_.updateLeg(call.sessionId, st.relayIndex, static_cast<uint8_t>(l), st.params[l]);
      if (!r) return undo(relayError(r.error()));
    }

    // What the receiver of this SDP must use: the relay's ports on the leg facing it.
    const uint16_t port = portToward(call, st, other);
    m.port = port;
    m.removeAttributes("bundle-only");  // the receiver gets a port of its own, or the transport's
    if (m.connectionAddress()) m.setConnection(addrType_, advertise_);
    if (muxTowardReceiver) {
      m.setAttribute("rtcp-mux", std::nullopt);
      m.removeAttributes("rtcp");
    } else {
      m.removeAttributes("rtcp-mux");
      if (opts.noRtcpAttribute) m.removeAttributes("rtcp");
      else m.setAttribute("rtcp", std::to_string(port + 1));
    }
  }
  sdp.setConnection(addrType_, advertise_);
  if (opts.replaceOrigin) sdp.setOriginAddress(addrType_, advertise_);
  writeWebrtcSdp(call, side, isOffer, sdp, opts);
  call.lastSignalUnix = clock_.wallSeconds();
  spdlog::info("call={} {} from leg {} anchored: {} stream(s)", call.callId, isOffer ? "offer" : "answer", side,
               sdp.media.size());
  return sdp.serialize();
}

CallInfo MediaAnchor::info(const Call& call, relay::SessionReport report) const {
  CallInfo ci{call.callId, call.fromTag, call.toTag, call.createdUnix, call.lastSignalUnix, std::move(report), {}, {}};
  ci.caller = Party{call.fromTag, call.fromLabel, ""};
  for (const Party& b : call.branches) {
    if (!call.toTag.empty() && b.tag == call.toTag) ci.callee = b;
  }
  if (ci.callee.tag.empty()) ci.callee.tag = call.toTag;
  return ci;
}

void MediaAnchor::removeCall(std::unordered_map<std::string, Call>::iterator it, DeleteCallback done) {
  // The call is forgotten now; the final report arrives when the worker has closed the sockets.
  CallInfo skeleton = info(it->second, relay::SessionReport{});
  const uint64_t sessionId = it->second.sessionId;
  removeTcpPairs(it->second);
  bySession_.erase(sessionId);
  calls_.erase(it);
  spdlog::info("call={} deleted", skeleton.callId);
  relay_.remove(sessionId, [this, skeleton = std::move(skeleton), done = std::move(done)](
                               std::optional<relay::SessionReport> report) mutable {
    if (report) {
      skeleton.report = std::move(*report);
      if (onRemoved_) onRemoved_(skeleton.report);
    }
    done(DeleteOutcome{true, std::move(skeleton)});
  });
}

void MediaAnchor::remove(const DeleteRequest& req, DeleteCallback done) {
  auto it = calls_.find(req.callId);
  if (it == calls_.end()) {
    done(Unexpected(AnchorError{AnchorErrorCode::UnknownCall, "Unknown call-id"}));
    return;
  }
  Call& call = it->second;
  const bool byTag = !req.fromTag.empty() || !req.toTag.empty();
  if (!byTag && req.viaBranch.empty()) return removeCall(it, std::move(done));

  // Which branches the request names. The caller's own tag names no branch.
  std::vector<size_t> selected;
  bool unknownTag = false;
  for (const std::string* tag : {&req.fromTag, &req.toTag}) {
    if (tag->empty() || *tag == call.fromTag) continue;
    auto b = std::find_if(call.branches.begin(), call.branches.end(), [&](const Party& p) { return p.tag == *tag; });
    if (b == call.branches.end()) unknownTag = true;
    else selected.push_back(static_cast<size_t>(b - call.branches.begin()));
  }
  if (selected.empty() && !req.viaBranch.empty()) {
    // A via-branch names the fork when no tag did (its reply may carry a to-tag never seen).
    for (size_t i = 0; i < call.branches.size(); ++i) {
      if (call.branches[i].viaBranch == req.viaBranch) selected.push_back(i);
    }
    unknownTag = selected.empty();
  }
  if (unknownTag && selected.empty()) {
    // A to-tag that never sent SDP (486 or 487 of an unforked call): the call is only the caller.
    if (call.branches.empty() && (req.fromTag.empty() || req.fromTag == call.fromTag)) {
      return removeCall(it, std::move(done));
    }
    done(Unexpected(tagMismatch()));
    return;
  }
  if (selected.empty()) return removeCall(it, std::move(done));  // only the caller's tag

  std::sort(selected.begin(), selected.end());
  selected.erase(std::unique(selected.begin(), selected.end()), selected.end());
  for (auto i = selected.rbegin(); i != selected.rend(); ++i) {
    const Party gone = call.branches[*i];
    call.branches.erase(call.branches.begin() + static_cast<std::ptrdiff_t>(*i));
    spdlog::info("call={} branch {}{} deleted", call.callId, gone.tag.empty() ? "via " : "tag ",
                 gone.tag.empty() ? gone.viaBranch : gone.tag);
    if (gone.tag == call.toTag && !gone.tag.empty()) call.toTag.clear();
  }
  if (call.branches.empty()) return removeCall(it, std::move(done));
  if (call.toTag.empty()) {
    // Leg 1 keeps the media parameters of the deleted answer until another fork answers.
    for (auto b = call.branches.rbegin(); b != call.branches.rend(); ++b) {
      if (!b->tag.empty()) {
        call.toTag = b->tag;
        break;
      }
    }
  }
  done(DeleteOutcome{false, info(call, relay::SessionReport{})});
}

void MediaAnchor::release(std::string_view callId) {
  auto it = calls_.find(std::string(callId));
  if (it == calls_.end()) return;
  relay_.drop(it->second.sessionId);
  removeTcpPairs(it->second);
  bySession_.erase(it->second.sessionId);
  spdlog::info("call={} media released", it->first);
  calls_.erase(it);
}

void MediaAnchor::query(std::string_view callId, QueryCallback done) {
  auto it = calls_.find(std::string(callId));
  if (it == calls_.end()) {
    done(Unexpected(AnchorError{AnchorErrorCode::UnknownCall, "Unknown call-id"}));
    return;
  }
  relay_.query(it->second.sessionId, [skeleton = info(it->second, relay::SessionReport{}), done = std::move(done)](
                                         std::optional<relay::SessionReport> report) mutable {
    if (!report) {
      done(Unexpected(AnchorError{AnchorErrorCode::UnknownCall, "Unknown call-id"}));
      return;
    }
    skeleton.report = std::move(*report);
    done(std::move(skeleton));
  });
}

Expected<CallInfo, AnchorError> MediaAnchor::query(std::string_view callId) const {
  auto it = calls_.find(std::string(callId));
  if (it == calls_.end()) return Unexpected(AnchorError{AnchorErrorCode::UnknownCall, "Unknown call-id"});
  const Call& call = it->second;
  relay::SessionReport r;
  r.id = call.sessionId;
  r.callId = call.callId;
  for (const StreamState& st : call.streams) {
    if (!st.active || st.tcp) continue;
    std::array<relay::LegReport, 2> legs;
    for (int l = 0; l < 2; ++l) {
      legs[l].rtpPort = st.port[l];
      legs[l].rtcpPort = st.params[l].mux ? 0 : static_cast<uint16_t>(st.port[l] + 1);
      legs[l].advertised = st.params[l].rtpRemote;
      legs[l].codec = st.params[l].codec;
    }
    r.streams.push_back(legs);
  }
  CallInfo ci = info(call, std::move(r));
  return ci;
}

const relay::LegParams* MediaAnchor::legParams(std::string_view callId, size_t mline, int leg) const {
  auto it = calls_.find(std::string(callId));
  if (it == calls_.end() || mline >= it->second.streams.size() || leg < 0 || leg > 1) return nullptr;
  const StreamState& st = it->second.streams[mline];
  return st.active && !st.tcp ? &st.params[leg] : nullptr;
}

std::vector<std::string> MediaAnchor::list(size_t limit) const {
  std::vector<std::string> out;
  for (const auto& [id, c] : calls_) {
    if (out.size() >= limit) break;
    out.push_back(id);
  }
  return out;
}

bool MediaAnchor::renewForTcp(const relay::SessionReport& report) {
  auto s = bySession_.find(report.id);
  if (s == bySession_.end() || tcp_ == nullptr) return false;
  Call& call = calls_.at(s->second);
  auto udpActive = [](const std::vector<StreamState>& v) {
    return std::any_of(v.begin(), v.end(), [](const StreamState& st) { return st.active && !st.tcp; });
  };
  if (udpActive(call.streams) || (call.beforeOffer && udpActive(*call.beforeOffer))) return false;
  const bool tcpOpen = std::any_of(call.tcpPairs.begin(), call.tcpPairs.end(), [this](uint64_t id) {
    auto st = tcp_->find(id);
    return st && !relay::terminal(st->state.load(std::memory_order_acquire));
  });
  if (!tcpOpen) return false;
  bySession_.erase(s);
  call.sessionId = relay_.createSession(call.callId);
  call.relayStreams = 0;  // no UDP stream was active: no StreamState names an old index
  call.spare.clear();
  bySession_[call.sessionId] = call.callId;
  spdlog::info("call={} no UDP media, TCP media open: the call goes on", call.callId);
  return true;
}

std::optional<std::string> MediaAnchor::onSessionEnded(const relay::SessionReport& report) {
  auto s = bySession_.find(report.id);
  if (s == bySession_.end()) return std::nullopt;
  std::string callId = s->second;
  bySession_.erase(s);
  if (auto c = calls_.find(callId); c != calls_.end()) removeTcpPairs(c->second);
  calls_.erase(callId);
  return callId;
}

}  // namespace rdv::anchor
