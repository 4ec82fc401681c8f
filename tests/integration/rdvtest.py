"""Shared helpers for Rendezvous integration tests (python3 stdlib only): NG protocol client
(bencode), process control by PID, bounded waits, Prometheus scraping, port blocks, and the
pieces of a sipp-driven call: sipp message logs, relay SDP checks, pcap length, the callee media
endpoint (counts RTP, echoes it)."""

import argparse
import fcntl
import os
import random
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request

class TestFailure(Exception):
    pass


def check(cond, what):
    """Fails the running case with `what` unless `cond` holds."""
    if not cond:
        raise TestFailure(what)


def bencode(value):
    if isinstance(value, bytes):
        return str(len(value)).encode() + b":" + value
    if isinstance(value, str):
        return bencode(value.encode())
    if isinstance(value, bool):
        return bencode(int(value))
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, (list, tuple)):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        out = b"d"
        for k in sorted(value):
            out += bencode(k) + bencode(value[k])
        return out + b"e"
    raise TypeError("cannot bencode %r" % (value,))


def bdecode(data):
    def parse(i):
        c = data[i:i + 1]
        if c == b"i":
            end = data.index(b"e", i)
            return int(data[i + 1:end]), end + 1
        if c == b"l":
            i += 1
            out = []
            while data[i:i + 1] != b"e":
                v, i = parse(i)
                out.append(v)
            return out, i + 1
        if c == b"d":
            i += 1
            out = {}
            while data[i:i + 1] != b"e":
                k, i = parse(i)
                v, i = parse(i)
                out[k.decode(errors="replace") if isinstance(k, bytes) else k] = v
            return out, i + 1
        if c.isdigit():
            colon = data.index(b":", i)
            n = int(data[i:colon])
            return data[colon + 1:colon + 1 + n], colon + 1 + n
        raise ValueError("bad bencode at offset %d" % i)

    value, _ = parse(0)
    return value


def ng_request(port, command, timeout=0.5, **args):
    """One NG request; returns (raw_reply_bytes, decoded_dict) or raises OSError/ValueError."""
    cookie = "%08x" % random.getrandbits(32)
    msg = dict(args)
    msg["command"] = command
    payload = cookie.encode() + b" " + bencode(msg)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, ("127.0.0.1", port))
        while True:
            data, _ = s.recvfrom(65535)
            head, _, body = data.partition(b" ")
            if head.decode(errors="replace") == cookie:
                return data, bdecode(body)


def as_text(v):
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


def _port_free(kind, port):
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def udp_port_free(port):
    return _port_free(socket.SOCK_DGRAM, port)


def tcp_port_free(port):
    return _port_free(socket.SOCK_STREAM, port)


def test_args(doc):
    """The command line every server test takes (--rendezvous PATH --workdir DIR, help from the
    module `doc`), with the work directory created."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    return args


class Procs:
    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []  # (name, Popen, logpath)

    def start(self, name, argv, cwd=None):
        log = os.path.join(self.workdir, name + ".log")
        with open(os.path.join(self.workdir, name + ".cmd"), "w") as f:
            f.write(" ".join(shlex.quote(a) for a in argv) + "\n")
        fh = open(log, "wb")
        try:
            # Own session: Kamailio signals its whole process group on shutdown, which must not
            # be ours; and it lets us reap its children by that group id.
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                 cwd=cwd or self.workdir, start_new_session=True)
        except OSError as e:
            raise TestFailure("cannot start %s (%s): %s" % (name, argv[0], e))
        finally:
            fh.close()
        self.procs.append((name, p, log))
        return p

    def log_of(self, name):
        for n, _, log in self.procs:
            if n == name:
                return log
        return None

    def stop_all(self):
        for name, p, _ in reversed(self.procs):
            stop_process(p)


def stop_process(p, grace=5.0):
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                p.kill()
            except ProcessLookupError:
                pass
            p.wait(timeout=grace)
    # Stragglers of the process group we created for it (e.g. Kamailio's children).
    try:
        os.killpg(p.pid, 0)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace
    try:
        os.killpg(p.pid, signal.SIGTERM)
        while time.monotonic() < deadline:
            os.killpg(p.pid, 0)
            time.sleep(0.05)
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime field 14, stime field 15 (proc(5)).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kib(pid):
    """A process's resident set (VmRSS) in KiB; 0 when /proc does not say."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def stop_server(p, name, log=None, grace=5.0):
    """Stops a server the test started (SIGTERM, then SIGKILL after `grace`) and says how it
    ended: None when it was still running and exited 0 on SIGTERM; otherwise what went wrong (it
    died during the test, or crashed / hung on shutdown). Every test fails on a non-None result."""
    early = p.poll()
    stop_process(p, grace)
    if early is not None:
        return "%s died during the test (exit code %s)\n%s" % (name, early, tail(log))
    if p.returncode != 0:
        return ("%s exited with code %s on SIGTERM, expected 0 (crash or hang on shutdown)\n%s"
                % (name, p.returncode, tail(log)))
    return None


