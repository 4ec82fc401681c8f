#pragma once
// The TURN server (RFC 8656) and STUN Binding responder (RFC 8489) on `turn.listen`, UDP and TCP
// towards clients (TurnTcpClients frames the streams), UDP towards peers.
//
// One epoll loop over the listening socket and every relayed socket (a relay::HostedLoop: run by
// a relay worker, RelayWorker::host, or by a thread of its own, start()):
// recvmmsg batches in, Data indications / ChannelData towards clients leave in one sendmmsg per
// batch, datagrams towards peers in one sendmmsg per run of datagrams for the same allocation. Nothing is
// allocated, locked or logged per relayed datagram. Hosted, all of TURN runs on one worker:
// sharding allocations across workers by 5-tuple would be a later step; the request logic
// (TurnRequestHandler) and the rules (AllocationTable) take no sockets, so only this class
// would change.

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/Clock.h"
#include "common/Expected.h"
#include "common/Fd.h"
#include "common/SockAddr.h"
#include "relay/HostedLoop.h"
#include "relay/turn/TurnCounters.h"
#include "relay/turn/TurnRequestHandler.h"
#include "relay/turn/TurnTcpClients.h"
#include "relay/turn/TurnTcpRelay.h"

namespace rdv::turn {

struct TurnServerOptions {
  common::SockAddr listen;
  common::SockAddr relayAddress;  // relayed sockets bind to this IP (port ignored)
  std::optional<common::SockAddr> relayAdvertise;  // told to clients instead (1:1 NAT); same family
  uint16_t portMin = 49152;
  uint16_t portMax = 65535;
  AllocationLimits limits;
  TcpConnectionLimits tcpLimits;  // RFC 6062 connections per allocation and in total
  TcpClientLimits clientLimits;   // TCP/TLS client connections: in total, per source IP, idle time
  uint32_t nonceLifetimeS = 600;
  uint32_t batch = 32;  // datagrams per recvmmsg/sendmmsg
  // TURN over TLS (turn.tls_listen): listened on when both are set; the context is only borrowed
  // during start() (the server takes a reference of its own).
  std::optional<common::SockAddr> tlsListen;
  ssl_ctx_st* tlsContext = nullptr;
};

class TurnServer final : public relay::HostedLoop,
                         private RelayPorts,
                         private FrameSink,
                         private TcpRelayEvents {
 public:
  // Binds the listening sockets and starts the thread ("rdv-turn"); the error says what could
  // not be set up.
  static Expected<std::unique_ptr<TurnServer>, std::string> start(const TurnServerOptions& options,
                                                                   Credentials credentials, PeerPolicy policy,
                                                                   const common::Clock& clock);
  // Binds the listening sockets without a thread: hand the server to a RelayWorker::host.
  static Expected<std::unique_ptr<TurnServer>, std::string> create(const TurnServerOptions& options,
                                                                   Credentials credentials, PeerPolicy policy,
                                                                   const common::Clock& clock);
  // Joins its own thread; a host must have stopped before.
  ~TurnServer() override;
  int fd() const override { return epoll_.get(); }
  void runReady() override;
  TurnServer(const TurnServer&) = delete;
  TurnServer& operator=(const TurnServer&) = delete;

  const TurnCounters& counters() const { return counters_; }
  const common::SockAddr& localAddress() const { return local_; }
  // The TLS listening address (port chosen when tlsListen named port 0); unset without TLS.
  std::optional<common::SockAddr> tlsAddress() const { return tlsAddress_; }

 private:
  static constexpr size_t kMaxBatch = 64;
  static constexpr size_t kBufferSize = 65536 + 64;  // the largest datagram, with room for framing
  static constexpr size_t kHeadroom = 48;            // Data indication header: 20 + 4+20 + 4

  TurnServer(const TurnServerOptions& options, Credentials credentials, PeerPolicy policy,
             const common::Clock& clock);
  void startThread();
  void wakeSelf();
  void armTimer(int periodMs);  // the timerfd's period, changed only when it differs
  void onListenReadable();
  void onRelayReadable(uint32_t id);
  // A datagram (UDP) or frame (TCP) from a client.
  void onClientFrame(std::span<std::byte> d, const FiveTuple& tuple);
  void onChannelData(std::span<const std::byte> d, const FiveTuple& tuple);
  void onSendIndication(const stun::StunView& m, const FiveTuple& tuple);
  // Towards a client over its transport; `pad` zero bytes follow on TCP (UDP frames go unpadded,
  // Data indications padded, see queueToClient).
  void sendToClient(const FiveTuple& tuple, std::span<const std::byte> head, std::span<const std::byte> body,
                    size_t pad);
  void onFrame(std::span<std::byte> frame, const FiveTuple& tuple) override;
  void onClosed(const FiveTuple& tuple) override;
  // Queues one datagram towards a client: `head` (copied) then `body` (borrowed until flush).
  void queueToClient(const common::SockAddr& to, std::span<const std::byte> head, std::span<const std::byte> body);
  void flushToClients();
  // Queues one datagram towards a peer from relayed socket `fd` (body borrowed until flush);
  // consecutive ones from the same socket leave in one sendmmsg.
  void queueToPeer(int fd, const common::SockAddr& to, std::span<const std::byte> body);
  void flushToPeers();
  int receive(int fd, size_t count);

  std::optional<common::SockAddr> open(uint32_t id, uint8_t transport) override;
  void close(uint32_t id) override;
  uint16_t connect(uint32_t id, const common::SockAddr& peer, const stun::TransactionId& tid, uint64_t nowMs) override;
  uint32_t awaitingBind(uint32_t connectionId, uint64_t nowMs) override;
  void bind(uint32_t connectionId, const FiveTuple& data, uint64_t nowMs) override;
  void onHandedOff(const FiveTuple& tuple, common::Fd fd, std::span<const std::byte> early) override;
  void onConnectDone(const TcpConnection& c, bool ok) override;
  bool onPeerArrived(uint32_t allocationId, const common::SockAddr& peer, uint32_t connectionId) override;
  // Binds a relayed socket of `type` on `address`; false if the port is taken.
  bool bindRelayed(uint32_t id, uint8_t transport, const common::SockAddr& address);

  TurnServerOptions options_;
  const common::Clock& clock_;
  common::SockAddr local_;
  std::optional<common::SockAddr> tlsAddress_;
  common::Fd listen_;
  common::Fd epoll_;
  common::Fd wake_;
  common::Fd timer_;
  int timerMs_ = 0;
  uint64_t lastSweepMs_ = 0;
  TurnCounters counters_;
  TurnRequestHandler handler_;
  std::unordered_map<uint32_t, common::Fd> relays_;
  std::unique_ptr<TurnTcpClients> tcp_;
  std::unique_ptr<TurnTcpRelay> tcpRelay_;
  std::unordered_map<FiveTuple, uint32_t, FiveTupleHash> handOffs_;  // data connection → CONNECTION-ID
  uint32_t nextPort_;
  uint64_t nowMs_ = 0;
  uint64_t wallS_ = 0;
  uint64_t indicationSeq_ = 0;

  // Receive side: one batch of buffers (each with headroom for framing) and their headers.
  std::vector<std::byte> rxBuffers_;
  std::vector<mmsghdr> rxMsgs_;
  std::vector<iovec> rxIov_;
  std::vector<common::SockAddr> rxFrom_;
  // Send side towards clients: headers copied per datagram, bodies borrowed from rxBuffers_.
  std::vector<mmsghdr> txMsgs_;
  std::vector<std::array<iovec, 3>> txIov_;
  std::vector<std::array<std::byte, 64>> txHead_;
  std::vector<common::SockAddr> txTo_;
  size_t txCount_ = 0;
  // Send side towards peers: one relayed socket at a time.
  std::vector<mmsghdr> peerMsgs_;
  std::vector<iovec> peerIov_;
  std::vector<common::SockAddr> peerTo_;
  size_t peerCount_ = 0;
  int peerFd_ = -1;

  std::thread thread_;  // only with start()
  std::atomic<bool> stop_{false};
};

}  // namespace rdv::turn
