#include "relay/RelayWorker.h"

#include <pthread.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <limits>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "media/RtcpPacket.h"
#include "media/RtpPacket.h"
#include "relay/LoopFds.h"
#include "relay/UringSender.h"

namespace rdv::relay {
namespace {

constexpr uint64_t kWakeTag = 1;
constexpr uint64_t kTimerTag = 2;
constexpr int kMaxEvents = 256;
constexpr int kMaxBatchesPerEvent = 4;  // fairness: one busy socket cannot starve the others

// Same byte layout as RFC 3550 "middle 32 bits of NTP": DLSR is in 1/65536 s.
constexpr double kDlsrUnitMs = 1000.0 / 65536.0;

// A component with a kernel entry never re-latches in userspace (see KernelForwarder.h).
constexpr uint64_t kNeverRelatch = std::numeric_limits<uint64_t>::max();

// RTP and RTCP are version 2 (RFC 3550 §5.1); STUN, DTLS and ZRTP are not (RFC 7983 §7).
bool isRtpVersion(std::span<const std::byte> pkt) {
  return !pkt.empty() && (std::to_integer<uint8_t>(pkt[0]) >> 6) == 2;
}

enum class ParsedKind : uint8_t { Media, Other, Malformed };

// What processPacket learns from a packet before latching it: the SSRC, and the parsed RTP or
// plaintext RTCP compound when there is one.
struct ParsedMedia {
  ParsedKind kind = ParsedKind::Other;
  uint32_t ssrc = 0;
  std::optional<media::RtpView> rtp;
  std::optional<media::RtcpSummary> rtcp;
};

// `opaquePayload`: SRTP passed through, only the headers can be read. `decrypted`: the packet was
// just unprotected, so it is authentic: RTCP that is not a compound the parser knows (RFC 5506
// reduced-size feedback) still goes on by its header, and what does not parse is malformed, never
// an "other" datagram to pass on as is.
ParsedMedia parseMedia(std::span<const std::byte> pkt, bool isRtcp, bool opaquePayload, bool decrypted) {
  ParsedMedia p;
  if (isRtcp) {
    if (!opaquePayload) {
      if (auto r = media::parseRtcpCompound(pkt)) {
        p.kind = ParsedKind::Media;
        p.ssrc = r->senderSsrc;
        p.rtcp = *r;
        return p;
      }
    }
    if (opaquePayload || decrypted) {
      if (auto h = media::parseRtcpHeader(pkt)) {
        p.kind = ParsedKind::Media;
        p.ssrc = h->senderSsrc;
        return p;
      }
    }
  } else {
    auto r = media::RtpView::parse(pkt);
    if (r) {
      p.kind = ParsedKind::Media;
      p.ssrc = r->ssrc();
      p.rtp = *r;
      return p;
    }
    // SRTP encrypts the padding count: accept a fixed header that only fails on padding.
    if (opaquePayload && r.error() == media::ParseError::BadPadding) {
      p.kind = ParsedKind::Media;
      p.ssrc = (static_cast<uint32_t>(pkt[8]) << 24) | (static_cast<uint32_t>(pkt[9]) << 16) |
               (static_cast<uint32_t>(pkt[10]) << 8) | static_cast<uint32_t>(pkt[11]);
      return p;
    }
  }
  p.kind = decrypted ? ParsedKind::Malformed : ParsedKind::Other;
  return p;
}

}  // namespace

// Datagrams queued for one outgoing socket: views into the worker's receive buffers.
struct RelayWorker::OutBatch {
  int fd = -1;
  uint32_t count = 0;
  std::vector<mmsghdr> msgs;
  std::vector<iovec> iov;
  std::vector<common::SockAddr> to;

  explicit OutBatch(uint32_t n) : msgs(n), iov(n), to(n) {}
};

RelayWorker::RelayWorker(size_t index, WorkerOptions opts, std::function<void(SessionEnded&&)> onEnded,
                         std::function<void(SessionReply&&)> onReply, KernelForwarder* kernel)
    : index_(index), opts_(opts), onEnded_(std::move(onEnded)), onReply_(std::move(onReply)), kernel_(kernel) {
  const uint32_t n = opts_.batch;
  // With io_uring a ring: received packets wait in their slots for the round's submission.
  const uint32_t slots = opts_.ioUring ? n * kRecvRingBatches : n;
  buffers_.resize(slots);
  recvMsgs_.resize(slots);
  recvIov_.resize(slots);
  recvFrom_.resize(slots);
  rtpOut_ = std::make_unique<OutBatch>(n);
  rtcpOut_ = std::make_unique<OutBatch>(n);
  LoopFds loop = openLoopFds(kWakeTag, kTimerTag);
  epoll_ = std::move(loop.epoll);
  wake_ = std::move(loop.wake);
  timer_ = std::move(loop.timer);
}

RelayWorker::~RelayWorker() {
  if (thread_.joinable()) {
    post(StopWorker{});
    thread_.join();
  }
}

void RelayWorker::start() {
  running_ = true;
  thread_ = std::thread([this] { run(); });
  if (opts_.realtimePriority > 0) {
    sched_param param{};
    param.sched_priority = opts_.realtimePriority;
    if (const int e = pthread_setschedparam(thread_.native_handle(), SCHED_FIFO, &param); e != 0) {
      realtimeError_ = std::strerror(e);
    }
  }
}

void RelayWorker::post(WorkerCommand&& cmd) {
  commands_.enqueue(std::move(cmd));
  wake();
}

void RelayWorker::wake() {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof(one));
}

