#!/usr/bin/env python3
"""Integration test: the TCP relay (POST /api/v1/tcp-relays) of a real rendezvous process.

Rendezvous runs with its TCP relay ports in a block of their own, at most 8 pairs and 3 per
named source. Peers are plain TCP sockets on loopback. Each case prints PASS / FAIL; the last
line is the verdict (exit 1 on any FAIL, or when rendezvous did not exit 0 on SIGTERM).

  bulk          a pair for two named peers (201, two ports on the relay's address); each peer
                sends 1 GiB (random data, varied chunk sizes) and FIN; one reader is deliberately
                slow (small reads with pauses); SHA-256 of what each side received equals what
                the other sent, both FINs arrive (half-close both ways), the pair ends "closed",
                GET shows 1 GiB each way, /metrics rdv_tcp_relay_bytes_total{direction} too;
                rendezvous's RSS (/proc/PID/status VmRSS, sampled every 50 ms) grows < 32 MiB
  half_close    A shuts down its sending side: B reads EOF, B -> A still flows, GET shows
                a.eof and "connected"; then B's FIN reaches A and the pair is "closed"
  reset         A resets its connection (SO_LINGER 0): B gets a reset, the pair ends "reset"
  delete        DELETE /api/v1/tcp-relays/{id} -> 200: both peers get a reset; GET -> 404,
                DELETE again -> 404
  source        a pair whose side a allows 127.0.0.2 only: a connection from 127.0.0.1 is reset
                (rdv_tcp_relay_refused_total{reason="wrong_source"} 1), one from 127.0.0.2 gets
                through; GET shows the connected addresses
  errors        400 for a body that is not an object, peers that are not two objects, a bad ip,
                idle_timeout 0 or over the maximum; 404 for an unknown id; 503 {"code":
                "per_source_limit"} for a 4th pair naming 198.18.1.10, 503 {"code": "total_limit"}
                beyond 8 pairs; both counted in rdv_tcp_relay_refused_total; GET lists them all

Usage: tcp_relay_test.py --rendezvous PATH --workdir DIR
"""

import os
import socket
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rdvtest import Relay, TestFailure, check, free_block, metric, proc_rss_kib, test_args, wait_until  # noqa: E402
from tcpstream import GIB, bulk_both_ways, expect_reset, http, reset  # noqa: E402

IO_TIMEOUT = 10.0


def create(x, body):
    status, j = http(x.api, "POST", "/api/v1/tcp-relays", body)
    check(status == 201, "POST %r -> %d %r" % (body, status, j))
    check(j["a"]["ip"] == "127.0.0.1" and j["b"]["ip"] == "127.0.0.1", "addresses %r" % j)
    for side in ("a", "b"):
        check(x.tcp_min <= j[side]["port"] <= x.tcp_max, "port outside the range: %r" % j)
    return j


def get(x, pid):
    return http(x.api, "GET", "/api/v1/tcp-relays/%s" % pid)


