// BundleDemux (relay/BundleDemux.h): which stream of a BUNDLE group a packet belongs to.

#include <array>
#include <cstddef>
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

}  // namespace
}  // namespace rdv::relay
