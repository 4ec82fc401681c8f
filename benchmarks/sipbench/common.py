"""What every part of the SIP benchmark shares: paths, the pass and stop thresholds, logging,
percentiles, the benchmark users' passwords and the context handed to every phase."""

import os
import shutil
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # benchmarks/
ROOT = os.path.dirname(HERE)

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
SCEN_DIR = os.path.join(HERE, "sip")
SUCCESS_PCT = 99.9
OTHER_CPU_WARN_PCT = 10.0
RATE_KEPT = 0.95           # a step counts only if the generator kept >= 95 % of the asked rate
SATURATED_OK_PCT = 95.0    # stepping stops after a step below this success rate ...
SATURATED_KEPT = 0.90      # ... or below this share of the asked rate
PTIME_MS = 20


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def pct(values, q):
    """Nearest-rank percentile of a list (None when empty)."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(q / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def password_of(user):
    """Every benchmark user's password: the Kamailio config derives it the same way."""
    return "pw-" + user


class Ctx:
    """What every phase shares: arguments, ports, run directory, the sipp control-port counter."""

    def __init__(self, args, ports, workdir):
        self.args = args
        self.ports = ports
        self.workdir = workdir
        self.cp_next = 0
        self.runs = 0

    def cp(self):
        self.cp_next = (self.cp_next + 1) % 8
        return self.ports["cp"] + self.cp_next

    def tag(self, name):
        self.runs += 1
        return "%03d-%s" % (self.runs, name)


def saturated(row, rate):
    """Stop stepping up: the step failed clearly (not a few stray failures below 99.9 %)."""
    return ("error" in row or row.get("ok_pct", 0) < SATURATED_OK_PCT or
            (row.get("kept_cps") or 0) < SATURATED_KEPT * rate)
