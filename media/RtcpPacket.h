#pragma once
// RTCP (RFC 3550 §6) parsing for the relay: a header-only peek for SRTCP, whose body is
// encrypted, and a fixed-capacity summary of a plaintext compound packet. No allocation,
// no exceptions; results copy what they need, so they outlive the buffer.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "common/Expected.h"
#include "media/RtcpXr.h"
#include "media/RtpPacket.h"

namespace rdv::media {

// RTCP packet types (RFC 3550 §12.1; RFC 4585 §6.1; RFC 3611 §2), for comparisons.
namespace rtcp {
inline constexpr uint8_t kSr = 200;
inline constexpr uint8_t kRr = 201;
inline constexpr uint8_t kSdes = 202;
inline constexpr uint8_t kBye = 203;
inline constexpr uint8_t kApp = 204;
inline constexpr uint8_t kRtpfb = 205;
inline constexpr uint8_t kPsfb = 206;
inline constexpr uint8_t kXr = 207;
// The range RFC 5761 §4 reserves for RTCP on an rtcp-mux port.
inline constexpr uint8_t kFirstType = 192;
inline constexpr uint8_t kLastType = 223;
}  // namespace rtcp

struct RtcpHeader {
  uint8_t packetType;
  uint32_t senderSsrc;
};

// Checks only the first RTCP header, for SRTCP (RFC 3711 §3.4: the first 8 octets stay in the
// clear): at least 8 bytes (TooShort), version 2 (BadVersion), packet type in [192, 223]
// (BadPacketType), and (length + 1) * 4 <= packet size (BadLength; trailing bytes such as the
// SRTCP index and tag are allowed). Returns the packet type and the SSRC in bytes 4..7.
Expected<RtcpHeader, ParseError> parseRtcpHeader(std::span<const std::byte> packet);

// One reception report block (RFC 3550 §6.4.1).
struct ReportBlock {
  uint32_t ssrc;
  uint8_t fractionLost;    // fixed point, lost/expected * 256
  int32_t cumulativeLost;  // 24-bit signed on the wire, sign-extended
  uint32_t highestSeq;     // extended highest sequence number received
  uint32_t jitter;         // interarrival jitter in RTP timestamp units
  uint32_t lsr;            // middle 32 bits of the last SR's NTP timestamp, 0 if none
  uint32_t dlsr;           // delay since that SR, units of 1/65536 s
};

// The sender info section of an SR (RFC 3550 §6.4.1).
struct SenderInfo {
  uint64_t ntpTimestamp;
  uint32_t rtpTimestamp;
  uint32_t packetCount;
  uint32_t octetCount;
  // The middle 32 bits of the NTP timestamp: what a receiver echoes as LSR (§6.4.1).
  uint32_t ntpMiddle32() const { return static_cast<uint32_t>(ntpTimestamp >> 16); }
};

// Summary of a compound RTCP packet (RFC 3550 §6.1), filled by parseRtcpCompound.
// Fixed capacity, no allocation: report blocks beyond kMaxReportBlocks are counted in
// reportBlockTotal but not stored.
struct RtcpSummary {
  static constexpr size_t kMaxReportBlocks = 8;
  uint32_t senderSsrc = 0;               // of the first (SR/RR) packet
  std::optional<SenderInfo> senderInfo;  // when the first packet is an SR
  std::array<ReportBlock, kMaxReportBlocks> blocks{};
  uint8_t blockCount = 0;                // stored blocks from SR/RR packets, <= kMaxReportBlocks
  uint8_t packetCount = 0;               // RTCP packets in the compound, saturating at 255
  bool hasBye = false;
  uint32_t reportBlockTotal = 0;         // all report blocks seen, stored or not
  // The first XR packet (RFC 3611) that parseRtcpXr accepts; XR packets it rejects only set
  // xrMalformed (the compound stays valid: its framing is sound, the relay forwards it as is).
  std::optional<XrReport> xr;
  bool xrMalformed = false;
};

// Validates and summarises a plaintext compound RTCP packet with the checks of RFC 3550 A.2:
//  - at least 8 bytes (TooShort);
//  - every packet has version 2 (BadVersion) and a type in [192, 223] (BadPacketType);
//  - the first packet is an SR or RR (BadPacketType);
//  - the length fields add up to exactly the packet size (BadLength);
//  - only the last packet may set P, and its padding count is >= 1 and fits that packet's body
//    (BadPadding);
//  - an SR/RR body holds its sender info and RC report blocks, a BYE its SC SSRCs (BadLength);
//    profile-specific extensions after the report blocks are allowed (§6.4.1).
// XR packets are read with parseRtcpXr (RtcpXr.h): see RtcpSummary::xr. Other packet types
// (SDES, APP, feedback, unknown) are checked for framing only.
Expected<RtcpSummary, ParseError> parseRtcpCompound(std::span<const std::byte> packet);

}  // namespace rdv::media
