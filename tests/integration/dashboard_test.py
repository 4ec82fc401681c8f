#!/usr/bin/env python3
"""Integration test: the built-in status page (GET /) in a real browser.

Rendezvous runs with an API token and carries one live NG call with RTP both ways. Headless
Chromium (Debian's) loads http://127.0.0.1:<api>/?token=<token>, runs the page's script (which
fetches /api/v1/stats, /api/v1/calls and /api/v1/conferences with the token) and dumps the rendered
DOM: it must show one call, that call's row with its Call-ID and a MOS value, the conference room
"dashroom" with its two API participants, and no error in the status line. A
screenshot of the page is saved in the work directory (the README's picture was taken this way).
Both processes are stopped by PID at the end.
Usage: dashboard_test.py --rendezvous PATH --workdir DIR [--chromium PATH]
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rdvtest import Relay, TestFailure, check, ng_call_with_rtp, tail  # noqa: E402

TOKEN = "dash-token-7c1e"
CALL_ID = "dash-call-1"


def chromium(binary, url, *extra, timeout=60):
    argv = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--user-data-dir=" + tempfile.mkdtemp(prefix="rdv-chromium-"),
            "--virtual-time-budget=8000", "--window-size=1280,900"] + list(extra) + [url]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if r.returncode != 0:
        raise TestFailure("chromium exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")[-800:]))
    return r.stdout.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="run-", dir=args.workdir)
    relay = Relay(args.rendezvous, os.path.join(workdir, "rendezvous"), extra=["--set", "api.token=" + TOKEN])
    peers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        for p in peers:
            p.bind(("127.0.0.1", 0))
            p.settimeout(2.0)
        ng_call_with_rtp(relay.ng_port, CALL_ID, peers[0], peers[1], 20)
        for p, label in zip(peers, ("dash-one", "dash-two")):  # a conference room with two participants
            body = json.dumps({"rtp": {"ip": "127.0.0.1", "port": p.getsockname()[1]}, "codec": "pcmu",
                               "label": label}).encode()
            req = urllib.request.Request("http://127.0.0.1:%d/api/v1/conferences/dashroom/participants" % relay.api_port,
                                         data=body, method="POST",
                                         headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=3) as r:
                check(r.status == 201, "joining the dashboard's room: %d" % r.status)
        url = "http://127.0.0.1:%d/?token=%s" % (relay.api_port, TOKEN)
        dom = chromium(args.chromium, url, "--dump-dom")
        with open(os.path.join(workdir, "dashboard.html"), "w") as f:
            f.write(dom)
        status = re.search(r'<div id="status">([^<]*)</div>', dom)
        check(status and status.group(1).startswith("updated"), "status line: %r" % (status and status.group(1)))
        check(re.search(r'<div class="big" id="calls">1</div>', dom), "the page does not show 1 call")
        rows = re.findall(r'<tr class="call">(.*?)</tr>', dom)
        check(len(rows) == 1 and CALL_ID in rows[0], "call rows: %r" % rows)
        mos = re.findall(r'<td class="(?:good|fair|bad)">(\d\.\d\d)</td>', rows[0])
        check(mos and 1.0 <= float(mos[0]) <= 4.5, "no MOS in the call's row: %r" % rows[0])
        check(re.search(r'<div class="big" id="rooms">1</div>', dom), "the page does not show 1 room")
        room = re.findall(r'<tr class="room">(.*?)</tr>', dom)
        check(len(room) == 1 and "dashroom" in room[0] and "2 participant" in room[0], "room rows: %r" % room)
        parts = re.findall(r'<tr class="participant">(.*?)</tr>', dom)
        check(len(parts) == 2 and "dash-one" in parts[0] + parts[1] and "pcmu" in parts[0], "participant rows: %r" % parts)
        shot = os.path.join(workdir, "dashboard.png")
        chromium(args.chromium, url, "--screenshot=" + shot)
        check(os.path.getsize(shot) > 10_000, "screenshot %s is empty" % shot)
        check(relay.alive(), "rendezvous exited")
        print("PASS integration.dashboard: 1 call shown with MOS %s; screenshot %s" % (mos[0], shot))
        return 0
    except (TestFailure, OSError, subprocess.SubprocessError) as e:
        print("FAIL integration.dashboard: %s\n--- rendezvous:\n%s" % (e, tail(relay.procs.log_of("rendezvous"), 20)))
        return 1
    finally:
        for p in peers:
            p.close()
        stopped = relay.stop()
        if stopped is not None:
            print("rendezvous: %s" % stopped)


if __name__ == "__main__":
    sys.exit(main())
