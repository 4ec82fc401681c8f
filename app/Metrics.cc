#include "app/Metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <limits>

#include <fmt/format.h>

#include "app/ProcessCpu.h"
#include "app/cdr/CdrWriter.h"
#include "mixer/ConferenceControl.h"
#include "relay/RelayControl.h"
#include "relay/TcpRelay.h"
#include "relay/turn/TurnServer.h"
#include "signaling/b2bua/B2bua.h"
#include "signaling/ng/NgServer.h"
#include "signaling/sip/SipTransport.h"

namespace rdv::app {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  return MetricFamily{std::move(name), std::move(help), type, {}};
}

void add(MetricFamily& f, double v, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) m.counter.value = v;
  else m.gauge.value = v;
  f.metric.push_back(std::move(m));
}

// A histogram family from per-worker fixed histograms, summed (buckets made cumulative); `get`
// maps a worker to its histogram.
template <size_t N, typename Workers, typename Get>
MetricFamily histogram(std::string name, std::string help, const Workers& workers, Get get) {
  MetricFamily f = family(std::move(name), std::move(help), MetricType::Histogram);
  ClientMetric m;
  std::array<uint64_t, N + 1> counts{};
  uint64_t sumMilli = 0, count = 0;
  const std::array<double, N>* bounds = nullptr;
  for (const auto& w : workers) {
    const common::FixedHistogram<N>& h = get(*w);
    bounds = &h.bounds;
    for (size_t i = 0; i <= N; ++i) counts[i] += h.counts[i].get();
    sumMilli += h.sumMilli.get();
    count += h.count.get();
  }
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= N; ++i) {
    cumulative += counts[i];
    const double upper = i < N && bounds != nullptr ? (*bounds)[i] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(ClientMetric::Bucket{cumulative, upper});
  }
  m.histogram.sample_count = count;
  m.histogram.sample_sum = static_cast<double>(sumMilli) / 1000.0;
  f.metric.push_back(std::move(m));
  return f;
}

// SIP responses by class and NG commands by name; process CPU by thread group.
void addProtocolAndCpu(std::vector<MetricFamily>& out, const ng::NgServer& ng, const sip::SipTransport* sip) {
  auto d = [](const common::Counter& c) { return static_cast<double>(c.get()); };
  auto commands = family("rdv_ng_commands_total", "NG commands received, by name", MetricType::Counter);
  for (size_t i = 0; i < ng::kNgCommandNames.size(); ++i) {
    add(commands, d(ng.counters().commands[i]), {{"command", std::string(ng::kNgCommandNames[i])}});
  }
  out.push_back(std::move(commands));
  if (sip != nullptr) {
    auto sent = family("rdv_sip_responses_sent_total", "SIP responses sent, by class", MetricType::Counter);
    auto received = family("rdv_sip_responses_received_total", "SIP responses received, by class", MetricType::Counter);
    for (size_t c = 1; c <= 6; ++c) {
      const std::string cls = fmt::format("{}xx", c);
      add(sent, d(sip->counters().responsesSent[c]), {{"class", cls}});
      add(received, d(sip->counters().responsesReceived[c]), {{"class", cls}});
    }
    out.push_back(std::move(sent));
    out.push_back(std::move(received));
  }
  auto cpu = family("rdv_cpu_seconds_total", "CPU time of the process by thread group (user + system)",
                    MetricType::Counter);
  const auto seconds = cpuSecondsByGroup();
  for (size_t g = 0; g < kCpuGroups.size(); ++g) add(cpu, seconds[g], {{"group", std::string(kCpuGroups[g])}});
  out.push_back(std::move(cpu));
}

