#include "common/SockAddr.h"

#include <arpa/inet.h>

#include <charconv>

#include <fmt/format.h>

namespace rdv::common {

std::optional<SockAddr> SockAddr::fromIp(std::string_view ip, uint16_t port) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  if (ip.empty() || ip.size() >= sizeof(buf)) return std::nullopt;
  ip.copy(buf, ip.size());
  buf[ip.size()] = '\0';
  SockAddr a;
  if (inet_pton(AF_INET, buf, &a.u_.v4.sin_addr) == 1) {
    a.u_.v4.sin_family = AF_INET;
    a.u_.v4.sin_port = htons(port);
    return a;
  }
  if (inet_pton(AF_INET6, buf, &a.u_.v6.sin6_addr) == 1) {
    a.u_.v6.sin6_family = AF_INET6;
    a.u_.v6.sin6_port = htons(port);
    return a;
  }
  return std::nullopt;
}

std::optional<SockAddr> SockAddr::parseHostPort(std::string_view hostPort) {
  const auto colon = hostPort.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == hostPort.size()) return std::nullopt;
  const std::string_view host = hostPort.substr(0, colon);
  const std::string_view portText = hostPort.substr(colon + 1);
  // A bare IPv6 address ("::1:80") is ambiguous: IPv6 needs brackets, IPv4 must not have them.
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (!bracketed && host.find(':') != std::string_view::npos) return std::nullopt;
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (ec != std::errc() || end != portText.data() + portText.size() || port > 65535) return std::nullopt;
  auto addr = fromIp(host, static_cast<uint16_t>(port));
  if (addr && bracketed != addr->isV6()) return std::nullopt;
  return addr;
}

std::optional<SockAddr> SockAddr::fromSockaddr(const sockaddr* sa, socklen_t len) {
  SockAddr a;
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    std::memcpy(&a.u_.v4, sa, sizeof(sockaddr_in));
    return a;
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    std::memcpy(&a.u_.v6, sa, sizeof(sockaddr_in6));
    return a;
  }
  return std::nullopt;
}

void SockAddr::setPort(uint16_t p) {
  if (isV6()) u_.v6.sin6_port = htons(p);
  else u_.v4.sin_port = htons(p);
}

std::string SockAddr::ip() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (isV6()) inet_ntop(AF_INET6, &u_.v6.sin6_addr, buf, sizeof(buf));
  else if (valid()) inet_ntop(AF_INET, &u_.v4.sin_addr, buf, sizeof(buf));
  return buf;
}

std::string SockAddr::str() const {
  if (!valid()) return "-";
  return isV6() ? fmt::format("[{}]:{}", ip(), port()) : fmt::format("{}:{}", ip(), port());
}

bool SockAddr::sameIp(const SockAddr& o) const {
  if (u_.sa.sa_family != o.u_.sa.sa_family) return false;
  if (isV6()) return std::memcmp(&u_.v6.sin6_addr, &o.u_.v6.sin6_addr, sizeof(in6_addr)) == 0;
  return u_.v4.sin_addr.s_addr == o.u_.v4.sin_addr.s_addr;
}

}  // namespace rdv::common
