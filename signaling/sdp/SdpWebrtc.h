#pragma once
// The WebRTC transport attributes of one media description, read from a parsed SdpSession
// (issue 12): ICE (RFC 8839 a=ice-ufrag, a=ice-pwd, a=ice-lite, a=candidate,
// a=end-of-candidates), DTLS-SRTP (RFC 8122 a=fingerprint, RFC 4145 a=setup), a=mid (RFC 5888),
// a=group:BUNDLE (RFC 9143), a=rtcp-mux (RFC 5761) and a=rtcp-fb (RFC 4585).
//
// One checked entry point, webrtcMedia(): what it returns is validated, so the anchor never
// re-checks. Hostile input: a fingerprint that is not "<hash> XX:XX:..." with the hash's length,
// or an a=setup that is none of the four roles, is an error (a DTLS leg cannot be keyed from it);
// ICE credentials that are missing, too long or not ice-chars leave `ice` empty with
// `iceRefused` set (that leg gets no ICE) rather than failing the SDP.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/Expected.h"
#include "signaling/sdp/Sdp.h"

namespace rdv::sdp {

enum class DtlsSetup : uint8_t { Active, Passive, ActPass, HoldConn };
std::optional<DtlsSetup> dtlsSetupFromName(std::string_view name);
std::string_view toString(DtlsSetup s);

// RFC 8122 §5: hash function (lowercased, "sha-256") and the certificate digest.
struct SdpFingerprint {
  static constexpr size_t kMaxDigest = 64;  // SHA-512
  std::string hash;
  std::vector<std::byte> digest;
  // "sha-256 AB:CD:..." (upper-case hex, RFC 8122 §5).
  std::string format() const;
};
// Parses an a=fingerprint value. Known hashes (sha-1, sha-224, sha-256, sha-384, sha-512, md5)
// must have their digest length; nullopt for anything malformed.
std::optional<SdpFingerprint> parseFingerprint(std::string_view value);

struct SdpIce {
  // RFC 8839 §5.4: ufrag 4..256 and pwd 22..256 ice-chars. Longer than kMaxCredential is
  // refused here (the relay keeps them in fixed buffers, relay::IceCredential::kMax).
  static constexpr size_t kMaxCredential = 64;
  std::string ufrag;
  std::string pwd;
};

struct WebrtcMedia {
  std::optional<SdpIce> ice;       // media level, else session level
  bool iceRefused = false;         // ICE attributes present but unusable: no ICE on this leg
  bool iceLite = false;            // session a=ice-lite
  size_t candidates = 0;           // a=candidate lines of this section
  bool endOfCandidates = false;    // media or session level
  std::optional<SdpFingerprint> fingerprint;  // media level, else session level (first line)
  std::optional<DtlsSetup> setup;  // media level, else session level
  std::string mid;                 // a=mid, "" when absent
  bool rtcpMux = false;
  std::vector<std::string> rtcpFb;  // a=rtcp-fb values in order
};

// Reads media[index]'s WebRTC attributes. Precondition: index < sdp.media.size().
Expected<WebrtcMedia, SdpError> webrtcMedia(const SdpSession& sdp, size_t index);

// The identification tags of the first a=group:BUNDLE (RFC 9143 §7.1), in order; empty without
// one. Tags are RFC 5888 tokens; a group with a malformed or repeated tag is ignored (empty).
std::vector<std::string> bundleGroup(const SdpSession& sdp);

// Removes a=fingerprint and a=setup at session level and in `m` (a terminated DTLS leg: the
// peer's certificate and role mean nothing to the other side).
void removeDtlsAttributes(SdpSession& sdp);
void removeDtlsAttributes(SdpMedia& m);

}  // namespace rdv::sdp
