#pragma once
// The control side of the TCP relay: opens a pair's two listening ports, applies the limits,
// hands the pair to the splicer thread and keeps each pair's TcpPairStatus so that queries never
// wait for that thread. Not thread-safe: one control thread uses it (the API's handlers run there).
//
// Ports: a range of its own (tcp_relay.port_min/port_max), not the UDP relay's PortPool. TCP and
// UDP port numbers are separate spaces, the UDP pool hands out even/odd RTP pairs, and a TCP
// listener holds its port only until its peer connects; binding the next free port of the range
// (a cursor, skipping ports in use) needs no bookkeeping when a listener closes.

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/Clock.h"
#include "common/Counter.h"
#include "common/Expected.h"
#include "common/SockAddr.h"
#include "relay/TcpPair.h"
#include "relay/TcpSplicer.h"

namespace rdv::relay {

struct TcpRelayOptions {
  std::string interface = "127.0.0.1";  // the listening sockets bind here
  std::string advertise;                // address given to peers; empty = interface
  uint16_t portMin = 40000;
  uint16_t portMax = 49999;
  uint32_t maxPairs = 1000;          // live pairs in total; 0 disables the relay
  uint32_t maxPairsPerSource = 100;  // live pairs naming one peer address (and connections from one IP)
  uint32_t idleTimeoutS = 3600;      // default when a request names none
  uint32_t maxIdleTimeoutS = 86400;
  uint64_t keepEndedNs = 60'000'000'000ULL;  // an ended pair stays visible to queries this long
  TcpSplicerOptions splicer;
  // The splicer runs on a thread of its own; false leaves it to be hosted (RelayWorker::host of
  // hostedSplicer()) before the first pair is created.
  bool splicerThread = true;
  // Runs on the splicer thread when a pair ends (tests wait on it); must only enqueue.
  std::function<void(const TcpPairStatus&)> onEnded;
};

enum class TcpRelayErrorCode : uint8_t { BadRequest, TotalLimit, PerSourceLimit, NoPorts, Disabled };
const char* toString(TcpRelayErrorCode c);  // also the refusal reason on /metrics

struct TcpRelayError {
  TcpRelayErrorCode code;
  std::string reason;
};

// Who asked for a pair: counted per source on /metrics.
enum class TcpPairOrigin : uint8_t { Sdp, Ng, Api };
inline constexpr size_t kTcpPairOrigins = 3;
const char* toString(TcpPairOrigin o);

struct TcpPairRequest {
  std::array<std::optional<common::SockAddr>, 2> peers;  // source restriction per side (port ignored)
  uint32_t idleTimeoutS = 0;                             // 0 = the default
  TcpPairOrigin origin = TcpPairOrigin::Api;
};

class TcpRelay {
 public:
  explicit TcpRelay(const TcpRelayOptions& opts);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  // Opens the two ports and starts listening; peers must connect within the setup timeout.
  Expected<std::shared_ptr<const TcpPairStatus>, TcpRelayError> create(const TcpPairRequest& req);
  std::shared_ptr<const TcpPairStatus> find(uint64_t id);
  std::vector<std::shared_ptr<const TcpPairStatus>> list();  // by id
  // Resets both connections (or closes the listeners) and forgets the pair; false when the id is
  // unknown (never created, or ended and pruned).
  bool remove(uint64_t id);
  // Side `side` (0 = a, 1 = b) of a live pair accepts connections only from `source`'s IP (its
  // port is ignored), replacing any earlier restriction; a peer already connected to that side
  // from another IP gets the pair reset. False when the pair is unknown or has ended.
  bool restrict(uint64_t id, uint8_t side, const common::SockAddr& source);

  void checkTimeouts() { splicer_.checkTimeouts(); }  // now, instead of at the next 1 s tick
  const std::string& advertise() const { return advertise_; }
  uint64_t nowNs() const { return opts_.splicer.clock->monotonicNs(); }
  uint64_t live() const;
  const TcpSplicer& splicer() const { return splicer_; }
  // For a RelayWorker to host (splicerThread = false); the worker must stop before this relay goes.
  HostedLoop& hostedSplicer() { return splicer_; }
  // Pairs refused at creation, by TcpRelayErrorCode (read by the metrics collector).
  const std::array<common::Counter, 5>& refused() const { return refused_; }
  // Pairs created, by TcpPairOrigin.
  const std::array<common::Counter, kTcpPairOrigins>& createdBy() const { return createdBy_; }
  bool enabled() const { return opts_.maxPairs != 0; }

 private:
  Expected<common::Fd, TcpRelayError> listenNext(common::SockAddr& local);
  void prune();
  TcpRelayError refuse(TcpRelayErrorCode code, std::string reason);

  TcpRelayOptions opts_;
  std::string advertise_;
  TcpSplicer splicer_;
  std::map<uint64_t, std::shared_ptr<TcpPairStatus>> pairs_;
  uint64_t nextId_ = 1;
  uint64_t created_ = 0;
  uint32_t cursor_ = 0;  // offset of the next port to try in the range
  std::array<common::Counter, 5> refused_;
  std::array<common::Counter, kTcpPairOrigins> createdBy_;
};

}  // namespace rdv::relay
