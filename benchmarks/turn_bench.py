#!/usr/bin/env python3
"""TURN UDP relay benchmark: Rendezvous against coturn (turnserver) in the same run.

Each server is started on 127.0.0.1 with the same long-term user; coturn's own load tools drive
it: turnutils_peer echoes every datagram, turnutils_uclient runs CLIENTS allocations (ChannelData,
no RTCP allocations) that each send MESSAGES datagrams of LENGTH bytes every INTERVAL ms and
count what comes back. Every datagram a client gets back went through the relay twice (client ->
peer, peer -> client), so relayed = 2 x received (received, not sent: losses are not counted as
work done). The server's CPU time (utime + stime of all its threads, /proc/PID/stat) over the run
divided by the relayed datagrams gives the CPU cost per relayed datagram.

Usage: turn_bench.py --rendezvous PATH [--turnserver /usr/bin/turnserver] [--clients 50,200]
                     [--messages 1000] [--interval-ms 1] [--length 120] [--json FILE]
Prints a table; every run is bounded (uclient has a timeout) and stops the servers by PID.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import turn_blast  # noqa: E402  (through relay_bench, also puts tests/integration on sys.path)
from rdvtest import proc_cpu_seconds, stop_process  # noqa: E402

USER, PASSWORD, REALM = "bench", "bench-password", "rdv"
# Above the kernel's ephemeral range (32768-60999) and the ports tests take (10000-32000), so
# parallel test runs cannot hold them; checked free at start.
TURN_PORT, NG_PORT, PEER_PORT, PORT_MIN, PORT_MAX = 61478, 61479, 61480, 62000, 64999


def stun_binding_ok(port):
    req = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        s.sendto(req, ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(2048)
        except OSError:
            return False
        return data[:2] == b"\x01\x01" and data[8:20] == req[8:20]


def start(name, argv, workdir):
    log = open(os.path.join(workdir, name + ".log"), "wb")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    log.close()
    deadline = time.monotonic() + 10
    while not stun_binding_ok(TURN_PORT):
        if p.poll() is not None or time.monotonic() > deadline:
            stop_process(p)
            raise SystemExit("%s did not answer STUN on udp %d (see %s)" % (name, TURN_PORT, workdir))
        time.sleep(0.1)
    return p


def arg_parser(doc):
    """The command line every TURN benchmark starts from: the two servers' binaries."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--turnserver", default="/usr/bin/turnserver")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra Rendezvous setting, e.g. relay.host_tcp_and_turn=0 (repeatable)")
    return ap


def server_argv(kind, args, workdir):
    if kind == "rendezvous":
        return [args.rendezvous, "--set", "ng.listen=127.0.0.1:%d" % NG_PORT, "--set", "sip.listen=", "--set", "api.listen=",
                "--set", "metrics.listen=", "--set", "log.level=warn", "--set", "relay.port_min=65000",
                "--set", "relay.port_max=65499", "--set", "turn.listen=127.0.0.1:%d" % TURN_PORT,
                "--set", "turn.relay_address=127.0.0.1", "--set", "turn.port_min=%d" % PORT_MIN,
                "--set", "turn.port_max=%d" % PORT_MAX, "--set", "turn.realm=%s" % REALM,
                "--set", "turn.users.%s=%s" % (USER, PASSWORD), "--set", "turn.allow_peers=127.0.0.0/8",
                "--set", "turn.user_quota=100000", "--set", "turn.total_quota=100000"] + \
            [a for kv in getattr(args, "set", []) for a in ("--set", kv)]
    return [args.turnserver, "-n", "--no-tls", "--no-dtls", "-L", "127.0.0.1", "--listening-port", str(TURN_PORT),
            "--relay-ip", "127.0.0.1", "--min-port", str(PORT_MIN), "--max-port", str(PORT_MAX), "--lt-cred-mech",
            "--user", "%s:%s" % (USER, PASSWORD), "--realm", REALM, "--allow-loopback-peers", "--no-cli",
            "--log-file", "stdout", "--simple-log", "--userdb", os.path.join(workdir, "turndb"),
            "--pidfile", os.path.join(workdir, "turnserver.pid")]


