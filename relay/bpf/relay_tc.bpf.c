/* The relay's in-kernel fast path: a TC (clsact ingress) program that forwards the RTP of
 * streams whose both directions are latched, so those packets never reach a socket.
 *
 * Contract with userspace (relay/KernelForwarder.cc, relay/RelayWorker.cc):
 *  - The map `rdv_fwd` holds one entry per relay socket whose peer and whose other leg's peer
 *    are latched. Userspace installs and removes entries on latch events; the program never
 *    creates or deletes entries.
 *  - A UDP/IPv4 packet to an address in the map is ours. RTP v2 from the entry's latched source
 *    is rewritten (source = the relay's socket on the other leg, destination = the other peer),
 *    counted and delivered. RTP v2 from any other source is dropped and counted as spoofed:
 *    the kernel enforces the latch (no RTP Bleed), so a NAT rebinding is only seen by userspace
 *    after the entry is removed (see KernelForwarder.h for the re-latch rule).
 *  - Everything else that hits an entry (RTCP, which userspace keeps for its quality figures;
 *    packets that are not RTP v2; fragments; GSO) and everything that misses goes on unchanged
 *    (TC_ACT_UNSPEC: the next filter, or the stack and the relay's socket).
 *  - The FIB lookup is done before the packet is changed: when it gives no route out of the
 *    interface the packet came in on, the packet is left to userspace untouched.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "relay_tc.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* Bytes before the IP header: 14 on Ethernet and loopback. Set by userspace before loading. */
const volatile __u32 l2_len = ETH_HLEN;

/* A UDP checksum field of 0 means "no checksum" and stays 0 (RFC 768). */
#define L4_FLAGS BPF_F_MARK_MANGLED_0
#define RTP_HEADER 12
#define OUTGOING_TTL 64

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096); /* resized by userspace before load */
  __type(key, struct rdv_fwd_key);
  __type(value, struct rdv_fwd_entry);
} rdv_fwd SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct rdv_fwd_totals);
} rdv_totals SEC(".maps");

static __always_inline struct rdv_fwd_totals* totals(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&rdv_totals, &zero);
}

/* RFC 3550 A.3-style loss bookkeeping, without probation (the kernel sees only the latched
 * source). Races between CPUs on one entry only blur the estimate; the counters that must be
 * exact (packets, bytes, spoofed) are atomic. */
static __always_inline void track_seq(struct rdv_fwd_entry* e, __u32 ssrc, __u16 seq) {
  if (!e->seq_started || e->ssrc != ssrc) {
    if (e->seq_started) e->prior_expected += e->ext_seq - e->base_seq + 1;
    e->ssrc = ssrc;
    e->base_seq = seq;
    e->ext_seq = seq;
    e->seq_started = 1;
    return;
  }
  __s16 delta = (__s16)(seq - (__u16)e->ext_seq);
  if (delta > 0) e->ext_seq += (__u32)delta; /* wraps carry into the upper 16 bits */
}