void RelayWorker::run() {
  // Named for per-group CPU accounting (/metrics rdv_cpu_seconds_total) and for top -H.
  pthread_setname_np(pthread_self(), fmt::format("rdv-relay-{}", index_).substr(0, 15).c_str());
  std::array<epoll_event, kMaxEvents> events{};
  if (opts_.ioUring) openUring();
  while (running_) {
    int n = epoll_wait(epoll_.get(), events.data(), kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::critical("relay worker {}: epoll_wait failed: {}", index_, std::strerror(errno));
      return;
    }
    const uint64_t start = opts_.clock->monotonicNs();
    // Commands first: a packet that arrives right after its session's update was posted must see
    // the update. A command that destroys a session ends the round early: its sockets' events
    // may be in `events`, and level-triggered epoll reports the live ones again next round.
    bool tick = false;
    unsigned hostedReady = 0;  // bit k: hosted loop k
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (isHostedTag(tag)) {
        hostedReady |= 1U << (tag - kHostedTag);
      } else if (tag == kWakeTag) {
        uint64_t v;
        [[maybe_unused]] auto r = ::read(wake_.get(), &v, sizeof(v));
        destroyedInRound_ = false;
        drainCommands();
        drainLocal();
      } else if (tag == kTimerTag) {
        tick = true;
      }
    }
    if (!destroyedInRound_) {
      for (int i = 0; i < n; ++i) {
        const uint64_t tag = events[i].data.u64;
        if (tag == kWakeTag || tag == kTimerTag || isHostedTag(tag)) continue;
        onReadable(*reinterpret_cast<Component*>(tag), start);
      }
    }
    if (uring_) submitSends();  // the round's sends, before timeouts or hosted loops may close sockets
    destroyedInRound_ = false;
    if (hostedReady != 0) runHosted(hostedReady);  // after this round's RTP
    if (tick) {  // after the socket events, for the same reason
      uint64_t v;
      [[maybe_unused]] auto r = ::read(timer_.get(), &v, sizeof(v));
      checkTimeouts(opts_.clock->monotonicNs());  // not `start`: commands of this round may have stamped later times
    }
    counters_.busyNs.add(opts_.clock->monotonicNs() - start);
  }
}

void RelayWorker::drainCommands() {
  WorkerCommand cmd;
  while (commands_.try_dequeue(cmd)) {
    std::visit([this](auto& c) { handle(c); }, cmd);
  }
}

void RelayWorker::registerComponent(Component& c) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = reinterpret_cast<uint64_t>(&c);
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev);
}

void RelayWorker::handle(AddSession& c) {
  auto id = c.session->id;
  c.session->lastMediaNs = c.session->createdNs = opts_.clock->monotonicNs();
  sessions_.emplace(id, std::move(c.session));
  counters_.sessions.set(sessions_.size());
}

void RelayWorker::handle(AddStream& c) {
  auto it = sessions_.find(c.sessionId);
  if (it == sessions_.end()) return;  // removed meanwhile: the stream's sockets close here
  MediaSession& s = *it->second;
  MediaStream& st = *c.stream;
  for (int l = 0; l < 2; ++l) {
    Leg& leg = st.legs[l];
    leg.peer = &st.legs[1 - l];
    leg.session = &s;
    leg.rtp.leg = leg.rtcp.leg = &leg;
    leg.rtp.kind = ComponentKind::Rtp;
    leg.rtcp.kind = ComponentKind::Rtcp;
    if (leg.rtp.fd.valid()) registerComponent(leg.rtp);
    if (leg.rtcp.fd.valid()) registerComponent(leg.rtcp);
  }
  s.streams.push_back(std::move(c.stream));
}

