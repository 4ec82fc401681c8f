#include "benchmarks/UdpSocket.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rdv::bench {

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = other.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

int Fd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

sockaddr_in loopbackAddress(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

Expected<BoundSocket, std::string> openLoopbackUdp(int rcvbuf) {
  Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return Unexpected(std::string("socket: ") + std::strerror(errno));
  }
  if (rcvbuf > 0) {
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  sockaddr_in a = loopbackAddress(0);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    return Unexpected(std::string("bind 127.0.0.1:0: ") + std::strerror(errno));
  }
  socklen_t len = sizeof a;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return Unexpected(std::string("getsockname: ") + std::strerror(errno));
  }
  return BoundSocket{std::move(fd), ntohs(a.sin_port)};
}

Expected<sockaddr_in, std::string> parseLoopbackEndpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    return Unexpected("expected ADDRESS:PORT, got '" + text + "'");
  }
  std::string host = text.substr(0, colon);
  std::string portText = text.substr(colon + 1);
  char* end = nullptr;
  long port = std::strtol(portText.c_str(), &end, 10);
  if (portText.empty() || *end != '\0' || port <= 0 || port > 65535) {
    return Unexpected("bad port in '" + text + "'");
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    return Unexpected("bad IPv4 address in '" + text + "'");
  }
  if ((ntohl(a.sin_addr.s_addr) >> 24) != 127) {
    return Unexpected("refusing non-loopback address '" + host + "': benchmarks stay on 127.0.0.0/8");
  }
  return a;
}

}  // namespace rdv::bench
