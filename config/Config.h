#pragma once
// Rendezvous configuration: the schema with its embedded defaults. Every key is listed once in
// ConfigKeys.cc (name, type, range, documentation); loading a TOML file, `--set key=value` and
// `--help` all read that one table, and config/rendezvous.toml documents the same keys.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rdv::config {

struct RelayConfig {
  std::string interface = "127.0.0.1";  // address the media sockets bind to
  std::string advertise;                // address written into SDP; empty = interface
  uint32_t portMin = 30000;
  uint32_t portMax = 39999;
  uint32_t workers = 0;                 // 0 = one per core
  uint32_t timeoutSeconds = 60;         // no media for this long: session torn down
  uint32_t setupTimeoutSeconds = 180;   // no media at all since the offer (ringing): torn down
  uint32_t relatchSilenceMs = 1000;     // see relay/Latch.h
  uint32_t batch = 32;                  // datagrams per recvmmsg/sendmmsg
  uint32_t kernelForwarding = 0;        // 1 = eBPF fast path for latched RTP (relay/KernelForwarder.h)
  uint32_t hostTcpAndTurn = 1;          // 1 = TCP splicer and TURN on relay workers (relay/HostedLoop.h)
  uint32_t realtimePriority = 0;        // 1-99: relay workers on SCHED_FIFO at this priority; 0 off
  uint32_t ioUring = 1;                 // 1 = a round's sends in one io_uring submission (relay/UringSender.h)
};

struct NgConfig {
  std::string listen = "127.0.0.1:2223";
  uint32_t cookieCacheSeconds = 30;     // how long replies are kept for retransmitted cookies
};

struct MetricsConfig {
  std::string listen = "127.0.0.1:9464";  // empty disables the HTTP endpoint
};

// Presence (RFC 3856 SUBSCRIBE/NOTIFY, RFC 3903 PUBLISH, RFC 3857 watcher info): signaling/presence.
struct PresenceConfig {
  uint32_t allowSameDomain = 1;         // 1: a watcher whose From host is the presentity's host may watch
  uint32_t politeBlock = 0;             // 1: an unauthorized watcher stays "pending" instead of "rejected"
  uint32_t notifyMinIntervalMs = 1000;  // at most one NOTIFY per subscription this often (flaps coalesced)
  uint32_t minExpires = 60;             // SUBSCRIBE/PUBLISH Expires below this: 423
  uint32_t maxExpires = 3600;           // longer ones are granted this
  uint32_t maxSubscriptions = 100000;   // in all; beyond: 503
  uint32_t maxPerWatcher = 100;         // per watching user; beyond: 403
  uint32_t maxPublications = 100000;    // in all; beyond: 503
  uint32_t maxBodyBytes = 16384;        // PUBLISH bodies beyond: 413
  // presence.lists.<user> = "bob,carol": who may watch <user> (besides the same-domain switch).
  std::map<std::string, std::string> lists;
};

// A presence.lists value: comma-separated user names, each [A-Za-z0-9._~+-]; nullopt when not.
std::optional<std::vector<std::string>> parseBuddyList(std::string_view list);

// SRTP per side of a B2BUA call (signaling/anchor/SrtpMedia.h): passthrough, offer, require, never.
struct MediaConfig {
  std::string encryptCaller = "passthrough";  // towards the calling party
  std::string encryptCallee = "passthrough";  // towards the called party
  // DTLS-SRTP certificate (RFC 5763/5764, media/dtls): PEM files, both or neither; neither = a
  // self-signed ECDSA P-256 certificate generated at each start.
  std::string dtlsCertificate;
  std::string dtlsPrivateKey;
};