void RelayWorker::handle(UpdateLeg& c) {
  auto it = sessions_.find(c.sessionId);
  if (it == sessions_.end() || c.stream >= it->second->streams.size() || c.leg > 1) return;
  MediaStream& st = *it->second->streams[c.stream];
  Leg& leg = st.legs[c.leg];
  // New parameters (asymmetric, addresses) may change what the kernel may do: its entries go,
  // and come back with the next packet that finds the stream eligible. The control thread removed
  // those it found already (UpdateLeg::kernelTaken); any installed since go here.
  for (size_t k = 0; k < 2; ++k) {
    if (c.kernelTaken[k]) kernelTaken(st.legs[k].rtp, *c.kernelTaken[k]);
  }
  kernelRemoveStream(st);
  // A re-offer that moves the peer (transfer, device handover), or another party taking the leg
  // (a fork's answer), lets the new source latch; a re-offer from the same address (session
  // refresh, hold with 0.0.0.0, resume) keeps the latch.
  const common::SockAddr& to = c.params.rtpRemote;
  const bool moved = to.valid() && leg.lastRemote.valid() && !(to == leg.lastRemote);
  if ((moved || c.params.party != leg.params.party) && (leg.rtp.latch.latched() || leg.rtcp.latch.latched())) {
    leg.rtp.latch.reset();
    leg.rtcp.latch.reset();
    ++leg.counters.relatched;
    counters_.legsRelatched.add(1);
    spdlog::info("call={} port={}: peer moved from {} to {}: latch reset", it->second->callId, leg.rtp.localPort,
                 leg.lastRemote.str(), to.str());
  }
  // An ICE restart (new local credentials) starts nomination afresh (relay/RelayWorkerIce.cc).
  if (!(c.params.ice.localUfrag == leg.params.ice.localUfrag)) leg.rtp.nominatedPriority = leg.rtcp.nominatedPriority = 0;
  if (to.valid()) leg.lastRemote = to;
  const LegCrypto oldCrypto = leg.params.crypto;
  const LegDtls oldDtls = leg.params.dtls;
  leg.params = c.params;
  if (!updateBundle(leg) && !updateDtls(leg, oldDtls, opts_.clock->monotonicNs())) updateSrtp(leg, oldCrypto);
  if (c.params.localEndpoint != 0) localLegs_[c.params.localEndpoint] = leg.peer;
  leg.rtp.advertised = c.params.rtpRemote;
  leg.rtcp.advertised = c.params.rtcpRemote;
  leg.stats.setClockRate(c.params.clockRate);
  if (c.newRtcpFd.valid() && !leg.rtcp.fd.valid()) {
    leg.rtcp.fd = std::move(c.newRtcpFd);
    leg.rtcp.localPort = c.newRtcpPort;
    registerComponent(leg.rtcp);
  }
}

void RelayWorker::updateSrtp(Leg& leg, const LegCrypto& old) {
  if (!leg.params.crypto.terminates()) {
    leg.srtp.reset();
    return;
  }
  if (leg.srtp && leg.params.crypto == old) return;  // a re-offer with the same keys: keep replay/ROC state
  leg.srtp = std::make_unique<LegSrtp>(leg.params.crypto);
  if (auto e = leg.srtp->inboundError() ? leg.srtp->inboundError() : leg.srtp->outboundError()) {
    // Signalling checked the keys; whatever slipped through fails closed: every packet is dropped.
    spdlog::warn("call={} port={}: SRTP keys refused ({}): the leg drops its media", leg.session->callId,
                 leg.rtp.localPort, srtp::toString(*e));
  }
}

bool RelayWorker::dropSrtp(Leg& leg, srtp::SrtpError e, std::span<const std::byte> packet, bool rtcp) {
  counters_.srtpDrop(e).add(1);
  if (++leg.counters.srtpDrop(e) == 1) {  // once per leg and reason: what the first such packet looked like
    const size_t n = std::min<size_t>(packet.size(), 16);
    spdlog::info("call={} port={}: SRTP{} {} dropped ({}, {} bytes, first: {:02x})", leg.session->callId,
                 leg.rtp.localPort, rtcp ? "C" : "", rtcp ? "report" : "packet", srtp::toString(e), packet.size(),
                 fmt::join(reinterpret_cast<const uint8_t*>(packet.data()),
                           reinterpret_cast<const uint8_t*>(packet.data()) + n, ""));
  }
  return false;
}

void RelayWorker::handle(QuerySession& c) {
  auto it = sessions_.find(c.sessionId);
  onReply_(SessionReply{c.requestId, it == sessions_.end() ? std::nullopt : std::optional(report(*it->second))});
}

void RelayWorker::handle(RemoveSession& c) {
  auto it = sessions_.find(c.sessionId);
  if (it == sessions_.end()) {
    onReply_(SessionReply{c.requestId, std::nullopt});
    return;
  }
  onReply_(SessionReply{c.requestId, finish(it)});
}

void RelayWorker::handle(CheckTimeouts&) { checkTimeouts(opts_.clock->monotonicNs()); }

