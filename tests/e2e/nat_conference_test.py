#!/usr/bin/env python3
"""End-to-end test: three real SIP phones (baresip) behind NAT routers dial the same conference
URI, sip:conf-test@198.18.0.1, and each records the other two tones and not its own.

Topology: nat_call_test.py's (alice behind router A, a port-preserving MASQUERADE; bob and carol
both behind router B, MASQUERADE --random-fully, a symmetric NAT; Rendezvous on the public
segment). The phones speak three codecs: alice Opus, bob G.722, carol PCMU, so the mixer decodes,
mixes and encodes all three; each phone's tone is a different frequency (440, 1000, 700 Hz).

Checks, from each phone's recording of what it decoded (baresip sndfile): at least MIN_HEARD_S of
each other phone's tone (a tone counts in a 100 ms block when it holds >= 20 % of the block's
energy: with two talkers mixed each holds about half), and its own tone in almost no block (the
mixer sends every talker the mix minus itself). Then the room is empty and gone (the API), the
conference counters say three SIP joins, and Rendezvous exits 0 on SIGTERM.

Exit codes: 0 pass, 1 fail, 77 skipped (not root).
Usage: nat_conference_test.py --rendezvous PATH --workdir DIR [--prefix rdvconf]
"""

import json
import math
import os
import sys
import time
import wave
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import nat_call_test as nat  # noqa: E402
from rdvtest import Procs, TestFailure, metric, stop_server, wait_until  # noqa: E402

PHONES = {  # name: (namespace key, ip, sip port, console port, tone Hz, codec module, codec)
    "alice": ("alice", nat.ALICE_IP, 5060, 5555, 440.0, "opus.so", "opus"),
    "bob": ("bob", nat.BOB_IP, 5060, 5555, 1000.0, "g722.so", "G722"),
    "carol": ("bob", nat.BOB_IP, 5062, 5556, 700.0, "g711.so", "PCMU"),
}
# baresip's aufile takes only files in the codec's own format (rate, channels).
FILE_FORMAT = {"opus": (48000, 2), "G722": (16000, 1), "PCMU": (8000, 1)}
PASSWORDS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}
API_PORT = 28080  # the public namespace's loopback, ours alone
MEDIA_S = 6.0
MIN_HEARD_S = 2.0
MAX_OWN_S = 0.3
PRESENT = 0.2


