// The whole server in-process: start() wires relay, NG, SIP and metrics on loopback ports; the
// tests talk to it through its sockets as a proxy, a phone and Prometheus would.

#include "app/Server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "app/test/TestSockets.h"
#include "relay/test/FreePorts.h"

namespace rdv::app {
namespace {

using test::httpGet;
using test::sample;
using test::udpExchange;

struct Ports {
  uint16_t base = relay::test::freePortWindow(48);
  uint16_t relayMin() const { return base; }
  uint16_t relayMax() const { return static_cast<uint16_t>(base + 39); }
  uint16_t ng() const { return static_cast<uint16_t>(base + 40); }
  uint16_t sip() const { return static_cast<uint16_t>(base + 41); }
  uint16_t metrics() const { return static_cast<uint16_t>(base + 42); }
  uint16_t api() const { return static_cast<uint16_t>(base + 43); }
};

config::Config configFor(const Ports& p) {
  config::Config c;
  c.relay.interface = "127.0.0.1";
  c.relay.portMin = p.relayMin();
  c.relay.portMax = p.relayMax();
  c.relay.workers = 1;
  c.ng.listen = "127.0.0.1:" + std::to_string(p.ng());
  c.sip.listen = "127.0.0.1:" + std::to_string(p.sip());
  c.metrics.listen = "127.0.0.1:" + std::to_string(p.metrics());
  c.api.listen = "127.0.0.1:" + std::to_string(p.api());
  c.sip.users["alice"] = "secret";
  return c;
}

// Runs a started server on its own thread until the test ends.
class Running {
 public:
  explicit Running(Server& s) : server_(s), thread_([this] { rc_ = server_.run(); }) {}
  ~Running() { join(); }
  int join() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
    return rc_;
  }

 private:
  Server& server_;
  int rc_ = -1;
  std::thread thread_;
};

TEST(ServerTest, AnswersNgPingSipAndServesMetricsThenStops) {
  Ports ports;
  Server server(configFor(ports));
  auto started = server.start();
  ASSERT_TRUE(started) << started.error();
  Running running(server);

  EXPECT_EQ(udpExchange(ports.ng(), "c1 d7:command4:pinge"), "c1 d6:result4:ponge");

  // An unauthenticated REGISTER is challenged: SIP is wired to the registrar.
  const std::string reg =
      "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKs1\r\nMax-Forwards: 70\r\n"
      "From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: reg1\r\nCSeq: 1 REGISTER\r\n"
      "Contact: <sip:alice@127.0.0.1:5999>\r\nContent-Length: 0\r\n\r\n";
  const std::string reply = udpExchange(ports.sip(), reg);
  EXPECT_EQ(reply.rfind("SIP/2.0 401 ", 0), 0U) << reply;
  EXPECT_NE(reply.find("WWW-Authenticate: Digest"), std::string::npos);

  const std::string metrics = httpGet(ports.metrics(), "/metrics");
  ASSERT_EQ(metrics.rfind("HTTP/1.", 0), 0U) << metrics;
  EXPECT_NE(metrics.find(" 200 "), std::string::npos);
  EXPECT_EQ(sample(metrics, "rdv_ng_requests_total"), 1);
  EXPECT_EQ(sample(metrics, "rdv_sip_auth_challenges_total"), 1);
  EXPECT_EQ(sample(metrics, "rdv_calls_session_expired_total"), 0) << "exported before any call expires";
  EXPECT_EQ(sample(metrics, "rdv_sessions_active"), 0);
  EXPECT_EQ(sample(metrics, "rdv_ports_free"), 40);

  EXPECT_EQ(running.join(), 0) << "run() returns 0 after stop()";
}

TEST(ServerTest, NgOfferThroughTheServerAnchorsOnItsPortsAndDeleteReleasesThem) {
  Ports ports;
  Server server(configFor(ports));
  ASSERT_TRUE(server.start());
  Running running(server);
  const std::string sdp =
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
  const std::string offer = "o1 d7:call-id2:c17:command5:offer8:from-tag1:a3:sdp" + std::to_string(sdp.size()) + ":" +
                            sdp + "e";
  const std::string reply = udpExchange(ports.ng(), offer);
  ASSERT_NE(reply.find("6:result2:ok"), std::string::npos) << reply;
  const auto m = reply.find("m=audio ");
  ASSERT_NE(m, std::string::npos);
  const int port = std::stoi(reply.substr(m + 8));
  EXPECT_GE(port, ports.relayMin());
  EXPECT_LE(port, ports.relayMax());
  EXPECT_EQ(sample(httpGet(ports.metrics(), "/metrics"), "rdv_sessions_active"), 1);
  EXPECT_NE(udpExchange(ports.ng(), "d1 d7:call-id2:c17:command6:delete8:from-tag1:ae").find("6:result2:ok"),
            std::string::npos);
  const std::string after = httpGet(ports.metrics(), "/metrics");
  EXPECT_EQ(sample(after, "rdv_sessions_active"), 0);
  EXPECT_EQ(sample(after, "rdv_ports_free"), 40);
}

TEST(ServerTest, StartFailsNamingTheNgAddressWhenItsPortIsTaken) {
  Ports ports;
  common::Fd squatter(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  auto a = *common::SockAddr::fromIp("127.0.0.1", ports.ng());
  ASSERT_EQ(::bind(squatter.get(), a.sa(), a.len()), 0);
  Server server(configFor(ports));
  auto started = server.start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().find("127.0.0.1:" + std::to_string(ports.ng())), std::string::npos) << started.error();
}

TEST(ServerTest, StartFailsNamingAnUnreadableDtlsCertificate) {
  Ports ports;
  auto cfg = configFor(ports);
  const auto dir = std::filesystem::temp_directory_path() / ("rdv-dtls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "dtls-cert.pem").string();
  std::ofstream(cert) << "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  cfg.sip.media.dtlsCertificate = cert;
  cfg.sip.media.dtlsPrivateKey = (dir / "dtls-key.pem").string();
  Server server(cfg);
  auto started = server.start();
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().find("dtls-cert.pem"), std::string::npos) << started.error();
}

TEST(ServerTest, WithoutSipListenNoSipSocketIsOpened) {
  Ports ports;
  auto cfg = configFor(ports);
  cfg.sip.listen.clear();
  cfg.metrics.listen.clear();
  Server server(cfg);
  ASSERT_TRUE(server.start());
  Running running(server);
  EXPECT_EQ(udpExchange(ports.ng(), "p1 d7:command4:pinge"), "p1 d6:result4:ponge");
  // Nothing listens on the SIP port: a connected UDP socket gets the ICMP port unreachable.
  common::Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  auto to = *common::SockAddr::fromIp("127.0.0.1", ports.sip());
  ASSERT_EQ(::connect(fd.get(), to.sa(), to.len()), 0);
  ASSERT_EQ(::send(fd.get(), "x", 1, 0), 1);
  pollfd p{fd.get(), POLLIN | POLLERR, 0};
  ASSERT_EQ(::poll(&p, 1, 3000), 1);
  char c;
  EXPECT_EQ(::recv(fd.get(), &c, 1, 0), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
}

// Names of this process's threads now (/proc/self/task/*/comm).
std::vector<std::string> threadNames() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream f(e.path() / "comm");
    std::string name;
    if (std::getline(f, name)) out.push_back(name);
  }
  return out;
}

