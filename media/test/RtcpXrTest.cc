// RTCP XR (RFC 3611): VoIP Metrics and Statistics Summary blocks from byte fixtures laid out as
// the RFC draws them, alone and inside a compound packet, and the framing errors the parser
// rejects (wrong block lengths, truncation, oversize, garbage).
#include "media/RtcpXr.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "media/RtcpPacket.h"
#include "media/test/ByteFixtures.h"

namespace rdv::media {
namespace {

using test::Bytes;
using test::bytes;
using test::concat;

// XR header from SSRC 0x11223344 with the given length field (words after the first minus one).
Bytes xrHeader(uint16_t length, uint8_t first = 0x80) {
  return bytes({first, 207, static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length), 0x11, 0x22, 0x33, 0x44});
}

// VoIP Metrics block (§4.7) about SSRC 0x0a0b0c0d, as a phone on a lossy path sends it:
// loss 13/256 (5.1 %), discard 3/256, burst density 64/256, gap density 2/256, bursts of 120 ms,
// gaps of 4500 ms, round trip 180 ms, end system delay 60 ms, signal -20 dBm0, noise -65 dBm0,
// RERL unavailable, Gmin 16, R 78, external R unavailable, MOS-LQ 3.9, MOS-CQ 3.7,
// RX config PLC standard + adaptive JB (0xf0), JB nominal 40 / max 80 / abs max 200 ms.
const Bytes kVoipBlock = bytes({
    7,    0,    0x00, 0x08,  // BT, reserved, block length 8
    0x0a, 0x0b, 0x0c, 0x0d,  // SSRC of source
    13,   3,    64,   2,     // loss rate, discard rate, burst density, gap density
    0x00, 0x78, 0x11, 0x94,  // burst duration 120, gap duration 4500
    0x00, 0xb4, 0x00, 0x3c,  // round trip delay 180, end system delay 60
    0xec, 0xbf, 127,  16,    // signal -20, noise -65, RERL n/a, Gmin 16
    78,   127,  39,   37,    // R factor, ext. R factor, MOS-LQ, MOS-CQ
    0xf0, 0,    0x00, 0x28,  // RX config, reserved, JB nominal 40
    0x00, 0x50, 0x00, 0xc8,  // JB maximum 80, JB abs max 200
});

// Statistics Summary block (§4.6): L, D, J and ToH = IPv4 TTL; seq 256..512, 5 lost, 1 dup,
// jitter min 2 / max 40 / mean 10 / dev 6, TTL min 60 / max 64 / mean 62 / dev 1.
const Bytes kSummaryBlock = bytes({
    6,    0xe8, 0x00, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x01, 0x00, 0x02, 0x00,
    0,    0,    0,    5,    0,    0,    0,    1,    0,    0,    0,    2,
    0,    0,    0,    40,   0,    0,    0,    10,   0,    0,    0,    6,
    60,   64,   62,   1,
});

// Receiver Reference Time block (§4.4, BT 4): not read, only skipped.
const Bytes kRrtBlock = bytes({4, 0, 0x00, 0x02, 0xe8, 0x8f, 0x2a, 0x10, 0x4b, 0xc6, 0xa7, 0xef});

const Bytes kEmptyRr = bytes({0x80, 201, 0x00, 0x01, 0x0a, 0x0b, 0x0c, 0x0d});

Bytes xrWith(std::initializer_list<Bytes> blocks) {
  Bytes body = concat(blocks);
  return concat({xrHeader(static_cast<uint16_t>((8 + body.size()) / 4 - 1)), body});
}

ParseError errorOf(const Bytes& packet) {
  auto r = parseRtcpXr(packet);
  EXPECT_FALSE(r);
  return r ? ParseError::TooShort : r.error();
}

TEST(RtcpXrTest, ParsesEveryFieldOfAVoipMetricsBlock) {
  auto r = parseRtcpXr(xrWith({kVoipBlock}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->senderSsrc, 0x11223344u);
  EXPECT_EQ(r->blockCount, 1);
  EXPECT_FALSE(r->summary);
  ASSERT_TRUE(r->voip);
  const XrVoipMetrics& v = *r->voip;
  EXPECT_EQ(v.ssrc, 0x0a0b0c0du);
  EXPECT_EQ(v.lossRate, 13);
  EXPECT_DOUBLE_EQ(v.lossFraction(), 13 / 256.0);
  EXPECT_EQ(v.discardRate, 3);
  EXPECT_DOUBLE_EQ(v.burstFraction(), 0.25);
  EXPECT_EQ(v.gapDensity, 2);
  EXPECT_EQ(v.burstDurationMs, 120);
  EXPECT_EQ(v.gapDurationMs, 4500);
  EXPECT_EQ(v.roundTripDelayMs, 180);
  EXPECT_EQ(v.endSystemDelayMs, 60);
  EXPECT_EQ(v.signalLevelDb, -20);
  EXPECT_EQ(v.noiseLevelDb, -65);
  EXPECT_FALSE(XrVoipMetrics::available(v.rerlDb));
  EXPECT_EQ(v.gmin, 16);
  EXPECT_EQ(v.rFactor, 78);
  EXPECT_FALSE(XrVoipMetrics::available(v.extRFactor));
  EXPECT_EQ(v.mosLq, 39);
  EXPECT_EQ(v.mosCq, 37);
  EXPECT_EQ(v.rxConfig, 0xf0);
  EXPECT_EQ(v.jbNominalMs, 40);
  EXPECT_EQ(v.jbMaximumMs, 80);
  EXPECT_EQ(v.jbAbsMaxMs, 200);
}

TEST(RtcpXrTest, ParsesStatisticsSummaryAndSkipsUnknownBlocks) {
  auto r = parseRtcpXr(xrWith({kRrtBlock, kSummaryBlock, kVoipBlock}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->blockCount, 3);
  EXPECT_EQ(r->voipBlocks, 1);
  ASSERT_TRUE(r->voip);
  EXPECT_EQ(r->voip->mosLq, 39);
  ASSERT_TRUE(r->summary);
  const XrStatisticsSummary& s = *r->summary;
  EXPECT_EQ(s.ssrc, 0x0a0b0c0du);
  EXPECT_EQ(s.flags, 0xe8);
  EXPECT_EQ(s.beginSeq, 256);
  EXPECT_EQ(s.endSeq, 512);
  EXPECT_EQ(s.lostPackets, 5u);
  EXPECT_EQ(s.dupPackets, 1u);
  EXPECT_EQ(s.minJitter, 2u);
  EXPECT_EQ(s.maxJitter, 40u);
  EXPECT_EQ(s.meanJitter, 10u);
  EXPECT_EQ(s.devJitter, 6u);
  EXPECT_EQ(s.minTtl, 60);
  EXPECT_EQ(s.maxTtl, 64);
  EXPECT_EQ(s.meanTtl, 62);
  EXPECT_EQ(s.devTtl, 1);
}

TEST(RtcpXrTest, KeepsTheFirstOfSeveralVoipBlocks) {
  Bytes second = kVoipBlock;
  second[26] = std::byte{20};  // MOS-LQ 2.0
  auto r = parseRtcpXr(xrWith({kVoipBlock, second}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->voipBlocks, 2);
  EXPECT_EQ(r->voip->mosLq, 39);
}

TEST(RtcpXrTest, AnXrWithoutBlocksAndAPaddedOneAreValid) {
  auto empty = parseRtcpXr(xrHeader(1));
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->blockCount, 0);
  // P set, 4 bytes of padding after the block.
  Bytes padded = concat({xrHeader(10, 0xa0), kVoipBlock, bytes({0, 0, 0, 4})});
  padded[3] = std::byte{11};
  auto r = parseRtcpXr(padded);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->voip->gapDurationMs, 4500);
}

TEST(RtcpXrTest, RejectsWrongBlockLengthsForFixedSizeBlocks) {
  Bytes longer = concat({kVoipBlock, bytes({0, 0, 0, 0})});
  longer[3] = std::byte{9};  // a VoIP Metrics block is always 8 words after its header
  EXPECT_EQ(errorOf(xrWith({longer})), ParseError::BadLength);
  Bytes shorter(kVoipBlock.begin(), kVoipBlock.end() - 4);
  shorter[3] = std::byte{7};
  EXPECT_EQ(errorOf(xrWith({shorter})), ParseError::BadLength);
  Bytes summary(kSummaryBlock.begin(), kSummaryBlock.end() - 4);
  summary[3] = std::byte{8};
  EXPECT_EQ(errorOf(xrWith({summary})), ParseError::BadLength);
}

TEST(RtcpXrTest, RejectsTruncatedAndOversizedPackets) {
  const Bytes whole = xrWith({kVoipBlock});
  // The block claims more than the packet holds (length field patched to match the cut).
  Bytes cut(whole.begin(), whole.end() - 8);
  cut[3] = static_cast<std::byte>(cut.size() / 4 - 1);
  EXPECT_EQ(errorOf(cut), ParseError::BadLength);
  // Bytes missing after the header's length, or trailing after it.
  EXPECT_EQ(errorOf(Bytes(whole.begin(), whole.end() - 4)), ParseError::BadLength);
  EXPECT_EQ(errorOf(concat({whole, bytes({0, 0, 0, 0})})), ParseError::BadLength);
  // A block length field of 0xffff.
  Bytes huge = whole;
  huge[10] = std::byte{0xff};
  huge[11] = std::byte{0xff};
  EXPECT_EQ(errorOf(huge), ParseError::BadLength);
  // Padding that leaves 2 bytes: not a whole block header.
  Bytes ragged = concat({xrHeader(10, 0xa0), kVoipBlock, bytes({0, 0, 0, 2})});
  ragged[3] = std::byte{11};
  EXPECT_EQ(errorOf(ragged), ParseError::BadLength);
}

TEST(RtcpXrTest, RejectsGarbage) {
  EXPECT_EQ(errorOf(bytes({0x80, 207, 0, 1})), ParseError::TooShort);
  Bytes v1 = xrWith({kVoipBlock});
  v1[0] = std::byte{0x40};
  EXPECT_EQ(errorOf(v1), ParseError::BadVersion);
  Bytes rr = xrWith({kVoipBlock});
  rr[1] = std::byte{201};
  EXPECT_EQ(errorOf(rr), ParseError::BadPacketType);
  Bytes zeroPad = concat({xrHeader(2, 0xa0), bytes({0, 0, 0, 0})});
  EXPECT_EQ(errorOf(zeroPad), ParseError::BadPadding);
  Bytes bigPad = concat({xrHeader(2, 0xa0), bytes({0, 0, 0, 9})});
  EXPECT_EQ(errorOf(bigPad), ParseError::BadPadding);
}

TEST(RtcpXrTest, CompoundPacketCarriesTheXrSummary) {
  auto r = parseRtcpCompound(concat({kEmptyRr, xrWith({kVoipBlock})}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->packetCount, 2);
  EXPECT_FALSE(r->xrMalformed);
  ASSERT_TRUE(r->xr);
  ASSERT_TRUE(r->xr->voip);
  EXPECT_EQ(r->xr->voip->mosCq, 37);
}

TEST(RtcpXrTest, MalformedXrLeavesTheCompoundValidButUnread) {
  Bytes bad = concat({kVoipBlock, bytes({0, 0, 0, 0})});
  bad[3] = std::byte{9};
  auto r = parseRtcpCompound(concat({kEmptyRr, xrWith({bad})}));
  ASSERT_TRUE(r) << "framing is sound: the relay still forwards and latches on it";
  EXPECT_TRUE(r->xrMalformed);
  EXPECT_FALSE(r->xr);
}

}  // namespace
}  // namespace rdv::media
