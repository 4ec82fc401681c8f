#include "signaling/sdp/SdpWebrtc.h"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

namespace rdv::sdp {
namespace {

struct HashInfo {
  std::string_view name;
  size_t length;
};
// RFC 8122 §5 (hash names from the IANA "Hash Function Textual Names" registry).
constexpr std::array<HashInfo, 6> kHashes{{
    {"sha-1", 20}, {"sha-224", 28}, {"sha-256", 32}, {"sha-384", 48}, {"sha-512", 64}, {"md5", 16}}};

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// RFC 8839 §5.4 ice-char = ALPHA / DIGIT / "+" / "/".
bool iceChars(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '/';
  });
}

// RFC 5888 §5 identification-tag = token.
bool isToken(std::string_view s) {
  static constexpr std::string_view kTokenExtra = "!#$%&'*+-.^_`{|}~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || kTokenExtra.find(c) != std::string_view::npos;
  });
}

std::string trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

// The media-level attribute, else the session-level one.
std::optional<std::string_view> either(const SdpSession& sdp, const SdpMedia& m, std::string_view name) {
  if (auto v = m.attribute(name)) return v;
  return sdp.attribute(name);
}

std::optional<SdpIce> readIce(const SdpSession& sdp, const SdpMedia& m, bool& refused) {
  auto ufrag = either(sdp, m, "ice-ufrag");
  auto pwd = either(sdp, m, "ice-pwd");
  if (!ufrag && !pwd) return std::nullopt;
  SdpIce ice{trim(ufrag.value_or("")), trim(pwd.value_or(""))};
  const bool ok = ice.ufrag.size() >= 4 && ice.ufrag.size() <= SdpIce::kMaxCredential && ice.pwd.size() >= 22 &&
                  ice.pwd.size() <= SdpIce::kMaxCredential && iceChars(ice.ufrag) && iceChars(ice.pwd);
  if (!ok) {
    refused = true;
    return std::nullopt;
  }
  return ice;
}

}  // namespace

std::optional<DtlsSetup> dtlsSetupFromName(std::string_view name) {
  const std::string n = trim(name);
  if (n == "active") return DtlsSetup::Active;
  if (n == "passive") return DtlsSetup::Passive;
  if (n == "actpass") return DtlsSetup::ActPass;
  if (n == "holdconn") return DtlsSetup::HoldConn;
  return std::nullopt;
}

std::string_view toString(DtlsSetup s) {
  switch (s) {
    case DtlsSetup::Active: return "active";
    case DtlsSetup::Passive: return "passive";
    case DtlsSetup::ActPass: return "actpass";
    case DtlsSetup::HoldConn: return "holdconn";
  }
  return "actpass";
}

std::string SdpFingerprint::format() const {
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out = hash;
  out += ' ';
  for (size_t i = 0; i < digest.size(); ++i) {
    if (i > 0) out += ':';
    const auto b = static_cast<uint8_t>(digest[i]);
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

std::optional<SdpFingerprint> parseFingerprint(std::string_view value) {
  const std::string v = trim(value);
  const size_t sp = v.find(' ');
  if (sp == std::string::npos || sp == 0) return std::nullopt;
  SdpFingerprint fp;
  fp.hash = v.substr(0, sp);
  for (char& c : fp.hash) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string hex = trim(std::string_view(v).substr(sp + 1));
  // "XX" then ":XX" per byte: 3n - 1 characters.
  if (hex.size() < 2 || (hex.size() + 1) % 3 != 0 || (hex.size() + 1) / 3 > SdpFingerprint::kMaxDigest) {
    return std::nullopt;
  }
  for (size_t i = 0; i < hex.size(); i += 3) {
    const int hi = hexValue(hex[i]);
    const int lo = hexValue(hex[i + 1]);
    if (hi < 0 || lo < 0 || (i + 2 < hex.size() && hex[i + 2] != ':')) return std::nullopt;
    fp.digest.push_back(static_cast<std::byte>(hi * 16 + lo));
  }
  auto known = std::find_if(kHashes.begin(), kHashes.end(), [&](const HashInfo& h) { return h.name == fp.hash; });
  if (known != kHashes.end() && known->length != fp.digest.size()) return std::nullopt;
  if (known == kHashes.end() && !isToken(fp.hash)) return std::nullopt;
  return fp;
}

Expected<WebrtcMedia, SdpError> webrtcMedia(const SdpSession& sdp, size_t index) {
  const SdpMedia& m = sdp.media[index];
  WebrtcMedia w;
  w.ice = readIce(sdp, m, w.iceRefused);
  w.iceLite = sdp.hasAttribute("ice-lite");
  w.endOfCandidates = m.hasAttribute("end-of-candidates") || sdp.hasAttribute("end-of-candidates");
  if (auto fp = either(sdp, m, "fingerprint")) {
    w.fingerprint = parseFingerprint(*fp);
    if (!w.fingerprint) {
      return Unexpected(SdpError{0, fmt::format("m-line {}: malformed a=fingerprint", index + 1)});
    }
  }
  if (auto s = either(sdp, m, "setup")) {
    w.setup = dtlsSetupFromName(*s);
    if (!w.setup) return Unexpected(SdpError{0, fmt::format("m-line {}: unknown a=setup", index + 1)});
  }
  if (auto mid = m.attribute("mid")) w.mid = trim(*mid);
  if (!w.mid.empty() && !isToken(w.mid)) {
    return Unexpected(SdpError{0, fmt::format("m-line {}: malformed a=mid", index + 1)});
  }
  w.rtcpMux = m.rtcpMux();
  for (const SdpLine& l : m.lines) {
    if (l.type != 'a') continue;
    const std::string_view v = l.value;
    if (v.starts_with("candidate:")) ++w.candidates;
    if (v.starts_with("rtcp-fb:")) w.rtcpFb.push_back(std::string(v.substr(8)));
  }
  return w;
}

std::vector<std::string> bundleGroup(const SdpSession& sdp) {
  for (const SdpLine& l : sdp.lines) {
    const std::string_view v = l.value;
    if (l.type != 'a' || !v.starts_with("group:BUNDLE")) continue;
    std::string_view rest = v.substr(12);
    if (!rest.empty() && rest.front() != ' ') continue;  // "group:BUNDLEX" is another semantics
    std::vector<std::string> tags;
    while (!rest.empty()) {
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      const size_t end = std::min(rest.find(' '), rest.size());
      if (end == 0) break;
      std::string tag(rest.substr(0, end));
      rest.remove_prefix(end);
      if (!isToken(tag) || std::find(tags.begin(), tags.end(), tag) != tags.end()) return {};
      tags.push_back(std::move(tag));
    }
    return tags;
  }
  return {};
}

void removeDtlsAttributes(SdpMedia& m) {
  m.removeAttributes("fingerprint");
  m.removeAttributes("setup");
}

void removeDtlsAttributes(SdpSession& sdp) {
  sdp.removeAttributes("fingerprint");
  sdp.removeAttributes("setup");
}

}  // namespace rdv::sdp
