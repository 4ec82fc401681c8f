#!/usr/bin/env python3
"""Integration test: a real Kamailio drives the media relay over NG for one sipp call.

  relay (NG ping -> pong) -> kamailio (answers OPTIONS) -> sipp UAS (-rtp_echo) -> sipp UAC

The UAC sends an INVITE with SDP through Kamailio, which calls rtpengine_manage() so the relay
sees offer / answer / delete. The UAS answers with SDP naming the harness's callee media endpoint
(a UDP socket here that counts RTP and echoes it back). The UAC then plays a PCMA pcap toward the
address in the 200 OK's SDP. Checks:
  1. the call completed (both sipp exit 0);
  2. the SDP the UAS received (offer) and the SDP the UAC received (200 OK) both have
     c=127.0.0.1 and an m=audio port inside [port_min, port_max] (rewritten by the relay);
  3. RTP reached the callee: the callee endpoint got >= (packets the UAC sent - tolerance) RTP
     packets, all from the relay port named in the offer SDP (so they went through the relay);
  4. --relay-kind rendezvous (default, strict): the Prometheus counter rdv_relay_packets_total on
     http://127.0.0.1:{metrics_port}/metrics after the call is at least the packets the callee
     got from the relay and at most the packets sent into it (UAC's RTP + the callee's echoes).
     --relay-kind rtpengine (dev mode): no metrics; the NG `query` totals are reported instead.
  5. Kamailio read the relay's statistics the way it reads rtpengine's: its log has the
     $rtpstat line (RTP packets > 0) it printed before the BYE's delete, and the MOS values the
     rtpengine module's mos_* parameters filled from the delete reply (average, min, max, samples,
     and per label caller/callee), all non-empty;
  6. a second call is CANCELled: the CANCEL deletes it on the relay, the failure route's delete
     of the now unknown call is answered without an error (no "proxy replied with error" and no
     rtpengine error in Kamailio's log), and the relay holds no call afterwards;
  7. the relay stayed up for the whole test and exits 0 on SIGTERM.
Kamailio drives the relay with rtpengine_manage("SIP-source-address replace-origin
replace-session-connection ...") and labels the parties caller/callee.

Python 3 stdlib only. Every process is started in its own session and stopped by its PID (and its
own process group, for Kamailio's children) in a finally block. Exit 0 on pass, 1 on failure; the
last line printed is a one-line verdict.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from kamailio_harness import parser, run_main, start_relay, stop_all  # noqa: E402
from rdvtest import (Procs, RtpEcho, TestFailure, free_block, ng_request, pcap_info, relay_packets,  # noqa: E402
                     relay_sdp_port, scrape_metrics, sip_options_ok, sipp_trace_messages, tail,
                     udp_port_free, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_NAME = "integration.kamailio_sipp"
DEFAULT_PCAP = "/usr/share/sip-tester/g711a.pcap"
# Packets the relay may legitimately miss (first packets racing the answer, final ones racing
# the delete; real UDP on loopback can also drop a datagram on a full receive buffer). Small
# compared with the ~236 packets of the default pcap.
PACKET_TOLERANCE = 10


# ---------------------------------------------------------------- ports

def pick_ports():
    """A reserved block of 100 ports (rdvtest.free_block), laid out with room between sipp's media
    ports (sipp binds several of its own next to -mp) and the relay's range."""
    base = free_block(100)
    return {
        "sip": base,             # kamailio
        "uas_sip": base + 1,
        "uac_sip": base + 2,
        "ng": base + 3,
        "metrics": base + 4,     # TCP
        "uac_media": base + 10,  # sipp uses +0 and +2 (audio/video), keep room
        "uas_media": base + 20,  # sipp UAS's own media ports (unused)
        "callee_rtp": base + 30, # harness callee media endpoint (count + echo)
        "port_min": base + 40,   # even, 60 ports: plenty for one call (4 sockets)
        "port_max": base + 99,
    }


# ---------------------------------------------------------------- SIP / SDP helpers

def parse_sipp_messages(path):
    """sipp -trace_msg log -> list of (direction, text) with direction 'received'/'sent'."""
    return [(d, text.strip("\r\n") + "\n") for d, text in sipp_trace_messages(path)]


def find_message(messages, direction, first_line_re, cseq_method):
    for d, msg in messages:
        if d != direction:
            continue
        lines = msg.splitlines()
        if not lines or not re.match(first_line_re, lines[0]):
            continue
        if re.search(r"^CSeq:\s*\d+\s+%s\b" % cseq_method, msg, flags=re.M | re.I):
            return msg
    return None


