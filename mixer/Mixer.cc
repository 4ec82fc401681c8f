#include "mixer/Mixer.h"

#include "media/AudioCodec.h"
#include "mixer/Conferences.h"

namespace rdv::mixer {

static_assert(kTickMs == 20, "RTP audio framing in the relay assumes 20 ms frames");
static_assert(kTickMs == media::kFrameMs, "one codec frame per mixer tick");

const char* toString(LeaveReason r) {
  switch (r) {
    case LeaveReason::Hangup: return "hangup";
    case LeaveReason::MediaTimeout: return "media_timeout";
    case LeaveReason::Kicked: return "kicked";
    case LeaveReason::RoomClosed: return "room_closed";
    case LeaveReason::PinRejected: return "pin_rejected";
    case LeaveReason::Shutdown: return "shutdown";
  }
  return "unknown";
}

}  // namespace rdv::mixer
