#include "signaling/SipTransport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace rdv::signaling {
namespace {

constexpr uint64_t kUdpTag = 1;
constexpr uint64_t kListenTag = 2;
constexpr size_t kMaxMessage = 65536;
constexpr size_t kMaxOutBuffer = 1 << 20;
constexpr size_t kMaxConnections = 4096;

std::optional<relay::SockAddr> parseHostPort(const std::string& hp) {
  auto colon = hp.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  unsigned port = 0;
  auto ps = std::string_view(hp).substr(colon + 1);
  auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
  if (ec != std::errc() || port > 65535) return std::nullopt;
  return relay::SockAddr::fromIp(std::string_view(hp).substr(0, colon), static_cast<uint16_t>(port));
}

}  // namespace

uint64_t nowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

SipTransport::SipTransport(MessageHandler onMessage, ClosedHandler onClosed)
    : onMessage_(std::move(onMessage)), onClosed_(std::move(onClosed)), epoll_(epoll_create1(EPOLL_CLOEXEC)) {}

SipTransport::~SipTransport() = default;

Expected<bool, std::string> SipTransport::listen(const std::string& hostPort) {
  auto addr = parseHostPort(hostPort);
  if (!addr) return Unexpected(fmt::format("SIP listen address '{}' is not host:port", hostPort));
  const int family = addr->isV6() ? AF_INET6 : AF_INET;
  relay::Fd udp(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!udp.valid() || ::bind(udp.get(), addr->sa(), addr->len()) != 0) {
    return Unexpected(fmt::format("cannot bind SIP UDP {}: {}", hostPort, std::strerror(errno)));
  }
  int buf = 4 << 20;
  setsockopt(udp.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  relay::Fd tcp(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(tcp.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (!tcp.valid() || ::bind(tcp.get(), addr->sa(), addr->len()) != 0 || ::listen(tcp.get(), 512) != 0) {
    return Unexpected(fmt::format("cannot listen on SIP TCP {}: {}", hostPort, std::strerror(errno)));
  }
  local_ = *addr;
  udp_ = std::move(udp);
  listener_ = std::move(tcp);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kUdpTag;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, udp_.get(), &ev);
  ev.data.u64 = kListenTag;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listener_.get(), &ev);
  return true;
}

void SipTransport::onReadable() {
  epoll_event events[64];
  int n = epoll_wait(epoll_.get(), events, 64, 0);
  for (int i = 0; i < n; ++i) {
    const uint64_t tag = events[i].data.u64;
    if (tag == kUdpTag) {
      readUdp();
    } else if (tag == kListenTag) {
      acceptTcp();
    } else {
      if ((events[i].events & EPOLLOUT) != 0) flushTcp(tag);
      if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) readTcp(tag);
    }
  }
}

void SipTransport::rejectUnparsable(std::string_view bytes, const SipError& err, const SipPeer& from) {
  std::string reply = buildBadRequest(bytes, err.reason);
  if (reply.empty()) {
    counters_.dropped.add(1);
    spdlog::debug("sip: dropped {} unparsable bytes from {}: {}", bytes.size(), from.addr.str(), err.reason);
    return;
  }
  counters_.malformed.add(1);
  spdlog::info("sip: 400 {} to {}", err.reason, from.addr.str());
  send(from, reply);
}

void SipTransport::readUdp() {
  static thread_local std::string buf(kMaxMessage, '\0');
  for (int budget = 0; budget < 256; ++budget) {
    SipPeer from;
    socklen_t len = relay::SockAddr::kStorage;
    ssize_t n = ::recvfrom(udp_.get(), buf.data(), buf.size(), MSG_DONTWAIT, from.addr.storage(), &len);
    if (n < 0) return;
    std::string_view data(buf.data(), static_cast<size_t>(n));
    if (skipKeepalive(data) == data.size()) continue;  // CRLF keep-alive: nothing to answer on UDP
    counters_.received.add(1);
    auto msg = SipMessage::parse(std::string(data));
    if (!msg) {
      rejectUnparsable(data, msg.error(), from);
      continue;
    }
    onMessage_(std::move(*msg), from);
  }
}

