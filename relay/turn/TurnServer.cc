#include "relay/turn/TurnServer.h"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "media/RtpPacket.h"
#include "relay/LoopFds.h"
#include "relay/stun/ChannelData.h"
#include "relay/stun/StunBuilder.h"

namespace rdv::turn {

namespace attr = stun::attr;
namespace wire = media::wire;

namespace {
constexpr uint64_t kWakeTag = ~uint64_t{0};
constexpr uint64_t kTimerTag = ~uint64_t{0} - 1;  // both checked before TurnTcpClients::owns
constexpr uint64_t kListenTag = 0;
constexpr int kTickMs = 1000;  // expiry sweep period: the 1 s tick relay::openLoopFds sets up
constexpr int kThrottleMs = 5;  // RFC 6062 pairs out of bandwidth tokens are retried this often
}  // namespace

Expected<std::unique_ptr<TurnServer>, std::string> TurnServer::start(const TurnServerOptions& options,
                                                                     Credentials credentials, PeerPolicy policy,
                                                                     const common::Clock& clock) {
  auto s = create(options, std::move(credentials), std::move(policy), clock);
  if (s) (*s)->startThread();
  return s;
}

Expected<std::unique_ptr<TurnServer>, std::string> TurnServer::create(const TurnServerOptions& options,
                                                                      Credentials credentials,
                                                                      PeerPolicy policy,
                                                                      const common::Clock& clock) {
  if (options.portMin == 0 || options.portMin > options.portMax) {
    return Unexpected(fmt::format("turn: bad relayed port range {}-{}", options.portMin, options.portMax));
  }
  if (options.relayAdvertise && options.relayAdvertise->isV6() != options.relayAddress.isV6()) {
    return Unexpected(std::string("turn.relay_advertise and turn.relay_address must be of one address family"));
  }
  std::unique_ptr<TurnServer> s(new TurnServer(options, std::move(credentials), std::move(policy), clock));
  const auto& l = options.listen;
  s->listen_ = common::Fd(::socket(l.isV6() ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s->listen_.valid() || ::bind(s->listen_.get(), l.sa(), l.len()) != 0) {
    return Unexpected(fmt::format("turn.listen {}: {}", l.str(), std::strerror(errno)));
  }
  const int buf = 4 << 20;
  ::setsockopt(s->listen_.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  ::setsockopt(s->listen_.get(), SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  socklen_t len = common::SockAddr::kStorage;
  ::getsockname(s->listen_.get(), s->local_.storage(), &len);
  relay::LoopFds loop = relay::openLoopFds(kWakeTag, kTimerTag);
  s->epoll_ = std::move(loop.epoll);
  s->wake_ = std::move(loop.wake);
  s->timer_ = std::move(loop.timer);
  s->timerMs_ = kTickMs;  // openLoopFds ticks once a second
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenTag;
  ::epoll_ctl(s->epoll_.get(), EPOLL_CTL_ADD, s->listen_.get(), &ev);
  FrameSink& sink = *s;
  s->tcp_ = std::make_unique<TurnTcpClients>(s->epoll_.get(), sink, options.clientLimits, s->counters_);
  TcpRelayEvents& events = *s;
  s->tcpRelay_ = std::make_unique<TurnTcpRelay>(s->epoll_.get(), events, s->counters_, options.tcpLimits,
                                                options.limits.maxBytesPerSecond);
  if (auto r = s->tcp_->listen(s->local_); !r) return Unexpected(r.error());
  if (options.tlsListen && options.tlsContext != nullptr) {
    if (auto r = s->tcp_->listenTls(*options.tlsListen, options.tlsContext); !r) return Unexpected(r.error());
    s->tlsAddress_ = s->tcp_->tlsAddress();
  }
  s->lastSweepMs_ = clock.monotonicMs();
  return s;
}

void TurnServer::startThread() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "rdv-turn");
    relay::runHostedThread(*this, stop_);
  });
}

TurnServer::TurnServer(const TurnServerOptions& options, Credentials credentials, PeerPolicy policy,
                       const common::Clock& clock)
    : options_(options),
      clock_(clock),
      handler_(std::move(credentials), std::move(policy), options.limits, options.nonceLifetimeS, *this, counters_),
      nextPort_(options.portMin) {
  options_.batch = std::clamp<uint32_t>(options_.batch, 1, kMaxBatch);
  const size_t n = options_.batch;
  rxBuffers_.resize(n * kBufferSize);
  rxMsgs_.resize(n);
  rxIov_.resize(n);
  rxFrom_.resize(n);
  txMsgs_.resize(n);
  txIov_.resize(n);
  txHead_.resize(n);
  txTo_.resize(n);
  peerMsgs_.resize(n);
  peerIov_.resize(n);
  peerTo_.resize(n);
}

