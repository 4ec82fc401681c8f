#pragma once
// The control thread's handle on the relay: allocates ports and sockets, spreads sessions over
// the workers, and forwards updates, queries and deletes to the owning worker. Not thread-safe:
// one control thread uses it. Never touches a worker's state directly and never waits for one:
// queries and removals are answered through callbacks run from drainReplies().

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include "common/Expected.h"
#include "common/Fd.h"
#include "relay/KernelForwarder.h"
#include "relay/PortPool.h"
#include "relay/RelayWorker.h"
#include "common/SockAddr.h"

namespace rdv::relay {

struct RelayOptions {
  std::string interface = "127.0.0.1";
  uint16_t portMin = 30000;
  uint16_t portMax = 39999;
  uint32_t workers = 1;
  WorkerOptions worker;
  size_t descriptorBudget = 0;  // sockets the relay may open; 0 = derive from RLIMIT_NOFILE
  // Forward latched RTP in the kernel (relay/KernelForwarder.h). When the program cannot be
  // attached the relay logs a warning and forwards in userspace.
  bool kernelForwarding = false;
};

enum class RelayErrorCode : uint8_t { PortsExhausted, CapacityReached, SocketFailed, UnknownSession };

struct RelayError {
  RelayErrorCode code;
  std::string message;
};

struct StreamPorts {
  uint16_t rtpPort[2];  // leg 0 (offerer side), leg 1 (answerer side)
};

// Counters of the control side, read by the metrics collector from another thread.
struct ControlCounters {
  Counter sessionsCreated;
  Counter sessionsEnded;     // deleted or timed out
  Counter sessionsTimedOut;
  Counter poolExhausted;
  Counter capacityRefused;
  Counter portsUsed;
  Counter socketsOpen;
};

class RelayControl {
 public:
  explicit RelayControl(const RelayOptions& opts);
  ~RelayControl();

  // Creates an empty session on the least loaded worker.
  uint64_t createSession(const std::string& callId);
  // Allocates and opens a stream's sockets (RTCP ones unless `mux`) and hands them to the worker.
  // A `local` stream has sockets for leg 0 only: leg 1 ends inside the server (LegParams::
  // localEndpoint, set with updateLeg) and its port is 0. `bundledLeg` (0 or 1): that leg will be
  // bundled on another stream's transport (LegParams::bundle, relay/LegBundle.h) and gets no
  // socket either (port 0).
  Expected<StreamPorts, RelayError> addStream(uint64_t sessionId, bool mux, bool local = false,
                                              std::optional<uint8_t> bundledLeg = std::nullopt);
  // Sets what one leg's peer advertised. A leg leaving rtcp-mux gets its RTCP socket opened here.
  Expected<bool, RelayError> updateLeg(uint64_t sessionId, uint32_t stream, uint8_t leg, const LegParams& p);
  // Called with the session's report (nullopt: no such session, or it ended meanwhile).
  using ReportCallback = std::function<void(std::optional<SessionReport>)>;
  // Asks the owning worker for a report; `done` runs from drainReplies(), or before query()
  // returns when the session is unknown.
  void query(uint64_t sessionId, ReportCallback done);
  // Removes the session; `done` gets its final report from drainReplies() once the worker has
  // closed its sockets (the ports are back in the pool by then), or nullopt at once when the
  // session is unknown. The session is gone from activeSessions() when remove() returns.
  void remove(uint64_t sessionId, ReportCallback done);
  // Removes without waiting for the worker; the final report arrives through drainEnded. For
  // callers that must never block on the media side (the B2BUA).
  void drop(uint64_t sessionId);

  // The worker that owns the session (local endpoints are routed by it); nullopt when unknown.
  std::optional<size_t> workerOf(uint64_t sessionId) const;
  // Connects worker `w` to the mixers (AttachLocal); call once per worker before local streams.
  void attachLocal(size_t w, std::vector<std::shared_ptr<PacketQueue>> toLocal,
                   std::vector<std::shared_ptr<PacketQueue>> fromLocal);

  // Every worker checks media/setup timeouts now (at its clock's instant), after the commands
  // already posted to it; ended sessions arrive through drainEnded as usual.
  void checkTimeouts();

  // Wakes when workers report ended sessions: poll it, then call drainEnded.
  int endedFd() const { return endedWake_.get(); }
  // `timedOut` is false for sessions ended by drop().
  void drainEnded(const std::function<void(const SessionReport&, bool timedOut)>& fn);
  // Wakes when workers answer queries and removals: poll it, then call drainReplies, which runs
  // their callbacks.
  int replyFd() const { return replyWake_.get(); }
  void drainReplies();
  size_t pendingReplies() const { return pending_.size(); }

  size_t sessionCapacityMux() const { return capacityMux_; }
  // What each limit alone allows (two-leg sessions): descriptors without / with rtcp-mux, ports.
  size_t descriptorCapacity() const { return socketBudget_ / 4; }
  size_t descriptorCapacityMux() const { return socketBudget_ / 2; }
  size_t portCapacity() const { return pool_.capacity() / 2; }
  size_t sessionCapacity() const { return capacity_; }
  size_t activeSessions() const { return sessions_.size(); }
  size_t portPairsTotal() const { return pool_.capacity(); }
  size_t portPairsFree() const { return pool_.available(); }
  const ControlCounters& counters() const { return counters_; }
  const std::vector<std::unique_ptr<RelayWorker>>& workers() const { return workers_; }
  // The kernel fast path; null when it is off or could not be attached. Any thread may read
  // its totals.
  const KernelForwarder* kernelForwarder() const { return kernel_.get(); }

 private:
  struct StreamRecord {
    uint16_t rtpPort[2] = {0, 0};
    bool rtcpOpen[2] = {false, false};
  };
  struct SessionRecord {
    size_t worker = 0;
    std::vector<StreamRecord> streams;
  };

  struct Pending {
    ReportCallback done;
    uint64_t removing = 0;  // the session a RemoveSession ends, 0 for a query
  };

  Expected<common::Fd, RelayError> openSocket(uint16_t port);
  void release(const SessionRecord& rec);

  RelayOptions opts_;
  common::SockAddr bindAddr_;
  PortPool pool_;
  size_t socketBudget_ = 0;
  size_t capacity_ = 0;
  size_t capacityMux_ = 0;
  uint64_t nextId_ = 1;
  std::unordered_map<uint64_t, SessionRecord> sessions_;
  // dropped or removed, ports held until the worker confirms
  std::unordered_map<uint64_t, SessionRecord> dropping_;
  std::unique_ptr<KernelForwarder> kernel_;  // declared before workers_: outlives them
  std::vector<std::unique_ptr<RelayWorker>> workers_;
  moodycamel::ConcurrentQueue<SessionEnded> ended_;
  common::Fd endedWake_;
  moodycamel::ConcurrentQueue<SessionReply> replies_;
  common::Fd replyWake_;
  uint64_t nextRequestId_ = 1;
  std::unordered_map<uint64_t, Pending> pending_;
  ControlCounters counters_;
};

}  // namespace rdv::relay
