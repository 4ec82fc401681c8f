#pragma once
// SDP rules for TCP media (RFC 4145) anchored on a TCP relay pair, and MSRP's a=path
// (RFC 4975 §8.1, CEMA RFC 6714). Pure functions over the SDP model: MediaAnchor keeps the state.
//
// The relay only listens, so every peer must connect out to it (the direction NATs allow): the
// SDP passed on says `a=setup:passive` for the relay, which makes its receiver the active party
// (RFC 4145 §4), and `a=connection:new`, or `existing` while a pair is kept across a re-offer
// (§5).

#include <cstdint>
#include <string>
#include <string_view>

namespace rdv::sdp {
class SdpMedia;
}  // namespace rdv::sdp
namespace rdv::relay {
class TcpRelay;
}  // namespace rdv::relay

namespace rdv::anchor {

// TCP-based transports (RFC 4145 §7 "TCP", RFC 4975 "TCP/MSRP", RFC 4976 "TCP/TLS/MSRP",
// RFC 8856 "TCP/BFCP", "TCP/TLS/BFCP", RFC 4571 "TCP/RTP/AVP", ...): proto "TCP" or "TCP/...".
bool isTcpProto(std::string_view proto);

// False when the sender of this m-line will only listen (`a=setup:passive`) or holds the
// connection (`holdconn`): the relay cannot connect out, so such a line is not anchored.
bool senderCanConnect(const sdp::SdpMedia& m);

// Points `m` at the relay's `address`/`port` for its receiver: m= port, a media-level c=,
// `a=setup:passive`, `a=connection:new|existing`; a=fingerprint and every other line stay.
// For MSRP without `a=msrp-cema` the first URI of a=path gets the relay's host:port (session-id
// and transport kept), so a non-CEMA peer connects to the relay; with CEMA a=path stays.
void pointTcpMediaAtRelay(sdp::SdpMedia& m, std::string_view addrType, std::string_view address,
                          uint16_t port, bool existing);

// `uri` ("msrp://host:port/session-id;tcp") with host:port replaced; `uri` unchanged when it has
// no msrp:// or msrps:// authority. An IPv6 address is bracketed.
std::string replaceMsrpAuthority(std::string_view uri, std::string_view address, uint16_t port);

// `tcp_relay.restrict_sdp_source` for the answerer: side `side` of pair `pair` accepts connections
// only from `receivedFrom`, the IP the answer's signalling came from (NG `received-from`, the
// B2BUA's callee flow), replacing the restriction of an earlier answer (another fork). No-op when
// `receivedFrom` is empty or not an IP. A peer already connected to that side from another IP
// gets the pair reset (relay::TcpRelay::restrict).
void restrictTcpSide(relay::TcpRelay& tcp, uint64_t pair, int side, std::string_view receivedFrom,
                     std::string_view callId);

}  // namespace rdv::anchor
