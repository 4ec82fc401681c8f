#include "signaling/ng/NgServer.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/SockAddr.h"

namespace rdv::ng {
namespace {

constexpr size_t kMaxDatagram = 65536;
constexpr size_t kMaxCached = 100000;

}  // namespace

Expected<bool, std::string> NgServer::bind(const std::string& listen) {
  auto addr = common::SockAddr::parseHostPort(listen);
  if (!addr) return Unexpected(fmt::format("NG listen address '{}' is not host:port", listen));
  common::Fd fd(::socket(addr->isV6() ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid() || ::bind(fd.get(), addr->sa(), addr->len()) != 0) {
    return Unexpected(fmt::format("cannot bind NG socket {}: {}", listen, std::strerror(errno)));
  }
  int buf = 4 << 20;  // bursts of offers from a busy proxy
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  sock_ = std::move(fd);
  return true;
}

void NgServer::onReadable() {
  static thread_local std::string buf(kMaxDatagram, '\0');
  for (;;) {
    common::SockAddr from;
    socklen_t len = common::SockAddr::kStorage;
    ssize_t n = ::recvfrom(sock_.get(), buf.data(), buf.size(), MSG_DONTWAIT, from.storage(), &len);
    if (n < 0) return;
    std::string reply = process(std::string_view(buf.data(), static_cast<size_t>(n)), from);
    if (!reply.empty()) {
      ::sendto(sock_.get(), reply.data(), reply.size(), MSG_DONTWAIT, from.sa(), from.len());
    }
  }
}

std::string NgServer::process(std::string_view datagram, const common::SockAddr& from) {
  counters_.requests.add(1);
  const uint64_t now = clock_.monotonicNs();
  expire(now);
  auto space = datagram.find(' ');
  if (space == std::string_view::npos || space == 0 || space > 256) {
    counters_.malformed.add(1);
    spdlog::warn("NG: datagram without cookie dropped ({} bytes)", datagram.size());
    return {};
  }
  std::string cookie(datagram.substr(0, space));
  if (auto it = cache_.find(cookie); it != cache_.end()) {
    counters_.retransmissions.add(1);
    return it->second.reply;  // "" while the command is pending: it replies once, when done
  }
  auto req = parseBencode(datagram.substr(space + 1));
  if (!req) {
    counters_.malformed.add(1);
  }
  if (cache_.size() < kMaxCached) {
    cache_.emplace(cookie, Cached{"", now + static_cast<uint64_t>(std::chrono::nanoseconds(ttl_).count()), true});
    order_.push_back(cookie);
  }
  ++pending_;
  immediate_.clear();
  inProcess_ = &cookie;
  if (!req) {
    complete(cookie, from,
             ngError(fmt::format("Failed to decode bencode at offset {}: {}", req.error().offset, req.error().reason)));
  } else {
    counters_.countCommand(req->getString("command"));
    handler_.handle(*req, [this, cookie, from](BValue reply) { complete(cookie, from, std::move(reply)); });
  }
  inProcess_ = nullptr;
  return std::move(immediate_);
}

void NgServer::complete(const std::string& cookie, const common::SockAddr& from, BValue reply) {
  --pending_;
  if (auto r = reply.getString("result"); r && *r == "error") counters_.errors.add(1);
  std::string out = cookie + " " + encodeBencode(reply);
  if (auto it = cache_.find(cookie); it != cache_.end() && it->second.pending) {
    it->second.reply = out;
    it->second.pending = false;
    // The TTL counts from the reply: a retransmission within it must not run the command again.
    it->second.expiresNs = clock_.monotonicNs() + static_cast<uint64_t>(std::chrono::nanoseconds(ttl_).count());
  }
  if (inProcess_ != nullptr && *inProcess_ == cookie) {
    immediate_ = std::move(out);
    return;
  }
  if (send_) {
    send_(out, from);
  } else if (sock_.valid() && from.valid()) {
    ::sendto(sock_.get(), out.data(), out.size(), MSG_DONTWAIT, from.sa(), from.len());
  }
}

void NgServer::expire(uint64_t now) {
  while (!order_.empty()) {
    auto it = cache_.find(order_.front());
    // A pending command keeps its cookie (and, behind it, the later ones) until it is answered.
    if (it != cache_.end() && (it->second.pending || it->second.expiresNs > now)) break;
    if (it != cache_.end()) cache_.erase(it);
    order_.pop_front();
  }
}

}  // namespace rdv::ng
