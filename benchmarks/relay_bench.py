#!/usr/bin/env python3
"""Relay benchmark driver: runs rtp_load against Rendezvous and rtpengine and prints a table.

For each session count it runs the direct floor (rtp_load --direct, no relay) once, then for each
relay: starts the relay on loopback, waits until it answers NG `ping`, runs rtp_load against it,
samples the relay's CPU time (/proc/PID/stat utime+stime) at rtp_load's `phase=media_start` and
`phase=media_end` lines, samples VmRSS before setup and at media start, and stops the relay by PID.

Figures per run:
  setup/s        offer+answer pairs per second (pipelined NG, rtp_load --ng-window)
  loss%          (sent - received) / sent over the media phase plus a 1 s drain
  p50/p99/max    one-way latency (generator send -> generator receive), microseconds
  cpu_us/pkt     relay CPU over the media phase / packets the generator received
  rss_kib/sess   relay (VmRSS at media start - VmRSS before setup) / sessions
  gen_cpu        the generator's own CPU over the media phase (it shares the cores)
  other_cpu%     CPU used by everything else on the machine during the media phase; a figure
                 taken while other work ran is marked with '!' (noisy: run again on a quiet machine)
  machine us/pkt all cores' busy time (/proc/stat) over the media phase / packets received,
                 printed after the table with the direct floor subtracted: the fair figure for
                 kernel forwarding, whose work on loopback lands in the sender's softirq

Python 3 standard library only. Sends only to 127.0.0.1. Every wait is bounded.
"""

import argparse
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from rdvtest import CLK_TCK, proc_cpu_seconds, proc_rss_kib  # noqa: E402,F401  (re-exported)

RTPENGINE = "/usr/bin/rtpengine"
NCPU = os.cpu_count() or 1
OTHER_CPU_WARN_PCT = 10.0
NOFILE = 20000


def free_port(kind=socket.SOCK_DGRAM):
    """A port on 127.0.0.1 free for `kind` (UDP by default) right now, below both relays' media
    port ranges and the kernel's ephemeral range (so the NG socket takes no media port)."""
    for port in random.sample(range(12000, 19999), 50):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 12000-19999")


def system_busy_seconds():
    """Busy CPU seconds of the whole machine (all cores) since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    ticks = [int(x) for x in parts]
    idle = ticks[3] + ticks[4]  # idle + iowait
    busy = sum(ticks[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / CLK_TCK


def ng_ping(port, timeout):
    """True when a relay on 127.0.0.1:port answers an NG ping with pong within timeout."""
    cookie = f"bench{random.randrange(1 << 30)}".encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(cookie + b" d7:command4:pinge", ("127.0.0.1", port))
            data, _ = s.recvfrom(65536)
        except OSError:
            return False
    return data.startswith(cookie + b" ") and b"6:result4:pong" in data


NICE = 0  # --nice: applied to the relays and rtp_load


def prepare_child():
    """preexec_fn: soft RLIMIT_NOFILE up to the hard limit (2 sockets per leg, 2 legs per call),
    and the --nice niceness."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = NOFILE if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if NICE:
        # With sched_autogroup, niceness only ranks threads within one session's group; a new
        # session gets its own group, whose niceness ranks it against the rest of the machine.
        os.setsid()
        try:
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(NICE))
        except OSError:
            pass
        os.setpriority(os.PRIO_PROCESS, 0, NICE)


class Relay:
    """A relay process we started; stopped by its PID only."""

    def __init__(self, name, argv, ng_port, log_dir):
        self.name = name
        self.argv = argv
        self.ng_port = ng_port
        self.log_path = os.path.join(log_dir, f"{name}-{ng_port}.log")
        self.proc = None

    def start(self, ready_timeout=15.0):
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, preexec_fn=prepare_child)
        log.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before answering ping; "
                                   f"log: {self.log_path}\n{self.log_tail()}")
            if ng_ping(self.ng_port, 0.2):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer NG ping within {ready_timeout:.0f} s; log: {self.log_path}")

    def stop(self, grace=5.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=grace)

    def log_tail(self, n=15):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def rendezvous_argv(path, ng_port, extra=()):
    return [path, "--set", f"ng.listen=127.0.0.1:{ng_port}", "--set", "relay.interface=127.0.0.1",
            "--set", "relay.port_min=20000", "--set", "relay.port_max=59999",
            "--set", "metrics.listen=", "--set", "sip.listen=", "--set", "api.listen=", "--set", "log.level=warn"] + list(extra)


