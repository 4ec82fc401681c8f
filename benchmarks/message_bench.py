#!/usr/bin/env python3
"""Instant-message benchmark (RFC 3428 MESSAGE through the B2BUA's pager, signaling/b2bua/B2buaPager.cc
and the SQLite store of signaling/im), all on 127.0.0.1, every load bounded in count and time.
Prints figures; asserts nothing about speed.

Phases, each on a freshly started rendezvous (sip.auth_* off, log.level=warn, sip.max_cps raised):
  relay    bob registers from port P (raw UDP REGISTER) and a sipp UAS on P answers every MESSAGE
           200 (benchmarks/im/message_uas.xml); a sipp UAC (benchmarks/im/message_uac.xml, -r RATE
           -m N) sends N MESSAGEs from alice to bob. Each one is a server transaction towards
           alice and a client transaction towards bob's contact; the 200 alice gets is bob's.
           Figures: MESSAGEs delivered per second (N / wall time of the UAC run), sipp failures,
           rdv_im_messages_total{outcome="relayed"}, the server's CPU microseconds per MESSAGE.
  stored   bob is offline: a sipp UAC stores S MESSAGEs (202, sip.message_store on a temporary
           file, per-user quota raised to S); then bob REGISTERs from a Python socket that answers
           every MESSAGE 200 as it comes. Figures: store rate (S / wall time, each a SQLite insert),
           time from bob's REGISTER to the last stored MESSAGE received, and to the server counting
           them all delivered (each a SQLite delete on its 2xx).

Usage:
  python3 benchmarks/message_bench.py --rendezvous build/dev/bin/rendezvous \\
      [--messages 60000 --rate 6000] [--stored 2000] [--phases relay,stored] [--json FILE]
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration", "sip"))
from rdvtest import Relay, metric, proc_cpu_seconds, udp_port_free, wait_until  # noqa: E402
import siptest  # noqa: E402
from presence_bench import register_bob  # noqa: E402
from sipbench.batch import end_phase, run_batch, run_phases, sipp_budget  # noqa: E402

SIPP = "/usr/bin/sipp"


def im_count(relay, outcome):
    return metric(relay.metrics(), "rdv_im_messages_total", {"outcome": outcome}) or 0


def start_server(binary, workdir, store=None, per_user=100):
    os.makedirs(workdir, exist_ok=True)
    sip = {"auth_register": 0, "auth_invite": 0, "keepalive": 0, "max_cps": 1000000,
           "users.alice": "x", "users.bob": "x"}
    if store:
        sip.update({"message_store": store, "message_store_per_user": per_user})
    return Relay(binary, workdir, sip=sip, log_level="warn")


def sipp_argv(relay, scenario, port, media_port, calls, rate, timeout_s, workdir, tag, uac=True):
    argv = [SIPP]
    if uac:
        argv += ["127.0.0.1:%d" % relay.sip_port, "-s", "bob", "-r", str(rate), "-rp", "1000"]
    argv += ["-sf", os.path.join(HERE, "im", scenario), "-t", "u1", "-i", "127.0.0.1", "-p", str(port),
             "-mp", str(media_port), "-m", str(calls), "-l", str(max(calls, 1)), "-nostdin",
             "-timeout", "%ds" % timeout_s, "-buff_size", "4194304", "-max_recv_loops", "10000",
             "-trace_stat", "-stf", os.path.join(workdir, tag + "_stat.csv"),
             "-trace_err", "-error_file", os.path.join(workdir, tag + "_err.log")]
    return argv


def send_batch(args, relay, workdir, tag, count):
    """One sipp UAC run of `count` MESSAGEs to bob; returns (ok, failed, wall seconds, exit code)."""
    budget = sipp_budget(count, args.rate)
    argv = sipp_argv(relay, "message_uac.xml", relay.base + 4, relay.base + 80, count, args.rate, budget,
                     workdir, tag)
    return run_batch(argv, budget, workdir, tag)


def phase_relay(args, workdir):
    relay = start_server(args.rendezvous, workdir)
    uas = None
    try:
        port = relay.base + 5
        sock = siptest.UdpSip(relay.sip_port, port)
        try:
            register_bob(relay, sock)
        finally:
            sock.close()
        uas = subprocess.Popen(sipp_argv(relay, "message_uas.xml", port, relay.base + 84, args.messages, 0, 600,
                                         workdir, "uas", uac=False),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until("bob's sipp contact bound", lambda: not udp_port_free(port), 5, proc=uas, proc_name="sipp")
        pid = relay.proc.pid
        cpu0 = proc_cpu_seconds(pid)
        ok, failed, wall, rc = send_batch(args, relay, workdir, "uac", args.messages)
        cpu1 = proc_cpu_seconds(pid)
        relayed = im_count(relay, "relayed")
        return {"messages": args.messages, "rate_offered": args.rate, "sipp_exit": rc, "ok": ok, "failed": failed,
                "relayed": relayed, "refused": im_count(relay, "refused"), "seconds": round(wall, 2),
                "delivered_per_second": round(relayed / wall, 1),
                "cpu_us_per_message": round((cpu1 - cpu0) * 1e6 / max(relayed, 1), 1)}
    finally:
        end_phase(relay, sipp=uas)


def phase_stored(args, workdir):
    store = os.path.join(workdir, "messages.sqlite")
    relay = start_server(args.rendezvous, workdir, store=store, per_user=max(args.stored, 100))
    bob = None
    try:
        ok, failed, wall, rc = send_batch(args, relay, workdir, "store", args.stored)
        stored = im_count(relay, "stored")
        bob = siptest.UdpSip(relay.sip_port)
        got = 0
        t0 = time.monotonic()
        register_bob(relay, bob)
        deadline = t0 + 120
        while got < stored and time.monotonic() < deadline:
            m = bob.recv(deadline - time.monotonic())
            if isinstance(m, siptest.SipMessage) and m.method == "MESSAGE":
                bob.send(siptest.build_response(m, 200, "OK"))
                got += 1
        t_received = time.monotonic() - t0
        wait_until("all delivered", lambda: im_count(relay, "delivered") >= stored, 60, interval=0.01)
        t_delivered = time.monotonic() - t0
        return {"stored": stored, "sipp_exit": rc, "ok": ok, "failed": failed,
                "stored_per_second": round(stored / wall, 1), "received": got,
                "seconds_register_to_last_received": round(t_received, 3),
                "seconds_register_to_all_delivered": round(t_delivered, 3),
                "delivered_per_second": round(stored / t_delivered, 1)}
    finally:
        end_phase(relay, sock=bob)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--messages", type=int, default=60000)
    ap.add_argument("--rate", type=int, default=6000)
    ap.add_argument("--stored", type=int, default=2000)
    ap.add_argument("--phases", default="relay,stored")
    ap.add_argument("--json")
    args = ap.parse_args()
    return run_phases("message_bench", args, (("relay", phase_relay), ("stored", phase_stored)))


if __name__ == "__main__":
    sys.exit(main())
