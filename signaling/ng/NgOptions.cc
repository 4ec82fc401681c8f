#include "signaling/ng/NgOptions.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

#include "media/srtp/SrtpSuite.h"

namespace rdv::ng {
namespace {

// rtpengine's matching: "SIP source address" == "sip-source-address".
std::string normalise(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    c = c == ' ' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Calls fn for every word of a string value ("a b") or of a list of strings.
template <typename Fn>
void forEachWord(const BValue& v, Fn&& fn) {
  auto words = [&](std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      size_t j = s.find(' ', i);
      if (j == std::string_view::npos) j = s.size();
      if (j > i) fn(s.substr(i, j - i));
      i = j + 1;
    }
  };
  if (v.isString()) {
    words(v.asString());
  } else if (v.isList()) {
    for (const auto& e : v.asList()) {
      if (e.isString()) fn(std::string_view(e.asString()));
    }
  }
}

std::string stringOf(const BValue& v) {
  if (v.isString()) return v.asString();
  if (v.isInt()) return std::to_string(v.asInt());
  if (v.isList() && !v.asList().empty() && v.asList().front().isString()) return v.asList().front().asString();
  return {};
}

class Parser {
 public:
  explicit Parser(NgOptions& out) : o_(out) {}

  void key(std::string_view rawName, const BValue& v) {
    const std::string name = normalise(rawName);
    auto& a = o_.anchor;
    if (name == "command" || name == "sdp") {
      if (name == "sdp" && v.isString()) o_.sdp = v.asString();
    } else if (name == "call-id") {
      o_.callId = stringOf(v);
    } else if (name == "from-tag") {
      o_.fromTag = stringOf(v);
    } else if (name == "to-tag") {
      o_.toTag = stringOf(v);
    } else if (name == "via-branch") {
      a.viaBranch = stringOf(v);
    } else if (name == "label" || name == "from-label") {
      a.label = stringOf(v);
    } else if (name == "to-label") {
      a.otherLabel = stringOf(v);
    } else if (name == "received-from") {
      // [family, address] (Kamailio, OpenSIPS); a bare address is accepted too.
      if (v.isList() && v.asList().size() >= 2 && v.asList()[1].isString()) a.receivedFrom = v.asList()[1].asString();
      else if (v.isString()) a.receivedFrom = v.asString();
    } else if (name == "media-address") {
      a.mediaAddress = stringOf(v);
    } else if (name == "address-family") {
      o_.addressFamily = stringOf(v);
    } else if (name == "delete-delay") {
      if (v.isInt()) {
        o_.deleteDelay = v.asInt();
      } else if (v.isString()) {
        int64_t n = 0;
        const auto& s = v.asString();
        if (std::from_chars(s.data(), s.data() + s.size(), n).ec == std::errc()) o_.deleteDelay = n;
      }
    } else if (name == "flags") {
      forEachWord(v, [&](std::string_view w) { flag(w); });
    } else if (name == "replace") {
      forEachWord(v, [&](std::string_view w) { replace(w); });
    } else if (name == "rtcp-mux") {
      forEachWord(v, [&](std::string_view w) { rtcpMux(w); });
    } else if (name == "supports") {
      // Features are multi-word ("load limit"): a list of them, or one as a string.
      auto feature = [&](const std::string& f) {
        if (normalise(f) == "load-limit") o_.supportsLoadLimit = true;
      };
      if (v.isString()) feature(v.asString());
      if (v.isList()) {
        std::string joined;  // rtpp-flags split `supports=[load limit]` into words
        for (const auto& e : v.asList()) {
          if (!e.isString()) continue;
          feature(e.asString());
          joined += (joined.empty() ? "" : " ") + e.asString();
        }
        feature(joined);
      }
    } else if (name == "record-call") {
      const std::string s = normalise(stringOf(v));
      o_.recordCall = s == "yes" || s == "on" || s == "true" || s == "1";
    } else if (name == "ice") {
      ice(stringOf(v));
    } else if (name == "rtpp-flags") {
      if (v.isString()) rtppFlags(v.asString());
    } else if (name == "transport-protocol") {
      transport_ = stringOf(v);
    } else if (name == "sdes") {
      forEachWord(v, [&](std::string_view w) { sdes(w); });
    } else if (name == "osrtp") {
      forEachWord(v, [&](std::string_view w) { osrtp(w); });
    } else if (name == "dtls") {
      dtls(stringOf(v));
    } else if (name == "direction" || name == "metadata" || name == "tos" || name == "xmlrpc-callback") {
      // One interface: nothing to do. These are accepted without a log line; the README lists them.
    } else if (name == "codec" || name == "t.38" || name == "repacketize" || name == "media-echo" ||
               name == "volume" || name == "frequency") {
      o_.unsupported.push_back(std::string(rawName) + " (no transcoding or media generation)");
    } else {
      o_.unknown.push_back("key " + std::string(rawName));
    }
  }

