#pragma once
// Wires the planes together: relay workers, media anchoring, the NG control socket and metrics,
// and runs the control thread's event loop until SIGINT/SIGTERM or stop().

#include <memory>

#include "config/Config.h"
#include "common/Expected.h"

namespace rdv::app {

class Server {
 public:
  explicit Server(const config::Config& cfg);
  ~Server();

  // Opens sockets and starts threads; the error says what could not be set up.
  Expected<bool, std::string> start();
  // Runs the control loop; returns 0 when SIGINT/SIGTERM arrives or stop() is called.
  int run();
  // Makes run() return; callable from any thread (embedding, tests).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rdv::app