SEC("tc")
int rdv_relay_ingress(struct __sk_buff* skb) {
  if (skb->protocol != bpf_htons(ETH_P_IP)) return TC_ACT_UNSPEC;
  const __u32 l2 = l2_len;
  if (l2 > ETH_HLEN) return TC_ACT_UNSPEC;

  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  struct iphdr* ip = data + l2;
  if ((void*)(ip + 1) > end) return TC_ACT_UNSPEC;
  if (ip->version != 4 || ip->protocol != IPPROTO_UDP) return TC_ACT_UNSPEC;
  const __u32 ihl = (__u32)ip->ihl * 4;
  if (ihl < sizeof(struct iphdr)) return TC_ACT_UNSPEC;
  struct udphdr* udp = (void*)ip + ihl;
  if ((void*)(udp + 1) > end) return TC_ACT_UNSPEC;

  struct rdv_fwd_key key = {.addr = ip->daddr, .port = udp->dest, .pad = 0};
  struct rdv_fwd_entry* e = bpf_map_lookup_elem(&rdv_fwd, &key);
  if (!e) return TC_ACT_UNSPEC;

  struct rdv_fwd_totals* t = totals();
  if (!t) return TC_ACT_UNSPEC;

  /* Fragments and GSO super-packets are left to the stack. */
  if ((ip->frag_off & bpf_htons(0x3fff)) != 0 || skb->gso_segs > 1) {
    t->passed++;
    return TC_ACT_UNSPEC;
  }
  const __u32 udp_off = l2 + ihl;
  const __u32 udp_len = bpf_ntohs(udp->len);
  if (udp_len < sizeof(struct udphdr) + RTP_HEADER) {
    t->passed++;
    return TC_ACT_UNSPEC;
  }

  /* The RTP fixed header may sit past the linear part of a large packet. */
  __u8* rtp = (void*)(udp + 1);
  if ((void*)(rtp + RTP_HEADER) > end) {
    if (bpf_skb_pull_data(skb, udp_off + sizeof(struct udphdr) + RTP_HEADER) != 0) return TC_ACT_UNSPEC;
    data = (void*)(long)skb->data;
    end = (void*)(long)skb->data_end;
    ip = data + l2;
    if ((void*)(ip + 1) > end) return TC_ACT_UNSPEC;
    udp = data + (udp_off & 0x7f);
    if ((void*)(udp + 1) > end) return TC_ACT_UNSPEC;
    rtp = (void*)(udp + 1);
    if ((void*)(rtp + RTP_HEADER) > end) return TC_ACT_UNSPEC;
  }

  /* Only RTP v2 is touched; RTCP (PT 64-95 once the marker bit is masked, RFC 5761 §4) goes to
   * userspace, which derives RTT and remote loss from it. */
  const __u8 b0 = rtp[0];
  const __u8 pt = rtp[1] & 0x7f;
  if ((b0 & 0xc0) != 0x80 || (pt >= 64 && pt <= 95) ||
      udp_len < sizeof(struct udphdr) + RTP_HEADER + 4u * (b0 & 0x0f)) {
    t->passed++;
    return TC_ACT_UNSPEC;
  }

  const __u32 old_saddr = ip->saddr;
  const __u32 old_daddr = ip->daddr;
  const __u16 old_sport = udp->source;
  const __u16 old_dport = udp->dest;
  if (old_saddr != e->src_addr || old_sport != e->src_port) {
    __sync_fetch_and_add(&e->spoofed, 1);
    t->spoofed++;
    return TC_ACT_SHOT;
  }

  const __u32 new_saddr = e->egress_addr;
  const __u16 new_sport = e->egress_port;
  const __u32 new_daddr = e->dst_addr;
  const __u16 new_dport = e->dst_port;
  const int local = (e->flags & RDV_FWD_LOCAL) != 0;
  const __u16 seq = ((__u16)rtp[2] << 8) | rtp[3];
  const __u32 ssrc = *(__u32*)(rtp + 8);
  const __u8 tos = ip->tos;
  const __u16 old_ttl_proto = *(__u16*)&ip->ttl;

  /* Decide where the packet goes before changing it. */
  struct bpf_fib_lookup fib = {};
  if (!local) {
    fib.family = AF_INET;
    fib.tos = tos;
    fib.l4_protocol = IPPROTO_UDP;
    fib.sport = new_sport;
    fib.dport = new_dport;
    fib.tot_len = bpf_ntohs(ip->tot_len);
    fib.ipv4_src = new_saddr;
    fib.ipv4_dst = new_daddr;
    fib.ifindex = skb->ifindex;
    long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
    /* Only out of the interface the packet came in on: the program owns no other device's L2. */
    if (rc != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex != skb->ifindex || l2 != ETH_HLEN ||
        data + ETH_HLEN > end) {
      t->fallback++;
      return TC_ACT_UNSPEC;
    }
  }

  /* Count before rewriting. */
  __sync_fetch_and_add(&e->packets, 1);
  __sync_fetch_and_add(&e->bytes, udp_len - sizeof(struct udphdr));
  e->last_ns = bpf_ktime_get_ns();
  track_seq(e, ssrc, seq);
  t->packets++;
  t->bytes += udp_len - sizeof(struct udphdr);

  /* Rewrite in place, then fix the checksums from the old and new values: addresses are in the
   * UDP pseudo-header, ports only in the UDP header, the TTL only in the IP header. The helpers
   * handle CHECKSUM_PARTIAL (loopback, veth) and CHECKSUM_COMPLETE skbs. */
  union ports {
    struct {
      __u16 src;
      __u16 dst;
    } p;
    __u32 word;
  };
  const union ports old_ports = {.p = {old_sport, old_dport}};
  const union ports new_ports = {.p = {new_sport, new_dport}};
  __u32 old_addrs[2] = {old_saddr, old_daddr};
  __u32 new_addrs[2] = {new_saddr, new_daddr};
  ip->saddr = new_saddr;
  ip->daddr = new_daddr;
  udp->source = new_sport;
  udp->dest = new_dport;
  __u16 new_ttl_proto = old_ttl_proto;
  if (!local) {
    /* Leaving the host: the relay is the packet's origin, so it gets a fresh TTL. */
    struct ethhdr* eth = data;
    __builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
    ip->ttl = OUTGOING_TTL;
    new_ttl_proto = *(__u16*)&ip->ttl;
  }
  const __u32 ip_csum = l2 + offsetof(struct iphdr, check);
  const __u32 udp_csum = udp_off + offsetof(struct udphdr, check);
  const __s64 diff = bpf_csum_diff(old_addrs, sizeof(old_addrs), new_addrs, sizeof(new_addrs), 0);
  long err = diff < 0;
  err |= bpf_l3_csum_replace(skb, ip_csum, 0, (__u32)diff, 0);
  err |= bpf_l4_csum_replace(skb, udp_csum, 0, (__u32)diff, L4_FLAGS | BPF_F_PSEUDO_HDR);
  err |= bpf_l4_csum_replace(skb, udp_csum, old_ports.word, new_ports.word, L4_FLAGS | 4);
  if (!local) err |= bpf_l3_csum_replace(skb, ip_csum, old_ttl_proto, new_ttl_proto, 2);
  if (err) goto broken;
  return local ? TC_ACT_OK : bpf_redirect(fib.ifindex, 0);

broken:
  t->errors++;
  return TC_ACT_SHOT;
}

/* bpf_fib_lookup is GPL-only; the program is offered under either licence. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
