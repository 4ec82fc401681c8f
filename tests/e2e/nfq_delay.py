#!/usr/bin/env python3
"""Delay jitter without netem: hold each packet of an NFQUEUE queue for a random time, uniform in
[--min-ms, --max-ms], then accept it. Verdicts are issued in due order, not arrival order, so
packets overtake each other as they would behind netem with jitter.

This kernel has no netem (CONFIG_NET_SCH_NETEM is not set) but has nfnetlink_queue, so this
speaks that protocol directly over a raw netlink socket (no libnetfilter_queue binding is
packaged for Debian). Run it inside the namespace whose iptables rule sends packets to the queue:

    ip netns exec NS nfq_delay.py --queue N --min-ms 10 --max-ms 70 --seconds 60

It lives at most --seconds (or until SIGTERM/SIGINT), then accepts what it still holds at once,
unbinds the queue and exits 0, printing one summary line. Rules should use --queue-bypass so that
packets pass undelayed whenever no program is bound.

--selfcheck [--prefix P] builds its own namespace pair (veth, 198.18.10.0/30), sends UDP every
20 ms through an NFQUEUE rule served by this program (started and stopped by PID) and prints
the added delay and the RFC 3550 interarrival jitter of the received stream; exit 0 when they are
in range, 1 otherwise, 77 if not root. Expected for uniform 10..70 ms: mean delay 40 ms; the mean
change in transit time |D| between consecutive packets is W/3 = 20 ms for i.i.d. delays of width
W = 60 ms taken in send order, about 21.7 ms taken in arrival order as RFC 3550 does (packets 20 ms
apart overtake each other; Monte Carlo); the jitter estimator J += (|D| - J) / 16 tracks that mean
with a spread of about 3 ms, so its final value is checked loosely and mean |D| tightly.

Wire format: linux/netfilter/nfnetlink_queue.h; messages are nlmsghdr + nfgenmsg (res_id = queue
number, big-endian) + attributes; attribute payloads of this subsystem are big-endian.
"""

import argparse
import errno
import heapq
import json
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQNL_CFG_CMD_BIND, NFQNL_CFG_CMD_UNBIND = 1, 2
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
NLA_TYPE_MASK = 0x3FFF  # strip NLA_F_NESTED / NLA_F_NET_BYTEORDER


def _attr(kind, payload):
    pad = (4 - len(payload) % 4) % 4
    return struct.pack("=HH", 4 + len(payload), kind) + payload + b"\0" * pad


def _msg(msg_type, queue, attrs, flags, seq):
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, NLM_F_REQUEST | flags,
                       seq, 0) + body


def _messages(data):
    """(type, seq, payload after nlmsghdr) for each netlink message in one datagram."""
    off = 0
    while off + 16 <= len(data):
        length, kind, _, seq, _ = struct.unpack_from("=IHHII", data, off)
        if length < 16 or off + length > len(data):
            return
        yield kind, seq, data[off + 16:off + length]
        off += (length + 3) & ~3


def _attrs(payload):
    """{type: bytes} of the attributes after the 4-byte nfgenmsg."""
    out = {}
    off = 4
    while off + 4 <= len(payload):
        length, kind = struct.unpack_from("=HH", payload, off)
        if length < 4 or off + length > len(payload):
            break
        out[kind & NLA_TYPE_MASK] = payload[off + 4:off + length]
        off += (length + 3) & ~3
    return out


