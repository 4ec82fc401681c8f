// MediaAnchor's WebRTC legs (WebrtcMedia.h): ICE-lite and terminated DTLS-SRTP per leg.
//
// BUNDLE (RFC 9143, MediaAnchorBundle.cc): m-lines whose leg toward a WebRTC peer is bundled on
// another's transport get that transport's port, ICE credentials, candidate, fingerprint and
// a=setup, and a=group:BUNDLE lists the transport's mid first, then its members'. A single WebRTC
// m-line that bundles nothing is still written as a group of one (max-bundle browsers need it).
// Our own offer groups all its WebRTC m-lines while each keeps its port, ICE and DTLS (a balanced
// offer, RFC 9143 §7.2); the answer's group bundles them (MediaAnchorBundle.cc). Unbundled WebRTC
// m-lines in an answer (an offer without a group) get no group: a transport each.

#include <fmt/format.h>

#include "signaling/anchor/MediaAnchor.h"
#include "signaling/sdp/Sdp.h"
#include "signaling/sdp/SdpWebrtc.h"

namespace rdv::anchor {
namespace {

void removeBundleGroups(sdp::SdpSession& sdp) {
  std::erase_if(sdp.lines, [](const sdp::SdpLine& l) {
    const std::string_view v = l.value;
    return l.type == 'a' && v.starts_with("group:BUNDLE") && (v.size() == 12 || v[12] == ' ');
  });
}

// A video m-line towards a browser without any a=rtcp-fb (from a SIP phone): PLI lets the
// browser ask the phone for a key frame (RFC 4585 §6.3.1), which phones honour.
void generateRtcpFb(sdp::SdpMedia& m) {
  if (m.media != "video") return;
  for (const sdp::SdpLine& l : m.lines) {
    if (l.type == 'a' && std::string_view(l.value).starts_with("rtcp-fb:")) return;
  }
  for (const std::string& f : m.formats) m.lines.push_back(sdp::SdpLine{'a', "rtcp-fb:" + f + " nack pli"});
}

}  // namespace

Expected<bool, AnchorError> MediaAnchor::readWebrtc(StreamState& st, int side, bool isOffer,
                                                    const sdp::SdpSession& sdp, size_t i,
                                                    const AnchorOptions& opts) const {
  const int other = 1 - side;
  WebrtcLeg& me = st.webrtc[side];
  WebrtcLeg& to = st.webrtc[other];
  auto bad = [i](std::string why) {
    return Unexpected(AnchorError{AnchorErrorCode::BadSdp, fmt::format("m-line {}: {}", i + 1, why)});
  };
  if (isOffer) {
    me.dtls = st.sdes[side].mode == SdesMode::Dtls;
    to.dtls = st.sdes[other].mode == SdesMode::Dtls;
    if (auto ok = readWebrtcPeer(sdp, i, true, opts.webrtc, me); !ok) return bad(ok.error());
    // We answer ICE to a sender that offered it on a leg we terminate (or when forced).
    const bool meIce = me.peerUfrag.length > 0 && (me.dtls || opts.webrtc.ice == IcePolicy::Force);
    const bool toIce = opts.webrtc.ice == IcePolicy::Force || (to.dtls && opts.webrtc.ice != IcePolicy::Remove);
    if (!enableIce(me, meIce) || !enableIce(to, toIce)) return bad("no random ICE credentials (RNG failure)");
  } else if (st.offerer != side && (me.dtls || me.ice)) {
    if (auto ok = readWebrtcPeer(sdp, i, false, opts.webrtc, me); !ok) return bad(ok.error());
  }
  if ((me.dtls || to.dtls) && dtlsFingerprint_.empty()) {
    return bad("DTLS-SRTP needs the relay's certificate, and none is configured");
  }
  st.params[side].ice = me.legIce();
  st.params[side].dtls = me.legDtls();
  st.params[other].ice = to.legIce();
  st.params[other].dtls = to.legDtls();
  return true;
}

void MediaAnchor::writeWebrtcSdp(Call& call, int side, bool isOffer, sdp::SdpSession& sdp, const AnchorOptions& opts) {
  if (opts.generateMid) {
    for (size_t i = 0; i < sdp.media.size(); ++i) {
      if (!sdp.media[i].hasAttribute("mid")) sdp.media[i].setAttribute("mid", std::to_string(i));
    }
  }
  removeIceAttributes(sdp);  // the peer's: the relay is the only candidate either side sees
  const int to = 1 - side;
  bool terminated = false;
  bool anyIce = false;
  std::vector<std::string> mids;
  // BUNDLE groups toward the receiver: transport m-line -> the mids of the group, its own first.
  std::vector<std::vector<std::string>> groups(call.streams.size());
  for (size_t i = 0; i < sdp.media.size() && i < call.streams.size(); ++i) {
    StreamState& st = call.streams[i];
    sdp::SdpMedia& m = sdp.media[i];
    if (!st.active || st.tcp || m.port == 0) continue;
    if (st.sdes[0].mode == SdesMode::Dtls || st.sdes[1].mode == SdesMode::Dtls) {
      terminated = true;  // the peer's certificate and role mean nothing to the other side
      sdp::removeDtlsAttributes(m);
    }
    // A bundled m-line gets its transport's ICE, DTLS and port (RFC 9143 §7.3: one transport).
    const int t = st.bundleOn[to];
    StreamState& ts = t >= 0 ? call.streams[static_cast<size_t>(t)] : st;
    WebrtcLeg& leg = st.webrtc[to];
    if (!leg.ice && !leg.dtls) continue;
    writeWebrtc(m, ts.webrtc[to], opts.webrtc,
                WebrtcWrite{addrType_, advertise_, ts.port[to], ts.params[to].mux, dtlsFingerprint_, isOffer});
    anyIce = anyIce || leg.ice;
    if (!leg.dtls) continue;
    // JSEP (RFC 8829 §5.3.1) wants a=mid on every m-line; an answer repeats the offer's.
    if (!isOffer && !leg.mid.empty()) m.setAttribute("mid", leg.mid);
    else if (!m.hasAttribute("mid")) m.setAttribute("mid", std::to_string(i));
    mids.emplace_back(*m.attribute("mid"));
    groups[t >= 0 ? static_cast<size_t>(t) : i].emplace_back(*m.attribute("mid"));
    generateRtcpFb(m);
  }
  if (terminated) {
    sdp::removeDtlsAttributes(sdp);
    removeBundleGroups(sdp);
  }
  bool bundled = false;
  for (const auto& g : groups) {
    if (g.size() < 2) continue;
    std::string line = "group:BUNDLE";
    for (const std::string& mid : g) line += " " + mid;
    sdp.lines.push_back(sdp::SdpLine{'a', std::move(line)});
    bundled = true;
  }
  if (!bundled && (mids.size() == 1 || isOffer)) {
    // Our offer groups every WebRTC m-line, each still with a port, ICE and DTLS of its own (RFC
    // 9143 §7.2: unique addresses in an offer); an answer that keeps the group bundles them.
    std::string line = "group:BUNDLE";
    for (const std::string& mid : mids) line += " " + mid;
    if (!mids.empty()) sdp.lines.push_back(sdp::SdpLine{'a', std::move(line)});
  }
  if (anyIce) sdp.setAttribute("ice-lite", std::nullopt);
}

}  // namespace rdv::anchor
