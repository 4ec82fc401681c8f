// ApiServer: one catch-all httplib handler per method feeds dispatch(), which does the route
// lookup, the token check and the body parse on the HTTP thread, then hands the route's handler to
// the control thread and writes its reply. httplib's own errors (malformed request, body too large)
// get JSON bodies from the error handler.

#include "app/api/ApiServer.h"

#include <strings.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <cstring>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "common/SockAddr.h"

namespace rdv::api {
namespace {

constexpr std::string_view kJson = "application/json";

std::string dumpJson(const nlohmann::json& j) {
  // Request paths end up in messages: never throw on bytes that are not UTF-8.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Equal strings, compared in time that depends on the lengths only (no early exit on a mismatch).
bool sameSecret(std::string_view a, std::string_view b) {
  unsigned diff = a.size() == b.size() ? 0U : 1U;
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned char other = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(static_cast<unsigned char>(a[i]) ^ other);
  }
  return diff == 0;
}

// The reason httplib's own error statuses get (it leaves the body empty).
std::string reasonFor(int status, size_t maxBody) {
  switch (status) {
    case 400: return "malformed HTTP request";
    case 404: return "no such route";
    case 413: return "request body larger than " + std::to_string(maxBody) + " bytes";
    case 414: return "request URI too long";
    case 500: return "internal error";
    default: return "HTTP status " + std::to_string(status);
  }
}

Expected<nlohmann::json, std::string> parseBody(const std::string& text) {
  if (text.empty()) return nlohmann::json(nullptr);
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Unexpected(std::string("body is not valid JSON"));
  if (!j.is_object()) return Unexpected(std::string("body must be a JSON object"));
  return j;
}

// Runs on the control thread: a handler's exception is a bug to log, not a reason to stop the loop.
ApiReply runGuarded(const ApiServer::Handler& handler, const ApiRequest& req) {
  try {
    return handler(req);
  } catch (const std::exception& e) {
    spdlog::error("api: {} failed: {}", req.path, e.what());
    return ApiReply::error(500, "internal error");
  }
}

}  // namespace

Expected<bool, std::string> ApiRequest::flag(std::string_view name, bool dflt) const {
  if (!body.is_object()) return dflt;
  auto it = body.find(name);
  if (it == body.end()) return dflt;
  if (!it->is_boolean()) return Unexpected(std::string(name) + " must be true or false");
  return it->get<bool>();
}

ApiReply ApiReply::error(int status, std::string_view reason, nlohmann::json extra) {
  nlohmann::json body = std::move(extra);
  body["error"] = reason;
  return {status, std::move(body), {}};
}

struct ApiServer::Impl {
  struct Entry {
    Access access;
    Handler handler;
    AsyncHandler async;       // set instead of handler for routeAsync()
    std::string contentType;  // set for page(): body is served as is
    std::string body;
    std::shared_ptr<EventStream> events;  // set for stream()
  };

  ApiOptions opts;
  ControlQueue& control;
  Router router;
  std::vector<Entry> entries;  // by route number
  httplib::Server http;
  std::thread thread;

  Impl(ApiOptions o, ControlQueue& c) : opts(std::move(o)), control(c) {}

