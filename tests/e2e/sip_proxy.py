#!/usr/bin/env python3
"""A minimal signalling-only SIP registrar + stateless proxy for the NAT test's negative control.

It does what a NAT-aware proxy without a media relay does: REGISTER is accepted without auth and
the binding is the source address the REGISTER came from; requests are routed by the Request-URI
user to that address (Record-Route keeps in-dialog requests on the proxy); responses follow the
Via chain using received/rport. With --sdp-public, every SDP's c=/o= address is replaced by the
public source address of the message carrying it (what a far-end NAT fix-up or STUN would
advertise), so direct media is attempted to each client's NAT router. Media itself is never
touched: whatever the clients send goes straight between the NAT routers.

Usage: sip_proxy.py --listen IP:PORT [--sdp-public]   (logs one line per message to stdout)
"""

import argparse
import hashlib
import re
import socket
import sys
import time

COMPACT = {"v": "via", "i": "call-id", "m": "contact", "l": "content-length", "c": "content-type",
           "f": "from", "t": "to"}


def log(msg):
    sys.stdout.write("%.3f %s\n" % (time.monotonic(), msg))
    sys.stdout.flush()


class Msg:
    def __init__(self, data):
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("no header/body separator")
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.start = lines[0]
        self.headers = []  # [name, value] in order, names as received
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                self.headers[-1][1] += " " + line.strip()
                continue
            name, colon, value = line.partition(":")
            if not colon:
                raise ValueError("bad header line %r" % line)
            self.headers.append([name.strip(), value.strip()])
        self.body = body
        self.is_response = self.start.startswith("SIP/2.0 ")

    @staticmethod
    def norm(name):
        n = name.lower()
        return COMPACT.get(n, n)

    def get_all(self, name):
        want = self.norm(name)
        return [v for n, v in self.headers if self.norm(n) == want]

    def get(self, name):
        vals = self.get_all(name)
        return vals[0] if vals else None

    def index(self, name):
        want = self.norm(name)
        for i, (n, _) in enumerate(self.headers):
            if self.norm(n) == want:
                return i
        return -1

    def method(self):
        return self.start.split(" ", 1)[0]

    def ruri(self):
        return self.start.split(" ")[1]

    def encode(self):
        self.headers = [h for h in self.headers if self.norm(h[0]) != "content-length"]
        self.headers.append(["Content-Length", str(len(self.body))])
        head = "\r\n".join([self.start] + ["%s: %s" % (n, v) for n, v in self.headers])
        return head.encode() + b"\r\n\r\n" + self.body


def uri_user(uri):
    m = re.search(r"sips?:([^@;>]+)@", uri)
    return m.group(1) if m else None


def via_target(via):
    """Where a response goes for this Via value: received/rport win over sent-by."""
    m = re.match(r"SIP/2\.0/\w+\s+([^;:\s]+)(?::(\d+))?", via)
    if not m:
        raise ValueError("bad Via %r" % via)
    host, port = m.group(1), int(m.group(2) or 5060)
    rec = re.search(r";received=([^;\s]+)", via)
    rport = re.search(r";rport=(\d+)", via)
    return (rec.group(1) if rec else host, int(rport.group(1)) if rport else port)


def rewrite_sdp(body, ip):
    text = body.decode("utf-8", "replace")
    text = re.sub(r"(?m)^c=IN IP4 \S+", "c=IN IP4 " + ip, text)
    text = re.sub(r"(?m)^(o=\S+ \S+ \S+ IN IP4 )\S+", r"\g<1>" + ip, text)
    return text.encode()


