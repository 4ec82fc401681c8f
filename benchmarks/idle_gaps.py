#!/usr/bin/env python3
"""How a machine's idle time is cut up: records sched_switch on every CPU for --seconds (or reads
a perf.data given with --data) and prints the idle gaps (time on the swapper between two
switches) by length, per second of the span.

    python3 benchmarks/idle_gaps.py --seconds 5        # while a benchmark runs; needs perf, root

A hypervisor that polls a halted vCPU before descheduling it sees gaps shorter than its poll
window as busy (benchmarks/README.md, "The host's view of idle time"). Bounded: one perf record."""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

EDGES_US = [50, 100, 200, 500, 1000, 2000, 5000, float("inf")]
LINE = re.compile(r"\s*\[(\d+)\]\s+([\d.]+):\s+\S+:\s+(.*)")
PIDS = re.compile(r"prev_pid=(\d+).*next_pid=(\d+)")


def gaps_of(data):
    """(span in seconds, idle gap lengths in microseconds) from a sched_switch recording."""
    out = subprocess.run(["perf", "script", "-i", data, "-F", "cpu,time,event,trace"],
                         capture_output=True, text=True, check=True).stdout
    idle_since, gaps, first, last = {}, [], None, None
    for line in out.splitlines():
        m = LINE.match(line)
        pids = PIDS.search(m.group(3)) if m else None
        if not pids:
            continue
        cpu, t = int(m.group(1)), float(m.group(2))
        first = t if first is None else first
        last = t
        prev, nxt = int(pids.group(1)), int(pids.group(2))
        if nxt == 0:
            idle_since[cpu] = t
        elif prev == 0 and cpu in idle_since:
            gaps.append((t - idle_since.pop(cpu)) * 1e6)
    return (last - first if first is not None else 0.0), gaps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--data", help="an existing perf.data with sched:sched_switch (skips recording)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if not data:
            data = os.path.join(tmp, "perf.data")
            subprocess.run(["perf", "record", "-q", "-e", "sched:sched_switch", "-a", "-o", data, "--",
                            "sleep", str(args.seconds)], check=True, stdout=subprocess.DEVNULL)
        span, gaps = gaps_of(data)
    if span <= 0:
        print("no sched_switch events")
        return 1
    count, total = collections.Counter(), collections.Counter()
    for g in gaps:
        edge = next(e for e in EDGES_US if g < e)
        count[edge] += 1
        total[edge] += g
    print(f"span {span:.2f} s, {len(gaps) / span:.0f} idle gaps a second, {sum(gaps) / 1e6 / span:.3f} idle CPUs")
    low = 0
    for e in EDGES_US:
        high = "inf" if e == float("inf") else f"{e:.0f}"
        print(f"  {low:>5.0f}-{high:>5} us: {count[e] / span:7.0f} a second, {total[e] / 1e6 / span:.3f} idle CPUs")
        low = e
    return 0


if __name__ == "__main__":
    sys.exit(main())
