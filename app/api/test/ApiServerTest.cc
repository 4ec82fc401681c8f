// ApiServer over real loopback HTTP (cpp-httplib client): routing (404/405), bearer-token auth
// (401 + WWW-Authenticate), JSON bodies and errors (400, 413, 500), handlers on the control thread,
// and 503 when the control thread does not answer in time.

#include "app/api/ApiServer.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>

#include "app/api/test/ControlThread.h"

namespace rdv::api {
namespace {

using nlohmann::json;

constexpr const char* kToken = "s3cret-token";

json bodyOf(const httplib::Result& r) {
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  auto j = json::parse(r->body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r->body;
  return j;
}

// `r` is an error answer: `status` and {"error": reason}.
void expectError(const httplib::Result& r, int status, const std::string& reason) {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, status);
  EXPECT_EQ(bodyOf(r)["error"], reason);
}

class ApiServerTest : public ::testing::Test {
 protected:
  static ApiOptions options() {
    ApiOptions o;
    o.token = kToken;
    o.maxBodyBytes = 1024;
    return o;
  }

  void SetUp() override {
    api_.route(Method::Get, "/health", Access::Public, [](const ApiRequest&) { return ApiReply::ok({{"status", "ok"}}); });
    api_.route(Method::Post, "/api/v1/echo/{id}", Access::Token, [this](const ApiRequest& r) {
      handlerThread_ = std::this_thread::get_id();
      return ApiReply::ok({{"id", r.params.at("id")}, {"body", r.body}});
    });
    api_.route(Method::Get, "/api/v1/echo/{id}", Access::Token, [](const ApiRequest&) { return ApiReply::ok({}); });
    api_.route(Method::Post, "/api/v1/flag", Access::Token, [](const ApiRequest& r) {
      auto f = r.flag("on", false);
      if (!f) return ApiReply::error(400, f.error());
      return ApiReply::ok({{"on", *f}});
    });
    api_.route(Method::Get, "/api/v1/throws", Access::Token, [](const ApiRequest&) -> ApiReply {
      throw std::runtime_error("handler bug");
    });
    auto port = api_.listen("127.0.0.1:0");
    ASSERT_TRUE(port) << port.error();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
    client_->set_read_timeout(5, 0);
    port_ = *port;
  }

  // Sends `request` as is and returns the response up to the end of its JSON body (bounded wait).
  std::string rawExchange(const std::string& request) const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        ::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
      char buf[1024];
      // The connection may stay open for keep-alive: stop at the end of the body.
      while (reply.find("\r\n\r\n") == std::string::npos || reply.back() != '}') {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        reply.append(buf, static_cast<size_t>(n));
      }
    }
    ::close(fd);
    return reply;
  }

  httplib::Headers auth(const std::string& token = kToken) { return {{"Authorization", "Bearer " + token}}; }

  ControlQueue control_;
  test::ControlThread thread_{control_};
  ApiServer api_{options(), control_};
  std::unique_ptr<httplib::Client> client_;
  uint16_t port_ = 0;
  std::thread::id handlerThread_;
};

TEST_F(ApiServerTest, PublicRouteAnswersJsonWithoutToken) {
  auto r = client_->Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(bodyOf(r), json({{"status", "ok"}}));
}

TEST_F(ApiServerTest, UnknownRouteIs404Json) {
  auto r = client_->Get("/nope", auth());
  expectError(r, 404, "no such route: /nope");
}

TEST_F(ApiServerTest, KnownPathWithOtherMethodIs405WithAllow) {
  auto r = client_->Delete("/api/v1/echo/7", auth());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST, GET");
  EXPECT_TRUE(bodyOf(r).contains("error"));
}

TEST_F(ApiServerTest, MissingTokenIs401WithBearerChallengeAndHandlerDoesNotRun) {
  auto r = client_->Post("/api/v1/echo/1", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), R"(Bearer realm="rendezvous")");
  EXPECT_NE(bodyOf(r)["error"].get<std::string>().find("missing bearer token"), std::string::npos);
  EXPECT_EQ(handlerThread_, std::thread::id());
}

