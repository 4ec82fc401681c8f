#include "relay/RelayWorker.h"

#include <algorithm>

#include <spdlog/spdlog.h>

// The kernel fast path side of RelayWorker (the rule is in KernelForwarder.h), apart from the
// packet loop in RelayWorker.cc.

namespace rdv::relay {
namespace {

constexpr uint64_t kKernelRetryNs = 1'000'000'000ULL;

}  // namespace

bool kernelEligible(const Leg& leg) {
  const Leg& peer = *leg.peer;
  // SRTP terminated on either leg (issue 12): every packet is unprotected or protected in
  // userspace, so the kernel may not carry it (DTLS-SRTP legs neither: their keys come later);
  // SRTP passed through is opaque bytes and may go.
  // A BUNDLE transport demultiplexes its packets to several streams: userspace only.
  if (leg.bundle || peer.bundle || leg.bundledOn != nullptr || peer.bundledOn != nullptr) return false;
  return leg.rtp.fd.valid() && peer.rtp.fd.valid() && !leg.params.asymmetric && !peer.params.asymmetric &&
         !leg.params.opaque && !peer.params.opaque && !leg.params.crypto.terminates() &&
         !peer.params.crypto.terminates() && leg.params.dtls.role == DtlsRole::Off &&
         peer.params.dtls.role == DtlsRole::Off && leg.rtp.latch.latched() && peer.rtp.latch.latched();
}

// A packet from the latched source (or one that latched) reached userspace: the first packet, a
// re-latch, RTCP, or the first one after the kernel entry expired.
void RelayWorker::kernelOnLatch(Component& c, LatchVerdict v, uint64_t nowNs) {
  if (&c != &c.leg->rtp) return;  // the RTCP port of a leg without rtcp-mux: never in the kernel
  Leg& leg = *c.leg;
  Leg& peer = *leg.peer;
  if (v == LatchVerdict::Relatched && peer.rtp.kernel.installed) {
    kernelRemove(peer.rtp);  // it sends to this leg's old address
  }
  kernelTryInstall(leg, nowNs);
  kernelTryInstall(peer, nowNs);
}

void RelayWorker::kernelTryInstall(Leg& leg, uint64_t nowNs) {
  Component& c = leg.rtp;
  if (c.kernel.installed || nowNs < c.kernel.retryNs || !kernelEligible(leg)) return;
  const Leg& peer = *leg.peer;
  auto r = kernel_->install(kernel_->localAddress(c.localPort), c.latch.address(),
                            kernel_->localAddress(peer.rtp.localPort), peer.rtp.latch.address());
  if (!r) {
    c.kernel.retryNs = nowNs + kKernelRetryNs;
    counters_.kernelInstallFailures.add(1);
    SPDLOG_DEBUG("call={} port={}: kernel entry not installed: {}", leg.session->callId, c.localPort,
                 r.error());
    return;
  }
  c.kernel.installed = true;
  c.kernel.sinceNs = nowNs;
  counters_.kernelEntries.set(++kernelEntries_);
  SPDLOG_DEBUG("call={} port={}: kernel forwards {} -> {}", leg.session->callId, c.localPort,
               c.latch.address().str(), peer.rtp.latch.address().str());
}

void RelayWorker::kernelRemove(Component& c) {
  if (!c.kernel.installed) return;
  if (auto k = kernel_->remove(kernel_->localAddress(c.localPort))) {
    kernelTaken(c, *k);
  } else {
    c.kernel.installed = false;
    counters_.kernelEntries.set(--kernelEntries_);
  }
}

void RelayWorker::kernelTaken(Component& c, const KernelEntryCounters& k) {
  // The timer may have noticed the entry gone already (kernelCheck); its counts still belong here.
  if (c.kernel.installed) {
    c.kernel.installed = false;
    counters_.kernelEntries.set(--kernelEntries_);
  }
  Leg& leg = *c.leg;
  leg.counters.rtpPackets += k.packets;
  leg.counters.kernelPackets += k.packets;
  leg.counters.rtpBytes += k.bytes;
  leg.counters.spoofed += k.spoofed;
  if (k.packets > 0) {
    leg.stats.addExternal(k.expected, k.packets);
    c.latch.observe(k.ssrc, k.lastNs);
  }
}

void RelayWorker::kernelRemoveStream(MediaStream& st) {
  if (kernel_ == nullptr) return;
  kernelRemove(st.legs[0].rtp);
  kernelRemove(st.legs[1].rtp);
}

void RelayWorker::kernelCheck(MediaSession& s, uint64_t nowNs) {
  if (kernel_ == nullptr) return;
  for (auto& st : s.streams) {
    for (Leg& leg : st->legs) {
      Component& c = leg.rtp;
      if (!c.kernel.installed) continue;
      auto k = kernel_->readCounters(kernel_->localAddress(c.localPort));
      if (!k) {  // gone from the map (not by us): userspace has the stream again
        c.kernel.installed = false;
        counters_.kernelEntries.set(--kernelEntries_);
        continue;
      }
      // A packet forwarded after `nowNs` was sampled counts as now.
      const uint64_t kernelLast = std::min(k->lastNs, nowNs);
      if (k->packets > 0) {
        s.lastMediaNs = std::max(s.lastMediaNs, kernelLast);
        s.mediaSeen = true;
      }
      const uint64_t active = std::max({c.kernel.sinceNs, k->packets > 0 ? kernelLast : 0, c.latch.lastNs()});
      if (nowNs >= active && nowNs - active >= opts_.relatchSilenceNs) {
        // Silent latched source: let userspace see the next packet, which may be a re-latch.
        kernelRemove(c);
      }
    }
  }
}

}  // namespace rdv::relay
