#include "signaling/anchor/SrtpMedia.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "signaling/sdp/Sdp.h"

namespace rdv::anchor {
namespace {

using srtp::SdesCrypto;
using srtp::Suite;

// The order suites are offered in: the one every SDES endpoint has first, AES-GCM next (RFC 7714),
// the 32-bit tag last (RFC 4568 §6.2.2: weaker; kept for old phones that ask for it).
constexpr std::array kOfferOrder{Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm, Suite::AeadAes256Gcm,
                                 Suite::AesCm128HmacSha1_32};

constexpr std::string_view kCrypto = "crypto:";

bool isSavp(std::string_view proto) { return proto.find("SAVP") != std::string_view::npos; }
bool isFeedback(std::string_view proto) { return proto.ends_with("AVPF"); }
// RTP over UDP that SDES can key: RTP/AVP, RTP/AVPF, RTP/SAVP, RTP/SAVPF. DTLS-SRTP
// (UDP/TLS/RTP/SAVP(F)) is the Dtls mode; anything else (udptl, TCP) is not RTP here.
bool isSdesProto(std::string_view proto) {
  return proto == "RTP/AVP" || proto == "RTP/AVPF" || proto == "RTP/SAVP" || proto == "RTP/SAVPF";
}
bool isDtlsProto(std::string_view proto) { return proto.find("TLS/RTP") != std::string_view::npos; }

std::string rtpProto(bool secure, bool feedback) {
  return std::string(secure ? "RTP/SAVP" : "RTP/AVP") + (feedback ? "F" : "");
}

bool usable(const SdesCrypto& c, uint8_t suites) {
  return (suites & suiteBit(c.suite)) != 0 && !c.unsupportedSessionParam() && toSrtpKeys(c).has_value();
}

// Same key material, suite and parameters; the tag does not count (it only numbers lines).
bool sameKey(const SdesCrypto& a, const SdesCrypto& b) {
  SdesCrypto t = a;
  t.tag = b.tag;
  return t.format() == b.format();
}

void setCryptoLines(sdp::SdpMedia& m, const std::vector<SdesCrypto>& lines) {
  m.removeAttributes("crypto");
  for (const SdesCrypto& c : lines) m.lines.push_back(sdp::SdpLine{'a', std::string(kCrypto) + c.format()});
}

// Our key of `suite` for `leg`, generated when it has none.
const SdesCrypto* ensureKey(SdesLeg& leg, Suite suite) {
  if (const SdesCrypto* k = leg.key(suite)) return k;
  auto fresh = SdesCrypto::generate(1, suite);
  if (!fresh) return nullptr;
  leg.keys.push_back(std::move(*fresh));
  return &leg.keys.back();
}

void forget(SdesLeg& leg, Suite suite) {
  std::erase_if(leg.keys, [suite](const SdesCrypto& k) { return k.suite == suite; });
}

// The offerer's side: Plain or Sdes (keyed by its first usable line), or why neither will do.
Expected<bool, std::string> decideSender(const SrtpOptions& o, const sdp::SdpMedia& m, SdesLeg& s) {
  if (isDtlsProto(m.proto)) {
    if (o.sender == SrtpPolicy::Never) return Unexpected(std::string("offer is DTLS-SRTP only, SRTP is off towards its sender"));
    s = SdesLeg{};
    s.mode = SdesMode::Dtls;
    s.proto = m.proto;
    return true;
  }
  const bool savp = isSavp(m.proto);
  const auto lines = usableCryptos(m, o.suites);
  const bool osrtp = !savp && o.osrtpAccept && !lines.empty();
  bool terminate = false;
  switch (o.sender) {
    case SrtpPolicy::Never:
      if (savp) return Unexpected(std::string("offer is RTP/SAVP only, SRTP is off towards its sender"));
      break;
    case SrtpPolicy::Require:
      if (lines.empty()) return Unexpected(std::string("offer has no usable a=crypto, SRTP is required towards its sender"));
      terminate = true;
      break;
    case SrtpPolicy::Dtls: return Unexpected(std::string("offer is not DTLS-SRTP, which is required towards its sender"));
    case SrtpPolicy::Offer:
    case SrtpPolicy::Passthrough:
      if (savp && lines.empty()) return Unexpected(std::string("RTP/SAVP offer without a usable a=crypto"));
      terminate = savp || osrtp;
      break;
  }
  s.proto = m.proto;
  s.required = false;
  s.offered.clear();
  if (!terminate) {
    s.mode = SdesMode::Plain;
    s.peer.reset();
    s.keys.clear();
    return true;
  }
  s.mode = SdesMode::Sdes;
  const SdesCrypto& chosen = lines.front();
  if (s.peer && !sameKey(*s.peer, chosen)) forget(s, chosen.suite);  // the peer rekeyed: so do we
  s.peer = chosen;
  if (ensureKey(s, chosen.suite) == nullptr) return Unexpected(std::string("no random key (RNG failure)"));
  return true;
}

}  // namespace

std::optional<SrtpPolicy> srtpPolicyFromName(std::string_view name) {
  if (name == "passthrough") return SrtpPolicy::Passthrough;
  if (name == "offer") return SrtpPolicy::Offer;
  if (name == "require") return SrtpPolicy::Require;
  if (name == "never") return SrtpPolicy::Never;
  if (name == "dtls") return SrtpPolicy::Dtls;
  return std::nullopt;
}

std::string_view toString(SrtpPolicy p) {
  switch (p) {
    case SrtpPolicy::Passthrough: return "passthrough";
    case SrtpPolicy::Offer: return "offer";
    case SrtpPolicy::Require: return "require";
    case SrtpPolicy::Never: return "never";
    case SrtpPolicy::Dtls: return "dtls";
  }
  return "passthrough";
}

std::optional<relay::SrtpKeys> toSrtpKeys(const SdesCrypto& c) {
  relay::SrtpKeys k;
  if (c.keys.empty() || c.keys.size() > relay::SrtpKeys::kMaxKeys) return std::nullopt;
  k.suite = c.suite;
  for (const srtp::SdesKey& in : c.keys) {
    if (in.mkiLength > sizeof(uint64_t) || in.length > srtp::kMaxKeySaltLength) return std::nullopt;
    relay::SrtpKey& out = k.keys[k.count++];
    std::memcpy(out.keySalt.data(), in.material.data(), in.length);
    out.keySaltLength = in.length;
    out.mki = in.mki;
    out.mkiLength = in.mkiLength;
  }
  return k;
}

std::vector<SdesCrypto> usableCryptos(const sdp::SdpMedia& m, uint8_t suites) {
  std::vector<SdesCrypto> out;
  for (const sdp::SdpLine& l : m.lines) {
    if (l.type != 'a' || !std::string_view(l.value).starts_with(kCrypto)) continue;
    auto c = SdesCrypto::parse(std::string_view(l.value).substr(kCrypto.size()));
    if (c && usable(*c, suites)) out.push_back(std::move(*c));
  }
  return out;
}

const SdesCrypto* SdesLeg::key(Suite suite) const {
  auto it = std::find_if(keys.begin(), keys.end(), [suite](const SdesCrypto& k) { return k.suite == suite; });
  return it == keys.end() ? nullptr : &*it;
}

relay::LegCrypto SdesLeg::crypto() const {
  if (mode != SdesMode::Sdes || !peer) return {};
  const SdesCrypto* ours = key(peer->suite);
  auto recv = toSrtpKeys(*peer);
  auto send = ours != nullptr ? toSrtpKeys(*ours) : std::nullopt;
  if (!recv || !send) return {};
  return relay::LegCrypto{*recv, *send};
}

Expected<bool, std::string> offerSdes(const SrtpOptions& o, sdp::SdpMedia& m, SdesLeg& s, SdesLeg& r) {
  const bool dtlsIn = isDtlsProto(m.proto);
  const bool converted = s.mode != SdesMode::Pass || r.mode != SdesMode::Pass;  // e.g. a terminated DTLS leg
  if (!(o.active() || converted || (dtlsIn && o.terminateDtls)) || (!isSdesProto(m.proto) && !dtlsIn)) {
    s = SdesLeg{};
    r = SdesLeg{};
    return true;  // passed through untouched
  }
  // A terminated DTLS offer is a browser's: the plain side gets AVP unless told otherwise.
  bool feedback = o.receiverFeedback.value_or(isFeedback(m.proto) && !dtlsIn);
  const bool offeredSavp = isSavp(m.proto) && !dtlsIn;
  if (auto ok = decideSender(o, m, s); !ok) return ok;
  bool secure = false;  // towards the receiver: RTP/SAVP (else RTP/AVP)
  const bool receiverKnown = r.mode != SdesMode::Pass;  // the stream was converted before
  switch (o.receiver) {
    case SrtpPolicy::Never: r.mode = SdesMode::Plain; break;
    case SrtpPolicy::Offer: r.mode = SdesMode::Sdes; break;
    case SrtpPolicy::Require:
      r.mode = SdesMode::Sdes;
      secure = true;
      break;
    case SrtpPolicy::Dtls: r.mode = SdesMode::Dtls; break;
    case SrtpPolicy::Passthrough:
      if (receiverKnown) {  // as that peer took part so far (its SRTP stays SRTP in the same form)
        if (r.mode == SdesMode::Dtls) break;
        secure = r.mode == SdesMode::Sdes && isSavp(r.proto);
        feedback = o.receiverFeedback.value_or(isFeedback(r.proto));
      } else if (s.mode == SdesMode::Dtls) {
        r.mode = SdesMode::Plain;  // DTLS is terminated here: the other side gets RTP
      } else {  // as the offerer: SRTP (in its form) if it offered it
        r.mode = s.mode;
        secure = s.mode == SdesMode::Sdes && offeredSavp;
      }
      break;
  }
  if (r.mode == SdesMode::Dtls) {
    const bool dtlsFeedback = receiverKnown && r.proto.starts_with("UDP/TLS/") ? isFeedback(r.proto) : true;
    r.proto = std::string("UDP/TLS/") + rtpProto(true, o.receiverFeedback.value_or(dtlsFeedback));
    r.required = false;
    r.offered.clear();
    r.peer.reset();
    r.keys.clear();
    m.removeAttributes("crypto");
    m.proto = r.proto;
    return true;
  }
  r.proto = rtpProto(secure, feedback);
  r.required = secure;
  r.offered.clear();
  if (r.mode != SdesMode::Sdes) {
    r.peer.reset();
    r.keys.clear();
    m.removeAttributes("crypto");
    m.proto = r.proto;
    return true;
  }
  uint32_t tag = 1;
  for (Suite suite : kOfferOrder) {
    if ((o.suites & suiteBit(suite)) == 0) continue;
    const SdesCrypto* k = ensureKey(r, suite);
    if (k == nullptr) return Unexpected(std::string("no random key (RNG failure)"));
    SdesCrypto line = *k;
    line.tag = tag++;
    r.offered.push_back(std::move(line));
  }
  if (r.offered.empty()) return Unexpected(std::string("no SRTP crypto suite left to offer"));
  // Keys of suites no longer offered go; the peer's key stays until its answer replaces it.
  std::erase_if(r.keys, [&](const SdesCrypto& k) { return (o.suites & suiteBit(k.suite)) == 0; });
  setCryptoLines(m, r.offered);
  m.proto = r.proto;
  return true;
}

Expected<bool, std::string> answerSdes(sdp::SdpMedia& m, SdesLeg& a, SdesLeg& f) {
  if (a.mode == SdesMode::Pass && f.mode == SdesMode::Pass) return true;
  if (a.mode == SdesMode::Sdes) {
    // The answer's line must answer one of ours: same tag, same suite (RFC 4568 §7.1.2).
    std::optional<SdesCrypto> chosen;
    for (SdesCrypto& c : usableCryptos(m, kAllSuites)) {
      const bool ours = std::any_of(a.offered.begin(), a.offered.end(), [&](const SdesCrypto& o) {
        return o.tag == c.tag && o.suite == c.suite;
      });
      if (ours) {
        chosen = std::move(c);
        break;
      }
    }
    if (chosen) {
      a.peer = std::move(chosen);
    } else if (a.required) {
      return Unexpected(std::string("answer has no usable a=crypto, SRTP was required"));
    } else {
      a.mode = SdesMode::Plain;  // RFC 8643 §3: the OSRTP offer is answered as plain RTP
      a.peer.reset();
    }
  } else {
    a.peer.reset();
  }
  m.proto = f.proto;
  std::vector<SdesCrypto> lines;
  if (f.mode == SdesMode::Sdes && f.peer) {
    if (const SdesCrypto* k = f.key(f.peer->suite)) {
      SdesCrypto line = *k;
      line.tag = f.peer->tag;
      lines.push_back(std::move(line));
    }
  }
  setCryptoLines(m, lines);
  return true;
}

}  // namespace rdv::anchor
