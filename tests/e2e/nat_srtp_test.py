#!/usr/bin/env python3
"""End-to-end test: an SRTP phone calls a plain-RTP phone through Rendezvous, which terminates
SRTP on the caller's leg (SDES, RFC 4568) and bridges it to plain RTP on the callee's; each phone
records the other's tone.

Topology: nat_call_test.py's (alice behind router A, bob behind router B, Rendezvous on the public
segment, 198.18.0.0/15 only). alice is baresip with the srtp module and `mediaenc=srtp-mand`
(RTP/SAVP with a=crypto, nothing else accepted); bob is baresip without it (plain RTP/AVP).
Rendezvous runs with media.encrypt_caller = require and media.encrypt_callee = never.

Checks:
  - signalling (baresip's SIP trace, -s): the INVITE bob got and his 200 OK are RTP/AVP without
    a=crypto; alice's INVITE is RTP/SAVP with her a=crypto lines and the 200 OK she got is
    RTP/SAVP with exactly one a=crypto, a key of Rendezvous's own (none of hers echoed); the call
    is established on both sides (200 OK and ACK went through);
  - media: each side's recording (decoded audio, baresip sndfile) holds at least MIN_TONE_S of the
    other's tone, arriving from the relay. This needs the relay worker's SRTP termination
    (LegParams::crypto): without it bob hears alice's SRTP as noise and alice drops what bob sends;
  - /metrics after the hangup: one call, answered, nothing left; the relay unprotected and
    protected packets on alice's leg (rdv_srtp_packets_total, from the relay's SRTP branch) with
    no authentication failure; Rendezvous exits 0 on SIGTERM.

Exit codes: 0 pass, 1 fail, 77 skipped (not root, or baresip without its srtp module).

Usage: nat_srtp_test.py --rendezvous PATH --workdir DIR [--prefix rdvsrtp]
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import nat_call_test as nat  # noqa: E402
from rdvtest import Procs, TestFailure, metric, stop_server  # noqa: E402

SRTP_MODULE = "/usr/lib/baresip/modules/srtp.so"
RDV_SETS = ("media.encrypt_caller=require", "media.encrypt_callee=never")


START_LINE = re.compile(r"^(?:[A-Z]+ sip:\S+ SIP/2\.0|SIP/2\.0 \d{3} [^\r\n]*)\r?$", re.M)
KEY = re.compile(r"a=crypto:\d+ \S+ inline:([A-Za-z0-9+/=]+)")
AUDIO = re.compile(r"m=audio \d+ (\S+)")


def sip_messages(log):
    """(start line, text) of every SIP message in a baresip SIP trace (-s), in order."""
    starts = list(START_LINE.finditer(log))
    return [(m.group(0).strip(), log[m.start():starts[i + 1].start() if i + 1 < len(starts) else len(log)])
            for i, m in enumerate(starts)]


def invite_sdps(log):
    """[(kind, protos, keys)] of the INVITEs and the 2xx answering an INVITE that carry SDP."""
    out = []
    for start, text in sip_messages(log):
        protos = AUDIO.findall(text)
        if not protos:
            continue
        if start.startswith("INVITE "):
            out.append(("INVITE", protos, set(KEY.findall(text))))
        elif start.startswith("SIP/2.0 200") and re.search(r"CSeq: *\d+ INVITE", text):
            out.append(("200", protos, set(KEY.findall(text))))
    return out


def check_signalling(alice, bob):
    """What each phone saw and sent in SIP (baresip -s traces every message with its SDP)."""
    b = invite_sdps(bob.log())
    if not any(kind == "INVITE" for kind, _, _ in b):
        raise TestFailure("no INVITE with SDP in bob's SIP trace\n%s" % nat.tail(bob.log_path()))
    for kind, protos, keys in b:
        if protos != ["RTP/AVP"] or keys:
            raise TestFailure("bob (plain RTP) saw %s with %r and a=crypto keys %r" % (kind, protos, keys))
    a = invite_sdps(alice.log())
    sent = set().union(*[keys for kind, _, keys in a if kind == "INVITE"] or [set()])
    got = [(protos, keys) for kind, protos, keys in a if kind == "200"]
    if not sent or not got:
        raise TestFailure("alice's trace should show her INVITE with a=crypto and the 200 OK: %r" % a)
    for protos, keys in got:
        if protos != ["RTP/SAVP"] or len(keys) != 1 or keys & sent:
            raise TestFailure("the 200 OK alice got should be RTP/SAVP with one a=crypto of Rendezvous's own "
                              "(not one of hers %r): %r, %r" % (sent, protos, keys))
    print("[srtp] signalling: bob got and sent only RTP/AVP; alice sent RTP/SAVP with %d key(s) and got "
          "RTP/SAVP with Rendezvous's own key" % len(sent))


def body(topo, args, tones):
    phase_dir = os.path.join(args.workdir, "srtp")
    os.makedirs(phase_dir)
    procs = Procs(args.workdir)
    pub = topo.ns["pub"]
    rdv = rlog = None
    try:
        rdv, rlog = nat.start_rendezvous(procs, pub, args.rendezvous, RDV_SETS)
        clients = (
            nat.Client(procs, phase_dir, "srtp", "alice", topo.ns["alice"], nat.ALICE_IP, tones["alice"],
                       (14000, 14099), nat.account_line("alice", nat.PUB_IP, nat.USERS["alice"]) + ";mediaenc=srtp-mand",
                       codec_modules=("g711.so", "srtp.so")),
            nat.Client(procs, phase_dir, "srtp", "bob", topo.ns["bob"], nat.BOB_IP, tones["bob"],
                       (14100, 14199), nat.account_line("bob", nat.PUB_IP, nat.USERS["bob"])))
        try:
            res, hangup = nat.run_call("srtp", procs, phase_dir, clients, "sip:bob@%s" % nat.PUB_IP,
                                       r"\{0/UDP/v4\} 200 OK")
        except TestFailure as e:
            raise TestFailure("%s\n--- rendezvous log tail\n%s" % (e, nat.tail(rlog, 40)))
        check_signalling(*clients)
        metrics = nat.scrape_when_idle(pub, rdv, rlog)
        with open(os.path.join(phase_dir, "metrics.txt"), "w") as f:
            f.write(metrics)
    finally:
        stopped = stop_server(rdv, "rendezvous", rlog) if rdv is not None else None
        procs.stop_all()
    nat.check_own_tone_sent("srtp", res)
    for c in clients:
        srcs = nat.media_sources(c)
        if not srcs or any(ip != nat.PUB_IP for ip, _ in srcs):
            raise TestFailure("[srtp] %s: media should arrive from the relay %s, got %r" % (c.name, nat.PUB_IP, srcs))
    try:
        nat.check_heard_other("srtp", res)
    except TestFailure as e:
        raise TestFailure("%s\n(SRTP <-> RTP bridging needs the relay's SRTP termination)\n--- rendezvous log tail\n%s"
                          % (e, nat.tail(rlog, 40)))
    if hangup:
        raise TestFailure("[srtp] hangup did not end the call on both sides: %s" % hangup)
    want = {"rdv_calls_total": 1, "rdv_calls_answered_total": 1, "rdv_calls_failed_total": 0,
            "rdv_calls_active": 0, "rdv_sessions_active": 0, "rdv_ports_used": 0}
    got = {k: metric(metrics, k) for k in want}
    if got != want:
        raise TestFailure("[srtp] /metrics after the call: %s, expected %s" % (got, want))
    # The relay really terminated alice's SRTP: it unprotected what she sent and protected what she
    # got (about 50 packets a second each way), and no packet of hers failed to authenticate.
    srtp = {op: metric(metrics, "rdv_srtp_packets_total", {"op": op}) for op in ("unprotect", "protect")}
    auth_fail = metric(metrics, "rdv_srtp_packets_dropped_total", {"reason": "auth_fail"})
    if any(v is None or v < 50 for v in srtp.values()) or auth_fail:
        raise TestFailure("[srtp] relay SRTP counters %r, auth_fail %r: expected both ways terminated, no "
                          "authentication failure" % (srtp, auth_fail))
    print("[srtp] relay: %d packets unprotected, %d protected" % (srtp["unprotect"], srtp["protect"]))
    if stopped:
        raise TestFailure("[srtp] %s" % stopped)
    return "SRTP caller and plain callee heard each other through Rendezvous"


def main():
    if not os.path.exists(SRTP_MODULE):
        print("SKIP nat_srtp: baresip's srtp module (%s) is missing" % SRTP_MODULE)
        return 77
    return nat.baresip_test_main("nat_srtp", "rdvsrtp", body)


if __name__ == "__main__":
    sys.exit(main())
