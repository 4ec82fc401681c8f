#pragma once
// The relay's optional in-kernel fast path: a TC (clsact ingress) eBPF program, relay/bpf/
// relay_tc.bpf.c, that forwards RTP of streams whose both directions are latched. Userspace stays
// the slow path and the authority: it decides what is installed, and everything the program does
// not handle (first packets, RTCP, anything odd) reaches the relay's sockets as before.
//
// Lifecycle. create() loads the program (a bpftool skeleton compiled into the binary), finds the
// interface that owns the relay address ("lo" for 127.0.0.1), removes filters left on it by
// relays that died without detaching, and attaches its own filter on clsact ingress: priority
// kTcPriority, handle = this process's pid, so several relays (and test runs) can share an
// interface. The destructor detaches the filter and deletes the clsact qdisc once no filter is
// left on it. Needs CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_ADMIN.
//
// Entries. install() maps one relay socket to {latched source, egress socket, destination}: one
// direction of one stream. The program then drops RTP from any other source (counted as
// spoofed). The owner (RelayWorker) keeps the latching rule of relay/Latch.h with the kernel:
//  - An entry is installed when a component's peer is latched and the other leg's peer is
//    latched too; removed when the session ends, when a leg's parameters change, and before the
//    other direction is re-pointed.
//  - While an entry exists, its component cannot re-latch: foreign sources are the kernel's to
//    drop, and userspace (which then only sees RTCP and non-RTP on that port) treats them as
//    spoofed too, since its own view of the latched source's activity is stale.
//  - Signalling is asynchronous (relay/RelayControl.h never waits for a worker), so the control
//    thread removes a stream's entries itself when it posts new parameters for it, before the
//    NG reply goes out, and hands their counters to the worker in the command
//    (UpdateLeg::kernelTaken). Otherwise, until the worker ran the command, the old entry would
//    drop a moved peer's first packets in the kernel, out of reach of the worker's
//    commands-before-packets order.
//  - Re-latching after a NAT rebinding needs userspace to see the new source, so an entry
//    expires: when its latched source has forwarded nothing for relay.relatch_silence_ms (the
//    kernel's last-packet time, checked on the worker's 1 s timer), the entry is removed, the
//    latch learns the kernel's last SSRC and activity time, and the next packet goes to the
//    socket, where the rule of Latch.h applies unchanged. A silent talk spurt costs one packet
//    through userspace and a re-install.
//
// Thread-safety: install/remove/readCounters/totals are single bpf(2) calls on shared maps and
// may be called from any thread. None is called per packet; the workers use them on latch
// events, timer ticks, queries and session ends only.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/Expected.h"
#include "common/SockAddr.h"

namespace rdv::relay {

// What the kernel did for one entry since it was installed.
struct KernelEntryCounters {
  uint64_t packets = 0;   // RTP forwarded
  uint64_t bytes = 0;     // their UDP payload bytes
  uint64_t spoofed = 0;   // RTP from a source other than the latched one, dropped
  uint64_t lastNs = 0;    // CLOCK_MONOTONIC of the last forwarded packet; 0 = none yet
  uint64_t expected = 0;  // RTP expected from sequence numbers (RFC 3550 A.3, no probation)
  uint32_t ssrc = 0;      // SSRC of the last forwarded packet (host order)
};

// Machine-wide totals of this process's program since it was loaded.
struct KernelTotals {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t spoofed = 0;
  uint64_t passed = 0;    // hit an entry, left to userspace (RTCP, not RTP v2, fragments)
  uint64_t fallback = 0;  // hit an entry, no usable route: left to userspace
  uint64_t errors = 0;    // rewrite failed: dropped
};

class KernelForwarder {
 public:
  static constexpr uint16_t kTcPriority = 0x5244;  // "RD"

  // `interface`: the IPv4 address the relay sockets bind to (not 0.0.0.0, not IPv6).
  // `maxEntries`: map capacity, one per relay RTP socket at most.
  static Expected<std::unique_ptr<KernelForwarder>, std::string> create(std::string_view interface,
                                                                        uint32_t maxEntries);
  ~KernelForwarder();  // detaches
  KernelForwarder(const KernelForwarder&) = delete;
  KernelForwarder& operator=(const KernelForwarder&) = delete;

  // Forward RTP arriving at `local` from `latchedSrc` as if sent from `egressLocal` to `dst`.
  // Replaces an existing entry of `local` (its counters restart). Errors are errno texts.
  Expected<bool, std::string> install(const common::SockAddr& local, const common::SockAddr& latchedSrc,
                                      const common::SockAddr& egressLocal, const common::SockAddr& dst);
  // Removes the entry of `local` and returns its final counters; nullopt if there was none.
  std::optional<KernelEntryCounters> remove(const common::SockAddr& local);
  std::optional<KernelEntryCounters> readCounters(const common::SockAddr& local) const;
  KernelTotals totals() const;

  // True when `local` could ever be installed: an IPv4 address of the attached interface.
  bool serves(const common::SockAddr& local) const;
  // The relay socket address of `port` (the relay address with that port).
  common::SockAddr localAddress(uint16_t port) const;
  const std::string& interfaceName() const;

 private:
  struct Impl;
  explicit KernelForwarder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rdv::relay
