#!/usr/bin/env python3
"""Integration test: two UDP peers exchange RTP through Rendezvous set up over NG.

Checks, in order (each failure names what broke):
  - offer/answer rewrite the SDP to the relay's address and ports;
  - RTP flows both ways through the relay, and NG `query` reports the per-leg packet counts;
  - a spoofed source sending to a latched port is dropped and counted, the genuine stream is
    unaffected (RTP Bleed);
  - /metrics packet and drop counters match what the test sent;
  - NG errors (malformed bencode, missing keys, unknown call) are error replies and the relay
    keeps serving; a retransmitted cookie gets the cached reply without a second session;
  - a non-RTP datagram (STUN) from the latched peer is forwarded unchanged and counted as
    `other` (NG per-leg stats and rdv_relay_other_packets_total);
  - query carries the stream's SSRC and the SSRC dictionary with lowest/highest/average MOS,
    from which OpenSIPS's $rtpstat(MOS-average) (its algorithm replayed here) is not empty;
  - delete returns totals and the call is gone; a second delete is `ok` with a warning;
  - what Kamailio sends: rtpp-flags with SIP-source-address and received-from (the signalling
    source replaces an unreachable SDP address), labels, two forked answers of which one is
    deleted by to-tag while the call goes on, and a re-offer that moves the caller to a new
    socket, whose media then latches;
  - rendezvous is alive throughout and exits 0 on SIGTERM.
With --set relay.kernel_forwarding=1 the same checks run against the kernel fast path, and the
test also requires that the kernel carried the bulk of the media and that delete removed its
entries.
Usage: ng_relay_test.py --rendezvous PATH --workdir DIR [--set KEY=VALUE]...
"""

import argparse
import os
import re
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rdvtest import Relay, TestFailure, bencode, bdecode, metric, tail  # noqa: E402

N = 50  # packets per direction


class Peer:
    def __init__(self, ssrc):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2.0)
        self.port = self.sock.getsockname()[1]
        self.ssrc = ssrc
        self.seq = 0

    def rtp(self, ssrc=None):
        self.seq += 1
        hdr = struct.pack("!BBHII", 0x80, 0, self.seq, self.seq * 160, ssrc or self.ssrc)
        return hdr + bytes(160)

    def send(self, port, data):
        self.sock.sendto(data, ("127.0.0.1", port))

    def recv(self):
        data, addr = self.sock.recvfrom(4096)
        return data, addr

    def sdp(self):
        return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
                "a=candidate:1 1 UDP 2130706431 127.0.0.1 %d typ host\r\na=sendrecv\r\n" % (self.port, self.port))


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def media_port(sdp):
    text = sdp.decode()
    check("c=IN IP4 127.0.0.1" in text, "rewritten SDP lacks the relay address:\n" + text)
    check("a=candidate" not in text, "ICE candidates must be removed:\n" + text)
    m = re.search(r"m=audio (\d+) ", text)
    check(m is not None, "no m=audio in rewritten SDP")
    return int(m.group(1))


def received(peer, what):
    """peer.recv(), failing with `what` (which direction, which round) instead of a bare timeout."""
    try:
        return peer.recv()
    except socket.timeout:
        raise TestFailure("nothing arrived within %.1f s: %s" % (peer.sock.gettimeout(), what)) from None


def exchange(a, b, a_port, b_port, n):
    for i in range(n):
        a.send(a_port, a.rtp())
        data, addr = received(b, "round %d, %d -> relay :%d -> %d" % (i, a.port, a_port, b.port))
        check(addr == ("127.0.0.1", b_port), "B got a packet from %s, not the relay port %d" % (addr, b_port))
        check(struct.unpack("!I", data[8:12])[0] == a.ssrc, "B got a foreign SSRC")
        b.send(b_port, b.rtp())
        data, addr = received(a, "round %d, %d -> relay :%d -> %d" % (i, b.port, b_port, a.port))
        check(addr == ("127.0.0.1", a_port), "A got a packet from %s, not the relay port %d" % (addr, a_port))


