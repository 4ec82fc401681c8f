"""A minimal TURN client over a TCP control connection (RFC 8656, long-term credentials), for tests
that need one legitimate allocation to keep working while they misbehave around it, and for
benchmarks/turn_tcp_bench.py: Allocate (UDP or TCP relayed address), CreatePermission, Send
indication, Data indication, Refresh, and RFC 6062 Connect / ConnectionBind.
python3 stdlib only; every read has a timeout."""

import hashlib
import hmac
import os
import socket
import struct

from rdvtest import TestFailure

COOKIE = 0x2112A442
ALLOCATE, REFRESH, SEND, DATA, CREATE_PERMISSION = 0x003, 0x004, 0x016, 0x017, 0x008
CONNECT, CONNECTION_BIND = 0x00A, 0x00B
SUCCESS, ERROR = 0x100, 0x110
A_USERNAME, A_INTEGRITY, A_ERROR, A_LIFETIME, A_PEER, A_DATA = 0x0006, 0x0008, 0x0009, 0x000D, 0x0012, 0x0013
A_REALM, A_NONCE, A_RELAYED, A_TRANSPORT, A_CONNECTION_ID = 0x0014, 0x0015, 0x0016, 0x0019, 0x002A


def xor_address(ip, port):
    x = struct.pack("!HH", 0x0001, port ^ (COOKIE >> 16))
    return x + bytes(a ^ b for a, b in zip(socket.inet_aton(ip), struct.pack("!I", COOKIE)))


def parse_xor_address(v):
    port = struct.unpack("!H", v[2:4])[0] ^ (COOKIE >> 16)
    ip = socket.inet_ntoa(bytes(a ^ b for a, b in zip(v[4:8], struct.pack("!I", COOKIE))))
    return ip, port


def attr(kind, value):
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * ((4 - len(value) % 4) % 4)


class TurnTcpClient:
    """One control connection from `source` to the server at 127.0.0.1:`port`."""

    def __init__(self, port, user, password, source="127.0.0.1", timeout=5.0):
        self.port, self.user, self.password, self.source, self.timeout = port, user, password, source, timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        self.auth = None  # (realm, nonce, key)
        self.relayed = None

    def close(self):
        self.sock.close()

    def _message(self, kind, attrs, sign):
        body = b"".join(attrs)
        tid = os.urandom(12)
        if sign and self.auth:
            realm, nonce, key = self.auth
            body += attr(A_USERNAME, self.user.encode()) + attr(A_REALM, realm) + attr(A_NONCE, nonce)
            head = struct.pack("!HHI", kind, len(body) + 24, COOKIE) + tid
            body += attr(A_INTEGRITY, hmac.new(key, head + body, hashlib.sha1).digest())
        return struct.pack("!HHI", kind, len(body), COOKIE) + tid + body

    def _exactly(self, n):
        out = b""
        while len(out) < n:
            part = self.sock.recv(n - len(out))
            if not part:
                raise TestFailure("the TURN server closed the control connection")
            out += part
        return out

    def read(self):
        """(message type, {attribute: value}) of the next STUN message on the connection."""
        head = self._exactly(20)
        body = self._exactly(struct.unpack("!H", head[2:4])[0])
        attrs, at = {}, 0
        while at + 4 <= len(body):
            t, n = struct.unpack("!HH", body[at:at + 4])
            attrs[t] = body[at + 4:at + 4 + n]
            at += 4 + n + ((4 - n % 4) % 4)
        return struct.unpack("!H", head[:2])[0], attrs

    def request(self, method, attrs):
        """Sends a signed request (challenged once if no nonce is known yet); its success attributes."""
        for _ in range(2):
            self.sock.sendall(self._message(method, attrs, sign=True))
            kind, got = self.read()
            if kind == method | SUCCESS:
                return got
            code = got.get(A_ERROR, b"\0\0\0\0")
            code = code[2] * 100 + code[3]
            if kind == method | ERROR and code in (401, 438) and A_NONCE in got:
                realm = got.get(A_REALM, self.auth[0] if self.auth else b"")
                key = hashlib.md5(("%s:%s:%s" % (self.user, realm.decode(), self.password)).encode()).digest()
                self.auth = (realm, got[A_NONCE], key)
                continue
            raise TestFailure("TURN method 0x%03x failed: %d" % (method, code))
        raise TestFailure("TURN method 0x%03x: challenged twice" % method)

    def allocate(self, tcp=False):
        """A UDP (or RFC 6062 TCP) relayed address; returns (ip, port)."""
        got = self.request(ALLOCATE, [attr(A_TRANSPORT, b"\x06\0\0\0" if tcp else b"\x11\0\0\0")])
        self.relayed = parse_xor_address(got[A_RELAYED])
        return self.relayed

    def connect_peer(self, ip, port):
        """RFC 6062 Connect from the (TCP) relayed address to ip:port; returns the CONNECTION-ID."""
        return self.request(CONNECT, [attr(A_PEER, xor_address(ip, port))])[A_CONNECTION_ID]

    def bind_data(self, connection_id):
        """RFC 6062 ConnectionBind on a new connection from the same source, with this client's
        credentials; returns that socket, which then carries the peer connection's bytes."""
        data = TurnTcpClient(self.port, self.user, self.password, self.source, self.timeout)
        data.auth = self.auth
        data.request(CONNECTION_BIND, [attr(A_CONNECTION_ID, connection_id)])
        return data.sock

    def permit(self, ip):
        self.request(CREATE_PERMISSION, [attr(A_PEER, xor_address(ip, 0))])

    def refresh(self, lifetime=600):
        self.request(REFRESH, [attr(A_LIFETIME, struct.pack("!I", lifetime))])

    def send_to(self, ip, port, data):
        """A Send indication: `data` leaves the relayed address towards ip:port."""
        self.sock.sendall(self._message(SEND, [attr(A_PEER, xor_address(ip, port)), attr(A_DATA, data)], sign=False))

    def receive_data(self):
        """The next Data indication: ((peer ip, port), data)."""
        for _ in range(16):
            kind, got = self.read()
            if kind == DATA:
                return parse_xor_address(got[A_PEER]), got[A_DATA]
        raise TestFailure("no Data indication among 16 messages")


def round_trip(client, peer, payload):
    """`payload` from the client to the UDP socket `peer` through the relayed address and back as a
    Data indication; fails unless both arrive intact."""
    pip, pport = peer.getsockname()
    client.send_to(pip, pport, payload)
    peer.settimeout(5)
    data, source = peer.recvfrom(65535)
    if data != payload or source != client.relayed:
        raise TestFailure("peer got %r from %s, expected %r from the relayed %s" % (data[:32], source, payload[:32], client.relayed))
    peer.sendto(payload[::-1], client.relayed)
    (ip, port), back = client.receive_data()
    if back != payload[::-1] or (ip, port) != (pip, pport):
        raise TestFailure("Data indication %r from %s:%d" % (back[:32], ip, port))
