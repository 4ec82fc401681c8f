#pragma once
// A relay worker: one thread that owns a set of sessions, their sockets and their counters.
// Shared-nothing: other threads reach it only through its command queue (lock-free MPSC,
// woken by an eventfd). Its loop is epoll -> recvmmsg -> parse/latch/count -> sendmmsg, with
// buffers allocated once at start: nothing per packet allocates, locks or logs.
//
// It also hosts other loops (HostedLoop: the TCP splicer, the TURN server): each one's epoll
// descriptor sits in the worker's epoll set under a tag of its own, and when it is readable the
// worker calls its runReady() after its own sockets of that round.

#include <sys/socket.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include "common/Clock.h"
#include "common/Fd.h"
#include "media/dtls/DtlsIdentity.h"
#include "media/RtcpPacket.h"
#include "media/RtpPacket.h"
#include "relay/KernelForwarder.h"
#include "relay/MediaSession.h"
#include "relay/QualityHistograms.h"
#include "relay/WorkerCommand.h"
#include "relay/WorkerCounters.h"

namespace rdv::relay {

class UringSender;

struct WorkerOptions {
  uint32_t batch = 32;
  uint64_t timeoutNs = 60'000'000'000ULL;       // no media for this long, once media flowed
  uint64_t setupTimeoutNs = 180'000'000'000ULL; // no media at all since creation (ringing calls)
  uint64_t relatchSilenceNs = 1'000'000'000ULL;
  // Length of a MOS sampling interval per leg (media/EModel.h), checked on the timer tick; the
  // last, shorter interval is sampled when the session ends.
  uint64_t mosIntervalNs = 5'000'000'000ULL;
  // Times media activity, timeouts and re-latching (not the timer tick, which is a timerfd); must
  // outlive the worker. Tests pass a ManualClock.
  const common::Clock* clock = &common::SystemClock::instance();
  // The DTLS certificate legs with a DTLS role handshake with (media/dtls/DtlsIdentity.h); shared
  // by all workers, immutable. Null: such legs cannot key and drop their media.
  std::shared_ptr<const dtls::DtlsIdentity> dtlsIdentity;
  // Forwarded and mixer packets of a whole epoll round leave in one io_uring submission
  // (relay/UringSender.h; config relay.io_uring). When the ring cannot be set up (no io_uring,
  // a seccomp profile, memlock limits) the worker logs it and sends with sendmmsg/sendto.
  bool ioUring = true;
  // 1-99: the worker thread runs SCHED_FIFO at this priority (config relay.realtime_priority);
  // 0: the default scheduler. With realtime mixers (conference.realtime_priority) an ordinary
  // relay worker gets only what the mixers leave of the CPUs, and the relay feeds them: in the
  // 100 x 10 benchmark its rounds took 30-190 ms for 2-8 ms of CPU while the mixers ramped, and
  // the mixers' packets overflowed its queue (benchmarks/README.md, seventh session).
  int realtimePriority = 0;
};

class RelayWorker {
 public:
  // `onEnded` runs on the worker thread when a session times out or is dropped, `onReply` when it
  // answers a QuerySession/RemoveSession; both must only enqueue.
  // `kernel` (optional, shared by all workers, outlives them) is the in-kernel fast path.
  RelayWorker(size_t index, WorkerOptions opts, std::function<void(SessionEnded&&)> onEnded,
              std::function<void(SessionReply&&)> onReply, KernelForwarder* kernel = nullptr);
  ~RelayWorker();  // stops and joins
  RelayWorker(const RelayWorker&) = delete;
  RelayWorker& operator=(const RelayWorker&) = delete;

  void start();
  // Why options.realtimePriority could not be applied (strerror of pthread_setschedparam); empty
  // when it was, or none was asked for. Set by start().
  const std::string& realtimeError() const { return realtimeError_; }
  void post(WorkerCommand&& cmd);  // any thread
  // Any thread: runs `loop` on this worker's thread from the next round on, at most kMaxHosted
  // loops (more are refused with an error log). `loop` must outlive the worker's thread (stop the
  // worker first); its runReady() then runs on no other thread.
  void host(HostedLoop& loop);
  static constexpr size_t kMaxHosted = 4;
  // Any thread: commands or packets wait (a mixer wakes the worker once per tick for its
  // fromLocal queues); the worker drains both on its next round.
  void wake();
  const WorkerCounters& counters() const { return counters_; }
  const QualityHistograms& liveQuality() const { return liveQuality_; }
  size_t index() const { return index_; }

