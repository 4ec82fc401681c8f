#include "relay/stun/ChannelData.h"

#include <gtest/gtest.h>

#include <array>

#include "relay/stun/test/Hex.h"

namespace rdv::stun {
namespace {

using test::fromHex;

TEST(ChannelDataTest, ParsesUnpaddedAndPaddedFrames) {
  const auto unpadded = fromHex("40000005 0102030405");
  auto f = ChannelDataView::parse(unpadded);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->channel(), 0x4000);
  EXPECT_EQ(f->data().size(), 5u);
  EXPECT_EQ(f->data().data(), unpadded.data() + 4);
  const auto padded = fromHex("4fff0005 0102030405 000000");
  ASSERT_TRUE(ChannelDataView::parse(padded));
  EXPECT_EQ(ChannelDataView::parse(padded)->data().size(), 5u);
  EXPECT_TRUE(ChannelDataView::parse(fromHex("40010000")));
}

TEST(ChannelDataTest, RejectsBadFrames) {
  EXPECT_EQ(ChannelDataView::parse(fromHex("4000")).error(), ChannelDataError::TooShort);
  EXPECT_EQ(ChannelDataView::parse(fromHex("80000000")).error(), ChannelDataError::BadChannel);
  EXPECT_TRUE(ChannelDataView::parse(fromHex("7fff0000")));  // RFC 5766 range, still accepted
  EXPECT_EQ(ChannelDataView::parse(fromHex("3fff0000")).error(), ChannelDataError::BadChannel);
  EXPECT_EQ(ChannelDataView::parse(fromHex("40000008 01020304")).error(), ChannelDataError::BadLength);
  EXPECT_EQ(ChannelDataView::parse(fromHex("40000001 01020304 05")).error(), ChannelDataError::BadLength);
}

TEST(ChannelDataTest, HeaderRoundTrips) {
  std::array<std::byte, 8> buf{};
  writeChannelDataHeader(buf, 0x4abc, 4);
  auto f = ChannelDataView::parse(buf);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->channel(), 0x4abc);
  EXPECT_EQ(f->data().size(), 4u);
  EXPECT_TRUE(ChannelDataView::looksLikeChannelData(buf));
}

}  // namespace
}  // namespace rdv::stun
