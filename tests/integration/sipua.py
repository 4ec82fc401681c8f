"""Just enough SIP over UDP for tests that put a real media peer behind it: a UAC that sends an
INVITE with a given SDP, ACKs the 200 along its route set and sends BYE (Browser), and a UAS that
answers an INVITE with a PlainPeer's SDP, starts the peer towards the offered address and answers
the BYE (Phone). Every wait is bounded; no retransmission (loopback)."""

import re
import socket
import threading
import time

from rdvtest import TestFailure


def header(msg, name):
    m = re.search(r"^%s:\s*(.*?)\r$" % name, msg, re.M | re.I)
    return m.group(1) if m else None


def headers(msg, name):
    return re.findall(r"^%s:\s*(.*?)\r$" % name, msg, re.M | re.I)


def body(msg):
    return msg.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in msg else ""


class Phone(threading.Thread):
    """A SIP UAS on UDP: answers the INVITE with the plain peer's PCMU SDP and the BYE with 200."""

    def __init__(self, port, plain, deadline_s):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.1)
        self.port, self.plain, self.deadline = port, plain, time.monotonic() + deadline_s
        self.offer = None
        self.got_ack = self.got_bye = False
        self.stop_event = threading.Event()

    def reply(self, req, addr, sdp=None):
        lines = ["SIP/2.0 200 OK"]
        lines += ["Via: %s" % v for v in headers(req, "Via")]
        lines += ["Record-Route: %s" % v for v in headers(req, "Record-Route")]
        to = header(req, "To")
        lines += ["From: %s" % header(req, "From"), "To: %s" % (to if "tag=" in to else to + ";tag=phone"),
                  "Call-ID: %s" % header(req, "Call-ID"), "CSeq: %s" % header(req, "CSeq"),
                  "Contact: <sip:phone@127.0.0.1:%d>" % self.port]
        if sdp:
            lines += ["Content-Type: application/sdp"]
        lines += ["Content-Length: %d" % len(sdp or ""), "", sdp or ""]
        self.sock.sendto("\r\n".join(lines).encode(), addr)

    def register(self, user, registrar_port):
        """REGISTERs user at 127.0.0.1:registrar_port (no digest: the server must not ask) before run()."""
        req = "\r\n".join([
            "REGISTER sip:127.0.0.1:%d SIP/2.0" % registrar_port,
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-reg-1;rport" % self.port, "Max-Forwards: 70",
            "From: <sip:%s@127.0.0.1>;tag=reg" % user, "To: <sip:%s@127.0.0.1>" % user,
            "Call-ID: register-%s" % user, "CSeq: 1 REGISTER", "Contact: <sip:%s@127.0.0.1:%d>" % (user, self.port),
            "Expires: 300", "Content-Length: 0", "", ""])
        self.sock.sendto(req.encode(), ("127.0.0.1", registrar_port))
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                msg = self.sock.recvfrom(65535)[0].decode(errors="replace")
            except socket.timeout:
                continue
            if msg.startswith("SIP/2.0 ") and not msg.startswith("SIP/2.0 1"):
                if not msg.startswith("SIP/2.0 200"):
                    raise TestFailure("REGISTER %s got %s" % (user, msg.splitlines()[0]))
                return
        raise TestFailure("no answer to REGISTER %s within 5s" % user)

    def run(self):
        while not self.stop_event.is_set() and time.monotonic() < self.deadline:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            msg = data.decode(errors="replace")
            if msg.startswith("INVITE "):
                self.offer = body(msg)
                m = re.search(r"^m=audio (\d+)", self.offer, re.M)
                c = re.search(r"^c=IN IP4 (\S+)", self.offer, re.M)
                if m and c and self.plain.target is None:
                    self.plain.target = (c.group(1), int(m.group(1)))
                    self.plain.start()
                self.reply(msg, addr, self.plain.sdp())
            elif msg.startswith("ACK "):
                self.got_ack = True
            elif msg.startswith("BYE "):
                self.got_bye = True
                self.reply(msg, addr)
        self.sock.close()


class Browser:
    """The SIP side of the browser: INVITE with aiortc's offer, ACK and BYE along the route set."""

    def __init__(self, port, proxy_port, call_id):
        self.call_id = call_id
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.port, self.proxy = port, ("127.0.0.1", proxy_port)
        self.to = self.contact = None
        self.routes = []

    def request(self, method, uri, cseq, extra=(), sdp=""):
        lines = ["%s %s SIP/2.0" % (method, uri),
                 "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s-%d;rport" % (self.port, method.lower(), cseq),
                 "Max-Forwards: 70", "From: <sip:browser@127.0.0.1>;tag=browser",
                 "To: %s" % (self.to or "<sip:phone@127.0.0.1>"), "Call-ID: %s" % self.call_id,
                 "CSeq: %d %s" % (cseq, method), "Contact: <sip:browser@127.0.0.1:%d>" % self.port, *extra]
        if sdp:
            lines.append("Content-Type: application/sdp")
        lines += ["Content-Length: %d" % len(sdp), "", sdp]
        self.sock.sendto("\r\n".join(lines).encode(), self.proxy)

    def final(self, method, deadline_s):
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            try:
                msg = self.sock.recvfrom(65535)[0].decode(errors="replace")
            except socket.timeout:
                continue
            if msg.startswith("SIP/2.0 ") and not msg.startswith("SIP/2.0 1") and \
                    (header(msg, "CSeq") or "").endswith(method):
                return msg
        raise TestFailure("no final answer to the browser's %s within %.0fs" % (method, deadline_s))

    def invite(self, sdp, uri):
        self.request("INVITE", uri, 1, sdp=sdp)
        ok = self.final("INVITE", 10.0)
        if not ok.startswith("SIP/2.0 200"):
            raise TestFailure("the browser's INVITE got %s" % ok.splitlines()[0])
        self.to = header(ok, "To")
        self.contact = re.search(r"<([^>]+)>", header(ok, "Contact")).group(1)
        self.routes = list(reversed(headers(ok, "Record-Route")))
        self.in_dialog("ACK", 1)
        return body(ok)

    def in_dialog(self, method, cseq):
        self.request(method, self.contact, cseq, extra=["Route: %s" % r for r in self.routes])

    def bye(self):
        self.in_dialog("BYE", 2)
        ok = self.final("BYE", 5.0)
        if not ok.startswith("SIP/2.0 200"):
            raise TestFailure("the browser's BYE got %s" % ok.splitlines()[0])
