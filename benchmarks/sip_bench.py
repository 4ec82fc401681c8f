#!/usr/bin/env python3
"""SIP benchmark driver: sipp callers and callees registered behind a SIP server, for Rendezvous
(registrar + B2BUA + its own relay) and for Kamailio 5.6 + rtpengine (registrar + proxy with
rtpengine_manage()) measured the same way in the same run.

Phases, each on a freshly started server (all on 127.0.0.1, every load bounded in calls and time):
  calls     mode 1: signalling with media anchoring, no RTP. A sipp UAS is the callee population
            (registered from Python, then started on the registered port); a sipp UAC calls it at
            stepped rates (-r, -m) and a Python probe caller makes a few calls per second beside
            it, timing INVITE->180 and INVITE->200 with kernel receive stamps. The highest step
            with >= 99.9 % successful calls (and >= 95 % of the asked rate kept) is the sustained
            rate. Stepping goes on past a step with stray failures and stops after a step below
            95 % success or 90 % of the asked rate.
  media     mode 2: 5-second calls with RTP both ways (sipp play_pcap_audio on both sides, 20 ms
            PCMA packets); packets sent and delivered are counted by the kernel (iptables counters
            on the two endpoints' media ports: OUTPUT for sent, INPUT for delivered; private
            chains removed afterwards).
  register  REGISTER with digest authentication (401 challenge, then MD5 credentials) for many
            users at stepped rates: sipp with -inf users.csv (Rendezvous is started with
            sip.auth_algorithms=MD5,SHA-256 when the build knows that key: sipp 3.6.1 answers only
            the topmost challenge and only MD5). --reg-client python uses Python workers instead.
  concurrent  N calls held up at the same time (mode 1 calls with a long hold).
  flood     INVITEs at 10x the configured sip.max_cps (Rendezvous only): 503s vs others, RSS
            before / during / after, then a normal call batch must succeed.

Server CPU per call is utime+stime from /proc (Rendezvous: its process; Kamailio: every process
of its process group, plus rtpengine) over a step, divided by the calls of that step.

Python 3 standard library only; imports helpers from relay_bench.py and tests/integration.
"""

import argparse
import csv
import json
import multiprocessing
import os
import random
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _p in (HERE, os.path.join(ROOT, "tests", "integration"), os.path.join(ROOT, "tests", "integration", "sip"),
           os.path.join(ROOT, "tests", "integration", "kamailio")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import relay_bench  # noqa: E402
from relay_bench import (NCPU, Relay, fmt, proc_cpu_seconds, proc_rss_kib, rendezvous_argv,  # noqa: E402
                         rtpengine_argv, system_busy_seconds)
from rdvtest import free_block, metric, scrape_metrics, stop_process, tail, udp_port_free  # noqa: E402
from siptest import (UdpSip, build_request, digest_authorization, options_ok, parse_challenge,  # noqa: E402
                     parse_message, register)

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
SCEN_DIR = os.path.join(HERE, "sip")
SUCCESS_PCT = 99.9
OTHER_CPU_WARN_PCT = 10.0
RATE_KEPT = 0.95           # a step counts only if the generator kept >= 95 % of the asked rate
SATURATED_OK_PCT = 95.0    # stepping stops after a step below this success rate ...
SATURATED_KEPT = 0.90      # ... or below this share of the asked rate
RELAY_PORTS = [20000, 59999]  # media ports of both relays (--relay-ports)
LOG_LEVEL = "warn"            # Rendezvous log.level (--log-level)
EXTRA_SETS = []               # --rendezvous-set KEY=VALUE, appended last
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
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


# ---------------------------------------------------------------- ports, processes, sampling

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


# ---------------------------------------------------------------- servers

_KEYS = {}


def supports_key(binary, key):
    """Whether this rendezvous build knows a configuration key (its --help lists them all)."""
    if binary not in _KEYS:
        try:
            _KEYS[binary] = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            _KEYS[binary] = ""
    return key in _KEYS[binary]


class RendezvousServer:
    name = "rendezvous"

    def __init__(self, binary, ports, workdir, users, sets):
        self.ports = ports
        self.sip_port = ports["sip"]
        argv = rendezvous_argv(binary, ports["ng"]) + [
            "--set", f"relay.port_min={RELAY_PORTS[0]}", "--set", f"relay.port_max={RELAY_PORTS[1]}",
            "--set", f"metrics.listen=127.0.0.1:{ports['metrics']}",
            "--set", f"sip.listen=127.0.0.1:{ports['sip']}",
            "--set", "sip.auth_register=1", "--set", "sip.auth_invite=0", "--set", "sip.keepalive=0"]
        if LOG_LEVEL != "warn":
            argv += ["--set", f"log.level={LOG_LEVEL}"]
        if supports_key(binary, "sip.auth_algorithms"):
            # sipp 3.6.1 answers the topmost challenge only and knows MD5 only.
            argv += ["--set", "sip.auth_algorithms=MD5,SHA-256"]
        for k, v in sets.items():
            argv += ["--set", f"sip.{k}={v}"]
        for u in users:
            argv += ["--set", f"sip.users.{u}={password_of(u)}"]
        for kv in EXTRA_SETS:
            argv += ["--set", kv]
        self.relay = Relay("rendezvous", argv, ports["ng"], workdir)

    def start(self):
        self.relay.start()
        deadline = time.monotonic() + 10
        while not options_ok(self.sip_port, timeout=0.3):
            if time.monotonic() > deadline or self.relay.proc.poll() is not None:
                raise RuntimeError("rendezvous does not answer OPTIONS on udp 127.0.0.1:%d\n%s"
                                   % (self.sip_port, self.relay.log_tail()))
            time.sleep(0.1)

    def alive(self):
        return self.relay.proc is not None and self.relay.proc.poll() is None

    def cpu(self):
        return safe_cpu(self.relay.proc.pid)

    def cpu_parts(self):
        return {}

    def rss_kib(self):
        try:
            return proc_rss_kib(self.relay.proc.pid)
        except OSError:
            return 0

    def metrics(self):
        try:
            return scrape_metrics(self.ports["metrics"])
        except (OSError, ValueError):
            return ""

    def active_calls(self):
        return metric(self.metrics(), "rdv_calls_active")

    def counters(self):
        """Rendezvous's own SIP and call counters (unlabelled samples), for the step's diagnostics."""
        out = {}
        for line in self.metrics().splitlines():
            m = re.match(r"^(rdv_(?:sip|calls)_[a-z_]+)\s+(\S+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def log_tail(self):
        return self.relay.log_tail()

    def stop(self):
        self.relay.stop()


class KamailioServer:
    name = "kamailio"

    def __init__(self, kamailio, rtpengine, ports, workdir, children):
        self.ports = ports
        self.sip_port = ports["sip"]
        self.workdir = workdir
        argv = rtpengine_argv(rtpengine, ports["ng"])
        argv = [a.replace("--port-min=50000", f"--port-min={RELAY_PORTS[0]}")
                 .replace("--port-max=59999", f"--port-max={RELAY_PORTS[1]}") for a in argv]
        self.rtpengine = Relay("rtpengine", argv, ports["ng"], workdir)
        from kamailio_sipp_test import module_dir  # noqa: E402 (only needed with Kamailio)
        rundir = tempfile.mkdtemp(prefix="kamailio-run-", dir=workdir)
        with open(os.path.join(SCEN_DIR, "kamailio.cfg.in")) as f:
            cfg = f.read()
        for key, val in (("SIP_PORT", ports["sip"]), ("NG_PORT", ports["ng"]), ("RUN_DIR", rundir),
                         ("MODULE_DIR", module_dir(None)), ("CHILDREN", children)):
            cfg = cfg.replace("@%s@" % key, str(val))
        left = re.findall(r"@[A-Z_]+@", cfg)
        if left:
            raise RuntimeError("kamailio.cfg.in has unreplaced placeholders %s" % sorted(set(left)))
        self.cfg_path = os.path.join(rundir, "kamailio.cfg")
        with open(self.cfg_path, "w") as f:
            f.write(cfg)
        self.argv = [kamailio, "-f", self.cfg_path, "-DD", "-E", "-P", os.path.join(rundir, "kamailio.pid"),
                     "-Y", rundir, "-w", rundir, "-m", "1024", "-M", "32"]
        self.log_path = os.path.join(workdir, "kamailio-%d.log" % ports["sip"])
        self.proc = None
        self.pids = []

    def start(self):
        self.rtpengine.start()  # first: Kamailio disables a relay that does not answer at start-up
        with open(self.log_path, "wb") as logf:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                         preexec_fn=own_session_child)
        deadline = time.monotonic() + 15
        while not options_ok(self.sip_port, timeout=0.3):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("kamailio does not answer OPTIONS on udp 127.0.0.1:%d\n%s"
                                   % (self.sip_port, tail(self.log_path)))
            time.sleep(0.1)
        time.sleep(0.3)
        self.pids = group_pids(self.proc.pid)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None and self.rtpengine.proc.poll() is None

    def cpu(self):
        return sum(safe_cpu(p) for p in self.pids) + safe_cpu(self.rtpengine.proc.pid)

    def cpu_parts(self):
        return {"kamailio": sum(safe_cpu(p) for p in self.pids), "rtpengine": safe_cpu(self.rtpengine.proc.pid)}

    def rss_kib(self):
        """Kamailio's processes share memory: their PSS sum, plus rtpengine's RSS."""
        try:
            return sum(proc_pss_kib(p) for p in self.pids) + proc_rss_kib(self.rtpengine.proc.pid)
        except OSError:
            return 0

    def active_calls(self):
        return None

    def counters(self):
        return {}

    def log_tail(self):
        return tail(self.log_path) + "\n" + self.rtpengine.log_tail()

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, grace=5.0)
        self.rtpengine.stop()