def sdp_of(msg):
    parts = re.split(r"\r?\n\r?\n", msg, maxsplit=1)
    return parts[1] if len(parts) == 2 else ""


# ---------------------------------------------------------------- Kamailio's view of the relay

MOS_RE = re.compile(r"RDV-MOS call=\S+ average=(\S+) min=(\S+) max=(\S+) min_at=(\S+) loss=(\S+) jitter=(\S+) "
                    r"roundtrip=(\S+) samples=(\S+) caller=(\S+) callee=(\S+)")
RTPSTAT_RE = re.compile(r"RDV-RTPSTAT call=\S+ RTP: (-?\d+) bytes, (-?\d+) packets, (-?\d+) errors; "
                        r"RTCP: (-?\d+) bytes, (-?\d+) packets, (-?\d+) errors")
RTPENGINE_ERRORS = ("proxy replied with error", "proxy return error", "failed to")


def log_text(path):
    with open(path, errors="replace") as f:
        return f.read()


def check_kamailio_stats(kam_log):
    """The $rtpstat line (logged before the delete) and the mos_* values (filled by the delete)."""
    text = log_text(kam_log)
    st = RTPSTAT_RE.search(text)
    if st is None:
        raise TestFailure("no $rtpstat line with RTP/RTCP counters in Kamailio's log (the relay's query reply lacks "
                          "totals?)\n" + tail(kam_log, 40))
    if int(st.group(2)) <= 0:
        raise TestFailure("$rtpstat reports %s RTP packets: %s" % (st.group(2), st.group(0)))
    m = MOS_RE.search(text)
    if m is None:
        raise TestFailure("no RDV-MOS line in Kamailio's log\n" + tail(kam_log, 40))
    names = ("average", "min", "max", "min_at", "loss", "jitter", "roundtrip", "samples", "caller", "callee")
    values = dict(zip(names, m.groups()))
    empty = [k for k, v in values.items() if v in ("", "<null>")]
    if empty:
        raise TestFailure("Kamailio's mos_* variables are empty for %s: %s" % (", ".join(empty), m.group(0)))
    for k in ("average", "min", "max", "caller", "callee"):
        if not re.fullmatch(r"[1-4]\.\d", values[k]):
            raise TestFailure("MOS %s=%r is not a score between 1.0 and 4.9: %s" % (k, values[k], m.group(0)))
    if not float(values["min"]) <= float(values["average"]) <= float(values["max"]):
        raise TestFailure("MOS min <= average <= max does not hold: %s" % m.group(0))
    return "Kamailio read $rtpstat (%s RTP packets) and MOS average=%s min=%s max=%s caller=%s callee=%s" % (
        st.group(2), values["average"], values["min"], values["max"], values["caller"], values["callee"])


def run_cancelled_call(args, workdir, procs, ports, kam_log, relay_log):
    """INVITE, 180, CANCEL, 487: the relay sees the CANCEL's delete and then the failure route's
    delete of a call it no longer has; Kamailio must log no rtpengine error for it."""
    before = len(log_text(kam_log))
    uas = procs.start("sipp_uas_cancel", [
        args.sipp, "-sf", os.path.join(HERE, "uas_cancel.xml"),
        "-i", "127.0.0.1", "-p", str(ports["uas_sip"]),
        "-mi", "127.0.0.1", "-mp", str(ports["uas_media"]),
        "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error",
        "-trace_err", "-error_file", os.path.join(workdir, "uas_cancel_errors.log")])
    wait_until("sipp UAS (cancel) to bind udp 127.0.0.1:%d" % ports["uas_sip"],
               lambda: not udp_port_free(ports["uas_sip"]), 5.0, uas, "sipp UAS", procs.log_of("sipp_uas_cancel"))
    uac = procs.start("sipp_uac_cancel", [
        args.sipp, "127.0.0.1:%d" % ports["sip"], "-sf", os.path.join(HERE, "uac_cancel.xml"),
        "-i", "127.0.0.1", "-p", str(ports["uac_sip"]),
        "-mi", "127.0.0.1", "-mp", str(ports["uac_media"]),
        "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error", "-recv_timeout", "10s",
        "-trace_err", "-error_file", os.path.join(workdir, "uac_cancel_errors.log")])
    for proc, name in ((uac, "sipp_uac_cancel"), (uas, "sipp_uas_cancel")):
        try:
            proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s did not finish the cancelled call within 25 s\n%s" % (name, tail(procs.log_of(name))))
        if proc.returncode != 0:
            raise TestFailure("cancelled call: %s exit code %d\n%s\n--- kamailio:\n%s"
                              % (name, proc.returncode, tail(procs.log_of(name)), tail(kam_log)))
    # The failure route runs when the 487 arrives, before the UAC's ACK; give its log line a moment.
    wait_until("Kamailio's failure route to log its delete",
               lambda: "RDV-FAILURE" in log_text(kam_log)[before:], 3.0)
    new = log_text(kam_log)[before:]
    bad = [line for line in new.splitlines()
           if "rtpengine" in line.lower() and ("ERROR" in line or any(e in line for e in RTPENGINE_ERRORS))]
    if bad:
        raise TestFailure("Kamailio logged rtpengine errors for the cancelled call:\n" + "\n".join(bad[:10]))
    _, lst = ng_request(ports["ng"], "list")
    if lst.get("calls"):
        raise TestFailure("the relay still holds calls after the CANCEL: %r" % lst.get("calls"))
    if "Call-ID not found or tags didn't match" not in log_text(relay_log):
        raise TestFailure("the relay never saw the second delete of the cancelled call\n" + tail(relay_log))
    return "cancelled call: second delete answered without error"


