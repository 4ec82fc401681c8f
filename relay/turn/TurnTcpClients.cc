#include "relay/turn/TurnTcpClients.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "media/RtpPacket.h"

namespace rdv::turn {

namespace {
constexpr uint64_t kListenerTag = TurnTcpClients::kTagBase;  // connection numbers start at 1
constexpr size_t kMaxFrame = 4 + 65535 + 3;                   // ChannelData with padding; STUN is 20 + 65535 at most
constexpr size_t kInBuffer = 20 + 65535;

// The size of the frame that starts `b` (at least 4 bytes): 0 = not STUN nor ChannelData.
size_t frameSize(std::span<const std::byte> b) {
  const uint8_t first = std::to_integer<uint8_t>(b[0]) >> 6;
  const size_t len = media::wire::loadBe16(b, 2);
  if (first == 0) return 20 + len;
  if (first == 1) return 4 + ((len + 3) & ~size_t{3});  // padded on streams (§12.5)
  return 0;
}
}  // namespace

TurnTcpClients::~TurnTcpClients() = default;

Expected<bool, std::string> TurnTcpClients::listen(const common::SockAddr& address) {
  listen_ = common::Fd(::socket(address.isV6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int one = 1;
  ::setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (!listen_.valid() || ::bind(listen_.get(), address.sa(), address.len()) != 0 || ::listen(listen_.get(), 512) != 0) {
    return Unexpected(fmt::format("turn.listen {} (tcp): {}", address.str(), std::strerror(errno)));
  }
  socklen_t len = common::SockAddr::kStorage;
  ::getsockname(listen_.get(), local_.storage(), &len);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerTag;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, listen_.get(), &ev);
  return true;
}

void TurnTcpClients::onEvent(uint64_t tag, uint32_t events) {
  if (tag == kListenerTag) {
    accept();
    return;
  }
  auto it = byTag_.find(tag);
  if (it == byTag_.end()) return;
  Conn& c = *it->second;
  if ((events & EPOLLOUT) != 0) flush(tag, c);
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && byTag_.contains(tag)) read(tag, c);
}

void TurnTcpClients::accept() {
  for (int i = 0; i < 64; ++i) {  // bounded per wake-up; level-triggered epoll comes back
    common::SockAddr peer;
    socklen_t len = common::SockAddr::kStorage;
    common::Fd fd(::accept4(listen_.get(), peer.storage(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) return;
    if (byTag_.size() >= kMaxConnections) continue;  // closed by Fd
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const uint64_t tag = kTagBase | nextConn_++;
    auto c = std::make_unique<Conn>();
    c->tuple = FiveTuple{peer, local_, kTcp};
    c->lastActiveMs = nowMs_;
    c->in.resize(kInBuffer);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd.get(), &ev);
    c->fd = std::move(fd);
    byTuple_[c->tuple] = tag;
    byTag_.emplace(tag, std::move(c));
  }
}

void TurnTcpClients::read(uint64_t tag, Conn& c) {
  const ssize_t n = ::recv(c.fd.get(), c.in.data() + c.have, c.in.size() - c.have, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    close(tag);
    return;
  }
  if (n < 0) return;
  c.have += static_cast<size_t>(n);
  c.lastActiveMs = nowMs_;
  size_t at = 0;
  while (c.have - at >= 4) {
    const auto rest = std::span(c.in).subspan(at, c.have - at);
    const size_t size = frameSize(rest);
    if (size == 0 || size > kMaxFrame) {
      close(tag);
      return;
    }
    if (rest.size() < size) break;
    // ChannelData padding is not part of the frame the parser sees.
    const size_t visible = (std::to_integer<uint8_t>(rest[0]) >> 6) == 1 ? 4 + media::wire::loadBe16(rest, 2) : size;
    const FiveTuple tuple = c.tuple;
    sink_.onFrame(rest.first(visible), tuple);
    if (!byTag_.contains(tag)) return;  // the sink may not close it, but stay safe
    at += size;
    if (c.handOff) {
      release(tag, c, at);
      return;
    }
  }
  if (at > 0) {
    std::memmove(c.in.data(), c.in.data() + at, c.have - at);
    c.have -= at;
  }
}

bool TurnTcpClients::write(const common::SockAddr& client, std::span<const std::byte> head,
                           std::span<const std::byte> body, size_t pad) {
  auto it = byTuple_.find(FiveTuple{client, local_, kTcp});
  if (it == byTuple_.end()) return false;
  const uint64_t tag = it->second;
  Conn& c = *byTag_.at(tag);
  static constexpr std::array<std::byte, 3> kPad{};
  const size_t total = head.size() + body.size() + pad;
  size_t done = 0;
  if (c.out.empty()) {
    iovec iov[3] = {{const_cast<std::byte*>(head.data()), head.size()},
                    {const_cast<std::byte*>(body.data()), body.size()},
                    {const_cast<std::byte*>(kPad.data()), pad}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 3;
    const ssize_t n = ::sendmsg(c.fd.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) return false;  // the read side will see the error and close
    done = n > 0 ? static_cast<size_t>(n) : 0;
    if (done == total) return true;
  } else if (c.out.size() + total > kMaxPendingBytes) {
    return false;
  }
  // Keep what the kernel did not take, in order, and wait for EPOLLOUT.
  auto append = [&](std::span<const std::byte> part) {
    const size_t skip = std::min(done, part.size());
    c.out.insert(c.out.end(), part.begin() + static_cast<ptrdiff_t>(skip), part.end());
    done -= skip;
  };
  append(head);
  append(body);
  append(std::span<const std::byte>(kPad).first(pad));
  if (!c.writing) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = tag;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd.get(), &ev);
    c.writing = true;
  }
  return true;
}

void TurnTcpClients::flush(uint64_t tag, Conn& c) {
  if (!c.out.empty()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) c.out.erase(c.out.begin(), c.out.begin() + n);
  }
  if (c.out.empty() && c.writing) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd.get(), &ev);
    c.writing = false;
  }
}

void TurnTcpClients::handOff(const common::SockAddr& client) {
  auto it = byTuple_.find(FiveTuple{client, local_, kTcp});
  if (it != byTuple_.end()) byTag_.at(it->second)->handOff = true;
}

void TurnTcpClients::release(uint64_t tag, Conn& c, size_t at) {
  if (!c.out.empty()) {  // the ConnectionBind answer, normally written at once
    const ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(c.out.size())) {
      close(tag);
      return;
    }
  }
  ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd.get(), nullptr);
  auto it = byTag_.find(tag);
  std::unique_ptr<Conn> owned = std::move(it->second);
  byTag_.erase(it);
  byTuple_.erase(owned->tuple);
  const auto early = std::span<const std::byte>(owned->in).subspan(at, owned->have - at);
  sink_.onHandedOff(owned->tuple, std::move(owned->fd), early);
}

void TurnTcpClients::close(uint64_t tag) {
  auto it = byTag_.find(tag);
  if (it == byTag_.end()) return;
  const FiveTuple tuple = it->second->tuple;
  ::epoll_ctl(epoll_, EPOLL_CTL_DEL, it->second->fd.get(), nullptr);
  byTuple_.erase(tuple);
  byTag_.erase(it);
  sink_.onClosed(tuple);
}

}  // namespace rdv::turn
