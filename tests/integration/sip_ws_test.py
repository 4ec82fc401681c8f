#!/usr/bin/env python3
"""Integration test: SIP over WebSocket (RFC 7118) on sip.ws_listen and sip.wss_listen.

Rendezvous runs with digest authentication for REGISTER and INVITE, a WebSocket listener and a
secure WebSocket one (a self-signed certificate made with the openssl CLI). The WebSocket clients
are the harness's own (wsclient.py, standard library): alice over ws://, carol over wss://, each
with a browser-like ".invalid" Contact. bob is a UDP phone: sipp for instant messages, the
harness's UDP client for calls. Each case prints PASS / FAIL; the last line is the verdict.

  handshake_refused  an Upgrade without "Sec-WebSocket-Protocol: sip" gets HTTP 400 and is closed
  bad_frame_closed   an unmasked frame after the handshake gets a close frame with 1002
  register_ws        alice REGISTERs over ws:// answering the 401 with the SHA-256 challenge
                     (RFC 8760): 200 listing her .invalid;transport=ws Contact
  register_wss       carol does the same over wss://
  message_ws_to_udp  alice's MESSAGE reaches bob's sipp over UDP (body intact), alice gets 200
  message_udp_to_wss bob's MESSAGE (UDP, proxy digest) to carol arrives on carol's WSS connection
                     (her Contact's host is .invalid: the connection is the only route); her 200
                     reaches bob
  call_ws_to_udp     alice INVITEs bob over ws:// (407 answered with SHA-256 digest); bob gets the
                     INVITE over UDP with relay SDP; his 200 reaches alice with relay SDP, Via
                     WS in the B2BUA's requests to alice; her ACK reaches bob; bob's BYE arrives on
                     alice's WebSocket and both BYEs are answered 200
  call_udp_to_wss    bob INVITEs carol: the INVITE arrives on carol's WSS connection with Via
                     SIP/2.0/WSS; her 200 reaches bob, bob's ACK reaches her, her BYE reaches bob
  alive              the server still answers OPTIONS over UDP and over ws://

Usage: sip_ws_test.py --rendezvous PATH --workdir DIR
"""

import argparse
import os
import re
import shutil
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "sip"))
from rdvtest import Relay, TestFailure, check, make_cert, metric, run_cases  # noqa: E402
import siptest  # noqa: E402
from siptest import build_request, build_response, parse_message, rand_hex, uri_of  # noqa: E402
from wsclient import WsClosed, WsSip, frame  # noqa: E402

USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}
WAIT = 5.0


def sdp(port):
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % port)


def webrtc_answer(port):
    """What a browser answers to the WebRTC offer a WebSocket callee gets (B2BUA policy): DTLS-SRTP
    as the client, ICE credentials, rtcp-mux."""
    return ("v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio %d UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\na=mid:0\r\na=rtcp-mux\r\n"
            "a=ice-ufrag:cAr0\r\na=ice-pwd:carolIcePasswordCarolIce\r\n"
            "a=fingerprint:sha-256 49:66:12:17:0D:1C:91:AE:57:4C:C6:36:DD:D5:97:D2:"
            "7D:62:C9:9A:7F:B9:A3:F4:70:03:E7:43:91:73:23:5A\r\na=setup:active\r\n" % port)