// The TURN server (relay/turn/): one loop (on a relay worker or its own thread), counters written
// by it alone.
void addTurn(std::vector<MetricFamily>& out, const turn::TurnServer& server) {
  const auto& c = server.counters();
  auto d = [](const common::Counter& v) { return static_cast<double>(v.get()); };
  auto allocations = family("rdv_turn_allocations", "TURN allocations in place", MetricType::Gauge);
  add(allocations, d(c.allocations));
  out.push_back(std::move(allocations));
  auto tcp = family("rdv_turn_tcp_connections", "RFC 6062 peer connections of TCP allocations, pending or spliced",
                    MetricType::Gauge);
  add(tcp, d(c.tcpConnections));
  out.push_back(std::move(tcp));
  auto clients = family("rdv_turn_tcp_clients",
                        "TURN client connections over TCP and TLS (control connections and data connections "
                        "not yet bound)",
                        MetricType::Gauge);
  add(clients, d(c.tcpClients));
  out.push_back(std::move(clients));
  auto requests = family("rdv_turn_requests_total", "TURN/STUN requests answered, by method and result",
                         MetricType::Counter);
  for (size_t m = 0; m < turn::TurnCounters::kMethods; ++m) {
    const std::string method(turn::toString(static_cast<turn::TurnMethod>(m)));
    add(requests, d(c.success[m]), {{"method", method}, {"result", "success"}});
    add(requests, d(c.error[m]), {{"method", method}, {"result", "error"}});
  }
  out.push_back(std::move(requests));
  auto refused = family("rdv_turn_refused_total",
                        "TURN requests refused and datagrams dropped, by reason (unauthenticated 401, stale_nonce "
                        "438, forbidden_peer 403, quota 486, no_permission: data without a permission...)",
                        MetricType::Counter);
  for (size_t r = 0; r < c.refused.size(); ++r) {
    add(refused, d(c.refused[r]), {{"reason", std::string(turn::toString(static_cast<turn::Refusal>(r)))}});
  }
  out.push_back(std::move(refused));
  auto packets = family("rdv_turn_relayed_packets_total", "Datagrams relayed by TURN, by direction", MetricType::Counter);
  add(packets, d(c.toPeerPackets), {{"direction", "to_peer"}});
  add(packets, d(c.toClientPackets), {{"direction", "to_client"}});
  out.push_back(std::move(packets));
  auto bytes = family("rdv_turn_relayed_bytes_total", "Application bytes relayed by TURN, by direction",
                      MetricType::Counter);
  add(bytes, d(c.toPeerBytes), {{"direction", "to_peer"}});
  add(bytes, d(c.toClientBytes), {{"direction", "to_client"}});
  out.push_back(std::move(bytes));
  auto busy =
      family("rdv_turn_busy_seconds_total",
             "Time the TURN server's loop spent handling events (on relay worker 0 when hosted: part of "
             "that worker's busy time)",
             MetricType::Counter);
  add(busy, d(c.busyNs) / 1e9);
  out.push_back(std::move(busy));
}

// Conference mixers: summed over the mixer workers (their counters are single-writer atomics).
void addConferences(std::vector<MetricFamily>& out, const mixer::ConferenceControl& conf) {
  struct Def {
    const char* name;
    const char* help;
    MetricType type;
    const common::Counter mixer::MixerCounters::*counter;
  };
  using M = mixer::MixerCounters;
  static constexpr Def kDefs[] = {
      {"rdv_conference_rooms", "Conference rooms open", MetricType::Gauge, &M::conferences},
      {"rdv_conference_participants", "Conference participants", MetricType::Gauge, &M::participants},
      {"rdv_conference_talkers", "Talkers mixed in the last tick, all rooms", MetricType::Gauge, &M::talkers},
      {"rdv_mixer_ticks_total", "Mixer periods (20 ms each; every room ticks once in each)", MetricType::Counter,
       &M::ticks},
      {"rdv_mixer_slot_ticks_total", "Mixer slot ticks run (conference.tick_slots a period, one slot's rooms each)",
       MetricType::Counter, &M::slotTicks},
      {"rdv_mixer_tick_overruns_total",
       "Mixer slot ticks whose frames went out more than 20 ms after they were due, or that were skipped",
       MetricType::Counter, &M::tickOverruns},
      {"rdv_mixer_ticks_missed_total",
       "Mixer slot ticks skipped (each room ticks once when a mixer falls a whole period behind)",
       MetricType::Counter, &M::ticksMissed},
      {"rdv_mixer_encodes_total", "Audio encodes (one per codec group for listeners, one per talker)",
       MetricType::Counter, &M::encodes},
      {"rdv_mixer_encodes_last_tick", "Audio encodes in the last tick, all mixers", MetricType::Gauge,
       &M::encodesLastTick},
      {"rdv_mixer_forwards_total", "Mixer packets carrying a talker's own frame instead of an encode",
       MetricType::Counter, &M::forwards},
      {"rdv_mixer_decodes_total", "Audio decodes", MetricType::Counter, &M::decodes},
      {"rdv_mixer_frames_concealed_total", "Frames made by codec loss concealment or FEC", MetricType::Counter,
       &M::framesConcealed},
      {"rdv_mixer_packets_in_total", "RTP packets the mixers took from the relay", MetricType::Counter, &M::packetsIn},
      {"rdv_mixer_packets_unknown_total", "RTP packets for no participant (left meanwhile)", MetricType::Counter,
       &M::packetsUnknown},
      {"rdv_mixer_packets_malformed_total", "Packets on conference legs that are not RTP", MetricType::Counter,
       &M::packetsMalformed},
      {"rdv_mixer_packets_out_total", "RTP packets the mixers sent", MetricType::Counter, &M::packetsOut},
      {"rdv_mixer_encoding_level_changes_total",
       "Times a mixer's load governor moved its rooms' Opus encodes to another level (conference.adaptive_encoding)",
       MetricType::Counter, &M::encodingLevelChanges},
  };
  for (const Def& d : kDefs) {
    double v = 0;
    for (const auto& w : conf.workers()) v += static_cast<double>((w->counters().*d.counter).get());
    auto f = family(d.name, d.help, d.type);
    add(f, v);
    out.push_back(std::move(f));
  }
  double busy = 0;
  for (const auto& w : conf.workers()) busy += static_cast<double>(w->counters().busyNs.get()) / 1e9;
  auto f = family("rdv_mixer_busy_seconds_total",
                  "Time the mixer threads needed a CPU: ticking, working between ticks, waiting for one",
                  MetricType::Counter);
  add(f, busy);
  out.push_back(std::move(f));
  out.push_back(histogram<9>("rdv_mixer_tick_ms",
                             "Ms from when each mixer slot tick was due until its frames were sent, all mixers "
                             "(over 20: an overrun; skipped ones are not in it)",
                             conf.workers(), [](const mixer::MixerWorker& w) -> const auto& {
                               return w.counters().tickMs;
                             }));
  auto level = family("rdv_mixer_encoding_level",
                      "Each mixer's encoding level: 0 as configured, 1-3 Opus complexity at most 3/1/0, 4 CELT only",
                      MetricType::Gauge);
  for (size_t k = 0; k < conf.workers().size(); ++k) {
    add(level, static_cast<double>(conf.workers()[k]->counters().encodingLevel.get()), {{"worker", std::to_string(k)}});
  }
  out.push_back(std::move(level));
  auto refused = family("rdv_mixer_send_queue_full_total", "Mixed packets dropped: a relay worker's queue was full",
                        MetricType::Counter);
  add(refused, static_cast<double>(conf.sinkRefused()));
  out.push_back(std::move(refused));
}