def run(relay, kernel):
    a, b, attacker = Peer(0xAAAA), Peer(0xBBBB), Peer(0xEEEE)
    r = relay.ng("offer", **{"call-id": "c1", "from-tag": "ta", "sdp": a.sdp(),
                             "replace": ["origin", "session-connection"], "flags": ["trust-address"],
                             "ICE": "remove"})
    check(r.get("result") == b"ok", "offer failed: %r" % r)
    port_for_b = media_port(r["sdp"])  # where B sends
    check(relay.port_min <= port_for_b <= relay.port_max, "offer port %d outside the relay range" % port_for_b)
    r = relay.ng("answer", **{"call-id": "c1", "from-tag": "ta", "to-tag": "tb", "sdp": b.sdp()})
    check(r.get("result") == b"ok", "answer failed: %r" % r)
    port_for_a = media_port(r["sdp"])  # where A sends
    check(port_for_a != port_for_b, "both legs got the same port")

    exchange(a, b, port_for_a, port_for_b, N)
    q = relay.ng("query", **{"call-id": "c1"})
    check(q.get("result") == b"ok", "query failed: %r" % q)
    check(q["totals"]["RTP"]["packets"] == 2 * N, "query totals %r, expected %d" % (q["totals"], 2 * N))
    legs = {k: v["medias"][0]["streams"][0] for k, v in q["tags"].items()}
    check(legs["ta"]["stats"]["packets"] == N and legs["tb"]["stats"]["packets"] == N,
          "per-leg packet counts wrong: %r" % legs)
    check(legs["ta"]["endpoint"]["port"] == a.port, "leg A not latched to A's address: %r" % legs["ta"])
    check(legs["ta"]["stats"]["lost"] == 0, "loss reported on a clean loopback stream")

    # RTP Bleed: an attacker sends to A's leg, even with A's SSRC. Nothing may reach B.
    spoofed = 20
    for i in range(spoofed):
        attacker.send(port_for_a, attacker.rtp(ssrc=a.ssrc if i % 2 else None))
    exchange(a, b, port_for_a, port_for_b, 5)
    b.sock.settimeout(0.3)
    try:
        data, addr = b.recv()
        raise TestFailure("B received an extra packet (%d bytes from %s): spoofed media leaked" % (len(data), addr))
    except socket.timeout:
        pass
    q = relay.ng("query", **{"call-id": "c1"})
    legs = {k: v["medias"][0]["streams"][0] for k, v in q["tags"].items()}
    check(legs["ta"]["stats"]["spoofed"] == spoofed, "spoofed count %r, expected %d" % (legs["ta"]["stats"], spoofed))
    check(legs["ta"]["endpoint"]["port"] == a.port, "leg A was hijacked: %r" % legs["ta"]["endpoint"])

    text = relay.metrics()
    relayed = metric(text, "rdv_relay_packets_total")
    check(relayed == 2 * (N + 5), "rdv_relay_packets_total=%s, expected %d" % (relayed, 2 * (N + 5)))
    dropped = metric(text, "rdv_relay_dropped_packets_total", {"reason": "spoofed_source"})
    check(dropped == spoofed, "spoofed drops in /metrics = %s, expected %d" % (dropped, spoofed))
    check(metric(text, "rdv_sessions_active") == 1, "rdv_sessions_active != 1")
    if kernel:
        # Exactly each direction's first packet goes through userspace: A's latches leg A, B's
        # latches leg B and installs both kernel entries while it is handled; the exchange is
        # lock-step (every packet waits for the previous one to arrive), so the kernel carries
        # every later one.
        in_kernel = metric(text, "rdv_relay_kernel_packets_total")
        check(in_kernel == 2 * (N + 5) - 2,
              "kernel forwarded %s of %d packets, expected all but the first of each direction (%d)"
              % (in_kernel, 2 * (N + 5), 2 * (N + 5) - 2))
        check(metric(text, "rdv_relay_kernel_sessions") == 2, "expected 2 kernel entries (one per direction)")

    # Hostile and broken control input: error replies, nothing else disturbed.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    for payload, why in [(b"k1 d7:command", "truncated bencode"),
                         (b"k2 i12", "not a dictionary"),
                         (b"k3 " + bencode({"command": "offer", "from-tag": "x", "sdp": "v=0"}), "missing call-id"),
                         (b"k4 " + bencode({"command": "answer", "call-id": "nope", "from-tag": "x", "to-tag": "y",
                                            "sdp": b.sdp()}), "unknown call"),
                         (b"k5 " + bencode({"command": "offer", "call-id": "c2", "from-tag": "x", "sdp": "garbage"}),
                          "bad SDP"),
                         (b"k6 " + bencode({"command": "frobnicate"}), "unknown command")]:
        s.sendto(payload, ("127.0.0.1", relay.ng_port))
        data, _ = s.recvfrom(65535)
        cookie, _, body = data.partition(b" ")
        check(cookie == payload.split(b" ")[0], "reply cookie mismatch for %s" % why)
        reply = bdecode(body)
        check(reply.get("result") == b"error" and reply.get("error-reason"), "%s: expected an error reply, got %r" % (why, reply))
    check(relay.ng("list")["calls"] == [b"c1"], "a failed offer left a call behind")

    # Retransmission: same cookie -> same reply, one session.
    offer = b"rtx " + bencode({"command": "offer", "call-id": "c3", "from-tag": "t", "sdp": a.sdp()})
    s.sendto(offer, ("127.0.0.1", relay.ng_port))
    first = s.recvfrom(65535)[0]
    s.sendto(offer, ("127.0.0.1", relay.ng_port))
    second = s.recvfrom(65535)[0]
    check(first == second, "retransmitted cookie got a different reply")
    check(sorted(relay.ng("list")["calls"]) == [b"c1", b"c3"], "retransmission created another call")
    check(metric(relay.metrics(), "rdv_ng_retransmissions_total") == 1, "retransmission not counted")

    exchange(a, b, port_for_a, port_for_b, 1)  # the genuine call still works

    # Not RTP, from the latched peer: forwarded unchanged, counted as `other`.
    stun = bytes([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42]) + bytes(range(12))
    a.send(port_for_a, stun)
    data, _ = b.recv()
    check(data == stun, "the STUN datagram was not forwarded unchanged: %r" % data)
    q = relay.ng("query", **{"call-id": "c1"})
    legs = {k: v["medias"][0]["streams"][0] for k, v in q["tags"].items()}
    check(legs["ta"]["stats"]["other packets"] == 1, "other packets: %r" % legs["ta"]["stats"])
    check(metric(relay.metrics(), "rdv_relay_other_packets_total") == 1, "rdv_relay_other_packets_total != 1")
    # What Kamailio's mos_* parameters read: stream SSRC -> SSRC dictionary -> MOS blocks.
    check(legs["ta"]["SSRC"] == a.ssrc, "stream SSRC %r, expected %d" % (legs["ta"].get("SSRC"), a.ssrc))
    entry = q["SSRC"].get(str(a.ssrc))
    check(entry is not None, "no SSRC entry for A: %r" % q.get("SSRC"))
    for block in ("average MOS", "lowest MOS", "highest MOS"):
        check(10 <= entry[block]["MOS"] <= 45, "%s: %r" % (block, entry[block]))
        check(entry[block]["packet loss"] == 0, "loss on a clean loopback stream: %r" % entry[block])
    check(entry["average MOS"]["samples"] >= 1, "no MOS samples: %r" % entry)
    # What OpenSIPS's $rtpstat(MOS-average) and $rtpstat(MOS-average)[tag] compute (its rtpengine
    # module's pv_handle_rtpstat; OpenSIPS is not packaged for Debian bookworm, so it is replayed
    # here): the mean of "average MOS"."MOS" over the SSRC dictionary, for a tag only the SSRCs of
    # its streams.
    for tag in (None, "ta"):
        got = opensips_rtpstat(q, "average MOS", tag)
        check(got is not None and 10 <= got <= 45, "OpenSIPS $rtpstat(MOS-average)[%s] would be %r" % (tag, got))

    d = relay.ng("delete", **{"call-id": "c1", "from-tag": "ta"})
    check(d.get("result") == b"ok" and d["totals"]["RTP"]["packets"] == 2 * (N + 6), "delete totals: %r" % d)
    again = relay.ng("delete", **{"call-id": "c1", "from-tag": "ta"})
    check(again.get("result") == b"ok" and again.get("warning") == b"Call-ID not found or tags didn't match",
          "second delete: %r" % again)
    check(relay.ng("query", **{"call-id": "c1"}).get("result") == b"error", "deleted call still answers query")
    if kernel:
        check(metric(relay.metrics(), "rdv_relay_kernel_sessions") == 0, "delete left kernel entries behind")
        a.send(port_for_a, a.rtp())
        b.sock.settimeout(0.3)
        try:
            b.recv()
            raise TestFailure("media still forwarded after delete")
        except socket.timeout:
            pass
    check(relay.alive(), "relay died")
    kamailio_style(relay)


