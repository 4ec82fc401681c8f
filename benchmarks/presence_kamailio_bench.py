#!/usr/bin/env python3
"""Kamailio 5.6's presence module (Debian kamailio-presence-modules, presence_xml, db_text) under
the same sipp load as presence_bench.py puts on Rendezvous, for the comparison in
benchmarks/README.md. All on 127.0.0.1, every load bounded in count and time; prints figures and
asserts nothing about speed.

Kamailio runs benchmarks/presence/kamailio-presence.cfg.in: SUBSCRIBE and PUBLISH handled by
handle_subscribe()/handle_publish(), no authentication, subscriptions in memory
(presence subs_db_mode 0), presentities in db_text files (a copy of /usr/share/kamailio/dbtext
in the run directory), force_active (no authorization rules), CHILDREN UDP workers.

Phases:
  subscribe  sipp (benchmarks/presence/subscribe_once.xml, -r RATE -m N) subscribes N watchers to
             P presentities: 200 and the first NOTIFY each. Figures: subscriptions/s, sipp
             failures, Kamailio's memory (sum of its processes' PSS; its shared memory pool is
             mapped up front and counts as it is touched) before and after, per subscription.
  fanout     W watchers subscribe to bob (a scenario answering two NOTIFYs, then ending); once
             sipp counted W first NOTIFYs (-trace_counts, every second) one PUBLISH (PIDF "open")
             for bob goes out; the time from it to sipp's exit (every watcher got and answered its
             second NOTIFY) gives NOTIFY fan-out/s = W / time. Both phases subscribe at -r RATE.

Usage:
  python3 benchmarks/presence_kamailio_bench.py [--subs 100000 --rate 4000 --presentities 1000]
      [--watchers 10000] [--children 2] [--json FILE]
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration", "sip"))
from rdvtest import free_block, stop_process, tail, wait_until  # noqa: E402
import siptest  # noqa: E402
from presence_bench import SIPP  # noqa: E402
from sipbench.batch import end_phase, run_batch, run_phases, sipp_budget, sipp_counts  # noqa: E402
from sipbench.procs import group_pids, proc_pss_kib  # noqa: E402

KAMAILIO = "/usr/sbin/kamailio"
MODULE_DIR = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
DBTEXT = "/usr/share/kamailio/dbtext/kamailio"


class Kamailio:
    def __init__(self, workdir, children):
        self.base = free_block()
        self.sip_port = self.base + 2
        self.workdir = workdir
        run = os.path.join(workdir, "run")
        db = os.path.join(workdir, "db")
        os.makedirs(run, exist_ok=True)
        shutil.copytree(DBTEXT, db)
        with open(os.path.join(HERE, "presence", "kamailio-presence.cfg.in")) as f:
            cfg = f.read()
        for key, val in (("SIP_PORT", self.sip_port), ("RUN_DIR", run), ("MODULE_DIR", MODULE_DIR),
                         ("DB_DIR", db), ("CHILDREN", children)):
            cfg = cfg.replace("@%s@" % key, str(val))
        cfg_path = os.path.join(run, "kamailio.cfg")
        with open(cfg_path, "w") as f:
            f.write(cfg)
        self.log = os.path.join(workdir, "kamailio.log")
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen([KAMAILIO, "-f", cfg_path, "-DD", "-E", "-P", os.path.join(run, "k.pid"),
                                          "-Y", run, "-w", run, "-m", "1024", "-M", "32"],
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_until("kamailio answers OPTIONS", lambda: siptest.options_ok(self.sip_port, timeout=0.3), 15,
                   proc=self.proc, proc_name="kamailio", log=self.log)
        self.pids = group_pids(self.proc.pid)

    def pss_bytes(self):
        return sum(proc_pss_kib(p) for p in self.pids) * 1024

    def stop(self):
        stop_process(self.proc, grace=5.0)


def sipp_argv(kam, scenario, calls, rate, timeout_s, workdir, tag, inf):
    return [SIPP, "127.0.0.1:%d" % kam.sip_port, "-sf", scenario, "-t", "u1", "-i", "127.0.0.1",
            "-p", str(kam.base + 5), "-mp", str(kam.base + 40), "-m", str(calls), "-r", str(rate), "-rp", "1000",
            "-l", str(calls), "-nostdin", "-timeout", "%ds" % timeout_s, "-buff_size", "4194304",
            "-max_recv_loops", "10000", "-inf", inf,
            "-trace_stat", "-stf", os.path.join(workdir, tag + "_stat.csv"), "-fd", "1",
            "-trace_counts",  # <scenario>_<pid>_counts.csv in the working directory
            "-trace_err", "-error_file", os.path.join(workdir, tag + "_err.log")]


def phase_subscribe(args, workdir):
    kam = Kamailio(workdir, args.children)
    try:
        inf = os.path.join(workdir, "presentities.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n" + "".join("p%d\n" % i for i in range(args.presentities)))
        pss0 = kam.pss_bytes()
        budget = sipp_budget(args.subs, args.rate)
        ok, failed, wall, rc = run_batch(sipp_argv(kam, os.path.join(HERE, "presence", "subscribe_once.xml"), args.subs,
                                                   args.rate, budget, workdir, "subscribe", inf),
                                         budget, workdir, "subscribe", cwd=workdir)
        pss1 = kam.pss_bytes()
        return {"subscriptions": args.subs, "sipp_exit": rc, "ok": ok, "failed": failed,
                "seconds": round(wall, 2), "per_second": round(ok / wall, 1),
                "pss_before_mib": round(pss0 / 2**20, 1), "pss_after_mib": round(pss1 / 2**20, 1),
                "bytes_per_subscription": round((pss1 - pss0) / max(ok, 1))}
    finally:
        kam.stop()


def first_notifies(path):
    """How many first NOTIFYs sipp counted (-trace_counts: the scenario's 3rd message, 'Recv')."""
    try:
        with open(path) as f:
            rows = list(csv.reader(f, delimiter=";"))
    except FileNotFoundError:
        return 0
    if len(rows) < 2:
        return 0
    head, last = rows[0], rows[-1]
    cols = [i for i, h in enumerate(head) if h.endswith("_NOTIFY_Recv")]
    return int(last[cols[0]]) if cols and cols[0] < len(last) and last[cols[0]].isdigit() else 0


def phase_fanout(args, workdir):
    kam = Kamailio(workdir, args.children)
    sipp = None
    pub = siptest.UdpSip(kam.sip_port)
    try:
        with open(os.path.join(HERE, "presence", "subscribe_once.xml")) as f:
            text = f.read()
        i = text.index("<!-- first NOTIFY -->")
        scen = os.path.join(workdir, "fanout.xml")
        with open(scen, "w") as f:  # the first NOTIFY's answer twice: the initial one and the change
            f.write(text[:i] + text[i:text.index("</scenario>")] * 2 + "</scenario>\n")
        inf = os.path.join(workdir, "bob.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\nbob\n")
        sipp = subprocess.Popen(sipp_argv(kam, scen, args.watchers, args.rate, 300, workdir, "fanout", inf),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                cwd=workdir)
        counts = os.path.join(workdir, "fanout_%d_counts.csv" % sipp.pid)
        wait_until("%d first NOTIFYs" % args.watchers, lambda: first_notifies(counts) >= args.watchers, 120,
                   proc=sipp, proc_name="sipp")
        body = ('<?xml version="1.0" encoding="UTF-8"?>\r\n<presence xmlns="urn:ietf:params:xml:ns:pidf" '
                'entity="sip:bob@127.0.0.1"><tuple id="t1"><status><basic>open</basic></status></tuple>'
                '</presence>\r\n').encode()
        req = siptest.build_request("PUBLISH", "sip:bob@127.0.0.1:%d" % kam.sip_port, pub.port,
                                    from_uri="sip:bob@127.0.0.1", to_uri="sip:bob@127.0.0.1",
                                    extra=["Event: presence", "Expires: 3600"], body=body,
                                    content_type="application/pidf+xml")
        t0 = time.monotonic()
        r = pub.transaction(req, timeout=30.0)
        sipp.wait(timeout=120)
        t = time.monotonic() - t0
        ok, failed = sipp_counts(workdir, "fanout")
        return {"watchers": args.watchers, "publish_answer": r.start if r else None, "sipp_exit": sipp.returncode,
                "ok": ok, "failed": failed, "seconds_for_change": round(t, 3),
                "notify_per_second": round(args.watchers / t)}
    finally:
        end_phase(kam, sock=pub, sipp=sipp)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subs", type=int, default=100000)
    ap.add_argument("--rate", type=int, default=4000)
    ap.add_argument("--presentities", type=int, default=1000)
    ap.add_argument("--watchers", type=int, default=10000)
    ap.add_argument("--children", type=int, default=2)
    ap.add_argument("--phases", default="subscribe,fanout")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not os.access(KAMAILIO, os.X_OK) or not os.path.exists(os.path.join(MODULE_DIR, "presence.so")):
        print("kamailio or kamailio-presence-modules not installed (scripts/install-deps.sh)")
        return 1

    def failed(e, phase_dir):
        return {"error": str(e), "kamailio_log_tail": tail(os.path.join(phase_dir, "kamailio.log"), 15)}
    return run_phases("presence_kamailio_bench", args, (("subscribe", phase_subscribe), ("fanout", phase_fanout)),
                      on_error=failed)


if __name__ == "__main__":
    sys.exit(main())
