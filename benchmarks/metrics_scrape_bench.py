#!/usr/bin/env python3
"""Scrape benchmark: how long GET /metrics takes with N live NG sessions, and whether forwarding
carries on undisturbed while Prometheus scrapes.

It starts the release rendezvous binary with NG and metrics only (no SIP, no operator API), on
127.0.0.1, with a media range large enough for the largest session count. For each session count
in --sessions (ascending, the same process grows from one count to the next) it:
  1. sets up the missing sessions over NG (offer + answer, each SDP with a=rtcp-mux so a session
     takes 2 sockets instead of 4), pipelined over one UDP socket (--ng-window requests in
     flight, a request unanswered after 0.5 s sent again with the same cookie, 3 tries at most);
  2. while a background thread sends RTP through --rtp-sessions of them (both directions,
     --rate packets/s per stream, send time in the payload), measures a quiet window of
     --window-s seconds, then scrapes /metrics back to back (at least --scrapes times and for at
     least --window-s seconds) and times each (connect to last byte: min / median / max ms, body
     bytes, relay CPU per scrape from /proc/PID/stat);
  3. prints, for the quiet window and the scrape window, RTP packets sent / received and the
     one-way latency p50 / p99 / max as Python sees it (send stamp -> recvfrom return, so it
     includes this script's own scheduling: a comparison between windows, not a relay latency).

The session count is capped by what the relay can hold with rtcp-mux (2 sockets per session
against the descriptor hard limit less 200, 2 port pairs per session from the range: with the
20,000-descriptor hard limit and 20000-49999, 7,500); the cap and its reason are printed. The
range starts at 20000 rather than 30000 because 30000-49999 holds exactly 5,000 sessions' pairs
and the kernel's ephemeral ports (32768-60999) of other programs take some of them.

Usage (NG and metrics on free ports in 12000-19999; the media range default 20000-49999):
  nice -n 10 python3 benchmarks/metrics_scrape_bench.py \
      [--rendezvous /work/main/build/release/bin/rendezvous] [--sessions 0,1000,5000] \
      [--scrapes 20] [--rtp-sessions 20] [--rate 50] [--window-s 2] [--json FILE]

Python 3 standard library only. Sends only to 127.0.0.1. Every loop is bounded in count and
time; the relay is stopped by PID at the end (SIGTERM, then SIGKILL after 5 s). Prints figures,
asserts nothing.
"""

import argparse
import json
import multiprocessing
import os
import random
import resource
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from rdvtest import bdecode, bencode, metric  # noqa: E402
from relay_bench import free_port, proc_cpu_seconds  # noqa: E402  (same folder)

DUMMY_PORT = 9  # SDP port of a session that carries no media: the relay never sends to it


def sdp(port, session):
    return ("v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\n" % (session, port))


def sdp_port(body):
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise ValueError("no m=audio line")