  // Buffer layout: packets are received at kHeadroom so TURN framing can be added in place
  // later; kTailroom stays free for the largest SRTP/SRTCP trailer, which protect() writes after
  // the packet toward a leg that terminates SRTP.
  static constexpr size_t kHeadroom = 64;
  static constexpr size_t kTailroom = srtp::kMaxTrailer;
  static constexpr size_t kBufferSize = 2048;
  static constexpr size_t kMaxPacket = kBufferSize - kHeadroom - kTailroom;
  static_assert(kMaxPacket >= 1500, "an Ethernet-sized datagram plus the largest SRTP trailer fit a buffer");
  // With io_uring: sends queued per round at most (more: an early submit), and the receive
  // buffers, a ring of kRecvRingBatches x batch that packets stay in until their send is submitted.
  static constexpr uint32_t kUringDepth = 1024;
  static constexpr uint32_t kRecvRingBatches = 8;

 private:
  struct OutBatch;
  // What a queued io_uring send counts when it completes (RelayWorkerSend.cc).
  struct SendMeta {
    Leg* local = nullptr;    // a mixer's packet: the local leg whose counters it adds to
    uint32_t plainSize = 0;  // its size before SRTP protection
    bool rtcp = false;       // counted in rtcpRelayed
  };

  void run();
  void drainCommands();
  void handle(AddSession& c);
  void handle(AddStream& c);
  void handle(UpdateLeg& c);
  void handle(QuerySession& c);
  void handle(RemoveSession& c);
  void handle(DropSession& c);
  void handle(CheckTimeouts& c);
  void handle(StopWorker& c);
  void handle(AttachLocal& c);
  void handle(HostLoop& c);  // RelayWorkerHost.cc
  // Epoll tags of hosted loops: kHostedTag + index. Component pointers, the other tags, are
  // never this small.
  static constexpr uint64_t kHostedTag = 16;
  static bool isHostedTag(uint64_t tag) { return tag >= kHostedTag && tag < kHostedTag + kMaxHosted; }
  // One bounded round of each hosted loop whose bit is set in `ready`.
  void runHosted(unsigned ready);
  // RTP of the peer of a local leg, to its mixer's queue (counted as a drop when it is full).
  // Rate-limited per leg (a flood from one participant must not crowd the others out of the
  // shared queue): on average one packet per kLocalPacketNs, bursts up to kLocalBurstNs ahead.
  void deliverLocal(Leg& from, std::span<const std::byte> rtp, uint64_t nowNs);
  static constexpr uint64_t kLocalPacketNs = 10'000'000;  // 100 packets/s: twice a 20 ms stream
  static constexpr uint64_t kLocalBurstNs = 250'000'000;
  // Sends what the mixers queued for this worker's local endpoints, each from its participant's
  // socket to the latched (else advertised) address.
  void drainLocal();
  void onReadable(Component& c, uint64_t nowNs);
  // True when the packet was valid media or another datagram from the latched peer (forwarded
  // or not). On a leg that terminates SRTP a packet is unprotected first: one that does not
  // authenticate is dropped and counted before it can latch.
  bool processPacket(Component& c, uint32_t i, uint64_t nowNs, OutBatch& rtpOut, OutBatch& rtcpOut);
  // A valid RTP/RTCP packet from `from`'s peer, after SRTP and latching: statistics, then on to
  // the peer leg or the mixer. `from` null: dropped (BUNDLE demultiplexing found no stream).
  bool onMedia(Leg* from, std::span<const std::byte> pkt, bool isRtcp, const std::optional<media::RtpView>& rtp,
               const std::optional<media::RtcpSummary>& rtcp, uint32_t i, uint64_t nowNs, OutBatch& rtpOut,
               OutBatch& rtcpOut);
  // Latching of the packet's source (relay/Latch.h); false when it is dropped as spoofed.
  bool latch(Component& c, const common::SockAddr& src, uint32_t ssrc, uint64_t nowNs);
  // Buffer i (`size` bytes of plain RTP/RTCP) toward `peer`, protected first when it terminates SRTP.
  void forward(Leg& peer, bool isRtcp, uint32_t i, size_t size, OutBatch& rtpOut, OutBatch& rtcpOut);
  // Rebuilds the leg's SRTP contexts when its keys changed from `old` (relay/LegSrtp.h).
  void updateSrtp(Leg& leg, const LegCrypto& old);
  // Counts an SRTP failure on `leg` and in the worker; always false (the packet is dropped).
  bool dropSrtp(Leg& leg, srtp::SrtpError e, std::span<const std::byte> packet, bool rtcp);
  // One packet a mixer queued for `leg`'s peer, sent from the leg's socket (protected if it
  // terminates SRTP).
  void sendLocal(Leg& leg, const QueuedPacket& p);
  // A datagram that is not RTP/RTCP (or any datagram of an opaque leg): forwarded unchanged and
  // counted as `other` when it comes from the latched peer, dropped and counted otherwise.
  bool processOther(Component& c, uint32_t i, uint64_t nowNs, OutBatch& out);
  // WebRTC legs (relay/LegWebrtc.h), datagram i of the current batch told apart by RFC 7983: a
  // STUN message on a leg with ICE (RelayWorkerIce.cc), a DTLS record on a leg with a DTLS role
  // (RelayWorkerDtls.cc). They answer from the component's own socket; true = valid traffic
  // that keeps the session alive, false = dropped and counted.
  bool onIceCheck(Component& c, uint32_t i, uint64_t nowNs);
  bool onDtlsRecord(Component& c, uint32_t i, uint64_t nowNs);
  // DTLS-SRTP on legs (RelayWorkerDtls.cc). updateDtls: after an update set leg.params (old role
  // and fingerprint in `old`); false when the leg has no DTLS role (its SRTP is then SDES's).
  bool updateDtls(Leg& leg, const LegDtls& old, uint64_t nowNs);
  // The active role's ClientHello once the peer's address is known; a no-op otherwise.
  void startDtls(Leg& leg, uint64_t nowNs);
  // Retransmissions and late starts of the session's handshakes, on the timer tick.
  void dtlsTimers(MediaSession& s, uint64_t nowNs);
  // Sends what the leg's endpoint queued, from its RTP socket; then counts and keys on a result.
  void flushDtls(Leg& leg, uint64_t nowNs);
  // Counts a DTLS drop on `leg` and in the worker; always false.
  bool dropDtls(Leg& leg, DtlsDrop d);
  // BUNDLE (RelayWorkerBundle.cc, relay/LegBundle.h). updateBundle: after an update set
  // leg.params, links the leg to (or unlinks it from) the transport its params name; true when
  // the leg is bundled (it then has no SRTP or DTLS of its own: its transport's serve it).
  bool updateBundle(Leg& leg);
  // The leg of the group a packet from transport leg `t`'s peer belongs to (RTP by SSRC, else
  // payload type; RTCP by sender SSRC, else the reported or fed-back SSRC, else `t`'s own
  // stream); nullptr when none: the packet is dropped and counted (`bundle_unknown`).
  Leg* bundleSource(Leg& t, std::span<const std::byte> pkt, bool isRtcp, uint32_t ssrc,
                    const media::RtcpSummary* rtcp);
  void onPeerRtcp(Leg& leg, const media::RtcpSummary& rtcp, uint64_t nowNs);
  // Queues buffer i toward `dst` (its latched source, else its advertised address).
  bool enqueue(OutBatch& out, const Component& dst, bool dstAsymmetric, uint32_t i, size_t size);
  uint64_t relatchSilence(const Component& c) const;
  // One MOS sample per leg and interval (media/EModel.h); `final` samples whatever is left.
  void sampleQuality(MediaSession& s, uint64_t nowNs, bool final);
  void flush(OutBatch& out);
  // io_uring sends (RelayWorkerSend.cc). openUring: on the worker thread at start, when
  // opts_.ioUring; on failure uring_ stays null (logged once per process).
  void openUring();
  // The first of `batch` free receive slots for the next recvmmsg (0 without io_uring); submits
  // what is queued first when the ring or the send queue could not take a whole batch.
  uint32_t recvSlots();
  // Queues `bytes` (which stay untouched until the submit) from `fd` to `to`.
  void queueSend(int fd, const common::SockAddr& to, std::span<const std::byte> bytes, SendMeta meta);
  // Sends everything queued with one io_uring_enter and counts each result as flush() does. Runs
  // at the end of every round, before anything can close a socket (timeouts, hosted loops).
  void submitSends();
  // A local-send buffer of the pool (one per queued mixer packet; submits when all are taken).
  std::span<std::byte> localSlot();
  void checkTimeouts(uint64_t nowNs);
  void registerComponent(Component& c);
  // Removes the session's kernel entries, reports it and destroys it.
  SessionReport finish(std::unordered_map<uint64_t, std::unique_ptr<MediaSession>>::iterator it);
  void destroy(std::unordered_map<uint64_t, std::unique_ptr<MediaSession>>::iterator it);
  // makeReport plus what live kernel entries counted.
  SessionReport report(const MediaSession& s) const;

