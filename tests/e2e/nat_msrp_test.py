#!/usr/bin/env python3
"""End-to-end test: a file sent over a TCP/MSRP m-line between two SIP parties behind NATs, the
TCP stream anchored by Rendezvous's B2BUA on its TCP relay.

Topology: nat_call_test.py's (alice behind router A, a port-preserving MASQUERADE; bob behind
router B, MASQUERADE --random-fully; Rendezvous on 198.18.0.1 in the public namespace, which has
no route to either LAN). Neither party can reach the other's TCP port.

The parties are this script run inside their namespaces (`--party alice|bob`), a small SIP UA
over UDP: bob registers (open registrar); alice INVITEs sip:bob@198.18.0.1 with an audio and a
TCP/MSRP m-line (a=setup:actpass, a=path with its LAN address); bob answers 200 with the same
kind of SDP; alice ACKs. Each then connects out to the relay's address and the port its own
received SDP names (a=setup:passive, a=path rewritten to the relay), alice sends a file of
FILE_MIB MiB as MSRP SEND chunks of 64 KiB and bob sends the same size back as plain bytes
(both at once); each side prints the SHA-256 of what it sent and received. The test requires
equal digests both ways, that the SDP each side got names the relay (not the other's LAN),
rdv_tcp_relay_pairs_created_total{source="sdp"} 1, that alice's BYE closes the pair
(rdv_tcp_relay_pairs 0), and Rendezvous alive to the end and exiting 0 on SIGTERM.

Exit codes: 0 pass, 1 fail, 77 skipped (not root).
Usage: nat_msrp_test.py --rendezvous PATH --workdir DIR [--prefix rdvmsrp]
"""

import hashlib
import os
import re
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "integration", "sip"))
import nat_call_test as nat  # noqa: E402
from rdvtest import Procs, TestFailure, metric, stop_server, wait_until  # noqa: E402

FILE_MIB = 4
TCP_PORTS = (31000, 31099)
SIP = (nat.PUB_IP, nat.SIP_PORT)
IO_TIMEOUT = 20.0


# ---------------------------------------------------------------- the parties (inside namespaces)

def party_sdp(ip, session):
    return ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            "m=message 2855 TCP/MSRP *\r\na=setup:actpass\r\na=accept-types:message/cpim\r\n"
            "a=path:msrp://%s:2855/%s;tcp\r\n" % (ip, ip, ip, session))


def relay_target(body):
    """(ip, port, path) the received SDP's MSRP line points at."""
    text = body.decode() if isinstance(body, bytes) else body
    sec = text[text.index("m=message"):]
    port = int(re.match(r"m=message (\d+) ", sec).group(1))
    ip = re.search(r"c=IN IP4 (\S+)", sec).group(1)
    path = re.search(r"a=path:(\S+)", sec).group(1)
    if "a=setup:passive" not in sec:
        raise TestFailure("MSRP line without a=setup:passive:\n" + sec)
    return ip, port, path