class NgPipeline:
    """Pipelined NG offer+answer for many sessions over one socket. setup() returns
    {session: (port towards the caller, port towards the callee)} and a failure count."""

    def __init__(self, port, window):
        self.addr = ("127.0.0.1", port)
        self.window = window
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        # Cookies are unique over the pipeline's life: the relay answers a cookie it has seen in
        # the last ng.cookie_cache seconds from its cache, without running the command again.
        self.seq = 0

    def setup(self, sessions, media_ports, deadline_s):
        """sessions: iterable of session numbers; media_ports: {session: (caller, callee)} for the
        sessions that carry RTP (others announce DUMMY_PORT)."""
        queue = [("offer", s) for s in sessions]
        queue.reverse()  # pop() from the end: first session first
        inflight = {}  # cookie -> [kind, session, payload, sent_at, tries]
        relay_ports = {}
        offer_port = {}
        failures = {}
        deadline = time.monotonic() + deadline_s
        while (queue or inflight) and time.monotonic() < deadline:
            while queue and len(inflight) < self.window:
                kind, s = queue.pop()
                caller, callee = media_ports.get(s, (DUMMY_PORT, DUMMY_PORT))
                msg = {"call-id": "scrape-%d" % s, "from-tag": "a%d" % s, "command": kind,
                       "replace": ["origin", "session-connection"]}
                if kind == "offer":
                    msg["sdp"] = sdp(caller, s)
                else:
                    msg["to-tag"] = "b%d" % s
                    msg["sdp"] = sdp(callee, s)
                self.seq += 1
                cookie = b"%x_%d" % (os.getpid(), self.seq)
                payload = cookie + b" " + bencode(msg)
                self.sock.sendto(payload, self.addr)
                inflight[cookie] = [kind, s, payload, time.monotonic(), 1]
            readable, _, _ = select.select([self.sock], [], [], 0.05)
            for _ in range(256 if readable else 0):
                try:
                    data = self.sock.recv(65535)
                except BlockingIOError:
                    break
                cookie, _, body = data.partition(b" ")
                entry = inflight.pop(cookie, None)
                if entry is None:
                    continue  # the reply to a retransmission we already have
                kind, s = entry[0], entry[1]
                try:
                    reply = bdecode(body)
                    if reply.get("result") != b"ok":
                        raise ValueError("%s: %s %s" % (kind, reply.get("result"), reply.get("error-reason")))
                    port = sdp_port(reply["sdp"])
                except (ValueError, KeyError) as e:
                    reason = str(e)[:120]
                    failures[reason] = failures.get(reason, 0) + 1
                    continue
                if kind == "offer":
                    offer_port[s] = port  # where the callee sends
                    queue.append(("answer", s))  # answers go ahead of queued offers
                else:
                    relay_ports[s] = (port, offer_port[s])  # (caller sends to, callee sends to)
            now = time.monotonic()
            for cookie, entry in list(inflight.items()):
                if now - entry[3] > 0.5:
                    if entry[4] >= 3:
                        del inflight[cookie]
                        failures["timeout"] = failures.get("timeout", 0) + 1
                    else:
                        self.sock.sendto(entry[2], self.addr)
                        entry[3], entry[4] = now, entry[4] + 1
        if queue or inflight:
            failures["setup deadline"] = len(queue) + len(inflight)
        return relay_ports, failures

    def close(self):
        self.sock.close()


class RtpLoad(threading.Thread):
    """Sends RTP both ways through the sampled sessions at `rate` packets/s per stream until
    stop(); records (send_ns, recv_ns) of every packet received back."""

    def __init__(self, rate):
        super().__init__(daemon=True)
        self.rate = rate
        self.streams = []  # (socket, destination)
        self.sent = []  # send_ns of every packet
        self.received = []  # (send_ns, recv_ns)
        self.stop_event = threading.Event()
        self.lock = threading.Lock()

    def add(self, sock, dest):
        self.streams.append((sock, dest))

    def run(self):
        period = 1.0 / self.rate
        seq = 0
        socks = [s for s, _ in self.streams]
        next_tick = time.monotonic()
        while not self.stop_event.is_set():
            seq += 1
            for i, (s, dest) in enumerate(self.streams):
                now = time.monotonic_ns()
                pkt = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, 0x1000 + i) + struct.pack("<Q", now) + bytes(152)
                try:
                    s.sendto(pkt, dest)
                    with self.lock:
                        self.sent.append(now)
                except OSError:
                    pass
            next_tick += period
            while True:
                wait = next_tick - time.monotonic()
                if wait <= 0:
                    break
                readable, _, _ = select.select(socks, [], [], wait)
                for s in readable:
                    for _ in range(64):
                        try:
                            data = s.recv(2048)
                        except BlockingIOError:
                            break
                        rnow = time.monotonic_ns()
                        if len(data) >= 20:
                            with self.lock:
                                self.received.append((struct.unpack("<Q", data[12:20])[0], rnow))
            if time.monotonic() - next_tick > 1.0:
                next_tick = time.monotonic()  # fell far behind (machine busy): do not burst

    def stop(self):
        self.stop_event.set()
        self.join(timeout=5)

    def window(self, t0_ns, t1_ns):
        """Packets sent in [t0, t1): count sent, count received, latency p50/p99/max in ms."""
        with self.lock:
            sent = sum(1 for t in self.sent if t0_ns <= t < t1_ns)
            lat = sorted((r - s) / 1e6 for s, r in self.received if t0_ns <= s < t1_ns)
        if not lat:
            return sent, 0, None, None, None
        return (sent, len(lat), lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))], lat[-1])


def scrape(port):
    t0 = time.perf_counter()
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        body = r.read()
    return (time.perf_counter() - t0) * 1000.0, body


