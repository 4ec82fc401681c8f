#pragma once
// RTP data packets (RFC 3550 §5.1, §5.3.1) as non-owning views over received bytes, plus the
// wire-level helpers shared by the RTP and RTCP parsers. No allocation, no exceptions.

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/Expected.h"

namespace rdv::media {

// Why a packet was rejected; callers count drops under these reasons (STYLE.md §7).
enum class ParseError : uint8_t { TooShort, BadVersion, BadLength, BadPadding, BadExtension, BadPacketType };

// A short lower-case reason, e.g. "too short"; stable text suitable for metric labels.
std::string_view toString(ParseError e);

namespace wire {
// Big-endian loads. Preconditions: the bytes [offset, offset + N) lie inside `b` (callers have
// checked the length before reading). Byte loads compile to a single load + bswap.
inline uint8_t load8(std::span<const std::byte> b, size_t offset) {
  return std::to_integer<uint8_t>(b.data()[offset]);
}
inline uint16_t loadBe16(std::span<const std::byte> b, size_t offset) {
  const std::byte* p = b.data() + offset;
  return static_cast<uint16_t>((std::to_integer<unsigned>(p[0]) << 8) | std::to_integer<unsigned>(p[1]));
}
inline uint32_t loadBe24(std::span<const std::byte> b, size_t offset) {
  const std::byte* p = b.data() + offset;
  return (std::to_integer<uint32_t>(p[0]) << 16) | (std::to_integer<uint32_t>(p[1]) << 8) |
         std::to_integer<uint32_t>(p[2]);
}
inline uint32_t loadBe32(std::span<const std::byte> b, size_t offset) {
  const std::byte* p = b.data() + offset;
  return (std::to_integer<uint32_t>(p[0]) << 24) | (std::to_integer<uint32_t>(p[1]) << 16) |
         (std::to_integer<uint32_t>(p[2]) << 8) | std::to_integer<uint32_t>(p[3]);
}
inline uint64_t loadBe64(std::span<const std::byte> b, size_t offset) {
  return (uint64_t{loadBe32(b, offset)} << 32) | loadBe32(b, offset + 4);
}
inline void storeBe16(std::span<std::byte> b, size_t offset, uint16_t v) {
  b[offset] = std::byte(v >> 8);
  b[offset + 1] = std::byte(v & 0xff);
}
inline void storeBe32(std::span<std::byte> b, size_t offset, uint32_t v) {
  storeBe16(b, offset, static_cast<uint16_t>(v >> 16));
  storeBe16(b, offset + 2, static_cast<uint16_t>(v & 0xffff));
}
}  // namespace wire

// A parsed RTP packet. Holds only a span of the caller's buffer and two offsets: it is valid
// exactly as long as that buffer is, and copying it copies no packet bytes (STYLE.md §4).
// Every accessor is a bounds-free read: parse() has proven the layout.
class RtpView {
 public:
  static constexpr size_t kFixedHeaderSize = 12;  // RFC 3550 §5.1
  static constexpr uint8_t kVersion = 2;

  // The single checked entry point. Accepts a packet iff:
  //  - it holds the 12-byte fixed header and version is 2 (§5.1);
  //  - the second byte is not in [192, 223], i.e. it could not be RTCP on an rtcp-mux port
  //    (RFC 5761 §4; RFC 3550 A.1 "payload type must not be SR or RR") -> BadPacketType;
  //  - the CSRC list (4 * CC bytes) fits -> TooShort otherwise;
  //  - with X set, the 4-byte extension header and its 4 * length bytes fit (§5.3.1) -> BadExtension;
  //  - with P set, the last byte (padding count, including itself) is >= 1 and no larger than the
  //    bytes after the headers (§5.1) -> BadPadding.
  // The payload may be empty.
  static Expected<RtpView, ParseError> parse(std::span<const std::byte> packet);

  uint8_t payloadType() const { return wire::load8(bytes_, 1) & 0x7f; }
  bool marker() const { return (wire::load8(bytes_, 1) & 0x80) != 0; }
  uint16_t sequence() const { return wire::loadBe16(bytes_, 2); }
  uint32_t timestamp() const { return wire::loadBe32(bytes_, 4); }
  uint32_t ssrc() const { return wire::loadBe32(bytes_, 8); }
  uint8_t csrcCount() const { return wire::load8(bytes_, 0) & 0x0f; }
  // The i-th contributing source, i < csrcCount().
  uint32_t csrc(size_t i) const {
    assert(i < csrcCount());
    return wire::loadBe32(bytes_, kFixedHeaderSize + 4 * i);
  }
  bool hasPadding() const { return (wire::load8(bytes_, 0) & 0x20) != 0; }

  bool hasExtension() const { return (wire::load8(bytes_, 0) & 0x10) != 0; }
  // The "defined by profile" 16 bits of the extension header (§5.3.1), e.g. 0xBEDE for RFC 8285
  // one-byte headers. 0 when there is no extension.
  uint16_t extensionProfile() const { return hasExtension() ? wire::loadBe16(bytes_, extensionOffset()) : 0; }
  // The extension body after its 4-byte header (4 * length bytes); empty when there is none.
  std::span<const std::byte> extension() const;

  std::span<const std::byte> payload() const { return bytes_.subspan(payloadOffset_, payloadSize_); }
  std::span<const std::byte> bytes() const { return bytes_; }

 private:
  RtpView(std::span<const std::byte> bytes, size_t payloadOffset, size_t payloadSize)
      : bytes_(bytes), payloadOffset_(payloadOffset), payloadSize_(payloadSize) {}
  size_t extensionOffset() const { return kFixedHeaderSize + 4 * size_t{csrcCount()}; }

  std::span<const std::byte> bytes_;
  size_t payloadOffset_;
  size_t payloadSize_;  // excludes padding
};

// The fields of an RTP header a sender chooses (RFC 3550 §5.1).
struct RtpHeaderFields {
  uint8_t payloadType = 0;
  bool marker = false;
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
};

// Writes a 12-byte fixed header (V=2, no padding, extension or CSRC) at the start of `out`,
// which must hold at least RtpView::kFixedHeaderSize bytes. Returns the header size.
size_t writeRtpHeader(std::span<std::byte> out, const RtpHeaderFields& h);

// The data of element `id` (1..14) in an RFC 8285 §4.2 one-byte-header extension (profile
// 0xBEDE); empty when the packet has no such extension or element. RFC 6464's audio level is
// one byte: V in the top bit, the level (-dBov, 0..127) in the low seven.
std::span<const std::byte> findOneByteExtension(const RtpView& rtp, uint8_t id);

// RFC 5761 §4 demultiplexing on an rtcp-mux port: true iff the packet has at least two bytes
// and the second one is in [192, 223] (the RTCP packet-type range). Says nothing about validity.
bool looksLikeRtcp(std::span<const std::byte> packet);

// Default RTP clock rate of a static payload type (RFC 3551 §6, tables 4 and 5; G.722 is 8000
// per §4.5.2). 0 for reserved, unassigned and dynamic (96-127) types.
uint32_t defaultClockRate(uint8_t payloadType);

}  // namespace rdv::media