class WsUa:
    """A SIP user agent over one WsSip connection, as a browser's would be: Via host and Contact
    host '<random>.invalid', transport WS or WSS."""

    def __init__(self, port, user, tls):
        self.user = user
        self.transport = "WSS" if tls else "WS"
        self.host = rand_hex(10) + ".invalid"
        self.ws = WsSip(port, tls=tls)
        head = self.ws.handshake()
        check(head.startswith("HTTP/1.1 101"), "%s: handshake answered %r" % (user, head.splitlines()[:1]))
        check("sec-websocket-protocol: sip" in head.lower(), "%s: 101 without the sip subprotocol" % user)
        self.contact = "<sip:%s@%s;transport=ws>" % (user, self.host)
        self.aor = "sip:%s@127.0.0.1" % user
        self.inbox = []

    def request_text(self, method, ruri, call_id, cseq, from_tag, to_value, extra=(), body="", branch=None):
        lines = ["%s %s SIP/2.0" % (method, ruri),
                 "Via: SIP/2.0/%s %s;branch=%s" % (self.transport, self.host, branch or "z9hG4bK" + rand_hex(12)),
                 "Max-Forwards: 70", "From: <%s>;tag=%s" % (self.aor, from_tag), "To: %s" % to_value,
                 "Call-ID: %s" % call_id, "CSeq: %d %s" % (cseq, method)] + list(extra)
        if body:
            lines.append("Content-Type: application/sdp" if body.startswith("v=0") else "Content-Type: text/plain")
        lines.append("Content-Length: %d" % len(body.encode()))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def wait(self, pred, what, timeout=WAIT):
        """The first message (kept ones first) for which pred holds; others are kept."""
        for i, m in enumerate(self.inbox):
            if pred(m):
                return self.inbox.pop(i)
        deadline = siptest.time.monotonic() + timeout
        while siptest.time.monotonic() < deadline:
            text = self.ws.recv(deadline - siptest.time.monotonic())
            if text is None:
                break
            m = parse_message(text.encode())
            if m is not None and pred(m):
                return m
            if m is not None:
                self.inbox.append(m)
        raise TestFailure("%s: no %s within %.0f s (kept: %s)" % (self.user, what, timeout, self.inbox))

    def final(self, call_id, cseq):
        return self.wait(lambda m: m.is_response and m.get("call-id") == call_id and m.cseq()[0] == cseq
                         and m.status >= 200, "final response to CSeq %d" % cseq)

    def authed(self, method, ruri, to_value, extra=(), body="", call_id=None):
        """Sends a request, answering a 401/407 with the SHA-256 challenge; returns
        (final response, call_id, cseq, from_tag, challenge_algorithms)."""
        call_id = call_id or "ws-" + rand_hex(12)
        tag = rand_hex()
        self.ws.send(self.request_text(method, ruri, call_id, 1, tag, to_value, extra, body))
        r = self.final(call_id, 1)
        if r.status not in (401, 407):
            return r, call_id, 1, tag, []
        if method == "INVITE":  # ACK the non-2xx (RFC 3261 §17.1.1.3)
            self.ws.send(self.request_text("ACK", ruri, call_id, 1, tag, r.get("to"),
                                           branch=siptest.via_branch(r.get("via"))))
        field = "www-authenticate" if r.status == 401 else "proxy-authenticate"
        challenges = [siptest.parse_challenge(v) for v in r.all(field)]
        sha = [c for c in challenges if c["algorithm"].upper() == "SHA-256"]
        check(sha, "%s: %d offers no SHA-256 challenge: %s" % (self.user, r.status, r.all(field)))
        auth = siptest.digest_authorization(sha[0], self.user, USERS[self.user], method, ruri)
        header = ("Authorization: " if r.status == 401 else "Proxy-Authorization: ") + auth
        self.ws.send(self.request_text(method, ruri, call_id, 2, tag, to_value, list(extra) + [header], body))
        return self.final(call_id, 2), call_id, 2, tag, [c["algorithm"] for c in challenges]

    def respond(self, req, status, reason, to_tag=None, extra=(), body=""):
        self.ws.send(build_response(req, status, reason, to_tag=to_tag, extra=extra, body=body,
                                    content_type="application/sdp" if body else None).decode())

    def register(self):
        r, _, _, _, algs = self.authed("REGISTER", "sip:127.0.0.1", "<%s>" % self.aor,
                                       ["Contact: %s;expires=300" % self.contact, "Expires: 300"])
        check(r.status == 200, "%s: REGISTER got %d %s" % (self.user, r.status, r.reason))
        contacts = " ".join(r.all("contact"))
        check(self.host in contacts and "transport=ws" in contacts,
              "%s: the 200 does not list the .invalid contact: %s" % (self.user, contacts))
        return "200, contact %s (challenges %s)" % (uri_of(r.get("contact")), ",".join(algs))


