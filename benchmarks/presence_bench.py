#!/usr/bin/env python3
"""Presence benchmark (signaling/presence + the B2BUA's presence agent), all on 127.0.0.1, every
load bounded in count and time. Prints figures; asserts nothing about speed.

Phases, each on a freshly started rendezvous (sip.auth_* off, presence.notify_min_interval_ms=0,
limits raised, log.level=warn):
  subscribe  sipp (UAC, -r RATE -m N) sends N SUBSCRIBEs from N distinct watchers to P presentities
             (sip.users from a generated config): each gets 200 and its first NOTIFY, which sipp
             answers 200. Figures: subscriptions set up per second (N / wall time of the sipp run),
             sipp failures, live subscriptions on /metrics, and the server's RSS (VmRSS) before and
             after; after a wait of WAIT s (the 32 s of server transactions' Timer J and the 5 s of
             NOTIFY client transactions' Timer K) RSS again: bytes per subscription =
             (RSS after wait - RSS before) / N; the subscriptions come in two halves, each followed by
             the wait, and (RSS after the second - RSS after the first) / (N/2) is the marginal cost,
             without the transaction tables sized by the rate. --malloc-conf dirty_decay_ms:0,muzzy_decay_ms:0 makes
             jemalloc return freed pages at once, so that figure is live memory only.
  fanout     W watchers (one sipp run, each call held for the whole phase) subscribe to bob; then bob
             registers and unregisters T times (raw UDP REGISTER, auth off). Each change makes W
             NOTIFYs; the driver waits (bounded) until rdv_presence_notify_total{outcome="sent"}
             rose by W and sipp answered them all (NOTIFYs in flight back to 0, seen as the next
             change going out in full), and times it. Figure: NOTIFY fan-out per second = W / time
             per change (median and best of T), the server's CPU seconds per 1000 NOTIFYs.

Usage:
  python3 benchmarks/presence_bench.py --rendezvous build/release/bin/rendezvous \\
      [--subs 100000 --rate 4000 --presentities 1000] [--watchers 10000 --toggles 6] [--json FILE]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration", "sip"))
from rdvtest import Relay, metric, proc_cpu_seconds, proc_rss_kib, wait_until  # noqa: E402
import siptest  # noqa: E402
from sipbench.batch import end_phase, run_batch, run_phases, sipp_budget  # noqa: E402

SIPP = "/usr/bin/sipp"


def sent(relay):
    return metric(relay.metrics(), "rdv_presence_notify_total", {"outcome": "sent"}) or 0


def active(relay):
    return metric(relay.metrics(), "rdv_presence_subscriptions_active") or 0


def start_server(binary, workdir, presentities, malloc_conf=None):
    os.makedirs(workdir, exist_ok=True)
    if malloc_conf:
        os.environ["MALLOC_CONF"] = malloc_conf  # jemalloc (linked into rendezvous) reads it at start
    else:
        os.environ.pop("MALLOC_CONF", None)
    conf = os.path.join(workdir, "presence-bench.toml")
    with open(conf, "w") as f:
        f.write("[sip.users]\n")
        for i in range(presentities):
            f.write('p%d = "x"\n' % i)
        f.write('bob = "x"\n')
    sets = ["presence.notify_min_interval_ms=0", "presence.max_subscriptions=1000000",
            "presence.max_per_watcher=1000", "presence.max_expires=3600", "sip.max_cps=1000000"]
    extra = ["--config", conf]
    for s in sets:
        extra += ["--set", s]
    return Relay(binary, workdir, sip={"auth_register": 0, "auth_invite": 0, "keepalive": 0}, extra=extra,
                 log_level="warn")


def sipp_argv(relay, scenario, port, calls, rate, timeout_s, workdir, tag, inf=None, limit=None):
    argv = [SIPP, "127.0.0.1:%d" % relay.sip_port, "-sf", scenario, "-t", "u1", "-i", "127.0.0.1",
            "-p", str(port), "-m", str(calls), "-r", str(rate), "-rp", "1000", "-l", str(limit or calls),
            "-nostdin", "-timeout", "%ds" % timeout_s, "-buff_size", "4194304", "-max_recv_loops", "10000",
            "-trace_stat", "-stf", os.path.join(workdir, tag + "_stat.csv"),
            "-trace_err", "-error_file", os.path.join(workdir, tag + "_err.log")]
    if inf:
        argv += ["-inf", inf]
    return argv


def run_subscribers(args, relay, workdir, tag, count, inf):
    """One sipp run of `count` subscriptions; returns (ok, failed, wall seconds, sipp exit code)."""
    budget = sipp_budget(count, args.rate)
    argv = sipp_argv(relay, os.path.join(HERE, "presence", "subscribe_once.xml"), relay.base + 5, count,
                     args.rate, budget, workdir, tag, inf=inf, limit=2000)
    return run_batch(argv, budget, workdir, tag)


def phase_subscribe(args, workdir):
    """Two equal sipp batches, each followed by the settle wait: the first RSS step includes the
    transaction layer's peak-sized tables (set by the rate, not the count), the second is the
    marginal cost of one more subscription."""
    relay = start_server(args.rendezvous, workdir, args.presentities, args.malloc_conf)
    try:
        inf = os.path.join(workdir, "presentities.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n")
            for i in range(args.presentities):
                f.write("p%d\n" % i)
        pid = relay.proc.pid
        rss0 = proc_rss_kib(pid) * 1024
        cpu0 = proc_cpu_seconds(pid)
        half = args.subs // 2
        ok1, failed1, wall1, rc1 = run_subscribers(args, relay, workdir, "subscribe1", half, inf)
        rss_peak = proc_rss_kib(pid) * 1024
        time.sleep(args.wait)  # transactions end by their timers; nothing to wait on but time
        rss1 = proc_rss_kib(pid) * 1024
        ok2, failed2, wall2, rc2 = run_subscribers(args, relay, workdir, "subscribe2", args.subs - half, inf)
        cpu1 = proc_cpu_seconds(pid)
        time.sleep(args.wait)
        rss2 = proc_rss_kib(pid) * 1024
        live = active(relay)
        ok = ok1 + ok2
        return {"subscriptions": args.subs, "sipp_exit": max(rc1, rc2), "ok": ok, "failed": failed1 + failed2,
                "live": live, "seconds": round(wall1 + wall2, 2), "per_second": round(ok / (wall1 + wall2), 1),
                "cpu_us_per_subscription": round((cpu1 - cpu0) * 1e6 / max(ok, 1), 1),
                "rss_before_mib": round(rss0 / 2**20, 1), "rss_peak_first_half_mib": round(rss_peak / 2**20, 1),
                "rss_settled_half_mib": round(rss1 / 2**20, 1), "rss_settled_mib": round(rss2 / 2**20, 1),
                "bytes_per_subscription": round((rss2 - rss0) / max(live, 1)),
                "marginal_bytes_per_subscription": round((rss2 - rss1) / max(ok2, 1))}
    finally:
        relay.stop()


def fanout_scenario(path, notifies):
    """A watcher that subscribes to bob and answers exactly `notifies` NOTIFYs."""
    answer = ("  <recv request=\"NOTIFY\"/>\n  <send><![CDATA[\nSIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n"
              "[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n]]></send>\n")
    with open(os.path.join(HERE, "presence", "subscribe_once.xml")) as f:
        text = f.read()
    head = text[:text.index("<!-- first NOTIFY -->")]
    with open(path, "w") as f:
        f.write(head + answer * notifies + "</scenario>\n")


def register_bob(relay, sock, cseq=1, expires=3600):
    req = siptest.build_request("REGISTER", "sip:127.0.0.1:%d" % relay.sip_port, sock.port, cseq=cseq,
                                call_id="bench-bob@127.0.0.1", from_uri="sip:bob@127.0.0.1",
                                to_uri="sip:bob@127.0.0.1", from_tag="b",
                                extra=["Contact: <sip:bob@127.0.0.1:%d>;expires=%d" % (sock.port, expires)])
    r = sock.transaction(req, timeout=5.0)
    if r is None or r.status != 200:
        raise RuntimeError("bob's REGISTER got %s" % (r.start if r else None))


def phase_fanout(args, workdir):
    relay = start_server(args.rendezvous, workdir, 1)
    sipp = None
    bob = siptest.UdpSip(relay.sip_port)
    try:
        scen = os.path.join(workdir, "fanout.xml")
        fanout_scenario(scen, 2 + args.toggles)  # one more than comes: sipp stays until stopped
        inf = os.path.join(workdir, "bob.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\nbob\n")
        argv = sipp_argv(relay, scen, relay.base + 5, args.watchers, 2000, 600, workdir, "fanout", inf=inf,
                         limit=args.watchers)
        sipp = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        base = 0
        wait_until("%d watchers with their first NOTIFY" % args.watchers,
                   lambda: active(relay) >= args.watchers and sent(relay) >= args.watchers, 120, proc=sipp,
                   proc_name="sipp")
        base = sent(relay)
        pid = relay.proc.pid
        cpu0 = proc_cpu_seconds(pid)
        times = []
        for k in range(args.toggles):
            t0 = time.monotonic()
            register_bob(relay, bob, k + 1, 3600 if k % 2 == 0 else 0)
            want = base + (k + 1) * args.watchers
            wait_until("change %d fanned out" % (k + 1), lambda: sent(relay) >= want, 120, proc=sipp,
                       proc_name="sipp", interval=0.01)
            times.append(time.monotonic() - t0)
            time.sleep(0.5)  # let the last answers in: the next change must find nothing in flight
        cpu1 = proc_cpu_seconds(pid)
        rates = [args.watchers / t for t in times]
        failed = metric(relay.metrics(), "rdv_presence_notify_total", {"outcome": "failed"}) or 0
        return {"watchers": args.watchers, "changes": args.toggles,
                "seconds_per_change": [round(t, 3) for t in times],
                "notify_per_second_median": round(statistics.median(rates)),
                "notify_per_second_best": round(max(rates)),
                "cpu_ms_per_1000_notify": round((cpu1 - cpu0) * 1e6 / (args.watchers * args.toggles), 1),
                "notify_failed": failed}
    finally:
        end_phase(relay, sock=bob, sipp=sipp)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--subs", type=int, default=100000)
    ap.add_argument("--rate", type=int, default=4000)
    ap.add_argument("--presentities", type=int, default=1000)
    ap.add_argument("--wait", type=float, default=40.0)
    ap.add_argument("--watchers", type=int, default=10000)
    ap.add_argument("--toggles", type=int, default=6)
    ap.add_argument("--phases", default="subscribe,fanout")
    ap.add_argument("--malloc-conf", default="",
                    help="MALLOC_CONF for the subscribe phase's server, e.g. dirty_decay_ms:0,muzzy_decay_ms:0 so "
                         "that RSS shows live memory rather than pages jemalloc keeps for reuse")
    ap.add_argument("--json")
    args = ap.parse_args()
    return run_phases("presence_bench", args, (("subscribe", phase_subscribe), ("fanout", phase_fanout)))


if __name__ == "__main__":
    sys.exit(main())
