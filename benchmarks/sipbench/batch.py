"""The frame the phase-by-phase SIP benchmarks share (message_bench, presence_bench,
presence_kamailio_bench): main()'s loop over the phases asked for, one bounded sipp batch and what
it counted, and a phase's cleanup."""

import json
import os
import subprocess
import tempfile
import time

from rdvtest import stop_process


def sipp_counts(workdir, tag):
    """(successful, failed) calls from sipp's last -trace_stat line."""
    path = os.path.join(workdir, tag + "_stat.csv")
    with open(path) as f:
        lines = [l.rstrip("\n").split(";") for l in f if l.strip()]
    head, last = lines[0], lines[-1]
    return int(last[head.index("SuccessfulCall(C)")]), int(last[head.index("FailedCall(C)")])


def sipp_budget(count, rate):
    """Seconds a batch of `count` calls offered at `rate`/s may take (sipp's -timeout)."""
    return count // max(1, rate // 4) + 60


def run_batch(argv, budget, workdir, tag, cwd=None):
    """Runs one sipp batch (its -stf is <workdir>/<tag>_stat.csv) to its end, at most budget + 60 s;
    returns (ok, failed, wall seconds, sipp exit code)."""
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=budget + 60, cwd=cwd)
    wall = time.monotonic() - t0
    ok, failed = sipp_counts(workdir, tag)
    return ok, failed, wall, p.returncode


def end_phase(server, sock=None, sipp=None):
    """A phase's cleanup: its SIP socket closed, its sipp (if started) and its server stopped."""
    if sock is not None:
        sock.close()
    if sipp is not None:
        stop_process(sipp, grace=2.0)
    server.stop()


def run_phases(prefix, args, phases, on_error=None):
    """main()'s loop: a fresh temporary workdir (printed), then each (name, fn) of `phases` named in
    args.phases run as fn(args, <workdir>/<name>) and its result printed as one JSON line; all
    results written to args.json when given. on_error(exception, phase dir), when given, turns a
    phase's exception into its result (the benchmark goes on); without it the exception ends the
    run. Returns 0."""
    workdir = tempfile.mkdtemp(prefix=prefix + "-")
    print("logs in %s" % workdir, flush=True)
    out = {}
    for name, fn in phases:
        if name not in args.phases:
            continue
        d = os.path.join(workdir, name)
        os.makedirs(d, exist_ok=True)
        if on_error is None:
            out[name] = fn(args, d)
        else:
            try:
                out[name] = fn(args, d)
            except Exception as e:  # a benchmark reports what failed and goes on
                out[name] = on_error(e, d)
        print("%s: %s" % (name, json.dumps(out[name])), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0
