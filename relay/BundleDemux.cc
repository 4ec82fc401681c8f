#include "relay/BundleDemux.h"

namespace rdv::relay {

void BundleDemux::setPayloadTypes(size_t slot, const PayloadTypeSet& pts) {
  if (slot >= kMaxSlots) return;
  if (pts.empty()) {
    clear(slot);
    return;
  }
  pts_[slot] = pts;
}

void BundleDemux::clear(size_t slot) {
  if (slot >= kMaxSlots) return;
  pts_[slot] = PayloadTypeSet{};
  size_t kept = 0;
  for (size_t k = 0; k < count_; ++k) {
    if (ssrcs_[k].slot != slot) ssrcs_[kept++] = ssrcs_[k];
  }
  count_ = kept;
}

std::optional<uint8_t> BundleDemux::lookup(uint32_t ssrc) const {
  for (size_t k = 0; k < count_; ++k) {
    if (ssrcs_[k].ssrc == ssrc) return ssrcs_[k].slot;
  }
  return std::nullopt;
}

std::optional<uint8_t> BundleDemux::rtp(uint32_t ssrc, uint8_t pt) {
  if (auto s = lookup(ssrc)) return s;
  for (size_t slot = 0; slot < kMaxSlots; ++slot) {
    if (!pts_[slot].has(pt)) continue;
    if (count_ < kMaxSsrcs) ssrcs_[count_++] = Entry{ssrc, static_cast<uint8_t>(slot)};
    return static_cast<uint8_t>(slot);
  }
  return std::nullopt;
}

std::optional<uint32_t> BundleDemux::feedbackMediaSsrc(std::span<const std::byte> rtcp) {
  auto u8 = [&](size_t i) { return std::to_integer<uint32_t>(rtcp[i]); };
  size_t off = 0;
  while (off + 4 <= rtcp.size()) {
    const uint32_t pt = u8(off + 1);
    const size_t len = (((u8(off + 2) << 8) | u8(off + 3)) + 1) * 4;
    if ((u8(off) >> 6) != 2 || off + len > rtcp.size()) return std::nullopt;
    if ((pt == 205 || pt == 206) && len >= 12) {
      return (u8(off + 8) << 24) | (u8(off + 9) << 16) | (u8(off + 10) << 8) | u8(off + 11);
    }
    off += len;
  }
  return std::nullopt;
}

}  // namespace rdv::relay
