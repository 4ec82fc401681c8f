#include "media/RtpPacket.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace rdv::media {
namespace {

std::vector<std::byte> bytes(std::initializer_list<uint8_t> values) {
  std::vector<std::byte> out;
  for (uint8_t v : values) out.push_back(std::byte{v});
  return out;
}

std::vector<uint8_t> toInts(std::span<const std::byte> b) {
  std::vector<uint8_t> out;
  for (std::byte v : b) out.push_back(std::to_integer<uint8_t>(v));
  return out;
}

// A PCMU packet as a softphone sends it: V=2, M=1, PT=0, seq 0x1234, ts 0xdeadbeef, SSRC 0x11223344.
const std::vector<std::byte> kPcmu = bytes({0x80, 0x80, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef,
                                            0x11, 0x22, 0x33, 0x44, 0xff, 0x7f, 0xfe, 0x7e});

TEST(RtpPacketTest, ParsesFixedHeaderFields) {
  auto rtp = RtpView::parse(kPcmu);
  ASSERT_TRUE(rtp);
  EXPECT_EQ(rtp->payloadType(), 0);
  EXPECT_TRUE(rtp->marker());
  EXPECT_EQ(rtp->sequence(), 0x1234);
  EXPECT_EQ(rtp->timestamp(), 0xdeadbeefu);
  EXPECT_EQ(rtp->ssrc(), 0x11223344u);
  EXPECT_EQ(rtp->csrcCount(), 0);
  EXPECT_FALSE(rtp->hasExtension());
  EXPECT_FALSE(rtp->hasPadding());
  EXPECT_EQ(toInts(rtp->payload()), (std::vector<uint8_t>{0xff, 0x7f, 0xfe, 0x7e}));
}

TEST(RtpPacketTest, ViewAliasesTheCallersBuffer) {
  auto rtp = RtpView::parse(kPcmu);
  ASSERT_TRUE(rtp);
  EXPECT_EQ(rtp->bytes().data(), kPcmu.data());
  EXPECT_EQ(rtp->bytes().size(), kPcmu.size());
  EXPECT_EQ(rtp->payload().data(), kPcmu.data() + 12);
}

TEST(RtpPacketTest, ParsesHeaderWithCsrcAndExtension) {
  // V=2 X=1 CC=2, PT=111 (Opus), two CSRCs, RFC 8285 one-byte extension of one word, 3-byte payload.
  const auto packet = bytes({0x92, 0x6f, 0x00, 0x01, 0x00, 0x00, 0x03, 0xc0, 0xaa, 0xbb, 0xcc, 0xdd,
                             0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,  // CSRCs
                             0xbe, 0xde, 0x00, 0x01, 0x10, 0x7f, 0x00, 0x00,  // extension
                             0x01, 0x02, 0x03});
  auto rtp = RtpView::parse(packet);
  ASSERT_TRUE(rtp);
  EXPECT_EQ(rtp->payloadType(), 111);
  EXPECT_FALSE(rtp->marker());
  EXPECT_EQ(rtp->csrcCount(), 2);
  EXPECT_EQ(rtp->csrc(0), 1u);
  EXPECT_EQ(rtp->csrc(1), 2u);
  EXPECT_TRUE(rtp->hasExtension());
  EXPECT_EQ(rtp->extensionProfile(), 0xbede);
  EXPECT_EQ(toInts(rtp->extension()), (std::vector<uint8_t>{0x10, 0x7f, 0x00, 0x00}));
  EXPECT_EQ(toInts(rtp->payload()), (std::vector<uint8_t>{0x01, 0x02, 0x03}));
}

TEST(RtpPacketTest, AcceptsEmptyExtension) {
  const auto packet = bytes({0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x10, 0x00, 0x00, 0x00, 0xab});
  auto rtp = RtpView::parse(packet);
  ASSERT_TRUE(rtp);
  EXPECT_EQ(rtp->extensionProfile(), 0x1000);
  EXPECT_TRUE(rtp->extension().empty());
  EXPECT_EQ(toInts(rtp->payload()), (std::vector<uint8_t>{0xab}));
}

TEST(RtpPacketTest, ReportsNoExtensionWhenXIsClear) {
  auto rtp = RtpView::parse(kPcmu);
  ASSERT_TRUE(rtp);
  EXPECT_EQ(rtp->extensionProfile(), 0);
  EXPECT_TRUE(rtp->extension().empty());
}

TEST(RtpPacketTest, ExcludesPaddingFromPayload) {
  const auto packet = bytes({0xa0, 0x08, 0, 7, 0, 0, 0, 160, 0, 0, 0, 9, 0xd5, 0xd5, 0x00, 0x00, 0x03});
  auto rtp = RtpView::parse(packet);
  ASSERT_TRUE(rtp);
  EXPECT_TRUE(rtp->hasPadding());
  EXPECT_EQ(toInts(rtp->payload()), (std::vector<uint8_t>{0xd5, 0xd5}));
  EXPECT_EQ(rtp->bytes().size(), packet.size());
}

TEST(RtpPacketTest, AcceptsPaddingThatFillsTheWholeBody) {
  const auto packet = bytes({0xa0, 0x08, 0, 7, 0, 0, 0, 160, 0, 0, 0, 9, 0x00, 0x00, 0x00, 0x04});
  auto rtp = RtpView::parse(packet);
  ASSERT_TRUE(rtp);
  EXPECT_TRUE(rtp->payload().empty());
}

TEST(RtpPacketTest, RejectsPaddingLongerThanPayload) {
  const auto packet = bytes({0xa0, 0x08, 0, 7, 0, 0, 0, 160, 0, 0, 0, 9, 0xd5, 0x00, 0x00, 0x05});
  auto rtp = RtpView::parse(packet);
  ASSERT_FALSE(rtp);
  EXPECT_EQ(rtp.error(), ParseError::BadPadding);
}

TEST(RtpPacketTest, RejectsPaddingWhenHeaderLeavesNoRoom) {
  // P set but nothing after the fixed header: the "count" would be the SSRC's last byte.
  const auto packet = bytes({0xa0, 0x08, 0, 7, 0, 0, 0, 160, 0, 0, 0, 1});
  auto rtp = RtpView::parse(packet);
  ASSERT_FALSE(rtp);
  EXPECT_EQ(rtp.error(), ParseError::BadPadding);
}

TEST(RtpPacketTest, RejectsZeroPaddingCount) {
  const auto packet = bytes({0xa0, 0x08, 0, 7, 0, 0, 0, 160, 0, 0, 0, 9, 0xd5, 0x00});
  auto rtp = RtpView::parse(packet);
  ASSERT_FALSE(rtp);
  EXPECT_EQ(rtp.error(), ParseError::BadPadding);
}

TEST(RtpPacketTest, RejectsEveryLengthShorterThanFixedHeader) {
  for (size_t n = 0; n < 12; ++n) {
    auto rtp = RtpView::parse(std::span(kPcmu).first(n));
    ASSERT_FALSE(rtp) << n;
    EXPECT_EQ(rtp.error(), ParseError::TooShort) << n;
  }
}

TEST(RtpPacketTest, RejectsVersionOtherThanTwo) {
  for (uint8_t first : {0x00, 0x40, 0xc0}) {
    auto packet = kPcmu;
    packet[0] = std::byte{first};
    auto rtp = RtpView::parse(packet);
    ASSERT_FALSE(rtp);
    EXPECT_EQ(rtp.error(), ParseError::BadVersion);
  }
}

TEST(RtpPacketTest, RejectsCsrcListBeyondPacket) {
  auto packet = kPcmu;  // 4 bytes after the fixed header: room for one CSRC, not two
  packet[0] = std::byte{0x82};
  auto rtp = RtpView::parse(packet);
  ASSERT_FALSE(rtp);
  EXPECT_EQ(rtp.error(), ParseError::TooShort);
  packet[0] = std::byte{0x81};
  EXPECT_TRUE(RtpView::parse(packet));
}

TEST(RtpPacketTest, RejectsTruncatedExtensionHeader) {
  const auto packet = bytes({0x90, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0x00});
  auto rtp = RtpView::parse(packet);
  ASSERT_FALSE(rtp);
  EXPECT_EQ(rtp.error(), ParseError::BadExtension);
}

TEST(RtpPacketTest, RejectsExtensionLengthBeyondPacket) {
  const auto packet = bytes({0x90, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0x00, 0x02, 1, 2, 3, 4});
  auto rtp = RtpView::parse(packet);
  ASSERT_FALSE(rtp);
  EXPECT_EQ(rtp.error(), ParseError::BadExtension);
}

TEST(RtpPacketTest, RejectsSecondByteInRtcpRange) {
  // M=1 with PT 72..95 is indistinguishable from RTCP on an rtcp-mux port (RFC 5761 §4).
  for (uint8_t second : {192, 200, 201, 223}) {
    auto packet = kPcmu;
    packet[1] = std::byte{second};
    auto rtp = RtpView::parse(packet);
    ASSERT_FALSE(rtp);
    EXPECT_EQ(rtp.error(), ParseError::BadPacketType);
  }
  auto packet = kPcmu;
  packet[1] = std::byte{224};  // M=1, PT=96: dynamic, fine
  EXPECT_TRUE(RtpView::parse(packet));
}

TEST(RtpPacketTest, LooksLikeRtcpChecksOnlyTheSecondByte) {
  EXPECT_FALSE(looksLikeRtcp({}));
  EXPECT_FALSE(looksLikeRtcp(bytes({0x80})));
  EXPECT_FALSE(looksLikeRtcp(bytes({0x80, 191})));
  EXPECT_TRUE(looksLikeRtcp(bytes({0x80, 192})));
  EXPECT_TRUE(looksLikeRtcp(bytes({0x81, 200, 0x00, 0x07})));
  EXPECT_TRUE(looksLikeRtcp(bytes({0x00, 223})));
  EXPECT_FALSE(looksLikeRtcp(bytes({0x80, 224})));
  EXPECT_FALSE(looksLikeRtcp(kPcmu));
}

TEST(RtpPacketTest, DefaultClockRateFollowsRfc3551Tables) {
  EXPECT_EQ(defaultClockRate(0), 8000u);    // PCMU
  EXPECT_EQ(defaultClockRate(3), 8000u);    // GSM
  EXPECT_EQ(defaultClockRate(6), 16000u);   // DVI4 wideband
  EXPECT_EQ(defaultClockRate(8), 8000u);    // PCMA
  EXPECT_EQ(defaultClockRate(9), 8000u);    // G722, 8000 despite 16 kHz sampling
  EXPECT_EQ(defaultClockRate(10), 44100u);  // L16 stereo
  EXPECT_EQ(defaultClockRate(11), 44100u);
  EXPECT_EQ(defaultClockRate(13), 8000u);   // CN
  EXPECT_EQ(defaultClockRate(14), 90000u);  // MPA
  EXPECT_EQ(defaultClockRate(16), 11025u);
  EXPECT_EQ(defaultClockRate(17), 22050u);
  EXPECT_EQ(defaultClockRate(18), 8000u);   // G729
  EXPECT_EQ(defaultClockRate(26), 90000u);  // JPEG
  EXPECT_EQ(defaultClockRate(34), 90000u);  // H263
  for (uint8_t pt : {1, 2, 19, 20, 24, 27, 29, 30, 35, 72, 95, 96, 111, 127, 255}) {
    EXPECT_EQ(defaultClockRate(pt), 0u) << int{pt};
  }
}

TEST(RtpPacketTest, ToStringNamesEveryError) {
  EXPECT_EQ(toString(ParseError::TooShort), "too short");
  EXPECT_EQ(toString(ParseError::BadVersion), "bad version");
  EXPECT_EQ(toString(ParseError::BadLength), "bad length");
  EXPECT_EQ(toString(ParseError::BadPadding), "bad padding");
  EXPECT_EQ(toString(ParseError::BadExtension), "bad extension");
  EXPECT_EQ(toString(ParseError::BadPacketType), "bad packet type");
}

}  // namespace
}  // namespace rdv::media
