#!/usr/bin/env python3
"""Integration test: BUNDLE (RFC 9143) through NG. A real WebRTC peer (aiortc) sends audio AND
video on one transport to Rendezvous, which splits them onto a plain RTP/AVP phone's two ports
(one UDP socket per m-line in the test) and sends both back to aiortc on the one relay port.

aiortc's offer (a=group:BUNDLE 0 1, audio + video, each m-line its own ICE credentials, as aiortc
1.4 offers) goes through NG `offer` with ICE=remove and RTP/AVP towards the plain side; the plain
side's answer (PCMU audio, VP8 video) through NG `answer` with ICE=force, UDP/TLS/RTP/SAVPF and
DTLS=passive back to aiortc. The plain audio socket sends a tone (PlainPeer of
webrtc_aiortc_test.py); the plain video socket echoes aiortc's VP8 RTP back under an SSRC of its
own, so aiortc receives a video stream it can decode.

Checks:
  - the plain side gets two m-lines on two different relay ports, RTP/AVP, no BUNDLE or ICE;
  - aiortc gets a=group:BUNDLE 0 1 and the same relay port, ICE credentials and fingerprint in both
    m-lines; its ICE and DTLS connect once (one handshake for the group);
  - the plain audio socket decodes aiortc's tone from the audio port and the plain video socket
    receives VP8 (PT 97) RTP on its own port; aiortc decodes the plain tone and video frames;
  - /metrics: rdv_dtls_handshakes_total{result="ok"} == 1; rendezvous exits 0 on SIGTERM.

Everything on 127.0.0.1. Exit codes: 0 pass, 1 fail, 77 skipped (no aiortc).

Usage: webrtc_bundle_test.py --rendezvous PATH --workdir DIR
"""

import asyncio
import os
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rdvtest import Relay, TestFailure, metric, test_args  # noqa: E402
from webrtc_aiortc_test import (PLAIN_TONE, RATE, WEBRTC_TONE, AudioSink, PlainPeer, ToneTrack,  # noqa: E402
                                bounded, ng_gateway, run_relay_test, tone_share)

import aioice.ice  # noqa: E402  (webrtc_aiortc_test exits 77 when aiortc is missing)
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack  # noqa: E402
from av import VideoFrame  # noqa: E402

CONNECT_S = 10.0  # bound on ICE + DTLS
LISTEN_S = 2.0  # audio each side must collect
VIDEO_FRAMES = 10  # frames aiortc must decode
MEDIA_S = 10.0  # bound on the media phase
VP8_PT = 97  # aiortc 1.4's VP8 payload type


class SmallVideo(VideoStreamTrack):
    """aiortc's VideoStreamTrack pacing with small frames: the VP8 encoder must not crowd the CPU."""

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=160, height=120)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts = pts
        frame.time_base = time_base
        return frame


class VideoEcho(threading.Thread):
    """The phone's video socket: counts RTP by payload type and sends each RTP packet back to its
    source (the relay's video port) under its own SSRC."""

    SSRC = 0x56494445

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.payload_types = {}
        self.sources = set()
        self.stop_event = threading.Event()

    def sdp_media(self):
        return "m=video %d RTP/AVP %d\r\na=rtpmap:%d VP8/90000\r\na=sendrecv\r\n" % (self.port, VP8_PT, VP8_PT)

    def run(self):
        deadline = time.monotonic() + CONNECT_S + MEDIA_S + 5
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            try:
                data, src = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            if len(data) < 12 or data[0] >> 6 != 2 or 192 <= data[1] <= 223:
                continue  # not RTP (RTCP is not echoed)
            pt = data[1] & 0x7F
            self.payload_types[pt] = self.payload_types.get(pt, 0) + 1
            self.sources.add(src)
            self.sock.sendto(data[:8] + struct.pack("!I", self.SSRC) + data[12:], src)
        self.sock.close()


class VideoSink:
    """Counts the video frames aiortc decodes from the remote video track."""

    def __init__(self, pc):
        self.frames = 0
        self.reader = None
        pc.on("track", self._on_track)

    def _on_track(self, track):
        if track.kind == "video":
            self.reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track):
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            self.frames += 1

    def stop(self):
        if self.reader:
            self.reader.cancel()


def m_lines(sdp):
    return re.findall(r"^m=(\w+) (\d+) (\S+)", sdp, re.M)


def check_plain_sdp(sdp):
    lines = m_lines(sdp)
    if [k for k, _, _ in lines] != ["audio", "video"] or any(p != "RTP/AVP" for _, _, p in lines):
        raise TestFailure("the plain side should get RTP/AVP audio and video: %r\n%s" % (lines, sdp))
    ports = [int(port) for _, port, _ in lines]
    if ports[0] == ports[1] or 0 in ports:
        raise TestFailure("the plain side should get a port per m-line: %r\n%s" % (ports, sdp))
    if re.search(r"^a=(group:BUNDLE|ice-ufrag|candidate|fingerprint|bundle-only)", sdp, re.M):
        raise TestFailure("the plain side got BUNDLE/ICE/DTLS attributes\n%s" % sdp)
    return ports