  void setup();
  void dispatch(const httplib::Request& req, httplib::Response& res);
  std::optional<ApiReply> checkToken(const httplib::Request& req) const;
  ApiReply callControl(const Entry& entry, ApiRequest&& req);
  ApiReply callControlAsync(const Entry& entry, ApiRequest&& req);
  bool serveStream(const Entry& entry, const httplib::Request& req, httplib::Response& res);
};

// SSE: the provider runs on the HTTP thread, waking at least every second to notice a stop or a
// client that went away, and sending a comment line every 15 s so proxies keep the stream open.
bool ApiServer::Impl::serveStream(const Entry& entry, const httplib::Request& req, httplib::Response& res) {
  if (!entry.events->acquire()) return false;
  uint64_t after = entry.events->lastId();
  if (req.has_header("Last-Event-ID")) after = std::strtoull(req.get_header_value("Last-Event-ID").c_str(), nullptr, 10);
  auto events = entry.events;
  res.set_header("Cache-Control", "no-store");
  res.set_chunked_content_provider(
      "text/event-stream",
      [events, after, idle = 0, opened = false](size_t, httplib::DataSink& sink) mutable {
        if (!opened) {  // tells the client it is subscribed: events from now on reach it
          opened = true;
          return sink.write(": stream open\n\n", 15);
        }
        std::string out;
        if (!events->next(after, out, std::chrono::milliseconds(1000))) return false;
        if (out.empty() && ++idle >= 15) out = ": keep-alive\n\n";
        if (out.empty()) return sink.is_writable();
        idle = 0;
        return sink.write(out.data(), out.size());
      },
      [events](bool) { events->release(); });
  return true;
}

void ApiServer::Impl::setup() {
  auto handle = [this](const httplib::Request& req, httplib::Response& res) { dispatch(req, res); };
  http.Get(".*", handle);
  http.Post(".*", handle);
  http.Put(".*", handle);
  http.Patch(".*", handle);
  http.Delete(".*", handle);
  http.Options(".*", handle);
  // RFC 9112 §6.3: a request with neither Content-Length nor Transfer-Encoding has no body. httplib
  // 0.11 refuses such a POST (curl -X POST sends one) with 400; the pre-routing handler runs
  // before it reads a body, so such requests are dispatched from there.
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    dispatch(req, res);
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_payload_max_length(opts.maxBodyBytes);
  http.set_keep_alive_timeout(2);
  const size_t threads = opts.threads;
  // httplib owns the queue it gets from this factory (its API takes a raw pointer).
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours, already JSON
        res.set_content(dumpJson({{"error", reasonFor(res.status, opts.maxBodyBytes)}}), std::string(kJson));
        return httplib::Server::HandlerResponse::Handled;
      }));
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      spdlog::error("api: {} {}: {}", req.method, req.path, e.what());
    }
    res.status = 500;
    res.set_content(dumpJson({{"error", "internal error"}}), std::string(kJson));
  });
}

std::optional<ApiReply> ApiServer::Impl::checkToken(const httplib::Request& req) const {
  if (opts.token.empty()) return std::nullopt;
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view kScheme = "Bearer ";
  const bool bearer = header.size() > kScheme.size() && strncasecmp(header.c_str(), kScheme.data(), kScheme.size()) == 0;
  if (bearer && sameSecret(std::string_view(header).substr(kScheme.size()), opts.token)) return std::nullopt;
  // RFC 6750 §3: a challenge always; error="invalid_token" when a token was sent but is wrong.
  ApiReply r = header.empty() ? ApiReply::error(401, "missing bearer token (Authorization: Bearer <api.token>)")
                              : ApiReply::error(401, "invalid bearer token");
  r.headers.emplace_back("WWW-Authenticate", header.empty() ? R"(Bearer realm="rendezvous")"
                                                            : R"(Bearer realm="rendezvous", error="invalid_token")");
  return r;
}

ApiReply ApiServer::Impl::callControl(const Entry& entry, ApiRequest&& req) {
  auto reply = control.call<ApiReply>(
      [handler = entry.handler, req = std::move(req)] { return runGuarded(handler, req); }, opts.controlTimeout);
  if (reply) return std::move(*reply);
  if (reply.error() == ControlFailure::QueueFull) return ApiReply::error(503, "control thread busy: request queue full");
  return ApiReply::error(503, "control thread did not answer within " + std::to_string(opts.controlTimeout.count()) +
                                  " ms; nothing was done");
}

// An async handler on the control thread; the HTTP thread waits for its `done` up to the timeout.
ApiReply ApiServer::Impl::callControlAsync(const Entry& entry, ApiRequest&& req) {
  struct Slot {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<ApiReply> reply;
    bool abandoned = false;
  };
  auto slot = std::make_shared<Slot>();
  auto done = [slot](ApiReply r) {
    std::lock_guard lock(slot->mu);
    if (slot->reply) return;  // a second answer is a handler bug: the first one stands
    slot->reply = std::move(r);
    slot->cv.notify_one();
  };
  const bool queued = control.post([slot, done, handler = entry.async, req = std::move(req)] {
    {
      std::lock_guard lock(slot->mu);
      if (slot->abandoned) return;  // the caller gave up before it started: never run
    }
    try {
      handler(req, done);
    } catch (const std::exception& e) {
      spdlog::error("api: handler for {} threw: {}", req.path, e.what());
      done(ApiReply::error(500, "internal error"));
    }
  });
  if (!queued) return ApiReply::error(503, "control thread busy: request queue full");
  std::unique_lock lock(slot->mu);
  if (!slot->cv.wait_for(lock, opts.controlTimeout, [&] { return slot->reply.has_value(); })) {
    slot->abandoned = true;
    return ApiReply::error(503, "no answer within " + std::to_string(opts.controlTimeout.count()) + " ms");
  }
  return std::move(*slot->reply);
}

