"""Ports, processes and sampling for the SIP benchmark: the reserved port block, the descriptor
limit, the helper processes we start (stopped by PID), and CPU / RSS / PSS read from /proc."""

import os
import resource
import subprocess
import time

import relay_bench
from relay_bench import NCPU, proc_cpu_seconds, system_busy_seconds
from rdvtest import free_block, stop_process


def pick_ports():
    """A block of 100 loopback ports for SIP, NG, metrics and sipp, reserved with the integration
    tests' flock scheme (rdvtest.free_block) in 61000-65499: above the kernel's ephemeral range
    and outside the relays' media range and the ranges the tests use (10000-32000)."""
    base = free_block(100, 61000, 65500)
    return {
        "sip": base, "ng": base + 1, "metrics": base + 2,
        "uas_sip": base + 3,       # mode-1 callee population (and concurrency, flood)
        "uas2_sip": base + 4,      # mode-2 callee population (plays RTP)
        "uac_sip": base + 5, "probe_sip": base + 6,
        "reg_sip": base + 7,       # REGISTER workers: reg_sip + i (up to 4)
        "flood_sip": base + 11,
        "cp": base + 12,           # sipp control ports: cp .. cp + 7
        "uas_media": base + 20,    # sipp binds -mp and a few ports above it
        "uas2_media": base + 30,
        "uac_media": base + 40,
        "probe_media": base + 50,  # only named in the probe's SDP
        "flood_media": base + 60,
    }


def raise_nofile():
    """Our (and so our children's) descriptor limit: 4 sockets per anchored call on the relays."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (65536, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard) if hard != resource.RLIM_INFINITY
                                                        else hard))
            return
        except (ValueError, OSError):
            continue


def own_session_child():
    """preexec_fn for processes that must have their own session (Kamailio signals its process
    group on shutdown); relay_bench.prepare_child does the setsid itself when --nice is given."""
    if not relay_bench.NICE:
        os.setsid()
    relay_bench.prepare_child()


def group_pids(pgid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 (pgrp) is the third after the command name
            out.append(int(d))
    return out


def proc_pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def safe_cpu(pid):
    try:
        return proc_cpu_seconds(pid)
    except (OSError, IndexError, ValueError):
        return 0.0


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Proc:
    """A helper process we started (sipp), logged to the run directory, stopped by its PID."""

    def __init__(self, name, argv, workdir, cwd=None):
        self.name = name
        self.log_path = os.path.join(workdir, name + ".log")
        with open(os.path.join(workdir, name + ".cmd"), "w") as f:
            f.write(" ".join(argv) + "\n")
        with open(self.log_path, "wb") as logf:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                         cwd=cwd or workdir, preexec_fn=relay_bench.prepare_child)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=max(0.1, timeout))
        except subprocess.TimeoutExpired:
            self.stop()
            return None

    def stop(self):
        stop_process(self.proc, grace=3.0)


# ---------------------------------------------------------------- a server over a step

def server_sample(server):
    return {"t": time.monotonic(), "cpu": server.cpu(), "parts": server.cpu_parts(), "busy": system_busy_seconds(),
            "self": self_cpu(), "rss": server.rss_kib()}


def cpu_split(s0, s1, n):
    """Per-process-kind CPU per unit (ms), e.g. Kamailio's own processes and rtpengine apart."""
    return {k: 1000.0 * (v - s0["parts"].get(k, 0.0)) / n for k, v in s1["parts"].items()} if n else {}


def other_pct(a, b, server_cpu, gen_cpu):
    wall = b["t"] - a["t"]
    other = (b["busy"] - a["busy"]) - server_cpu - gen_cpu
    return max(0.0, 100.0 * other / (wall * NCPU)) if wall > 0 else None