# ---------------------------------------------------------------- main flow

def module_dir(explicit):
    if explicit:
        return explicit
    for d in ["/usr/lib/x86_64-linux-gnu/kamailio/modules"] + sorted(glob.glob("/usr/lib/*/kamailio/modules")) + \
             ["/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules", "/usr/local/lib/kamailio/modules"]:
        if os.path.exists(os.path.join(d, "rtpengine.so")):
            return d
    raise TestFailure("Kamailio's rtpengine.so not found (install kamailio-extra-modules)")


def run(args, workdir):
    procs = Procs(workdir)
    notes = []
    echo = None
    relay = None
    try:
        ports = pick_ports()
        print("ports: %s" % ports, flush=True)
        strict = args.relay_kind == "rendezvous"

        # ---- relay
        relay = start_relay(procs, args.relay_cmd, ports)
        relay_log = procs.log_of("relay")
        if strict:
            wait_until("relay metrics on http://127.0.0.1:%d/metrics" % ports["metrics"],
                       lambda: scrape_metrics(ports["metrics"]) is not None, 5.0, relay, "relay", relay_log)

        # ---- kamailio
        with open(os.path.join(HERE, "kamailio.cfg.in")) as f:
            cfg = f.read()
        rundir = os.path.join(workdir, "kamailio-run")
        os.makedirs(rundir, exist_ok=True)
        for key, val in (("SIP_PORT", ports["sip"]), ("NG_PORT", ports["ng"]),
                         ("UAS_PORT", ports["uas_sip"]), ("RUN_DIR", rundir),
                         ("MODULE_DIR", module_dir(args.kamailio_modules))):
            cfg = cfg.replace("@%s@" % key, str(val))
        left = re.findall(r"@[A-Z_]+@", cfg)
        if left:
            raise TestFailure("kamailio.cfg.in has unreplaced placeholders %s" % sorted(set(left)))
        cfg_path = os.path.join(workdir, "kamailio.cfg")
        with open(cfg_path, "w") as f:
            f.write(cfg)
        kam = procs.start("kamailio", [args.kamailio, "-f", cfg_path, "-DD", "-E",
                                       "-P", os.path.join(rundir, "kamailio.pid"),
                                       "-Y", rundir, "-w", rundir, "-m", "64", "-M", "8"])
        kam_log = procs.log_of("kamailio")
        wait_until("kamailio to answer OPTIONS on udp 127.0.0.1:%d" % ports["sip"],
                   lambda: sip_options_ok(ports["sip"]), 10.0, kam, "kamailio", kam_log)

        # ---- callee media endpoint + sipp UAS
        n_pcap, pcap_seconds = pcap_info(args.pcap)
        call_seconds = args.call_seconds if args.call_seconds else pcap_seconds + 0.5
        call_ms = max(1000, int(call_seconds * 1000))
        echo = RtpEcho(ports["callee_rtp"])
        echo.start()
        uas_msgs = os.path.join(workdir, "uas_messages.log")
        uas_screen = os.path.join(workdir, "uas_screen.log")
        uas = procs.start("sipp_uas", [
            args.sipp, "-sf", os.path.join(HERE, "uas.xml"),
            "-i", "127.0.0.1", "-p", str(ports["uas_sip"]),
            "-mi", "127.0.0.1", "-mp", str(ports["uas_media"]),
            "-set", "callee_rtp_port", str(ports["callee_rtp"]),
            "-m", "1", "-nostdin", "-timeout", "%ds" % int(call_seconds + 20), "-timeout_error",
            "-trace_msg", "-message_file", uas_msgs,
            "-trace_screen", "-screen_file", uas_screen,
            "-trace_err", "-error_file", os.path.join(workdir, "uas_errors.log")])
        uas_log = procs.log_of("sipp_uas")
        wait_until("sipp UAS to bind udp 127.0.0.1:%d" % ports["uas_sip"],
                   lambda: not udp_port_free(ports["uas_sip"]), 5.0, uas, "sipp UAS", uas_log)

        # ---- sipp UAC (scenario copied next to the audio it plays: ./audio.pcap)
        shutil.copyfile(args.pcap, os.path.join(workdir, "audio.pcap"))
        shutil.copyfile(os.path.join(HERE, "uac.xml"), os.path.join(workdir, "uac.xml"))
        uac_msgs = os.path.join(workdir, "uac_messages.log")
        uac_screen = os.path.join(workdir, "uac_screen.log")
        uac = procs.start("sipp_uac", [
            args.sipp, "127.0.0.1:%d" % ports["sip"], "-sf", os.path.join(workdir, "uac.xml"),
            "-i", "127.0.0.1", "-p", str(ports["uac_sip"]),
            "-mi", "127.0.0.1", "-mp", str(ports["uac_media"]),
            "-d", str(call_ms),
            "-m", "1", "-nostdin", "-timeout", "%ds" % int(call_seconds + 15), "-timeout_error",
            "-recv_timeout", "10s",
            "-trace_msg", "-message_file", uac_msgs,
            "-trace_screen", "-screen_file", uac_screen,
            "-trace_err", "-error_file", os.path.join(workdir, "uac_errors.log")])
        uac_log = procs.log_of("sipp_uac")

        # While the call runs, watch the relay: metrics (strict) and NG query (informational).
        best_metric, metric_desc = None, "never scraped"

        def scrape_packets():
            v = relay_packets(scrape_metrics(ports["metrics"]))
            return v, "rdv_relay_packets_total" if v is not None else "no rdv_relay_packets_total in /metrics"

        best_query = None
        call_deadline = time.monotonic() + call_seconds + 20
        while uac.poll() is None and time.monotonic() < call_deadline:
            if strict:
                try:
                    v, desc = scrape_packets()
                    metric_desc = desc
                    if v is not None and (best_metric is None or v > best_metric):
                        best_metric = v
                except (OSError, ValueError) as e:
                    metric_desc = "scrape failed: %s" % e
            try:
                _, lst = ng_request(ports["ng"], "list", timeout=0.3)
                for cid in lst.get("calls", []) or []:
                    _, q = ng_request(ports["ng"], "query", timeout=0.3, **{"call-id": cid})
                    tot = q.get("totals", {}).get("RTP", {}).get("packets") if isinstance(q, dict) else None
                    if isinstance(tot, int) and (best_query is None or tot > best_query):
                        best_query = tot
            except (OSError, ValueError, AttributeError):
                pass
            try:
                uac.wait(timeout=0.25)   # the next sample, or at once when the call is over
            except subprocess.TimeoutExpired:
                pass
        if uac.poll() is None:
            raise TestFailure("sipp UAC still running after %.0fs\n%s" % (call_seconds + 20, tail(uac_log)))

        # ---- 1. call completed
        if uac.returncode != 0:
            raise TestFailure("call did not complete: sipp UAC exit code %d (0 = all calls "
                              "succeeded)\n--- uac:\n%s\n--- uac errors:\n%s\n--- kamailio:\n%s\n--- relay:\n%s"
                              % (uac.returncode, tail(uac_log), tail(os.path.join(workdir, "uac_errors.log")),
                                 tail(kam_log), tail(relay_log)))
        try:
            uas.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            raise TestFailure("sipp UAS did not finish its call within 5 s of the UAC\n%s" % tail(uas_log))
        if uas.returncode != 0:
            raise TestFailure("sipp UAS exit code %d\n%s\n%s" % (uas.returncode, tail(uas_log),
                                                                tail(os.path.join(workdir, "uas_errors.log"))))

        # ---- 2. SDP rewritten by the relay, both directions
        invite = find_message(parse_sipp_messages(uas_msgs), "received", r"^INVITE ", "INVITE")
        if invite is None:
            raise TestFailure("no INVITE in the UAS message log %s" % uas_msgs)
        offer_port = relay_sdp_port("UAS (offer via relay)", sdp_of(invite),
                                    ports["port_min"], ports["port_max"], (ports["uac_media"],))
        ok = find_message(parse_sipp_messages(uac_msgs), "received", r"^SIP/2\.0 200", "INVITE")
        if ok is None:
            raise TestFailure("no 200 OK to the INVITE in the UAC message log %s" % uac_msgs)
        answer_port = relay_sdp_port("UAC (200 OK answer via relay)", sdp_of(ok),
                                     ports["port_min"], ports["port_max"], (ports["callee_rtp"],))
        if offer_port == answer_port:
            raise TestFailure("offer and answer SDP carry the same relay port %d" % offer_port)
        notes.append("SDP rewritten (UAS sees relay :%d, UAC sees relay :%d)" % (offer_port, answer_port))

        # ---- 3. RTP reached the callee through the relay
        # sipp plays every packet of the pcap (its own counter never reaches the final screen dump).
        sent = n_pcap
        need = sent - PACKET_TOLERANCE
        # The relay may still be flushing the last packets when the BYE completes.
        settle = time.monotonic() + 1.0
        while sum(echo.snapshot()[0].values()) < need and time.monotonic() < settle:
            time.sleep(0.05)
        by_source, _ = echo.snapshot()
        pts = echo.seen_payload_types()
        got = sum(by_source.values())
        from_relay = by_source.get(("127.0.0.1", offer_port), 0)
        if got < need:
            raise TestFailure("callee got only %d RTP packets of the %d the UAC sent to relay port %d "
                              "(need >= %d, sources %s): media did not flow through the relay\n--- relay:\n%s"
                              % (got, sent, answer_port, need, by_source or "none", tail(relay_log)))
        if from_relay < need:
            raise TestFailure("callee got %d RTP packets but only %d from the relay port 127.0.0.1:%d named in "
                              "the offer SDP (sources %s)" % (got, from_relay, offer_port, by_source))
        notes.append("UAC sent %d RTP; callee got %d from relay :%d (PT %s) and echoed them"
                     % (sent, got, offer_port, ",".join(str(p) for p in sorted(pts))))
        if best_query is not None:
            notes.append("NG query totals.RTP.packets=%d" % best_query)

        # ---- 4. relay counters
        if strict:
            # Every packet the callee got from the relay was forwarded by it, and it cannot have
            # forwarded more than was sent into it: the UAC's RTP and the callee's echoes (nothing
            # else talks to the relay's ports). The counter only grows: read it after the call.
            _, echoed = echo.snapshot()
            low, high = from_relay, sent + echoed

            def reached():
                v = relay_packets(scrape_metrics(ports["metrics"]))
                return v if v is not None and v >= low else None
            try:
                v = wait_until("rdv_relay_packets_total >= %d" % low, reached, 2.0, relay, "relay", relay_log)
            except TestFailure as e:
                raise TestFailure("relay metrics: %s (during the call: %s = %s)" % (e, metric_desc, best_metric))
            if not low <= v <= high:
                raise TestFailure("relay metrics: rdv_relay_packets_total = %g, expected %d..%d (the callee got %d "
                                  "from the relay; %d sent by the UAC + %d echoed)" % (v, low, high, from_relay, sent,
                                                                                       echoed))
            notes.append("rdv_relay_packets_total=%g (%d..%d)" % (v, low, high))
        else:
            notes.append("relay-kind %s: metrics check skipped (dev mode)" % args.relay_kind)

        # ---- 5. what Kamailio read from the relay
        notes.append(check_kamailio_stats(kam_log))

        # ---- 6. a cancelled call: the second delete is not an error
        notes.append(run_cancelled_call(args, workdir, procs, ports, kam_log, relay_log))
    finally:
        stopped = stop_all(procs, relay)
        if echo is not None:
            echo.stop()
    # Reached only when every check above passed: the relay must also have lived to the end.
    if stopped:
        raise TestFailure(stopped)
    return notes


def main():
    ap = parser(__doc__)
    ap.add_argument("--relay-kind", choices=["rendezvous", "rtpengine"], default="rendezvous",
                    help="rendezvous (default): strict, checks Prometheus counters; "
                         "rtpengine: dev mode, no metrics check")
    ap.add_argument("--pcap", default=DEFAULT_PCAP, help="RTP pcap the UAC plays")
    ap.add_argument("--call-seconds", type=float, default=None,
                    help="how long the call stays up after ACK (default: the pcap's length + 0.5 s; "
                         "the default pcap lasts 7.05 s)")
    args = ap.parse_args()
    if not os.path.exists(args.pcap):
        print("FAIL %s: pcap %s not found (package sip-tester)" % (TEST_NAME, args.pcap))
        return 1
    return run_main(TEST_NAME, args, run, (("kamailio", args.kamailio), ("sipp", args.sipp)), args.relay_kind)


if __name__ == "__main__":
    sys.exit(main())
