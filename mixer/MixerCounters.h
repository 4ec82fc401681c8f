#pragma once
// Counters of one mixer worker: written by its thread only, read by the metrics collector
// (common::Counter: relaxed single-writer stores). One cache-line-aligned block per worker.

#include "common/Counter.h"
#include "common/FixedHistogram.h"

namespace rdv::mixer {

using common::Counter;

struct alignas(64) MixerCounters {
  Counter ticks;            // periods (every room ticks once in each, in its slot; one a skip cut short counts)
  Counter slotTicks;        // slot ticks run (MixerWorkerOptions::tickSlots a period)
  Counter tickOverruns;     // slot ticks whose frames went out more than a period after they were due, or never (skipped)
  Counter ticksMissed;      // slot ticks skipped by a worker a whole period behind
  Counter encodes;          // all encodes (shared listener mixes + talkers' mix-minus)
  Counter encodesLastTick;
  Counter forwards;         // packets that carry a talker's own frame instead of an encode
  Counter decodes;
  Counter framesConcealed;  // frames made by codec PLC/FEC
  Counter packetsIn;        // taken off the inbound queues
  Counter packetsUnknown;   // for no participant of this worker (left, or never joined)
  Counter packetsMalformed; // not RTP
  Counter packetsOut;       // handed to the MediaSink
  Counter busyNs;           // time the worker needed a CPU (ticking, work between ticks, waiting for one)
  Counter lastTickNs;       // the last period's busy time
  Counter conferences;
  Counter participants;
  Counter talkers;          // mixed talkers in the last tick, all rooms
  Counter encodingLevel;    // the load governor's level (LoadGovernor.h), 0 = as configured
  Counter encodingLevelChanges;
  // How late each slot tick's frames went out, in ms from when it was due (rdv_mixer_tick_ms): the
  // tail an overrun count hides (a worker at 8 ms with a few 19 ms is one burst from overrunning).
  common::FixedHistogram<9> tickMs{{2, 5, 8, 10, 12, 15, 18, 20, 30}, {}, {}, {}};
};

}  // namespace rdv::mixer