  void flag(std::string_view word) {
    const std::string f = normalise(word);
    auto& a = o_.anchor;
    if (f == "trust-address") {
      a.sipSourceAddress = false;
    } else if (f == "sip-source-address") {
      a.sipSourceAddress = true;
    } else if (f == "symmetric") {
      a.asymmetric = false;
    } else if (f == "asymmetric") {
      a.asymmetric = true;
    } else if (f == "strict-source") {
      a.strictSource = true;
    } else if (f == "port-latching" || f == "no-port-latching") {
      // Local ports never change on a re-offer: port-latching is what the relay always does.
    } else if (f == "no-rtcp-attribute") {
      a.noRtcpAttribute = true;
    } else if (f == "generate-mid") {
      a.generateMid = true;
    } else if (f == "record-call") {
      o_.recordCall = true;
    } else if (f == "fatal") {
      o_.fatal = true;
    } else if (f.rfind("replace-", 0) == 0) {
      replace(std::string_view(f).substr(8));
    } else if (f.rfind("rtcp-mux-", 0) == 0) {
      rtcpMux(std::string_view(f).substr(9));
    } else if (f.rfind("ice-", 0) == 0 || f.rfind("ice=", 0) == 0) {
      ice(word.substr(4));
    } else if (f == "rtp/avp" || f == "rtp/savp" || f == "rtp/avpf" || f == "rtp/savpf" ||
               f == "udp/tls/rtp/savp" || f == "udp/tls/rtp/savpf") {
      transport_ = std::string(word);  // Kamailio's transport-protocol flag words
    } else if (f.rfind("sdes-", 0) == 0) {
      sdes(word.substr(5));
    } else if (f.rfind("osrtp-", 0) == 0) {
      osrtp(word.substr(6));
    } else if (f.rfind("dtls-", 0) == 0 || f.rfind("dtls=", 0) == 0) {
      dtls(word.substr(5));
    } else {
      o_.unknown.push_back("flag " + std::string(word));
    }
  }

  void rtppFlags(std::string_view text) {
    for (auto& e : splitRtppFlags(text)) {
      if (e.key.empty()) flag(e.value.asString());
      else key(e.key, e.value);
    }
  }

  // Turns the SRTP flags gathered from every source into the anchor's options (once, at the end).
  void finishSrtp() {
    auto& x = o_.anchor.srtp;
    x.osrtpAccept = osrtpAccept_;
    if (only_ != 0) x.suites &= only_;
    bool secure = false;
    if (transport_) {
      std::string t = *transport_;
      for (char& c : t) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (t == "RTP/AVP" || t == "RTP/AVPF") {
        x.receiver = anchor::SrtpPolicy::Never;
      } else if (t == "RTP/SAVP" || t == "RTP/SAVPF") {
        x.receiver = osrtpOffer_ ? anchor::SrtpPolicy::Offer : anchor::SrtpPolicy::Require;
        secure = true;
      } else if (t.starts_with("UDP/TLS/RTP/SAVP")) {
        if (dtlsOff_) {
          o_.srtpError = "DTLS=off with transport-protocol " + *transport_;
          return;
        }
        x.receiver = anchor::SrtpPolicy::Dtls;
        secure = true;
      } else {
        o_.unsupported.push_back("transport-protocol " + *transport_);
        return;
      }
      x.receiverFeedback = t.ends_with("F");
    } else if (osrtpOffer_) {
      x.receiver = anchor::SrtpPolicy::Offer;
    }
    if (osrtpAccept_ && x.receiver == anchor::SrtpPolicy::Passthrough) x.receiver = anchor::SrtpPolicy::Never;
    // RTP/SAVP(F) towards a receiver keyed by DTLS rather than SDES: asked for by a DTLS role
    // (`ICE=force RTP/SAVPF DTLS=passive`, WebRTC gateway configs) or by SDES-off.
    if (secure && x.receiver != anchor::SrtpPolicy::Dtls && (dtlsRole_ || sdesOff_)) {
      if (dtlsOff_) {
        o_.srtpError = "SDES-off and DTLS=off with transport-protocol " + *transport_ + ": no SRTP keying left";
        return;
      }
      x.receiver = anchor::SrtpPolicy::Dtls;
    }
    if (sdesOff_ && !secure) x.receiver = anchor::SrtpPolicy::Never;
  }

 private:
  void sdes(std::string_view w) {
    const std::string f = normalise(w);
    auto suiteOf = [](std::string_view name) {
      std::string up(name);
      for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return srtp::suiteFromName(up);
    };
    if (f == "off" || f == "no" || f == "disable") {
      sdesOff_ = true;
    } else if (f == "only" || f == "on" || f == "yes" || f == "enable") {
      // SDES rather than DTLS is what RTP/SAVP(F) gets unless DTLS= or SDES-off asks for DTLS.
    } else if (f.rfind("no-", 0) == 0 && suiteOf(w.substr(3))) {
      o_.anchor.srtp.suites &= static_cast<uint8_t>(~anchor::suiteBit(*suiteOf(w.substr(3))));
    } else if (f.rfind("only-", 0) == 0 && suiteOf(w.substr(5))) {
      only_ |= anchor::suiteBit(*suiteOf(w.substr(5)));
    } else if (auto s = suiteOf(w)) {
      only_ |= anchor::suiteBit(*s);
    } else if (f.rfind("no-", 0) == 0) {
      // A suite this build does not have is never offered.
    } else {
      o_.unsupported.push_back("SDES-" + std::string(w));
    }
  }

