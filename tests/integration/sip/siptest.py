"""SIP helpers shared by the sipp-driven call test and the torture test (python3 stdlib only):
message parsing and building, a digest-authenticating REGISTER client (MD5 and SHA-256, RFC 8760),
UDP/TCP request/response clients, a sipp runner with message-log parsing, SDP checks, and a
loopback sniffer that counts datagrams to one port. The callee media endpoint, pcap reading and
relay metrics live in rdvtest (shared with the Kamailio test)."""

import hashlib
import os
import random
import re
import ctypes
import socket
import struct
import subprocess
import threading
import time

import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rdvtest import (TestFailure, relay_sdp_port, sipp_trace_messages, stop_process, tail,  # noqa: E402
                     tcp_port_free, udp_port_free, wait_until)

# RFC 3261 section 7.3.3 compact forms.
COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type", "e": "content-encoding", "k": "supported", "s": "subject"}


def rand_hex(n=8):
    return "%0*x" % (n, random.getrandbits(4 * n))


# ---------------------------------------------------------------- messages

class SipMessage:
    """A parsed SIP message: start line, headers (canonical lower-case names, in order), body."""

    def __init__(self, start, headers, body, raw):
        self.start = start
        self.headers = headers   # [(name, value)]
        self.body = body         # bytes
        self.raw = raw

    @property
    def is_response(self):
        return self.start.startswith("SIP/2.0 ")

    @property
    def status(self):
        m = re.match(r"^SIP/2\.0 (\d{3})(?: (.*))?$", self.start)
        return int(m.group(1)) if m else None

    @property
    def reason(self):
        m = re.match(r"^SIP/2\.0 \d{3}(?: (.*))?$", self.start)
        return (m.group(1) or "").strip() if m else ""

    @property
    def method(self):
        return None if self.is_response else self.start.split(" ", 1)[0]

    def all(self, name):
        """Every value of header `name`, comma-separated values of one line kept together."""
        name = COMPACT.get(name.lower(), name.lower())
        return [v for n, v in self.headers if n == name]

    def get(self, name):
        vals = self.all(name)
        return vals[0] if vals else None

    def cseq(self):
        v = self.get("cseq")
        m = re.match(r"^\s*(\d+)\s+(\S+)", v or "")
        return (int(m.group(1)), m.group(2)) if m else (None, None)

    def __repr__(self):
        return "<%s>" % self.start


def parse_message(data):
    """Parse one complete SIP message (bytes, header/body split at the first blank line);
    folded lines are unfolded. Returns None if there is no start line / header block."""
    if isinstance(data, str):
        data = data.encode()
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    lines = re.split(r"\r?\n", head.decode("utf-8", "replace"))
    if not lines or not lines[0].strip():
        return None
    unfolded = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        else:
            unfolded.append(line)
    headers = []
    for line in unfolded:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        name = name.strip().lower()
        headers.append((COMPACT.get(name, name), value.strip()))
    return SipMessage(lines[0].strip(), headers, body, data)


def header_params(value):
    """;key=value parameters of a header value (after the URI part)."""
    out = {}
    rest = value.split(">", 1)[1] if ">" in value else value
    for part in rest.split(";")[1:]:
        k, _, v = part.partition("=")
        out[k.strip().lower()] = v.strip().strip('"')
    return out


def via_branch(value):
    return header_params(value.split(",")[0]).get("branch")


def build_request(method, ruri, local_port, transport="UDP", call_id=None, cseq=1, cseq_method=None,
                  from_uri="sip:probe@127.0.0.1", to_uri=None, from_tag=None, branch=None,
                  extra=(), body=b"", content_type=None, max_forwards=70, from_value=None, to_value=None):
    """A well-formed request (CRLF line ends, Content-Length = len(body)). from_value / to_value,
    when given, are the whole From (before ;tag=) / To values, e.g. with a display name."""
    if isinstance(body, str):
        body = body.encode()
    lines = [
        "%s %s SIP/2.0" % (method, ruri),
        "Via: SIP/2.0/%s 127.0.0.1:%d;branch=%s;rport" % (transport, local_port, branch or "z9hG4bK-" + rand_hex(12)),
        "Max-Forwards: %d" % max_forwards,
        "From: %s;tag=%s" % (from_value or "<%s>" % from_uri, from_tag or rand_hex()),
        "To: %s" % (to_value or "<%s>" % (to_uri or ruri)),
        "Call-ID: %s" % (call_id or "rdv-" + rand_hex(16) + "@127.0.0.1"),
        "CSeq: %d %s" % (cseq, cseq_method or method),
    ] + list(extra)
    if content_type:
        lines.append("Content-Type: " + content_type)
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def build_response(req, status, reason, to_tag=None, extra=(), body=b"", content_type=None):
    """A response to the parsed request `req` (RFC 3261 section 8.2.6.2): its Via headers, From,
    Call-ID and CSeq copied, To with `to_tag` added unless it carries a tag already."""
    if isinstance(body, str):
        body = body.encode()
    to = req.get("to")
    if to_tag and "tag" not in header_params(to):
        to += ";tag=" + to_tag
    lines = ["SIP/2.0 %d %s" % (status, reason)] + ["Via: " + v for v in req.all("via")] + [
        "From: " + req.get("from"), "To: " + to, "Call-ID: " + req.get("call-id"),
        "CSeq: " + req.get("cseq")] + list(extra)
    if content_type:
        lines.append("Content-Type: " + content_type)
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def uri_of(value):
    """The URI of a name-addr header value (inside <>), or the value up to ';'."""
    m = re.search(r"<([^>]*)>", value or "")
    return m.group(1) if m else (value or "").split(";")[0].strip()


