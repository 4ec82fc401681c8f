#pragma once
// The Prometheus endpoint. Counters are not pushed anywhere: on each scrape the collector reads
// the relay workers' and the control plane's counters and sums them, so the packet path never
// touches shared state. Per-leg quality goes into histograms when a session ends.

#include <array>
#include <memory>
#include <string>

#include "common/Expected.h"
#include "relay/MediaSession.h"
#include "relay/WorkerCounters.h"

namespace prometheus {
class Exposer;
class Registry;
template <typename T> class Family;
class Histogram;
}  // namespace prometheus

namespace rdv::relay {
class RelayControl;
class TcpRelay;
}
namespace rdv::ng {
class NgServer;
}  // namespace rdv::ng
namespace rdv::b2bua {
class B2bua;
}  // namespace rdv::b2bua
namespace rdv::cdr {
class CdrWriter;
}  // namespace rdv::cdr
namespace rdv::sip {
class SipTransport;
}
namespace rdv::mixer {
class ConferenceControl;
}
namespace rdv::turn {
class TurnServer;
}

namespace rdv::app {

// What the relay workers and the kernel fast path forwarded and dropped, summed: /metrics and the
// operator API's /api/v1/stats read the same numbers.
struct RelayTotals {
  double packets = 0;  // RTP and RTCP, kernel included
  double bytes = 0;
  double rtcp = 0;
  double other = 0;
  double xrReports = 0;    // RTCP XR packets received that parsed
  double xrMalformed = 0;  // and that did not
  double kernelPackets = 0;
  double busySeconds = 0;  // workers' time handling events
  std::array<double, static_cast<size_t>(relay::DropReason::kCount)> drops{};
  double srtpUnprotected = 0;  // SRTP terminated on relay legs (issue 12)
  double srtpProtected = 0;
  std::array<double, srtp::kSrtpErrorCount> srtpDrops{};
  std::array<double, relay::kIceCheckResultCount> iceChecks{};  // STUN on ICE-lite legs, by result
  double dtlsHandshakesOk = 0;  // DTLS-SRTP on relay legs (issue 12)
  double dtlsHandshakesFailed = 0;
  std::array<double, relay::kDtlsDropCount> dtlsDrops{};
};
RelayTotals relayTotals(const relay::RelayControl& relay);

class Metrics {
 public:
  // `b2bua` and `sip` are null when SIP is disabled.
  Metrics(const relay::RelayControl& relay, const ng::NgServer& ng, const b2bua::B2bua* b2bua,
          const sip::SipTransport* sip);
  ~Metrics();

  // Starts the HTTP endpoint on "host:port".
  Expected<bool, std::string> listen(const std::string& address);
  // The exposition text a scrape would get now (Prometheus text format 0.0.4).
  std::string render() const;
  // Exports the call record writer's counters; call before listen().
  void setCdr(const cdr::CdrWriter* writer);
  // Exports the conference mixers' counters; call before listen().
  void setConferences(const mixer::ConferenceControl* conferences);
  // Exports the TCP relay's counters (rdv_tcp_relay_*); call before listen().
  void setTcpRelay(const relay::TcpRelay* tcp);
  // Exports the TURN server's counters (null: TURN is off); call before listen().
  void setTurn(const turn::TurnServer* turn);
  // Records the quality of every leg of an ended session that carried RTP.
  void observeEnded(const relay::SessionReport& report);

 private:
  class Collector;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Histogram* lossPercent_ = nullptr;
  prometheus::Histogram* jitterMs_ = nullptr;
  prometheus::Histogram* rttMs_ = nullptr;
  prometheus::Histogram* mos_ = nullptr;
};

}  // namespace rdv::app
