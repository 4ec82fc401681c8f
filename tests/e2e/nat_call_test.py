#!/usr/bin/env python3
"""End-to-end test: two real SIP clients (baresip) behind NAT routers call each other through
Rendezvous, and each records the other's tone.

Topology (network namespaces, addresses from 198.18.0.0/15 only, built and removed by the test):

    alice 198.18.1.2 --[LAN A 198.18.1.0/24]-- router A 198.18.1.1 | 198.18.0.2 --+
                                               (MASQUERADE)                        |  public
    bob   198.18.2.2 --[LAN B 198.18.2.0/24]-- router B 198.18.2.1 | 198.18.0.3 --+- bridge in
                                               (MASQUERADE --random-fully)        |  198.18.0.0/24
                                                               Rendezvous 198.18.0.1 --+

The public namespace has no route to either LAN; the routers forward and masquerade, router B
with fully random source ports (a symmetric NAT).

Phases:
  1. negative control: the same clients register with a signalling-only proxy (sip_proxy.py) on
     198.18.0.1:5060 that routes SIP NAT-aware and rewrites each SDP address to the sender's
     public NAT address, but relays no media. The call is established on both sides, each side
     sends its tone, and neither side receives the other's: direct media does not get through.
     Router counters show the media reached the far NAT's public address and was refused there
     (router B's random port mapping never matches what the SDP advertised).
  2. Rendezvous on 198.18.0.1:5060 (registrar with digest auth + B2BUA + RTP relay): the clients
     register (digest), alice calls sip:bob@198.18.0.1, bob auto-answers; alice plays 440 Hz,
     bob 1000 Hz; each side's recording (baresip sndfile, decoded audio) must hold at least
     MIN_TONE_S of the other's tone, dominating its own, with media arriving from the relay.
     Its /metrics then show exactly one call, answered, and no call, session or port left once
     the hangup went through; Rendezvous must live to the end and exit 0 on SIGTERM.

Exit codes: 0 pass, 1 fail, 77 skipped (not root: CTest's SKIP_RETURN_CODE).

Usage: nat_call_test.py --rendezvous PATH --workdir DIR [--prefix rdvnat] [--skip-relay]
       [--skip-control] [--selfcheck] [--rdv-set KEY=VALUE ...]
  --selfcheck runs only a direct baresip-to-baresip call in one namespace (no NAT, no
  Rendezvous) to validate the tone/recording/analysis pipeline.
"""

import argparse
import glob
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from rdvtest import Procs, TestFailure, metric, stop_process, stop_server, wait_until  # noqa: E402

PUB_IP = "198.18.0.1"
RTA_WAN, RTB_WAN = "198.18.0.2", "198.18.0.3"
RTA_LAN, ALICE_IP = "198.18.1.1", "198.18.1.2"
RTB_LAN, BOB_IP = "198.18.2.1", "198.18.2.2"
FLAT_A, FLAT_B = "198.18.9.1", "198.18.9.2"  # --selfcheck only
SIP_PORT = 5060
CONS_PORT = 5555
USERS = {"alice": "alicepw", "bob": "bobpw"}
TONES = {"alice": 440.0, "bob": 1000.0}
TONE_S = 60          # longer than any call: aufile ends the call when its file ends
MEDIA_S = 5.0        # how long the established call runs before hangup
MIN_TONE_S = 1.0     # of the other side's tone, per recording
BLOCK_S = 0.1        # analysis block
MEDIA_PORTS = (10000, 19999)  # every client rtp_ports range lies inside
BARESIP = "baresip"


# ----------------------------------------------------------------------------------------------
# small process helpers

def run(argv, timeout=15, check=True):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise TestFailure("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(argv),
                          r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


def nsexec(ns, argv, **kw):
    return run(["ip", "netns", "exec", ns] + argv, **kw)


def ns_udp(ns, port, text, wait=0.8, until=None):
    """Send one UDP datagram to 127.0.0.1:port inside namespace ns; return what came back within
    `wait` seconds - or as soon as the reply matches the regex `until`."""
    argv = [sys.executable, os.path.abspath(__file__), "--ns-udp", str(port), text, "--ns-wait", str(wait)]
    if until:
        argv += ["--ns-until", until]
    return nsexec(ns, argv, timeout=10)


def ns_http(ns, url):
    return nsexec(ns, [sys.executable, os.path.abspath(__file__), "--ns-http", url], timeout=10, check=False)


def helper_main(argv):
    """Runs inside a namespace (via ip netns exec): the test process itself cannot reach a
    namespace's loopback."""
    if argv[0] == "--ns-udp":
        port, text = int(argv[1]), argv[2]
        wait = float(argv[4]) if len(argv) > 4 else 0.8
        until = re.compile(argv[6].encode()) if len(argv) > 6 else None
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.1)
        s.sendto(text.encode(), ("127.0.0.1", port))
        out = b""
        end = time.monotonic() + wait
        while time.monotonic() < end and not (until and until.search(out)):
            try:
                out += s.recvfrom(65535)[0]
            except socket.timeout:
                pass
        sys.stdout.write(out.decode(errors="replace"))
        return 0
    if argv[0] == "--ns-http":
        import urllib.error
        import urllib.request
        try:
            with urllib.request.urlopen(argv[1], timeout=2) as r:
                sys.stdout.write(r.read().decode(errors="replace"))
        except urllib.error.HTTPError as e:  # the API's JSON error body is the answer
            sys.stdout.write(e.read().decode(errors="replace"))
        return 0
    return 2


