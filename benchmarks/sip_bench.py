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
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import sipbench.servers  # first: puts relay_bench.py and tests/integration on sys.path
import relay_bench
from relay_bench import NCPU
from sipbench.common import KAMAILIO, PTIME_MS, ROOT, SCEN_DIR, SIPP, Ctx, log
from sipbench.packets import write_rtp_pcap
from sipbench.phases import call_steps, concurrent_phase, flood_phase
from sipbench.procs import pick_ports, raise_nofile
from sipbench.register import register_steps
from sipbench.report import print_tables, summary


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
    sipbench.servers.RELAY_PORTS[:] = [int(m.group(1)), int(m.group(2))]
    sipbench.servers.LOG_LEVEL = args.log_level
    sipbench.servers.EXTRA_SETS[:] = args.rendezvous_set
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
