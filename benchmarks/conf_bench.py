#!/usr/bin/env python3
"""Conference benchmark driver: one room of N plain-RTP participants (3 talkers with tones, the
rest sending encoded silence) against Rendezvous's mixer and, in the same run, Janus AudioBridge.

With --rooms R the N participants form R rooms (codecs Opus, G.722, PCMU in turn) on either server.

For each server and participant count: start the server on loopback, create the room, join N
participants through the server's API (each with its own local RTP port), run conf_load for
--seconds, sample the server's CPU (/proc/PID/stat utime+stime, optionally per thread) at
conf_load's `phase=media_start` and `phase=media_end` lines, scrape Rendezvous's rdv_mixer_*
counters before and after, delete the room and stop the server by PID.

Figures per run:
  ms/p-s       server CPU over the media phase / (participants x media seconds): CPU per
               participant-second
  cores        server CPU / wall time of the media phase
  recv         packets received by the participants / packets they sent (a mixer sends each
               participant one frame per frame it receives)
  loss% late   by RTP sequence at every participant; jitter p50 is RFC 3550 interarrival jitter
  lat p50/p99  added latency: a talker's first tone frame leaving conf_load -> the first frame at a
               listener whose decoded audio carries that tone (Goertzel), over (talker, listener)
               pairs (and onsets, with --tone-cycle C: the tones start again every C seconds, so
               the onsets fall at every phase of the server's tick); `found` says how many
               (pair, onset) samples heard the tone at all
  enc/tick, overruns   Rendezvous's rdv_mixer_* counters over the media phase (not available for
               Janus); the JSON's mixer_setup has the overruns of the setup before it
  conc%        frames the mixer concealed (codec PLC/FEC: lost, late or underrun) / frames the
               participants sent over the media phase, in % (Rendezvous only)
  level        Rendezvous's encoding levels (rdv_mixer_encoding_level{worker}, the load governor of
               conference.adaptive_encoding): the highest any mixer reached during the run (polled
               every second), then each mixer's level at the end, e.g. "4 (4,3)"; chg = level changes
  other%       everything else's CPU on the machine during the media phase, as a share of all cores
  stalls       with --stall-probe: stall_probe (built beside conf_load; stalls.py) runs one
               SCHED_FIFO 90 thread per core, pinned, waking every 1 ms, from the media phase to
               conf_load's end (the span of the mixer's counters);
               "N/M" = N stalls (wake-ups at least 5 ms late), the longest M ms. Nothing at a
               lower priority delays that thread, so these are the machine's own stalls (a
               hypervisor's, or a non-preemptive kernel's long system calls), which any tick in
               them also suffers
  ovr@stl      with --stall-probe: the overruns among `overruns` that the server reported in a
               window (its reports are at most one a second per mixer) that met such a stall

Python 3 standard library only. Sends only to 127.0.0.1. Every wait and loop is bounded.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "tests", "integration"))

import relay_bench  # noqa: E402
from relay_bench import NCPU, CLK_TCK, prepare_child, proc_cpu_seconds, system_busy_seconds  # noqa: E402
from rdvtest import free_block, stop_process  # noqa: E402
from stalls import StallProbe, overruns_in_stalls  # noqa: E402

JANUS = "/usr/bin/janus"
JANUS_LIB = "/usr/lib/x86_64-linux-gnu/janus"
PAYLOAD_TYPES = {"opus": 111, "pcmu": 0, "pcma": 8, "g722": 9}
TONES = [440, 1000, 1700, 620, 1330, 2300]  # talker i gets TONES[i]
LEVEL_EXT_ID = 1
MEDIA_PORTS = (40000, 49999)  # the servers' RTP ports; participants take a block in 20000-32000
HTTP_TIMEOUT = 5.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def http_json(method, url, body=None, timeout=HTTP_TIMEOUT):
    """(status, decoded JSON or None). Loopback only: every URL here is built on 127.0.0.1."""
    assert url.startswith("http://127.0.0.1:")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


class Server:
    """A server process we started, stopped by its PID only (stop_process)."""

    def __init__(self, name, argv, log_path):
        self.name = name
        log_file = open(log_path, "wb")
        self.log_path = log_path
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                     preexec_fn=prepare_child)
        log_file.close()

    def wait_ready(self, probe, seconds=15.0):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; log {self.log_path}")
            try:
                if probe():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {seconds:.0f} s; log {self.log_path}")

    def thread_cpu(self):
        """{thread kind: CPU seconds}: threads summed by the first word of their name (Janus names a
        thread per participant, e.g. "mixer 4242 5372")."""
        out = {}
        task_dir = f"/proc/{self.proc.pid}/task"
        for tid in os.listdir(task_dir):
            try:
                with open(f"{task_dir}/{tid}/stat") as f:
                    text = f.read()
            except OSError:
                continue
            name = (text[text.index("(") + 1:text.rindex(")")].split() or ["?"])[0]
            fields = text.rsplit(")", 1)[1].split()
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
        return out

    def stop(self):
        stop_process(self.proc)


class Janus:
    """Janus 1.x with only the AudioBridge plugin and the HTTP transport, on 127.0.0.1."""

    name = "janus"

    def __init__(self, args, http_port, run_dir):
        self.args = args
        self.base = f"http://127.0.0.1:{http_port}/janus"
        conf = os.path.join(run_dir, f"janus-{http_port}")
        os.makedirs(conf, exist_ok=True)
        self._write_config(conf, http_port)
        argv = [args.janus, "-C", os.path.join(conf, "janus.jcfg"), "-F", conf, "-o",
                "-d", str(args.janus_debug), "-s", "0"]
        self.server = Server("janus", argv, os.path.join(run_dir, f"janus-{http_port}.log"))
        self.server.wait_ready(lambda: http_json("GET", self.base + "/info", timeout=0.5)[0] == 200)
        self.session = self._janus("", {"janus": "create"})["data"]["id"]
        self.room = 4242
        self.rooms = {}  # --rooms: room name -> AudioBridge room number, each created on first join
        self.handles = []

    @staticmethod
    def _disabled(kind, keep):
        folder = os.path.join(JANUS_LIB, kind)
        names = sorted(f for f in os.listdir(folder) if f.endswith(".so")) if os.path.isdir(folder) else []
        return ",".join(n for n in names if n != keep)

    def _write_config(self, conf, http_port):
        lo, hi = MEDIA_PORTS
        files = {
            "janus.jcfg": f"""
