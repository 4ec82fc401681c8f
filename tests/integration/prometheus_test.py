#!/usr/bin/env python3
"""Integration test: a real Prometheus (Debian's) scrapes Rendezvous's /metrics.

A call is set up over NG, carries RTP both ways and is deleted; Prometheus scrapes every second,
and PromQL queries through its HTTP API must return the series that call left: the target is up,
the NG commands by name (one offer, one delete), the relayed packets, and the families of the
live-quality and CPU metrics exist. Both processes are stopped by PID at the end.
Usage: prometheus_test.py --rendezvous PATH --workdir DIR [--prometheus PATH]
"""

import argparse
import json
import os
import socket
import sys
import tempfile
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rdvtest import Procs, Relay, TestFailure, free_block, ng_call_with_rtp, tail, wait_until  # noqa: E402

N = 20  # RTP packets per direction


def call_through(relay):
    """offer/answer over NG, N packets each way (each awaited), delete."""
    a, b = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    for s in (a, b):
        s.bind(("127.0.0.1", 0))
        s.settimeout(2.0)
    try:
        ng_call_with_rtp(relay.ng_port, "prom-1", a, b, N)
        deleted = relay.ng("delete", **{"call-id": "prom-1", "from-tag": "ft"})
        if deleted.get("result") != b"ok":
            raise TestFailure("NG delete failed: %s" % deleted)
    finally:
        a.close()
        b.close()


def promql(port, query):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": query}))
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            doc = json.load(r)
    except OSError:
        return None  # not up yet
    return doc["data"]["result"] if doc.get("status") == "success" else None


def value_of(port, query):
    """The single value a PromQL query returns, or None."""
    res = promql(port, query)
    return float(res[0]["value"][1]) if res else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="run-", dir=args.workdir)
    relay = Relay(args.rendezvous, os.path.join(workdir, "rendezvous"))
    procs = Procs(workdir)
    try:
        call_through(relay)
        prom_port = free_block(10)
        cfg = os.path.join(workdir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: rendezvous\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % relay.metrics_port)
        prom = procs.start("prometheus", [args.prometheus, "--config.file=" + cfg,
                                          "--storage.tsdb.path=" + os.path.join(workdir, "tsdb"),
                                          "--web.listen-address=127.0.0.1:%d" % prom_port])
        log = procs.log_of("prometheus")
        wait_until("Prometheus to scrape rendezvous (up == 1)",
                   lambda: value_of(prom_port, 'up{job="rendezvous"}') == 1, 30, proc=prom,
                   proc_name="prometheus", log=log)
        checks = [
            ('rdv_ng_commands_total{command="offer"}', lambda v: v == 1),
            ('rdv_ng_commands_total{command="delete"}', lambda v: v == 1),
            ("sum(rdv_relay_packets_total)", lambda v: v >= 2 * N),
            ('count(rdv_cpu_seconds_total{group=~"relay|control"})', lambda v: v == 2),
            ("rdv_live_leg_mos_count", lambda v: v >= 0),
            ('rdv_leg_loss_percent_count', lambda v: v == 2),
        ]
        results = {}

        def holds(query, ok):
            results[query] = value_of(prom_port, query)
            return results[query] is not None and ok(results[query])
        for query, ok in checks:
            wait_until("PromQL %s (last: %s)" % (query, results.get(query)), lambda: holds(query, ok), 10,
                       proc=prom, proc_name="prometheus", log=log)
        if not relay.alive():
            raise TestFailure("rendezvous exited during the scrapes")
        print("PASS integration.prometheus: %s" % ", ".join("%s = %g" % (q, v) for q, v in results.items()))
        return 0
    except (TestFailure, OSError) as e:
        print("FAIL integration.prometheus: %s\n--- rendezvous:\n%s" % (e, tail(relay.procs.log_of("rendezvous"), 20)))
        return 1
    finally:
        procs.stop_all()
        stopped = relay.stop()
        if stopped is not None:
            print("rendezvous: %s" % stopped)


if __name__ == "__main__":
    sys.exit(main())