void RelayWorker::handle(DropSession& c) {
  auto it = sessions_.find(c.sessionId);
  if (it == sessions_.end()) return;
  onEnded_(SessionEnded{index_, finish(it), false});
}

void RelayWorker::handle(StopWorker&) { running_ = false; }

SessionReport RelayWorker::finish(std::unordered_map<uint64_t, std::unique_ptr<MediaSession>>::iterator it) {
  for (auto& st : it->second->streams) kernelRemoveStream(*st);
  sampleQuality(*it->second, opts_.clock->monotonicNs(), true);
  SessionReport r = makeReport(*it->second);
  destroy(it);
  return r;
}

void RelayWorker::destroy(std::unordered_map<uint64_t, std::unique_ptr<MediaSession>>::iterator it) {
  destroyedInRound_ = true;  // see run()
  assert(!uring_ || uring_->queued() == 0);  // nothing queued toward a socket that closes
  for (const auto& st : it->second->streams) {
    for (const Leg& leg : st->legs) {
      if (leg.params.localEndpoint != 0) localLegs_.erase(leg.params.localEndpoint);
    }
  }
  // Closing the sockets (in the destructors) also removes them from the epoll set.
  sessions_.erase(it);
  counters_.sessions.set(sessions_.size());
}

void RelayWorker::checkTimeouts(uint64_t nowNs) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    auto next = std::next(it);
    MediaSession& s = *it->second;
    kernelCheck(s, nowNs);  // kernel activity keeps the session alive
    dtlsTimers(s, nowNs);
    sampleQuality(s, nowNs, false);
    // lastMediaNs may be later than nowNs (kernel activity stamps): never let the difference wrap.
    if (nowNs > s.lastMediaNs && nowNs - s.lastMediaNs >= (s.mediaSeen ? opts_.timeoutNs : opts_.setupTimeoutNs)) {
      SessionEnded ev{index_, finish(it), true};
      onEnded_(std::move(ev));
    }
    it = next;
  }
}

