#include "app/Server.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/Metrics.h"
#include "app/CallsApi.h"
#include "app/ConferenceApi.h"
#include "app/TcpRelayApi.h"
#include "app/Operator.h"
#include "app/ProcessCpu.h"
#include "app/TurnSetup.h"
#include "app/api/ApiServer.h"
#include "app/api/ControlQueue.h"
#include "app/cdr/CdrJoiner.h"
#include "app/cdr/CdrWriter.h"
#include "media/dtls/DtlsIdentity.h"
#include "mixer/ConferenceControl.h"
#include "relay/RelayControl.h"
#include "relay/TcpRelay.h"
#include "signaling/b2bua/B2bua.h"
#include "signaling/im/MessageStore.h"
#include "signaling/anchor/MediaAnchor.h"
#include "signaling/ng/NgHandler.h"
#include "signaling/ng/NgServer.h"
#include "signaling/sip/SipTransport.h"

namespace rdv::app {

struct Server::Impl {
  config::Config cfg;  // in effect: a reload changes only the keys it applies
  config::ConfigSource source;
  const common::Clock& clock = common::SystemClock::instance();
  // Before the relay: its workers may host these loops (relay.host_tcp_and_turn), so they stop
  // first. Before the metrics too, which read their counters.
  std::unique_ptr<relay::TcpRelay> tcpRelay;
  std::unique_ptr<turn::TurnServer> turn;
  // The DTLS-SRTP certificate (media.dtls_*): the relay workers handshake with it; signalling puts
  // its fingerprint() in a=fingerprint. Created before the relay, immutable, shared.
  std::shared_ptr<const dtls::DtlsIdentity> dtlsIdentity;
  std::unique_ptr<relay::RelayControl> relay;
  std::unique_ptr<anchor::MediaAnchor> anchor;
  std::unique_ptr<mixer::ConferenceControl> conferences;  // after the relay: stops its mixers first
  std::unique_ptr<ng::NgHandler> ngHandler;
  std::unique_ptr<ng::NgServer> ng;
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<sip::SipTransport> sip;
  std::unique_ptr<b2bua::B2bua> b2bua;
  std::unique_ptr<cdr::CdrWriter> cdrWriter;  // declared before the joiner that feeds it
  std::unique_ptr<cdr::CdrJoiner> cdr;
  common::Fd signals;
  common::Fd stopWake = common::Fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  common::Fd epoll;
  api::ControlQueue control;  // API requests for the control thread
  std::unique_ptr<Operator> op;
  std::unique_ptr<CallsApi> calls;
  std::unique_ptr<ConferenceApi> conferenceApi;
  std::unique_ptr<TcpRelayApi> tcpRelayApi;
  std::unique_ptr<api::ApiServer> api;  // last: stopped first, while what its routes use still exists

  Expected<bool, std::string> startApi();
  Expected<bool, std::string> startDtls();
  void startCdr();
  void startConferences(const std::string& advertise);
  void startTcpRelay();
  Expected<bool, std::string> startSip();
  void onSessionEnded(const relay::SessionReport& rep, bool timedOut);
};

namespace {

relay::RelayOptions relayOptions(const config::RelayConfig& rc, const common::Clock& clock) {
  relay::RelayOptions ro;
  ro.interface = rc.interface;
  ro.portMin = static_cast<uint16_t>(rc.portMin);
  ro.portMax = static_cast<uint16_t>(rc.portMax);
  ro.workers = rc.workers != 0 ? rc.workers : std::max(1U, std::thread::hardware_concurrency());
  ro.worker.batch = rc.batch;
  ro.worker.clock = &clock;
  ro.worker.timeoutNs = static_cast<uint64_t>(rc.timeoutSeconds) * 1'000'000'000ULL;
  ro.worker.setupTimeoutNs = static_cast<uint64_t>(rc.setupTimeoutSeconds) * 1'000'000'000ULL;
  ro.worker.relatchSilenceNs = static_cast<uint64_t>(rc.relatchSilenceMs) * 1'000'000ULL;
  ro.kernelForwarding = rc.kernelForwarding != 0;
  ro.worker.ioUring = rc.ioUring != 0;
  ro.worker.realtimePriority = static_cast<int>(rc.realtimePriority);
  return ro;
}

}  // namespace

Server::Server(const config::Config& cfg, config::ConfigSource source) : impl_(std::make_unique<Impl>()) {
  impl_->cfg = cfg;
  impl_->source = std::move(source);
}
Server::~Server() = default;

Expected<bool, std::string> Server::start() {
  auto& m = *impl_;
  const auto& rc = m.cfg.relay;

  // Signals are taken through a signalfd; block them before any thread starts so all inherit it.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);   // reload the configuration
  sigaddset(&set, SIGUSR1);  // reopen the call record file (logrotate)
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  m.signals = common::Fd(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));

