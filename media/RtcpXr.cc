// RTCP XR (RFC 3611) parsing: packet framing (§2), block framing (§3), and the VoIP Metrics
// (§4.7) and Statistics Summary (§4.6) block layouts.
#include "media/RtcpXr.h"

#include "media/RtcpPacket.h"

namespace rdv::media {
namespace {

constexpr size_t kPacketHeaderSize = 8;  // V/P/reserved, PT, length, SSRC of packet sender
constexpr size_t kBlockHeaderSize = 4;   // BT, type-specific, block length

// The caller has checked that the 36 bytes at `at` are the block (header included).
XrVoipMetrics readVoipMetrics(std::span<const std::byte> b, size_t at) {
  return XrVoipMetrics{
      .ssrc = wire::loadBe32(b, at + 4),
      .lossRate = wire::load8(b, at + 8),
      .discardRate = wire::load8(b, at + 9),
      .burstDensity = wire::load8(b, at + 10),
      .gapDensity = wire::load8(b, at + 11),
      .burstDurationMs = wire::loadBe16(b, at + 12),
      .gapDurationMs = wire::loadBe16(b, at + 14),
      .roundTripDelayMs = wire::loadBe16(b, at + 16),
      .endSystemDelayMs = wire::loadBe16(b, at + 18),
      .signalLevelDb = static_cast<int8_t>(wire::load8(b, at + 20)),
      .noiseLevelDb = static_cast<int8_t>(wire::load8(b, at + 21)),
      .rerlDb = wire::load8(b, at + 22),
      .gmin = wire::load8(b, at + 23),
      .rFactor = wire::load8(b, at + 24),
      .extRFactor = wire::load8(b, at + 25),
      .mosLq = wire::load8(b, at + 26),
      .mosCq = wire::load8(b, at + 27),
      .rxConfig = wire::load8(b, at + 28),
      // at + 29: reserved
      .jbNominalMs = wire::loadBe16(b, at + 30),
      .jbMaximumMs = wire::loadBe16(b, at + 32),
      .jbAbsMaxMs = wire::loadBe16(b, at + 34),
  };
}

// The caller has checked that the 40 bytes at `at` are the block (header included).
XrStatisticsSummary readStatisticsSummary(std::span<const std::byte> b, size_t at) {
  return XrStatisticsSummary{
      .ssrc = wire::loadBe32(b, at + 4),
      .flags = wire::load8(b, at + 1),
      .beginSeq = wire::loadBe16(b, at + 8),
      .endSeq = wire::loadBe16(b, at + 10),
      .lostPackets = wire::loadBe32(b, at + 12),
      .dupPackets = wire::loadBe32(b, at + 16),
      .minJitter = wire::loadBe32(b, at + 20),
      .maxJitter = wire::loadBe32(b, at + 24),
      .meanJitter = wire::loadBe32(b, at + 28),
      .devJitter = wire::loadBe32(b, at + 32),
      .minTtl = wire::load8(b, at + 36),
      .maxTtl = wire::load8(b, at + 37),
      .meanTtl = wire::load8(b, at + 38),
      .devTtl = wire::load8(b, at + 39),
  };
}

}  // namespace

Expected<XrReport, ParseError> parseRtcpXr(std::span<const std::byte> packet) {
  const size_t size = packet.size();
  if (size < kPacketHeaderSize) return Unexpected(ParseError::TooShort);
  const uint8_t first = wire::load8(packet, 0);
  if ((first >> 6) != 2) return Unexpected(ParseError::BadVersion);
  if (wire::load8(packet, 1) != rtcp::kXr) return Unexpected(ParseError::BadPacketType);
  if ((size_t{wire::loadBe16(packet, 2)} + 1) * 4 != size) return Unexpected(ParseError::BadLength);

  size_t end = size;
  if ((first & 0x20) != 0) {
    // RFC 3550 §6.4.1: the last octet counts the padding, itself included.
    const size_t padding = wire::load8(packet, size - 1);
    if (padding == 0 || padding > size - kPacketHeaderSize) return Unexpected(ParseError::BadPadding);
    end -= padding;
  }

  XrReport out;
  out.senderSsrc = wire::loadBe32(packet, 4);
  size_t at = kPacketHeaderSize;
  while (at < end) {
    if (end - at < kBlockHeaderSize) return Unexpected(ParseError::BadLength);
    const uint8_t type = wire::load8(packet, at);
    const uint16_t words = wire::loadBe16(packet, at + 2);
    const size_t length = (size_t{words} + 1) * 4;  // §3: block length counts words after the header
    if (length > end - at) return Unexpected(ParseError::BadLength);
    if (type == xr::kVoipMetrics) {
      if (words != xr::kVoipMetricsLength) return Unexpected(ParseError::BadLength);
      if (!out.voip) out.voip = readVoipMetrics(packet, at);
      ++out.voipBlocks;  // at most 2^18 / 36 blocks fit the 16-bit length: cannot overflow
    } else if (type == xr::kStatisticsSummary) {
      if (words != xr::kStatisticsSummaryLength) return Unexpected(ParseError::BadLength);
      if (!out.summary) out.summary = readStatisticsSummary(packet, at);
    }
    if (out.blockCount < UINT16_MAX) ++out.blockCount;
    at += length;
  }
  return out;
}

}  // namespace rdv::media