  void osrtp(std::string_view w) {
    const std::string f = normalise(w);
    if (f == "offer" || f == "offer-rfc" || f == "offer-legacy") osrtpOffer_ = true;
    else if (f == "accept" || f == "accept-rfc" || f == "accept-legacy") osrtpAccept_ = true;
    else o_.unknown.push_back("OSRTP " + std::string(w));
  }

  void dtls(std::string_view w) {
    const std::string f = normalise(w);
    if (f == "off" || f == "no" || f == "disable") {
      dtlsOff_ = true;
    } else if (f == "passive") {
      dtlsRole_ = true;
      o_.anchor.webrtc.role = relay::DtlsRole::Passive;
    } else if (f == "active") {
      dtlsRole_ = true;
      o_.anchor.webrtc.role = relay::DtlsRole::Active;
    } else if (!f.empty() && f != "default") {
      o_.unsupported.push_back("DTLS=" + std::string(w));
    }
  }

  // ICE=remove: no ICE towards the receiver; force / force-relay: ICE-lite attributes (the relay
  // is the only candidate either way).
  void ice(std::string_view w) {
    const std::string f = normalise(w);
    auto& policy = o_.anchor.webrtc.ice;
    if (f == "remove") policy = anchor::IcePolicy::Remove;
    else if (f == "force" || f == "force-relay") policy = anchor::IcePolicy::Force;
    else if (f == "default" || f.empty()) policy = anchor::IcePolicy::Default;
    else o_.unsupported.push_back("ICE=" + std::string(w));
  }

  void replace(std::string_view w) {
    const std::string r = normalise(w);
    if (r == "origin") o_.anchor.replaceOrigin = true;
    else if (r == "session-connection") {
      // c= lines are always rewritten.
    } else o_.unknown.push_back("replace " + std::string(w));
  }

  void rtcpMux(std::string_view w) {
    const std::string m = normalise(w);
    auto& a = o_.anchor;
    if (m == "offer") a.muxOffer = true;
    else if (m == "demux") a.muxDemux = true;
    else if (m == "require") a.muxRequire = true;
    else if (m == "reject") a.muxReject = true;
    else if (m == "accept") {
      // rtcp-mux offered by the offerer is accepted whenever the answerer accepts it.
    } else o_.unknown.push_back("rtcp-mux " + std::string(w));
  }

  NgOptions& o_;
  std::optional<std::string> transport_;
  uint8_t only_ = 0;  // SDES-only-<suite> bits
  bool sdesOff_ = false;
  bool dtlsOff_ = false;
  bool dtlsRole_ = false;  // DTLS=passive or active
  bool osrtpOffer_ = false;
  bool osrtpAccept_ = false;
};

}  // namespace

std::vector<RtppFlag> splitRtppFlags(std::string_view text) {
  std::vector<RtppFlag> out;
  size_t i = 0;
  auto nextWord = [&]() -> std::string_view {
    while (i < text.size() && text[i] == ' ') ++i;
    const size_t start = i;
    while (i < text.size() && text[i] != ' ') ++i;
    return text.substr(start, i - start);
  };
  for (std::string_view w = nextWord(); !w.empty(); w = nextWord()) {
    const size_t eq = w.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      out.push_back(RtppFlag{"", BValue::string(std::string(w))});
      continue;
    }
    std::string_view val = w.substr(eq + 1);
    RtppFlag f{std::string(w.substr(0, eq)), BValue::string("")};
    if (val.empty() || val.front() != '[') {
      f.value = BValue::string(std::string(val));
      out.push_back(std::move(f));
      continue;
    }
    // A list: words up to the one that ends with ']'.
    BValue list = BValue::list();
    val.remove_prefix(1);
    for (;;) {
      const bool last = !val.empty() && val.back() == ']';
      if (last) val.remove_suffix(1);
      if (!val.empty()) list.push(BValue::string(std::string(val)));
      if (last) break;
      val = nextWord();
      if (val.empty()) break;  // unterminated: take what there is
    }
    f.value = std::move(list);
    out.push_back(std::move(f));
  }
  return out;
}

NgOptions parseNgOptions(const BValue& request) {
  NgOptions o;
  Parser p(o);
  if (!request.isDict()) return o;
  const BValue* rtpp = nullptr;
  const BValue* flags = nullptr;
  for (const auto& [k, v] : request.asDict()) {
    const std::string n = normalise(k);
    if (n == "rtpp-flags") rtpp = &v;
    else if (n == "flags") flags = &v;
    else p.key(k, v);
  }
  if (flags != nullptr) p.key("flags", *flags);
  if (rtpp != nullptr) p.key("rtpp-flags", *rtpp);
  p.finishSrtp();
  return o;
}

}  // namespace rdv::ng
