"""RTP for mode 2: kernel packet counters on the endpoints' media ports, and the pcap sipp plays."""

import os
import shutil
import struct
import subprocess

from .common import PTIME_MS


class PacketCounters:
    """iptables counters for the RTP of the two endpoints' media ports, on loopback: what each
    endpoint sent is counted on OUTPUT (before anything, the relay's kernel fast path included,
    can redirect it), what reached it on INPUT. Only counting rules (RETURN), in two chains named
    after our PID, removed in stop()."""

    def __init__(self, uac_media, uas_media):
        self.chains = {"OUTPUT": "RDV_SIPBENCH_%d_OUT" % os.getpid(), "INPUT": "RDV_SIPBENCH_%d_IN" % os.getpid()}
        self.rules = {"OUTPUT": [("caller_sent", ["--sport", str(uac_media)]), ("callee_sent", ["--sport", str(uas_media)])],
                      "INPUT": [("caller_got", ["--dport", str(uac_media)]), ("callee_got", ["--dport", str(uas_media)])]}
        self.ok = False
        self.error = None
        self.ipt = shutil.which("iptables")
        if not self.ipt:
            self.error = "iptables not found"
            return
        try:
            for hook, chain in self.chains.items():
                self.run("-N", chain)
                for _, match in self.rules[hook]:
                    self.run("-A", chain, "-p", "udp", *match, "-j", "RETURN")
                self.run("-I", hook, "1", "-o" if hook == "OUTPUT" else "-i", "lo", "-p", "udp", "-j", chain)
            self.ok = True
        except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            self.error = "iptables: %s" % e
            self.stop()

    def run(self, *args):
        return subprocess.run([self.ipt, "-w", "5"] + list(args), check=True, capture_output=True, text=True,
                              timeout=20).stdout

    def zero(self):
        if self.ok:
            for chain in self.chains.values():
                self.run("-Z", chain)

    def read(self):
        if not self.ok:
            return {}
        vals = {}
        for hook, chain in self.chains.items():
            lines = [l for l in self.run("-L", chain, "-n", "-v", "-x").splitlines() if "RETURN" in l]
            for (name, _), line in zip(self.rules[hook], lines):
                vals[name] = int(line.split()[0])
        return vals

    def stop(self):
        if not self.ipt:
            return
        for hook, chain in self.chains.items():
            for args in (("-D", hook, "-o" if hook == "OUTPUT" else "-i", "lo", "-p", "udp", "-j", chain),
                         ("-F", chain), ("-X", chain)):
                try:
                    self.run(*args)
                except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
                    pass
        self.ok = False


def write_rtp_pcap(path, packets, payload_len=160, pt=8):
    """A classic pcap (Ethernet/IPv4/UDP/RTP) of PCMA silence, one packet every 20 ms, for sipp's
    play_pcap_audio (which rewrites the addresses and ports)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(packets):
        rtp = struct.pack("!BBHII", 0x80, pt | (0x80 if i == 0 else 0), i & 0xFFFF,
                          (i * 8 * PTIME_MS) & 0xFFFFFFFF, 0x52445600) + b"\xd5" * payload_len
        udp = struct.pack("!HHHH", 40000, 40002, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         b"\x7f\x00\x00\x01", b"\x7f\x00\x00\x01") + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        t_us = i * PTIME_MS * 1000
        out.append(struct.pack("<IIII", t_us // 1_000_000, t_us % 1_000_000, len(frame), len(frame)) + frame)
    with open(path, "wb") as f:
        f.write(b"".join(out))
