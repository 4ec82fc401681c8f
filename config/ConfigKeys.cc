#include "config/ConfigKeys.h"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

namespace rdv::config {
namespace {

#define RDV_STR(field) [](Config& c) -> std::string& { return c.field; }
#define RDV_NUM(field) [](Config& c) -> uint32_t& { return c.field; }

const std::array kKeys{
    KeyDef{"relay.interface", KeyType::String, 0, 0,
           "IPv4/IPv6 address the media sockets bind to", RDV_STR(relay.interface)},
    KeyDef{"relay.advertise", KeyType::String, 0, 0,
           "address written into rewritten SDP (c=); empty = relay.interface", RDV_STR(relay.advertise)},
    KeyDef{"relay.port_min", KeyType::UInt, 1024, 65534, "lowest media port (RTP ports are even)",
           nullptr, RDV_NUM(relay.portMin)},
    KeyDef{"relay.port_max", KeyType::UInt, 1025, 65535, "highest media port", nullptr,
           RDV_NUM(relay.portMax)},
    KeyDef{"relay.workers", KeyType::UInt, 0, 256, "relay worker threads; 0 = one per core", nullptr,
           RDV_NUM(relay.workers)},
    KeyDef{"relay.timeout", KeyType::UInt, 1, 86400,
           "seconds without media after which a session is torn down", nullptr,
           RDV_NUM(relay.timeoutSeconds)},
    KeyDef{"relay.setup_timeout", KeyType::UInt, 1, 86400,
           "seconds a session that never carried media (a ringing call) may live", nullptr,
           RDV_NUM(relay.setupTimeoutSeconds)},
    KeyDef{"relay.relatch_silence_ms", KeyType::UInt, 10, 60000,
           "a latched leg moves to a new source with the same SSRC only after the old source "
           "has been silent this long (NAT rebinding)",
           nullptr, RDV_NUM(relay.relatchSilenceMs)},
    KeyDef{"relay.batch", KeyType::UInt, 1, 256, "datagrams per recvmmsg/sendmmsg call", nullptr,
           RDV_NUM(relay.batch)},
    KeyDef{"relay.kernel_forwarding", KeyType::UInt, 0, 1,
           "1 = forward latched RTP in the kernel (eBPF on TC ingress of the relay.interface device); "
           "needs root or CAP_BPF+CAP_NET_ADMIN, falls back to userspace with a warning",
           nullptr, RDV_NUM(relay.kernelForwarding)},
    KeyDef{"relay.host_tcp_and_turn", KeyType::UInt, 0, 1,
           "1 = the TCP relay's splicer and the TURN server run on the relay workers (TURN on the "
           "first, the splicer on the last); 0 = each on a thread of its own",
           nullptr, RDV_NUM(relay.hostTcpAndTurn)},
    KeyDef{"relay.io_uring", KeyType::UInt, 0, 1,
           "1 = each relay worker sends what an epoll round forwards (and the mixers' packets) in one "
           "io_uring submission; falls back to sendmmsg/sendto with a warning where io_uring is "
           "unavailable; 0 = sendmmsg/sendto",
           nullptr, RDV_NUM(relay.ioUring)},
    KeyDef{"relay.realtime_priority", KeyType::UInt, 0, 99,
           "1-99: the relay worker threads run SCHED_FIFO at this priority (needs CAP_SYS_NICE; refused, the "
           "server warns and runs them as ordinary threads); set it with conference.realtime_priority, "
           "above it; 0: the default scheduler",
           nullptr, RDV_NUM(relay.realtimePriority)},
    KeyDef{"ng.listen", KeyType::String, 0, 0, "NG control protocol UDP address (host:port)",
           RDV_STR(ng.listen)},
    KeyDef{"ng.cookie_cache", KeyType::UInt, 1, 3600,
           "seconds a reply is kept to answer a retransmitted cookie", nullptr,
           RDV_NUM(ng.cookieCacheSeconds)},
    KeyDef{"metrics.listen", KeyType::String, 0, 0,
           "Prometheus /metrics HTTP address (host:port); empty disables it", RDV_STR(metrics.listen)},
    KeyDef{"sip.listen", KeyType::String, 0, 0, "SIP UDP and TCP address (host:port); empty disables SIP",
           RDV_STR(sip.listen)},
    KeyDef{"sip.advertise", KeyType::String, 0, 0, "host written into Via/Contact; empty = the sip.listen address",
           RDV_STR(sip.advertise)},
    KeyDef{"sip.tls_listen", KeyType::String, 0, 0,
           "SIP over TLS address (host:port, TLS 1.2+); empty disables it; needs sip.tls_cert and sip.tls_key",
           RDV_STR(sip.tlsListen)},
    KeyDef{"sip.tls_cert", KeyType::String, 0, 0, "PEM certificate (chain) file for sip.tls_listen",
           RDV_STR(sip.tlsCert)},
    KeyDef{"sip.tls_key", KeyType::String, 0, 0, "PEM private key file for sip.tls_cert", RDV_STR(sip.tlsKey)},
    KeyDef{"sip.ws_listen", KeyType::String, 0, 0, "SIP over WebSocket address (host:port, RFC 7118); empty disables it",
           RDV_STR(sip.wsListen)},
    KeyDef{"sip.wss_listen", KeyType::String, 0, 0,
           "SIP over secure WebSocket address (host:port); empty disables it; uses sip.tls_cert and sip.tls_key",
           RDV_STR(sip.wssListen)},
    KeyDef{"sip.realm", KeyType::String, 0, 0, "digest authentication realm", RDV_STR(sip.realm)},
    KeyDef{"sip.auth_register", KeyType::UInt, 0, 1, "1 = REGISTER needs digest credentials", nullptr,
           RDV_NUM(sip.authRegister)},
    KeyDef{"sip.auth_invite", KeyType::UInt, 0, 1, "1 = INVITE needs digest (proxy) credentials", nullptr,
           RDV_NUM(sip.authInvite)},
    KeyDef{"sip.auth_algorithms", KeyType::String, 0, 0,
           "digest challenges offered, in order: SHA-256,MD5 (RFC 8760), MD5,SHA-256 or MD5 for old clients",
           RDV_STR(sip.authAlgorithms)},
    KeyDef{"sip.min_expires", KeyType::UInt, 1, 86400, "shortest registration accepted (423 below)", nullptr,
           RDV_NUM(sip.minExpires)},
    KeyDef{"sip.max_expires", KeyType::UInt, 1, 604800, "longest registration granted", nullptr,
           RDV_NUM(sip.maxExpires)},
    KeyDef{"sip.max_calls", KeyType::UInt, 1, 1000000, "concurrent calls; beyond: 503 with Retry-After", nullptr,
           RDV_NUM(sip.maxCalls)},
    KeyDef{"sip.max_cps", KeyType::UInt, 1, 1000000, "new calls per second; beyond: 503 with Retry-After",
           nullptr, RDV_NUM(sip.maxCallsPerSecond)},
    KeyDef{"sip.keepalive", KeyType::UInt, 0, 3600,
           "seconds between CRLF keep-alives to UDP registrations (0 = off)", nullptr,
           RDV_NUM(sip.keepaliveSeconds)},
    KeyDef{"sip.ring_timeout", KeyType::UInt, 1, 3600, "seconds an INVITE may ring before 408", nullptr,
           RDV_NUM(sip.ringTimeoutSeconds)},
    KeyDef{"sip.forking", KeyType::String, 0, 0,
           "a user with several contacts: parallel (ring all) or sequential (highest q first)",
           RDV_STR(sip.forking)},
    KeyDef{"sip.fork_step", KeyType::UInt, 0, 3600,
           "sequential forking: seconds one contact rings before the next is tried (0 = until it fails)", nullptr,
           RDV_NUM(sip.forkStepSeconds)},
    KeyDef{"sip.max_branches", KeyType::UInt, 1, 64, "registered contacts rung per call (most preferred first)",
           nullptr, RDV_NUM(sip.maxBranches)},
    KeyDef{"sip.max_message_bytes", KeyType::UInt, 1, 1'000'000,
           "largest body of an instant message (MESSAGE) relayed or stored; larger: 413", nullptr,
           RDV_NUM(sip.maxMessageBytes)},
    KeyDef{"sip.message_store", KeyType::String, 0, 0,
           "SQLite file keeping instant messages for offline users until they register (empty = off: 480)",
           RDV_STR(sip.messageStore)},
    KeyDef{"sip.message_store_per_user", KeyType::UInt, 1, 1'000'000,
           "instant messages kept per offline user; beyond: 480", nullptr, RDV_NUM(sip.messageStorePerUser)},
    KeyDef{"sip.message_store_total", KeyType::UInt, 1, 100'000'000,
           "instant messages kept for all offline users; beyond: 507", nullptr, RDV_NUM(sip.messageStoreTotal)},
    KeyDef{"media.encrypt_caller", KeyType::String, 0, 0,
           "SRTP towards the calling party: passthrough (as offered, end to end), offer (RTP/AVP + "
           "a=crypto, RFC 8643), require (RTP/SAVP only, else 488), never (plain RTP; SRTP terminated)",
           RDV_STR(sip.media.encryptCaller)},
    KeyDef{"media.encrypt_callee", KeyType::String, 0, 0,
           "SRTP towards the called party: passthrough, offer, require or never (as media.encrypt_caller)",
           RDV_STR(sip.media.encryptCallee)},
    KeyDef{"media.dtls_certificate", KeyType::String, 0, 0,
           "PEM certificate for DTLS-SRTP (its SHA-256 goes into a=fingerprint); empty = a self-signed ECDSA "
           "P-256 certificate generated at start; needs media.dtls_private_key",
           RDV_STR(sip.media.dtlsCertificate)},
    KeyDef{"media.dtls_private_key", KeyType::String, 0, 0, "PEM private key of media.dtls_certificate",
           RDV_STR(sip.media.dtlsPrivateKey)},
    KeyDef{"presence.allow_same_domain", KeyType::UInt, 0, 1,
           "1 = any watcher whose From host is the watched user's host may subscribe to its presence; "
           "0 = only those in presence.lists.<user>",
           nullptr, RDV_NUM(sip.presence.allowSameDomain)},
    KeyDef{"presence.polite_block", KeyType::UInt, 0, 1,
           "an unauthorized watcher: 0 = NOTIFY terminated;reason=rejected, 1 = kept pending (polite blocking); "
           "never the status",
           nullptr, RDV_NUM(sip.presence.politeBlock)},
    KeyDef{"presence.notify_min_interval_ms", KeyType::UInt, 0, 600000,
           "at most one NOTIFY per subscription this often; changes in between are coalesced to the latest",
           nullptr, RDV_NUM(sip.presence.notifyMinIntervalMs)},
    KeyDef{"presence.min_expires", KeyType::UInt, 1, 86400,
           "shortest SUBSCRIBE/PUBLISH Expires accepted (423 with Min-Expires below)", nullptr,
           RDV_NUM(sip.presence.minExpires)},
    KeyDef{"presence.max_expires", KeyType::UInt, 1, 604800, "longest subscription/publication granted", nullptr,
           RDV_NUM(sip.presence.maxExpires)},
    KeyDef{"presence.max_subscriptions", KeyType::UInt, 1, 10'000'000,
           "presence subscriptions in all; beyond: 503", nullptr, RDV_NUM(sip.presence.maxSubscriptions)},
    KeyDef{"presence.max_per_watcher", KeyType::UInt, 1, 100000,
           "presence subscriptions one watching user may hold; beyond: 403", nullptr,
           RDV_NUM(sip.presence.maxPerWatcher)},
    KeyDef{"presence.max_publications", KeyType::UInt, 1, 10'000'000,
           "PUBLISHed presence documents kept in all; beyond: 503", nullptr, RDV_NUM(sip.presence.maxPublications)},
    KeyDef{"presence.max_body_bytes", KeyType::UInt, 64, 1'000'000, "largest PIDF body PUBLISHed; larger: 413",
           nullptr, RDV_NUM(sip.presence.maxBodyBytes)},
    KeyDef{"cdr.file", KeyType::String, 0, 0, "call detail records, one JSON line per call, appended here (empty = off)",
           RDV_STR(cdr.file)},
    KeyDef{"cdr.rotate_mb", KeyType::UInt, 0, 1'000'000, "rotate cdr.file at this size in MiB (0 = never)", nullptr,
           RDV_NUM(cdr.rotateMegabytes)},
    KeyDef{"cdr.rotate_seconds", KeyType::UInt, 0, 31'622'400,
           "rotate cdr.file at this age (0 = never); SIGUSR1 reopens it after logrotate", nullptr,
           RDV_NUM(cdr.rotateSeconds)},
    KeyDef{"cdr.syslog", KeyType::UInt, 0, 1, "1 = every call record to syslog too (LOG_LOCAL0, info)", nullptr,
           RDV_NUM(cdr.syslog)},
    KeyDef{"api.listen", KeyType::String, 0, 0,
           "operator HTTP JSON API address (host:port): health, readiness, drain, reload; empty disables it",
           RDV_STR(api.listen)},
    KeyDef{"api.token", KeyType::String, 0, 0,
           "bearer token the API requires (Authorization: Bearer <token>); must be set when api.listen "
           "is not a loopback address",
           RDV_STR(api.token)},
    KeyDef{"conference.prefix", KeyType::String, 0, 0,
           "SIP request-URI user prefix that addresses a conference (sip:conf-<room>@...)",
           RDV_STR(conference.prefix)},
    KeyDef{"conference.workers", KeyType::UInt, 1, 64, "mixer threads; rooms are spread over them", nullptr,
           RDV_NUM(conference.workers)},
    KeyDef{"conference.decode_helpers", KeyType::UInt, 0, 16,
           "extra decoding threads per mixer thread (one 1,000-participant Opus room needs 1)", nullptr,
           RDV_NUM(conference.decodeHelpers)},
    KeyDef{"conference.tick_slots", KeyType::UInt, 1, 20,
           "slots each mixer thread's 20 ms period is cut into, every room ticking in one of them (spreads "
           "the work, so a stall delays one slot's rooms, not all): 1, 2, 4, 5, 10 or 20; 1: one tick for all rooms",
           nullptr, RDV_NUM(conference.tickSlots)},
    KeyDef{"conference.max_talkers", KeyType::UInt, 1, 8, "loudest speakers mixed per room", nullptr,
           RDV_NUM(conference.maxTalkers)},
    KeyDef{"conference.max_participants", KeyType::UInt, 1, 100000,
           "participants per room unless its conference.rooms spec says otherwise (beyond: SIP 486, API 503)",
           nullptr, RDV_NUM(conference.maxParticipants)},
    KeyDef{"conference.create_on_join", KeyType::UInt, 0, 1,
           "1 = a room that does not exist is created by its first participant; 0 = only declared rooms",
           nullptr, RDV_NUM(conference.createOnJoin)},
    KeyDef{"conference.opus_bitrate", KeyType::UInt, 6000, 510000, "bits/s of the Opus mixes sent", nullptr,
           RDV_NUM(conference.opusBitrate)},
    KeyDef{"conference.opus_complexity", KeyType::UInt, 0, 10,
           "Opus encoder complexity of the mixes (0-10): 5 costs about half of 10; 1 about half of 5, for a "
           "small loss of quality",
           nullptr, RDV_NUM(conference.opusComplexity)},
    KeyDef{"conference.opus_talker_complexity", KeyType::UInt, 0, 11,
           "Opus complexity of each talker's own mix (heard by that talker alone, one encode per talker) "
           "while opus_complexity sets the shared mixes; 11 = same as opus_complexity",
           nullptr, RDV_NUM(conference.opusTalkerComplexity)},
    KeyDef{"conference.opus_celt", KeyType::UInt, 0, 1,
           "1: code the Opus mixes CELT only (about half the mixer CPU, 4 ms less delay, no in-band FEC); "
           "0: libopus's voice modes (SILK/hybrid with in-band FEC)",
           nullptr, RDV_NUM(conference.opusCelt)},
    KeyDef{"conference.adaptive_encoding", KeyType::UInt, 0, 1,
           "1: each mixer thread moves its rooms' Opus encodes to cheaper settings (complexity 3, 1, 0, then "
           "CELT only) while its ticks are heavy, and back when the load falls; 0: always as configured",
           nullptr, RDV_NUM(conference.adaptiveEncoding)},
    KeyDef{"conference.adaptive_high_percent", KeyType::UInt, 0, 100,
           "adaptive encoding steps down when a mixer thread's ticks take more than this share of the 20 ms "
           "period on average over 0.5 s (or one tick overruns); 0: 55, or 45 with realtime_priority",
           nullptr, RDV_NUM(conference.adaptiveHighPercent)},
    KeyDef{"conference.adaptive_low_percent", KeyType::UInt, 0, 100,
           "adaptive encoding steps back up only when the level above is predicted to take less than this "
           "share of the period (below adaptive_high_percent); 0: 10 points under it",
           nullptr, RDV_NUM(conference.adaptiveLowPercent)},
    KeyDef{"conference.adaptive_quiet_seconds", KeyType::UInt, 1, 3600,
           "seconds the level above must be predicted to fit before adaptive encoding steps back up", nullptr,
           RDV_NUM(conference.adaptiveQuietSeconds)},
    KeyDef{"conference.realtime_priority", KeyType::UInt, 0, 99,
           "1-99: the mixer threads run SCHED_FIFO at this priority (needs CAP_SYS_NICE; refused, the server "
           "warns and runs them as ordinary threads); 0: the default scheduler",
           nullptr, RDV_NUM(conference.realtimePriority)},
    KeyDef{"conference.pin_attempts", KeyType::UInt, 1, 10,
           "wrong PINs (entered by DTMF, ended with #) before a SIP participant is hung up", nullptr,
           RDV_NUM(conference.pinAttempts)},
    KeyDef{"tcp_relay.interface", KeyType::String, 0, 0,
           "address the TCP relay's listening ports bind to; empty = relay.interface", RDV_STR(tcpRelay.interface)},
    KeyDef{"tcp_relay.advertise", KeyType::String, 0, 0,
           "address the API gives peers to connect to; empty = relay.advertise, else the interface",
           RDV_STR(tcpRelay.advertise)},
    KeyDef{"tcp_relay.port_min", KeyType::UInt, 1024, 65535, "lowest TCP relay port", nullptr,
           RDV_NUM(tcpRelay.portMin)},
    KeyDef{"tcp_relay.port_max", KeyType::UInt, 1024, 65535, "highest TCP relay port", nullptr,
           RDV_NUM(tcpRelay.portMax)},
    KeyDef{"tcp_relay.max_pairs", KeyType::UInt, 0, 1000000,
           "live TCP relay pairs in all (beyond: API 503); 0 disables the TCP relay", nullptr,
           RDV_NUM(tcpRelay.maxPairs)},
    KeyDef{"tcp_relay.max_pairs_per_source", KeyType::UInt, 0, 1000000,
           "live pairs naming one peer address (beyond: API 503) and half the live connections accepted "
           "from one IP (beyond: reset); 0 = no limit",
           nullptr, RDV_NUM(tcpRelay.maxPairsPerSource)},
    KeyDef{"tcp_relay.setup_timeout", KeyType::UInt, 1, 86400,
           "seconds both peers have to connect after the pair is created", nullptr,
           RDV_NUM(tcpRelay.setupTimeoutSeconds)},
    KeyDef{"tcp_relay.idle_timeout", KeyType::UInt, 1, 604800,
           "seconds without a byte either way before a pair is reset, unless the request names one", nullptr,
           RDV_NUM(tcpRelay.idleTimeoutSeconds)},
    KeyDef{"tcp_relay.max_idle_timeout", KeyType::UInt, 1, 604800, "largest idle_timeout a request may name",
           nullptr, RDV_NUM(tcpRelay.maxIdleTimeoutSeconds)},
    KeyDef{"tcp_relay.pipe_size", KeyType::UInt, 4096, 16777216,
           "bytes buffered per direction in flight (splice pipe size; also the backpressure bound)", nullptr,
           RDV_NUM(tcpRelay.pipeSize)},
    KeyDef{"turn.listen", KeyType::String, 0, 0,
           "TURN/STUN address (host:port, UDP and TCP); empty disables it; TURN runs only with turn.users or "
           "turn.secret set",
           RDV_STR(turn.listen)},
    KeyDef{"turn.relay_address", KeyType::String, 0, 0,
           "IP address relayed sockets bind to and advertise (XOR-RELAYED-ADDRESS); empty = relay.interface",
           RDV_STR(turn.relayAddress)},
    KeyDef{"turn.relay_advertise", KeyType::String, 0, 0,
           "IP address sent as XOR-RELAYED-ADDRESS when the relayed sockets sit behind a 1:1 NAT (cloud public IP); "
           "empty = turn.relay_address",
           RDV_STR(turn.relayAdvertise)},
    KeyDef{"turn.port_min", KeyType::UInt, 1024, 65535, "lowest relayed port", nullptr, RDV_NUM(turn.portMin)},
    KeyDef{"turn.port_max", KeyType::UInt, 1024, 65535, "highest relayed port", nullptr, RDV_NUM(turn.portMax)},
    KeyDef{"turn.realm", KeyType::String, 0, 0, "long-term credential realm (REALM)", RDV_STR(turn.realm)},
    KeyDef{"turn.secret", KeyType::String, 0, 0,
           "shared secret of time-limited credentials: username \"expiry:user\", password "
           "base64(HMAC-SHA1(secret, username)); empty = off",
           RDV_STR(turn.secret)},
    KeyDef{"turn.allow_peers", KeyType::String, 0, 0,
           "comma-separated CIDRs that allocations may reach although loopback, private, link-local, CGNAT or "
           "multicast (denied by default: 403)",
           RDV_STR(turn.allowPeers)},
    KeyDef{"turn.user_quota", KeyType::UInt, 1, 100000, "allocations per username; beyond: 486", nullptr,
           RDV_NUM(turn.userQuota)},
    KeyDef{"turn.total_quota", KeyType::UInt, 1, 1000000, "allocations in all; beyond: 486", nullptr,
           RDV_NUM(turn.totalQuota)},
    KeyDef{"turn.max_lifetime", KeyType::UInt, 600, 86400, "longest allocation lifetime granted, in seconds",
           nullptr, RDV_NUM(turn.maxLifetime)},
    KeyDef{"turn.nonce_lifetime", KeyType::UInt, 10, 86400, "seconds a nonce stays valid (then 438 Stale Nonce)",
           nullptr, RDV_NUM(turn.nonceLifetime)},
    KeyDef{"turn.tls_listen", KeyType::String, 0, 0,
           "TURN over TLS address (host:port), listened on when turn.tls_cert is set; empty disables it",
           RDV_STR(turn.tlsListen)},
    KeyDef{"turn.tls_cert", KeyType::String, 0, 0, "PEM certificate (chain) file of TURN over TLS; empty = no TLS",
           RDV_STR(turn.tlsCert)},
    KeyDef{"turn.tls_key", KeyType::String, 0, 0, "PEM private key file of turn.tls_cert", RDV_STR(turn.tlsKey)},
    KeyDef{"turn.max_bps", KeyType::UInt, 0, 4'000'000'000,
           "bits per second relayed per allocation (both directions together, token bucket with a quarter "
           "second of burst); UDP datagrams beyond are dropped and counted (reason bandwidth), RFC 6062 TCP "
           "connections are slowed (reading stops until tokens come back); 0 = no limit",
           nullptr, RDV_NUM(turn.maxBps)},
    KeyDef{"turn.tcp_max_connections", KeyType::UInt, 1, 1000000,
           "TURN client connections over TCP and TLS in all; beyond: reset and counted (reason "
           "tcp_connection_limit)",
           nullptr, RDV_NUM(turn.tcpMaxConnections)},
    KeyDef{"turn.tcp_max_per_source", KeyType::UInt, 0, 1000000,
           "TURN client connections over TCP and TLS from one IP; beyond: reset and counted (reason "
           "tcp_source_limit); 0 = no limit",
           nullptr, RDV_NUM(turn.tcpMaxPerSource)},
    KeyDef{"turn.tcp_idle_timeout", KeyType::UInt, 1, 86400,
           "seconds a TURN client connection without allocation may stay silent (never sending, or stopping "
           "mid-frame) before it is closed (reason tcp_idle)",
           nullptr, RDV_NUM(turn.tcpIdleTimeout)},
    KeyDef{"tcp_relay.restrict_sdp_source", KeyType::UInt, 0, 1,
           "1 = each side of a TCP media pair anchored from SDP accepts connections only from the address its "
           "party's signalling came from, where known (offerer: the INVITE's source or NG received-from; "
           "answerer: the callee's registered flow or the answer's NG received-from)",
           nullptr, RDV_NUM(tcpRelay.restrictSdpSource)},
    KeyDef{"log.level", KeyType::String, 0, 0, "trace, debug, info, warn, error or off",
           RDV_STR(log.level)},
};

#undef RDV_STR
#undef RDV_NUM

}  // namespace

std::span<const KeyDef> allKeys() { return kKeys; }

const KeyDef* findKey(std::string_view name) {
  for (const auto& k : kKeys) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

std::vector<std::string> changedKeys(const Config& a, const Config& b) {
  std::vector<std::string> out;
  for (const auto& k : kKeys) {
    if (formatValue(k, a) != formatValue(k, b)) out.emplace_back(k.name);
  }
  if (a.sip.users != b.sip.users) out.emplace_back("sip.users");
  if (a.conference.rooms != b.conference.rooms) out.emplace_back("conference.rooms");
  if (a.turn.users != b.turn.users) out.emplace_back("turn.users");
  if (a.sip.presence.lists != b.sip.presence.lists) out.emplace_back("presence.lists");
  return out;
}

std::optional<RoomSpec> parseRoomSpec(std::string_view spec) {
  RoomSpec r;
  const auto slash = spec.find('/');
  r.pin = std::string(spec.substr(0, slash));
  if (r.pin.size() > 16 || !std::all_of(r.pin.begin(), r.pin.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  if (slash == std::string_view::npos) return r;
  const auto max = spec.substr(slash + 1);
  auto [ptr, ec] = std::from_chars(max.data(), max.data() + max.size(), r.maxParticipants);
  if (ec != std::errc() || ptr != max.data() + max.size() || r.maxParticipants == 0 || r.maxParticipants > 100000) {
    return std::nullopt;
  }
  return r;
}

std::optional<std::vector<std::string>> parseBuddyList(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    const auto good = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
             c == '~' || c == '+' || c == '-';
    };
    if (name.empty() || name.size() > 128 || !std::all_of(name.begin(), name.end(), good)) return std::nullopt;
    out.emplace_back(name);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (comma != std::string_view::npos && list.empty()) return std::nullopt;  // "bob,"
  }
  return out;
}

std::string formatValue(const KeyDef& key, const Config& cfg) {
  auto& c = const_cast<Config&>(cfg);  // accessors are shared with the setters; nothing is written
  if (key.type == KeyType::String) return fmt::format("\"{}\"", key.str(c));
  return fmt::format("{}", key.num(c));
}

}  // namespace rdv::config