def scrape_series(port, min_scrapes, min_seconds):
    """Back-to-back scrapes, at least min_scrapes and for at least min_seconds (at most 100,000):
    ([ms per scrape], [bytes per scrape]). Runs in a child process so that this script's RTP
    thread does not share the interpreter lock with it."""
    times, sizes = [], []
    end = time.monotonic() + min_seconds
    for _ in range(100000):
        if len(times) >= min_scrapes and time.monotonic() >= end:
            break
        ms, body = scrape(port)
        times.append(ms)
        sizes.append(len(body))
    return times, sizes


def wait_for(what, predicate, deadline_s, proc):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("rendezvous exited (%s) while waiting for %s" % (proc.returncode, what))
        try:
            v = predicate()
            if v:
                return v
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("timed out after %ss waiting for %s" % (deadline_s, what))


def stop(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def fmt_lat(x):
    return "-" if x is None else "%.2f" % x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendezvous", default="/work/main/build/release/bin/rendezvous")
    ap.add_argument("--sessions", default="0,1000,5000", help="ascending live-session counts")
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--rtp-sessions", type=int, default=20, help="sessions that carry RTP (both ways)")
    ap.add_argument("--rate", type=int, default=50, help="RTP packets/s per stream")
    ap.add_argument("--window-s", type=float, default=2.0, help="the quiet window before the scrapes")
    ap.add_argument("--port-min", type=int, default=20000)
    ap.add_argument("--port-max", type=int, default=49999)
    ap.add_argument("--ng-window", type=int, default=64)
    ap.add_argument("--json")
    args = ap.parse_args()
    counts = sorted(int(x) for x in args.sessions.split(",") if x)

    raise_nofile()  # the child inherits it; this script holds only the RTP sample's sockets
    workdir = tempfile.mkdtemp(prefix="metrics_scrape_bench-")
    ng_port, metrics_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    argv = [args.rendezvous, "--set", "sip.listen=", "--set", "api.listen=",
            "--set", "ng.listen=127.0.0.1:%d" % ng_port, "--set", "metrics.listen=127.0.0.1:%d" % metrics_port,
            "--set", "relay.interface=127.0.0.1",
            "--set", "relay.port_min=%d" % args.port_min, "--set", "relay.port_max=%d" % args.port_max,
            # Sessions without media must outlive the run.
            "--set", "relay.timeout=3600", "--set", "relay.setup_timeout=3600", "--set", "log.level=warn"]
    log = open(os.path.join(workdir, "rendezvous.log"), "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    rtp = RtpLoad(args.rate)
    # The scraper process is forked now, before any thread of ours exists.
    scraper = multiprocessing.get_context("fork").Pool(1)
    ng = None
    sample_socks = []
    results = []
    try:
        text = wait_for("/metrics", lambda: scrape(metrics_port)[1].decode(), 15, proc)
        gauge = int(metric(text, "rdv_session_capacity") or 0)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        # The relay's own rule (relay/RelayControl.cc): a socket budget of the descriptor limit less
        # 200, 2 sockets per rtcp-mux session; 2 port pairs per session from the range.
        pairs = (args.port_max - args.port_min + 1) // 2
        capacity = min((hard - 200) // 2, pairs // 2)
        print("relay pid %d, NG 127.0.0.1:%d, metrics 127.0.0.1:%d, media %d-%d, log %s"
              % (proc.pid, ng_port, metrics_port, args.port_min, args.port_max, log.name))
        print("session capacity with rtcp-mux %d: min(descriptor hard limit %d - 200 reserved, / 2 sockets "
              "per session = %d; %d port pairs / 2 per session = %d); without mux it would be %d "
              "(rdv_session_capacity)" % (capacity, hard, (hard - 200) // 2, pairs, pairs // 2, gauge))
        if counts and counts[-1] > capacity:
            print("capping session counts at %d: %d does not fit that capacity" % (capacity, counts[-1]))
            counts = sorted({min(c, capacity) for c in counts})

        # The RTP sample: the first sessions, with real sockets on both sides.
        n_rtp = min(args.rtp_sessions, counts[-1] if counts else 0)
        media_ports = {}
        for s in range(n_rtp):
            a, b = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
            for x in (a, b):
                x.bind(("127.0.0.1", 0))
                x.setblocking(False)
            sample_socks.append((a, b))
            media_ports[s] = (a.getsockname()[1], b.getsockname()[1])

        ng = NgPipeline(ng_port, args.ng_window)
        live = 0
        all_ports = {}
        print()
        print("%8s %8s %9s %7s %8s %8s %8s %9s %10s %-24s %-24s" % (
            "sessions", "sockets", "setup/s", "scrapes", "min_ms", "med_ms", "max_ms", "bytes", "cpu_ms/scr",
            "quiet sent/recv p50/p99/max", "scraping sent/recv p50/p99/max"))
        for n in counts:
            setup_s = 0.0
            if n > live:
                t0 = time.monotonic()
                ports, failures = ng.setup(range(live, n), media_ports, deadline_s=60 + (n - live) / 200)
                setup_s = time.monotonic() - t0
                all_ports.update(ports)
                if failures:
                    print("  setup failures at %d: %s" % (n, failures))
                live = n
            if not rtp.is_alive() and n_rtp and all(s in all_ports for s in range(n_rtp)):
                for s, (a, b) in enumerate(sample_socks):
                    to_callee, to_caller = all_ports[s]
                    rtp.add(a, ("127.0.0.1", to_callee))
                    rtp.add(b, ("127.0.0.1", to_caller))
                rtp.start()
            text = scrape(metrics_port)[1].decode()
            active = metric(text, "rdv_sessions_active")
            sockets = metric(text, "rdv_sockets_open")

            q0 = time.monotonic_ns()
            time.sleep(args.window_s)  # the quiet window: nothing to poll, it is a measured interval
            q1 = time.monotonic_ns()
            cpu0 = proc_cpu_seconds(proc.pid)
            times, sizes = scraper.apply(scrape_series, (metrics_port, args.scrapes, args.window_s))
            cpu1 = proc_cpu_seconds(proc.pid)
            s1 = time.monotonic_ns()
            # The quiet and the scrape windows are compared over packets sent in each; allow the
            # last ones a bounded time to come back.
            time.sleep(0.2)
            quiet = rtp.window(q0, q1) if rtp.is_alive() else (0, 0, None, None, None)
            busy = rtp.window(q1, s1) if rtp.is_alive() else (0, 0, None, None, None)
            row = {
                "sessions": n, "sessions_active": active, "sockets_open": sockets,
                "setup_pairs_per_s": (n - (results[-1]["sessions"] if results else 0)) / setup_s if setup_s else None,
                "scrape_ms_min": min(times), "scrape_ms_median": statistics.median(times), "scrape_ms_max": max(times),
                "scrapes": len(times), "bytes": sizes[-1], "relay_cpu_ms_per_scrape": (cpu1 - cpu0) * 1000 / len(times),
                "quiet": quiet, "scraping": busy, "scrape_window_s": (s1 - q1) / 1e9,
            }
            results.append(row)
            print("%8d %8s %9s %7d %8.2f %8.2f %8.2f %9d %10.2f %-24s %-24s" % (
                active or 0, "%d" % sockets if sockets is not None else "-",
                "%.0f" % row["setup_pairs_per_s"] if row["setup_pairs_per_s"] else "-", len(times),
                row["scrape_ms_min"], row["scrape_ms_median"], row["scrape_ms_max"], row["bytes"],
                row["relay_cpu_ms_per_scrape"],
                "%d/%d %s/%s/%s" % (quiet[0], quiet[1], fmt_lat(quiet[2]), fmt_lat(quiet[3]), fmt_lat(quiet[4])),
                "%d/%d %s/%s/%s" % (busy[0], busy[1], fmt_lat(busy[2]), fmt_lat(busy[3]), fmt_lat(busy[4]))))
            sys.stdout.flush()
        print()
        print("scrape: back-to-back GETs of /metrics for >= %d scrapes and >= %.1f s per row, connect to last "
              "byte; cpu_ms/scr = relay utime+stime over them / scrapes (includes forwarding the RTP sample)."
              % (args.scrapes, args.window_s))
        print("RTP: %d sessions x 2 streams x %d pkt/s; latency = send stamp -> recv in this script (ms)."
              % (n_rtp, args.rate))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        return 0
    finally:
        if rtp.is_alive():
            rtp.stop()
        scraper.terminate()
        scraper.join()
        if ng is not None:
            ng.close()
        stop(proc)
        for a, b in sample_socks:
            a.close()
            b.close()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
