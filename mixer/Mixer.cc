#include "mixer/Mixer.h"

#include "media/AudioCodec.h"

namespace rdv::mixer {

static_assert(kTickMs == 20, "RTP audio framing in the relay assumes 20 ms frames");
static_assert(kTickMs == media::kFrameMs, "one codec frame per mixer tick");

}  // namespace rdv::mixer
