// Talker detection: attack, hangover, level scale, RFC 6464 mapping.
#include "media/VoiceActivity.h"

#include <gtest/gtest.h>

#include "media/test/AudioTestUtil.h"

namespace rdv::media {
namespace {

TEST(VoiceActivityTest, LevelOfAFullScaleSineIsMinusThreeDbov) {
  auto frame = testutil::frameBuffer();
  testutil::Tone(1000, 32767).next(frame);
  EXPECT_NEAR(VoiceActivity::levelDbov(ConstPcmFrame(frame.data(), kFrameSamples)), -3.01, 0.05);
  std::fill(frame.begin(), frame.end(), int16_t{0});
  EXPECT_EQ(VoiceActivity::levelDbov(ConstPcmFrame(frame.data(), kFrameSamples)), VoiceActivity::kFloorDbov);
}

TEST(VoiceActivityTest, StartsAfterAttackAndStopsAfterHangover) {
  VoiceActivity vad({.thresholdDbov = -40, .attackFrames = 2, .hangoverFrames = 3});
  EXPECT_FALSE(vad.update(-20));
  EXPECT_TRUE(vad.update(-20));  // second loud frame: talking
  EXPECT_TRUE(vad.talking());
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(vad.update(-80)) << i;  // hangover
  EXPECT_TRUE(vad.talking());
  EXPECT_TRUE(vad.update(-80));
  EXPECT_FALSE(vad.talking());
}

TEST(VoiceActivityTest, APauseShorterThanTheHangoverKeepsTalking) {
  VoiceActivity vad({.thresholdDbov = -40, .attackFrames = 1, .hangoverFrames = 5});
  vad.update(-20);
  for (int i = 0; i < 4; ++i) vad.update(-90);
  vad.update(-20);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(vad.update(-90));
  EXPECT_TRUE(vad.talking());
}

// The default mixes a talker from its first loud frame (no speech clipped at the onset); a
// click is then a talker through the hangover, 20 quiet frames, and stops on the next one.
TEST(VoiceActivityTest, DefaultStartsOnTheFirstLoudFrameAndAClickLastsOnlyTheHangover) {
  VoiceActivity vad;
  EXPECT_TRUE(vad.update(-10));
  EXPECT_TRUE(vad.talking());
  for (int i = 0; i < 20; ++i) vad.update(-90);
  EXPECT_TRUE(vad.talking());
  EXPECT_TRUE(vad.update(-90));
  EXPECT_FALSE(vad.talking());
}

TEST(VoiceActivityTest, WithAnAttackOfTwoASingleClickDoesNotStartTalking) {
  VoiceActivity vad({.attackFrames = 2});
  vad.update(-10);
  vad.update(-90);
  EXPECT_FALSE(vad.talking());
}

TEST(VoiceActivityTest, Rfc6464LevelIsMinusDbov) {
  EXPECT_EQ(VoiceActivity::levelFromRfc6464(127), -127.0);
  EXPECT_EQ(VoiceActivity::levelFromRfc6464(30), -30.0);
}

}  // namespace
}  // namespace rdv::media
