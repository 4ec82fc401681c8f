// SipTransport's WebSocket side (RFC 7118): the listeners, the opening handshake and the frames of
// an open connection. The byte codecs are WsHandshake and WsFrame/WsReader; this file does I/O.

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/sip/SipFraming.h"
#include "signaling/sip/SipTransport.h"
#include "signaling/sip/WsFrame.h"
#include "signaling/sip/WsHandshake.h"

namespace rdv::sip {
Expected<common::Fd, std::string> SipTransport::listenStream(const std::string& hostPort, common::SockAddr& bound,
                                                             std::string_view what) {
  auto addr = common::SockAddr::parseHostPort(hostPort);
  if (!addr) return Unexpected(fmt::format("SIP {} listen address '{}' is not host:port", what, hostPort));
  common::Fd tcp(::socket(addr->isV6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(tcp.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (!tcp.valid() || ::bind(tcp.get(), addr->sa(), addr->len()) != 0 || ::listen(tcp.get(), 512) != 0) {
    return Unexpected(fmt::format("cannot listen on SIP {} {}: {}", what, hostPort, std::strerror(errno)));
  }
  bound = *addr;
  socklen_t len = common::SockAddr::kStorage;
  getsockname(tcp.get(), bound.storage(), &len);  // the port chosen when hostPort names port 0
  return tcp;
}

Expected<bool, std::string> SipTransport::listenWs(const std::string& hostPort) {
  auto fd = listenStream(hostPort, wsLocal_, "WS");
  if (!fd) return Unexpected(fd.error());
  wsListener_ = std::move(*fd);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWsListenTag;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wsListener_.get(), &ev);
  return true;
}

Expected<bool, std::string> SipTransport::listenWss(const std::string& hostPort, const std::string& certFile,
                                                    const std::string& keyFile) {
  if (!tlsCtx_) {
    auto ctx = serverContext(certFile, keyFile);
    if (!ctx) return Unexpected(ctx.error());
    tlsCtx_ = std::move(ctx).value();
  }
  auto fd = listenStream(hostPort, wssLocal_, "WSS");
  if (!fd) return Unexpected(fd.error());
  wssListener_ = std::move(*fd);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWssListenTag;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wssListener_.get(), &ev);
  return true;
}

void SipTransport::writeRaw(uint64_t id, std::string_view bytes) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  it->second.out.append(bytes);
  if (it->second.tls) {
    flushTls(id);
  } else {
    flushTcp(id);
  }
}

void SipTransport::writeAndClose(uint64_t id, std::string_view bytes) {
  writeRaw(id, bytes);
  close(id);
}

void SipTransport::deliverWs(uint64_t id, Connection& c, bool closed) {
  const SipPeer from{c.peer, kindOf(c), id};
  auto gone = [&] { return conns_.find(id) == conns_.end(); };
  if (c.ws == Connection::Ws::Handshake) {
    auto up = parseWsUpgrade(c.in);
    if (!up) {
      counters_.wsRejected.add(1);
      spdlog::info("sip: WebSocket handshake from {} refused ({}): {}", c.peer.str(), up.error().status,
                   up.error().reason);
      writeAndClose(id, wsRejectResponse(up.error()));
      return;
    }
    if (up->length == 0) {
      if (closed) close(id);
      return;
    }
    c.in.erase(0, up->length);
    c.ws = Connection::Ws::Open;
    c.wsReader.emplace(kMaxStreamMessage);
    counters_.wsUpgrades.add(1);
    spdlog::debug("sip: WebSocket connection {} from {} open", id, c.peer.str());
    writeRaw(id, wsAcceptResponse(up->key));
    if (gone()) return;
  }
  size_t pos = 0;
  for (;;) {
    size_t used = 0;
    WsEvent e = c.wsReader->next(std::string_view(c.in).substr(pos), used);
    pos += used;
    std::string reply;
    switch (e.kind) {
      case WsEvent::Kind::None:
        c.in.erase(0, pos);
        if (closed) close(id);
        return;
      case WsEvent::Kind::Message:
        deliverWsMessage(from, e.payload);
        if (gone()) return;
        break;
      case WsEvent::Kind::Ping:
        appendWsFrame(reply, WsOpcode::Pong, e.payload);
        writeRaw(id, reply);
        if (gone()) return;
        break;
      case WsEvent::Kind::Pong:
        break;
      case WsEvent::Kind::Close:  // §5.5.1: answer with a close frame, then the server closes TCP
        appendWsClose(reply, kWsCloseNormal);
        writeAndClose(id, reply);
        return;
      case WsEvent::Kind::Error:
        counters_.wsProtocolErrors.add(1);
        spdlog::info("sip: WebSocket connection {} from {} closed ({}): {}", id, c.peer.str(), e.code, e.error);
        appendWsClose(reply, e.code, e.error);
        writeAndClose(id, reply);
        return;
    }
  }
}

void SipTransport::deliverWsMessage(const SipPeer& from, std::string_view text) {
  if (skipKeepalive(text) == text.size()) {
    // A CRLF keep-alive sent as a message: a double CRLF gets a CRLF back (RFC 5626 §3.5.1).
    if (text.find("\r\n\r\n") != std::string_view::npos) send(from, "\r\n");
    return;
  }
  counters_.received.add(1);
  auto msg = SipMessage::parse(std::string(text));
  if (!msg) {
    rejectUnparsable(text, msg.error(), from);
    return;
  }
  msg->setSource(from.addr.ip(), from.addr.port());
  countReceived(*msg);
  onMessage_(std::move(*msg), from);
}

}  // namespace rdv::sip
