#pragma once
// The TCP relay's data plane: one loop that owns every TcpPair, their sockets and a pool of
// pipes, and forwards bytes with splice(2) (socket -> pipe -> socket, no copy to userspace).
//
// Readiness is edge-triggered: each endpoint remembers whether it is readable/writable until a
// call returns EAGAIN. Backpressure: a direction reads from its source only while its pipe has
// room and writes while the destination takes bytes, so when a receiver stops reading, the pipe
// fills, the relay stops reading the sender and TCP flow control pushes back on it; buffering per
// direction is bounded by the pipe size (plus the kernel's socket buffers). A pipe is held only
// while bytes are in flight: an idle pair costs its two sockets and no pipe.
//
// FIN read from one side is passed on as shutdown(SHUT_WR) once the pipe is drained; an error or
// reset on one side resets the other (SO_LINGER 0 + close). Timeouts, deletes and shutdown reset
// both. Commands arrive through a lock-free queue and an eventfd, as for the relay workers.
//
// Where it runs: it is a HostedLoop. By default a relay worker hosts it (RelayWorker::host): the
// splicer's epoll set, with its edge-triggered endpoints, its wake eventfd and its 1 s timerfd,
// sits inside the worker's level-triggered set as one descriptor, and the worker calls runReady()
// when it is readable, between its RTP batches. start() runs it on a thread of its own instead
// ("rdv-relay-tcp"; unit tests, `relay.host_tcp_and_turn = 0`). Either way one thread at a time
// runs it, and the pump is the same.

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include "common/Clock.h"
#include "common/Counter.h"
#include "common/Fd.h"
#include "relay/HostedLoop.h"
#include "relay/TcpPair.h"

namespace rdv::relay {

// Connections refused when a peer tries to connect (counted by the splicer).
enum class TcpRefusal : uint8_t { WrongSource, PerSourceLimit, AcceptFailed, kCount };
const char* toString(TcpRefusal r);

struct TcpSplicerOptions {
  uint64_t setupTimeoutNs = 60'000'000'000ULL;  // both peers must connect within this
  uint32_t maxConnectionsPerSource = 0;         // live relay connections from one IP; 0 = no limit
  uint32_t pipeSize = 1024 * 1024;              // bytes buffered per direction in flight (F_SETPIPE_SZ)
  uint32_t pipePool = 64;                       // empty pipes kept for reuse
  // Fill/drain rounds of one direction per turn: a fast pair yields to the others (and, hosted,
  // to the worker's RTP) after this many pipes' worth and continues next turn (ready list). On a
  // relay worker keep it at 1: one 1 MiB pipe is ~0.8 ms at 10 Gbit/s of RTP waiting behind it.
  int pumpRounds = 8;
  const common::Clock* clock = &common::SystemClock::instance();
};

struct TcpSplicerCounters {
  common::Counter pairs;                 // live pairs (gauge)
  std::array<common::Counter, 2> bytes;  // a -> b, b -> a
  std::array<common::Counter, static_cast<size_t>(TcpRefusal::kCount)> refused;
  std::array<common::Counter, 7> ended;  // by TcpPairState (terminal ones)
  common::Counter endedTotal;
  common::Counter pipesOpen;     // pipes held by pairs or pooled
  common::Counter pipeFailures;  // pipe2() failed (descriptor limit): pumping waits a tick
  common::Counter busyNs;
};

class TcpSplicer final : public HostedLoop {
 public:
  // `onEnded` runs on the splicer's thread (its own or its host's) when a pair reaches a terminal
  // state; it must only enqueue.
  TcpSplicer(TcpSplicerOptions opts, std::function<void(const TcpPairStatus&)> onEnded = {});
  // Stops and joins its own thread; pairs still open are reset. A host must have stopped first.
  ~TcpSplicer() override;
  TcpSplicer(const TcpSplicer&) = delete;
  TcpSplicer& operator=(const TcpSplicer&) = delete;

  // Runs the loop on a thread of its own; without it, hand the splicer to a RelayWorker::host.
  void start();
  int fd() const override { return epoll_.get(); }
  void runReady() override;
  // Any thread. `pair` has both listening sockets open (non-blocking) and its status filled in.
  void add(std::unique_ptr<TcpPair> pair);
  void remove(uint64_t id);  // resets both sides (state Deleted); unknown ids are ignored
  // Side `side` of pair `id` accepts connections only from `source`'s IP from now on; if that side
  // is already connected from another IP, the pair is reset (counted as wrong_source).
  void restrict(uint64_t id, uint8_t side, const common::SockAddr& source);
  void checkTimeouts();      // runs the timeout check now, at the clock's current instant
  const TcpSplicerCounters& counters() const { return counters_; }

 private:
  struct Add {
    std::unique_ptr<TcpPair> pair;
  };
  struct Remove {
    uint64_t id;
  };
  struct Restrict {
    uint64_t id;
    uint8_t side;
    common::SockAddr source;
  };
  struct Check {};
  using Command = std::variant<Add, Remove, Restrict, Check>;
  enum class Pump : uint8_t { Idle, More, Ended };

  void post(Command&& c);
  void wakeSelf();
  void drainCommands(uint64_t nowNs);
  void onEvent(TcpEndpoint& e, uint32_t events, uint64_t nowNs);
  void accept(TcpEndpoint& e, uint64_t nowNs);
  void applyRestrict(const Restrict& r);
  void refuse(int fd, TcpRefusal why);
  // Pumps the directions in `dirs` (bit d: from side d), both by default.
  void pump(TcpPair& p, uint64_t nowNs, unsigned dirs = 3);
  Pump pumpDirection(TcpPair& p, int d, uint64_t nowNs);
  // Ends the pair: `resetSide` -1 resets both sides, 0/1 resets that side and closes the other
  // plainly (it failed), 2 closes both plainly (clean FIN both ways).
  void end(TcpPair& p, TcpPairState state, int resetSide);
  void checkTimeouts(uint64_t nowNs);
  void reap();
  bool takePipe(TcpDirection& d);
  void givePipe(TcpDirection& d);

  TcpSplicerOptions opts_;
  std::function<void(const TcpPairStatus&)> onEnded_;
  TcpSplicerCounters counters_;
  moodycamel::ConcurrentQueue<Command> commands_;
  common::Fd epoll_;
  common::Fd wake_;
  common::Fd timer_;
  std::thread thread_;  // only with start()
  std::atomic<bool> stop_{false};
  std::unordered_map<uint64_t, std::unique_ptr<TcpPair>> pairs_;
  std::unordered_map<std::string, uint32_t> perSource_;  // live accepted connections by source IP
  std::vector<TcpPair*> ready_;    // pumps that stopped at their budget: continued next round
  std::vector<TcpPair*> readyRound_;  // ready_ of the last round, being pumped
  std::vector<TcpPair*> dead_;     // ended this round: freed after it
  std::vector<TcpPair*> starved_;  // could not get a pipe: pumped again on the next tick
  struct PooledPipe {
    int read;
    int write;
    size_t cap;
  };
  std::vector<PooledPipe> pipes_;  // empty pipes kept for reuse
};

}  // namespace rdv::relay