# ---------------------------------------------------------------- sipp runs and their files

def read_sipp_csv(path):
    """sipp -trace_stat / -trace_counts file: the last row as {column: value}."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f, delimiter=";"))
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    head = rows[0]
    return dict(zip(head, rows[-1]))


def as_int(v, default=0):
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return default


def read_rtt(path):
    """sipp -trace_rtt samples: {rtd_no: [(date_ms, response_ms), ...]}."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(";")
                if len(parts) != 3 or not parts[2].isdigit():
                    continue
                out.setdefault(int(parts[2]), []).append((float(parts[0]), float(parts[1])))
    except OSError:
        pass
    return out


def error_summary(path, limit=6):
    """Counts of what sipp's error log says went wrong, e.g. {"unexpected 481": 3, "timeout": 2}."""
    counts = {}
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return counts
    for m in re.finditer(r"Aborting call on unexpected message[^\n]*received '([^\r\n']*)", text):
        key = "unexpected " + " ".join(m.group(1).split()[:3])
        counts[key] = counts.get(key, 0) + 1
    for m in re.finditer(r"Aborting call on an unexpected (BYE|CANCEL)", text):
        key = "unexpected " + m.group(1)
        counts[key] = counts.get(key, 0) + 1
    for m in re.finditer(r"Aborting call on UDP retransmission timeout[^\n]*", text):
        counts["udp retransmission timeout"] = counts.get("udp retransmission timeout", 0) + 1
    for m in re.finditer(r"(?:Call timeout|call-id[^\n]*timeout|Timeout on receive)", text, flags=re.I):
        counts["receive timeout"] = counts.get("receive timeout", 0) + 1
    for m in re.finditer(r"Dead call [^\n]*received '([^\r\n']*)", text):
        key = "dead-call " + " ".join(m.group(1).split()[:3])
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:limit])


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


def sipp_common(ctx, tag):
    return ["-nostdin", "-cp", str(ctx.cp()), "-buff_size", "4194304",
            "-watchdog_minor_maxtriggers", "1000000", "-watchdog_major_maxtriggers", "1000000",
            "-trace_err", "-error_file", os.path.join(ctx.workdir, tag + ".errors.log")]


def start_uas(ctx, server, scenario, callee, sip_port, media_port, max_seconds):
    """Registers `callee` from sip_port (Python digest client; the binding is the source address),
    then starts the sipp UAS on that port. Returns the Proc."""
    r1, r2, _ = register(server.sip_port, callee, password_of(callee), local_port=sip_port, expires=3600)
    if r2.status != 200:
        raise RuntimeError("REGISTER %s got %s" % (callee, r2.start))
    tag = ctx.tag("uas-" + callee)
    argv = [SIPP, "-sf", scenario, "-s", callee, "-i", "127.0.0.1", "-p", str(sip_port),
            "-mi", "127.0.0.1", "-mp", str(media_port), "-timeout", "%ds" % int(max_seconds),
            "-trace_stat", "-stf", os.path.join(ctx.workdir, tag + ".stat.csv"), "-fd", "1"] + sipp_common(ctx, tag)
    if ctx.args.trace_msg:
        argv += ["-trace_msg", "-message_file", os.path.join(ctx.workdir, tag + ".messages.log")]
    p = Proc(tag, argv, ctx.workdir)
    p.tag = tag
    deadline = time.monotonic() + 5
    while udp_port_free(sip_port):
        if not p.alive() or time.monotonic() > deadline:
            raise RuntimeError("sipp UAS did not bind udp %d\n%s" % (sip_port, tail(p.log_path)))
        time.sleep(0.05)
    return p


def uas_totals(ctx, uas):
    row = read_sipp_csv(os.path.join(ctx.workdir, uas.tag + ".stat.csv"))
    return {"in": as_int(row.get("IncomingCall(C)")), "ok": as_int(row.get("SuccessfulCall(C)")),
            "failed": as_int(row.get("FailedCall(C)"))}


def run_uac(ctx, server, scenario, callee, rate, calls, hold_ms, local_port, media_port, extra=(),
            on_tick=None, timeout_s=None):
    """One bounded sipp UAC run. Returns its figures, plus wall time and the run's own CPU
    (RUSAGE_CHILDREN delta: nothing else of ours is reaped meanwhile)."""
    tag = ctx.tag("uac-%s-%s" % (os.path.splitext(scenario)[0], rate))
    stat = os.path.join(ctx.workdir, tag + ".stat.csv")
    if timeout_s is None:
        timeout_s = calls / float(rate) * 1.5 + hold_ms / 1000.0 + 20
    limit = int(rate * (hold_ms / 1000.0 + 3) * 2 + 200)
    argv = [SIPP, "127.0.0.1:%d" % server.sip_port, "-sf", scenario] + (["-s", callee] if callee else []) + [
            "-i", "127.0.0.1", "-p", str(local_port), "-mi", "127.0.0.1", "-mp", str(media_port),
            "-r", str(rate), "-rp", "1000", "-m", str(calls), "-d", str(int(hold_ms)), "-l", str(limit),
            "-timeout", "%ds" % int(timeout_s), "-recv_timeout", "10000",
            "-trace_stat", "-stf", stat, "-fd", "1", "-trace_rtt", "-rtt_freq", "1",
            "-trace_counts"] + sipp_common(ctx, tag) + list(extra)
    if ctx.args.trace_msg:
        argv += ["-trace_msg", "-message_file", os.path.join(ctx.workdir, tag + ".messages.log")]
    cpu0 = children_cpu()
    t0 = time.monotonic()
    p = Proc(tag, argv, ctx.workdir)
    deadline = t0 + timeout_s + 10
    while p.alive() and time.monotonic() < deadline:
        if on_tick:
            on_tick()
        time.sleep(0.2)
    rc = p.wait(max(0.1, deadline - time.monotonic()))
    wall = time.monotonic() - t0
    gen_cpu = children_cpu() - cpu0
    row = read_sipp_csv(stat)
    stem = os.path.splitext(os.path.basename(scenario))[0]
    rtt = read_rtt(os.path.join(ctx.workdir, "%s_%d_rtt.csv" % (stem, p.pid)))
    counts = read_sipp_csv(os.path.join(ctx.workdir, "%s_%d_counts.csv" % (stem, p.pid)))
    out = {
        "tag": tag, "rc": rc, "wall_s": wall, "uac_cpu_s": gen_cpu, "asked": calls, "rate": rate,
        "created": as_int(row.get("OutgoingCall(C)")), "ok": as_int(row.get("SuccessfulCall(C)")),
        "failed": as_int(row.get("FailedCall(C)")), "retrans": as_int(row.get("Retransmissions(C)")),
        "rtt": rtt, "counts": counts, "errors": error_summary(os.path.join(ctx.workdir, tag + ".errors.log")),
    }
    if rc is None:
        out["error"] = "sipp UAC killed after %.0f s" % (timeout_s + 10)
    return out


def saturated(row, rate):
    """Stop stepping up: the step failed clearly (not a few stray failures below 99.9 %)."""
    return ("error" in row or row.get("ok_pct", 0) < SATURATED_OK_PCT or
            (row.get("kept_cps") or 0) < SATURATED_KEPT * rate)


def kept_rate(rtt_samples, calls):
    """Calls per second actually started: spread of the INVITE->200 samples (one per answered call)."""
    if len(rtt_samples) < 2:
        return None
    t = sorted(d - r for d, r in rtt_samples)  # when each INVITE left
    span = (t[-1] - t[0]) / 1000.0
    return (len(t) - 1) / span if span > 0 else None


# ---------------------------------------------------------------- probe caller (kernel-stamped latency)

