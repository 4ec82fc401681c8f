"""The machine's own stalls during a benchmark, and which of Rendezvous's mixer overruns fell in them.

StallProbe runs stall_probe (StallProbe.cc: one SCHED_FIFO 90 thread per CPU, pinned, waking every
1 ms, each wake-up 5 ms or more late recorded with its time) over a phase of a run. Nothing at a
lower priority delays those threads, so a stall is the machine not running anything (a hypervisor
freezing the VM, a non-preemptive kernel's long section), which every tick in it also suffers.

overruns_in_stalls() reads the server's overrun reports (ConferenceControl::logOverrun: at most one
a second per mixer, the overruns since the worker's last report) and counts those whose report
window met a stall. A report's window runs from its first overrun (the report says when) or the
worker's previous report, at most 1.1 s before it, to the report itself, 0.2 s of slack each side. Python 3 standard library only.
"""

import datetime
import re
import signal
import subprocess
import time

# "2026-12-07T16:30:54.563 warning [13991] conference: mixer 0 ... (the worst of 17 overruns, ...)"
_REPORT = re.compile(r"^(\S+) warning \[\d+\] conference: mixer (\d+) "
                     r".*\((?:the worst of )?(\d+) overruns?(?: since|,)(?:.*the first ([\d.]+) s ago)?")
_STALL = re.compile(r"^stall cpu=(\d+) end_ms=([\d.]+) late_ms=([\d.]+)")
# A report covers the overruns since the worker's previous report, and no more than this: a
# worker reports an overrun at once when its last report is a second old, and flushes held ones at
# its first slot tick after that second (MixerWorker::reportOverrun).
_WINDOW_S = 1.1
# Slack on each side: a slot's frames are late by up to a period or two before its report.
_SLACK_S = 0.2


class StallProbe:
    """stall_probe over a phase: start() at its start, figures() at its end (idempotent)."""

    def __init__(self, binary, seconds=600):
        self.binary = binary  # None: no probe, figures() {}
        self.seconds = seconds  # the probe's own bound
        self.proc = None

    def start(self):
        if self.binary is None:
            return
        self.proc = subprocess.Popen([self.binary, "--seconds", str(int(self.seconds))], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def figures(self):
        if self.proc is None:
            return {}
        self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.proc = None
        late, latest, stalls, realtime = 0, 0.0, [], False
        for line in out.splitlines():
            m = _STALL.match(line)
            if m:
                end, ms = float(m.group(2)) / 1000, float(m.group(3))
                stalls.append([round(end - ms / 1000, 3), round(ms, 1)])
            elif line.startswith("wakeups="):
                cells = dict(kv.split("=", 1) for kv in line.split())
                late, latest = int(cells["late"]), float(cells["max_ms"])
                realtime = cells.get("realtime") == "1"
        if not realtime:  # ordinary threads: their late wake-ups are the load, not the machine
            return {"stall_probe_error": "stall_probe could not run SCHED_FIFO (needs root or CAP_SYS_NICE)"}
        return {"stalls_5ms": late, "stall_max_ms": latest,
                "stall_list": sorted(stalls)}


def _wall_seconds(stamp):
    """spdlog's local-time stamp ("2026-12-07T16:30:54.563") as CLOCK_REALTIME seconds."""
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def overrun_reports(log_path, since_s):
    """[(time_s, worker, overruns, window_start_s)] of the reports logged since `since_s`."""
    reports, last = [], {}
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                m = _REPORT.match(line)
                if not m:
                    continue
                t, worker = _wall_seconds(m.group(1)), m.group(2)
                start = max(last.get(worker, t - _WINDOW_S), t - _WINDOW_S)
                if m.group(4):  # the server says when the first of them was (a held report)
                    start = max(start, t - float(m.group(4)))
                last[worker] = t
                if t >= since_s:
                    reports.append((t, worker, int(m.group(3)), start))
    except OSError:
        return []
    return reports


def overruns_in_stalls(log_path, stall_list, since_s, expected, wait_s=3.0):
    """(in_stalls, reported): of the overruns the server reported since `since_s`, those whose
    report window met one of `stall_list` ([start_s, ms] as StallProbe.figures() gives them).
    Waits up to `wait_s` for the reports to reach `expected` overruns: a worker holds its last
    ones for up to a second after its previous report."""
    stalls = [(a, a + ms / 1000) for a, ms in stall_list]
    deadline = time.monotonic() + wait_s
    while True:
        reports = overrun_reports(log_path, since_s)
        if sum(r[2] for r in reports) >= expected or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    inside = 0
    for t, _, count, start in reports:
        if any(s_start <= t + _SLACK_S and s_end >= start - _SLACK_S for s_start, s_end in stalls):
            inside += count
    return inside, sum(r[2] for r in reports)