void SipTransport::acceptTcp() {
  for (;;) {
    relay::SockAddr peer;
    socklen_t len = relay::SockAddr::kStorage;
    int fd = ::accept4(listener_.get(), peer.storage(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (conns_.size() >= kMaxConnections) {
      ::close(fd);
      counters_.dropped.add(1);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    uint64_t id = nextConnId_++;
    Connection c;
    c.fd = relay::Fd(fd);
    c.peer = peer;
    c.lastMs = nowMs();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
    conns_.emplace(id, std::move(c));
    counters_.connections.set(conns_.size());
  }
}

void SipTransport::readTcp(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Connection& c = it->second;
  char buf[16384];
  bool closed = false;
  for (;;) {
    ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      if (c.in.size() > 2 * kMaxMessage) break;  // framing below will reject it
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) closed = true;
    break;
  }
  c.lastMs = nowMs();
  SipPeer from{c.peer, SipTransportKind::Tcp, id};
  size_t pos = 0;
  while (pos < c.in.size()) {
    std::string_view rest = std::string_view(c.in).substr(pos);
    size_t ka = skipKeepalive(rest);
    if (ka > 0) {
      // RFC 5626 §3.5.1: a double CRLF ping gets a single CRLF pong.
      if (rest.substr(0, ka).find("\r\n\r\n") != std::string_view::npos) send(from, "\r\n");
      pos += ka;
      continue;
    }
    auto frame = sipFrameLength(rest, kMaxMessage);
    if (!frame) {
      rejectUnparsable(rest, frame.error(), from);
      close(id);
      return;
    }
    if (*frame == 0) break;  // incomplete
    counters_.received.add(1);
    auto msg = SipMessage::parse(std::string(rest.substr(0, *frame)));
    pos += *frame;
    if (!msg) {
      rejectUnparsable(rest.substr(0, *frame), msg.error(), from);
      continue;
    }
    onMessage_(std::move(*msg), from);
    it = conns_.find(id);  // the handler may have sent and failed, closing the connection
    if (it == conns_.end()) return;
  }
  it->second.in.erase(0, pos);
  if (closed) close(id);
}

bool SipTransport::send(const SipPeer& to, std::string_view data) {
  if (to.kind == SipTransportKind::Udp) {
    ssize_t n = ::sendto(udp_.get(), data.data(), data.size(), MSG_DONTWAIT, to.addr.sa(), to.addr.len());
    if (n < 0) return false;
    counters_.sent.add(1);
    return true;
  }
  auto it = conns_.find(to.connId);
  if (it == conns_.end()) return false;
  Connection& c = it->second;
  if (c.out.size() + data.size() > kMaxOutBuffer) {
    spdlog::warn("sip: TCP peer {} is not reading; closing", c.peer.str());
    close(to.connId);
    return false;
  }
  c.out.append(data);
  counters_.sent.add(1);
  flushTcp(to.connId);
  return true;
}

void SipTransport::flushTcp(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Connection& c = it->second;
  while (!c.out.empty()) {
    ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    close(id);
    return;
  }
  const bool want = !c.out.empty();
  if (want != c.wantWrite) {
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0U);
    ev.data.u64 = id;
    epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
    c.wantWrite = want;
  }
}

void SipTransport::close(uint64_t id) {
  if (conns_.erase(id) == 0) return;
  counters_.connections.set(conns_.size());
  onClosed_(id);
}

void SipTransport::closeIdle(uint64_t now, uint64_t idleMs) {
  std::vector<uint64_t> idle;
  for (const auto& [id, c] : conns_) {
    if (now - c.lastMs > idleMs) idle.push_back(id);
  }
  for (auto id : idle) close(id);
}

}  // namespace rdv::signaling
