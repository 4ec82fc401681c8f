"""The call phases: stepped call rates (mode 1 "calls", mode 2 "media"), concurrent calls, and the
flood against admission control."""

import random
import re
import time

from rdvtest import metric
from siptest import UdpSip, build_request, register

from .common import RATE_KEPT, SUCCESS_PCT, log, password_of, pct, saturated
from .packets import PacketCounters
from .probe import Probe
from .procs import cpu_split, other_pct, safe_cpu, server_sample
from .servers import with_server
from .sipp import as_int, kept_rate, run_uac, start_uas, uas_totals


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


# ---------------------------------------------------------------- flood

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
