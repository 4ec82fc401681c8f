#!/usr/bin/env python3
"""SIP torture test for Rendezvous (in the spirit of RFC 4475): unusual and malformed messages
sent raw over UDP and TCP, each checked for the right reaction by status code (never by reason
phrase), and the server must keep serving afterwards.

Reactions asserted:
  - the response's top Via gets rport=<source port> and received=<source address> (RFC 3581);
  - odd-but-legal syntax (compact forms, folding, header-name case, LWS, comma-separated values,
    escaped URIs, Content-Length shorter than the datagram, no Content-Length on UDP) -> 200 to
    OPTIONS (the Via values echoed in order);
  - requests that parse far enough to answer (they carry Via, From, To, Call-ID, CSeq or at least
    a Via) but break a rule -> 400 with a non-empty reason phrase (505 / 416 accepted where RFC
    3261 names a more specific code);
  - unknown method FOO with CSeq "1 FOO" -> 405 (with Allow) or 501;
  - total junk (no start line, empty datagram, stray response) -> no response at all.
UDP: after each case the same socket sends a sentinel OPTIONS; the case's reaction is whatever
arrives before the sentinel's 200 plus a short grace, so silence is cheap to assert and a hung
server shows up at once. TCP: two pipelined messages with bodies, leading CRLFs, a message split
over three writes, a lying (too large) Content-Length, a 100 KB header, HTTP junk.
Finally OPTIONS over UDP and TCP must still get 200 and the process must be alive; it must also
exit 0 on SIGTERM (a crash or death at any point fails the test).

Usage: sip_torture_test.py --rendezvous PATH --workdir DIR [--only name,name]
"""

import argparse
import functools
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from rdvtest import Relay, TestFailure, tail  # noqa: E402
from siptest import SipMessage, TcpSip, UdpSip, build_request, options_ok, parse_message, rand_hex  # noqa: E402

TEST_NAME = "integration.sip_torture"
GRACE = 0.3      # s to wait after the sentinel's answer for a late reaction to the case
SENTINEL_TIMEOUT = 3.0
ERROR_CODES = {400}


def check(cond, what):
    if not cond:
        raise TestFailure(what)


class Msg:
    """A message template: lines joined with CRLF, {placeholders} filled per send."""

    def __init__(self, text, body=b"", raw=None):
        self.text, self.body, self.raw = text, body, raw

    def render(self, server_port, local_port, transport="UDP"):
        if self.raw is not None:
            return self.raw
        vals = {"port": server_port, "lport": local_port, "cid": "tort-%s@127.0.0.1" % rand_hex(12),
                "branch": "z9hG4bK-t%s" % rand_hex(10), "tag": rand_hex(), "tr": transport,
                "bodylen": len(self.body)}
        head = self.text.strip("\n").format(**vals)
        data = head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + self.body
        return data, vals["cid"]


def std(method="OPTIONS", ruri="sip:127.0.0.1:{port}", cseq="1 OPTIONS", drop=(), add=(), cl=True, start=None):
    """A template for a normal request with some headers dropped/added."""
    lines = [start or "%s %s SIP/2.0" % (method, ruri)]
    hdrs = [("via", "Via: SIP/2.0/{tr} 127.0.0.1:{lport};branch={branch};rport"),
            ("max-forwards", "Max-Forwards: 70"),
            ("from", "From: <sip:torture@127.0.0.1>;tag={tag}"),
            ("to", "To: <sip:127.0.0.1:{port}>"),
            ("call-id", "Call-ID: {cid}"),
            ("cseq", "CSeq: %s" % cseq)]
    lines += [h for n, h in hdrs if n not in drop]
    lines += list(add)
    if cl:
        lines.append("Content-Length: {bodylen}")
    return "\n".join(lines)