struct SipConfig {
  std::string listen = "127.0.0.1:5060";  // UDP and TCP; empty disables SIP
  std::string advertise;                 // host in Via/Contact; empty = the listen address
  std::string tlsListen;                 // SIP over TLS (RFC 3261 §26.2); empty disables it
  std::string tlsCert;                   // PEM certificate chain served on tlsListen
  std::string tlsKey;                    // PEM private key of tlsCert
  std::string wsListen;                  // SIP over WebSocket (RFC 7118); empty disables it
  std::string wssListen;                 // SIP over secure WebSocket, with tlsCert/tlsKey; empty disables it
  std::string realm = "rendezvous";
  uint32_t authRegister = 1;             // REGISTER needs digest credentials
  uint32_t authInvite = 1;               // INVITE from outside needs proxy credentials
  std::string authAlgorithms = "SHA-256,MD5";  // digest challenges offered, in this order
  uint32_t minExpires = 60;
  uint32_t maxExpires = 3600;
  uint32_t maxCalls = 4000;              // concurrent calls; beyond: 503
  uint32_t maxCallsPerSecond = 1000;     // new calls per second; beyond: 503
  uint32_t keepaliveSeconds = 25;        // CRLF keep-alives to UDP registrations (NAT bindings)
  uint32_t ringTimeoutSeconds = 120;     // unanswered INVITE: 408 to the caller
  // A user with several registered contacts: "parallel" rings them all at once, "sequential" one
  // after another, highest q first (RFC 3261 §16.6), each for forkStepSeconds or until it fails.
  std::string forking = "parallel";
  uint32_t forkStepSeconds = 20;         // sequential: how long one contact rings before the next (0 = until it fails)
  uint32_t maxBranches = 8;              // contacts rung per call (the most preferred ones)
  // Instant messages (RFC 3428 MESSAGE outside a dialog).
  uint32_t maxMessageBytes = 8192;       // larger bodies: 413
  std::string messageStore;              // SQLite file for users who are offline; empty: 480 instead
  uint32_t messageStorePerUser = 100;    // messages kept per user; beyond: 480
  uint32_t messageStoreTotal = 100000;   // messages kept in all; beyond: 507
  std::map<std::string, std::string> users;  // sip.users.<name> = password
  PresenceConfig presence;                   // the presence.* keys
  MediaConfig media;                         // the media.* keys
};

// Call detail records (app/cdr): one JSON line per ended call.
struct CdrConfig {
  std::string file;                      // empty: no records
  uint32_t rotateMegabytes = 100;        // rotate at this size in MiB (0: never)
  uint32_t rotateSeconds = 86400;        // rotate at this age (0: never); SIGUSR1 reopens
  uint32_t syslog = 0;                   // 1: every record to syslog too (LOG_LOCAL0, info)
};

struct ApiConfig {
  std::string listen = "127.0.0.1:8080";  // operator HTTP JSON API; empty disables it
  std::string token;                     // bearer token; required when listen is not loopback
};

// Audio conferences (mixer/): rooms joined by SIP (sip:<prefix><room>@...) or the HTTP API.
struct ConferenceConfig {
  std::string prefix = "conf-";          // SIP request-URI user prefix of a conference
  uint32_t workers = 1;                  // mixer threads; rooms are spread over them
  uint32_t decodeHelpers = 0;            // extra decoding threads per mixer (a 1,000-participant room needs 1)
  uint32_t tickSlots = 4;                // slots of the 20 ms period the rooms are spread over (MixerWorker.h)
  uint32_t maxTalkers = 3;               // loudest speakers mixed per room
  uint32_t maxParticipants = 100;        // per room, unless the room's spec says otherwise
  uint32_t createOnJoin = 1;             // 1: an unknown room is created by its first participant
  uint32_t opusBitrate = 32000;          // bits/s of the Opus mixes sent
  uint32_t opusComplexity = 5;           // 0-10: the mixer's main CPU lever (benchmarks/README.md)
  uint32_t opusCelt = 0;                 // 1: the mixes are coded CELT only (media/AudioCodec.h, celtOnly)
  uint32_t opusTalkerComplexity = 11;    // 0-10 for the talkers' mix-minus encodes; 11: as opusComplexity
  uint32_t adaptiveEncoding = 1;         // 1: cheaper Opus encodes while a mixer's ticks are heavy (LoadGovernor)
  // Step down above this mean busy share of the tick period; 0: automatic (adaptiveHigh()).
  uint32_t adaptiveHighPercent = 0;
  // Step up when the level above is predicted under this; 0: automatic (adaptiveLow()).
  uint32_t adaptiveLowPercent = 0;
  uint32_t adaptiveQuietSeconds = 5;     // ... for this long
  uint32_t realtimePriority = 0;         // 1-99: mixer threads on SCHED_FIFO at this priority; 0 off
  uint32_t pinAttempts = 3;              // wrong PINs before a SIP participant is hung up
  // conference.rooms.<name> = "[PIN][/MAX]": a declared room, with an optional PIN entered by DTMF
  // (end with #) and an optional size limit ("" declares a room with neither).
  std::map<std::string, std::string> rooms;

