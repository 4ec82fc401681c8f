"""Call detail records (cdr.file) of the calls the earlier cases made, and logrotate's move of the
file followed by SIGUSR1."""

import json
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from calls_common import (PACKET_TOLERANCE, check, sipp_pair)  # noqa: E402
from rdvtest import (metric, wait_until)  # noqa: E402


def records(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def case_cdr(ctx):
    path = ctx.cdr_file
    n_pcap, _ = ctx.pcap
    # The records of the RTP call and of the rejected ones; each is written once the relay's report
    # of its session met the B2BUA's record (at most the joiner's 2 s grace).
    def media_call():
        with_rtp = [r for r in records(path) if r.get("end_reason") == "caller_bye"
                    and any((leg["packets"] or 0) >= n_pcap - PACKET_TOLERANCE for leg in r["legs"])]
        return with_rtp[0] if with_rtp else None
    wait_until("a record of the RTP call in %s" % path, lambda: media_call() is not None, 5.0)
    rec = media_call()
    check(rec["source"] == "sip" and rec["status"] == 200 and rec["answer"] is not None and rec["duration_s"] > 0,
          "the RTP call's record lacks its answer: %s" % rec)
    check(len(rec["legs"]) == 2 and {leg["side"] for leg in rec["legs"]} == {"caller", "callee"},
          "the RTP call's record should have the caller's and the callee's leg: %s" % rec["legs"])
    for leg in rec["legs"]:
        check(leg["packets"] >= n_pcap - PACKET_TOLERANCE and leg["loss_percent"] is not None,
              "leg %s: %s packets of %d sent" % (leg["side"], leg["packets"], n_pcap))
        mos = leg["mos"]
        check(mos is not None and 4.0 <= mos["min"] <= mos["avg"] <= mos["max"] <= 4.5,
              "leg %s of a clean loopback G.711 call: MOS %s, expected 4.0..4.5" % (leg["side"], mos))
    all_recs = records(path)
    reasons = {(r["end_reason"], r["status"]) for r in all_recs}
    for want in (("rejected", 486), ("caller_cancel", 487), ("callee_bye", 200)):
        check(want in reasons, "no record with end_reason %s and status %d among %s" % (want + (sorted(reasons),)))
    text = ctx.relay.metrics()
    written = metric(text, "rdv_cdr_written_total")
    check(written == len(all_recs), "rdv_cdr_written_total %s, the file has %d lines" % (written, len(all_recs)))
    check((metric(text, "rdv_calls_ended_total", {"reason": "rejected"}) or 0) >= 1,
          "rdv_calls_ended_total{reason=\"rejected\"} is not counted")

    # logrotate: the file is moved away, SIGUSR1 makes the server write a new one.
    os.rename(path, path + ".1")
    os.kill(ctx.relay.proc.pid, signal.SIGUSR1)
    wait_until("the server to log the SIGUSR1 reopen", lambda: "SIGUSR1: reopening" in ctx.relay.log(), 3.0)
    sipp_pair(ctx, "busy_after_rotate", "callee_busy.xml", "caller_expect_486.xml", callee_sets=False)
    wait_until("a new %s with the next call's record" % path,
               lambda: [r["end_reason"] for r in records(path)] == ["rejected"], 5.0)
    check(len(records(path + ".1")) == len(all_recs), "the moved file changed after the reopen")
    return "%d records; RTP call: MOS avg %s/%s, %d+%d packets; after SIGUSR1 a new file got the next call" % (
        len(all_recs), rec["legs"][0]["mos"]["avg"], rec["legs"][1]["mos"]["avg"], rec["legs"][0]["packets"],
        rec["legs"][1]["packets"])
