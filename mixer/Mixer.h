#pragma once
// rdv::mixer: audio conferences (see docs/ARCHITECTURE.md and mixer/README.md). The entry
// points are MixerWorker (a thread owning rooms), Conference (one room's mix) and the MediaSink
// and ConferenceEvents interfaces; this header fixes the tick they run on.

#include <cstdint>

namespace rdv::mixer {

// Mixer workers tick on a timerfd every kTickMs: one 20 ms audio frame per participant per tick.
inline constexpr uint32_t kTickMs = 20;

}  // namespace rdv::mixer