class Probe(threading.Thread):
    """A few calls per second from Python beside the sipp load: INVITE -> 180 -> 200 -> ACK -> BYE.
    Send time is taken just before sendto, receive time is the kernel's SO_TIMESTAMPNS stamp
    (both CLOCK_REALTIME), so the latency has microsecond resolution and no generator loop in it."""

    def __init__(self, server_port, local_port, media_port, callee, cps, seconds):
        super().__init__(daemon=True)
        self.server = ("127.0.0.1", server_port)
        self.server_port = server_port
        self.local_port = local_port
        self.media_port = media_port
        self.callee = callee
        self.n = max(1, int(cps * seconds))
        self.period = 1.0 / cps
        self.lat180 = []
        self.lat200 = []
        self.ok = 0
        self.failed = {}
        self.sdp_ports = set()
        self.stop_flag = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", local_port))

    def fail(self, why):
        self.failed[why] = self.failed.get(why, 0) + 1

    def recv(self, until):
        """(message, kernel stamp ns) or (None, None) at the deadline."""
        left = until - time.monotonic()
        if left <= 0:
            return None, None
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return None, None
        data, anc, _, _ = self.sock.recvmsg(65535, socket.CMSG_SPACE(16))
        stamp = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                sec, nsec = struct.unpack("qq", payload[:16])
                stamp = sec * 1_000_000_000 + nsec
        if stamp is None:
            stamp = time.time_ns()
        return parse_message(data), stamp

    def request(self, method, ruri, call_id, tag, cseq, to, routes=(), body=b""):
        lines = ["%s %s SIP/2.0" % (method, ruri),
                 "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-p%08x;rport" % (self.local_port, random.getrandbits(32)),
                 "Max-Forwards: 70",
                 "From: probe <sip:probe@127.0.0.1:%d>;tag=%s" % (self.server_port, tag),
                 "To: %s" % to, "Call-ID: %s" % call_id, "CSeq: %d %s" % (cseq, method),
                 "Contact: <sip:probe@127.0.0.1:%d>" % self.local_port] + ["Route: %s" % r for r in routes]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def call(self, k):
        call_id = "probe-%d-%d-%08x@127.0.0.1" % (os.getpid(), k, random.getrandbits(32))
        tag = "%08x" % random.getrandbits(32)
        ruri = "sip:%s@127.0.0.1:%d" % (self.callee, self.server_port)
        sdp = ("v=0\r\no=probe 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=audio %d RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n" % self.media_port).encode()
        invite = self.request("INVITE", ruri, call_id, tag, 1, "<%s>" % ruri, body=sdp)
        t0 = time.time_ns()
        self.sock.sendto(invite, self.server)
        start = time.monotonic()
        retry_at, interval = start + 0.5, 0.5
        t180 = None
        ok200 = None
        while ok200 is None:
            now = time.monotonic()
            if now > start + 8:
                return self.fail("no final answer to INVITE")
            if now >= retry_at:
                self.sock.sendto(invite, self.server)
                interval *= 2
                retry_at = now + interval
            m, stamp = self.recv(min(retry_at, start + 8))
            if m is None or not hasattr(m, "status") or m.get("call-id") != call_id or not m.is_response:
                continue
            if m.cseq()[1] != "INVITE":
                continue
            if m.status == 180 and t180 is None:
                t180 = stamp
            elif 200 <= m.status < 300:
                ok200 = (m, stamp)
            elif m.status >= 300:
                # ACK the failure (same branch as the INVITE) so the server stops retransmitting.
                via = re.search(rb"^Via: [^\r\n]*", invite, flags=re.M).group(0).decode()
                ack = ("ACK %s SIP/2.0\r\n%s\r\nMax-Forwards: 70\r\nFrom: probe <sip:probe@127.0.0.1:%d>;tag=%s\r\n"
                       "To: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
                       % (ruri, via, self.server_port, tag, m.get("to"), call_id)).encode()
                self.sock.sendto(ack, self.server)
                return self.fail("INVITE answered %d" % m.status)
        m, stamp = ok200
        if t180 is not None:
            self.lat180.append((t180 - t0) / 1000.0)
        self.lat200.append((stamp - t0) / 1000.0)
        mm = re.search(r"^m=audio (\d+)", m.body.decode(errors="replace"), flags=re.M)
        if mm:
            self.sdp_ports.add(int(mm.group(1)))
        contact = re.search(r"<([^>]+)>", m.get("contact") or "")
        target = contact.group(1) if contact else ruri
        routes = []
        for v in m.all("record-route"):
            routes += [r.strip() for r in v.split(",") if r.strip()]
        to = m.get("to")
        ack = self.request("ACK", target, call_id, tag, 1, to, routes)
        self.sock.sendto(ack, self.server)
        bye = self.request("BYE", target, call_id, tag, 2, to, routes)
        self.sock.sendto(bye, self.server)
        start = time.monotonic()
        retry_at, interval = start + 0.5, 0.5
        while True:
            now = time.monotonic()
            if now > start + 8:
                return self.fail("no answer to BYE")
            if now >= retry_at:
                self.sock.sendto(bye, self.server)
                interval *= 2
                retry_at = now + interval
            r, _ = self.recv(min(retry_at, start + 8))
            if r is None or not hasattr(r, "status") or r.get("call-id") != call_id or not r.is_response:
                continue
            if r.cseq()[1] == "INVITE" and 200 <= r.status < 300:
                self.sock.sendto(ack, self.server)  # our ACK was lost: the 2xx is retransmitted
                continue
            if r.cseq()[1] == "BYE" and r.status >= 200:
                if r.status == 200:
                    self.ok += 1
                else:
                    self.fail("BYE answered %d" % r.status)
                return

    def run(self):
        t0 = time.monotonic()
        try:
            for k in range(self.n):
                if self.stop_flag.is_set():
                    break
                due = t0 + k * self.period
                wait = due - time.monotonic()
                if wait > 0 and self.stop_flag.wait(wait):
                    break
                try:
                    self.call(k)
                except OSError as e:
                    self.fail("socket error %s" % e.__class__.__name__)
        finally:
            self.sock.close()

    def attempted(self):
        return self.ok + sum(self.failed.values())

    def stop(self):
        self.stop_flag.set()
        self.join(timeout=20)


# ---------------------------------------------------------------- kernel packet counters (mode 2)

class PacketCounters:
    """iptables counters for the RTP of the two endpoints' media ports, on loopback: what each
    endpoint sent is counted on OUTPUT (before anything, the relay's kernel fast path included,
    can redirect it), what reached it on INPUT. Only counting rules (RETURN), in two chains named
    after our PID, removed in stop()."""

    def __init__(self, uac_media, uas_media):
        self.chains = {"OUTPUT": "RDV_SIPBENCH_%d_OUT" % os.getpid(), "INPUT": "RDV_SIPBENCH_%d_IN" % os.getpid()}
        self.rules = {"OUTPUT": [("caller_sent", ["--sport", str(uac_media)]), ("callee_sent", ["--sport", str(uas_media)])],
                      "INPUT": [("caller_got", ["--dport", str(uac_media)]), ("callee_got", ["--dport", str(uas_media)])]}
        self.ok = False
        self.error = None
        self.ipt = shutil.which("iptables")
        if not self.ipt:
            self.error = "iptables not found"
            return
        try:
            for hook, chain in self.chains.items():
                self.run("-N", chain)
                for _, match in self.rules[hook]:
                    self.run("-A", chain, "-p", "udp", *match, "-j", "RETURN")
                self.run("-I", hook, "1", "-o" if hook == "OUTPUT" else "-i", "lo", "-p", "udp", "-j", chain)
            self.ok = True
        except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            self.error = "iptables: %s" % e
            self.stop()

    def run(self, *args):
        return subprocess.run([self.ipt, "-w", "5"] + list(args), check=True, capture_output=True, text=True,
                              timeout=20).stdout

    def zero(self):
        if self.ok:
            for chain in self.chains.values():
                self.run("-Z", chain)

    def read(self):
        if not self.ok:
            return {}
        vals = {}
        for hook, chain in self.chains.items():
            lines = [l for l in self.run("-L", chain, "-n", "-v", "-x").splitlines() if "RETURN" in l]
            for (name, _), line in zip(self.rules[hook], lines):
                vals[name] = int(line.split()[0])
        return vals

    def stop(self):
        if not self.ipt:
            return
        for hook, chain in self.chains.items():
            for args in (("-D", hook, "-o" if hook == "OUTPUT" else "-i", "lo", "-p", "udp", "-j", chain),
                         ("-F", chain), ("-X", chain)):
                try:
                    self.run(*args)
                except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
                    pass
        self.ok = False


