// rtp_load: RTP load generator for relay benchmarks.
//
//   rtp_load --ng 127.0.0.1:2223 --sessions N [--rate 50] [--seconds S] [--payload 160]
//            [--direct] [--setup-only] [--ng-window 64] [--send-api sendto|sendmmsg]
//            [--tick-us 500] [--sdes cm80|cm32|gcm128|gcm256]
//
// Sets up N calls over the NG protocol (offer + answer, pipelined), sends RTP both ways through
// the relay for S seconds, drains for 1 s, prints a key=value report on stdout, then deletes the
// calls. --sdes makes every caller an SRTP phone (SDES, RFC 4568): it offers RTP/SAVP with a fresh
// a=crypto key and asks the relay for plain RTP towards the callee (transport-protocol RTP/AVP),
// protects what it sends and unprotects what it receives with the key of the relay's answer; the
// callee stays plain, so the relay bridges SRTP <-> RTP. --direct skips the relay (caller and callee send to
// each other): the floor to compare with. stdout carries only key=value lines; the driver reads
// `phase=media_start` and `phase=media_end` as they come to sample the relay's CPU over the media phase
// alone.

#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "benchmarks/MediaLoad.h"
#include "benchmarks/NgClient.h"
#include "benchmarks/NgCommands.h"
#include "benchmarks/ToolSupport.h"
#include "benchmarks/UdpSocket.h"
#include "media/srtp/SdesCrypto.h"
#include "media/srtp/SrtpContext.h"

