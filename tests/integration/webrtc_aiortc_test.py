#!/usr/bin/env python3
"""Integration test: a real WebRTC peer (aiortc) talks to a plain RTP phone through Rendezvous,
driven over NG the way a WebRTC gateway (Kamailio's rtpengine module) drives it.

aiortc's offer (ICE, DTLS a=setup:actpass, rtcp-mux, BUNDLE of one audio m-line, Opus/PCMU/PCMA)
goes through NG `offer` with ICE=remove and transport-protocol RTP/AVP towards the plain peer (a
Python socket speaking PCMU); the plain peer's answer goes through NG `answer` with ICE=force,
transport-protocol UDP/TLS/RTP/SAVPF and DTLS=passive back to aiortc. So the relay terminates ICE
(ice-lite host candidate), DTLS (its own certificate, passive) and SRTP on aiortc's leg, and
bridges to plain RTP on the other.

Checks:
  - the SDP the plain peer gets is RTP/AVP with no ICE, DTLS or a=crypto attributes; the SDP aiortc
    gets is UDP/TLS/RTP/SAVPF with a=ice-lite, a relay host candidate, a fingerprint that is not
    aiortc's, a=setup:passive, rtcp-mux;
  - aiortc's ICE agent reaches completed/connected against the relay's candidate and its DTLS
    transport connects (RTCPeerConnection.connectionState "connected");
  - the plain peer decodes aiortc's tone (a sine from a custom AudioStreamTrack), and aiortc
    decodes the plain peer's tone, each at its own frequency;
  - /metrics: rdv_ice_checks_total{result="ok"} > 0, rdv_dtls_handshakes_total{result="ok"} == 1
    and {result="failed"} == 0; rendezvous exits 0 on SIGTERM.

Everything on 127.0.0.1 (aioice skips loopback when gathering; the test gives it 127.0.0.1 as the
only host address and no STUN server). Exit codes: 0 pass, 1 fail, 77 skipped (no aiortc).

Usage: webrtc_aiortc_test.py --rendezvous PATH --workdir DIR
"""

import asyncio
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # audioop: Python 3.11 (bookworm) still has it
    import audioop
import fractions
import os
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rdvtest import Relay, TestFailure, as_text, metric, tail, test_args  # noqa: E402

try:
    import aioice.ice
    import numpy
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack, MediaStreamError
    from av import AudioFrame
except ImportError as e:  # pragma: no cover
    print("SKIP: python3-aiortc is not installed (%s)" % e)
    sys.exit(77)

WEBRTC_TONE = 1000.0  # Hz, aiortc -> plain
PLAIN_TONE = 440.0  # Hz, plain -> aiortc
RATE = 8000
PTIME = 0.02
CONNECT_S = 15.0  # bound on ICE + DTLS
LISTEN_S = 3.0  # audio each side must collect
MEDIA_S = 20.0  # bound on the media phase


def tone_share(samples, freq, rate):
    """Fraction of the signal's energy within +-5 % of `freq` (0 for silence)."""
    x = numpy.asarray(samples, dtype=numpy.float64)
    if len(x) < rate // 4:
        return 0.0
    spec = numpy.abs(numpy.fft.rfft(x * numpy.hanning(len(x)))) ** 2
    freqs = numpy.fft.rfftfreq(len(x), 1.0 / rate)
    total = spec[freqs > 50].sum()
    if total <= 0:
        return 0.0
    band = spec[(freqs > freq * 0.95) & (freqs < freq * 1.05)].sum()
    return float(band / total)


class ToneTrack(AudioStreamTrack):
    """aiortc's AudioStreamTrack pacing, with a sine instead of silence."""

    def __init__(self, freq):
        super().__init__()
        self.freq = freq
        self.n = 0

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        samples = int(PTIME * RATE)
        if hasattr(self, "_timestamp"):
            self._timestamp += samples
            await asyncio.sleep(self._start + self._timestamp / RATE - time.time())
        else:
            self._start = time.time()
            self._timestamp = 0
        t = (numpy.arange(samples) + self.n) / RATE
        self.n += samples
        pcm = (numpy.sin(2 * numpy.pi * self.freq * t) * 8000).astype("<i2")
        frame = AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(pcm.tobytes())
        frame.pts = self._timestamp
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


