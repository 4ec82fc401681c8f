// conf_load: conference participant simulator for benchmarks/conf_bench.py.
//
//   conf_load --participants FILE|- [--seconds 20] [--drain 1] [--tone-at 2] [--tone-cycle 0]
//             [--decode 8] [--threshold 1000] [--tick-us 1000] [--per-participant] [--room-size N]
//             [--tone-spread S] [--sendto]
//
// Reads one participant per line (blank lines and '#' comments skipped):
//
//   LOCAL_PORT REMOTE_IP:PORT CODEC PT ROLE HZ [LEVEL_EXT_ID]
//   40000 127.0.0.1:20012 opus 111 talker 440 1
//   40001 127.0.0.1:20014 pcmu 0 silent 0
//
// CODEC is opus|g722|pcmu|pcma, ROLE talker|silent, HZ the talker's tone, LEVEL_EXT_ID (1..14)
// adds an RFC 6464 audio level in an RFC 8285 one-byte extension (talkers level 10 with V set
// once their tone runs, otherwise 127). Every participant sends one 20 ms frame every 20 ms from
// 127.0.0.1:LOCAL_PORT to REMOTE, spread evenly over the period, for --seconds: talkers send
// digital silence until --tone-at, then a sine at HZ (amplitude 8000); silent participants send
// encoded digital silence throughout (no DTX). Frames are encoded once before the run with the
// project's encoders (media/AudioCodec.h) and replayed (1 s rings; an integer HZ makes the ring
// seamless).
//
// Everything that arrives on each socket is read (epoll + recvmmsg, kernel arrival stamps) and
// counted by RTP sequence: received, lost (RFC 3550 A.3: expected - received), late (a sequence
// number below the highest seen), RFC 3550 A.8 interarrival jitter. Talkers and the first
// --decode silent participants also decode what they receive (--decode-talkers K: only the first
// K talkers, sparing the generator's CPU in many-room runs), at the codec's cheapest rate
// (AudioDecoder::decodeForLevel), and only from 100 ms before a talker of their room starts a
// tone they have not heard until they hear it (or 0.5 s after it stops): the added latency of talker T at
// listener L runs from T's first tone frame leaving here to the arrival of the first frame at L
// whose amplitude at T's frequency (Goertzel) exceeds --threshold. With --tone-cycle C (seconds)
// the talkers' tones start again every C seconds (on for C/2, off for C/2: longer than the
// server's hangover), and every onset is measured: one onset per talker lands at one phase of the
// server's tick, many onsets sample them all, which is what a p99 needs. On loopback that is the
// server's own delay: jitter buffer, tick alignment, mixing and encoding. With --room-size N the
// lines are rooms of N in order and only pairs within a room are measured (a listener never
// hears another room's talkers, and testing every talker's tone in every frame would cost the
// generator O(talkers x listeners)). With --tone-spread S room k of R starts (and restarts) its
// tones k x S / R seconds later: talkers in different rooms do not start in the same 20 ms, and
// all of them in one tick is a spike no real set of rooms produces.
//
// Each 1 ms timer tick's frames leave through one io_uring submission (--sendto: one sendto per
// frame), as a NIC's interrupt coalescing hands a server its packets in batches; on loopback a
// sendto per frame woke the server's relay thread once per packet. What the server sent before
// the run (a mixer sends its listeners from their join on) is read and dropped at the start.
//
// stdout carries only key=value lines (`phase=media_start` / `phase=media_end` around the sending
// time, so a driver samples the server over it), then per-participant lines with
// --per-participant, then the totals. Loopback only; bounded by --seconds + --drain.

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "benchmarks/ConfLoadSpec.h"
#include "benchmarks/ToolSupport.h"
#include "benchmarks/UdpSocket.h"
#include "common/Fd.h"
#include "common/SockAddr.h"
#include "media/AudioCodec.h"
#include "media/RtpPacket.h"
#include "media/test/AudioTestUtil.h"
#include "relay/UringSender.h"