bool hasThread(const std::string& name) {
  const auto names = threadNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// relay.host_tcp_and_turn: by default TURN and the TCP splicer run on the relay workers (no
// thread of their own) and answer; with 0 they get their threads back. TURN's busy time is
// exported either way.
TEST(ServerTest, TurnAndTheTcpSplicerRunOnTheRelayWorkersUnlessConfiguredOtherwise) {
  for (uint32_t hosted : {1U, 0U}) {
    SCOPED_TRACE(hosted ? "hosted" : "own threads");
    Ports ports;
    auto cfg = configFor(ports);
    const uint16_t turnPort = static_cast<uint16_t>(ports.base + 44);
    cfg.turn.listen = "127.0.0.1:" + std::to_string(turnPort);
    cfg.turn.users["bob"] = "pw";
    cfg.relay.hostTcpAndTurn = hosted;
    Server server(cfg);
    auto started = server.start();
    ASSERT_TRUE(started) << started.error();
    Running running(server);
    // STUN Binding request (RFC 8489 §5): type 0x0001, length 0, magic cookie, transaction id.
    const std::string binding = std::string("\x00\x01\x00\x00\x21\x12\xa4\x42", 8) + "hostedloop12";
    const std::string reply = udpExchange(turnPort, binding);
    ASSERT_GE(reply.size(), 20U) << "no Binding answer";
    EXPECT_EQ(reply.substr(0, 2), std::string("\x01\x01", 2)) << "Binding success response";
    EXPECT_EQ(reply.substr(8, 12), "hostedloop12");
    EXPECT_EQ(hasThread("rdv-turn"), hosted == 0);
    EXPECT_EQ(hasThread("rdv-relay-tcp"), hosted == 0);
    EXPECT_GE(sample(httpGet(ports.metrics(), "/metrics"), "rdv_turn_busy_seconds_total"), 0);
    EXPECT_EQ(running.join(), 0);
  }
}

}  // namespace
}  // namespace rdv::app