class Proxy:
    def __init__(self, host, port, sdp_public):
        self.host, self.port = host, port
        self.sdp_public = sdp_public
        self.bindings = {}  # user -> (ip, port) the REGISTER came from
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))

    def send(self, msg, addr, note=""):
        self.sock.sendto(msg.encode(), addr)
        log("-> %s:%d %s %s" % (addr[0], addr[1], msg.start, note))

    def reply(self, req, src, code, reason, extra=()):
        resp = Msg(("SIP/2.0 %d %s\r\n\r\n" % (code, reason)).encode())
        for n, v in req.headers:
            if Msg.norm(n) in ("via", "from", "call-id", "cseq"):
                resp.headers.append([n, v])
            elif Msg.norm(n) == "to":
                resp.headers.append([n, v if ";tag=" in v else v + ";tag=prx%d" % (abs(hash(req.get("call-id"))) % 10**8)])
        resp.headers.extend([list(e) for e in extra])
        self.send(resp, via_target(resp.get("via")) if resp.get("via") else src)

    def stamp_via(self, msg, src):
        i = msg.index("via")
        if i < 0:
            raise ValueError("request without Via")
        v = msg.headers[i][1]
        first, rest = (v.split(",", 1) + [None])[:2]
        first = re.sub(r";received=[^;,\s]*", "", first)
        first = re.sub(r";rport(=\d+)?", "", first) + ";received=%s;rport=%d" % src
        msg.headers[i][1] = first + ("," + rest if rest else "")
        return first

    def on_request(self, msg, src):
        method = msg.method()
        if method == "REGISTER":
            user = uri_user(msg.get("to") or "")
            self.stamp_via(msg, src)
            expires = msg.get("expires")
            contact = msg.get("contact") or ""
            m = re.search(r";expires=(\d+)", contact)
            exp = int(m.group(1) if m else (expires or 3600))
            # Requests reach a client by its AOR user (initial INVITE) or by the user part of
            # its Contact (in-dialog requests; baresip puts a per-UA suffix there).
            keys = {user, uri_user(contact)} - {None}
            for k in keys:
                if exp == 0:
                    self.bindings.pop(k, None)
                else:
                    self.bindings[k] = src
            log("binding %s -> %s:%d (expires %d)" % (user, src[0], src[1], exp))
            extra = [("Contact", "%s;expires=%d" % (contact.split(";expires")[0], exp))] if exp else []
            self.reply(msg, src, 200, "OK", extra)
            return
        # Drop our own Route entry, if any.
        i = msg.index("route")
        if i >= 0 and ("%s:%d" % (self.host, self.port)) in msg.headers[i][1].split(",")[0]:
            parts = msg.headers[i][1].split(",", 1)
            if len(parts) == 2:
                msg.headers[i][1] = parts[1].strip()
            else:
                del msg.headers[i]
        user = uri_user(msg.ruri())
        target = self.bindings.get(user)
        if target is None:
            if method != "ACK":
                self.stamp_via(msg, src)
                self.reply(msg, src, 404, "Not Found")
            log("no binding for %r (%s)" % (user, method))
            return
        top = self.stamp_via(msg, src)
        # Derived from the client's branch: CANCEL and a non-2xx ACK then match the INVITE's.
        branch = hashlib.md5(top.encode()).hexdigest()[:16]
        msg.headers.insert(0, ["Via", "SIP/2.0/UDP %s:%d;branch=z9hG4bKprx%s" % (self.host, self.port, branch)])
        if method == "INVITE" and ";tag=" not in (msg.get("to") or ""):
            msg.headers.insert(1, ["Record-Route", "<sip:%s:%d;lr>" % (self.host, self.port)])
        note = self.fix_sdp(msg, src)
        mf = msg.index("max-forwards")
        if mf >= 0:
            n = int(msg.headers[mf][1]) - 1
            if n < 0:
                self.reply(msg, src, 483, "Too Many Hops")
                return
            msg.headers[mf][1] = str(n)
        self.send(msg, target, note)

    def on_response(self, msg, src):
        i = msg.index("via")
        if i < 0:
            return
        vias = msg.headers[i][1].split(",", 1)
        if ("%s:%d" % (self.host, self.port)) not in vias[0]:
            log("response not for us: %s" % msg.start)
            return
        if len(vias) == 2:
            msg.headers[i][1] = vias[1].strip()
        else:
            del msg.headers[i]
        nxt = msg.get("via")
        if not nxt:
            return
        note = self.fix_sdp(msg, src)
        self.send(msg, via_target(nxt.split(",")[0]), note)

    def fix_sdp(self, msg, src):
        if not self.sdp_public or not msg.body:
            return ""
        if "application/sdp" not in (msg.get("content-type") or "").lower():
            return ""
        msg.body = rewrite_sdp(msg.body, src[0])
        return "(SDP address -> %s)" % src[0]

    def serve(self):
        log("listening on %s:%d sdp_public=%s" % (self.host, self.port, self.sdp_public))
        while True:
            data, src = self.sock.recvfrom(65535)
            if data.strip() == b"":
                continue  # keepalive
            try:
                msg = Msg(data)
                log("<- %s:%d %s" % (src[0], src[1], msg.start))
                if msg.is_response:
                    self.on_response(msg, src)
                else:
                    self.on_request(msg, src)
            except (ValueError, IndexError) as e:
                log("bad message from %s:%d: %s" % (src[0], src[1], e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--sdp-public", action="store_true")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    Proxy(host, int(port), args.sdp_public).serve()


if __name__ == "__main__":
    main()