SDP = (b"v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

# name -> (template, allowed status codes (None: must be dropped), drop also acceptable, extra check)
UDP_CASES = [
    # ---- odd but legal: 200
    ("options_plain", Msg(std()), {200}, False, "vias1"),
    # RFC 3581 section 4: an empty rport gets the source port, and received the source address.
    ("rport_filled_in", Msg(std()), {200}, False, "rport"),
    # Behind NAT: Via names another port (the discard port 9 on loopback); with rport the answer
    # still goes to the source (RFC 3581 section 4).
    ("rport_source_differs", Msg(std().replace("127.0.0.1:{lport};branch", "127.0.0.1:9;branch")),
     {200}, False, "rport"),
    ("compact_forms", Msg("""OPTIONS sip:127.0.0.1:{port} SIP/2.0
v: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch};rport
Max-Forwards: 70
f: <sip:torture@127.0.0.1>;tag={tag}
t: <sip:127.0.0.1:{port}>
i: {cid}
CSeq: 1 OPTIONS
m: <sip:torture@127.0.0.1:{lport}>
k: timer
l: 0"""), {200}, False, "vias1"),
    ("folded_headers", Msg("""OPTIONS sip:127.0.0.1:{port} SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch};rport
Max-Forwards: 70
From: <sip:torture@127.0.0.1>
 ;tag={tag}
To:
\t<sip:127.0.0.1:{port}>
Subject: a subject
  that continues on a second line
\tand a third
Call-ID: {cid}
CSeq: 1
 OPTIONS
Content-Length: 0"""), {200}, False, "vias1"),
    ("header_case_and_whitespace", Msg("""OPTIONS sip:127.0.0.1:{port} SIP/2.0
vIA  :   SIP/2.0/UDP 127.0.0.1:{lport};branch={branch};rport
MAX-forwards:\t70
fROM:<sip:torture@127.0.0.1>;tag={tag}
tO :  <sip:127.0.0.1:{port}>
call-id\t:\t{cid}
cseq: 0001 OPTIONS
X-Unknown.Header!%*_+`'~: value with ~ odd * chars @ and "quotes"
content-LENGTH:   0"""), {200}, False, "vias1"),
    ("via_lws_in_protocol", Msg("""OPTIONS sip:127.0.0.1:{port} SIP/2.0
Via: SIP / 2.0 / UDP 127.0.0.1:{lport};branch={branch};rport
Max-Forwards: 70
From: <sip:torture@127.0.0.1>;tag={tag}
To: <sip:127.0.0.1:{port}>
Call-ID: {cid}
CSeq: 1 OPTIONS
Content-Length: 0"""), {200}, False, None),
    ("comma_separated_values", Msg("""OPTIONS sip:127.0.0.1:{port} SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch};rport, SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-second
Max-Forwards: 70
From: <sip:torture@127.0.0.1>;tag={tag}
To: <sip:127.0.0.1:{port}>
Call-ID: {cid}
CSeq: 1 OPTIONS
Supported: timer, 100rel,path
Accept: application/sdp, text/plain;q=0.5
Allow: INVITE, ACK, BYE, CANCEL, OPTIONS
Content-Length: 0"""), {200}, False, "vias2"),
    ("escaped_uris", Msg("""OPTIONS sip:127.0.0.1:{port};transport=udp;x-p=%41b SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch};rport
Max-Forwards: 70
From: "J\\"o %20 Doe" <sip:caller%20one@127.0.0.1>;tag={tag}
To: <sip:%61lice@127.0.0.1:{port}>
Contact: <sip:a%3Bb@127.0.0.1:{lport};p=%22q%22>
Call-ID: {cid}
CSeq: 1 OPTIONS
Content-Length: 0"""), {200}, False, "vias1"),
    ("content_length_short_udp", Msg(std(add=["Content-Type: text/plain"]).replace("{bodylen}", "4"),
                                     body=b"abcdTRAILING-BYTES-TO-DISCARD"), {200}, False, "vias1"),
    ("no_content_length_udp", Msg(std(cl=False)), {200}, False, "vias1"),
    # escaped user part: sip:%62ob@ is bob (RFC 3261 19.1.4); bob is not registered -> 480.
    ("invite_escaped_known_user", Msg(std("INVITE", "sip:%62ob@127.0.0.1:{port}", "1 INVITE",
                                          add=["Contact: <sip:torture@127.0.0.1:{lport}>",
                                               "Content-Type: application/sdp"]).replace(
        "To: <sip:127.0.0.1:{port}>", "To: <sip:%62ob@127.0.0.1:{port}>"), body=SDP), {480}, False, "ack"),
    # RFC 4475 esc02-like: escaped ':' and '@' in the user part: a valid, unknown user -> 404.
    ("invite_escaped_unknown_user", Msg(std("INVITE", "sip:sips%3Auser%40example.com@127.0.0.1:{port}", "1 INVITE",
                                            add=["Contact: <sip:torture@127.0.0.1:{lport}>",
                                                 "Content-Type: application/sdp"]), body=SDP), {404}, False, "ack"),
    ("unknown_method", Msg(std("FOO", cseq="1 FOO")), {405, 501}, False, "allow"),
    # ---- parseable but wrong: 400
    ("cseq_method_mismatch", Msg(std(cseq="1 INVITE")), {400}, False, None),
    ("content_length_too_large", Msg(std(add=["Content-Type: text/plain"]).replace("{bodylen}", "500"),
                                     body=b"short"), {400}, False, None),
    ("content_length_negative", Msg(std().replace("{bodylen}", "-5")), {400}, False, None),
    ("content_length_not_number", Msg(std().replace("{bodylen}", "abc")), {400}, False, None),
    ("missing_call_id", Msg(std(drop=["call-id"])), {400}, False, None),
    ("missing_cseq", Msg(std(drop=["cseq"])), {400}, False, None),
    ("missing_from", Msg(std(drop=["from"])), {400}, False, None),
    ("missing_to", Msg(std(drop=["to"])), {400}, False, None),
    # Without a Via there is nowhere RFC 3261 18.2.2 says to answer: 400 to the source or silence.
    ("missing_via", Msg(std(drop=["via"])), {400}, True, None),
    ("cseq_not_a_number", Msg(std(cseq="abc OPTIONS")), {400}, False, None),
    ("cseq_too_large", Msg(std(cseq="4294967296 OPTIONS")), {400}, False, None),
    ("max_forwards_not_a_number", Msg(std().replace("Max-Forwards: 70", "Max-Forwards: seventy")), {400}, False, None),
    ("header_without_colon", Msg(std(add=["ThisLineIsNotAHeader"])), {400}, False, None),
    # RFC 4475 3.1.2.16 (badvers): 505 is the specific answer, 400 accepted.
    ("bad_version_start_line", Msg(std("INVITE", "sip:x", "1 INVITE", start="INVITE sip:x SIP/7.0")),
     {400, 505}, False, None),
    ("missing_request_uri", Msg(std(start="OPTIONS SIP/2.0")), {400}, False, None),
    ("too_many_start_line_parts", Msg(std(start="OPTIONS sip:127.0.0.1:{port} SIP/2.0 extra")), {400}, False, None),
    # RFC 4475 3.1.2.? (unksm): 416 is the specific answer, 400 accepted.
    ("unknown_uri_scheme", Msg(std(ruri="nosuchscheme:127.0.0.1")), {400, 416}, False, None),
    # It carries every header needed to answer, so it is answered like the other broken ones.
    ("nul_in_header", Msg(std(add=["Subject: bad\x00byte"])), {400}, False, None),
    # ~60 KB header in one datagram (UDP cannot carry 100 KB; the TCP case does): any sane answer
    # or silence, as long as the server survives (the sentinel proves it).
    ("huge_header_udp", Msg(std(add=["Subject: " + "a" * 60000])), {200, 400, 413, 494, 513}, True, None),
    # ---- total junk: silence
    ("junk_text", Msg(None, raw=b"hello world, this is not SIP\r\n"), None, True, None),
    ("junk_binary", Msg(None, raw=bytes(random.Random(4475).getrandbits(8) for _ in range(300))), None, True, None),
    ("junk_crlf_keepalive", Msg(None, raw=b"\r\n\r\n"), None, True, None),
    ("junk_empty_datagram", Msg(None, raw=b""), None, True, None),
    ("stray_response", Msg("""SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-no-such-transaction
From: <sip:x@127.0.0.1>;tag={tag}
To: <sip:y@127.0.0.1>;tag=1
Call-ID: {cid}
CSeq: 1 INVITE
Content-Length: 0"""), None, True, None),
    ("start_line_only", Msg(None, raw=b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n\r\n"), {400}, True, None),
]


def describe(m):
    if isinstance(m, SipMessage):
        return m.start
    return "raw %r" % m[:60]


def run_udp_case(ctx, tmpl, codes, drop_ok, extra):
    c = UdpSip(ctx.sip_port)
    try:
        rendered = tmpl.render(ctx.sip_port, c.port)
        data, cid = (rendered, None) if isinstance(rendered, bytes) else rendered
        c.send(data)
        sentinel = build_request("OPTIONS", "sip:127.0.0.1:%d" % ctx.sip_port, c.port)
        s_cid = parse_message(sentinel).get("call-id")
        c.send(sentinel)

        def is_sentinel_final(m):
            return m.get("call-id") == s_cid and m.is_response and (m.status or 0) >= 200
        s_final, got = c.recv_until(is_sentinel_final, SENTINEL_TIMEOUT)
        check(s_final is not None, "the sentinel OPTIONS after this case got no answer within %.0fs: "
              "server hung or dead\n%s" % (SENTINEL_TIMEOUT, ctx.server_log()))
        check(s_final.status == 200, "the sentinel OPTIONS got %s" % s_final.start)
        _, late = c.recv_until(lambda m: False, GRACE)
        reactions = [m for m in got + late if not (isinstance(m, SipMessage) and m.get("call-id") == s_cid)]
        finals = [m for m in reactions if isinstance(m, SipMessage) and m.is_response and (m.status or 0) >= 200]
        others = [m for m in reactions if not (isinstance(m, SipMessage) and m.is_response)]
        check(not others, "non-response datagrams came back: %s" % [describe(m) for m in others])
        if codes is None:
            check(not reactions, "junk was answered: %s (expected silence)" % [describe(m) for m in reactions])
            return "dropped"
        if not finals:
            check(drop_ok, "no final response (expected %s)%s" % (
                "/".join(map(str, sorted(codes))),
                "; got only %s" % [describe(m) for m in reactions] if reactions else ""))
            return "dropped (accepted)"
        codes_got = sorted({m.status for m in finals})
        check(len(codes_got) == 1, "conflicting final responses %s" % [m.start for m in finals])
        r = finals[0]
        check(r.status in codes, "got %s, expected %s" % (r.start, "/".join(map(str, sorted(codes)))))
        if r.status >= 300:
            check(r.reason, "%d with an empty reason phrase: %r" % (r.status, r.start))
        if cid is not None and r.get("call-id") is not None:
            check(r.get("call-id") == cid, "response Call-ID %r is not the request's %r" % (r.get("call-id"), cid))
        note = r.start
        if extra in ("vias1", "vias2"):
            vias = [v.strip() for line in r.all("via") for v in line.split(",")]
            req = parse_message(data)
            want = [v.strip() for line in req.all("via") for v in line.split(",")]
            check(len(vias) == len(want), "response carries %d Via values, the request had %d: %s"
                  % (len(vias), len(want), vias))
            for got_v, want_v in zip(vias, want):
                b1 = re.search(r"branch=([^;,\s]+)", got_v)
                b2 = re.search(r"branch=([^;,\s]+)", want_v)
                check(b1 and b2 and b1.group(1) == b2.group(1), "Via order/branch not echoed: %s vs %s" % (vias, want))
        if extra == "rport":
            top = r.all("via")[0].split(",")[0]
            params = dict((k.strip().lower(), v.strip()) for k, _, v in
                          (p.partition("=") for p in top.split(";")[1:]))
            check(params.get("rport") == str(c.port) and params.get("received") == "127.0.0.1",
                  "response top Via %r: RFC 3581 wants rport=%d and received=127.0.0.1 filled in"
                  % (top, c.port))
        if extra == "allow" and r.status == 405:
            check(r.get("allow"), "405 without an Allow header (RFC 3261 21.4.6)")
        if extra == "ack" and r.status >= 300:
            req = parse_message(data)
            ack = "\r\n".join([
                "ACK %s SIP/2.0" % req.start.split(" ")[1],
                "Via: %s" % req.get("via"), "Max-Forwards: 70", "From: %s" % req.get("from"),
                "To: %s" % r.get("to"), "Call-ID: %s" % req.get("call-id"),
                "CSeq: %d ACK" % req.cseq()[0], "Content-Length: 0", "", ""]).encode()
            c.send(ack)
            note += ", ACKed"
        return note
    finally:
        c.close()


# ---------------------------------------------------------------- TCP

def opt_tcp(ctx, lport, body=b"", cid=None, cseq=1):
    return build_request("OPTIONS", "sip:127.0.0.1:%d;transport=tcp" % ctx.sip_port, lport, transport="TCP",
                         call_id=cid, cseq=cseq, body=body, content_type="text/plain" if body else None)


def tcp_pipelined(ctx):
    c = TcpSip(ctx.sip_port)
    try:
        c1, c2 = "pipe1-%s@127.0.0.1" % rand_hex(), "pipe2-%s@127.0.0.1" % rand_hex()
        # The first body looks like a start line: only Content-Length framing keeps them apart.
        m1 = opt_tcp(ctx, c.port, body=b"OPTIONS sip:x SIP/2.0\r\n", cid=c1, cseq=1)
        m2 = opt_tcp(ctx, c.port, cid=c2, cseq=2)
        c.send(m1 + m2)
        got = []
        deadline = time.monotonic() + 3.0
        while len(got) < 2 and time.monotonic() < deadline:
            r = c.recv(deadline - time.monotonic())
            if r is None:
                break
            if r.is_response and (r.status or 0) >= 200:
                got.append(r)
        check(len(got) == 2, "two pipelined OPTIONS got %d final responses: %s%s"
              % (len(got), [r.start for r in got], " (connection closed)" if c.closed else ""))
        check([r.get("call-id") for r in got] == [c1, c2], "responses out of order or mismatched: %s"
              % [r.get("call-id") for r in got])
        check(all(r.status == 200 for r in got), "pipelined responses %s" % [r.start for r in got])
        return "two 200s in order"
    finally:
        c.close()


def tcp_leading_crlf(ctx):
    c = TcpSip(ctx.sip_port)
    try:
        c.send(b"\r\n\r\n\r\n" + opt_tcp(ctx, c.port))   # RFC 3261 7.5: ignored before a start line
        r = c.recv(2.0)
        check(r is not None and r.status == 200, "OPTIONS after leading CRLFs got %s" % (r.start if r else "nothing"))
        return "200"
    finally:
        c.close()


def tcp_split_writes(ctx):
    c = TcpSip(ctx.sip_port)
    try:
        data = opt_tcp(ctx, c.port, body=b"0123456789")
        cuts = [0, 7, len(data) - 15, len(data)]   # inside the start line, inside the body
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for a, b in zip(cuts, cuts[1:]):
            c.send(data[a:b])
            # Not synchronisation: a pause so that the server reads each part on its own. There is
            # nothing to await - the server must stay silent until the message is complete.
            time.sleep(0.05)
        r = c.recv(2.0)
        check(r is not None and r.status == 200, "OPTIONS in three writes got %s" % (r.start if r else "nothing"))
        return "200"
    finally:
        c.close()


def tcp_lying_content_length(ctx):
    c = TcpSip(ctx.sip_port)
    try:
        data = opt_tcp(ctx, c.port, body=b"0123456789").replace(b"Content-Length: 10", b"Content-Length: 5000")
        c.send(data)
        r = c.recv(1.0)
        # The server cannot know the body is incomplete: it must wait (or give up with 400 /
        # a close), never answer as if the message were complete.
        check(r is None or r.status in ERROR_CODES,
              "a message missing 4990 body bytes was answered %s" % (r.start if r else ""))
        # The connection is still framed by that Content-Length; a second connection must work.
        check(options_ok(ctx.sip_port, "TCP", 1.0), "OPTIONS on a new TCP connection failed meanwhile")
        return "no answer to the incomplete message%s; other connections served" % (
            " (closed)" if c.closed else (" (%s)" % r.start if r else ""))
    finally:
        c.close()


def tcp_huge_header(ctx):
    c = TcpSip(ctx.sip_port)
    try:
        data = build_request("OPTIONS", "sip:127.0.0.1:%d;transport=tcp" % ctx.sip_port, c.port, transport="TCP",
                             extra=["Subject: " + "b" * 100 * 1024])
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            return "connection closed while sending 100 KB"
        r = c.recv(3.0)
        check(r is not None or c.closed, "no answer and no close within 3 s to a 100 KB header")
        if r is not None:
            check(r.status in (200, 400, 413, 494, 513), "100 KB header got %s" % r.start)
            if r.status >= 300:
                check(r.reason, "%d without reason phrase" % r.status)
            return r.start
        return "connection closed"
    finally:
        c.close()


def tcp_http_junk(ctx):
    c = TcpSip(ctx.sip_port)
    try:
        c.send(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        r = c.recv(1.0)
        check(r is None or r.status in ERROR_CODES, "HTTP request on the SIP port got %s" % (r.start if r else ""))
        return "closed" if c.closed else ("silence" if r is None else r.start)
    finally:
        c.close()


def still_alive(ctx):
    check(ctx.relay.alive(), "rendezvous exited (code %s)" % ctx.relay.proc.returncode)
    check(options_ok(ctx.sip_port, "UDP", 1.0), "no 200 to OPTIONS over UDP")
    check(options_ok(ctx.sip_port, "TCP", 1.0), "no 200 to OPTIONS over TCP")
    ctx.relay.metrics()
    return "OPTIONS 200 over UDP and TCP, /metrics up"


TCP_CASES = [
    ("tcp_pipelined_with_bodies", tcp_pipelined),
    ("tcp_leading_crlf", tcp_leading_crlf),
    ("tcp_split_writes", tcp_split_writes),
    ("tcp_lying_content_length", tcp_lying_content_length),
    ("tcp_huge_header_100k", tcp_huge_header),
    ("tcp_http_junk", tcp_http_junk),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="run-", dir=os.path.abspath(args.workdir))
    print("workdir: %s" % workdir, flush=True)
    t0 = time.monotonic()
    results = []
    relay = None

    class Ctx:
        pass
    ctx = Ctx()
    try:
        try:
            relay = Relay(args.rendezvous, workdir, sip={"users.alice": "alicepw", "users.bob": "bobpw",
                                                         "auth_register": 1, "auth_invite": 0})
        except TestFailure as e:
            print(str(e))
            print("FAIL %s: setup: %s [logs in %s]" % (TEST_NAME, str(e).splitlines()[0], workdir))
            return 1
        ctx.relay = relay
        ctx.sip_port = relay.sip_port
        ctx.server_log = lambda: tail(relay.procs.log_of("rendezvous"), 12)
        only = set(filter(None, args.only.split(",")))
        cases = [(n, functools.partial(run_udp_case, tmpl=t, codes=c, drop_ok=d, extra=x))
                 for n, t, c, d, x in UDP_CASES] + TCP_CASES + [("still_alive", still_alive)]
        for name, fn in cases:
            if only and name not in only and name != "still_alive":
                continue
            t = time.monotonic()
            try:
                note = fn(ctx)
                results.append((name, True))
                print("PASS %s (%.2fs): %s" % (name, time.monotonic() - t, note), flush=True)
            except TestFailure as e:
                results.append((name, False))
                print("FAIL %s: %s" % (name, e), flush=True)
            except Exception as e:
                results.append((name, False))
                traceback.print_exc()
                print("FAIL %s: harness error %s: %s" % (name, type(e).__name__, e), flush=True)
            if not relay.alive():
                print("rendezvous exited (code %s) after %s\n%s" % (relay.proc.returncode, name, ctx.server_log()))
                results.append(("rendezvous_alive", False))
                break
    finally:
        if relay is not None:
            stopped = relay.stop()
            if stopped:
                print("FAIL rendezvous: %s" % stopped, flush=True)
                results.append(("rendezvous_exit", False))
    failed = [n for n, ok in results if not ok]
    if failed:
        print("FAIL %s (%.1fs): %d passed, %d failed (%s) [logs in %s]"
              % (TEST_NAME, time.monotonic() - t0, len(results) - len(failed), len(failed), ", ".join(failed), workdir))
        return 1
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print("PASS %s (%.1fs): %d cases" % (TEST_NAME, time.monotonic() - t0, len(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
