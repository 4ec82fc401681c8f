// RelayWorker: ICE-lite connectivity checks (RFC 8445 §2.5) on WebRTC legs (relay/LegWebrtc.h).
// IceResponder decides; this side sends the answer from the component's own socket, counts, and
// latches: an authenticated check is the evidence RFC 8445 gives that the peer is at its source.
#include <sys/socket.h>

#include <array>

#include <spdlog/spdlog.h>

#include "relay/IceResponder.h"
#include "relay/RelayWorker.h"

namespace rdv::relay {

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
  if (a.responseSize > 0 && ::sendto(c.fd.get(), out.data(), a.responseSize, MSG_DONTWAIT, src.sa(), src.len()) < 0) {
    counters_.drop(DropReason::SendFailed).add(1);
  }
  if (a.result != IceCheckResult::Ok) return false;  // unauthenticated checks never move the latch

  // Authenticated: the first one latches; one that nominates its pair (USE-CANDIDATE) moves the
  // latch there, so a browser that changed network and re-nominated is followed. Others from a
  // different address are checks of candidate pairs that were not chosen: answered, no move.
  if (leg.params.asymmetric) return true;
  LatchVerdict v = LatchVerdict::Accepted;
  if (!c.latch.latched() || a.useCandidate) {
    v = c.latch.moveTo(src, nowNs);
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
