#!/usr/bin/env python3
"""End-to-end test: a call through Rendezvous with one direction impaired, and the quality it
reports everywhere an operator looks.

The NAT topology of nat_call_test.py (baresip alice and bob behind NAT routers, Rendezvous in the
public namespace; 198.18.0.0/15 only). Router B impairs bob's media towards the relay:
  - 5 % loss at random (iptables `statistic --mode random` DROP), then
  - delay jitter: every packet that survives goes to NFQUEUE NFQ_QUEUE, where nfq_delay.py (run
    in router B's namespace for the call's duration) accepts it after a delay uniform in
    DELAY_MS = 10..70 ms (40 +- 30 ms), in due order, so packets overtake each other as behind
    netem with jitter. This kernel has no netem (CONFIG_NET_SCH_NETEM is not set in
    /proc/config.gz) but has nfnetlink_queue; the rule has --queue-bypass.
Alice's direction is clean.

Expected jitter (RFC 3550 A.8, J += (|D| - J) / 16, D the change in transit time between
consecutive arrivals): for i.i.d. delays uniform over a width W, |d_i - d_(i-1)| has a triangular
density with mean W/3 = 20 ms; the reordering (packets 20 ms apart, delays spread over 60 ms)
pairs consecutive *arrivals* instead, which raises the mean to about 21.7 ms (Monte Carlo). The
estimator is an exponential average of |D| with gain 1/16, so one reading has a spread of about
3 ms around that mean (simulated extremes over 4000 readings 11.6..32.9 ms): JITTER_RANGE is
10..32 ms. nfq_delay.py --selfcheck measures the same over a bare veth pair.

After MEDIA_S of call:
  - NG `query` of the live call (over the NG socket, as a proxy would ask),
  - the operator API (GET /api/v1/calls during the call),
  - the call detail record (cdr.file),
  - /metrics (ended-leg histograms),
must all show bob's leg with loss within LOSS_RANGE percent and jitter within JITTER_RANGE,
alice's leg with loss under 1 %, jitter under CLEAN_JITTER_MAX and an E-model MOS of at least 4.3
(G.711), and bob's average MOS below alice's by at least AVG_MOS_GAP (NG, API, CDR), his worst
5 s MOS sample (CDR) at least WORST_MOS_GAP below her average.

The gap is a loss effect only: the E-model's delay impairment is zero below 100 ms of effective
one-way delay (RTT + 2 * jitter + 10 ms, about 55 ms here), and G.711 with PLC (Bpl 25.1) scores
4.41 at no loss, 4.23 at 2 %, 3.92 at 5 %. An average MOS is the unweighted mean of 5 s samples
plus a final one for whatever arrived since the last (relay/RelayWorker.cc): the live views see
only one or two samples (about 250 packets each, +-1.4 % loss at 1 sigma), and the CDR's final
sample may cover a fraction of a second without a single loss (seen: samples 3.96, ~4.0 and 4.41,
average 4.13, at 3.98 % loss for the call). So AVG_MOS_GAP is what the floor of LOSS_RANGE (2 %)
guarantees, and the 0.3 gap is asked of the worst sample, which covers a full window.

Exit codes: 0 pass, 1 fail, 77 skipped (not root).
Usage: impaired_call_test.py --rendezvous PATH --workdir DIR [--prefix rdvimp]
"""

import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import nat_call_test as nat  # noqa: E402
from nat_call_test import (ALICE_IP, BOB_IP, PUB_IP, USERS, Client, account_line, check_heard_other,  # noqa: E402
                           ns_http, ns_udp, nsexec, run_call, start_rendezvous, tail)
from rdvtest import Procs, TestFailure, bdecode, bencode, metric, stop_server, wait_until  # noqa: E402

MEDIA_S = 12.0             # long enough for ~600 packets per direction and two 5 s MOS samples
LOSS = 0.05
LOSS_RANGE = (2.0, 9.0)    # percent, for 5 % applied (about 600 packets: +-2 sigma is 3.3..6.7)
DELAY_MS = (10, 70)        # bob's media is held uniformly this long at router B
JITTER_RANGE = (10.0, 32.0)  # ms, RFC 3550 jitter of bob's leg: about 21.7 expected (docstring)
CLEAN_JITTER_MAX = 10.0    # ms: nothing delays alice's packets
CLEAN_MOS = 4.3
AVG_MOS_GAP = 0.15         # average MOS, NG, API and CDR: see the docstring
WORST_MOS_GAP = 0.3        # CDR: bob's worst sample below alice's average
NFQ_QUEUE = 5              # per network namespace: router B's own
NFQ_LIFETIME_S = 120       # nfq_delay.py's bound, beyond any call of this test (CTest timeout 180)
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
        ok = LOSS_RANGE[0] <= loss <= LOSS_RANGE[1] and JITTER_RANGE[0] <= jitter <= JITTER_RANGE[1]
        want = "loss %s %%, jitter %s ms" % (LOSS_RANGE, JITTER_RANGE)
    else:
        ok = loss < 1.0 and jitter < CLEAN_JITTER_MAX and mos is not None and mos >= CLEAN_MOS
        want = "loss < 1 %%, jitter < %.0f ms, MOS >= %.1f" % (CLEAN_JITTER_MAX, CLEAN_MOS)
    if not ok:
        raise TestFailure("%s: %s leg has loss %.2f %%, jitter %.1f ms, MOS %s; expected %s"
                          % (where, side, loss, jitter, mos, want))


def check_mos_gap(where, caller, callee, gap):
    if caller is None or callee is None or caller - callee < gap:
        raise TestFailure("%s: MOS caller %s, callee %s: the impaired leg should score at least %.2f lower"
                          % (where, caller, callee, gap))


