#pragma once
// An IPv4 or IPv6 transport endpoint, small enough to copy per packet and compare in a few instructions.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace rdv::common {

class SockAddr {
 public:
  SockAddr() { std::memset(&u_, 0, sizeof(u_)); }

  // Parses a numeric IPv4/IPv6 address; nullopt for anything else (no DNS here).
  static std::optional<SockAddr> fromIp(std::string_view ip, uint16_t port);
  // Parses "1.2.3.4:5060" or "[::1]:5060" (numeric address, port 0..65535, nothing else): the one
  // host:port syntax of every listen address in the configuration.
  static std::optional<SockAddr> parseHostPort(std::string_view hostPort);
  // Copies what recvmmsg wrote; nullopt for families other than AF_INET/AF_INET6.
  static std::optional<SockAddr> fromSockaddr(const sockaddr* sa, socklen_t len);

  bool valid() const { return u_.sa.sa_family != AF_UNSPEC; }
  bool isV6() const { return u_.sa.sa_family == AF_INET6; }
  uint16_t port() const { return ntohs(isV6() ? u_.v6.sin6_port : u_.v4.sin_port); }
  void setPort(uint16_t p);
  std::string ip() const;
  std::string str() const;  // "1.2.3.4:5" or "[::1]:5"

  const sockaddr* sa() const { return &u_.sa; }
  // Storage for recvmsg to write a source address into (kStorage bytes).
  sockaddr* storage() { return &u_.sa; }
  static constexpr socklen_t kStorage = sizeof(sockaddr_in6);
  socklen_t len() const { return isV6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in); }
  bool sameIp(const SockAddr& o) const;

  // Equality of family, address and port (not flow info or scope).
  bool operator==(const SockAddr& o) const {
    if (u_.sa.sa_family != o.u_.sa.sa_family) return false;
    if (u_.sa.sa_family == AF_INET) {
      return u_.v4.sin_port == o.u_.v4.sin_port && u_.v4.sin_addr.s_addr == o.u_.v4.sin_addr.s_addr;
    }
    return u_.v6.sin6_port == o.u_.v6.sin6_port &&
           std::memcmp(&u_.v6.sin6_addr, &o.u_.v6.sin6_addr, sizeof(in6_addr)) == 0;
  }

 private:
  union {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } u_;
};

}  // namespace rdv::common
