#pragma once
// Symmetric latching of one leg component (RTP or RTCP) to the peer's real transport address.
//
// The rule (defeats "RTP Bleed" hijacking while surviving NAT rebinding):
//  1. Until latched, the first valid packet latches: its source becomes the leg's address and
//     its SSRC is remembered.
//  2. Once latched, packets from the latched address are accepted (an SSRC change from the same
//     address is accepted and remembered: phones change SSRC on re-INVITE).
//  3. A packet from any other address is dropped as spoofed, except when it carries the latched
//     SSRC *and* the latched address has been silent for at least `relatchSilenceNs`: that is
//     what a NAT rebinding looks like (same stream, new mapping, old mapping gone), and the leg
//     re-latches to the new address.
//  4. An ICE check that authenticates and nominates a new address (USE-CANDIDATE) moves the latch
//     there (moveTo; relay/RelayWorkerIce.cc).
//  5. Signalling may reset the latch (reset()) when a re-offer moves the peer's advertised
//     address: the first packet after that latches again (transfer, device handover).
// Pure state: the caller supplies the clock.

#include <cstdint>

#include "common/SockAddr.h"

namespace rdv::relay {

enum class LatchVerdict : uint8_t { Accepted, Latched, Relatched, Spoofed };

class Latch {
 public:
  LatchVerdict onPacket(const common::SockAddr& src, uint32_t ssrc, uint64_t nowNs, uint64_t relatchSilenceNs) {
    if (!latched_) {
      address_ = src;
      ssrc_ = ssrc;
      lastNs_ = nowNs;
      latched_ = true;
      return LatchVerdict::Latched;
    }
    if (src == address_) {
      ssrc_ = ssrc;
      lastNs_ = nowNs;
      return LatchVerdict::Accepted;
    }
    if (ssrc == ssrc_ && nowNs > lastNs_ && nowNs - lastNs_ >= relatchSilenceNs) {
      address_ = src;
      lastNs_ = nowNs;
      return LatchVerdict::Relatched;
    }
    return LatchVerdict::Spoofed;
  }

  // The latched source was active elsewhere (the kernel fast path forwarded its packets, the
  // last one at `lastNs` with `ssrc`): the silence that allows re-latching counts from there.
  void observe(uint32_t ssrc, uint64_t lastNs) {
    if (!latched_) return;
    ssrc_ = ssrc;
    if (lastNs > lastNs_) lastNs_ = lastNs;
  }

  // Moves the latch to `src` on clear evidence from the wire that the peer is there now: an ICE
  // check that authenticated and nominated that address (USE-CANDIDATE, RFC 8445 §7.3.1.5). The
  // SSRC is kept. Returns Latched when nothing was latched, Accepted when `src` already was,
  // Relatched otherwise.
  LatchVerdict moveTo(const common::SockAddr& src, uint64_t nowNs) {
    const LatchVerdict v = !latched_ ? LatchVerdict::Latched : src == address_ ? LatchVerdict::Accepted
                                                                               : LatchVerdict::Relatched;
    address_ = src;
    latched_ = true;
    if (nowNs > lastNs_) lastNs_ = nowNs;
    return v;
  }

  // Forgets the latched source: the next packet latches again. For a peer that signalling says
  // has moved (a re-offer with a new address), never for anything seen on the wire.
  void reset() { *this = Latch(); }

  bool latched() const { return latched_; }
  uint64_t lastNs() const { return lastNs_; }
  const common::SockAddr& address() const { return address_; }
  uint32_t ssrc() const { return ssrc_; }

 private:
  common::SockAddr address_;
  uint64_t lastNs_ = 0;
  uint32_t ssrc_ = 0;
  bool latched_ = false;
};

}  // namespace rdv::relay