void RelayWorker::onReadable(Component& c, uint64_t nowNs) {
  const uint32_t batch = opts_.batch;
  for (int round = 0; round < kMaxBatchesPerEvent; ++round) {
    const uint32_t base = recvSlots();  // 0 without io_uring
    for (uint32_t i = base; i < base + batch; ++i) {
      recvIov_[i].iov_base = buffers_[i].data() + kHeadroom;
      recvIov_[i].iov_len = kMaxPacket;
      msghdr& h = recvMsgs_[i].msg_hdr;
      h.msg_name = recvFrom_[i].storage();
      h.msg_namelen = common::SockAddr::kStorage;
      h.msg_iov = &recvIov_[i];
      h.msg_iovlen = 1;
      h.msg_control = nullptr;
      h.msg_controllen = 0;
      h.msg_flags = 0;
    }
    int n = recvmmsg(c.fd.get(), recvMsgs_.data() + base, batch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    Leg& leg = *c.leg;
    Leg& peer = transportOf(*leg.peer);  // a bundled peer's packets leave its transport's socket
    // SRTP state of both legs at 1,000 sessions is cold: start loading it now (LegSrtp.h).
    if (leg.srtp) leg.srtp->prefetchUnprotect();
    if (peer.srtp) peer.srtp->prefetchProtect();
    rtpOut_->count = 0;
    rtcpOut_->count = 0;
    // RTCP goes out of the peer's RTCP socket unless the peer muxes it onto RTP.
    rtpOut_->fd = peer.rtp.fd.get();
    rtcpOut_->fd = peer.rtcp.fd.valid() ? peer.rtcp.fd.get() : peer.rtp.fd.get();
    bool valid = false;
    for (int i = 0; i < n; ++i)
      valid |= processPacket(c, base + static_cast<uint32_t>(i), nowNs, *rtpOut_, *rtcpOut_);
    if (uring_) recvUsed_ = base + static_cast<uint32_t>(n);  // held until the round's submit
    // Nothing is queued in the OutBatches with io_uring.
    flush(*rtpOut_);
    flush(*rtcpOut_);
    if (valid) {  // spoofed or malformed packets do not keep a session alive
      leg.session->lastMediaNs = nowNs;
      leg.session->mediaSeen = true;
    }
    if (static_cast<uint32_t>(n) < batch) return;
  }
}

bool RelayWorker::processPacket(Component& c, uint32_t i, uint64_t nowNs, OutBatch& rtpOut,
                                OutBatch& rtcpOut) {
  Leg& leg = *c.leg;
  const mmsghdr& m = recvMsgs_[i];
  const std::span<std::byte> buffer(buffers_[i].data() + kHeadroom, kBufferSize - kHeadroom);
  std::span<const std::byte> pkt = buffer.first(m.msg_len);
  if ((m.msg_hdr.msg_flags & MSG_TRUNC) != 0) {
    ++leg.counters.malformed;
    counters_.drop(DropReason::Malformed).add(1);
    return false;
  }
  if (leg.params.webrtc() && !pkt.empty()) {  // RFC 7983 demultiplexing on a WebRTC leg
    const MediaDemux kind = demuxMedia(pkt[0]);
    if (kind == MediaDemux::Stun && leg.params.ice.enabled()) return onIceCheck(c, i, nowNs);
    if (kind == MediaDemux::Dtls && leg.params.dtls.role != DtlsRole::Off) return onDtlsRecord(c, i, nowNs);
    if (awaitsDtlsKeys(leg)) return dropDtls(leg, DtlsDrop::NotKeyed);
    if (leg.dtlsPeerClosed) return dropDtls(leg, DtlsDrop::PeerClosed);
  }
  if (leg.params.opaque) return processOther(c, i, nowNs, c.kind == ComponentKind::Rtcp ? rtcpOut : rtpOut);
  // rtcp-mux: RTP and RTCP told apart by packet type (RFC 5761 §4), which SRTP leaves in the clear.
  const bool isRtcp = c.kind == ComponentKind::Rtcp || (leg.params.mux && media::looksLikeRtcp(pkt));

  // SRTP terminated on this leg: what looks like RTP/RTCP must authenticate before anything else
  // (latching included) sees it; then it is plain RTP/RTCP. Other datagrams (STUN) go on as before.
  const bool decrypt = leg.srtp && isRtpVersion(pkt);
  if (decrypt) {
    auto plain = leg.srtp->unprotect(buffer.first(m.msg_len), isRtcp);
    if (!plain) return dropSrtp(leg, plain.error(), pkt, isRtcp);
    ++leg.counters.srtpUnprotected;
    counters_.srtpUnprotected.add(1);
    pkt = pkt.first(*plain);
  }

  const ParsedMedia p = parseMedia(pkt, isRtcp, leg.params.srtp && !leg.srtp, decrypt);
  if (p.kind == ParsedKind::Other) return processOther(c, i, nowNs, isRtcp ? rtcpOut : rtpOut);
  if (p.kind == ParsedKind::Malformed) {
    ++leg.counters.malformed;
    counters_.drop(DropReason::Malformed).add(1);
    return false;
  }
  if (!leg.params.asymmetric && !latch(c, recvFrom_[i], p.ssrc, nowNs)) return false;
  // BUNDLE: the transport's packets belong to the stream the demultiplexer picks.
  return onMedia(leg.bundle ? bundleSource(leg, pkt, isRtcp, p.ssrc, p.rtcp ? &*p.rtcp : nullptr) : &leg,
                 pkt, isRtcp, p.rtp, p.rtcp, i, nowNs, rtpOut, rtcpOut);
}

bool RelayWorker::onMedia(Leg* from, std::span<const std::byte> pkt, bool isRtcp,
                          const std::optional<media::RtpView>& rtp, const std::optional<media::RtcpSummary>& rtcp,
                          uint32_t i, uint64_t nowNs, OutBatch& rtpOut, OutBatch& rtcpOut) {
  if (from == nullptr) return false;  // BUNDLE: no stream of the group claims it (counted)
  Leg& leg = *from;
  Leg& peer = *leg.peer;
  // Statistics of what this leg's peer sends.
  if (rtp) {
    ++leg.counters.rtpPackets;
    leg.counters.rtpBytes += pkt.size();
    leg.stats.onPacket(*rtp, nowNs);
  } else {
    ++leg.counters.rtcpPackets;
    leg.counters.rtcpBytes += pkt.size();
    if (rtcp) onPeerRtcp(leg, *rtcp, nowNs);
  }

  if (peer.params.localEndpoint != 0) {  // a conference participant: RTP to the mixer, RTCP ends here
    if (rtp) deliverLocal(leg, pkt, nowNs);
    return true;
  }
  forward(peer, isRtcp, i, pkt.size(), rtpOut, rtcpOut);
  return true;
}

bool RelayWorker::latch(Component& c, const common::SockAddr& src, uint32_t ssrc, uint64_t nowNs) {
  Leg& leg = *c.leg;
  const LatchVerdict verdict = c.latch.onPacket(src, ssrc, nowNs, relatchSilence(c));
  if (kernel_ != nullptr && verdict != LatchVerdict::Spoofed) kernelOnLatch(c, verdict, nowNs);
  switch (verdict) {
    case LatchVerdict::Accepted: break;
    case LatchVerdict::Latched:
      SPDLOG_DEBUG("call={} port={} latched to {}", leg.session->callId, c.localPort, src.str());
      break;
    case LatchVerdict::Relatched:
      ++leg.counters.relatched;
      counters_.legsRelatched.add(1);
      spdlog::info("call={} port={} re-latched to {} (NAT rebinding)", leg.session->callId, c.localPort, src.str());
      break;
    case LatchVerdict::Spoofed:
      ++leg.counters.spoofed;
      counters_.drop(DropReason::Spoofed).add(1);
      return false;
  }
  return true;
}

void RelayWorker::forward(Leg& to, bool isRtcp, uint32_t i, size_t size, OutBatch& rtpOut, OutBatch& rtcpOut) {
  Leg& peer = transportOf(to);  // BUNDLE: one socket, latch and SRTP session for the whole group
  if (awaitsDtlsKeys(peer)) {
    dropDtls(peer, DtlsDrop::NotKeyed);
    return;
  }
  if (peer.srtp) {  // plain -> SRTP bridging, or the second half of SRTP -> SRTP with the peer's keys
    const std::span<std::byte> buffer(buffers_[i].data() + kHeadroom, kBufferSize - kHeadroom);
    auto n = peer.srtp->protect(buffer, size, isRtcp);
    if (!n) {
      dropSrtp(peer, n.error(), buffer.first(size), isRtcp);
      return;
    }
    ++peer.counters.srtpProtected;
    counters_.srtpProtected.add(1);
    size = *n;
  }
  // To the peer's latched source, else to what its SDP advertised; RTCP out of the peer's RTCP
  // socket unless it muxes.
  const bool viaRtcp = isRtcp && !peer.params.mux;
  enqueue(isRtcp ? rtcpOut : rtpOut, viaRtcp ? peer.rtcp : peer.rtp, peer.params.asymmetric, i, size);
}

// What a plaintext RTCP compound from the leg's peer tells about the peer (RFC 3550 §6.4, RFC 3611
// §4.7), kept on the leg; the SR's timestamp goes to the other leg for its RTT.
void RelayWorker::onPeerRtcp(Leg& leg, const media::RtcpSummary& rtcp, uint64_t nowNs) {
  if (rtcp.senderInfo) {
    // Forwarded to the peer: its RR will echo this as LSR.
    leg.peer->quality.lastSrMiddle32 = rtcp.senderInfo->ntpMiddle32();
    leg.peer->quality.lastSrForwardNs = nowNs;
  }
  if (rtcp.blockCount > 0) {
    const auto& b = rtcp.blocks[0];
    leg.quality.remoteLossFraction = b.fractionLost / 256.0;
    uint32_t rate = leg.peer->params.clockRate != 0 ? leg.peer->params.clockRate : 8000;
    leg.quality.remoteJitterMs = 1000.0 * b.jitter / rate;
    if (b.lsr != 0 && b.lsr == leg.quality.lastSrMiddle32) {
      double rtt = static_cast<double>(nowNs - leg.quality.lastSrForwardNs) / 1e6 - b.dlsr * kDlsrUnitMs;
      if (rtt >= 0) leg.quality.rttMs = rtt;
    }
  }
  if (rtcp.xr) {
    ++leg.counters.xrReports;
    counters_.xrReports.add(1);
    if (rtcp.xr->voip) leg.quality.xr = rtcp.xr->voip;
  }
  if (rtcp.xrMalformed) {
    ++leg.counters.xrMalformed;
    counters_.xrMalformed.add(1);
  }
}

bool RelayWorker::processOther(Component& c, uint32_t i, uint64_t nowNs, OutBatch& out) {
  Leg& leg = *c.leg;
  Leg& peer = transportOf(*leg.peer);
  const common::SockAddr& src = recvFrom_[i];
  const size_t size = recvMsgs_[i].msg_len;
  if (leg.params.opaque && !leg.params.asymmetric) {
    // No SSRC to tell a rebinding from a hijack: an opaque leg re-latches only by signalling.
    if (c.latch.onPacket(src, 0, nowNs, kNeverRelatch) == LatchVerdict::Spoofed) {
      ++leg.counters.spoofed;
      counters_.drop(DropReason::Spoofed).add(1);
      return false;
    }
  } else if (!leg.params.opaque && (peer.srtp || awaitsDtlsKeys(peer)) && isRtpVersion(std::span(buffers_[i].data() + kHeadroom, size))) {
    // RTP/RTCP that did not parse: never in the clear to a leg that terminates SRTP.
    ++leg.counters.malformed;
    counters_.drop(DropReason::Malformed).add(1);
    return false;
  } else if (!leg.params.opaque && !(c.latch.latched() && src == c.latch.address())) {
    // Before latching nothing vouches for the sender; after it, a stranger is a stranger.
    if (c.latch.latched()) {
      ++leg.counters.spoofed;
      counters_.drop(DropReason::Spoofed).add(1);
    } else {
      ++leg.counters.malformed;
      counters_.drop(DropReason::Malformed).add(1);
    }
    return false;
  }
  ++leg.counters.otherPackets;
  leg.counters.otherBytes += size;
  counters_.otherRelayed.add(1);
  const bool viaRtcp = c.kind == ComponentKind::Rtcp && !peer.params.mux;
  enqueue(out, viaRtcp ? peer.rtcp : peer.rtp, peer.params.asymmetric, i, size);
  return true;
}

bool RelayWorker::enqueue(OutBatch& out, const Component& dst, bool dstAsymmetric, uint32_t i, size_t size) {
  const common::SockAddr& to = (dst.latch.latched() && !dstAsymmetric) ? dst.latch.address() : dst.advertised;
  if (uring_) {  // each send names its socket: nothing to flush when the socket changes
    const int fd = dst.fd.valid() ? dst.fd.get() : out.fd;
    if (!to.valid() || fd < 0) {
      counters_.drop(DropReason::NoSession).add(1);
      return false;
    }
    queueSend(fd, to, std::span(buffers_[i].data() + kHeadroom, size),
              SendMeta{.rtcp = &out == rtcpOut_.get()});
    return true;
  }
  if (dst.fd.valid() && dst.fd.get() != out.fd) {
    // BUNDLE: packets of one batch go to different legs' sockets (a bundled transport feeds
    // several plain legs); what is queued for the previous socket leaves first.
    flush(out);
    out.fd = dst.fd.get();
  }
  if (!to.valid() || out.fd < 0) {
    counters_.drop(DropReason::NoSession).add(1);
    return false;
  }
  uint32_t k = out.count++;
  out.to[k] = to;
  out.iov[k].iov_base = buffers_[i].data() + kHeadroom;
  out.iov[k].iov_len = size;
  msghdr& h = out.msgs[k].msg_hdr;
  h.msg_name = const_cast<sockaddr*>(out.to[k].sa());
  h.msg_namelen = out.to[k].len();
  h.msg_iov = &out.iov[k];
  h.msg_iovlen = 1;
  h.msg_control = nullptr;
  h.msg_controllen = 0;
  h.msg_flags = 0;
  return true;
}

uint64_t RelayWorker::relatchSilence(const Component& c) const {
  return (c.kernel.installed || c.leg->params.strictSource) ? kNeverRelatch : opts_.relatchSilenceNs;
}

namespace {

// The sample of `leg`'s stream since its window opened; nullopt when no packet arrived since.
std::optional<media::MosSample> pendingSample(const Leg& leg, uint64_t wallSeconds) {
  const MosWindow& w = leg.mosWindow;
  if (leg.stats.packets() == w.packets) return std::nullopt;
  const uint64_t expected = leg.stats.expected() - w.expected;
  const int64_t lost = leg.stats.lost() - w.lost;
  const double loss =
      expected == 0 ? 0.0 : std::clamp(static_cast<double>(lost) / static_cast<double>(expected), 0.0, 1.0) * 100.0;
  // The party that receives this stream may report what it experienced (RTCP XR VoIP Metrics,
  // RFC 3611 §4.7, arriving on the peer leg): its loss and jitter-buffer discards after the relay
  // count too, and its end system delay replaces the estimate of its buffering.
  const std::optional<media::XrVoipMetrics>& xr = leg.peer->quality.xr;
  const double xrLoss = xr ? (xr->lossFraction() + xr->discardFraction()) * 100.0 : 0.0;
  const double rtt = leg.quality.rttMs;
  const media::QualityScore q = media::estimateQuality(media::QualityInput{
      .lossPercent = std::max(loss, std::min(xrLoss, 100.0)),
      .jitterMs = leg.stats.jitterMs(),
      .rttMs = rtt,
      .endSystemDelayMs = xr && xr->endSystemDelayMs > 0 ? static_cast<double>(xr->endSystemDelayMs) : -1.0,
      .codec = leg.params.codec});
  return media::MosSample{q.mos, loss, leg.stats.jitterMs(), rtt >= 0 ? rtt : 0.0, wallSeconds};
}

}  // namespace

void RelayWorker::sampleQuality(MediaSession& s, uint64_t nowNs, bool final) {
  for (auto& st : s.streams) {
    for (Leg& leg : st->legs) {
      MosWindow& w = leg.mosWindow;
      if (leg.stats.packets() == w.packets) continue;
      if (w.sinceNs == 0 && !final) {  // the first packets open the first window
        w.sinceNs = nowNs;
        continue;
      }
      if (!final && nowNs - w.sinceNs < opts_.mosIntervalNs) continue;
      if (auto sample = pendingSample(leg, opts_.clock->wallSeconds())) {
        leg.mos.add(*sample);
        if (!final) {
          liveQuality_.mos.observe(sample->mos);
          liveQuality_.lossPercent.observe(sample->lossPercent);
          liveQuality_.jitterMs.observe(sample->jitterMs);
          if (leg.quality.rttMs >= 0) liveQuality_.rttMs.observe(sample->rttMs);
        }
      }
      w = MosWindow{nowNs, leg.stats.packets(), leg.stats.expected(), leg.stats.lost()};
    }
  }
}

void RelayWorker::flush(OutBatch& out) {
  uint32_t sent = 0;
  while (sent < out.count) {
    counters_.sendSyscalls.add(1);
    int r = sendmmsg(out.fd, out.msgs.data() + sent, out.count - sent, MSG_DONTWAIT);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      // EAGAIN (socket buffer full) or an ICMP-reported error: drop the rest of the batch. A
      // failed datagram is skipped so one bad destination does not block the others.
      counters_.drop(DropReason::SendFailed).add(1);
      ++sent;
      continue;
    }
    for (int j = 0; j < r; ++j) {
      counters_.bytesRelayed.add(out.msgs[sent + j].msg_len);
    }
    sent += static_cast<uint32_t>(r);
    counters_.packetsRelayed.add(static_cast<uint64_t>(r));
  }
  if (&out == rtcpOut_.get()) counters_.rtcpRelayed.add(out.count);
  out.count = 0;
}

