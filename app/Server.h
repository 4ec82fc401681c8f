#pragma once
// Wires the planes together: relay workers, media anchoring, the NG control socket, SIP, metrics
// and the operator API, and runs the control thread's event loop until SIGINT/SIGTERM, stop() or
// the end of a drain that asked to exit. SIGHUP reloads the configuration.

#include <memory>

#include "config/Config.h"
#include "config/ConfigLoader.h"
#include "common/Expected.h"

namespace rdv::app {

class Server {
 public:
  // `source` is where `cfg` came from: a reload (SIGHUP, POST /api/v1/reload) builds it again
  // from there. Without a file there is nothing to reload.
  explicit Server(const config::Config& cfg, config::ConfigSource source = {});
  ~Server();

  // Opens sockets and starts threads; the error says what could not be set up.
  Expected<bool, std::string> start();
  // Runs the control loop; returns 0 when SIGINT/SIGTERM arrives, stop() is called, or a drain
  // with exit_when_idle sees its last call end.
  int run();
  // Makes run() return; callable from any thread (embedding, tests).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rdv::app
