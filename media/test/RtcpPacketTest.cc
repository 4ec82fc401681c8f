#include "media/RtcpPacket.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "media/test/ByteFixtures.h"

namespace rdv::media {
namespace {

using test::Bytes;
using test::bytes;
using test::concat;

// SR from SSRC 0x11223344 with two report blocks: 76 bytes, length field 18.
const Bytes kSrTwoBlocks = bytes({
    0x82, 200, 0x00, 0x12, 0x11, 0x22, 0x33, 0x44,
    0xe8, 0x8f, 0x2a, 0x10, 0x4b, 0xc6, 0xa7, 0xef,  // NTP
    0x00, 0x01, 0x5f, 0x90,                          // RTP timestamp 90000
    0x00, 0x00, 0x01, 0x2c,                          // packet count 300
    0x00, 0x00, 0xbb, 0x80,                          // octet count 48000
    // block 1: SSRC 0xaabbccdd, 25/256 lost, 1000 cumulative, ext seq 0x0001ffff, jitter 42
    0xaa, 0xbb, 0xcc, 0xdd, 0x19, 0x00, 0x03, 0xe8, 0x00, 0x01, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x2a, 0x12, 0x34, 0x56, 0x78, 0x00, 0x01, 0x80, 0x00,
    // block 2: SSRC 1, cumulative lost -1 (more duplicates than losses)
    0x00, 0x00, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x10,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
});
// RR with no blocks from SSRC 0x0a0b0c0d.
const Bytes kEmptyRr = bytes({0x80, 201, 0x00, 0x01, 0x0a, 0x0b, 0x0c, 0x0d});
// SDES with one chunk: SSRC 0x0a0b0c0d, CNAME "ab", end item, padded to a word.
const Bytes kSdes = bytes({0x81, 202, 0x00, 0x03, 0x0a, 0x0b, 0x0c, 0x0d, 0x01, 0x02, 'a', 'b', 0, 0, 0, 0});
// BYE for SSRC 0x0a0b0c0d.
const Bytes kBye = bytes({0x81, 203, 0x00, 0x01, 0x0a, 0x0b, 0x0c, 0x0d});

ParseError errorOf(const Bytes& packet) {
  auto r = parseRtcpCompound(packet);
  EXPECT_FALSE(r);
  return r ? ParseError::TooShort : r.error();
}

TEST(RtcpPacketTest, ParsesSrWithTwoReportBlocks) {
  auto r = parseRtcpCompound(kSrTwoBlocks);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->senderSsrc, 0x11223344u);
  ASSERT_TRUE(r->senderInfo);
  EXPECT_EQ(r->senderInfo->ntpTimestamp, 0xe88f2a104bc6a7efull);
  EXPECT_EQ(r->senderInfo->ntpMiddle32(), 0x2a104bc6u);
  EXPECT_EQ(r->senderInfo->rtpTimestamp, 90000u);
  EXPECT_EQ(r->senderInfo->packetCount, 300u);
  EXPECT_EQ(r->senderInfo->octetCount, 48000u);
  EXPECT_EQ(r->packetCount, 1);
  EXPECT_FALSE(r->hasBye);
  ASSERT_EQ(r->blockCount, 2);
  EXPECT_EQ(r->reportBlockTotal, 2u);
  const ReportBlock& b = r->blocks[0];
  EXPECT_EQ(b.ssrc, 0xaabbccddu);
  EXPECT_EQ(b.fractionLost, 25);
  EXPECT_EQ(b.cumulativeLost, 1000);
  EXPECT_EQ(b.highestSeq, 0x0001ffffu);
  EXPECT_EQ(b.jitter, 42u);
  EXPECT_EQ(b.lsr, 0x12345678u);
  EXPECT_EQ(b.dlsr, 0x00018000u);
  EXPECT_EQ(r->blocks[1].ssrc, 1u);
  EXPECT_EQ(r->blocks[1].cumulativeLost, -1);
  EXPECT_EQ(r->blocks[1].highestSeq, 16u);
}

TEST(RtcpPacketTest, ParsesRrSdesByeCompound) {
  auto r = parseRtcpCompound(concat({kEmptyRr, kSdes, kBye}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->senderSsrc, 0x0a0b0c0du);
  EXPECT_FALSE(r->senderInfo);
  EXPECT_EQ(r->blockCount, 0);
  EXPECT_EQ(r->packetCount, 3);
  EXPECT_TRUE(r->hasBye);
}

TEST(RtcpPacketTest, CollectsBlocksFromAdditionalRrPackets) {
  // An SR followed by an RR that carries more blocks (RFC 3550 §6.4.2 for > 31 sources).
  const Bytes rr = bytes({0x81, 201, 0x00, 0x07, 0x11, 0x22, 0x33, 0x44,
                          0x00, 0x00, 0x00, 0x07, 0x80, 0x80, 0x00, 0x00, 0, 0, 0, 9,
                          0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3});
  auto r = parseRtcpCompound(concat({kSrTwoBlocks, rr, kSdes}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->blockCount, 3);
  EXPECT_EQ(r->blocks[2].ssrc, 7u);
  EXPECT_EQ(r->blocks[2].fractionLost, 128);
  EXPECT_EQ(r->blocks[2].cumulativeLost, -8388608);  // most negative 24-bit value
  EXPECT_EQ(r->senderSsrc, 0x11223344u);
}

TEST(RtcpPacketTest, CountsButDoesNotStoreBlocksBeyondCapacity) {
  Bytes rr = bytes({0x8a, 201, 0x00, 61, 0x00, 0x00, 0x00, 0x05});  // RC=10: 1 + 1 + 60 words
  for (uint8_t i = 0; i < 10; ++i) {
    const Bytes block = bytes({0, 0, 0, static_cast<uint8_t>(100 + i), 0, 0, 0, i, 0, 0, 0, 0,
                               0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    rr.insert(rr.end(), block.begin(), block.end());
  }
  auto r = parseRtcpCompound(rr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->blockCount, RtcpSummary::kMaxReportBlocks);
  EXPECT_EQ(r->reportBlockTotal, 10u);
  EXPECT_EQ(r->blocks[7].ssrc, 107u);
  EXPECT_EQ(r->blocks[7].cumulativeLost, 7);
}

TEST(RtcpPacketTest, AllowsProfileExtensionAfterReportBlocks) {
  const Bytes rr = bytes({0x80, 201, 0x00, 0x02, 0x0a, 0x0b, 0x0c, 0x0d, 0xde, 0xad, 0xbe, 0xef});
  auto r = parseRtcpCompound(rr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->blockCount, 0);
}

TEST(RtcpPacketTest, RejectsCompoundStartingWithSdes) {
  EXPECT_EQ(errorOf(concat({kSdes, kEmptyRr})), ParseError::BadPacketType);
  EXPECT_EQ(errorOf(concat({kBye, kEmptyRr})), ParseError::BadPacketType);
}

TEST(RtcpPacketTest, RejectsPacketTypeOutsideRtcpRange) {
  Bytes later = kBye;
  later[1] = std::byte{224};
  EXPECT_EQ(errorOf(concat({kEmptyRr, later})), ParseError::BadPacketType);
  later[1] = std::byte{191};
  EXPECT_EQ(errorOf(concat({kEmptyRr, later})), ParseError::BadPacketType);
}

TEST(RtcpPacketTest, RejectsVersionMismatchInLaterPacket) {
  Bytes sdes = kSdes;
  sdes[0] = std::byte{0x41};
  EXPECT_EQ(errorOf(concat({kEmptyRr, sdes})), ParseError::BadVersion);
}

TEST(RtcpPacketTest, RejectsLengthsThatDoNotAddUp) {
  EXPECT_EQ(errorOf(concat({kEmptyRr, bytes({0x00, 0x00})})), ParseError::BadLength);  // trailing bytes
  EXPECT_EQ(errorOf(concat({kEmptyRr, bytes({0x81, 202, 0x00, 0x05, 0, 0, 0, 0})})), ParseError::BadLength);
  Bytes longRr = kEmptyRr;
  longRr[3] = std::byte{0x02};  // claims 12 bytes, has 8
  EXPECT_EQ(errorOf(longRr), ParseError::BadLength);
}

TEST(RtcpPacketTest, RejectsReportCountLargerThanBody) {
  Bytes rr = kEmptyRr;
  rr[0] = std::byte{0x81};  // RC=1 but no block follows
  EXPECT_EQ(errorOf(rr), ParseError::BadLength);
  Bytes sr = kSrTwoBlocks;
  sr[0] = std::byte{0x83};
  EXPECT_EQ(errorOf(sr), ParseError::BadLength);
}

TEST(RtcpPacketTest, RejectsByeListingMoreSsrcsThanItHolds) {
  Bytes bye = kBye;
  bye[0] = std::byte{0x82};
  EXPECT_EQ(errorOf(concat({kEmptyRr, bye})), ParseError::BadLength);
}

TEST(RtcpPacketTest, AcceptsPaddingOnLastPacket) {
  const Bytes paddedBye = bytes({0xa1, 203, 0x00, 0x02, 0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x00, 0x00, 0x04});
  auto r = parseRtcpCompound(concat({kEmptyRr, paddedBye}));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->hasBye);
  EXPECT_EQ(r->packetCount, 2);
}

TEST(RtcpPacketTest, RejectsPaddingOnNonLastPacket) {
  // The padding count itself is plausible; only its position is wrong (RFC 3550 A.2).
  const Bytes paddedRr = bytes({0xa0, 201, 0x00, 0x02, 0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x00, 0x00, 0x04});
  ASSERT_TRUE(parseRtcpCompound(paddedRr));
  EXPECT_EQ(errorOf(concat({paddedRr, kBye})), ParseError::BadPadding);
}

TEST(RtcpPacketTest, RejectsBadPaddingCount) {
  const Bytes zero = bytes({0xa1, 203, 0x00, 0x02, 0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x00, 0x00, 0x00});
  EXPECT_EQ(errorOf(concat({kEmptyRr, zero})), ParseError::BadPadding);
  const Bytes tooLong = bytes({0xa1, 203, 0x00, 0x02, 0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x00, 0x00, 0x09});
  EXPECT_EQ(errorOf(concat({kEmptyRr, tooLong})), ParseError::BadPadding);
  // Padding that eats into the SSRC the BYE announces.
  const Bytes eatsSsrc = bytes({0xa1, 203, 0x00, 0x02, 0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x00, 0x00, 0x08});
  EXPECT_EQ(errorOf(concat({kEmptyRr, eatsSsrc})), ParseError::BadLength);
}

TEST(RtcpPacketTest, RejectsCompoundShorterThanAnEmptyRr) {
  EXPECT_EQ(errorOf({}), ParseError::TooShort);
  EXPECT_EQ(errorOf(bytes({0x80, 201, 0x00, 0x00})), ParseError::TooShort);
}

TEST(RtcpPacketTest, HeaderParseGivesTypeAndSsrcOfSrtcp) {
  // SRTCP: the encrypted body follows, then E|index and a 10-byte tag the length does not cover.
  Bytes srtcp = concat({kSrTwoBlocks, bytes({0x80, 0x00, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})});
  auto h = parseRtcpHeader(srtcp);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->packetType, rtcp::kSr);
  EXPECT_EQ(h->senderSsrc, 0x11223344u);
  // It does not look past the first header, so an SDES-first packet is fine here.
  auto sdes = parseRtcpHeader(kSdes);
  ASSERT_TRUE(sdes);
  EXPECT_EQ(sdes->packetType, rtcp::kSdes);
}

TEST(RtcpPacketTest, HeaderParseRejectsMalformedHeaders) {
  auto shortPacket = parseRtcpHeader(bytes({0x80, 201, 0x00, 0x01, 0x0a, 0x0b, 0x0c}));
  ASSERT_FALSE(shortPacket);
  EXPECT_EQ(shortPacket.error(), ParseError::TooShort);

  Bytes v1 = kEmptyRr;
  v1[0] = std::byte{0x40};
  EXPECT_EQ(parseRtcpHeader(v1).error(), ParseError::BadVersion);

  Bytes rtpLike = kEmptyRr;
  rtpLike[1] = std::byte{0x60};
  EXPECT_EQ(parseRtcpHeader(rtpLike).error(), ParseError::BadPacketType);

  Bytes overlong = kEmptyRr;
  overlong[3] = std::byte{0x02};
  EXPECT_EQ(parseRtcpHeader(overlong).error(), ParseError::BadLength);
}

}  // namespace
}  // namespace rdv::media
