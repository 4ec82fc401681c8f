#pragma once
// Burst/gap loss of one received RTP stream (RFC 3611 §4.7.2), computed exactly from the
// received/lost pattern the relay sees, with Gmin = 16. Fixed-size state, O(1) per event, no
// allocation: fit for the per-packet path of a relay worker.
//
// Definitions (§4.7.2): a burst is the longest run that starts and ends with a lost packet and
// holds no Gmin or more consecutive received packets; the rest of the stream is gaps (before the
// first burst, between bursts, after the last one). As in the RFC's reference algorithm
// (Appendix A.2, where such a loss is the "isolated" state 4), a run with a single loss -
// preceded and followed by at least Gmin received packets - stays in the gap: a burst needs two
// or more losses. The stream is taken to be preceded by and, at report time, followed by Gmin
// received packets (§4.7.2), so a burst still open when metrics() is read is counted as closed.
//
// The relay cannot see jitter-buffer discards; only losses count. Packets are fed by extended
// sequence number (onSequence) and classified kReorderWindow packets behind the highest one
// seen, so a packet overtaken by up to that many later ones still counts as received; one
// arriving later than that stays lost. Durations are in packets, turned into ms with the packet
// duration the caller passes.

#include <cstdint>

namespace rdv::media {

struct BurstGapMetrics {
  double burstDensity = 0;  // lost / packets inside bursts, 0 without bursts
  double gapDensity = 0;    // lost / packets inside gaps, 0 without gaps
  double burstMs = 0;       // mean burst duration, 0 without bursts
  double gapMs = 0;         // mean gap duration, 0 without gaps
  uint64_t bursts = 0;      // number of bursts
  uint64_t gaps = 0;        // number of gaps
};

class BurstGapTracker {
 public:
  static constexpr uint32_t kGmin = 16;  // RFC 3611 §4.7.2's recommended value
  static constexpr uint32_t kReorderWindow = 64;  // packets a late one may be overtaken by

  // A packet with extended sequence number `extSeq` arrived (in any order, duplicates allowed).
  void onSequence(uint64_t extSeq);
  // The stream restarted at `extSeq` (a new sequence space): what is pending is classified.
  void restart(uint64_t extSeq);

  // `count` consecutive packets received (in sequence order).
  void onReceived(uint64_t count = 1);
  // `count` consecutive packets lost (sequence numbers skipped).
  void onLost(uint64_t count);

  // The metrics so far, as if Gmin received packets followed now. packetMs: duration of one
  // packet (e.g. 20 for 20 ms frames).
  BurstGapMetrics metrics(double packetMs) const;

 private:
  void closeCandidate();
  void addGap(uint64_t packets, uint64_t lost);
  // Classifies the window's oldest `n` sequence numbers (received or lost) and moves it on.
  void advance(uint64_t n);
  void flushSeen();

  // Reorder window: bit i of seen_ is sequence number base_ + i (received); started_ once the
  // first packet set base_.
  uint64_t base_ = 0;
  uint64_t seen_ = 0;
  bool started_ = false;

  // The run since the first loss after the last Gmin-long received run: a burst if it ends up
  // with two or more losses, else an isolated gap loss. candidateLost_ == 0: none open.
  uint64_t candidatePackets_ = 0;  // first loss .. last loss, inclusive
  uint64_t candidateLost_ = 0;
  uint64_t run_ = 0;               // received since the last loss, while a candidate is open

  uint64_t burstPackets_ = 0;
  uint64_t burstLost_ = 0;
  uint64_t bursts_ = 0;
  uint64_t gapPackets_ = 0;
  uint64_t gapLost_ = 0;
  uint64_t gaps_ = 0;
  bool inGap_ = false;  // the last packet classified belongs to a gap
};

}  // namespace rdv::media
