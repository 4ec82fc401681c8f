#pragma once
// SIP over UDP and TCP on one address (RFC 3261 §18). Datagrams are one message each; streams
// are framed by Content-Length (sipFrameLength), with CRLF keep-alives answered (RFC 5626 §3.5.1).
// What cannot be parsed is answered with a 400 naming the problem when enough of it can be
// read to address a response, else dropped and counted. Control thread only; the transport
// owns an epoll set whose descriptor the caller polls.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "media/Expected.h"
#include "relay/Fd.h"
#include "relay/SockAddr.h"
#include "relay/WorkerCounters.h"
#include "signaling/SipMessage.h"

namespace rdv::signaling {

enum class SipTransportKind : uint8_t { Udp, Tcp };

// Where a message came from, and so where responses and requests for that party go.
struct SipPeer {
  relay::SockAddr addr;
  SipTransportKind kind = SipTransportKind::Udp;
  uint64_t connId = 0;  // TCP connection; 0 for UDP
};

struct SipTransportCounters {
  relay::Counter received;
  relay::Counter sent;
  relay::Counter malformed;       // answered with 400
  relay::Counter dropped;         // could not even be answered
  relay::Counter connections;     // TCP connections now open
};

class SipTransport {
 public:
  using MessageHandler = std::function<void(SipMessage&&, const SipPeer&)>;
  using ClosedHandler = std::function<void(uint64_t connId)>;

  SipTransport(MessageHandler onMessage, ClosedHandler onClosed);
  ~SipTransport();

  Expected<bool, std::string> listen(const std::string& hostPort);
  int fd() const { return epoll_.get(); }
  void onReadable();
  // Sends one message; false when the TCP connection is gone or the send failed.
  bool send(const SipPeer& to, std::string_view data);
  // Closes TCP connections idle for longer than `idleMs`.
  void closeIdle(uint64_t nowMs, uint64_t idleMs);

  const relay::SockAddr& local() const { return local_; }
  const SipTransportCounters& counters() const { return counters_; }

 private:
  struct Connection {
    relay::Fd fd;
    relay::SockAddr peer;
    std::string in;
    std::string out;
    uint64_t lastMs = 0;
    bool wantWrite = false;
  };
  void readUdp();
  void acceptTcp();
  void readTcp(uint64_t id);
  void flushTcp(uint64_t id);
  void close(uint64_t id);
  void rejectUnparsable(std::string_view bytes, const SipError& err, const SipPeer& from);

  MessageHandler onMessage_;
  ClosedHandler onClosed_;
  relay::Fd epoll_;
  relay::Fd udp_;
  relay::Fd listener_;
  relay::SockAddr local_;
  uint64_t nextConnId_ = 16;
  std::unordered_map<uint64_t, Connection> conns_;
  SipTransportCounters counters_;
};

uint64_t nowMs();

}  // namespace rdv::signaling