  // Every media socket is a descriptor: lift the soft limit to the hard one.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  if (auto r = m.startDtls(); !r) return r;
  relay::RelayOptions ro = relayOptions(rc, m.clock);
  ro.worker.dtlsIdentity = m.dtlsIdentity;
  m.relay = std::make_unique<relay::RelayControl>(ro);
  spdlog::info("relay: {} worker(s){}, ports {}-{} on {}: capacity {} sessions ({} with rtcp-mux); the descriptor "
               "limit {} allows {} ({} with rtcp-mux), the port range {}",
               ro.workers,
               ro.worker.realtimePriority > 0 && m.relay->workers()[0]->realtimeError().empty()
                   ? fmt::format(" (SCHED_FIFO {})", ro.worker.realtimePriority)
                   : "",
               rc.portMin, rc.portMax, rc.interface, m.relay->sessionCapacity(),
               m.relay->sessionCapacityMux(), rl.rlim_cur, m.relay->descriptorCapacity(),
               m.relay->descriptorCapacityMux(), m.relay->portCapacity());
  if (m.relay->portCapacity() < m.relay->descriptorCapacity()) {
    spdlog::info("relay: the port range is the limit; widen relay.port_min/relay.port_max to use the descriptors");
  }

  m.anchor = std::make_unique<anchor::MediaAnchor>(*m.relay, rc.advertise.empty() ? rc.interface : rc.advertise,
                                                  m.clock);
  m.anchor->setDtlsFingerprint(m.dtlsIdentity->fingerprint());  // a=fingerprint on every DTLS-SRTP leg
  m.startConferences(rc.advertise.empty() ? rc.interface : rc.advertise);
  m.startTcpRelay();
  m.ngHandler = std::make_unique<ng::NgHandler>(*m.anchor);
  m.ng = std::make_unique<ng::NgServer>(*m.ngHandler, std::chrono::seconds(m.cfg.ng.cookieCacheSeconds), m.clock);
  if (auto r = m.ng->bind(m.cfg.ng.listen); !r) return Unexpected(r.error());
  spdlog::info("NG control protocol on udp {}", m.cfg.ng.listen);

  if (auto r = m.startSip(); !r) return r;

  const bool hosted = rc.hostTcpAndTurn != 0;
  auto turn = startTurn(m.cfg, m.clock, !hosted);
  if (!turn) return Unexpected(turn.error());
  m.turn = std::move(*turn);
  if (hosted && m.turn) m.relay->workers().front()->host(*m.turn);

  m.metrics = std::make_unique<Metrics>(*m.relay, *m.ng, m.b2bua.get(), m.sip.get());
  m.metrics->setConferences(m.conferences.get());
  m.metrics->setTcpRelay(m.tcpRelay.get());
  m.metrics->setTurn(m.turn.get());
  m.startCdr();
  if (!m.cfg.metrics.listen.empty()) {
    if (auto r = m.metrics->listen(m.cfg.metrics.listen); !r) return Unexpected(r.error());
    spdlog::info("metrics on http://{}/metrics", m.cfg.metrics.listen);
  }
  m.anchor->setOnRemoved([&m](const relay::SessionReport& rep) {
    m.metrics->observeEnded(rep);
    if (m.cdr) m.cdr->onMedia(rep, "ng_delete", m.clock.monotonicMs());
  });
  m.op = std::make_unique<Operator>(
      m.cfg, m.source, Operator::Planes{*m.relay, *m.anchor, *m.ngHandler, m.b2bua.get(), m.sip.get()});
  if (auto r = m.startApi(); !r) return r;

