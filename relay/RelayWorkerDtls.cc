// RelayWorker: DTLS-SRTP handshakes (RFC 5764) on WebRTC legs (relay/LegWebrtc.h). The worker that
// owns the leg runs its handshake (relay/LegDtlsSession.h over media/dtls/DtlsEndpoint.h) on the
// leg's RTP socket: records from the peer are fed in as they arrive, answers and retransmissions
// leave from the same socket, and the exported keys become the leg's LegSrtp, after which the
// ordinary SRTP path does everything. A handshake costs one SSL object and a few milliseconds of
// CPU on this thread; RTP of other legs waits at most that long (benchmarks/README.md).
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include "media/dtls/DtlsEndpoint.h"
#include "media/dtls/DtlsRecord.h"
#include "relay/RelayWorker.h"

namespace rdv::relay {

bool RelayWorker::dropDtls(Leg& leg, DtlsDrop d) {
  ++leg.counters.dtlsDropped;
  counters_.dtlsDrop(d).add(1);
  return false;
}

bool RelayWorker::updateDtls(Leg& leg, const LegDtls& old, uint64_t nowNs) {
  const LegDtls& now = leg.params.dtls;
  if (now.role == DtlsRole::Off) {
    if (old.role != DtlsRole::Off) {  // DTLS dropped by a re-offer: its keys go with it
      leg.dtls.reset();
      leg.srtp.reset();
    }
    leg.dtlsPeerClosed = false;
    return false;
  }
  // An unchanged re-offer keeps the handshake and its keys, unless the peer closed it: then the
  // re-offer starts over (an active leg could not otherwise begin again).
  if (leg.dtls && now == old && !leg.dtlsPeerClosed) return true;
  leg.dtls = std::make_unique<LegDtlsSession>(now);
  leg.srtp.reset();  // media waits for the new handshake's keys
  leg.dtlsPeerClosed = false;
  if (!opts_.dtlsIdentity) {
    spdlog::warn("call={} port={}: DTLS role but no DTLS identity: the leg drops its media", leg.session->callId,
                 leg.rtp.localPort);
    return true;
  }
  if (!leg.dtls->begin(*opts_.dtlsIdentity)) return true;
  startDtls(leg, nowNs);
  return true;
}

void RelayWorker::startDtls(Leg& leg, uint64_t nowNs) {
  LegDtlsSession* d = leg.dtls.get();
  dtls::DtlsEndpoint* ep = d != nullptr ? d->endpoint() : nullptr;
  if (ep == nullptr || d->params().role != DtlsRole::Active || ep->state() != dtls::State::New) return;
  // params, not rtp.advertised: an update calls this before it copies the address there.
  const common::SockAddr& to = leg.rtp.latch.latched() ? leg.rtp.latch.address() : leg.params.rtpRemote;
  if (!to.valid() || !leg.rtp.fd.valid()) return;  // the ClientHello waits for an address (timer tick)
  d->bind(to);
  ep->start(nowNs);
  flushDtls(leg, nowNs);
}

bool RelayWorker::onDtlsRecord(Component& c, uint32_t i, uint64_t nowNs) {
  Leg& leg = *c.leg;
  const std::span<const std::byte> pkt(buffers_[i].data() + kHeadroom, recvMsgs_[i].msg_len);
  const auto info = dtls::parseDatagram(pkt);
  if (!info) return dropDtls(leg, DtlsDrop::Malformed);
  LegDtlsSession* d = leg.dtls.get();
  // DTLS runs on the RTP component (rtcp-mux, as WebRTC does; RFC 5764 §4.1.2 without it is not
  // supported: SRTCP takes the RTP handshake's keys).
  if (d == nullptr || &c != &leg.rtp || !opts_.dtlsIdentity) return dropDtls(leg, DtlsDrop::NoHandshake);
  const common::SockAddr& src = recvFrom_[i];
  dtls::DtlsEndpoint* ep = d->endpoint();
  const bool failed = ep == nullptr || ep->state() == dtls::State::Failed || ep->peerClosed();
  if (failed) {
    // A failed (or closed) handshake gives way to the next ClientHello (passive role), a few times
    // per leg, so a stranger's attempt cannot block the real peer's.
    if (!info->clientHello || d->params().role != DtlsRole::Passive || !d->begin(*opts_.dtlsIdentity)) {
      return dropDtls(leg, DtlsDrop::NoHandshake);
    }
    ep = d->endpoint();
  }
  // The handshake talks to one source: the latched one, else the first that sent DTLS (passive) or
  // the one the ClientHello went to (active).
  const bool fromLatched = leg.rtp.latch.latched() && src == leg.rtp.latch.address();
  if (d->peer().valid() && !(src == d->peer())) {
    if (!fromLatched) return dropDtls(leg, DtlsDrop::WrongSource);
    // The latched peer (with ICE: the one whose checks authenticated) outranks whoever reached the
    // port first: its ClientHello starts the handshake over.
    if (info->clientHello && d->params().role == DtlsRole::Passive && ep->state() != dtls::State::Connected) {
      if (!d->begin(*opts_.dtlsIdentity)) return dropDtls(leg, DtlsDrop::NoHandshake);
      ep = d->endpoint();
    }
  }
  if (!d->peer().valid() || fromLatched) d->bind(src);
  ep->feed(pkt, nowNs);
  flushDtls(leg, nowNs);
  if (ep->peerClosed() && !leg.dtlsPeerClosed) {
    leg.dtlsPeerClosed = true;
    spdlog::info("call={} port={}: DTLS closed by {} (close_notify): its media is dropped from now on",
                 leg.session->callId, leg.rtp.localPort, src.str());
  }
  return true;
}

void RelayWorker::flushDtls(Leg& leg, uint64_t nowNs) {
  LegDtlsSession& d = *leg.dtls;
  dtls::DtlsEndpoint& ep = *d.endpoint();
  const common::SockAddr& to = d.peer();
  for (size_t k = 0; k < ep.outgoingCount(); ++k) {
    const auto out = ep.outgoing(k);
    if (!to.valid() || ::sendto(leg.rtp.fd.get(), out.data(), out.size(), MSG_DONTWAIT, to.sa(), to.len()) < 0) {
      counters_.drop(DropReason::SendFailed).add(1);
    }
  }
  ep.clearOutgoing();
  if (d.counted) return;
  if (ep.state() == dtls::State::Connected) {
    d.counted = true;
    counters_.dtlsHandshakesOk.add(1);
    leg.srtp = std::make_unique<LegSrtp>(d.crypto());
    leg.dtlsPeerClosed = false;
    d.resetAttempts();  // the bound peer's restarts after a close are not a stranger's attempts
    leg.session->lastMediaNs = nowNs;
    spdlog::info("call={} port={}: DTLS-SRTP keyed with {} ({})", leg.session->callId, leg.rtp.localPort, to.str(),
                 srtp::suiteInfo(ep.keying()->suite).name);
  } else if (ep.state() == dtls::State::Failed) {
    d.counted = true;
    counters_.dtlsHandshakesFailed.add(1);
    spdlog::info("call={} port={}: DTLS handshake with {} failed ({}): {}", leg.session->callId, leg.rtp.localPort,
                 to.str(), dtls::toString(ep.failure()), ep.failureText());
  }
}

void RelayWorker::dtlsTimers(MediaSession& s, uint64_t nowNs) {
  for (auto& st : s.streams) {
    for (Leg& leg : st->legs) {
      LegDtlsSession* d = leg.dtls.get();
      dtls::DtlsEndpoint* ep = d != nullptr ? d->endpoint() : nullptr;
      if (ep == nullptr) continue;
      if (ep->state() == dtls::State::New) {
        startDtls(leg, nowNs);
      } else if (ep->state() == dtls::State::Handshaking) {
        ep->onTimer(nowNs);
        flushDtls(leg, nowNs);
      }
    }
  }
}

}  // namespace rdv::relay
