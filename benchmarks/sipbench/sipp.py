"""sipp runs and the files they leave: the callee population (UAS), one bounded UAC run, and the
statistics, rtt, counts and error files read back afterwards."""

import csv
import os
import re
import time

from rdvtest import tail, udp_port_free
from siptest import register

from .common import SIPP, password_of
from .procs import Proc, children_cpu


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


def kept_rate(rtt_samples, calls):
    """Calls per second actually started: spread of the INVITE->200 samples (one per answered call)."""
    if len(rtt_samples) < 2:
        return None
    t = sorted(d - r for d, r in rtt_samples)  # when each INVITE left
    span = (t[-1] - t[0]) / 1000.0
    return (len(t) - 1) / span if span > 0 else None