def write_rtp_pcap(path, packets, payload_len=160, pt=8):
    """A classic pcap (Ethernet/IPv4/UDP/RTP) of PCMA silence, one packet every 20 ms, for sipp's
    play_pcap_audio (which rewrites the addresses and ports)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(packets):
        rtp = struct.pack("!BBHII", 0x80, pt | (0x80 if i == 0 else 0), i & 0xFFFF,
                          (i * 8 * PTIME_MS) & 0xFFFFFFFF, 0x52445600) + b"\xd5" * payload_len
        udp = struct.pack("!HHHH", 40000, 40002, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         b"\x7f\x00\x00\x01", b"\x7f\x00\x00\x01") + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        t_us = i * PTIME_MS * 1000
        out.append(struct.pack("<IIII", t_us // 1_000_000, t_us % 1_000_000, len(frame), len(frame)) + frame)
    with open(path, "wb") as f:
        f.write(b"".join(out))


# ---------------------------------------------------------------- REGISTER load (Python workers)

_CALLID_RE = re.compile(rb"\r\n(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]+)", re.I)
_WWWAUTH_RE = re.compile(rb"\r\nWWW-Authenticate[ \t]*:[ \t]*([^\r\n]+)", re.I)


def reg_worker(server_port, local_port, users, rate, seconds, nice, conn):
    """Registers users round-robin at `rate` per second for `seconds`: REGISTER, 401, REGISTER with
    MD5 credentials, 200. Reports counts and latency (second REGISTER -> 200, receive side read
    in a non-blocking loop, so it includes this loop's delay) over `conn`."""
    if nice:
        try:
            os.setsid()
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(nice))
        except OSError:
            pass
        try:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        except OSError:
            pass
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.bind(("127.0.0.1", local_port))
    sock.setblocking(False)
    dest = ("127.0.0.1", server_port)
    ruri = "sip:127.0.0.1:%d" % server_port
    total = max(1, int(rate * seconds))
    pid = os.getpid()
    head = ("REGISTER %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-r%%s;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:%%s@127.0.0.1:%d>;tag=%%s\r\nTo: <sip:%%s@127.0.0.1:%d>\r\n"
            "Call-ID: %%s\r\nCSeq: %%d REGISTER\r\nContact: <sip:%%s@127.0.0.1:%d>\r\nExpires: 600\r\n"
            % (ruri, local_port, server_port, server_port, local_port))

    def build(i, cseq, auth=None):
        user = users[i % len(users)]
        extra = ("Authorization: %s\r\n" % auth) if auth else ""
        return ("%s%sContent-Length: 0\r\n\r\n" % (head % ("%d-%d-%d" % (pid, i, cseq), user, "t%d" % i, user,
                                                           "reg-%d-%d@127.0.0.1" % (pid, i), cseq, user), extra)
                ).encode(), user

    pending = {}   # call-id -> [index, state, sent_at, retries, msg]
    ok = 0
    failed = {}
    lat = []
    sent = 0
    period = 1.0 / rate
    start = time.monotonic()
    hard_end = start + seconds * 2 + 10
    last_scan = start
    cpu0 = time.process_time()

    def fail(why):
        failed[why] = failed.get(why, 0) + 1

    while True:
        now = time.monotonic()
        burst = 0
        while sent < total and start + sent * period <= now and burst < 200:
            msg, _ = build(sent, 1)
            cid = "reg-%d-%d@127.0.0.1" % (pid, sent)
            pending[cid] = [sent, 1, now, 0, msg]
            try:
                sock.sendto(msg, dest)
            except BlockingIOError:
                pass
            sent += 1
            burst += 1
        while True:
            try:
                data = sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                break
            t_recv = time.monotonic()
            m = _CALLID_RE.search(data)
            if not m or not data.startswith(b"SIP/2.0 "):
                continue
            cid = m.group(1).strip().decode(errors="replace")
            p = pending.get(cid)
            if p is None:
                continue
            status = int(data[8:11])
            if status < 200:
                continue
            if p[1] == 1 and status == 401:
                chals = [parse_challenge(v.decode(errors="replace")) for v in _WWWAUTH_RE.findall(data)]
                md5 = [c for c in chals if c.get("algorithm", "MD5").upper() == "MD5" and "nonce" in c]
                if not md5:
                    fail("no MD5 challenge")
                    del pending[cid]
                    continue
                user = users[p[0] % len(users)]
                auth = digest_authorization(md5[0], user, password_of(user), "REGISTER", ruri)
                msg, _ = build(p[0], 2, auth)
                p[1], p[2], p[3], p[4] = 2, t_recv, 0, msg
                try:
                    sock.sendto(msg, dest)
                except BlockingIOError:
                    pass
            elif p[1] == 2 and status == 200:
                ok += 1
                lat.append((t_recv - p[2]) * 1000.0)
                del pending[cid]
            else:
                fail("REGISTER %d answered %d" % (p[1], status))
                del pending[cid]
        now = time.monotonic()
        if now - last_scan >= 0.05:
            last_scan = now
            for cid, p in list(pending.items()):
                age = now - p[2]
                if age > 4.0:
                    fail("no answer (REGISTER %d)" % p[1])
                    del pending[cid]
                elif age > 0.5 * (2 ** p[3]) and p[3] < 3:
                    p[3] += 1
                    try:
                        sock.sendto(p[4], dest)
                    except BlockingIOError:
                        pass
        if sent >= total and not pending:
            break
        if now > hard_end:
            fail("unfinished at the time limit")
            break
        nxt = start + sent * period if sent < total else now + 0.01
        select.select([sock], [], [], max(0.0, min(0.01, nxt - time.monotonic())))
    elapsed_send = (min(sent, total) - 1) * period if sent > 1 else 0
    conn.send({"asked": total, "sent": sent, "ok": ok, "failed": failed, "lat": lat,
               "cpu_s": time.process_time() - cpu0, "send_span_s": elapsed_send,
               "wall_s": time.monotonic() - start})
    conn.close()


# ---------------------------------------------------------------- phases

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


def make_server(ctx, kind, users, sets, logdir):
    a = ctx.args
    if kind == "rendezvous":
        base = {"max_calls": 100000, "max_cps": 100000}
        base.update(sets or {})
        return RendezvousServer(ctx.rendezvous, ctx.ports, logdir, users, base)
    return KamailioServer(a.kamailio, a.rtpengine, ctx.ports, logdir, a.kamailio_children)


def with_server(ctx, kind, phase, users, sets, body):
    """Starts a fresh server for one phase (its logs in a directory of their own), runs body."""
    logdir = os.path.join(ctx.workdir, ctx.tag("%s-%s" % (phase, kind)))
    os.makedirs(logdir)
    server = make_server(ctx, kind, users, sets, logdir)
    try:
        server.start()
    except RuntimeError as e:
        server.stop()
        return [{"server": kind, "error": "start failed: %s" % e}]
    try:
        return body(server)
    finally:
        alive = server.alive()
        server.stop()
        if not alive:
            log("!! %s was not running at the end of the phase:\n%s" % (kind, server.log_tail()))


def call_steps(ctx, kind, mode):
    """Mode 1 ("calls") or mode 2 ("media"): stepped rates until a step fails."""
    a = ctx.args
    p = ctx.ports
    media = mode == "media"
    steps = a.media_steps if media else a.cps_steps
    hold_ms = (a.media_seconds * 1000 + 500) if media else a.hold_ms
    users = ["caller", "callee", "callee2", "probe"]
    rows = []

    def body(server):
        register(server.sip_port, "caller", password_of("caller"), local_port=p["uac_sip"], expires=3600)
        if media:
            uas = start_uas(ctx, server, "uas_media.xml", "callee2", p["uas2_sip"], p["uas2_media"], a.phase_limit)
            counters = PacketCounters(p["uac_media"], p["uas2_media"])
            if not counters.ok:
                log("note: no kernel packet counters (%s); delivery comes from relay metrics only" % counters.error)
        else:
            uas = start_uas(ctx, server, "uas.xml", "callee", p["uas_sip"], p["uas_media"], a.phase_limit)
            counters = None
        try:
            for rate in steps:
                if not server.alive() or not uas.alive():
                    rows.append({"server": kind, "mode": mode, "cps": rate,
                                 "error": "%s not running before the step" % ("server" if not server.alive() else "sipp UAS")})
                    break
                calls = max(1, int(round(rate * a.step_seconds)))
                log("... %s %s @ %d cps (%d calls%s)" % (kind, mode, rate, calls,
                                                         ", %d ms hold" % hold_ms))
                if counters is not None:
                    counters.zero()
                uas0 = uas_totals(ctx, uas)
                k0 = server.counters()
                s0 = server_sample(server)
                uas_cpu0 = safe_cpu(uas.pid)
                probe = None
                if not media and a.probe_cps > 0:
                    probe = Probe(server.sip_port, p["probe_sip"], p["probe_media"], "callee", a.probe_cps,
                                  a.step_seconds)
                    probe.start()
                scen = "uac_media.xml" if media else "uac_call.xml"
                r = run_uac(ctx, server, scen, "callee2" if media else "callee", rate, calls, hold_ms,
                            p["uac_sip"], p["uac_media"])
                if probe:
                    probe.stop()
                time.sleep(0.5 if not media else 1.0)  # last BYEs, last packets in flight
                s1 = server_sample(server)
                uas_cpu = safe_cpu(uas.pid) - uas_cpu0
                uas1 = uas_totals(ctx, uas)
                row = {"server": kind, "mode": mode, "cps": rate, "calls": calls, "hold_ms": hold_ms}
                row.update({k: r[k] for k in ("created", "ok", "failed", "retrans", "errors", "tag")})
                if "error" in r:
                    row["error"] = r["error"]
                row["ok_pct"] = 100.0 * r["ok"] / calls
                rtd180 = [x[1] for x in r["rtt"].get(1, [])]
                rtd200 = [x[1] for x in r["rtt"].get(2, [])]
                row["kept_cps"] = kept_rate(r["rtt"].get(2, []), calls)
                row["sipp180_n"] = len(rtd180)
                row["sipp180_p50_ms"], row["sipp180_p99_ms"] = pct(rtd180, 50), pct(rtd180, 99)
                row["sipp200_p50_ms"], row["sipp200_p99_ms"] = pct(rtd200, 50), pct(rtd200, 99)
                n_calls = r["ok"]
                if probe:
                    row["probe_calls"] = probe.attempted()
                    row["probe_ok"] = probe.ok
                    row["probe_failed"] = probe.failed
                    row["p180_p50_ms"] = (pct(probe.lat180, 50) or 0) / 1000 if probe.lat180 else None
                    row["p180_p99_ms"] = (pct(probe.lat180, 99) or 0) / 1000 if probe.lat180 else None
                    row["p200_p50_ms"] = (pct(probe.lat200, 50) or 0) / 1000 if probe.lat200 else None
                    row["p200_p99_ms"] = (pct(probe.lat200, 99) or 0) / 1000 if probe.lat200 else None
                    row["anchored"] = bool(probe.sdp_ports) and p["uas_media"] not in probe.sdp_ports
                    n_calls += probe.ok
                server_cpu = s1["cpu"] - s0["cpu"]
                gen_cpu = r["uac_cpu_s"] + uas_cpu + (s1["self"] - s0["self"])
                row["server_cpu_s"] = server_cpu
                row["cpu_ms_per_call"] = 1000.0 * server_cpu / n_calls if n_calls else None
                row["cpu_ms_per_call_parts"] = cpu_split(s0, s1, n_calls)
                # Everything the machine did per call (generators included): the fair figure when
                # forwarding runs in the kernel, whose work lands in the sender's (sipp's) context.
                row["machine_ms_per_call"] = 1000.0 * (s1["busy"] - s0["busy"]) / n_calls if n_calls else None
                row["gen_cpu_s"] = gen_cpu
                row["uac_pct"] = 100.0 * r["uac_cpu_s"] / r["wall_s"] if r["wall_s"] else None
                row["uas_pct"] = 100.0 * uas_cpu / r["wall_s"] if r["wall_s"] else None
                row["wall_s"] = s1["t"] - s0["t"]
                row["other_pct"] = other_pct(s0, s1, server_cpu, gen_cpu)
                row["rss_kib"] = s1["rss"]
                row["uas_in"] = uas1["in"] - uas0["in"]
                row["uas_failed"] = uas1["failed"] - uas0["failed"]
                if media:
                    pkts = ctx.pcap_packets
                    row["pkts_per_call_dir"] = pkts
                    if counters is not None and counters.ok:
                        c = counters.read()
                        row.update({"caller_sent": c.get("caller_sent"), "callee_got": c.get("callee_got"),
                                    "callee_sent": c.get("callee_sent"), "caller_got": c.get("caller_got")})
                        sent = (c.get("caller_sent") or 0) + (c.get("callee_sent") or 0)
                        got = (c.get("caller_got") or 0) + (c.get("callee_got") or 0)
                        row["pkts_sent"] = sent
                        row["pkts_expected"] = 2 * pkts * r["ok"]
                        row["delivered_pct"] = 100.0 * got / sent if sent else None
                        row["server_us_per_pkt"] = 1e6 * server_cpu / got if got else None
                k1 = server.counters()
                row["server_counters"] = {k.replace("rdv_", ""): v - k0.get(k, 0) for k, v in k1.items()
                                          if v != k0.get(k, 0) or k == "rdv_calls_active"}
                if kind == "rendezvous":
                    row["active_after"] = server.active_calls()
                passed = (row["ok_pct"] >= SUCCESS_PCT and "error" not in row and
                          (row["kept_cps"] or 0) >= RATE_KEPT * rate and
                          (not media or row.get("delivered_pct") is None or row["delivered_pct"] >= SUCCESS_PCT))
                if media and row.get("delivered_pct") is None:
                    row["note"] = "packets not counted (%s)" % (counters.error if counters else "no counters")
                row["pass"] = passed
                rows.append(row)
                if saturated(row, rate):
                    break
        finally:
            if counters is not None:
                counters.stop()
            uas.stop()
        return rows

    return with_server(ctx, kind, mode, users, None, body)