def connect(port, src="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(IO_TIMEOUT)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def connect_pair(x, body=None):
    j = create(x, body if body is not None else {})
    a, b = connect(j["a"]["port"]), connect(j["b"]["port"])
    a.sendall(b"x")
    check(b.recv(1) == b"x", "first byte a -> b")
    b.sendall(b"y")
    check(a.recv(1) == b"y", "first byte b -> a")
    return j, a, b


def wait_state(x, pid, state):
    wait_until("pair %s %s" % (pid, state), lambda: get(x, pid)[1].get("state") == state, IO_TIMEOUT)


def case_bulk(x):
    j, a, b = connect_pair(x, {"peers": [{"ip": "127.0.0.1"}, {"ip": "127.0.0.1"}], "idle_timeout": 600})
    base = proc_rss_kib(x.relay.proc.pid)
    growth = bulk_both_ways(a, b, GIB, x.relay.proc.pid)
    a.close()
    b.close()
    wait_state(x, j["id"], "closed")
    st = get(x, j["id"])[1]
    check(st["bytes"] == {"a_to_b": GIB + 1, "b_to_a": GIB + 1}, "bytes %r" % st["bytes"])
    m = x.relay.metrics()
    for d in ("a_to_b", "b_to_a"):
        v = metric(m, "rdv_tcp_relay_bytes_total", {"direction": d})
        check(v is not None and v >= GIB, "rdv_tcp_relay_bytes_total{direction=%s} = %r" % (d, v))
    print("  bulk: 1 GiB each way, rendezvous RSS %d KiB, peak +%d KiB" % (base, growth))
    check(growth < 32 * 1024, "RSS grew by %d KiB while relaying" % growth)


def case_half_close(x):
    j, a, b = connect_pair(x)
    a.shutdown(socket.SHUT_WR)
    check(b.recv(16) == b"", "B did not see A's FIN")
    b.sendall(b"still here")
    check(a.recv(16) == b"still here", "B -> A stopped after A's FIN")
    st = get(x, j["id"])[1]
    check(st["state"] == "connected" and st["a"]["eof"] and not st["b"]["eof"], "state %r" % st)
    b.shutdown(socket.SHUT_WR)
    check(a.recv(16) == b"", "A did not see B's FIN")
    wait_state(x, j["id"], "closed")
    a.close()
    b.close()


def case_reset(x):
    j, a, b = connect_pair(x)
    reset(a)
    expect_reset(b, "B after A's reset")
    wait_state(x, j["id"], "reset")
    b.close()


def case_delete(x):
    j, a, b = connect_pair(x)
    status, body = http(x.api, "DELETE", "/api/v1/tcp-relays/%s" % j["id"])
    check(status == 200 and body["deleted"], "DELETE -> %d %r" % (status, body))
    expect_reset(a, "A after DELETE")
    expect_reset(b, "B after DELETE")
    check(get(x, j["id"])[0] == 404, "GET after DELETE is not 404")
    check(http(x.api, "DELETE", "/api/v1/tcp-relays/%s" % j["id"])[0] == 404, "second DELETE is not 404")
    a.close()
    b.close()


def case_source(x):
    j = create(x, {"peers": [{"ip": "127.0.0.2"}, {}]})
    try:  # on loopback the relay's RST may already beat connect() back to us
        wrong = connect(j["a"]["port"], "127.0.0.1")
        expect_reset(wrong, "connection from a source the pair does not allow")
        wrong.close()
    except ConnectionResetError:
        pass
    check(metric(x.relay.metrics(), "rdv_tcp_relay_refused_total", {"reason": "wrong_source"}) == 1,
          "wrong_source not counted")
    a, b = connect(j["a"]["port"], "127.0.0.2"), connect(j["b"]["port"])
    a.sendall(b"hello")
    check(b.recv(16) == b"hello", "a -> b after the refused attempt")
    st = get(x, j["id"])[1]
    check(st["a"]["connected"].startswith("127.0.0.2:") and st["a"]["allowed"] == "127.0.0.2", "a %r" % st["a"])
    check(st["b"]["connected"].startswith("127.0.0.1:") and st["b"]["allowed"] is None, "b %r" % st["b"])
    a.close()
    b.close()
    wait_state(x, j["id"], "closed")


def case_errors(x):
    bad = [b"[1, 2]", {"peers": [{"ip": "1.2.3.4"}]}, {"peers": [{"ip": "nope"}, {}]}, {"peers": "x"},
           {"idle_timeout": 0}, {"idle_timeout": 999999}, {"idle_timeout": "600"}]
    for body in bad:
        status, j = http(x.api, "POST", "/api/v1/tcp-relays", body)
        check(status == 400 and "error" in j, "POST %r -> %d %r, expected 400" % (body, status, j))
    check(get(x, "12345")[0] == 404 and get(x, "abc")[0] == 404, "unknown id is not 404")
    wait_until("no live pairs", lambda: metric(x.relay.metrics(), "rdv_tcp_relay_pairs") == 0, IO_TIMEOUT)
    named = {"peers": [{"ip": "198.18.1.10"}, {}]}
    ids = [create(x, named)["id"] for _ in range(3)]
    status, j = http(x.api, "POST", "/api/v1/tcp-relays", named)
    check(status == 503 and j.get("code") == "per_source_limit", "4th pair for one source -> %d %r" % (status, j))
    ids += [create(x, {})["id"] for _ in range(5)]
    status, j = http(x.api, "POST", "/api/v1/tcp-relays", {})
    check(status == 503 and j.get("code") == "total_limit", "9th pair -> %d %r" % (status, j))
    m = x.relay.metrics()
    for reason in ("per_source_limit", "total_limit"):
        check(metric(m, "rdv_tcp_relay_refused_total", {"reason": reason}) == 1, "%s not counted" % reason)
    check(metric(m, "rdv_tcp_relay_pairs") == 8, "rdv_tcp_relay_pairs %r" % metric(m, "rdv_tcp_relay_pairs"))
    status, j = http(x.api, "GET", "/api/v1/tcp-relays")
    listed = {p["id"] for p in j["tcp_relays"] if p["state"] == "waiting"}
    check(status == 200 and set(ids) <= listed and j["live"] == 8, "list %r" % j)
    for pid in ids:
        check(http(x.api, "DELETE", "/api/v1/tcp-relays/%s" % pid)[0] == 200, "DELETE %s" % pid)


CASES = [case_bulk, case_half_close, case_reset, case_delete, case_source, case_errors]


class Ctx:
    pass


def main():
    args = test_args(__doc__)
    x = Ctx()
    x.tcp_min = free_block()
    x.tcp_max = x.tcp_min + 99
    try:
        x.relay = Relay(os.path.abspath(args.rendezvous), args.workdir, log_level="info",
                        extra=["--set", "tcp_relay.port_min=%d" % x.tcp_min, "--set", "tcp_relay.port_max=%d" % x.tcp_max,
                               "--set", "tcp_relay.max_pairs=8", "--set", "tcp_relay.max_pairs_per_source=3",
                               "--set", "tcp_relay.max_idle_timeout=3600"])
    except TestFailure as e:
        print("FAIL tcp_relay: setup: %s" % e)
        return 1
    x.api = x.relay.api_port
    failed = []
    for case in CASES:
        name = case.__name__[len("case_"):]
        t0 = time.monotonic()
        try:
            case(x)
            print("PASS %s (%.1f s)" % (name, time.monotonic() - t0))
        except (TestFailure, OSError, ValueError, KeyError) as e:
            failed.append(name)
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            traceback.print_exc(limit=3)
    problem = x.relay.stop()
    if problem:
        failed.append("shutdown")
        print("FAIL shutdown: %s" % problem)
    print("%s tcp_relay (%d/%d cases passed)" % ("FAIL" if failed else "PASS", len(CASES) - len(failed), len(CASES)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
