#!/usr/bin/env python3
"""Conferences over SIP against a real rendezvous process: harness callers (SIP over UDP, G.711
RTP from their own sockets) dial conference URIs that the B2BUA answers itself.

Cases:
  three_callers   three callers dial sip:conf-test@; each sends a tone (440/700/1000 Hz, PCMU or
                  PCMA) and must hear the other two and not itself (Goertzel on what it decodes);
                  the API lists the three; BYE from each empties and closes the room.
  pin_accepted    the declared room "board" has PIN 4711: a caller is in the room muted and deaf
                  (the API says pin_pending) until it sends 4 7 1 1 # as RFC 4733 events.
  pin_rejected    three wrong PINs (conference.pin_attempts): the server hangs up with a BYE.
  no_common_codec an offer of GSM only gets 488; a bad room name 404; a locked room 403.

Exit code 0 pass, 1 fail. Usage: sip_conference_test.py --rendezvous PATH --workdir DIR
"""

import argparse
import audioop
import json
import math
import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from rdvtest import Relay, free_block, metric, run_cases, wait_until  # noqa: E402
import siptest  # noqa: E402
from calls_common import check  # noqa: E402
from calls_dialogs import expect  # noqa: E402
from calls_records import records  # noqa: E402

TONES = {"a": (440.0, 0, "PCMU"), "b": (700.0, 8, "PCMA"), "c": (1000.0, 0, "PCMU")}


def sdp(port, pt, name, dtmf=True):
    s = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio %d RTP/AVP %d%s\r\na=rtpmap:%d %s/8000\r\n" % (port, pt, " 101" if dtmf else "", pt, name))
    if dtmf:
        s += "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    return s + "a=ptime:20\r\n"


