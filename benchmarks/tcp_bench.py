#!/usr/bin/env python3
"""TCP relay benchmark: one bulk transfer through Rendezvous's TCP relay beside direct TCP and
socat, and as many concurrent idle pairs as the descriptor limit allows.

Bulk: a sender process pushes --gib GiB with sendfile(2) from a tmpfs file, a receiver process
drains it with splice(2) into /dev/null (so the peers cost little CPU and the relay is the
bottleneck); throughput is measured by the receiver from its first byte to EOF. Three paths in
the same run: direct (receiver listens, sender connects), socat (`socat TCP-LISTEN:A
TCP-LISTEN:B`, both peers connect out to it, as to the relay) and Rendezvous (an API pair, each
peer connects to its own port). CPU-s/GiB is the relay process's utime+stime (/proc/PID/stat)
over the transfer divided by the GiB moved. Each path runs --runs times; the best Gbit/s and the
CPU of that run are printed.

Idle pairs: a Rendezvous with its descriptor limit (RLIMIT_NOFILE hard) gets as many pairs as fit
(each connected pair holds 2 descriptors, an idle one no pipe), created over the API on one
keep-alive connection; client processes (each under its own descriptor limit) connect both ends
of every pair and send one byte each way through a sample of them. Memory per pair is the
server's VmRSS growth / pairs; the kernel's Slab growth per pair (/proc/meminfo) is printed
beside it.

Sends only to 127.0.0.1. Every wait is bounded; the server and clients are stopped by PID.

Usage: tcp_bench.py --rendezvous PATH [--gib 4] [--runs 2] [--pairs N] [--no-idle] [--no-bulk]
"""

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)
sys.path.insert(0, os.path.dirname(HERE))
import relay_bench  # noqa: E402  (also puts tests/integration on sys.path)
from rdvtest import proc_cpu_seconds, proc_rss_kib, stop_process  # noqa: E402


def slab_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1])
    return 0


def tcp_port():
    return relay_bench.free_port(socket.SOCK_STREAM)


def tcp_listening(port):
    """True when a socket listens on 127.0.0.1:`port` (/proc/net/tcp state 0A)."""
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return any(r[1] == "0100007F:%04X" % port and r[3] == "0A" for r in rows)


