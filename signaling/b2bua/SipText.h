#pragma once
// The SIP text the B2BUA writes as itself and the few header values it reads beyond SipMessage:
// our Via and Contact (RFC 3261 §18.2.1, §19.1.1), requests and ACKs on a dialog from its Leg
// state, dialog tags, and name-addr / number header values. No state beyond the advertised
// address and the tag counter.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "config/Config.h"
#include "signaling/b2bua/Call.h"
#include "signaling/sip/SipSender.h"

namespace rdv::b2bua {

// The methods we handle end to end (RFC 3261 §20.5), for OPTIONS, 405 and the INVITEs we send:
// INVITE, ACK, BYE, UPDATE and CANCEL make and end calls; INFO, MESSAGE, NOTIFY and REFER are
// relayed within a call to the other party; MESSAGE outside a call goes to the registered user
// (RFC 3428 pager mode); OPTIONS is answered; REGISTER is the registrar's; SUBSCRIBE and PUBLISH
// reach the presence agent (B2buaPresence.cc).
constexpr std::string_view kAllowHeader =
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, MESSAGE, NOTIFY, REFER, SUBSCRIBE, PUBLISH";

// `"Display" <uri>` of a From/To/Contact value, without header parameters (tag etc.), the display
// name re-quoted as sip::formatNameAddr writes it; the value itself when it does not parse.
std::string identity(std::string_view headerValue);
// The caller as we present it on the callee's leg (topology hiding): the From's display name and
// SIP user at `host` (a URI host part), e.g. `"Boss, Big" <sip:boss@192.0.2.1>`; identity() of
// the From when it has no SIP URI with a user.
std::string presentedCaller(std::string_view fromHeader, std::string_view host);
// The URI of a name-addr header value; empty when it does not parse.
std::string uriOf(std::string_view headerValue);
// "Warning: 399 rendezvous "<why>"" (RFC 3261 §20.43), the reason kept inside its quotes.
std::string warningHeader(std::string_view why);
// A whole decimal number, else `fallback`.
uint32_t toUint(std::string_view s, uint32_t fallback);

// The address we put in Via and Contact: sip.advertise, else the listen address (IPv6 in
// brackets); the port is the TLS (WS, WSS) listen port towards TLS (WS, WSS) peers, the UDP/TCP
// one otherwise.
class LocalContact {
 public:
  LocalContact(const config::SipConfig& cfg, const sip::SipSender& transport);

  // "Contact: <sip:rendezvous@host:port;transport=..>" (no CRLF). TLS gets a sip: URI with
  // transport=tls rather than sips:, since the other leg may be neither.
  std::string contact(const sip::SipPeer& over) const;
  // "Via: SIP/2.0/<T> host:port;branch=<branch>;rport" (no CRLF).
  std::string via(const sip::SipPeer& over, std::string_view branch) const;
  // As it goes into a URI host part (IPv6 bracketed).
  const std::string& host() const { return host_; }

 private:
  uint16_t portFor(const sip::SipPeer& over) const;

  std::string host_;
  uint16_t port_ = 5060;
  uint16_t tlsPort_ = 5061;
  uint16_t wsPort_ = 0;   // SIP over WebSocket (RFC 7118), towards WS and WSS peers
  uint16_t wssPort_ = 0;
};

// Dialog tags (RFC 3261 §19.3): a per-process random salt and a counter, so tags are unique
// within the process and unlikely to repeat across restarts.
class TagMinter {
 public:
  TagMinter();
  std::string next();

 private:
  std::string salt_;
  uint64_t counter_ = 0;
};

// A request within `leg`'s dialog (RFC 3261 §12.2.1.1): Request-URI is the remote target, From
// and To carry the leg's identities and tags (To without a tag while the remote one is unknown).
// Content-Type is written only when `contentType` is not empty; `extraHeaders` (whole header
// lines without CRLF) go before it. An INVITE carries kAllowHeader too.
std::string requestText(const LocalContact& local, const Leg& leg, std::string_view method, uint32_t cseq,
                        std::string_view branch, uint32_t maxForwards, std::string_view body,
                        std::string_view contentType, std::span<const std::string> extraHeaders = {});
// The ACK of a 2xx on `leg` (RFC 3261 §13.2.2.4), with CSeq `cseq` of the INVITE it acknowledges
// and, when `sdp` is not empty, an SDP body (the answer to an offer in the 2xx).
std::string ackText(const LocalContact& local, const Leg& leg, uint32_t cseq, std::string_view branch,
                    std::string_view sdp);

}  // namespace rdv::b2bua
