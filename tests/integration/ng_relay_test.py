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
  - delete returns totals and the call is gone;
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


def exchange(a, b, a_port, b_port, n):
    for _ in range(n):
        a.send(a_port, a.rtp())
        data, addr = b.recv()
        check(addr == ("127.0.0.1", b_port), "B got a packet from %s, not the relay port %d" % (addr, b_port))
        check(struct.unpack("!I", data[8:12])[0] == a.ssrc, "B got a foreign SSRC")
        b.send(b_port, b.rtp())
        data, addr = a.recv()
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
    d = relay.ng("delete", **{"call-id": "c1", "from-tag": "ta"})
    check(d.get("result") == b"ok" and d["totals"]["RTP"]["packets"] == 2 * (N + 6), "delete totals: %r" % d)
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
