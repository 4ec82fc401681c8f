#pragma once
// The operator HTTP JSON API server (api.listen): cpp-httplib on its own threads, routes from a
// Router, bearer-token auth, and JSON everywhere (errors are {"error": "<reason>"} with the right
// status: 400 bad body, 401 token, 404 route, 405 method, 413 body size, 503 control thread busy).
// Route handlers run on the control thread through a ControlQueue, never on an HTTP thread, so
// they may touch B2BUA, MediaAnchor and relay state; the HTTP thread waits a bounded time for them.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/api/ControlQueue.h"
#include "app/api/EventStream.h"
#include "app/api/Router.h"
#include "common/Expected.h"

namespace rdv::api {

struct ApiRequest {
  std::string path;
  PathParams params;      // the route's {name} segments
  nlohmann::json body;    // the JSON object sent, or null when the request had no body

  // The boolean member `name` of the body: `dflt` when absent (or no body), an error message when
  // it is there but not true/false.
  Expected<bool, std::string> flag(std::string_view name, bool dflt) const;
};

struct ApiReply {
  int status = 200;
  nlohmann::json body = nlohmann::json::object();
  std::vector<std::pair<std::string, std::string>> headers;

  static ApiReply ok(nlohmann::json body) { return {200, std::move(body), {}}; }
  // {"error": reason} plus any other members of `extra` (an object).
  static ApiReply error(int status, std::string_view reason, nlohmann::json extra = nlohmann::json::object());
};

enum class Access : uint8_t {
  Public,  // no token needed: probes (/health, /ready) that load balancers call without secrets
  Token,   // Authorization: Bearer <api.token>, when a token is configured
};

struct ApiOptions {
  std::string token;  // empty: every route is public
  std::chrono::milliseconds controlTimeout{2000};  // longest wait for the control thread (then 503)
  size_t maxBodyBytes = 64 * 1024;                 // larger bodies get 413
  size_t threads = 4;                              // HTTP connection threads (keep-alive holds one)
};

class ApiServer {
 public:
  using Handler = std::function<ApiReply(const ApiRequest&)>;
  // A handler that answers later (after relay workers replied): it must call `done` exactly once,
  // on the control thread, possibly after it returned.
  using Done = std::function<void(ApiReply)>;
  using AsyncHandler = std::function<void(const ApiRequest&, Done done)>;

  // `control` must outlive the server; its closures must be drained by the control thread.
  ApiServer(ApiOptions opts, ControlQueue& control);
  ~ApiServer();  // stop()

  // Registers a route; call before listen(). `handler` runs on the control thread. A handler that
  // throws answers 500 (and is logged): it is a bug, the control thread goes on.
  void route(Method method, std::string_view pattern, Access access, Handler handler);
  // The same for a handler that answers through `done`; the HTTP thread waits for it as long.
  void routeAsync(Method method, std::string_view pattern, Access access, AsyncHandler handler);
  // GET `path` answers `body` as `contentType` from the HTTP thread (a page, not JSON).
  void page(std::string_view path, Access access, std::string contentType, std::string body);

  // GET `path` streams `events` as server-sent events (text/event-stream) from the HTTP thread
  // until the client goes or the server stops; 503 when the stream's client slots are taken.
  void stream(std::string_view path, Access access, std::shared_ptr<EventStream> events);

  // Binds `hostPort` ("127.0.0.1:8080", "[::1]:0"; port 0 picks a free one) and starts serving on
  // a thread of its own. Returns the bound port.
  Expected<uint16_t, std::string> listen(const std::string& hostPort);
  // Stops accepting, finishes the requests in progress and joins the threads. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rdv::api