def log_text(path):
    """The whole log file as text ("" when it does not exist yet)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def tail(path, n=25):
    if not path or not os.path.exists(path):
        return "(no log)"
    with open(path, "rb") as f:
        lines = f.read().decode(errors="replace").splitlines()
    return "\n".join("    | " + l for l in lines[-n:])


def wait_until(what, predicate, deadline_s, proc=None, proc_name=None, log=None, interval=0.05):
    """Poll predicate() until truthy; fail if the deadline passes or proc dies first."""
    deadline = time.monotonic() + deadline_s
    last_err = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise TestFailure("%s exited with code %s while waiting for %s\n%s"
                              % (proc_name, proc.returncode, what, tail(log)))
        try:
            v = predicate()
            if v:
                return v
        except (OSError, ValueError) as e:
            last_err = e
        time.sleep(interval)
    raise TestFailure("timed out after %.0fs waiting for %s (last error: %s)\n%s"
                      % (deadline_s, what, last_err, tail(log)))


def scrape_metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=1.0) as r:
        return r.read().decode(errors="replace")


def relay_packets(text):
    """rdv_relay_packets_total: the unlabelled sample, else the sum of its labelled series; None
    when /metrics has neither."""
    total, found = 0.0, False
    for line in text.splitlines():
        m = re.match(r"^rdv_relay_packets_total(\{[^}]*\})?\s+(\S+)", line)
        if m:
            if not m.group(1):
                return float(m.group(2))
            total += float(m.group(2))
            found = True
    return total if found else None


def metric(text, name, labels=None):
    """Value of one Prometheus sample: `name` with exactly `labels` (dict), or None if absent."""
    want = labels or {}
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if got == want:
            return float(m.group(3))
    return None


_held_blocks = []  # lock files of the port blocks this process holds (released at exit)


def free_block(size=100, low=20000, high=32000):
    """Base of a block of `size` loopback ports, free on UDP and TCP and reserved for this process.

    Blocks are aligned windows of [low, high) (below the ephemeral range; the C++ unit tests use
    10000-20000). Tests run in parallel, so "free right now" is not enough: a block is taken by
    holding an flock on /tmp/rdvtest-ports/<base> for the life of the process, and a process
    never takes a block another one holds."""
    os.makedirs("/tmp/rdvtest-ports", exist_ok=True)
    windows = list(range(low, high - size + 1, size))
    random.Random(os.getpid() ^ int(time.time() * 1000)).shuffle(windows)
    for base in windows:
        fd = os.open("/tmp/rdvtest-ports/%d" % base, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if all(udp_port_free(p) and tcp_port_free(p) for p in range(base, base + size)):
            _held_blocks.append(fd)
            return base
        os.close(fd)
    raise TestFailure("no block of %d free loopback ports in %d-%d" % (size, low, high))


def sip_options_ok(port, timeout=0.3):
    """True if an OPTIONS sent over UDP to 127.0.0.1:port is answered 200."""
    call_id = "probe-%08x@127.0.0.1" % random.getrandbits(32)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        lport = s.getsockname()[1]
        msg = ("OPTIONS sip:127.0.0.1:%d SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-rdv-%08x;rport\r\n"
               "Max-Forwards: 70\r\n"
               "From: <sip:probe@127.0.0.1>;tag=%08x\r\n"
               "To: <sip:127.0.0.1:%d>\r\n"
               "Call-ID: %s\r\n"
               "CSeq: 1 OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n"
               % (port, lport, random.getrandbits(32), random.getrandbits(32), port, call_id))
        s.sendto(msg.encode(), ("127.0.0.1", port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                return False
            if call_id.encode() in data and data.startswith(b"SIP/2.0 "):
                if data.startswith(b"SIP/2.0 1"):
                    continue
                return data.startswith(b"SIP/2.0 200")
        return False


class Relay:
    """A rendezvous process on its own ports: NG at base, metrics at base+1, the operator API at
    base+3 (no token), media base+10..

    sip: None (default: no SIP keys passed) or a dict of sip.* settings without the prefix, e.g.
    {"users.alice": "alicepw", "auth_register": 1}; then sip.listen=127.0.0.1:base+2 (UDP and
    TCP) and relay.interface=127.0.0.1 are added and start-up also waits for a 200 to OPTIONS.
    log_level: passed as --set log.level (None: not passed, so a --config file's level holds).
    extra: more arguments, or a function of the block's base port returning them (for listeners
    placed in the block's spare ports base+4..base+9)."""

    def __init__(self, binary, workdir, extra=(), sip=None, log_level="debug"):
        os.makedirs(workdir, exist_ok=True)
        self.base = free_block()
        self.ng_port = self.base
        self.metrics_port = self.base + 1
        self.sip_port = self.base + 2 if sip is not None else None
        self.api_port = self.base + 3
        self.port_min = self.base + 10
        self.port_max = self.base + 99
        self.procs = Procs(workdir)
        argv = [os.path.abspath(binary), "--set", "ng.listen=127.0.0.1:%d" % self.ng_port,
                "--set", "metrics.listen=127.0.0.1:%d" % self.metrics_port,
                "--set", "api.listen=127.0.0.1:%d" % self.api_port,
                "--set", "relay.port_min=%d" % self.port_min, "--set", "relay.port_max=%d" % self.port_max]
        if log_level is not None:
            argv += ["--set", "log.level=%s" % log_level]
        if sip is not None:
            argv += ["--set", "sip.listen=127.0.0.1:%d" % self.sip_port,
                     "--set", "relay.interface=127.0.0.1"]
            for key, value in sip.items():
                argv += ["--set", "sip.%s=%s" % (key, value)]
        else:
            # No SIP unless asked for (extra may still set sip.listen): the default 5060 would
            # collide between tests running in parallel.
            argv += ["--set", "sip.listen="]
        argv += list(extra(self.base) if callable(extra) else extra)
        self.proc = self.procs.start("rendezvous", argv)
        wait_until("rendezvous NG pong", lambda: self.ng("ping")["result"] == b"pong", 10,
                   proc=self.proc, proc_name="rendezvous", log=self.procs.log_of("rendezvous"))
        if sip is not None:
            wait_until("rendezvous SIP 200 to OPTIONS on udp 127.0.0.1:%d" % self.sip_port,
                       lambda: sip_options_ok(self.sip_port), 10,
                       proc=self.proc, proc_name="rendezvous", log=self.procs.log_of("rendezvous"))

    def ng(self, command, **args):
        return ng_request(self.ng_port, command, **args)[1]

    def metrics(self):
        return scrape_metrics(self.metrics_port)

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        return log_text(self.procs.log_of("rendezvous"))

    def stop(self):
        """Stops rendezvous; None if it ran to the end and exited 0 on SIGTERM, else the problem
        (see stop_server). Safe to call again: later calls return the first call's result."""
        if not hasattr(self, "_stopped"):
            self._stopped = stop_server(self.proc, "rendezvous", self.procs.log_of("rendezvous"))
            self.procs.stop_all()
        return self._stopped


def run_cases(suite, relay, cases, after=None):
    """Runs `cases`, (name, thunk) pairs, against `relay` in order: prints PASS name: <what the
    thunk returned> or, on TestFailure, FAIL with the last 25 lines of rendezvous's log, and goes
    on. `after(failed)`, if given, runs last with the number of failed cases and returns how many
    more failed. Then stops rendezvous (a bad exit fails too), prints the suite's verdict and
    returns the exit code: 0 pass, 1 fail."""
    failed = 0
    try:
        for name, case in cases:
            try:
                print("PASS %s: %s" % (name, case()), flush=True)
            except TestFailure as e:
                failed += 1
                print("FAIL %s: %s\n--- rendezvous log tail\n%s" % (name, e, "\n".join(relay.log().splitlines()[-25:])))
        if after is not None:
            failed += after(failed)
    finally:
        problem = relay.stop()
    if problem:
        print("FAIL rendezvous: %s" % problem)
        failed += 1
    print("%s %s" % ("FAIL" if failed else "PASS", suite))
    return 1 if failed else 0


# ---------------------------------------------------------------- sipp-driven calls

def sipp_trace_messages(path):
    """sipp -trace_msg log -> [(direction 'received'/'sent', message text as sipp wrote it)] in
    order; [] when the log does not exist."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        text = f.read().decode(errors="replace")
    out = []
    for block in re.split(r"^-{10,}.*$", text, flags=re.M):
        m = re.search(r"message (received|sent)[^\n]*\n", block)
        if m:
            out.append((m.group(1), block[m.end():]))
    return out


def relay_sdp_port(who, sdp, port_min, port_max, forbidden_ports=()):
    """The m=audio port of SDP text that the relay rewrote: fails unless every c= is IN IP4
    127.0.0.1 and the port lies in the relay range [port_min, port_max] and is none of
    `forbidden_ports` (the endpoints' own ports)."""
    if not sdp.strip():
        raise TestFailure("%s carries no SDP body" % who)
    conns = re.findall(r"^c=IN IP4 (\S+)", sdp, flags=re.M)
    if not conns or any(c != "127.0.0.1" for c in conns):
        raise TestFailure("%s: SDP c= %s, expected only 127.0.0.1:\n%s" % (who, conns or "missing", sdp))
    m = re.search(r"^m=audio (\d+) ", sdp, flags=re.M)
    if not m:
        raise TestFailure("%s: SDP has no m=audio line:\n%s" % (who, sdp))
    port = int(m.group(1))
    if port in forbidden_ports:
        raise TestFailure("%s: SDP m=audio %d is an endpoint's own port, not rewritten to the relay:\n%s"
                          % (who, port, sdp))
    if not port_min <= port <= port_max:
        raise TestFailure("%s: SDP m=audio %d outside the relay range [%d, %d]:\n%s"
                          % (who, port, port_min, port_max, sdp))
    return port


def pcap_info(path):
    """(packets, seconds from first to last) of a classic pcap file (sipp plays them all)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise TestFailure("pcap %s is truncated" % path)
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise TestFailure("%s is not a classic pcap file" % path)
    # Microsecond magic (a1b2c3d4) or nanosecond magic (a1b23c4d).
    scale = 1e9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e6
    off, n, first, last = 24, 0, None, None
    while off + 16 <= len(data):
        sec, frac, incl = struct.unpack(endian + "III", data[off:off + 12])
        t = sec + frac / scale
        first = t if first is None else first
        last = t
        off += 16 + incl
        n += 1
    if not n:
        raise TestFailure("pcap %s has no packets" % path)
    return n, last - first


class RtpEcho(threading.Thread):
    """Callee media endpoint on 127.0.0.1:port: counts RTP (v2) packets per source address and
    the payload types seen, and echoes every datagram back to its source."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.1)
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.by_source = {}   # (ip, port) -> RTP packets
        self.payload_types = set()
        self.echoed = 0

    def run(self):
        while not self.stop_event.is_set():
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                break
            with self.lock:
                if len(data) >= 12 and data[0] >> 6 == 2:
                    self.by_source[src] = self.by_source.get(src, 0) + 1
                    self.payload_types.add(data[1] & 0x7F)
            try:
                self.sock.sendto(data, src)
                with self.lock:
                    self.echoed += 1
            except OSError:
                pass

    def reset(self):
        with self.lock:
            self.by_source = {}
            self.payload_types = set()
            self.echoed = 0

    def snapshot(self):
        """({source: RTP packets}, datagrams echoed) so far."""
        with self.lock:
            return dict(self.by_source), self.echoed

    def seen_payload_types(self):
        with self.lock:
            return set(self.payload_types)

    def stop(self):
        self.stop_event.set()
        self.join(timeout=2.0)
        self.sock.close()


# ---------------------------------------------------------------- an NG call with RTP

def pcmu_sdp(port, ip="127.0.0.1"):
    """A one-stream PCMU SDP at ip:port."""
    return ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % (ip, ip, port))


def sdp_media_port(sdp):
    """The port of the first m=audio line of an SDP body (bytes or str)."""
    text = sdp.decode() if isinstance(sdp, bytes) else sdp
    for line in text.splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise TestFailure("no m=audio line in %r" % sdp)


def ng_call_with_rtp(ng_port, call_id, a, b, packets, from_tag="ft", to_tag="tt"):
    """offer (from UDP socket a) and answer (from b) over NG, then `packets` PCMU packets each way
    through the relay, each awaited at the far socket. Returns (offer_reply, answer_reply); the
    call stays up."""
    offer = ng_request(ng_port, "offer", **{"call-id": call_id, "from-tag": from_tag,
                                             "sdp": pcmu_sdp(a.getsockname()[1])})[1]
    answer = ng_request(ng_port, "answer", **{"call-id": call_id, "from-tag": from_tag, "to-tag": to_tag,
                                               "sdp": pcmu_sdp(b.getsockname()[1])})[1]
    if offer.get("result") != b"ok" or answer.get("result") != b"ok":
        raise TestFailure("NG offer/answer of %s failed: %s / %s" % (call_id, offer, answer))
    for seq in range(1, packets + 1):
        pkt = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0xA) + bytes(160)
        a.sendto(pkt, ("127.0.0.1", sdp_media_port(answer["sdp"])))
        b.recvfrom(2048)
        b.sendto(pkt, ("127.0.0.1", sdp_media_port(offer["sdp"])))
        a.recvfrom(2048)
    return offer, answer


def make_cert(workdir, prefix=""):
    """A self-signed RSA certificate and key for 127.0.0.1 (openssl CLI) in `workdir`: (cert, key) paths."""
    cert = os.path.join(workdir, prefix + "cert.pem")
    key = os.path.join(workdir, prefix + "key.pem")
    if shutil.which("openssl") is None:
        raise TestFailure("the openssl command is not installed (scripts/install-deps.sh test)")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                        "-days", "1", "-keyout", key, "-out", cert],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise TestFailure("openssl req failed:\n%s" % r.stdout.decode(errors="replace"))
    return cert, key