  m.epoll = common::Fd(epoll_create1(EPOLL_CLOEXEC));
  for (int fd : {m.signals.get(), m.stopWake.get(), m.control.fd(), m.ng->fd(), m.relay->endedFd(),
                 m.relay->replyFd(), m.sip ? m.sip->fd() : -1, m.conferences->fd()}) {
    if (fd < 0) continue;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(m.epoll.get(), EPOLL_CTL_ADD, fd, &ev);
  }
  // Threads started from here on inherit this name; those above keep theirs (ProcessCpu.h groups).
  nameThisThread("rdv-control");
  return true;
}

Expected<bool, std::string> Server::Impl::startDtls() {
  const config::MediaConfig& mc = cfg.sip.media;
  const bool configured = !mc.dtlsCertificate.empty();
  auto id = configured ? dtls::DtlsIdentity::load(mc.dtlsCertificate, mc.dtlsPrivateKey) : dtls::DtlsIdentity::generate();
  if (!id) return Unexpected("DTLS certificate: " + id.error());
  dtlsIdentity = std::move(*id);
  spdlog::info("DTLS-SRTP certificate {}: {}", configured ? "from " + mc.dtlsCertificate : "generated (self-signed)",
               dtlsIdentity->fingerprint());
  return true;
}

int Server::run() {
  auto& m = *impl_;
  epoll_event events[8];
  for (;;) {
    int timeoutMs = -1;
    const uint64_t next = std::min(m.b2bua ? m.b2bua->nextDeadline() : UINT64_MAX,
                                   m.cdr ? m.cdr->nextDeadline() : UINT64_MAX);
    if (next != UINT64_MAX) {
      const uint64_t now = m.clock.monotonicMs();
      timeoutMs = next <= now ? 0 : static_cast<int>(std::min<uint64_t>(next - now, 1000));
    }
    int n = epoll_wait(m.epoll.get(), events, 8, timeoutMs);
    if (n < 0 && errno != EINTR) {
      spdlog::critical("control loop: epoll_wait: {}", std::strerror(errno));
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == m.signals.get()) {
        signalfd_siginfo si{};
        [[maybe_unused]] auto r = ::read(fd, &si, sizeof(si));
        if (si.ssi_signo == SIGUSR1) {
          spdlog::info("SIGUSR1: reopening {}", m.cfg.cdr.file.empty() ? "nothing (cdr.file is off)" : m.cfg.cdr.file);
          if (m.cdrWriter) m.cdrWriter->reopen();
          continue;
        }
        if (si.ssi_signo == SIGHUP) {
          spdlog::info("SIGHUP received: reloading the configuration");
          m.op->reload("SIGHUP");
          continue;
        }
        spdlog::info("signal {} received: shutting down ({} calls active)", si.ssi_signo, m.anchor->calls());
        return 0;
      }
      if (fd == m.stopWake.get()) {
        spdlog::info("stop requested: shutting down ({} calls active)", m.anchor->calls());
        return 0;
      }
      if (fd == m.control.fd()) {
        m.control.drain();  // API requests: each handler answers at once
      } else if (m.sip && fd == m.sip->fd()) {
        m.sip->onReadable();
      } else if (fd == m.ng->fd()) {
        m.ng->onReadable();
      } else if (fd == m.relay->replyFd()) {
        m.relay->drainReplies();  // NG query/delete answers: their replies go out from here
      } else if (fd == m.relay->endedFd()) {
        m.relay->drainEnded([&](const relay::SessionReport& rep, bool timedOut) { m.onSessionEnded(rep, timedOut); });
      } else if (fd == m.conferences->fd()) {
        m.conferences->drain();  // talker changes, DTMF, room reports from the mixers
      }
    }
    if (m.b2bua) m.b2bua->onTimer();
    if (m.cdr) m.cdr->flush(m.clock.monotonicMs());
    if (m.op->exitDue()) {
      spdlog::info("drain complete: the last call ended, exiting");
      return 0;
    }
  }
}