class Ctx:
    pass


def case_handshake_refused(ctx):
    ws = WsSip(ctx.ws_port)
    head = ws.handshake(protocol="")
    check(head.startswith("HTTP/1.1 400"), "an Upgrade without the sip subprotocol got %r" % head[:60])
    ws.sock.settimeout(WAIT)
    closed = False
    try:
        for _ in range(100):  # the refusal's body, then EOF
            if not ws.sock.recv(4096):
                closed = True
                break
    except OSError:
        pass
    ws.close()
    check(closed, "the refused connection stayed open")
    return head.splitlines()[0]


def case_bad_frame_closed(ctx):
    ua = WsUa(ctx.ws_port, "alice", tls=False)
    ua.ws.send_raw(frame(1, "OPTIONS sip:127.0.0.1 SIP/2.0\r\n\r\n", mask=False))
    try:
        ua.ws.recv(WAIT)
    except WsClosed:
        pass
    ua.ws.close()
    check(ua.ws.closed_code == 1002, "an unmasked frame was closed with %r, not 1002" % ua.ws.closed_code)
    m = ctx.relay.metrics()
    check(metric(m, "rdv_sip_ws_protocol_errors_total") == 1, "rdv_sip_ws_protocol_errors_total is not 1")
    check(metric(m, "rdv_sip_ws_rejected_total") == 1, "rdv_sip_ws_rejected_total is not 1")
    return "close 1002, counted"


def case_register(ctx, name, tls):
    port = ctx.wss_port if tls else ctx.ws_port
    ua = WsUa(port, name, tls=tls)
    ctx.uas[name] = ua
    return ua.register()


def case_message_ws_to_udp(ctx):
    alice = ctx.uas["alice"]
    port = ctx.relay.base + 7
    siptest.register(ctx.relay.sip_port, "bob", USERS["bob"], local_port=port, expires=120)
    run = ctx.sipp.start("bob_message_receive", "message_receive.xml", port, ctx.relay.base + 96, service="bob",
                         timeout_s=10)
    run.wait_bound(port)
    text = "hello bob from a websocket %s" % rand_hex()
    r, _, _, _, _ = alice.authed("MESSAGE", "sip:bob@127.0.0.1", "<sip:bob@127.0.0.1>", body=text)
    check(r.status == 200, "alice's MESSAGE got %d %s" % (r.status, r.reason))
    run.expect_ok("bob's sipp receiving the MESSAGE")
    bodies = [m.body.decode(errors="replace") for d, m in run.messages() if d == "received" and m.method == "MESSAGE"]
    check(len(bodies) == 1 and text in bodies[0], "bob's sipp got %r" % bodies)
    siptest.register(ctx.relay.sip_port, "bob", USERS["bob"], local_port=port, expires=0)  # no fork later
    return "200; sipp got %r" % text


