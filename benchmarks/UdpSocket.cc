#include "benchmarks/UdpSocket.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/SockAddr.h"

namespace rdv::bench {

sockaddr_in loopbackAddress(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

Expected<BoundSocket, std::string> openLoopbackUdp(int rcvbuf, uint16_t port) {
  common::Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return Unexpected(std::string("socket: ") + std::strerror(errno));
  }
  if (rcvbuf > 0) {
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  sockaddr_in a = loopbackAddress(port);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    return Unexpected("bind 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
  }
  socklen_t len = sizeof a;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return Unexpected(std::string("getsockname: ") + std::strerror(errno));
  }
  return BoundSocket{std::move(fd), ntohs(a.sin_port)};
}

Expected<sockaddr_in, std::string> parseLoopbackEndpoint(const std::string& text) {
  auto addr = common::SockAddr::parseHostPort(text);
  if (!addr || addr->isV6() || addr->port() == 0) {
    return Unexpected("expected IPv4-ADDRESS:PORT, got '" + text + "'");
  }
  sockaddr_in a{};
  std::memcpy(&a, addr->sa(), sizeof a);
  if ((ntohl(a.sin_addr.s_addr) >> 24) != 127) {
    return Unexpected("refusing non-loopback address '" + addr->ip() + "': benchmarks stay on 127.0.0.0/8");
  }
  return a;
}

namespace {
constexpr size_t kControlSlot = CMSG_SPACE(sizeof(timespec));
}  // namespace

RecvBatch::RecvBatch(size_t size)
    : buffers_(size * kSlot), control_(size * kControlSlot), iovs_(size), msgs_(size) {}

int RecvBatch::receive(int fd) {
  for (size_t i = 0; i < msgs_.size(); ++i) {
    iovs_[i] = iovec{buffers_.data() + i * kSlot, kSlot};
    msgs_[i] = mmsghdr{};
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    msgs_[i].msg_hdr.msg_control = control_.data() + i * kControlSlot;
    msgs_[i].msg_hdr.msg_controllen = kControlSlot;
  }
  const int n = ::recvmmsg(fd, msgs_.data(), static_cast<unsigned>(msgs_.size()), MSG_DONTWAIT, nullptr);
  return n > 0 ? n : 0;
}

std::optional<int64_t> kernelStampNs(msghdr& h) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    }
  }
  return std::nullopt;
}

}  // namespace rdv::bench
