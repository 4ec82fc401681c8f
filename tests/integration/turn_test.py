#!/usr/bin/env python3
"""Integration test: coturn's own client (turnutils_uclient, Debian coturn) against Rendezvous's
UDP TURN server, with turnutils_peer as the peer on loopback.

Cases, each asserting on uclient's own figures (messages sent/received, lost packets) and on
Rendezvous's /metrics:
  1. long-term credentials, ChannelData (uclient's default): every message comes back, 0 lost;
  2. the same with Send/Data indications (-s);
  3. time-limited shared-secret credentials (-W secret);
  3b. TURN over TCP to the server (-t), with ChannelData and with Send/Data indications; closed
      connections leave no allocation behind;
  4. junk datagrams and a junk TCP stream: dropped/closed and counted, Binding still answered;
     a wrong password: the Allocate fails (401), nothing is relayed;
  5. a peer in 10.0.0.0/8 (not allow-listed): 403;
  6. a server with the default peer policy: 127.0.0.1 is refused with 403, nothing is relayed.
The peer on 127.0.0.1 is reachable in cases 1-5 only because the test's config allow-lists it
(turn.allow_peers). Processes are stopped by PID.
Usage: turn_test.py --rendezvous PATH --workdir DIR
"""

import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rdvtest import (Procs, Relay, TestFailure, check, free_block, metric, tail, test_args,  # noqa: E402
                     udp_port_free, wait_until)

USER, PASSWORD, SECRET = "alice", "wonderland", "north-secret"
MESSAGES, CLIENTS = 40, 2


def uclient(workdir, name, turn_port, peer_port, *args):
    """Runs turnutils_uclient to the end (bounded); returns its output."""
    argv = ["turnutils_uclient", "-p", str(turn_port), "-e", "127.0.0.1", "-r", str(peer_port),
            "-n", str(MESSAGES), "-m", str(CLIENTS), "-l", "120", "-z", "5"] + list(args) + ["127.0.0.1"]
    with open(os.path.join(workdir, name + ".cmd"), "w") as f:
        f.write(" ".join(argv) + "\n")
    try:
        out = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=60).stdout.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        raise TestFailure("%s: turnutils_uclient did not finish in 60 s" % name) from e
    with open(os.path.join(workdir, name + ".log"), "w") as f:
        f.write(out)
    return out


