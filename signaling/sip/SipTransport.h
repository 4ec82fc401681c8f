#pragma once
// SIP over UDP and TCP on one address (RFC 3261 §18), and optionally over TLS on another
// (RFC 3261 §26.2, RFC 5630: TLS 1.2 or newer, server certificate only, no client certificates
// requested). Datagrams are one message each; streams (TCP and TLS alike) are framed by
// Content-Length (sipFrameLength), with CRLF keep-alives answered (RFC 5626 §3.5.1).
// What cannot be parsed is answered with a 400 naming the problem when enough of it can be
// read to address a response, else dropped and counted. Control thread only; the transport
// owns an epoll set whose descriptor the caller polls.
//
// A request for a TCP/TLS party whose connection has closed opens a new connection to the
// peer's reconnectTo address (RFC 3261 §18.1.1): a non-blocking connect in the epoll set, then
// for TLS a client handshake; what is sent meanwhile waits in the connection's output buffer.
// Connections we opened are found again by transport and address, so a dialog's later requests
// reuse them. One that fails (refused, no answer within 10 s, failed handshake) is closed and
// reported like any other closed connection.
//
// SIP over WebSocket (RFC 7118) on its own address (listenWs) and over TLS on another (listenWss,
// the same certificate as SIP over TLS): a connection starts with the HTTP Upgrade handshake
// (WsHandshake), then carries one SIP message per WebSocket message (WsReader reads frames,
// answers pings, closes on close or on a protocol error). Such connections are never opened by us:
// a browser's Contact host is ".invalid", its connection the only route to it.
// No Debian WebSocket library fits here: libwebsockets, websocketpp/Boost.Beast and the like want
// to own the event loop or the sockets, while this transport keeps every descriptor in its own
// epoll set; the wire format is small enough to write.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/Clock.h"
#include "common/Expected.h"
#include "common/Fd.h"
#include "common/SockAddr.h"
#include "common/Counter.h"
#include "signaling/sip/SipMessage.h"
#include "signaling/sip/SipSender.h"
#include "signaling/sip/WsReader.h"

// OpenSSL's types, so that only SipTransport.cc needs its headers.
struct ssl_st;
struct ssl_ctx_st;

namespace rdv::sip {

struct SipTransportCounters {
  common::Counter received;
  common::Counter sent;
  // Responses by class (index 1..6 = 1xx..6xx; retransmissions included), sent and received.
  std::array<common::Counter, 7> responsesSent;
  std::array<common::Counter, 7> responsesReceived;
  common::Counter malformed;       // answered with 400
  common::Counter dropped;         // could not even be answered
  common::Counter connections;     // TCP and TLS connections now open
  common::Counter tlsHandshakeFailures;  // TLS connections closed before the handshake completed
  common::Counter outboundConnections;   // TCP/TLS connections we opened (RFC 3261 §18.1.1)
  common::Counter outboundFailures;      // of those, ones that never carried a message: refused,
                                         // timed out, or their TLS handshake failed
  common::Counter wsUpgrades;            // WebSocket handshakes accepted (WS and WSS)
  common::Counter wsRejected;            // WebSocket handshakes refused (400/426 sent, then closed)
  common::Counter wsProtocolErrors;      // WebSocket connections closed for a bad frame or oversize
};

class SipTransport final : public SipSender {
 public:
  // The largest SIP message accepted on a TCP/TLS stream or in one WebSocket message.
  static constexpr size_t kMaxStreamMessage = 65536;

  using MessageHandler = std::function<void(SipMessage&&, const SipPeer&)>;
  using ClosedHandler = std::function<void(uint64_t connId)>;

  // `clock` stamps connection activity for closeIdle(); it must outlive the transport.
  SipTransport(MessageHandler onMessage, ClosedHandler onClosed, const common::Clock& clock);
  ~SipTransport() override;

  Expected<bool, std::string> listen(const std::string& hostPort);
  // Accepts SIP over TLS on `hostPort` with the PEM certificate (chain) and private key in the
  // files named; an error names the file that cannot be read or used. Call after listen().
  // TLS records are written with write(2) by OpenSSL: the process must ignore SIGPIPE.
  Expected<bool, std::string> listenTls(const std::string& hostPort, const std::string& certFile,
                                        const std::string& keyFile);
  // Serves the certificate (chain) and key in these files to TLS connections accepted from now
  // on; connections already open keep theirs. Reads the files again even when the names are the
  // same (a renewed certificate written over the old one). On error (no TLS listener, a file
  // that cannot be read or used, a key that does not match) nothing changes and the message
  // names the file at fault.
  // Accepts SIP over WebSocket (RFC 7118) on `hostPort`. Call after listen().
  Expected<bool, std::string> listenWs(const std::string& hostPort);
  // Accepts SIP over secure WebSocket on `hostPort` with this certificate and key; when TLS already
  // listens its context (and so its certificate) is shared. Call after listen().
  Expected<bool, std::string> listenWss(const std::string& hostPort, const std::string& certFile,
                                        const std::string& keyFile);
  Expected<bool, std::string> reloadTlsCertificate(const std::string& certFile, const std::string& keyFile);
  int fd() const { return epoll_.get(); }
  void onReadable();
  // Sends one message (see SipSender::send). On a connection still opening or in its TLS
  // handshake the message waits in the output buffer.
  SendResult send(const SipPeer& to, std::string_view data) override;
  // Closes TCP/TLS connections idle for longer than `idleMs`, TLS connections whose handshake has
  // not completed within 10 s (counted as handshake failures), and connections we are opening
  // that have not connected within 10 s (counted as outbound failures).
  void closeIdle(uint64_t idleMs) override;

