#pragma once
// Where a new TCP/TLS connection to a party goes once the one it used has closed (RFC 3261
// §18.1.1: a request with no open connection to its target opens one). The party registered, or
// called, over a connection it opened from an ephemeral port, where nothing listens; a new
// connection has to go where the party listens:
//  - its Contact's host and port (5060, 5061 for TLS, when the URI names none), when that host is
//    the very IP address its messages came from: the party is not behind a NAT and listens where
//    it says;
//  - otherwise the address its messages came from (RFC 3581 received/rport), the only address of
//    a NATed party we know. That reaches a party that listens on the port it connects from, or
//    a NAT that still maps it; else the connect fails and the request fails with it.
// Contacts naming a host by DNS name are treated like NATed ones (no RFC 3263 lookups here).

#include <string_view>

#include "common/SockAddr.h"
#include "signaling/sip/SipSender.h"

namespace rdv::b2bua {

// The reconnection address for a party at `source` whose Contact URI is `contactUri`.
common::SockAddr reconnectAddress(std::string_view contactUri, const common::SockAddr& source,
                                  sip::SipTransportKind kind);
// `peer` with reconnectTo set for its Contact URI; UDP peers come back as they are.
sip::SipPeer withReconnect(sip::SipPeer peer, std::string_view contactUri);

}  // namespace rdv::b2bua
