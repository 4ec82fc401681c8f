#pragma once
// The DTLS-SRTP handshake of one relay leg (issue 12, RFC 5764): its dtls::DtlsEndpoint, the
// address the handshake is bound to, and how many attempts it took. Created by the worker that
// owns the leg when LegParams::dtls asks for a role (RelayWorkerDtls.cc) and kept across a
// re-offer with the same LegDtls; when the handshake completes the worker keys the leg's LegSrtp
// from crypto(). Control-rate work only: the SRTP packets never come here.
//
// Not thread-safe: it belongs to the worker that owns the leg.

#include <cstdint>
#include <memory>

#include "common/SockAddr.h"
#include "relay/LegCrypto.h"
#include "relay/LegWebrtc.h"

namespace rdv::dtls {
class DtlsEndpoint;
class DtlsIdentity;
struct Fingerprint;
struct EndpointOptions;
}  // namespace rdv::dtls

namespace rdv::relay {

class LegDtlsSession {
 public:
  // Handshakes per leg: a failed one (a stranger's ClientHello, a bad certificate) gives way to
  // the next ClientHello in the passive role, this many times in all.
  static constexpr uint8_t kMaxAttempts = 4;
  // The relay's retransmission schedule: 1 s doubling to 8 s, failed after 6 resends (~31 s).
  static dtls::EndpointOptions endpointOptions(const LegDtls& params);
  static dtls::Fingerprint fingerprint(const DtlsFingerprint& f);

  explicit LegDtlsSession(const LegDtls& params);
  ~LegDtlsSession();
  LegDtlsSession(const LegDtlsSession&) = delete;
  LegDtlsSession& operator=(const LegDtlsSession&) = delete;

  // A fresh endpoint in the leg's role (the first, or after a failure); false when the attempts
  // are used up or OpenSSL refused (then endpoint() is null).
  bool begin(const dtls::DtlsIdentity& identity);
  dtls::DtlsEndpoint* endpoint() { return endpoint_.get(); }
  const LegDtls& params() const { return params_; }
  uint8_t attempts() const { return attempts_; }
  // A handshake connected: later restarts (after the peer's close_notify) count from zero.
  void resetAttempts() { attempts_ = 0; }

  // The source the current handshake talks to (invalid until the first datagram in the passive
  // role, or the first ClientHello sent in the active role).
  const common::SockAddr& peer() const { return peer_; }
  void bind(const common::SockAddr& a) { peer_ = a; }

  // The current handshake's result was counted (once per attempt).
  bool counted = false;

  // The leg's SRTP keys once the endpoint is Connected: recv = the peer's write key||salt, send =
  // ours (RFC 5764 §4.2); empty (not terminating) before.
  LegCrypto crypto() const;

 private:
  LegDtls params_;
  std::unique_ptr<dtls::DtlsEndpoint> endpoint_;
  common::SockAddr peer_;
  uint8_t attempts_ = 0;
};

}  // namespace rdv::relay