void addTcpRelay(std::vector<MetricFamily>& out, const relay::TcpRelay& tcp) {
  const auto& c = tcp.splicer().counters();
  auto d = [](const common::Counter& x) { return static_cast<double>(x.get()); };
  auto pairs = family("rdv_tcp_relay_pairs", "TCP relay pairs open (waiting for peers or connected)", MetricType::Gauge);
  add(pairs, static_cast<double>(tcp.live()));
  out.push_back(std::move(pairs));
  auto bytes = family("rdv_tcp_relay_bytes_total", "Bytes spliced through the TCP relay, by direction",
                      MetricType::Counter);
  add(bytes, d(c.bytes[0]), {{"direction", "a_to_b"}});
  add(bytes, d(c.bytes[1]), {{"direction", "b_to_a"}});
  out.push_back(std::move(bytes));
  auto created = family("rdv_tcp_relay_pairs_created_total", "TCP relay pairs created, by who asked (sdp: the B2BUA's "
                        "offer/answer, ng: an NG offer/answer, api: POST /api/v1/tcp-relays)", MetricType::Counter);
  for (auto o : {relay::TcpPairOrigin::Sdp, relay::TcpPairOrigin::Ng, relay::TcpPairOrigin::Api}) {
    add(created, d(tcp.createdBy()[static_cast<size_t>(o)]), {{"source", relay::toString(o)}});
  }
  out.push_back(std::move(created));
  auto refused = family("rdv_tcp_relay_refused_total",
                        "TCP relay pairs refused by the API and connections refused by the relay, by reason",
                        MetricType::Counter);
  for (auto code : {relay::TcpRelayErrorCode::TotalLimit, relay::TcpRelayErrorCode::PerSourceLimit,
                    relay::TcpRelayErrorCode::NoPorts, relay::TcpRelayErrorCode::Disabled}) {
    add(refused, d(tcp.refused()[static_cast<size_t>(code)]), {{"reason", relay::toString(code)}});
  }
  for (size_t r = 0; r < c.refused.size(); ++r) {
    add(refused, d(c.refused[r]), {{"reason", relay::toString(static_cast<relay::TcpRefusal>(r))}});
  }
  out.push_back(std::move(refused));
  auto ended = family("rdv_tcp_relay_pairs_ended_total", "TCP relay pairs that ended, by how", MetricType::Counter);
  for (auto s : {relay::TcpPairState::Closed, relay::TcpPairState::Reset, relay::TcpPairState::SetupTimeout,
                 relay::TcpPairState::IdleTimeout, relay::TcpPairState::Deleted}) {
    add(ended, d(c.ended[static_cast<size_t>(s)]), {{"reason", relay::toString(s)}});
  }
  out.push_back(std::move(ended));
  auto pipes = family("rdv_tcp_relay_pipes", "Splice pipes open (in flight or pooled)", MetricType::Gauge);
  add(pipes, d(c.pipesOpen));
  out.push_back(std::move(pipes));
  auto pipeFailures = family("rdv_tcp_relay_pipe_failures_total",
                             "Splice pipes that could not be opened (descriptor limit): that pair waited a second",
                             MetricType::Counter);
  add(pipeFailures, d(c.pipeFailures));
  out.push_back(std::move(pipeFailures));
  auto busy =
      family("rdv_tcp_relay_busy_seconds_total",
             "Time the TCP relay's splicer spent handling events (on the last relay worker when hosted: "
             "part of that worker's busy time)",
             MetricType::Counter);
  add(busy, d(c.busyNs) / 1e9);
  out.push_back(std::move(busy));
}

