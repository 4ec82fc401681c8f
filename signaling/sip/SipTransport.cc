#include "signaling/sip/SipTransport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "signaling/sip/SipBadRequest.h"
#include "signaling/sip/SipFraming.h"
#include "signaling/sip/WsFrame.h"

namespace rdv::sip {
namespace {

constexpr uint64_t kUdpTag = 1;
constexpr uint64_t kListenTag = 2;
constexpr uint64_t kTlsListenTag = 3;
// Epoll tags of TLS connections are their id with this bit set; connection ids never reach it.
constexpr uint64_t kTlsBit = uint64_t{1} << 63;
constexpr uint64_t kTlsHandshakeMs = 10'000;
constexpr uint64_t kConnectMs = 10'000;  // as Kamailio's tcp_connect_timeout
constexpr size_t kMaxMessage = SipTransport::kMaxStreamMessage;
constexpr size_t kMaxOutBuffer = 1 << 20;
constexpr size_t kMaxConnections = 4096;

std::string outboundKeyOf(SipTransportKind kind, const common::SockAddr& to) {
  return fmt::format("{}/{}", kind == SipTransportKind::Tls ? "tls" : "tcp", to.str());
}

// The reason for the most recent OpenSSL failure on this thread, for logs and start-up errors.
std::string sslError() {
  const unsigned long e = ERR_peek_last_error();
  if (e == 0) return errno != 0 ? std::strerror(errno) : "connection closed";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

}  // namespace

void SipTransport::SslFree::operator()(ssl_st* ssl) const { SSL_free(ssl); }
void SipTransport::SslCtxFree::operator()(ssl_ctx_st* ctx) const { SSL_CTX_free(ctx); }

SipTransport::SipTransport(MessageHandler onMessage, ClosedHandler onClosed, const common::Clock& clock)
    : onMessage_(std::move(onMessage)), onClosed_(std::move(onClosed)), clock_(clock), epoll_(epoll_create1(EPOLL_CLOEXEC)) {}

SipTransport::~SipTransport() = default;

Expected<bool, std::string> SipTransport::listen(const std::string& hostPort) {
  auto addr = common::SockAddr::parseHostPort(hostPort);
  if (!addr) return Unexpected(fmt::format("SIP listen address '{}' is not host:port", hostPort));
  const int family = addr->isV6() ? AF_INET6 : AF_INET;
  common::Fd udp(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!udp.valid() || ::bind(udp.get(), addr->sa(), addr->len()) != 0) {
    return Unexpected(fmt::format("cannot bind SIP UDP {}: {}", hostPort, std::strerror(errno)));
  }
  int buf = 4 << 20;
  setsockopt(udp.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  common::Fd tcp(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
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

Expected<SipTransport::TlsContext, std::string> SipTransport::serverContext(const std::string& certFile,
                                                                             const std::string& keyFile) {
  if (::access(certFile.c_str(), R_OK) != 0) {
    return Unexpected(
        fmt::format("cannot read TLS certificate file '{}': {}", certFile, std::strerror(errno)));
  }
  if (::access(keyFile.c_str(), R_OK) != 0) {
    return Unexpected(
        fmt::format("cannot read TLS private key file '{}': {}", keyFile, std::strerror(errno)));
  }
  ERR_clear_error();
  TlsContext ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Unexpected(fmt::format("cannot create a TLS context: {}", sslError()));
  // RFC 3261 §26.2.1 asks for TLS; anything below 1.2 is obsolete (RFC 8996).
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Output is a std::string that may move between a WANT_WRITE and the retry.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), certFile.c_str()) != 1) {
    return Unexpected(
        fmt::format("TLS certificate file '{}' holds no usable PEM certificate: {}", certFile, sslError()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), keyFile.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Unexpected(fmt::format("TLS private key file '{}' is no PEM key for the certificate in '{}': {}",
                                  keyFile, certFile, sslError()));
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Unexpected(
        fmt::format("TLS private key file '{}' does not match the certificate in '{}'", keyFile, certFile));
  }
  return ctx;
}

Expected<bool, std::string> SipTransport::listenTls(const std::string& hostPort, const std::string& certFile,
                                                    const std::string& keyFile) {
  auto addr = common::SockAddr::parseHostPort(hostPort);
  if (!addr) return Unexpected(fmt::format("SIP TLS listen address '{}' is not host:port", hostPort));
  auto ctx = serverContext(certFile, keyFile);
  if (!ctx) return Unexpected(ctx.error());
  const int family = addr->isV6() ? AF_INET6 : AF_INET;
  common::Fd tcp(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(tcp.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (!tcp.valid() || ::bind(tcp.get(), addr->sa(), addr->len()) != 0 || ::listen(tcp.get(), 512) != 0) {
    return Unexpected(fmt::format("cannot listen on SIP TLS {}: {}", hostPort, std::strerror(errno)));
  }
  tlsCtx_ = std::move(ctx).value();
  tlsLocal_ = *addr;
  socklen_t len = common::SockAddr::kStorage;
  getsockname(tcp.get(), tlsLocal_.storage(), &len);  // the port chosen when hostPort names port 0
  tlsListener_ = std::move(tcp);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTlsListenTag;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, tlsListener_.get(), &ev);
  return true;
}

Expected<bool, std::string> SipTransport::reloadTlsCertificate(const std::string& certFile,
                                                               const std::string& keyFile) {
  if (!tlsCtx_) return Unexpected(std::string("SIP over TLS is not listening"));
  auto ctx = serverContext(certFile, keyFile);
  if (!ctx) return Unexpected(ctx.error());
  // Releasing our reference to the old context is safe while connections still use it: SSL_new
  // takes a reference of its own (SSL_CTX_up_ref) that SSL_free drops, so the old SSL_CTX lives
  // until the last connection accepted with it closes. SSL_set_SSL_CTX is not needed: a
  // connection keeps the certificate it was accepted with.
  tlsCtx_ = std::move(ctx).value();
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
      acceptTcp(false, false);
    } else if (tag == kTlsListenTag) {
      acceptTcp(true, false);
    } else if (tag == kWsListenTag) {
      acceptTcp(false, true);
    } else if (tag == kWssListenTag) {
      acceptTcp(true, true);
    } else if (auto c = conns_.find(tag & ~kTlsBit); c != conns_.end() && c->second.connecting) {
      finishConnect(tag & ~kTlsBit);
    } else if ((tag & kTlsBit) != 0) {
      serviceTls(tag & ~kTlsBit);  // whatever the event, retry what the TLS state waits for
    } else {
      if ((events[i].events & EPOLLOUT) != 0) flushTcp(tag);
      if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) readTcp(tag);
    }
  }
}

void SipTransport::rejectUnparsable(std::string_view bytes, const SipError& err, const SipPeer& from) {
  std::string reply = buildBadRequest(bytes, err);
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
    socklen_t len = common::SockAddr::kStorage;
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
    msg->setSource(from.addr.ip(), from.addr.port());  // responses get received/rport (RFC 3581)
    countReceived(*msg);
    onMessage_(std::move(*msg), from);
  }
}