class Ua:
    def __init__(self, ip):
        import siptest
        self.st = siptest
        self.ip = ip
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.port = self.sock.getsockname()[1]

    def send(self, data):
        self.sock.sendto(data, SIP)

    def expect(self, pred, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                break
            m = self.st.parse_message(data)
            if m is not None and pred(m):
                return m
        raise TestFailure("%s: no %s" % (self.ip, what))


def transfer(ip, port, session, sender):
    """Connects out to the relay, sends FILE_MIB MiB (MSRP SEND chunks or plain), receives the
    same amount; returns (sha sent, sha received)."""
    s = socket.create_connection((ip, port), timeout=IO_TIMEOUT)
    size = FILE_MIB << 20
    data = os.urandom(size)
    if sender:  # MSRP SEND chunks (RFC 4975 §7.1.1), 64 KiB of content each
        out = bytearray()
        for i, off in enumerate(range(0, size, 65536)):
            chunk = data[off:off + 65536]
            tid = "t%06d" % i
            out += ("MSRP %s SEND\r\nTo-Path: msrp://peer/%s;tcp\r\nMessage-ID: m1\r\nByte-Range: %d-%d/%d\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n" % (tid, session, off + 1, off + len(chunk),
                                                                       size)).encode()
            out += chunk + ("\r\n-------%s%s\r\n" % (tid, "$" if off + len(chunk) == size else "+")).encode()
        data = bytes(out)
    sent = hashlib.sha256(data).hexdigest()
    t = threading.Thread(target=s.sendall, args=(data,), daemon=True)
    t.start()
    return s, t, sent, len(data)


DONE = b"DONE\r\n"  # bob's receipt after alice's whole stream, before she hangs up


def receive(s, n):
    h, got = hashlib.sha256(), 0
    while got < n:
        b = s.recv(min(1 << 16, n - got))
        if not b:
            break
        h.update(b)
        got += len(b)
    return h.hexdigest(), got


def party_main(who):
    """Runs inside the namespace of `who`; prints 'RESULT key=value ...' lines."""
    st = __import__("siptest")
    ip = nat.ALICE_IP if who == "alice" else nat.BOB_IP
    ua = Ua(ip)
    uri = "sip:%s@%s" % (who, nat.PUB_IP)
    if who == "bob":
        ua.send(st.build_request("REGISTER", "sip:%s" % nat.PUB_IP, ua.port, call_id="reg-bob@x", from_uri=uri,
                                 to_uri=uri, extra=["Contact: <sip:bob@%s:%d>" % (ip, ua.port), "Expires: 300"]))
        r = ua.expect(lambda m: m.is_response and m.cseq()[1] == "REGISTER", "200 to REGISTER")
        print("REGISTERED %d" % r.status, flush=True)
        inv = ua.expect(lambda m: m.method == "INVITE", "INVITE", timeout=30)
        rip, rport, path = relay_target(inv.body)
        ua.send(st.build_response(inv, 200, "OK", "bobtag", extra=["Contact: <sip:bob@%s:%d>" % (ip, ua.port)],
                                  body=party_sdp(ip, "bob1"), content_type="application/sdp"))
        ua.expect(lambda m: m.method == "ACK", "ACK")
        s, t, sent, n = transfer(rip, rport, "bob1", sender=False)
        expected = int(sys.argv[3])  # what alice puts on the wire: the MSRP framing included
        got_sha, got = receive(s, expected)
        t.join(IO_TIMEOUT)
        # What MSRP's 200 responses to the SENDs do: tell alice everything arrived, so her BYE
        # (which releases the relay's TCP pair) cannot cut off bytes still in flight to bob.
        s.sendall(DONE)
        print("RESULT who=bob sdp=%s:%d path=%s sent=%s sent_n=%d got=%s got_n=%d" % (
            rip, rport, path, sent, n, got_sha, got), flush=True)
        bye = ua.expect(lambda m: m.method == "BYE", "BYE", timeout=30)
        ua.send(st.build_response(bye, 200, "OK"))
        return 0
    call_id = "msrp-call@x"
    ua.send(st.build_request("INVITE", "sip:bob@%s" % nat.PUB_IP, ua.port, call_id=call_id, from_uri=uri,
                             from_tag="alicetag", body=party_sdp(ip, "alice1"), content_type="application/sdp",
                             extra=["Contact: <sip:alice@%s:%d>" % (ip, ua.port)]))
    ok = ua.expect(lambda m: m.is_response and m.cseq()[1] == "INVITE" and m.status >= 200, "final response")
    if ok.status != 200:
        raise TestFailure("INVITE got %s" % ok.start)
    rip, rport, path = relay_target(ok.body)
    target = st.uri_of(ok.get("contact"))

    def req(method, cseq):
        return st.build_request(method, target, ua.port, call_id=call_id, cseq=cseq, from_uri=uri,
                                from_tag="alicetag", to_value=ok.get("to"))
    ua.send(req("ACK", 1))
    s, t, sent, n = transfer(rip, rport, "alice1", sender=True)
    print("SENDING %d" % n, flush=True)
    got_sha, got = receive(s, FILE_MIB << 20)
    t.join(IO_TIMEOUT)
    s.settimeout(IO_TIMEOUT)
    done = b""
    while len(done) < len(DONE):  # bob's receipt (bounded by the socket timeout)
        b = s.recv(len(DONE) - len(done))
        if not b:
            break
        done += b
    if done != DONE:
        raise TestFailure("alice: bob's receipt did not come after the transfer: %r" % done)
    print("RESULT who=alice sdp=%s:%d path=%s sent=%s sent_n=%d got=%s got_n=%d" % (
        rip, rport, path, sent, n, got_sha, got), flush=True)
    ua.send(req("BYE", 2))
    ua.expect(lambda m: m.is_response and m.cseq()[1] == "BYE", "200 to BYE")
    try:
        s.settimeout(IO_TIMEOUT)
        print("CLOSED %r" % s.recv(16), flush=True)
    except OSError as e:
        print("CLOSED %s" % type(e).__name__, flush=True)
    return 0


# ---------------------------------------------------------------- the test

def msrp_wire_size():
    size = FILE_MIB << 20
    n = 0
    for i, off in enumerate(range(0, size, 65536)):
        clen = min(65536, size - off)
        tid = "t%06d" % i
        n += len(("MSRP %s SEND\r\nTo-Path: msrp://peer/%s;tcp\r\nMessage-ID: m1\r\nByte-Range: %d-%d/%d\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n" % (tid, "alice1", off + 1, off + clen, size)).encode())
        n += clen + len(("\r\n-------%s%s\r\n" % (tid, "$" if off + clen == size else "+")).encode())
    return n


def results(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("RESULT "):
            kv = dict(f.split("=", 1) for f in line.split()[1:])
            out[kv["who"]] = kv
    return out


def body(topo, workdir, binary):
    topo.build()
    procs = Procs(workdir)
    pub = topo.ns["pub"]
    argv = ["ip", "netns", "exec", pub, os.path.abspath(binary),
            "--set", "sip.listen=%s:%d" % SIP, "--set", "sip.auth_register=0", "--set", "sip.auth_invite=0",
            "--set", "relay.interface=%s" % nat.PUB_IP,
            "--set", "relay.port_min=%d" % nat.RELAY_PORTS[0], "--set", "relay.port_max=%d" % nat.RELAY_PORTS[1],
            "--set", "tcp_relay.port_min=%d" % TCP_PORTS[0], "--set", "tcp_relay.port_max=%d" % TCP_PORTS[1],
            "--set", "ng.listen=127.0.0.1:22222", "--set", "metrics.listen=127.0.0.1:%d" % nat.METRICS_PORT,
            "--set", "log.level=debug"]
    rdv = procs.start("rendezvous", argv)
    rlog = procs.log_of("rendezvous")
    try:
        wait_until("rendezvous SIP socket", lambda: ("%s:%d" % SIP) in nat.nsexec(pub, ["ss", "-Hlun"]), 15,
                   proc=rdv, proc_name="rendezvous", log=rlog)
        me = os.path.abspath(__file__)
        bob = procs.start("bob", ["ip", "netns", "exec", topo.ns["bob"], sys.executable, me, "--party", "bob",
                                  str(msrp_wire_size())])
        wait_until("bob registered", lambda: "REGISTERED 200" in open(procs.log_of("bob")).read(), 15,
                   proc=bob, proc_name="bob", log=procs.log_of("bob"))
        alice = procs.start("alice", ["ip", "netns", "exec", topo.ns["alice"], sys.executable, me, "--party", "alice"])
        for p, name in ((alice, "alice"), (bob, "bob")):
            try:
                p.wait(90)
            except Exception:  # noqa: BLE001
                raise TestFailure("%s did not finish within 90 s:\n%s" % (name, nat.tail(procs.log_of(name))))
            if p.returncode != 0:
                raise TestFailure("%s exited %d:\n%s" % (name, p.returncode, nat.tail(procs.log_of(name))))
        res = {}
        for name in ("alice", "bob"):
            res.update(results(open(procs.log_of(name)).read()))
        if set(res) != {"alice", "bob"}:
            raise TestFailure("missing results: %r" % res)
        a, b = res["alice"], res["bob"]
        for who, r in res.items():
            if not r["sdp"].startswith(nat.PUB_IP + ":"):
                raise TestFailure("%s was sent to %s, not the relay" % (who, r["sdp"]))
        if not a["path"].startswith("msrp://%s:" % nat.PUB_IP) or not a["path"].endswith("/bob1;tcp"):
            raise TestFailure("alice's a=path %s" % a["path"])
        if a["sent"] != b["got"] or a["sent_n"] != b["got_n"]:
            raise TestFailure("alice -> bob: sent %s (%s B), bob got %s (%s B)" % (a["sent"], a["sent_n"], b["got"],
                                                                                 b["got_n"]))
        if b["sent"] != a["got"] or b["sent_n"] != a["got_n"]:
            raise TestFailure("bob -> alice: sent %s (%s B), alice got %s (%s B)" % (b["sent"], b["sent_n"],
                                                                                   a["got"], a["got_n"]))
        if "CLOSED b''" not in open(procs.log_of("alice")).read() and "CLOSED Connection" not in open(
                procs.log_of("alice")).read():
            raise TestFailure("the BYE did not close alice's connection:\n" + nat.tail(procs.log_of("alice")))
        text = nat.ns_http(pub, "http://127.0.0.1:%d/metrics" % nat.METRICS_PORT)
        created = metric(text, "rdv_tcp_relay_pairs_created_total", {"source": "sdp"})
        if created != 1:
            raise TestFailure("rdv_tcp_relay_pairs_created_total{source=sdp} = %r" % created)
        live = metric(text, "rdv_tcp_relay_pairs")
        if live != 0:
            raise TestFailure("rdv_tcp_relay_pairs = %r after the BYE" % live)
        problem = stop_server(rdv, "rendezvous", rlog)
        if problem:
            raise TestFailure(problem)
        return "alice %s <-> bob %s via %s and %s, %d MiB each way byte-identical (MSRP SEND chunks / plain)" % (
            nat.ALICE_IP, nat.BOB_IP, a["sdp"], b["sdp"], FILE_MIB)
    finally:
        procs.stop_all()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--party":
        try:
            return party_main(sys.argv[2])
        except TestFailure as e:
            print("FAIL %s" % e, flush=True)
            return 1
    args = nat.lab_args("nat_msrp", "rdvmsrp")
    if args is None:
        return 77
    return nat.run_in_topology("nat_msrp", args.prefix, args.workdir,
                               lambda topo, tones: body(topo, args.workdir, args.rendezvous))


if __name__ == "__main__":
    sys.exit(main())
