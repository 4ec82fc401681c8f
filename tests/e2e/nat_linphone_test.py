#!/usr/bin/env python3
"""End-to-end test: a second, independent SIP client - linphone (Debian's linphone-cli 5.1,
`linphonec`) - calls a baresip phone through Rendezvous, both behind NAT, and each side records
the other's tone.

The topology is nat_call_test.py's (its Topology class, namespaces named <prefix>-*):

    linphone "alice" 198.18.1.2 -- router A (MASQUERADE)                198.18.0.2 --+
    baresip  "bob"   198.18.2.2 -- router B (MASQUERADE --random-fully) 198.18.0.3 --+- bridge
                                          Rendezvous or sip_proxy.py    198.18.0.1 --+  198.18.0.0/24

Phases:
  1. negative control: both register with the signalling-only sip_proxy.py (--sdp-public); alice
     (linphone) calls bob, the call is established on both sides, and neither hears the other:
     each side's media reaches the far NAT's public address and is refused there.
  2. Rendezvous (registrar with MD5 digest + B2BUA + RTP relay): both register - the registrar
     logs each binding from its router's public address; linphone dials sip:bob@198.18.0.1, bob
     auto-answers; alice plays 440 Hz, bob 1000 Hz for MEDIA_S; linphone hangs up. Each
     recording (linphone's `record`, baresip's sndfile; both decoded audio) must hold at least
     MIN_TONE_S of the other's tone, dominating its own. The relay carried the media: /metrics
     count one call, answered, with rdv_relay_packets_total at least what the routers let through
     to the clients, and nothing left afterwards; no direct media: not one packet from the other
     NAT's public address reached either router, and baresip received its media from the relay.

How linphonec is driven: its console reads commands from stdin and exits at once on EOF, so the
test gives it a FIFO that it holds open read-write and writes commands into (`soundcard use
files`, `play`, `record`, `call`, `terminate`, `quit`); call states are read from its console
output (unbuffered), registration states from its `-d 6` log (the console does not print them).
Its rc file is written whole: codecs missing from it come back enabled, so every codec linphone
knows is listed, PCMU alone enabled. linphone wants a default route (otherwise it reports
"Local loopback network only" and opens no SIP socket): the NAT LANs have one; --selfcheck adds
one.

Exit codes: 0 pass, 1 fail, 77 skipped (not root: CTest's SKIP_RETURN_CODE).

Usage: nat_linphone_test.py --rendezvous PATH --workdir DIR [--prefix rdvlin] [--skip-control]
       [--skip-relay] [--selfcheck] [--rdv-set KEY=VALUE ...]
  --selfcheck runs only a direct linphone-to-baresip call in one namespace (no NAT, no
  Rendezvous) to validate the linphone driving, tone and recording pipeline.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import nat_call_test as nat  # noqa: E402
from nat_call_test import (ALICE_IP, BOB_IP, FLAT_A, FLAT_B, MEDIA_S, MIN_TONE_S,  # noqa: E402
                           PUB_IP, RELAY_PORTS, RTA_WAN, RTB_WAN, SIP_PORT, TONES, USERS, account_line,
                           analyse, nsexec, run, tail, tone_seconds)
from rdvtest import Procs, TestFailure, metric, stop_process, stop_server, wait_until  # noqa: E402

LINPHONEC = "linphonec"
# Every audio codec linphone-cli 5.1 knows, in its own order (mime, rate, channels). A codec left
# out of the rc file comes back enabled, so all are written and only PCMU is enabled.
LINPHONE_CODECS = [
    ("opus", 48000, 2), ("speex", 16000, 1), ("speex", 8000, 1), ("PCMU", 8000, 1), ("PCMA", 8000, 1),
    ("GSM", 8000, 1), ("G722", 8000, 1), ("G729", 8000, 1), ("speex", 32000, 1), ("G726-16", 8000, 1),
    ("G726-24", 8000, 1), ("G726-32", 8000, 1), ("G726-40", 8000, 1), ("AAL2-G726-16", 8000, 1),
    ("AAL2-G726-24", 8000, 1), ("AAL2-G726-32", 8000, 1), ("AAL2-G726-40", 8000, 1), ("L16", 44100, 2),
    ("L16", 44100, 1)]


# ----------------------------------------------------------------------------------------------
# linphone client

class Linphone:
    """One linphonec process in a namespace, commanded through a FIFO on its stdin. `proxy` is
    the registrar's host[:port] (None: no registration), `password` the digest password."""

    def __init__(self, procs, phase_dir, phase, name, ns, ip, tone_path, rtp_ports, proxy=None,
                 password=None, sip_port=SIP_PORT):
        self.procs, self.phase, self.name, self.ns, self.ip = procs, phase, name, ns, ip
        self.tone_path, self.proxy = tone_path, proxy
        self.dir = os.path.join(phase_dir, name)
        # HOME for linphone: its database, zid cache, history and .config land here.
        os.makedirs(os.path.join(self.dir, ".local", "share", "linphone"))
        self.rc = os.path.join(self.dir, "linphonerc")
        self.debug_log = os.path.join(self.dir, "linphone-debug.log")
        self.rec = os.path.join(self.dir, "rec.wav")
        self.fifo = os.path.join(self.dir, "stdin.fifo")
        self.logname = "%s-%s" % (phase, name)
        self.proc = None
        self.fd = None
        lines = ["[sip]", "sip_port=%d" % sip_port, "sip_tcp_port=0", "sip_tls_port=0",
                 "register_only_when_network_is_up=0", "register_only_when_upnp_is_ok=0",
                 "contact=\"%s\" <sip:%s@%s>" % (name, name, ip), "inc_timeout=30", "media_encryption=none",
                 "[rtp]", "audio_rtp_port=%d-%d" % rtp_ports, "rtcp_mux=0", "audio_jitt_comp=60",
                 "nortp_timeout=30",
                 "[sound]", "echocancellation=0",
                 "[video]", "capture=0", "display=0", "automatically_initiate=0", "automatically_accept=0"]
        if proxy:
            lines += ["[sip]", "default_proxy=0",
                      "[proxy_0]", "reg_proxy=<sip:%s;transport=udp>" % proxy,
                      "reg_identity=\"%s\" <sip:%s@%s>" % (name, name, proxy.split(":")[0]),
                      "reg_expires=300", "reg_sendregister=1", "publish=0", "quality_reporting_enabled=0",
                      "[auth_info_0]", "username=%s" % name, "userid=%s" % name, "passwd=%s" % password]
        for i, (mime, rate, channels) in enumerate(LINPHONE_CODECS):
            lines += ["[audio_codec_%d]" % i, "mime=%s" % mime, "rate=%d" % rate, "channels=%d" % channels,
                      "enabled=%d" % (mime == "PCMU")]
        with open(self.rc, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        os.mkfifo(self.fifo)
        # Held open read-write by the test: opening never blocks, and linphonec never sees EOF
        # until the test closes it.
        self.fd = os.open(self.fifo, os.O_RDWR)
        self.proc = self.procs.start(self.logname, [
            "ip", "netns", "exec", self.ns, "sh", "-c",
            'cd "$1" && exec env HOME="$1" %s -c "$2" -d 6 -l "$3" <"$4"' % LINPHONEC,
            "sh", self.dir, self.rc, self.debug_log, self.fifo])
        self.wait_log("console prompt", r"linphonec> ", 15)
        for cmd in ("soundcard use files", "play %s" % self.tone_path, "record %s" % self.rec):
            self.cmd(cmd)
        self.wait_log("file sound mode", r"Using wav files instead of soundcard", 5)

    def cmd(self, text):
        os.write(self.fd, (text + "\n").encode())

    def log_path(self):
        return self.procs.log_of(self.logname)

    def log(self):
        with open(self.log_path(), "rb") as f:
            return f.read().decode(errors="replace")

    def debug(self):
        try:
            with open(self.debug_log, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def tails(self):
        return "--- %s console\n%s\n--- %s debug log (warnings, errors, states)\n%s" % (
            self.logname, tail(self.log_path(), 20), self.logname, "\n".join(
                "    | " + l for l in re.findall(r"^(?!.*soundcard).*(?:-warning-|-error-|moving from state).*$",
                                                  self.debug(), re.M)[-20:]))

    def _wait(self, what, predicate, deadline):
        try:
            wait_until("%s: %s" % (self.logname, what), predicate, deadline, proc=self.proc,
                       proc_name=self.logname)
        except TestFailure as e:
            raise TestFailure("%s\n%s" % (e, self.tails()))

    def wait_log(self, what, regex, deadline):
        self._wait(what, lambda: re.search(regex, self.log()), deadline)

    def wait_registered(self, deadline):
        def check():
            text = self.debug()
            if re.search(r"moving from state \[LinphoneRegistrationProgress\] to \[LinphoneRegistrationOk\]", text):
                return True
            if "to [LinphoneRegistrationFailed]" in text:
                raise TestFailure("%s: registration failed" % self.logname)
            return False
        self._wait("registered", check, deadline)

    def quit(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.cmd("quit")
                self.proc.wait(timeout=8)
            except (subprocess.TimeoutExpired, OSError):
                stop_process(self.proc)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# ----------------------------------------------------------------------------------------------
# the call

def run_call(phase, alice, bob, dial_uri, bob_registered_re, wait_registered=None):
    """Start both clients, wait until both are registered (`wait_registered`, if given, is an
    extra check, e.g. at the registrar), linphone dials, wait until the call is up on both sides,
    let the media run MEDIA_S, linphone hangs up, both quit (which finalises the recordings).
    Returns ({name: analysis of its recording}, bob's encoded-side analysis, hangup_error)."""
    hangup_error = None
    freqs = list(TONES.values())
    try:
        alice.start()
        bob.start()
        if alice.proxy:
            alice.wait_registered(15)
        bob.wait_registered(bob_registered_re, 15)
        if wait_registered:
            wait_registered()
        print("[%s] both clients registered" % phase)
        alice.cmd("call %s" % dial_uri)
        alice.wait_log("call connected", r"Call \d+ with \S+ connected\.", 15)
        alice.wait_log("media streams", r"Media streams established with \S+ for call \d+", 5)
        bob.wait_log("call established", r"Call established", 15)
        print("[%s] call established on both sides; media for %.0fs" % (phase, MEDIA_S))
        # Not synchronisation: the media runs for MEDIA_S (what the recordings are judged on, and
        # the control's window for media that must not arrive), watched for early ends meanwhile.
        t_end = time.monotonic() + MEDIA_S
        while time.monotonic() < t_end:
            for c in (alice, bob):
                if c.proc.poll() is not None:
                    raise TestFailure("%s exited during the call\n%s" % (c.logname, tail(c.log_path())))
            if re.search(r"Call \d+ with \S+ (ended|error)", alice.log()) or \
                    re.search(r"terminated \(duration", bob.log()):
                raise TestFailure("[%s] call ended early\n%s\n%s" % (phase, alice.tails(), tail(bob.log_path())))
            time.sleep(0.1)
        alice.cmd("terminate")
        for c, what, regex in ((alice, "call ended", r"Call \d+ with \S+ ended"),
                               (bob, "call terminated", r"terminated \(duration")):
            try:
                c.wait_log(what, regex, 10)
            except TestFailure as e:
                hangup_error = hangup_error or str(e)
    finally:
        bob.quit()
        alice.quit()
    res = {"alice": analyse(alice.rec, freqs), "bob": analyse(bob.recording("dec"), freqs)}
    bob_enc = analyse(bob.recording("enc"), freqs)
    for name, dec in res.items():
        print("[%s] %s received %.1fs recorded: %s" % (phase, name, dec["seconds"], ", ".join(
            "%.0f Hz %.1fs" % (f, tone_seconds(dec, f)) for f in freqs)))
    print("[%s] bob sent %s" % (phase, ", ".join("%.0f Hz %.1fs" % (f, tone_seconds(bob_enc, f)) for f in freqs)))
    if tone_seconds(bob_enc, TONES["bob"]) < MIN_TONE_S:
        raise TestFailure("[%s] bob did not send its own %.0f Hz tone (pipeline broken): %r"
                          % (phase, TONES["bob"], bob_enc))
    return res, hangup_error


def check_heard_other(phase, res):
    for name, dec in res.items():
        other = [n for n in TONES if n != name][0]
        heard, own = tone_seconds(dec, TONES[other]), tone_seconds(dec, TONES[name])
        if heard < MIN_TONE_S or heard <= 2 * own:
            raise TestFailure("[%s] %s's recording has %.1fs of %s's %.0f Hz tone (need >= %.1fs and "
                              "more than twice its own %.0f Hz, which has %.1fs): %r"
                              % (phase, name, heard, other, TONES[other], MIN_TONE_S, TONES[name], own, dec))


# ----------------------------------------------------------------------------------------------
# direct-media counters

def add_direct_counters(topo):
    """Per router, pure counters (no target) in mangle PREROUTING on its WAN port: UDP from the
    other router's public address (direct media or signalling between the phones) and UDP from
    the relay's media ports."""
    p = topo.p
    for key, side, other in (("rta", "a", RTB_WAN), ("rtb", "b", RTA_WAN)):
        wan = "%s-w%s" % (p, side)
        nsexec(topo.ns[key], ["iptables", "-t", "mangle", "-A", "PREROUTING", "-i", wan, "-s", other, "-p", "udp"])
        nsexec(topo.ns[key], ["iptables", "-t", "mangle", "-A", "PREROUTING", "-i", wan, "-s", PUB_IP, "-p", "udp",
                              "--sport", "%d:%d" % RELAY_PORTS])


def direct_counters(topo, reset=False):
    """{router: {'from_other_nat': packets, 'from_relay_media': packets}}."""
    out = {}
    for key, other in (("rta", RTB_WAN), ("rtb", RTA_WAN)):
        text = nsexec(topo.ns[key], ["iptables", "-t", "mangle", "-L", "PREROUTING", "-v", "-n", "-x"]
                      + (["-Z"] if reset else []))
        counts = {}
        for line in text.splitlines():
            f = line.split()
            # pkts bytes [target] prot opt in out source destination [match]: no target here,
            # so the source is the field before the (any) destination.
            if not f or not f[0].isdigit() or "0.0.0.0/0" not in f:
                continue
            source = f[f.index("0.0.0.0/0") - 1]
            if source == other:
                counts["from_other_nat"] = int(f[0])
            elif source == PUB_IP and "spts:%d:%d" % RELAY_PORTS in line:
                counts["from_relay_media"] = int(f[0])
        out[key] = counts
    return out


# ----------------------------------------------------------------------------------------------
# phases

def phase_selfcheck(topo, workdir, tones):
    ns = topo.build_flat()
    # linphone opens no SIP socket without a default route: give the namespace one.
    run(["ip", "-n", ns, "link", "add", topo.p + "-d0", "type", "veth", "peer", "name", topo.p + "-d1"])
    for ifname in (topo.p + "-d0", topo.p + "-d1"):
        run(["ip", "-n", ns, "link", "set", ifname, "up"])
    run(["ip", "-n", ns, "route", "add", "default", "dev", topo.p + "-d0"])
    phase_dir = os.path.join(workdir, "selfcheck")
    procs = Procs(workdir)
    try:
        # baresip binds FLAT_B:5060; linphone binds every address, so it takes another port.
        alice = Linphone(procs, phase_dir, "selfcheck", "alice", ns, FLAT_A, tones["alice"], (11000, 11099),
                         sip_port=5062)
        bob = nat.Client(procs, phase_dir, "selfcheck", "bob", ns, FLAT_B, tones["bob"], (11100, 11199),
                         "<sip:bob@%s>;regint=0;answermode=auto;audio_codecs=PCMU" % FLAT_B)
        res, hangup = run_call("selfcheck", alice, bob, "sip:bob@%s" % FLAT_B, r"baresip is ready")
    finally:
        procs.stop_all()
    check_heard_other("selfcheck", res)
    if hangup:
        raise TestFailure("[selfcheck] hangup did not end the call on both sides: %s" % hangup)


def make_clients(procs, phase_dir, phase, topo, tones, port_base):
    alice = Linphone(procs, phase_dir, phase, "alice", topo.ns["alice"], ALICE_IP, tones["alice"],
                     (port_base, port_base + 99), proxy="%s:%d" % (PUB_IP, SIP_PORT), password=USERS["alice"])
    bob = nat.Client(procs, phase_dir, phase, "bob", topo.ns["bob"], BOB_IP, tones["bob"],
                     (port_base + 100, port_base + 199), account_line("bob", PUB_IP, USERS["bob"]))
    return alice, bob


def phase_control(topo, workdir, tones):
    phase_dir = os.path.join(workdir, "control")
    os.makedirs(phase_dir)
    procs = Procs(workdir)
    try:
        proxy = procs.start("control-sip_proxy", ["ip", "netns", "exec", topo.ns["pub"], sys.executable,
                            os.path.join(HERE, "sip_proxy.py"), "--listen", "%s:%d" % (PUB_IP, SIP_PORT),
                            "--sdp-public"])
        plog_path = procs.log_of("control-sip_proxy")
        wait_until("sip_proxy listening", lambda: "listening" in open(plog_path).read(), 10, proc=proxy,
                   proc_name="sip_proxy", log=plog_path)
        alice, bob = make_clients(procs, phase_dir, "control", topo, tones, 12000)
        topo.media_counters(reset=True)
        direct_counters(topo, reset=True)
        res, hangup = run_call("control", alice, bob, "sip:bob@%s" % PUB_IP, r"\{0/UDP/v4\} 200 OK")
        counters = topo.media_counters()
        direct = direct_counters(topo)
        print("[control] router media counters: %r; per source: %r" % (counters, direct))
        plog = open(plog_path).read()
    finally:
        procs.stop_all()
    for ip in (RTA_WAN, RTB_WAN):
        if "SDP address -> %s" % ip not in plog:
            raise TestFailure("[control] proxy never advertised %s in SDP\n%s" % (ip, plog[-2000:]))
    if hangup:
        raise TestFailure("[control] hangup did not end the call on both sides: %s" % hangup)
    for name, dec in res.items():
        other = [n for n in TONES if n != name][0]
        heard = tone_seconds(dec, TONES[other])
        if heard > 0:
            raise TestFailure("[control] %s received %.1fs of %s's tone without a relay: the NAT "
                              "topology does not block direct media: %r" % (name, heard, other, dec))
    for key, who in (("rta", "bob"), ("rtb", "alice")):
        c = counters[key]
        if c.get("forwarded", 0) != 0 or c.get("refused", 0) < 10:
            raise TestFailure("[control] router %s: expected %s's media to arrive and be refused, "
                              "counters %r" % (topo.ns[key], who, c))
        # The relay phase's "no direct media" rests on this counter: here it must see the far
        # NAT's packets (at least the refused media).
        if direct[key].get("from_other_nat", 0) < c["refused"]:
            raise TestFailure("[control] router %s: the per-source counter saw %r packets from the other NAT, "
                              "fewer than the %d refused" % (topo.ns[key], direct[key], c["refused"]))
    print("[control] PASS: call established, neither side received the other's tone; media refused at "
          "the NATs: A %d packets (from baresip), B %d packets (from linphone)"
          % (counters["rta"]["refused"], counters["rtb"]["refused"]))


def phase_relay(topo, workdir, tones, binary, extra_sets=()):
    phase_dir = os.path.join(workdir, "relay")
    os.makedirs(phase_dir)
    procs = Procs(workdir)
    pub = topo.ns["pub"]
    rdv = rlog = None
    try:
        rdv, rlog = nat.start_rendezvous(procs, pub, binary, extra_sets)
        alice, bob = make_clients(procs, phase_dir, "relay", topo, tones, 14000)
        topo.media_counters(reset=True)
        direct_counters(topo, reset=True)

        def registrar_saw_both():
            # The registrar, not just the clients, must have the bindings, each from its NAT's
            # public address (the source the REGISTER came from). Exactly one binding for
            # linphone: it swaps its private Contact for the received/rport address of the 401
            # before it authenticates, so only the public Contact is ever bound.
            text = open(rlog, "rb").read().decode(errors="replace")
            return all(re.search(r"sip: registered %s -> 1 binding\(s\) from %s:\d+" % (u, re.escape(ip)), text)
                       for u, ip in (("alice", RTA_WAN), ("bob", RTB_WAN)))

        def wait_registrar():
            wait_until("registrar bindings of alice from %s and bob from %s" % (RTA_WAN, RTB_WAN),
                       registrar_saw_both, 5, proc=rdv, proc_name="rendezvous", log=rlog)
        try:
            res, hangup = run_call("relay", alice, bob, "sip:bob@%s" % PUB_IP, r"\{0/UDP/v4\} 200 OK",
                                   wait_registrar)
        except TestFailure as e:
            raise TestFailure("%s\n--- rendezvous log tail\n%s" % (e, tail(rlog, 40)))
        counters = topo.media_counters()
        direct = direct_counters(topo)
        print("[relay] router media counters: %r; per source: %r" % (counters, direct))
        metrics = nat.scrape_when_idle(pub, rdv, rlog)
        with open(os.path.join(phase_dir, "metrics.txt"), "w") as f:
            f.write(metrics)
        if rdv.poll() is not None:
            raise TestFailure("rendezvous exited (code %s) during the call\n%s" % (rdv.returncode, tail(rlog, 40)))
    finally:
        stopped = stop_server(rdv, "rendezvous", rlog) if rdv is not None else None
        procs.stop_all()
    srcs = nat.media_sources(bob)
    if not srcs or any(ip != PUB_IP for ip, _ in srcs):
        raise TestFailure("[relay] bob: media should arrive from the relay %s, got %r" % (PUB_IP, srcs))
    try:
        check_heard_other("relay", res)
    except TestFailure as e:
        raise TestFailure("%s\n--- rendezvous log tail\n%s" % (e, tail(rlog, 40)))
    if hangup:
        raise TestFailure("[relay] media passed, but linphone's hangup did not end the call on both "
                          "sides: %s\n--- rendezvous log tail\n%s" % (hangup, tail(rlog, 40)))
    want = {"rdv_calls_total": 1, "rdv_calls_answered_total": 1, "rdv_calls_failed_total": 0,
            "rdv_calls_active": 0, "rdv_sessions_active": 0, "rdv_ports_used": 0}
    got = {k: metric(metrics, k) for k in want}
    if got != want:
        raise TestFailure("[relay] /metrics after the call: %s, expected %s (saved in %s)"
                          % (got, want, os.path.join(phase_dir, "metrics.txt")))
    # No direct media: nothing at all came from the other NAT; what reached each client came from
    # the relay's ports, was let through, and none was refused.
    for key in ("rta", "rtb"):
        c, d = counters[key], direct[key]
        if d.get("from_other_nat") != 0:
            raise TestFailure("[relay] router %s received %s packets straight from the other NAT: direct "
                              "media (%r)" % (topo.ns[key], d.get("from_other_nat"), d))
        if c.get("refused", 0) != 0 or c.get("forwarded", 0) < 10 or d.get("from_relay_media", 0) < c["forwarded"]:
            raise TestFailure("[relay] router %s: expected the relayed media (from %s ports %d-%d) let through "
                              "to its client and none refused, counters %r, per source %r"
                              % (topo.ns[key], PUB_IP, RELAY_PORTS[0], RELAY_PORTS[1], c, d))
    relayed = metric(metrics, "rdv_relay_packets_total")
    through = counters["rta"]["forwarded"] + counters["rtb"]["forwarded"]
    if relayed is None or relayed < through:
        raise TestFailure("[relay] rdv_relay_packets_total is %s, but the routers let %d relayed packets through "
                          "to the clients" % (relayed, through))
    if stopped:
        raise TestFailure("[relay] %s" % stopped)
    print("[relay] PASS: linphone and baresip registered (registrar saw both NATs), the call was answered, "
          "each recorded the other's tone; %d relayed packets reached the clients (rdv_relay_packets_total %d), "
          "none direct" % (through, relayed))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendezvous")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--prefix", default="rdvlin")
    ap.add_argument("--skip-control", action="store_true")
    ap.add_argument("--skip-relay", action="store_true")
    ap.add_argument("--selfcheck", action="store_true")
    ap.add_argument("--rdv-set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra rendezvous --set, after the test's own (debugging)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP nat_linphone: needs root (network namespaces)")
        return 77
    for tool in (nat.BARESIP, LINPHONEC):
        if not shutil.which(tool):
            print("FAIL nat_linphone: %s not installed (scripts/install-deps.sh)" % tool)
            return 1
    if not args.selfcheck and not args.skip_relay and not args.rendezvous:
        ap.error("--rendezvous is required unless --skip-relay/--selfcheck")
    def phases(topo, tones):
        if args.selfcheck:
            phase_selfcheck(topo, args.workdir, tones)
            return "selfcheck"
        topo.build()
        add_direct_counters(topo)
        print("topology up: linphone alice %s behind %s (MASQUERADE), baresip bob %s behind %s "
              "(MASQUERADE --random-fully), public %s" % (ALICE_IP, RTA_WAN, BOB_IP, RTB_WAN, PUB_IP))
        if not args.skip_control:
            phase_control(topo, args.workdir, tones)
        if not args.skip_relay:
            phase_relay(topo, args.workdir, tones, args.rendezvous, args.rdv_set)
        return ""
    return nat.run_in_topology("nat_linphone", args.prefix, args.workdir, phases)


if __name__ == "__main__":
    sys.exit(main())
