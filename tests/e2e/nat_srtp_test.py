#!/usr/bin/env python3
"""End-to-end test: an SRTP phone calls a plain-RTP phone through Rendezvous, which terminates
SRTP on the caller's leg and bridges it to plain RTP on the callee's; each phone records the
other's tone. `--mode sdes` keys the caller's leg by SDES (RFC 4568 a=crypto), `--mode dtls` by a
DTLS-SRTP handshake the relay runs with the caller (RFC 5764, UDP/TLS/RTP/SAVP with a=fingerprint
and a=setup; baresip's dtls_srtp module).

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

With --mode dtls alice offers a=rtcp-mux, as WebRTC endpoints do: the relay runs DTLS on the RTP
component only (RFC 5764 §4.1.2's second handshake on a separate RTCP port is not supported), so
without mux baresip's RTCP handshake goes unanswered and its SRTCP fails authentication.
The signalling checks are: alice sent UDP/TLS/RTP/SAVP with her fingerprint and
got UDP/TLS/RTP/SAVP with a fingerprint of Rendezvous's own and a=setup active or passive, no
a=crypto; and /metrics counts one DTLS handshake that succeeded.

Exit codes: 0 pass, 1 fail, 77 skipped (not root, or baresip without its srtp/dtls_srtp module).

Usage: nat_srtp_test.py --rendezvous PATH --workdir DIR [--mode sdes|dtls]
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import nat_call_test as nat  # noqa: E402
from rdvtest import Procs, TestFailure, metric, stop_server  # noqa: E402

MODES = {
    # baresip module, alice's account parameter, Rendezvous settings
    "sdes": ("srtp.so", ";mediaenc=srtp-mand", ("media.encrypt_caller=require", "media.encrypt_callee=never")),
    "dtls": ("dtls_srtp.so", ";mediaenc=dtls_srtp", ("media.encrypt_callee=never",)),
}
MODULES = "/usr/lib/baresip/modules"


START_LINE = re.compile(r"^(?:[A-Z]+ sip:\S+ SIP/2\.0|SIP/2\.0 \d{3} [^\r\n]*)\r?$", re.M)
KEY = re.compile(r"a=crypto:\d+ \S+ inline:([A-Za-z0-9+/=]+)")
FINGERPRINT = re.compile(r"a=fingerprint:(\S+ [0-9A-Fa-f:]+)")
SETUP = re.compile(r"a=setup:(\w+)")
AUDIO = re.compile(r"m=audio \d+ (\S+)")


def sip_messages(log):
    """(start line, text) of every SIP message in a baresip SIP trace (-s), in order."""
    starts = list(START_LINE.finditer(log))
    return [(m.group(0).strip(), log[m.start():starts[i + 1].start() if i + 1 < len(starts) else len(log)])
            for i, m in enumerate(starts)]


def invite_sdps(log, mode="sdes"):
    """[(kind, protos, keys)] of the INVITEs and the 2xx answering an INVITE that carry SDP; keys
    are the a=crypto keys (sdes) or the a=fingerprint values plus "setup:<role>" (dtls)."""
    out = []
    for start, text in sip_messages(log):
        protos = AUDIO.findall(text)
        if not protos:
            continue
        keys = set(KEY.findall(text))
        if mode == "dtls":
            keys = {"crypto:" + k for k in keys} | set(FINGERPRINT.findall(text)) | \
                {"setup:" + r for r in SETUP.findall(text)}
        if start.startswith("INVITE "):
            out.append(("INVITE", protos, keys))
        elif start.startswith("SIP/2.0 200") and re.search(r"CSeq: *\d+ INVITE", text):
            out.append(("200", protos, keys))
    return out


def check_dtls_signalling(alice):
    """alice offered DTLS-SRTP and got a DTLS-SRTP answer keyed by Rendezvous's own certificate."""
    a = invite_sdps(alice.log(), "dtls")
    sent = set().union(*[k for kind, _, k in a if kind == "INVITE"] or [set()])
    got = [(protos, k) for kind, protos, k in a if kind == "200"]
    theirs = {k for k in sent if not k.startswith(("setup:", "crypto:"))}
    if not theirs or not got:
        raise TestFailure("alice's trace should show her INVITE with a=fingerprint and the 200 OK: %r" % a)
    for protos, k in got:
        prints = {x for x in k if not x.startswith(("setup:", "crypto:"))}
        roles = {x for x in k if x.startswith("setup:")}
        if not protos[0].startswith("UDP/TLS/RTP/SAVP") or len(prints) != 1 or prints & theirs or \
                roles not in ({"setup:passive"}, {"setup:active"}) or any(x.startswith("crypto:") for x in k):
            raise TestFailure("the 200 OK alice got should be UDP/TLS/RTP/SAVP with one a=fingerprint of "
                              "Rendezvous's own (not hers %r), a=setup active or passive, no a=crypto: %r, %r"
                              % (theirs, protos, k))
    print("[dtls] signalling: alice sent UDP/TLS/RTP/SAVP and got Rendezvous's fingerprint, %s" % sorted(roles))


