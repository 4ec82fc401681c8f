// relay_srtp_bench: what SRTP termination on relay legs (issue 12) adds to the relay's CPU per
// forwarded packet. A RelayControl on 127.0.0.1 with N two-leg rtcp-mux sessions in this process,
// and a generator in a forked process with two UDP sockets per session sending RTP both ways at a
// fixed rate, protecting what it sends to a leg that terminates SRTP with that leg's keys. For
// each mode — plain (no crypto), bridge (leg 0 SRTP, leg 1 plain: one unprotect or one protect
// per packet), srtp (both legs SRTP with different keys: unprotect + protect per packet) — the
// generator warms up for a second (latching, libsrtp's per-SSRC streams), then the relay workers'
// CPU time (/proc/self/task/TID/schedstat of the rdv-relay-* threads, ns) over the media phase is
// divided by the packets the workers forwarded. The extra cost of a mode is its figure minus plain's.
//
// Prints key=value lines, one block per mode and round. Sends only to 127.0.0.1; every run is
// bounded by --seconds. Not a test: figures go to benchmarks/README.md.

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/Fd.h"
#include "media/srtp/SrtpContext.h"
#include "media/srtp/SrtpTransforms.h"
#include "relay/RelayControl.h"
#include "benchmarks/WorkerCpu.h"