namespace rdv::bench {
namespace {

using media::CodecId;

constexpr int64_t kFrameNs = 20'000'000;
constexpr int kRing = 50;  // frames per replayed ring: 1 s
constexpr double kToneAmplitude = 8000;
constexpr uint8_t kTalkerLevel = 10;   // -10 dBov, voice
constexpr uint8_t kSilenceLevel = 127; // RFC 6464: 127 = digital silence
constexpr size_t kRxBatch = 16;
constexpr int kMaxEvents = 256;
constexpr size_t kMaxSendBurst = 512;
constexpr size_t kFrameBytes = 12 + 8 + media::kMaxPayload;  // RTP header, level extension, payload
constexpr uint32_t kSsrcBase = 0x43464c00;  // "CFL\0"

struct Options {
  std::string participants;
  double seconds = 20;
  double drain = 1;
  double toneAt = 2;
  double toneCycle = 0;  // 0: one onset at toneAt
  size_t decodeListeners = 8;
  size_t decodeTalkers = SIZE_MAX;  // talkers that decode what they hear (the first K in file order)
  double threshold = 1000;
  int64_t tickUs = 1000;
  bool perParticipant = false;
  size_t roomSize = 0;  // 0: all participants in one room
  double toneSpread = 0;  // --room-size: room k's tones start k x S / rooms later
  bool batchSends = true;  // one io_uring_enter per timer tick's sends (--sendto: one sendto each)
};

constexpr const char* kSynopsis =
    "conf_load --participants FILE|- [--seconds S] [--drain S] [--tone-at S] [--tone-cycle S] [--decode K]\n"
    "                 [--decode-talkers K]\n"
    "                 [--threshold AMPLITUDE] [--tick-us US] [--per-participant] [--room-size N] [--tone-spread S]\n"
    "                 [--sendto]";

Options parseOptions(int argc, char** argv) {
  Options o;
  ArgReader args(argc, argv, "conf_load", kSynopsis);
  while (args.more()) {
    std::string a = args.next();
    if (a == "--participants") {
      o.participants = args.value();
    } else if (a == "--seconds") {
      o.seconds = args.number(1, 3600);
    } else if (a == "--drain") {
      o.drain = args.number(0, 10);
    } else if (a == "--tone-at") {
      o.toneAt = args.number(0, 3600);
    } else if (a == "--tone-cycle") {
      o.toneCycle = args.number(0, 3600);
      if (o.toneCycle != 0 && o.toneCycle < 0.2) args.usage("--tone-cycle: 0 or at least 0.2 s");
    } else if (a == "--decode-talkers") {
      o.decodeTalkers = static_cast<size_t>(args.number(0, kMaxParticipants));
    } else if (a == "--decode") {
      o.decodeListeners = static_cast<size_t>(args.number(0, kMaxParticipants));
    } else if (a == "--threshold") {
      o.threshold = args.number(1, 32767);
    } else if (a == "--tick-us") {
      o.tickUs = static_cast<int64_t>(args.number(100, 20000));
    } else if (a == "--sendto") {
      o.batchSends = false;
    } else if (a == "--per-participant") {
      o.perParticipant = true;
    } else if (a == "--room-size") {
      o.roomSize = static_cast<size_t>(args.number(1, kMaxParticipants));
    } else if (a == "--tone-spread") {
      o.toneSpread = args.number(0, 60);
    } else if (a == "-h" || a == "--help") {
      args.usage("", 0);
    } else {
      args.usage("unknown option " + a);
    }
  }
  if (o.participants.empty()) {
    args.usage("--participants is required");
  }
  if (o.toneAt >= o.seconds) {
    args.usage("--tone-at must be before the end of --seconds");
  }
  return o;
}

using Payload = std::vector<std::byte>;
using Ring = std::vector<Payload>;

// kRing encoded frames of a sine at hz (amplitude kToneAmplitude), or of digital silence (hz 0).
Ring encodeRing(CodecId codec, double hz) {
  auto enc = media::makeEncoder(codec);
  media::testutil::Tone tone(hz, hz > 0 ? kToneAmplitude : 0);
  std::array<int16_t, media::kFrameSamples> pcm{};
  std::array<std::byte, media::kMaxPayload> out{};
  Ring ring;
  for (int i = 0; i < kRing; ++i) {
    tone.next(pcm);
    const size_t n = enc->encode(pcm, out);
    ring.emplace_back(out.begin(), out.begin() + static_cast<ptrdiff_t>(n));
  }
  return ring;
}

// What one socket received, counted by RTP sequence number (RFC 3550 A.1, A.3, A.8).
struct RxStats {
  uint64_t datagrams = 0;
  uint64_t received = 0;             // valid RTP
  uint64_t receivedWhileSending = 0;  // of which arrived before the last frame was due
  uint64_t late = 0;
  uint64_t invalid = 0;
  uint64_t ssrcChanges = 0;
  uint64_t decodeErrors = 0;
  bool started = false;
  uint32_t ssrc = 0;
  uint64_t baseExt = 0;  // extended sequence number of the first packet of the current SSRC
  uint64_t maxExt = 0;
  uint64_t receivedThisSsrc = 0;
  uint64_t lostBefore = 0;  // lost under earlier SSRCs
  double jitter = 0;        // RTP clock units
  double lastTransit = 0;
  bool haveTransit = false;

