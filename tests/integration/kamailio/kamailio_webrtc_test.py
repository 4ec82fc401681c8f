#!/usr/bin/env python3
"""Integration test: Kamailio as a WebRTC gateway drives Rendezvous over NG (issue 12).

  relay (NG) <- kamailio (kamailio_webrtc.cfg.in) <- sipp UAC (a browser's SDP) -> sipp UAS (a phone)

The UAC's INVITE carries what a browser offers: UDP/TLS/RTP/SAVPF, ICE credentials and a host
candidate, a=fingerprint, a=setup:actpass, a=mid, a=group:BUNDLE, rtcp-mux, rtcp-fb, Opus.
Kamailio sees a WebRTC body and, as real gateway configs do, sends the offer with
rtpengine_manage("ICE=remove RTP/AVP ...") towards the phone and the phone's answer with
rtpengine_manage("ICE=force RTP/SAVPF DTLS=passive ...") back towards the browser. Checks:
  1. the call completed (both sipp exit 0);
  2. the phone got plain RTP: m=audio <relay port> RTP/AVP, c=127.0.0.1, and none of a=ice-*,
     a=candidate, a=end-of-candidates, a=fingerprint, a=setup, a=crypto, a=group:BUNDLE;
  3. the browser got a WebRTC answer: m=audio <relay port> UDP/TLS/RTP/SAVPF, session a=ice-lite,
     a=ice-ufrag (>= 4 chars) and a=ice-pwd (>= 22), exactly one a=candidate "1 udp <prio>
     127.0.0.1 <that port> typ host", a=end-of-candidates, a=fingerprint:sha-256 with 32 hex
     bytes (the relay's certificate, not the browser's), a=setup:passive, a=rtcp-mux, a=mid:0,
     a=group:BUNDLE 0; and no a=crypto;
  4. the relay holds no call after the BYE, stayed up, and exits 0 on SIGTERM.

Needs the relay's DTLS certificate wired into the anchor (app/Server.cc:
anchor->setDtlsFingerprint(identity->fingerprint())); without it the offer is refused with
"DTLS-SRTP needs the relay's certificate" and this test fails on check 1.

Media: kamailio_webrtc_media_test.py (integration.kamailio_webrtc_media) runs the same gateway with
a real WebRTC peer (python3-aiortc behind a small SIP UAC) and a plain PCMU phone, both tones heard.

Python 3 stdlib only. Every process is started in its own session and stopped by its PID in a
finally block. Exit 0 on pass, 1 on failure; the last line printed is a one-line verdict.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rdvtest import (Procs, TestFailure, free_block, sip_options_ok, tail,  # noqa: E402
                     udp_port_free, wait_until)
from kamailio_harness import parser, run_main, start_relay, stop_all, wait_no_calls  # noqa: E402
from kamailio_sipp_test import find_message, module_dir, parse_sipp_messages, sdp_of  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_NAME = "integration.kamailio_webrtc_gateway"


def pick_ports():
    base = free_block(100)
    return {"sip": base, "uas_sip": base + 1, "uac_sip": base + 2, "ng": base + 3, "metrics": base + 4,
            "uac_media": base + 10, "uas_media": base + 20, "callee_rtp": base + 30,
            "port_min": base + 40, "port_max": base + 99}


def attrs(sdp, name):
    """Values of every a=name[:value] line (session and media level), in order."""
    out = []
    for line in sdp.splitlines():
        m = re.match(r"a=%s(?::(.*))?$" % re.escape(name), line.strip())
        if m:
            out.append(m.group(1) if m.group(1) is not None else "")
    return out


def m_audio(who, sdp, ports):
    m = re.search(r"^m=audio (\d+) (\S+) ", sdp, flags=re.M)
    if m is None:
        raise TestFailure("%s: no m=audio line in\n%s" % (who, sdp))
    port, proto = int(m.group(1)), m.group(2)
    if not ports["port_min"] <= port <= ports["port_max"]:
        raise TestFailure("%s: m=audio port %d is not a relay port (%d..%d)\n%s"
                          % (who, port, ports["port_min"], ports["port_max"], sdp))
    if not re.search(r"^c=IN IP4 127\.0\.0\.1\s*$", sdp, flags=re.M):
        raise TestFailure("%s: no c=IN IP4 127.0.0.1 (the relay)\n%s" % (who, sdp))
    return port, proto


def check_phone_offer(sdp, ports):
    port, proto = m_audio("phone's offer", sdp, ports)
    if proto != "RTP/AVP":
        raise TestFailure("phone's offer: proto %s, expected RTP/AVP\n%s" % (proto, sdp))
    for name in ("ice-ufrag", "ice-pwd", "ice-lite", "ice-options", "candidate", "end-of-candidates",
                 "fingerprint", "setup", "crypto"):
        if attrs(sdp, name):
            raise TestFailure("phone's offer still has a=%s\n%s" % (name, sdp))
    if any(v.startswith("BUNDLE") for v in attrs(sdp, "group")):
        raise TestFailure("phone's offer still has a=group:BUNDLE\n%s" % sdp)
    return port


def check_browser_answer(sdp, ports):
    port, proto = m_audio("browser's answer", sdp, ports)
    fails = []
    if proto != "UDP/TLS/RTP/SAVPF":
        fails.append("proto %s, expected UDP/TLS/RTP/SAVPF" % proto)
    if attrs(sdp, "ice-lite") != [""]:
        fails.append("no session a=ice-lite")
    ufrag, pwd = attrs(sdp, "ice-ufrag"), attrs(sdp, "ice-pwd")
    if len(ufrag) != 1 or len(ufrag[0]) < 4 or ufrag[0] == "Tw6e":
        fails.append("a=ice-ufrag %r: want one of ours, >= 4 chars" % ufrag)
    if len(pwd) != 1 or len(pwd[0]) < 22:
        fails.append("a=ice-pwd %r: want one of >= 22 chars" % pwd)
    cands = attrs(sdp, "candidate")
    if len(cands) != 1 or not re.fullmatch(r"\S+ 1 udp \d+ 127\.0\.0\.1 %d typ host" % port, cands[0]):
        fails.append("a=candidate %r: want one host candidate on 127.0.0.1:%d" % (cands, port))
    if attrs(sdp, "end-of-candidates") != [""]:
        fails.append("no a=end-of-candidates")
    fps = attrs(sdp, "fingerprint")
    if len(fps) != 1 or not re.fullmatch(r"sha-256 [0-9A-F]{2}(:[0-9A-F]{2}){31}", fps[0]) or fps[0].startswith(
            "sha-256 5D:7A:38"):
        fails.append("a=fingerprint %r: want the relay's sha-256 fingerprint" % fps)
    if attrs(sdp, "setup") != ["passive"]:
        fails.append("a=setup %r: want passive" % attrs(sdp, "setup"))
    if attrs(sdp, "rtcp-mux") != [""]:
        fails.append("no a=rtcp-mux")
    if attrs(sdp, "mid") != ["0"]:
        fails.append("a=mid %r: want 0 (the browser's)" % attrs(sdp, "mid"))
    if attrs(sdp, "group") != ["BUNDLE 0"]:
        fails.append("a=group %r: want BUNDLE 0" % attrs(sdp, "group"))
    if attrs(sdp, "crypto"):
        fails.append("a=crypto on a DTLS-SRTP leg")
    if fails:
        raise TestFailure("browser's answer: " + "; ".join(fails) + "\n" + sdp)
    return port


def start_kamailio(args, procs, workdir, ports):
    with open(os.path.join(HERE, "kamailio_webrtc.cfg.in")) as f:
        cfg = f.read()
    rundir = os.path.join(workdir, "kamailio-run")
    os.makedirs(rundir, exist_ok=True)
    for key, val in (("SIP_PORT", ports["sip"]), ("NG_PORT", ports["ng"]), ("UAS_PORT", ports["uas_sip"]),
                     ("RUN_DIR", rundir), ("MODULE_DIR", module_dir(args.kamailio_modules))):
        cfg = cfg.replace("@%s@" % key, str(val))
    left = re.findall(r"@[A-Z_]+@", cfg)
    if left:
        raise TestFailure("kamailio_webrtc.cfg.in has unreplaced placeholders %s" % sorted(set(left)))
    cfg_path = os.path.join(workdir, "kamailio.cfg")
    with open(cfg_path, "w") as f:
        f.write(cfg)
    kam = procs.start("kamailio", [args.kamailio, "-f", cfg_path, "-DD", "-E", "-P",
                                   os.path.join(rundir, "kamailio.pid"), "-Y", rundir, "-w", rundir,
                                   "-m", "64", "-M", "8"])
    wait_until("kamailio to answer OPTIONS on udp 127.0.0.1:%d" % ports["sip"],
               lambda: sip_options_ok(ports["sip"]), 10.0, kam, "kamailio", procs.log_of("kamailio"))


def run_call(args, procs, workdir, ports):
    uas_msgs = os.path.join(workdir, "uas_messages.log")
    uas = procs.start("sipp_uas", [
        args.sipp, "-sf", os.path.join(HERE, "uas.xml"), "-i", "127.0.0.1", "-p", str(ports["uas_sip"]),
        "-mi", "127.0.0.1", "-mp", str(ports["uas_media"]), "-set", "callee_rtp_port", str(ports["callee_rtp"]),
        "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_msg", "-message_file", uas_msgs,
        "-trace_err", "-error_file", os.path.join(workdir, "uas_errors.log")])
    wait_until("sipp UAS to bind udp 127.0.0.1:%d" % ports["uas_sip"], lambda: not udp_port_free(ports["uas_sip"]),
               5.0, uas, "sipp UAS", procs.log_of("sipp_uas"))
    uac_msgs = os.path.join(workdir, "uac_messages.log")
    uac = procs.start("sipp_uac", [
        args.sipp, "127.0.0.1:%d" % ports["sip"], "-sf", os.path.join(HERE, "uac_webrtc.xml"),
        "-i", "127.0.0.1", "-p", str(ports["uac_sip"]), "-mi", "127.0.0.1", "-mp", str(ports["uac_media"]),
        "-d", "500", "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error", "-recv_timeout", "10s",
        "-trace_msg", "-message_file", uac_msgs, "-trace_err", "-error_file", os.path.join(workdir, "uac_errors.log")])
    for proc, name in ((uac, "sipp_uac"), (uas, "sipp_uas")):
        try:
            proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s did not finish the call within 25 s\n%s" % (name, tail(procs.log_of(name))))
        if proc.returncode != 0:
            raise TestFailure("call did not complete: %s exit code %d\n%s\n--- kamailio:\n%s\n--- relay:\n%s"
                              % (name, proc.returncode, tail(procs.log_of(name)), tail(procs.log_of("kamailio")),
                                 tail(procs.log_of("relay"))))
    invite = find_message(parse_sipp_messages(uas_msgs), "received", r"^INVITE ", "INVITE")
    ok = find_message(parse_sipp_messages(uac_msgs), "received", r"^SIP/2\.0 200", "INVITE")
    if invite is None or ok is None:
        raise TestFailure("no INVITE at the phone or no 200 OK at the browser in the sipp message logs")
    return sdp_of(invite), sdp_of(ok)


def run(args, workdir):
    procs = Procs(workdir)
    relay = None
    notes = []
    try:
        ports = pick_ports()
        relay = start_relay(procs, args.relay_cmd, ports)
        start_kamailio(args, procs, workdir, ports)
        offer, answer = run_call(args, procs, workdir, ports)
        to_phone = check_phone_offer(offer, ports)
        to_browser = check_browser_answer(answer, ports)
        if to_phone == to_browser:
            raise TestFailure("phone and browser got the same relay port %d" % to_phone)
        notes.append("phone got RTP/AVP without ICE/DTLS on relay :%d" % to_phone)
        notes.append("browser got UDP/TLS/RTP/SAVPF, ice-lite, host candidate, the relay's fingerprint and "
                     "setup:passive on relay :%d" % to_browser)

        wait_no_calls(procs, relay, ports)
    finally:
        stopped = stop_all(procs, relay)
    if stopped:
        raise TestFailure(stopped)
    return notes


def main():
    args = parser(__doc__).parse_args()
    return run_main(TEST_NAME, args, run, (("kamailio", args.kamailio), ("sipp", args.sipp)))


if __name__ == "__main__":
    sys.exit(main())
