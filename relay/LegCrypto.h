#pragma once
// SRTP termination keys of one relay leg (issue 12). Signalling fills them (signaling/anchor from
// SDES a=crypto lines; later DTLS-SRTP from the handshake); the relay worker builds one inbound and
// one outbound srtp::SrtpContext from them when the leg is added or updated (control plane, never
// per packet). A value type: trivially copyable and comparable, so it rides in LegParams through
// the worker command queue and an unchanged re-offer compares equal.

#include <array>
#include <cstddef>
#include <cstdint>

#include "media/srtp/SrtpSuite.h"

namespace rdv::relay {

// One master key||salt with its optional MKI (an RFC 4568 inline key parameter).
struct SrtpKey {
  std::array<std::byte, srtp::kMaxKeySaltLength> keySalt{};
  uint8_t keySaltLength = 0;
  uint64_t mki = 0;
  uint8_t mkiLength = 0;  // 0 = no MKI; MKIs longer than 8 bytes are not carried (refused in SDP)
  bool operator==(const SrtpKey&) const = default;
};

// The keys of one direction: the peer's a=crypto (what it sends us: `recv`) or the one we put in
// the SDP we send it (what we send it: `send`).
struct SrtpKeys {
  static constexpr size_t kMaxKeys = 4;  // several only with MKIs of one length (RFC 4568 §6.1)
  srtp::Suite suite = srtp::Suite::AesCm128HmacSha1_80;
  std::array<SrtpKey, kMaxKeys> keys{};
  uint8_t count = 0;  // 0 = this direction is not terminated
  bool operator==(const SrtpKeys&) const = default;
};

// A leg terminates SRTP when both directions carry keys: the worker unprotects what the peer sends
// (SRTP and SRTCP; a packet that does not authenticate is dropped, counted and never moves the
// latch) and protects what it sends to the peer. Between two terminating legs each packet is
// decrypted with one leg's keys and encrypted with the other's; between a terminating and a plain
// leg the call is bridged SRTP <-> RTP. Neither set: as before, `LegParams::srtp` only says the
// payload is opaque SRTP passed through end to end.
struct LegCrypto {
  SrtpKeys recv;
  SrtpKeys send;
  bool terminates() const { return recv.count > 0 && send.count > 0; }
  bool operator==(const LegCrypto&) const = default;
};

}  // namespace rdv::relay