// Presence (signaling/b2bua/B2buaPresence.cc): live subscriptions and publications, NOTIFYs,
// SUBSCRIBE/PUBLISH refusals by reason.
void addPresence(std::vector<MetricFamily>& out, const b2bua::B2buaCounters& bc) {
  auto d = [](const common::Counter& c) { return static_cast<double>(c.get()); };
  auto gauge = family("rdv_presence_subscriptions_active", "Live presence and presence.winfo subscriptions",
                      MetricType::Gauge);
  add(gauge, d(bc.presenceSubscriptions));
  out.push_back(std::move(gauge));
  auto pubs =
      family("rdv_presence_publications_active", "Live PUBLISHed presence documents", MetricType::Gauge);
  add(pubs, d(bc.presencePublications));
  out.push_back(std::move(pubs));
  auto notifies =
      family("rdv_presence_notify_total",
             "NOTIFYs sent, and of those failed (non-2xx, no answer, unreachable)", MetricType::Counter);
  add(notifies, d(bc.notifySent), {{"outcome", "sent"}});
  add(notifies, d(bc.notifyFailed), {{"outcome", "failed"}});
  out.push_back(std::move(notifies));
  for (const bool publish : {false, true}) {
    auto refused = family(
        publish ? "rdv_presence_publish_rejected_total" : "rdv_presence_subscribe_rejected_total",
        publish ? "PUBLISH requests refused, by reason"
                : "SUBSCRIBE requests refused or watchers not authorized (rejected, pending), by reason",
        MetricType::Counter);
    const auto& counters = publish ? bc.publishRefused : bc.subscribeRefused;
    for (size_t r = 0; r < b2bua::kPresenceRefusals; ++r) {
      add(refused, d(counters[r]), {{"reason", std::string(b2bua::kPresenceRefusalNames[r])}});
    }
    out.push_back(std::move(refused));
  }
}

void addLiveQuality(std::vector<MetricFamily>& out, const relay::RelayControl& relay) {
  using W = relay::RelayWorker;
  const auto& ws = relay.workers();
  out.push_back(histogram<9>("rdv_live_leg_mos", "E-model MOS of live legs, one observation per leg every 5 s", ws,
                             [](const W& w) -> const auto& { return w.liveQuality().mos; }));
  out.push_back(histogram<8>("rdv_live_leg_loss_percent", "RTP loss of live legs over each 5 s sample", ws,
                             [](const W& w) -> const auto& { return w.liveQuality().lossPercent; }));
  out.push_back(histogram<9>("rdv_live_leg_jitter_ms", "Interarrival jitter of live legs, sampled every 5 s", ws,
                             [](const W& w) -> const auto& { return w.liveQuality().jitterMs; }));
  out.push_back(histogram<9>("rdv_live_leg_rtt_ms", "RTCP round trip of live legs, sampled every 5 s (when known)",
                             ws, [](const W& w) -> const auto& { return w.liveQuality().rttMs; }));
}

}  // namespace

RelayTotals relayTotals(const relay::RelayControl& relay) {
  RelayTotals t;
  for (const auto& w : relay.workers()) {
    const auto& c = w->counters();
    t.packets += static_cast<double>(c.packetsRelayed.get());
    t.bytes += static_cast<double>(c.bytesRelayed.get());
    t.rtcp += static_cast<double>(c.rtcpRelayed.get());
    t.other += static_cast<double>(c.otherRelayed.get());
    t.xrReports += static_cast<double>(c.xrReports.get());
    t.xrMalformed += static_cast<double>(c.xrMalformed.get());
    t.busySeconds += static_cast<double>(c.busyNs.get()) / 1e9;
    for (size_t r = 0; r < t.drops.size(); ++r) t.drops[r] += static_cast<double>(c.drops[r].get());
    t.srtpUnprotected += static_cast<double>(c.srtpUnprotected.get());
    t.srtpProtected += static_cast<double>(c.srtpProtected.get());
    for (size_t r = 0; r < t.srtpDrops.size(); ++r) t.srtpDrops[r] += static_cast<double>(c.srtpDrops[r].get());
    for (size_t r = 0; r < t.iceChecks.size(); ++r) t.iceChecks[r] += static_cast<double>(c.iceChecks[r].get());
    t.dtlsHandshakesOk += static_cast<double>(c.dtlsHandshakesOk.get());
    t.dtlsHandshakesFailed += static_cast<double>(c.dtlsHandshakesFailed.get());
    for (size_t r = 0; r < t.dtlsDrops.size(); ++r) t.dtlsDrops[r] += static_cast<double>(c.dtlsDrops[r].get());
  }
  // The kernel fast path forwards and drops without the workers: its totals join theirs.
  if (const auto* k = relay.kernelForwarder()) {
    const auto kt = k->totals();
    t.kernelPackets = static_cast<double>(kt.packets);
    t.packets += t.kernelPackets;
    t.bytes += static_cast<double>(kt.bytes);
    t.drops[static_cast<size_t>(relay::DropReason::Spoofed)] += static_cast<double>(kt.spoofed);
  }
  return t;
}