  const common::SockAddr& local() const override { return local_; }
  // The TLS listen address; port 0 when TLS is not enabled.
  const common::SockAddr& tlsLocal() const override { return tlsLocal_; }
  common::SockAddr wsLocal(bool secure) const override { return secure ? wssLocal_ : wsLocal_; }
  const SipTransportCounters& counters() const { return counters_; }

  struct SslCtxFree {
    void operator()(ssl_ctx_st* ctx) const;
  };
  using TlsContext = std::unique_ptr<ssl_ctx_st, SslCtxFree>;
  // A TLS server context with the certificate and key in these files, checked to match; the
  // one place the server-side TLS settings are made (listenTls, reloadTlsCertificate, and the
  // TURN server's TLS listener, app/TurnSetup).
  static Expected<TlsContext, std::string> serverContext(const std::string& certFile,
                                                         const std::string& keyFile);

 private:
  struct SslFree {
    void operator()(ssl_st* ssl) const;
  };
  struct Connection {
    common::Fd fd;
    std::unique_ptr<ssl_st, SslFree> tls;  // null for plain TCP
    common::SockAddr peer;
    std::string in;
    std::string out;                       // plaintext not yet written (TLS: not yet encrypted)
    uint64_t lastMs = 0;                   // TLS in handshake: accept time
    bool wantWrite = false;                // EPOLLOUT is registered
    bool handshaking = false;              // TLS: SSL_do_handshake has not completed
    bool tlsWantsWrite = false;            // TLS: the last SSL call waits for writability
    bool connecting = false;               // ours, connect() in progress (lastMs: when it began)
    std::string outboundKey;               // ours: its key in outbound_; empty for accepted ones
    enum class Ws : uint8_t { No, Handshake, Open } ws = Ws::No;  // WebSocket state
    std::optional<WsReader> wsReader;      // Ws::Open: the frame reader
  };
  // Epoll tags of the WebSocket listeners (those of UDP, TCP and TLS are in SipTransport.cc).
  static constexpr uint64_t kWsListenTag = 4;
  static constexpr uint64_t kWssListenTag = 5;
  static SipTransportKind kindOf(const Connection& c);
  Expected<common::Fd, std::string> listenStream(const std::string& hostPort, common::SockAddr& bound,
                                                 std::string_view what);
  // WebSocket connections (SipTransportWs.cc): the handshake, then frames.
  void deliverWs(uint64_t id, Connection& c, bool closed);
  void deliverWsMessage(const SipPeer& from, std::string_view text);
  // Queues `bytes` as they are (no framing) and writes what can be written.
  void writeRaw(uint64_t id, std::string_view bytes);
  // Writes `bytes` (a refusal, a close frame), then closes the connection: what the socket does
  // not take at once is lost, which for these few bytes only happens to a peer that stopped reading.
  void writeAndClose(uint64_t id, std::string_view bytes);
  void readUdp();
  void acceptTcp(bool tls, bool ws);
  void readTcp(uint64_t id);
  void flushTcp(uint64_t id);
  // Frames and delivers what connection `id` (`c`) has buffered in `in`; closes it afterwards
  // when `closed`. `c` may be gone on return.
  void deliverStream(uint64_t id, Connection& c, SipTransportKind kind, bool closed);
  void serviceTls(uint64_t id);
  void readTls(uint64_t id);
  void flushTls(uint64_t id);
  void updateTlsInterest(uint64_t id, Connection& c);
  void failHandshake(uint64_t id, std::string_view why);
  // The connection of ours to `to.reconnectTo` over `to.kind`, opening it when there is none;
  // 0 when there is no address or the connect fails at once.
  uint64_t outboundFor(const SipPeer& to);
  // A connect() completed (or failed): start TLS, or flush what waits.
  void finishConnect(uint64_t id);
  void failOutbound(uint64_t id, std::string_view why);
  ssl_ctx_st* tlsClientContext();
  void close(uint64_t id);
  void rejectUnparsable(std::string_view bytes, const SipError& err, const SipPeer& from);
  void countSent(std::string_view data);
  void countReceived(const SipMessage& msg);

  MessageHandler onMessage_;
  ClosedHandler onClosed_;
  const common::Clock& clock_;
  common::Fd epoll_;
  common::Fd udp_;
  common::Fd listener_;
  common::SockAddr local_;
  common::Fd tlsListener_;
  common::SockAddr tlsLocal_;
  common::Fd wsListener_;
  common::SockAddr wsLocal_;
  common::Fd wssListener_;
  common::SockAddr wssLocal_;
  TlsContext tlsCtx_;  // for connections accepted from now on (reloadTlsCertificate swaps it)
  uint64_t nextConnId_ = 16;
  std::unordered_map<uint64_t, Connection> conns_;
  std::unordered_map<std::string, uint64_t> outbound_;    // "<kind>/<address>" -> our connection
  std::unique_ptr<ssl_ctx_st, SslCtxFree> tlsClientCtx_;  // made on the first outbound TLS connect
  SipTransportCounters counters_;
};

}  // namespace rdv::sip
