#!/usr/bin/env python3
"""Integration test: TCP media m-lines (TCP/MSRP) anchored on the TCP relay from SDP, by NG and
by the B2BUA, in a real rendezvous process. Peers are plain TCP sockets on loopback.

  ng          an NG offer with an audio and a TCP/MSRP m-line, then its answer: each rewritten
              MSRP line names a port of the TCP relay's range on the relay's address,
              a=setup:passive, a=connection:new, a=path rewritten to that host:port (session-id
              kept), a=fingerprint untouched; the caller connects to the port in the answer, the
              callee to the one in the offer; 1 GiB each way (random, varied chunks, sent
              concurrently, the callee's reader deliberately slow): SHA-256 equal both ways, both
              FINs passed on, the pair ends "closed" with 1 GiB counted each way, rendezvous's
              RSS (sampled every 50 ms) grows < 32 MiB; rdv_tcp_relay_pairs_created_total
              {source="ng"} is 1
  half_close  another NG call: the caller shuts down its sending side, the callee reads EOF and
              still sends back; then the callee's FIN reaches the caller and the pair is "closed"
  reset       another NG call: the caller resets its connection, the callee gets a reset, the pair
              ends "reset"
  delete      another NG call: NG delete closes both connections
  restricted  an NG offer and answer each with received-from: the caller's side accepts only the
              offer's source, the callee's side only the answer's (tcp_relay.restrict_sdp_source,
              default 1); a connection from the other party's address is reset (wrong_source)
  sip         a call through the B2BUA (open registrar, Python caller and callee): the INVITE's SDP
              reaches the callee with the MSRP line on the relay (with a=msrp-cema: a=path left
              alone), the 200's SDP reaches the caller the same way; each side of the pair is
              restricted to its party's address (the INVITE's source, the callee's registered
              flow); 4 MiB each way byte-identical; {source="sdp"} is 1; the caller's BYE ends
              the pair

Each case prints PASS / FAIL; the last line is the verdict (exit 1 on any FAIL, or when
rendezvous did not exit 0 on SIGTERM).
Usage: tcp_sdp_test.py --rendezvous PATH --workdir DIR
"""

import hashlib
import json
import os
import re
import socket
import sys
import threading
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "sip"))
from rdvtest import Relay, TestFailure, check, free_block, metric, proc_rss_kib, test_args, wait_until  # noqa: E402
from tcpstream import GIB, bulk_both_ways, expect_reset, reset  # noqa: E402
import siptest  # noqa: E402
import calls_dialogs  # noqa: E402

IO_TIMEOUT = 10.0
SIZE = 4 << 20


def sdp(port, session, cema=False):
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            "m=message %d TCP/MSRP *\r\na=setup:actpass\r\na=fingerprint:SHA-256 AB:CD:EF\r\n"
            "a=accept-types:message/cpim text/plain\r\na=path:msrp://127.0.0.1:%d/%s;tcp\r\n%s"
            % (port + 2, port, port, session, "a=msrp-cema\r\n" if cema else ""))


def msrp_line(x, text, session, cema=False):
    """(port) of the rewritten TCP/MSRP section of `text`, after checking its lines."""
    if isinstance(text, bytes):
        text = text.decode()
    section = text[text.index("m=message"):]
    m = re.match(r"m=message (\d+) TCP/MSRP \*", section)
    check(m is not None, "no rewritten m=message line:\n" + text)
    port = int(m.group(1))
    check(x.tcp_min <= port <= x.tcp_max, "MSRP port %d outside the TCP relay range:\n%s" % (port, text))
    for want in ("c=IN IP4 127.0.0.1", "a=setup:passive", "a=connection:new", "a=fingerprint:SHA-256 AB:CD:EF"):
        check(want in section, "%r missing from the MSRP section:\n%s" % (want, section))
    path = re.search(r"a=path:(\S+)", section).group(1)
    if cema:
        check(path.endswith("/%s;tcp" % session) and ":%d/" % port not in path, "CEMA path changed: " + path)
    else:
        check(path == "msrp://127.0.0.1:%d/%s;tcp" % (port, session), "path not rewritten: " + path)
    return port


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    s.settimeout(IO_TIMEOUT)
    return s