def kamailio_style(relay):
    """What Kamailio's rtpengine module sends: one rtpp-flags string, received-from, labels,
    forked answers and a delete of one fork, and a re-offer that moves a party."""
    a, b1, b2, a2 = Peer(0xA0), Peer(0xB1), Peer(0xB2), Peer(0xA2)
    unreachable = a.sdp().replace("c=IN IP4 127.0.0.1", "c=IN IP4 192.0.2.99")
    r = relay.ng("offer", **{"call-id": "k1", "from-tag": "fa", "sdp": unreachable,
                             "received-from": ["IP4", "127.0.0.1"],
                             "rtpp-flags": "SIP-source-address replace-origin ICE=remove label=caller"})
    check(r.get("result") == b"ok", "rtpp-flags offer failed: %r" % r)
    check(b"o=- 1 1 IN IP4 127.0.0.1" in r["sdp"], "replace-origin from rtpp-flags not applied")
    port_for_b = media_port(r["sdp"])
    for peer, tag in ((b1, "fb1"), (b2, "fb2")):
        r = relay.ng("answer", **{"call-id": "k1", "from-tag": "fa", "to-tag": tag, "sdp": peer.sdp(),
                                  "flags": ["SIP-source-address"], "received-from": ["IP4", "127.0.0.1"],
                                  "label": "callee"})
        check(r.get("result") == b"ok", "answer %s failed: %r" % (tag, r))
    port_for_a = media_port(r["sdp"])
    d = relay.ng("delete", **{"call-id": "k1", "from-tag": "fa", "to-tag": "fb1"})
    check(d.get("result") == b"ok" and "warning" not in d, "deleting fork fb1: %r" % d)
    check(b"k1" in relay.ng("list")["calls"], "deleting one fork deleted the call")
    # Media between the caller (SDP address unreachable: the signalling source is used) and fb2.
    exchange(a, b2, port_for_a, port_for_b, 3)
    q = relay.ng("query", **{"call-id": "k1"})
    check(q["tags"]["fa"]["label"] == b"caller", "caller label: %r" % q["tags"]["fa"])
    check(q["tags"]["fb2"]["label"] == b"callee", "callee label: %r" % q["tags"]["fb2"])
    check("fb1" not in q["tags"], "deleted fork still reported")
    adv = q["tags"]["fa"]["medias"][0]["streams"][0]["advertised endpoint"]
    check(adv["address"] == b"127.0.0.1" and adv["port"] == a.port, "SIP-source-address not used: %r" % adv)
    # The caller moves to another socket (transfer, handover): its new source must latch.
    r = relay.ng("offer", **{"call-id": "k1", "from-tag": "fa", "sdp": a2.sdp()})
    check(r.get("result") == b"ok" and media_port(r["sdp"]) == port_for_b, "re-offer: %r" % r)
    r = relay.ng("answer", **{"call-id": "k1", "from-tag": "fa", "to-tag": "fb2", "sdp": b2.sdp()})
    check(r.get("result") == b"ok", "re-answer: %r" % r)
    # With the kernel path too, the moved caller's very first packet gets through: the old entry is
    # gone before the NG reply (relay/KernelForwarder.h).
    exchange(a2, b2, port_for_a, port_for_b, 3)
    q = relay.ng("query", **{"call-id": "k1"})
    ep = q["tags"]["fa"]["medias"][0]["streams"][0]["endpoint"]
    check(ep["port"] == a2.port, "the moved caller did not latch: %r" % ep)
    d = relay.ng("delete", **{"call-id": "k1", "from-tag": "fb2", "to-tag": "fa"})
    check(d.get("result") == b"ok" and "totals" in d, "BYE from the callee: %r" % d)
    check(b"k1" not in relay.ng("list")["calls"], "call k1 left behind")


