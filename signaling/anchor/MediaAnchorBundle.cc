// MediaAnchor's BUNDLE (RFC 9143) for WebRTC legs: the m-lines a WebRTC peer groups share one relay
// transport on that peer's side (relay/LegBundle.h), while the other side (a plain phone) keeps a
// port per m-line. The offerer-tagged m-line (the first of the group with a port) is the
// transport: its relay leg alone has the socket, ICE, DTLS and SRTP; the others' legs on that side
// are bundled on it (no socket) and the relay demultiplexes by SSRC and payload type. The SDP the
// peer receives repeats the transport's port, ICE credentials, candidate and fingerprint in every
// bundled m-line, with a=group:BUNDLE of all of them (MediaAnchorWebrtc.cc).
//
// When Rendezvous offers to a WebRTC peer, every WebRTC m-line gets its own socket, ICE and DTLS and
// the offer groups them; an answer whose group keeps them bundles the later legs on the first
// (their sockets then idle), one that declines leaves a transport per m-line.

#include <algorithm>
#include <charconv>
#include <string_view>

#include "signaling/anchor/MediaAnchor.h"
#include "signaling/sdp/Sdp.h"
#include "signaling/sdp/SdpWebrtc.h"

namespace rdv::anchor {

std::vector<int> MediaAnchor::offeredBundle(const sdp::SdpSession& sdp) {
  std::vector<int> out(sdp.media.size(), -1);
  const std::vector<std::string> tags = sdp::bundleGroup(sdp);
  std::vector<size_t> members;
  for (const std::string& tag : tags) {
    for (size_t i = 0; i < sdp.media.size(); ++i) {
      if (sdp.media[i].attribute("mid") == tag) {
        members.push_back(i);
        break;
      }
    }
  }
  // RFC 9143 §7.2: the offerer-tagged m-line is the first of the group, and it has a port.
  if (members.size() < 2 || sdp.media[members.front()].port == 0) return out;
  const size_t transport = members.front();
  // One transport, one protocol (RFC 9143 §7.1); read before anchoring rewrites the m-lines.
  for (size_t i : members) {
    if (i > transport && sdp.media[i].proto == sdp.media[transport].proto) out[i] = static_cast<int>(transport);
  }
  return out;
}

void MediaAnchor::bundleOffer(const Call& call, StreamState& st, int side, size_t i,
                              const std::vector<int>& group) const {
  if (st.active && st.port[side] == 0) return;  // no socket of its own: stays on its transport
  st.bundleOn[side] = -1;
  if (i >= group.size() || group[i] < 0) return;
  const auto t = static_cast<size_t>(group[i]);
  const StreamState& ts = call.streams[t];
  // Only legs the relay terminates (DTLS-SRTP with ICE-lite) share a transport: the relay must
  // read SSRCs and payload types, and one handshake keys the whole group.
  if (!ts.active || ts.tcp || !ts.webrtc[side].dtls || ts.bundleOn[side] >= 0 || ts.port[side] == 0) return;
  st.bundleOn[side] = static_cast<int>(t);
}

uint16_t MediaAnchor::portToward(const Call& call, const StreamState& st, int l) const {
  if (st.bundleOn[l] >= 0 && static_cast<size_t>(st.bundleOn[l]) < call.streams.size()) {
    return call.streams[static_cast<size_t>(st.bundleOn[l])].port[l];
  }
  return st.port[l];
}

uint32_t MediaAnchor::bundleTransport(const Call& call, const StreamState& st, int l) const {
  if (st.bundleOn[l] < 0 || static_cast<size_t>(st.bundleOn[l]) >= call.streams.size()) return relay::LegBundle::kNone;
  return call.streams[static_cast<size_t>(st.bundleOn[l])].relayIndex;
}

relay::PayloadTypeSet MediaAnchor::payloadTypes(const sdp::SdpMedia& m) {
  relay::PayloadTypeSet out;
  for (const std::string& f : m.formats) {
    unsigned pt = 0;
    auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), pt);
    if (ec == std::errc() && p == f.data() + f.size() && pt < 128) out.add(static_cast<uint8_t>(pt));
  }
  return out;
}

void MediaAnchor::readMid(relay::LegBundle& b, const sdp::SdpMedia& m) {
  b.mid = {};
  b.midLength = 0;
  b.midExtensionId = 0;
  const auto mid = m.attribute("mid");
  if (!mid || mid->empty() || mid->size() > b.mid.size()) return;
  std::copy(mid->begin(), mid->end(), b.mid.begin());
  b.midLength = static_cast<uint8_t>(mid->size());
  for (const sdp::SdpLine& l : m.lines) {
    std::string_view v = l.value;
    if (l.type != 'a' || !v.starts_with("extmap:")) continue;
    v.remove_prefix(7);
    const size_t sp = v.find(' ');
    if (sp == std::string_view::npos) continue;
    std::string_view uri = v.substr(sp + 1);
    uri = uri.substr(0, uri.find(' '));
    if (uri != "urn:ietf:params:rtp-hdrext:sdes:mid") continue;
    unsigned id = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + sp, id);  // "<id>" or "<id>/<direction>"
    if (ec == std::errc() && (p == v.data() + sp || *p == '/') && id >= 1 && id <= 255 && id != 15) {
      b.midExtensionId = static_cast<uint8_t>(id);
    }
    return;
  }
}

}  // namespace rdv::anchor
