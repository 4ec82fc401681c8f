#include "signaling/b2bua/Reconnect.h"

#include "signaling/sip/SipUri.h"

namespace rdv::b2bua {

common::SockAddr reconnectAddress(std::string_view contactUri, const common::SockAddr& source,
                                  sip::SipTransportKind kind) {
  auto uri = sip::SipUri::parse(contactUri);
  if (!uri || uri->host.empty()) return source;
  const uint16_t port = uri->port != 0 ? uri->port : (kind == sip::SipTransportKind::Tls ? 5061 : 5060);
  auto contact = common::SockAddr::fromIp(uri->host, port);
  if (!contact || !contact->sameIp(source)) return source;
  return *contact;
}

sip::SipPeer withReconnect(sip::SipPeer peer, std::string_view contactUri) {
  // WebSocket peers (RFC 7118) are reached over their own connection only: nowhere to reconnect to.
  if (peer.kind == sip::SipTransportKind::Tcp || peer.kind == sip::SipTransportKind::Tls)
    peer.reconnectTo = reconnectAddress(contactUri, peer.addr, peer.kind);
  return peer;
}

}  // namespace rdv::b2bua