def rtpengine_argv(path, ng_port):
    return [path, "--config-file=none", "--foreground", "--table=-1", "--interface=127.0.0.1",
            f"--listen-ng=127.0.0.1:{ng_port}", "--port-min=50000", "--port-max=59999",
            "--num-threads=2", "--delete-delay=0", "--log-level=3", "--log-stderr"]


def run_load(rtp_load, args, sessions, seconds, relay=None, sdes="off"):
    """Runs rtp_load; samples the relay at the phase lines. Returns a dict of figures.
    sdes: "off", or the suite rtp_load's callers offer (--sdes): the relay bridges SRTP <-> RTP."""
    argv = [rtp_load, "--sessions", str(sessions), "--seconds", str(seconds),
            "--rate", str(args.rate), "--payload", str(args.payload), "--ng-window", str(args.ng_window),
            "--send-api", args.send_api, "--tick-us", str(args.tick_us)]
    if sdes != "off":
        argv += ["--sdes", sdes]
    if relay is None:
        argv.append("--direct")
    else:
        argv += ["--ng", f"127.0.0.1:{relay.ng_port}"]
    # Setup and delete take well under 1 ms per call; NG retries end within 1.5 s per request.
    limit = seconds + 1 + 60 + sessions * 0.01
    figures = {"relay": (relay.name if relay else "direct") + ("" if sdes == "off" else f" sdes={sdes}")}
    rss_before = proc_rss_kib(relay.proc.pid) if relay else 0
    samples = {}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                            preexec_fn=prepare_child)
    started = time.monotonic()
    # The watchdog kills rtp_load (by PID) if it outlives its time limit, which also ends the read loop.
    watchdog = threading.Timer(limit, lambda: proc.poll() is None and os.kill(proc.pid, signal.SIGKILL))
    watchdog.start()
    try:
        for line in proc.stdout:
            key, sep, value = line.strip().partition("=")
            if not sep:
                continue
            if key == "phase":
                samples[value] = {
                    "relay_cpu": proc_cpu_seconds(relay.proc.pid) if relay else 0.0,
                    "rss": proc_rss_kib(relay.proc.pid) if relay else 0,
                    "busy": system_busy_seconds(),
                    "t": time.monotonic(),
                }
            else:
                figures[key] = value
        proc.wait(timeout=max(1.0, limit - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        watchdog.cancel()
    if proc.returncode == -signal.SIGKILL:
        figures["error"] = f"rtp_load killed after {limit:.0f} s"
    elif proc.returncode != 0:
        figures["error"] = f"rtp_load exited with {proc.returncode}"
    if "media_start" in samples and "media_end" in samples:
        a, b = samples["media_start"], samples["media_end"]
        wall = b["t"] - a["t"]
        relay_cpu = b["relay_cpu"] - a["relay_cpu"]
        gen_cpu = float(figures.get("gen_media_cpu_s", 0))
        received = int(figures.get("received", 0))
        figures["media_wall_s"] = wall
        figures["relay_cpu_s"] = relay_cpu
        figures["cpu_us_per_pkt"] = relay_cpu * 1e6 / received if received else None
        figures["machine_cpu_s"] = b["busy"] - a["busy"]
        figures["machine_us_per_pkt"] = figures["machine_cpu_s"] * 1e6 / received if received else None
        other = (b["busy"] - a["busy"]) - relay_cpu - gen_cpu
        figures["other_cpu_pct"] = max(0.0, 100.0 * other / (wall * NCPU)) if wall > 0 else 0.0
        if relay:
            figures["rss_kib_per_session"] = (a["rss"] - rss_before) / sessions
            figures["rss_before_kib"] = rss_before
            figures["rss_setup_kib"] = a["rss"]
    return figures


def fmt(v, spec="", none="-"):
    if v is None or v == "":
        return none
    try:
        return format(float(v), spec) if spec else str(v)
    except ValueError:
        return str(v)


def print_table(rows):
    cols = [("relay", 10, None), ("sessions", 8, None), ("setup_pairs_per_s", 8, ".0f"),
            ("setup_failures", 5, None), ("sent", 9, None), ("received", 9, None), ("loss_pct", 7, ".3f"),
            ("lat_p50_us", 6, None), ("lat_p99_us", 6, None), ("lat_max_us", 7, None),
            ("relay_cpu_s", 7, ".2f"), ("cpu_us_per_pkt", 7, ".2f"), ("rss_kib_per_session", 7, ".1f"),
            ("gen_media_cpu_s", 7, ".2f"), ("other_cpu_pct", 6, ".1f")]
    heads = ["relay", "sessions", "setup/s", "fail", "sent", "received", "loss%", "p50us", "p99us", "maxus",
             "relayCPU", "us/pkt", "KiB/ses", "genCPU", "other%"]
    print("  ".join(h.rjust(w) for h, (_, w, _) in zip(heads, cols)))
    for r in rows:
        cells = []
        for key, width, spec in cols:
            v = r.get(key)
            if r["relay"] == "direct" and key in ("setup_pairs_per_s", "setup_failures", "relay_cpu_s",
                                                  "cpu_us_per_pkt"):
                v = None
            cell = fmt(v, spec or "")
            if key == "other_cpu_pct" and v is not None and float(v) > OTHER_CPU_WARN_PCT:
                cell += "!"
            cells.append(cell.rjust(width))
        print("  ".join(cells))
        if "error" in r:
            print(f"    {r['relay']} @ {r['sessions']}: {r['error']}")


def print_ratios(rows):
    by = {(r["relay"], int(r["sessions"])): r for r in rows if "sessions" in r}
    for (name, n), r in sorted(by.items()):
        if name != "rendezvous" or ("rtpengine", n) not in by:
            continue
        e = by[("rtpengine", n)]
        parts = []
        for key, label in (("cpu_us_per_pkt", "cpu/pkt"), ("rss_kib_per_session", "rss/session"),
                           ("setup_pairs_per_s", "setup/s"), ("lat_p99_us", "p99")):
            try:
                parts.append(f"{label} x{float(r[key]) / float(e[key]):.2f}")
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                parts.append(f"{label} n/a")
        print(f"ratio rendezvous/rtpengine @ {n} sessions: " + ", ".join(parts))


def print_machine_cpu(rows):
    """CPU per packet beyond the direct run at the same session count, two ways: the whole
    machine (/proc/stat: exact, but includes anything else running, see other%), and relay +
    generator processes (immune to other load; on loopback it includes the softirq work done in
    the sender's context, which is where a kernel fast path runs)."""
    direct = {int(r["sessions"]): r for r in rows if r["relay"] == "direct"}
    for r in rows:
        v = r.get("machine_us_per_pkt")
        if v is None:
            continue
        n = int(r["sessions"])
        line = f"CPU/pkt @ {n} sessions: {r['relay']}: machine {v:.2f} us"
        d = direct.get(n)
        if r["relay"] != "direct" and d is not None and d.get("machine_us_per_pkt") is not None:
            line += f" ({v - d['machine_us_per_pkt']:.2f} above direct)"
            try:
                procs = (float(r["relay_cpu_s"]) + float(r["gen_media_cpu_s"]) - float(d["gen_media_cpu_s"])) * 1e6
                line += f"; relay+generator above direct generator {procs / int(r['received']):.2f} us"
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                pass
        print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendezvous", help="path to the rendezvous binary (skipped if missing)")
    ap.add_argument("--rtp-load", required=True, help="path to rtp_load")
    ap.add_argument("--sessions", default="100,500,1000", help="comma-separated session counts")
    ap.add_argument("--seconds", type=float, default=20, help="media seconds per run")
    ap.add_argument("--rate", type=int, default=50)
    ap.add_argument("--payload", type=int, default=160)
    ap.add_argument("--ng-window", type=int, default=64)
    ap.add_argument("--send-api", default="sendto", choices=["sendto", "sendmmsg"])
    ap.add_argument("--tick-us", type=int, default=500,
                    help="rtp_load tick (0 = wake for every packet: smoother, ~2x generator CPU)")
    ap.add_argument("--sdes", default="off",
                    help="comma-separated: off and/or cm80, cm32, gcm128, gcm256; each relay runs once per "
                         "entry, back to back (rtp_load --sdes: SRTP caller, plain callee)")
    ap.add_argument("--no-rtpengine", action="store_true")
    ap.add_argument("--no-direct", action="store_true", help="skip the direct floor runs")
    ap.add_argument("--rtpengine", default=RTPENGINE, help="rtpengine binary")
    ap.add_argument("--json", help="also write every figure to this file")
    ap.add_argument("--rendezvous-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for rendezvous (repeatable), e.g. --rendezvous-arg=--set "
                         "--rendezvous-arg=relay.kernel_forwarding=1")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness for the relays and rtp_load (e.g. -10 on a machine others share; needs root)")
    args = ap.parse_args()
    global NICE
    NICE = args.nice

    sdes_modes = [x.strip() for x in args.sdes.split(",") if x.strip()]
    if not sdes_modes or any(m not in ("off", "cm80", "cm32", "gcm128", "gcm256") for m in sdes_modes):
        ap.error("--sdes: off, cm80, cm32, gcm128 or gcm256, comma-separated")
    counts = [int(x) for x in args.sessions.split(",") if x.strip()]
    if not counts or min(counts) < 1 or max(counts) > 9000:
        ap.error("--sessions: counts between 1 and 9000")
    if not (0 < args.seconds <= 600):
        ap.error("--seconds: between 0 and 600")
    if not os.access(args.rtp_load, os.X_OK):
        ap.error(f"rtp_load not executable: {args.rtp_load}")

    relays = []
    if args.rendezvous and os.access(args.rendezvous, os.X_OK):
        relays.append(("rendezvous", lambda port: rendezvous_argv(args.rendezvous, port, args.rendezvous_arg)))
    else:
        print(f"note: rendezvous binary not found ({args.rendezvous}); skipped", file=sys.stderr)
    if not args.no_rtpengine and os.access(args.rtpengine, os.X_OK):
        relays.append(("rtpengine", lambda port: rtpengine_argv(args.rtpengine, port)))

    log_dir = tempfile.mkdtemp(prefix="relay_bench-")
    print(f"relay logs: {log_dir}; {NCPU} cores, loadavg {os.getloadavg()[0]:.2f}", file=sys.stderr)
    rows = []
    for n in counts:
        if not args.no_direct:
            print(f"... direct @ {n}", file=sys.stderr)
            r = run_load(args.rtp_load, args, n, args.seconds)
            r["sessions"] = n
            rows.append(r)
        for name, make_argv in relays:
            for sdes in sdes_modes:
                port = free_port()
                relay = Relay(name, make_argv(port), port, log_dir)
                print(f"... {name} @ {n} sdes={sdes} (NG 127.0.0.1:{port})", file=sys.stderr)
                try:
                    relay.start()
                    r = run_load(args.rtp_load, args, n, args.seconds, relay, sdes)
                except RuntimeError as e:
                    r = {"relay": name, "error": str(e)}
                finally:
                    relay.stop()
                r["sessions"] = n
                rows.append(r)

    print_table(rows)
    print_ratios(rows)
    print_machine_cpu(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    failed = [r for r in rows if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