def check_signalling(alice, bob, mode):
    """What each phone saw and sent in SIP (baresip -s traces every message with its SDP)."""
    b = invite_sdps(bob.log())
    if not any(kind == "INVITE" for kind, _, _ in b):
        raise TestFailure("no INVITE with SDP in bob's SIP trace\n%s" % nat.tail(bob.log_path()))
    for kind, protos, keys in b:
        if protos != ["RTP/AVP"] or keys:
            raise TestFailure("bob (plain RTP) saw %s with %r and a=crypto keys %r" % (kind, protos, keys))
    if re.search(r"a=(fingerprint|setup|ice-ufrag):", bob.log()):
        raise TestFailure("bob (plain RTP) was sent DTLS or ICE attributes")
    if mode == "dtls":
        return check_dtls_signalling(alice)
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


def body(topo, args, tones, mode):
    module, enc, rdv_sets = MODES[mode]
    phase_dir = os.path.join(args.workdir, mode)
    os.makedirs(phase_dir)
    procs = Procs(args.workdir)
    pub = topo.ns["pub"]
    rdv = rlog = None
    try:
        rdv, rlog = nat.start_rendezvous(procs, pub, args.rendezvous, rdv_sets)
        clients = (
            nat.Client(procs, phase_dir, mode, "alice", topo.ns["alice"], nat.ALICE_IP, tones["alice"],
                       (14000, 14099), nat.account_line("alice", nat.PUB_IP, nat.USERS["alice"]) + enc,
                       codec_modules=("g711.so", module), rtcp_mux=mode == "dtls"),
            nat.Client(procs, phase_dir, mode, "bob", topo.ns["bob"], nat.BOB_IP, tones["bob"],
                       (14100, 14199), nat.account_line("bob", nat.PUB_IP, nat.USERS["bob"])))
        try:
            res, hangup = nat.run_call("srtp", procs, phase_dir, clients, "sip:bob@%s" % nat.PUB_IP,
                                       r"\{0/UDP/v4\} 200 OK")
        except TestFailure as e:
            raise TestFailure("%s\n--- rendezvous log tail\n%s" % (e, nat.tail(rlog, 40)))
        check_signalling(*clients, mode)
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
    if mode == "dtls":
        ok = metric(metrics, "rdv_dtls_handshakes_total", {"result": "ok"})
        failed = metric(metrics, "rdv_dtls_handshakes_total", {"result": "failed"})
        if ok != 1 or failed:
            raise TestFailure("[dtls] handshakes ok=%r failed=%r, expected one that succeeded" % (ok, failed))
    if stopped:
        raise TestFailure("[srtp] %s" % stopped)
    return "%s caller and plain callee heard each other through Rendezvous" % mode.upper()


def main():
    mode = "sdes"
    if "--mode" in sys.argv:
        i = sys.argv.index("--mode")
        mode = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    module = os.path.join(MODULES, MODES[mode][0])
    if not os.path.exists(module):
        print("SKIP nat_srtp: baresip's module %s is missing" % module)
        return 77
    name = "nat_srtp" if mode == "sdes" else "nat_dtls"
    return nat.baresip_test_main(name, "rdv" + mode, lambda topo, args, tones: body(topo, args, tones, mode))


if __name__ == "__main__":
    sys.exit(main())
