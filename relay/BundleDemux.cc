#include "relay/BundleDemux.h"

#include <algorithm>

namespace rdv::relay {

void BundleDemux::setPayloadTypes(size_t slot, const PayloadTypeSet& pts) {
  if (slot >= kMaxSlots) return;
  if (pts.empty()) {
    clear(slot);
    return;
  }
  pts_[slot] = pts;
}

void BundleDemux::setMid(size_t slot, std::string_view mid, uint8_t extensionId) {
  if (slot >= kMaxSlots) return;
  Mid m;
  m.length = static_cast<uint8_t>(std::min(mid.size(), m.text.size()));
  std::copy_n(mid.begin(), m.length, m.text.begin());
  m.extensionId = m.length > 0 ? extensionId : 0;
  mids_[slot] = m;
}

void BundleDemux::clear(size_t slot) {
  if (slot >= kMaxSlots) return;
  pts_[slot] = PayloadTypeSet{};
  mids_[slot] = Mid{};
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

std::optional<uint8_t> BundleDemux::byMid(std::span<const std::byte> packet) const {
  for (size_t slot = 0; slot < kMaxSlots; ++slot) {
    const Mid& m = mids_[slot];
    if (m.extensionId == 0) continue;
    auto value = headerExtension(packet, m.extensionId);
    if (!value || value->size() != m.length) continue;
    if (std::equal(value->begin(), value->end(), m.text.begin(),
                   [](std::byte b, char c) { return std::to_integer<char>(b) == c; })) {
      return static_cast<uint8_t>(slot);
    }
  }
  return std::nullopt;
}

std::optional<uint8_t> BundleDemux::rtp(uint32_t ssrc, uint8_t pt, std::span<const std::byte> packet) {
  if (auto s = lookup(ssrc)) return s;
  if (auto s = byMid(packet)) {
    if (count_ < kMaxSsrcs) ssrcs_[count_++] = Entry{ssrc, *s};
    return s;
  }
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

std::optional<std::span<const std::byte>> BundleDemux::headerExtension(std::span<const std::byte> rtp, uint8_t id) {
  auto u8 = [&](size_t i) { return std::to_integer<uint32_t>(rtp[i]); };
  if (id == 0 || rtp.size() < 12 || (u8(0) >> 6) != 2 || (u8(0) & 0x10U) == 0) return std::nullopt;
  const size_t start = 12 + 4 * size_t{u8(0) & 0x0FU};  // after the CSRCs
  if (start + 4 > rtp.size()) return std::nullopt;
  const uint32_t profile = (u8(start) << 8) | u8(start + 1);
  const size_t end = start + 4 + 4 * size_t{(u8(start + 2) << 8) | u8(start + 3)};
  if (end > rtp.size()) return std::nullopt;
  const bool oneByte = profile == 0xBEDE;
  if (!oneByte && (profile & 0xFFF0U) != 0x1000) return std::nullopt;  // RFC 8285 §4.3 two-byte: 0x100X
  size_t off = start + 4;
  while (off < end) {
    if (u8(off) == 0) {  // padding
      ++off;
      continue;
    }
    uint32_t elementId = 0;
    size_t length = 0;
    if (oneByte) {
      elementId = u8(off) >> 4;
      if (elementId == 15) return std::nullopt;  // RFC 8285 §4.2: stop
      length = (u8(off) & 0x0FU) + 1;
      off += 1;
    } else {
      if (off + 2 > end) return std::nullopt;
      elementId = u8(off);
      length = u8(off + 1);
      off += 2;
    }
    if (off + length > end) return std::nullopt;
    if (elementId == id) return rtp.subspan(off, length);
    off += length;
  }
  return std::nullopt;
}

}  // namespace rdv::relay
