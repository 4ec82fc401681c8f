"""The SIP benchmark's printed report: one table per kind of phase, then the highest passing steps."""

from relay_bench import fmt

from .common import OTHER_CPU_WARN_PCT, RATE_KEPT, SUCCESS_PCT


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
