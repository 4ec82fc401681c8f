#!/usr/bin/env python3
"""Integration test (bad input): 10,000 TCP connections that never complete their purpose, against
a real rendezvous process's TCP relay and TURN TCP listener, while one legitimate TURN allocation
(over a TCP control connection, UDP relayed) and one TCP relay pair keep working.

Rendezvous runs with short timeouts and small limits: tcp_relay.max_pairs 301,
max_pairs_per_source 100 (so 200 live connections per IP), setup timeout 12 s, flood pairs ask
for a 12 s idle timeout; turn.tcp_max_connections 4000, tcp_max_per_source 1500,
tcp_idle_timeout 12 s. Client sources are 127.0.x.y addresses (bound before connect), so the
per-source and the total limits are both reached.

  legit        a TURN allocation over TCP from 127.0.0.1 relays a Send indication to a UDP peer
               and its answer back as a Data indication; an API pair carries bytes both ways
  relay flood  300 more pairs (the 302nd POST gets 503 total_limit); 300 connections from
               127.0.2.1 to their side a: 200 accepted, 100 reset (source_connection_limit 100 on
               /metrics); those 100 from 127.0.2.2 are accepted; 150 side-b connections from
               127.0.2.3, half of them half-closed by the client (the FIN reaches side a)
  turn flood   1000 connections half-closed at once (each closed by the server); 2000 silent
               from one IP (1500 kept, 500 reset: tcp_source_limit 500); 1500 that send half a
               STUN header; 1500 silent (999 kept: the total is 4000 with the legit one, 501
               reset: tcp_connection_limit); 3450 more from three IPs, all reset
               (tcp_connection_limit 3951) -- 10,000 connections in all
  bounded      rendezvous's descriptors stay under its baseline + 600 + 4000 + 64, client + server
               descriptors under the 20,000 limit, RSS growth < 48 MiB; the legit allocation and
               pair still work at the peak, and a STUN Binding over UDP is answered
  reaped       the timeouts close every flood connection (tcp_idle 3999, setup_timeout 150,
               idle_timeout 150 on /metrics), rdv_turn_tcp_clients and rdv_tcp_relay_pairs are
               back to the legit ones, rendezvous's descriptors back to the baseline; the legit
               allocation and pair still work

The soft RLIMIT_NOFILE of this process (and so of rendezvous) is raised to the hard limit. Each
case prints PASS / FAIL; the last line is the verdict (exit 1 on any FAIL, or when rendezvous did
not exit 0 on SIGTERM).
Usage: tcp_halfopen_test.py --rendezvous PATH --workdir DIR
"""

import errno
import os
import resource
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rdvtest import Relay, TestFailure, check, free_block, metric, proc_rss_kib, run_cases, test_args, wait_until  # noqa: E402
from tcpstream import RssPeak, fd_count, free_blocks, http  # noqa: E402
import turnclient  # noqa: E402

USER, PASSWORD = "alice", "wonderland"
PAIRS = 300              # flood pairs (plus the legit one)
PAIR_SOURCE_LIMIT = 100  # tcp_relay.max_pairs_per_source: 200 live connections per IP
TURN_TOTAL, TURN_PER_SOURCE = 4000, 1500
TIMEOUT_S = 12           # TURN idle, relay setup and flood pairs' idle timeouts
BATCH = 250              # connections opened before waiting for the server (listen backlog 512)
IO_TIMEOUT = 10.0


