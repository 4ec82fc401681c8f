#!/usr/bin/env python3
"""Integration test: the built-in web phone (GET /phone) in headless Chromium, over SIP on secure
WebSocket (RFC 7118), calling a baresip phone and joining a conference.

Rendezvous runs on loopback with sip.wss_listen and a self-signed certificate made with the
openssl CLI. Chromium (Debian's, headless, fake media devices whose microphone plays a 440 Hz tone
file, certificate errors ignored, --remote-debugging-port) opens
http://127.0.0.1:<api>/phone?user=alice&...&autostart=1; the harness reads window.phoneState
through the DevTools protocol (its own small CDP client over wsclient.py) and drives the page by
evaluating its call()/hangup() functions. baresip phones on loopback (1000 Hz tone files, sndfile
recordings, auto-answer; dave silent) are plain UDP/RTP phones. Every wait is bounded; all processes are
stopped by PID.

  register_sha256   (server offering SHA-256 and MD5) the page registers over WSS with the SHA-256
                    challenge (RFC 8760); then that server is stopped
  register_md5      (server offering MD5 only, as baresip 1.0 needs) bob (baresip) registers over UDP
                    and the page registers over WSS with MD5
  call_phone        the page calls bob: the INVITE reaches baresip (its SIP trace); the page gets a
                    final response. With --media also: it is a 200, the page reaches "in call",
                    bob's recording holds >= MIN_TONE_S of the browser's 440 Hz tone, and the page's
                    getStats shows inbound RTP with audio energy > 0; then the page hangs up and
                    baresip sees the call end
  conference        bob and dave (baresip) join conf-webroom (established), then the page dials it
                    and gets a final response. With --media also: a 200, in call, inbound energy grows,
                    bob's recording holds the browser's tone (through the mixer)
  video_call        (--media) the page (video=on, max-bundle) calls carol, a baresip phone with VP8
                    and a generated picture: 200, the page decodes >= VIDEO_FRAMES of carol's video
                    arriving on the one BUNDLE transport, and the relay's video stream (operator API,
                    GET /api/v1/calls) counts packets from both sides
  screenshot        Page.captureScreenshot (with --media in the video call, else once registered)
                    in the work directory, copied to --screenshot PATH if given
  phone_heard_browser  (--media) bob quits, finalising his recordings: the direct call's and the
                    conference's each hold >= MIN_TONE_S of the browser's 440 Hz tone

--media needs the relay's ICE-lite and DTLS-SRTP and the B2BUA's WebRTC SDP policy (issue 12);
without it the cases check the signalling only.

Usage: webphone_test.py --rendezvous PATH --workdir DIR [--chromium PATH] [--media]
       [--screenshot PATH]
"""

import argparse
import base64
import glob
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from rdvtest import Procs, Relay, TestFailure, check, free_block, make_cert, stop_process, tail, wait_until  # noqa: E402
from wsclient import WsClosed, WsSip  # noqa: E402
import nat_call_test as e2e  # noqa: E402  (tone files, recording analysis, baresip client)

USERS = {"alice": "alicepw", "bob": "bobpw", "dave": "davepw", "carol": "carolpw"}
VIDEO_FRAMES = 20  # frames of carol's VP8 the page must decode
BROWSER_HZ, PHONE_HZ = 440.0, 1000.0
MEDIA_S = 5.0
MIN_TONE_S = 1.0
WAIT = 20.0


