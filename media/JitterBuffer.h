#pragma once
// An adaptive jitter buffer for one participant's audio: RTP packets go in as they arrive, one
// 20 ms frame comes out per mixer tick. Pure state (the caller passes arrival times), a fixed
// ring of kSlots payload copies allocated with the object; push() and pop() never allocate.
//
// Ordering is by RTP sequence number, one 20 ms frame per packet (the SDP side negotiates
// ptime 20). Contracts:
//  - Reorder: a packet behind the newest one but not yet played takes its slot; before playout
//    starts, an earlier packet moves the play point back to itself.
//  - Duplicates (same sequence already buffered) and late packets (already played or concealed)
//    are dropped and counted.
//  - Loss: pop() returns Lost for a missing frame when later frames are buffered (the caller
//    conceals it with the codec, `next` carrying the following payload for Opus FEC).
//  - Underrun (nothing buffered): Lost while the gap is short (the play point waits for the
//    late packet, i.e. one frame is inserted), then Empty after kMaxConceal frames (the sender
//    went silent: DTX, hold); the next packet restarts playout after a fresh prefetch.
//  - Jumps: a packet kSlots or more ahead drops what it pushes out of the window; a packet more
//    than kMaxMisorder behind, or kMaxDropout ahead, is held back until a second one in
//    sequence confirms the new numbering (RFC 3550 A.1's rule), then playout resyncs to it.
//    An SSRC change resyncs at once (a new stream), and the caller resets its decoder.
//  - Adaptivity: the target depth is one frame plus 3 x interarrival jitter (RFC 3550 A.8)
//    beyond a quarter frame of slack, rounded up to frames, plus a boost after bursts of
//    underruns, within [minFrames, maxFrames]. The slack: the tick takes a frame whenever it
//    comes, so a frame that lands before it needs no second frame behind it for sub-millisecond
//    jitter (a whole extra frame for any measurable jitter was 20 ms of latency for nothing); a
//    stream whose phase leaves too little slack underruns and the boost covers it.
//  - Clock drift: when the average depth stays 1.5 frames above target a frame is dropped;
//    when it stays a frame below, one is inserted (a Lost that does not advance), at most once
//    per kDriftCooldown pops, so a fast or slow sender never grows the buffer without bound.
//    A backlog more than 3 frames over target (a burst after a stall upstream) drops a frame
//    every 10 pops instead, talking or not: 200 ms of it is gone in ~2 s, not ~10.
//  - Latency: pop(quiet = true), for a frame the caller says is not speech (a listener, a
//    talker's pause), drops a frame already when the average depth stays 0.75 frame above
//    target, every 10 pops (drift control's own drops keep their 1 s cadence), so a depth left by
//    a burst (the joins' start, a sender catching up after a stall) comes down to the target
//    within a second of silence, where nobody hears the cut, before the next talk spurt. A
//    stream that underruns within 10 s of such a trim (its phase leaves no slack) keeps its
//    depth from then on: no trim-underrun-conceal cycle. The caller may
//    veto such a trim when the frame it would drop looks like the start of speech (TrimVeto): the
//    trim then waits for a quiet frame at the play point rather than clip a talker's first word.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "media/AudioCodec.h"

namespace rdv::media {

struct JitterBufferOptions {
  uint32_t clockRate = 48000;  // RTP clock of the stream
  uint32_t frameTicks = 960;   // RTP timestamp units per 20 ms frame
  uint32_t minFrames = 1;
  uint32_t maxFrames = 10;     // < kSlots
};

struct JitterBufferStats {
  uint64_t pushed = 0;       // stored packets
  uint64_t duplicates = 0;
  uint64_t late = 0;         // arrived after their frame was played or concealed
  uint64_t tooLarge = 0;     // payload over kMaxBufferedPayload
  uint64_t jumpHeld = 0;     // held back waiting for a second packet after a sequence jump
  uint64_t resyncs = 0;      // SSRC changes and confirmed jumps
  uint64_t windowDrops = 0;  // buffered frames pushed out by a packet far ahead
  uint64_t lost = 0;         // Lost frames returned (includes inserted)
  uint64_t inserted = 0;     // Lost frames that did not advance the play point (underrun, drift)
  uint64_t driftDrops = 0;   // frames dropped to pull a growing buffer back
  uint64_t trimsVetoed = 0;  // quiet trims a TrimVeto turned down (the frame looked like speech)
  uint64_t underruns = 0;
};

class JitterBuffer {
 public:
  static constexpr size_t kSlots = 16;
  // Largest payload kept: 512 bytes is a 20 ms Opus frame at 204 kbit/s, far above any voice
  // conference's rate; the slots are sized by it (16 x 512 B), which keeps a participant under
  // 64 KiB. Larger payloads are refused and counted (tooLarge).
  static constexpr size_t kMaxBufferedPayload = 512;
  static constexpr uint32_t kMaxConceal = 5;  // 100 ms of PLC before falling silent
  static constexpr int kMaxMisorder = 100;
  static constexpr int kMaxDropout = 3000;
  static constexpr uint32_t kDriftCooldown = 50;  // pops (1 s)

