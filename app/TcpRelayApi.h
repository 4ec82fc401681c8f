#pragma once
// The operator API's TCP relay routes (relay/TcpRelay underneath), for applications that signal
// by other means (legacy file transfer, remote desktop): each peer connects out to its own port.
//   POST   /api/v1/tcp-relays       {"peers": [{"ip": "198.18.1.10"}, {"ip": "198.18.2.10"}],
//                                   "idle_timeout": 600}   (each "ip" optional = any source;
//                                   "peers" optional; idle_timeout in s, optional)
//                                   -> 201 {"id", "a": {"ip", "port"}, "b": {"ip", "port"}}
//   GET    /api/v1/tcp-relays       every pair (live, and ended ones for a minute)
//   GET    /api/v1/tcp-relays/{id}  state, bytes each way, connected addresses, age
//   DELETE /api/v1/tcp-relays/{id}  resets both connections (or closes the listeners)
// Errors: 400 bad body, 404 unknown id, 503 limits (total, per source), no free port, disabled.
// Handlers run on the control thread; nothing waits for the splicer thread.

#include "app/api/ApiServer.h"

namespace rdv::relay {
class TcpRelay;
}

namespace rdv::app {

class TcpRelayApi {
 public:
  explicit TcpRelayApi(relay::TcpRelay& relay) : relay_(relay) {}
  void addRoutes(api::ApiServer& api);

 private:
  api::ApiReply create(const api::ApiRequest& req);

  relay::TcpRelay& relay_;
};

}  // namespace rdv::app
