#include "media/EModel.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace rdv::media {
namespace {

constexpr double kDefaultR = 93.2;        // G.107 §7.7, all parameters at their defaults
constexpr double kWidebandRo = 129.0;     // G.107.1
constexpr double kWidebandScale = 1.29;   // Rwb = 1.29 * Rnb
constexpr double kNarrowbandMaxIe = 95.0;
constexpr double kCodecDelayMs = 10.0;    // simplification 3

bool equalsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

CodecImpairment codecImpairment(VoiceCodec c) {
  switch (c) {
    case VoiceCodec::G711: return {0.0, 4.3, false};
    case VoiceCodec::G711Plc: return {0.0, 25.1, false};
    case VoiceCodec::G722: return {13.0, 25.1, true};
    case VoiceCodec::Opus: return {13.0, 25.1, true};
  }
  return {0.0, 25.1, false};
}

VoiceCodec voiceCodecFromEncoding(std::string_view name) {
  if (equalsNoCase(name, "G722")) return VoiceCodec::G722;
  if (equalsNoCase(name, "opus")) return VoiceCodec::Opus;
  return VoiceCodec::G711Plc;
}

double delayImpairment(double ta) {
  if (!(ta > 100.0)) return 0.0;
  const double x = std::log10(ta / 100.0) / std::log10(2.0);
  return 25.0 * (std::pow(1.0 + std::pow(x, 6.0), 1.0 / 6.0) -
                 3.0 * std::pow(1.0 + std::pow(x / 3.0, 6.0), 1.0 / 6.0) + 2.0);
}

double effectiveEquipmentImpairment(double ie, double bpl, double lossPercent, double burstR, double maxImpairment) {
  const double ppl = std::clamp(lossPercent, 0.0, 100.0);
  if (ppl == 0.0) return ie;
  return ie + (maxImpairment - ie) * ppl / (ppl / burstR + bpl);
}

double mosFromR(double r) {
  if (r <= 0.0) return 1.0;
  if (r >= 100.0) return 4.5;
  return 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6;
}

double effectiveDelayMs(const QualityInput& in) {
  if (in.endSystemDelayMs >= 0) return std::max(in.rttMs, 0.0) + in.endSystemDelayMs;
  return std::max(in.rttMs, 0.0) + 2.0 * std::max(in.jitterMs, 0.0) + kCodecDelayMs;
}

QualityScore estimateQuality(const QualityInput& in) {
  const CodecImpairment c = codecImpairment(in.codec);
  const double idd = delayImpairment(effectiveDelayMs(in));
  double r = 0;
  if (c.wideband) {
    const double ieEff = effectiveEquipmentImpairment(c.ie, c.bpl, in.lossPercent, 1.0, kWidebandRo);
    r = (kWidebandRo - kWidebandScale * idd - ieEff) / kWidebandScale;
  } else {
    r = kDefaultR - idd - effectiveEquipmentImpairment(c.ie, c.bpl, in.lossPercent, 1.0, kNarrowbandMaxIe);
  }
  return QualityScore{r, mosFromR(r)};
}

}  // namespace rdv::media