# ---------------------------------------------------------------- transports

class UdpSip:
    """A UDP socket on 127.0.0.1 that sends requests and collects what comes back."""

    def __init__(self, server_port, local_port=0):
        self.server = ("127.0.0.1", server_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", local_port))
        self.port = self.sock.getsockname()[1]

    def send(self, data):
        self.sock.sendto(data if isinstance(data, bytes) else data.encode(), self.server)

    def recv(self, timeout):
        """Next datagram (parsed SipMessage, or raw bytes if unparseable), or None on timeout."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, _ = self.sock.recvfrom(65535)
        except socket.timeout:
            return None
        return parse_message(data) or data

    def recv_until(self, pred, timeout):
        """Collect datagrams until pred(msg) holds; returns (match or None, everything received)."""
        deadline = time.monotonic() + timeout
        got = []
        while time.monotonic() < deadline:
            m = self.recv(deadline - time.monotonic())
            if m is None:
                break
            got.append(m)
            if isinstance(m, SipMessage) and pred(m):
                return m, got
        return None, got

    def transaction(self, data, timeout=2.0, call_id=None):
        """Send a request; return its final response (skipping 1xx), or None. Retransmits
        like RFC 3261 timer A (500 ms, doubling) while nothing final has arrived."""
        if call_id is None:
            call_id = parse_message(data).get("call-id")
        deadline = time.monotonic() + timeout
        interval = 0.5
        while time.monotonic() < deadline:
            self.send(data)
            wait = min(interval, deadline - time.monotonic())
            m, _ = self.recv_until(lambda r: r.is_response and r.get("call-id") == call_id
                                   and (r.status or 0) >= 200, wait)
            if m is not None:
                return m
            interval *= 2
        return None

    def close(self):
        self.sock.close()


class TcpSip:
    """A TCP connection to the server with SIP stream framing (Content-Length); `sock`: an
    already connected socket (e.g. one the server opened to us) instead."""

    def __init__(self, server_port, timeout=2.0, sock=None):
        self.sock = sock or socket.create_connection(("127.0.0.1", server_port), timeout=timeout)
        self.port = self.sock.getsockname()[1]
        self.buf = b""
        self.closed = False

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def recv(self, timeout):
        """Next framed message, or None on timeout / when the server closed (self.closed)."""
        deadline = time.monotonic() + timeout
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                m = re.search(rb"^(?:content-length|l)\s*:\s*(\d+)", self.buf[:end], re.I | re.M)
                n = int(m.group(1)) if m else 0
                if len(self.buf) >= end + 4 + n:
                    raw = self.buf[:end + 4 + n]
                    self.buf = self.buf[end + 4 + n:]
                    return parse_message(raw)
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionError:
                self.closed = True
                return None
            if not data:
                self.closed = True
                return None
            self.buf += data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def options_ok(server_port, transport="UDP", timeout=0.5):
    """True if an OPTIONS to the server itself gets a 200."""
    if transport == "UDP":
        c = UdpSip(server_port)
        try:
            r = c.transaction(build_request("OPTIONS", "sip:127.0.0.1:%d" % server_port, c.port),
                              timeout=timeout)
        finally:
            c.close()
    else:
        c = TcpSip(server_port, timeout=timeout)
        try:
            c.send(build_request("OPTIONS", "sip:127.0.0.1:%d;transport=tcp" % server_port, c.port,
                                 transport="TCP"))
            r = c.recv(timeout)
        finally:
            c.close()
    return r is not None and r.status == 200


# ---------------------------------------------------------------- digest (RFC 2617 / 7616 / 8760)

HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def parse_challenge(value):
    """'Digest realm="x", nonce="y", algorithm=SHA-256, qop="auth"' -> dict (keys lower-case)."""
    scheme, _, rest = value.strip().partition(" ")
    out = {"scheme": scheme}
    for m in re.finditer(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)', rest):
        v = m.group(2)
        out[m.group(1).lower()] = v[1:-1] if v.startswith('"') else v
    out.setdefault("algorithm", "MD5")
    return out


def digest_authorization(ch, user, password, method, uri, nc=1):
    h = HASHES[ch["algorithm"].upper()]

    def H(s):
        return h(s.encode()).hexdigest()

    ha1 = H("%s:%s:%s" % (user, ch["realm"], password))
    ha2 = H("%s:%s" % (method, uri))
    parts = ['username="%s"' % user, 'realm="%s"' % ch["realm"], 'nonce="%s"' % ch["nonce"],
             'uri="%s"' % uri, "algorithm=%s" % ch["algorithm"]]
    qops = [q.strip() for q in ch.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce = rand_hex(16)
        ncs = "%08x" % nc
        resp = H("%s:%s:%s:%s:auth:%s" % (ha1, ch["nonce"], ncs, cnonce, ha2))
        parts += ["qop=auth", "nc=" + ncs, 'cnonce="%s"' % cnonce]
    else:
        resp = H("%s:%s:%s" % (ha1, ch["nonce"], ha2))
    parts.append('response="%s"' % resp)
    if "opaque" in ch:
        parts.append('opaque="%s"' % ch["opaque"])
    return "Digest " + ", ".join(parts)


def register_tcp(conn, server_port, user, password, contact, expires=300, timeout=2.0):
    """REGISTER user with Contact <contact> over the TcpSip `conn`, answering the 401 with the
    topmost supported digest challenge. Returns the final response (None if none came)."""
    call_id = "reg-" + rand_hex(16) + "@127.0.0.1"
    ruri = "sip:127.0.0.1:%d;transport=tcp" % server_port
    aor = "sip:%s@127.0.0.1:%d" % (user, server_port)
    common = dict(transport="TCP", call_id=call_id, from_uri=aor, to_uri=aor, from_tag=rand_hex())
    extra = ["Contact: <%s>" % contact, "Expires: %d" % expires]

    def final(cseq, more=()):
        conn.send(build_request("REGISTER", ruri, conn.port, cseq=cseq, extra=extra + list(more), **common))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = conn.recv(deadline - time.monotonic())
            if m is None:
                return None
            if m.is_response and m.get("call-id") == call_id and (m.status or 0) >= 200:
                return m
        return None
    r1 = final(1)
    if r1 is None or r1.status != 401:
        return r1
    usable = [ch for ch in (parse_challenge(v) for v in r1.all("www-authenticate"))
              if ch["scheme"].lower() == "digest" and ch["algorithm"].upper() in HASHES]
    if not usable:
        raise TestFailure("401 for %s offers no usable challenge: %s" % (user, r1.all("www-authenticate")))
    return final(2, ["Authorization: " + digest_authorization(usable[0], user, password, "REGISTER", ruri)])


def register(server_port, user, password, local_port=0, expires=300, algorithm=None, contact_port=None,
             sock=None):
    """REGISTER user from 127.0.0.1:local_port with digest auth. algorithm None = the topmost
    challenge this client supports (RFC 8760 section 2.3), else that algorithm's challenge.
    sock: an open UdpSip to register from (left open, so what the server sends to the new
    binding can be read from it) instead of a socket of its own on local_port.
    Returns (challenge_response or None, final_response, challenges list)."""
    c = sock or UdpSip(server_port, local_port)
    try:
        cport = contact_port or c.port
        call_id = "reg-" + rand_hex(16) + "@127.0.0.1"
        tag = rand_hex()
        ruri = "sip:127.0.0.1:%d" % server_port
        aor = "sip:%s@127.0.0.1:%d" % (user, server_port)
        common = dict(call_id=call_id, from_uri=aor, to_uri=aor, from_tag=tag)
        contact = ["Contact: <sip:%s@127.0.0.1:%d>" % (user, cport), "Expires: %d" % expires]
        r1 = c.transaction(build_request("REGISTER", ruri, c.port, cseq=1, extra=contact, **common))
        if r1 is None:
            raise TestFailure("no final response to REGISTER for %s" % user)
        if r1.status != 401:
            return None, r1, []
        challenges = [parse_challenge(v) for v in r1.all("www-authenticate")]
        usable = [ch for ch in challenges if ch["scheme"].lower() == "digest"
                  and ch["algorithm"].upper() in HASHES and "nonce" in ch and "realm" in ch]
        if algorithm:
            usable = [ch for ch in usable if ch["algorithm"].upper() == algorithm.upper()]
        if not usable:
            raise TestFailure("401 for %s offers no usable %s challenge: %s"
                              % (user, algorithm or "digest", r1.all("www-authenticate")))
        auth = digest_authorization(usable[0], user, password, "REGISTER", ruri)
        r2 = c.transaction(build_request("REGISTER", ruri, c.port, cseq=2,
                                         extra=contact + ["Authorization: " + auth], **common))
        if r2 is None:
            raise TestFailure("no final response to the authenticated REGISTER for %s" % user)
        return r1, r2, challenges
    finally:
        if sock is None:
            c.close()


# ---------------------------------------------------------------- sipp

class Sipp:
    """Runs sipp scenarios with message logs in the run directory; every process is started via
    Procs (own session) and waited for with a deadline."""

    def __init__(self, procs, workdir, scen_dir, sipp="/usr/bin/sipp"):
        self.procs = procs
        self.workdir = workdir
        self.scen_dir = scen_dir
        self.sipp = sipp
        self.n = 0

    def start(self, name, scenario, local_port, media_port, remote_port=None, service=None,
              sets=(), extra=(), timeout_s=15, transport="u1"):
        self.n += 1
        tag = "%02d_%s" % (self.n, name)
        files = {k: os.path.join(self.workdir, "%s_%s.log" % (tag, k)) for k in ("msg", "err", "screen")}
        argv = [self.sipp]
        if remote_port is not None:
            argv.append("127.0.0.1:%d" % remote_port)
        argv += ["-sf", os.path.join(self.scen_dir, scenario), "-t", transport,
                 "-i", "127.0.0.1", "-p", str(local_port), "-mi", "127.0.0.1", "-mp", str(media_port),
                 "-m", "1", "-nostdin", "-timeout", "%ds" % timeout_s, "-timeout_error",
                 "-recv_timeout", "%ds" % max(2, timeout_s - 2),
                 "-trace_msg", "-message_file", files["msg"],
                 "-trace_err", "-error_file", files["err"],
                 "-trace_screen", "-screen_file", files["screen"]]
        if service:
            argv += ["-s", service]
        for k, v in sets:
            argv += ["-set", k, str(v)]
        argv += list(extra)
        p = self.procs.start(tag, argv)
        return SippRun(tag, p, files, self.procs.log_of(tag), timeout_s)


class SippRun:
    def __init__(self, tag, proc, files, log, timeout_s):
        self.tag, self.proc, self.files, self.log, self.timeout_s = tag, proc, files, log, timeout_s
        self.companions = []   # runs that end with this one (e.g. a stand-in server): waited for too

    def wait_bound(self, port, deadline=5.0, tcp=False):
        free = tcp_port_free if tcp else udp_port_free
        wait_until("%s to bind %s 127.0.0.1:%d" % (self.tag, "tcp" if tcp else "udp", port),
                   lambda: not free(port), deadline, proc=self.proc, proc_name=self.tag, log=self.log)

    def wait(self, extra=5.0):
        """Exit code (0 = the call succeeded); kills the process past its own -timeout + extra."""
        try:
            rc = self.proc.wait(timeout=self.timeout_s + extra)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise TestFailure("%s did not exit within %.0fs" % (self.tag, self.timeout_s + extra))
        for c in self.companions:
            try:
                c.proc.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                stop_process(c.proc, grace=1.0)
        return rc

    def messages(self):
        return parse_sipp_messages(self.files["msg"])

    def diagnostics(self):
        return "--- %s (exit %s):\n%s\n--- errors:\n%s\n--- messages:\n%s" % (
            self.tag, self.proc.returncode, tail(self.log, 8), tail(self.files["err"], 12),
            tail(self.files["msg"], 40))

    def expect_ok(self, what):
        rc = self.wait()
        if rc != 0:
            raise TestFailure("%s: sipp %s exit code %d (0 = call succeeded)\n%s"
                              % (what, self.tag, rc, self.diagnostics()))


def parse_sipp_messages(path):
    """sipp -trace_msg log -> [(direction 'received'/'sent', SipMessage)] in order."""
    out = []
    for direction, text in sipp_trace_messages(path):
        body = text.lstrip("\r\n")
        # sipp writes a blank line or two after each message; keep the body (SDP) intact.
        body = re.sub(r"\n+$", "\n", body.replace("\r\n", "\n")).replace("\n", "\r\n")
        msg = parse_message(body.encode())
        if msg is not None:
            out.append((direction, msg))
    return out


def find(messages, direction, start_re, cseq_method=None, nth=0):
    hits = [msg for d, msg in messages if d == direction and re.match(start_re, msg.start)
            and (cseq_method is None or msg.cseq()[1] == cseq_method)]
    return hits[nth] if len(hits) > nth else None


# ---------------------------------------------------------------- SDP

def sdp_text(msg):
    return msg.body.decode(errors="replace") if msg is not None else ""


def check_relay_sdp(who, msg, port_min, port_max, forbidden_ports=()):
    """Assert the SDP of msg has c=IN IP4 127.0.0.1 only and an m=audio port in the relay range
    that is not one of the endpoints' own ports. Returns the port."""
    sdp = sdp_text(msg)
    if not sdp.strip():
        raise TestFailure("%s carries no SDP body:\n%s" % (who, msg.raw.decode(errors="replace") if msg else "(none)"))
    return relay_sdp_port(who, sdp, port_min, port_max, forbidden_ports)


def sdp_direction(msg):
    """The media-level (else session-level) direction attribute; sendrecv when absent."""
    sdp = sdp_text(msg)
    parts = re.split(r"^m=", sdp, maxsplit=1, flags=re.M)
    for section in reversed(parts):
        m = re.search(r"^a=(sendrecv|sendonly|recvonly|inactive)\s*$", section, flags=re.M)
        if m:
            return m.group(1)
    # RFC 3264 section 8.4 also allows c=0.0.0.0 for hold (RFC 2543 style).
    return "sendrecv"


# ---------------------------------------------------------------- media

SO_ATTACH_FILTER = 26


def _udp_dst_port_filter(port):
    """A classic BPF program accepting IPv4 UDP (unfragmented) to `port` on an Ethernet-framed
    interface (loopback included): ldh [12]; jeq IPv4; ldb [23]; jeq UDP; ldh [20]; jset frag;
    ldxb 4*([14]&0xf); ldh [x+16]; jeq port; ret all / ret 0. Returns (sock_fprog, keep-alive)."""
    insns = [(0x28, 0, 0, 12), (0x15, 0, 8, 0x0800), (0x30, 0, 0, 23), (0x15, 0, 6, 17),
             (0x28, 0, 0, 20), (0x45, 4, 0, 0x1FFF), (0xB1, 0, 0, 14), (0x48, 0, 0, 16),
             (0x15, 0, 1, port), (0x06, 0, 0, 0x40000), (0x06, 0, 0, 0)]
    prog = b"".join(struct.pack("HBBI", *i) for i in insns)
    buf = ctypes.create_string_buffer(prog)
    fprog = struct.pack("HL", len(insns), ctypes.addressof(buf))
    return fprog, buf


class LoopbackCounter(threading.Thread):
    """Counts UDP datagrams on the loopback interface to one destination port, per source port
    (AF_PACKET: needs CAP_NET_RAW; without it `available` is False and `error` says why - the
    caller must then fail, not skip its check). Lets the harness see the echoed RTP reach sipp's
    own media port, which sipp itself does not report."""

    def __init__(self, dst_port):
        super().__init__(daemon=True)
        self.dst_port = dst_port
        self.counts = {}
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.error = None
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
            # The kernel filters for our port, so other loopback traffic (parallel tests,
            # benchmarks) cannot overflow the buffer and make the count come out short.
            self._filter = _udp_dst_port_filter(dst_port)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, self._filter[0])
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            self.sock.bind(("lo", 0))
            self.sock.settimeout(0.1)
            self.available = True
        except (OSError, AttributeError) as e:
            self.sock = None
            self.available = False
            self.error = "%s: %s" % (type(e).__name__, e)

    def run(self):
        if not self.available:
            return
        while not self.stop_event.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                break
            if addr[2] == socket.PACKET_OUTGOING:   # loopback shows each packet twice
                continue
            if len(data) < 14 + 28 or data[12:14] != b"\x08\x00":
                continue
            ip = data[14:]
            ihl = (ip[0] & 0x0F) * 4
            if ip[9] != 17:
                continue
            sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
            if dport == self.dst_port:
                with self.lock:
                    self.counts[sport] = self.counts.get(sport, 0) + 1

    def snapshot(self):
        with self.lock:
            return dict(self.counts)

    def stop(self):
        self.stop_event.set()
        if self.available:
            self.join(timeout=2.0)
            self.sock.close()