namespace rdv::bench {
namespace {

struct Options {
  sockaddr_in ng{};  // the relay's NG address (loopback only)
  size_t sessions = 100;
  int rate = 50;
  double seconds = 10;
  size_t payload = 160;
  size_t ngWindow = 64;
  bool direct = false;
  bool setupOnly = false;
  SendApi sendApi = SendApi::SendTo;
  int64_t tickUs = 500;
  std::optional<srtp::Suite> sdes;  // callers offer SDES with this suite
};

constexpr const char* kSynopsis =
    "rtp_load [--ng ADDR:PORT] [--sessions N] [--rate PPS] [--seconds S] [--payload BYTES]\n"
    "                [--direct] [--setup-only] [--ng-window W] [--send-api sendto|sendmmsg] [--tick-us US]\n"
    "                [--sdes cm80|cm32|gcm128|gcm256]";

Options parseOptions(int argc, char** argv) {
  Options o;
  std::string ng = "127.0.0.1:2223";
  ArgReader args(argc, argv, "rtp_load", kSynopsis);
  while (args.more()) {
    std::string a = args.next();
    if (a == "--ng") {
      ng = args.value();
    } else if (a == "--sessions") {
      o.sessions = static_cast<size_t>(args.number(1, 100000));
    } else if (a == "--rate") {
      o.rate = static_cast<int>(args.number(1, 1000));
    } else if (a == "--seconds") {
      o.seconds = args.number(0, 3600);
    } else if (a == "--payload") {
      o.payload = static_cast<size_t>(args.number(MediaLoad::kStampBytes, 1400));
    } else if (a == "--ng-window") {
      o.ngWindow = static_cast<size_t>(args.number(1, 4096));
    } else if (a == "--tick-us") {
      o.tickUs = static_cast<int64_t>(args.number(0, 20000));
    } else if (a == "--sdes") {
      const std::string suite = args.value();
      if (suite == "cm80") {
        o.sdes = srtp::Suite::AesCm128HmacSha1_80;
      } else if (suite == "cm32") {
        o.sdes = srtp::Suite::AesCm128HmacSha1_32;
      } else if (suite == "gcm128") {
        o.sdes = srtp::Suite::AeadAes128Gcm;
      } else if (suite == "gcm256") {
        o.sdes = srtp::Suite::AeadAes256Gcm;
      } else {
        args.usage("--sdes takes cm80, cm32, gcm128 or gcm256");
      }
    } else if (a == "--direct") {
      o.direct = true;
    } else if (a == "--setup-only") {
      o.setupOnly = true;
    } else if (a == "--send-api") {
      std::string api = args.value();
      if (api == "sendto") {
        o.sendApi = SendApi::SendTo;
      } else if (api == "sendmmsg") {
        o.sendApi = SendApi::SendMmsg;
      } else {
        args.usage("--send-api takes sendto or sendmmsg");
      }
    } else if (a == "-h" || a == "--help") {
      args.usage("", 0);
    } else {
      args.usage("unknown option " + a);
    }
  }
  auto server = parseLoopbackEndpoint(ng);
  if (!server) {
    args.usage("--ng: " + server.error());
  }
  o.ng = *server;
  return o;
}

// One generated call: a caller and a callee socket, and where each must send.
struct Session {
  CallIds ids;
  BoundSocket caller;
  BoundSocket callee;
  sockaddr_in callerSendsTo{};  // from the answer's reply
  sockaddr_in calleeSendsTo{};  // from the offer's reply
  bool offered = false;         // the relay accepted the offer: the call exists there
  bool ready = false;           // both directions known
  // --sdes: the caller's own key (offered) and its contexts; callerRx is keyed by the answer.
  std::optional<srtp::SdesCrypto> callerKey;
  std::optional<srtp::SrtpContext> callerTx;
  std::optional<srtp::SrtpContext> callerRx;
};

// An SRTP context of `direction` keyed with `crypto`'s keys.
Expected<srtp::SrtpContext, std::string> sdesContext(const srtp::SdesCrypto& crypto,
                                                     srtp::Direction direction) {
  const std::vector<srtp::MasterKey> keys = crypto.masterKeys();
  auto ctx = srtp::SrtpContext::create({crypto.suite, direction, keys});
  if (!ctx) {
    return Unexpected("SRTP context: " + std::string(srtp::toString(ctx.error())));
  }
  return std::move(*ctx);
}

// --sdes: the caller's contexts from its key and the a=crypto of the relay's answer; the reason
// when that fails.
std::optional<std::string> keyCaller(Session& s, std::string_view answerSdp) {
  const std::string_view line = audioCrypto(answerSdp);
  if (line.empty()) {
    return "answer has no a=crypto";
  }
  auto theirs = srtp::SdesCrypto::parse(line);
  if (!theirs) {
    return "answer a=crypto: " + std::string(srtp::toString(theirs.error()));
  }
  auto rx = sdesContext(*theirs, srtp::Direction::Inbound);
  auto tx = sdesContext(*s.callerKey, srtp::Direction::Outbound);
  if (!rx || !tx) {
    return !rx ? rx.error() : tx.error();
  }
  s.callerRx = std::move(*rx);
  s.callerTx = std::move(*tx);
  return std::nullopt;
}

// Counts NG failures and prints each distinct reason once, on stderr.
class FailureLog {
 public:
  void add(const std::string& what, const std::string& reason) {
    if (++counts_[what + ": " + reason] == 1) {
      std::fprintf(stderr, "rtp_load: %s failed: %s\n", what.c_str(), reason.c_str());
    }
  }

  // One stderr line per distinct failure with its count.
  void summarize() const {
    for (const auto& [key, count] : counts_) {
      std::fprintf(stderr, "rtp_load: %llu x %s\n", static_cast<unsigned long long>(count), key.c_str());
    }
  }

