#pragma once
// An event loop that another thread's loop can run: the TCP splicer (TcpSplicer) and the TURN
// server (turn::TurnServer) are hosted on relay workers this way (RelayWorker::host), or run on a
// thread of their own (runHostedThread) for unit tests and `relay.host_tcp_and_turn = 0`.
//
// The loop keeps its descriptors, timers (a timerfd) and wake eventfd in one epoll set, fd(); an
// epoll descriptor is itself pollable, so the host adds fd() to its own epoll set (nested epoll)
// and calls runReady() whenever it is readable. Readiness inside the set stays whatever the
// loop chose (edge-triggered for spliced sockets). A loop that stops with work left (a budget
// used up) makes fd() readable again itself, so the host returns to it after its own events.

#include <atomic>

namespace rdv::relay {

class HostedLoop {
 public:
  virtual ~HostedLoop() = default;
  // The epoll descriptor: readable while the loop has events or work to do.
  virtual int fd() const = 0;
  // Handles what is ready without blocking (epoll_wait with timeout 0), a bounded amount so the
  // host's own sockets are not starved. Runs on the host's thread only; each loop reads its own
  // clock.
  virtual void runReady() = 0;
};

// Runs `loop` on the calling thread until `stop` is true: blocks on fd(), then runReady(). The
// loop's owner sets `stop` and wakes fd() (its command eventfd) to end it.
void runHostedThread(HostedLoop& loop, const std::atomic<bool>& stop);

}  // namespace rdv::relay