class LoopbackPhone(e2e.Client):
    """The e2e tests' baresip client, run on loopback instead of inside a namespace."""

    def start(self):
        self.proc = self.procs.start(self.logname, [e2e.BARESIP, "-s", "-f", self.dir])
        self._wait("console", lambda: "Help" in self.cons("/help", 0.5, until="Help"), 10)

    def cons(self, cmd, wait=0.5, until=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(cmd.encode() + b"\n", ("127.0.0.1", self.cons_port))
            out = b""
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    out += s.recv(65536)
                except socket.timeout:
                    break
                if until and re.search(until, out.decode(errors="replace")):
                    break
            return out.decode(errors="replace")
        finally:
            s.close()


class Cdp:
    """A DevTools protocol session with the first page target of Chromium on `port`."""

    def __init__(self, port):
        targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5))
        pages = [t for t in targets if t.get("type") == "page"]
        check(pages, "Chromium lists no page target: %s" % targets)
        path = re.sub(r"^ws://[^/]+", "", pages[0]["webSocketDebuggerUrl"])
        self.ws = WsSip(port)
        head = self.ws.handshake(protocol=None, path=path, origin=None)
        check(head.startswith("HTTP/1.1 101"), "DevTools WebSocket refused: %r" % head[:200])
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            text = self.ws.recv(deadline - time.monotonic())
            if text is None:
                break
            msg = json.loads(text)
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise TestFailure("CDP %s: %s" % (method, msg["error"]))
                return msg["result"]
        raise TestFailure("CDP %s: no answer" % method)

    def evaluate(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise TestFailure("page script %r threw: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def state(self):
        return json.loads(self.evaluate("JSON.stringify(window.phoneState)") or "{}")

    def close(self):
        self.ws.close()


class Browser:
    def __init__(self, binary, procs, workdir, name, devtools_port, url, tone):
        self.procs, self.port = procs, devtools_port
        argv = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--user-data-dir=" + tempfile.mkdtemp(prefix="chromium-", dir=workdir),
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                "--use-file-for-fake-audio-capture=" + tone, "--autoplay-policy=no-user-gesture-required",
                "--ignore-certificate-errors", "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=%d" % devtools_port, "--window-size=760,900", url]
        self.proc = procs.start(name, argv)
        wait_until("Chromium DevTools on %d" % devtools_port, self._listening, 20, proc=self.proc,
                   proc_name=name, log=procs.log_of(name))
        self.cdp = Cdp(devtools_port)

    def _listening(self):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/json/version" % self.port, timeout=1).read()
            return True
        except OSError:
            return False

    def wait_state(self, what, pred, timeout=WAIT):
        last = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.cdp.state()
            if pred(last):
                return last
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)  # polling the page's own state: there is no event to await across CDP
        log = last.pop("log", [])
        raise TestFailure("page: no %s within %.0f s; phoneState %s\n--- page log\n%s"
                          % (what, timeout, last, "\n".join(log[-25:])))

    def screenshot(self, path):
        png = base64.b64decode(self.cdp.call("Page.captureScreenshot", format="png")["data"])
        with open(path, "wb") as f:
            f.write(png)
        return len(png)

    def stop(self):
        try:
            self.cdp.close()
        except Exception:  # noqa: BLE001 - best effort before the kill
            pass
        stop_process(self.proc)


def start_server(args, workdir, name, cert, key, algorithms):
    sip = {"auth_register": 1, "auth_invite": 1, "tls_cert": cert, "tls_key": key,
           "auth_algorithms": algorithms}
    for u, p in USERS.items():
        sip["users.%s" % u] = p
    return Relay(args.rendezvous, os.path.join(workdir, name), sip=sip,
                 extra=lambda base: ["--set", "sip.wss_listen=127.0.0.1:%d" % (base + 5)])


def page_url(relay):
    return ("http://127.0.0.1:%d/phone?user=alice&password=%s&server=wss://127.0.0.1:%d&domain=127.0.0.1"
            "&autostart=1" % (relay.api_port, USERS["alice"], relay.base + 5))


def phone(procs, workdir, name, relay, ports, tone, video=False):
    account = e2e.account_line(name, "127.0.0.1:%d" % relay.sip_port, USERS[name], codecs="PCMU")
    c = LoopbackPhone(procs, workdir, "webphone", name, None, "127.0.0.1", tone, (ports, ports + 9), account,
                      sip_port=ports + 10, cons_port=ports + 15, video=video)  # baresip takes sip_port+1 for TLS
    c.start()
    c.wait_registered(r"200 OK|registered successfully", 15)
    return c


def case_call_phone(args, browser, bob):
    browser.cdp.evaluate("call('bob')")
    bob.wait_log("the page's INVITE (baresip's SIP trace)", r"(?m)^INVITE sip:bob[-@]", 15)
    st = browser.wait_state("final answer to the INVITE", lambda s: s.get("inviteStatus", 0) >= 200)
    what = "INVITE reached baresip, page got %d" % st["inviteStatus"]
    if args.media:
        check(st["inviteStatus"] == 200, "the page's INVITE got %d" % st["inviteStatus"])
        browser.wait_state("in call", lambda s: s.get("call") == "in call")
        t_end = time.monotonic() + MEDIA_S
        while time.monotonic() < t_end:  # the media runs for MEDIA_S: what the recording is judged on
            time.sleep(0.2)
        st = browser.wait_state("inbound audio energy", lambda s: s.get("audioEnergy", 0) > 0, 5)
        what += "; page: %d packets, energy %.4f" % (st["packetsReceived"], st["audioEnergy"])
    if browser.cdp.state().get("call") != "idle":
        browser.cdp.evaluate("hangup()")
    if args.media:
        bob.wait_log("call end", r"terminated \(duration", 10)
    return what


def call_legs(relay, callee):
    """The relay legs of the B2BUA call to `callee`, from the operator API (GET /api/v1/calls)."""
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/calls" % relay.api_port, timeout=5) as r:
        calls = json.loads(r.read())
    for c in calls.get("calls", calls) if isinstance(calls, dict) else calls:
        if callee in (c.get("callee") or ""):
            return c["legs"]
    raise TestFailure("no call to %s in GET /api/v1/calls: %s" % (callee, calls))