SessionReport RelayWorker::report(const MediaSession& s) const {
  SessionReport r = makeReport(s);
  // What arrived since the last sample is scored too, without closing the interval.
  const uint64_t wall = opts_.clock->wallSeconds();
  for (size_t i = 0; i < s.streams.size(); ++i) {
    for (int l = 0; l < 2; ++l) {
      if (auto sample = pendingSample(s.streams[i]->legs[l], wall)) r.streams[i][l].mos.add(*sample);
    }
  }
  if (kernel_ == nullptr) return r;
  for (size_t i = 0; i < s.streams.size(); ++i) {
    for (int l = 0; l < 2; ++l) {
      const Component& c = s.streams[i]->legs[l].rtp;
      if (!c.kernel.installed) continue;
      auto k = kernel_->readCounters(kernel_->localAddress(c.localPort));
      if (!k) continue;
      LegReport& lr = r.streams[i][l];
      lr.counters.rtpPackets += k->packets;
      lr.counters.kernelPackets += k->packets;
      lr.counters.rtpBytes += k->bytes;
      lr.counters.spoofed += k->spoofed;
      lr.rtpExpected += k->expected;
      lr.rtpLost += static_cast<int64_t>(k->expected) - static_cast<int64_t>(k->packets);
      lr.lossFraction = lr.rtpExpected == 0 ? 0.0
                                            : std::clamp(static_cast<double>(lr.rtpLost) /
                                                             static_cast<double>(lr.rtpExpected), 0.0, 1.0);
      if (k->packets > 0) r.lastMediaNs = std::max(r.lastMediaNs, k->lastNs);
    }
  }
  return r;
}