void ApiServer::Impl::dispatch(const httplib::Request& req, httplib::Response& res) {
  ApiReply reply;
  auto found = router.find(req.method == "HEAD" ? "GET" : req.method, req.path);
  if (std::holds_alternative<RouteNotFound>(found)) {
    reply = ApiReply::error(404, "no such route: " + req.path);
  } else if (auto* wrong = std::get_if<RouteWrongMethod>(&found)) {
    reply = ApiReply::error(405, req.method + " not allowed on " + req.path);
    reply.headers.emplace_back("Allow", wrong->allow);
  } else {
    auto& route = std::get<RouteFound>(found);
    const Entry& entry = entries[route.route];
    std::optional<ApiReply> denied = entry.access == Access::Token ? checkToken(req) : std::nullopt;
    auto body = parseBody(req.body);
    if (denied) {
      reply = std::move(*denied);
    } else if (entry.events) {
      if (serveStream(entry, req, res)) return;
      reply = ApiReply::error(503, "too many event stream clients");
    } else if (!entry.contentType.empty()) {
      res.status = 200;
      res.set_content(entry.body, entry.contentType);
      return;
    } else if (!body) {
      reply = ApiReply::error(400, body.error());
    } else {
      ApiRequest ar{req.path, std::move(route.params), std::move(*body)};
      reply = entry.async ? callControlAsync(entry, std::move(ar)) : callControl(entry, std::move(ar));
    }
  }
  spdlog::debug("api: {} {} -> {}", req.method, req.path, reply.status);
  res.status = reply.status;
  for (auto& [name, value] : reply.headers) res.set_header(name.c_str(), value);
  res.set_content(dumpJson(reply.body), std::string(kJson));
}

ApiServer::ApiServer(ApiOptions opts, ControlQueue& control)
    : impl_(std::make_unique<Impl>(std::move(opts), control)) {
  impl_->setup();
}

ApiServer::~ApiServer() { stop(); }

void ApiServer::route(Method method, std::string_view pattern, Access access, Handler handler) {
  impl_->router.add(method, pattern);
  impl_->entries.push_back({access, std::move(handler), {}, {}, {}, {}});
}

void ApiServer::routeAsync(Method method, std::string_view pattern, Access access, AsyncHandler handler) {
  impl_->router.add(method, pattern);
  impl_->entries.push_back({access, {}, std::move(handler), {}, {}, {}});
}

void ApiServer::stream(std::string_view path, Access access, std::shared_ptr<EventStream> events) {
  impl_->router.add(Method::Get, path);
  impl_->entries.push_back({access, {}, {}, {}, {}, std::move(events)});
}

void ApiServer::page(std::string_view path, Access access, std::string contentType, std::string body) {
  impl_->router.add(Method::Get, path);
  impl_->entries.push_back({access, {}, {}, std::move(contentType), std::move(body), {}});
}

Expected<uint16_t, std::string> ApiServer::listen(const std::string& hostPort) {
  auto addr = common::SockAddr::parseHostPort(hostPort);
  if (!addr) return Unexpected("api.listen '" + hostPort + "' is not host:port");
  auto& http = impl_->http;
  int port = addr->port();
  if (port == 0) {
    port = http.bind_to_any_port(addr->ip());
  } else if (!http.bind_to_port(addr->ip(), port)) {
    port = -1;
  }
  if (port <= 0) return Unexpected("cannot serve the API on " + hostPort + ": " + std::strerror(errno));
  impl_->thread = std::thread([&http] { http.listen_after_bind(); });
  // stop() only takes effect once the loop runs: wait for it (it starts at once; bounded anyway).
  for (int i = 0; i < 2000 && !http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return static_cast<uint16_t>(port);
}

void ApiServer::stop() {
  if (!impl_->thread.joinable()) return;
  for (const auto& e : impl_->entries) {
    if (e.events) e.events->close();
  }
  impl_->http.stop();
  impl_->thread.join();
}

}  // namespace rdv::api
