#include "relay/SockAddr.h"

#include <arpa/inet.h>

#include <fmt/format.h>

namespace rdv::relay {

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

}  // namespace rdv::relay
