#pragma once
// What the transaction layer and the B2BUA need of a transport: send a message to a peer and
// know our own addresses. SipTransport is the real one; tests use a recording fake, so that
// transactions and calls run without sockets and under a ManualClock.

#include <cstdint>
#include <string_view>

#include "common/SockAddr.h"

namespace rdv::sip {

enum class SipTransportKind : uint8_t { Udp, Tcp, Tls };

// Where a message came from, and so where responses and requests for that party go.
struct SipPeer {
  common::SockAddr addr;
  SipTransportKind kind = SipTransportKind::Udp;
  uint64_t connId = 0;  // TCP or TLS connection; 0 for UDP
};

class SipSender {
 public:
  virtual ~SipSender() = default;
  // Sends one message; false when a TCP/TLS connection is gone or the send failed.
  virtual bool send(const SipPeer& to, std::string_view data) = 0;
  // Closes TCP/TLS connections idle for longer than `idleMs`.
  virtual void closeIdle(uint64_t idleMs) = 0;
  // The UDP/TCP listen address, and the TLS one (port 0 when TLS is off): what Via and Contact say.
  virtual const common::SockAddr& local() const = 0;
  virtual const common::SockAddr& tlsLocal() const = 0;
};

}  // namespace rdv::sip
