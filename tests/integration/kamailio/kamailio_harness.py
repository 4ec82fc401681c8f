"""What the Kamailio tests share: the relay under test started from --relay-cmd and pinged over
NG, the teardown that stops it before everything else (its exit status is part of the verdict),
and main()'s arguments, run directory and PASS / FAIL lines.

A test module provides run(args, workdir) -> a note or a list of notes, raising TestFailure; its
main() is `sys.exit(run_main(TEST_NAME, parser, run))`.
"""

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rdvtest import TestFailure, ng_request, stop_server, wait_until  # noqa: E402


def parser(doc, sipp=True):
    """The arguments every Kamailio test takes; the caller may add its own before run_main."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--relay-cmd", required=True,
                    help="relay command line with {ng_port} {port_min} {port_max} {metrics_port}")
    ap.add_argument("--workdir", required=True, help="directory for configs and logs")
    ap.add_argument("--kamailio", default=shutil.which("kamailio") or "/usr/sbin/kamailio")
    ap.add_argument("--kamailio-modules", default=None, help="Kamailio module dir (auto-detected)")
    if sipp:
        ap.add_argument("--sipp", default=shutil.which("sipp") or "/usr/bin/sipp")
    ap.add_argument("--keep", action="store_true", help="keep the run directory on success")
    return ap


def start_relay(procs, relay_cmd, ports):
    """Starts the relay with the test's ports filled into its command line; returns its process
    once it answers an NG ping."""
    cmd = relay_cmd
    for key, val in (("ng_port", ports["ng"]), ("port_min", ports["port_min"]),
                     ("port_max", ports["port_max"]), ("metrics_port", ports["metrics"])):
        cmd = cmd.replace("{%s}" % key, str(val))
    relay = procs.start("relay", shlex.split(cmd))

    def pong():
        raw, _ = ng_request(ports["ng"], "ping")
        if b"6:result4:pong" not in raw:
            raise ValueError("unexpected ping reply %r" % raw[:200])
        return True

    wait_until("relay NG ping -> pong on udp 127.0.0.1:%d" % ports["ng"], pong, 10.0, relay, "relay",
               procs.log_of("relay"))
    return relay


def wait_no_calls(procs, relay, ports):
    """The relay holds no call any more (NG list): what a BYE through Kamailio must leave."""
    wait_until("the relay to hold no call after the BYE", lambda: not ng_request(ports["ng"], "list")[1].get("calls"),
               3.0, relay, "relay", procs.log_of("relay"))


def stop_all(procs, relay):
    """Stops the relay first and on its own, so its exit status is known, then every other process.
    Returns what went wrong with the relay's exit, or None."""
    stopped = stop_server(relay, "the relay", procs.log_of("relay")) if relay is not None else None
    procs.stop_all()
    return stopped


def run_main(test_name, args, run, tools=(), label=None):
    """Checks the tools, makes the run directory, runs run(args, workdir) and prints the verdict.
    `tools` are (name, path) pairs that must be executable (installed by scripts/install-deps.sh:
    missing is a failure, not a skip)."""
    name = "%s (%s)" % (test_name, label) if label else test_name
    for tool, path in tools:
        if not (path and os.access(path, os.X_OK)):
            print("FAIL %s: %s not found at %r" % (name, tool, path))
            return 1
    os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="run-", dir=os.path.abspath(args.workdir))
    print("workdir: %s" % workdir, flush=True)
    t0 = time.monotonic()
    try:
        notes = run(args, workdir)
    except TestFailure as e:
        print(str(e))
        print("FAIL %s (%.1fs): %s [logs in %s]" % (name, time.monotonic() - t0, str(e).splitlines()[0], workdir))
        return 1
    except Exception as e:  # a harness bug must still be a clean failure
        traceback.print_exc()
        print("FAIL %s: harness error %s: %s [logs in %s]" % (name, type(e).__name__, e, workdir))
        return 1
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    if isinstance(notes, str):
        notes = [notes]
    print("PASS %s (%.1fs): %s" % (name, time.monotonic() - t0, "; ".join(notes)))
    return 0
