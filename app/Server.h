#pragma once
// Wires the planes together: relay workers, media anchoring, the NG control socket and metrics,
// and runs the control thread's event loop until SIGINT/SIGTERM.

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
  // Runs the control loop; returns when a termination signal arrives.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rdv::app