 private:
  std::map<std::string, uint64_t> counts_;
};

std::string describe(const NgClient::Outcome& out) {
  switch (out.status) {
    case NgClient::Status::Ok:
      return "ok";
    case NgClient::Status::Error:
      return "error-reason '" + out.reply.errorReason + "'";
    case NgClient::Status::Timeout:
      return "timeout (" + out.detail + ")";
    case NgClient::Status::BadReply:
      return "bad reply (" + out.detail + ")";
  }
  return "?";
}

// The relay's rewritten SDP must send us to loopback; anything else is refused.
Expected<sockaddr_in, std::string> relayDestination(const NgReply& reply) {
  auto dest = audioDestination(reply.sdp);
  if (!dest) {
    return dest;
  }
  if ((ntohl(dest->sin_addr.s_addr) >> 24) != 127) {
    return Unexpected(std::string("relay SDP points off loopback"));
  }
  return dest;
}

// Offers and answers every session through the relay, pipelined. Returns failed calls.
uint64_t setUpCalls(NgClient& ng, std::vector<Session>& sessions, FailureLog& failures) {
  constexpr uint64_t kAnswerBit = 1ULL << 63;
  uint64_t failed = 0;
  for (size_t s = 0; s < sessions.size(); ++s) {
    const std::string crypto = sessions[s].callerKey ? sessions[s].callerKey->format() : std::string();
    ng.enqueue(s, makeOffer(sessions[s].ids, sessions[s].caller.port, crypto));
  }
  ng.runUntilIdle([&](uint64_t tag, NgClient::Outcome&& out) {
    bool isAnswer = (tag & kAnswerBit) != 0;
    Session& s = sessions[tag & ~kAnswerBit];
    const char* what = isAnswer ? "answer" : "offer";
    if (out.status != NgClient::Status::Ok) {
      failures.add(what, describe(out));
      ++failed;
      return;
    }
    auto dest = relayDestination(out.reply);
    if (!dest) {
      failures.add(what, dest.error());
      ++failed;
      s.offered = true;  // the relay holds the call: delete it later
      return;
    }
    if (!isAnswer) {
      s.offered = true;
      s.calleeSendsTo = *dest;
      ng.enqueue(tag | kAnswerBit, makeAnswer(s.ids, s.callee.port), /*urgent=*/true);
    } else {
      if (s.callerKey) {
        if (auto error = keyCaller(s, out.reply.sdp)) {
          failures.add(what, *error);
          ++failed;
          return;
        }
      }
      s.callerSendsTo = *dest;
      s.ready = true;
    }
  });
  return failed;
}

uint64_t deleteCalls(NgClient& ng, const std::vector<Session>& sessions, FailureLog& failures) {
  uint64_t failed = 0;
  for (size_t s = 0; s < sessions.size(); ++s) {
    if (sessions[s].offered) {
      ng.enqueue(s, makeDelete(sessions[s].ids));
    }
  }
  ng.runUntilIdle([&](uint64_t, NgClient::Outcome&& out) {
    if (out.status != NgClient::Status::Ok) {
      failures.add("delete", describe(out));
      ++failed;
    }
  });
  return failed;
}

// Sends media on every ready session and prints the media figures. False on a setup error.
bool runMediaPhase(const Options& opt, std::vector<Session>& sessions) {
  std::vector<MediaStream> streams;
  std::vector<MediaReceiver> receivers;
  for (Session& s : sessions) {
    if (!s.ready) {
      continue;
    }
    srtp::SrtpContext* tx = s.callerTx ? &*s.callerTx : nullptr;
    srtp::SrtpContext* rx = s.callerRx ? &*s.callerRx : nullptr;
    streams.push_back(MediaStream{s.caller.fd.get(), s.callerSendsTo, tx});
    streams.push_back(MediaStream{s.callee.fd.get(), s.calleeSendsTo, nullptr});
    receivers.push_back(MediaReceiver{s.caller.fd.get(), rx});
    receivers.push_back(MediaReceiver{s.callee.fd.get(), nullptr});
  }
  const size_t streamCount = streams.size();
  MediaConfig cfg;
  cfg.rate = opt.rate;
  cfg.payload = opt.payload;
  cfg.seconds = opt.seconds;
  cfg.sendApi = opt.sendApi;
  cfg.tickNs = opt.tickUs * 1000;
  MediaLoad load(std::move(streams), std::move(receivers), cfg);
  double cpuBefore = cpuSeconds();
  emit("phase", "media_start");
  auto res = load.run();
  emit("phase", "media_end");
  double mediaCpu = cpuSeconds() - cpuBefore;
  if (!res) {
    std::fprintf(stderr, "rtp_load: media phase: %s\n", res.error().c_str());
    return false;
  }
  double loss = res->sent > 0
                    ? 100.0 * (static_cast<double>(res->sent) - static_cast<double>(res->received)) /
                          static_cast<double>(res->sent)
                    : 0;
  emit("streams", std::to_string(streamCount));
  emit("rate", std::to_string(opt.rate));
  emit("payload", std::to_string(opt.payload));
  emit("media_seconds", fixed(opt.seconds, 3));
  emit("tick_us", std::to_string(opt.tickUs));
  emit("sent", std::to_string(res->sent));
  emit("send_errors", std::to_string(res->sendErrors));
  emit("received", std::to_string(res->received));
  emit("foreign", std::to_string(res->foreign));
  emit("srtp_failures", std::to_string(res->srtpFailures));
  emit("loss_pct", fixed(loss, 4));
  emit("lat_p50_us", std::to_string(res->latency.quantileMicros(0.50)));
  emit("lat_p99_us", std::to_string(res->latency.quantileMicros(0.99)));
  emit("lat_max_us", std::to_string(res->latency.maxMicros()));
  emit("send_lag_max_us", std::to_string(res->maxSendLagNs / 1000));
  emit("gen_media_cpu_s", fixed(mediaCpu, 3));
  return true;
}

int run(const Options& opt) {
  raiseFileLimit();
  using Clock = std::chrono::steady_clock;

  std::vector<Session> sessions(opt.sessions);
  const std::string runId = std::to_string(::getpid());
  for (size_t s = 0; s < sessions.size(); ++s) {
    auto caller = openLoopbackUdp();
    auto callee = openLoopbackUdp();
    if (!caller || !callee) {
      std::fprintf(stderr, "rtp_load: cannot open sockets for session %zu: %s\n", s,
                   (!caller ? caller.error() : callee.error()).c_str());
      return 1;
    }
    sessions[s].caller = std::move(*caller);
    sessions[s].callee = std::move(*callee);
    sessions[s].ids = CallIds{"rtpload-" + runId + "-" + std::to_string(s), "caller-" + std::to_string(s),
                              "callee-" + std::to_string(s)};
  }

  if (opt.sdes) {
    if (opt.direct) {
      std::fprintf(stderr, "rtp_load: --sdes needs a relay (not --direct)\n");
      return 2;
    }
    for (Session& s : sessions) {
      s.callerKey = srtp::SdesCrypto::generate(1, *opt.sdes);
      if (!s.callerKey) {
        std::fprintf(stderr, "rtp_load: cannot generate an SDES key\n");
        return 1;
      }
    }
  }
  emit("mode", opt.direct ? "direct" : "relay");
  emit("sdes", opt.sdes ? std::string(srtp::suiteInfo(*opt.sdes).name) : std::string("off"));
  emit("sessions", std::to_string(opt.sessions));

  FailureLog failures;
  std::unique_ptr<NgClient> ng;
  uint64_t setupFailures = 0;
  double setupSeconds = 0;
  size_t readyCount = 0;
  if (opt.direct) {
    for (Session& s : sessions) {
      s.callerSendsTo = loopbackAddress(s.callee.port);
      s.calleeSendsTo = loopbackAddress(s.caller.port);
      s.ready = true;
    }
    readyCount = sessions.size();
  } else {
    auto client = NgClient::open(opt.ng, opt.ngWindow);
    if (!client) {
      std::fprintf(stderr, "rtp_load: %s\n", client.error().c_str());
      return 1;
    }
    ng = std::move(*client);
    auto t0 = Clock::now();
    setupFailures = setUpCalls(*ng, sessions, failures);
    setupSeconds = std::chrono::duration<double>(Clock::now() - t0).count();
    for (const Session& s : sessions) {
      readyCount += s.ready ? 1 : 0;
    }
  }
  emit("sessions_ok", std::to_string(readyCount));
  emit("setup_seconds", fixed(setupSeconds, 3));
  emit("setup_pairs_per_s", fixed(setupSeconds > 0 ? static_cast<double>(readyCount) / setupSeconds : 0, 0));
  emit("setup_failures", std::to_string(setupFailures));
  emit("ng_retransmits", std::to_string(ng ? ng->retransmits() : 0));

  if (!opt.setupOnly && !runMediaPhase(opt, sessions)) {
    return 1;
  }
  emit("gen_cpu_s", fixed(cpuSeconds(), 3));

  if (ng) {
    auto t0 = Clock::now();
    uint64_t deleteFailures = deleteCalls(*ng, sessions, failures);
    emit("delete_seconds", fixed(std::chrono::duration<double>(Clock::now() - t0).count(), 3));
    emit("delete_failures", std::to_string(deleteFailures));
  }
  failures.summarize();
  return 0;
}

}  // namespace
}  // namespace rdv::bench

int main(int argc, char** argv) {
  return rdv::bench::run(rdv::bench::parseOptions(argc, argv));
}