def case_message_udp_to_wss(ctx):
    """bob's UDP client here, not sipp: with auth_invite the server asks MESSAGE senders for
    proxy credentials, which sipp's message_send.xml does not answer."""
    carol = ctx.uas["carol"]
    text = "hello carol over wss %s" % rand_hex()
    bob = siptest.UdpSip(ctx.relay.sip_port, ctx.relay.base + 8)
    try:
        ruri = "sip:carol@127.0.0.1:%d" % ctx.relay.sip_port
        common = dict(call_id="msg-" + rand_hex(), from_uri="sip:bob@127.0.0.1", to_uri="sip:carol@127.0.0.1",
                      from_tag=rand_hex(), body=text, content_type="text/plain")
        bob.send(build_request("MESSAGE", ruri, bob.port, cseq=1, **common))
        r = bob_wait(bob, "407", lambda m: m.is_response and (m.status or 0) >= 200)
        check(r.status == 407, "bob's MESSAGE got %d, not 407" % r.status)
        ch = [c for c in map(siptest.parse_challenge, r.all("proxy-authenticate")) if c["algorithm"] in siptest.HASHES]
        auth = "Proxy-Authorization: " + siptest.digest_authorization(ch[0], "bob", USERS["bob"], "MESSAGE", ruri)
        bob.send(build_request("MESSAGE", ruri, bob.port, cseq=2, extra=[auth], **common))
        msg = carol.wait(lambda m: m.method == "MESSAGE", "MESSAGE")
        check(msg.body.decode() == text, "carol got body %r" % msg.body)
        check(carol.host in msg.start, "MESSAGE Request-URI %r is not carol's contact" % msg.start)
        check(msg.get("via").startswith("SIP/2.0/WSS"), "MESSAGE to carol has Via %r" % msg.get("via"))
        carol.respond(msg, 200, "OK", to_tag=rand_hex())
        r = bob_wait(bob, "final response", lambda m: m.is_response and m.cseq()[0] == 2 and (m.status or 0) >= 200)
        check(r.status == 200, "bob's MESSAGE got %d" % r.status)
        return "carol's WSS connection got it, bob got 200"
    finally:
        bob.close()


def bob_phone(ctx, port):
    bob = siptest.UdpSip(ctx.relay.sip_port, port)
    _, r, _ = siptest.register(ctx.relay.sip_port, "bob", USERS["bob"], expires=120, sock=bob)
    check(r.status == 200, "bob's REGISTER got %d" % r.status)
    return bob


def bob_wait(bob, what, pred):
    m, got = bob.recv_until(pred, WAIT)
    check(m is not None, "bob: no %s (got %s)" % (what, got))
    return m


def relay_sdp_ok(ctx, who, body):
    text = body.decode() if isinstance(body, bytes) else body
    m = re.search(r"^m=audio (\d+) ", text, re.M)
    check("c=IN IP4 127.0.0.1" in text and m and ctx.relay.port_min <= int(m.group(1)) <= ctx.relay.port_max,
          "%s: SDP is not the relay's: %r" % (who, text))


def case_call_ws_to_udp(ctx):
    alice = ctx.uas["alice"]
    bob = bob_phone(ctx, ctx.relay.base + 9)
    try:
        ruri, to = "sip:bob@127.0.0.1", "<sip:bob@127.0.0.1>"
        call_id, tag = "ws-call-" + rand_hex(), rand_hex()
        alice.ws.send(alice.request_text("INVITE", ruri, call_id, 1, tag, to, ["Contact: " + alice.contact],
                                         sdp(40000)))
        r = alice.final(call_id, 1)
        check(r.status == 407, "INVITE without credentials got %d, not 407" % r.status)
        alice.ws.send(alice.request_text("ACK", ruri, call_id, 1, tag, r.get("to"),
                                         branch=siptest.via_branch(r.get("via"))))
        sha = [c for c in map(siptest.parse_challenge, r.all("proxy-authenticate")) if c["algorithm"] == "SHA-256"]
        check(sha, "407 offers no SHA-256 challenge")
        auth = "Proxy-Authorization: " + siptest.digest_authorization(sha[0], "alice", USERS["alice"], "INVITE", ruri)
        alice.ws.send(alice.request_text("INVITE", ruri, call_id, 2, tag, to, ["Contact: " + alice.contact, auth],
                                         sdp(40000)))
        inv = bob_wait(bob, "INVITE", lambda m: m.method == "INVITE")
        relay_sdp_ok(ctx, "INVITE at bob", inv.body)
        bob_tag = rand_hex()
        bob_contact = "Contact: <sip:bob@127.0.0.1:%d>" % bob.port
        bob.send(build_response(inv, 200, "OK", to_tag=bob_tag, extra=[bob_contact], body=sdp(40002),
                                content_type="application/sdp"))
        ok = alice.final(call_id, 2)
        check(ok.status == 200, "alice's INVITE got %d %s" % (ok.status, ok.reason))
        relay_sdp_ok(ctx, "200 at alice", ok.body)
        target = uri_of(ok.get("contact"))
        check(";transport=ws" in target, "the 200's Contact %r does not say transport=ws" % target)
        alice.ws.send(alice.request_text("ACK", target, call_id, 2, tag, ok.get("to")))
        bob_wait(bob, "ACK", lambda m: m.method == "ACK")
        # bob hangs up: the B2BUA's BYE must find alice's WebSocket (her Contact host is .invalid).
        bye = build_request("BYE", uri_of(inv.get("contact")), bob.port, call_id=inv.get("call-id"), cseq=1,
                            from_value=inv.get("to").split(";tag=")[0], from_tag=bob_tag,
                            to_value=inv.get("from"))
        bob.send(bye)
        got = alice.wait(lambda m: m.method == "BYE" and m.get("call-id") == call_id, "BYE")
        check(got.get("via").startswith("SIP/2.0/WS "), "the BYE to alice has Via %r" % got.get("via"))
        alice.respond(got, 200, "OK")
        r = bob_wait(bob, "200 to BYE", lambda m: m.is_response and m.cseq()[1] == "BYE")
        check(r.status == 200, "bob's BYE got %d" % r.status)
        return "407 -> SHA-256 -> 200, ACK at bob, bob's BYE on alice's WebSocket"
    finally:
        bob.close()


