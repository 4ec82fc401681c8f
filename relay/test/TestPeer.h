#pragma once
// Test helpers for relay tests over real loopback sockets: a plain UDP socket playing a media peer,
// and a RelayControl session with one two-leg stream facing two such peers.

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "relay/RelayControl.h"
#include "relay/test/FreePorts.h"

namespace rdv::relay::test {

constexpr size_t kRtpSize = 172;  // 12-byte header + 160 bytes of PCMU

// A UDP socket bound to an ephemeral port on 127.0.0.1.
class Peer {
 public:
  Peer() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    auto a = *common::SockAddr::fromIp("127.0.0.1", 0);
    EXPECT_EQ(::bind(fd_.get(), a.sa(), a.len()), 0);
    sockaddr_in sin{};
    socklen_t len = sizeof(sin);
    getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&sin), &len);
    addr_ = *common::SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&sin), len);
  }
  const common::SockAddr& addr() const { return addr_; }

  // A PCMU packet: V=2, PT 0, `seq`, timestamp seq * 160, `ssrc`, and a payload derived from `seq`
  // so that a receiver can compare what arrived with what was sent.
  static std::array<uint8_t, kRtpSize> rtp(uint16_t seq, uint32_t ssrc) {
    std::array<uint8_t, kRtpSize> p{};
    p[0] = 0x80;
    p[1] = 0;  // PCMU
    p[2] = static_cast<uint8_t>(seq >> 8);
    p[3] = static_cast<uint8_t>(seq);
    const uint32_t ts = seq * 160U;
    for (int i = 0; i < 4; ++i) p[4 + i] = static_cast<uint8_t>(ts >> (24 - 8 * i));
    for (int i = 0; i < 4; ++i) p[8 + i] = static_cast<uint8_t>(ssrc >> (24 - 8 * i));
    for (size_t i = 12; i < p.size(); ++i) p[i] = static_cast<uint8_t>(seq + i);
    return p;
  }
  void sendRtp(uint16_t toPort, uint16_t seq, uint32_t ssrc) {
    auto p = rtp(seq, ssrc);
    sendRaw(toPort, p.data(), p.size());
  }
  void sendRaw(uint16_t toPort, const void* data, size_t len) {
    auto to = *common::SockAddr::fromIp("127.0.0.1", toPort);
    ASSERT_EQ(::sendto(fd_.get(), data, len, 0, to.sa(), to.len()), static_cast<ssize_t>(len));
  }
  // Waits up to `ms` for one datagram; returns its size or -1.
  ssize_t receive(int ms, uint8_t* out = nullptr, common::SockAddr* from = nullptr) {
    pollfd pfd{fd_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, ms) != 1) return -1;
    uint8_t buf[2048];
    common::SockAddr src;
    socklen_t len = common::SockAddr::kStorage;
    ssize_t n = ::recvfrom(fd_.get(), buf, sizeof(buf), 0, src.storage(), &len);
    if (out != nullptr && n > 0) std::memcpy(out, buf, static_cast<size_t>(n));
    if (from != nullptr) *from = src;
    return n;
  }
  // Discards whatever has already arrived.
  void drain() {
    while (receive(0) >= 0) {
    }
  }

 private:
  common::Fd fd_;
  common::SockAddr addr_;
};

// A relay on 127.0.0.1 with two workers and `pairs` RTP/RTCP port pairs that no other test
// process is using.
// The send path worker tests run with (WorkerOptions::ioUring): the parameter of the running
// SendPaths test, else io_uring (the default).
inline bool& ioUringForTests() {
  static bool on = true;
  return on;
}

// A fixture whose tests run twice, with io_uring sends (/IoUring) and with sendmmsg/sendto
// (/Sendmmsg): every relay built from loopbackOptions() in the test takes that path.
class SendPaths : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { ioUringForTests() = GetParam(); }
  void TearDown() override { ioUringForTests() = true; }
};
inline std::string sendPathName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "IoUring" : "Sendmmsg";
}

inline RelayOptions loopbackOptions(uint16_t pairs) {
  RelayOptions o;
  o.worker.ioUring = ioUringForTests();
  o.interface = "127.0.0.1";
  o.portMin = freePortWindow(static_cast<uint16_t>(2 * pairs));
  o.portMax = static_cast<uint16_t>(o.portMin + 2 * pairs - 1);
  o.workers = 2;
  return o;
}

// Leg parameters sending RTP to the peer's address and RTCP to the port above it.
inline LegParams towards(const Peer& p) {
  LegParams lp;
  lp.rtpRemote = p.addr();
  lp.rtcpRemote = p.addr();
  lp.rtcpRemote.setPort(static_cast<uint16_t>(p.addr().port() + 1));
  return lp;
}

struct Call {
  uint64_t id;
  StreamPorts ports;
};

// Runs RelayControl's asynchronous query/remove to completion: waits (bounded, 5 s) for the
// worker's answer on replyFd and drains it. Tests only: the control thread never waits.
template <typename Start>
std::optional<SessionReport> awaitReport(RelayControl& relay, Start start) {
  bool done = false;
  std::optional<SessionReport> out;
  start([&](std::optional<SessionReport> r) {
    out = std::move(r);
    done = true;
  });
  for (int i = 0; i < 500 && !done; ++i) {
    pollfd p{relay.replyFd(), POLLIN, 0};
    ::poll(&p, 1, 10);
    relay.drainReplies();
  }
  EXPECT_TRUE(done) << "relay worker did not answer within 5 s";
  return out;
}
inline std::optional<SessionReport> queryNow(RelayControl& relay, uint64_t id) {
  return awaitReport(relay, [&](RelayControl::ReportCallback cb) { relay.query(id, std::move(cb)); });
}
inline std::optional<SessionReport> removeNow(RelayControl& relay, uint64_t id) {
  return awaitReport(relay, [&](RelayControl::ReportCallback cb) { relay.remove(id, std::move(cb)); });
}

// A session with one stream whose leg 0 faces `a` and leg 1 faces `b`.
inline Call setUpCall(RelayControl& relay, const Peer& a, const Peer& b, std::string_view callId = "call-1") {
  uint64_t id = relay.createSession(std::string(callId));
  auto ports = relay.addStream(id, false);
  EXPECT_TRUE(ports.has_value());
  EXPECT_TRUE(relay.updateLeg(id, 0, 0, towards(a)).has_value());
  EXPECT_TRUE(relay.updateLeg(id, 0, 1, towards(b)).has_value());
  return Call{id, *ports};
}

}  // namespace rdv::relay::test