  enum class PushResult : uint8_t { Stored, Duplicate, Late, TooLarge, JumpHeld, Resynced };
  enum class FrameKind : uint8_t { Packet, Lost, Empty };

  // What pop() hands out. `payload` (Packet) and `next` (the following frame's payload when
  // buffered, else empty) point into the buffer's slots and stay valid until the next push()
  // or pop(). `audioLevel` is the RFC 6464 level (0..127 -dBov) pushed with the packet, or -1.
  struct Frame {
    FrameKind kind = FrameKind::Empty;
    std::span<const std::byte> payload;
    std::span<const std::byte> next;
    int audioLevel = -1;
  };

  // Asked, only when a quiet trim is about to drop the frame at the play point, whether that frame
  // must be kept: it looks like speech starting, which the caller's `quiet` (from the frames before)
  // cannot know. Only trims in silence are vetoed; drift control and backlog cuts are not.
  class TrimVeto {
   public:
    virtual bool keep(const Frame& head) const = 0;

   protected:
    ~TrimVeto() = default;
  };

  explicit JitterBuffer(const JitterBufferOptions& opts = {});

  PushResult push(uint32_t ssrc, uint16_t seq, uint32_t timestamp, std::span<const std::byte> payload,
                  uint64_t arrivalNs, int audioLevel = -1);
  // `quiet`: the stream is not speech right now (JitterBuffer's latency contract above); `veto`
  // (optional) may keep the frame a quiet trim would drop.
  Frame pop(bool quiet = false, const TrimVeto* veto = nullptr);

  // The mixer skipped `frames` periods (its worker was held up, e.g. the machine froze): the
  // frames they would have played are surplus. Up to that many are dropped at the play point as
  // soon as the buffer holds them above its target, all at once, within kSkipWindow pops: one
  // cut where listeners already heard the gap, rather than the backlog control's one frame every
  // 10 pops over the seconds after it. Counted in driftDrops.
  void skipAhead(uint32_t frames);
  static constexpr uint32_t kSkipWindow = 25;  // pops (0.5 s): the frames of a freeze arrive right after it

  // Frames from the play point to the newest buffered one, in milliseconds.
  uint32_t depthMs() const { return depthFrames() * kFrameMs; }
  uint32_t targetMs() const { return targetFrames() * kFrameMs; }
  double jitterMs() const { return jitter_ * 1000.0 / opts_.clockRate; }
  bool playing() const { return playing_; }
  const JitterBufferStats& stats() const { return stats_; }

 private:
  struct Slot {
    bool used = false;
    uint16_t seq = 0;
    int8_t level = -1;
    uint16_t size = 0;
    std::array<std::byte, kMaxBufferedPayload> data;
  };

  Slot& slot(uint16_t seq) { return slots_[seq % kSlots]; }
  bool has(uint16_t seq) const { const Slot& s = slots_[seq % kSlots]; return s.used && s.seq == seq; }
  uint32_t depthFrames() const;
  uint32_t targetFrames() const;
  void clear();
  void resync(uint32_t ssrc, uint16_t seq);
  bool acceptJump(uint16_t seq);
  void slideWindow(uint16_t seq);
  PushResult store(uint16_t seq, std::span<const std::byte> payload, int audioLevel);
  void updateJitter(uint32_t timestamp, uint64_t arrivalNs);
  Frame head() const;
  Frame take(FrameKind kind);
  Frame underrun();
  void adapt(bool quiet, const TrimVeto* veto);
  void dropHead();
  void spendSkipCredit();

  JitterBufferOptions opts_;
  std::array<Slot, kSlots> slots_{};
  uint32_t count_ = 0;  // used slots
  bool hasSsrc_ = false;
  uint32_t ssrc_ = 0;
  bool playing_ = false;
  uint16_t nextSeq_ = 0;     // play point
  uint16_t highestSeq_ = 0;  // newest buffered (meaningful while count_ > 0)
  uint32_t badSeq_ = 1u << 16;  // sequence that would confirm a jump; none when >= 2^16
  uint32_t concealRun_ = 0;     // consecutive underrun frames
  // RFC 3550 A.8 jitter in timestamp units.
  bool hasTransit_ = false;
  int64_t transit_ = 0;
  double jitter_ = 0.0;
  // Adaptation.
  uint32_t boost_ = 0;
  uint32_t sinceUnderrun_;
  uint32_t sinceDrift_ = 0;
  uint32_t sinceQuietTrim_ = UINT32_MAX;  // pops since the last trim only pop(quiet) allowed
  bool quietTrimOff_ = false;             // an underrun followed such a trim
  double avgDepth_ = 0.0;
  uint32_t skipCredit_ = 0;      // frames skipAhead() still may drop
  uint32_t skipCreditPops_ = 0;  // pops left to drop them in
  JitterBufferStats stats_;
};

}  // namespace rdv::media
