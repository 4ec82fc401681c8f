#include "media/RtcpPacket.h"

namespace rdv::media {
namespace {

constexpr size_t kHeaderSize = 4;        // V/P/count, PT, length (§6.4.1)
constexpr size_t kSenderInfoSize = 20;   // NTP (8), RTP timestamp, packet count, octet count
constexpr size_t kReportBlockSize = 24;  // §6.4.1

bool isRtcpType(uint8_t type) { return type >= rtcp::kFirstType && type <= rtcp::kLastType; }

ReportBlock readReportBlock(std::span<const std::byte> b, size_t at) {
  // cumulative lost is a signed 24-bit field: shift it to the top and back to sign-extend.
  const auto cumulative = static_cast<int32_t>(wire::loadBe24(b, at + 5) << 8) >> 8;
  return ReportBlock{
      .ssrc = wire::loadBe32(b, at),
      .fractionLost = wire::load8(b, at + 4),
      .cumulativeLost = cumulative,
      .highestSeq = wire::loadBe32(b, at + 8),
      .jitter = wire::loadBe32(b, at + 12),
      .lsr = wire::loadBe32(b, at + 16),
      .dlsr = wire::loadBe32(b, at + 20),
  };
}

// Stores (up to capacity) and counts `count` report blocks starting at `at`; the caller has
// checked that they fit.
void collectBlocks(RtcpSummary& out, std::span<const std::byte> b, size_t at, size_t count) {
  for (size_t i = 0; i < count; ++i, at += kReportBlockSize) {
    if (out.blockCount < RtcpSummary::kMaxReportBlocks) out.blocks[out.blockCount++] = readReportBlock(b, at);
  }
  // Each block takes 24 bytes, so the total cannot overflow for any buffer under 96 GiB.
  out.reportBlockTotal += static_cast<uint32_t>(count);
}

}  // namespace

Expected<RtcpHeader, ParseError> parseRtcpHeader(std::span<const std::byte> packet) {
  if (packet.size() < 8) return Unexpected(ParseError::TooShort);
  if ((wire::load8(packet, 0) >> 6) != 2) return Unexpected(ParseError::BadVersion);
  const uint8_t type = wire::load8(packet, 1);
  if (!isRtcpType(type)) return Unexpected(ParseError::BadPacketType);
  const size_t length = (size_t{wire::loadBe16(packet, 2)} + 1) * 4;
  if (length > packet.size()) return Unexpected(ParseError::BadLength);
  return RtcpHeader{.packetType = type, .senderSsrc = wire::loadBe32(packet, 4)};
}

Expected<RtcpSummary, ParseError> parseRtcpCompound(std::span<const std::byte> packet) {
  const size_t size = packet.size();
  if (size < 8) return Unexpected(ParseError::TooShort);

  RtcpSummary out;
  size_t at = 0;
  while (at < size) {
    // A.2: each packet's length field must land inside the compound; leftovers are a framing error.
    if (size - at < kHeaderSize) return Unexpected(ParseError::BadLength);
    const uint8_t first = wire::load8(packet, at);
    const uint8_t type = wire::load8(packet, at + 1);
    if ((first >> 6) != 2) return Unexpected(ParseError::BadVersion);
    if (!isRtcpType(type)) return Unexpected(ParseError::BadPacketType);
    if (at == 0 && type != rtcp::kSr && type != rtcp::kRr) return Unexpected(ParseError::BadPacketType);
    const size_t length = (size_t{wire::loadBe16(packet, at + 2)} + 1) * 4;
    if (length > size - at) return Unexpected(ParseError::BadLength);
    const size_t end = at + length;

    // Padding is only legal on the last packet (A.2); its count includes itself (§6.4.1).
    size_t body = length - kHeaderSize;
    if ((first & 0x20) != 0) {
      if (end != size) return Unexpected(ParseError::BadPadding);
      const size_t padding = wire::load8(packet, end - 1);
      if (padding == 0 || padding > body) return Unexpected(ParseError::BadPadding);
      body -= padding;
    }

    const size_t count = first & 0x1fu;  // RC or SC: at most 31
    const size_t bodyAt = at + kHeaderSize;
    if (type == rtcp::kSr || type == rtcp::kRr) {
      const size_t info = type == rtcp::kSr ? kSenderInfoSize : 0;
      if (body < 4 + info + count * kReportBlockSize) return Unexpected(ParseError::BadLength);
      if (at == 0) {
        out.senderSsrc = wire::loadBe32(packet, bodyAt);
        if (type == rtcp::kSr) {
          out.senderInfo = SenderInfo{
              .ntpTimestamp = wire::loadBe64(packet, bodyAt + 4),
              .rtpTimestamp = wire::loadBe32(packet, bodyAt + 12),
              .packetCount = wire::loadBe32(packet, bodyAt + 16),
              .octetCount = wire::loadBe32(packet, bodyAt + 20),
          };
        }
      }
      collectBlocks(out, packet, bodyAt + 4 + info, count);
    } else if (type == rtcp::kBye) {
      if (body < 4 * count) return Unexpected(ParseError::BadLength);
      out.hasBye = true;
    } else if (type == rtcp::kXr) {
      auto report = parseRtcpXr(packet.subspan(at, length));
      if (!report) out.xrMalformed = true;
      else if (!out.xr) out.xr = *report;
    }

    if (out.packetCount < UINT8_MAX) ++out.packetCount;
    at = end;
  }
  return out;
}

}  // namespace rdv::media
