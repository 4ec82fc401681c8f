#pragma once
// Messages between the control thread and a relay worker. They move ownership (sockets, streams)
// into the worker; answers travel back as SessionReply / SessionEnded through the control side's
// queues (control plane, not per packet), so the control thread never waits for a worker.

#include <array>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "relay/HostedLoop.h"
#include "relay/KernelForwarder.h"
#include "relay/MediaSession.h"
#include "relay/PacketQueue.h"

namespace rdv::relay {

struct AddSession {
  std::unique_ptr<MediaSession> session;
};
struct AddStream {
  uint64_t sessionId;
  std::unique_ptr<MediaStream> stream;  // sockets open, legs not yet linked
};
struct UpdateLeg {
  uint64_t sessionId;
  uint32_t stream;
  uint8_t leg;
  LegParams params;
  common::Fd newRtcpFd;         // set when the leg stops using rtcp-mux and needs its RTCP socket now
  uint16_t newRtcpPort = 0;
  // The stream's kernel fast-path entries (index: leg), removed by the control thread before it
  // answers the update (RelayControl::updateLeg): what they had counted, for the worker to fold in.
  std::array<std::optional<KernelEntryCounters>, 2> kernelTaken{};
};
// Answered with a SessionReply carrying `requestId`.
struct QuerySession {
  uint64_t sessionId;
  uint64_t requestId;
};
// Destroys the session; answered with a SessionReply carrying its final report.
struct RemoveSession {
  uint64_t sessionId;
  uint64_t requestId;
};
// Remove without waiting: the final report comes back as a SessionEnded (timedOut = false), so
// signalling never blocks on a busy worker.
struct DropSession {
  uint64_t sessionId;
};
// Runs the media/setup timeout check now instead of at the next 1 s tick, at the worker clock's
// current instant (tests with a ManualClock; an operator-triggered sweep).
struct CheckTimeouts {};
struct StopWorker {};
// Connects the worker to the mixers, once, before any local leg: toLocal[k] carries RTP of local
// legs with localSink k to mixer k (this worker produces), fromLocal[k] brings mixer k's packets
// for this worker's local endpoints (this worker consumes; the mixer wakes it with wake()).
struct AttachLocal {
  std::vector<std::shared_ptr<PacketQueue>> toLocal;
  std::vector<std::shared_ptr<PacketQueue>> fromLocal;
};

// Runs `loop` on this worker from now on (RelayWorker::host).
struct HostLoop {
  HostedLoop* loop = nullptr;
};

using WorkerCommand = std::variant<AddSession, AddStream, UpdateLeg, QuerySession, RemoveSession, DropSession,
                                   CheckTimeouts, StopWorker, AttachLocal, HostLoop>;

// Worker -> control: the answer to a QuerySession or RemoveSession (no report: the worker does
// not own that session, e.g. it timed out just before).
struct SessionReply {
  uint64_t requestId = 0;
  std::optional<SessionReport> report;
};

// Worker -> control: a session ended, on its own (media timeout) or after a DropSession.
struct SessionEnded {
  size_t worker = 0;
  SessionReport report;
  bool timedOut = false;
};

}  // namespace rdv::relay
