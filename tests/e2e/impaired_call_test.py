#!/usr/bin/env python3
"""End-to-end test: a call through Rendezvous with one direction impaired, and the quality it
reports everywhere an operator looks.

The NAT topology of nat_call_test.py (baresip alice and bob behind NAT routers, Rendezvous in the
public namespace; 198.18.0.0/15 only). Router B drops 5 % of bob's media towards the relay at
random (iptables `statistic --mode random`): this machine's kernel has no netem
(CONFIG_NET_SCH_NETEM is not set in /proc/config.gz), so delay jitter is not applied and only its
absence is checked. Alice's direction is clean. After MEDIA_S of call:
  - NG `query` of the live call (over the NG socket, as a proxy would ask),
  - the operator API (GET /api/v1/calls during the call),
  - the call detail record (cdr.file),
  - /metrics (ended-leg histograms),
must all show bob's leg with loss within LOSS_RANGE percent, alice's leg with loss under 1 % and an
E-model MOS of at least 4.3 (G.711), and (CDR) bob's MOS at least 0.3 below alice's.

Exit codes: 0 pass, 1 fail, 77 skipped (not root).
Usage: impaired_call_test.py --rendezvous PATH --workdir DIR [--prefix rdvimp]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import nat_call_test as nat  # noqa: E402
from nat_call_test import (ALICE_IP, BOB_IP, PUB_IP, TONES, USERS, Client, Topology, account_line,  # noqa: E402
                           check_heard_other, ns_http, ns_udp, nsexec, run_call, start_rendezvous, tail,
                           write_tone)
from rdvtest import Procs, TestFailure, bdecode, bencode, metric, stop_server, wait_until  # noqa: E402

MEDIA_S = 12.0             # long enough for ~600 packets per direction and two 5 s MOS samples
LOSS = 0.05
LOSS_RANGE = (2.0, 9.0)    # percent, for 5 % applied (about 600 packets: +-2 sigma is 3.3..6.7)
JITTER_MAX = 10.0          # ms: nothing delays packets on these veths
CLEAN_MOS = 4.3
NG_PORT = 22222
API_PORT = 8080  # the default api.listen, on the public namespace's own loopback


def ng_query(pub):
    """NG `list` then `query` of the one call, from inside the public namespace."""
    def ask(command, **kw):
        cookie = "imp%d" % int(time.monotonic() * 1000)
        msg = dict(command=command, **kw)
        out = ns_udp(pub, NG_PORT, "%s %s" % (cookie, bencode(msg).decode()), 1.0, until=r"e$")
        if not out.startswith(cookie + " "):
            raise TestFailure("NG %s got %r" % (command, out[:200]))
        return bdecode(out[len(cookie) + 1:].encode())
    calls = ask("list").get("calls") or []
    if len(calls) != 1:
        raise TestFailure("NG list shows %r, expected the one live call" % calls)
    reply = ask("query", **{"call-id": calls[0].decode()})
    if reply.get("result") != b"ok":
        raise TestFailure("NG query: %r" % reply)
    return reply


def legs_from_query(q):
    """{'caller'|'callee': (loss %, jitter ms, average MOS or None)} from an NG query reply."""
    tags = list(q["tags"].values())
    ssrc = q.get("SSRC", {})
    out = {}
    for side, tag in zip(("caller", "callee"), tags):
        stream = tag["medias"][0]["streams"][0]
        st = stream["stats"]
        mos = None
        key = str(stream.get("SSRC", ""))
        if key in ssrc:
            mos = ssrc[key]["average MOS"]["MOS"] / 10.0
        out[side] = (st["loss permille"] / 10.0, st["jitter us"] / 1000.0, mos)
    return out


def check_leg(where, side, loss, jitter, mos, impaired):
    if impaired:
        ok = LOSS_RANGE[0] <= loss <= LOSS_RANGE[1] and jitter < JITTER_MAX
        want = "loss %s %%, jitter < %.0f ms" % (LOSS_RANGE, JITTER_MAX)
    else:
        ok = loss < 1.0 and (mos is None or mos >= CLEAN_MOS)
        want = "loss < 1 %%, MOS >= %.1f" % CLEAN_MOS
    if not ok:
        raise TestFailure("%s: %s leg has loss %.2f %%, jitter %.1f ms, MOS %s; expected %s"
                          % (where, side, loss, jitter, mos, want))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--prefix", default="rdvimp")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP impaired_call: needs root (network namespaces)")
        return 77
    if os.path.isdir(args.workdir):
        shutil.rmtree(args.workdir)
    os.makedirs(args.workdir)
    nat.MEDIA_S = MEDIA_S
    topo = Topology(args.prefix)
    left = []
    try:
        topo.cleanup()
        tones = {}
        for name, freq in TONES.items():
            tones[name] = os.path.join(args.workdir, "%s-%dHz.wav" % (name, freq))
            write_tone(tones[name], freq)
        topo.build()
        # Bob's media (LAN side in, towards the relay's ports) loses LOSS at random.
        nsexec(topo.ns["rtb"], ["iptables", "-I", "FORWARD", "-i", topo.p + "-lb", "-p", "udp", "--dport",
                                "%d:%d" % nat.RELAY_PORTS, "-m", "statistic", "--mode", "random",
                                "--probability", str(LOSS), "-j", "DROP"])
        summary = run(topo, args, tones)
    except (TestFailure, OSError, subprocess.SubprocessError) as e:
        print("FAIL impaired_call: %s: %s\n(logs in %s)" % (type(e).__name__, e, args.workdir))
        return 1
    finally:
        topo.cleanup()
        left = topo.leftovers()
        if left:
            print("FAIL impaired_call: left behind after cleanup: %s" % left)
    if left:
        return 1
    print("PASS impaired_call: %s" % summary)
    return 0


def run(topo, args, tones):
    phase_dir = os.path.join(args.workdir, "impaired")
    os.makedirs(phase_dir)
    procs = Procs(args.workdir)
    pub = topo.ns["pub"]
    cdr_file = os.path.join(args.workdir, "cdr.jsonl")
    rdv = rlog = None
    live = {}
    try:
        rdv, rlog = start_rendezvous(procs, pub, args.rendezvous, ["cdr.file=" + cdr_file])
        clients = (
            Client(procs, phase_dir, "imp", "alice", topo.ns["alice"], ALICE_IP, tones["alice"], (14000, 14099),
                   account_line("alice", PUB_IP, USERS["alice"])),
            Client(procs, phase_dir, "imp", "bob", topo.ns["bob"], BOB_IP, tones["bob"], (14100, 14199),
                   account_line("bob", PUB_IP, USERS["bob"])))
        def observe():
            live["q"] = ng_query(pub)
            live["api"] = json.loads(ns_http(pub, "http://127.0.0.1:%d/api/v1/calls" % API_PORT))
        res, hangup = run_call("impaired", procs, phase_dir, clients, "sip:bob@%s" % PUB_IP,
                               r"\{0/UDP/v4\} 200 OK", before_hangup=observe)
        if hangup:
            raise TestFailure("hangup did not end the call: %s" % hangup)
        check_heard_other("impaired", res)
        wait_until("the call's record in %s" % cdr_file,
                   lambda: os.path.exists(cdr_file) and os.path.getsize(cdr_file) > 0, 5, proc=rdv,
                   proc_name="rendezvous", log=rlog)
        metrics = ns_http(pub, "http://127.0.0.1:%d/metrics" % nat.METRICS_PORT)
    except TestFailure as e:
        raise TestFailure("%s\n--- rendezvous log tail\n%s" % (e, tail(rlog, 30) if rlog else ""))
    finally:
        stopped = stop_server(rdv, "rendezvous", rlog) if rdv is not None else None
        procs.stop_all()
    # NG query of the live call.
    ng = legs_from_query(live["q"])
    for side in ("caller", "callee"):
        check_leg("NG query", side, *ng[side], impaired=side == "callee")
    # The operator API's view of the live call.
    calls = live["api"]["calls"]
    if len(calls) != 1 or calls[0]["source"] != "sip" or calls[0]["state"] != "confirmed":
        raise TestFailure("GET /api/v1/calls during the call: %s" % live["api"])
    api_legs = {leg["side"]: leg for leg in calls[0]["legs"] if leg["stream"] == 0}
    for side in ("caller", "callee"):
        leg = api_legs[side]
        check_leg("API", side, leg["loss_percent"], leg["jitter_ms"], leg["mos_avg"], impaired=side == "callee")
    # The call detail record.
    with open(cdr_file) as f:
        rec = json.loads(f.readline())
    legs = {leg["side"]: leg for leg in rec["legs"] if leg["stream"] == 0}
    mos = {side: legs[side]["mos"]["avg"] for side in legs}
    for side in ("caller", "callee"):
        check_leg("CDR", side, legs[side]["loss_percent"], legs[side]["jitter_ms"], mos[side],
                  impaired=side == "callee")
    if mos["caller"] - mos["callee"] < 0.3:
        raise TestFailure("CDR: MOS caller %.2f, callee %.2f: the impaired leg should score at least 0.3 lower"
                          % (mos["caller"], mos["callee"]))
    # /metrics: of the two legs that ended, one (bob's) lost more than 2 %, none more than 10 %.
    low = metric(metrics, "rdv_leg_loss_percent_bucket", {"le": "2"})
    high = metric(metrics, "rdv_leg_loss_percent_bucket", {"le": "10"})
    if (low, high) != (1, 2):
        raise TestFailure("/metrics rdv_leg_loss_percent buckets le=2: %s, le=10: %s; expected 1 and 2" % (low, high))
    if stopped:
        raise TestFailure(stopped)
    return ("API: callee loss %.1f%%; NG: caller loss %.1f%% MOS %s, callee loss %.1f%% jitter %.1f ms; CDR MOS caller %.2f callee %.2f, "
            "callee loss %.1f%% jitter %.1f ms" % (api_legs["callee"]["loss_percent"], ng["caller"][0], ng["caller"][2], ng["callee"][0], ng["callee"][1],
                                                    mos["caller"], mos["callee"], legs["callee"]["loss_percent"],
                                                    legs["callee"]["jitter_ms"]))


if __name__ == "__main__":
    sys.exit(main())