def register_step_sipp(ctx, server, kind, rate, users_csv):
    """One REGISTER step with sipp (register.xml, -inf users.csv): one sipp "call" = one
    registration (REGISTER, 401, REGISTER with [authentication], 200)."""
    a = ctx.args
    p = ctx.ports
    n = max(1, int(rate * a.reg_seconds))
    log("... %s register @ %d/s (sipp, %d registrations)" % (kind, rate, n))
    k0 = server.counters()
    s0 = server_sample(server)
    r = run_uac(ctx, server, "register.xml", None, rate, n, 0, p["reg_sip"], p["uac_media"],
                extra=["-inf", users_csv])
    time.sleep(0.2)
    s1 = server_sample(server)
    k1 = server.counters()
    server_cpu = s1["cpu"] - s0["cpu"]
    gen_cpu = r["uac_cpu_s"] + (s1["self"] - s0["self"])
    lat = [x[1] for x in r["rtt"].get(1, [])]
    row = {"server": kind, "mode": "register", "client": "sipp", "cps": rate, "calls": n, "ok": r["ok"],
           "ok_pct": 100.0 * r["ok"] / n, "failed": r["errors"] if r["failed"] else {},
           "kept_cps": kept_rate(r["rtt"].get(1, []), n), "lat_p50_ms": pct(lat, 50), "lat_p99_ms": pct(lat, 99),
           "server_cpu_s": server_cpu, "cpu_us_per_reg": 1e6 * server_cpu / r["ok"] if r["ok"] else None,
           "gen_cpu_s": gen_cpu, "uac_pct": 100.0 * r["uac_cpu_s"] / r["wall_s"] if r["wall_s"] else None,
           "wall_s": s1["t"] - s0["t"], "other_pct": other_pct(s0, s1, server_cpu, gen_cpu), "rss_kib": s1["rss"],
           "retrans": r["retrans"], "tag": r["tag"],
           "server_counters": {k.replace("rdv_", ""): v - k0.get(k, 0) for k, v in k1.items() if v != k0.get(k, 0)}}
    if "error" in r:
        row["error"] = r["error"]
    return row


def register_steps(ctx, kind):
    a = ctx.args
    p = ctx.ports
    users = ["u%05d" % i for i in range(a.reg_users)]
    users_csv = os.path.join(ctx.workdir, "users.csv")
    with open(users_csv, "w") as f:
        f.write("SEQUENTIAL\n")
        for u in users:
            # The whole keyword is injected: sipp 3.6.1 does not expand [fieldN] inside [authentication ...].
            f.write("%s;[authentication username=%s password=%s]\n" % (u, u, password_of(u)))
    rows = []

    def body(server):
        for rate in a.reg_steps:
            if not server.alive():
                rows.append({"server": kind, "mode": "register", "cps": rate, "error": "server not running"})
                break
            if a.reg_client == "sipp":
                row = register_step_sipp(ctx, server, kind, rate, users_csv)
                row["pass"] = (row["ok_pct"] >= SUCCESS_PCT and "error" not in row and
                               (row["kept_cps"] or 0) >= RATE_KEPT * rate)
                rows.append(row)
                if saturated(row, rate):
                    break
                continue
            log("... %s register @ %d/s (Python, %d workers)" % (kind, rate, a.reg_workers))
            s0 = server_sample(server)
            cpu0 = children_cpu()
            procs, conns = [], []
            w = a.reg_workers
            for i in range(w):
                mine = users[i::w]
                parent, child = multiprocessing.Pipe(duplex=False)
                pr = multiprocessing.Process(target=reg_worker, args=(server.sip_port, p["reg_sip"] + i, mine,
                                                                      rate / float(w), a.reg_seconds,
                                                                      relay_bench.NICE, child))
                pr.start()
                child.close()
                procs.append(pr)
                conns.append(parent)
            results = []
            deadline = time.monotonic() + a.reg_seconds * 2 + 20
            for pr, c in zip(procs, conns):
                left = max(0.1, deadline - time.monotonic())
                if c.poll(left):
                    try:
                        results.append(c.recv())
                    except EOFError:
                        pass
                pr.join(timeout=max(0.1, deadline - time.monotonic()))
                if pr.is_alive():
                    os.kill(pr.pid, signal.SIGKILL)
                    pr.join(timeout=5)
            time.sleep(0.2)
            s1 = server_sample(server)
            gen_cpu = children_cpu() - cpu0
            asked = int(rate * a.reg_seconds)
            ok = sum(x["ok"] for x in results)
            lat = [v for x in results for v in x["lat"]]
            failed = {}
            for x in results:
                for k, v in x["failed"].items():
                    failed[k] = failed.get(k, 0) + v
            span = max((x["send_span_s"] for x in results), default=0)
            sent = sum(x["sent"] for x in results)
            server_cpu = s1["cpu"] - s0["cpu"]
            row = {"server": kind, "mode": "register", "client": "python", "cps": rate, "calls": asked, "ok": ok,
                   "ok_pct": 100.0 * ok / asked if asked else 0.0, "failed": failed,
                   "kept_cps": (sent - len(results)) / span if span > 0 else None,
                   "lat_p50_ms": pct(lat, 50), "lat_p99_ms": pct(lat, 99),
                   "server_cpu_s": server_cpu, "cpu_us_per_reg": 1e6 * server_cpu / ok if ok else None,
                   "gen_cpu_s": gen_cpu, "wall_s": s1["t"] - s0["t"],
                   "other_pct": other_pct(s0, s1, server_cpu, gen_cpu), "rss_kib": s1["rss"]}
            if len(results) != len(procs):
                row["error"] = "%d of %d REGISTER workers reported" % (len(results), len(procs))
            row["pass"] = (row["ok_pct"] >= SUCCESS_PCT and "error" not in row and
                           (row["kept_cps"] or 0) >= RATE_KEPT * rate)
            rows.append(row)
            if saturated(row, rate):
                break
        return rows

    return with_server(ctx, kind, "register", users, None, body)