def case_call_udp_to_wss(ctx):
    carol = ctx.uas["carol"]
    bob = siptest.UdpSip(ctx.relay.sip_port, ctx.relay.base + 9)
    try:
        ruri = "sip:carol@127.0.0.1:%d" % ctx.relay.sip_port
        call_id, tag = "udp-call-" + rand_hex(), rand_hex()
        common = dict(call_id=call_id, from_uri="sip:bob@127.0.0.1", to_uri="sip:carol@127.0.0.1", from_tag=tag,
                      body=sdp(40010), content_type="application/sdp")
        contact = "Contact: <sip:bob@127.0.0.1:%d>" % bob.port
        bob.send(build_request("INVITE", ruri, bob.port, cseq=1, extra=[contact], **common))
        r = bob_wait(bob, "407", lambda m: m.is_response and (m.status or 0) >= 200)
        check(r.status == 407, "bob's INVITE got %d, not 407" % r.status)
        bob.send(build_request("ACK", ruri, bob.port, call_id=call_id, cseq=1, from_uri="sip:bob@127.0.0.1",
                               from_tag=tag, to_value=r.get("to"), branch=siptest.via_branch(r.get("via"))))
        ch = [c for c in map(siptest.parse_challenge, r.all("proxy-authenticate")) if c["algorithm"] in siptest.HASHES]
        auth = "Proxy-Authorization: " + siptest.digest_authorization(ch[0], "bob", USERS["bob"], "INVITE", ruri)
        bob.send(build_request("INVITE", ruri, bob.port, cseq=2, extra=[contact, auth], **common))
        inv = carol.wait(lambda m: m.method == "INVITE", "INVITE")
        check(inv.get("via").startswith("SIP/2.0/WSS "), "the INVITE to carol has Via %r" % inv.get("via"))
        check(carol.host in inv.start, "the INVITE's Request-URI %r is not carol's contact" % inv.start)
        relay_sdp_ok(ctx, "INVITE at carol", inv.body)
        offer = inv.body.decode() if isinstance(inv.body, bytes) else inv.body
        check(all(x in offer for x in ("UDP/TLS/RTP/SAVPF", "a=fingerprint:sha-256 ", "a=setup:actpass",
                                        "a=ice-lite", "a=rtcp-mux")),
              "a callee registered over WebSocket should get a WebRTC offer: %r" % offer)
        carol_tag = rand_hex()
        carol.respond(inv, 180, "Ringing", to_tag=carol_tag, extra=["Contact: " + carol.contact])
        carol.respond(inv, 200, "OK", to_tag=carol_tag, extra=["Contact: " + carol.contact],
                      body=webrtc_answer(40012))
        ok = bob_wait(bob, "200", lambda m: m.is_response and m.status == 200 and m.cseq() == (2, "INVITE"))
        relay_sdp_ok(ctx, "200 at bob", ok.body)
        target = uri_of(ok.get("contact"))
        bob.send(build_request("ACK", target, bob.port, call_id=call_id, cseq=2, from_uri="sip:bob@127.0.0.1",
                               from_tag=tag, to_value=ok.get("to")))
        carol.wait(lambda m: m.method == "ACK", "ACK")
        # carol hangs up over her WSS connection.
        carol.ws.send(carol.request_text("BYE", uri_of(inv.get("contact")), inv.get("call-id"), 1, carol_tag,
                                         inv.get("from")).replace("From: <sip:carol@127.0.0.1>", "From: " +
                                                                  inv.get("to").split(";tag=")[0], 1))
        bye = bob_wait(bob, "BYE", lambda m: m.method == "BYE")
        bob.send(build_response(bye, 200, "OK"))
        r = carol.wait(lambda m: m.is_response and m.cseq()[1] == "BYE", "200 to BYE")
        check(r.status == 200, "carol's BYE got %d" % r.status)
        return "WebRTC INVITE on carol's WSS connection, 200 at bob, ACK at carol, her BYE at bob"
    finally:
        bob.close()


