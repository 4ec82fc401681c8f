#pragma once
// rdv::mixer: audio conferences and SFU video forwarding (see docs/ARCHITECTURE.md). The
// conferencing issue fills this in; until then it only fixes the tick the mixer will run on.

#include <cstdint>

namespace rdv::mixer {

// Mixer workers tick on a timerfd every kTickMs: one 20 ms audio frame per participant per tick.
inline constexpr uint32_t kTickMs = 20;

}  // namespace rdv::mixer
