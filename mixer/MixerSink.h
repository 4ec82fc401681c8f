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
};

}  // namespace rdv::mixer