  uint64_t lost() const {
    const uint64_t expected = started ? maxExt - baseExt + 1 : 0;
    return lostBefore + (expected > receivedThisSsrc ? expected - receivedThisSsrc : 0);
  }

  void add(uint32_t pktSsrc, uint16_t seq, uint32_t timestamp, int64_t arrivalNs, uint32_t clockRate) {
    ++received;
    if (!started || pktSsrc != ssrc) {
      if (started) {
        ++ssrcChanges;
        lostBefore = lost();
      }
      started = true;
      ssrc = pktSsrc;
      baseExt = maxExt = (uint64_t{1} << 16) + seq;  // headroom for a first packet reordered behind
      receivedThisSsrc = 1;
      haveTransit = false;
    } else {
      ++receivedThisSsrc;
      const auto delta = static_cast<int16_t>(static_cast<uint16_t>(seq - static_cast<uint16_t>(maxExt)));
      if (delta > 0) {
        maxExt += static_cast<uint64_t>(delta);
      } else {
        ++late;  // behind the highest seen (reordered or duplicated)
      }
    }
    const double arrival = static_cast<double>(arrivalNs) * clockRate / 1e9;
    const double transit = arrival - timestamp;
    if (haveTransit) {
      double d = std::fabs(transit - lastTransit);
      // A timestamp jump (talk spurt, new mix) is not jitter; keep it from poisoning the estimate.
      if (d < clockRate) {
        jitter += (d - jitter) / 16;
      }
    }
    lastTransit = transit;
    haveTransit = true;
  }
};

struct Participant {
  Spec spec;
  common::Fd fd;
  const Ring* silence = nullptr;
  Ring tone;  // talkers only
  uint32_t ssrc = 0;
  uint16_t seq = 0;
  uint32_t timestamp = 0;
  uint64_t frame = 0;  // frames sent so far (also the silence ring's position)
  uint64_t toneFrame = 0;  // frames of the current tone sent so far (the tone ring's position)
  uint64_t sent = 0;
  uint64_t sendErrors = 0;
  std::vector<int64_t> onsetSentNs;  // talkers: when each onset's first tone frame left
  size_t room = 0;               // --room-size: which room of the file
  int64_t toneShiftNs = 0;       // --tone-spread: this room's tones start this much later
  RxStats rx;
  std::unique_ptr<media::AudioDecoder> decoder;  // listeners that measure latency
  // Per talker index, per onset: arrival of the first frame carrying it, -1 missed.
  std::vector<std::vector<int64_t>> heardNs;
};

class ConfLoad {
 public:
  ConfLoad(std::vector<Participant> participants, std::vector<size_t> talkers, Options opt)
      : parts_(std::move(participants)),
        talkers_(std::move(talkers)),
        opt_(opt),
        rx_(kRxBatch) {
    // talkers_ ascends with the participants' order, so each room's talkers are one run of it.
    for (size_t t = 0; t < talkers_.size(); ++t) {
      while (roomTalkers_.size() <= parts_[talkers_[t]].room) roomTalkers_.push_back(t);
    }
  }

  [[nodiscard]] Expected<bool, std::string> run();
  void report() const;

 private:
  // Builds p's next frame into `buf` and returns its size; sent() accounts the send's outcome.
  size_t buildFrame(Participant& p, int64_t now, std::span<std::byte> buf);
  void sent(Participant& p, int64_t now, bool ok);
  // Sends the frames due at `now` (at most kMaxSendBurst) and returns the next slot.
  int64_t sendDue(int64_t slot, int64_t now, int64_t endSend, const auto& dueOf);
  void receiveFrom(Participant& p);
  void listen(Participant& p, std::span<const std::byte> payload, int64_t arrival);
  // Whether a talker of p's room has an onset p has not heard yet around `arrival`: listeners
  // decode only then (a generator that decoded every frame of every listener would take CPU
  // from the server it measures).
  bool awaitsOnset(const Participant& p, int64_t arrival) const;
  // Whether talkers send their tone at `now`, and which onset that is (--tone-cycle).
  bool toneOn(const Participant& p, int64_t now) const;
  size_t onsetOf(const Participant& p, int64_t now) const;

