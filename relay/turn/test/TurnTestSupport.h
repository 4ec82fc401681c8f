#pragma once
// Test helpers shared by the TURN tests: the STUN names they use, a loopback TurnServer with the
// test credentials (alice / pw in realm rdv), on its own thread or hosted by a relay worker, and
// the request/answer halves of a signed exchange.

#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "relay/RelayWorker.h"
#include "relay/stun/StunBuilder.h"
#include "relay/test/FreePorts.h"
#include "relay/turn/TurnServer.h"

namespace rdv::turn::test {

using stun::MessageClass;
using stun::StunBuilder;
using stun::StunView;
namespace attr = stun::attr;
namespace method = stun::method;

// `o` with a free 8-port relay window (set in `o`); a few attempts, bounded: with port 0 the kernel picks the
// UDP port and TCP must get the same number, which a busy machine may hold on TCP. With `host`
// the server gets no thread: a relay worker, started into *host, hosts it (*host must be
// destroyed before the server).
inline Expected<std::unique_ptr<TurnServer>, std::string> startServer(
    TurnServerOptions& o, const common::Clock& clock, std::unique_ptr<relay::RelayWorker>* host = nullptr) {
  o.portMin = relay::test::freePortWindow(8);
  o.portMax = static_cast<uint16_t>(o.portMin + 7);
  auto start = [&] {
    return (host != nullptr ? TurnServer::create : TurnServer::start)(
        o, Credentials("rdv", {{"alice", "pw"}}, ""), *PeerPolicy::create({"127.0.0.0/8"}), clock);
  };
  auto s = start();
  for (int attempt = 0; attempt < 20 && !s; ++attempt) s = start();
  if (s && host != nullptr) {
    *host = std::make_unique<relay::RelayWorker>(
        0, relay::WorkerOptions{}, [](relay::SessionEnded&&) {}, [](relay::SessionReply&&) {});
    (*host)->start();
    (*host)->host(**s);
  }
  return s;
}

// Names the two runs of a suite parameterised on hosting.
inline std::string hostingName(const ::testing::TestParamInfo<bool>& i) {
  return i.param ? "Hosted" : "OwnThread";
}

// A request of method `m` with transaction id byte `txn`, filled by `fill` and, when `nonce` is
// given, signed as alice with it.
inline std::vector<std::byte> request(uint16_t m, uint8_t txn, const std::function<void(StunBuilder&)>& fill,
                                      const std::string* nonce) {
  std::array<std::byte, 512> buf{};
  stun::TransactionId id{};
  id[0] = std::byte{txn};
  StunBuilder b(buf, m, MessageClass::Request, id);
  fill(b);
  if (nonce != nullptr) {
    b.addText(attr::kUsername, "alice").addText(attr::kRealm, "rdv").addText(attr::kNonce, *nonce);
    b.addIntegrity(stun::longTermKey("alice", "rdv", "pw"));
  }
  return {b.bytes().begin(), b.bytes().end()};
}

// The answer's code (0 = success), -1 when `reply` is no STUN message; keeps its NONCE in `nonce`.
inline int answerCode(std::span<const std::byte> reply, std::string& nonce) {
  auto r = StunView::parse(reply);
  if (!r) return -1;
  if (auto n = r->text(attr::kNonce)) nonce = std::string(*n);
  if (r->messageClass() == MessageClass::SuccessResponse) return 0;
  return r->errorCode() ? r->errorCode()->code : -1;
}

}  // namespace rdv::turn::test
