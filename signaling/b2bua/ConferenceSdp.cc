#include "signaling/b2bua/ConferenceSdp.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

#include <fmt/format.h>

#include "signaling/anchor/SrtpMedia.h"
#include "signaling/sdp/Sdp.h"
#include "signaling/sip/SipLex.h"

namespace rdv::b2bua {
namespace {

// The codecs the mixer codes, as rtpmap names them (RFC 3551 §6, RFC 7587 §7: opus always says
// 48000/2), with their static payload type where RFC 3551 gives one.
struct KnownCodec {
  media::CodecId id;
  std::string_view encoding;
  uint32_t rate;
  std::string_view channels;  // empty: none, or 1
  int staticPt;               // -1: dynamic only
  std::string_view rtpmap;    // what the answer writes
};
constexpr std::array<KnownCodec, 4> kCodecs{{
    {media::CodecId::Opus, "opus", 48000, "2", -1, "opus/48000/2"},
    {media::CodecId::G722, "G722", 8000, "", 9, "G722/8000"},
    {media::CodecId::Pcmu, "PCMU", 8000, "", 0, "PCMU/8000"},
    {media::CodecId::Pcma, "PCMA", 8000, "", 8, "PCMA/8000"},
}};
constexpr std::string_view kAudioLevelUri = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

std::optional<uint32_t> number(std::string_view s) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// `map` ("<encoding>/<rate>[/<channels>]" of an rtpmap) names that encoding, rate and channel
// count (encoding names are case-insensitive, RFC 4855 §3; no channels means one).
bool names(std::string_view map, std::string_view encoding, uint32_t rate, std::string_view channels) {
  const size_t slash = map.find('/');
  if (slash == std::string_view::npos || !sip::equalsIgnoreCase(map.substr(0, slash), encoding)) return false;
  const std::string_view rest = map.substr(slash + 1);
  const size_t slash2 = rest.find('/');
  const std::string_view ch = slash2 == std::string_view::npos ? std::string_view() : rest.substr(slash2 + 1);
  if (number(rest.substr(0, slash2)) != rate) return false;
  return ch == channels || (channels.empty() && ch == "1");
}

const KnownCodec* codecOf(const sdp::SdpMedia& m, uint8_t pt) {
  const auto map = m.rtpmap(pt);
  for (const auto& c : kCodecs) {
    if (map ? names(*map, c.encoding, c.rate, c.channels) : c.staticPt == static_cast<int>(pt)) {
      return &c;
    }
  }
  return nullptr;
}

// The offered direction: the section's own attribute, else the session's (RFC 3264 §5.1).
template <typename Level>
std::optional<std::string_view> direction(const Level& level) {
  for (std::string_view d : {"sendrecv", "sendonly", "recvonly", "inactive"}) {
    if (level.hasAttribute(d)) return d;
  }
  return std::nullopt;
}

// Ours for the offerer's (RFC 3264 §6.1).
std::string_view answerDirection(const sdp::SdpSession& s, const sdp::SdpMedia& m) {
  const std::string_view offered = direction(m).value_or(direction(s).value_or("sendrecv"));
  if (offered == "sendonly") return "recvonly";
  if (offered == "recvonly") return "sendonly";
  return offered;
}

// The first audio section we can take part in: RTP/AVP(F), or RTP/SAVP(F) with an a=crypto the
// relay can terminate, with a port.
std::optional<size_t> audioSection(const sdp::SdpSession& s) {
  for (size_t i = 0; i < s.media.size(); ++i) {
    const auto& m = s.media[i];
    if (m.media != "audio" || m.port == 0) continue;
    if (m.proto == "RTP/AVP" || m.proto == "RTP/AVPF") return i;
    if ((m.proto == "RTP/SAVP" || m.proto == "RTP/SAVPF") && !anchor::usableCryptos(m, anchor::kAllSuites).empty()) {
      return i;
    }
    if (m.proto == "UDP/TLS/RTP/SAVP" || m.proto == "UDP/TLS/RTP/SAVPF") return i;
  }
  return std::nullopt;
}

// For an RTP/SAVP(F) section: the caller's key, ours, and both as the relay leg's keys.
bool negotiateSrtp(const sdp::SdpMedia& m, ConferenceOffer& o) {
  if (m.proto.find("SAVP") == std::string::npos || m.proto.starts_with("UDP/TLS/")) return true;
  auto lines = anchor::usableCryptos(m, anchor::kAllSuites);  // not empty: audioSection()
  o.peerKey = std::move(lines.front());
  o.ourKey = srtp::SdesCrypto::generate(o.peerKey->tag, o.peerKey->suite);
  if (!o.ourKey) return false;
  o.join.crypto = relay::LegCrypto{*anchor::toSrtpKeys(*o.peerKey), *anchor::toSrtpKeys(*o.ourKey)};
  return true;
}

// For a UDP/TLS/RTP/SAVP(F) section: the browser's fingerprint, role and ICE credentials, ours.
Expected<bool, std::string> negotiateWebrtc(const sdp::SdpSession& s, size_t index, ConferenceOffer& o) {
  if (!s.media[index].proto.starts_with("UDP/TLS/")) return true;
  o.webrtc.dtls = true;
  if (auto ok = anchor::readWebrtcPeer(s, index, true, anchor::WebrtcOptions{}, o.webrtc); !ok) return ok;
  if (!anchor::enableIce(o.webrtc, o.webrtc.peerUfrag.length > 0)) {
    return Unexpected(std::string("no random ICE credentials (RNG failure)"));
  }
  o.join.ice = o.webrtc.legIce();
  o.join.dtls = o.webrtc.legDtls();
  o.join.rtcpMux = true;  // RFC 8829 §5.1.3: a browser muxes
  return true;
}

// The id of "a=extmap:<id>[/<direction>] urn:ietf:params:rtp-hdrext:ssrc-audio-level" (RFC 6464),
// when it fits a one-byte header extension (1-14, RFC 8285 §4.2); else 0.
uint8_t audioLevelId(const sdp::SdpMedia& m) {
  for (const auto& line : m.lines) {
    std::string_view v = line.value;
    if (line.type != 'a' || !v.starts_with("extmap:")) continue;
    v.remove_prefix(7);
    const size_t space = v.find(' ');
    if (space == std::string_view::npos || !v.substr(space + 1).starts_with(kAudioLevelUri)) continue;
    const auto id = number(v.substr(0, std::min(space, v.find('/'))));
    if (id && *id >= 1 && *id <= 14) return static_cast<uint8_t>(*id);
  }
  return 0;
}

// Chooses the codec and reads the extras of the answered section into `o.join`.
bool negotiateSection(const sdp::SdpMedia& m, ConferenceOffer& o) {
  const KnownCodec* chosen = nullptr;
  for (const auto& f : m.formats) {
    const auto number32 = number(f);
    if (!number32 || *number32 > 127) continue;
    const auto pt = static_cast<uint8_t>(*number32);
    const auto map = m.rtpmap(pt);
    if (map && o.join.dtmfPayloadType == 0 && names(*map, "telephone-event", 8000, "")) o.join.dtmfPayloadType = pt;
    if (chosen == nullptr && (chosen = codecOf(m, pt)) != nullptr) o.join.payloadType = pt;
  }
  if (chosen == nullptr) return false;
  o.join.codec = chosen->id;
  o.join.audioLevelExtId = audioLevelId(m);
  o.join.rtcpMux = m.rtcpMux();
  return true;
}

// Our ICE/DTLS attributes and a=mid for the answered section (anchor::writeWebrtc's lines).
std::string webrtcLines(const ConferenceOffer& offer, std::string_view family, std::string_view ip, uint16_t port) {
  sdp::SdpMedia m;
  anchor::WebrtcLeg leg = offer.webrtc;
  anchor::writeWebrtc(m, leg, anchor::WebrtcOptions{},
                      anchor::WebrtcWrite{family, ip, port, true, offer.fingerprint, false});
  if (!leg.mid.empty()) m.setAttribute("mid", leg.mid);
  std::string out;
  for (const auto& l : m.lines) out += fmt::format("{}={}\r\n", l.type, l.value);
  return out;
}

}  // namespace

Expected<ConferenceOffer, std::string> negotiateConferenceOffer(std::string_view sdp) {
  if (sdp.empty()) return Unexpected(std::string("no SDP offer"));
  auto parsed = sdp::SdpSession::parse(sdp);
  if (!parsed)
    return Unexpected(fmt::format("bad SDP (line {}: {})", parsed.error().line, parsed.error().reason));
  const sdp::SdpSession& s = *parsed;
  const auto index = audioSection(s);
  if (!index) {
    return Unexpected(std::string("no RTP/AVP audio stream (nor RTP/SAVP with a usable a=crypto, nor UDP/TLS/RTP/SAVP)"));
  }
  const sdp::SdpMedia& m = s.media[*index];
  ConferenceOffer o;
  o.audioIndex = *index;
  o.proto = m.proto;
  o.join.rtcpMux = false;
  if (!negotiateSection(m, o)) return Unexpected(std::string("no common codec (opus, G722, PCMU, PCMA)"));
  if (!negotiateSrtp(m, o)) return Unexpected(std::string("no random SRTP key (RNG failure)"));
  if (auto ok = negotiateWebrtc(s, *index, o); !ok) return Unexpected(ok.error());
  o.direction = std::string(answerDirection(s, m));
  if (auto ip = s.mediaConnectionAddress(*index); ip && *ip != "0.0.0.0" && *ip != "::") {
    o.join.rtp = common::SockAddr::fromIp(*ip, m.port).value_or(common::SockAddr());
  }
  for (const auto& other : s.media) {
    std::string formats;
    for (const auto& f : other.formats) formats += " " + f;
    o.rejected.push_back(fmt::format("{} 0 {}{}", other.media, other.proto, formats));
  }
  return o;
}

std::string conferenceAnswer(const ConferenceOffer& offer, const common::SockAddr& local, uint64_t sessionId,
                             uint64_t version) {
  const std::string_view family = local.isV6() ? "IP6" : "IP4";
  const std::string ip = local.ip();
  std::string out =
      fmt::format("v=0\r\no=rendezvous {} {} IN {} {}\r\ns=rendezvous\r\nc=IN {} {}\r\nt=0 0\r\n", sessionId,
                  version, family, ip, family, ip);
  const mixer::JoinRequest& j = offer.join;
  if (offer.webrtc.dtls) {
    out += "a=ice-lite\r\n";
    if (!offer.webrtc.mid.empty()) out += fmt::format("a=group:BUNDLE {}\r\n", offer.webrtc.mid);
  }
  for (size_t i = 0; i < offer.rejected.size(); ++i) {
    if (i != offer.audioIndex) {
      out += fmt::format("m={}\r\n", offer.rejected[i]);
      continue;
    }
    out += fmt::format("m=audio {} {} {}", local.port(), offer.proto, j.payloadType);
    out += j.dtmfPayloadType != 0 ? fmt::format(" {}\r\n", j.dtmfPayloadType) : std::string("\r\n");
    for (const auto& c : kCodecs) {
      if (c.id == j.codec) out += fmt::format("a=rtpmap:{} {}\r\n", j.payloadType, c.rtpmap);
    }
    if (j.codec == media::CodecId::Opus) out += fmt::format("a=fmtp:{} useinbandfec=1\r\n", j.payloadType);
    if (j.dtmfPayloadType != 0) {
      out += fmt::format("a=rtpmap:{0} telephone-event/8000\r\na=fmtp:{0} 0-15\r\n", j.dtmfPayloadType);
    }
    out += "a=ptime:20\r\n";
    if (j.rtcpMux) out += "a=rtcp-mux\r\n";
    if (j.audioLevelExtId != 0) out += fmt::format("a=extmap:{} {}\r\n", j.audioLevelExtId, kAudioLevelUri);
    if (offer.ourKey) out += fmt::format("a=crypto:{}\r\n", offer.ourKey->format());
    if (offer.webrtc.dtls) out += webrtcLines(offer, family, ip, local.port());
    out += fmt::format("a={}\r\n", offer.direction);
  }
  return out;
}

}  // namespace rdv::b2bua
