#pragma once
// What the transaction layer and the B2BUA need of a transport: send a message to a peer and
// know our own addresses. SipTransport is the real one; tests use a recording fake, so that
// transactions and calls run without sockets and under a ManualClock.

#include <cstdint>
#include <string_view>

#include "common/SockAddr.h"

namespace rdv::sip {

// Ws and Wss: SIP over WebSocket (RFC 7118), plain or over TLS; like TCP/TLS connection-bound, but a
// connection is only ever opened by the client (a browser has no address to connect to).
enum class SipTransportKind : uint8_t { Udp, Tcp, Tls, Ws, Wss };

// Where a message came from, and so where responses and requests for that party go.
struct SipPeer {
  common::SockAddr addr;
  SipTransportKind kind = SipTransportKind::Udp;
  uint64_t connId = 0;  // TCP or TLS connection; 0 for UDP
  // TCP/TLS: where a new connection may go once `connId` has closed (RFC 3261 §18.1.1: a request
  // with no connection to its target opens one). Not valid(): nowhere, the send fails.
  common::SockAddr reconnectTo{};
};

// What send() did.
struct SendResult {
  bool ok = false;      // sent, or queued on a connection (which may still be opening)
  uint64_t connId = 0;  // TCP/TLS: the connection it went on or waits for; 0 for UDP or failure
  // Implicit, so that callers asking only "did it go" read as before.
  operator bool() const { return ok; }
};

class SipSender {
 public:
  virtual ~SipSender() = default;
  // Sends one message. TCP/TLS: over connection `to.connId` while it is open, else over the one
  // opened to `to.reconnectTo` (opening it if need be, the message waiting until it is up). Fails
  // when there is no connection to use or the send failed; a connection that fails later is
  // reported as closed under the id returned.
  virtual SendResult send(const SipPeer& to, std::string_view data) = 0;
  // Closes TCP/TLS connections idle for longer than `idleMs`.
  virtual void closeIdle(uint64_t idleMs) = 0;
  // The UDP/TCP listen address, and the TLS one (port 0 when TLS is off): what Via and Contact say.
  virtual const common::SockAddr& local() const = 0;
  virtual const common::SockAddr& tlsLocal() const = 0;
  // The WebSocket listen address (`secure`: the WSS one); port 0 when that listener is off.
  virtual common::SockAddr wsLocal(bool /*secure*/) const { return {}; }
};

}  // namespace rdv::sip