class Metrics::Collector : public prometheus::Collectable {
 public:
  Collector(const relay::RelayControl& relay, const ng::NgServer& ng, const b2bua::B2bua* b2bua,
            const sip::SipTransport* sip)
      : relay_(relay), ng_(ng), b2bua_(b2bua), sip_(sip) {}

  std::vector<MetricFamily> Collect() const override {
    using relay::DropReason;
    const auto& cc = relay_.counters();
    const RelayTotals t = relayTotals(relay_);
    const double packets = t.packets, bytes = t.bytes, rtcp = t.rtcp, other = t.other, kernelPackets = t.kernelPackets;
    const auto& drops = t.drops;
    auto busy = family("rdv_worker_busy_seconds_total", "Time each relay worker spent handling events", MetricType::Counter);
    auto wsessions = family("rdv_worker_sessions", "Sessions owned by each relay worker", MetricType::Gauge);
    auto wpackets = family("rdv_worker_packets_total", "Packets forwarded by each relay worker", MetricType::Counter);
    auto wsends =
        family("rdv_worker_send_syscalls_total",
               "Send syscalls of each relay worker's forwarded and mixer packets (sendmmsg/sendto, or "
               "io_uring_enter with relay.io_uring)",
               MetricType::Counter);
    for (const auto& w : relay_.workers()) {
      const auto& c = w->counters();
      std::vector<ClientMetric::Label> l{{"worker", std::to_string(w->index())}};
      add(busy, static_cast<double>(c.busyNs.get()) / 1e9, l);
      add(wsessions, static_cast<double>(c.sessions.get()), l);
      add(wpackets, static_cast<double>(c.packetsRelayed.get()), l);
      add(wsends, static_cast<double>(c.sendSyscalls.get()), l);
    }
    double kernelEntries = 0;
    for (const auto& w : relay_.workers()) kernelEntries += static_cast<double>(w->counters().kernelEntries.get());
    std::vector<MetricFamily> out;
    auto single = [&](std::string name, std::string help, MetricType t, double v) {
      auto f = family(std::move(name), std::move(help), t);
      add(f, v);
      out.push_back(std::move(f));
    };
    const double portsUsed = static_cast<double>(cc.portsUsed.get());
    single("rdv_sessions_active", "Media sessions now anchored", MetricType::Gauge,
           static_cast<double>(cc.sessionsCreated.get()) - static_cast<double>(cc.sessionsEnded.get()));
    single("rdv_sessions_total", "Media sessions created", MetricType::Counter, static_cast<double>(cc.sessionsCreated.get()));
    single("rdv_sessions_timed_out_total", "Sessions torn down for lack of media", MetricType::Counter,
           static_cast<double>(cc.sessionsTimedOut.get()));
    single("rdv_session_capacity", "Two-leg sessions the descriptor limit and port range allow (without rtcp-mux)",
           MetricType::Gauge, static_cast<double>(relay_.sessionCapacity()));
    single("rdv_ports_used", "Media ports reserved by sessions", MetricType::Gauge, portsUsed);
    single("rdv_ports_free", "Media ports available", MetricType::Gauge,
           2.0 * static_cast<double>(relay_.portPairsTotal()) - portsUsed);
    single("rdv_sockets_open", "Media sockets open", MetricType::Gauge, static_cast<double>(cc.socketsOpen.get()));
    single("rdv_relay_packets_total", "Packets forwarded (RTP and RTCP)", MetricType::Counter, packets);
    single("rdv_relay_bytes_total", "Bytes forwarded (RTP and RTCP)", MetricType::Counter, bytes);
    single("rdv_relay_rtcp_packets_total", "RTCP packets forwarded", MetricType::Counter, rtcp);
    single("rdv_rtcp_xr_reports_total",
           "RTCP XR packets (RFC 3611) received from peers; their VoIP Metrics feed the E-model of the stream the "
           "peer receives",
           MetricType::Counter, t.xrReports);
    single("rdv_rtcp_xr_malformed_total", "RTCP XR packets that did not parse (forwarded unchanged, counted per leg)",
           MetricType::Counter, t.xrMalformed);
    single("rdv_relay_other_packets_total",
           "Datagrams forwarded from latched peers that are neither RTP nor RTCP (T.38 UDPTL, STUN, DTLS); "
           "included in rdv_relay_packets_total",
           MetricType::Counter, other);
    single("rdv_relay_kernel_packets_total", "Packets forwarded by the kernel fast path (included in rdv_relay_packets_total)",
           MetricType::Counter, kernelPackets);
    single("rdv_relay_kernel_sessions", "Kernel fast-path entries installed (one per forwarded stream direction)",
           MetricType::Gauge, kernelEntries);
    auto dropped = family("rdv_relay_dropped_packets_total",
                          "Packets dropped, by reason; pool_exhausted counts refused sessions", MetricType::Counter);
    for (size_t r = 0; r < static_cast<size_t>(DropReason::kCount); ++r) {
      add(dropped, drops[r], {{"reason", relay::toString(static_cast<DropReason>(r))}});
    }
    add(dropped, static_cast<double>(cc.poolExhausted.get() + cc.capacityRefused.get()), {{"reason", "pool_exhausted"}});
    out.push_back(std::move(dropped));
    auto srtpPackets = family("rdv_srtp_packets_total",
                              "Packets unprotected (from) and protected (toward) relay legs that terminate SRTP",
                              MetricType::Counter);
    add(srtpPackets, t.srtpUnprotected, {{"op", "unprotect"}});
    add(srtpPackets, t.srtpProtected, {{"op", "protect"}});
    out.push_back(std::move(srtpPackets));
    auto srtpDropped = family("rdv_srtp_packets_dropped_total",
                              "SRTP/SRTCP packets dropped on legs that terminate SRTP, by reason (auth_fail: bad tag "
                              "or wrong key, never latched)",
                              MetricType::Counter);
    for (size_t r = 0; r < t.srtpDrops.size(); ++r) {
      add(srtpDropped, t.srtpDrops[r], {{"reason", relay::srtpDropLabel(static_cast<srtp::SrtpError>(r))}});
    }
    out.push_back(std::move(srtpDropped));
    auto iceChecks = family("rdv_ice_checks_total",
                            "STUN on relay legs with ICE-lite, by result (ok: a check that authenticated and was "
                            "answered; dropped: responses, indications, other methods, bad FINGERPRINT)",
                            MetricType::Counter);
    for (size_t r = 0; r < t.iceChecks.size(); ++r) {
      add(iceChecks, t.iceChecks[r], {{"result", relay::toString(static_cast<relay::IceCheckResult>(r))}});
    }
    out.push_back(std::move(iceChecks));
    auto dtlsHandshakes = family("rdv_dtls_handshakes_total",
                                 "DTLS-SRTP handshakes on relay legs that keyed SRTP (ok) or failed (fingerprint "
                                 "mismatch, alert, no SRTP profile, timeout)",
                                 MetricType::Counter);
    add(dtlsHandshakes, t.dtlsHandshakesOk, {{"result", "ok"}});
    add(dtlsHandshakes, t.dtlsHandshakesFailed, {{"result", "failed"}});
    out.push_back(std::move(dtlsHandshakes));
    auto dtlsDropped = family("rdv_dtls_dropped_packets_total",
                              "Datagrams dropped on DTLS-SRTP legs, by reason (not_keyed: RTP/RTCP before the "
                              "handshake keyed the leg, never forwarded in clear; peer_closed: from a peer after its "
                              "close_notify)",
                              MetricType::Counter);
    for (size_t r = 0; r < t.dtlsDrops.size(); ++r) {
      add(dtlsDropped, t.dtlsDrops[r], {{"reason", relay::dtlsDropLabel(static_cast<relay::DtlsDrop>(r))}});
    }
    out.push_back(std::move(dtlsDropped));
    out.push_back(std::move(busy));
    out.push_back(std::move(wsessions));
    out.push_back(std::move(wpackets));
    out.push_back(std::move(wsends));
    const auto& nc = ng_.counters();
    single("rdv_ng_requests_total", "NG control datagrams received", MetricType::Counter, static_cast<double>(nc.requests.get()));
    single("rdv_ng_errors_total", "NG requests answered with an error", MetricType::Counter, static_cast<double>(nc.errors.get()));
    single("rdv_ng_retransmissions_total", "NG requests answered from the cookie cache", MetricType::Counter,
           static_cast<double>(nc.retransmissions.get()));
    if (b2bua_ != nullptr && sip_ != nullptr) {
      const auto& bc = b2bua_->counters();
      const auto& tc = sip_->counters();
      auto d = [](const common::Counter& c) { return static_cast<double>(c.get()); };
      single("rdv_sip_messages_received_total", "SIP messages received", MetricType::Counter, d(tc.received));
      single("rdv_sip_messages_sent_total", "SIP messages sent", MetricType::Counter, d(tc.sent));
      single("rdv_sip_malformed_total", "SIP messages answered with 400", MetricType::Counter, d(tc.malformed));
      single("rdv_sip_dropped_total", "SIP datagrams dropped unanswerable", MetricType::Counter, d(tc.dropped));
      single("rdv_sip_tcp_connections", "SIP TCP and TLS connections open", MetricType::Gauge, d(tc.connections));
      single("rdv_sip_tls_handshake_failures_total", "SIP TLS connections closed before the handshake completed",
             MetricType::Counter, d(tc.tlsHandshakeFailures));
      single("rdv_sip_outbound_connections_total",
             "SIP TCP/TLS connections opened by Rendezvous to parties whose own connection had closed",
             MetricType::Counter, d(tc.outboundConnections));
      single("rdv_sip_outbound_connection_failures_total",
             "Of those, connections refused, not established in time or failing their TLS handshake",
             MetricType::Counter, d(tc.outboundFailures));
      single("rdv_sip_ws_upgrades_total", "SIP over WebSocket handshakes accepted (WS and WSS)", MetricType::Counter,
             d(tc.wsUpgrades));
      single("rdv_sip_ws_rejected_total", "SIP over WebSocket handshakes refused with 400/426", MetricType::Counter,
             d(tc.wsRejected));
      single("rdv_sip_ws_protocol_errors_total",
             "SIP over WebSocket connections closed for a bad or oversized frame (1002/1009)", MetricType::Counter,
             d(tc.wsProtocolErrors));
      single("rdv_sip_registrations_total", "Successful REGISTER requests", MetricType::Counter, d(bc.registrations));
      single("rdv_sip_auth_challenges_total", "401/407 challenges sent", MetricType::Counter, d(bc.authChallenges));
      single("rdv_calls_total", "Calls routed", MetricType::Counter, d(bc.callsTotal));
      single("rdv_calls_answered_total", "Calls answered", MetricType::Counter, d(bc.callsAnswered));
      single("rdv_calls_failed_total", "Calls that ended with a failure response or timeout", MetricType::Counter,
             d(bc.callsFailed));
      single("rdv_calls_rejected_total", "Calls refused by admission control (503)", MetricType::Counter,
             d(bc.callsRejected));
      single("rdv_calls_active", "Calls in progress", MetricType::Gauge, d(bc.callsActive));
      auto messages = family("rdv_im_messages_total",
                             "Out-of-dialog SIP MESSAGEs (RFC 3428) by outcome: relayed (a contact answered 2xx), "
                             "stored (202, kept for an offline user), delivered (a stored one taken after a "
                             "REGISTER), refused (413, store full, every contact failed)",
                             MetricType::Counter);
      add(messages, d(bc.messagesRelayed), {{"outcome", "relayed"}});
      add(messages, d(bc.messagesStored), {{"outcome", "stored"}});
      add(messages, d(bc.messagesDelivered), {{"outcome", "delivered"}});
      add(messages, d(bc.messagesRefused), {{"outcome", "refused"}});
      out.push_back(std::move(messages));
      single("rdv_sip_conference_invites_total", "INVITEs to a conference URI past authentication and admission",
             MetricType::Counter, d(bc.conferenceInvites));
      single("rdv_sip_conference_joins_total", "Conference INVITEs answered 200: the caller is in a room",
             MetricType::Counter, d(bc.conferenceJoins));
      single("rdv_sip_conference_rejected_total",
             "Conference INVITEs refused (bad room, no common codec, locked, full, wrong PIN)", MetricType::Counter,
             d(bc.conferenceRejected));
      single("rdv_sip_overload_rejected_total", "Requests answered 503 without state: transaction table full",
             MetricType::Counter, d(b2bua_->transactionsShed()));
      single("rdv_calls_media_timeouts_total", "Calls hung up because media stopped", MetricType::Counter,
             d(bc.mediaTimeouts));
      single("rdv_calls_session_expired_total",
             "Calls hung up because their RFC 4028 session interval ran out without a refresh",
             MetricType::Counter, d(bc.sessionExpired));
      auto ended = family("rdv_calls_ended_total", "Calls that ended, by reason", MetricType::Counter);
      for (size_t r = 0; r < b2bua::kEndReasons; ++r) {
        add(ended, d(bc.ended[r]), {{"reason", std::string(b2bua::toString(static_cast<b2bua::EndReason>(r)))}});
      }
      out.push_back(std::move(ended));
    }
    if (b2bua_ != nullptr && sip_ != nullptr) addPresence(out, b2bua_->counters());
    addProtocolAndCpu(out, ng_, sip_);
    addLiveQuality(out, relay_);
    if (conferences_ != nullptr) addConferences(out, *conferences_);
    if (tcpRelay_ != nullptr) addTcpRelay(out, *tcpRelay_);
    if (turn_ != nullptr) addTurn(out, *turn_);
    if (cdr_ != nullptr) {
      auto d = [](const common::Counter& c) { return static_cast<double>(c.get()); };
      single("rdv_cdr_written_total", "Call detail records written to cdr.file", MetricType::Counter, d(cdr_->written()));
      single("rdv_cdr_dropped_total", "Call detail records dropped: the writer's queue was full", MetricType::Counter,
             d(cdr_->dropped()));
      single("rdv_cdr_write_errors_total", "Call detail records lost to a failed write (disk full, I/O error)",
             MetricType::Counter, d(cdr_->writeErrors()));
      single("rdv_cdr_rotations_total", "Rotations of cdr.file", MetricType::Counter, d(cdr_->rotations()));
    }
    return out;
  }

