#!/usr/bin/env python3
"""TURN TCP relay (RFC 6062) benchmark: Rendezvous against coturn (turnserver) in the same run.

A minimal RFC 6062 client (here, Python): over a TCP control connection it allocates a TCP
relayed address (long-term credentials), permits 127.0.0.1 and Connects to a local TCP sink; a
second connection sends ConnectionBind, then BYTES of data (1 MiB writes). The sink counts them.
Figures per server: throughput (GiB/s of payload through the relay, one way) and the server's CPU
seconds per GiB (utime + stime of all its threads from /proc/PID/stat over the transfer), and so
throughput per server CPU second. coturn runs with the options turn_bench.py uses.

Usage: turn_tcp_bench.py --rendezvous PATH [--turnserver /usr/bin/turnserver] [--gib 4] [--runs 2]
The transfer is bounded by a timeout; servers are stopped by PID.
"""

import os
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from turn_bench import PASSWORD, TURN_PORT, USER, arg_parser, server_argv, start  # noqa: E402
from rdvtest import proc_cpu_seconds, stop_process  # noqa: E402
from turnclient import TurnTcpClient  # noqa: E402

CHUNK = 1 << 20


def transfer(total):
    """One RFC 6062 transfer of `total` bytes through the server on TURN_PORT; returns seconds."""
    sink = socket.socket()
    sink.bind(("127.0.0.1", 0))
    sink.listen(1)
    sink_port = sink.getsockname()[1]
    received = [0]

    def drain():
        conn, _ = sink.accept()
        buf = bytearray(CHUNK)
        while received[0] < total:  # coturn turns the client's half-close into a reset: do not wait for EOF
            try:
                n = conn.recv_into(buf)
            except ConnectionResetError:  # coturn resets the peer connection once the client is done
                break
            if n == 0:
                break
            received[0] += n
        conn.close()
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    control = TurnTcpClient(TURN_PORT, USER, PASSWORD, timeout=30)
    control.allocate(tcp=True)
    control.permit("127.0.0.1")
    data = control.bind_data(control.connect_peer("127.0.0.1", sink_port))
    payload = os.urandom(CHUNK)
    start_s = time.monotonic()
    sent = 0
    while sent < total:
        data.sendall(payload)
        sent += len(payload)
    reader.join(timeout=300)
    elapsed = time.monotonic() - start_s
    data.close()
    control.close()
    sink.close()
    if received[0] != total:
        raise SystemExit("the sink got %d of %d bytes" % (received[0], total))
    return elapsed


def main():
    ap = arg_parser(__doc__)
    ap.add_argument("--gib", type=float, default=4)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--servers", default="rendezvous,coturn")
    args = ap.parse_args()
    total = int(args.gib * (1 << 30)) // CHUNK * CHUNK
    workdir = tempfile.mkdtemp(prefix="turn-tcp-bench-")
    print("%-10s %4s %8s %10s %12s %16s" % ("server", "run", "GiB", "Gbit/s", "CPU-s/GiB", "GiB per CPU-s"))
    for kind in args.servers.split(","):
        for run in range(args.runs):
            server = start(kind, server_argv(kind, args, workdir), workdir)
            try:
                cpu0 = proc_cpu_seconds(server.pid)
                seconds = transfer(total)
                cpu = proc_cpu_seconds(server.pid) - cpu0
            finally:
                stop_process(server)
            gib = total / (1 << 30)
            print("%-10s %4d %8.2f %10.2f %12.3f %16.2f" % (kind, run + 1, gib, gib * 8 * 1.073741824 / seconds,
                                                            cpu / gib, gib / cpu if cpu else float("inf")))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
