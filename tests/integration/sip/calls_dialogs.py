"""Harness-driven dialogs (a Python party on one side): display names, INFO/MESSAGE in a call, TCP
reconnection to a callee whose connection closed, the 404/480 rule of an open registrar."""

import os
import re
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from calls_common import (USERS, check)  # noqa: E402
from rdvtest import (Relay, TestFailure, metric, wait_until)  # noqa: E402
import siptest  # noqa: E402


# ---------------------------------------------------------------- harness-driven dialogs

SIP_WAIT = 3.0   # seconds a harness party waits for one expected message


def harness_sdp(port):
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n" % port)


def expect(party, what, pred, timeout=SIP_WAIT):
    """The first message `party` (UdpSip or TcpSip) receives that satisfies pred; others (1xx,
    retransmissions) are skipped."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        m = party.recv(deadline - time.monotonic())
        if m is None:
            break
        if isinstance(m, siptest.SipMessage) and pred(m):
            return m
        seen.append(m.start if isinstance(m, siptest.SipMessage) else m[:60])
    raise TestFailure("no %s within %.0fs; got %s" % (what, timeout, seen or "nothing"))


def is_request(method, call_id=None):
    return lambda m: m.method == method and (call_id is None or m.get("call-id") == call_id)


def is_final(cseq_method, call_id):
    return lambda m: (m.is_response and (m.status or 0) >= 200 and m.cseq()[1] == cseq_method
                      and m.get("call-id") == call_id)


class HarnessCall:
    """A call from a harness caller (UDP, ephemeral port) through the server to `callee`, a
    UdpSip or TcpSip the callee's requests arrive on. Tracks both dialogs: the caller's (Call-ID,
    its tag, the 200's To and Contact) and the callee's (the INVITE it got, its tag)."""

    def __init__(self, ctx, user, callee, from_value="<sip:alice@127.0.0.1>", to_value=None):
        self.ctx = ctx
        self.callee = callee
        self.caller = siptest.UdpSip(ctx.sip_port)
        self.call_id = "hc-%s@127.0.0.1" % siptest.rand_hex(12)
        self.a_tag = siptest.rand_hex()
        self.from_value = from_value
        self.a_cseq = 1
        self.b_cseq = 0
        self.b_tag = siptest.rand_hex()
        self.caller.send(siptest.build_request(
            "INVITE", "sip:%s@127.0.0.1:%d" % (user, ctx.sip_port), self.caller.port, call_id=self.call_id,
            from_value=from_value, to_value=to_value, from_tag=self.a_tag, body=harness_sdp(ctx.spare_media),
            content_type="application/sdp",
            extra=["Contact: <sip:alice@127.0.0.1:%d>" % self.caller.port]))

    def close(self):
        self.caller.close()

    def invite_at_callee(self):
        self.inv_b = expect(self.callee, "INVITE at the callee", is_request("INVITE"))
        return self.inv_b

    def answer(self, contact):
        """The callee answers 200 with SDP, the caller ACKs; the callee gets the ACK."""
        self.b_contact = contact
        self.callee.send(siptest.build_response(self.inv_b, 200, "OK", self.b_tag,
                                                extra=["Contact: <%s>" % contact],
                                                body=harness_sdp(self.ctx.spare_media + 1),
                                                content_type="application/sdp"))
        self.ok_a = expect(self.caller, "200 to the INVITE at the caller", is_final("INVITE", self.call_id))
        check(self.ok_a.status == 200, "the caller got %s" % self.ok_a.start)
        self.a_target = siptest.uri_of(self.ok_a.get("contact"))
        self.caller.send(self.caller_request("ACK", cseq=1))
        expect(self.callee, "ACK at the callee", is_request("ACK", self.inv_b.get("call-id")))

    def caller_request(self, method, cseq=None, extra=(), body=b"", content_type=None):
        if cseq is None:
            self.a_cseq += 1
            cseq = self.a_cseq
        req = siptest.build_request(method, self.a_target, self.caller.port, call_id=self.call_id, cseq=cseq,
                                    from_value=self.from_value, from_tag=self.a_tag, to_value=self.ok_a.get("to"),
                                    extra=list(extra), body=body, content_type=content_type)
        return req

    def callee_request(self, method, transport="UDP", extra=(), body=b"", content_type=None):
        self.b_cseq += 1
        # Bob's From is the To of the INVITE he got (with his tag), his To its From.
        return siptest.build_request(method, siptest.uri_of(self.inv_b.get("contact")), self.callee.port,
                                     transport=transport, call_id=self.inv_b.get("call-id"), cseq=self.b_cseq,
                                     from_value=self.inv_b.get("to"), from_tag=self.b_tag,
                                     to_value=self.inv_b.get("from"),
                                     extra=["Contact: <%s>" % self.b_contact] + list(extra), body=body,
                                     content_type=content_type)

    def caller_bye(self):
        """The caller hangs up; the callee answers the BYE it gets; the caller gets its 200."""
        self.caller.send(self.caller_request("BYE"))
        bye = expect(self.callee, "BYE at the callee", is_request("BYE", self.inv_b.get("call-id")))
        self.callee.send(siptest.build_response(bye, 200, "OK"))
        r = expect(self.caller, "200 to the BYE", is_final("BYE", self.call_id))
        check(r.status == 200, "the caller's BYE got %s" % r.start)
        return bye


def name_addr_parts(value):
    """(display name as written, URI) of a From/To value."""
    m = re.match(r'^\s*((?:"(?:[^"\\]|\\.)*")|[^<"]*?)\s*<([^>]*)>', value or "")
    return (m.group(1), m.group(2)) if m else (None, None)


def case_display_name_quoted(ctx):
    boss = r'"Boss, Big \"B\""'
    desk = '"Bob, Desk"'
    bob = siptest.UdpSip(ctx.sip_port, ctx.bob_sip)
    call = HarnessCall(ctx, "bob", bob, from_value="%s <sip:alice@127.0.0.1:%d>" % (boss, ctx.alice_sip),
                       to_value="%s <sip:bob@127.0.0.1:%d>" % (desk, ctx.sip_port))
    try:
        inv = call.invite_at_callee()
        check(name_addr_parts(inv.get("from")) == (boss, "sip:alice@127.0.0.1"),
              "the callee's From is %r, expected %s <sip:alice@127.0.0.1>;tag=..." % (inv.get("from"), boss))
        check(name_addr_parts(inv.get("to"))[0] == desk,
              "the callee's To is %r, expected the display name %s" % (inv.get("to"), desk))
        call.answer("sip:bob@127.0.0.1:%d" % ctx.bob_sip)
        bob.send(call.callee_request("BYE"))
        bye = expect(call.caller, "BYE at the caller", is_request("BYE", call.call_id))
        call.caller.send(siptest.build_response(bye, 200, "OK"))
        r = expect(bob, "200 to bob's BYE", is_final("BYE", inv.get("call-id")))
        check(r.status == 200, "bob's BYE got %s" % r.start)
        check(name_addr_parts(bye.get("from"))[0] == desk, "the caller's BYE has From %r" % bye.get("from"))
        check(name_addr_parts(bye.get("to"))[0] == boss, "the caller's BYE has To %r" % bye.get("to"))
        return "callee got From %s; caller's BYE From %s, To %s" % (inv.get("from"), bye.get("from"), bye.get("to"))
    finally:
        call.close()
        bob.close()


def case_info_message(ctx):
    dtmf = b"Signal=5\r\nDuration=160\r\n"
    text = "Läuft, 5 min \u23f0\r\n".encode()
    bob = siptest.UdpSip(ctx.sip_port, ctx.bob_sip)
    call = HarnessCall(ctx, "bob", bob)
    try:
        call.invite_at_callee()
        call.answer("sip:bob@127.0.0.1:%d" % ctx.bob_sip)
        call.caller.send(call.caller_request("INFO", body=dtmf, content_type="application/dtmf-relay"))
        info = expect(bob, "INFO at the callee", is_request("INFO", call.inv_b.get("call-id")))
        check(info.body == dtmf, "the callee's INFO body is %r, expected %r" % (info.body, dtmf))
        check(info.get("content-type") == "application/dtmf-relay",
              "the callee's INFO has Content-Type %r" % info.get("content-type"))
        check(siptest.header_params(info.get("to")).get("tag") == call.b_tag, "the INFO left bob's dialog")
        bob.send(siptest.build_response(info, 200, "OK"))
        r = expect(call.caller, "200 to the INFO", is_final("INFO", call.call_id))
        check(r.status == 200, "the caller's INFO got %s" % r.start)

        bob.send(call.callee_request("MESSAGE", body=text, content_type="text/plain;charset=UTF-8"))
        msg = expect(call.caller, "MESSAGE at the caller", is_request("MESSAGE", call.call_id))
        check(msg.body == text, "the caller's MESSAGE body is %r, expected %r" % (msg.body, text))
        check(msg.get("content-type") == "text/plain;charset=UTF-8",
              "the caller's MESSAGE has Content-Type %r" % msg.get("content-type"))
        check(siptest.header_params(msg.get("to")).get("tag") == call.a_tag, "the MESSAGE left the caller's dialog")
        call.caller.send(siptest.build_response(msg, 200, "OK"))
        r = expect(bob, "200 to the MESSAGE", is_final("MESSAGE", call.inv_b.get("call-id")))
        check(r.status == 200, "bob's MESSAGE got %s" % r.start)
        call.caller_bye()
        return "INFO %d bytes dtmf-relay -> callee; MESSAGE %d bytes -> caller; both 200" % (len(dtmf), len(text))
    finally:
        call.close()
        bob.close()


def rtp(seq, ssrc):
    """A 172-byte PCMA RTP packet (RFC 3550 header, payload type 8)."""
    return struct.pack("!BBHII", 0x80, 8, seq, seq * 160, ssrc) + bytes(160)


def rtp_arrives(sock, what, timeout=1.0):
    """The first datagram `sock` gets within `timeout`, or a TestFailure naming `what`."""
    sock.settimeout(timeout)
    try:
        data, _ = sock.recvfrom(2048)
        return data
    except socket.timeout:
        raise TestFailure("no RTP %s within %.1fs" % (what, timeout))


def nothing_arrives(sock, timeout=0.3):
    sock.settimeout(timeout)
    try:
        sock.recvfrom(2048)
        return False
    except socket.timeout:
        return True


def case_reinvite_new_address(ctx):
    """The caller's re-INVITE moves its media to another port (a transfer, a device handover): the
    new source, with a new SSRC, latches at once, and the old address becomes a stranger."""
    bob = siptest.UdpSip(ctx.sip_port, ctx.bob_sip)
    media = {}
    for name, port in (("a1", ctx.spare_media), ("b", ctx.spare_media + 1), ("a2", ctx.spare_media + 2)):
        media[name] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        media[name].bind(("127.0.0.1", port))
    call = HarnessCall(ctx, "bob", bob)
    try:
        inv = call.invite_at_callee()
        to_bob_port = int(re.search(r"m=audio (\d+)", inv.body.decode()).group(1))
        call.answer("sip:bob@127.0.0.1:%d" % ctx.bob_sip)
        to_alice_port = int(re.search(r"m=audio (\d+)", call.ok_a.body.decode()).group(1))
        media["a1"].sendto(rtp(1, 0xA1), ("127.0.0.1", to_alice_port))
        rtp_arrives(media["b"], "from the caller's first address at the callee")
        call.caller.send(call.caller_request("INVITE", body=harness_sdp(ctx.spare_media + 2),
                                             content_type="application/sdp"))
        reinv = expect(bob, "re-INVITE at the callee", is_request("INVITE", inv.get("call-id")))
        bob.send(siptest.build_response(reinv, 200, "OK", extra=["Contact: <sip:bob@127.0.0.1:%d>" % ctx.bob_sip],
                                        body=harness_sdp(ctx.spare_media + 1), content_type="application/sdp"))
        ok = expect(call.caller, "200 to the re-INVITE", is_final("INVITE", call.call_id))
        check(ok.status == 200, "the re-INVITE got %s" % ok.start)
        call.caller.send(call.caller_request("ACK", cseq=call.a_cseq))
        media["a2"].sendto(rtp(1, 0xA2), ("127.0.0.1", to_alice_port))
        got = rtp_arrives(media["b"], "from the caller's new address at the callee (latch not reset?)")
        check(struct.unpack("!I", got[8:12])[0] == 0xA2, "the callee got SSRC %08x, not the new source's"
              % struct.unpack("!I", got[8:12])[0])
        media["b"].sendto(rtp(1, 0xB), ("127.0.0.1", to_bob_port))
        rtp_arrives(media["a2"], "from the callee at the caller's new address")
        media["a1"].sendto(rtp(2, 0xA1), ("127.0.0.1", to_alice_port))
        check(nothing_arrives(media["b"]), "the caller's old address still reaches the callee after the move")
        call.caller_bye()
        return "re-INVITE moved the caller :%d -> :%d; the new source (new SSRC) latched, the old one is dropped" % (
            ctx.spare_media, ctx.spare_media + 2)
    finally:
        call.close()
        bob.close()
        for sock in media.values():
            sock.close()


def wait_connections_below(ctx, value, what):
    wait_until(what, lambda: (metric(ctx.relay.metrics(), "rdv_sip_tcp_connections") or 0) < value, 5.0,
               proc=ctx.relay.proc, proc_name="rendezvous", log=ctx.relay.procs.log_of("rendezvous"))


def case_tcp_reconnect(ctx):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", ctx.dave_tcp))
    listener.listen(4)
    listener.settimeout(SIP_WAIT)
    contact = "sip:dave@127.0.0.1:%d;transport=tcp" % ctx.dave_tcp
    dave = None
    call = None
    try:
        reg = siptest.TcpSip(ctx.sip_port)
        before = ctx.relay.metrics()
        opened0 = metric(before, "rdv_sip_outbound_connections_total")
        failed0 = metric(before, "rdv_sip_outbound_connection_failures_total")
        check(opened0 is not None and failed0 is not None, "the outbound connection counters are not exported")
        try:
            ok = siptest.register_tcp(reg, ctx.sip_port, "dave", USERS["dave"], contact)
            check(ok is not None and ok.status == 200, "REGISTER dave over TCP got %s" % (ok.start if ok else "nothing"))
            conns = metric(ctx.relay.metrics(), "rdv_sip_tcp_connections")
        finally:
            reg.close()
        wait_connections_below(ctx, conns, "the server to see dave's registering connection close")

        call = HarnessCall(ctx, "dave", None)
        try:
            conn, peer = listener.accept()
        except socket.timeout:
            raise TestFailure("the server opened no connection to dave's Contact %s\n--- rendezvous:\n%s"
                              % (contact, ctx.server_log()))
        conn.settimeout(SIP_WAIT)
        dave = siptest.TcpSip(0, sock=conn)
        call.callee = dave
        inv = call.invite_at_callee()
        check(inv.start == "INVITE %s SIP/2.0" % contact, "dave got %r, expected his Contact as Request-URI" % inv.start)
        check(inv.get("via").startswith("SIP/2.0/TCP 127.0.0.1:%d;" % ctx.sip_port), "Via %r" % inv.get("via"))
        call.answer(contact)
        call.caller_bye()
        opened = metric(ctx.relay.metrics(), "rdv_sip_outbound_connections_total")
        check(opened == opened0 + 1, "rdv_sip_outbound_connections_total went from %s to %s, expected +1"
              % (opened0, opened))
        call.close()
        call = None

        # Dave gone for good: the new connection and the listener close.
        conns = metric(ctx.relay.metrics(), "rdv_sip_tcp_connections")
        dave.close()
        dave = None
        listener.close()
        wait_connections_below(ctx, conns, "the server to see dave's connection close")
        call = HarnessCall(ctx, "dave", None)
        r = expect(call.caller, "final response to the INVITE", is_final("INVITE", call.call_id))
        check(r.status == 480, "a call to dave with nothing listening at his Contact got %s, not 480" % r.start)
        failed = metric(ctx.relay.metrics(), "rdv_sip_outbound_connection_failures_total")
        check(failed == failed0 + 1, "rdv_sip_outbound_connection_failures_total went from %s to %s, expected +1"
              % (failed0, failed))
        return "new connection from %s:%d carried INVITE/ACK/BYE; refused reconnect -> 480" % peer
    finally:
        if call is not None:
            call.close()
        if dave is not None:
            dave.close()
        listener.close()


def case_open_404_480(ctx):
    """A second server: open registrar without a user list."""
    relay = Relay(ctx.rendezvous, os.path.join(ctx.workdir, "open-registrar"),
                  sip={"auth_register": 0, "auth_invite": 0})
    carol = siptest.UdpSip(relay.sip_port)
    try:
        def reg(expires, cseq):
            r = carol.transaction(siptest.build_request(
                "REGISTER", "sip:127.0.0.1:%d" % relay.sip_port, carol.port, call_id="open-reg@127.0.0.1",
                cseq=cseq, from_uri="sip:carol@127.0.0.1", to_uri="sip:carol@127.0.0.1",
                extra=["Contact: <sip:carol@127.0.0.1:%d>" % carol.port, "Expires: %d" % expires]))
            check(r is not None and r.status == 200, "REGISTER carol (Expires %d) got %s"
                  % (expires, r.start if r else "nothing"))

        def invite(user):
            caller = siptest.UdpSip(relay.sip_port)
            try:
                call_id = "open-%s@127.0.0.1" % siptest.rand_hex()
                r = caller.transaction(siptest.build_request(
                    "INVITE", "sip:%s@127.0.0.1:%d" % (user, relay.sip_port), caller.port, call_id=call_id,
                    from_uri="sip:alice@127.0.0.1", body=harness_sdp(40000), content_type="application/sdp"),
                    timeout=SIP_WAIT)
                check(r is not None, "no final response to an INVITE for %s" % user)
                return r
            finally:
                caller.close()
        reg(300, 1)
        caller = siptest.UdpSip(relay.sip_port)
        try:
            caller.send(siptest.build_request("INVITE", "sip:carol@127.0.0.1:%d" % relay.sip_port, caller.port,
                                              body=harness_sdp(40000), content_type="application/sdp"))
            inv = expect(carol, "INVITE at carol", is_request("INVITE"))
            carol.send(siptest.build_response(inv, 486, "Busy Here", "c1"))
            r = expect(caller, "carol's 486 at the caller", lambda m: m.is_response and (m.status or 0) >= 200)
            check(r.status == 486, "the call to registered carol got %s" % r.start)
        finally:
            caller.close()
        reg(0, 2)
        away = invite("carol")
        check(away.status == 480, "a call to carol after she unregistered got %s, not 480" % away.start)
        nobody = invite("dave")
        check(nobody.status == 404, "a call to dave, never registered, got %s, not 404" % nobody.start)
        return "registered carol reached; unregistered carol -> 480; dave -> 404"
    finally:
        carol.close()
        stopped = relay.stop()
        if stopped:
            raise TestFailure("the open-registrar server: %s" % stopped)