 private:
  const relay::RelayControl& relay_;
  const ng::NgServer& ng_;
  const b2bua::B2bua* b2bua_;
  const sip::SipTransport* sip_;

 public:
  const cdr::CdrWriter* cdr_ = nullptr;  // set before the endpoint starts
  const mixer::ConferenceControl* conferences_ = nullptr;
  const relay::TcpRelay* tcpRelay_ = nullptr;
  const turn::TurnServer* turn_ = nullptr;
};

Metrics::Metrics(const relay::RelayControl& relay, const ng::NgServer& ng, const b2bua::B2bua* b2bua,
                 const sip::SipTransport* sip)
    : registry_(std::make_shared<prometheus::Registry>()),
      collector_(std::make_shared<Collector>(relay, ng, b2bua, sip)) {
  using prometheus::BuildHistogram;
  using prometheus::Histogram;
  lossPercent_ = &BuildHistogram().Name("rdv_leg_loss_percent").Help("RTP loss per leg at session end (RFC 3550 A.3)")
                      .Register(*registry_).Add({}, Histogram::BucketBoundaries{0.1, 0.5, 1, 2, 5, 10, 20, 50});
  jitterMs_ = &BuildHistogram().Name("rdv_leg_jitter_ms").Help("RTP interarrival jitter per leg at session end (RFC 3550 A.8)")
                   .Register(*registry_).Add({}, Histogram::BucketBoundaries{1, 2, 5, 10, 20, 30, 50, 100, 200});
  mos_ = &BuildHistogram().Name("rdv_leg_mos").Help("Average E-model MOS per leg at session end (ITU-T G.107)")
              .Register(*registry_).Add({}, Histogram::BucketBoundaries{1.0, 2.0, 2.5, 3.0, 3.5, 3.8, 4.0, 4.2, 4.4});
  rttMs_ = &BuildHistogram().Name("rdv_leg_rtt_ms").Help("Round trip relay<->peer from RTCP LSR/DLSR, per leg at session end")
                .Register(*registry_).Add({}, Histogram::BucketBoundaries{1, 5, 10, 25, 50, 100, 200, 400, 800});
}

