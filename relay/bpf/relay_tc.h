/* Shared between the TC program (relay_tc.bpf.c) and KernelForwarder: the layout of the
 * forwarding map and the totals. Plain C with kernel UAPI types, so it compiles for both the BPF
 * target and C++. Addresses and ports are in network byte order, as on the wire. */
#pragma once

#include <linux/types.h>

/* One direction of one stream: packets that arrive at the relay's socket `key` from `src` are
 * rewritten to come from `egress` and go to `dst`. */
struct rdv_fwd_key {
  __u32 addr; /* the relay's local socket address */
  __u16 port;
  __u16 pad;  /* zero */
};

enum {
  /* `dst` is an address of this host: deliver up the stack (TC_ACT_OK) instead of a FIB lookup
   * and redirect. */
  RDV_FWD_LOCAL = 1,
};

struct rdv_fwd_entry {
  /* Written by userspace at install, read only by the program. */
  __u32 src_addr; /* the latched peer: the only source accepted */
  __u16 src_port;
  __u16 flags;    /* RDV_FWD_* */
  __u32 egress_addr; /* the relay's socket on the other leg */
  __u16 egress_port;
  __u16 pad0;
  __u32 dst_addr;    /* the other peer's latched address */
  __u16 dst_port;
  __u16 pad1;
  /* Written by the program. */
  __u64 packets;    /* forwarded RTP packets */
  __u64 bytes;      /* their UDP payload bytes */
  __u64 spoofed;    /* RTP dropped because the source was not src_addr:src_port */
  __u64 last_ns;    /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the last forwarded packet */
  /* Loss: the extended highest sequence number of the current SSRC against its first one
   * (RFC 3550 A.3 without probation); expected = prior_expected + ext_seq - base_seq + 1. */
  __u64 prior_expected; /* expected packets of earlier SSRCs in this entry */
  __u32 ssrc;           /* network order; the SSRC of the last forwarded packet */
  __u32 base_seq;
  __u32 ext_seq;
  __u32 seq_started;
};

/* Machine-wide totals of the program, one slot per CPU (BPF_MAP_TYPE_PERCPU_ARRAY, key 0). */
struct rdv_fwd_totals {
  __u64 packets;  /* forwarded */
  __u64 bytes;
  __u64 spoofed;  /* dropped as spoofed */
  __u64 passed;   /* hit an entry but left to userspace: RTCP, not RTP v2, fragments, GSO */
  __u64 fallback; /* hit, but the FIB lookup did not give a usable route: left to userspace */
  __u64 errors;   /* a rewrite helper failed after the packet was changed: dropped */
};