  std::vector<Participant> parts_;
  std::vector<size_t> talkers_;  // indexes into parts_
  std::vector<size_t> roomTalkers_;  // room r's talkers are talkers_[roomTalkers_[r] .. roomTalkers_[r + 1])
  // The indexes into talkers_ of p's room's talkers.
  std::pair<size_t, size_t> talkersOf(const Participant& p) const {
    const size_t r = p.room;
    const size_t first = r < roomTalkers_.size() ? roomTalkers_[r] : talkers_.size();
    return {first, r + 1 < roomTalkers_.size() ? roomTalkers_[r + 1] : talkers_.size()};
  }
  Options opt_;
  int64_t toneAtNs_ = 0;
  int64_t endSendNs_ = 0;
  RecvBatch rx_;
  // --sendto off: a tick's frames leave through one io_uring submission, as a NIC's interrupt
  // coalescing would hand them to the server together, instead of one sendto (and one wakeup of
  // the server's relay thread) each. The frames stay in sendBufs_ until submit() returns.
  std::unique_ptr<relay::UringSender> uring_;
  std::vector<std::array<std::byte, kFrameBytes>> sendBufs_;
  std::vector<size_t> sendParts_;
  std::array<int16_t, media::kFrameSamples> pcm_{};
  int64_t realMinusMonoNs_ = 0;
  int64_t maxSendLagNs_ = 0;
  int64_t maxSendLagDueNs_ = 0;  // when the frame sent that late was due (since the start)
  int64_t startNs_ = 0;  // the run's start (CLOCK_MONOTONIC)
  double mediaCpu_ = 0;
};

int64_t clockNs(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool ConfLoad::toneOn(const Participant& p, int64_t now) const {
  now -= p.toneShiftNs;
  if (now < toneAtNs_) return false;
  if (opt_.toneCycle == 0) return true;
  const auto cycle = static_cast<int64_t>(opt_.toneCycle * 1e9);
  return (now - toneAtNs_) % cycle < cycle / 2;
}

size_t ConfLoad::onsetOf(const Participant& p, int64_t now) const {
  if (opt_.toneCycle == 0) return 0;
  now -= p.toneShiftNs;
  return static_cast<size_t>((now - toneAtNs_) / static_cast<int64_t>(opt_.toneCycle * 1e9));
}

size_t ConfLoad::buildFrame(Participant& p, int64_t now, std::span<std::byte> buf) {
  const bool toneOn = p.spec.talker && this->toneOn(p, now);
  // A tone replays its ring from the start at each onset, as an encoder codes a voice starting:
  // a stationary tone's later frames are coded as background (SILK's VAD flag 0 after ~1 s), and
  // starting mid-ring would open a talk spurt with frames no real sender starts one with. A tone
  // longer than the ring (1 s) wraps to its start: a fresh onset within the spurt, harmless to a
  // participant already talking.
  p.toneFrame = toneOn ? p.toneFrame + 1 : 0;
  const Payload& payload = toneOn ? p.tone[(p.toneFrame - 1) % kRing] : (*p.silence)[p.frame % kRing];
  size_t n = media::writeRtpHeader(buf, {p.spec.pt, false, p.seq++, p.timestamp, p.ssrc});
  p.timestamp += media::codecInfo(p.spec.codec).rtpFrameTicks();
  if (p.spec.levelExtId != 0) {
    // RFC 8285 §4.2 one-byte header: profile 0xBEDE, length 1 word, element (ID, L=0) + RFC 6464 byte.
    buf[0] |= std::byte{0x10};
    const uint8_t level = toneOn ? static_cast<uint8_t>(0x80 | kTalkerLevel) : kSilenceLevel;
    const std::array<std::byte, 8> ext{std::byte{0xbe}, std::byte{0xde}, std::byte{0}, std::byte{1},
                                       std::byte(p.spec.levelExtId << 4), std::byte{level}, std::byte{0}, std::byte{0}};
    std::copy(ext.begin(), ext.end(), buf.begin() + static_cast<ptrdiff_t>(n));
    n += ext.size();
  }
  std::copy(payload.begin(), payload.end(), buf.begin() + static_cast<ptrdiff_t>(n));
  n += payload.size();
  ++p.frame;
  return n;
}

void ConfLoad::sent(Participant& p, int64_t now, bool ok) {
  ++(ok ? p.sent : p.sendErrors);
  if (ok && p.spec.talker && toneOn(p, now) && p.onsetSentNs.size() <= onsetOf(p, now)) {
    p.onsetSentNs.resize(onsetOf(p, now), -1);  // an onset whose frames all failed to send
    p.onsetSentNs.push_back(now);
  }
}

int64_t ConfLoad::sendDue(int64_t slot, int64_t now, int64_t endSend, const auto& dueOf) {
  const auto count = static_cast<int64_t>(parts_.size());
  int64_t due = dueOf(slot);
  for (size_t burst = 0; burst < kMaxSendBurst && due <= now && due < endSend; ++burst) {
    if (now - due > maxSendLagNs_) {
      maxSendLagNs_ = now - due;
      maxSendLagDueNs_ = due - startNs_;
    }
    const auto i = static_cast<size_t>(slot % count);
    Participant& p = parts_[i];
    const size_t n = buildFrame(p, now, sendBufs_[burst]);
    if (uring_) {
      sendParts_[uring_->queue(p.fd.get(), &p.spec.remote, std::span(sendBufs_[burst]).first(n))] = i;
    } else {
      sent(p, now, ::sendto(p.fd.get(), sendBufs_[burst].data(), n, 0, p.spec.remote.sa(), p.spec.remote.len()) >= 0);
    }
    due = dueOf(++slot);
  }
  if (uring_) {
    const uint32_t queued = uring_->submit();
    for (uint32_t k = 0; k < queued; ++k) sent(parts_[sendParts_[k]], now, uring_->result(k) >= 0);
  }
  return slot;
}

bool ConfLoad::awaitsOnset(const Participant& p, int64_t arrival) const {
  // From kWarmNs before an onset is sent (the decoder runs on the frames before it, so an Opus or
  // G.722 state left stale by skipped frames has settled) until kLagNs after its tone stops (frames
  // still in the server's jitter buffer and queues).
  constexpr int64_t kWarmNs = 100'000'000;
  constexpr int64_t kLagNs = 500'000'000;
  const auto [first, end] = talkersOf(p);
  for (size_t t = first; t < end; ++t) {
    const Participant& talker = parts_[talkers_[t]];
    if (&talker == &p) continue;
    for (const int64_t at : {arrival + kWarmNs, arrival, arrival - kLagNs}) {
      if (toneOn(talker, at) && p.heardNs[t].size() <= onsetOf(talker, at)) return true;
    }
  }
  return false;
}

void ConfLoad::listen(Participant& p, std::span<const std::byte> payload, int64_t arrival) {
  if (!awaitsOnset(p, arrival)) return;
  // The codec's cheapest decode that keeps the tones (all under 4 kHz): Opus at 16 kHz, G.711 and
  // G.722's lower band at 8 kHz, no resampling; about half the generator's decoding CPU.
  const size_t samples = p.decoder->decodeForLevel(payload, pcm_);
  if (samples == 0) {
    ++p.rx.decodeErrors;
    return;
  }
  const std::span<const int16_t> pcm(pcm_.data(), samples);
  const auto rate = static_cast<uint32_t>(samples * 1000 / media::kFrameMs);
  const auto [first, end] = talkersOf(p);
  for (size_t t = first; t < end; ++t) {
    const Participant& talker = parts_[talkers_[t]];
    if (&talker == &p || talker.onsetSentNs.empty()) continue;
    const size_t onset = talker.onsetSentNs.size() - 1;  // the latest: earlier ones were heard or missed
    std::vector<int64_t>& heard = p.heardNs[t];
    if (heard.size() > onset || arrival < talker.onsetSentNs[onset]) continue;
    if (media::testutil::toneAmplitude(pcm, talker.spec.hz, rate) > opt_.threshold) {
      heard.resize(onset, -1);
      heard.push_back(arrival);
    }
  }
}

void ConfLoad::receiveFrom(Participant& p) {
  // Level-triggered epoll: whatever is left after one batch is reported again.
  const int n = rx_.receive(p.fd.get());
  if (n <= 0) {
    return;
  }
  const int64_t now = clockNs(CLOCK_MONOTONIC);
  const uint32_t clockRate = media::codecInfo(p.spec.codec).rtpClockRate;
  for (int i = 0; i < n; ++i) {
    ++p.rx.datagrams;
    const std::span<const std::byte> bytes = rx_.datagram(static_cast<size_t>(i));
    auto rtp = media::RtpView::parse(bytes);
    if (!rtp || media::looksLikeRtcp(bytes)) {
      ++p.rx.invalid;  // RTCP or not RTP: not part of the mix
      continue;
    }
    int64_t arrival = now;
    if (auto stamp = kernelStampNs(rx_.header(static_cast<size_t>(i)))) {
      arrival = std::min(*stamp - realMinusMonoNs_, now);
    }
    p.rx.add(rtp->ssrc(), rtp->sequence(), rtp->timestamp(), arrival, clockRate);
    p.rx.receivedWhileSending += arrival < endSendNs_ ? 1 : 0;
    if (p.decoder) {
      listen(p, rtp->payload(), arrival);
    }
  }
}

Expected<bool, std::string> ConfLoad::run() {
  common::Fd ep(::epoll_create1(EPOLL_CLOEXEC));
  common::Fd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!ep.valid() || !timer.valid()) {
    return Unexpected(std::string("epoll/timerfd: ") + std::strerror(errno));
  }
  const uint32_t timerTag = static_cast<uint32_t>(parts_.size());
  auto watch = [&](int fd, uint32_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = tag;
    return ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
  };
  for (size_t i = 0; i < parts_.size(); ++i) {
    int on = 1;
    if (::setsockopt(parts_[i].fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0 ||
        !watch(parts_[i].fd.get(), static_cast<uint32_t>(i))) {
      return Unexpected(std::string("socket setup: ") + std::strerror(errno));
    }
  }
  itimerspec its{};
  its.it_interval.tv_nsec = opt_.tickUs * 1000;
  its.it_value.tv_nsec = opt_.tickUs * 1000;
  if (!watch(timer.get(), timerTag) || ::timerfd_settime(timer.get(), 0, &its, nullptr) != 0) {
    return Unexpected(std::string("timerfd: ") + std::strerror(errno));
  }

  sendBufs_.resize(kMaxSendBurst);
  sendParts_.resize(kMaxSendBurst);
  if (opt_.batchSends) {
    auto ring = relay::UringSender::create(kMaxSendBurst);
    if (ring) {
      uring_ = std::move(*ring);
    } else {
      std::fprintf(stderr, "conf_load: no io_uring (%s): one sendto per frame\n", std::strerror(ring.error()));
    }
  }
  emit("send_path", uring_ ? "io_uring" : "sendto");
  // What the server sent before the run (a mixer sends its listeners a mix from their join on)
  // waited in the sockets while the frames were encoded: read and drop it, or the first loop
  // would spend its first 100-300 ms on that backlog and every talker would start late.
  uint64_t backlog = 0;
  for (Participant& p : parts_) {
    for (int n = rx_.receive(p.fd.get()); n > 0; n = rx_.receive(p.fd.get())) backlog += static_cast<uint64_t>(n);
  }
  emit("received_before_start", std::to_string(backlog));
  const auto count = static_cast<int64_t>(parts_.size());
  const int64_t start = clockNs(CLOCK_MONOTONIC);
  startNs_ = start;
  const int64_t endSend = start + static_cast<int64_t>(opt_.seconds * 1e9);
  endSendNs_ = endSend;
  const int64_t endDrain = endSend + static_cast<int64_t>(opt_.drain * 1e9);
  toneAtNs_ = start + static_cast<int64_t>(opt_.toneAt * 1e9);
  // Slot g is frame g / count of participant g % count, due at start + g * 20 ms / count: the
  // participants are spread evenly over one frame period, each sending exactly every 20 ms.
  int64_t slot = 0;
  auto dueOf = [&](int64_t g) { return start + g * kFrameNs / count; };
  const double cpuBefore = cpuSeconds();
  emit("phase", "media_start");
  bool sending = true;
  std::array<epoll_event, kMaxEvents> events{};
  for (int64_t now = start; now < endDrain; now = clockNs(CLOCK_MONOTONIC)) {
    realMinusMonoNs_ = clockNs(CLOCK_REALTIME) - now;
    // Bounded burst: a generator that falls behind must still read, or the sockets overflow and
    // its lateness shows up as loss.
    slot = sendDue(slot, now, endSend, dueOf);
    const int64_t due = dueOf(slot);
    if (sending && due >= endSend) {
      sending = false;
      mediaCpu_ = cpuSeconds() - cpuBefore;
      emit("phase", "media_end");
    }
    const int waitMs = static_cast<int>(std::clamp<int64_t>((endDrain - now) / 1'000'000, 0, 1000));
    const int n = ::epoll_wait(ep.get(), events.data(), kMaxEvents, waitMs);
    for (int i = 0; i < n; ++i) {
      const uint32_t tag = events[static_cast<size_t>(i)].data.u32;
      if (tag == timerTag) {
        uint64_t expirations = 0;
        (void)::read(timer.get(), &expirations, sizeof expirations);
      } else {
        receiveFrom(parts_[tag]);
      }
    }
  }
  if (sending) {
    mediaCpu_ = cpuSeconds() - cpuBefore;
    emit("phase", "media_end");
  }
  return true;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) {
    return -1;
  }
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

void ConfLoad::report() const {
  uint64_t sent = 0, sendErrors = 0, received = 0, receivedWhileSending = 0, lost = 0, late = 0, invalid = 0, ssrcChanges = 0, decodeErrors = 0;
  uint64_t silentParticipants = 0;  // participants that received nothing at all
  double minFraction = 1e9;
  std::vector<double> jitterMs;
  for (size_t i = 0; i < parts_.size(); ++i) {
    const Participant& p = parts_[i];
    const RxStats& r = p.rx;
    const double fraction = p.sent > 0 ? static_cast<double>(r.receivedWhileSending) / static_cast<double>(p.sent) : 0;
    const double jMs = r.jitter * 1000.0 / media::codecInfo(p.spec.codec).rtpClockRate;
    if (opt_.perParticipant) {
      std::printf("p=%zu port=%u codec=%s role=%s sent=%lu recv=%lu recv_while_sending=%lu lost=%lu late=%lu invalid=%lu ssrc_changes=%lu "
                  "jitter_ms=%.3f decode_errors=%lu\n",
                  i, p.spec.localPort, std::string(media::codecInfo(p.spec.codec).name).c_str(),
                  p.spec.talker ? "talker" : "silent", p.sent, r.received, r.receivedWhileSending, r.lost(), r.late, r.invalid, r.ssrcChanges,
                  jMs, r.decodeErrors);
    }
    sent += p.sent;
    sendErrors += p.sendErrors;
    received += r.received;
    receivedWhileSending += r.receivedWhileSending;
    lost += r.lost();
    late += r.late;
    invalid += r.invalid;
    ssrcChanges += r.ssrcChanges;
    decodeErrors += r.decodeErrors;
    silentParticipants += r.received == 0 ? 1 : 0;
    minFraction = std::min(minFraction, fraction);
    if (r.received > 1) {
      jitterMs.push_back(jMs);
    }
  }
  emit("participants", std::to_string(parts_.size()));
  emit("talkers", std::to_string(talkers_.size()));
  emit("media_seconds", fixed(opt_.seconds, 3));
  emit("sent", std::to_string(sent));
  emit("send_errors", std::to_string(sendErrors));
  emit("received", std::to_string(received));
  // A mixer sends each participant one frame per frame it receives: frames that came back while we
  // were sending / frames sent (the drain's arrivals are not counted, a server may send on).
  emit("received_fraction",
       fixed(sent > 0 ? static_cast<double>(receivedWhileSending) / static_cast<double>(sent) : 0, 4));
  emit("received_fraction_min", fixed(minFraction, 4));
  emit("deaf_participants", std::to_string(silentParticipants));
  emit("lost", std::to_string(lost));
  emit("loss_pct", fixed(received + lost > 0 ? 100.0 * static_cast<double>(lost) / static_cast<double>(received + lost) : 0, 4));
  emit("late", std::to_string(late));
  emit("invalid", std::to_string(invalid));
  emit("ssrc_changes", std::to_string(ssrcChanges));
  emit("decode_errors", std::to_string(decodeErrors));
  emit("jitter_ms_p50", fixed(percentile(jitterMs, 0.5), 3));
  emit("jitter_ms_max", fixed(percentile(jitterMs, 1.0), 3));
  // Added latency per (talker, listener) pair and onset; an onset in the last 200 ms of sending
  // may have had no chance to arrive and is not counted.
  std::vector<double> latMs;
  size_t pairs = 0;
  for (const Participant& l : parts_) {
    if (!l.decoder) {
      continue;
    }
    for (size_t t = 0; t < talkers_.size(); ++t) {
      const Participant& talker = parts_[talkers_[t]];
      if (&talker == &l || talker.room != l.room) continue;
      for (size_t k = 0; k < talker.onsetSentNs.size(); ++k) {
        const int64_t sent = talker.onsetSentNs[k];
        if (sent < 0 || sent > endSendNs_ - 200'000'000) continue;
        ++pairs;
        if (k < l.heardNs[t].size() && l.heardNs[t][k] >= 0) {
          latMs.push_back(static_cast<double>(l.heardNs[t][k] - sent) / 1e6);
        }
      }
    }
  }
  emit("latency_pairs", std::to_string(pairs));
  emit("latency_detected", std::to_string(latMs.size()));
  emit("latency_ms_min", fixed(percentile(latMs, 0.0), 2));
  emit("latency_ms_p50", fixed(percentile(latMs, 0.5), 2));
  emit("latency_ms_p99", fixed(percentile(latMs, 0.99), 2));
  emit("latency_ms_max", fixed(percentile(latMs, 1.0), 2));
  emit("send_lag_max_us", std::to_string(maxSendLagNs_ / 1000));
  emit("send_lag_max_at_s", fixed(static_cast<double>(maxSendLagDueNs_) / 1e9, 3));
  emit("gen_media_cpu_s", fixed(mediaCpu_, 3));
  emit("gen_cpu_s", fixed(cpuSeconds(), 3));
}

int run(const Options& opt) {
  std::vector<Spec> specs;
  {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (opt.participants != "-") {
      file.open(opt.participants);
      if (!file) {
        std::fprintf(stderr, "conf_load: cannot read %s\n", opt.participants.c_str());
        return 2;
      }
      in = &file;
    }
    auto read = readSpecs(*in);
    if (!read) {
      std::fprintf(stderr, "conf_load: %s\n", read.error().c_str());
      return 2;
    }
    specs = std::move(*read);
  }
  raiseFileLimit();
  std::vector<Ring> silenceRings(4);
  std::vector<Participant> parts;
  std::vector<size_t> talkers;
  parts.reserve(specs.size());
  size_t decodingSilent = 0;
  size_t decodingTalkers = 0;
  for (const Spec& s : specs) {
    auto sock = openLoopbackUdp(1 << 20, s.localPort);
    if (!sock) {
      std::fprintf(stderr, "conf_load: %s\n", sock.error().c_str());
      return 1;
    }
    Ring& silence = silenceRings[static_cast<size_t>(s.codec)];
    if (silence.empty()) {
      silence = encodeRing(s.codec, 0);
    }
    Participant p;
    p.spec = s;
    p.fd = std::move(sock->fd);
    p.silence = &silence;
    p.ssrc = kSsrcBase + static_cast<uint32_t>(parts.size());
    p.room = opt.roomSize != 0 ? parts.size() / opt.roomSize : 0;
    if (s.talker) {
      p.tone = encodeRing(s.codec, s.hz);
      talkers.push_back(parts.size());
    }
    if ((s.talker && decodingTalkers++ < opt.decodeTalkers) || (!s.talker && decodingSilent++ < opt.decodeListeners)) {
      p.decoder = media::makeDecoder(s.codec);
    }
    parts.push_back(std::move(p));
  }
  const size_t rooms = opt.roomSize != 0 ? (parts.size() + opt.roomSize - 1) / opt.roomSize : 1;
  for (Participant& p : parts) {
    p.heardNs.assign(talkers.size(), {});
    p.toneShiftNs = static_cast<int64_t>(opt.toneSpread * 1e9 * static_cast<double>(p.room) / static_cast<double>(rooms));
  }
  ConfLoad load(std::move(parts), std::move(talkers), opt);
  auto ran = load.run();
  if (!ran) {
    std::fprintf(stderr, "conf_load: %s\n", ran.error().c_str());
    return 1;
  }
  load.report();
  return 0;
}

}  // namespace
}  // namespace rdv::bench

int main(int argc, char** argv) { return rdv::bench::run(rdv::bench::parseOptions(argc, argv)); }
