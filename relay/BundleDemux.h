#pragma once
// Which stream of a BUNDLE group (relay/LegBundle.h) a packet from the shared transport belongs
// to (RFC 9143 §9.2, RFC 8843 practice). Slot 0 is the transport leg's own m-line, slots 1.. the
// legs bundled on it. RTP: by SSRC once learned, else by payload type, and the first packet
// matched by payload type teaches its SSRC (so a later payload type change, e.g. RTX or a codec
// switch, stays on its stream). RTCP: by the sender SSRC when learned. Pure state in fixed
// arrays: nothing allocates; a full SSRC table keeps routing by payload type.
//
// Not thread-safe: it belongs to the worker that owns the transport leg.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "relay/LegBundle.h"

namespace rdv::relay {

class BundleDemux {
 public:
  static constexpr size_t kMaxSlots = 8;   // m-lines per group
  static constexpr size_t kMaxSsrcs = 16;  // learned SSRCs (audio, video, RTX, simulcast layers)

  // Slot `slot`'s payload types; an empty set takes the slot out (and forgets its SSRCs).
  void setPayloadTypes(size_t slot, const PayloadTypeSet& pts);
  // Forgets the slot: its payload types and the SSRCs learned for it.
  void clear(size_t slot);

  // The slot of an RTP packet with `ssrc` and payload type `pt`; nullopt when neither is known.
  std::optional<uint8_t> rtp(uint32_t ssrc, uint8_t pt);
  // The slot `ssrc` was learned for, if any.
  std::optional<uint8_t> lookup(uint32_t ssrc) const;
  size_t learned() const { return count_; }

  // The media SSRC of the first RTCP feedback packet (RFC 4585 §6.1: RTPFB 205 / PSFB 206) in a
  // plaintext compound, walking the packets by their length fields; nullopt when there is none or
  // the framing breaks first. Bounded by the packet: every step advances at least 4 bytes.
  static std::optional<uint32_t> feedbackMediaSsrc(std::span<const std::byte> rtcp);

 private:
  struct Entry {
    uint32_t ssrc = 0;
    uint8_t slot = 0;
  };
  std::array<PayloadTypeSet, kMaxSlots> pts_{};
  std::array<Entry, kMaxSsrcs> ssrcs_{};
  size_t count_ = 0;
};

}  // namespace rdv::relay
