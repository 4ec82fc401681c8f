#pragma once
// Per-worker counters: written only by their worker thread, read by the metrics collector. One
// cache line per worker, so no line is written by two threads.

#include <cstddef>
#include <cstdint>

#include "common/Counter.h"
#include "media/srtp/SrtpContext.h"
#include "relay/IceResponder.h"

namespace rdv::relay {

using common::Counter;

enum class DropReason : uint8_t { Spoofed, NoSession, Malformed, SendFailed, LocalQueueFull, RateLimited, BundleUnknown, kCount };
const char* toString(DropReason r);
// The metric label of an SRTP drop reason: "auth_fail", "replay_fail", "bad_packet", ...
const char* srtpDropLabel(srtp::SrtpError e);

// Datagrams dropped on legs with a DTLS role (relay/RelayWorkerDtls.cc): RTP/RTCP from or toward
// a leg whose handshake has not keyed it yet (never forwarded in clear), DTLS datagrams that do not
// frame as records, that come from another source than the handshake's, or that arrive when no
// handshake can run (RTCP component, no identity, attempts used up).
enum class DtlsDrop : uint8_t { NotKeyed, Malformed, WrongSource, NoHandshake, PeerClosed, kCount };
inline constexpr size_t kDtlsDropCount = static_cast<size_t>(DtlsDrop::kCount);
const char* dtlsDropLabel(DtlsDrop d);  // "not_keyed", "malformed", "wrong_source", "no_handshake",
                                           // "peer_closed"

struct alignas(64) WorkerCounters {
  Counter packetsRelayed;
  Counter bytesRelayed;
  Counter rtcpRelayed;
  Counter otherRelayed;
  Counter xrReports;     // RTCP XR packets that parsed (RFC 3611), all legs
  Counter xrMalformed;   // RTCP XR packets that did not  // neither RTP nor RTCP (UDPTL, STUN, DTLS) from a latched peer; in packetsRelayed too
  Counter drops[static_cast<size_t>(DropReason::kCount)];
  // Send syscalls of forwarded and mixer packets: sendmmsg and sendto calls, or io_uring_enter
  // calls with relay.io_uring (one per round when all is well). ICE/DTLS answers are not counted.
  Counter sendSyscalls;
  Counter busyNs;      // time spent handling events (load = busyNs / wall time)
  Counter sessions;    // sessions owned now
  Counter legsRelatched;  // NAT rebindings and re-latches after a re-offer moved the peer
  Counter kernelEntries;         // kernel fast-path entries installed now (one per direction)
  Counter kernelInstallFailures;
  // SRTP terminated on legs (LegParams::crypto): packets unprotected / protected, and packets
  // dropped by srtp::SrtpError (index; labels from srtpDropLabel).
  Counter srtpUnprotected;
  Counter srtpProtected;
  Counter srtpDrops[srtp::kSrtpErrorCount];
  // STUN on legs with ICE-lite (LegParams::ice), by IceCheckResult (index; labels from toString).
  Counter iceChecks[kIceCheckResultCount];
  // DTLS-SRTP handshakes that keyed a leg / that failed, and drops by DtlsDrop (index).
  Counter dtlsHandshakesOk;
  Counter dtlsHandshakesFailed;
  Counter dtlsDrops[kDtlsDropCount];

  Counter& drop(DropReason r) { return drops[static_cast<size_t>(r)]; }
  const Counter& drop(DropReason r) const { return drops[static_cast<size_t>(r)]; }
  Counter& srtpDrop(srtp::SrtpError e) { return srtpDrops[static_cast<size_t>(e)]; }
  const Counter& srtpDrop(srtp::SrtpError e) const { return srtpDrops[static_cast<size_t>(e)]; }
  Counter& iceCheck(IceCheckResult r) { return iceChecks[static_cast<size_t>(r)]; }
  const Counter& iceCheck(IceCheckResult r) const { return iceChecks[static_cast<size_t>(r)]; }
  Counter& dtlsDrop(DtlsDrop d) { return dtlsDrops[static_cast<size_t>(d)]; }
  const Counter& dtlsDrop(DtlsDrop d) const { return dtlsDrops[static_cast<size_t>(d)]; }
};

}  // namespace rdv::relay
