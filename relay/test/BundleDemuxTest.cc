// BundleDemux (relay/BundleDemux.h): which stream of a BUNDLE group a packet belongs to.

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "relay/BundleDemux.h"

namespace rdv::relay {
namespace {

PayloadTypeSet pts(std::initializer_list<uint8_t> l) {
  PayloadTypeSet s;
  for (uint8_t pt : l) s.add(pt);
  return s;
}

TEST(BundleDemux, RoutesByPayloadTypeThenByTheSsrcItLearned) {
  BundleDemux d;
  d.setPayloadTypes(0, pts({111, 0}));
  d.setPayloadTypes(1, pts({96, 97}));
  EXPECT_EQ(d.rtp(0xA, 111), 0);
  EXPECT_EQ(d.rtp(0xB, 96), 1);
  EXPECT_EQ(d.learned(), 2U);
  // A learned SSRC stays with its stream whatever payload type it carries next.
  EXPECT_EQ(d.rtp(0xB, 111), 1);
  EXPECT_EQ(d.lookup(0xA), 0);
  EXPECT_FALSE(d.lookup(0xC));
}

TEST(BundleDemux, AnUnknownPayloadTypeFromAnUnknownSsrcMatchesNothingAndTeachesNothing) {
  BundleDemux d;
  d.setPayloadTypes(0, pts({111}));
  EXPECT_FALSE(d.rtp(0xC, 100));
  EXPECT_EQ(d.learned(), 0U);
  EXPECT_FALSE(d.rtp(0xC, 127 + 1));  // out of range payload types are no member of any set
}

TEST(BundleDemux, ClearingASlotForgetsItsPayloadTypesAndSsrcs) {
  BundleDemux d;
  d.setPayloadTypes(0, pts({111}));
  d.setPayloadTypes(1, pts({96}));
  EXPECT_EQ(d.rtp(0xA, 111), 0);
  EXPECT_EQ(d.rtp(0xB, 96), 1);
  d.clear(1);
  EXPECT_FALSE(d.lookup(0xB));
  EXPECT_EQ(d.lookup(0xA), 0);
  EXPECT_FALSE(d.rtp(0xB, 96));
}

TEST(BundleDemux, AFullSsrcTableKeepsRoutingByPayloadType) {
  BundleDemux d;
  d.setPayloadTypes(2, pts({96}));
  for (uint32_t s = 1; s <= BundleDemux::kMaxSsrcs + 4; ++s) EXPECT_EQ(d.rtp(s, 96), 2) << s;
  EXPECT_EQ(d.learned(), BundleDemux::kMaxSsrcs);
}

std::vector<std::byte> bytes(std::initializer_list<int> l) {
  std::vector<std::byte> v;
  for (int b : l) v.push_back(static_cast<std::byte>(b));
  return v;
}

TEST(BundleDemux, FindsTheMediaSsrcOfAFeedbackPacketAfterAReceiverReport) {
  // RR from 0x1 with no blocks (8 bytes), then PLI (PSFB FMT 1) from 0x1 about 0xB0B.
  const auto c = bytes({0x80, 201, 0, 1, 0, 0, 0, 1, 0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0x0B, 0x0B});
  EXPECT_EQ(BundleDemux::feedbackMediaSsrc(c), 0xB0BU);
}

TEST(BundleDemux, FeedbackScanStopsAtBrokenFramingOrTheEnd) {
  EXPECT_FALSE(BundleDemux::feedbackMediaSsrc(bytes({0x80, 201, 0, 1, 0, 0, 0, 1})));
  EXPECT_FALSE(BundleDemux::feedbackMediaSsrc(bytes({0x80, 201, 0, 9, 0, 0, 0, 1})));  // length beyond the end
  EXPECT_FALSE(BundleDemux::feedbackMediaSsrc(bytes({0x81, 206, 0, 1, 0, 0, 0, 1})));  // PSFB too short
  EXPECT_FALSE(BundleDemux::feedbackMediaSsrc(bytes({0x01, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2})));  // not v2
  EXPECT_FALSE(BundleDemux::feedbackMediaSsrc({}));
}

// RTP header (PT 96, SSRC `ssrc`) with a one-byte-header extension block (RFC 8285 §4.2): padding,
// element 3 = "xy", element `midId` = `mid`.
std::vector<std::byte> rtpWithMid(uint32_t ssrc, uint8_t midId, std::string_view mid) {
  std::vector<int> ext = {0, 0x31, 'x', 'y', (midId << 4) | static_cast<int>(mid.size() - 1)};
  for (char c : mid) ext.push_back(c);
  while (ext.size() % 4 != 0) ext.push_back(0);
  std::vector<int> v = {0x90, 96, 0, 1, 0, 0, 0, 1, static_cast<int>(ssrc >> 24), static_cast<int>((ssrc >> 16) & 255),
                        static_cast<int>((ssrc >> 8) & 255), static_cast<int>(ssrc & 255), 0xBE, 0xDE, 0,
                        static_cast<int>(ext.size() / 4)};
  v.insert(v.end(), ext.begin(), ext.end());
  v.insert(v.end(), {1, 2, 3, 4});  // payload
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

std::string text(std::optional<std::span<const std::byte>> v) {
  std::string s;
  if (v) {
    for (std::byte b : *v) s.push_back(std::to_integer<char>(b));
  }
  return s;
}

TEST(BundleDemux, ReadsOneByteHeaderExtensionElementsPastPadding) {
  const auto p = rtpWithMid(7, 9, "video");
  EXPECT_EQ(text(BundleDemux::headerExtension(p, 9)), "video");
  EXPECT_EQ(text(BundleDemux::headerExtension(p, 3)), "xy");
  EXPECT_FALSE(BundleDemux::headerExtension(p, 4));
  auto cut = p;
  cut.resize(18);  // the block's length says more than the packet has
  EXPECT_FALSE(BundleDemux::headerExtension(cut, 9));
  auto noX = p;
  noX[0] = std::byte{0x80};
  EXPECT_FALSE(BundleDemux::headerExtension(noX, 9));
}

TEST(BundleDemux, ReadsTwoByteHeaderExtensionElements) {
  // RFC 8285 §4.3: profile 0x1000, element id 20, length 2 "ab", then padding.
  const auto p = bytes({0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 0x10, 0x00, 0, 1, 20, 2, 'a', 'b'});
  EXPECT_EQ(text(BundleDemux::headerExtension(p, 20)), "ab");
  const auto broken = bytes({0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 0x10, 0x00, 0, 1, 20, 9, 'a', 'b'});
  EXPECT_FALSE(BundleDemux::headerExtension(broken, 20)) << "element longer than the block";
}

TEST(BundleDemux, TheMidExtensionTellsApartTwoMlinesWithTheSamePayloadType) {
  BundleDemux d;
  d.setPayloadTypes(0, pts({96}));
  d.setPayloadTypes(1, pts({96}));
  d.setMid(0, "cam", 9);
  d.setMid(1, "screen", 9);
  EXPECT_EQ(d.rtp(0xA, 96, rtpWithMid(0xA, 9, "screen")), 1);
  EXPECT_EQ(d.rtp(0xB, 96, rtpWithMid(0xB, 9, "cam")), 0);
  EXPECT_EQ(d.rtp(0xA, 96), 1) << "learned: later packets without the extension stay";
  EXPECT_EQ(d.rtp(0xC, 96, rtpWithMid(0xC, 9, "other")), 0) << "an unknown mid falls back to payload type";
}

}  // namespace
}  // namespace rdv::relay