def concurrent_phase(ctx, kind):
    a = ctx.args
    p = ctx.ports
    n = a.concurrent
    rate = a.concurrent_cps
    hold_ms = int(n / float(rate) * 1000 + a.concurrent_extra_s * 1000)
    rows = []

    def body(server):
        register(server.sip_port, "caller", password_of("caller"), local_port=p["uac_sip"], expires=3600)
        uas = start_uas(ctx, server, "uas.xml", "callee", p["uas_sip"], p["uas_media"], a.phase_limit)
        try:
            time.sleep(0.3)
            log("... %s concurrent: %d calls at %d cps held %.1f s" % (kind, n, rate, hold_ms / 1000.0))
            s0 = server_sample(server)
            uas_cpu0 = safe_cpu(uas.pid)
            peak = {"rss": s0["rss"], "active": 0}

            def tick():
                peak["rss"] = max(peak["rss"], server.rss_kib())
                act = server.active_calls()
                if act is not None:
                    peak["active"] = max(peak["active"], int(act))

            r = run_uac(ctx, server, "uac_call.xml", "callee", rate, n, hold_ms, p["uac_sip"], p["uac_media"],
                        on_tick=tick)
            time.sleep(0.5)
            s1 = server_sample(server)
            uas_cpu = safe_cpu(uas.pid) - uas_cpu0
            server_cpu = s1["cpu"] - s0["cpu"]
            gen_cpu = r["uac_cpu_s"] + uas_cpu + (s1["self"] - s0["self"])
            # Overlap from sipp's own timeline: each call is up from its 200 to its BYE (hold later).
            starts = sorted(d for d, _ in r["rtt"].get(2, []))
            sipp_peak = 0
            if starts:
                j = 0
                for i, t in enumerate(starts):
                    while starts[j] < t - hold_ms:
                        j += 1
                    sipp_peak = max(sipp_peak, i - j + 1)
            row = {"server": kind, "mode": "concurrent", "calls": n, "cps": rate, "hold_ms": hold_ms,
                   "created": r["created"], "ok": r["ok"], "failed": r["failed"], "errors": r["errors"],
                   "ok_pct": 100.0 * r["ok"] / n, "peak_active_server": peak["active"] or None,
                   "peak_up_sipp": sipp_peak, "rss_before_kib": s0["rss"], "rss_peak_kib": peak["rss"],
                   "rss_after_kib": s1["rss"],
                   "kib_per_call": (peak["rss"] - s0["rss"]) / float(n),
                   "server_cpu_s": server_cpu, "cpu_ms_per_call": 1000.0 * server_cpu / r["ok"] if r["ok"] else None,
                   "gen_cpu_s": gen_cpu, "other_pct": other_pct(s0, s1, server_cpu, gen_cpu), "tag": r["tag"]}
            if "error" in r:
                row["error"] = r["error"]
            if kind == "rendezvous":
                row["active_after"] = server.active_calls()
            row["pass"] = row["ok_pct"] >= SUCCESS_PCT and max(sipp_peak, peak["active"]) >= n * 0.999
            rows.append(row)
        finally:
            uas.stop()
        return rows

    return with_server(ctx, kind, "concurrent", ["caller", "callee"], None, body)


def invite_answer(server_port, local_port):
    """One INVITE (to a user nobody registered) during the flood: its final status and Retry-After.
    Admitted, it gets 404; refused by admission control, 503. Non-2xx finals are ACKed."""
    c = UdpSip(server_port, local_port)
    try:
        ruri = "sip:nobody@127.0.0.1:%d" % server_port
        branch = "z9hG4bK-fl%08x" % random.getrandbits(32)
        tag = "%08x" % random.getrandbits(32)
        call_id = "flood-probe-%08x@127.0.0.1" % random.getrandbits(32)
        sdp = "v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 8\r\n"
        req = build_request("INVITE", ruri, c.port, call_id=call_id, from_uri="sip:caller@127.0.0.1",
                            from_tag=tag, branch=branch, body=sdp, content_type="application/sdp")
        r = c.transaction(req, timeout=2.0, call_id=call_id)
        if r is None:
            return {"status": None}
        if r.status >= 300:
            c.send(("ACK %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\nMax-Forwards: 70\r\n"
                    "From: <sip:caller@127.0.0.1>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\n"
                    "Content-Length: 0\r\n\r\n" % (ruri, c.port, branch, tag, r.get("to"), call_id)).encode())
        return {"status": r.status, "retry_after": r.get("retry-after")}
    except OSError as e:
        return {"status": None, "error": str(e)}
    finally:
        c.close()


