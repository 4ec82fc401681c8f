#pragma once
// WebRTC-side parameters of one relay leg (issue 12): ICE-lite credentials and the DTLS-SRTP role.
// Signalling fills them from the SDP it answers or offers (a=ice-ufrag/a=ice-pwd, a=fingerprint,
// a=setup); the relay worker that owns the leg answers the peer's connectivity checks (RFC 8445
// §2.5, relay/RelayWorkerIce.cc) and runs the DTLS handshake (RFC 5764, relay/RelayWorkerDtls.cc),
// keying the leg's SRTP from it. Value types, trivially copyable and comparable, so they ride in
// LegParams through the worker command queue and an unchanged re-offer compares equal.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rdv::relay {

// a=setup of the leg's peer decides ours (RFC 5763 §5): the DTLS client is `Active`.
enum class DtlsRole : uint8_t {
  Off,      // no DTLS on this leg
  Active,   // the relay is the DTLS client: it sends the ClientHello (we answered a=setup:active)
  Passive,  // the relay is the DTLS server: it waits for the peer's ClientHello (a=setup:passive)
};

enum class FingerprintHash : uint8_t { Sha1, Sha256, Sha384, Sha512 };

// The peer's a=fingerprint: its certificate must hash to this or the handshake fails.
struct DtlsFingerprint {
  FingerprintHash hash = FingerprintHash::Sha256;
  std::array<std::byte, 64> digest{};
  uint8_t length = 0;  // 0 = none given
  bool operator==(const DtlsFingerprint&) const = default;
};

struct LegDtls {
  DtlsRole role = DtlsRole::Off;
  DtlsFingerprint remote;
  bool operator==(const LegDtls&) const = default;
};

// One ICE ufrag or password. RFC 8445 §5.3 allows up to 256 characters; browsers use 4–32.
// Signalling does not offer ICE to a peer whose credentials do not fit.
struct IceCredential {
  static constexpr size_t kMax = 64;
  std::array<char, kMax> text{};
  uint8_t length = 0;
  std::string_view view() const { return {text.data(), length}; }
  bool operator==(const IceCredential&) const = default;
};

// ICE-lite on the leg (RFC 8445 §2.5): the relay answers Binding requests whose USERNAME is
// "localUfrag:remoteUfrag" and whose MESSAGE-INTEGRITY is keyed with localPwd (short-term
// credentials, RFC 8489 §9.1) with a success response carrying XOR-MAPPED-ADDRESS,
// MESSAGE-INTEGRITY and FINGERPRINT. A check that authenticates is evidence for latching.
struct LegIce {
  IceCredential localUfrag;
  IceCredential localPwd;
  IceCredential remoteUfrag;
  IceCredential remotePwd;
  bool enabled() const { return localUfrag.length > 0 && localPwd.length > 0; }
  bool operator==(const LegIce&) const = default;
};

// RFC 7983 §7: what a datagram on a media port is, by its first byte.
enum class MediaDemux : uint8_t { Stun, Dtls, Rtp, Other };
inline MediaDemux demuxMedia(std::byte first) {
  const auto b = static_cast<uint8_t>(first);
  if (b <= 3) return MediaDemux::Stun;
  if (b >= 20 && b <= 63) return MediaDemux::Dtls;
  if (b >= 128 && b <= 191) return MediaDemux::Rtp;
  return MediaDemux::Other;
}

}  // namespace rdv::relay
