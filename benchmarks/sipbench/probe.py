"""The probe caller: a few calls per second from Python beside the sipp load, timed with the
kernel's receive stamps."""

import os
import random
import re
import select
import socket
import struct
import threading
import time

from siptest import parse_message

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


class Probe(threading.Thread):
    """A few calls per second from Python beside the sipp load: INVITE -> 180 -> 200 -> ACK -> BYE.
    Send time is taken just before sendto, receive time is the kernel's SO_TIMESTAMPNS stamp
    (both CLOCK_REALTIME), so the latency has microsecond resolution and no generator loop in it."""

    def __init__(self, server_port, local_port, media_port, callee, cps, seconds):
        super().__init__(daemon=True)
        self.server = ("127.0.0.1", server_port)
        self.server_port = server_port
        self.local_port = local_port
        self.media_port = media_port
        self.callee = callee
        self.n = max(1, int(cps * seconds))
        self.period = 1.0 / cps
        self.lat180 = []
        self.lat200 = []
        self.ok = 0
        self.failed = {}
        self.sdp_ports = set()
        self.stop_flag = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", local_port))

    def fail(self, why):
        self.failed[why] = self.failed.get(why, 0) + 1

    def recv(self, until):
        """(message, kernel stamp ns) or (None, None) at the deadline."""
        left = until - time.monotonic()
        if left <= 0:
            return None, None
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return None, None
        data, anc, _, _ = self.sock.recvmsg(65535, socket.CMSG_SPACE(16))
        stamp = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                sec, nsec = struct.unpack("qq", payload[:16])
                stamp = sec * 1_000_000_000 + nsec
        if stamp is None:
            stamp = time.time_ns()
        return parse_message(data), stamp

    def request(self, method, ruri, call_id, tag, cseq, to, routes=(), body=b""):
        lines = ["%s %s SIP/2.0" % (method, ruri),
                 "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-p%08x;rport" % (self.local_port, random.getrandbits(32)),
                 "Max-Forwards: 70",
                 "From: probe <sip:probe@127.0.0.1:%d>;tag=%s" % (self.server_port, tag),
                 "To: %s" % to, "Call-ID: %s" % call_id, "CSeq: %d %s" % (cseq, method),
                 "Contact: <sip:probe@127.0.0.1:%d>" % self.local_port] + ["Route: %s" % r for r in routes]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def call(self, k):
        call_id = "probe-%d-%d-%08x@127.0.0.1" % (os.getpid(), k, random.getrandbits(32))
        tag = "%08x" % random.getrandbits(32)
        ruri = "sip:%s@127.0.0.1:%d" % (self.callee, self.server_port)
        sdp = ("v=0\r\no=probe 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=audio %d RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n" % self.media_port).encode()
        invite = self.request("INVITE", ruri, call_id, tag, 1, "<%s>" % ruri, body=sdp)
        t0 = time.time_ns()
        self.sock.sendto(invite, self.server)
        start = time.monotonic()
        retry_at, interval = start + 0.5, 0.5
        t180 = None
        ok200 = None
        while ok200 is None:
            now = time.monotonic()
            if now > start + 8:
                return self.fail("no final answer to INVITE")
            if now >= retry_at:
                self.sock.sendto(invite, self.server)
                interval *= 2
                retry_at = now + interval
            m, stamp = self.recv(min(retry_at, start + 8))
            if m is None or not hasattr(m, "status") or m.get("call-id") != call_id or not m.is_response:
                continue
            if m.cseq()[1] != "INVITE":
                continue
            if m.status == 180 and t180 is None:
                t180 = stamp
            elif 200 <= m.status < 300:
                ok200 = (m, stamp)
            elif m.status >= 300:
                # ACK the failure (same branch as the INVITE) so the server stops retransmitting.
                via = re.search(rb"^Via: [^\r\n]*", invite, flags=re.M).group(0).decode()
                ack = ("ACK %s SIP/2.0\r\n%s\r\nMax-Forwards: 70\r\nFrom: probe <sip:probe@127.0.0.1:%d>;tag=%s\r\n"
                       "To: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
                       % (ruri, via, self.server_port, tag, m.get("to"), call_id)).encode()
                self.sock.sendto(ack, self.server)
                return self.fail("INVITE answered %d" % m.status)
        m, stamp = ok200
        if t180 is not None:
            self.lat180.append((t180 - t0) / 1000.0)
        self.lat200.append((stamp - t0) / 1000.0)
        mm = re.search(r"^m=audio (\d+)", m.body.decode(errors="replace"), flags=re.M)
        if mm:
            self.sdp_ports.add(int(mm.group(1)))
        contact = re.search(r"<([^>]+)>", m.get("contact") or "")
        target = contact.group(1) if contact else ruri
        routes = []
        for v in m.all("record-route"):
            routes += [r.strip() for r in v.split(",") if r.strip()]
        to = m.get("to")
        ack = self.request("ACK", target, call_id, tag, 1, to, routes)
        self.sock.sendto(ack, self.server)
        bye = self.request("BYE", target, call_id, tag, 2, to, routes)
        self.sock.sendto(bye, self.server)
        start = time.monotonic()
        retry_at, interval = start + 0.5, 0.5
        while True:
            now = time.monotonic()
            if now > start + 8:
                return self.fail("no answer to BYE")
            if now >= retry_at:
                self.sock.sendto(bye, self.server)
                interval *= 2
                retry_at = now + interval
            r, _ = self.recv(min(retry_at, start + 8))
            if r is None or not hasattr(r, "status") or r.get("call-id") != call_id or not r.is_response:
                continue
            if r.cseq()[1] == "INVITE" and 200 <= r.status < 300:
                self.sock.sendto(ack, self.server)  # our ACK was lost: the 2xx is retransmitted
                continue
            if r.cseq()[1] == "BYE" and r.status >= 200:
                if r.status == 200:
                    self.ok += 1
                else:
                    self.fail("BYE answered %d" % r.status)
                return

    def run(self):
        t0 = time.monotonic()
        try:
            for k in range(self.n):
                if self.stop_flag.is_set():
                    break
                due = t0 + k * self.period
                wait = due - time.monotonic()
                if wait > 0 and self.stop_flag.wait(wait):
                    break
                try:
                    self.call(k)
                except OSError as e:
                    self.fail("socket error %s" % e.__class__.__name__)
        finally:
            self.sock.close()

    def attempted(self):
        return self.ok + sum(self.failed.values())

    def stop(self):
        self.stop_flag.set()
        self.join(timeout=20)
