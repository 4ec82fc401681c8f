#!/usr/bin/env python3
"""Integration test: the Kamailio WebRTC gateway of kamailio_webrtc_test.py carrying media.

  relay (NG) <- kamailio (kamailio_webrtc.cfg.in) <- aiortc behind a small SIP UAC -> plain PCMU phone (SIP UAS)

The browser is aiortc (webrtc_aiortc_test.py's ToneTrack): its offer goes in an INVITE through
Kamailio, which calls rtpengine_manage("ICE=remove RTP/AVP ...") towards the phone and
rtpengine_manage("ICE=force RTP/SAVPF DTLS=passive ...") on the 200 OK back to the browser. The
phone is a Python SIP UAS answering with PCMU and webrtc_aiortc_test.py's PlainPeer. Checks: the
call is set up (200 OK, ACK), aiortc's ICE completes and DTLS connects against the relay, each
side decodes the other's tone, the BYE through Kamailio deletes the call in the relay, and the
relay exits 0 on SIGTERM. Loopback only; processes stopped by PID. Exit 0 pass, 1 fail, 77 skip
(no aiortc, kamailio or its rtpengine module).

Usage: kamailio_webrtc_media_test.py --relay-cmd CMD --workdir DIR
"""

import asyncio
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from rdvtest import Procs, TestFailure, tail  # noqa: E402
import webrtc_aiortc_test as w  # noqa: E402  (exits 77 without aiortc)
from sipua import Browser, Phone  # noqa: E402
from kamailio_harness import parser, run_main, start_relay, stop_all, wait_no_calls  # noqa: E402
from kamailio_webrtc_test import pick_ports, start_kamailio  # noqa: E402

TEST_NAME = "integration.kamailio_webrtc_media"
CALL_ID = "aiortc-kamailio-1"


async def media(ports, procs, relay):
    w.aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
    pc = w.RTCPeerConnection(w.RTCConfiguration(iceServers=[]))
    plain = w.PlainPeer(w.PLAIN_TONE)
    phone = Phone(ports["uas_sip"], plain, w.CONNECT_S + w.MEDIA_S + 20)
    browser = Browser(ports["uac_sip"], ports["sip"], CALL_ID)
    sink = w.AudioSink(pc)

    def alive_until(what, pred, deadline_s):
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if pred():
                return True
            if relay.poll() is not None:
                raise TestFailure("relay died waiting for %s\n%s" % (what, tail(procs.log_of("relay"))))
            yield
        raise TestFailure("timed out after %.0fs waiting for %s\n--- relay:\n%s\n--- kamailio:\n%s"
                          % (deadline_s, what, tail(procs.log_of("relay")), tail(procs.log_of("kamailio"))))

    async def wait(what, pred, deadline_s):
        for _ in alive_until(what, pred, deadline_s):
            await asyncio.sleep(0.05)

    phone.start()
    try:
        pc.addTrack(w.ToneTrack(w.WEBRTC_TONE))
        await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription.sdp
        uri = "sip:phone@127.0.0.1:%d" % ports["uas_sip"]
        answer = await asyncio.get_running_loop().run_in_executor(None, browser.invite, offer, uri)
        w.check_plain_sdp(phone.offer or "")
        w.check_webrtc_sdp(answer, offer)
        await pc.setRemoteDescription(w.RTCSessionDescription(sdp=answer, type="answer"))
        await wait("aiortc ICE completed/connected", lambda: pc.iceConnectionState in ("completed", "connected"),
                   w.CONNECT_S)
        await wait("aiortc DTLS connected", lambda: pc.connectionState == "connected", w.CONNECT_S)

        def enough():
            return sink.seconds() >= w.LISTEN_S and len(plain.received) >= w.LISTEN_S * w.RATE
        await wait("%.0f s of audio each way" % w.LISTEN_S, enough, w.MEDIA_S)
        rate, pcm = sink.tail(w.LISTEN_S)
        to_browser = w.tone_share(pcm, w.PLAIN_TONE, rate)
        to_phone = w.tone_share(plain.received[-int(w.LISTEN_S * w.RATE):], w.WEBRTC_TONE, w.RATE)
        if to_browser < 0.6 or to_phone < 0.6:
            raise TestFailure("tones: the phone heard %.0f %% at %.0f Hz, aiortc %.0f %% at %.0f Hz"
                              % (to_phone * 100, w.WEBRTC_TONE, to_browser * 100, w.PLAIN_TONE))
        await asyncio.get_running_loop().run_in_executor(None, browser.bye)
        if not (phone.got_ack and phone.got_bye):
            raise TestFailure("the phone saw ACK %s, BYE %s" % (phone.got_ack, phone.got_bye))
        return ("ICE %s and DTLS connected through Kamailio; the phone heard %.0f %% at %.0f Hz, aiortc %.0f %% "
                "at %.0f Hz" % (pc.iceConnectionState, to_phone * 100, w.WEBRTC_TONE, to_browser * 100, w.PLAIN_TONE))
    finally:
        await w.close_call(pc, sink, (plain, phone), (browser.sock,))


def run(args, workdir):
    procs = Procs(workdir)
    relay = None
    try:
        ports = pick_ports()
        relay = start_relay(procs, args.relay_cmd, ports)
        start_kamailio(args, procs, workdir, ports)
        note = asyncio.run(asyncio.wait_for(media(ports, procs, relay), w.CONNECT_S * 2 + w.MEDIA_S + 20))
        wait_no_calls(procs, relay, ports)
    finally:
        stopped = stop_all(procs, relay)
    if stopped:
        raise TestFailure(stopped)
    return note


def main():
    args = parser(__doc__, sipp=False).parse_args()
    return run_main(TEST_NAME, args, run, (("kamailio", args.kamailio),))


if __name__ == "__main__":
    sys.exit(main())
