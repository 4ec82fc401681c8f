"""The servers under test: Rendezvous (registrar + B2BUA + its own relay) and Kamailio + rtpengine,
each started fresh for one phase and stopped by PID."""

import os
import re
import subprocess
import tempfile
import time

from relay_bench import Relay, proc_rss_kib, rendezvous_argv, rtpengine_argv
from rdvtest import metric, scrape_metrics, stop_process, tail
from siptest import options_ok

from .common import SCEN_DIR, log, password_of
from .procs import group_pids, own_session_child, proc_pss_kib, safe_cpu

# Set by sip_bench.main from the command line.
RELAY_PORTS = [20000, 59999]  # media ports of both relays (--relay-ports)
LOG_LEVEL = "warn"            # Rendezvous log.level (--log-level)
EXTRA_SETS = []               # --rendezvous-set KEY=VALUE, appended last

_KEYS = {}


def supports_key(binary, key):
    """Whether this rendezvous build knows a configuration key (its --help lists them all)."""
    if binary not in _KEYS:
        try:
            _KEYS[binary] = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            _KEYS[binary] = ""
    return key in _KEYS[binary]


class RendezvousServer:
    name = "rendezvous"

    def __init__(self, binary, ports, workdir, users, sets):
        self.ports = ports
        self.sip_port = ports["sip"]
        argv = rendezvous_argv(binary, ports["ng"]) + [
            "--set", f"relay.port_min={RELAY_PORTS[0]}", "--set", f"relay.port_max={RELAY_PORTS[1]}",
            "--set", f"metrics.listen=127.0.0.1:{ports['metrics']}",
            "--set", f"sip.listen=127.0.0.1:{ports['sip']}",
            "--set", "sip.auth_register=1", "--set", "sip.auth_invite=0", "--set", "sip.keepalive=0"]
        if LOG_LEVEL != "warn":
            argv += ["--set", f"log.level={LOG_LEVEL}"]
        if supports_key(binary, "api.listen"):
            argv += ["--set", "api.listen="]  # its default port may be taken; the benchmark needs no API
        if supports_key(binary, "sip.auth_algorithms"):
            # sipp 3.6.1 answers the topmost challenge only and knows MD5 only.
            argv += ["--set", "sip.auth_algorithms=MD5,SHA-256"]
        for k, v in sets.items():
            argv += ["--set", f"sip.{k}={v}"]
        for u in users:
            argv += ["--set", f"sip.users.{u}={password_of(u)}"]
        for kv in EXTRA_SETS:
            argv += ["--set", kv]
        self.relay = Relay("rendezvous", argv, ports["ng"], workdir)

    def start(self):
        self.relay.start()
        deadline = time.monotonic() + 10
        while not options_ok(self.sip_port, timeout=0.3):
            if time.monotonic() > deadline or self.relay.proc.poll() is not None:
                raise RuntimeError("rendezvous does not answer OPTIONS on udp 127.0.0.1:%d\n%s"
                                   % (self.sip_port, self.relay.log_tail()))
            time.sleep(0.1)

    def alive(self):
        return self.relay.proc is not None and self.relay.proc.poll() is None

    def cpu(self):
        return safe_cpu(self.relay.proc.pid)

    def cpu_parts(self):
        return {}

    def rss_kib(self):
        try:
            return proc_rss_kib(self.relay.proc.pid)
        except OSError:
            return 0

    def metrics(self):
        try:
            return scrape_metrics(self.ports["metrics"])
        except (OSError, ValueError):
            return ""

    def active_calls(self):
        return metric(self.metrics(), "rdv_calls_active")

    def counters(self):
        """Rendezvous's own SIP and call counters (unlabelled samples), for the step's diagnostics."""
        out = {}
        for line in self.metrics().splitlines():
            m = re.match(r"^(rdv_(?:sip|calls)_[a-z_]+)\s+(\S+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def log_tail(self):
        return self.relay.log_tail()

    def stop(self):
        self.relay.stop()


class KamailioServer:
    name = "kamailio"

    def __init__(self, kamailio, rtpengine, ports, workdir, children):
        self.ports = ports
        self.sip_port = ports["sip"]
        self.workdir = workdir
        argv = rtpengine_argv(rtpengine, ports["ng"])
        argv = [a.replace("--port-min=50000", f"--port-min={RELAY_PORTS[0]}")
                 .replace("--port-max=59999", f"--port-max={RELAY_PORTS[1]}") for a in argv]
        self.rtpengine = Relay("rtpengine", argv, ports["ng"], workdir)
        from kamailio_sipp_test import module_dir  # noqa: E402 (only needed with Kamailio)
        rundir = tempfile.mkdtemp(prefix="kamailio-run-", dir=workdir)
        with open(os.path.join(SCEN_DIR, "kamailio.cfg.in")) as f:
            cfg = f.read()
        for key, val in (("SIP_PORT", ports["sip"]), ("NG_PORT", ports["ng"]), ("RUN_DIR", rundir),
                         ("MODULE_DIR", module_dir(None)), ("CHILDREN", children)):
            cfg = cfg.replace("@%s@" % key, str(val))
        left = re.findall(r"@[A-Z_]+@", cfg)
        if left:
            raise RuntimeError("kamailio.cfg.in has unreplaced placeholders %s" % sorted(set(left)))
        self.cfg_path = os.path.join(rundir, "kamailio.cfg")
        with open(self.cfg_path, "w") as f:
            f.write(cfg)
        self.argv = [kamailio, "-f", self.cfg_path, "-DD", "-E", "-P", os.path.join(rundir, "kamailio.pid"),
                     "-Y", rundir, "-w", rundir, "-m", "1024", "-M", "32"]
        self.log_path = os.path.join(workdir, "kamailio-%d.log" % ports["sip"])
        self.proc = None
        self.pids = []

    def start(self):
        self.rtpengine.start()  # first: Kamailio disables a relay that does not answer at start-up
        with open(self.log_path, "wb") as logf:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                         preexec_fn=own_session_child)
        deadline = time.monotonic() + 15
        while not options_ok(self.sip_port, timeout=0.3):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("kamailio does not answer OPTIONS on udp 127.0.0.1:%d\n%s"
                                   % (self.sip_port, tail(self.log_path)))
            time.sleep(0.1)
        time.sleep(0.3)
        self.pids = group_pids(self.proc.pid)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None and self.rtpengine.proc.poll() is None

    def cpu(self):
        return sum(safe_cpu(p) for p in self.pids) + safe_cpu(self.rtpengine.proc.pid)

    def cpu_parts(self):
        return {"kamailio": sum(safe_cpu(p) for p in self.pids), "rtpengine": safe_cpu(self.rtpengine.proc.pid)}

    def rss_kib(self):
        """Kamailio's processes share memory: their PSS sum, plus rtpengine's RSS."""
        try:
            return sum(proc_pss_kib(p) for p in self.pids) + proc_rss_kib(self.rtpengine.proc.pid)
        except OSError:
            return 0

    def active_calls(self):
        return None

    def counters(self):
        return {}

    def log_tail(self):
        return tail(self.log_path) + "\n" + self.rtpengine.log_tail()

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, grace=5.0)
        self.rtpengine.stop()


# ---------------------------------------------------------------- one server per phase

def make_server(ctx, kind, users, sets, logdir):
    a = ctx.args
    if kind == "rendezvous":
        base = {"max_calls": 100000, "max_cps": 100000}
        base.update(sets or {})
        return RendezvousServer(ctx.rendezvous, ctx.ports, logdir, users, base)
    return KamailioServer(a.kamailio, a.rtpengine, ctx.ports, logdir, a.kamailio_children)


def with_server(ctx, kind, phase, users, sets, body):
    """Starts a fresh server for one phase (its logs in a directory of their own), runs body."""
    logdir = os.path.join(ctx.workdir, ctx.tag("%s-%s" % (phase, kind)))
    os.makedirs(logdir)
    server = make_server(ctx, kind, users, sets, logdir)
    try:
        server.start()
    except RuntimeError as e:
        server.stop()
        return [{"server": kind, "error": "start failed: %s" % e}]
    try:
        return body(server)
    finally:
        alive = server.alive()
        server.stop()
        if not alive:
            log("!! %s was not running at the end of the phase:\n%s" % (kind, server.log_tail()))
