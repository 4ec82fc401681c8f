#pragma once
// Which stream of a BUNDLE group (relay/LegBundle.h) a packet from the shared transport belongs
// to (RFC 9143 §9.2, RFC 8843 practice). Slot 0 is the transport leg's own m-line, slots 1.. the
// legs bundled on it. RTP: by SSRC once learned, else by the MID header extension when the peer
// negotiated one, else by payload type; the first packet matched by MID or payload type teaches
// its SSRC (so a later payload type change, e.g. RTX or a codec
// switch, stays on its stream). RTCP: by the sender SSRC when learned. Pure state in fixed
// arrays: nothing allocates; a full SSRC table keeps routing by payload type.
//
// Not thread-safe: it belongs to the worker that owns the transport leg.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "relay/LegBundle.h"

namespace rdv::relay {

class BundleDemux {
 public:
  static constexpr size_t kMaxSlots = 8;   // m-lines per group
  static constexpr size_t kMaxSsrcs = 16;  // learned SSRCs (audio, video, RTX, simulcast layers)

  // Slot `slot`'s payload types; an empty set takes the slot out (and forgets its SSRCs).
  void setPayloadTypes(size_t slot, const PayloadTypeSet& pts);
  // Slot `slot`'s a=mid and the MID extension id its peer uses (0: none); an empty mid clears it.
  void setMid(size_t slot, std::string_view mid, uint8_t extensionId);
  // Forgets the slot: its payload types, mid and the SSRCs learned for it.
  void clear(size_t slot);

  // The slot of an RTP packet with `ssrc` and payload type `pt` (`packet`: the whole plain RTP
  // packet, for its MID extension); nullopt when none is known.
  std::optional<uint8_t> rtp(uint32_t ssrc, uint8_t pt, std::span<const std::byte> packet = {});
  // The slot `ssrc` was learned for, if any.
  std::optional<uint8_t> lookup(uint32_t ssrc) const;
  size_t learned() const { return count_; }

  // The media SSRC of the first RTCP feedback packet (RFC 4585 §6.1: RTPFB 205 / PSFB 206) in a
  // plaintext compound, walking the packets by their length fields; nullopt when there is none or
  // the framing breaks first. Bounded by the packet: every step advances at least 4 bytes.
  static std::optional<uint32_t> feedbackMediaSsrc(std::span<const std::byte> rtcp);
  // The value of header extension element `id` (1..14 one-byte, 1..255 two-byte; RFC 8285) of an
  // RTP packet; nullopt without X, for another profile, or when the framing breaks first. The view
  // lives as long as `rtp`. Bounded by the packet.
  static std::optional<std::span<const std::byte>> headerExtension(std::span<const std::byte> rtp, uint8_t id);

 private:
  struct Entry {
    uint32_t ssrc = 0;
    uint8_t slot = 0;
  };
  struct Mid {
    std::array<char, LegBundle::kMaxMid> text{};
    uint8_t length = 0;
    uint8_t extensionId = 0;
  };
  std::optional<uint8_t> byMid(std::span<const std::byte> packet) const;
  std::array<PayloadTypeSet, kMaxSlots> pts_{};
  std::array<Mid, kMaxSlots> mids_{};
  std::array<Entry, kMaxSsrcs> ssrcs_{};
  size_t count_ = 0;
};

}  // namespace rdv::relay