def figures(out):
    """(sent, received, lost) from uclient's summary lines; None when it never got that far."""
    totals = re.findall(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", out)
    lost = re.findall(r"Total lost packets (\d+)", out)
    if not totals or not lost:
        return None
    return int(totals[-1][0]), int(totals[-1][1]), int(lost[-1])


def relayed(relay):
    text = relay.metrics()
    return tuple(metric(text, "rdv_turn_relayed_packets_total", {"direction": d}) or 0 for d in ("to_peer", "to_client"))


def refused(relay, reason):
    return metric(relay.metrics(), "rdv_turn_refused_total", {"reason": reason}) or 0


def expect_full_exchange(relay, workdir, name, turn_port, peer_port, *args):
    before = relayed(relay)
    out = uclient(workdir, name, turn_port, peer_port, *args)
    got = figures(out)
    check(got is not None, "%s: uclient printed no totals:\n%s" % (name, out[-2000:]))
    sent, received, lost = got
    want = MESSAGES * CLIENTS
    check(sent == want and received == want and lost == 0,
          "%s: uclient sent %d, received %d, lost %d (want %d/%d/0)" % (name, sent, received, lost, want, want))
    after = relayed(relay)
    check(after[0] - before[0] >= want and after[1] - before[1] >= want,
          "%s: relayed counters moved by %s, want >= %d each way" % (name, (after[0] - before[0], after[1] - before[1]), want))
    print("ok: %s (%d sent, %d received, 0 lost)" % (name, sent, received))


def binding_ok(port, transport=socket.SOCK_DGRAM):
    """A STUN Binding request over UDP or TCP is answered with a success carrying our id."""
    req = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    with socket.socket(socket.AF_INET, transport) as s:
        s.settimeout(2)
        s.connect(("127.0.0.1", port))
        s.sendall(req)
        data = s.recv(2048)
    return data[:2] == b"\x01\x01" and data[8:20] == req[8:20]


def hostile_input(relay, port):
    """Malformed datagrams are dropped and counted, a TCP stream of junk is closed, and the
    server keeps answering."""
    before = refused(relay, "malformed")
    junk = [b"", b"\xff" * 50, b"\x00\x01\x00\x08\x21\x12\xa4\x42" + b"\x00" * 12,  # length past the end
            b"\x00\x01\x00\x04\x21\x12\xa4\x42" + b"\x00" * 12 + b"\x80\x22\x00\x09",  # attribute overrun
            b"\x40\x00\x00\x10\x01", b"\x00\x01\x00\x00\xde\xad\xbe\xef" + b"\x00" * 12]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in junk * 20:
            s.sendto(d, ("127.0.0.1", port))
    wait_until("malformed datagrams counted", lambda: refused(relay, "malformed") - before >= 60, 5)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as t:
        t.sendall(b"\xff" * 64)
        check(t.recv(16) == b"", "a TCP stream of junk was not closed")
    check(binding_ok(port) and binding_ok(port, socket.SOCK_STREAM), "Binding not answered after junk")
    print("ok: hostile_input (junk dropped and counted, junk stream closed, still serving)")


def turn_args(base, ports, allow):
    args = ["--set", "turn.listen=127.0.0.1:%d" % (base + 4), "--set", "turn.relay_address=127.0.0.1",
            "--set", "turn.port_min=%d" % ports, "--set", "turn.port_max=%d" % (ports + 99),
            "--set", "turn.users.%s=%s" % (USER, PASSWORD), "--set", "turn.secret=%s" % SECRET]
    if allow:
        args += ["--set", "turn.allow_peers=127.0.0.0/8"]
    return args


def start_relay(binary, workdir, allow):
    base = free_block()  # turn.listen at base+4 of this block; Relay takes its own block
    ports = free_block()
    relay = Relay(binary, workdir, extra=turn_args(base, ports, allow))
    return relay, base + 4


def main():
    args = test_args(__doc__)
    peer_block = free_block()
    peer_port = peer_block
    procs = Procs(args.workdir)
    peer = procs.start("turnutils_peer", ["turnutils_peer", "-L", "127.0.0.1", "-p", str(peer_port)])
    relays = []
    failure = None
    try:
        wait_until("turnutils_peer bound to udp %d" % peer_port, lambda: not udp_port_free(peer_port), 10,
                   proc=peer, proc_name="turnutils_peer", log=procs.log_of("turnutils_peer"))
        relay, turn_port = start_relay(args.rendezvous, os.path.join(args.workdir, "allowed"), allow=True)
        relays.append(relay)
        expect_full_exchange(relay, args.workdir, "long_term_channels", turn_port, peer_port, "-u", USER, "-w", PASSWORD)
        expect_full_exchange(relay, args.workdir, "long_term_indications", turn_port, peer_port, "-s",
                             "-u", USER, "-w", PASSWORD)
        expect_full_exchange(relay, args.workdir, "shared_secret", turn_port, peer_port, "-u", "carol", "-W", SECRET)
        # TURN over TCP towards the server (-t), relayed over UDP: ChannelData padded on the
        # stream, and Data indications with an odd length (padding again). uclient leaves its UDP
        # allocations to expire; those over TCP must end with their connections.
        udp_left = metric(relay.metrics(), "rdv_turn_allocations")
        expect_full_exchange(relay, args.workdir, "tcp_channels", turn_port, peer_port, "-t", "-u", USER, "-w", PASSWORD)
        expect_full_exchange(relay, args.workdir, "tcp_indications", turn_port, peer_port, "-t", "-s", "-l", "121",
                             "-u", USER, "-w", PASSWORD)
        tcp_left = metric(relay.metrics(), "rdv_turn_allocations")
        check(tcp_left == udp_left, "TCP clients closed their connections but left %s allocations" % (tcp_left - udp_left))

        hostile_input(relay, turn_port)

        before, unauth = relayed(relay), refused(relay, "unauthenticated")
        out = uclient(args.workdir, "wrong_password", turn_port, peer_port, "-u", USER, "-w", "not-" + PASSWORD)
        got = figures(out)
        check(got is None or got[1] == 0, "wrong_password: uclient received data: %s" % (got,))
        check("Cannot complete Allocation" in out or "error 401" in out,
              "wrong_password: uclient did not report the failed Allocate:\n%s" % out[-2000:])
        check(relayed(relay) == before, "wrong_password: something was relayed")
        check(refused(relay, "unauthenticated") > unauth, "wrong_password: no 401 counted")
        print("ok: wrong_password (401, nothing relayed)")

        out = uclient(args.workdir, "private_peer_refused", turn_port, peer_port, "-u", USER, "-w", PASSWORD,
                      "-e", "10.0.0.1")
        check("403" in out, "private_peer_refused: a 10.0.0.1 peer was not refused with 403:\n%s" % out[-2000:])
        print("ok: private_peer_refused (10.0.0.1: 403)")

        strict, strict_port = start_relay(args.rendezvous, os.path.join(args.workdir, "default_policy"),
                                          allow=False)
        relays.append(strict)
        out = uclient(args.workdir, "loopback_peer_refused", strict_port, peer_port, "-u", USER, "-w", PASSWORD)
        check("403" in out, "loopback_peer_refused: uclient saw no 403:\n%s" % out[-2000:])
        check(refused(strict, "forbidden_peer") >= 1, "loopback_peer_refused: no 403 counted")
        check(relayed(strict) == (0, 0), "loopback_peer_refused: something was relayed: %s" % (relayed(strict),))
        print("ok: loopback_peer_refused (403, nothing relayed)")
    except TestFailure as e:
        failure = str(e)
    finally:
        for r in relays:
            problem = r.stop()
            if problem and failure is None:
                failure = problem
        procs.stop_all()
    if failure:
        for r in relays:
            print(tail(r.procs.log_of("rendezvous")))
        print("FAIL: " + failure)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