def case_alive(ctx):
    check(siptest.options_ok(ctx.relay.sip_port), "no 200 to OPTIONS over UDP")
    ua = WsUa(ctx.ws_port, "alive", tls=False)
    call_id = "alive-" + rand_hex()
    ua.ws.send(ua.request_text("OPTIONS", "sip:127.0.0.1", call_id, 1, rand_hex(), "<sip:127.0.0.1>"))
    r = ua.final(call_id, 1)
    ua.ws.close()
    check(r.status == 200, "OPTIONS over ws:// got %d" % r.status)
    return "200 over UDP and ws://"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="run-", dir=args.workdir)
    cert, key = make_cert(workdir)
    ctx = Ctx()
    ctx.uas = {}
    sip = {"auth_register": 1, "auth_invite": 1, "tls_cert": cert, "tls_key": key}
    for u, p in USERS.items():
        sip["users.%s" % u] = p
    # The WebSocket listeners take spare ports of the relay's block (base+5, base+6).
    relay = Relay(args.rendezvous, os.path.join(workdir, "rendezvous"), sip=sip,
                  extra=lambda base: ["--set", "sip.ws_listen=127.0.0.1:%d" % (base + 5),
                                      "--set", "sip.wss_listen=127.0.0.1:%d" % (base + 6)])
    ctx.relay = relay
    ctx.ws_port, ctx.wss_port = relay.base + 5, relay.base + 6
    scen_dir = os.path.join(workdir, "scenarios")
    shutil.copytree(os.path.join(HERE, "sip", "scenarios"), scen_dir)
    ctx.sipp = siptest.Sipp(relay.procs, workdir, scen_dir)

    def guarded(fn, *a):
        def run():
            try:
                return fn(ctx, *a)
            except (OSError, WsClosed) as e:
                raise TestFailure("%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc()))
        return run

    cases = [("handshake_refused", guarded(case_handshake_refused)),
             ("bad_frame_closed", guarded(case_bad_frame_closed)),
             ("register_ws", guarded(case_register, "alice", False)),
             ("register_wss", guarded(case_register, "carol", True)),
             ("message_ws_to_udp", guarded(case_message_ws_to_udp)),
             ("message_udp_to_wss", guarded(case_message_udp_to_wss)),
             ("call_ws_to_udp", guarded(case_call_ws_to_udp)),
             ("call_udp_to_wss", guarded(case_call_udp_to_wss)),
             ("alive", guarded(case_alive))]
    try:
        return run_cases("integration.sip_ws", relay, cases)
    finally:
        for ua in ctx.uas.values():
            ua.ws.close()


if __name__ == "__main__":
    sys.exit(main())
