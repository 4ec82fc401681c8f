#pragma once
// A relay, MediaAnchor, NgHandler and NgServer on loopback for NG tests; deferred replies (query,
// delete) are captured and waited for (bounded).

#include <poll.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "relay/RelayControl.h"
#include "relay/test/FreePorts.h"
#include "signaling/ng/NgServer.h"

namespace rdv::ng::test {

inline relay::RelayOptions relayOptions() {
  relay::RelayOptions o;
  o.portMin = relay::test::freePortWindow(100);
  o.portMax = static_cast<uint16_t>(o.portMin + 99);
  o.workers = 1;
  return o;
}

// A relay, anchor, handler and server; deferred replies (query, delete) are captured.
struct NgStack {
  explicit NgStack(const relay::RelayOptions& o) : relay(o) {
    server.setSender([this](std::string_view d, const common::SockAddr&) { sent.emplace_back(d); });
  }
  relay::RelayControl relay;
  common::ManualClock clock;
  anchor::MediaAnchor anchor{relay, "127.0.0.1", clock};
  NgHandler handler{anchor};
  NgServer server{handler, std::chrono::seconds(30), clock};
  std::vector<std::string> sent;  // deferred replies, in order

  // Runs one request to its reply: at once, or after the relay worker answered (bounded wait).
  BValue call(std::string_view cookie, const BValue& req) {
    std::string out = server.process(std::string(cookie) + " " + encodeBencode(req));
    for (int i = 0; i < 500 && out.empty(); ++i) {
      pollfd p{relay.replyFd(), POLLIN, 0};
      ::poll(&p, 1, 10);
      relay.drainReplies();
      for (auto it = sent.begin(); it != sent.end(); ++it) {
        if (it->rfind(std::string(cookie) + " ", 0) == 0) {
          out = *it;
          sent.erase(it);
          break;
        }
      }
    }
    EXPECT_EQ(out.substr(0, cookie.size() + 1), std::string(cookie) + " ");
    auto v = parseBencode(std::string_view(out).substr(std::min(out.size(), cookie.size() + 1)));
    EXPECT_TRUE(v.has_value()) << out;
    return v ? *v : BValue();
  }
};

}  // namespace rdv::ng::test