class DelayQueue:
    """One bound nfnetlink queue: packets in, accept verdicts out after a random delay."""

    def __init__(self, queue, min_ms, max_ms):
        self.queue, self.min_s, self.max_s = queue, min_ms / 1000.0, max_ms / 1000.0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, 0))
        self.seq = 0
        self.held = []  # heap of (due monotonic time, arrival order, packet id, arrival time)
        self.stats = {"packets": 0, "accepted": 0, "overtaken": 0, "enobufs": 0, "delays_ms": []}
        self._last_accepted_order = -1
        self._order = 0
        self._config(_attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET)))
        self._config(_attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0xFFFF, NFQNL_COPY_META)))

    def _config(self, attr):
        """Sends one config message and waits (bounded) for the kernel's ack; raises on error."""
        self.seq += 1
        self.sock.send(_msg(NFQNL_MSG_CONFIG, self.queue, [attr], NLM_F_ACK, self.seq))
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            if not select.select([self.sock], [], [], max(0.0, deadline - time.monotonic()))[0]:
                break
            for kind, seq, payload in _messages(self.sock.recv(65536)):
                if kind == NLMSG_ERROR and seq == self.seq:
                    err = -struct.unpack_from("=i", payload)[0]
                    if err:
                        raise OSError(err, "nfqueue config of queue %d: %s" % (self.queue, os.strerror(err)))
                    return
        raise OSError(errno.ETIMEDOUT, "nfqueue config of queue %d: no ack" % self.queue)

    def fileno(self):
        return self.sock.fileno()

    def next_due(self):
        return self.held[0][0] if self.held else None

    def receive(self, now):
        """Takes every packet the kernel has queued for us (non-blocking)."""
        while True:
            try:
                data = self.sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS:  # our socket overflowed: those packets are dropped
                    self.stats["enobufs"] += 1
                    continue
                raise
            for kind, _, payload in _messages(data):
                if kind != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    continue
                hdr = _attrs(payload).get(NFQA_PACKET_HDR)
                if hdr is None or len(hdr) < 4:
                    continue
                packet_id = struct.unpack_from("!I", hdr)[0]
                delay = random.uniform(self.min_s, self.max_s)
                heapq.heappush(self.held, (now + delay, self._order, packet_id, now))
                self._order += 1
                self.stats["packets"] += 1

    def release(self, now, everything=False):
        """Accepts each held packet whose time has come (all of them if `everything`)."""
        while self.held and (everything or self.held[0][0] <= now):
            _, order, packet_id, arrived = heapq.heappop(self.held)
            verdict = _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id))
            self.sock.send(_msg(NFQNL_MSG_VERDICT, self.queue, [verdict], 0, 0))
            self.stats["accepted"] += 1
            self.stats["delays_ms"].append((now - arrived) * 1000.0)
            if order < self._last_accepted_order:
                self.stats["overtaken"] += 1
            self._last_accepted_order = max(self._last_accepted_order, order)

    def close(self):
        try:
            self._config(_attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_UNBIND, 0, socket.AF_INET)))
        except OSError as e:
            print("nfq_delay: unbind: %s" % e, flush=True)
        self.sock.close()

    def summary(self):
        d = self.stats["delays_ms"]
        return ("nfq_delay: queue %d: %d packets, %d accepted, %d overtaken by a later one, %d ENOBUFS; "
                "delay ms min %.1f mean %.1f max %.1f"
                % (self.queue, self.stats["packets"], self.stats["accepted"], self.stats["overtaken"],
                   self.stats["enobufs"], min(d) if d else 0, sum(d) / len(d) if d else 0, max(d) if d else 0))


def serve(queue, min_ms, max_ms, seconds):
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True
    # select() is retried after a signal whose handler returns (PEP 475): the wakeup pipe is what
    # ends the wait at once.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    dq = DelayQueue(queue, min_ms, max_ms)
    print("nfq_delay: queue %d bound, delay uniform %g..%g ms, for at most %gs" % (queue, min_ms, max_ms, seconds),
          flush=True)
    end = time.monotonic() + seconds
    try:
        while not stop["now"]:
            now = time.monotonic()
            if now >= end:
                break
            due = dq.next_due()
            wake = min(end, due) if due is not None else end
            ready = select.select([dq, wake_r], [], [], max(0.0, wake - now))[0]
            now = time.monotonic()
            if dq in ready:
                dq.receive(now)
            dq.release(now)
        dq.release(time.monotonic(), everything=True)
    finally:
        dq.close()
    print(dq.summary(), flush=True)
    return 0


# ----------------------------------------------------------------------------------------------
# --selfcheck