void SipTransport::acceptTcp(bool tls, bool ws) {
  const int listener = ws ? (tls ? wssListener_.get() : wsListener_.get()) : (tls ? tlsListener_.get() : listener_.get());
  for (;;) {
    common::SockAddr peer;
    socklen_t len = common::SockAddr::kStorage;
    int fd = ::accept4(listener, peer.storage(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
    c.fd = common::Fd(fd);
    c.peer = peer;
    c.lastMs = clock_.monotonicMs();
    if (ws) c.ws = Connection::Ws::Handshake;
    if (tls) {
      c.tls.reset(SSL_new(tlsCtx_.get()));
      if (!c.tls || SSL_set_fd(c.tls.get(), fd) != 1) {
        counters_.dropped.add(1);
        continue;  // c.fd closes the socket
      }
      SSL_set_accept_state(c.tls.get());
      c.handshaking = true;  // the ClientHello arrives as EPOLLIN
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tls ? (id | kTlsBit) : id;
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
  c.lastMs = clock_.monotonicMs();
  deliverStream(id, c, kindOf(c), closed);
}

SipTransportKind SipTransport::kindOf(const Connection& c) {
  if (c.ws != Connection::Ws::No) return c.tls ? SipTransportKind::Wss : SipTransportKind::Ws;
  return c.tls ? SipTransportKind::Tls : SipTransportKind::Tcp;
}

void SipTransport::deliverStream(uint64_t id, Connection& c, SipTransportKind kind, bool closed) {
  if (c.ws != Connection::Ws::No) {
    deliverWs(id, c, closed);
    return;
  }
  SipPeer from{c.peer, kind, id};
  // Anything sent from here may fail and close the connection, freeing `c`.
  auto gone = [&] { return conns_.find(id) == conns_.end(); };
  size_t pos = 0;
  while (pos < c.in.size()) {
    std::string_view rest = std::string_view(c.in).substr(pos);
    size_t ka = skipKeepalive(rest);
    if (ka > 0) {
      // RFC 5626 §3.5.1: a double CRLF ping gets a single CRLF pong.
      if (rest.substr(0, ka).find("\r\n\r\n") != std::string_view::npos) {
        send(from, "\r\n");
        if (gone()) return;
      }
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
      if (gone()) return;
      continue;
    }
    msg->setSource(from.addr.ip(), from.addr.port());
    countReceived(*msg);
    onMessage_(std::move(*msg), from);
    if (gone()) return;  // the handler may have sent and failed, closing the connection
  }
  c.in.erase(0, pos);
  if (closed) close(id);
}

void SipTransport::countSent(std::string_view data) {
  counters_.sent.add(1);
  // "SIP/2.0 NNN ": a response; its class is the first digit.
  if (data.size() > 8 && data.substr(0, 8) == "SIP/2.0 " && data[8] >= '1' && data[8] <= '6') {
    counters_.responsesSent[static_cast<size_t>(data[8] - '0')].add(1);
  }
}

void SipTransport::countReceived(const SipMessage& msg) {
  if (msg.isRequest()) return;
  const int cls = msg.status() / 100;
  if (cls >= 1 && cls <= 6) counters_.responsesReceived[static_cast<size_t>(cls)].add(1);
}

SendResult SipTransport::send(const SipPeer& to, std::string_view data) {
  if (to.kind == SipTransportKind::Udp) {
    ssize_t n = ::sendto(udp_.get(), data.data(), data.size(), MSG_DONTWAIT, to.addr.sa(), to.addr.len());
    if (n < 0) return {};
    countSent(data);
    return {true, 0};
  }
  uint64_t id = to.connId;
  auto it = conns_.find(id);
  if (it == conns_.end()) {
    id = outboundFor(to);
    it = conns_.find(id);
    if (it == conns_.end()) return {};
  }
  Connection& c = it->second;
  if (c.ws == Connection::Ws::Handshake) return {};
  if (c.out.size() + data.size() > kMaxOutBuffer) {
    spdlog::warn("sip: TCP peer {} is not reading; closing", c.peer.str());
    close(id);
    return {};
  }
  if (c.ws == Connection::Ws::Open) {
    // RFC 7118 §5: a text frame when the message is ASCII (a browser fails the connection on a text
    // frame that is not UTF-8), else a binary one.
    const bool ascii = std::all_of(data.begin(), data.end(), [](char ch) { return (ch & 0x80) == 0; });
    appendWsFrame(c.out, ascii ? WsOpcode::Text : WsOpcode::Binary, data);
  } else {
    c.out.append(data);
  }
  countSent(data);
  if (c.connecting) return {true, id};  // finishConnect flushes
  if (c.tls) {
    flushTls(id);
  } else {
    flushTcp(id);
  }
  return {conns_.count(id) != 0, id};  // a failed write closed it
}

uint64_t SipTransport::outboundFor(const SipPeer& to) {
  if (!to.reconnectTo.valid() || to.reconnectTo.port() == 0) return 0;
  if (to.kind != SipTransportKind::Tcp && to.kind != SipTransportKind::Tls) return 0;  // WS: the client connects
  const bool tls = to.kind == SipTransportKind::Tls;
  std::string key = outboundKeyOf(to.kind, to.reconnectTo);
  if (auto it = outbound_.find(key); it != outbound_.end()) return it->second;
  auto refuse = [&](std::string_view why) {
    counters_.outboundFailures.add(1);
    spdlog::info("sip: cannot connect to {} over {}: {}", to.reconnectTo.str(), tls ? "TLS" : "TCP", why);
    return uint64_t{0};
  };
  if (conns_.size() >= kMaxConnections) return refuse("too many connections");
  const common::SockAddr& addr = to.reconnectTo;
  common::Fd fd(::socket(addr.isV6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return refuse(std::strerror(errno));
  int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd.get(), addr.sa(), addr.len()) != 0 && errno != EINPROGRESS) {
    return refuse(std::strerror(errno));
  }
  Connection c;
  if (tls) {
    ssl_ctx_st* ctx = tlsClientContext();
    c.tls.reset(ctx != nullptr ? SSL_new(ctx) : nullptr);
    if (!c.tls || SSL_set_fd(c.tls.get(), fd.get()) != 1) return refuse(sslError());
    SSL_set_connect_state(c.tls.get());
  }
  const uint64_t id = nextConnId_++;
  // Writable once connected; a refusal raises EPOLLERR, which is always reported.
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = tls ? (id | kTlsBit) : id;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &ev);
  c.fd = std::move(fd);
  c.peer = addr;
  c.lastMs = clock_.monotonicMs();
  c.wantWrite = true;
  c.connecting = true;
  c.outboundKey = key;
  conns_.emplace(id, std::move(c));
  outbound_.emplace(std::move(key), id);
  counters_.connections.set(conns_.size());
  counters_.outboundConnections.add(1);
  spdlog::info("sip: connecting to {} over {} (connection {})", addr.str(), tls ? "TLS" : "TCP", id);
  return id;
}

void SipTransport::finishConnect(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Connection& c = it->second;
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    failOutbound(id, std::strerror(err));
    return;
  }
  c.connecting = false;
  c.lastMs = clock_.monotonicMs();
  // Both directions until the flush or the handshake says what it waits for.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u64 = c.tls ? (id | kTlsBit) : id;
  epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
  c.wantWrite = true;
  spdlog::debug("sip: connection {} to {} is up", id, c.peer.str());
  if (c.tls) {
    c.handshaking = true;
    serviceTls(id);
  } else {
    flushTcp(id);
  }
}

void SipTransport::failOutbound(uint64_t id, std::string_view why) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  counters_.outboundFailures.add(1);
  spdlog::info("sip: connection {} to {} failed: {}", id, it->second.peer.str(), why);
  close(id);
}

ssl_ctx_st* SipTransport::tlsClientContext() {
  if (tlsClientCtx_) return tlsClientCtx_.get();
  tlsClientCtx_.reset(SSL_CTX_new(TLS_client_method()));
  if (!tlsClientCtx_) return nullptr;
  SSL_CTX_set_min_proto_version(tlsClientCtx_.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(tlsClientCtx_.get(), SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(tlsClientCtx_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                            SSL_MODE_RELEASE_BUFFERS);
  // The phone's certificate is not verified. This checks nothing beyond what our server side
  // does today, which asks phones for no certificate at all: the link is encrypted, and the party
  // is the one that registered from that address with digest credentials. Verifying phones'
  // certificates (and sips: URIs) would need a trust store for them, which we do not have.
  SSL_CTX_set_verify(tlsClientCtx_.get(), SSL_VERIFY_NONE, nullptr);
  return tlsClientCtx_.get();
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
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  if (!it->second.outboundKey.empty()) outbound_.erase(it->second.outboundKey);
  conns_.erase(it);
  counters_.connections.set(conns_.size());
  onClosed_(id);
}

void SipTransport::closeIdle(uint64_t idleMs) {
  const uint64_t now = clock_.monotonicMs();
  std::vector<uint64_t> idle;
  std::vector<uint64_t> stalled;
  std::vector<uint64_t> unconnected;
  for (const auto& [id, c] : conns_) {
    if (c.connecting && now - c.lastMs > std::min(idleMs, kConnectMs)) {
      unconnected.push_back(id);
    } else if (c.handshaking && now - c.lastMs > std::min(idleMs, kTlsHandshakeMs)) {
      stalled.push_back(id);
    } else if (now - c.lastMs > idleMs) {
      idle.push_back(id);
    }
  }
  for (auto id : idle) close(id);
  for (auto id : stalled) failHandshake(id, "no handshake within the time limit");
  for (auto id : unconnected) failOutbound(id, "not connected within the time limit");
}

// TLS connections. Every epoll event on one runs serviceTls, which advances the handshake or
// else retries the pending write and reads: SSL_read may need the socket writable and SSL_write
// readable (RFC 8446 §4.6.3 key updates), so both directions are retried on either event.
// EPOLLIN stays registered; EPOLLOUT only while an SSL call waits for it.

void SipTransport::failHandshake(uint64_t id, std::string_view why) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  counters_.tlsHandshakeFailures.add(1);
  if (!it->second.outboundKey.empty()) counters_.outboundFailures.add(1);
  spdlog::info("sip: TLS handshake with {} failed: {}", it->second.peer.str(), why);
  close(id);
}

void SipTransport::serviceTls(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Connection& c = it->second;
  c.tlsWantsWrite = false;
  if (c.handshaking) {
    ERR_clear_error();
    errno = 0;
    const int r = SSL_do_handshake(c.tls.get());
    if (r != 1) {
      const int e = SSL_get_error(c.tls.get(), r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        failHandshake(id, sslError());
        return;
      }
      c.tlsWantsWrite = e == SSL_ERROR_WANT_WRITE;
      updateTlsInterest(id, c);
      return;
    }
    c.handshaking = false;
    c.lastMs = clock_.monotonicMs();
    spdlog::debug("sip: TLS connection {} from {}: {} {}", id, c.peer.str(), SSL_get_version(c.tls.get()),
                  SSL_get_cipher_name(c.tls.get()));
  }
  flushTls(id);  // what was queued during the handshake, or a write that waited
  readTls(id);
  it = conns_.find(id);
  if (it != conns_.end()) updateTlsInterest(id, it->second);
}

void SipTransport::readTls(uint64_t id) {
  char buf[16384];
  for (;;) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Connection& c = it->second;
    bool closed = false;
    bool capped = false;
    for (;;) {
      ERR_clear_error();
      errno = 0;
      const int n = SSL_read(c.tls.get(), buf, sizeof(buf));
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        capped = c.in.size() > 2 * kMaxMessage;  // framing below will reject or consume it
        if (capped) break;
        continue;
      }
      const int e = SSL_get_error(c.tls.get(), n);
      if (e == SSL_ERROR_WANT_WRITE) c.tlsWantsWrite = true;
      // close_notify, EOF or a protocol error: nothing more will be readable.
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        closed = true;
        if (e != SSL_ERROR_ZERO_RETURN) {
          spdlog::debug("sip: TLS connection {} from {}: {}", id, c.peer.str(), sslError());
        }
      }
      break;
    }
    c.lastMs = clock_.monotonicMs();
    // Decrypted bytes left inside OpenSSL raise no epoll event: keep reading after a capped pass.
    deliverStream(id, c, kindOf(c), closed);
    if (!capped) return;
  }
}

void SipTransport::flushTls(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Connection& c = it->second;
  if (c.handshaking) return;  // serviceTls flushes once the handshake completes
  while (!c.out.empty()) {
    ERR_clear_error();
    errno = 0;
    const int n =
        SSL_write(c.tls.get(), c.out.data(), static_cast<int>(std::min<size_t>(c.out.size(), 1 << 30)));
    if (n > 0) {
      c.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    const int e = SSL_get_error(c.tls.get(), n);
    if (e == SSL_ERROR_WANT_WRITE) {
      c.tlsWantsWrite = true;
      break;
    }
    if (e == SSL_ERROR_WANT_READ) break;  // EPOLLIN is always registered
    spdlog::debug("sip: TLS write to {} failed: {}", c.peer.str(), sslError());
    close(id);
    return;
  }
  updateTlsInterest(id, c);
}

void SipTransport::updateTlsInterest(uint64_t id, Connection& c) {
  if (c.tlsWantsWrite == c.wantWrite) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (c.tlsWantsWrite ? EPOLLOUT : 0U);
  ev.data.u64 = id | kTlsBit;
  epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
  c.wantWrite = c.tlsWantsWrite;
}

}  // namespace rdv::sip