general: {{
  configs_folder = "{conf}"
  plugins_folder = "{JANUS_LIB}/plugins"
  transports_folder = "{JANUS_LIB}/transports"
  events_folder = "{JANUS_LIB}/events"
  loggers_folder = "{JANUS_LIB}/loggers"
  debug_level = {self.args.janus_debug}
  session_timeout = 0
  admin_secret = "conf-bench-{os.getpid()}"
}}
media: {{ rtp_port_range = "{lo}-{hi}" }}
nat: {{ ice_enforce_list = "lo" }}
plugins: {{ disable = "{self._disabled('plugins', 'libjanus_audiobridge.so')}" }}
transports: {{ disable = "{self._disabled('transports', 'libjanus_http.so')}" }}
loggers: {{ disable = "{self._disabled('loggers', '')}" }}
events: {{ broadcast = false }}
""",
            "janus.plugin.audiobridge.jcfg": f"""
general: {{
  local_ip = "127.0.0.1"
  rtp_port_range = "{lo}-{hi}"
  events = false
}}
""",
            "janus.transport.http.jcfg": f"""
general: {{
  json = "compact"
  base_path = "/janus"
  http = true
  port = {http_port}
  ip = "127.0.0.1"
  https = false
}}
admin: {{
  admin_http = false
  admin_https = false
}}
""",
        }
        for name, text in files.items():
            with open(os.path.join(conf, name), "w") as f:
                f.write(text)

    def _janus(self, path, body):
        body = dict(body, transaction=f"t{time.monotonic_ns()}")
        status, reply = http_json("POST", self.base + path, body)
        if status != 200 or not reply or reply.get("janus") not in ("success", "ack"):
            raise RuntimeError(f"janus {body.get('janus')} {path}: HTTP {status} {reply}")
        return reply

    def _plugin(self, handle, request):
        reply = self._janus(f"/{self.session}/{handle}", {"janus": "message", "body": request})
        return reply

    def _attach(self):
        return self._janus(f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.audiobridge"})["data"]["id"]

    def create_room(self, number=None):
        if not hasattr(self, "admin"):
            self.admin = self._attach()
        reply = self._plugin(self.admin, {
            "request": "create", "room": number or self.room, "sampling_rate": self.args.janus_rate,
            "allow_rtp_participants": True, "audiolevel_ext": self.args.levels,
        })
        data = reply.get("plugindata", {}).get("data", {})
        if data.get("audiobridge") != "created":
            raise RuntimeError(f"janus create room: {data}")

    def join(self, ports, codec, room=None):
        """Joins one plain-RTP participant per local port to `room` (a --rooms name; default the
        benchmark's room); `codec` is one name for all, or a list with one per port. Returns the
        server's address for each."""
        number = self.room
        if room is not None:
            if room not in self.rooms:
                self.rooms[room] = self.room + 1 + len(self.rooms)
                self.create_room(self.rooms[room])
            number = self.rooms[room]
        by_handle = {}
        for i, port in enumerate(ports):
            c = codec[i] if isinstance(codec, list) else codec
            handle = self._attach()
            rtp = {"ip": "127.0.0.1", "port": port, "payload_type": PAYLOAD_TYPES[c]}
            if self.args.levels:
                rtp["audiolevel_ext"] = LEVEL_EXT_ID
            self._plugin(handle, {"request": "join", "room": number, "display": f"p{i}", "codec": c,
                                  "muted": False, "rtp": rtp})
            by_handle[handle] = i
            self.handles.append(handle)
        # The joined events (with Janus's RTP port) arrive on the session's long poll.
        remote = [None] * len(ports)
        missing = len(ports)
        deadline = time.monotonic() + 30 + 0.05 * len(ports)
        while missing and time.monotonic() < deadline:
            status, events = http_json("GET", f"{self.base}/{self.session}?maxev=100", timeout=10)
            if status != 200:
                raise RuntimeError(f"janus long poll: HTTP {status}")
            for ev in events if isinstance(events, list) else [events]:
                i = by_handle.get((ev or {}).get("sender"))
                data = ((ev or {}).get("plugindata") or {}).get("data") or {}
                if i is None or remote[i] is not None:
                    continue
                if data.get("audiobridge") == "joined" and "rtp" in data:
                    remote[i] = (data["rtp"]["ip"], int(data["rtp"]["port"]))
                    missing -= 1
                elif "error" in data:
                    raise RuntimeError(f"janus join p{i}: {data}")
        if missing:
            raise RuntimeError(f"janus: {missing} joins unanswered")
        return remote

    def metrics(self):
        return {}

    def close(self):
        for number in list(self.rooms.values()) or [self.room]:
            try:
                self._plugin(self.admin, {"request": "destroy", "room": number})
            except (RuntimeError, OSError, AttributeError) as e:
                log(f"janus destroy {number}: {e}")
        self.server.stop()


class Rendezvous:
    """Rendezvous with its conference API (api.listen) and /metrics on 127.0.0.1."""

    name = "rendezvous"

    def __init__(self, args, api_port, metrics_port, ng_port, run_dir):
        self.args = args
        self.api = f"http://127.0.0.1:{api_port}/api/v1"
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.room = "confbench"
        self.rooms = []  # every room joined, deleted on close
        lo, hi = MEDIA_PORTS
        argv = [args.rendezvous, "--set", f"api.listen=127.0.0.1:{api_port}",
                "--set", f"metrics.listen=127.0.0.1:{metrics_port}", "--set", f"ng.listen=127.0.0.1:{ng_port}",
                "--set", "sip.listen=", "--set", "relay.interface=127.0.0.1",
                "--set", f"relay.port_min={lo}", "--set", f"relay.port_max={hi}", "--set", "log.level=warn",
                # the room is as large as the run (the default limit is 100 per room)
                "--set", "conference.max_participants=100000"]
        for kv in args.rendezvous_set:
            argv += ["--set", kv]
        self.server = Server("rendezvous", argv, os.path.join(run_dir, f"rendezvous-{api_port}.log"))
        self.server.wait_ready(lambda: http_json("GET", f"{self.api}/conferences/{self.room}", timeout=0.5)[0]
                               in (200, 404))

    def create_room(self):
        pass  # the first participant creates it

    def join(self, ports, codec, room=None):
        """Joins one participant per port to `room` (default the benchmark's room); `codec` is one
        name for all, or a list with one per port."""
        remote, room = [], room or self.room
        if room not in self.rooms:
            self.rooms.append(room)
        for i, port in enumerate(ports):
            c = codec[i] if isinstance(codec, list) else codec
            status, reply = http_json("POST", f"{self.api}/conferences/{room}/participants",
                                      {"rtp": {"ip": "127.0.0.1", "port": port}, "codec": c})
            if status != 201 or not reply or "rtp" not in reply:
                raise RuntimeError(f"rendezvous join {port}: HTTP {status} {reply}")
            remote.append((reply["rtp"]["ip"], int(reply["rtp"]["port"])))
        return remote

    def _metrics_text(self):
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=HTTP_TIMEOUT) as r:
                return r.read().decode(errors="replace")
        except OSError:
            return ""

    def levels(self):
        """{mixer worker: encoding level} from rdv_mixer_encoding_level{worker="k"}."""
        out = {}
        for line in self._metrics_text().splitlines():
            if line.startswith('rdv_mixer_encoding_level{worker="'):
                worker = line.split('"', 2)[1]
                try:
                    out[worker] = int(float(line.rpartition(" ")[2]))
                except ValueError:
                    pass
        return out

    def metrics(self):
        """Every rdv_mixer_* sample, labelled series summed per name."""
        text = self._metrics_text()
        if not text:
            return {}
        out = {}
        for line in text.splitlines():
            if not line.startswith("rdv_mixer_"):
                continue
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{", 1)[0]
            try:
                out[name] = out.get(name, 0.0) + float(value)
            except ValueError:
                pass
        return out

    def close(self):
        for room in self.rooms or [self.room]:
            try:
                http_json("DELETE", f"{self.api}/conferences/{room}")
            except OSError as e:
                log(f"rendezvous delete {room}: {e}")
        self.server.stop()


def participants_file(path, ports, remote, codec, talkers, levels):
    # conf_load spreads the participants over the 20 ms period in file order: talkers spread evenly
    # through the file send at phases a third of a period apart (3 talkers), so their onsets meet
    # the server's tick at different phases (latency percentiles need more than one phase).
    at = {k * len(ports) // talkers: k for k in range(talkers)}
    with open(path, "w") as f:
        for i, (port, (ip, rport)) in enumerate(zip(ports, remote)):
            if not ip.startswith("127."):
                raise RuntimeError(f"server gave a non-loopback address {ip}")
            role, hz = ("talker", TONES[at[i]]) if i in at else ("silent", 0)
            ext = f" {LEVEL_EXT_ID}" if levels else ""
            f.write(f"{port} {ip}:{rport} {codec} {PAYLOAD_TYPES[codec]} {role} {hz}{ext}\n")


ROOM_CODECS = ["opus", "g722", "pcmu"]  # --rooms: participant i of a room has ROOM_CODECS[i % 3]


def room_talkers(args, room, size):
    """Who talks in room `room` of --rooms: positions 0 and 1 (an Opus and a G.722 participant),
    or with --same-codec-talkers two of one codec, the codec taking turns by room."""
    if args.same_codec_talkers:
        first = room % len(ROOM_CODECS)
        return [p for p in (first, first + len(ROOM_CODECS)) if p < size][:args.talkers]
    return list(range(min(args.talkers, size)))


def join_rooms(args, server, ports, run_dir):
    """--rooms R: R rooms of len(ports) / R participants, codecs in turn, args.talkers talkers
    each; writes conf_load's participants file and returns its path."""
    size = len(ports) // args.rooms
    spec = os.path.join(run_dir, f"rooms-{args.rooms}x{size}.participants")
    with open(spec, "w") as f:
        for room in range(args.rooms):
            mine = ports[room * size:(room + 1) * size]
            codecs = [ROOM_CODECS[i % len(ROOM_CODECS)] for i in range(size)]
            if server.name == "janus":
                # Janus 1.1.2's AudioBridge takes plain-RTP participants in opus, pcmu or pcma only
                # (error 484 for g722): its rooms get PCMA where ours have G.722.
                codecs = ["pcma" if c == "g722" else c for c in codecs]
            remote = server.join(mine, codecs, room=f"confbench{room}")
            talkers = room_talkers(args, room, size)
            for i, (port, (ip, rport)) in enumerate(zip(mine, remote)):
                if not ip.startswith("127."):
                    raise RuntimeError(f"server gave a non-loopback address {ip}")
                role, hz = ("talker", TONES[talkers.index(i)]) if i in talkers else ("silent", 0)
                f.write(f"{port} {ip}:{rport} {codecs[i]} {PAYLOAD_TYPES[codecs[i]]} {role} {hz}\n")
    return spec


def load_preexec(nice):
    """preexec_fn for conf_load: prepare_child at the generator's own niceness (--load-nice)."""
    def prep():
        relay_bench.NICE = nice  # in the forked child only
        prepare_child()
    return prep


class LevelPoller:
    """Polls Rendezvous's encoding levels every second while conf_load runs; keeps each worker's
    highest level (the load governor may step back up before the run ends)."""

    def __init__(self, server):
        self.server, self.highest = server, {}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_event.wait(1.0):
            for w, lvl in self.server.levels().items():
                self.highest[w] = max(lvl, self.highest.get(w, 0))

    def __enter__(self):
        if hasattr(self.server, "levels"):
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout=HTTP_TIMEOUT + 1)


def run_conf_load(args, server, spec_path, n):
    """Runs conf_load and samples the server at its phase lines; returns the figures."""
    argv = [args.conf_load, "--participants", spec_path, "--seconds", str(args.seconds),
            "--tone-at", str(args.tone_at), "--decode", str(args.decode)]
    if args.tone_cycle:
        argv += ["--tone-cycle", str(args.tone_cycle)]
    if args.decode_talkers is not None:
        argv += ["--decode-talkers", str(args.decode_talkers)]
    if args.rooms:
        argv += ["--room-size", str(n // args.rooms), "--tone-spread", str(args.tone_spread)]
    if args.load_tick_us:
        argv += ["--tick-us", str(args.load_tick_us)]
    limit = args.seconds + 40
    figures, samples = {}, {}
    probe = StallProbe(os.path.join(os.path.dirname(os.path.abspath(args.conf_load)), "stall_probe")
                       if args.stall_probe else None, seconds=limit + 10)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                            preexec_fn=prepare_child if args.load_nice is None else load_preexec(args.load_nice))
    watchdog = threading.Timer(limit, lambda: proc.poll() is None and os.kill(proc.pid, signal.SIGKILL))
    watchdog.start()
    try:
        for line in proc.stdout:
            key, sep, value = line.strip().partition("=")
            if key == "phase":
                samples[value] = {"cpu": proc_cpu_seconds(server.server.proc.pid), "busy": system_busy_seconds(),
                                  "t": time.monotonic(), "wall": time.time(),
                                  "threads": server.server.thread_cpu() if args.threads else {}}
                if value == "media_start":
                    samples[value]["mixer"] = server.metrics()
                    probe.start()
            elif sep:
                figures[key] = value
        proc.wait(timeout=10)
    finally:
        watchdog.cancel()
        figures.update(probe.figures())  # from the media phase to conf_load's end, as the mixer's counters
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:
        figures["error"] = f"conf_load exited with {proc.returncode}"
    if "media_start" in samples:
        figures["media_start_wall"] = samples["media_start"]["wall"]
    if "media_start" in samples:
        figures["mixer_at_media_start"] = samples["media_start"]["mixer"]
    if "media_start" in samples and "media_end" in samples:
        a, b = samples["media_start"], samples["media_end"]
        wall, cpu = b["t"] - a["t"], b["cpu"] - a["cpu"]
        gen = float(figures.get("gen_media_cpu_s", 0))
        figures.update(media_wall_s=wall, server_cpu_s=cpu, cores=cpu / wall if wall > 0 else None,
                       cpu_ms_per_participant_s=1000 * cpu / (n * wall) if wall > 0 else None,
                       other_cpu_pct=max(0.0, 100 * ((b["busy"] - a["busy"]) - cpu - gen) / (wall * NCPU)))
        if args.threads:
            figures["threads_cpu_s"] = {k: round(v - a["threads"].get(k, 0.0), 3) for k, v in b["threads"].items()
                                        if v - a["threads"].get(k, 0.0) > 0}
    return figures


def run_one(args, kind, n, run_dir):
    base = free_block(100, 61000, 65500)           # API, metrics, NG
    pbase = free_block(((n + 99) // 100) * 100, 20000, 32000)  # one local RTP port per participant
    ports = list(range(pbase, pbase + n))
    row = {"server": kind, "participants": n, "codec": "mixed" if args.rooms else args.codec}
    if args.rooms:
        row["label"] = f"{args.rooms}x{n // args.rooms}"
    log(f"... {kind} @ {n} participants ({args.codec})")
    server = None
    try:
        server = Janus(args, base, run_dir) if kind == "janus" else Rendezvous(args, base, base + 1, base + 2, run_dir)
        t0 = time.monotonic()
        if not args.rooms:
            server.create_room()  # --rooms: join_rooms() creates each room
        if args.rooms:
            spec = join_rooms(args, server, ports, run_dir)
        else:
            remote = server.join(ports, args.codec)
            spec = os.path.join(run_dir, f"{kind}-{n}.participants")
            participants_file(spec, ports, remote, args.codec, args.talkers, args.levels)
        row["join_s"] = round(time.monotonic() - t0, 3)
        before = server.metrics()
        with LevelPoller(server) as poller:
            row.update(run_conf_load(args, server, spec, n))
        after = server.metrics()
        # The mixer's counters over the media phase, like every other column; what the setup
        # before it (conf_load opening 1,000 sockets and encoding its rings while the mixers
        # already tick) cost is kept apart.
        start = row.pop("mixer_at_media_start", None) or before
        row["mixer"] = {k: v - start.get(k, 0.0) for k, v in after.items()}
        row["mixer_setup"] = {k: v - before.get(k, 0.0) for k, v in start.items()
                              if k in ("rdv_mixer_tick_overruns_total", "rdv_mixer_ticks_missed_total")}
        if "stall_list" in row and "media_start_wall" in row and kind == "rendezvous":
            row["overruns_in_stalls"], row["overruns_reported"] = overruns_in_stalls(
                server.server.log_path, row["stall_list"], row["media_start_wall"],
                mixer_figure(row, "rdv_mixer_tick_overruns_total") or 0)
        if hasattr(server, "levels"):
            end = server.levels()
            for w, lvl in end.items():
                poller.highest[w] = max(lvl, poller.highest.get(w, 0))
            row["encoding_level_end"] = [end[w] for w in sorted(end, key=int)]
            row["encoding_level_max"] = max(poller.highest.values(), default=None)
    except (RuntimeError, OSError, KeyError, ValueError) as e:
        row["error"] = str(e)
    finally:
        if server is not None:
            server.close()
    return row


def mixer_figure(row, name):
    """The delta of Rendezvous counter `name` over the run (None when /metrics lacks it)."""
    return (row.get("mixer") or {}).get(name)


def fmt(v, spec="", none="-"):
    if v is None or v == "":
        return none
    try:
        return format(float(v), spec)
    except (TypeError, ValueError):
        return str(v)


def level_cell(r):
    """"4 (4,3)": the highest encoding level any mixer reached, then each mixer's at the end."""
    if r.get("encoding_level_max") is None:
        return "-"
    return f"{r['encoding_level_max']} ({','.join(str(x) for x in r.get('encoding_level_end', []))})"


def print_table(rows):
    head = ("server", "N", "ms/p-s", "cores", "recv", "loss%", "late", "jit p50", "lat p50", "lat p99", "found",
            "enc/tick", "overruns", "missed", "conc%", "level", "chg", "genCPU", "other%", "stalls", "ovr@stl")
    print(("{:<10} {:>5} " + "{:>8} " * (len(head) - 2)).format(*head))
    for r in rows:
        if "error" in r:
            print(f"{r['server']:<10} {r['participants']:>5} error: {r['error']}")
            continue
        ticks = mixer_figure(r, "rdv_mixer_ticks_total")
        encodes = mixer_figure(r, "rdv_mixer_encodes_total")
        concealed = mixer_figure(r, "rdv_mixer_frames_concealed_total")
        frames = int(r.get("participants") or 0) * 50 * float(r.get("media_wall_s") or 0)
        cells = [fmt(r.get("cpu_ms_per_participant_s"), ".2f"), fmt(r.get("cores"), ".2f"),
                 fmt(r.get("received_fraction"), ".4f"), fmt(r.get("loss_pct"), ".3f"), fmt(r.get("late"), ".0f"),
                 fmt(r.get("jitter_ms_p50"), ".2f"), fmt(r.get("latency_ms_p50"), ".1f"),
                 fmt(r.get("latency_ms_p99"), ".1f"), f"{r.get('latency_detected', '-')}/{r.get('latency_pairs', '-')}",
                 fmt(encodes / ticks if encodes is not None and ticks else None, ".1f"),
                 fmt(mixer_figure(r, "rdv_mixer_tick_overruns_total"), ".0f"),
                 fmt(mixer_figure(r, "rdv_mixer_ticks_missed_total"), ".0f"),
                 fmt(100 * concealed / frames if concealed is not None and frames else None, ".3f"), level_cell(r),
                 fmt(mixer_figure(r, "rdv_mixer_encoding_level_changes_total"), ".0f"), fmt(r.get("gen_media_cpu_s"), ".1f"),
                 fmt(r.get("other_cpu_pct"), ".0f") + ("!" if float(r.get("other_cpu_pct") or 0) > 10 else ""),
                 f"{r['stalls_5ms']}/{r['stall_max_ms']:.0f}" if "stalls_5ms" in r else "-",
                 fmt(r.get("overruns_in_stalls"), ".0f")]
        print(("{:<10} {:>5} " + "{:>8} " * len(cells)).format(r["server"], r.get("label", r["participants"]), *cells))


def counts(text, ap, what):
    out = [int(x) for x in text.split(",") if x.strip()]
    if any(c < 1 or c > 3000 for c in out):
        ap.error(f"{what}: counts between 1 and 3000")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conf-load", required=True, help="path to conf_load")
    ap.add_argument("--rendezvous", help="path to the rendezvous binary (skipped if missing)")
    ap.add_argument("--janus", default=JANUS, help="janus binary (skipped if missing)")
    ap.add_argument("--no-janus", action="store_true")
    ap.add_argument("--no-rendezvous", action="store_true")
    ap.add_argument("--janus-counts", default="50,100,150")
    ap.add_argument("--rendezvous-counts", default="100,500,1000")
    ap.add_argument("--codec", default="opus", choices=sorted(PAYLOAD_TYPES))
    ap.add_argument("--talkers", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20, help="media seconds per run (<= 120)")
    ap.add_argument("--tone-at", type=float, default=3, help="when the talkers' tones start (s into the run)")
    ap.add_argument("--tone-cycle", type=float, default=0,
                    help="seconds: the talkers' tones start again every C s (on C/2, off C/2), every onset "
                         "measured (0: one onset at --tone-at)")
    ap.add_argument("--tone-spread", type=float, default=0,
                    help="--rooms: room k of R starts (and restarts) its tones k x S / R s later, so the "
                         "rooms' talkers do not all start in one tick (0: together)")
    ap.add_argument("--decode-talkers", type=int, default=None,
                    help="only the first K talkers decode what they hear (latency pairs; default all): "
                         "spares conf_load's CPU in --rooms runs")
    ap.add_argument("--load-tick-us", type=int, default=None,
                    help="conf_load's send tick (default its own, 1,000 us): each tick's frames leave "
                         "in one batch, so a longer tick wakes the server less often")
    ap.add_argument("--decode", type=int, default=8, help="silent participants that decode (latency listeners)")
    ap.add_argument("--levels", action="store_true", help="RFC 6464 audio levels on every packet (ext id 1)")
    ap.add_argument("--janus-rate", type=int, default=48000, choices=[8000, 16000, 24000, 48000],
                    help="AudioBridge room sampling_rate (Janus's own default is 16000)")
    ap.add_argument("--janus-debug", type=int, default=3, help="janus debug level (4 logs every join)")
    ap.add_argument("--rendezvous-set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--threads", action="store_true", help="also report the server's CPU per thread name")
    ap.add_argument("--stall-probe", action="store_true",
                    help="run stall_probe from the media phase on: the machine's own stalls (columns stalls, ovr@stl)")
    ap.add_argument("--nice", type=int, default=0, help="niceness for servers and conf_load (needs root below 0)")
    ap.add_argument("--load-nice", type=int, default=None,
                    help="conf_load's own niceness (own autogroup), e.g. 10 so the generator yields to the "
                         "server on a shared machine; default: --nice")
    ap.add_argument("--json", help="also write every figure to this file")
    ap.add_argument("--rooms", type=int, default=0,
                    help="spread each count over this many rooms (codecs opus, g722, pcmu in turn; --talkers "
                         "per room, default layout an Opus and a G.722 talker); Janus gets as many AudioBridge "
                         "rooms")
    ap.add_argument("--same-codec-talkers", action="store_true",
                    help="with --rooms: a room's talkers share a codec (opus, g722, pcmu by room)")
    args = ap.parse_args()
    relay_bench.NICE = args.nice
    if not 0 < args.seconds <= 120 or not 0 <= args.tone_at < args.seconds - 1:
        ap.error("--seconds in (0, 120], --tone-at at least 1 s before the end")
    if not 0 <= args.tone_spread < args.seconds - 1 - args.tone_at:
        ap.error("--tone-spread: every room's tone must start at least 1 s before the end")
    if not 1 <= args.talkers <= len(TONES):
        ap.error(f"--talkers: 1..{len(TONES)}")
    if args.rooms and (args.rooms < 0 or args.levels):
        ap.error("--rooms: without --levels")
    if not os.access(args.conf_load, os.X_OK):
        ap.error(f"conf_load not executable: {args.conf_load}")

    plan = []
    if args.no_rendezvous:
        pass
    elif args.rendezvous and os.access(args.rendezvous, os.X_OK):
        plan += [("rendezvous", n) for n in counts(args.rendezvous_counts, ap, "--rendezvous-counts")]
    else:
        log(f"note: rendezvous binary not found ({args.rendezvous}); skipped")
    if not args.no_janus and os.access(args.janus, os.X_OK):
        plan += [("janus", n) for n in counts(args.janus_counts, ap, "--janus-counts")]
    elif not args.no_janus:
        log(f"note: janus not found ({args.janus}; Debian package `janus`); skipped")

    run_dir = tempfile.mkdtemp(prefix="conf_bench-")
    log(f"run dir {run_dir}; {NCPU} cores, loadavg {os.getloadavg()[0]:.2f}")
    if any(kind == "rendezvous" for kind, _ in plan):
        # Others may rebuild the tree during the run: run a copy.
        args.rendezvous = shutil.copy2(args.rendezvous, os.path.join(run_dir, "rendezvous"))
    rows = [run_one(args, kind, n, run_dir) for kind, n in plan]
    print_table(rows)
    if args.threads:
        for r in rows:
            top = sorted((r.get("threads_cpu_s") or {}).items(), key=lambda kv: -kv[1])[:8]
            print(f"{r['server']} @ {r['participants']} threads: " + ", ".join(f"{k} {v:.2f}s" for k, v in top))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
