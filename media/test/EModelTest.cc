// The E-model against ITU-T G.107 reference values (Annex B's R -> MOS relation, the default
// connection's R = 93.2, Idd of eq. 7-28, Ie,eff of eq. 7-29 with G.113 codec values) and the
// simplifications documented in media/EModel.h.

#include "media/EModel.h"

#include <gtest/gtest.h>

#include "media/MosSummary.h"

namespace rdv::media {
namespace {

// G.107 Annex B, Table B.1 / Figure B.1: R 90, 80, 70, 60, 50 -> MOS 4.34, 4.03, 3.60, 3.10, 2.58.
TEST(EModel, MosFromRMatchesG107AnnexB) {
  EXPECT_NEAR(mosFromR(90), 4.339, 1e-9);
  EXPECT_NEAR(mosFromR(80), 4.024, 1e-9);
  EXPECT_NEAR(mosFromR(70), 3.597, 1e-9);
  EXPECT_NEAR(mosFromR(60), 3.100, 1e-9);
  EXPECT_NEAR(mosFromR(50), 2.575, 1e-9);
  EXPECT_EQ(mosFromR(0), 1.0);
  EXPECT_EQ(mosFromR(-12), 1.0);
  EXPECT_EQ(mosFromR(100), 4.5);
  EXPECT_EQ(mosFromR(120), 4.5);
}

// G.107 §7.7: all defaults give R = 93.2, i.e. MOS 4.41.
TEST(EModel, DefaultConnectionRates93Point2) {
  const QualityScore q = estimateQuality(QualityInput{.lossPercent = 0, .jitterMs = 0, .rttMs = 0});
  EXPECT_NEAR(q.r, 93.2, 1e-9);
  EXPECT_NEAR(q.mos, 4.409, 1e-3);
}

// G.107 eq. 7-28 with mT = 100 ms, sT = 1.
TEST(EModel, DelayImpairmentFollowsG107Eq7Dash28) {
  EXPECT_EQ(delayImpairment(0), 0.0);
  EXPECT_EQ(delayImpairment(100), 0.0);
  EXPECT_NEAR(delayImpairment(150), 0.1635, 1e-4);
  EXPECT_NEAR(delayImpairment(200), 3.0444, 1e-4);
  EXPECT_NEAR(delayImpairment(300), 14.7607, 1e-4);
  EXPECT_NEAR(delayImpairment(400), 24.0701, 1e-4);
  EXPECT_NEAR(delayImpairment(600), 35.2468, 1e-4);
}

// G.107 eq. 7-29 with G.113 Appendix I codec values (random loss, BurstR = 1).
TEST(EModel, EffectiveEquipmentImpairmentUsesCodecBpl) {
  const auto plc = codecImpairment(VoiceCodec::G711Plc);
  const auto raw = codecImpairment(VoiceCodec::G711);
  EXPECT_EQ(plc.ie, 0.0);
  EXPECT_EQ(plc.bpl, 25.1);
  EXPECT_EQ(raw.bpl, 4.3);
  EXPECT_NEAR(effectiveEquipmentImpairment(plc.ie, plc.bpl, 2.0), 7.0111, 1e-4);
  EXPECT_NEAR(effectiveEquipmentImpairment(raw.ie, raw.bpl, 1.0), 17.9245, 1e-4);
  EXPECT_EQ(effectiveEquipmentImpairment(13.0, 25.1, 0.0), 13.0);
  EXPECT_NEAR(effectiveEquipmentImpairment(0.0, 4.3, 100.0), 95.0 * 100 / 104.3, 1e-9);
}

TEST(EModel, ConcealmentMakesTheSameLossHurtLess) {
  const auto withPlc = estimateQuality({.lossPercent = 1, .codec = VoiceCodec::G711Plc});
  const auto without = estimateQuality({.lossPercent = 1, .codec = VoiceCodec::G711});
  EXPECT_NEAR(withPlc.r, 93.2 - 95.0 / 26.1, 1e-9);
  EXPECT_NEAR(without.r, 93.2 - 95.0 / 5.3, 1e-9);
  EXPECT_GT(withPlc.mos, without.mos);
}

// Simplification 3: Ta = RTT + 2 * jitter + 10 ms; an unknown RTT counts as 0.
TEST(EModel, EffectiveDelayIsRttPlusTwiceJitterPlusTen) {
  EXPECT_EQ(effectiveDelayMs({.jitterMs = 20, .rttMs = 150}), 200.0);
  EXPECT_EQ(effectiveDelayMs({.jitterMs = 5, .rttMs = -1}), 20.0);
  const auto q = estimateQuality({.lossPercent = 0, .jitterMs = 20, .rttMs = 150});
  EXPECT_NEAR(q.r, 93.2 - 3.0444, 1e-4);
}

// RFC 3611 §4.7.3: a receiver that reports its end system delay replaces the 2 x jitter + 10 ms
// estimate of its buffering.
TEST(EModel, EffectiveDelayUsesTheReceiversReportedEndSystemDelay) {
  EXPECT_EQ(effectiveDelayMs({.jitterMs = 20, .rttMs = 150, .endSystemDelayMs = 300}), 450.0);
  EXPECT_EQ(effectiveDelayMs({.jitterMs = 20, .rttMs = -1, .endSystemDelayMs = 40}), 40.0);
  EXPECT_LT(estimateQuality({.rttMs = 150, .endSystemDelayMs = 300}).mos,
            estimateQuality({.jitterMs = 5, .rttMs = 150}).mos);
}

// Simplification 5: G.722 rates on the wideband scale and is mapped back by 1/1.29.
TEST(EModel, WidebandCodecsAreRatedWithG107Dot1AndMappedToTheNarrowbandScale) {
  const auto clean = estimateQuality({.codec = VoiceCodec::G722});
  EXPECT_NEAR(clean.r, (129.0 - 13.0) / 1.29, 1e-9);
  EXPECT_NEAR(clean.mos, 4.337, 1e-3);
  const auto lossy = estimateQuality({.lossPercent = 2, .codec = VoiceCodec::G722});
  EXPECT_NEAR(lossy.r, (129.0 - (13.0 + 116.0 * 2 / 27.1)) / 1.29, 1e-9);
  const auto late = estimateQuality({.rttMs = 190, .codec = VoiceCodec::Opus});
  EXPECT_NEAR(late.r, (129.0 - 1.29 * 3.0444 - 13.0) / 1.29, 1e-4);
}

TEST(EModel, CodecFromSdpEncodingName) {
  EXPECT_EQ(voiceCodecFromEncoding("PCMU"), VoiceCodec::G711Plc);
  EXPECT_EQ(voiceCodecFromEncoding("pcma"), VoiceCodec::G711Plc);
  EXPECT_EQ(voiceCodecFromEncoding("G722"), VoiceCodec::G722);
  EXPECT_EQ(voiceCodecFromEncoding("OPUS"), VoiceCodec::Opus);
  EXPECT_EQ(voiceCodecFromEncoding("telephone-event"), VoiceCodec::G711Plc);
}

TEST(EModel, HeavyLossBottomsOutAtMosOne) {
  const auto q = estimateQuality({.lossPercent = 100, .jitterMs = 200, .rttMs = 800, .codec = VoiceCodec::G711});
  EXPECT_LT(q.r, 0.0);
  EXPECT_EQ(q.mos, 1.0);
}

TEST(MosSummary, KeepsLowestHighestAndFieldwiseAverage) {
  MosSummary s;
  EXPECT_EQ(s.samples(), 0U);
  s.add({.mos = 4.0, .lossPercent = 1, .jitterMs = 10, .rttMs = 20, .atUnix = 100});
  s.add({.mos = 3.0, .lossPercent = 5, .jitterMs = 30, .rttMs = 40, .atUnix = 105});
  s.add({.mos = 4.4, .lossPercent = 0, .jitterMs = 2, .rttMs = 0, .atUnix = 110});
  EXPECT_EQ(s.samples(), 3U);
  EXPECT_EQ(s.lowest().mos, 3.0);
  EXPECT_EQ(s.lowest().atUnix, 105U);
  EXPECT_EQ(s.highest().mos, 4.4);
  EXPECT_EQ(s.highest().atUnix, 110U);
  const MosSample avg = s.average();
  EXPECT_NEAR(avg.mos, 11.4 / 3, 1e-12);
  EXPECT_NEAR(avg.lossPercent, 2.0, 1e-12);
  EXPECT_NEAR(avg.jitterMs, 14.0, 1e-12);
  EXPECT_NEAR(avg.rttMs, 20.0, 1e-12);
  EXPECT_EQ(avg.atUnix, 110U);
}

}  // namespace
}  // namespace rdv::media