TurnServer::~TurnServer() {
  if (thread_.joinable()) {
    stop_.store(true, std::memory_order_release);
    wakeSelf();
    thread_.join();
  }
}

void TurnServer::wakeSelf() {
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof(one));
}

void TurnServer::armTimer(int periodMs) {
  if (periodMs == timerMs_) return;
  timerMs_ = periodMs;
  const timespec period{periodMs / 1000, static_cast<long>(periodMs % 1000) * 1'000'000};
  const itimerspec spec{period, period};
  ::timerfd_settime(timer_.get(), 0, &spec, nullptr);
}

// One bounded round: the events ready now (at most 64; a UDP socket gives a few batches per
// event, level-triggered), the RFC 6062 pairs that used their budget, the throttled ones and the
// 1 s sweep. The timerfd ticks every second, every kThrottleMs while pairs wait for bandwidth
// tokens; pairs left with work make fd() readable again (the wake eventfd).
void TurnServer::runReady() {
  std::array<epoll_event, 64> events{};
  const int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 0);
  const uint64_t startNs = clock_.monotonicNs();
  nowMs_ = startNs / 1'000'000;
  wallS_ = clock_.wallSeconds();
  tcp_->setNow(nowMs_);
  tcpRelay_->setNow(nowMs_);
  for (int i = 0; i < n; ++i) {
    const uint64_t tag = events[static_cast<size_t>(i)].data.u64;
    if (tag == kWakeTag || tag == kTimerTag) {
      uint64_t v;
      [[maybe_unused]] auto r = ::read(tag == kWakeTag ? wake_.get() : timer_.get(), &v, sizeof(v));
    } else if (tag == kListenTag) {
      onListenReadable();
    } else if (TurnTcpClients::owns(tag)) {
      tcp_->onEvent(tag, events[static_cast<size_t>(i)].events);
    } else if (TurnTcpRelay::owns(tag)) {
      tcpRelay_->onEvent(tag, events[static_cast<size_t>(i)].events);
    } else {
      onRelayReadable(static_cast<uint32_t>(tag));
    }
  }
  tcpRelay_->runPending();
  if (tcpRelay_->hasThrottled()) tcpRelay_->resumeThrottled();
  if (nowMs_ - lastSweepMs_ >= static_cast<uint64_t>(kTickMs)) {
    handler_.expire(nowMs_);
    tcpRelay_->expire(nowMs_);
    tcp_->sweep(nowMs_, [&](const FiveTuple& t) { return handler_.table().find(t) != nullptr; });
    lastSweepMs_ = nowMs_;
  }
  if (tcpRelay_->hasWork()) wakeSelf();
  armTimer(tcpRelay_->hasThrottled() ? kThrottleMs : kTickMs);
  counters_.busyNs.add(clock_.monotonicNs() - startNs);
}

// Receives up to `count` datagrams from `fd` into the batch buffers (each written after
// kHeadroom bytes); returns how many arrived.
int TurnServer::receive(int fd, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    rxIov_[i] = {rxBuffers_.data() + i * kBufferSize + kHeadroom, kBufferSize - kHeadroom};
    rxMsgs_[i] = {};
    rxMsgs_[i].msg_hdr.msg_iov = &rxIov_[i];
    rxMsgs_[i].msg_hdr.msg_iovlen = 1;
    rxMsgs_[i].msg_hdr.msg_name = rxFrom_[i].storage();
    rxMsgs_[i].msg_hdr.msg_namelen = common::SockAddr::kStorage;
  }
  return ::recvmmsg(fd, rxMsgs_.data(), static_cast<unsigned>(count), MSG_DONTWAIT, nullptr);
}

void TurnServer::onListenReadable() {
  // Bounded: a few batches per wake-up, then the relayed sockets get their turn (level-triggered).
  for (int round = 0; round < 4; ++round) {
    const int n = receive(listen_.get(), options_.batch);
    if (n <= 0) return;
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      auto d = std::span(rxBuffers_.data() + i * kBufferSize + kHeadroom, rxMsgs_[i].msg_len);
      onClientFrame(d, FiveTuple{rxFrom_[i], local_, kUdp});
    }
    flushToPeers();
    flushToClients();
    if (static_cast<size_t>(n) < options_.batch) return;
  }
}

void TurnServer::onFrame(std::span<std::byte> frame, const FiveTuple& tuple) {
  onClientFrame(frame, tuple);
  flushToPeers();  // the frame lives in the connection's buffer, which moves on after this
  flushToClients();
}