def case_video_call(browser, relay, carol):
    """(--media) The page calls carol with video. Chromium bundles audio and video on one transport
    (max-bundle): the relay answers it with one port for both and gives carol (baresip, VP8) two.
    The page decodes carol's video, and the relay's video stream counts the page's video packets
    (demultiplexed from the bundle) and carol's."""
    browser.cdp.evaluate("window.phoneState.inviteStatus = 0; document.getElementById('video').checked = true")
    browser.cdp.evaluate("call('carol')")
    st = browser.wait_state("final answer from carol", lambda s: s.get("inviteStatus", 0) >= 200)
    check(st["inviteStatus"] == 200, "carol answered the page's video call %d" % st["inviteStatus"])
    st = browser.wait_state("%d frames of carol's video decoded" % VIDEO_FRAMES,
                            lambda s: s.get("videoFramesDecoded", 0) >= VIDEO_FRAMES)
    legs = call_legs(relay, "carol")
    video = {leg["side"]: leg for leg in legs if leg["stream"] == 1}
    check(set(video) == {"caller", "callee"}, "the call has no video stream on both sides: %s" % legs)
    check(video["caller"]["packets"] >= VIDEO_FRAMES and video["callee"]["packets"] >= VIDEO_FRAMES,
          "video packets: from the page %d, from carol %d" % (video["caller"]["packets"], video["callee"]["packets"]))
    what = ("page decoded %d frames %dx%d of carol's VP8; relay video stream: %d packets from the page, %d from carol"
            % (st["videoFramesDecoded"], st["videoWidth"], st["videoHeight"], video["caller"]["packets"],
               video["callee"]["packets"]))
    browser.screenshot(browser.shot_path)  # in a video call: the README's picture
    browser.cdp.evaluate("hangup()")
    carol.wait_log("call end", r"terminated \(duration", 10)
    return what


def case_video_incoming(browser, relay, carol):
    """(--media) carol calls the page with video: Rendezvous offers the browser's leg audio and video
    BUNDLEd on one port (what a max-bundle browser needs), the page answers, and decodes her video."""
    browser.cdp.evaluate("window.phoneState.videoFramesDecoded = 0")
    carol.cons("/dial sip:alice@127.0.0.1:%d" % relay.sip_port)
    browser.wait_state("carol's incoming call", lambda s: s.get("call", "").startswith("incoming"))
    browser.cdp.evaluate("answer()")
    carol.wait_log("call established", r"Call established", 15)
    st = browser.wait_state("%d frames of carol's video decoded" % VIDEO_FRAMES,
                            lambda s: s.get("videoFramesDecoded", 0) >= VIDEO_FRAMES)
    legs = call_legs(relay, "alice")
    video = {leg["side"]: leg for leg in legs if leg["stream"] == 1}
    check(set(video) == {"caller", "callee"} and video["callee"]["packets"] >= VIDEO_FRAMES,
          "the relay's video stream did not carry the page's video: %s" % legs)
    what = "page answered, decoded %d frames; relay video stream: %d packets from carol, %d from the page" % (
        st["videoFramesDecoded"], video["caller"]["packets"], video["callee"]["packets"])
    browser.cdp.evaluate("hangup()")
    carol.wait_log("call end", r"terminated \(duration", 10)
    return what


def check_heard(phone_client, freq):
    """After the phone quit (sndfile finalises its files then): each of its calls' recordings holds
    >= MIN_TONE_S of `freq`. Returns the seconds heard per call."""
    phone_client.quit()
    files = sorted(glob.glob(os.path.join(phone_client.rec, "dump-*-dec.wav")))
    check(files, "%s recorded nothing" % phone_client.name)
    heard = []
    for path in files:
        res = e2e.analyse(path, [BROWSER_HZ, PHONE_HZ])
        heard.append(e2e.tone_seconds(res, freq))
        check(heard[-1] >= MIN_TONE_S, "%s recorded %.1f s of %.0f Hz (of %.1f s) in %s: %s"
              % (phone_client.name, heard[-1], freq, res["seconds"], os.path.basename(path), res))
    return ", ".join("%.1f s" % h for h in heard)


