#!/usr/bin/env python3
"""Checks the Grafana dashboard and the compose stack's configuration against a real Rendezvous
and a real Prometheus, as far as that is possible without Docker.

1. Files: docker/grafana/rendezvous-dashboard.json parses as JSON, has unique panel ids, every
   panel and query uses the `${DS_PROMETHEUS}` data-source variable, and that variable exists;
   compose.yml, prometheus/prometheus.yml and the Grafana provisioning files parse as YAML (when
   python3-yaml is installed; otherwise that step is reported as skipped) and every file the
   compose file mounts exists.
2. `promtool check config docker/prometheus/prometheus.yml` (when promtool is installed).
3. Starts rendezvous (NG, SIP and metrics on loopback, call records to a temporary file so every
   metric family is exported) and Prometheus scraping it every second, both on 127.0.0.1 ports
   from rdvtest.free_block. Every rdv_* name a panel uses must appear in /metrics. Once
   Prometheus holds three scrapes, every panel expression (with $instance -> .+,
   $__rate_interval -> 1m) goes through /api/v1/query: it must parse (status success) and return
   at least one series, which proves the names and labels match what Rendezvous exports. The
   $instance variable's label_values() query is checked through /api/v1/series.
Both processes are stopped by PID at the end. Exit status 0 when everything passed.

Usage (from the repository root; Python 3 standard library, python3-yaml optional):
  python3 docker/check_dashboard.py --rendezvous build/release/bin/rendezvous \
      [--dashboard FILE] [--prometheus /usr/bin/prometheus] [--promtool /usr/bin/promtool] [--workdir DIR]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from rdvtest import Procs, TestFailure, free_block, scrape_metrics, tail, wait_until  # noqa: E402

DASHBOARD = os.path.join(HERE, "grafana", "rendezvous-dashboard.json")
YAML_FILES = ["compose.yml", "prometheus/prometheus.yml", "grafana/provisioning/datasources/prometheus.yml",
              "grafana/provisioning/dashboards/rendezvous.yml"]
DS_REF = "${DS_PROMETHEUS}"
# What Grafana puts in place of the variables before the query reaches Prometheus.
SUBSTITUTIONS = [("$__rate_interval", "1m"), ("$__interval", "15s"), ("$__range", "1h"), ("$instance", ".+")]

failures = []


def fail(what):
    failures.append(what)
    print("FAIL " + what)


def ok(what):
    print("ok   " + what)


def panel_targets(dash):
    """[(panel title, refId, expr)] over every panel, rows' nested panels included."""
    out = []
    stack = list(dash.get("panels", []))
    while stack:
        p = stack.pop(0)
        stack.extend(p.get("panels", []))
        for t in p.get("targets", []):
            out.append((p.get("title", "?"), t.get("refId", "?"), t.get("expr", "")))
    return out


def check_dashboard_json(path):
    with open(path) as f:
        dash = json.load(f)
    ok("dashboard JSON parses: %d top-level panels" % len(dash.get("panels", [])))
    ids = [p.get("id") for p in dash["panels"]]
    if len(ids) != len(set(ids)):
        fail("duplicate panel ids: %s" % ids)
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        fail("no data-source variable DS_PROMETHEUS of type prometheus")
    for p in dash["panels"]:
        if p.get("type") == "row":
            continue
        refs = [p.get("datasource")] + [t.get("datasource") for t in p.get("targets", [])]
        if any(not r or r.get("uid") != DS_REF or r.get("type") != "prometheus" for r in refs):
            fail("panel %r does not use the %s data source everywhere" % (p.get("title"), DS_REF))
    targets = panel_targets(dash)
    if not targets or any(not e for _, _, e in targets):
        fail("a panel query without an expression")
    instance = variables.get("instance", {})
    return targets, instance.get("definition", "")


def check_yaml():
    try:
        import yaml
    except ImportError:
        print("skip YAML parse: python3-yaml is not installed")
        yaml = None
    for rel in YAML_FILES:
        path = os.path.join(HERE, rel)
        if not os.path.exists(path):
            fail("%s is missing" % rel)
            continue
        if yaml is None:
            continue
        with open(path) as f:
            try:
                doc = yaml.safe_load(f)
            except yaml.YAMLError as e:
                fail("%s: %s" % (rel, e))
                continue
        ok("%s parses as YAML" % rel)
        if rel == "compose.yml":
            for name, svc in doc.get("services", {}).items():
                for vol in svc.get("volumes", []):
                    src = vol.split(":")[0]
                    if src.startswith("."):
                        if os.path.exists(os.path.join(HERE, src)):
                            ok("compose %s mounts %s, which exists" % (name, src))
                        else:
                            fail("compose %s mounts %s, which does not exist" % (name, src))
                build = svc.get("build")
                if build:
                    dockerfile = os.path.join(HERE, build["context"], build["dockerfile"])
                    if not os.path.exists(dockerfile):
                        fail("compose %s builds from %s, which does not exist" % (name, dockerfile))


