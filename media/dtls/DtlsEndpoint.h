#pragma once
// One DTLS 1.2 handshake for DTLS-SRTP (RFC 5764) over datagrams the caller moves: no sockets
// (STYLE.md §11). The caller feeds each DTLS datagram the peer sent (`feed`), sends what the
// endpoint queued (`outgoing`, then `clearOutgoing`) and calls `onTimer` when `nextTimeoutNs`
// passes; the client sends its ClientHello from `start`. When the handshake completes the peer's
// certificate has been checked against the fingerprint signalling gave (RFC 5763 §5: chains and
// self-signatures are not judged, only the digest) and `keying()` holds the SRTP master keys
// exported per RFC 5764 §4.2. A handshake that fails (fingerprint mismatch, alert, no common
// SRTP profile, too many retransmissions) ends in State::Failed with a reason.
//
// Allocates per handshake (OpenSSL's SSL object); nothing per SRTP packet goes through here.
// Retransmission: the interval is ours (initialTimeoutMs doubling up to maxTimeoutMs, set through
// DTLS_set_timer_cb), but OpenSSL 3.0 measures it on the system clock; the caller's clock decides
// when `onTimer` looks, and with the system clock both agree. Not thread-safe: one owner thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/Expected.h"
#include "media/dtls/DtlsIdentity.h"
#include "media/srtp/SrtpSuite.h"

struct ssl_st;

namespace rdv::dtls {

enum class Role : uint8_t { Client, Server };
enum class Hash : uint8_t { Sha1, Sha256, Sha384, Sha512 };
enum class State : uint8_t { New, Handshaking, Connected, Failed };
enum class Failure : uint8_t {
  None,
  FingerprintMismatch,  // the peer's certificate does not hash to the expected fingerprint
  NoFingerprint,        // signalling gave none: nothing to check the peer against
  NoSrtpProfile,        // the handshake completed without use_srtp or with a profile we do not run
  Alert,                // the peer sent a fatal alert
  Timeout,              // too many retransmissions without an answer
  Protocol,             // OpenSSL refused what the peer sent
  Internal,             // OpenSSL failed on our side (memory, key export)
  kCount
};
// A stable label: "fingerprint_mismatch", "alert", "timeout", ...
const char* toString(Failure f);

// The peer's a=fingerprint (RFC 8122 §5).
struct Fingerprint {
  Hash hash = Hash::Sha256;
  std::array<std::byte, 64> digest{};
  uint8_t length = 0;
};

// "sha-256 AB:CD:..." as DtlsIdentity::fingerprint() and a=fingerprint write it (hash names
// sha-1, sha-256, sha-384, sha-512, case-insensitive); nullopt when it is not one.
std::optional<Fingerprint> parseFingerprint(std::string_view text);

struct EndpointOptions {
  Role role = Role::Server;
  Fingerprint remote;
  // use_srtp profiles in preference order (OpenSSL names); empty = the identity's defaults:
  // SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_SHA1_80, SRTP_AES128_CM_SHA1_32, SRTP_AEAD_AES_256_GCM.
  std::string srtpProfiles;
  uint16_t mtu = 1200;                // largest datagram sent (DTLS_set_link_mtu)
  uint32_t initialTimeoutMs = 500;    // first retransmission of a flight
  uint32_t maxTimeoutMs = 4000;       // the doubling stops here
  uint32_t maxRetransmissions = 7;    // one more expiry fails the handshake (Failure::Timeout)
};

// SRTP master keys of both directions (RFC 5764 §4.2): `local` protects what this endpoint's
// side sends, `remote` unprotects what the peer sends; each is key||salt of `suite`.
struct SrtpKeying {
  srtp::Suite suite = srtp::Suite::AesCm128HmacSha1_80;
  std::array<std::byte, srtp::kMaxKeySaltLength> local{};
  std::array<std::byte, srtp::kMaxKeySaltLength> remote{};
  uint8_t length = 0;  // key||salt bytes of each
};

struct EndpointStats {
  uint64_t recordsIn = 0;        // datagrams fed that framed as DTLS
  uint64_t malformed = 0;        // datagrams refused by parseDatagram (never reach OpenSSL)
  uint64_t datagramsOut = 0;
  uint64_t retransmissions = 0;  // flights resent on the timer
  uint64_t queueOverflows = 0;   // datagrams that did not fit the outgoing queue (lost, as on a wire)
};

class DtlsEndpoint {
 public:
  static constexpr size_t kMaxDatagram = 1500;
  static constexpr size_t kQueueSlots = 8;

