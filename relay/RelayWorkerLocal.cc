// RelayWorker: legs that end inside the server (LegParams::localEndpoint, conference participants).
// RTP their peer leg receives goes, rate-limited, into the mixer's queue; what the mixer sends for
// them leaves from the peer leg's socket, SRTP-protected when that leg terminates SRTP.
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "media/RtpPacket.h"
#include "relay/RelayWorker.h"

namespace rdv::relay {

void RelayWorker::handle(AttachLocal& c) {
  toLocal_ = std::move(c.toLocal);
  fromLocal_ = std::move(c.fromLocal);
}

void RelayWorker::deliverLocal(Leg& from, std::span<const std::byte> rtp, uint64_t nowNs) {
  const uint64_t tat = std::max(from.localTatNs, nowNs);
  if (tat - nowNs > kLocalBurstNs) {
    counters_.drop(DropReason::RateLimited).add(1);
    return;
  }
  from.localTatNs = tat + kLocalPacketNs;
  const LegParams& local = from.peer->params;
  if (local.localSink >= toLocal_.size() || !toLocal_[local.localSink]->push(local.localEndpoint, rtp, nowNs)) {
    counters_.drop(DropReason::LocalQueueFull).add(1);
  }
}

// Without io_uring one sendto per packet: a mixer sends each participant one packet per tick, each
// from the participant's own socket, so there is nothing for sendmmsg (one socket per call) to
// batch. With io_uring every packet is queued and the round's submission sends them all.
void RelayWorker::drainLocal() {
  for (auto& q : fromLocal_) {
    while (const QueuedPacket* p = q->front()) {
      auto it = localLegs_.find(p->endpoint);
      if (it != localLegs_.end()) {
        sendLocal(*it->second, *p);
      } else {
        counters_.drop(DropReason::NoSession).add(1);  // the participant left meanwhile
      }
      q->pop();
    }
  }
}

void RelayWorker::sendLocal(Leg& socketLeg, const QueuedPacket& p) {
  Leg& leg = transportOf(socketLeg);
  if (awaitsDtlsKeys(leg)) {
    dropDtls(leg, DtlsDrop::NotKeyed);
    return;
  }
  std::span<const std::byte> out = p.data();
  // The queue slot goes back to the mixer on pop(): a queued send needs a copy of its own.
  const std::span<std::byte> buf = uring_ ? localSlot() : std::span<std::byte>(localBuffer_);
  if (leg.srtp) {  // the mixer sends plain RTP; a participant whose leg terminates SRTP gets it protected
    std::memcpy(buf.data(), out.data(), out.size());
    auto n = leg.srtp->protect(buf, out.size(), media::looksLikeRtcp(out));
    if (!n) {
      dropSrtp(leg, n.error(), out, media::looksLikeRtcp(out));
      return;
    }
    ++leg.counters.srtpProtected;
    counters_.srtpProtected.add(1);
    out = buf.first(*n);
  } else if (uring_) {
    std::memcpy(buf.data(), out.data(), out.size());
    out = buf.first(out.size());
  }
  const common::SockAddr& to = leg.rtp.latch.latched() ? leg.rtp.latch.address() : leg.rtp.advertised;
  if (uring_ && to.valid()) {  // counted when it completes (submitSends)
    queueSend(leg.rtp.fd.get(), to, out,
              SendMeta{.local = socketLeg.peer, .plainSize = static_cast<uint32_t>(p.size)});
    return;
  }
  if (to.valid()) counters_.sendSyscalls.add(1);
  if (to.valid() && ::sendto(leg.rtp.fd.get(), out.data(), out.size(), MSG_DONTWAIT, to.sa(), to.len()) >= 0) {
    ++socketLeg.peer->counters.rtpPackets;  // what the local endpoint sent (before protection)
    socketLeg.peer->counters.rtpBytes += p.size;
    counters_.packetsRelayed.add(1);
    counters_.bytesRelayed.add(out.size());
  } else {
    counters_.drop(to.valid() ? DropReason::SendFailed : DropReason::NoSession).add(1);
  }
}

}  // namespace rdv::relay