class Conns:
    """Client connections opened without blocking, BATCH at a time, each bound to a source address
    first; their fate is read with recv(MSG_DONTWAIT): open, eof or reset."""

    def __init__(self):
        self.socks = []
        self.ended = {}  # socket -> "eof" / "reset": a reset is reported by one recv only

    def open(self, source, port, count, after=None, settle=None):
        """`count` connections from `source` to 127.0.0.1:`port` (an int, or a list of ports, one
        each); `after(sock)` runs on each once connected; `settle(done)` is awaited after every
        batch with the number opened so far. Returns the new sockets."""
        ports = port if isinstance(port, list) else [port] * count
        new = []
        for at in range(0, count, BATCH):
            batch = []
            ep = select.epoll()
            try:
                for p in ports[at:at + BATCH]:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    s.bind((source, 0))
                    err = s.connect_ex(("127.0.0.1", p))
                    check(err in (0, errno.EINPROGRESS), "connect from %s to %d: %s" % (source, p, os.strerror(err)))
                    batch.append(s)
                    ep.register(s.fileno(), select.EPOLLOUT)
                pending = {s.fileno(): s for s in batch}
                deadline = time.monotonic() + IO_TIMEOUT
                while pending and time.monotonic() < deadline:
                    for fd, _ in ep.poll(0.5):
                        if fd in pending:
                            ep.unregister(fd)
                            del pending[fd]
                check(not pending, "%d connections from %s did not complete in %.0f s" % (len(pending), source, IO_TIMEOUT))
            finally:
                ep.close()
            for s in batch:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err == errno.ECONNRESET:  # accepted and refused before we looked
                    self.ended[s] = "reset"
                    continue
                check(err == 0, "connect from %s: %s" % (source, os.strerror(err)))
                try:
                    if after:
                        after(s)
                except (ConnectionResetError, BrokenPipeError):  # refused meanwhile
                    self.ended[s] = "reset"
            new += batch
            self.socks += batch
            if settle:
                settle(at + len(batch))
        return new

    def fate(self, s):
        if s in self.ended:
            return self.ended[s]
        try:
            data = s.recv(64, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return "open"
        except ConnectionResetError:
            self.ended[s] = "reset"
            return "reset"
        if data:
            raise TestFailure("a server sent %r to a connection that never asked for anything" % data)
        self.ended[s] = "eof"
        return "eof"

    def fates(self, socks):
        out = {"open": 0, "eof": 0, "reset": 0}
        for s in socks:
            out[self.fate(s)] += 1
        return out

    def close(self, socks):
        gone = set(socks)
        for s in gone:
            s.close()
            self.ended.pop(s, None)
        self.socks = [s for s in self.socks if s not in gone]


def partial_stun(s):
    s.send(b"\x00\x01\x00\x08\x21\x12\xa4\x42\x01\x02")  # 10 of a Binding request's 28 bytes


def half_close(s):
    s.shutdown(socket.SHUT_WR)


class Ctx:
    pass


def turn_counts(x):
    m = x.relay.metrics()
    r = lambda reason: metric(m, "rdv_turn_refused_total", {"reason": reason}) or 0  # noqa: E731
    return {"clients": metric(m, "rdv_turn_tcp_clients") or 0, "source": r("tcp_source_limit"),
            "total": r("tcp_connection_limit"), "idle": r("tcp_idle")}


def legit_works(x, what):
    turnclient.round_trip(x.turn, x.peer, os.urandom(600))
    x.turn.refresh()
    for src, dst in ((x.pair_a, x.pair_b), (x.pair_b, x.pair_a)):
        payload = os.urandom(4096)
        src.sendall(payload)
        got = b""
        while len(got) < len(payload):
            part = dst.recv(len(payload) - len(got))
            check(part, "%s: the legit pair closed" % what)
            got += part
        check(got == payload, "%s: the legit pair corrupted bytes" % what)


def binding_ok(port):
    req = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(req, ("127.0.0.1", port))
        data = s.recv(2048)
    return data[:2] == b"\x01\x01" and data[8:20] == req[8:20]


def case_legit(x):
    x.turn = turnclient.TurnTcpClient(x.turn_port, USER, PASSWORD)
    x.turn.allocate()
    x.peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    x.peer.bind(("127.0.0.1", 0))
    x.turn.permit("127.0.0.1")
    status, j = http(x.relay.api_port, "POST", "/api/v1/tcp-relays", {"idle_timeout": 600})
    check(status == 201, "legit pair: %d %r" % (status, j))
    x.pair_a = socket.create_connection(("127.0.0.1", j["a"]["port"]), timeout=IO_TIMEOUT)
    x.pair_b = socket.create_connection(("127.0.0.1", j["b"]["port"]), timeout=IO_TIMEOUT)
    legit_works(x, "before the flood")
    x.base_fds = fd_count(x.relay.proc.pid)
    x.base_rss = proc_rss_kib(x.relay.proc.pid)
    x.rss = RssPeak(x.relay.proc.pid).start()
    return "TURN allocation %s:%d relays both ways, pair %s carries bytes; rendezvous %d fds, %d KiB" % (
        x.turn.relayed + (j["id"], x.base_fds, x.base_rss))


def case_relay_flood(x):
    api = x.relay.api_port
    ports = []
    for _ in range(PAIRS):
        status, j = http(api, "POST", "/api/v1/tcp-relays", {"idle_timeout": TIMEOUT_S})
        check(status == 201, "flood pair: %d %r" % (status, j))
        ports.append((j["a"]["port"], j["b"]["port"]))
    status, j = http(api, "POST", "/api/v1/tcp-relays", {})
    check(status == 503 and j.get("code") == "total_limit", "pair %d -> %d %r" % (PAIRS + 2, status, j))
    refused = lambda: metric(x.relay.metrics(), "rdv_tcp_relay_refused_total", {"reason": "source_connection_limit"}) or 0  # noqa: E731
    first = x.conns.open("127.0.2.1", [a for a, _ in ports], PAIRS)
    wait_until("100 per-source refusals", lambda: refused() >= PAIRS - 2 * PAIR_SOURCE_LIMIT, IO_TIMEOUT)
    wait_until("the refused connections reset", lambda: x.conns.fates(first)["reset"] == PAIRS - 2 * PAIR_SOURCE_LIMIT,
               IO_TIMEOUT)
    fates = x.conns.fates(first)
    check(fates == {"open": 2 * PAIR_SOURCE_LIMIT, "eof": 0, "reset": PAIRS - 2 * PAIR_SOURCE_LIMIT}, "side a: %r" % fates)
    again = [ports[i][0] for i, s in enumerate(first) if x.conns.fate(s) == "reset"]
    kept = [s for s in first if x.conns.fate(s) == "open"]
    x.conns.close([s for s in first if x.conns.fate(s) == "reset"])
    second = x.conns.open("127.0.2.2", again, len(again))
    side_b = x.conns.open("127.0.2.3", [b for _, b in ports[:PAIRS // 4]], PAIRS // 4, after=half_close)
    side_b += x.conns.open("127.0.2.3", [b for _, b in ports[PAIRS // 4:PAIRS // 2]], PAIRS // 4)
    x.relay_socks = kept + second + side_b
    connected = lambda: sum(1 for p in http(api, "GET", "/api/v1/tcp-relays")[1]["tcp_relays"]  # noqa: E731
                            if p["state"] == "connected")
    wait_until("%d pairs connected" % (PAIRS // 2 + 1), lambda: connected() == PAIRS // 2 + 1, IO_TIMEOUT)
    check(refused() == PAIRS - 2 * PAIR_SOURCE_LIMIT, "source_connection_limit counted %r" % refused())
    check(x.conns.fates(second + side_b)["reset"] == 0, "a connection within the limits was reset")
    return "%d pairs + 1 refused (total_limit), %d connections held, %d reset at the per-source limit" % (
        PAIRS, len(x.relay_socks), PAIRS - 2 * PAIR_SOURCE_LIMIT)


def turn_phase(x, source, count, after=None):
    """Opens `count` connections to TURN from `source`, waiting after each batch until the server
    has taken every one (kept, or reset and counted)."""
    before = turn_counts(x)
    handled = lambda c: c["clients"] + c["source"] + c["total"] + c["idle"]  # noqa: E731

    def settle(done):
        wait_until("TURN took %d connections from %s" % (done, source),
                   lambda: handled(turn_counts(x)) >= handled(before) + done, IO_TIMEOUT)
    socks = x.conns.open(source, x.turn_port, count, after=after, settle=settle)
    after_c = turn_counts(x)
    refused = after_c["source"] + after_c["total"] - before["source"] - before["total"]
    wait_until("%d resets seen from %s" % (refused, source), lambda: x.conns.fates(socks)["reset"] >= refused, IO_TIMEOUT)
    resets = [s for s in socks if x.conns.fate(s) == "reset"]
    x.conns.close(resets)
    x.turn_socks += [s for s in socks if s not in resets]
    x.peak_client_fds = max(x.peak_client_fds, fd_count())
    x.peak_server_fds = max(x.peak_server_fds, fd_count(x.relay.proc.pid))
    return before, after_c, len(resets)


def case_turn_flood(x):
    x.turn_socks = []
    base = turn_counts(x)
    check(base["clients"] == 1, "TURN clients before the flood: %r" % base)
    # Half-closed by the client: the server sees EOF and closes each.
    socks = x.conns.open("127.0.1.1", x.turn_port, 1000, after=half_close)
    wait_until("1000 half-closed connections closed by TURN", lambda: x.conns.fates(socks)["eof"] == 1000, IO_TIMEOUT)
    x.conns.close(socks)
    wait_until("TURN clients back to 1", lambda: turn_counts(x)["clients"] == 1, IO_TIMEOUT)
    _, c, n = turn_phase(x, "127.0.1.2", 2000)
    check(n == 2000 - TURN_PER_SOURCE and c["source"] - base["source"] == n, "per-source refusals %d, %r" % (n, c))
    _, c, n = turn_phase(x, "127.0.1.3", 1500, after=partial_stun)
    check(n == 0 and c["clients"] == 3001, "1500 half-sent STUN headers: %d reset, %r" % (n, c))
    _, c, n = turn_phase(x, "127.0.1.4", 1500)
    check(n == 501 and c["total"] - base["total"] == 501 and c["clients"] == TURN_TOTAL, "total limit: %d, %r" % (n, c))
    for src, count in (("127.0.1.5", 1150), ("127.0.1.6", 1150), ("127.0.1.7", 1150)):
        _, c, n = turn_phase(x, src, count, after=partial_stun if src.endswith("6") else None)
        check(n == count, "%s: %d of %d reset" % (src, n, count))
    c = turn_counts(x)
    check(c["source"] - base["source"] == 500 and c["total"] - base["total"] == 501 + 3450 and c["idle"] == base["idle"],
          "refusals %r (base %r)" % (c, base))
    check(x.conns.fates(x.turn_socks) == {"open": TURN_TOTAL - 1, "eof": 0, "reset": 0},
          "kept TURN connections: %r" % x.conns.fates(x.turn_socks))
    total = 1000 + 2000 + 1500 + 1500 + 3450 + PAIRS + (PAIRS - 2 * PAIR_SOURCE_LIMIT) + PAIRS // 2
    check(total == 10000, "the flood made %d connections" % total)
    return "10,000 connections (relay and TURN); TURN keeps %d, reset %d at the per-source and %d at the total limit" % (
        c["clients"] - 1, c["source"] - base["source"], c["total"] - base["total"])


def case_bounded(x):
    legit_works(x, "at the peak")
    check(binding_ok(x.turn_port), "STUN Binding over UDP not answered at the peak")
    server = fd_count(x.relay.proc.pid)
    x.peak_server_fds = max(x.peak_server_fds, server)
    x.peak_client_fds = max(x.peak_client_fds, fd_count())
    growth = max(x.rss.peak, proc_rss_kib(x.relay.proc.pid)) - x.base_rss
    check(x.peak_server_fds <= x.base_fds + 2 * PAIRS + TURN_TOTAL + 64,
          "rendezvous holds %d descriptors (baseline %d)" % (x.peak_server_fds, x.base_fds))
    check(x.peak_server_fds + x.peak_client_fds < 20000, "client %d + server %d descriptors" % (x.peak_client_fds, x.peak_server_fds))
    check(growth < 48 * 1024, "rendezvous RSS grew by %d KiB" % growth)
    return "peak descriptors: rendezvous %d (baseline %d), test %d; RSS +%d KiB" % (
        x.peak_server_fds, x.base_fds, x.peak_client_fds, growth)


def case_reaped(x):
    m = lambda: x.relay.metrics()  # noqa: E731
    deadline = TIMEOUT_S + 10
    wait_until("TURN flood connections reaped", lambda: turn_counts(x)["clients"] == 1, deadline)
    wait_until("flood pairs reaped", lambda: metric(m(), "rdv_tcp_relay_pairs") == 1, deadline)
    text = m()
    ended = lambda r: metric(text, "rdv_tcp_relay_pairs_ended_total", {"reason": r}) or 0  # noqa: E731
    check(ended("setup_timeout") == PAIRS // 2 and ended("idle_timeout") == PAIRS // 2,
          "pairs ended: setup_timeout %r, idle_timeout %r" % (ended("setup_timeout"), ended("idle_timeout")))
    check(turn_counts(x)["idle"] == TURN_TOTAL - 1, "tcp_idle %r" % turn_counts(x))
    wait_until("every flood connection closed",
               lambda: x.conns.fates(x.turn_socks + x.relay_socks)["open"] == 0, IO_TIMEOUT)
    x.conns.close(list(x.conns.socks))
    wait_until("rendezvous back to %d descriptors" % x.base_fds,
               lambda: fd_count(x.relay.proc.pid) <= x.base_fds, IO_TIMEOUT)
    legit_works(x, "after the flood")
    growth = x.rss.stop()
    return "all reaped; rendezvous %d descriptors (baseline %d), RSS now %d KiB (peak +%d KiB)" % (
        fd_count(x.relay.proc.pid), x.base_fds, proc_rss_kib(x.relay.proc.pid), growth)


def main():
    args = test_args(__doc__)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    x = Ctx()
    x.conns = Conns()
    x.peak_client_fds = x.peak_server_fds = 0
    tcp_min = free_blocks((2 * (PAIRS + 1) + 99) // 100)
    turn_block, turn_ports = free_block(), free_block()
    x.turn_port = turn_block + 4
    try:
        x.relay = Relay(os.path.abspath(args.rendezvous), args.workdir, log_level="info", extra=[
            "--set", "tcp_relay.port_min=%d" % tcp_min, "--set", "tcp_relay.port_max=%d" % (tcp_min + 2 * (PAIRS + 1) - 1),
            "--set", "tcp_relay.max_pairs=%d" % (PAIRS + 1), "--set", "tcp_relay.max_pairs_per_source=%d" % PAIR_SOURCE_LIMIT,
            "--set", "tcp_relay.setup_timeout=%d" % TIMEOUT_S,
            "--set", "turn.listen=127.0.0.1:%d" % x.turn_port, "--set", "turn.relay_address=127.0.0.1",
            "--set", "turn.port_min=%d" % turn_ports, "--set", "turn.port_max=%d" % (turn_ports + 99),
            "--set", "turn.users.%s=%s" % (USER, PASSWORD), "--set", "turn.allow_peers=127.0.0.0/8",
            "--set", "turn.tls_listen=", "--set", "turn.tcp_max_connections=%d" % TURN_TOTAL,
            "--set", "turn.tcp_max_per_source=%d" % TURN_PER_SOURCE, "--set", "turn.tcp_idle_timeout=%d" % TIMEOUT_S])
    except TestFailure as e:
        print("FAIL start: %s" % e)
        return 1
    print("RLIMIT_NOFILE %d -> %d" % (soft, hard))
    def guarded(case):
        def run():
            try:
                return case(x)
            except (OSError, AttributeError, KeyError, ValueError) as e:  # a broken earlier case, or I/O
                raise TestFailure("%s: %s" % (type(e).__name__, e)) from e
        return run
    cases = [(c.__name__[5:], guarded(c)) for c in (case_legit, case_relay_flood, case_turn_flood, case_bounded, case_reaped)]
    try:
        return run_cases("tcp_halfopen", x.relay, cases)
    finally:
        x.conns.close(list(x.conns.socks))


if __name__ == "__main__":
    sys.exit(main())