TEST_F(ApiServerTest, WrongTokenIs401InvalidToken) {
  for (const std::string& token : {std::string("s3cret-tokeX"), std::string("s3cret"), std::string(kToken) + "x"}) {
    auto r = client_->Post("/api/v1/echo/1", auth(token), "{}", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << token;
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), R"(Bearer realm="rendezvous", error="invalid_token")");
    EXPECT_EQ(bodyOf(r)["error"], "invalid bearer token");
  }
  auto basic = client_->Post("/api/v1/echo/1", {{"Authorization", std::string("Basic ") + kToken}}, "{}",
                             "application/json");
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 401) << "only the Bearer scheme carries the token";
}

TEST_F(ApiServerTest, GoodTokenReachesTheHandlerOnTheControlThreadWithParamsAndBody) {
  auto r = client_->Post("/api/v1/echo/abc", auth(), R"({"x": [1, 2]})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(bodyOf(r), json({{"id", "abc"}, {"body", {{"x", {1, 2}}}}}));
  EXPECT_EQ(handlerThread_, thread_.id());
  auto noBody = client_->Post("/api/v1/echo/abc", auth(), "", "application/json");
  ASSERT_TRUE(noBody);
  EXPECT_EQ(bodyOf(noBody)["body"], nullptr) << "no body: null, not an error";
}

// What `curl -X POST URL` sends: no Content-Length at all, which RFC 9112 §6.3 reads as no body.
TEST_F(ApiServerTest, PostWithoutContentLengthHasAnEmptyBody) {
  std::string reply = rawExchange("POST /api/v1/echo/z HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                  std::string(kToken) + "\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0U) << reply;
  EXPECT_NE(reply.find(R"({"body":null,"id":"z"})"), std::string::npos) << reply;
}

TEST_F(ApiServerTest, BadJsonAndNonObjectBodiesAre400) {
  auto bad = client_->Post("/api/v1/echo/1", auth(), "{\"x\": ", "application/json");
  expectError(bad, 400, "body is not valid JSON");
  auto array = client_->Post("/api/v1/echo/1", auth(), "[1]", "application/json");
  expectError(array, 400, "body must be a JSON object");
  auto flag = client_->Post("/api/v1/flag", auth(), R"({"on": "yes"})", "application/json");
  expectError(flag, 400, "on must be true or false");
}

TEST_F(ApiServerTest, BodyOverTheLimitIs413Json) {
  auto r = client_->Post("/api/v1/echo/1", auth(), "{\"x\": \"" + std::string(2000, 'a') + "\"}", "application/json");
  expectError(r, 413, "request body larger than 1024 bytes");
}

TEST_F(ApiServerTest, HandlerExceptionIs500AndTheControlThreadGoesOn) {
  auto r = client_->Get("/api/v1/throws", auth());
  expectError(r, 500, "internal error");
  auto next = client_->Get("/health");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(ApiServerTest, MalformedRequestLineIs400Json) {
  std::string reply = rawExchange("BREW /pot HTCPCP/1.0\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0U) << reply;
  EXPECT_NE(reply.find(R"({"error":"malformed HTTP request"})"), std::string::npos) << reply;
}

TEST(ApiServerTimeout, ControlThreadThatDoesNotAnswerGives503AndTheHandlerNeverRuns) {
  ControlQueue control;  // nobody drains it during the request
  ApiOptions opts;
  opts.controlTimeout = std::chrono::milliseconds(50);
  ApiServer api(opts, control);
  std::atomic<bool> ran{false};
  api.route(Method::Post, "/api/v1/drain", Access::Public, [&](const ApiRequest&) {
    ran = true;
    return ApiReply::ok({});
  });
  auto port = api.listen("127.0.0.1:0");
  ASSERT_TRUE(port) << port.error();
  httplib::Client client("127.0.0.1", *port);
  client.set_read_timeout(5, 0);
  auto r = client.Post("/api/v1/drain", "", "application/json");
  expectError(r, 503, "control thread did not answer within 50 ms; nothing was done");
  EXPECT_EQ(control.drain(), 1U);
  EXPECT_FALSE(ran) << "the request was answered 503: it must not take effect later";
}

}  // namespace
}  // namespace rdv::api
