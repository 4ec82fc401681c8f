// TURN client connections over TCP against their limits, through a TurnServer on loopback
// (turn.tcp_max_connections, turn.tcp_max_per_source, turn.tcp_idle_timeout): connections beyond
// a limit are reset at once and counted by reason, the gauge follows the live ones, silent or
// half-sent connections without allocation are closed after the idle time (injected clock), and
// the room they leave is usable again. Every wait is a poll() with a deadline.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <vector>

#include "relay/turn/test/TurnTestSupport.h"

namespace rdv::turn {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared TURN test names

// A client connection from `src` to `to`; invalid when connect() itself was refused.
common::Fd connectFrom(const char* src, const common::SockAddr& to) {
  common::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto from = *common::SockAddr::fromIp(src, 0);
  EXPECT_EQ(::bind(fd.get(), from.sa(), from.len()), 0);
  if (::connect(fd.get(), to.sa(), to.len()) != 0) return {};
  return fd;
}

// What the server did to `fd` within 4 s: 'r' reset, 'e' closed (EOF), 'b' answered a Binding
// request sent on it, 't' nothing (still open and silent).
char fate(const common::Fd& fd, bool sendBinding) {
  if (!fd.valid()) return 'r';  // refused before connect() returned
  if (sendBinding) {
    const auto req = request(method::kBinding, 1, [](StunBuilder&) {}, nullptr);
    if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) < 0) return errno == ECONNRESET || errno == EPIPE ? 'r' : '?';
  }
  pollfd p{fd.get(), POLLIN, 0};
  if (::poll(&p, 1, 4000) != 1) return 't';
  std::byte buf[256];
  const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
  if (n < 0) return errno == ECONNRESET ? 'r' : '?';
  return n == 0 ? 'e' : 'b';
}

uint64_t refused(const TurnServer& s, Refusal r) {
  return s.counters().refused[static_cast<size_t>(r)].get();
}

TEST(TurnTcpClientsLimits, BeyondPerSourceAndTotalLimitsConnectionsAreResetAndSilentOnesReaped) {
  common::ManualClock clock;
  TurnServerOptions o;
  o.listen = *common::SockAddr::fromIp("127.0.0.1", 0);
  o.relayAddress = o.listen;
  o.clientLimits = TcpClientLimits{.maxConnections = 3, .maxPerSource = 2, .idleMs = 2000};
  auto started = startServer(o, clock);
  ASSERT_TRUE(started) << started.error();
  TurnServer& server = **started;
  const common::SockAddr at = server.localAddress();

  common::Fd a1 = connectFrom("127.0.0.1", at), a2 = connectFrom("127.0.0.1", at);
  EXPECT_EQ(fate(a1, true), 'b');
  EXPECT_EQ(fate(a2, true), 'b');
  common::Fd a3 = connectFrom("127.0.0.1", at);
  EXPECT_EQ(fate(a3, true), 'r') << "a third connection from one IP";
  EXPECT_EQ(refused(server, Refusal::TcpSourceLimit), 1u);
  common::Fd b1 = connectFrom("127.0.0.2", at);
  const std::byte half[10] = {std::byte{0}, std::byte{1}, std::byte{0}, std::byte{8}};  // half a STUN header
  ASSERT_EQ(::send(b1.get(), half, sizeof(half), 0), 10);
  common::Fd c1 = connectFrom("127.0.0.3", at);
  EXPECT_EQ(fate(c1, true), 'r') << "a fourth connection in all";
  EXPECT_EQ(refused(server, Refusal::TcpConnectionLimit), 1u);
  EXPECT_EQ(server.counters().tcpClients.get(), 3u);

  clock.advanceMs(2'001);  // silent since their Binding
  EXPECT_EQ(fate(a1, false), 'e');
  EXPECT_EQ(fate(a2, false), 'e');
  // Mid-frame: its bytes may have been read only at the advanced instant on a loaded machine, so
  // once more (closed by whichever sweep finds it idle; counted once).
  clock.advanceMs(2'001);
  EXPECT_EQ(fate(b1, false), 'e');
  EXPECT_EQ(refused(server, Refusal::TcpIdle), 3u);
  EXPECT_EQ(server.counters().tcpClients.get(), 0u);
  common::Fd again = connectFrom("127.0.0.3", at);
  EXPECT_EQ(fate(again, true), 'b') << "the room they left is usable again";
}

}  // namespace
}  // namespace rdv::turn