SC_A, SC_B = "198.18.10.1", "198.18.10.2"
SC_PORT, SC_QUEUE = 5004, 7
SC_INTERVAL_S, SC_COUNT = 0.020, 500
SC_MIN_MS, SC_MAX_MS = 10, 70
SC_MEAN_D_RANGE = (19.0, 25.0)   # ms, mean |D| over ~500 pairs (sd ~0.7): 21.7 expected
SC_JITTER_RANGE = (10.0, 32.0)   # ms, final RFC 3550 J (sd ~3): 21.7 expected
SC_DELAY_RANGE = (35.0, 50.0)    # ms, mean added delay; 40 expected


def rfc3550_jitter(arrivals):
    """RFC 3550 6.4.1 / A.8 interarrival jitter over (send time, receive time) pairs in receive
    order; the send time stands in for the RTP timestamp. Returns (final J, mean |D|) in ms."""
    j = 0.0
    diffs = []
    prev = None
    for sent, received in arrivals:
        transit = received - sent
        if prev is not None:
            d = abs(transit - prev)
            diffs.append(d)
            j += (d - j) / 16.0
        prev = transit
    return j * 1000.0, (sum(diffs) / len(diffs) * 1000.0 if diffs else 0.0)


def sc_send(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    for i in range(count):
        t = start + i * SC_INTERVAL_S
        while time.monotonic() < t:
            time.sleep(min(0.005, max(0.0, t - time.monotonic())))
        s.sendto(struct.pack("!Id", i, time.monotonic()), (SC_B, SC_PORT))
    return 0


def sc_recv(count, wait_s):
    """Receives until `count` packets or `wait_s` seconds; prints JSON (seq, sent, received)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((SC_B, SC_PORT))
    s.settimeout(0.2)
    print("listening", flush=True)
    got = []
    end = time.monotonic() + wait_s
    while len(got) < count and time.monotonic() < end:
        try:
            data = s.recv(64)
        except socket.timeout:
            continue
        seq, sent = struct.unpack("!Id", data[:12])
        got.append((seq, sent, time.monotonic()))  # CLOCK_MONOTONIC is shared by all namespaces
    print(json.dumps(got), flush=True)
    return 0


def _run(argv, check=True):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=15)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stdout.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


def _sc_cleanup(nss):
    listed = _run(["ip", "netns", "list"], check=False).split()
    for ns in nss:
        if ns in listed:
            for pid in [int(x) for x in _run(["ip", "netns", "pids", ns], check=False).split() if x.isdigit()]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            _run(["ip", "netns", "del", ns], check=False)


def _first_line(p, wait_s):
    """The first line p prints on stdout, or b"" if none within wait_s seconds."""
    if select.select([p.stdout], [], [], wait_s)[0]:
        return p.stdout.readline()
    return b""


def _stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def selfcheck(prefix):
    if os.geteuid() != 0:
        print("SKIP nfq_delay selfcheck: needs root (network namespaces)")
        return 77
    if not re.match(r"^[a-z][a-z0-9]{1,9}$", prefix):
        print("FAIL nfq_delay selfcheck: prefix must be 2-10 lowercase letters/digits")
        return 1
    ns_a, ns_b = prefix + "-a", prefix + "-b"
    me = os.path.abspath(__file__)
    procs = []
    _sc_cleanup((ns_a, ns_b))
    try:
        for ns in (ns_a, ns_b):
            _run(["ip", "netns", "add", ns])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        _run(["ip", "link", "add", prefix + "-va", "netns", ns_a, "type", "veth", "peer", "name", prefix + "-vb",
              "netns", ns_b])
        for ns, ifname, ip in ((ns_a, prefix + "-va", SC_A), (ns_b, prefix + "-vb", SC_B)):
            _run(["ip", "-n", ns, "addr", "add", ip + "/30", "dev", ifname])
            _run(["ip", "-n", ns, "link", "set", ifname, "up"])
        _run(["ip", "netns", "exec", ns_b, "iptables", "-A", "INPUT", "-i", prefix + "-vb", "-p", "udp", "--dport",
              str(SC_PORT), "-j", "NFQUEUE", "--queue-num", str(SC_QUEUE), "--queue-bypass"])
        run_s = SC_COUNT * SC_INTERVAL_S + 5
        delay = subprocess.Popen(["ip", "netns", "exec", ns_b, sys.executable, me, "--queue", str(SC_QUEUE),
                                  "--min-ms", str(SC_MIN_MS), "--max-ms", str(SC_MAX_MS), "--seconds", str(run_s + 5)],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(delay)
        if b"bound" not in _first_line(delay, 5):
            raise RuntimeError("nfq_delay did not bind its queue")
        recv = subprocess.Popen(["ip", "netns", "exec", ns_b, sys.executable, me, "--sc-recv", str(SC_COUNT),
                                 str(run_s)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        procs.append(recv)
        if b"listening" not in _first_line(recv, 5):
            raise RuntimeError("receiver did not start")
        subprocess.run(["ip", "netns", "exec", ns_a, sys.executable, me, "--sc-send", str(SC_COUNT)],
                       stdin=subprocess.DEVNULL, timeout=run_s + 10, check=True)
        got = json.loads(recv.communicate(timeout=run_s + 10)[0].decode().strip() or "[]")
        _stop(delay)
        delay_out = delay.communicate(timeout=5)[0].decode(errors="replace").strip()
    finally:
        for p in procs:
            _stop(p)
        _sc_cleanup((ns_a, ns_b))
    print(delay_out)
    seqs = [g[0] for g in got]
    reordered = sum(1 for a, b in zip(seqs, seqs[1:]) if b < a)
    added = [(r - s) * 1000.0 for _, s, r in got]
    jitter, mean_d = rfc3550_jitter([(s, r) for _, s, r in got])
    mean_delay = sum(added) / len(added) if added else 0.0
    line = ("received %d/%d, %d arrived after a later-sent one; one-way delay ms min %.1f mean %.1f max %.1f; "
            "RFC 3550 jitter %.1f ms (mean |D| %.1f ms)"
            % (len(got), SC_COUNT, reordered, min(added) if added else 0, mean_delay, max(added) if added else 0,
               jitter, mean_d))
    ok = (len(got) == SC_COUNT and SC_DELAY_RANGE[0] <= mean_delay <= SC_DELAY_RANGE[1]
          and SC_MEAN_D_RANGE[0] <= mean_d <= SC_MEAN_D_RANGE[1]
          and SC_JITTER_RANGE[0] <= jitter <= SC_JITTER_RANGE[1] and min(added) >= SC_MIN_MS - 1)
    print("%s nfq_delay selfcheck: %s; expected all received, delay >= %d ms, mean %s ms, jitter %s ms, "
          "mean |D| %s ms" % ("PASS" if ok else "FAIL", line, SC_MIN_MS - 1, SC_DELAY_RANGE, SC_JITTER_RANGE,
                              SC_MEAN_D_RANGE))
    return 0 if ok else 1


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--sc-send":
        return sc_send(int(sys.argv[2]))
    if len(sys.argv) > 1 and sys.argv[1] == "--sc-recv":
        return sc_recv(int(sys.argv[2]), float(sys.argv[3]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queue", type=int, default=0)
    ap.add_argument("--min-ms", type=float, default=10.0)
    ap.add_argument("--max-ms", type=float, default=70.0)
    ap.add_argument("--seconds", type=float, default=60.0, help="lifetime bound")
    ap.add_argument("--selfcheck", action="store_true")
    ap.add_argument("--prefix", default="rdvnfq", help="--selfcheck namespace prefix")
    args = ap.parse_args()
    if args.selfcheck:
        return selfcheck(args.prefix)
    if not 0 <= args.min_ms <= args.max_ms or not 0 < args.seconds <= 3600:
        ap.error("need 0 <= --min-ms <= --max-ms and 0 < --seconds <= 3600")
    return serve(args.queue, args.min_ms, args.max_ms, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