def case_conference(args, relay, browser, bob, dave):
    for c in (bob, dave):
        c.cons("/dial sip:conf-webroom@127.0.0.1:%d" % relay.sip_port)
        c.wait_log("conference call established", r"Call established", 15)
    browser.cdp.evaluate("window.phoneState.inviteStatus = 0")
    browser.cdp.evaluate("call('conf-webroom')")
    st = browser.wait_state("final answer from the conference", lambda s: s.get("inviteStatus", 0) >= 200)
    what = "bob and dave in conf-webroom; the conference answered the page %d" % st["inviteStatus"]
    if args.media:
        check(st["inviteStatus"] == 200, "the conference answered the page %d" % st["inviteStatus"])
        browser.wait_state("in call", lambda s: s.get("call") == "in call" and s.get("calls", 0) >= 2)
        energy0 = st.get("audioEnergy", 0)
        t_end = time.monotonic() + MEDIA_S
        while time.monotonic() < t_end:
            time.sleep(0.2)
        st = browser.wait_state("inbound energy from the conference", lambda s: s.get("audioEnergy", 0) > energy0, 5)
        what += "; page energy %.4f" % st["audioEnergy"]
    return what


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendezvous", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--media", action="store_true")
    ap.add_argument("--screenshot")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="run-", dir=args.workdir)
    cert, key = make_cert(workdir)
    browser_tone = os.path.join(workdir, "browser-440.wav")
    e2e.write_tone(browser_tone, BROWSER_HZ, seconds=60, rate=48000)
    phone_tone = os.path.join(workdir, "phone-1000.wav")
    e2e.write_tone(phone_tone, PHONE_HZ, seconds=60)
    # dave is silent, so that what bob records of the conference is the browser's tone alone.
    silence = os.path.join(workdir, "silence.wav")
    e2e.write_tone(silence, PHONE_HZ, seconds=60, amplitude=0)
    procs = Procs(workdir)
    ports = free_block(size=100)
    failed = 0
    results = []

    def run(name, fn):
        nonlocal failed
        try:
            results.append("PASS %s: %s" % (name, fn()))
        except (TestFailure, OSError, WsClosed) as e:
            failed += 1
            results.append("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        print(results[-1], flush=True)

    # 1. SHA-256 towards a server that offers it.
    relay = start_server(args, workdir, "rdv-sha256", cert, key, "SHA-256,MD5")
    browser = None
    try:
        browser = Browser(args.chromium, procs, workdir, "chromium-sha256", ports + 90, page_url(relay), browser_tone)
        run("register_sha256", lambda: "digest %s" % browser.wait_state(
            "registration", lambda s: s.get("registered"))["digest"])
        if results[-1].startswith("PASS") and "SHA-256" not in results[-1]:
            failed += 1
            print("FAIL register_sha256: the page did not answer with SHA-256")
    finally:
        if browser:
            browser.stop()
        problem = relay.stop()
        if problem:
            failed += 1
            print("FAIL rendezvous (SHA-256 server): %s" % problem)

    # 2. MD5 only (baresip 1.0 gives up on any other challenge): the calls.
    relay = start_server(args, workdir, "rdv-md5", cert, key, "MD5")
    browser, bob, dave, carol = None, None, None, None
    try:
        bob = phone(procs, workdir, "bob", relay, ports, phone_tone)
        dave = phone(procs, workdir, "dave", relay, ports + 20, silence)
        if args.media:
            carol = phone(procs, workdir, "carol", relay, ports + 40, phone_tone, video=True)
        browser = Browser(args.chromium, procs, workdir, "chromium-md5", ports + 91, page_url(relay), browser_tone)
        browser.shot_path = os.path.join(workdir, "webphone.png")
        run("register_md5", lambda: "page %s" % browser.wait_state("registration", lambda s: s.get("registered"))["digest"])
        if not args.media:
            browser.screenshot(browser.shot_path)  # registered, before any call
        run("call_phone", lambda: case_call_phone(args, browser, bob))
        run("conference", lambda: case_conference(args, relay, browser, bob, dave))
        if args.media:
            browser.cdp.evaluate("hangup()")
            browser.wait_state("idle after the conference", lambda s: s.get("call") == "idle")
            run("video_call", lambda: case_video_call(browser, relay, carol))
            browser.wait_state("idle after the video call", lambda s: s.get("call") == "idle")
            run("video_incoming", lambda: case_video_incoming(browser, relay, carol))

        def shot():
            path = browser.shot_path
            check(os.path.exists(path), "no screenshot was taken")
            if args.screenshot:
                shutil.copyfile(path, args.screenshot)
            return "%s (%d bytes)" % (path, os.path.getsize(path))
        run("screenshot", shot)
        if args.media:
            run("phone_heard_browser", lambda: "bob's calls (direct, conference): %s of %.0f Hz"
                % (check_heard(bob, BROWSER_HZ), BROWSER_HZ))
    finally:
        for c in (bob, dave, carol):
            if c:
                c.quit()
        if browser:
            browser.stop()
        problem = relay.stop()
        procs.stop_all()
        if problem:
            failed += 1
            print("FAIL rendezvous (MD5 server): %s\n%s" % (problem, tail(relay.procs.log_of("rendezvous"))))
    print("%s integration.webphone" % ("FAIL" if failed else "PASS"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
