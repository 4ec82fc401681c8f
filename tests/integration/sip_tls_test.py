#!/usr/bin/env python3
"""Integration test: SIP over TLS (RFC 3261 section 26.2) on sip.tls_listen.

A self-signed certificate is made with the openssl CLI in the work directory; Rendezvous runs
with SIP on UDP+TCP and TLS, without digest authentication. Each case prints PASS / FAIL; the
last line is the verdict (exit 1 on any FAIL, or when rendezvous died during the test or did not
exit 0 on SIGTERM). No case is ever skipped.

  tls_version       the handshake verifies against the generated certificate, TLS 1.2 or newer;
                    a client limited to TLS 1.2 is accepted with TLS 1.2
  tls_1_1_refused   a client limited to TLS 1.1 (ciphers at @SECLEVEL=0, so OpenSSL 3 offers it)
                    first completes a TLS 1.1 handshake with a local reference server that allows
                    it (proof that it really offers TLS 1.1; if it cannot, the case FAILS), then is
                    refused by Rendezvous with a protocol_version alert; the server logs the
                    failed handshake for that connection and counts it
  options_tls       OPTIONS over TLS -> 200, our Via echoed
  register_tls      REGISTER bob over TLS (Contact ;transport=tls naming a port where the harness
                    listens for TLS) -> 200 with that Contact
  call_tcp_to_tls   a plain-TCP caller INVITEs bob: bob's TLS connection gets the INVITE with
                    Via SIP/2.0/TLS and Contact ;transport=tls at the TLS port, SDP at the relay
                    (c=127.0.0.1, m= in the relay's range); bob's 200 reaches the caller with
                    relay SDP; bob gets the ACK; the caller's BYE reaches bob over TLS and both
                    BYEs are answered 200
  garbage_closed    plaintext bytes on the TLS port: the server closes the connection and counts
                    rdv_sip_tls_handshake_failures_total
  closed_reconnects bob's TLS connection closes: a binding query (REGISTER without Contact) still
                    lists his TLS contact; a call to bob makes the server open a new TLS connection
                    to that Contact (bob's listener accepts it, the handshake completes against
                    the harness certificate), bob's 486 reaches the caller and bob gets the ACK on
                    it; rdv_sip_outbound_connections_total +1. With bob's listener closed too, a
                    call gets 480 and rdv_sip_outbound_connection_failures_total +1
  silent_closed     a client that never starts the handshake is closed within the time limit,
                    logged as a failed handshake
  cert_reload       (the server runs with a --config file) the certificate and key files are
                    replaced on disk by a new self-signed pair under the same names (a renewal);
                    after SIGHUP a new TLS connection is served the new certificate (its SHA-256
                    fingerprint) and verifies against it, while a connection opened before still
                    gets 200 to OPTIONS. Then the key file alone is replaced by a key that does not
                    match: POST /api/v1/reload answers 200 with "tls_certificate" naming the key
                    file, and new connections still get the renewed certificate
  alive             the server still answers OPTIONS over TLS and UDP

Usage: sip_tls_test.py --rendezvous PATH --workdir DIR
"""

import argparse
import hashlib
import json
import os
import random
import re
import socket
import ssl
import signal
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rdvtest import Relay, TestFailure, make_cert, metric, sip_options_ok, tcp_port_free, udp_port_free, wait_until  # noqa: E402

TEST_NAME = "integration.sip_tls"
IO_TIMEOUT = 5.0


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def rand_hex(n=8):
    return "%0*x" % (n, random.getrandbits(4 * n))


# ---------------------------------------------------------------- SIP over a stream

class Msg:
    def __init__(self, start, headers, body):
        self.start = start
        self.headers = headers  # [(lower-case name, value)]
        self.body = body

    @property
    def status(self):
        m = re.match(r"^SIP/2\.0 (\d{3})", self.start)
        return int(m.group(1)) if m else None

    @property
    def method(self):
        return None if self.start.startswith("SIP/2.0 ") else self.start.split(" ", 1)[0]

    @property
    def uri(self):
        return self.start.split(" ")[1]

    def get(self, name):
        for n, v in self.headers:
            if n == name.lower():
                return v
        return ""

    def all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def tag(self, name):
        m = re.search(r";\s*tag=([^;\s>]+)", self.get(name))
        return m.group(1) if m else ""

    def __str__(self):
        return self.start


COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type"}


class Stream:
    """SIP messages over a connected stream socket (TCP or TLS), framed by Content-Length."""

    def __init__(self, sock, name):
        self.sock = sock
        self.name = name
        self.buf = b""

    def send(self, text):
        self.sock.sendall(text.encode() if isinstance(text, str) else text)

    def local(self):
        return self.sock.getsockname()

    def recv(self, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            self.buf = self.buf.lstrip(b"\r\n")  # keep-alive pongs
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buf[:end].decode(errors="replace").split("\r\n")
                headers = []
                for line in head[1:]:
                    if line[:1] in (" ", "\t") and headers:
                        headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
                        continue
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    headers.append((COMPACT.get(name, name), value.strip()))
                length = 0
                for n, v in headers:
                    if n == "content-length":
                        length = int(v)
                if len(self.buf) >= end + 4 + length:
                    body = self.buf[end + 4:end + 4 + length]
                    self.buf = self.buf[end + 4 + length:]
                    return Msg(head[0], headers, body.decode(errors="replace"))
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("%s: no complete SIP message within %.0fs (have %r)"
                                  % (self.name, timeout, self.buf[:200]))
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            if not data:
                raise TestFailure("%s: connection closed by the server" % self.name)
            self.buf += data

    def expect(self, what, pred, timeout=IO_TIMEOUT):
        """The next message satisfying pred; provisional responses and others are skipped."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("%s: no %s; got %s" % (self.name, what, [str(m) for m in seen]))
            try:
                m = self.recv(left)
            except TestFailure:
                raise TestFailure("%s: no %s; got %s" % (self.name, what, [str(m) for m in seen]))
            if pred(m):
                return m
            seen.append(m)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def request(method, uri, transport, local, to, frm, call_id, cseq, contact=None, body="", extra=()):
    lhost, lport = local
    lines = ["%s %s SIP/2.0" % (method, uri),
             "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK-%s;rport" % (transport, lhost, lport, rand_hex()),
             "Max-Forwards: 70", "From: %s" % frm, "To: %s" % to, "Call-ID: %s" % call_id,
             "CSeq: %d %s" % (cseq, method)]
    if contact:
        lines.append("Contact: %s" % contact)
    lines += list(extra)
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append("Content-Length: %d" % len(body.encode()))
    return "\r\n".join(lines) + "\r\n\r\n" + body


def response(req, status, reason, to_tag=None, contact=None, body=""):
    lines = ["SIP/2.0 %d %s" % (status, reason)]
    lines += ["Via: %s" % v for v in req.all("via")]
    to = req.get("to")
    if to_tag and "tag=" not in to:
        to += ";tag=" + to_tag
    lines += ["From: %s" % req.get("from"), "To: %s" % to, "Call-ID: %s" % req.get("call-id"),
              "CSeq: %s" % req.get("cseq")]
    if contact:
        lines.append("Contact: %s" % contact)
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append("Content-Length: %d" % len(body.encode()))
    return "\r\n".join(lines) + "\r\n\r\n" + body


def sdp(port, session):
    return ("v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n"
            % (session, port))


def sdp_target(body):
    c = re.search(r"^c=IN IP4 (\S+)", body, re.M)
    m = re.search(r"^m=audio (\d+) ", body, re.M)
    return (c.group(1) if c else None, int(m.group(1)) if m else None)


def check_relay_sdp(body, relay, who):
    host, port = sdp_target(body)
    check(host == "127.0.0.1", "%s: SDP c= is %r, not the relay's 127.0.0.1:\n%s" % (who, host, body))
    check(port is not None and relay.port_min <= port <= relay.port_max,
          "%s: SDP m= port %s is outside the relay range %d-%d" % (who, port, relay.port_min, relay.port_max))


# ---------------------------------------------------------------- connections

def client_context(cert):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cert)
    # The certificate names 127.0.0.1 in its CN only; IP matching needs a SAN, so the trust anchor
    # (our own self-signed certificate) is what is verified.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def pinned_context(version, server=False, cert=None, key=None):
    """A context that speaks exactly `version`. Ciphers at @SECLEVEL=0: at OpenSSL 3's default
    level 1, TLS 1.1 (SHA-1 signatures) is refused by the library itself, and a client would
    fail on its own side - which must not be mistaken for the server refusing it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    if server:
        ctx.load_cert_chain(cert, key)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the point is an old version
            ctx.minimum_version = version
            ctx.maximum_version = version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as e:
        raise TestFailure("this Python/OpenSSL cannot be limited to %s (%s): the check cannot run" % (version, e))
    return ctx


def reference_handshake(client_ctx, cert, key, version):
    """Handshake of client_ctx with a local Python TLS server that allows exactly `version`
    (the control for a refusal check). Returns the version the client negotiated."""
    server_ctx = pinned_context(version, server=True, cert=cert, key=key)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(IO_TIMEOUT)
    server_error = []

    def serve():
        try:
            conn, _ = listener.accept()
        except OSError as e:
            server_error.append(e)
            return
        conn.settimeout(IO_TIMEOUT)
        try:
            server_ctx.wrap_socket(conn, server_side=True).close()
        except (OSError, ssl.SSLError) as e:
            server_error.append(e)
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    raw = socket.create_connection(listener.getsockname(), timeout=IO_TIMEOUT)
    try:
        s = client_ctx.wrap_socket(raw)
        got = s.version()
        s.close()
    except (OSError, ssl.SSLError) as e:
        raise TestFailure("the %s client cannot complete a handshake with a local server that allows %s "
                          "(client: %s; server: %s): this OpenSSL cannot offer it, the refusal check cannot run"
                          % (version.name, version.name, e, server_error or "-"))
    finally:
        raw.close()
        t.join(IO_TIMEOUT)
        listener.close()
    return got


def served_fingerprint(port):
    """SHA-256 of the certificate (DER) a new TLS connection to `port` is served."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as raw:
        with ctx.wrap_socket(raw) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def file_fingerprint(cert):
    with open(cert) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def api_reload(port):
    """(status, JSON body) of POST /api/v1/reload (no token: the API is loopback-only)."""
    req = urllib.request.Request("http://127.0.0.1:%d/api/v1/reload" % port, data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=IO_TIMEOUT) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def tls_connect(ctx, port, name):
    raw = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    try:
        s = ctx.wrap_socket(raw)
    except Exception:
        raw.close()
        raise
    return Stream(s, name)


def tcp_connect(port, name):
    return Stream(socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT), name)


def pick_port(low=32100, high=32700):
    """A loopback port free on TCP above the range Relay takes its blocks from (< 32000)."""
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(200):
        p = rng.randrange(low, high)
        if tcp_port_free(p) and udp_port_free(p):
            return p
    raise TestFailure("no free loopback port in %d-%d" % (low, high))


def wait_closed(sock, timeout):
    """True if the server closes `sock` (EOF or reset) within timeout; bytes before are ignored."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(4096):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def options_over(stream, port, transport):
    call_id = "opt-%s@127.0.0.1" % rand_hex()
    stream.send(request("OPTIONS", "sip:127.0.0.1:%d" % port, transport, stream.local(),
                        "<sip:127.0.0.1:%d>" % port, "<sip:probe@127.0.0.1>;tag=%s" % rand_hex(),
                        call_id, 1))
    return stream.expect("response to OPTIONS",
                         lambda m: m.status is not None and m.status >= 200 and m.get("call-id") == call_id)


# ---------------------------------------------------------------- the test

class Ctx:
    pass


def handshake_failure_logged(relay, client_port, why=""):
    """The server's log line for a failed TLS handshake of our connection from client_port."""
    return re.search(r"TLS handshake with 127\.0\.0\.1:%d failed: [^\n]*%s" % (client_port, re.escape(why)),
                     relay.log())


def run_case(name, fn, results):
    try:
        fn()
        results.append((name, "PASS", ""))
        print("PASS %s" % name, flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported, the next case runs
        detail = str(e) if isinstance(e, TestFailure) else traceback.format_exc()
        results.append((name, "FAIL", detail))
        print("FAIL %s: %s" % (name, detail), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)

    x = Ctx()
    cert, key = make_cert(args.workdir)
    config = os.path.join(args.workdir, "rdv.toml")
    with open(config, "w") as f:
        f.write("# sip_tls_test: everything comes from --set; the file is there to be reloaded\n")
    x.tls_port = pick_port()
    relay = Relay(args.rendezvous, args.workdir,
                  sip={"auth_register": 0, "auth_invite": 0},
                  extra=["--config", config, "--set", "sip.tls_listen=127.0.0.1:%d" % x.tls_port,
                         "--set", "sip.tls_cert=%s" % cert, "--set", "sip.tls_key=%s" % key])
    x.relay = relay
    x.sip_port = relay.sip_port
    x.ctx = client_context(cert)
    results = []
    log = relay.procs.log_of("rendezvous")
    # Opened first so that its handshake deadline runs out while the other cases run.
    silent = socket.create_connection(("127.0.0.1", x.tls_port), timeout=IO_TIMEOUT)
    silent_since = time.monotonic()
    silent_port = silent.getsockname()[1]
    try:
        def listener_up():
            s = tls_connect(x.ctx, x.tls_port, "probe")
            try:
                return options_over(s, x.tls_port, "TLS").status == 200
            finally:
                s.close()
        wait_until("TLS listener on 127.0.0.1:%d" % x.tls_port, listener_up,
                   10, proc=relay.proc, proc_name="rendezvous", log=log)

        def tls_version():
            s = tls_connect(x.ctx, x.tls_port, "version")
            try:
                v = s.sock.version()
                check(v in ("TLSv1.2", "TLSv1.3"), "negotiated %s" % v)
                check(s.sock.getpeercert() is not None, "no verified peer certificate")
            finally:
                s.close()
            # The lowest version the server must accept (README: TLS 1.2 or newer).
            raw = socket.create_connection(("127.0.0.1", x.tls_port), timeout=IO_TIMEOUT)
            try:
                try:
                    s12 = pinned_context(ssl.TLSVersion.TLSv1_2).wrap_socket(raw)
                except ssl.SSLError as e:
                    raise TestFailure("a client limited to TLS 1.2 was refused: %s" % e)
                check(s12.version() == "TLSv1.2", "a client limited to TLS 1.2 negotiated %s" % s12.version())
                s12.close()
            finally:
                raw.close()

        def tls_1_1_refused():
            old = pinned_context(ssl.TLSVersion.TLSv1_1)
            got = reference_handshake(old, cert, key, ssl.TLSVersion.TLSv1_1)
            check(got == "TLSv1.1", "the TLS 1.1 client negotiated %s with the reference server" % got)
            before = metric(relay.metrics(), "rdv_sip_tls_handshake_failures_total")
            check(before is not None, "rdv_sip_tls_handshake_failures_total is not exported")
            raw = socket.create_connection(("127.0.0.1", x.tls_port), timeout=IO_TIMEOUT)
            port = raw.getsockname()[1]
            try:
                s = old.wrap_socket(raw)
                v = s.version()
                s.close()
                raise TestFailure("Rendezvous accepted a %s handshake" % v)
            except ssl.SSLError as e:
                # RFC 5246 E.1: a server that does not support the client's version answers
                # with a protocol_version alert.
                check(e.reason == "TLSV1_ALERT_PROTOCOL_VERSION",
                      "the TLS 1.1 handshake failed with %s, not the server's protocol_version alert" % e)
            finally:
                raw.close()
            wait_until("the log line for the refused handshake from 127.0.0.1:%d" % port,
                       lambda: handshake_failure_logged(relay, port), 5, proc=relay.proc,
                       proc_name="rendezvous", log=log)
            # A counter: the silent connection may add its own failure, so at least ours.
            wait_until("rdv_sip_tls_handshake_failures_total above %s" % before,
                       lambda: metric(relay.metrics(), "rdv_sip_tls_handshake_failures_total") > before, 5)

        def options_tls():
            s = tls_connect(x.ctx, x.tls_port, "options")
            try:
                r = options_over(s, x.tls_port, "TLS")
                check(r.status == 200, "OPTIONS over TLS got %s" % r)
                check(r.get("via").startswith("SIP/2.0/TLS 127.0.0.1:%d" % s.local()[1]),
                      "Via not echoed: %r" % r.get("via"))
            finally:
                s.close()

        def register_tls():
            x.bob = tls_connect(x.ctx, x.tls_port, "bob(tls)")
            # Where bob takes new connections from the server once his own has closed.
            x.bob_listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            x.bob_listener.bind(("127.0.0.1", 0))
            x.bob_listener.listen(4)
            x.bob_contact = "sip:bob@127.0.0.1:%d;transport=tls" % x.bob_listener.getsockname()[1]
            call_id = "reg-%s@127.0.0.1" % rand_hex()
            x.bob.send(request("REGISTER", "sip:127.0.0.1:%d;transport=tls" % x.tls_port, "TLS", x.bob.local(),
                               "<sip:bob@127.0.0.1>", "<sip:bob@127.0.0.1>;tag=%s" % rand_hex(), call_id, 1,
                               contact="<%s>" % x.bob_contact, extra=["Expires: 300"]))
            r = x.bob.expect("response to REGISTER", lambda m: m.status is not None and m.status >= 200)
            check(r.status == 200, "REGISTER over TLS got %s" % r)
            check(any(x.bob_contact in c for c in r.all("contact")),
                  "200 lists no binding for %s: %s" % (x.bob_contact, r.all("contact")))

        def call_tcp_to_tls():
            check(getattr(x, "bob", None) is not None, "bob is not registered")
            caller = tcp_connect(x.sip_port, "alice(tcp)")
            callee_media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            callee_media.bind(("127.0.0.1", 0))
            caller_media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            caller_media.bind(("127.0.0.1", 0))
            try:
                call_id = "call-%s@127.0.0.1" % rand_hex()
                a_from = "<sip:alice@127.0.0.1>;tag=%s" % rand_hex()
                a_contact = "<sip:alice@127.0.0.1:%d;transport=tcp>" % caller.local()[1]
                caller.send(request("INVITE", "sip:bob@127.0.0.1:%d" % x.sip_port, "TCP", caller.local(),
                                    "<sip:bob@127.0.0.1>", a_from, call_id, 1, contact=a_contact,
                                    body=sdp(caller_media.getsockname()[1], 1)))
                inv = x.bob.expect("INVITE over TLS", lambda m: m.method == "INVITE")
                check(inv.uri == x.bob_contact, "Request-URI %r is not bob's Contact %r" % (inv.uri, x.bob_contact))
                check(inv.get("via").startswith("SIP/2.0/TLS 127.0.0.1:%d;" % x.tls_port),
                      "B2BUA Via towards a TLS peer: %r" % inv.get("via"))
                check(re.search(r"<sip:[^>]*127\.0\.0\.1:%d;transport=tls>" % x.tls_port, inv.get("contact")),
                      "B2BUA Contact towards a TLS peer: %r" % inv.get("contact"))
                check(inv.get("call-id") != call_id, "the b-leg reuses the caller's Call-ID")
                check_relay_sdp(inv.body, relay, "INVITE to bob")
                bob_tag = rand_hex()
                bob_contact = "<%s>" % x.bob_contact
                x.bob.send(response(inv, 180, "Ringing", bob_tag, bob_contact))
                x.bob.send(response(inv, 200, "OK", bob_tag, bob_contact, sdp(callee_media.getsockname()[1], 2)))
                ok = caller.expect("final response to INVITE",
                                   lambda m: m.status is not None and m.status >= 200 and "INVITE" in m.get("cseq"))
                check(ok.status == 200, "caller got %s" % ok)
                check_relay_sdp(ok.body, relay, "200 to the caller")
                ack_b = x.bob.expect("ACK over TLS", lambda m: m.method == "ACK")
                check(ack_b.get("call-id") == inv.get("call-id"), "ACK on another dialog: %s" % ack_b.get("call-id"))
                caller_to = ok.get("to")
                caller.send(request("ACK", "sip:bob@127.0.0.1:%d;transport=tcp" % x.sip_port, "TCP", caller.local(),
                                    caller_to, a_from, call_id, 1))
                # Media: the caller's RTP to the relay address in its 200 reaches bob's SDP port.
                host, port = sdp_target(ok.body)
                rtp = bytes([0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]) + b"\xff" * 160
                got = None
                callee_media.settimeout(0.2)
                for _ in range(15):
                    caller_media.sendto(rtp, (host, port))
                    try:
                        got = callee_media.recvfrom(2048)
                        break
                    except socket.timeout:
                        continue
                check(got is not None, "RTP from the caller did not reach bob through the relay")
                check(relay.port_min <= got[1][1] <= relay.port_max, "bob's RTP came from %s, not the relay" % (got[1],))
                caller.send(request("BYE", "sip:bob@127.0.0.1:%d;transport=tcp" % x.sip_port, "TCP", caller.local(),
                                    caller_to, a_from, call_id, 2))
                bye = x.bob.expect("BYE over TLS", lambda m: m.method == "BYE")
                check(bye.get("call-id") == inv.get("call-id"), "BYE on another dialog")
                check(bye.get("via").startswith("SIP/2.0/TLS "), "BYE Via: %r" % bye.get("via"))
                x.bob.send(response(bye, 200, "OK"))
                r = caller.expect("response to BYE", lambda m: m.status is not None and "BYE" in m.get("cseq"))
                check(r.status == 200, "caller's BYE got %s" % r)
            finally:
                caller.close()
                callee_media.close()
                caller_media.close()

        def garbage_closed():
            before = metric(relay.metrics(), "rdv_sip_tls_handshake_failures_total")
            check(before is not None, "rdv_sip_tls_handshake_failures_total is not exported")
            g = socket.create_connection(("127.0.0.1", x.tls_port), timeout=IO_TIMEOUT)
            port = g.getsockname()[1]
            try:
                g.sendall(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKx\r\n"
                          b"Content-Length: 0\r\n\r\n" + bytes(random.getrandbits(8) for _ in range(300)))
                check(wait_closed(g, 5), "the server kept a non-TLS connection on the TLS port open")
            finally:
                g.close()
            wait_until("the log line for the failed handshake from 127.0.0.1:%d" % port,
                       lambda: handshake_failure_logged(relay, port), 5, proc=relay.proc,
                       proc_name="rendezvous", log=log)
            wait_until("rdv_sip_tls_handshake_failures_total above %s" % before,
                       lambda: metric(relay.metrics(), "rdv_sip_tls_handshake_failures_total") > before, 5)
            check(relay.alive(), "rendezvous exited")

        def bob_bindings(stream):
            """Bob's bindings per a binding query: REGISTER without Contact (RFC 3261 10.2.3)."""
            call_id = "query-%s@127.0.0.1" % rand_hex()
            stream.send(request("REGISTER", "sip:127.0.0.1:%d;transport=tcp" % x.sip_port, "TCP", stream.local(),
                                "<sip:bob@127.0.0.1>", "<sip:bob@127.0.0.1>;tag=%s" % rand_hex(), call_id, 1))
            r = stream.expect("response to the binding query",
                              lambda m: m.status is not None and m.status >= 200 and m.get("call-id") == call_id)
            check(r.status == 200, "binding query for bob got %s" % r)
            return r.all("contact")

        def call_bob(caller):
            """INVITE bob from `caller`; returns the Call-ID."""
            call_id = "call-%s@127.0.0.1" % rand_hex()
            caller.send(request("INVITE", "sip:bob@127.0.0.1:%d" % x.sip_port, "TCP", caller.local(),
                                "<sip:bob@127.0.0.1>", "<sip:alice@127.0.0.1>;tag=%s" % rand_hex(), call_id, 1,
                                contact="<sip:alice@127.0.0.1:%d;transport=tcp>" % caller.local()[1],
                                body=sdp(40000, 3)))
            return call_id

        def closed_reconnects():
            check(getattr(x, "bob", None) is not None, "bob is not registered")
            caller = tcp_connect(x.sip_port, "alice(tcp)")
            server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_ctx.load_cert_chain(cert, key)
            bob2 = None
            try:
                listed = bob_bindings(caller)
                check(any(x.bob_contact in c for c in listed),
                      "before the close the binding query does not list %s: %s" % (x.bob_contact, listed))
                before = relay.metrics()
                opened0 = metric(before, "rdv_sip_outbound_connections_total")
                failed0 = metric(before, "rdv_sip_outbound_connection_failures_total")
                check(opened0 is not None and failed0 is not None, "the outbound connection counters are not exported")
                conns0 = metric(before, "rdv_sip_tcp_connections")
                x.bob.close()
                wait_until("the server to see bob's TLS connection close",
                           lambda: metric(relay.metrics(), "rdv_sip_tcp_connections") <= conns0 - 1, 5,
                           proc=relay.proc, proc_name="rendezvous", log=log)
                listed = bob_bindings(caller)
                check(any(x.bob_contact in c for c in listed),
                      "after the close the binding query no longer lists %s: %s" % (x.bob_contact, listed))

                call_id = call_bob(caller)
                x.bob_listener.settimeout(IO_TIMEOUT)
                try:
                    raw, peer = x.bob_listener.accept()
                except socket.timeout:
                    raise TestFailure("the server opened no new connection to bob's Contact %s" % x.bob_contact)
                raw.settimeout(IO_TIMEOUT)
                bob2 = Stream(server_ctx.wrap_socket(raw, server_side=True), "bob(new tls)")
                check(bob2.sock.version() in ("TLSv1.2", "TLSv1.3"), "the server's handshake negotiated %s"
                      % bob2.sock.version())
                inv = bob2.expect("INVITE over the new TLS connection", lambda m: m.method == "INVITE")
                check(inv.uri == x.bob_contact, "Request-URI %r is not bob's Contact %r" % (inv.uri, x.bob_contact))
                check(inv.get("via").startswith("SIP/2.0/TLS 127.0.0.1:%d;" % x.tls_port),
                      "B2BUA Via on the new connection: %r" % inv.get("via"))
                bob2.send(response(inv, 486, "Busy Here", rand_hex(), "<%s>" % x.bob_contact))
                r = caller.expect("final response to INVITE", lambda m: m.status is not None and m.status >= 200
                                  and m.get("call-id") == call_id)
                check(r.status == 486, "the caller got %s, expected bob's 486" % r)
                ack = bob2.expect("ACK of the 486 on the new connection", lambda m: m.method == "ACK")
                check(ack.get("call-id") == inv.get("call-id"), "ACK on another dialog: %s" % ack.get("call-id"))
                after = relay.metrics()
                check(metric(after, "rdv_sip_outbound_connections_total") == opened0 + 1,
                      "rdv_sip_outbound_connections_total went from %s to %s, expected +1"
                      % (opened0, metric(after, "rdv_sip_outbound_connections_total")))
                check(metric(after, "rdv_sip_outbound_connection_failures_total") == failed0,
                      "an outbound connection failure was counted")

                # Bob gone for good: nothing listens at his Contact any more.
                conns1 = metric(relay.metrics(), "rdv_sip_tcp_connections")
                bob2.close()
                bob2 = None
                x.bob_listener.close()
                wait_until("the server to see bob's new TLS connection close",
                           lambda: metric(relay.metrics(), "rdv_sip_tcp_connections") <= conns1 - 1, 5,
                           proc=relay.proc, proc_name="rendezvous", log=log)
                call_id = call_bob(caller)
                r = caller.expect("final response to INVITE", lambda m: m.status is not None and m.status >= 200
                                  and m.get("call-id") == call_id)
                check(r.status == 480, "a call to bob with nothing listening at his Contact got %s, not 480" % r)
                check(metric(relay.metrics(), "rdv_sip_outbound_connection_failures_total") == failed0 + 1,
                      "rdv_sip_outbound_connection_failures_total did not count the refused connection")
            finally:
                caller.close()
                if bob2 is not None:
                    bob2.close()

        def silent_closed():
            # The handshake limit is 10 s, enforced by the once-a-second housekeeping.
            left = 10 + 4 - (time.monotonic() - silent_since)
            check(wait_closed(silent, max(left, 0.5)), "a connection that never started TLS is still open after %.0fs"
                  % (time.monotonic() - silent_since))
            wait_until("the log line for the stalled handshake from 127.0.0.1:%d" % silent_port,
                       lambda: handshake_failure_logged(relay, silent_port, "no handshake within the time limit"),
                       2, proc=relay.proc, proc_name="rendezvous", log=log)

        def cert_reload():
            check(served_fingerprint(x.tls_port) == file_fingerprint(cert), "not served the start-up certificate")
            before = tls_connect(x.ctx, x.tls_port, "before-reload")
            try:
                check(options_over(before, x.tls_port, "TLS").status == 200, "no 200 before the reload")
                new_cert, new_key = make_cert(args.workdir, "renewed-")
                renewed = file_fingerprint(new_cert)
                os.replace(new_key, key)
                os.replace(new_cert, cert)
                relay.proc.send_signal(signal.SIGHUP)
                wait_until("the SIGHUP certificate reload in the log",
                           lambda: "SIP TLS certificate reloaded from %s" % cert in relay.log(), IO_TIMEOUT,
                           proc=relay.proc, proc_name="rendezvous", log=log)
                got = served_fingerprint(x.tls_port)
                check(got == renewed, "after SIGHUP a new connection got certificate %s, not the renewed %s"
                      % (got, renewed))
                x.ctx = client_context(cert)  # the renewed certificate is the trust anchor from here on
                after = tls_connect(x.ctx, x.tls_port, "after-reload")
                try:
                    check(options_over(after, x.tls_port, "TLS").status == 200, "no 200 on a renewed connection")
                finally:
                    after.close()
                check(options_over(before, x.tls_port, "TLS").status == 200,
                      "the connection opened before the reload no longer answers")

                _, other_key = make_cert(args.workdir, "other-")
                os.replace(other_key, key)
                status, body = api_reload(relay.api_port)
                check(status == 200, "POST /api/v1/reload with a mismatched key: %s %r" % (status, body))
                check(key in body.get("tls_certificate", "") and body.get("tls_certificate") != "reloaded",
                      "the reload reply does not name the mismatched key file %s: %r" % (key, body))
                check(served_fingerprint(x.tls_port) == renewed, "a failed reload changed the served certificate")
            finally:
                before.close()

        def alive():
            s = tls_connect(x.ctx, x.tls_port, "alive")
            try:
                check(options_over(s, x.tls_port, "TLS").status == 200, "no 200 to OPTIONS over TLS")
            finally:
                s.close()
            check(sip_options_ok(x.sip_port, timeout=2.0), "no 200 to OPTIONS over UDP")
            m = relay.metrics()
            check(metric(m, "rdv_calls_answered_total") == 1, "rdv_calls_answered_total is %s"
                  % metric(m, "rdv_calls_answered_total"))

        for name, fn in [("tls_version", tls_version), ("tls_1_1_refused", tls_1_1_refused),
                         ("options_tls", options_tls), ("register_tls", register_tls),
                         ("call_tcp_to_tls", call_tcp_to_tls), ("garbage_closed", garbage_closed),
                         ("closed_reconnects", closed_reconnects), ("silent_closed", silent_closed),
                         ("cert_reload", cert_reload), ("alive", alive)]:
            run_case(name, fn, results)
    finally:
        silent.close()
        stopped = relay.stop()
    if stopped:
        print("FAIL rendezvous: %s" % stopped, flush=True)
        results.append(("rendezvous_exit", "FAIL", stopped))
    failed = [r for r in results if r[1] != "PASS"]
    print("%s: %d passed, %d failed -> %s"
          % (TEST_NAME, sum(r[1] == "PASS" for r in results), len(failed), "FAIL" if failed else "PASS"), flush=True)
    return 1 if failed or not results else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TestFailure as e:
        print("FAIL %s: %s" % (TEST_NAME, e), flush=True)
        sys.exit(1)
