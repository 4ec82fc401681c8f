// RelayWorker: ICE-lite connectivity checks (RFC 8445 §2.5) on WebRTC legs (relay/LegWebrtc.h).
// IceResponder decides; this side sends the answer from the component's own socket, counts, and
// latches: an authenticated check is the evidence RFC 8445 gives that the peer is at its source.
#include <sys/socket.h>

#include <algorithm>
#include <array>

#include <spdlog/spdlog.h>

#include "relay/IceResponder.h"
#include "relay/RelayWorker.h"

namespace rdv::relay {
namespace {

// STUN error answers (400, 401, 420, 487) from one socket: at most one per 100 ms on average, in
// bursts of 5. A browser that got its credentials wrong needs one to notice; a flood of forged
// checks (a 20-byte request gets a 48-byte 400) must not turn the port into an amplifier.
constexpr uint64_t kStunErrorIntervalNs = 100'000'000;
constexpr uint64_t kStunErrorBurst = 5;

bool admitStunError(Component& c, uint64_t nowNs) {
  const uint64_t tat = std::max(c.stunErrorTatNs, nowNs);
  if (tat - nowNs >= kStunErrorBurst * kStunErrorIntervalNs) return false;
  c.stunErrorTatNs = tat + kStunErrorIntervalNs;
  return true;
}

// Whether an authenticated nominating check from `src` with `priority` moves the latch. A pair
// nominated at a priority at least that of the latched one's does (regular nomination, a
// re-nomination after a network change). A lower one does only once the latched address has been
// silent — no media, no check — for the re-latch silence: with aggressive nomination every check
// nominates, and the highest-priority pair must win (RFC 5245 §8.2.2), not the last one checked.
bool nominationMoves(const Component& c, const common::SockAddr& src, uint32_t priority, uint64_t nowNs,
                     uint64_t silenceNs) {
  if (!c.latch.latched() || src == c.latch.address() || priority >= c.nominatedPriority) return true;
  return nowNs > c.latch.lastNs() && nowNs - c.latch.lastNs() >= silenceNs;
}

}  // namespace

bool RelayWorker::onIceCheck(Component& c, uint32_t i, uint64_t nowNs) {
  Leg& leg = *c.leg;
  const common::SockAddr& src = recvFrom_[i];
  const std::span<const std::byte> pkt(buffers_[i].data() + kHeadroom, recvMsgs_[i].msg_len);
  // Checks arrive at control rate (a few per second per pair): a stack buffer and one sendto.
  std::array<std::byte, IceResponder::kMaxResponse> out;
  const IceAnswer a = IceResponder::answer(pkt, leg.params.ice, src, out);
  ++leg.counters.iceCheck(a.result);
  counters_.iceCheck(a.result).add(1);
  if (a.result != IceCheckResult::Ok) {
    SPDLOG_DEBUG("call={} port={}: STUN from {} not accepted: {}", leg.session->callId, c.localPort, src.str(),
                 toString(a.reason));
  }
  if (a.isError() && !admitStunError(c, nowNs)) {
    counters_.drop(DropReason::RateLimited).add(1);
  } else if (a.responseSize > 0 && ::sendto(c.fd.get(), out.data(), a.responseSize, MSG_DONTWAIT, src.sa(), src.len()) < 0) {
    counters_.drop(DropReason::SendFailed).add(1);
  }
  if (a.result != IceCheckResult::Ok) return false;  // unauthenticated checks never move the latch

  // Authenticated: the first one latches; one that nominates its pair (USE-CANDIDATE) moves the
  // latch there (nominationMoves), so a browser that changed network and re-nominated is followed.
  // Others from a different address are checks of candidate pairs that were not chosen: answered,
  // no move.
  if (leg.params.asymmetric) return true;
  LatchVerdict v = LatchVerdict::Accepted;
  const bool nominates = a.useCandidate && nominationMoves(c, src, a.priority, nowNs, opts_.relatchSilenceNs);
  if (!c.latch.latched() || nominates) {
    v = c.latch.moveTo(src, nowNs);
    if (a.useCandidate) c.nominatedPriority = a.priority;
  } else if (src == c.latch.address()) {
    c.latch.onPacket(src, c.latch.ssrc(), nowNs, 0);  // keeps the latched source fresh
  }
  if (kernel_ != nullptr && v != LatchVerdict::Accepted) kernelOnLatch(c, v, nowNs);
  if (v == LatchVerdict::Relatched) {
    ++leg.counters.relatched;
    counters_.legsRelatched.add(1);
    spdlog::info("call={} port={} re-latched to {} (ICE nomination)", leg.session->callId, c.localPort, src.str());
  }
  return true;
}

}  // namespace rdv::relay