class Caller:
    """One participant: a SIP dialog to sip:conf-<room>@ and an RTP socket."""

    def __init__(self, relay, room, pt=0, codec="PCMU", body=None):
        self.relay = relay
        self.sip = siptest.UdpSip(relay.sip_port)
        self.media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.media.bind(("127.0.0.1", 0))
        self.media.setblocking(False)
        self.pt, self.codec = pt, codec
        self.call_id = "conf-%s@127.0.0.1" % siptest.rand_hex(12)
        self.tag = siptest.rand_hex()
        self.cseq = 1
        self.seq, self.ts, self.phase = 1, 0, 0
        self.ssrc = int(siptest.rand_hex(), 16) & 0xFFFFFFFF
        self.heard = bytearray()  # 16-bit PCM at 8 kHz
        self.sip.send(siptest.build_request(
            "INVITE", "sip:conf-%s@127.0.0.1:%d" % (room, relay.sip_port), self.sip.port, call_id=self.call_id,
            from_value="<sip:%s@127.0.0.1>" % self.tag, from_tag=self.tag,
            body=body if body is not None else sdp(self.media.getsockname()[1], pt, codec),
            content_type="application/sdp", extra=["Contact: <sip:p@127.0.0.1:%d>" % self.sip.port]))
        self.final = expect(self.sip, "final response to the INVITE",
                            lambda m: m.is_response and (m.status or 0) >= 200 and m.cseq()[1] == "INVITE")

    def answered(self):
        check(self.final.status == 200, "conference INVITE got %s" % self.final.start)
        self.to = self.final.get("to")
        self.target = siptest.uri_of(self.final.get("contact"))
        body = siptest.sdp_text(self.final)
        port = int(next(l.split()[1] for l in body.splitlines() if l.startswith("m=audio")))
        self.server_media = ("127.0.0.1", port)
        self.request("ACK", cseq=1)
        return self

    def request(self, method, cseq=None):
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        self.sip.send(siptest.build_request(method, self.target, self.sip.port, call_id=self.call_id, cseq=cseq,
                                            from_value="<sip:%s@127.0.0.1>" % self.tag, from_tag=self.tag,
                                            to_value=self.to))

    def send_tone(self, hz):
        pcm = b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * hz * (self.phase + i) / 8000)))
                       for i in range(160))
        self.phase += 160
        payload = audioop.lin2ulaw(pcm, 2) if self.codec == "PCMU" else audioop.lin2alaw(pcm, 2)
        self._rtp(self.pt, payload, marker=False)
        self.ts += 160

    def _rtp(self, pt, payload, marker):
        hdr = struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), self.seq & 0xFFFF, self.ts, self.ssrc)
        self.seq += 1
        self.media.sendto(hdr + payload, self.server_media)

    def send_digit(self, digit):
        """One RFC 4733 key press: a start packet, then the end packet three times (§2.5.1.4), 20 ms
        apart as a phone sends them (a burst faster than a media stream is rate-limited)."""
        event = "0123456789*#".index(digit)
        for i, (end, dur) in enumerate(((False, 400), (True, 800), (True, 800), (True, 800))):
            self._rtp(101, struct.pack("!BBH", event, (0x80 if end else 0) | 10, dur), marker=i == 0)
            time.sleep(0.02)  # pacing a real-time source, not synchronisation
        self.ts += 800  # every packet of one event carries its start timestamp

    def receive(self):
        while True:
            try:
                data = self.media.recv(2048)
            except BlockingIOError:
                return
            if len(data) > 12 and data[1] & 0x7F in (0, 8):
                self.heard += (audioop.ulaw2lin if data[1] & 0x7F == 0 else audioop.alaw2lin)(data[12:], 2)

    def level(self, hz, seconds=1.0):
        samples = struct.unpack("<%dh" % (len(self.heard) // 2), bytes(self.heard))[-int(8000 * seconds):]
        k = 2 * math.cos(2 * math.pi * hz / 8000)
        s1 = s2 = 0.0
        for x in samples:
            s1, s2 = x / 32768.0 + k * s1 - s2, s1
        power = max(s1 * s1 + s2 * s2 - k * s1 * s2, 1e-20)
        return 20 * math.log10(2 * math.sqrt(power) / max(len(samples), 1))

    def bye(self):
        self.request("BYE")
        r = expect(self.sip, "200 to the BYE", lambda m: m.is_response and m.cseq()[1] == "BYE")
        check(r.status == 200, "BYE got %s" % r.start)

    def close(self):
        self.sip.close()
        self.media.close()


def api(relay, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (relay.api_port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=3) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def case_three_callers(relay):
    callers = {k: Caller(relay, "test", pt, codec).answered() for k, (_, pt, codec) in TONES.items()}
    status, room = api(relay, "/api/v1/conferences/test")
    check(status == 200 and len(room["participants"]) == 3, "the API should list three participants: %r" % room)
    t_next = time.monotonic()
    for _ in range(150):  # 3 s of 20 ms frames, paced by the clock (a real-time source)
        for k, c in callers.items():
            c.send_tone(TONES[k][0])
        t_next += 0.02
        time.sleep(max(0.0, t_next - time.monotonic()))
        for c in callers.values():
            c.receive()
    for k, c in callers.items():
        own = c.level(TONES[k][0])
        others = {o: c.level(TONES[o][0]) for o in TONES if o != k}
        print("  caller %s: own %.1f dBFS, others %s" % (k, own, {o: round(v, 1) for o, v in others.items()}))
        for o, lvl in others.items():
            check(lvl > -35, "caller %s does not hear caller %s (%.1f dBFS)" % (k, o, lvl))
            check(own < lvl - 25, "caller %s hears itself (%.1f dBFS against %.1f)" % (k, own, lvl))
    for c in callers.values():
        c.bye()
        c.close()
    wait_until("the room closes after the last BYE", lambda: api(relay, "/api/v1/conferences/test")[0] == 404, 3)
    # One call record per participant: the B2BUA's half (callee the conference URI, ended by the
    # caller's BYE) joined with its relay session's (named by the SIP Call-ID) within the 2 s grace.
    ids = {c.call_id for c in callers.values()}

    def conference_records():
        return [r for r in records(relay.cdr_file) if r.get("call_id") in ids]
    wait_until("three conference call records", lambda: len(conference_records()) == 3, 5)
    for r in conference_records():
        check("conf-test" in r["callee"] and r["end_reason"] == "caller_bye" and r["status"] == 200,
              "conference record: %s" % r)
        check(r["legs"] and r["legs"][0]["packets"] >= 140 and r["legs"][0]["mos"] is not None,
              "the participant's leg in its record: %s" % r["legs"])
    return "each of three callers heard the other two and not itself; three call records"


def pin_call(relay):
    c = Caller(relay, "board").answered()
    status, room = api(relay, "/api/v1/conferences/board")
    check(status == 200 and room["participants"][0]["pin_pending"], "a PIN room admits pending: %r" % room)
    return c


def case_pin_accepted(relay):
    c = pin_call(relay)
    for d in "4711#":
        c.send_digit(d)
    wait_until("PIN accepted", lambda: not api(relay, "/api/v1/conferences/board")[1]["participants"][0]["pin_pending"], 3)
    c.bye()
    c.close()
    return "4711# lets the caller in"


def case_pin_rejected(relay):
    c = pin_call(relay)
    for _ in range(3):
        for d in "1234#":
            c.send_digit(d)
    bye = expect(c.sip, "BYE from the server after three wrong PINs", lambda m: m.method == "BYE")
    c.sip.send(siptest.build_response(bye, 200, "OK"))
    status, room = api(relay, "/api/v1/conferences/board")
    check(status == 200 and room["participants"] == [], "the rejected caller should be gone: %r" % room)
    c.close()
    return "three wrong PINs end in a BYE"


def case_refusals(relay):
    gsm = Caller(relay, "test", body=sdp(40000, 3, "GSM", dtmf=False))
    check(gsm.final.status == 488, "GSM-only offer got %s" % gsm.final.start)
    bad = Caller(relay, "bad!name")
    check(bad.final.status == 404, "a bad room name got %s" % bad.final.start)
    first = Caller(relay, "locked").answered()
    check(api(relay, "/api/v1/conferences/locked/lock", "POST")[0] == 200, "lock")
    second = Caller(relay, "locked")
    check(second.final.status == 403, "a locked room got %s" % second.final.start)
    first.bye()
    for c in (gsm, bad, first, second):
        c.close()
    return "488 without a common codec, 404 bad room, 403 locked"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    cdr_file = os.path.join(args.workdir, "cdr-%d.jsonl" % os.getpid())
    relay = Relay(args.rendezvous, args.workdir, sip={"auth_invite": 0},
                  extra=["--set", "conference.rooms.board=4711", "--set", "conference.pin_attempts=3",
                         "--set", "cdr.file=" + cdr_file])
    relay.cdr_file = cdr_file

    def joins_counted(failed):
        joins = metric(relay.metrics(), "rdv_sip_conference_joins_total")
        if not failed and joins != 6:
            print("FAIL metrics: rdv_sip_conference_joins_total %s, expected 6" % joins)
            return 1
        return 0
    return run_cases("sip_conference", relay,
                     [(name, lambda case=case: case(relay))
                      for name, case in (("three_callers", case_three_callers), ("pin_accepted", case_pin_accepted),
                                         ("pin_rejected", case_pin_rejected), ("refusals", case_refusals))],
                     after=joins_counted)


if __name__ == "__main__":
    sys.exit(main())
