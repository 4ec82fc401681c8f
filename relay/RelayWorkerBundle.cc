// RelayWorker: BUNDLE (RFC 9143) on WebRTC legs (relay/LegBundle.h). The legs of a group on one
// side share the transport leg's socket, latch, ICE, DTLS and SRTP; this file links them when
// signalling updates a leg, and tells which stream a packet from the shared transport belongs to
// (relay/BundleDemux.h). Per packet: a scan of a few fixed array entries, nothing allocated,
// locked or logged.
#include <spdlog/spdlog.h>

#include "relay/RelayWorker.h"

namespace rdv::relay {
namespace {

// Where `leg` sits in its session: stream index and side; nullopt if it is in no stream (never).
std::optional<std::pair<size_t, int>> position(const MediaSession& s, const Leg& leg) {
  for (size_t k = 0; k < s.streams.size(); ++k) {
    for (int l = 0; l < 2; ++l) {
      if (&s.streams[k]->legs[l] == &leg) return std::pair{k, l};
    }
  }
  return std::nullopt;
}

void unlink(Leg& leg) {
  Leg* t = leg.bundledOn;
  leg.bundledOn = nullptr;
  if (t == nullptr || !t->bundle) return;
  for (size_t k = 1; k < t->bundle->legs.size(); ++k) {
    if (t->bundle->legs[k] != &leg) continue;
    t->bundle->legs[k] = nullptr;
    t->bundle->demux.clear(k);
  }
}

// The slot of `leg` on transport `t` (created as needed); 0 when the group is full.
size_t link(Leg& t, Leg& leg) {
  if (!t.bundle) {
    t.bundle = std::make_unique<BundleTransport>();
    t.bundle->legs[0] = &t;
    t.bundle->demux.setPayloadTypes(0, t.params.bundle.payloadTypes);
    t.bundle->demux.setMid(0, t.params.bundle.midView(), t.params.bundle.midExtensionId);
  }
  auto& legs = t.bundle->legs;
  for (size_t k = 1; k < legs.size(); ++k) {
    if (legs[k] == &leg) return k;
  }
  for (size_t k = 1; k < legs.size(); ++k) {
    if (legs[k] == nullptr) {
      legs[k] = &leg;
      return k;
    }
  }
  return 0;
}

}  // namespace

bool RelayWorker::updateBundle(Leg& leg) {
  MediaSession& s = *leg.session;
  const auto pos = position(s, leg);
  const uint32_t t = leg.params.bundle.transport;
  Leg* want = nullptr;
  // A transport is never bundled itself, and a leg only bundles onto its own side of another stream.
  if (pos && t != LegBundle::kNone && t < s.streams.size() && t != pos->first && !leg.bundle) {
    Leg& cand = s.streams[t]->legs[pos->second];
    if (cand.bundledOn == nullptr) want = &cand;
  }
  if (leg.bundledOn != want) unlink(leg);
  if (want == nullptr) {
    if (leg.bundle) {
      leg.bundle->demux.setPayloadTypes(0, leg.params.bundle.payloadTypes);
      leg.bundle->demux.setMid(0, leg.params.bundle.midView(), leg.params.bundle.midExtensionId);
    }
    return false;
  }
  const size_t slot = link(*want, leg);
  if (slot == 0) {
    spdlog::warn("call={}: BUNDLE group on port {} is full ({} m-lines): a stream is left out", s.callId,
                 want->rtp.localPort, BundleDemux::kMaxSlots);
    return false;
  }
  leg.bundledOn = want;
  want->bundle->demux.setPayloadTypes(slot, leg.params.bundle.payloadTypes);
  want->bundle->demux.setMid(slot, leg.params.bundle.midView(), leg.params.bundle.midExtensionId);
  leg.srtp.reset();  // the transport's SRTP session and handshake serve the whole group
  leg.dtls.reset();
  return true;
}

Leg* RelayWorker::bundleSource(Leg& t, std::span<const std::byte> pkt, bool isRtcp, uint32_t ssrc,
                               const media::RtcpSummary* rtcp) {
  BundleTransport& b = *t.bundle;
  std::optional<uint8_t> slot;
  if (!isRtcp) {
    slot = b.demux.rtp(ssrc, std::to_integer<uint8_t>(pkt[1]) & 0x7fU, pkt);  // RtpView parsed: >= 12 bytes
  } else {
    // A receiver's report or feedback names the SSRC it is about: one the relay sends it, i.e.
    // what a member's other side receives from its own peer.
    auto about = [&](uint32_t reported) -> std::optional<uint8_t> {
      for (size_t k = 0; k < b.legs.size(); ++k) {
        const Leg* m = b.legs[k];
        if (m != nullptr && m->peer->stats.hasSsrc() && m->peer->stats.ssrc() == reported) return static_cast<uint8_t>(k);
      }
      return std::nullopt;
    };
    // An SR is about the stream its sender sends (SSRC learned from its RTP); a receiver report
    // or feedback about the stream it receives.
    if (rtcp != nullptr && rtcp->senderInfo) slot = b.demux.lookup(ssrc);
    if (!slot && rtcp != nullptr && rtcp->blockCount > 0) slot = about(rtcp->blocks[0].ssrc);
    if (!slot) {
      if (auto fb = BundleDemux::feedbackMediaSsrc(pkt)) slot = about(*fb);
    }
    if (!slot) slot = b.demux.lookup(ssrc);
    if (!slot) slot = 0;  // RFC 8843 practice: what names no stream goes with the transport's own
  }
  if (slot && *slot < b.legs.size() && b.legs[*slot] != nullptr) return b.legs[*slot];
  ++t.counters.bundleUnknown;
  counters_.drop(DropReason::BundleUnknown).add(1);
  return nullptr;
}

}  // namespace rdv::relay
