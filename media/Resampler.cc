#include "media/Resampler.h"

#include <speex/speex_resampler.h>

#include <algorithm>

namespace rdv::media {

Resampler::Resampler(uint32_t inRate, uint32_t outRate, int quality) {
  int err = 0;
  state_ = speex_resampler_init(1, inRate, outRate, quality, &err);
  if (err != RESAMPLER_ERR_SUCCESS) state_ = nullptr;
  // The filter's delay (half the filter: ~2 ms between 16 and 48 kHz, ~4 ms between 8 and 48 kHz
  // at quality 4) is kept rather than skipped: skipping would shorten the first frame and shift
  // every later one against its RTP timestamp.
}

Resampler::~Resampler() {
  if (state_ != nullptr) speex_resampler_destroy(state_);
}

void Resampler::process(std::span<const int16_t> in, std::span<int16_t> out) {
  spx_uint32_t inLen = static_cast<spx_uint32_t>(in.size());
  spx_uint32_t outLen = static_cast<spx_uint32_t>(out.size());
  if (state_ == nullptr) {
    inLen = 0;
    outLen = 0;
  } else {
    speex_resampler_process_int(state_, 0, in.data(), &inLen, out.data(), &outLen);
  }
  std::fill(out.begin() + outLen, out.end(), int16_t{0});
}

void Resampler::reset() {
  if (state_ == nullptr) return;
  speex_resampler_reset_mem(state_);
}

}  // namespace rdv::media
