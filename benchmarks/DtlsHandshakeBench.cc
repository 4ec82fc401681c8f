// dtls_handshake_bench: how many DTLS-SRTP handshakes (RFC 5764, media/dtls) the relay can run.
//
//   memory  (default) N full handshakes between a client and a server dtls::DtlsEndpoint in this
//           thread, datagrams passed in memory: wall rate, and CPU per handshake for both sides
//           together and for the server side alone (the relay's share when the peer is the client).
//   worker  N handshakes through one relay worker over 127.0.0.1: --concurrent sessions at a
//           time, each with a passive DTLS leg, a test-side client endpoint per session on its own
//           UDP socket; the worker thread's CPU (/proc/self/task/TID/schedstat of rdv-relay-*) per
//           completed handshake, and the wall rate.
//
// Prints key=value lines. Sends only to 127.0.0.1; every loop is bounded. Not a test: figures go
// to benchmarks/README.md.

#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/Fd.h"
#include "media/dtls/DtlsEndpoint.h"
#include "relay/RelayControl.h"
#include "benchmarks/WorkerCpu.h"

namespace {

using namespace rdv;
using WallClock = std::chrono::steady_clock;

struct Options {
  std::string mode = "memory";
  uint32_t handshakes = 2000;
  uint32_t concurrent = 50;
  std::string profile;  // empty: the defaults (AEAD_AES_128_GCM first)
};

uint64_t threadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

dtls::EndpointOptions endpointOptions(dtls::Role role, const dtls::DtlsIdentity& peer, const Options& o) {
  dtls::EndpointOptions e;
  e.role = role;
  e.remote = *dtls::parseFingerprint(peer.fingerprint());
  e.srtpProfiles = o.profile;
  return e;
}

// Moves `from`'s queued datagrams into `to`; CPU spent in `to` is added to `toCpu`.
size_t pass(dtls::DtlsEndpoint& from, dtls::DtlsEndpoint& to, uint64_t& toCpu) {
  const size_t n = from.outgoingCount();
  std::vector<std::vector<std::byte>> copies;
  for (size_t i = 0; i < n; ++i) copies.emplace_back(from.outgoing(i).begin(), from.outgoing(i).end());
  from.clearOutgoing();
  const uint64_t t0 = threadCpuNs();
  for (const auto& d : copies) to.feed(d, 0);
  toCpu += threadCpuNs() - t0;
  return n;
}

int runMemory(const Options& o) {
  auto clientId = std::move(dtls::DtlsIdentity::generate()).value();
  auto serverId = std::move(dtls::DtlsIdentity::generate()).value();
  uint64_t ok = 0, serverCpu = 0, clientCpu = 0;
  const auto start = WallClock::now();
  const uint64_t cpu0 = threadCpuNs();
  for (uint32_t i = 0; i < o.handshakes; ++i) {
    uint64_t t0 = threadCpuNs();
    auto server = std::move(dtls::DtlsEndpoint::create(*serverId, endpointOptions(dtls::Role::Server, *clientId, o))).value();
    serverCpu += threadCpuNs() - t0;
    t0 = threadCpuNs();
    auto client = std::move(dtls::DtlsEndpoint::create(*clientId, endpointOptions(dtls::Role::Client, *serverId, o))).value();
    client->start(0);
    clientCpu += threadCpuNs() - t0;
    for (int r = 0; r < 20; ++r) {
      if (pass(*client, *server, serverCpu) + pass(*server, *client, clientCpu) == 0) break;
    }
    if (client->state() == dtls::State::Connected && server->state() == dtls::State::Connected) ++ok;
    t0 = threadCpuNs();
    server.reset();
    serverCpu += threadCpuNs() - t0;
  }
  const double wall = std::chrono::duration<double>(WallClock::now() - start).count();
  const double cpu = static_cast<double>(threadCpuNs() - cpu0) / 1e9;
  std::printf("mode=memory handshakes=%u completed=%lu wall_s=%.3f handshakes_per_s=%.0f\n", o.handshakes, ok, wall,
              static_cast<double>(ok) / wall);
  std::printf("cpu_us_per_handshake_both_sides=%.0f server_side_cpu_us=%.0f client_side_cpu_us=%.0f "
              "server_side_handshakes_per_cpu_s=%.0f\n",
              cpu * 1e6 / static_cast<double>(o.handshakes), static_cast<double>(serverCpu) / 1e3 / o.handshakes,
              static_cast<double>(clientCpu) / 1e3 / o.handshakes,
              static_cast<double>(o.handshakes) / (static_cast<double>(serverCpu) / 1e9));
  return ok == o.handshakes ? 0 : 1;
}

struct Slot {
  common::Fd fd;
  common::SockAddr addr;
  uint64_t session = 0;
  uint16_t port = 0;
  std::unique_ptr<dtls::DtlsEndpoint> ep;
};

void sendQueued(Slot& s) {
  const auto to = *common::SockAddr::fromIp("127.0.0.1", s.port);
  for (size_t k = 0; k < s.ep->outgoingCount(); ++k) {
    const auto d = s.ep->outgoing(k);
    ::sendto(s.fd.get(), d.data(), d.size(), 0, to.sa(), to.len());
  }
  s.ep->clearOutgoing();
}

int runWorker(const Options& o) {
  auto relayId = std::move(dtls::DtlsIdentity::generate()).value();
  auto clientId = std::move(dtls::DtlsIdentity::generate()).value();
  relay::RelayOptions ro;
  ro.interface = "127.0.0.1";
  ro.portMin = 46000;
  ro.portMax = static_cast<uint16_t>(46000 + 8 * o.concurrent + 16);
  ro.workers = 1;
  ro.worker.dtlsIdentity = relayId;
  relay::RelayControl relay(ro);
  const dtls::Fingerprint cf = *dtls::parseFingerprint(clientId->fingerprint());
  relay::LegDtls legDtls;
  legDtls.role = relay::DtlsRole::Passive;
  legDtls.remote.digest = cf.digest;
  legDtls.remote.length = cf.length;

  std::vector<Slot> slots(o.concurrent);
  for (Slot& s : slots) {
    s.fd = common::Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    auto a = *common::SockAddr::fromIp("127.0.0.1", 0);
    ::bind(s.fd.get(), a.sa(), a.len());
    socklen_t len = common::SockAddr::kStorage;
    ::getsockname(s.fd.get(), s.addr.storage(), &len);
    s.addr = *common::SockAddr::fromSockaddr(s.addr.sa(), len);
  }
  uint32_t started = 0, completed = 0, failed = 0;
  auto begin = [&](Slot& s) {
    s.session = relay.createSession("dtls-bench-" + std::to_string(started));
    auto ports = relay.addStream(s.session, true);
    if (!ports) return false;
    s.port = ports->rtpPort[0];
    relay::LegParams pa;
    pa.rtpRemote = pa.rtcpRemote = s.addr;
    pa.mux = true;
    pa.dtls = legDtls;
    relay::LegParams pb;
    pb.mux = true;
    (void)relay.updateLeg(s.session, 0, 0, pa);
    (void)relay.updateLeg(s.session, 0, 1, pb);
    s.ep = std::move(dtls::DtlsEndpoint::create(*clientId, endpointOptions(dtls::Role::Client, *relayId, o))).value();
    s.ep->start(0);
    sendQueued(s);
    ++started;
    return true;
  };
  auto end = [&](Slot& s) {
    relay.remove(s.session, [](std::optional<relay::SessionReport>) {});
    s.ep.reset();
  };
  const uint64_t cpu0 = bench::relayWorkerCpuNs();
  const auto t0 = WallClock::now();
  const auto deadline = t0 + std::chrono::seconds(120);
  for (Slot& s : slots) {
    if (started < o.handshakes) begin(s);
  }
  std::vector<pollfd> pfds(slots.size());
  std::array<std::byte, 2048> buf;
  while (completed + failed < started && WallClock::now() < deadline) {
    for (size_t i = 0; i < slots.size(); ++i) pfds[i] = {slots[i].fd.get(), POLLIN, 0};
    ::poll(pfds.data(), pfds.size(), 100);
    relay.drainReplies();
    for (size_t i = 0; i < slots.size(); ++i) {
      Slot& s = slots[i];
      if (!s.ep) continue;
      ssize_t n;
      while ((n = ::recv(s.fd.get(), buf.data(), buf.size(), 0)) > 0) s.ep->feed({buf.data(), static_cast<size_t>(n)}, 0);
      s.ep->onTimer(0);
      sendQueued(s);
      const dtls::State st = s.ep->state();
      if (st != dtls::State::Connected && st != dtls::State::Failed) continue;
      ++(st == dtls::State::Connected ? completed : failed);
      end(s);
      if (started < o.handshakes) begin(s);
    }
  }
  const double wall = std::chrono::duration<double>(WallClock::now() - t0).count();
  const double cpu = static_cast<double>(bench::relayWorkerCpuNs() - cpu0) / 1e9;
  uint64_t ok = 0;
  for (const auto& w : relay.workers()) ok += w->counters().dtlsHandshakesOk.get();
  std::printf("mode=worker handshakes=%u concurrent=%u completed=%u failed=%u relay_ok=%lu wall_s=%.3f "
              "handshakes_per_s=%.0f\n",
              o.handshakes, o.concurrent, completed, failed, ok, wall, static_cast<double>(completed) / wall);
  std::printf("worker_cpu_s=%.3f worker_cpu_us_per_handshake=%.0f handshakes_per_worker_cpu_s=%.0f\n", cpu,
              cpu * 1e6 / std::max<uint32_t>(completed, 1), static_cast<double>(completed) / cpu);
  return completed == o.handshakes ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--mode") {
      o.mode = value();
    } else if (a == "--handshakes") {
      o.handshakes = static_cast<uint32_t>(std::stoul(value()));
    } else if (a == "--concurrent") {
      o.concurrent = static_cast<uint32_t>(std::stoul(value()));
    } else if (a == "--profile") {
      o.profile = value();
    } else {
      std::fprintf(stderr,
                   "usage: dtls_handshake_bench [--mode memory|worker] [--handshakes N] [--concurrent N] "
                   "[--profile SRTP_AES128_CM_SHA1_80]\n");
      return 2;
    }
  }
  if (o.handshakes == 0 || o.concurrent == 0) return 2;
  return o.mode == "worker" ? runWorker(o) : runMemory(o);
}