void Server::Impl::onSessionEnded(const relay::SessionReport& rep, bool timedOut) {
  metrics->observeEnded(rep);
  if (auto left = conferences->onSessionEnded(rep, timedOut)) {  // a conference participant's
    if (cdr) cdr->onMedia(rep, std::string("conference_") + mixer::toString(*left), clock.monotonicMs());
    return;
  }
  if (timedOut && anchor->renewForTcp(rep)) return;  // TCP-only media (MSRP) still open
  if (cdr) cdr->onMedia(rep, timedOut ? "media_timeout" : "released", clock.monotonicMs());
  if (!timedOut) return;  // a drop() the control side asked for
  auto callId = anchor->onSessionEnded(rep);
  spdlog::info("call={} media timeout: session torn down", callId.value_or(rep.callId));
  if (callId && b2bua) b2bua->onMediaTimeout(*callId);
}

// The SIP side (sip.listen; empty = NG only): transport, TLS, the B2BUA and its message store.
Expected<bool, std::string> Server::Impl::startSip() {
  if (cfg.sip.listen.empty()) return true;
  sip = std::make_unique<sip::SipTransport>(
      [this](sip::SipMessage&& msg, const sip::SipPeer& from) { b2bua->onMessage(std::move(msg), from); },
      [this](uint64_t connId) { b2bua->onConnectionClosed(connId); }, clock);
  if (auto r = sip->listen(cfg.sip.listen); !r) return Unexpected(r.error());
  if (!cfg.sip.tlsListen.empty()) {
    if (auto r = sip->listenTls(cfg.sip.tlsListen, cfg.sip.tlsCert, cfg.sip.tlsKey); !r) {
      return Unexpected(fmt::format("sip.tls_listen: {}", r.error()));
    }
    spdlog::info("SIP over TLS on {} (certificate {}, key {})", cfg.sip.tlsListen, cfg.sip.tlsCert,
                 cfg.sip.tlsKey);
  }
  if (!cfg.sip.wsListen.empty()) {
    if (auto r = sip->listenWs(cfg.sip.wsListen); !r) return Unexpected(fmt::format("sip.ws_listen: {}", r.error()));
    spdlog::info("SIP over WebSocket on {}", cfg.sip.wsListen);
  }
  if (!cfg.sip.wssListen.empty()) {
    if (auto r = sip->listenWss(cfg.sip.wssListen, cfg.sip.tlsCert, cfg.sip.tlsKey); !r) {
      return Unexpected(fmt::format("sip.wss_listen: {}", r.error()));
    }
    spdlog::info("SIP over secure WebSocket on {} (certificate {})", cfg.sip.wssListen, cfg.sip.tlsCert);
  }
  b2bua = std::make_unique<b2bua::B2bua>(cfg.sip, *sip, *anchor, clock);
  b2bua->setConferences(conferences.get(), cfg.conference.prefix);
  if (!cfg.sip.messageStore.empty()) {
    auto store = im::MessageStore::open(
        cfg.sip.messageStore, im::StoreLimits{cfg.sip.messageStorePerUser, cfg.sip.messageStoreTotal});
    if (!store) return Unexpected(fmt::format("sip.message_store: {}", store.error()));
    spdlog::info("instant messages for offline users kept in {} ({} held)", cfg.sip.messageStore,
                 (*store)->size());
    b2bua->setMessageStore(std::move(*store));
  }
  spdlog::info("SIP registrar/B2BUA on udp+tcp {} ({} configured user(s), auth register={} invite={})",
               cfg.sip.listen, cfg.sip.users.size(), cfg.sip.authRegister, cfg.sip.authInvite);
  return true;
}