def flood_phase(ctx, kind):
    a = ctx.args
    p = ctx.ports
    limit = a.flood_max_cps
    rate = limit * a.flood_factor
    n = int(rate * a.flood_seconds)
    rows = []

    def body(server):
        register(server.sip_port, "caller", password_of("caller"), local_port=p["flood_sip"], expires=3600)
        uas = start_uas(ctx, server, "uas.xml", "callee", p["uas_sip"], p["uas_media"], a.phase_limit)
        try:
            time.sleep(0.5)
            rss_before = server.rss_kib()
            log("... %s flood: %d INVITE/s for %.0f s against max_cps=%d" % (kind, rate, a.flood_seconds, limit))
            s0 = server_sample(server)
            samples = []
            answers = []

            def tick():
                samples.append(server.rss_kib())
                if len(samples) in (4, 7, 10):  # a few INVITEs of our own, to read the 503 itself
                    answers.append(invite_answer(server.sip_port, p["probe_sip"]))

            r = run_uac(ctx, server, "uac_flood.xml", "callee", rate, n, a.hold_ms, p["flood_sip"],
                        p["flood_media"], on_tick=tick)
            s1 = server_sample(server)
            time.sleep(2.0)
            rss_after = server.rss_kib()
            counts = r["counts"]
            got = {}
            for col, val in counts.items():
                m = re.match(r"^(\d+)_(\d{3})_Recv$", col)
                if m:
                    code = int(m.group(2))
                    if code in (503, 200) and (code, "first") not in got:
                        got[(code, "first")] = as_int(val)
            n503 = got.get((503, "first"), 0)
            n200 = got.get((200, "first"), 0)
            server_cpu = s1["cpu"] - s0["cpu"]
            row = {"server": kind, "mode": "flood", "max_cps": limit, "cps": rate, "calls": n,
                   "created": r["created"], "got_503": n503, "got_200": n200,
                   "other": max(0, r["created"] - n503 - n200), "failed": r["failed"], "errors": r["errors"],
                   "retrans": r["retrans"], "rss_before_kib": rss_before, "rss_max_kib": max(samples or [0]),
                   "rss_after_kib": rss_after, "server_cpu_s": server_cpu,
                   "cpu_us_per_invite": 1e6 * server_cpu / r["created"] if r["created"] else None,
                   "tag": r["tag"]}
            if "error" in r:
                row["error"] = r["error"]
            # Recovery: a normal batch below the limit must succeed.
            rec_calls = max(5, int(limit * 0.25 * 2))
            log("... %s after the flood: %d calls at %d cps" % (kind, rec_calls, max(1, limit // 4)))
            rr = run_uac(ctx, server, "uac_call.xml", "callee", max(1, limit // 4), rec_calls, 200, p["uac_sip"],
                         p["uac_media"])
            row["recovery_calls"] = rec_calls
            row["recovery_ok"] = rr["ok"]
            row["recovery_errors"] = rr["errors"]
            time.sleep(2.0)
            row["rss_settled_kib"] = server.rss_kib()
            row["own_invites"] = answers
            if kind == "rendezvous":
                row["active_after"] = server.active_calls()
                mt = server.metrics()
                row["rejected_metric"] = metric(mt, "rdv_calls_rejected_total")
            row["alive_after"] = server.alive()
            row["pass"] = (row["alive_after"] and rr["ok"] == rec_calls and n503 > 0 and
                           n503 + n200 >= 0.999 * r["created"])
            rows.append(row)
        finally:
            uas.stop()
        return rows

    sets = {"max_cps": limit, "max_calls": 100000}
    return with_server(ctx, kind, "flood", ["caller", "callee"], sets, body)


# ---------------------------------------------------------------- report

def cell(v, spec="", width=8):
    return fmt(v, spec).rjust(width)


def print_tables(rows):
    calls = [r for r in rows if r.get("mode") in ("calls", "media")]
    if calls:
        print("\nCalls. mode calls = signalling with media anchoring, no RTP; media = RTP both ways.\n"
              "  180p50..200p99: INVITE->180 / INVITE->200 in ms, Python probe calls beside the load (kernel\n"
              "  receive stamps); s180p99/s200p99: the same from sipp's rtd (whole ms, sipp's own loop included).\n"
              "  msCPU/c: server CPU per completed call (process utime+stime); deliv%: RTP delivered / sent (kernel counters); us/pkt:\n"
              "  server CPU per delivered packet; uac%/uas%: sipp caller / callee CPU, % of one core; other%:\n"
              "  the rest of the machine, % of all cores ('!' over 10 %)")
        heads = [("server", 10), ("mode", 6), ("cps", 5), ("kept", 6), ("calls", 6), ("ok%", 7), ("180p50", 7),
                 ("180p99", 7), ("200p50", 7), ("200p99", 7), ("s180p99", 7), ("s200p99", 7), ("msCPU/c", 7),
                 ("deliv%", 7), ("us/pkt", 6), ("uac%", 4), ("uas%", 4), ("other%", 6),
                 ("pass", 4)]
        print("  ".join(h.rjust(w) for h, w in heads))
        for r in calls:
            if "cps" not in r or "calls" not in r:
                print("%10s  %6s  error: %s" % (r.get("server"), r.get("mode"), r.get("error")))
                continue
            other = fmt(r.get("other_pct"), ".0f") + ("!" if (r.get("other_pct") or 0) > OTHER_CPU_WARN_PCT else "")
            vals = [r["server"].rjust(10), r["mode"].rjust(6), cell(r["cps"], "", 5), cell(r.get("kept_cps"), ".0f", 6),
                    cell(r["calls"], "", 6), cell(r.get("ok_pct"), ".2f", 7),
                    cell(r.get("p180_p50_ms"), ".2f", 7), cell(r.get("p180_p99_ms"), ".2f", 7),
                    cell(r.get("p200_p50_ms"), ".2f", 7), cell(r.get("p200_p99_ms"), ".2f", 7),
                    cell(r.get("sipp180_p99_ms"), ".0f", 7), cell(r.get("sipp200_p99_ms"), ".0f", 7),
                    cell(r.get("cpu_ms_per_call"), ".3f", 7), cell(r.get("delivered_pct"), ".2f", 7),
                    cell(r.get("server_us_per_pkt"), ".1f", 6), cell(r.get("uac_pct"), ".0f", 4),
                    cell(r.get("uas_pct"), ".0f", 4), other.rjust(6),
                    ("yes" if r.get("pass") else "NO").rjust(4)]
            print("  ".join(vals))
            notes = []
            if r.get("errors"):
                notes.append("sipp errors %s" % r["errors"])
            if r.get("error"):
                notes.append(r["error"])
            if r.get("note"):
                notes.append(r["note"])
            if r.get("probe_failed"):
                notes.append("probe failures %s" % r["probe_failed"])
            if r.get("uas_failed"):
                notes.append("UAS failed calls %d" % r["uas_failed"])
            if r.get("cpu_ms_per_call_parts"):
                notes.append("server CPU ms/call by process: %s" % ", ".join(
                    "%s %.3f" % kv for kv in sorted(r["cpu_ms_per_call_parts"].items())))
            if r.get("server_counters") and not r.get("pass"):
                notes.append("server counters over the step %s" % {k: int(v) for k, v in r["server_counters"].items()})
            if r.get("active_after"):
                notes.append("server still counts %d active calls after the step" % r["active_after"])
            if r.get("mode") == "media" and r.get("pkts_sent") is not None and r.get("pkts_expected"):
                if r["pkts_sent"] < 0.99 * r["pkts_expected"]:
                    notes.append("sipp sent only %d of %d RTP packets" % (r["pkts_sent"], r["pkts_expected"]))
            for n in notes:
                print("      %s @ %s cps: %s" % (r["server"], r["cps"], n))
    regs = [r for r in rows if r.get("mode") == "register"]
    if regs:
        print("\nREGISTER with digest (REGISTER, 401, REGISTER with MD5 credentials, 200); latency = "
              "authenticated REGISTER -> 200")
        heads = [("server", 10), ("client", 6), ("reg/s", 6), ("kept", 6), ("regs", 6), ("ok%", 7), ("p50ms", 6),
                 ("p99ms", 6), ("usCPU/r", 7), ("genCPU", 6), ("uac%", 5), ("other%", 6), ("pass", 4)]
        print("  ".join(h.rjust(w) for h, w in heads))
        for r in regs:
            if "calls" not in r:
                print("%10s  error: %s" % (r.get("server"), r.get("error")))
                continue
            other = fmt(r.get("other_pct"), ".0f") + ("!" if (r.get("other_pct") or 0) > OTHER_CPU_WARN_PCT else "")
            print("  ".join([r["server"].rjust(10), r.get("client", "").rjust(6), cell(r["cps"], "", 6),
                             cell(r.get("kept_cps"), ".0f", 6),
                             cell(r["calls"], "", 6), cell(r["ok_pct"], ".2f", 7), cell(r.get("lat_p50_ms"), ".2f", 6),
                             cell(r.get("lat_p99_ms"), ".2f", 6), cell(r.get("cpu_us_per_reg"), ".1f", 7),
                             cell(r.get("gen_cpu_s"), ".1f", 6), cell(r.get("uac_pct"), ".0f", 5), other.rjust(6),
                             ("yes" if r.get("pass") else "NO").rjust(4)]))
            if r.get("failed"):
                print("      %s @ %s/s: failures %s" % (r["server"], r["cps"], r["failed"]))
            if r.get("server_counters") and not r.get("pass"):
                print("      %s @ %s/s: server counters over the step %s"
                      % (r["server"], r["cps"], {k: int(v) for k, v in r["server_counters"].items()}))
            if r.get("error"):
                print("      %s @ %s/s: %s" % (r["server"], r["cps"], r["error"]))
    conc = [r for r in rows if r.get("mode") == "concurrent"]
    if conc:
        print("\nConcurrent calls (mode-1 calls held up together)")
        heads = [("server", 10), ("calls", 6), ("cps", 5), ("ok%", 7), ("peakSrv", 7), ("peakSipp", 8),
                 ("RSSbefKiB", 9), ("RSSpeak", 9), ("KiB/call", 8), ("msCPU/c", 7), ("pass", 4)]
        print("  ".join(h.rjust(w) for h, w in heads))
        for r in conc:
            if "calls" not in r:
                print("%10s  error: %s" % (r.get("server"), r.get("error")))
                continue
            print("  ".join([r["server"].rjust(10), cell(r["calls"], "", 6), cell(r["cps"], "", 5),
                             cell(r["ok_pct"], ".2f", 7), cell(r.get("peak_active_server"), "", 7),
                             cell(r.get("peak_up_sipp"), "", 8), cell(r.get("rss_before_kib"), "", 9),
                             cell(r.get("rss_peak_kib"), "", 9), cell(r.get("kib_per_call"), ".1f", 8),
                             cell(r.get("cpu_ms_per_call"), ".3f", 7), ("yes" if r.get("pass") else "NO").rjust(4)]))
            if r.get("errors") or r.get("error"):
                print("      %s: %s %s" % (r["server"], r.get("errors") or "", r.get("error") or ""))
    floods = [r for r in rows if r.get("mode") == "flood"]
    if floods:
        print("\nFlood (INVITEs at %s x sip.max_cps)" % ", ".join(sorted({str(r.get("cps", 0) // max(1, r.get("max_cps", 1)))
                                                                         for r in floods if "cps" in r})))
        heads = [("server", 10), ("max_cps", 7), ("cps", 5), ("INVITEs", 7), ("503", 6), ("200", 6), ("other", 6),
                 ("RSSbefore", 9), ("RSSmax", 8), ("RSSafter", 8), ("RSSlater", 8), ("usCPU/inv", 9),
                 ("recovery", 8), ("pass", 4)]
        print("  ".join(h.rjust(w) for h, w in heads))
        for r in floods:
            if "calls" not in r:
                print("%10s  error: %s" % (r.get("server"), r.get("error")))
                continue
            print("  ".join([r["server"].rjust(10), cell(r["max_cps"], "", 7), cell(r["cps"], "", 5),
                             cell(r["created"], "", 7), cell(r["got_503"], "", 6), cell(r["got_200"], "", 6),
                             cell(r["other"], "", 6), cell(r["rss_before_kib"], "", 9), cell(r["rss_max_kib"], "", 8),
                             cell(r["rss_after_kib"], "", 8), cell(r.get("rss_settled_kib"), "", 8),
                             cell(r.get("cpu_us_per_invite"), ".1f", 9),
                             ("%d/%d" % (r["recovery_ok"], r["recovery_calls"])).rjust(8),
                             ("yes" if r.get("pass") else "NO").rjust(4)]))
            if r.get("errors") or r.get("error") or r.get("recovery_errors"):
                print("      %s: %s %s %s" % (r["server"], r.get("errors") or "", r.get("error") or "",
                                             r.get("recovery_errors") or ""))
            if r.get("own_invites"):
                print("      %s: our own INVITEs during the flood got %s" % (r["server"], ", ".join(
                    "%s (Retry-After: %s)" % (x.get("status"), x.get("retry_after")) for x in r["own_invites"])))
            if r.get("active_after"):
                print("      %s: still %d active calls after the flood and the recovery batch"
                      % (r["server"], r["active_after"]))


def summary(rows):
    out = {}
    for r in rows:
        if r.get("mode") in ("calls", "media", "register") and r.get("pass"):
            key = (r["server"], r["mode"])
            if r["cps"] > out.get(key, {}).get("cps", -1):
                out[key] = r
    print("\nHighest step passed (>= %.1f %% success, >= %.0f %% of the asked rate kept):" % (SUCCESS_PCT, RATE_KEPT * 100))
    for (server, mode), r in sorted(out.items()):
        extra = ""
        if mode in ("calls", "media"):
            extra = ", server CPU %.3f ms/call" % r["cpu_ms_per_call"] if r.get("cpu_ms_per_call") else ""
            if r.get("p180_p99_ms") is not None:
                extra += ", INVITE->180 p99 %.2f ms, INVITE->200 p99 %.2f ms" % (r["p180_p99_ms"], r["p200_p99_ms"])
            if r.get("delivered_pct") is not None:
                extra += ", %.3f %% packets delivered" % r["delivered_pct"]
        else:
            extra = ", server CPU %.1f us/registration" % r["cpu_us_per_reg"] if r.get("cpu_us_per_reg") else ""
        print("  %-10s %-8s %5d /s%s" % (server, mode, r["cps"], extra))
    return {"%s/%s" % k: v["cps"] for k, v in out.items()}


# ---------------------------------------------------------------- main

def parse_list(s):
    return [int(x) for x in s.split(",") if x.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendezvous", help="path to the rendezvous binary (copied into the run directory first)")
    ap.add_argument("--no-kamailio", action="store_true", help="skip Kamailio + rtpengine")
    ap.add_argument("--kamailio", default=KAMAILIO)
    ap.add_argument("--rtpengine", default=relay_bench.RTPENGINE)
    ap.add_argument("--kamailio-children", type=int, default=8, help="Kamailio UDP worker processes")
    ap.add_argument("--phases", default="calls,media,register,concurrent,flood",
                    help="comma-separated subset of calls,media,register,concurrent,flood")
    ap.add_argument("--quick", action="store_true", help="about a minute: small steps, short runs")
    ap.add_argument("--cps-steps", help="mode-1 call rates (default 250,500,1000,2000,3000)")
    ap.add_argument("--media-steps", help="mode-2 call rates (default 50,100,200,300)")
    ap.add_argument("--reg-steps", help="REGISTER rates (default 2500,5000,10000,15000,20000)")
    ap.add_argument("--step-seconds", type=float, help="seconds of new calls per step (default 10)")
    ap.add_argument("--hold-ms", type=int, default=1000, help="mode-1 call length after the ACK")
    ap.add_argument("--media-seconds", type=float, default=5.0, help="mode-2 RTP per call and direction")
    ap.add_argument("--probe-cps", type=float, default=50, help="Python probe calls per second (mode 1)")
    ap.add_argument("--reg-seconds", type=float, help="seconds per REGISTER step (default 5)")
    ap.add_argument("--reg-users", type=int, default=5000)
    ap.add_argument("--reg-workers", type=int, default=2, help="Python REGISTER workers (--reg-client python)")
    ap.add_argument("--reg-client", choices=["sipp", "python"], default="sipp",
                    help="sipp (register.xml; Rendezvous must offer MD5 first: sip.auth_algorithms) or Python "
                         "worker processes (MD5, whatever the challenge order)")
    ap.add_argument("--concurrent", type=int, help="calls held at once (default 4000)")
    ap.add_argument("--concurrent-cps", type=int, default=500)
    ap.add_argument("--concurrent-extra-s", type=float, default=4.0, help="hold beyond the ramp")
    ap.add_argument("--flood-max-cps", type=int, help="sip.max_cps during the flood (default 200)")
    ap.add_argument("--flood-factor", type=int, default=10)
    ap.add_argument("--flood-seconds", type=float, help="default 5")
    ap.add_argument("--kamailio-flood", action="store_true",
                    help="also flood Kamailio (its config has no admission control: informational)")
    ap.add_argument("--relay-ports", default="20000-59999", help="media port range of both relays")
    ap.add_argument("--log-level", default="warn", help="Rendezvous log.level (info/debug slow it down)")
    ap.add_argument("--rendezvous-set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra Rendezvous setting, repeatable (e.g. relay.kernel_forwarding=1)")
    ap.add_argument("--trace-msg", action="store_true",
                    help="sipp -trace_msg for every sipp (diagnostics only: costs sipp CPU and disk)")
    ap.add_argument("--json", help="also write every figure to this file")
    ap.add_argument("--nice", type=int, default=0, help="niceness (own autogroup) for servers and generators")
    args = ap.parse_args()

    q = args.quick
    args.cps_steps = parse_list(args.cps_steps or ("250,1000" if q else "250,500,1000,2000,3000"))
    args.media_steps = parse_list(args.media_steps or ("50" if q else "50,100,200,300"))
    args.reg_steps = parse_list(args.reg_steps or ("1000,5000" if q else "2500,5000,10000,15000,20000"))
    args.step_seconds = args.step_seconds or (2.0 if q else 10.0)
    args.reg_seconds = args.reg_seconds or (2.0 if q else 5.0)
    args.concurrent = args.concurrent or (500 if q else 4000)
    if q and args.concurrent_extra_s == 4.0:
        args.concurrent_extra_s = 2.0
    args.flood_max_cps = args.flood_max_cps or (100 if q else 200)
    args.flood_seconds = args.flood_seconds or (2.0 if q else 5.0)
    phases = [x.strip() for x in args.phases.split(",") if x.strip()]
    for ph in phases:
        if ph not in ("calls", "media", "register", "concurrent", "flood"):
            ap.error("unknown phase %r" % ph)
    for name, steps, top in (("--cps-steps", args.cps_steps, 20000), ("--media-steps", args.media_steps, 2000),
                             ("--reg-steps", args.reg_steps, 50000)):
        if not steps or min(steps) < 1 or max(steps) > top:
            ap.error("%s: rates between 1 and %d" % (name, top))
    if not 0.5 <= args.step_seconds <= 60 or not 0.5 <= args.reg_seconds <= 60:
        ap.error("--step-seconds / --reg-seconds: between 0.5 and 60")
    if not 1 <= args.media_seconds <= 30 or not 0 <= args.hold_ms <= 60000:
        ap.error("--media-seconds between 1 and 30, --hold-ms between 0 and 60000")
    if not 1 <= args.concurrent <= 20000 or not 1 <= args.reg_workers <= 4:
        ap.error("--concurrent between 1 and 20000, --reg-workers between 1 and 4")
    if not os.access(SIPP, os.X_OK):
        ap.error("sipp not found")
    # Upper bound for any one sipp UAS (it lives through one phase).
    args.phase_limit = int(max(len(args.cps_steps), len(args.media_steps)) *
                           (args.step_seconds * 1.5 + args.media_seconds + 35) + args.concurrent / args.concurrent_cps + 120)

    m = re.match(r"^(\d+)-(\d+)$", args.relay_ports)
    if not m or not 1024 <= int(m.group(1)) < int(m.group(2)) <= 65535:
        ap.error("--relay-ports: MIN-MAX")
    RELAY_PORTS[:] = [int(m.group(1)), int(m.group(2))]
    global LOG_LEVEL
    LOG_LEVEL = args.log_level
    EXTRA_SETS[:] = args.rendezvous_set
    relay_bench.NICE = args.nice
    raise_nofile()
    servers = []
    workdir = tempfile.mkdtemp(prefix="sip_bench-")
    ctx = Ctx(args, pick_ports(), workdir)
    if args.rendezvous and os.access(args.rendezvous, os.X_OK):
        ctx.rendezvous = os.path.join(workdir, "rendezvous")
        shutil.copy2(args.rendezvous, ctx.rendezvous)  # others may rebuild the tree during the run
        servers.append("rendezvous")
    else:
        log("note: rendezvous binary not found (%s); skipped" % args.rendezvous)
    if not args.no_kamailio:
        if os.access(args.kamailio, os.X_OK) and os.access(args.rtpengine, os.X_OK):
            servers.append("kamailio")
        else:
            log("note: kamailio or rtpengine not installed; comparison skipped")
    if not servers:
        log("nothing to measure: no rendezvous binary and no Kamailio + rtpengine")
        return 2
    for f in ("uas.xml", "uas_media.xml", "uac_call.xml", "uac_media.xml", "uac_flood.xml", "register.xml"):
        shutil.copy(os.path.join(SCEN_DIR, f), workdir)
    ctx.pcap_packets = int(args.media_seconds * 1000 / PTIME_MS)
    write_rtp_pcap(os.path.join(workdir, "rtp.pcap"), ctx.pcap_packets)
    log("run directory: %s; ports %d-%d; %d cores, loadavg %.2f" % (workdir, ctx.ports["sip"], ctx.ports["sip"] + 99,
                                                                     NCPU, os.getloadavg()[0]))

    def on_term(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_term)
    rows = []
    t_start = time.monotonic()
    try:
        for kind in servers:
            for ph in phases:
                if ph == "calls":
                    rows += call_steps(ctx, kind, "calls")
                elif ph == "media":
                    rows += call_steps(ctx, kind, "media")
                elif ph == "register":
                    rows += register_steps(ctx, kind)
                elif ph == "concurrent":
                    rows += concurrent_phase(ctx, kind)
                elif ph == "flood":
                    if kind == "rendezvous" or args.kamailio_flood:
                        rows += flood_phase(ctx, kind)
    except KeyboardInterrupt:
        log("interrupted: partial results")
    for r in rows:
        r.pop("rtt", None)
    print("run directory: %s (%.0f s, loadavg now %.2f)" % (workdir, time.monotonic() - t_start, os.getloadavg()[0]))
    print_tables(rows)
    best = summary(rows)
    if args.json:
        info = {"loadavg_end": os.getloadavg(), "cores": NCPU}
        try:
            info["tree"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                                          text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
        if "rendezvous" in servers:
            info["rendezvous_mtime"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(ctx.rendezvous)))
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "best": best, "run": info, "args": {k: v for k, v in vars(args).items()}}, f,
                      indent=1, default=str)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
