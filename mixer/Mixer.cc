#include "mixer/Mixer.h"

namespace rdv::mixer {

static_assert(kTickMs == 20, "RTP audio framing in the relay assumes 20 ms frames");

}  // namespace rdv::mixer
