"""A small SIP-over-WebSocket client (RFC 6455 client side, RFC 7118) for the tests, on the
standard library only: the opening handshake with Sec-WebSocket-Protocol "sip", masked text
frames out, frames in (pings answered, fragments joined), over plain TCP or TLS."""

import base64
import hashlib
import os
import socket
import ssl
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WsClosed(Exception):
    pass


def frame(opcode, payload, mask=True, fin=True):
    """One client frame (masked unless told otherwise)."""
    if isinstance(payload, str):
        payload = payload.encode()
    head = bytes([(0x80 if fin else 0) | opcode])
    m = 0x80 if mask else 0
    n = len(payload)
    if n <= 125:
        head += bytes([m | n])
    elif n <= 0xFFFF:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class WsSip:
    """A WebSocket connection to 127.0.0.1:port (tls: wss, the certificate not verified).
    handshake() returns the server's HTTP response head; afterwards send()/recv() carry one SIP
    message per WebSocket message."""

    def __init__(self, port, tls=False, timeout=5.0):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.sock = raw
        self.port = raw.getsockname()[1]
        self.buf = b""
        self.closed_code = None

    def handshake(self, protocol="sip", key=None, path="/", origin="http://127.0.0.1"):
        """protocol / origin None or "": that header is not sent (Chromium's DevTools endpoint
        refuses an Origin it was not told to allow)."""
        key = key or base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, key))
        if origin:
            req += "Origin: %s\r\n" % origin
        if protocol:
            req += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        self.sock.sendall((req + "\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                break
            self.buf += data
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        text = head.decode(errors="replace")
        if text.startswith("HTTP/1.1 101"):
            want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
            if ("sec-websocket-accept: " + want).lower() not in text.lower():
                raise WsClosed("bad Sec-WebSocket-Accept in: " + text)
        return text

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, sip_text):
        self.sock.sendall(frame(1, sip_text))

    def _read(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise WsClosed("connection closed")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout):
        """(opcode, payload, fin) of the next frame; server frames must not be masked."""
        deadline = time.monotonic() + timeout
        b0, b1 = self._read(2, deadline)
        if b1 & 0x80:
            raise WsClosed("masked server frame")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8, deadline))[0]
        return b0 & 0x0F, self._read(n, deadline), bool(b0 & 0x80)

    def recv(self, timeout):
        """The next message's text (fragments joined), or None on timeout; raises WsClosed on a close frame."""
        deadline = time.monotonic() + timeout
        parts = b""
        try:
            while True:
                op, payload, fin = self.recv_frame(max(0.0, deadline - time.monotonic()))
                if op == 9:
                    self.sock.sendall(frame(10, payload))
                elif op == 8:
                    self.closed_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    raise WsClosed("close frame %d" % self.closed_code)
                elif op in (0, 1, 2):
                    parts += payload
                    if fin:
                        return parts.decode()
        except socket.timeout:
            return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
