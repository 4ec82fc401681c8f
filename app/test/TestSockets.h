#pragma once
// Test helpers for talking to a whole server over loopback: a UDP request/reply and a plain
// HTTP/1.0 GET. Bounded waits only (poll with a timeout), no sleeps.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "common/Fd.h"
#include "common/SockAddr.h"

namespace rdv::app::test {

// Sends `request` to 127.0.0.1:port over UDP; the reply, or "" after `timeoutMs`.
inline std::string udpExchange(uint16_t port, const std::string& request, int timeoutMs = 3000) {
  common::Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  auto to = *common::SockAddr::fromIp("127.0.0.1", port);
  if (::sendto(fd.get(), request.data(), request.size(), 0, to.sa(), to.len()) < 0) return {};
  pollfd p{fd.get(), POLLIN, 0};
  if (::poll(&p, 1, timeoutMs) != 1) return {};
  char buf[65536];
  const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// GET `path` from 127.0.0.1:port; the whole response (status line, headers, body), "" on failure.
inline std::string httpGet(uint16_t port, const std::string& path, int timeoutMs = 3000) {
  common::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto to = *common::SockAddr::fromIp("127.0.0.1", port);
  if (::connect(fd.get(), to.sa(), to.len()) != 0) return {};
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return {};
  std::string out;
  char buf[16384];
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, timeoutMs) != 1) return {};
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// The value of an unlabelled sample `name` in Prometheus text, or -1 when absent.
inline double sample(const std::string& text, const std::string& name) {
  size_t at = 0;
  while ((at = text.find(name + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + name.size() + 1));
    at += name.size();
  }
  return -1;
}

}  // namespace rdv::app::test
