"""REGISTER load with digest authentication: sipp steps (register.xml, -inf users.csv) or Python
worker processes."""

import multiprocessing
import os
import re
import select
import signal
import socket
import time

import relay_bench
from siptest import digest_authorization, parse_challenge

from .common import RATE_KEPT, SUCCESS_PCT, log, password_of, pct, saturated
from .procs import children_cpu, other_pct, server_sample
from .servers import with_server
from .sipp import kept_rate, run_uac

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


# ---------------------------------------------------------------- steps

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