def opensips_rtpstat(q, key, tag=None):
    """$rtpstat(MOS-average|MOS-min|MOS-max)[tag] as OpenSIPS's rtpengine module derives it from
    a query reply; None where it would be empty."""
    ssrcs = q.get("SSRC", {})
    if tag is not None:
        streams = [s for m in q["tags"].get(tag, {}).get("medias", []) for s in m.get("streams", [])]
        wanted = {str(s["SSRC"]) for s in streams if isinstance(s.get("SSRC"), int)}
        ssrcs = {k: v for k, v in ssrcs.items() if k in wanted}
    values = [v[key]["MOS"] for v in ssrcs.values() if isinstance(v.get(key, {}).get("MOS"), int)]
    return sum(values) // len(values) if values else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra rendezvous setting (repeatable), e.g. relay.kernel_forwarding=1")
    args = ap.parse_args()
    # No SIP: the default 127.0.0.1:5060 would collide with other relays CTest runs in parallel.
    extra = ["--set", "sip.listen="] + [x for kv in args.set for x in ("--set", kv)]
    kernel = "relay.kernel_forwarding=1" in args.set
    try:
        relay = Relay(args.rendezvous, args.workdir, extra=extra)
    except TestFailure as e:
        print("FAIL ng_relay: setup: %s" % e)
        return 1
    failure = None
    try:
        run(relay, kernel)
    except (TestFailure, OSError, KeyError) as e:
        failure = "%s: %s" % (type(e).__name__, e)
    finally:
        stopped = relay.stop()
    if stopped:
        failure = "%s%s" % (failure + "; " if failure else "", stopped)
    if failure:
        print("FAIL ng_relay: %s" % failure)
        print(tail(relay.procs.log_of("rendezvous"), 40))
        return 1
    print("PASS ng_relay")
    return 0


if __name__ == "__main__":
    sys.exit(main())
