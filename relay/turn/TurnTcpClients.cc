#include "relay/turn/TurnTcpClients.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "media/RtpPacket.h"

namespace rdv::turn {

namespace {
constexpr uint64_t kListenerTag = TurnTcpClients::kTagBase;  // connection numbers start at 1
constexpr uint64_t kTlsListenerTag = TurnTcpClients::kTagBase | (uint64_t{1} << 48);
constexpr size_t kMaxFrame = 4 + 65535 + 3;                   // ChannelData with padding; STUN is 20 + 65535 at most

// The size of the frame that starts `b` (at least 4 bytes): 0 = not STUN nor ChannelData.
size_t frameSize(std::span<const std::byte> b) {
  const uint8_t first = std::to_integer<uint8_t>(b[0]) >> 6;
  const size_t len = media::wire::loadBe16(b, 2);
  if (first == 0) return 20 + len;
  if (first == 1) return 4 + ((len + 3) & ~size_t{3});  // padded on streams (§12.5)
  return 0;
}
}  // namespace

void TurnTcpClients::SslFree::operator()(ssl_st* ssl) const { SSL_free(ssl); }
void TurnTcpClients::SslCtxFree::operator()(ssl_ctx_st* ctx) const { SSL_CTX_free(ctx); }

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

Expected<bool, std::string> TurnTcpClients::listenTls(const common::SockAddr& address, ssl_ctx_st* ctx) {
  tlsListen_ = common::Fd(::socket(address.isV6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int one = 1;
  ::setsockopt(tlsListen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (!tlsListen_.valid() || ::bind(tlsListen_.get(), address.sa(), address.len()) != 0 ||
      ::listen(tlsListen_.get(), 512) != 0) {
    return Unexpected(fmt::format("turn.tls_listen {}: {}", address.str(), std::strerror(errno)));
  }
  socklen_t len = common::SockAddr::kStorage;
  ::getsockname(tlsListen_.get(), tlsLocal_.storage(), &len);
  SSL_CTX_up_ref(ctx);
  tlsCtx_.reset(ctx);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTlsListenerTag;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, tlsListen_.get(), &ev);
  return true;
}

void TurnTcpClients::onEvent(uint64_t tag, uint32_t events) {
  if (tag == kListenerTag || tag == kTlsListenerTag) {
    accept(tag == kTlsListenerTag);
    return;
  }
  auto it = byTag_.find(tag);
  if (it == byTag_.end()) return;
  Conn& c = *it->second;
  if ((events & EPOLLOUT) != 0) flush(tag, c);
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && byTag_.contains(tag)) read(tag, c);
}

void TurnTcpClients::accept(bool tls) {
  for (int i = 0; i < 64; ++i) {  // bounded per wake-up; level-triggered epoll comes back
    common::SockAddr peer;
    socklen_t len = common::SockAddr::kStorage;
    common::Fd fd(::accept4((tls ? tlsListen_ : listen_).get(), peer.storage(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) return;
    auto c = std::make_unique<Conn>();
    if (tls) {
      c->tls.reset(SSL_new(tlsCtx_.get()));
      if (!c->tls || SSL_set_fd(c->tls.get(), fd.get()) != 1) continue;
      SSL_set_accept_state(c->tls.get());  // the handshake runs inside the first SSL_read
    }
    if (!admit(fd.get(), peer)) continue;  // reset when fd closes
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const uint64_t tag = kTagBase | nextConn_++;
    c->tuple = FiveTuple{peer, tls ? tlsLocal_ : local_, kTcp};
    c->lastActiveMs = nowMs_;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd.get(), &ev);
    c->fd = std::move(fd);
    byTuple_[c->tuple] = tag;
    byTag_.emplace(tag, std::move(c));
    counters_.tcpClients.set(byTag_.size());
  }
}

bool TurnTcpClients::admit(int fd, const common::SockAddr& peer) {
  std::optional<Refusal> why;
  auto it = perSource_.find(peer.ip());
  const size_t fromPeer = it == perSource_.end() ? 0 : it->second;
  if (limits_.maxPerSource != 0 && fromPeer >= limits_.maxPerSource) {
    why = Refusal::TcpSourceLimit;
  } else if (byTag_.size() >= limits_.maxConnections) {
    why = Refusal::TcpConnectionLimit;
  }
  if (why) {
    counters_.refuse(*why);  // before the RST: a client may look right after it
    const linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    return false;
  }
  if (it == perSource_.end()) {
    perSource_.emplace(peer.ip(), 1);
  } else {
    ++it->second;
  }
  return true;
}

void TurnTcpClients::forget(const FiveTuple& tuple) {
  byTuple_.erase(tuple);
  auto it = perSource_.find(tuple.client.ip());
  if (it != perSource_.end() && --it->second == 0) perSource_.erase(it);
}

void TurnTcpClients::shrinkIdleBuffer(Conn& c) {
  if (c.have == 0 && c.in.size() > kInitialInput) {
    c.in.resize(kInitialInput);
    c.in.shrink_to_fit();
  }
}

ssize_t TurnTcpClients::receive(Conn& c) {
  if (c.in.empty()) c.in.resize(kInitialInput);  // deliver() keeps room for the frame being read
  const size_t room = c.in.size() - c.have;
  if (c.tls) {
    ERR_clear_error();
    const int n = SSL_read(c.tls.get(), c.in.data() + c.have, static_cast<int>(room));
    if (n > 0) return n;
    const int e = SSL_get_error(c.tls.get(), n);
    return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? 0 : -1;
  }
  const ssize_t n = ::recv(c.fd.get(), c.in.data() + c.have, room, MSG_DONTWAIT);
  if (n > 0) return n;
  return (n < 0 && (errno == EAGAIN || errno == EINTR)) ? 0 : -1;
}

void TurnTcpClients::read(uint64_t tag, Conn& c) {
  // OpenSSL may hold decrypted bytes the socket no longer signals: read while it has some.
  for (int round = 0; round < 16; ++round) {
    const ssize_t n = receive(c);
    if (n < 0) {
      close(tag);
      return;
    }
    if (n == 0) return;
    c.have += static_cast<size_t>(n);
    if (!deliver(tag, c)) return;
    if (!c.tls || SSL_pending(c.tls.get()) == 0) return;
  }
}

// Hands every complete frame in c.in to the sink; false when the connection is gone.
bool TurnTcpClients::deliver(uint64_t tag, Conn& c) {
  c.lastActiveMs = nowMs_;
  size_t at = 0;
  while (c.have - at >= 4) {
    const auto rest = std::span(c.in).subspan(at, c.have - at);
    const size_t size = frameSize(rest);
    if (size == 0 || size > kMaxFrame) {
      close(tag);
      return false;
    }
    if (rest.size() < size) break;
    // ChannelData padding is not part of the frame the parser sees.
    const size_t visible = (std::to_integer<uint8_t>(rest[0]) >> 6) == 1 ? 4 + media::wire::loadBe16(rest, 2) : size;
    const FiveTuple tuple = c.tuple;
    sink_.onFrame(rest.first(visible), tuple);
    if (!byTag_.contains(tag)) return false;  // the sink may not close it, but stay safe
    at += size;
    if (c.handOff) {
      release(tag, c, at);
      return false;
    }
  }
  if (at > 0) {
    std::memmove(c.in.data(), c.in.data() + at, c.have - at);
    c.have -= at;
  }
  // Room for the whole frame being read once its size is known (checked above); a buffer grown for
  // a large frame goes back to kInitialInput in sweep(), not per frame.
  if (c.have >= 4) {
    const size_t need = frameSize(std::span(c.in).first(c.have));
    if (need > c.in.size()) c.in.resize(need);
  }
  return true;
}

bool TurnTcpClients::write(const FiveTuple& client, std::span<const std::byte> head,
                           std::span<const std::byte> body, size_t pad) {
  auto it = byTuple_.find(client);
  if (it == byTuple_.end()) return false;
  const uint64_t tag = it->second;
  Conn& c = *byTag_.at(tag);
  static constexpr std::array<std::byte, 3> kPad{};
  const size_t total = head.size() + body.size() + pad;
  size_t done = 0;
  if (c.tls) {  // through OpenSSL: copied into the pending buffer, then written from there
    if (c.out.size() + total > kMaxPendingBytes) return false;
    c.out.insert(c.out.end(), head.begin(), head.end());
    c.out.insert(c.out.end(), body.begin(), body.end());
    c.out.insert(c.out.end(), kPad.begin(), kPad.begin() + static_cast<ptrdiff_t>(pad));
    flush(tag, c);
    return true;
  }
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
  if (c.tls) {
    size_t done = 0;
    for (int round = 0; round < 64 && done < c.out.size(); ++round) {  // partial writes are on
      ERR_clear_error();
      const int n = SSL_write(c.tls.get(), c.out.data() + done, static_cast<int>(c.out.size() - done));
      if (n <= 0) break;  // WANT_WRITE (EPOLLOUT comes), WANT_READ (handshake), or an error the read sees
      done += static_cast<size_t>(n);
    }
    c.out.erase(c.out.begin(), c.out.begin() + static_cast<ptrdiff_t>(done));
  } else if (!c.out.empty()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) c.out.erase(c.out.begin(), c.out.begin() + n);
  }
  if (c.out.empty() == c.writing) {
    epoll_event ev{};
    ev.events = c.out.empty() ? EPOLLIN : (EPOLLIN | EPOLLOUT);
    ev.data.u64 = tag;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd.get(), &ev);
    c.writing = !c.out.empty();
  }
}

void TurnTcpClients::handOff(const FiveTuple& client) {
  auto it = byTuple_.find(client);
  if (it != byTuple_.end()) byTag_.at(it->second)->handOff = true;
}

void TurnTcpClients::release(uint64_t tag, Conn& c, size_t at) {
  if (c.tls) {  // bytes through OpenSSL cannot be spliced: RFC 6062 data connections are TCP only
    close(tag);
    return;
  }
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
  forget(owned->tuple);
  counters_.tcpClients.set(byTag_.size());
  const auto early = std::span<const std::byte>(owned->in).subspan(at, owned->have - at);
  sink_.onHandedOff(owned->tuple, std::move(owned->fd), early);
}

void TurnTcpClients::close(uint64_t tag) {
  auto it = byTag_.find(tag);
  if (it == byTag_.end()) return;
  std::unique_ptr<Conn> gone = std::move(it->second);
  byTag_.erase(it);
  counters_.tcpClients.set(byTag_.size());  // before the client can see the close
  ::epoll_ctl(epoll_, EPOLL_CTL_DEL, gone->fd.get(), nullptr);
  forget(gone->tuple);
  const FiveTuple tuple = gone->tuple;
  gone.reset();
  sink_.onClosed(tuple);
}

}  // namespace rdv::turn
