#!/usr/bin/env python3
"""Does the host freeze this machine, and for which shape of load? Runs stall_probe with
--load THREADS:FRACTION:PERIOD_US for each shape given, in turn, --runs times, and prints the
freezes (stalls of at least --freeze-ms) each run saw.

    python3 benchmarks/host_freeze.py --stall-probe build/dev/bin/stall_probe \\
        --seconds 20 --runs 4 2:0.8:250 2:0.8:1000 2:0.8:10000

Two shapes with the same busy fraction but different idle gaps (2:0.8:250 sleeps 50 us at a
time, 2:0.8:10000 sleeps 2 ms) tell whether the host counts short idle gaps as busy (a
hypervisor that polls a halted vCPU for a while before it deschedules it): benchmarks/README.md,
"The host's view of idle time". No network; bounded: each run stops after --seconds."""
import argparse
import subprocess
import sys


def run(probe, shape, seconds, freeze_ms):
    out = subprocess.run([probe, "--seconds", str(seconds), "--load", shape], capture_output=True,
                         text=True, timeout=seconds + 30, check=True).stdout
    late = [float(w.split("=", 1)[1]) for line in out.splitlines() if line.startswith("stall ")
            for w in line.split() if w.startswith("late_ms=")]
    freezes = [x for x in late if x >= freeze_ms]
    return len(freezes), max(late, default=0.0), len(late)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stall-probe", required=True)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--freeze-ms", type=float, default=50.0)
    ap.add_argument("shapes", nargs="+", help="THREADS:FRACTION:PERIOD_US")
    args = ap.parse_args()
    totals = {s: [] for s in args.shapes}
    print(f"{'shape':>14} {'run':>4} {'freezes':>8} {'stalls>=5ms':>12} {'max ms':>8}", flush=True)
    for i in range(args.runs):
        for s in args.shapes:  # shapes interleaved, so a noisy spell of the host hits all of them
            n, worst, stalls = run(args.stall_probe, s, args.seconds, args.freeze_ms)
            totals[s].append(n)
            print(f"{s:>14} {i + 1:>4} {n:>8} {stalls:>12} {worst:>8.1f}", flush=True)
    for s, ns in totals.items():
        print(f"{s}: runs with a freeze {sum(1 for n in ns if n)} of {len(ns)}, freezes {sum(ns)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