void TurnServer::onClosed(const FiveTuple& tuple) {
  handler_.release(tuple);
  if (auto it = handOffs_.find(tuple); it != handOffs_.end()) {  // a data connection lost before attach
    tcpRelay_->abandon(it->second);
    handOffs_.erase(it);
  }
}

void TurnServer::sendToClient(const FiveTuple& tuple, std::span<const std::byte> head,
                              std::span<const std::byte> body, size_t pad) {
  if (tuple.transport == kUdp) {
    queueToClient(tuple.client, head, body);
  } else if (!tcp_->write(tuple, head, body, pad)) {
    counters_.refuse(Refusal::NoPermission);  // the client's stream is gone or not reading
  }
}

void TurnServer::onClientFrame(std::span<std::byte> d, const FiveTuple& tuple) {
  if (stun::ChannelDataView::looksLikeChannelData(d)) {
    onChannelData(d, tuple);
    return;
  }
  auto m = stun::StunView::parse(d);
  if (!m) {
    counters_.refuse(Refusal::Malformed);
    return;
  }
  if (m->messageClass() == stun::MessageClass::Indication) {
    if (m->method() == stun::method::kSend) onSendIndication(*m, tuple);
    return;
  }
  // A request may delete an allocation and close its socket (Refresh 0), and the next Allocate
  // may reuse the descriptor number: nothing queued for a peer may wait across it.
  flushToPeers();
  std::array<std::byte, 1500> out;
  const auto reply = handler_.handle(*m, tuple, nowMs_, wallS_, out);
  if (!reply.empty()) sendToClient(tuple, reply, {}, 0);
}

void TurnServer::onChannelData(std::span<const std::byte> d, const FiveTuple& tuple) {
  auto frame = stun::ChannelDataView::parse(d);
  if (!frame) {
    counters_.refuse(Refusal::Malformed);
    return;
  }
  auto& table = handler_.table();
  Allocation* a = table.find(tuple);
  if (a == nullptr) {
    counters_.refuse(Refusal::NoAllocation);
    return;
  }
  const ChannelBinding* ch = table.channel(*a, frame->channel(), nowMs_);
  if (ch == nullptr || !table.permitted(*a, ch->peer, nowMs_)) {
    counters_.refuse(Refusal::NoPermission);
    return;
  }
  auto it = relays_.find(a->id);
  if (it == relays_.end()) return;
  if (!a->bandwidth.take(frame->data().size(), nowMs_)) {
    counters_.refuse(Refusal::Bandwidth);
    return;
  }
  queueToPeer(it->second.get(), ch->peer, frame->data());
}

void TurnServer::onSendIndication(const stun::StunView& m, const FiveTuple& tuple) {
  auto& table = handler_.table();
  Allocation* a = table.find(tuple);
  if (a == nullptr) {
    counters_.refuse(Refusal::NoAllocation);
    return;
  }
  const auto peer = m.xorAddress(attr::kXorPeerAddress);
  const auto data = m.data();
  if (!peer || !data) {
    counters_.refuse(Refusal::Malformed);
    return;
  }
  if (!table.permitted(*a, *peer, nowMs_)) {
    counters_.refuse(Refusal::NoPermission);
    return;
  }
  auto it = relays_.find(a->id);
  if (it == relays_.end()) return;
  if (!a->bandwidth.take(data->size(), nowMs_)) {
    counters_.refuse(Refusal::Bandwidth);
    return;
  }
  queueToPeer(it->second.get(), *peer, *data);
}

