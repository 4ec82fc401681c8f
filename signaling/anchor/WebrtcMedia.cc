#include "signaling/anchor/WebrtcMedia.h"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

namespace rdv::anchor {
namespace {

using relay::DtlsRole;
using sdp::DtlsSetup;

// Our ufrag and password: 8 and 24 ice-chars (RFC 8839 §5.4 asks for at least 4 and 22, and 24
// bits and 128 bits of randomness; 24 × 6 bits = 144).
constexpr size_t kUfragLength = 8;
constexpr size_t kPwdLength = 24;

// host candidate priority (RFC 8445 §5.1.2.1): type preference 126, local preference 65535.
constexpr uint32_t priority(unsigned component) { return (126U << 24) + (65535U << 8) + (256U - component); }

relay::IceCredential credential(std::string_view text) {
  relay::IceCredential c;
  const size_t n = std::min(text.size(), relay::IceCredential::kMax);
  std::memcpy(c.text.data(), text.data(), n);
  c.length = static_cast<uint8_t>(n);
  return c;
}

std::optional<relay::IceCredential> randomCredential(size_t length) {
  static constexpr std::string_view kIceChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::array<uint8_t, relay::IceCredential::kMax> bytes{};
  if (getrandom(bytes.data(), length, 0) != static_cast<ssize_t>(length)) return std::nullopt;
  relay::IceCredential c;
  for (size_t i = 0; i < length; ++i) c.text[i] = kIceChars[bytes[i] & 63U];  // 64 symbols: unbiased
  c.length = static_cast<uint8_t>(length);
  return c;
}

std::optional<DtlsRole> roleAnsweringOffer(std::optional<DtlsSetup> peer, const WebrtcOptions& o) {
  switch (peer.value_or(DtlsSetup::Active)) {  // RFC 4145 §4: absent means active
    case DtlsSetup::ActPass: return o.role.value_or(DtlsRole::Passive);
    case DtlsSetup::Active: return DtlsRole::Passive;
    case DtlsSetup::Passive: return DtlsRole::Active;
    case DtlsSetup::HoldConn: return DtlsRole::Off;
  }
  return DtlsRole::Passive;
}

Expected<DtlsRole, std::string> roleFromAnswer(std::optional<DtlsSetup> peer, std::optional<DtlsSetup> ours) {
  const DtlsSetup p = peer.value_or(DtlsSetup::Active);
  if (p == DtlsSetup::HoldConn) return DtlsRole::Off;
  const DtlsRole role = p == DtlsSetup::Passive ? DtlsRole::Active : DtlsRole::Passive;  // actpass: lenient
  const DtlsSetup we = ours.value_or(DtlsSetup::ActPass);
  if ((we == DtlsSetup::Passive && role != DtlsRole::Passive) || (we == DtlsSetup::Active && role != DtlsRole::Active)) {
    return Unexpected(fmt::format("answer's a=setup:{} contradicts our a=setup:{}", sdp::toString(p), sdp::toString(we)));
  }
  return role;
}

}  // namespace

relay::LegIce WebrtcLeg::legIce() const {
  if (!ice) return {};
  return relay::LegIce{ufrag, pwd, peerUfrag, peerPwd};
}

relay::LegDtls WebrtcLeg::legDtls() const { return dtls ? dtlsState : relay::LegDtls{}; }

std::optional<relay::DtlsFingerprint> toDtlsFingerprint(const sdp::SdpFingerprint& fp) {
  relay::DtlsFingerprint out;
  if (fp.hash == "sha-1") out.hash = relay::FingerprintHash::Sha1;
  else if (fp.hash == "sha-256") out.hash = relay::FingerprintHash::Sha256;
  else if (fp.hash == "sha-384") out.hash = relay::FingerprintHash::Sha384;
  else if (fp.hash == "sha-512") out.hash = relay::FingerprintHash::Sha512;
  else return std::nullopt;
  if (fp.digest.size() > out.digest.size()) return std::nullopt;  // parseFingerprint checked the length
  std::copy(fp.digest.begin(), fp.digest.end(), out.digest.begin());
  out.length = static_cast<uint8_t>(fp.digest.size());
  return out;
}

bool enableIce(WebrtcLeg& leg, bool on) {
  leg.ice = on;
  if (!on || leg.ufrag.length > 0) return true;
  auto u = randomCredential(kUfragLength);
  auto p = randomCredential(kPwdLength);
  if (!u || !p) return false;
  leg.ufrag = *u;
  leg.pwd = *p;
  return true;
}

Expected<bool, std::string> readWebrtcPeer(const sdp::SdpSession& sdp, size_t i, bool isOffer,
                                           const WebrtcOptions& opts, WebrtcLeg& leg) {
  auto w = sdp::webrtcMedia(sdp, i);
  if (!w) {
    if (leg.dtls) return Unexpected(w.error().reason);
    leg.peerUfrag = {};  // a leg without DTLS only loses ICE to a hostile attribute
    leg.peerPwd = {};
    return true;
  }
  if (isOffer) leg.mid = w->mid;
  if (w->ice) {
    const auto ufrag = credential(w->ice->ufrag);
    if (leg.peerUfrag.length > 0 && !(leg.peerUfrag == ufrag)) {
      leg.ufrag = {};  // ICE restart: new credentials of ours too (made by enableIce)
      leg.pwd = {};
    }
    leg.peerUfrag = ufrag;
    leg.peerPwd = credential(w->ice->pwd);
  } else {
    leg.peerUfrag = {};
    leg.peerPwd = {};
  }
  if (!leg.dtls) return true;
  if (!w->fingerprint) return Unexpected(std::string("DTLS-SRTP m-line without a=fingerprint"));
  auto fp = toDtlsFingerprint(*w->fingerprint);
  if (!fp) return Unexpected("a=fingerprint hash " + w->fingerprint->hash + " is not supported");
  leg.dtlsState.remote = *fp;
  if (isOffer) {
    leg.dtlsState.role = roleAnsweringOffer(w->setup, opts).value_or(DtlsRole::Passive);
  } else {
    auto role = roleFromAnswer(w->setup, leg.offeredSetup);
    if (!role) return Unexpected(role.error());
    leg.dtlsState.role = *role;
  }
  return true;
}

void writeWebrtc(sdp::SdpMedia& m, WebrtcLeg& leg, const WebrtcOptions& opts, const WebrtcWrite& w) {
  if (leg.ice) {
    m.setAttribute("ice-ufrag", leg.ufrag.view());
    m.setAttribute("ice-pwd", leg.pwd.view());
    const unsigned components = w.mux ? 1U : 2U;
    for (unsigned c = 1; c <= components; ++c) {
      m.lines.push_back(sdp::SdpLine{'a', fmt::format("candidate:1 {} udp {} {} {} typ host", c, priority(c),
                                                      w.address, w.port + (c - 1))});
    }
    m.setAttribute("end-of-candidates", std::nullopt);
  }
  if (!leg.dtls) return;
  sdp::removeDtlsAttributes(m);
  m.setAttribute("fingerprint", w.fingerprint);
  DtlsSetup setup = DtlsSetup::ActPass;
  if (w.isOffer) {
    if (opts.role) setup = *opts.role == DtlsRole::Active ? DtlsSetup::Active : DtlsSetup::Passive;
    leg.offeredSetup = setup;
  } else {
    setup = leg.dtlsState.role == DtlsRole::Active ? DtlsSetup::Active : DtlsSetup::Passive;
  }
  m.setAttribute("setup", sdp::toString(setup));
}

}  // namespace rdv::anchor