  // An endpoint in State::New; an error names what OpenSSL refused (bad profile list).
  static Expected<std::unique_ptr<DtlsEndpoint>, std::string> create(const DtlsIdentity& identity,
                                                                    const EndpointOptions& options);
  ~DtlsEndpoint();
  DtlsEndpoint(const DtlsEndpoint&) = delete;
  DtlsEndpoint& operator=(const DtlsEndpoint&) = delete;

  // Client: queues the ClientHello and arms the timer. Server: enters Handshaking. Once only.
  void start(uint64_t nowNs);
  // One datagram from the peer. Datagrams that do not frame as DTLS records are counted and
  // ignored; after Failed everything is ignored. A server starts on its first datagram.
  void feed(std::span<const std::byte> datagram, uint64_t nowNs);
  // Connected: queues a close_notify alert for the peer (RFC 5246 §7.2.1); later calls do nothing.
  void close();
  // Retransmits the current flight when its timer expired; may fail the handshake (Timeout).
  void onTimer(uint64_t nowNs);
  // When onTimer has work next (absolute, the caller's clock); nullopt while no flight waits.
  std::optional<uint64_t> nextTimeoutNs(uint64_t nowNs) const;

  // Datagrams queued for the peer, oldest first; valid until clearOutgoing() or the next call.
  size_t outgoingCount() const { return outCount_; }
  std::span<const std::byte> outgoing(size_t i) const { return {out_[i].bytes.data(), out_[i].size}; }
  void clearOutgoing() { outCount_ = 0; }

  State state() const { return state_; }
  Failure failure() const { return failure_; }
  // OpenSSL's words for the failure ("tlsv1 alert decrypt error", ...); empty when none.
  const std::string& failureText() const { return failureText_; }
  // The peer sent close_notify: it ended the association and keys nothing it sends from now on
  // (baresip, for one, sends its RTCP BYE in clear right after).
  bool peerClosed() const { return peerClosed_; }
  // Set once Connected.
  const std::optional<SrtpKeying>& keying() const { return keying_; }
  const EndpointStats& stats() const { return stats_; }
  Role role() const { return options_.role; }

  // OpenSSL callbacks (DtlsEndpoint.cc); not for callers.
  void onWrite(std::span<const std::byte> bytes);
  size_t onRead(std::span<std::byte> into);
  unsigned onTimerDuration(unsigned previousUs);
  bool checkPeer(std::span<const unsigned char> certDer);
  void onAlert(bool received, int value);

 private:
  DtlsEndpoint() = default;
  void drive();  // SSL_do_handshake / SSL_read until OpenSSL wants more input
  void afterHandshake();
  void fail(Failure f, std::string text);
  void failFromSsl();

  struct Slot {
    std::array<std::byte, kMaxDatagram> bytes;
    size_t size = 0;
  };
  EndpointOptions options_;
  ssl_st* ssl_ = nullptr;
  State state_ = State::New;
  Failure failure_ = Failure::None;
  std::string failureText_;
  bool fingerprintMismatch_ = false;
  bool peerVerified_ = false;
  bool peerClosed_ = false;
  bool closeSent_ = false;
  std::string alert_;  // the fatal alert the peer sent, if any
  std::optional<SrtpKeying> keying_;
  EndpointStats stats_;
  std::span<const std::byte> inbound_;
  std::array<Slot, kQueueSlots> out_;
  size_t outCount_ = 0;
  uint32_t timeouts_ = 0;    // retransmissions of the current flight
};

}  // namespace rdv::dtls