  // Kernel fast path (no-ops without a forwarder); the rule is in KernelForwarder.h.
  void kernelOnLatch(Component& c, LatchVerdict v, uint64_t nowNs);
  void kernelTryInstall(Leg& leg, uint64_t nowNs);
  void kernelRemove(Component& c);  // folds the entry's counters into its leg
  // An entry of `c` that another thread removed (UpdateLeg::kernelTaken): forgets it, folds `k`.
  void kernelTaken(Component& c, const KernelEntryCounters& k);
  void kernelRemoveStream(MediaStream& st);
  void kernelCheck(MediaSession& s, uint64_t nowNs);  // activity and expiry, on the timer tick

  size_t index_;
  WorkerOptions opts_;
  std::function<void(SessionEnded&&)> onEnded_;
  std::function<void(SessionReply&&)> onReply_;
  KernelForwarder* kernel_;
  uint64_t kernelEntries_ = 0;
  WorkerCounters counters_;
  QualityHistograms liveQuality_;  // samples of live legs (sampleQuality)
  moodycamel::ConcurrentQueue<WorkerCommand> commands_;
  common::Fd epoll_;
  common::Fd wake_;   // eventfd
  common::Fd timer_;  // timerfd, 1 s tick for media timeouts
  std::thread thread_;
  std::string realtimeError_;
  bool running_ = false;
  bool destroyedInRound_ = false;
  std::unordered_map<uint64_t, std::unique_ptr<MediaSession>> sessions_;
  // Local endpoints: the socket leg facing each conference participant (its peer is the local leg).
  std::unordered_map<uint32_t, Leg*> localLegs_;
  std::vector<std::shared_ptr<PacketQueue>> toLocal_;
  std::vector<std::shared_ptr<PacketQueue>> fromLocal_;
  std::array<HostedLoop*, kMaxHosted> hosted_{};
  size_t hostedCount_ = 0;

  // Batch I/O state, sized once from opts_.batch.
  std::vector<std::array<std::byte, kBufferSize>> buffers_;
  std::vector<mmsghdr> recvMsgs_;
  std::vector<iovec> recvIov_;
  std::vector<common::SockAddr> recvFrom_;
  std::unique_ptr<OutBatch> rtpOut_;
  std::unique_ptr<OutBatch> rtcpOut_;
  // A mixer's packet is protected here, not in its queue slot (which the mixer owns).
  using LocalBuffer = std::array<std::byte, QueuedPacket::kMaxSize + srtp::kMaxTrailer>;
  LocalBuffer localBuffer_{};
  // io_uring (RelayWorkerSend.cc): null without it. sendMeta_[slot] per queued send; recvUsed_
  // receive slots hold packets not yet submitted; localPool_ holds the round's mixer packets (the
  // queue slot goes back to the mixer at once), localUsed_ of them taken.
  std::unique_ptr<UringSender> uring_;
  std::vector<SendMeta> sendMeta_;
  uint32_t recvUsed_ = 0;
  std::vector<LocalBuffer> localPool_;
  uint32_t localUsed_ = 0;
};

}  // namespace rdv::relay