class PlainPeer(threading.Thread):
    """A plain RTP/AVP phone: sends PCMU with a tone to the relay every 20 ms from its one socket
    (which the relay latches) and decodes what comes back."""

    def __init__(self, freq):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(PTIME)
        self.port = self.sock.getsockname()[1]
        self.freq = freq
        self.target = None
        self.received = []  # decoded samples
        self.payload_types = set()
        self.sources = set()
        self.stop_event = threading.Event()

    def sdp(self):
        return ("v=0\r\no=plain 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n" % self.port)

    def run(self):
        seq, n, deadline = 0, 0, time.monotonic() + MEDIA_S + CONNECT_S
        next_send = time.monotonic()
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_send:
                t = (numpy.arange(160) + n) / RATE
                pcm = (numpy.sin(2 * numpy.pi * self.freq * t) * 8000).astype("<i2").tobytes()
                hdr = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, n & 0xFFFFFFFF, 0x504C4149)
                self.sock.sendto(hdr + audioop.lin2ulaw(pcm, 2), self.target)
                seq, n, next_send = seq + 1, n + 160, next_send + PTIME
            try:
                data, addr = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            if len(data) < 12 or data[0] >> 6 != 2:
                continue
            cc = data[0] & 0x0F
            self.payload_types.add(data[1] & 0x7F)
            self.sources.add(addr)
            if data[1] & 0x7F == 0:
                pcm = audioop.ulaw2lin(data[12 + 4 * cc:], 2)
                self.received.extend(struct.unpack("<%dh" % (len(pcm) // 2), pcm))
        self.sock.close()


def media_port(sdp):
    m = re.search(r"^m=audio (\d+) (\S+)", sdp, re.M)
    if not m:
        raise TestFailure("no m=audio line in\n%s" % sdp)
    return int(m.group(1)), m.group(2)


def check_plain_sdp(sdp):
    port, proto = media_port(sdp)
    bad = re.findall(r"^a=(ice-ufrag|ice-pwd|candidate|fingerprint|setup|crypto|ice-lite):", sdp, re.M)
    if proto != "RTP/AVP" or bad:
        raise TestFailure("the plain peer should get RTP/AVP without ICE/DTLS/SDES: %s, %r\n%s" % (proto, bad, sdp))
    return port


def check_webrtc_sdp(sdp, offer):
    port, proto = media_port(sdp)
    theirs = set(re.findall(r"^a=fingerprint:\S+ (\S+)", offer, re.M))
    ours = set(re.findall(r"^a=fingerprint:\S+ (\S+)", sdp, re.M))
    cands = re.findall(r"^a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host", sdp, re.M | re.I)
    problems = []
    if proto != "UDP/TLS/RTP/SAVPF":
        problems.append("protocol %s" % proto)
    if not re.search(r"^a=ice-lite", sdp, re.M):
        problems.append("no a=ice-lite")
    if ("127.0.0.1", str(port)) not in cands:
        problems.append("no host candidate 127.0.0.1 %d (%r)" % (port, cands))
    if len(ours) != 1 or ours & theirs:
        problems.append("fingerprints %r (aiortc's: %r)" % (ours, theirs))
    if re.findall(r"^a=setup:(\w+)", sdp, re.M) != ["passive"]:
        problems.append("a=setup not passive")
    if not re.search(r"^a=rtcp-mux", sdp, re.M):
        problems.append("no a=rtcp-mux")
    if problems:
        raise TestFailure("aiortc's answer: %s\n%s" % ("; ".join(problems), sdp))
    return port


async def bounded(what, predicate, deadline_s, relay):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if not relay.alive():
            raise TestFailure("rendezvous died waiting for %s\n%s" % (what, tail(relay.procs.log_of("rendezvous"))))
        await asyncio.sleep(0.05)
    raise TestFailure("timed out after %.0fs waiting for %s\n%s"
                      % (deadline_s, what, tail(relay.procs.log_of("rendezvous"), 40)))


class AudioSink:
    """Every audio frame aiortc decodes from the peer connection's remote track, first channel only,
    as (sample rate, samples); `tail` gives the last seconds for a tone check."""

    def __init__(self, pc):
        self.frames = []
        self.reader = None
        pc.on("track", self._on_track)

    def _on_track(self, track):
        if track.kind != "audio":  # a video track (webrtc_bundle_test.py) has its own reader
            return
        self.reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track):
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            pcm = frame.to_ndarray().reshape(-1)
            if frame.layout.name != "mono":
                pcm = pcm[::len(frame.layout.channels)]
            self.frames.append((frame.sample_rate, pcm))

    def seconds(self):
        return sum(len(p) / rate for rate, p in self.frames)

    def tail(self, seconds):
        """(sample rate, the last `seconds` of audio)."""
        rate = self.frames[-1][0]
        return rate, numpy.concatenate([p for _, p in self.frames])[-int(seconds * rate):]

    def stop(self):
        if self.reader:
            self.reader.cancel()


async def close_call(pc, sink, threads=(), sockets=()):
    """Ends a test call's local side: stops the peer threads, closes the peer connection, the audio
    sink and the sockets, then joins the threads (bounded)."""
    for t in threads:
        t.stop_event.set()
    await pc.close()
    sink.stop()
    for s in sockets:
        s.close()
    for t in threads:
        if t.is_alive():
            t.join(5)


def run_relay_test(relay, body):
    """Runs body() (raising TestFailure) against `relay`, stops it and prints the verdict: the exit
    code. A relay that does not stop cleanly fails the test too."""
    try:
        body()
    except TestFailure as e:
        print("FAIL %s\n--- rendezvous log tail\n%s" % (e, tail(relay.procs.log_of("rendezvous"), 30)))
        relay.stop()
        return 1
    problem = relay.stop()
    if problem:
        print("FAIL %s" % problem)
        return 1
    print("all passed")
    return 0


def ng_gateway(relay, call_id, offer, plain_answer):
    """Rendezvous as the WebRTC gateway over NG, as Kamailio drives it: the WebRTC peer's offer goes
    to the plain side with ICE removed as RTP/AVP; plain_answer(that SDP) is the plain side's answer,
    which comes back with ICE forced as UDP/TLS/RTP/SAVPF, DTLS passive. Returns the WebRTC answer."""
    r = relay.ng("offer", **{"call-id": call_id, "from-tag": "webrtc", "sdp": offer,
                             "ICE": "remove", "transport-protocol": "RTP/AVP"})
    if as_text(r.get("result")) != "ok":
        raise TestFailure("NG offer: %r" % r)
    r = relay.ng("answer", **{"call-id": call_id, "from-tag": "webrtc", "to-tag": "plain",
                              "sdp": plain_answer(as_text(r["sdp"])), "ICE": "force",
                              "transport-protocol": "UDP/TLS/RTP/SAVPF", "DTLS": "passive"})
    if as_text(r.get("result")) != "ok":
        raise TestFailure("NG answer: %r" % r)
    return as_text(r["sdp"])


async def call(relay):
    # aioice leaves 127.0.0.1 out of its host candidates; this test must stay on loopback.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    plain = PlainPeer(PLAIN_TONE)
    sink = AudioSink(pc)
    ice_states = []

    @pc.on("iceconnectionstatechange")
    def on_ice():
        ice_states.append(pc.iceConnectionState)

    try:
        pc.addTrack(ToneTrack(WEBRTC_TONE))
        await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription.sdp

        def plain_answer(plain_offer):
            plain.target = ("127.0.0.1", check_plain_sdp(plain_offer))
            return plain.sdp()

        answer = ng_gateway(relay, "aiortc-1", offer, plain_answer)
        check_webrtc_sdp(answer, offer)
        print("PASS sdp: plain peer got RTP/AVP without ICE/DTLS; aiortc got SAVPF, ice-lite, passive")
        plain.start()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await bounded("aiortc ICE completed/connected",
                      lambda: pc.iceConnectionState in ("completed", "connected"), CONNECT_S, relay)
        await bounded("aiortc DTLS connected", lambda: pc.connectionState == "connected", CONNECT_S, relay)
        print("PASS connect: ICE %s, DTLS connected (states %s)" % (pc.iceConnectionState, ice_states))

        def enough():
            return sink.seconds() >= LISTEN_S and len(plain.received) >= LISTEN_S * RATE

        await bounded("%.0f s of audio each way" % LISTEN_S, enough, MEDIA_S, relay)
        rate, tail_pcm = sink.tail(LISTEN_S)
        webrtc_share = tone_share(tail_pcm, PLAIN_TONE, rate)
        plain_share = tone_share(plain.received[-int(LISTEN_S * RATE):], WEBRTC_TONE, RATE)
        if plain.payload_types != {0}:
            raise TestFailure("plain peer got payload types %r, expected PCMU only" % plain.payload_types)
        if plain_share < 0.6:
            raise TestFailure("plain peer: %.0f %% of its audio at aiortc's %.0f Hz" % (plain_share * 100, WEBRTC_TONE))
        if webrtc_share < 0.6:
            raise TestFailure("aiortc: %.0f %% of its audio at the plain peer's %.0f Hz" % (webrtc_share * 100, PLAIN_TONE))
        print("PASS media: plain peer heard %.0f %% at %.0f Hz, aiortc heard %.0f %% at %.0f Hz (from %r)"
              % (plain_share * 100, WEBRTC_TONE, webrtc_share * 100, PLAIN_TONE, plain.sources))
    finally:
        await close_call(pc, sink, (plain,))


def check_metrics(relay):
    text = relay.metrics()
    ok = metric(text, "rdv_ice_checks_total", {"result": "ok"})
    hs_ok = metric(text, "rdv_dtls_handshakes_total", {"result": "ok"})
    hs_failed = metric(text, "rdv_dtls_handshakes_total", {"result": "failed"})
    if not ok or ok <= 0 or hs_ok != 1 or hs_failed not in (0, None):
        raise TestFailure("metrics: ice ok %r, dtls ok %r, dtls failed %r\n%s"
                          % (ok, hs_ok, hs_failed, "\n".join(l for l in text.splitlines()
                                                             if "ice" in l or "dtls" in l or "srtp" in l)))
    # The relay terminated SRTP on aiortc's leg: it unprotected what aiortc sent and protected what
    # it got (50 packets a second each way over LISTEN_S), none failed to authenticate.
    srtp = {op: metric(text, "rdv_srtp_packets_total", {"op": op}) for op in ("unprotect", "protect")}
    auth_fail = metric(text, "rdv_srtp_packets_dropped_total", {"reason": "auth_fail"})
    if any(v is None or v < 50 * LISTEN_S for v in srtp.values()) or auth_fail:
        raise TestFailure("metrics: SRTP %r, auth_fail %r: expected aiortc's leg terminated both ways" % (srtp, auth_fail))
    print("PASS metrics: rdv_ice_checks_total{result=ok} %d, rdv_dtls_handshakes_total{result=ok} 1, "
          "SRTP unprotect %d / protect %d" % (ok, srtp["unprotect"], srtp["protect"]))


def main():
    args = test_args(__doc__)
    relay = Relay(args.rendezvous, args.workdir, extra=["--set", "relay.interface=127.0.0.1"])

    def body():
        asyncio.run(asyncio.wait_for(call(relay), CONNECT_S * 2 + MEDIA_S + 10))
        check_metrics(relay)
        relay.ng("delete", **{"call-id": "aiortc-1", "from-tag": "webrtc"})

    return run_relay_test(relay, body)


if __name__ == "__main__":
    sys.exit(main())