void TurnServer::onRelayReadable(uint32_t id) {
  auto it = relays_.find(id);
  Allocation* a = handler_.table().byId(id);
  if (it == relays_.end() || a == nullptr) return;
  const int fd = it->second.get();
  auto& table = handler_.table();
  for (int round = 0; round < 4; ++round) {
    const int n = receive(fd, options_.batch);
    if (n <= 0) break;
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      const auto& peer = rxFrom_[i];
      const auto data = std::span<const std::byte>(rxBuffers_.data() + i * kBufferSize + kHeadroom, rxMsgs_[i].msg_len);
      if (!table.permitted(*a, peer, nowMs_)) {
        counters_.refuse(Refusal::NoPermission);
        continue;
      }
      if (data.size() > 0xFFFF - kHeadroom) {  // would not fit a STUN length field once framed
        counters_.refuse(Refusal::Malformed);
        continue;
      }
      if (!a->bandwidth.take(data.size(), nowMs_)) {
        counters_.refuse(Refusal::Bandwidth);
        continue;
      }
      std::array<std::byte, 64> head{};
      if (const ChannelBinding* ch = table.channelFor(*a, peer, nowMs_)) {
        stun::writeChannelDataHeader(head, ch->number, static_cast<uint16_t>(data.size()));
        sendToClient(a->tuple, std::span(head).first(4), data, (4 - data.size() % 4) % 4);
      } else {
        // Data indication (§11.4): XOR-PEER-ADDRESS and a DATA attribute whose value is `data`.
        stun::TransactionId tid{};
        const uint64_t seq = ++indicationSeq_;
        std::memcpy(tid.data(), &seq, sizeof(seq));
        stun::StunBuilder b(head, stun::method::kData, stun::MessageClass::Indication, tid);
        b.addXorAddress(attr::kXorPeerAddress, peer);
        const size_t at = b.size();
        const size_t padded = (data.size() + 3) & ~size_t{3};
        wire::storeBe16(head, at, attr::kData);
        wire::storeBe16(head, at + 2, static_cast<uint16_t>(data.size()));
        wire::storeBe16(head, 2, static_cast<uint16_t>(at + 4 + padded - stun::kHeaderSize));
        sendToClient(a->tuple, std::span(head).first(at + 4), data, padded - data.size());
      }
      counters_.toClientPackets.add(1);
      counters_.toClientBytes.add(data.size());
    }
    flushToClients();
    if (static_cast<size_t>(n) < options_.batch) break;
  }
}

void TurnServer::queueToClient(const common::SockAddr& to, std::span<const std::byte> head,
                               std::span<const std::byte> body) {
  if (txCount_ == txMsgs_.size()) flushToClients();
  static constexpr std::array<std::byte, 3> kPad{};
  const size_t i = txCount_++;
  // Bodies of Data indications are padded to 4 bytes (§14): at most 3 zero bytes after them.
  const size_t pad = (head.size() > 4 && !body.empty()) ? ((4 - body.size() % 4) % 4) : 0;
  auto& h = txHead_[i];
  if (head.size() <= h.size()) {
    std::memcpy(h.data(), head.data(), head.size());
  } else {
    // Control replies (up to 1500 bytes) are sent at once rather than copied.
    ::sendto(listen_.get(), head.data(), head.size(), MSG_DONTWAIT, to.sa(), to.len());
    --txCount_;
    return;
  }
  txTo_[i] = to;
  txIov_[i] = {iovec{h.data(), head.size()}, iovec{const_cast<std::byte*>(body.data()), body.size()},
               iovec{const_cast<std::byte*>(kPad.data()), pad}};
  txMsgs_[i] = {};
  txMsgs_[i].msg_hdr.msg_iov = txIov_[i].data();
  txMsgs_[i].msg_hdr.msg_iovlen = 3;
  txMsgs_[i].msg_hdr.msg_name = const_cast<sockaddr*>(txTo_[i].sa());
  txMsgs_[i].msg_hdr.msg_namelen = txTo_[i].len();
}

void TurnServer::flushToClients() {
  size_t at = 0;
  while (at < txCount_) {  // as flushToPeers: progress or skip one per round
    const int n = ::sendmmsg(listen_.get(), txMsgs_.data() + at, static_cast<unsigned>(txCount_ - at), MSG_DONTWAIT);
    at += n > 0 ? static_cast<size_t>(n) : 1;
  }
  txCount_ = 0;
}

void TurnServer::queueToPeer(int fd, const common::SockAddr& to, std::span<const std::byte> body) {
  if (fd != peerFd_ || peerCount_ == peerMsgs_.size()) flushToPeers();
  peerFd_ = fd;
  const size_t i = peerCount_++;
  peerTo_[i] = to;
  peerIov_[i] = iovec{const_cast<std::byte*>(body.data()), body.size()};
  peerMsgs_[i] = {};
  peerMsgs_[i].msg_hdr.msg_iov = &peerIov_[i];
  peerMsgs_[i].msg_hdr.msg_iovlen = 1;
  peerMsgs_[i].msg_hdr.msg_name = const_cast<sockaddr*>(peerTo_[i].sa());
  peerMsgs_[i].msg_hdr.msg_namelen = peerTo_[i].len();
}

void TurnServer::flushToPeers() {
  // Each round either sends some or skips the one datagram the kernel refused (full buffer):
  // at most peerCount_ rounds.
  size_t at = 0, packets = 0, bytes = 0;
  while (at < peerCount_) {
    const int n = ::sendmmsg(peerFd_, peerMsgs_.data() + at, static_cast<unsigned>(peerCount_ - at), MSG_DONTWAIT);
    if (n <= 0) {
      ++at;
      continue;
    }
    for (size_t i = at; i < at + static_cast<size_t>(n); ++i) bytes += peerIov_[i].iov_len;
    packets += static_cast<size_t>(n);
    at += static_cast<size_t>(n);
  }
  counters_.toPeerPackets.add(packets);
  counters_.toPeerBytes.add(bytes);
  peerCount_ = 0;
}