def check_promtool(promtool):
    if not promtool or not shutil.which(promtool):
        print("skip promtool check config: promtool not found")
        return
    r = subprocess.run([promtool, "check", "config", os.path.join(HERE, "prometheus", "prometheus.yml")],
                       capture_output=True, text=True, timeout=30)
    if r.returncode == 0:
        ok("promtool check config prometheus/prometheus.yml")
    else:
        fail("promtool check config: %s%s" % (r.stdout, r.stderr))


def promql(port, query):
    """(status, result) of an instant query; status is None when Prometheus did not answer."""
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": query}))
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.load(r)
    except urllib.error.HTTPError as e:  # 400 for a query that does not parse
        doc = json.load(e)
    except OSError:
        return None, None
    return doc.get("status"), doc.get("data", {}).get("result") if doc.get("status") == "success" else doc.get("error")


def substitute(expr):
    for var, value in SUBSTITUTIONS:
        expr = expr.replace(var, value)
    return expr


def check_live(args, targets, instance_definition):
    workdir = tempfile.mkdtemp(prefix="check_dashboard-", dir=args.workdir)
    base = free_block(10)
    ng, metrics, sip, prom_port = base, base + 1, base + 2, base + 3
    media = free_block(100)
    procs = Procs(workdir)
    try:
        rdv = procs.start("rendezvous", [
            os.path.abspath(args.rendezvous), "--set", "ng.listen=127.0.0.1:%d" % ng,
            "--set", "metrics.listen=127.0.0.1:%d" % metrics, "--set", "sip.listen=127.0.0.1:%d" % sip,
            "--set", "api.listen=", "--set", "relay.interface=127.0.0.1",
            "--set", "relay.port_min=%d" % media, "--set", "relay.port_max=%d" % (media + 99),
            "--set", "cdr.file=%s" % os.path.join(workdir, "cdr.jsonl")])
        text = wait_until("rendezvous /metrics", lambda: scrape_metrics(metrics), 15, proc=rdv,
                          proc_name="rendezvous", log=procs.log_of("rendezvous"))
        exported = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", text, re.M))
        used = sorted({n for _, _, e in targets for n in re.findall(r"\brdv_[a-z0-9_]+", e)})
        used += re.findall(r"\brdv_[a-z0-9_]+", instance_definition)
        for name in used:
            if name in exported:
                ok("metric %s is exported" % name)
            else:
                fail("metric %s is not in /metrics" % name)

        cfg = os.path.join(workdir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: rendezvous\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % metrics)
        prom = procs.start("prometheus", [args.prometheus, "--config.file=" + cfg,
                                          "--storage.tsdb.path=" + os.path.join(workdir, "tsdb"),
                                          "--web.listen-address=127.0.0.1:%d" % prom_port])

        def scrapes():
            status, res = promql(prom_port, 'count_over_time(up{job="rendezvous"}[5m])')
            return status == "success" and res and float(res[0]["value"][1]) >= 3
        wait_until("three scrapes of rendezvous in Prometheus", scrapes, 60, proc=prom,
                   proc_name="prometheus", log=procs.log_of("prometheus"))
        status, res = promql(prom_port, 'up{job="rendezvous"}')
        if status != "success" or not res or res[0]["value"][1] != "1":
            fail("Prometheus does not see rendezvous up: %s" % res)
        for title, ref, expr in targets:
            query = substitute(expr)
            status, res = promql(prom_port, query)
            if status != "success":
                fail("%s / %s: %s -> %s %s" % (title, ref, query, status, res))
            elif not res:
                fail("%s / %s: %s -> no series" % (title, ref, query))
            else:
                ok("%s / %s: %d series" % (title, ref, len(res)))
        m = re.match(r"label_values\((\w+),\s*(\w+)\)", instance_definition)
        if not m:
            fail("$instance variable: unexpected definition %r" % instance_definition)
        else:
            url = "http://127.0.0.1:%d/api/v1/label/%s/values?%s" % (
                prom_port, m.group(2), urllib.parse.urlencode({"match[]": m.group(1)}))
            with urllib.request.urlopen(url, timeout=5) as r:
                values = json.load(r).get("data", [])
            if values:
                ok("$instance variable: %s -> %s" % (instance_definition, values))
            else:
                fail("$instance variable: %s -> no values" % instance_definition)
        if rdv.poll() is not None:
            fail("rendezvous exited during the check\n%s" % tail(procs.log_of("rendezvous")))
    finally:
        procs.stop_all()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--dashboard", default=DASHBOARD)
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    ap.add_argument("--promtool", default="/usr/bin/promtool")
    ap.add_argument("--workdir", default=None, help="parent of the run directory (default: $TMPDIR)")
    args = ap.parse_args()
    targets, instance_definition = check_dashboard_json(args.dashboard)
    check_yaml()
    check_promtool(args.promtool)
    try:
        check_live(args, targets, instance_definition)
    except TestFailure as e:
        fail(str(e))
    print("%s: %d panel queries, %d failures" % ("FAIL" if failures else "PASS", len(targets), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