def main():
    args = nat.lab_args("impaired_call", "rdvimp")
    if args is None:
        return 77
    nat.MEDIA_S = MEDIA_S

    def phases(topo, tones):
        topo.build()
        # Bob's media (LAN side in, towards the relay's ports) loses LOSS at random; what is left
        # is queued for nfq_delay.py (rule 2, right after the DROP).
        bob_media = ["-i", topo.p + "-lb", "-p", "udp", "--dport", "%d:%d" % nat.RELAY_PORTS]
        nsexec(topo.ns["rtb"], ["iptables", "-I", "FORWARD", "1"] + bob_media +
               ["-m", "statistic", "--mode", "random", "--probability", str(LOSS), "-j", "DROP"])
        nsexec(topo.ns["rtb"], ["iptables", "-I", "FORWARD", "2"] + bob_media +
               ["-j", "NFQUEUE", "--queue-num", str(NFQ_QUEUE), "--queue-bypass"])
        return run(topo, args, tones)
    return nat.run_in_topology("impaired_call", args.prefix, args.workdir, phases)


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
        delay = procs.start("rtb-nfq_delay", ["ip", "netns", "exec", topo.ns["rtb"], sys.executable,
                                              os.path.join(HERE, "nfq_delay.py"), "--queue", str(NFQ_QUEUE),
                                              "--min-ms", str(DELAY_MS[0]), "--max-ms", str(DELAY_MS[1]),
                                              "--seconds", str(NFQ_LIFETIME_S)])
        dlog = procs.log_of("rtb-nfq_delay")
        wait_until("nfq_delay bound to queue %d" % NFQ_QUEUE, lambda: "bound" in open(dlog).read(), 5,
                   proc=delay, proc_name="nfq_delay", log=dlog)
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
        if delay.poll() is not None:
            raise TestFailure("nfq_delay exited (code %s) before the call ended: bob's media was not delayed "
                              "throughout\n%s" % (delay.returncode, tail(dlog)))
    except TestFailure as e:
        raise TestFailure("%s\n--- rendezvous log tail\n%s" % (e, tail(rlog, 30) if rlog else ""))
    finally:
        stopped = stop_server(rdv, "rendezvous", rlog) if rdv is not None else None
        procs.stop_all()
    # nfq_delay.py's own account (it prints it when stopped): it held bob's media.
    with open(dlog) as f:
        delayed = re.search(r"nfq_delay: queue \d+: (\d+) packets.*", f.read())
    if not delayed or int(delayed.group(1)) < 100:
        raise TestFailure("nfq_delay held too few of bob's packets: %s" % (delayed.group(0) if delayed else tail(dlog)))
    # NG query of the live call.
    ng = legs_from_query(live["q"])
    for side in ("caller", "callee"):
        check_leg("NG query", side, *ng[side], impaired=side == "callee")
    check_mos_gap("NG query", ng["caller"][2], ng["callee"][2], AVG_MOS_GAP)
    # The operator API's view of the live call.
    calls = live["api"]["calls"]
    if len(calls) != 1 or calls[0]["source"] != "sip" or calls[0]["state"] != "confirmed":
        raise TestFailure("GET /api/v1/calls during the call: %s" % live["api"])
    api_legs = {leg["side"]: leg for leg in calls[0]["legs"] if leg["stream"] == 0}
    for side in ("caller", "callee"):
        leg = api_legs[side]
        check_leg("API", side, leg["loss_percent"], leg["jitter_ms"], leg["mos_avg"], impaired=side == "callee")
    check_mos_gap("API", api_legs["caller"]["mos_avg"], api_legs["callee"]["mos_avg"], AVG_MOS_GAP)
    # The call detail record.
    with open(cdr_file) as f:
        rec = json.loads(f.readline())
    legs = {leg["side"]: leg for leg in rec["legs"] if leg["stream"] == 0}
    mos = {side: legs[side]["mos"]["avg"] for side in legs}
    for side in ("caller", "callee"):
        check_leg("CDR", side, legs[side]["loss_percent"], legs[side]["jitter_ms"], mos[side],
                  impaired=side == "callee")
    check_mos_gap("CDR", mos["caller"], mos["callee"], AVG_MOS_GAP)
    check_mos_gap("CDR (bob's worst sample)", mos["caller"], legs["callee"]["mos"]["min"], WORST_MOS_GAP)
    # /metrics: of the two legs that ended, one (bob's) lost more than 2 %, none more than 10 %.
    low = metric(metrics, "rdv_leg_loss_percent_bucket", {"le": "2"})
    high = metric(metrics, "rdv_leg_loss_percent_bucket", {"le": "10"})
    if (low, high) != (1, 2):
        raise TestFailure("/metrics rdv_leg_loss_percent buckets le=2: %s, le=10: %s; expected 1 and 2" % (low, high))
    if stopped:
        raise TestFailure(stopped)
    api = api_legs
    return ("NG: caller loss %.1f%% jitter %.1f ms MOS %s, callee loss %.1f%% jitter %.1f ms MOS %s; "
            "API: caller MOS %s, callee loss %.1f%% jitter %.1f ms MOS %s; "
            "CDR: caller loss %.1f%% jitter %.1f ms MOS %.2f, callee loss %.1f%% jitter %.1f ms MOS %.2f (min %.2f); %s"
            % (ng["caller"] + ng["callee"]
               + (api["caller"]["mos_avg"], api["callee"]["loss_percent"], api["callee"]["jitter_ms"],
                  api["callee"]["mos_avg"])
               + (legs["caller"]["loss_percent"], legs["caller"]["jitter_ms"], mos["caller"],
                  legs["callee"]["loss_percent"], legs["callee"]["jitter_ms"], mos["callee"], legs["callee"]["mos"]["min"], delayed.group(0))))


if __name__ == "__main__":
    sys.exit(main())