SessionReport makeReport(const MediaSession& s) {
  SessionReport r;
  r.id = s.id;
  r.callId = s.callId;
  r.createdNs = s.createdNs;
  r.lastMediaNs = s.lastMediaNs;
  for (const auto& st : s.streams) {
    std::array<LegReport, 2> legs;
    for (int l = 0; l < 2; ++l) {
      const Leg& leg = st->legs[l];
      LegReport& lr = legs[l];
      lr.rtpPort = leg.rtp.localPort;
      lr.rtcpPort = leg.rtcp.fd.valid() ? leg.rtcp.localPort : 0;
      lr.advertised = leg.params.rtpRemote;
      if (leg.rtp.latch.latched()) lr.latched = leg.rtp.latch.address();
      lr.counters = leg.counters;
      lr.rtpExpected = leg.stats.expected();
      lr.rtpLost = leg.stats.lost();
      lr.lossFraction = leg.stats.lossFraction();
      lr.jitterMs = leg.stats.jitterMs();
      lr.burstGap = leg.stats.burstGap();
      lr.quality = leg.quality;
      // The RTP latch remembers the SSRC also when the kernel fast path carried the stream (the
      // statistics then restart on the next packet they see).
      lr.hasSsrc = leg.stats.hasSsrc() || (leg.rtp.latch.latched() && !leg.params.opaque);
      lr.ssrc = leg.stats.hasSsrc() ? leg.stats.ssrc() : leg.rtp.latch.ssrc();
      lr.codec = leg.params.codec;
      lr.srtpTerminated = leg.srtp != nullptr;  // SDES keys, or a DTLS-SRTP handshake that keyed the leg
      lr.mos = leg.mos;
    }
    r.streams.push_back(legs);
  }
  return r;
}

}  // namespace rdv::relay