def wait_for(what, pred, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


# ---------------------------------------------------------------- peer roles (subprocesses)

def role_send(port, total):
    """Connects to `port`, sendfile()s `total` bytes from a 64 MiB tmpfs file, then FIN."""
    with tempfile.TemporaryFile(dir="/dev/shm") as f:
        f.write(os.urandom(64 << 20))
        f.flush()
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.settimeout(None)  # blocking: sendfile() must not see EAGAIN
        sent = 0
        while sent < total:
            n = os.sendfile(s.fileno(), f.fileno(), sent % (64 << 20), min(total - sent, (64 << 20) - sent % (64 << 20)))
            if n <= 0:
                break
            sent += n
        s.shutdown(socket.SHUT_WR)
        s.close()  # nothing comes back, so the queued bytes still go out after close


def role_recv(port, listen):
    """Connects to (or, with `listen`, accepts on) `port` and splices everything to /dev/null;
    prints bytes and seconds from the first byte to EOF."""
    if listen:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", port))
        ls.listen(1)
        print("listening", flush=True)
        ls.settimeout(60)
        s, _ = ls.accept()
    else:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        print("connected", flush=True)
    s.settimeout(None)
    null = os.open("/dev/null", os.O_WRONLY)
    r, w = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ
    except OSError:
        pass
    got, first = 0, None
    while True:
        n = os.splice(s.fileno(), w, 1 << 20)
        if n == 0:
            break
        if first is None:
            first = time.monotonic()
        got += n
        while n > 0:
            n -= os.splice(r, null, n)
    print("%d %.6f" % (got, time.monotonic() - (first or time.monotonic())), flush=True)
    s.close()


def role_idle(ports_csv, sample):
    """Connects to every port listed (pairs: a, b, a, b, ...), sends one byte each way through
    the first `sample` pairs, prints "ready", then holds everything until stdin closes."""
    ports = [int(p) for p in open(ports_csv).read().split()]
    socks = []
    for p in ports:
        s = socket.socket()
        s.settimeout(30)
        s.connect(("127.0.0.1", p))
        socks.append(s)
    for i in range(0, min(len(socks), 2 * sample), 2):
        socks[i].sendall(b"x")
        assert socks[i + 1].recv(1) == b"x"
        socks[i + 1].sendall(b"y")
        assert socks[i].recv(1) == b"y"
    print("ready", flush=True)
    sys.stdin.read()


# ---------------------------------------------------------------- driver

class Server:
    def __init__(self, binary, extra):
        self.api = tcp_port()
        self.dir = tempfile.mkdtemp(prefix="tcp_bench-")
        self.log = open(os.path.join(self.dir, "rendezvous.log"), "wb")
        argv = [binary, "--set", "ng.listen=127.0.0.1:%d" % tcp_port(), "--set", "metrics.listen=",
                "--set", "sip.listen=", "--set", "api.listen=127.0.0.1:%d" % self.api, "--set", "log.level=warn",
                "--set", "tcp_relay.max_pairs_per_source=0"] + extra
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.conn = None
        wait_for("rendezvous API", lambda: self.request("GET", "/health")[0] == 200, 10)

    def request(self, method, path, body=None):
        """One request on the keep-alive connection; reconnects once when the server closed it."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.api, timeout=10)
            try:
                self.conn.request(method, path, body=None if body is None else json.dumps(body),
                                  headers={"Content-Type": "application/json"})
                r = self.conn.getresponse()
                return r.status, json.loads(r.read())
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt == 1:
                    raise

    def pair(self):
        status, j = self.request("POST", "/api/v1/tcp-relays", {})
        if status != 201:
            raise RuntimeError("POST tcp-relays -> %d %r" % (status, j))
        return j

    def stop(self):
        stop_process(self.proc, grace=10)
        self.log.close()


def bulk_once(total, recv_port, send_port, listen, order_send_first, cpu_pid):
    """One transfer; returns (Gbit/s, cpu seconds of cpu_pid or None)."""
    py = sys.executable
    send_argv = [py, HERE, "--role", "send", "--port", str(send_port), "--bytes", str(total)]
    recv_argv = [py, HERE, "--role", "recv", "--port", str(recv_port)] + (["--listen"] if listen else [])
    recv = send = None
    try:
        c0 = proc_cpu_seconds(cpu_pid) if cpu_pid else None
        if order_send_first:  # socat opens its first address before it listens on the second
            send = subprocess.Popen(send_argv)
            wait_for("the second port listening (the sender connected)", lambda: tcp_listening(recv_port), 60)
        recv = subprocess.Popen(recv_argv, stdout=subprocess.PIPE, text=True)
        recv.stdout.readline()  # listening / connected
        if send is None:
            send = subprocess.Popen(send_argv)
        out, _ = recv.communicate(timeout=120)
        c1 = proc_cpu_seconds(cpu_pid) if cpu_pid else None
        send.wait(30)
        got, secs = out.split()[-2:]
        got, secs = int(got), float(secs)
        if got != total:
            raise RuntimeError("received %d of %d bytes" % (got, total))
        return got * 8 / secs / 1e9, (c1 - c0) if cpu_pid else None
    finally:
        for p in (recv, send):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def bench_bulk(args):
    total = int(args.gib * (1 << 30))
    rows = []
    best = lambda runs: max(runs, key=lambda r: r[0])  # noqa: E731
    rows.append(("direct TCP", best([bulk_once(total, p, p, True, False, None)
                                     for p in [tcp_port() for _ in range(args.runs)]])))
    runs = []
    for _ in range(args.runs):
        pa, pb = tcp_port(), tcp_port()
        socat = subprocess.Popen(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr" % pa,
                                  "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr" % pb], stdin=subprocess.DEVNULL)
        try:
            wait_for("socat listening", lambda: tcp_listening(pa), 10)
            runs.append(bulk_once(total, pb, pa, False, True, socat.pid))
        finally:
            stop_process(socat, grace=10)
    rows.append(("socat (default 8 KiB buffer)", best(runs)))
    for pipe in args.pipe_sizes:
        srv = Server(args.rendezvous, ["--set", "tcp_relay.pipe_size=%d" % pipe] +
                     [a for kv in args.set for a in ("--set", kv)])
        try:
            runs = []
            for _ in range(args.runs):
                j = srv.pair()
                runs.append(bulk_once(total, j["b"]["port"], j["a"]["port"], False, False, srv.proc.pid))
            rows.append(("rendezvous tcp relay, %d KiB pipe" % (pipe // 1024), best(runs)))
        finally:
            srv.stop()
    print("\nBulk transfer, %.1f GiB one way on loopback (best of %d)" % (args.gib, args.runs))
    print("%-36s %10s %14s" % ("path", "Gbit/s", "CPU-s/GiB"))
    for name, (gbps, cpu) in rows:
        print("%-36s %10.2f %14s" % (name, gbps, "-" if cpu is None else "%.3f" % (cpu / args.gib)))


def create_pairs(api, n, threads=4):
    """Creates n pairs from `threads` threads, a new connection per request (a keep-alive
    connection meets delayed ACKs: ~25 ms a request); returns [a, b, a, b, ...] ports."""
    import threading
    out = [None] * n
    errors = []

    def work(k):
        for i in range(k, n, threads):
            try:
                c = http.client.HTTPConnection("127.0.0.1", api, timeout=10)
                c.request("POST", "/api/v1/tcp-relays", body="{}", headers={"Content-Type": "application/json"})
                r = c.getresponse()
                j = json.loads(r.read())
                c.close()
                if r.status != 201:
                    raise RuntimeError("POST -> %d %r" % (r.status, j))
                out[i] = (j["a"]["port"], j["b"]["port"])
            except (OSError, RuntimeError, http.client.HTTPException) as e:
                errors.append(e)
                return
    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("creating pairs: %r" % errors[0])
    return [p for ab in out for p in ab]


def bench_idle(args):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    srv = Server(args.rendezvous, ["--set", "tcp_relay.max_pairs=1000000", "--set", "tcp_relay.setup_timeout=600",
                                   "--set", "tcp_relay.port_min=10000", "--set", "tcp_relay.port_max=29999"])
    clients = []
    try:
        base_fds = len(os.listdir("/proc/%d/fd" % srv.proc.pid))
        # 2 descriptors per pair; kept free: one for accept() before it closes the listener, the
        # API's connections, and the pipes of directions with bytes in flight (2 each).
        reserve = 64
        fit = (hard - base_fds - reserve) // 2
        pairs = min(args.pairs or fit, fit)
        rss0, slab0 = proc_rss_kib(srv.proc.pid), slab_kib()
        t0 = time.monotonic()
        ports = create_pairs(srv.api, pairs)
        t_create = time.monotonic() - t0
        per_client = 2500  # pairs per client process: 5,000 descriptors each
        tmp = tempfile.mkdtemp(prefix="tcp_bench-idle-")
        for i in range(0, pairs, per_client):
            path = os.path.join(tmp, "ports-%d" % i)
            with open(path, "w") as f:
                f.write(" ".join(map(str, ports[2 * i:2 * min(pairs, i + per_client)])))
            clients.append(subprocess.Popen([sys.executable, HERE, "--role", "idle", "--ports", path, "--sample", "20"],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        print("  %d pairs created in %.1f s; %d client processes connecting" % (pairs, t_create, len(clients)), flush=True)
        for c in clients:
            if c.stdout.readline().strip() != "ready":
                raise RuntimeError("an idle client failed (server descriptors %d)"
                                   % len(os.listdir("/proc/%d/fd" % srv.proc.pid)))
        t_all = time.monotonic() - t0
        wait_for("all pairs connected", lambda: srv.request("GET", "/api/v1/tcp-relays")[1]["live"] == pairs and
                 sum(1 for p in srv.request("GET", "/api/v1/tcp-relays")[1]["tcp_relays"]
                     if p["state"] == "connected") == pairs, 60)
        fds = len(os.listdir("/proc/%d/fd" % srv.proc.pid))
        rss1, slab1 = proc_rss_kib(srv.proc.pid), slab_kib()
        print("\nIdle pairs: descriptor limit %d, %d open before, %d kept free: %d pairs fit (2 descriptors each)"
              % (hard, base_fds, reserve, fit))
        print("  %d pairs created over the API in %.1f s, all connected after %.1f s; server descriptors %d"
              % (pairs, t_create, t_all, fds))
        print("  server RSS %d -> %d KiB: %.2f KiB per pair (target <= 16)" % (rss0, rss1, (rss1 - rss0) / pairs))
        print("  kernel Slab %d -> %d KiB: %.2f KiB per pair (both sockets of the relay and of the clients)"
              % (slab0, slab1, (slab1 - slab0) / pairs))
    finally:
        for c in clients:
            try:
                c.stdin.close()
            except OSError:
                pass
            try:
                c.wait(20)
            except subprocess.TimeoutExpired:
                c.kill()
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendezvous")
    ap.add_argument("--gib", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--pipe-sizes", default="262144", help="tcp_relay.pipe_size values to run, comma-separated")
    ap.add_argument("--pairs", type=int, default=0, help="idle pairs (default: as many as the descriptor limit allows)")
    ap.add_argument("--no-idle", action="store_true")
    ap.add_argument("--no-bulk", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra Rendezvous setting, e.g. relay.host_tcp_and_turn=0 (repeatable)")
    ap.add_argument("--role", choices=["send", "recv", "idle"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--bytes", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--listen", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ports", help=argparse.SUPPRESS)
    ap.add_argument("--sample", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "send":
        return role_send(args.port, args.bytes)
    if args.role == "recv":
        return role_recv(args.port, args.listen)
    if args.role == "idle":
        return role_idle(args.ports, args.sample)
    if not args.rendezvous:
        ap.error("--rendezvous is required")
    args.rendezvous = os.path.abspath(args.rendezvous)
    args.pipe_sizes = [int(x) for x in args.pipe_sizes.split(",")]
    if not args.no_bulk:
        bench_bulk(args)
    if not args.no_idle:
        bench_idle(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