Metrics::~Metrics() = default;

Expected<bool, std::string> Metrics::listen(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return Unexpected(fmt::format("cannot serve metrics on {}: {}", address, e.what()));
  }
  exposer_->RegisterCollectable(collector_);
  exposer_->RegisterCollectable(registry_);
  return true;
}

void Metrics::setCdr(const cdr::CdrWriter* writer) { collector_->cdr_ = writer; }
void Metrics::setConferences(const mixer::ConferenceControl* conferences) { collector_->conferences_ = conferences; }
void Metrics::setTcpRelay(const relay::TcpRelay* tcp) { collector_->tcpRelay_ = tcp; }
void Metrics::setTurn(const turn::TurnServer* turn) { collector_->turn_ = turn; }

std::string Metrics::render() const {
  auto families = collector_->Collect();
  auto histograms = registry_->Collect();
  families.insert(families.end(), std::make_move_iterator(histograms.begin()), std::make_move_iterator(histograms.end()));
  return prometheus::TextSerializer().Serialize(families);
}

void Metrics::observeEnded(const relay::SessionReport& report) {
  for (const auto& st : report.streams) {
    for (const auto& leg : st) {
      if (leg.counters.rtpPackets == 0) continue;
      lossPercent_->Observe(leg.lossFraction * 100.0);
      jitterMs_->Observe(leg.jitterMs);
      if (leg.quality.rttMs >= 0) rttMs_->Observe(leg.quality.rttMs);
      if (leg.mos.samples() > 0) mos_->Observe(leg.mos.average().mos);
    }
  }
}

}  // namespace rdv::app