def check_webrtc_sdp(sdp):
    lines = m_lines(sdp)
    ports = {port for _, port, _ in lines}
    group = re.findall(r"^a=group:BUNDLE (.*)$", sdp, re.M)
    ufrags = set(re.findall(r"^a=ice-ufrag:(\S+)", sdp, re.M))
    prints = set(re.findall(r"^a=fingerprint:(.*)$", sdp, re.M))
    mids = re.findall(r"^a=mid:(\S+)", sdp, re.M)
    problems = []
    if len(lines) != 2 or len(ports) != 1:
        problems.append("m-lines %r should share one port" % lines)
    if [g.split() for g in group] != [["0", "1"]]:
        problems.append("a=group:BUNDLE %r" % group)
    if len(ufrags) != 1 or len(prints) != 1 or mids != ["0", "1"]:
        problems.append("ufrags %r, fingerprints %r, mids %r" % (ufrags, prints, mids))
    if problems:
        raise TestFailure("aiortc's answer: %s\n%s" % ("; ".join(problems), sdp))


async def call(relay):
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    audio, video = PlainPeer(PLAIN_TONE), VideoEcho()
    sink, vsink = AudioSink(pc), VideoSink(pc)
    try:
        pc.addTrack(ToneTrack(WEBRTC_TONE))
        pc.addTrack(SmallVideo())
        await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription.sdp
        ports = []

        def plain_answer(plain_offer):
            ports.extend(check_plain_sdp(plain_offer))
            audio.target = ("127.0.0.1", ports[0])
            return audio.sdp() + video.sdp_media()

        answer = ng_gateway(relay, "bundle-1", offer, plain_answer)
        audio_port, video_port = ports
        check_webrtc_sdp(answer)
        print("PASS sdp: plain side got ports %d/%d; aiortc got BUNDLE 0 1 on one port" % (audio_port, video_port))
        audio.start()
        video.start()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await bounded("aiortc DTLS connected", lambda: pc.connectionState == "connected", CONNECT_S, relay)
        print("PASS connect: ICE %s, DTLS connected" % pc.iceConnectionState)

        def enough():
            return (sink.seconds() >= LISTEN_S and len(audio.received) >= LISTEN_S * RATE
                    and vsink.frames >= VIDEO_FRAMES and video.payload_types.get(VP8_PT, 0) >= VIDEO_FRAMES)

        await bounded("audio both ways and %d video frames" % VIDEO_FRAMES, enough, MEDIA_S, relay)
        rate, tail_pcm = sink.tail(LISTEN_S)
        webrtc_share = tone_share(tail_pcm, PLAIN_TONE, rate)
        plain_share = tone_share(audio.received[-int(LISTEN_S * RATE):], WEBRTC_TONE, RATE)
        if audio.payload_types != {0}:
            raise TestFailure("plain audio socket got payload types %r, expected PCMU only" % audio.payload_types)
        if set(video.payload_types) != {VP8_PT}:
            raise TestFailure("plain video socket got payload types %r, expected VP8 only" % video.payload_types)
        if video.sources != {("127.0.0.1", video_port)} or audio.sources != {("127.0.0.1", audio_port)}:
            raise TestFailure("plain sockets heard from %r / %r" % (audio.sources, video.sources))
        if plain_share < 0.6 or webrtc_share < 0.6:
            raise TestFailure("tones: plain side %.0f %% at %.0f Hz, aiortc %.0f %% at %.0f Hz"
                              % (plain_share * 100, WEBRTC_TONE, webrtc_share * 100, PLAIN_TONE))
        print("PASS media: plain audio %.0f %% at %.0f Hz, aiortc audio %.0f %% at %.0f Hz, "
              "plain video %d VP8 packets, aiortc decoded %d video frames"
              % (plain_share * 100, WEBRTC_TONE, webrtc_share * 100, PLAIN_TONE,
                 video.payload_types[VP8_PT], vsink.frames))
    finally:
        audio.stop_event.set()
        video.stop_event.set()
        await pc.close()
        sink.stop()
        vsink.stop()
        for t in (audio, video):
            if t.is_alive():
                t.join(5)


def check_metrics(relay):
    text = relay.metrics()
    hs_ok = metric(text, "rdv_dtls_handshakes_total", {"result": "ok"})
    if hs_ok != 1:
        raise TestFailure("metrics: %r DTLS handshakes, expected one for the whole group" % hs_ok)
    print("PASS metrics: one DTLS handshake; bundle_unknown drops %r"
          % metric(text, "rdv_relay_dropped_packets_total", {"reason": "bundle_unknown"}))


def main():
    args = test_args(__doc__)
    relay = Relay(args.rendezvous, args.workdir, extra=["--set", "relay.interface=127.0.0.1"])

    def body():
        asyncio.run(asyncio.wait_for(call(relay), CONNECT_S + MEDIA_S + 10))
        check_metrics(relay)
        relay.ng("delete", **{"call-id": "bundle-1", "from-tag": "webrtc"})

    return run_relay_test(relay, body)


if __name__ == "__main__":
    sys.exit(main())