def exchange(a, b, size=SIZE):
    """`size` random bytes each way at once; SHA-256 of what each side got equals what was sent."""
    data = {0: os.urandom(size), 1: os.urandom(size)}
    got = {0: hashlib.sha256(), 1: hashlib.sha256()}
    errors = []

    def send(sock, i):
        try:
            sock.sendall(data[i])
        except OSError as e:
            errors.append("send %d: %s" % (i, e))

    def recv(sock, i):
        n = 0
        try:
            while n < size:
                chunk = sock.recv(min(65536, size - n))
                if not chunk:
                    break
                got[i].update(chunk)
                n += len(chunk)
        except OSError as e:
            errors.append("recv %d: %s" % (i, e))
        if n != size:
            errors.append("side %d received %d of %d bytes" % (i, n, size))

    threads = [threading.Thread(target=send, args=(a, 0)), threading.Thread(target=send, args=(b, 1)),
               threading.Thread(target=recv, args=(b, 0)), threading.Thread(target=recv, args=(a, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not any(t.is_alive() for t in threads), "transfer did not finish within 60 s")
    check(not errors, "; ".join(errors))
    for i in (0, 1):
        check(got[i].hexdigest() == hashlib.sha256(data[i]).hexdigest(), "SHA-256 mismatch, direction %d" % i)


def closed_by_relay(sock, what):
    try:
        data = sock.recv(16)
        check(data == b"", "%s: expected the relay to close, got %r" % (what, data))
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        raise TestFailure("%s: still open %.0f s after the call ended" % (what, IO_TIMEOUT))


def created(x, source):
    return metric(x.relay.metrics(), "rdv_tcp_relay_pairs_created_total", {"source": source}) or 0


def pair_of(x, port):
    """The API's view of the TCP relay pair whose side a (the caller's) listens on `port`."""
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/tcp-relays" % x.relay.api_port, timeout=IO_TIMEOUT) as r:
        for p in json.loads(r.read())["tcp_relays"]:
            if p["a"]["port"] == port:
                return p
    raise TestFailure("no TCP relay pair with side a on port %d" % port)


def wait_state(x, port, state):
    wait_until("pair on port %d %s" % (port, state), lambda: pair_of(x, port)["state"] == state, IO_TIMEOUT)


def ng_call(x, call_id, caller=4000, callee=4100, caller_opts=None, callee_opts=None):
    """NG offer and answer with a TCP/MSRP line each; returns (port for the caller, port for the
    callee), both checked."""
    args = {"call-id": call_id, "from-tag": "ta", "sdp": sdp(caller, "s111")}
    r = x.relay.ng("offer", **dict(args, **(caller_opts or {})))
    check(r.get("result") == b"ok", "offer: %r" % r)
    to_callee = msrp_line(x, r["sdp"], "s111")
    r = x.relay.ng("answer", **dict(args, **{"to-tag": "tb", "sdp": sdp(callee, "s222")}, **(callee_opts or {})))
    check(r.get("result") == b"ok", "answer: %r" % r)
    to_caller = msrp_line(x, r["sdp"], "s222")
    check(to_caller != to_callee, "both sides got port %d" % to_caller)
    return to_caller, to_callee


def ng_delete(x, call_id):
    r = x.relay.ng("delete", **{"call-id": call_id, "from-tag": "ta"})
    check(r.get("result") == b"ok", "delete: %r" % r)


def case_ng(x):
    to_caller, to_callee = ng_call(x, "ng-msrp-1")
    a, b = connect(to_caller), connect(to_callee)
    base = proc_rss_kib(x.relay.proc.pid)
    growth = bulk_both_ways(a, b, GIB, x.relay.proc.pid)
    a.close()
    b.close()
    wait_state(x, to_caller, "closed")
    st = pair_of(x, to_caller)
    check(st["bytes"] == {"a_to_b": GIB, "b_to_a": GIB}, "bytes %r" % st["bytes"])
    check(st["a"]["eof"] and st["b"]["eof"], "FINs not recorded: %r" % st)
    check(created(x, "ng") == 1, "rdv_tcp_relay_pairs_created_total{source=ng} is %r" % created(x, "ng"))
    check(growth < 32 * 1024, "RSS grew by %d KiB while relaying" % growth)
    ng_delete(x, "ng-msrp-1")
    return ("offer/answer ports %d/%d, 1 GiB each way with a slow reader, SHA-256 equal, "
            "RSS %d KiB, peak +%d KiB" % (to_caller, to_callee, base, growth))


def case_half_close(x):
    to_caller, to_callee = ng_call(x, "ng-msrp-half")
    a, b = connect(to_caller), connect(to_callee)
    exchange(a, b, 1 << 16)
    a.shutdown(socket.SHUT_WR)
    check(b.recv(16) == b"", "the callee did not see the caller's FIN")
    b.sendall(b"still here")
    check(a.recv(16) == b"still here", "callee -> caller stopped after the caller's FIN")
    st = pair_of(x, to_caller)
    check(st["state"] == "connected" and st["a"]["eof"] and not st["b"]["eof"], "state %r" % st)
    b.shutdown(socket.SHUT_WR)
    check(a.recv(16) == b"", "the caller did not see the callee's FIN")
    wait_state(x, to_caller, "closed")
    a.close()
    b.close()
    ng_delete(x, "ng-msrp-half")
    return "FIN passed on each way, the other direction kept flowing, pair closed"


def case_reset(x):
    to_caller, to_callee = ng_call(x, "ng-msrp-reset")
    a, b = connect(to_caller), connect(to_callee)
    exchange(a, b, 1 << 16)
    reset(a)
    expect_reset(b, "the callee after the caller's reset")
    wait_state(x, to_caller, "reset")
    b.close()
    ng_delete(x, "ng-msrp-reset")
    return "the caller's RST reached the callee, pair reset"


def case_delete(x):
    to_caller, to_callee = ng_call(x, "ng-msrp-delete")
    a, b = connect(to_caller), connect(to_callee)
    exchange(a, b, 1 << 16)
    ng_delete(x, "ng-msrp-delete")
    closed_by_relay(a, "caller's connection")
    closed_by_relay(b, "callee's connection")
    a.close()
    b.close()
    return "NG delete closed both connections"


def connect_from(port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(IO_TIMEOUT)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def case_restricted(x):
    caller_from, callee_from = {"received-from": ["IP4", "127.0.0.2"]}, {"received-from": ["IP4", "127.0.0.3"]}
    to_caller, to_callee = ng_call(x, "ng-msrp-restricted", caller_opts=caller_from, callee_opts=callee_from)
    st = pair_of(x, to_caller)
    check(st["a"]["allowed"] == "127.0.0.2" and st["b"]["allowed"] == "127.0.0.3",
          "allowed a %r, b %r" % (st["a"]["allowed"], st["b"]["allowed"]))
    refused = lambda: metric(x.relay.metrics(), "rdv_tcp_relay_refused_total", {"reason": "wrong_source"}) or 0  # noqa: E731
    before = refused()
    for port, src in ((to_callee, "127.0.0.2"), (to_caller, "127.0.0.3")):
        try:  # on loopback the relay's RST may already beat connect() back to us
            wrong = connect_from(port, src)
            expect_reset(wrong, "%s connecting to port %d" % (src, port))
            wrong.close()
        except ConnectionResetError:
            pass
    check(refused() - before == 2, "wrong_source counted %d times, expected 2" % (refused() - before))
    a, b = connect_from(to_caller, "127.0.0.2"), connect_from(to_callee, "127.0.0.3")
    exchange(a, b, 1 << 16)
    a.close()
    b.close()
    ng_delete(x, "ng-msrp-restricted")
    return "offerer's side only from 127.0.0.2, answerer's only from 127.0.0.3 (received-from): others reset"


def expect(party, what, pred, timeout=5.0):
    return calls_dialogs.expect(party, what, pred, timeout)


def case_sip(x):
    port = x.relay.sip_port
    bob = siptest.UdpSip(port)
    alice = siptest.UdpSip(port)
    try:
        r = bob.transaction(siptest.build_request(
            "REGISTER", "sip:127.0.0.1:%d" % port, bob.port, call_id="tcpsdp-reg@127.0.0.1",
            from_uri="sip:bob@127.0.0.1", to_uri="sip:bob@127.0.0.1",
            extra=["Contact: <sip:bob@127.0.0.1:%d>" % bob.port, "Expires: 300"]))
        check(r is not None and r.status == 200, "REGISTER bob: %s" % (r.start if r else "nothing"))
        call_id, a_tag, b_tag = "tcpsdp-%s@127.0.0.1" % siptest.rand_hex(), siptest.rand_hex(), siptest.rand_hex()
        alice.send(siptest.build_request(
            "INVITE", "sip:bob@127.0.0.1:%d" % port, alice.port, call_id=call_id, from_uri="sip:alice@127.0.0.1",
            from_tag=a_tag, body=sdp(4000, "a1", cema=True), content_type="application/sdp",
            extra=["Contact: <sip:alice@127.0.0.1:%d>" % alice.port]))
        inv = expect(bob, "INVITE at bob", lambda m: m.method == "INVITE")
        to_bob = msrp_line(x, inv.body, "a1", cema=True)
        bob.send(siptest.build_response(inv, 200, "OK", b_tag, extra=["Contact: <sip:bob@127.0.0.1:%d>" % bob.port],
                                        body=sdp(4100, "b2"), content_type="application/sdp"))
        ok = expect(alice, "200 at alice", lambda m: m.is_response and m.cseq()[1] == "INVITE" and m.status >= 200)
        check(ok.status == 200, "alice got %s" % ok.start)
        to_alice = msrp_line(x, ok.body, "b2")
        target = siptest.uri_of(ok.get("contact"))

        def in_dialog(method, cseq):
            return siptest.build_request(method, target, alice.port, call_id=call_id, cseq=cseq,
                                         from_uri="sip:alice@127.0.0.1", from_tag=a_tag, to_value=ok.get("to"))
        alice.send(in_dialog("ACK", 1))
        expect(bob, "ACK at bob", lambda m: m.method == "ACK")
        st = pair_of(x, to_alice)
        check(st["a"]["allowed"] == "127.0.0.1" and st["b"]["allowed"] == "127.0.0.1",
              "the INVITE's source and the callee's flow restrict the pair: %r" % st)
        a, b = connect(to_alice), connect(to_bob)
        exchange(a, b)
        check(created(x, "sdp") == 1, "rdv_tcp_relay_pairs_created_total{source=sdp} is %r" % created(x, "sdp"))
        alice.send(in_dialog("BYE", 2))
        bye = expect(bob, "BYE at bob", lambda m: m.method == "BYE")
        bob.send(siptest.build_response(bye, 200, "OK"))
        expect(alice, "200 to the BYE", lambda m: m.is_response and m.cseq()[1] == "BYE")
        closed_by_relay(a, "alice's connection")
        closed_by_relay(b, "bob's connection")
        a.close()
        b.close()
        return "call: ports %d/%d, 2 x %d MiB byte-identical, BYE closed both" % (to_alice, to_bob, SIZE >> 20)
    finally:
        alice.close()
        bob.close()


CASES = [case_ng, case_half_close, case_reset, case_delete, case_restricted, case_sip]


def main():
    args = test_args(__doc__)

    class X:
        pass
    x = X()
    x.tcp_min = free_block()
    x.tcp_max = x.tcp_min + 99
    failed = []
    try:
        x.relay = Relay(os.path.abspath(args.rendezvous), args.workdir, log_level="info",
                        sip={"auth_register": 0, "auth_invite": 0},
                        extra=["--set", "tcp_relay.port_min=%d" % x.tcp_min,
                               "--set", "tcp_relay.port_max=%d" % x.tcp_max])
    except TestFailure as e:
        print("FAIL start: %s" % e)
        return 1
    for case in CASES:
        name = case.__name__[5:]
        try:
            print("PASS %s: %s" % (name, case(x)))
        except Exception as e:  # noqa: BLE001 - a case's failure must not hide the others
            failed.append(name)
            print("FAIL %s: %s" % (name, e))
            traceback.print_exc()
        sys.stdout.flush()
    problem = x.relay.stop()
    if problem:
        failed.append("shutdown")
        print("FAIL shutdown: %s" % problem)
    print("%s tcp_sdp (%d/%d cases passed)" % ("FAIL" if failed else "PASS", len([c for c in CASES if c.__name__[5:] not in failed]), len(CASES)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