// Audio conferences: mixer threads attached to the relay workers; rooms declared in the config
// exist from the start.
void Server::Impl::startConferences(const std::string& advertise) {
  const auto& cc = cfg.conference;
  mixer::ConferenceControlOptions o;
  o.advertise = advertise;
  o.workers = cc.workers;
  o.decodeHelpers = cc.decodeHelpers;
  o.tickSlots = cc.tickSlots;
  o.conference.maxTalkers = cc.maxTalkers;
  o.conference.encoder.bitrate = cc.opusBitrate;
  o.conference.encoder.complexity = static_cast<int>(cc.opusComplexity);
  o.conference.encoder.celtOnly = cc.opusCelt != 0;
  o.conference.talkerOpusComplexity = cc.opusTalkerComplexity <= 10 ? static_cast<int>(cc.opusTalkerComplexity) : -1;
  o.governor.enabled = cc.adaptiveEncoding != 0;
  o.governor.highFraction = cc.adaptiveHigh() / 100.0;
  o.governor.lowFraction = cc.adaptiveLow() / 100.0;
  o.governor.quietTicks = cc.adaptiveQuietSeconds * 1000 / mixer::kTickMs;
  o.realtimePriority = static_cast<int>(cc.realtimePriority);
  o.maxParticipants = cc.maxParticipants;
  o.createOnJoin = cc.createOnJoin != 0;
  o.pinAttempts = cc.pinAttempts;
  for (const auto& [name, spec] : cc.rooms) {
    auto s = config::parseRoomSpec(spec);  // checked when the config was loaded
    o.rooms[name] = mixer::RoomPolicy{s ? s->pin : "", s ? s->maxParticipants : 0};
  }
  conferences = std::make_unique<mixer::ConferenceControl>(*relay, o, clock);
  spdlog::info("conferences: {} mixer thread(s){}{}, {} declared room(s), up to {} talkers mixed, adaptive encoding {}, "
               "sip prefix '{}'",
               o.workers, o.decodeHelpers != 0 ? fmt::format(" with {} decode helper(s) each", o.decodeHelpers) : "",
               o.realtimePriority != 0 ? fmt::format(" (SCHED_FIFO {})", o.realtimePriority) : "",
               o.rooms.size(), o.conference.maxTalkers, o.governor.enabled ? "on" : "off", cc.prefix);
  if (o.realtimePriority > 0 && cfg.relay.realtimePriority <= cc.realtimePriority) {
    spdlog::warn("conference.realtime_priority {} with relay.realtime_priority {}: the relay workers that feed the "
                 "mixers get only what the mixers leave of the CPUs under load; set relay.realtime_priority above it",
                 cc.realtimePriority, cfg.relay.realtimePriority);
  }
}