def tail(path, n=30):
    """Last n meaningful lines of a log (baresip's console echo and status ticker removed)."""
    if not path or not os.path.exists(path):
        return "(no log)"
    with open(path, "rb") as f:
        text = f.read().decode(errors="replace")
    lines = []
    for line in re.split(r"[\r\n]+", text):
        line = re.sub(r"(\[\d+:\d\d:\d\d\] audio=\S+ \(bit/s\)\s*)+", "", line).rstrip()
        if line and not line.startswith("/"):
            lines.append(line)
    return "\n".join("    | " + l for l in lines[-n:])


# ----------------------------------------------------------------------------------------------
# topology

class Topology:
    def __init__(self, prefix):
        if not re.match(r"^[a-z][a-z0-9]{1,9}$", prefix):
            raise TestFailure("prefix must be 2-10 lowercase letters/digits")
        self.p = prefix
        self.ns = {k: "%s-%s" % (prefix, k) for k in ("pub", "rta", "rtb", "alice", "bob", "flat")}

    def cleanup(self):
        """Remove every namespace and root-namespace link of this prefix, ending the processes
        still inside those namespaces (by PID). Safe to call repeatedly."""
        out = run(["ip", "netns", "list"], check=False)
        mine = [l.split()[0] for l in out.splitlines() if l.split() and l.split()[0].startswith(self.p + "-")]
        for ns in mine:
            pids = [int(x) for x in run(["ip", "netns", "pids", ns], check=False).split() if x.isdigit()]
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for pid in pids:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                deadline = time.monotonic() + 3
                while pids and time.monotonic() < deadline:
                    pids = [pid for pid in pids if os.path.exists("/proc/%d" % pid)]
                    time.sleep(0.05)
            run(["ip", "netns", "del", ns], check=False)
        for line in run(["ip", "-o", "link", "show"], check=False).splitlines():
            m = re.match(r"^\d+:\s+([^:@]+)", line)
            if m and m.group(1).startswith(self.p + "-"):
                run(["ip", "link", "del", m.group(1)], check=False)

    def leftovers(self):
        out = run(["ip", "netns", "list"], check=False)
        left = [l.split()[0] for l in out.splitlines() if l.split() and l.split()[0].startswith(self.p + "-")]
        for line in run(["ip", "-o", "link", "show"], check=False).splitlines():
            m = re.match(r"^\d+:\s+([^:@]+)", line)
            if m and m.group(1).startswith(self.p + "-"):
                left.append("link " + m.group(1))
        return left

    def _ns(self, key):
        ns = self.ns[key]
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return ns

    def _veth(self, ns1, if1, ns2, if2):
        run(["ip", "link", "add", if1, "netns", ns1, "type", "veth", "peer", "name", if2, "netns", ns2])

    def _addr(self, ns, ifname, cidr):
        run(["ip", "-n", ns, "addr", "add", cidr, "dev", ifname])
        run(["ip", "-n", ns, "link", "set", ifname, "up"])

    def build(self):
        p = self.p
        pub, rta, rtb, alice, bob = (self._ns(k) for k in ("pub", "rta", "rtb", "alice", "bob"))
        # Public segment: a bridge in the public namespace, the routers' WAN ports on it.
        br = p + "-br"
        run(["ip", "-n", pub, "link", "add", br, "type", "bridge"])
        self._addr(pub, br, PUB_IP + "/24")
        for side, rt, wan in (("a", rta, RTA_WAN), ("b", rtb, RTB_WAN)):
            port, wif = "%s-p%s" % (p, side), "%s-w%s" % (p, side)
            self._veth(pub, port, rt, wif)
            run(["ip", "-n", pub, "link", "set", port, "master", br])
            run(["ip", "-n", pub, "link", "set", port, "up"])
            self._addr(rt, wif, wan + "/24")
        # LANs.
        for side, rt, cl, lan_gw, cl_ip in (("a", rta, alice, RTA_LAN, ALICE_IP),
                                           ("b", rtb, bob, RTB_LAN, BOB_IP)):
            lif, cif = "%s-l%s" % (p, side), "%s-c%s" % (p, side)
            self._veth(rt, lif, cl, cif)
            self._addr(rt, lif, lan_gw + "/24")
            self._addr(cl, cif, cl_ip + "/24")
            run(["ip", "-n", cl, "route", "add", "default", "via", lan_gw])
            nsexec(rt, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        # NAT: A is a plain masquerade (port preserving), B masquerades with fully random ports.
        nsexec(rta, ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", p + "-wa", "-j", "MASQUERADE"])
        nsexec(rtb, ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", p + "-wb", "-j", "MASQUERADE",
                     "--random-fully"])
        # Pure counters (no target) for client media arriving at each router's WAN side: INPUT
        # = addressed to the router and not translated to the LAN (refused), FORWARD = let
        # through to the client. SIP (5060) is outside the clients' media port range.
        for key, side in (("rta", "a"), ("rtb", "b")):
            for chain in ("INPUT", "FORWARD"):
                nsexec(self.ns[key], ["iptables", "-A", chain, "-i", "%s-w%s" % (p, side), "-p", "udp",
                                      "--dport", "%d:%d" % MEDIA_PORTS])
        # Sanity: each client reaches the public host, the public host has no route to the LANs.
        for cl in (alice, bob):
            if PUB_IP not in nsexec(cl, ["ip", "route", "get", PUB_IP]):
                raise TestFailure("no route from %s to %s" % (cl, PUB_IP))
        for lan_ip in (ALICE_IP, BOB_IP):
            r = subprocess.run(["ip", "netns", "exec", pub, "ip", "route", "get", lan_ip],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
            if r.returncode == 0:
                raise TestFailure("public namespace unexpectedly routes to %s: %s" % (lan_ip, r.stdout))

    def build_flat(self):
        ns = self._ns("flat")
        for ip in (FLAT_A, FLAT_B):
            run(["ip", "-n", ns, "addr", "add", ip + "/32", "dev", "lo"])
        return ns

    def media_counters(self, reset=False):
        """{router: {'refused': packets, 'forwarded': packets}} of client media from the WAN."""
        out = {}
        for key in ("rta", "rtb"):
            text = nsexec(self.ns[key], ["iptables", "-L", "-v", "-n", "-x"] + (["-Z"] if reset else []))
            counts = {}
            chain = None
            for line in text.splitlines():
                m = re.match(r"^Chain (\w+)", line)
                if m:
                    chain = m.group(1)
                    continue
                f = line.split()
                if len(f) > 3 and f[0].isdigit() and "dpts:%d:%d" % MEDIA_PORTS in line:
                    counts[{"INPUT": "refused", "FORWARD": "forwarded"}.get(chain, chain)] = int(f[0])
            out[key] = counts
        return out


# ----------------------------------------------------------------------------------------------
# tones and analysis

def write_tone(path, freq, seconds=TONE_S, rate=8000, amplitude=8000):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        step = 2 * math.pi * freq / rate
        for i in range(int(seconds * rate)):
            frames += struct.pack("<h", int(round(amplitude * math.sin(step * i))))
        w.writeframes(bytes(frames))


def goertzel_power(samples, freq, rate):
    k = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    return s1 * s1 + s2 * s2 - k * s1 * s2


def analyse(path, freqs):
    """Per 100 ms block: which of freqs (if any) holds most of the block's energy. Returns
    {'seconds': length, 'blocks': {freq: n_blocks}, 'loud_blocks': n} ; a missing or empty file
    counts as silence."""
    res = {"seconds": 0.0, "blocks": {f: 0 for f in freqs}, "loud_blocks": 0}
    if not path or not os.path.exists(path) or os.path.getsize(path) <= 44:
        return res
    with wave.open(path, "rb") as w:
        rate, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise TestFailure("%s: %d-byte samples, expected 16-bit" % (path, width))
    samples = struct.unpack("<%dh" % (len(raw) // 2), raw[:len(raw) // 2 * 2])[::ch]
    res["seconds"] = len(samples) / float(rate)
    n = int(rate * BLOCK_S)
    for start in range(0, len(samples) - n + 1, n):
        block = samples[start:start + n]
        energy = sum(x * x for x in block)
        if energy / n < 300.0 ** 2:  # RMS below ~-40 dBFS: silence/noise
            continue
        res["loud_blocks"] += 1
        for f in freqs:
            # Fraction of the block's energy at f (1.0 for a pure tone on a bin centre).
            if 2.0 * goertzel_power(block, f, rate) / (n * energy) > 0.6:
                res["blocks"][f] += 1
    return res


def tone_seconds(res, freq):
    return res["blocks"][freq] * BLOCK_S


# ----------------------------------------------------------------------------------------------
# baresip clients

class Client:
    def __init__(self, procs, phase_dir, phase, name, ns, ip, tone_path, rtp_ports, account,
                 sip_port=SIP_PORT, cons_port=CONS_PORT, codec_modules=("g711.so",), rtcp_mux=False,
                 video=False):
        self.procs, self.phase, self.name, self.ns, self.ip = procs, phase, name, ns, ip
        self.cons_port = cons_port
        self.dir = os.path.join(phase_dir, name)
        self.rec = os.path.join(self.dir, "rec")
        os.makedirs(self.rec)
        cfg = "\n".join([
            "poll_method\tepoll",
            "sip_listen\t%s:%d" % (ip, sip_port),
            "call_local_timeout\t60",
            "call_max_calls\t2",
            # No sound card: the tone file is the source, an unconnected aubridge the player;
            # sndfile (an audio filter) records what is decoded before it reaches the player.
            "audio_player\taubridge,%s-play" % name,
            "audio_alert\taubridge,%s-alert" % name,
            "audio_source\taufile,%s" % tone_path,
            "rtp_ports\t%d-%d" % rtp_ports,
            "rtcp_mux\t%s" % ("yes" if rtcp_mux else "no"),
            "module_path\t/usr/lib/baresip/modules",
            *("module\t%s" % m for m in codec_modules),
            # Video (VP8): fakevideo is both the camera (a generated picture) and the display.
            *(("module\tvp8.so", "module\tfakevideo.so", "video_source\tfakevideo,nil",
               "video_display\tfakevideo,nil", "video_size\t320x240", "video_fps\t15") if video else ()),
            "module\taufile.so",
            "module\taubridge.so",
            "module\tsndfile.so",
            "module\tcons.so",
            "module_tmp\taccount.so",
            "module_app\tmenu.so",
            "cons_listen\t127.0.0.1:%d" % cons_port,
            "snd_path\t%s" % self.rec,
            ""])
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write(cfg)
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write(account + "\n")
        self.proc = None
        self.logname = "%s-%s" % (phase, name)

    def start(self):
        self.proc = self.procs.start(self.logname, ["ip", "netns", "exec", self.ns, BARESIP, "-s", "-f", self.dir])
        self._wait("console", lambda: "Help" in self.cons("/help", 0.5, until="Help"), 10)

    def _wait(self, what, predicate, deadline):
        try:
            wait_until("%s: %s" % (self.logname, what), predicate, deadline, proc=self.proc,
                       proc_name=self.logname)
        except TestFailure as e:
            if getattr(e, "has_tail", False):
                raise
            raise TestFailure("%s\n--- %s log tail\n%s" % (e, self.logname, tail(self.log_path())))

    def log_path(self):
        return self.procs.log_of(self.logname)

    def log(self):
        with open(self.log_path(), "rb") as f:
            return f.read().decode(errors="replace")

    def cons(self, cmd, wait=0.5, until=None):
        return ns_udp(self.ns, self.cons_port, cmd + "\n", wait, until)

    def wait_log(self, what, regex, deadline):
        self._wait(what, lambda: re.search(regex, self.log()), deadline)

    def wait_registered(self, regex, deadline):
        def check():
            text = self.log()
            if re.search(regex, text):
                return True
            m = re.search(r"reg: .*: Register: (.*)|\{0/UDP/v4\} ([3-6]\d\d [^\r\n]*)", text)
            if m:
                why = (m.group(1) or m.group(2)).strip()
                hint = ""
                if "Function not implemented" in why:
                    hint = ("\nhint: baresip 1.0.0 (libre 1.1.0) computes MD5 digests only and gives up "
                            "(ENOSYS) on a 401 that carries any WWW-Authenticate with another algorithm "
                            "(e.g. SHA-256), whatever the order: the registrar must challenge with MD5 only.")
                err = TestFailure("%s: registration failed: %s%s\n--- %s log tail\n%s"
                                  % (self.logname, why, hint, self.logname, tail(self.log_path())))
                err.has_tail = True
                raise err
            return False
        self._wait("registered", check, deadline)

    def quit(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.cons("/quit", 0.2)
            self.proc.wait(timeout=8)
        except (subprocess.TimeoutExpired, TestFailure, subprocess.SubprocessError):
            stop_process(self.proc)

    def recording(self, kind="dec"):
        files = sorted(glob.glob(os.path.join(self.rec, "dump-*-%s.wav" % kind)))
        return files[-1] if files else None


def run_call(phase, procs, phase_dir, clients, dial_uri, registered_re, before_hangup=None):
    """Start both clients, wait for registration, alice dials, wait established on both, let the
    media run, call `before_hangup()` (if given: observe the live call), hang up, quit (finalises
    the recordings). Returns ({name: (dec_res, enc_res)}, hangup_error or None)."""
    alice, bob = clients
    hangup_error = None
    try:
        for c in clients:
            c.start()
        for c in clients:
            c.wait_registered(registered_re, 15)
        print("[%s] both clients registered" % phase)
        alice.cons("/dial %s" % dial_uri)
        for c in clients:
            c.wait_log("call established", r"Call established", 15)
        print("[%s] call established on both sides; media for %.0fs" % (phase, MEDIA_S))
        # Not synchronisation: the media runs for MEDIA_S (what the recordings are judged on, and
        # the control's window for media that must not arrive), watched for early ends meanwhile.
        t_end = time.monotonic() + MEDIA_S
        while time.monotonic() < t_end:
            for c in clients:
                if c.proc.poll() is not None:
                    raise TestFailure("%s exited during the call\n%s" % (c.logname, tail(c.log_path())))
            if re.search(r"terminated \(duration", alice.log() + bob.log()):
                raise TestFailure("[%s] call ended early\n%s\n%s" % (phase, tail(alice.log_path()),
                                                                     tail(bob.log_path())))
            time.sleep(0.1)
        if before_hangup is not None:
            before_hangup()
        alice.cons("/hangup")
        for c in clients:
            try:
                c.wait_log("call terminated", r"terminated \(duration", 10)
            except TestFailure as e:
                hangup_error = hangup_error or str(e)
    finally:
        for c in clients:
            c.quit()
    out = {}
    freqs = list(TONES.values())
    for c in clients:
        dec, enc = analyse(c.recording("dec"), freqs), analyse(c.recording("enc"), freqs)
        out[c.name] = (dec, enc)
        print("[%s] %s: sent %s; received %.1fs recorded, %s" % (
            phase, c.name, ", ".join("%.0f Hz %.1fs" % (f, tone_seconds(enc, f)) for f in freqs),
            dec["seconds"], ", ".join("%.0f Hz %.1fs" % (f, tone_seconds(dec, f)) for f in freqs)))
    return out, hangup_error


def media_sources(client):
    return re.findall(r"incoming rtp for 'audio' established, receiving from ([\d.]+):(\d+)", client.log())


def check_own_tone_sent(phase, results):
    for name, (_, enc) in results.items():
        if tone_seconds(enc, TONES[name]) < MIN_TONE_S:
            raise TestFailure("[%s] %s did not send its own %.0f Hz tone (pipeline broken): %r"
                              % (phase, name, TONES[name], enc))


def check_heard_other(phase, results):
    for name, (dec, _) in results.items():
        other = [n for n in TONES if n != name][0]
        heard, own = tone_seconds(dec, TONES[other]), tone_seconds(dec, TONES[name])
        if heard < MIN_TONE_S or heard <= 2 * own:
            raise TestFailure("[%s] %s's recording has %.1fs of %s's %.0f Hz tone (need >= %.1fs and "
                              "more than twice its own %.0f Hz, which has %.1fs): %r"
                              % (phase, name, heard, other, TONES[other], MIN_TONE_S, TONES[name], own, dec))


# ----------------------------------------------------------------------------------------------
# phases

def account_line(user, domain, password=None, codecs="PCMU,PCMA"):
    params = ["answermode=auto", "regint=300", "audio_codecs=" + codecs]
    if password:
        params.insert(0, "auth_pass=%s" % password)
    return "<sip:%s@%s>;%s" % (user, domain, ";".join(params))


def phase_selfcheck(topo, workdir, tones):
    ns = topo.build_flat()
    phase_dir = os.path.join(workdir, "selfcheck")
    procs = Procs(workdir)
    try:
        alice = Client(procs, phase_dir, "selfcheck", "alice", ns, FLAT_A, tones["alice"], (11000, 11099),
                       "<sip:alice@%s>;regint=0;answermode=auto;audio_codecs=PCMU" % FLAT_A)
        bob = Client(procs, phase_dir, "selfcheck", "bob", ns, FLAT_B, tones["bob"], (11100, 11199),
                     "<sip:bob@%s>;regint=0;answermode=auto;audio_codecs=PCMU" % FLAT_B)
        # regint=0: no registration; "ready" in the log stands in for it.
        res, hangup = run_call("selfcheck", procs, phase_dir, (alice, bob), "sip:bob@%s" % FLAT_B, r"baresip is ready")
    finally:
        procs.stop_all()
    check_own_tone_sent("selfcheck", res)
    check_heard_other("selfcheck", res)
    if hangup:
        raise TestFailure("[selfcheck] hangup did not end the call on both sides: %s" % hangup)


def phase_control(topo, workdir, tones):
    phase_dir = os.path.join(workdir, "control")
    os.makedirs(phase_dir)
    procs = Procs(workdir)
    try:
        proxy = procs.start("control-sip_proxy", ["ip", "netns", "exec", topo.ns["pub"], sys.executable,
                            os.path.join(HERE, "sip_proxy.py"), "--listen", "%s:%d" % (PUB_IP, SIP_PORT),
                            "--sdp-public"])
        wait_until("sip_proxy listening", lambda: "listening" in open(procs.log_of("control-sip_proxy")).read(),
                   10, proc=proxy, proc_name="sip_proxy", log=procs.log_of("control-sip_proxy"))
        clients = (
            Client(procs, phase_dir, "control", "alice", topo.ns["alice"], ALICE_IP, tones["alice"],
                   (12000, 12099), account_line("alice", PUB_IP, USERS["alice"])),
            Client(procs, phase_dir, "control", "bob", topo.ns["bob"], BOB_IP, tones["bob"],
                   (12100, 12199), account_line("bob", PUB_IP, USERS["bob"])))
        topo.media_counters(reset=True)
        res, hangup = run_call("control", procs, phase_dir, clients, "sip:bob@%s" % PUB_IP, r"\{0/UDP/v4\} 200 OK")
        counters = topo.media_counters()
        print("[control] router media counters: %r" % counters)
        plog = open(procs.log_of("control-sip_proxy")).read()
    finally:
        procs.stop_all()
    # The control is only meaningful if the SDP advertised the public NAT addresses both ways.
    for ip in (RTA_WAN, RTB_WAN):
        if "SDP address -> %s" % ip not in plog:
            raise TestFailure("[control] proxy never advertised %s in SDP\n%s" % (ip, plog[-2000:]))
    check_own_tone_sent("control", res)
    if hangup:
        raise TestFailure("[control] hangup did not end the call on both sides: %s" % hangup)
    for name, (dec, _) in res.items():
        other = [n for n in TONES if n != name][0]
        heard = tone_seconds(dec, TONES[other])
        if heard > 0:
            raise TestFailure("[control] %s received %.1fs of %s's tone without a relay: the NAT "
                              "topology does not block direct media: %r" % (name, heard, other, dec))
    # Media was sent to the far router's public address, which refused it.
    for key, who in (("rta", "bob"), ("rtb", "alice")):
        c = counters[key]
        if c.get("forwarded", 0) != 0 or c.get("refused", 0) < 10:
            raise TestFailure("[control] router %s: expected %s's media to arrive and be refused, "
                              "counters %r" % (topo.ns[key], who, c))
    print("[control] PASS: call established, both sent their tone, neither received the other's; "
          "media refused at the NATs: A %d packets, B %d packets"
          % (counters["rta"]["refused"], counters["rtb"]["refused"]))


RELAY_PORTS = (30000, 30999)
METRICS_PORT = 22223   # loopback of the public namespace, which is ours alone: all ports free


def start_rendezvous(procs, pub, binary, extra_sets=()):
    """Starts the server in the public namespace (SIP on PUB_IP, media on RELAY_PORTS, metrics
    on its loopback) and waits (bounded) for its SIP socket; returns (process, log path)."""
    argv = ["ip", "netns", "exec", pub, os.path.abspath(binary),
            "--set", "sip.listen=%s:%d" % (PUB_IP, SIP_PORT),
            "--set", "sip.users.alice=%s" % USERS["alice"],
            "--set", "sip.users.bob=%s" % USERS["bob"],
            "--set", "sip.auth_register=1", "--set", "sip.auth_invite=0",
            # baresip 1.0 (libre 1.1) abandons a 401 that carries any non-MD5 challenge.
            "--set", "sip.auth_algorithms=MD5",
            "--set", "relay.interface=%s" % PUB_IP,
            "--set", "relay.port_min=%d" % RELAY_PORTS[0], "--set", "relay.port_max=%d" % RELAY_PORTS[1],
            "--set", "ng.listen=127.0.0.1:22222",
            "--set", "metrics.listen=127.0.0.1:%d" % METRICS_PORT,
            "--set", "log.level=debug"]
    for kv in extra_sets:
        argv += ["--set", kv]
    rdv = procs.start("relay-rendezvous", argv)
    rlog = procs.log_of("relay-rendezvous")
    wait_until("rendezvous SIP socket on %s:%d" % (PUB_IP, SIP_PORT),
               lambda: ("%s:%d" % (PUB_IP, SIP_PORT)) in nsexec(pub, ["ss", "-Hlun"]), 15,
               proc=rdv, proc_name="rendezvous", log=rlog)
    return rdv, rlog


def scrape_when_idle(pub, rdv, rlog):
    """/metrics once the B2BUA and the relay have wound down after the hangup (idle gauges, a
    bounded wait), else the last scrape: the caller's checks judge it. Raises if the server died."""
    idle = ("rdv_calls_active", "rdv_sessions_active", "rdv_ports_used")
    scraped = {"text": ""}

    def wound_down():
        scraped["text"] = ns_http(pub, "http://127.0.0.1:%d/metrics" % METRICS_PORT)
        return all(metric(scraped["text"], g) == 0 for g in idle)
    try:
        wait_until("rendezvous idle after the hangup", wound_down, 5, proc=rdv, proc_name="rendezvous", log=rlog)
    except TestFailure:
        if rdv.poll() is not None:
            raise
    return scraped["text"]


def phase_relay(topo, workdir, tones, binary, extra_sets=()):
    phase_dir = os.path.join(workdir, "relay")
    os.makedirs(phase_dir)
    procs = Procs(workdir)
    pub = topo.ns["pub"]
    rdv = rlog = None
    try:
        rdv, rlog = start_rendezvous(procs, pub, binary, extra_sets)
        clients = (
            Client(procs, phase_dir, "relay", "alice", topo.ns["alice"], ALICE_IP, tones["alice"],
                   (14000, 14099), account_line("alice", PUB_IP, USERS["alice"])),
            Client(procs, phase_dir, "relay", "bob", topo.ns["bob"], BOB_IP, tones["bob"],
                   (14100, 14199), account_line("bob", PUB_IP, USERS["bob"])))
        topo.media_counters(reset=True)
        try:
            res, hangup = run_call("relay", procs, phase_dir, clients, "sip:bob@%s" % PUB_IP, r"\{0/UDP/v4\} 200 OK")
        except TestFailure as e:
            raise TestFailure("%s\n--- rendezvous log tail\n%s" % (e, tail(rlog, 40)))
        counters = topo.media_counters()
        print("[relay] router media counters: %r" % counters)
        metrics = scrape_when_idle(pub, rdv, rlog)
        with open(os.path.join(phase_dir, "metrics.txt"), "w") as f:
            f.write(metrics)
        if rdv.poll() is not None:
            raise TestFailure("rendezvous exited (code %s) during the call\n%s" % (rdv.returncode, tail(rlog, 40)))
    finally:
        stopped = stop_server(rdv, "rendezvous", rlog) if rdv is not None else None
        procs.stop_all()
    check_own_tone_sent("relay", res)
    for c in clients:
        srcs = media_sources(c)
        if not srcs or any(ip != PUB_IP for ip, _ in srcs):
            raise TestFailure("[relay] %s: media should arrive from the relay %s, got %r"
                              % (c.name, PUB_IP, srcs))
    try:
        check_heard_other("relay", res)
    except TestFailure as e:
        raise TestFailure("%s\n--- rendezvous log tail\n%s" % (e, tail(rlog, 40)))
    if hangup:
        raise TestFailure("[relay] media passed, but alice's hangup did not end the call on both "
                          "sides: %s\n--- rendezvous log tail\n%s" % (hangup, tail(rlog, 40)))
    # One call was made, it was answered, and nothing of it is left.
    want = {"rdv_calls_total": 1, "rdv_calls_answered_total": 1, "rdv_calls_failed_total": 0,
            "rdv_calls_active": 0, "rdv_sessions_active": 0, "rdv_ports_used": 0}
    got = {k: metric(metrics, k) for k in want}
    if got != want:
        raise TestFailure("[relay] /metrics after the call: %s, expected %s (saved in %s)"
                          % (got, want, os.path.join(phase_dir, "metrics.txt")))
    # The relay is the only sender of media on the public segment in this phase: everything the
    # routers let through to their client came from it, and it sends only to the NAT mappings the
    # clients' own packets opened, so nothing is refused.
    for key in ("rta", "rtb"):
        c = counters[key]
        if c.get("refused", 0) != 0 or c.get("forwarded", 0) < 10:
            raise TestFailure("[relay] router %s: expected the relayed media let through to its client and none "
                              "refused, counters %r" % (topo.ns[key], c))
    relayed = metric(metrics, "rdv_relay_packets_total")
    through = counters["rta"]["forwarded"] + counters["rtb"]["forwarded"]
    if relayed is None or relayed < through:
        raise TestFailure("[relay] rdv_relay_packets_total is %s, but the routers let %d relayed packets through "
                          "to the clients" % (relayed, through))
    if stopped:
        raise TestFailure("[relay] %s" % stopped)
    print("[relay] PASS: each side recorded the other's tone through Rendezvous, hangup propagated")


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("--ns-udp", "--ns-http"):
        return helper_main(sys.argv[1:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendezvous")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--prefix", default="rdvnat")
    ap.add_argument("--skip-control", action="store_true")
    ap.add_argument("--skip-relay", action="store_true")
    ap.add_argument("--selfcheck", action="store_true")
    ap.add_argument("--rdv-set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra rendezvous --set, after the test's own (debugging)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP nat_call: needs root (network namespaces)")
        return 77
    if not shutil.which(BARESIP):
        print("FAIL nat_call: baresip not installed (scripts/install-deps.sh)")
        return 1
    if not args.selfcheck and not args.skip_relay and not args.rendezvous:
        ap.error("--rendezvous is required unless --skip-relay/--selfcheck")
    def phases(topo, tones):
        if args.selfcheck:
            phase_selfcheck(topo, args.workdir, tones)
            return "selfcheck"
        topo.build()
        print("topology up: alice %s behind %s (MASQUERADE), bob %s behind %s (MASQUERADE "
              "--random-fully), public %s" % (ALICE_IP, RTA_WAN, BOB_IP, RTB_WAN, PUB_IP))
        if not args.skip_control:
            phase_control(topo, args.workdir, tones)
        if not args.skip_relay:
            phase_relay(topo, args.workdir, tones, args.rendezvous, args.rdv_set)
        return ""
    return run_in_topology("nat_call", args.prefix, args.workdir, phases)


def run_in_topology(name, prefix, workdir, body):
    """The frame of every NAT test: a fresh `workdir` holding the two tones, the namespaces and
    processes of `prefix` cleaned up before and after, and `body(topo, tones)` in between, whose
    returned summary is printed on success. Returns the exit code: 0 pass, 1 fail (also when
    anything of the test is left behind after the cleanup)."""
    if os.path.isdir(workdir):
        shutil.rmtree(workdir)
    os.makedirs(workdir)
    topo = Topology(prefix)
    t0 = time.monotonic()
    left = []
    try:
        topo.cleanup()  # stale namespaces/processes of an earlier run with this prefix
        tones = {}
        for who, freq in TONES.items():
            tones[who] = os.path.join(workdir, "%s-%dHz.wav" % (who, freq))
            write_tone(tones[who], freq)
        summary = body(topo, tones)
    except (TestFailure, OSError, subprocess.SubprocessError) as e:
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        print("(logs in %s)" % workdir)
        return 1
    finally:
        topo.cleanup()
        left = topo.leftovers()
        if left:
            print("FAIL %s: left behind after cleanup: %s" % (name, left))
    if left:
        return 1
    print("PASS %s%s (%.1fs)" % (name, ": " + summary if summary else "", time.monotonic() - t0))
    return 0


def lab_args(name, default_prefix):
    """The command line of a NAT test against a Rendezvous binary: --rendezvous, --workdir and
    --prefix (default `default_prefix`). None, with SKIP printed, when not root."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--prefix", default=default_prefix)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP %s: needs root (network namespaces)" % name)
        return None
    return args


def baresip_test_main(name, default_prefix, body):
    """main() of a NAT test between baresip phones and a Rendezvous binary: answers the
    --ns-udp/--ns-http helper calls, takes lab_args, skips (77) when not root, fails when baresip
    is missing, then builds the topology inside run_in_topology and returns
    `body(topo, args, tones)`'s outcome as the exit code."""
    if len(sys.argv) > 1 and sys.argv[1] in ("--ns-udp", "--ns-http"):
        return helper_main(sys.argv[1:])
    args = lab_args(name, default_prefix)
    if args is None:
        return 77
    if not shutil.which(BARESIP):
        print("FAIL %s: baresip not installed (scripts/install-deps.sh)" % name)
        return 1

    def built(topo, tones):
        topo.build()
        return body(topo, args, tones)
    return run_in_topology(name, args.prefix, args.workdir, built)


if __name__ == "__main__":
    sys.exit(main())
