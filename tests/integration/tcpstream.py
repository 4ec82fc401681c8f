"""Byte-stream helpers shared by the TCP relay tests (tcp_relay_test.py, tcp_sdp_test.py,
tcp_halfopen_test.py): a bulk transfer both ways at once through a relayed pair of sockets with
one deliberately slow reader (SHA-256 of what each side got against what the other sent), a
sampler of the relay process's RSS, resets and their observation, and descriptor counts.
python3 stdlib only."""

import fcntl
import hashlib
import json
import os
import random
import socket
import struct
import threading
import time
import urllib.error
import urllib.request

from rdvtest import TestFailure, check, proc_rss_kib, tcp_port_free, udp_port_free

GIB = 1 << 30


class Sender(threading.Thread):
    """Sends `total` bytes cut from a random buffer at varied offsets and sizes, then FIN."""

    def __init__(self, sock, total, seed):
        super().__init__(daemon=True)
        self.sock, self.total, self.seed = sock, total, seed
        self.sha = hashlib.sha256()
        self.error = None

    def run(self):
        try:
            pool = memoryview(os.urandom(8 << 20))
            sent, i = 0, 0
            while sent < self.total:
                n = min(self.total - sent, (1 << 20) - (i * 4099 + self.seed) % 65536)
                off = (i * 1048583 + self.seed) % (len(pool) - n)
                chunk = pool[off:off + n]
                self.sock.sendall(chunk)
                self.sha.update(chunk)
                sent += n
                i += 1
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = e


class Receiver(threading.Thread):
    """Reads to EOF; a slow one reads 16 KiB at a time and pauses 1 ms every 8 reads."""

    def __init__(self, sock, slow):
        super().__init__(daemon=True)
        self.sock, self.slow = sock, slow
        self.sha = hashlib.sha256()
        self.count = 0
        self.eof = False
        self.error = None

    def run(self):
        try:
            size = 16384 if self.slow else 1 << 20
            reads = 0
            while True:
                data = self.sock.recv(size)
                if not data:
                    self.eof = True
                    return
                self.sha.update(data)
                self.count += len(data)
                reads += 1
                if self.slow and reads % 8 == 0:
                    time.sleep(0.001)
        except OSError as e:
            self.error = e


class RssPeak:
    """Samples a process's VmRSS every 50 ms between start() and stop(); `base` is the value at
    start(), `peak` the highest seen."""

    def __init__(self, pid):
        self.pid = pid
        self.base = self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._done.wait(0.05):
            try:
                self.peak = max(self.peak, proc_rss_kib(self.pid))
            except OSError:  # the process is gone: the test fails on that elsewhere
                return

    def start(self):
        self.base = self.peak = proc_rss_kib(self.pid)
        self._thread.start()
        return self

    def stop(self):
        self._done.set()
        self._thread.join()
        try:
            self.peak = max(self.peak, proc_rss_kib(self.pid))
        except OSError:
            pass
        return self.peak - self.base



def http(port, method, path, body=None, timeout=10.0):
    """(status, parsed JSON body) of one request to the operator API on 127.0.0.1:port; body is a
    dict (sent as JSON) or raw bytes."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

def bulk_both_ways(a, b, total, relay_pid, timeout=120):
    """Sends `total` bytes a -> b and b -> a at once, each followed by FIN, with b the slow reader;
    checks both SHA-256 digests, the byte counts and both FINs. Returns the relay's RSS growth
    (KiB) over the transfer."""
    rss = RssPeak(relay_pid).start()
    for s in (a, b):
        s.settimeout(timeout)
    sa, sb = Sender(a, total, 1), Sender(b, total, 2)
    rb, ra = Receiver(b, slow=True), Receiver(a, slow=False)
    threads = (sa, sb, rb, ra)
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    growth = rss.stop()
    for t in threads:
        check(not t.is_alive(), "a transfer thread did not finish in %d s" % timeout)
        check(t.error is None, "transfer error: %r" % t.error)
    check(rb.count == total and ra.count == total, "received a->b %d, b->a %d bytes" % (rb.count, ra.count))
    check(rb.eof and ra.eof, "FIN not passed on")
    check(rb.sha.hexdigest() == sa.sha.hexdigest(), "a -> b SHA-256 differs")
    check(ra.sha.hexdigest() == sb.sha.hexdigest(), "b -> a SHA-256 differs")
    return growth


def reset(sock):
    """Closes `sock` abortively: the peer gets an RST."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def expect_reset(sock, what):
    try:
        data = sock.recv(16)
    except ConnectionResetError:
        return
    raise TestFailure("%s: expected a reset, got %r" % (what, data))


def fd_count(pid="self"):
    """Open descriptors of a process (/proc/PID/fd)."""
    return len(os.listdir("/proc/%s/fd" % pid))


def free_blocks(count, low=20000, high=32000):
    """Base of `count` consecutive 100-port blocks of rdvtest.free_block's grid, each reserved with
    its lock (so parallel tests taking single blocks never get one of them), all free on UDP and
    TCP; for a port range wider than one block."""
    size = 100 * count
    windows = list(range(low, high - size + 1, size))
    random.Random(os.getpid() ^ int(time.time() * 1000)).shuffle(windows)
    os.makedirs("/tmp/rdvtest-ports", exist_ok=True)
    for base in windows:
        held = []
        for b in range(base, base + size, 100):
            fd = os.open("/tmp/rdvtest-ports/%d" % b, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                break
            held.append(fd)
        if len(held) == count and all(udp_port_free(p) and tcp_port_free(p) for p in range(base, base + size)):
            _held.extend(held)
            return base
        for fd in held:
            os.close(fd)
    raise TestFailure("no %d free consecutive port blocks in %d-%d" % (count, low, high))


_held = []  # lock files of the blocks free_blocks reserved (released at exit)