std::optional<common::SockAddr> TurnServer::open(uint32_t id, uint8_t transport) {
  const uint32_t span = uint32_t{options_.portMax} - options_.portMin + 1;
  auto address = options_.relayAddress;
  for (uint32_t attempt = 0; attempt < span; ++attempt) {
    const auto port = static_cast<uint16_t>(nextPort_);
    nextPort_ = nextPort_ >= options_.portMax ? options_.portMin : nextPort_ + 1;
    address.setPort(port);
    if (!bindRelayed(id, transport, address)) continue;
    if (!options_.relayAdvertise) return address;
    auto shown = *options_.relayAdvertise;
    shown.setPort(port);
    return shown;
  }
  return std::nullopt;
}

bool TurnServer::bindRelayed(uint32_t id, uint8_t transport, const common::SockAddr& address) {
  if (transport == kTcp) return tcpRelay_->listen(id, address);
  common::Fd fd(::socket(address.isV6() ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid() || ::bind(fd.get(), address.sa(), address.len()) != 0) return false;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = id;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &ev);
  relays_[id] = std::move(fd);
  return true;
}

void TurnServer::close(uint32_t id) {
  tcpRelay_->closeAllocation(id);
  auto it = relays_.find(id);
  if (it == relays_.end()) return;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.get(), nullptr);
  relays_.erase(it);
}

}  // namespace rdv::turn

namespace rdv::turn {

// --- RFC 6062 TCP allocations: TurnTcpRelay holds the sockets, this answers for the allocation.

uint16_t TurnServer::connect(uint32_t id, const common::SockAddr& peer, const stun::TransactionId& tid,
                             uint64_t nowMs) {
  return tcpRelay_->connect(id, peer, tid, nowMs);
}

uint32_t TurnServer::awaitingBind(uint32_t connectionId, uint64_t nowMs) {
  return tcpRelay_->awaitingBind(connectionId, nowMs);
}

void TurnServer::bind(uint32_t connectionId, const FiveTuple& data, uint64_t nowMs) {
  if (!tcpRelay_->bind(connectionId, nowMs)) return;
  handOffs_[data] = connectionId;
  tcp_->handOff(data);
}

void TurnServer::onHandedOff(const FiveTuple& tuple, common::Fd fd, std::span<const std::byte> early) {
  auto it = handOffs_.find(tuple);
  if (it == handOffs_.end()) return;  // closes fd
  const uint32_t id = it->second;
  handOffs_.erase(it);
  tcpRelay_->attach(id, std::move(fd), early);
}

void TurnServer::onConnectDone(const TcpConnection& c, bool ok) {
  const Allocation* a = handler_.table().byId(c.allocationId);
  if (a == nullptr) return;
  std::array<std::byte, 256> out;
  stun::StunBuilder b(out, stun::method::kConnect,
                      ok ? stun::MessageClass::SuccessResponse : stun::MessageClass::ErrorResponse, c.tid);
  if (ok) {
    b.addU32(attr::kConnectionId, c.id);
  } else {
    b.addErrorCode(447, stun::reasonPhrase(447));
    counters_.refuse(Refusal::ConnectFailed);
  }
  b.addIntegrity(a->key);
  sendToClient(a->tuple, b.bytes(), {}, 0);
}

bool TurnServer::onPeerArrived(uint32_t allocationId, const common::SockAddr& peer, uint32_t connectionId) {
  Allocation* a = handler_.table().byId(allocationId);
  if (a == nullptr || !handler_.table().permitted(*a, peer, nowMs_)) return false;
  // RFC 6062 §5.3: ConnectionAttempt indication with XOR-PEER-ADDRESS and CONNECTION-ID.
  stun::TransactionId tid{};
  const uint64_t seq = ++indicationSeq_;
  std::memcpy(tid.data(), &seq, sizeof(seq));
  std::array<std::byte, 128> out;
  stun::StunBuilder b(out, stun::method::kConnectionAttempt, stun::MessageClass::Indication, tid);
  b.addXorAddress(attr::kXorPeerAddress, peer).addU32(attr::kConnectionId, connectionId);
  sendToClient(a->tuple, b.bytes(), {}, 0);
  return true;
}

}  // namespace rdv::turn