def run_once(kind, clients, args, workdir):
    server = start(kind, server_argv(kind, args, workdir), workdir)
    try:
        cpu0, t0 = proc_cpu_seconds(server.pid), time.monotonic()
        argv = ["turnutils_uclient", "-c", "-p", str(TURN_PORT), "-e", "127.0.0.1", "-r", str(PEER_PORT),
                "-u", USER, "-w", PASSWORD, "-n", str(args.messages), "-m", str(clients),
                "-z", str(args.interval_ms), "-l", str(args.length), "127.0.0.1"]
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
                             stdin=subprocess.DEVNULL).stdout.decode(errors="replace")
        cpu1, t1 = proc_cpu_seconds(server.pid), time.monotonic()
    finally:
        stop_process(server)
    with open(os.path.join(workdir, "uclient-%s-%d.log" % (kind, clients)), "w") as f:
        f.write(out)
    totals = re.findall(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", out)
    times = re.findall(r"Total transmit time is (\d+)", out)
    if not totals:
        raise SystemExit("%s: uclient printed no totals (see %s)" % (kind, workdir))
    sent, received = int(totals[-1][0]), int(totals[-1][1])
    relayed = 2 * received
    cpu = cpu1 - cpu0
    transmit = int(times[-1]) if times else t1 - t0
    return {"server": kind, "clients": clients, "sent": sent, "received": received,
            "loss_pct": 100.0 * (sent - received) / sent if sent else 0.0, "server_cpu_s": cpu,
            "us_per_datagram": 1e6 * cpu / relayed if relayed else float("nan"),
            "relayed_per_s": relayed / transmit if transmit else float("nan"), "wall_s": t1 - t0}


def turn_load(args, server_pid, rate):
    """One run of the C++ generator (benchmarks/TurnLoad.cc), with the server's CPU around it."""
    cpu0 = proc_cpu_seconds(server_pid)
    out = subprocess.run([args.turn_load, "--server", "127.0.0.1:%d" % TURN_PORT, "--user", USER, "--password",
                          PASSWORD, "--rate", str(rate), "--seconds", str(args.seconds), "--length", str(args.length)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=args.seconds + 30,
                         stdin=subprocess.DEVNULL).stdout.decode(errors="replace")
    cpu = proc_cpu_seconds(server_pid) - cpu0
    kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if "received" not in kv:
        raise SystemExit("turn_load failed: %s" % out)
    received = int(kv["received"])
    return {"rate": rate, "achieved_rate": float(kv["achieved_rate"]), "sent": int(kv["sent"]), "received": received,
            "loss_pct": float(kv["loss_pct"]), "server_cpu_s": cpu,
            "us_per_datagram": 1e6 * cpu / received if received else float("nan")}


def blast_once(kind, rate, args, workdir):
    server = start(kind, server_argv(kind, args, workdir), workdir)
    try:
        if args.turn_load:
            r = turn_load(args, server.pid, rate)
        else:
            r = turn_blast.blast(server.pid, TURN_PORT, USER, PASSWORD, REALM, rate, args.seconds, args.length)
    finally:
        stop_process(server)
    r["server"] = kind
    return r


def main():
    ap = arg_parser(__doc__)
    ap.add_argument("--clients", default="50,200")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--interval-ms", type=int, default=1)
    ap.add_argument("--length", type=int, default=120)
    ap.add_argument("--blast", default="", help="comma-separated one-way rates (datagrams/s) for turn_blast.py")
    ap.add_argument("--seconds", type=float, default=5, help="duration of each --blast run")
    ap.add_argument("--turn-load", help="the C++ generator (build/.../bin/turn_load) for --blast; "
                    "without it a Python one (turn_blast.py, ~55k datagrams/s at most)")
    ap.add_argument("--json")
    args = ap.parse_args()
    for tool in ("turnutils_uclient", "turnutils_peer"):
        if shutil.which(tool) is None:
            raise SystemExit("%s not found (Debian package coturn)" % tool)
    for port in (TURN_PORT, NG_PORT, PEER_PORT):
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    raise SystemExit("port %d is taken on 127.0.0.1; free it first" % port)
    workdir = tempfile.mkdtemp(prefix="turn_bench-")
    print("logs in %s" % workdir)
    kinds = ["rendezvous"] + (["coturn"] if os.access(args.turnserver, os.X_OK) else [])
    peer = subprocess.Popen(["turnutils_peer", "-L", "127.0.0.1", "-p", str(PEER_PORT)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    rows, blasts = [], []
    try:
        for clients in (int(c) for c in args.clients.split(",") if c):
            for kind in kinds:
                rows.append(run_once(kind, clients, args, workdir))
    finally:
        stop_process(peer)
    for rate in (int(r) for r in args.blast.split(",") if r):
        for kind in kinds:
            blasts.append(blast_once(kind, rate, args, workdir))
    print("%-11s %7s %9s %9s %7s %9s %12s %12s" % ("server", "clients", "sent", "received", "loss%", "cpu_s",
                                                 "us/datagram", "relayed/s"))
    for r in rows:
        print("%-11s %7d %9d %9d %7.3f %9.2f %12.2f %12.0f" % (r["server"], r["clients"], r["sent"], r["received"],
                                                             r["loss_pct"], r["server_cpu_s"], r["us_per_datagram"],
                                                             r["relayed_per_s"]))
    if blasts:
        print("\none way, client -> peer (ChannelData in, plain UDP out), %g s per run" % args.seconds)
        print("%-11s %9s %9s %9s %9s %7s %9s %12s" % ("server", "rate", "achieved", "sent", "received", "loss%",
                                                    "cpu_s", "us/datagram"))
        for r in blasts:
            print("%-11s %9d %9.0f %9d %9d %7.3f %9.2f %12.2f" % (r["server"], r["rate"], r["achieved_rate"], r["sent"],
                                                                r["received"], r["loss_pct"], r["server_cpu_s"],
                                                                r["us_per_datagram"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"echo": rows, "blast": blasts}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