def tone_blocks(path, freqs):
    """Seconds of 100 ms blocks in which each of `freqs` holds >= PRESENT of the block's energy."""
    out = {f: 0.0 for f in freqs}
    if not path or not os.path.exists(path) or os.path.getsize(path) <= 44:
        return out
    with wave.open(path, "rb") as w:
        rate, ch = w.getframerate(), w.getnchannels()
        raw = w.readframes(w.getnframes())
    samples = struct.unpack("<%dh" % (len(raw) // 2), raw[:len(raw) // 2 * 2])[::ch]
    n = int(rate * nat.BLOCK_S)
    for start in range(0, len(samples) - n + 1, n):
        block = samples[start:start + n]
        energy = sum(x * x for x in block)
        if energy / n < 300.0 ** 2:
            continue
        for f in freqs:
            if 2.0 * nat.goertzel_power(block, f, rate) / (n * energy) >= PRESENT:
                out[f] += nat.BLOCK_S
    return out


def write_tone(path, freq, rate, channels, seconds=nat.TONE_S, amplitude=8000):
    step = 2 * math.pi * freq / rate
    frames = bytearray()
    for i in range(int(seconds * rate)):
        frames += struct.pack("<h", int(round(amplitude * math.sin(step * i)))) * channels
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


def api_get(pub, path):
    text = nat.ns_http(pub, "http://127.0.0.1:%d%s" % (API_PORT, path))
    try:
        return json.loads(text)
    except ValueError:
        return {"raw": text}


def conference(topo, workdir, binary):
    pub = topo.ns["pub"]
    tones = {}
    for name, (_, _, _, _, hz, _, codec) in PHONES.items():
        tones[name] = os.path.join(workdir, "%s-%dHz.wav" % (name, hz))
        write_tone(tones[name], hz, *FILE_FORMAT[codec])
    phase_dir = os.path.join(workdir, "conference")
    os.makedirs(phase_dir)
    procs = Procs(workdir)
    rdv = rlog = None
    clients = []
    try:
        rdv, rlog = nat.start_rendezvous(procs, pub, binary, (
            "sip.users.carol=%s" % PASSWORDS["carol"], "api.listen=127.0.0.1:%d" % API_PORT))
        for i, (name, (ns, ip, sport, cport, _, module, codec)) in enumerate(PHONES.items()):
            clients.append(nat.Client(procs, phase_dir, "conf", name, topo.ns[ns], ip, tones[name],
                                      (14000 + 100 * i, 14099 + 100 * i),
                                      nat.account_line(name, nat.PUB_IP, PASSWORDS[name], codecs=codec),
                                      sip_port=sport, cons_port=cport, codec_modules=(module,)))
        for c in clients:
            c.start()
        for c in clients:
            c.wait_registered(r"\{0/UDP/v4\} 200 OK", 15)
        for c in clients:
            c.cons("/dial sip:conf-test@%s" % nat.PUB_IP)
        for c in clients:
            c.wait_log("in the conference", r"Call established", 15)
        print("[conference] three phones in conf-test; media for %.0fs" % MEDIA_S)
        room = api_get(pub, "/api/v1/conferences/test")
        codecs = sorted(p.get("codec") for p in room.get("participants", []))
        if codecs != ["g722", "opus", "pcmu"]:
            raise TestFailure("[conference] the room should hold opus, g722 and pcmu participants: %r" % room)
        # Not synchronisation: the media runs for MEDIA_S, watched for early ends.
        t_end = time.monotonic() + MEDIA_S
        while time.monotonic() < t_end:
            for c in clients:
                if c.proc.poll() is not None:
                    raise TestFailure("%s exited during the conference\n%s" % (c.logname, nat.tail(c.log_path())))
            time.sleep(0.1)
        for c in clients:
            c.cons("/hangup")
        for c in clients:
            c.wait_log("left", r"terminated \(duration", 10)
        wait_until("the room closed after the last participant left",
                   lambda: "error" in api_get(pub, "/api/v1/conferences/test"), 5, proc=rdv, proc_name="rendezvous",
                   log=rlog)
        metrics = nat.ns_http(pub, "http://127.0.0.1:%d/metrics" % nat.METRICS_PORT)
    except TestFailure as e:
        raise TestFailure("%s\n--- rendezvous log tail\n%s" % (e, nat.tail(rlog, 40) if rlog else ""))
    finally:
        for c in clients:
            c.quit()
        stopped = stop_server(rdv, "rendezvous", rlog) if rdv is not None else None
        procs.stop_all()
    freqs = [v[4] for v in PHONES.values()]
    for c in clients:
        own_hz = PHONES[c.name][4]
        sent = tone_blocks(c.recording("enc"), freqs)
        heard = tone_blocks(c.recording("dec"), freqs)
        print("[conference] %s sent %.1fs of its %.0f Hz; heard %s" % (
            c.name, sent[own_hz], own_hz, ", ".join("%.0f Hz %.1fs" % (f, heard[f]) for f in freqs)))
        if sent[own_hz] < MIN_HEARD_S:
            raise TestFailure("[conference] %s did not send its own tone (pipeline broken): %r" % (c.name, sent))
        for other, spec in PHONES.items():
            hz = spec[4]
            if other != c.name and heard[hz] < MIN_HEARD_S:
                raise TestFailure("[conference] %s heard only %.1fs of %s's %.0f Hz tone (need %.1fs)"
                                  % (c.name, heard[hz], other, hz, MIN_HEARD_S))
        if heard[own_hz] > MAX_OWN_S:
            raise TestFailure("[conference] %s hears itself: %.1fs of its own %.0f Hz tone" % (c.name, heard[own_hz], own_hz))
    joins = metric(metrics, "rdv_sip_conference_joins_total")
    if joins != 3:
        raise TestFailure("[conference] rdv_sip_conference_joins_total is %s, expected 3" % joins)
    if stopped:
        raise TestFailure("[conference] %s" % stopped)
    return "three phones (opus, g722, pcmu) behind NATs each heard the other two and not themselves"


def main():
    return nat.baresip_test_main("nat_conference", "rdvconf",
                                 lambda topo, args, tones: conference(topo, args.workdir, args.rendezvous))


if __name__ == "__main__":
    sys.exit(main())
