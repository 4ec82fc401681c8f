#!/usr/bin/env python3
"""One-way TURN load at a fixed rate: a minimal Python TURN client (long-term credentials,
ChannelBind) sends ChannelData at RATE datagrams/s to a peer socket through the server, and the
peer (a child process) counts what arrives. Prints sent, received, loss and the server's CPU per
relayed datagram. Used by turn_bench.py (--blast); standalone:

  turn_blast.py --server-pid PID --port 13478 --user U --password P --realm R --rate 100000 --seconds 5
"""

import argparse
import hashlib
import hmac
import multiprocessing
import os
import socket
import struct
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from relay_bench import proc_cpu_seconds  # noqa: E402

COOKIE = 0x2112A442


def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * ((4 - len(v) % 4) % 4)


def xor_addr(ip, port):
    a = struct.unpack("!I", socket.inet_aton(ip))[0] ^ COOKIE
    return struct.pack("!BBHI", 0, 1, port ^ (COOKIE >> 16), a)


def message(method, attrs, key=None):
    tid = os.urandom(12)
    body = b"".join(attrs)
    if key is not None:
        head = struct.pack("!HHI", method, len(body) + 24, COOKIE) + tid
        body += attr(0x0008, hmac.new(key, head + body, hashlib.sha1).digest())
    head = struct.pack("!HHI", method, len(body) + 8, COOKIE) + tid
    crc = (zlib.crc32(head + body) ^ 0x5354554E) & 0xFFFFFFFF
    return head + body + attr(0x8028, struct.pack("!I", crc))


def attrs_of(data):
    out, at = {}, 20
    while at + 4 <= len(data):
        t, n = struct.unpack("!HH", data[at:at + 4])
        out.setdefault(t, data[at + 4:at + 4 + n])
        at += 4 + n + (4 - n % 4) % 4
    return out


def ask(sock, port, msg):
    sock.sendto(msg, ("127.0.0.1", port))
    data, _ = sock.recvfrom(4096)
    cls = ((data[0] & 1) << 1) | ((data[1] >> 4) & 1)
    a = attrs_of(data)
    code = 0
    if cls == 3 and 0x0009 in a:
        code = a[0x0009][2] * 100 + a[0x0009][3]
    return code, a


def setup(port, user, password, realm, peer_port):
    """Allocate + ChannelBind 0x4000 to 127.0.0.1:peer_port; returns the client socket."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    transport = attr(0x0019, b"\x11\0\0\0")
    code, a = ask(s, port, message(0x0003, [transport]))
    if code != 401:
        raise SystemExit("expected a 401 challenge, got %d" % code)
    nonce, realm_got = a[0x0015], a[0x0014]
    key = hashlib.md5(("%s:%s:%s" % (user, realm_got.decode(), password)).encode()).digest()
    cred = [attr(0x0006, user.encode()), attr(0x0014, realm_got), attr(0x0015, nonce)]
    code, _ = ask(s, port, message(0x0003, [transport] + cred, key))
    if code != 0:
        raise SystemExit("Allocate failed: %d" % code)
    code, _ = ask(s, port, message(0x0009, [attr(0x000C, b"\x40\0\0\0"), attr(0x0012, xor_addr("127.0.0.1", peer_port))]
                                   + cred, key))
    if code != 0:
        raise SystemExit("ChannelBind failed: %d" % code)
    return s


def peer_count(sock, seconds, result):
    sock.settimeout(0.5)
    n, buf, deadline = 0, bytearray(2048), time.monotonic() + seconds + 2
    while time.monotonic() < deadline:
        try:
            sock.recv_into(buf)
            n += 1
        except socket.timeout:
            if n:
                break
    result.value = n


def blast(server_pid, port, user, password, realm, rate, seconds, length=120):
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    peer.bind(("127.0.0.1", 0))
    client = setup(port, user, password, realm, peer.getsockname()[1])
    frame = struct.pack("!HH", 0x4000, length) + os.urandom(length)
    result = multiprocessing.Value("q", 0)
    child = multiprocessing.Process(target=peer_count, args=(peer, seconds, result))
    child.start()
    cpu0 = proc_cpu_seconds(server_pid)
    sent, start = 0, time.monotonic()
    total = int(rate * seconds)
    dest = ("127.0.0.1", port)
    send = client.sendto
    while sent < total:
        due = min(total, int((time.monotonic() - start) * rate) + 64)
        while sent < due:
            send(frame, dest)
            sent += 1
    elapsed = time.monotonic() - start
    child.join(timeout=seconds + 10)
    cpu = proc_cpu_seconds(server_pid) - cpu0
    received = result.value
    return {"rate": rate, "achieved_rate": sent / elapsed, "sent": sent, "received": received,
            "loss_pct": 100.0 * (sent - received) / sent, "server_cpu_s": cpu,
            "us_per_datagram": 1e6 * cpu / received if received else float("nan")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--realm", required=True)
    ap.add_argument("--rate", type=int, default=100000)
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    print(blast(a.server_pid, a.port, a.user, a.password, a.realm, a.rate, a.seconds))


if __name__ == "__main__":
    main()
