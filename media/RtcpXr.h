#pragma once
// RTCP Extended Reports (XR, RFC 3611): the checked parser of one XR packet and the two report
// blocks the relay reads, VoIP Metrics (§4.7) and Statistics Summary (§4.6). Other block types
// are framed and skipped. No allocation, no exceptions; the result copies what it keeps, so it
// outlives the buffer.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "common/Expected.h"
#include "media/RtpPacket.h"

namespace rdv::media {

// Block types (RFC 3611 §4, IANA "RTCP XR Block Type").
namespace xr {
inline constexpr uint8_t kStatisticsSummary = 6;
inline constexpr uint8_t kVoipMetrics = 7;
// The block length field (words after the 4-byte block header) each fixed-size block must carry.
inline constexpr uint16_t kStatisticsSummaryLength = 9;
inline constexpr uint16_t kVoipMetricsLength = 8;
// "Unavailable" for the signal/noise/RERL levels, R factors and MOS fields (§4.7.5-6).
inline constexpr uint8_t kUnavailable = 127;
}  // namespace xr

// VoIP Metrics Report Block (RFC 3611 §4.7), the values as on the wire. Rates and densities are
// fixed point with the binary point at the left edge (value / 256); durations and delays in ms.
struct XrVoipMetrics {
  uint32_t ssrc = 0;            // the source the metrics are about
  uint8_t lossRate = 0;         // §4.7.1, / 256
  uint8_t discardRate = 0;      // / 256
  uint8_t burstDensity = 0;     // §4.7.2, / 256
  uint8_t gapDensity = 0;       // / 256
  uint16_t burstDurationMs = 0;
  uint16_t gapDurationMs = 0;
  uint16_t roundTripDelayMs = 0;  // §4.7.3
  uint16_t endSystemDelayMs = 0;
  int8_t signalLevelDb = xr::kUnavailable;  // §4.7.4, dBm0, signed
  int8_t noiseLevelDb = xr::kUnavailable;   // dBm0, signed
  uint8_t rerlDb = xr::kUnavailable;        // residual echo return loss
  uint8_t gmin = 0;                         // §4.7.2, 16 recommended
  uint8_t rFactor = xr::kUnavailable;       // §4.7.5, 0..100
  uint8_t extRFactor = xr::kUnavailable;
  uint8_t mosLq = xr::kUnavailable;         // MOS x 10, 10..50
  uint8_t mosCq = xr::kUnavailable;
  uint8_t rxConfig = 0;                     // §4.7.6: PLC (2 bits), JBA (2 bits), JB rate (4 bits)
  uint16_t jbNominalMs = 0;                 // §4.7.7
  uint16_t jbMaximumMs = 0;
  uint16_t jbAbsMaxMs = 0;

  static bool available(uint8_t v) { return v != xr::kUnavailable; }
  double lossFraction() const { return lossRate / 256.0; }
  double discardFraction() const { return discardRate / 256.0; }
  double burstFraction() const { return burstDensity / 256.0; }
  double gapFraction() const { return gapDensity / 256.0; }
};

// Statistics Summary Report Block (RFC 3611 §4.6), as on the wire. Fields whose flag (L, D, J,
// ToH in `flags`, the byte after BT) is clear are meaningless and left as sent.
struct XrStatisticsSummary {
  uint32_t ssrc = 0;
  uint8_t flags = 0;  // L 0x80, D 0x40, J 0x20, ToH 0x18 (0 none, 1 IPv4 TTL, 2 IPv6 hop limit)
  uint16_t beginSeq = 0;
  uint16_t endSeq = 0;
  uint32_t lostPackets = 0;
  uint32_t dupPackets = 0;
  uint32_t minJitter = 0;  // RTP timestamp units
  uint32_t maxJitter = 0;
  uint32_t meanJitter = 0;
  uint32_t devJitter = 0;
  uint8_t minTtl = 0;
  uint8_t maxTtl = 0;
  uint8_t meanTtl = 0;
  uint8_t devTtl = 0;
};

// One XR packet: its sender and the first block of each kind the relay reads (a sender
// reporting on several sources sends one block per source; the first stands for the stream).
struct XrReport {
  uint32_t senderSsrc = 0;
  std::optional<XrVoipMetrics> voip;
  std::optional<XrStatisticsSummary> summary;
  uint16_t blockCount = 0;  // all report blocks, of any type
  uint16_t voipBlocks = 0;  // VoIP Metrics blocks, stored or not
};

// Parses one XR packet (RFC 3611 §2), header included, as it sits in a compound packet:
//  - at least 8 bytes (TooShort), version 2 (BadVersion), PT 207 (BadPacketType);
//  - (length + 1) * 4 == packet size (BadLength);
//  - with P set, a padding count >= 1 that fits the body after the SSRC (BadPadding);
//  - every block header and its (block length + 1) * 4 bytes lie inside the body (BadLength),
//    and the body ends exactly at a block boundary (BadLength);
//  - a VoIP Metrics block has block length 8 and a Statistics Summary block 9 (BadLength).
// Never reads outside `packet`. Unknown block types are skipped.
Expected<XrReport, ParseError> parseRtcpXr(std::span<const std::byte> packet);

}  // namespace rdv::media
