#include "signaling/anchor/TcpMedia.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/SockAddr.h"
#include "relay/TcpRelay.h"
#include "signaling/sdp/Sdp.h"

namespace rdv::anchor {

bool isTcpProto(std::string_view proto) {
  auto upper = [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; };
  if (proto.size() < 3) return false;
  for (size_t i = 0; i < 3; ++i) {
    if (upper(proto[i]) != "TCP"[i]) return false;
  }
  return proto.size() == 3 || proto[3] == '/';
}

bool senderCanConnect(const sdp::SdpMedia& m) {
  auto setup = m.attribute("setup");
  return !setup || (*setup != "passive" && *setup != "holdconn");
}

std::string replaceMsrpAuthority(std::string_view uri, std::string_view address, uint16_t port) {
  const size_t scheme = uri.find("://");
  if (scheme == std::string_view::npos) return std::string(uri);
  const std::string_view name = uri.substr(0, scheme);
  if (name != "msrp" && name != "msrps") return std::string(uri);
  const size_t start = scheme + 3;
  size_t end = uri.find_first_of("/;", start);
  if (end == std::string_view::npos) end = uri.size();
  // userinfo@ is kept (RFC 4975 §9 allows it); only host:port changes.
  const size_t at = uri.find('@', start);
  const size_t hostStart = at != std::string_view::npos && at < end ? at + 1 : start;
  const bool v6 = address.find(':') != std::string_view::npos;
  return fmt::format("{}{}{}{}:{}{}", uri.substr(0, hostStart), v6 ? "[" : "", address, v6 ? "]" : "", port,
                     uri.substr(end));
}

void pointTcpMediaAtRelay(sdp::SdpMedia& m, std::string_view addrType, std::string_view address,
                          uint16_t port, bool existing) {
  m.port = port;
  m.setConnection(addrType, address);
  m.setAttribute("setup", "passive");
  m.setAttribute("connection", existing ? "existing" : "new");
  if (m.proto.find("MSRP") == std::string::npos || m.hasAttribute("msrp-cema")) return;
  auto path = m.attribute("path");
  if (!path) return;
  // The first URI is where the receiver connects (RFC 4976 §6: relays first, the endpoint last).
  const std::string value(*path);
  const size_t space = value.find(' ');
  const std::string first = value.substr(0, space);
  const std::string rest = space == std::string::npos ? "" : value.substr(space);
  m.setAttribute("path", replaceMsrpAuthority(first, address, port) + rest);
}

void restrictTcpSide(relay::TcpRelay& tcp, uint64_t pair, int side, std::string_view receivedFrom,
                     std::string_view callId) {
  if (receivedFrom.empty() || side < 0 || side > 1) return;
  auto source = common::SockAddr::fromIp(receivedFrom, 0);
  if (!source) return;
  auto st = tcp.find(pair);
  if (!st || (st->allowed[side] && st->allowed[side]->sameIp(*source))) return;  // unknown, or already so
  if (tcp.restrict(pair, static_cast<uint8_t>(side), *source)) {
    spdlog::info("call={} TCP relay pair {}: side {} only from {}", callId, pair, side == 0 ? 'a' : 'b', source->ip());
  }
}

}  // namespace rdv::anchor