namespace {

using namespace rdv;
using Clock = std::chrono::steady_clock;

struct Options {
  uint32_t sessions = 1000;
  uint32_t rate = 25;  // packets/s per stream (two streams per session)
  double seconds = 10;
  uint32_t workers = 2;
  uint32_t rounds = 1;
  srtp::Suite suite = srtp::Suite::AeadAes128Gcm;
  // The transforms under libsrtp in the relay's contexts (media/srtp/SrtpTransforms.h); with
  // both, every crypto mode runs once with each, back to back, in every round.
  std::vector<srtp::Transforms> transforms{srtp::Transforms::Rendezvous};
  // The path SRTP packets take in the relay's contexts (media/srtp/SrtpContext.h, RtpPath): the
  // compact object or libsrtp; with both, each crypto mode runs with each, like the transforms.
  std::vector<srtp::RtpPath> paths{srtp::RtpPath::Compact};
  bool ioUring = true;  // the workers' send path of this run (relay.io_uring, relay/UringSender.h)
  // --io-uring on|off|both: with both, every run happens once each way, the order alternating by round.
  std::vector<bool> ioUringModes{true};
  uint16_t portMin = 61000;  // the relay's ports: 4,536 from here (61000..65535 by default)
};

enum class Mode { Plain, Bridge, Srtp };
const char* name(Mode m) {
  return m == Mode::Plain ? "plain" : m == Mode::Bridge ? "bridge" : "srtp";
}

relay::SrtpKeys keys(srtp::Suite s, uint32_t seed) {
  relay::SrtpKeys k;
  k.suite = s;
  k.count = 1;
  k.keys[0].keySaltLength = static_cast<uint8_t>(srtp::suiteInfo(s).keySaltLength());
  for (size_t i = 0; i < k.keys[0].keySaltLength; ++i)
    k.keys[0].keySalt[i] = std::byte(static_cast<uint8_t>(seed * 7 + i));
  return k;
}

std::optional<srtp::SrtpContext> outbound(const relay::SrtpKeys& k) {
  const srtp::MasterKey mk{std::span<const std::byte>(k.keys[0].keySalt.data(), k.keys[0].keySaltLength)};
  auto c = srtp::SrtpContext::create({k.suite, srtp::Direction::Outbound, {&mk, 1}});
  if (!c) return std::nullopt;
  return std::move(c).value();
}

// One direction of one session: the generator's socket, where it sends, its SRTP context if the
// leg it sends to terminates SRTP.
struct Stream {
  common::Fd fd;
  common::SockAddr local;
  common::SockAddr to;
  uint32_t ssrc = 0;
  uint16_t seq = 0;
  std::optional<srtp::SrtpContext> tx;
};

common::Fd udpSocket(common::SockAddr& bound) {
  common::Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  auto a = *common::SockAddr::fromIp("127.0.0.1", 0);
  if (::bind(fd.get(), a.sa(), a.len()) != 0) return {};
  socklen_t len = common::SockAddr::kStorage;
  ::getsockname(fd.get(), bound.storage(), &len);
  bound = *common::SockAddr::fromSockaddr(bound.sa(), len);
  return fd;
}

struct Totals {
  uint64_t relayed = 0, unprotected = 0, protectedPkts = 0, srtpDrops = 0, drops = 0, sendSyscalls = 0;
};
Totals totals(const relay::RelayControl& r) {
  Totals t;
  for (const auto& w : r.workers()) {
    const auto& c = w->counters();
    t.relayed += c.packetsRelayed.get();
    t.sendSyscalls += c.sendSyscalls.get();
    t.unprotected += c.srtpUnprotected.get();
    t.protectedPkts += c.srtpProtected.get();
    for (const auto& d : c.srtpDrops) t.srtpDrops += d.get();
    for (const auto& d : c.drops) t.drops += d.get();
  }
  return t;
}

// Runs the streams for `seconds`: each sends `rate` packets/s, spread evenly; whatever arrives is
// read and counted. Returns packets received.
uint64_t pump(std::vector<Stream>& streams, int epfd, uint32_t rate, double seconds, uint64_t& sent) {
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const double period = 1.0 / rate;
  const size_t n = streams.size();
  uint64_t due = 0, received = 0;
  std::array<std::byte, 2048> buf{};
  std::array<epoll_event, 256> ev{};
  while (Clock::now() < end) {
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    const auto shouldBe = static_cast<uint64_t>(t / period * static_cast<double>(n));
    for (int burst = 0; due < shouldBe && burst < 512; ++burst, ++due) {
      Stream& s = streams[due % n];
      ++s.seq;
      std::memset(buf.data(), 0, 172);
      buf[0] = std::byte{0x80};
      buf[2] = std::byte(static_cast<uint8_t>(s.seq >> 8));
      buf[3] = std::byte(static_cast<uint8_t>(s.seq));
      for (int i = 0; i < 4; ++i) buf[8 + i] = std::byte(static_cast<uint8_t>(s.ssrc >> (24 - 8 * i)));
      size_t len = 172;
      if (s.tx) {
        auto p = s.tx->protectRtp(buf, len);
        if (!p) continue;
        len = *p;
      }
      if (::sendto(s.fd.get(), buf.data(), len, 0, s.to.sa(), s.to.len()) == static_cast<ssize_t>(len))
        ++sent;
    }
    const int k = ::epoll_wait(epfd, ev.data(), static_cast<int>(ev.size()), 1);
    for (int i = 0; i < k; ++i) {
      while (::recv(static_cast<int>(ev[i].data.u64), buf.data(), buf.size(), MSG_DONTWAIT) > 0) ++received;
    }
  }
  return received;
}

bool readAll(int fd, void* data, size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}
bool writeAll(int fd, const void* data, size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t r = ::write(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Keys of session s: leg 0 receives with 4s and sends with 4s+1, leg 1 with 4s+2 and 4s+3.
relay::LegCrypto legCrypto(srtp::Suite suite, uint32_t s, int leg) {
  return {keys(suite, 4 * s + 2 * static_cast<uint32_t>(leg)),
          keys(suite, 4 * s + 2 * static_cast<uint32_t>(leg) + 1)};
}

// The generator, a process of its own (forked before the relay side touches libsrtp: with the
// system libsrtp2 fallback on NSS, NSS's process-wide locks would otherwise be shared with the
// workers, and NSS refuses to be used across fork; libsrtp2 on OpenSSL shares nothing either way). Per mode:
// creates 2n sockets and reports their ports, takes the relay ports, warms up 1 s, writes 'S', sends for the
// measured seconds, writes 'E' with packets sent and received.
[[noreturn]] void generatorMain(int in, int out, const Options& o) {
  uint32_t cmd[2];
  while (readAll(in, cmd, sizeof(cmd))) {
    const auto mode = static_cast<Mode>(cmd[0]);
    const uint32_t n = cmd[1];
    std::vector<Stream> streams(2 * n);
    std::vector<uint16_t> ports(2 * n);
    common::Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    for (size_t i = 0; i < streams.size(); ++i) {
      streams[i].fd = udpSocket(streams[i].local);
      ports[i] = streams[i].local.port();
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.u64 = static_cast<uint64_t>(streams[i].fd.get());
      ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, streams[i].fd.get(), &e);
    }
    if (!writeAll(out, ports.data(), ports.size() * sizeof(uint16_t))) break;
    if (!readAll(in, ports.data(), ports.size() * sizeof(uint16_t))) break;
    for (uint32_t s = 0; s < n; ++s) {
      for (int l = 0; l < 2; ++l) {
        Stream& st = streams[2 * s + static_cast<uint32_t>(l)];
        st.to = *common::SockAddr::fromIp("127.0.0.1", ports[2 * s + static_cast<uint32_t>(l)]);
        st.ssrc = (l == 0 ? 0x10000U : 0x20000U) + s;
        if ((l == 0 && mode != Mode::Plain) || (l == 1 && mode == Mode::Srtp)) {
          st.tx = outbound(legCrypto(o.suite, s, l).recv);
        }
      }
    }
    uint64_t sent = 0;
    pump(streams, ep.get(), o.rate, 1.0, sent);  // warm-up: latching, per-SSRC SRTP streams
    if (!writeAll(out, "S", 1)) break;
    sent = 0;
    const uint64_t received = pump(streams, ep.get(), o.rate, o.seconds, sent);
    const uint64_t res[2] = {sent, received};
    if (!writeAll(out, "E", 1) || !writeAll(out, res, sizeof(res))) break;
  }
  ::_exit(0);
}

struct Generator {
  pid_t pid = -1;
  int toChild = -1;
  int fromChild = -1;
};

bool runMode(const Options& o, const Generator& g, Mode mode, uint32_t round, srtp::Transforms tf,
             srtp::RtpPath path) {
  // Before the workers exist: the contexts they make for the legs take these transforms and path.
  if (!srtp::useTransforms(tf)) return false;
  srtp::useRtpPath(path);
  const uint32_t cmd[2] = {static_cast<uint32_t>(mode), o.sessions};
  std::vector<uint16_t> ports(2 * o.sessions);
  if (!writeAll(g.toChild, cmd, sizeof(cmd)) ||
      !readAll(g.fromChild, ports.data(), ports.size() * sizeof(uint16_t))) {
    return false;
  }
  relay::RelayOptions ro;
  ro.interface = "127.0.0.1";
  // Above the kernel's ephemeral ports (the generator's sockets) and the test harnesses' ranges.
  ro.portMin = o.portMin;
  ro.portMax = static_cast<uint16_t>(std::min<uint32_t>(65535U, o.portMin + 4535U));
  ro.workers = o.workers;
  ro.worker.ioUring = o.ioUring;
  relay::RelayControl relay(ro);
  std::vector<uint16_t> relayPorts(2 * o.sessions);
  for (uint32_t s = 0; s < o.sessions; ++s) {
    const uint64_t id = relay.createSession("bench-" + std::to_string(s));
    auto sp = relay.addStream(id, true);
    if (!sp) {
      std::fprintf(stderr, "addStream: %s\n", sp.error().message.c_str());
      return false;
    }
    for (int l = 0; l < 2; ++l) {
      relay::LegParams p;
      p.rtpRemote = p.rtcpRemote =
          *common::SockAddr::fromIp("127.0.0.1", ports[2 * s + static_cast<uint32_t>(l)]);
      p.mux = true;
      if ((l == 0 && mode != Mode::Plain) || (l == 1 && mode == Mode::Srtp))
        p.crypto = legCrypto(o.suite, s, l);
      if (!relay.updateLeg(id, 0, static_cast<uint8_t>(l), p)) return false;
      relayPorts[2 * s + static_cast<uint32_t>(l)] = sp->rtpPort[l];
    }
  }
  if (!writeAll(g.toChild, relayPorts.data(), relayPorts.size() * sizeof(uint16_t))) return false;
  char mark = 0;
  if (!readAll(g.fromChild, &mark, 1) || mark != 'S') return false;
  const Totals t0 = totals(relay);
  const uint64_t cpu0 = bench::relayWorkerCpuNs();
  uint64_t res[2] = {0, 0};
  if (!readAll(g.fromChild, &mark, 1) || mark != 'E') return false;
  const uint64_t cpu1 = bench::relayWorkerCpuNs();
  const Totals t1 = totals(relay);
  if (!readAll(g.fromChild, res, sizeof(res))) return false;
  const uint64_t sent = res[0], received = res[1];
  const uint64_t relayed = t1.relayed - t0.relayed;
  std::printf(
      "mode=%s suite=%s transforms=%s rtp_path=%s round=%u sessions=%u rate=%u seconds=%.1f workers=%u "
      "io_uring=%s\n",
      name(mode), std::string(srtp::suiteInfo(o.suite).name).c_str(),
      mode == Mode::Plain ? "none" : std::string(srtp::toString(tf)).c_str(),
      mode == Mode::Plain ? "none" : std::string(srtp::toString(path)).c_str(), round, o.sessions, o.rate,
      o.seconds, o.workers, o.ioUring ? "on" : "off");
  std::printf(
      "sent=%llu received=%llu relayed=%llu loss_pct=%.3f srtp_unprotected=%llu srtp_protected=%llu "
      "srtp_drops=%llu drops=%llu\n",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received),
      static_cast<unsigned long long>(relayed),
      sent == 0 ? 0.0
                : 100.0 * static_cast<double>(sent - std::min(sent, received)) / static_cast<double>(sent),
      static_cast<unsigned long long>(t1.unprotected - t0.unprotected),
      static_cast<unsigned long long>(t1.protectedPkts - t0.protectedPkts),
      static_cast<unsigned long long>(t1.srtpDrops - t0.srtpDrops),
      static_cast<unsigned long long>(t1.drops - t0.drops));
  const uint64_t syscalls = t1.sendSyscalls - t0.sendSyscalls;
  std::printf("worker_cpu_s=%.3f us_per_pkt=%.3f send_syscalls=%llu pkts_per_send_syscall=%.2f\n",
              static_cast<double>(cpu1 - cpu0) / 1e9,
              relayed == 0 ? 0.0 : static_cast<double>(cpu1 - cpu0) / 1e3 / static_cast<double>(relayed),
              static_cast<unsigned long long>(syscalls),
              syscalls == 0 ? 0.0 : static_cast<double>(relayed) / static_cast<double>(syscalls));
  std::fflush(stdout);
  return true;
}

std::optional<srtp::Suite> suiteArg(std::string_view v) {
  if (v == "gcm128") return srtp::Suite::AeadAes128Gcm;
  if (v == "gcm256") return srtp::Suite::AeadAes256Gcm;
  if (v == "cm80") return srtp::Suite::AesCm128HmacSha1_80;
  if (v == "cm32") return srtp::Suite::AesCm128HmacSha1_32;
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<Mode> modes{Mode::Plain, Mode::Bridge, Mode::Srtp};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i], v = argv[i + 1];
    if (k == "--sessions")
      o.sessions = static_cast<uint32_t>(std::stoul(std::string(v)));
    else if (k == "--rate")
      o.rate = static_cast<uint32_t>(std::stoul(std::string(v)));
    else if (k == "--seconds")
      o.seconds = std::stod(std::string(v));
    else if (k == "--workers")
      o.workers = static_cast<uint32_t>(std::stoul(std::string(v)));
    else if (k == "--rounds")
      o.rounds = static_cast<uint32_t>(std::stoul(std::string(v)));
    else if (k == "--suite" && suiteArg(v))
      o.suite = *suiteArg(v);
    else if (k == "--transforms" && v == "libsrtp")
      o.transforms = {srtp::Transforms::Libsrtp};
    else if (k == "--transforms" && v == "rendezvous")
      o.transforms = {srtp::Transforms::Rendezvous};
    else if (k == "--transforms" && v == "both")
      o.transforms = {srtp::Transforms::Libsrtp, srtp::Transforms::Rendezvous};
    else if (k == "--rtp-path" && v == "compact")
      o.paths = {srtp::RtpPath::Compact};
    else if (k == "--rtp-path" && v == "libsrtp")
      o.paths = {srtp::RtpPath::Libsrtp};
    else if (k == "--rtp-path" && v == "both")
      o.paths = {srtp::RtpPath::Libsrtp, srtp::RtpPath::Compact};
    else if (k == "--io-uring" && (v == "on" || v == "off" || v == "both"))
      o.ioUringModes = v == "both" ? std::vector<bool>{true, false} : std::vector<bool>{v == "on"};
    else if (k == "--port-min")
      o.portMin = static_cast<uint16_t>(std::stoul(std::string(v)));
    else if (k == "--mode" && v == "plain")
      modes = {Mode::Plain};
    else if (k == "--mode" && v == "bridge")
      modes = {Mode::Bridge};
    else if (k == "--mode" && v == "srtp")
      modes = {Mode::Srtp};
    else {
      std::fprintf(
          stderr,
          "usage: relay_srtp_bench [--sessions 1000] [--rate 25] [--seconds 10] [--workers 2] [--rounds 1] "
          "[--suite gcm128|gcm256|cm80|cm32] [--mode plain|bridge|srtp] "
          "[--transforms rendezvous|libsrtp|both] [--rtp-path compact|libsrtp|both] [--io-uring on|off|both] "
          "[--port-min 61000]\n");
      return 2;
    }
  }
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  int down[2], up[2];
  if (::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(up, O_CLOEXEC) != 0) return 1;
  Generator g;
  g.pid = ::fork();
  if (g.pid < 0) return 1;
  if (g.pid == 0) {
    ::close(down[1]);
    ::close(up[0]);
    generatorMain(down[0], up[1], o);
  }
  ::close(down[0]);
  ::close(up[1]);
  g.toChild = down[1];
  g.fromChild = up[0];
  bool ok = true;
  for (uint32_t r = 1; ok && r <= o.rounds; ++r) {
    // Later runs in one process measure slower (a second RelayControl, a grown heap: bridge
    // runs back to back with the same transforms differed by 0.7-1.7 us): with both transforms
    // (or both paths)
    // the order alternates between rounds so neither always runs second.
    std::vector<std::pair<srtp::Transforms, srtp::RtpPath>> order;
    for (srtp::Transforms tf : o.transforms)
      for (srtp::RtpPath path : o.paths) order.emplace_back(tf, path);
    std::vector<bool> urings = o.ioUringModes;
    if (r % 2 == 0) std::reverse(order.begin(), order.end());
    if (r % 2 == 0) std::reverse(urings.begin(), urings.end());
    for (Mode m : modes) {
      for (const bool u : urings) {
        Options ou = o;
        ou.ioUring = u;
        for (const auto& [tf, path] : order) {
          if (!(ok = runMode(ou, g, m, r, tf, path))) break;
          if (m == Mode::Plain) break;  // no crypto: once per round
        }
        if (!ok) break;
      }
      if (!ok) break;
    }
  }
  ::close(g.toChild);  // the generator exits on EOF
  int status = 0;
  ::waitpid(g.pid, &status, 0);
  return ok ? 0 : 1;
}