// The TCP relay (relay/TcpRelay.h): its splicer starts here, on the last relay worker or on a
// thread of its own (relay.host_tcp_and_turn); pairs come from the API and SDP.
void Server::Impl::startTcpRelay() {
  const auto& tc = cfg.tcpRelay;
  const auto& rc = cfg.relay;
  relay::TcpRelayOptions o;
  o.interface = tc.interface.empty() ? rc.interface : tc.interface;
  o.advertise = !tc.advertise.empty() ? tc.advertise : !tc.interface.empty() ? tc.interface : rc.advertise;
  o.portMin = static_cast<uint16_t>(tc.portMin);
  o.portMax = static_cast<uint16_t>(std::max(tc.portMin, tc.portMax));
  o.maxPairs = tc.maxPairs;
  o.maxPairsPerSource = tc.maxPairsPerSource;
  o.idleTimeoutS = tc.idleTimeoutSeconds;
  o.maxIdleTimeoutS = std::max(tc.idleTimeoutSeconds, tc.maxIdleTimeoutSeconds);
  o.splicer.setupTimeoutNs = uint64_t{tc.setupTimeoutSeconds} * 1'000'000'000ULL;
  o.splicer.maxConnectionsPerSource = tc.maxPairsPerSource * 2;
  o.splicer.pipeSize = tc.pipeSize;
  o.splicer.clock = &clock;
  o.splicerThread = rc.hostTcpAndTurn == 0;
  if (!o.splicerThread) o.splicer.pumpRounds = 1;  // hosted: RTP waits at most one pipe per direction
  tcpRelay = std::make_unique<relay::TcpRelay>(o);
  if (!o.splicerThread) relay->workers().back()->host(tcpRelay->hostedSplicer());
  anchor->setTcpRelay(tcpRelay.get(), tc.restrictSdpSource != 0);
  if (tc.maxPairs == 0) {
    spdlog::info("TCP relay: disabled (tcp_relay.max_pairs = 0)");
    return;
  }
  // A connected pair holds 2 descriptors, plus 2 per direction with bytes in flight; the UDP relay
  // draws on the same limit.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (uint64_t{tc.maxPairs} * 2 + 64 > rl.rlim_cur) {
    spdlog::warn("TCP relay: tcp_relay.max_pairs {} needs {} descriptors, the limit is {}: past it new pairs get "
                 "503 (no_ports) and connections are refused (rdv_tcp_relay_refused_total{{reason=\"accept_failed\"}})",
                 tc.maxPairs, uint64_t{tc.maxPairs} * 2 + 64, rl.rlim_cur);
  }
  spdlog::info("TCP relay: ports {}-{} on {} (given as {}), up to {} pairs ({} per source), {} KiB pipes",
               o.portMin, o.portMax, o.interface, o.advertise.empty() ? o.interface : o.advertise, o.maxPairs,
               o.maxPairsPerSource, tc.pipeSize / 1024);
}

// Call detail records: the B2BUA's and the relay's halves meet in the joiner, whose lines the
// writer appends to cdr.file off the control thread.
void Server::Impl::startCdr() {
  if (cfg.cdr.file.empty()) return;
  const auto& cc = cfg.cdr;
  cdrWriter = std::make_unique<cdr::CdrWriter>(cdr::CdrWriterOptions{
      cc.file, uint64_t{cc.rotateMegabytes} << 20, cc.rotateSeconds, cc.syslog != 0, 10'000});
  cdr = std::make_unique<cdr::CdrJoiner>(2000, [this](std::string&& line) { cdrWriter->write(std::move(line)); });
  if (b2bua) {
    b2bua->setOnCallEnded([this](b2bua::CallRecord&& r) { cdr->onCall(std::move(r), clock.monotonicMs()); });
  }
  metrics->setCdr(cdrWriter.get());
  spdlog::info("call detail records to {} (rotate at {} MiB / {} s; SIGUSR1 reopens)", cc.file, cc.rotateMegabytes,
               cc.rotateSeconds);
}

Expected<bool, std::string> Server::Impl::startApi() {
  if (cfg.api.listen.empty()) return true;
  api::ApiOptions opts;
  opts.token = cfg.api.token;
  api = std::make_unique<api::ApiServer>(opts, control);
  op->addRoutes(*api);
  calls = std::make_unique<CallsApi>(*relay, *anchor, b2bua.get(), [this] { return op->draining(); });
  calls->addRoutes(*api);
  conferenceApi = std::make_unique<ConferenceApi>(*conferences);
  conferenceApi->addRoutes(*api);
  conferences->setOnEvent([this](const mixer::ConferenceEvent& e) { conferenceApi->publish(e); });
  tcpRelayApi = std::make_unique<TcpRelayApi>(*tcpRelay);
  tcpRelayApi->addRoutes(*api);
  if (auto r = api->listen(cfg.api.listen); !r) return Unexpected(r.error());
  spdlog::info("operator API on http://{}{}", cfg.api.listen,
               cfg.api.token.empty() ? " (no token: loopback only)" : " (bearer token required)");
  return true;
}

void Server::stop() {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->stopWake.get(), &one, sizeof(one));
}

}  // namespace rdv::app