  // The governor's marks in effect. Automatic: 55 % for ordinary mixer threads, whose busy time
  // includes waiting for a core; 45 % for realtime ones, whose busy time is CPU no other thread
  // can have (two at 55 % of two cores leave the relay threads 0.9 core; benchmarks/README.md,
  // 100 rooms x 10). The low mark defaults to 10 points under the high one.
  uint32_t adaptiveHigh() const {
    if (adaptiveHighPercent != 0) return adaptiveHighPercent;
    return realtimePriority > 0 ? 45 : 55;
  }
  uint32_t adaptiveLow() const {
    if (adaptiveLowPercent != 0) return adaptiveLowPercent;
    return adaptiveHigh() > 10 ? adaptiveHigh() - 10 : adaptiveHigh() / 2;
  }
};

// A parsed conference.rooms value; nullopt when it is not "[PIN][/MAX]" (PIN digits, MAX 1-100000).
struct RoomSpec {
  std::string pin;
  uint32_t maxParticipants = 0;  // 0 = conference.max_participants
};
std::optional<RoomSpec> parseRoomSpec(std::string_view spec);

// The TCP relay (relay/TcpRelay.h): pairs of listening ports created through the API, each peer
// connects out to its own port and the bytes are spliced between the two connections.
struct TcpRelayConfig {
  std::string interface;                 // listening address; empty = relay.interface
  std::string advertise;                 // address given to peers; empty = relay.advertise, else the interface
  uint32_t portMin = 40000;
  uint32_t portMax = 49999;
  uint32_t maxPairs = 1000;              // live pairs in total (beyond: 503); 0 disables the relay
  uint32_t maxPairsPerSource = 100;      // live pairs naming one peer address; connections from one IP: twice this
  uint32_t setupTimeoutSeconds = 60;     // both peers must connect within this
  uint32_t idleTimeoutSeconds = 3600;    // default when a request names none
  uint32_t maxIdleTimeoutSeconds = 86400;
  uint32_t pipeSize = 1048576;           // bytes in flight per direction (the splice pipe's size)
  uint32_t restrictSdpSource = 1;        // SDP-anchored pairs: the offerer's side only from its signalling IP
};

// The TURN server (RFC 8656) and STUN Binding on UDP (relay/turn/). It starts only when turn.listen
// is set and some credential is configured (turn.users or turn.secret): a TURN server nobody may
// use would only answer Binding requests.
struct TurnConfig {
  std::string listen = "0.0.0.0:3478";   // UDP and TCP; empty disables TURN
  std::string relayAddress;              // IP the relayed sockets bind to (and XOR-RELAYED-ADDRESS); empty = relay.interface
  std::string relayAdvertise;            // IP sent as XOR-RELAYED-ADDRESS instead (1:1 NAT); empty = relayAddress
  uint32_t portMin = 49152;              // relayed ports
  uint32_t portMax = 65535;
  std::string realm = "rendezvous";
  std::string secret;                    // shared secret of time-limited credentials (username "expiry:user")
  std::string allowPeers;                // comma-separated CIDRs allowed although internal (loopback, RFC 1918...)
  uint32_t userQuota = 10;               // allocations per username; beyond: 486
  uint32_t totalQuota = 1000;            // allocations in all; beyond: 486
  uint32_t maxLifetime = 3600;           // seconds an allocation may be granted per Allocate/Refresh
  uint32_t nonceLifetime = 600;          // seconds a nonce is accepted; then 438
  std::string tlsListen = "0.0.0.0:5349"; // TURN over TLS, used when tlsCert is set; empty disables
  std::string tlsCert;                   // PEM certificate chain of the TLS listener
  std::string tlsKey;                    // its PEM private key
  uint32_t maxBps = 0;                   // relayed bits/s per allocation (UDP: dropped beyond, TCP: slowed); 0 = no limit
  uint32_t tcpMaxConnections = 10000;    // TCP/TLS client connections in all; beyond: reset and counted
  uint32_t tcpMaxPerSource = 1000;       // TCP/TLS client connections from one IP; beyond: reset and counted
  uint32_t tcpIdleTimeout = 30;          // seconds a TCP/TLS client without allocation may stay silent
  std::map<std::string, std::string> users;  // turn.users.<name> = password
};

struct LogConfig {
  std::string level = "info";            // trace, debug, info, warn, error, off
};

struct Config {
  RelayConfig relay;
  NgConfig ng;
  MetricsConfig metrics;
  SipConfig sip;
  CdrConfig cdr;
  ApiConfig api;
  ConferenceConfig conference;
  TcpRelayConfig tcpRelay;
  TurnConfig turn;
  LogConfig log;
};

}  // namespace rdv::config
