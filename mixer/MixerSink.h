#pragma once
// The mixer's two upward interfaces (STYLE.md §11): where encoded RTP goes, and who hears about
// talkers. Both are called on the mixer worker's thread from inside a tick; implementations must
// only copy or enqueue (a relay worker's send queue, the control thread's event queue) and
// never block.

#include <cstddef>
#include <cstdint>
#include <span>

namespace rdv::mixer {

using ConferenceId = uint32_t;
using ParticipantId = uint32_t;  // unique within one mixer worker; chosen by the control side

class MediaSink {
 public:
  virtual ~MediaSink() = default;
  // One RTP packet (12-byte header + payload) for participant `to`. The bytes are valid only
  // during the call.
  virtual void send(ParticipantId to, std::span<const std::byte> rtp) = 0;
  // The tick's packets are all sent: wake whoever takes them.
  virtual void flush() {}
};

// What an overrunning tick was doing, from the worker thread's scheduler accounting (decode
// helpers not included) over the time from when it was due until its frames were sent: running
// (which includes interrupts taken meanwhile and, where the hypervisor does not report stolen
// time, its stalls) and waiting on a run queue (behind other threads, or with a non-preemptive
// kernel behind another thread's system call) once it was due and the slots before it were done;
// the rest is neither (asleep: a hypervisor stall of an idle vCPU, or a wait for decode helpers).
struct TickOverrun {
  double lateMs = 0;     // from when the tick was due until its frames were sent
  double workMs = 0;     // of which the tick's own run, from when the thread took it up
  double behindMs = 0;   // of lateMs gone before the slot before it ended (a worker catching up)
  double cpuMs = -1;     // of lateMs on a CPU; -1 unknown (no /proc/thread-self/schedstat)
  double queuedMs = -1;  // of lateMs runnable, waiting on a run queue
  int level = 0;         // the encoding level the tick ran at
  uint32_t slot = 0;     // which of the period's slots (MixerWorkerOptions::tickSlots)
  uint32_t slots = 1;
  uint32_t rooms = 0;    // the slot's rooms
  uint32_t talkers = 0;
  uint32_t encodes = 0;
  uint32_t decodes = 0;
  bool skip = false;     // this one was skipped (a worker a whole period behind), not late
  uint64_t skipped = 0;  // slot ticks skipped among the overruns this report stands for
  uint64_t overruns = 1;
  double firstAgoMs = 0;  // how long before the report the first of those overruns happened
};

class ConferenceEvents {
 public:
  virtual ~ConferenceEvents() = default;
  // `who` entered (true) or left (false) the set of mixed talkers.
  virtual void onTalking(ConferenceId room, ParticipantId who, bool talking) = 0;
  // `who` pressed `digit` ('0'-'9', '*', '#', 'A'-'D'): an RFC 4733 event, reported once at its end.
  virtual void onDtmf(ConferenceId room, ParticipantId who, char digit) {
    (void)room, (void)who, (void)digit;
  }
  // Mixer worker `worker`'s load governor moved its rooms' encoders from level `from` to `to`
  // (mixer/LoadGovernor.h) with its ticks `busyFraction` of the period on average. Rare.
  virtual void onEncodingLevel(size_t worker, int from, int to, double busyFraction) {
    (void)worker, (void)from, (void)to, (void)busyFraction;
  }
  // Ticks of mixer worker `worker` sent their frames more than a period after they were due.
  // Reported at most once a second per worker: `overrun` is the worst (latest-sent) since the
  // last report, `overrun.overruns` their count.
  virtual void onTickOverrun(size_t worker, const TickOverrun& overrun) { (void)worker, (void)overrun; }
};

}  // namespace rdv::mixer
