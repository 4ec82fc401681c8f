#include "media/VoiceActivity.h"

#include <algorithm>
#include <cmath>

namespace rdv::media {

double VoiceActivity::levelDbov(std::span<const int16_t> frame) {
  if (frame.empty()) return kFloorDbov;
  int64_t sum = 0;
  for (int16_t s : frame) sum += int32_t{s} * s;
  const double meanSquare = static_cast<double>(sum) / static_cast<double>(frame.size());
  constexpr double kFullScale = 32768.0 * 32768.0;
  if (meanSquare <= 0) return kFloorDbov;
  return std::max(kFloorDbov, 10.0 * std::log10(meanSquare / kFullScale));
}

bool VoiceActivity::update(double levelDbov) {
  // Attack instantly, release with a ~5-frame time constant.
  score_ = levelDbov > score_ ? levelDbov : score_ + (levelDbov - score_) * 0.2;
  const bool wasTalking = talking_;
  if (isVoice(levelDbov)) {
    quietRun_ = 0;
    if (++loudRun_ >= opts_.attackFrames) talking_ = true;
  } else {
    loudRun_ = 0;
    if (talking_ && ++quietRun_ > opts_.hangoverFrames) talking_ = false;
  }
  return talking_ != wasTalking;
}

void VoiceActivity::reset() {
  talking_ = false;
  loudRun_ = 0;
  quietRun_ = 0;
  score_ = kFloorDbov;
}

}  // namespace rdv::media
