#!/usr/bin/env python3
"""Integration test: a WebRTC caller through Rendezvous's own B2BUA to a plain-RTP phone.

aiortc's offer (UDP/TLS/RTP/SAVPF, ICE, DTLS actpass, rtcp-mux, BUNDLE of one audio m-line) goes
in a SIP INVITE over UDP (tests/integration/sipua.py's Browser) to Rendezvous's SIP port, addressed
to bob, a plain PCMU phone (sipua.Phone with webrtc_aiortc_test's PlainPeer) registered there.
Rendezvous runs with media.encrypt_callee=never. The B2BUA must make the caller a WebRTC leg on its
own (no NG flags): bob's INVITE plain RTP/AVP without ICE/DTLS/SDES, the caller's 200 OK
UDP/TLS/RTP/SAVPF with a=ice-lite, a relay host candidate, the relay's fingerprint and
a=setup:passive. Checks: aiortc's ICE completes and DTLS connects against the relay, each side
decodes the other's tone, /metrics counts ICE checks and one DTLS handshake, the BYE ends the call
(no call active) and Rendezvous exits 0 on SIGTERM. Loopback only.

Exit codes: 0 pass, 1 fail, 77 skipped (no aiortc).
Usage: webrtc_b2bua_test.py --rendezvous PATH --workdir DIR
"""

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rdvtest import Relay, TestFailure, metric, tail, test_args  # noqa: E402
import webrtc_aiortc_test as w  # noqa: E402  (exits 77 without aiortc)
from sipua import Browser, Phone  # noqa: E402

CALL_ID = "aiortc-b2bua-1"


async def call(relay):
    w.aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
    pc = w.RTCPeerConnection(w.RTCConfiguration(iceServers=[]))
    plain = w.PlainPeer(w.PLAIN_TONE)
    phone = Phone(relay.base + 4, plain, w.CONNECT_S + w.MEDIA_S + 20)
    browser = Browser(relay.base + 5, relay.sip_port, CALL_ID)
    sink = w.AudioSink(pc)

    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, phone.register, "bob", relay.sip_port)
        phone.start()
        pc.addTrack(w.ToneTrack(w.WEBRTC_TONE))
        await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription.sdp
        answer = await loop.run_in_executor(None, browser.invite, offer, "sip:bob@127.0.0.1:%d" % relay.sip_port)
        w.check_plain_sdp(phone.offer or "")
        w.check_webrtc_sdp(answer, offer)
        print("PASS sdp: bob got RTP/AVP without ICE/DTLS; the WebRTC caller got SAVPF, ice-lite, passive")
        await pc.setRemoteDescription(w.RTCSessionDescription(sdp=answer, type="answer"))
        await w.bounded("aiortc ICE completed/connected",
                        lambda: pc.iceConnectionState in ("completed", "connected"), w.CONNECT_S, relay)
        await w.bounded("aiortc DTLS connected", lambda: pc.connectionState == "connected", w.CONNECT_S, relay)

        def enough():
            return sink.seconds() >= w.LISTEN_S and len(plain.received) >= w.LISTEN_S * w.RATE
        await w.bounded("%.0f s of audio each way" % w.LISTEN_S, enough, w.MEDIA_S, relay)
        rate, pcm = sink.tail(w.LISTEN_S)
        to_caller = w.tone_share(pcm, w.PLAIN_TONE, rate)
        to_bob = w.tone_share(plain.received[-int(w.LISTEN_S * w.RATE):], w.WEBRTC_TONE, w.RATE)
        if to_caller < 0.6 or to_bob < 0.6:
            raise TestFailure("tones: bob heard %.0f %% at %.0f Hz, aiortc %.0f %% at %.0f Hz"
                              % (to_bob * 100, w.WEBRTC_TONE, to_caller * 100, w.PLAIN_TONE))
        print("PASS media: ICE %s, DTLS connected; bob heard %.0f %% at %.0f Hz, aiortc %.0f %% at %.0f Hz"
              % (pc.iceConnectionState, to_bob * 100, w.WEBRTC_TONE, to_caller * 100, w.PLAIN_TONE))
        text = relay.metrics()
        ice_ok = metric(text, "rdv_ice_checks_total", {"result": "ok"})
        hs_ok = metric(text, "rdv_dtls_handshakes_total", {"result": "ok"})
        if not ice_ok or hs_ok != 1:
            raise TestFailure("metrics: ICE ok %r, DTLS handshakes ok %r" % (ice_ok, hs_ok))
        print("PASS metrics: rdv_ice_checks_total{result=ok} %d, rdv_dtls_handshakes_total{result=ok} 1" % ice_ok)
        await loop.run_in_executor(None, browser.bye)
        # The B2BUA answers the caller's BYE and sends its own to bob: wait for it (bounded).
        await w.bounded("bob's BYE", lambda: phone.got_bye, 5.0, relay)
        if not (phone.got_ack and phone.got_bye):
            raise TestFailure("bob saw ACK %s, BYE %s" % (phone.got_ack, phone.got_bye))
    finally:
        await w.close_call(pc, sink, (plain, phone), (browser.sock,))


def main():
    args = test_args(__doc__)
    relay = Relay(args.rendezvous, args.workdir, extra=["--set", "media.encrypt_callee=never"],
                  sip={"users.bob": "bobpw", "auth_register": 0, "auth_invite": 0})

    def body():
        asyncio.run(asyncio.wait_for(call(relay), w.CONNECT_S * 2 + w.MEDIA_S + 20))
        deadline = time.monotonic() + 5
        while metric(relay.metrics(), "rdv_calls_active") != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if metric(relay.metrics(), "rdv_calls_active") != 0:
            raise TestFailure("a call is still active after the BYE\n%s" % tail(relay.procs.log_of("rendezvous")))

    return w.run_relay_test(relay, body)


if __name__ == "__main__":
    sys.exit(main())
