#!/usr/bin/env python3
"""Integration test: the operator HTTP JSON API (api.listen) of a real rendezvous process.

Rendezvous runs with a --config file (log.level "info"), SIP without digest auth, and api.token
set on the command line. Each case prints PASS / FAIL; the last line is the verdict (exit 1 on
any FAIL, or when rendezvous died or did not exit 0). No case is ever skipped.

  needs_token       api.listen on a non-loopback address without api.token: start-up fails
                    with a config error naming api.token (exit 1)
  health_ready      GET /health -> 200 {"status":"ok"}, GET /ready -> 200 {"ready":true}, both
                    without a token; an unknown route -> 404 JSON; wrong method -> 405 + Allow
  token             POST /api/v1/undrain without a token -> 401 + WWW-Authenticate: Bearer, with
                    a wrong one -> 401 invalid_token, with the right one -> 200; a bad body -> 400
  drain             POST /api/v1/drain: /ready -> 503 {"ready":false,"reason":"draining"}; a
                    UDP INVITE gets 503 with Retry-After; an NG offer for a new call-id gets
                    rtpengine's "Parallel session limit reached"; a call set up before the drain
                    still gets its re-offer answered
  undrain           POST /api/v1/undrain: /ready 200 again, the same INVITE is routed (404, no
                    such user: not 503), a new NG offer is ok
  reload_good       the file now says log.level "debug" and relay.batch 16: POST /api/v1/reload
                    -> 200, applied ["log.level"], restart_required ["relay.batch"]; API requests
                    are now logged at debug (they were not before)
  reload_bad        a file with an unknown key on line 4: reload -> 400 whose errors name
                    FILE:4; the server still answers, still at debug (the running config stayed)
  sighup            the file says "info" again, SIGHUP: the reload is logged and API requests are
                    no longer logged at debug
  phone_page        GET /phone without a token: the built-in web phone's HTML, nothing loaded
                    from elsewhere (no http(s):// reference, no src=)
  drain_exit        with one call up, drain {"exit_when_idle": true}: the process keeps running;
                    NG delete of that call ends it and rendezvous exits 0 by itself

Usage: api_test.py --rendezvous PATH --workdir DIR
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rdvtest import (Relay, TestFailure, check, log_text, ng_call_with_rtp, ng_request, test_args,  # noqa: E402
                     wait_until)

TOKEN = "it-api-token-3f9c"
IO_TIMEOUT = 5.0


def http(port, method, path, token=None, body=None):
    """(status, parsed JSON body, headers) of one request; every answer must be JSON."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=IO_TIMEOUT) as r:
            status, headers, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    check(headers.get("Content-Type") == "application/json",
          "%s %s: Content-Type %r, body %r" % (method, path, headers.get("Content-Type"), raw))
    try:
        return status, json.loads(raw), headers
    except ValueError:
        raise TestFailure("%s %s: body is not JSON: %r" % (method, path, raw))


def invite_status(sip_port, user="nobody"):
    """Sends one INVITE over UDP; returns (final status code, response text)."""
    call_id = "api-%08x@127.0.0.1" % random.getrandbits(32)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        lport = s.getsockname()[1]
        sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % (lport + 2))
        msg = ("INVITE sip:%s@127.0.0.1:%d SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-api-%08x;rport\r\n"
               "Max-Forwards: 70\r\n"
               "From: <sip:caller@127.0.0.1>;tag=%08x\r\n"
               "To: <sip:%s@127.0.0.1:%d>\r\n"
               "Call-ID: %s\r\nCSeq: 1 INVITE\r\n"
               "Contact: <sip:caller@127.0.0.1:%d>\r\n"
               "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s"
               % (user, sip_port, lport, random.getrandbits(32), random.getrandbits(32), user, sip_port,
                  call_id, lport, len(sdp), sdp))
        s.sendto(msg.encode(), ("127.0.0.1", sip_port))
        deadline = time.monotonic() + IO_TIMEOUT
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            data, _ = s.recvfrom(65535)
            text = data.decode(errors="replace")
            if call_id not in text or not text.startswith("SIP/2.0 "):
                continue
            code = int(text.split(" ", 2)[1])
            if code >= 200:
                if code >= 300:  # ACK the failure (RFC 3261 §17.1.1.3) so its retransmissions stop
                    lines = text.split("\r\n")

                    def header(name):
                        return next(l for l in lines if l.lower().startswith(name + ":"))
                    ack = ("ACK sip:%s@127.0.0.1:%d SIP/2.0\r\n%s\r\nMax-Forwards: 70\r\n%s\r\n%s\r\n"
                           "%s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
                           % (user, sip_port, header("via"), header("from"), header("to"), header("call-id")))
                    s.sendto(ack.encode(), ("127.0.0.1", sip_port))
                return code, text
    raise TestFailure("no final response to INVITE %s within %.0fs" % (call_id, IO_TIMEOUT))


def offer(relay, call_id, port):
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % port)
    return ng_request(relay.ng_port, "offer", timeout=IO_TIMEOUT,
                      **{"call-id": call_id, "from-tag": "ft-" + call_id, "sdp": sdp})[1]


def debug_lines(relay, path):
    """How many API requests for `path` the log shows at debug level."""
    return log_text(relay.procs.log_of("rendezvous")).count("api: GET %s -> " % path)


class Ctx:
    pass


def case_needs_token(x):
    port = x.relay.base + 4
    p = subprocess.run([x.binary, "--set", "api.listen=0.0.0.0:%d" % port, "--set", "api.token=",
                        "--set", "sip.listen=", "--set", "metrics.listen=",
                        "--set", "ng.listen=127.0.0.1:%d" % (x.relay.base + 5)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode(errors="replace")
    check(p.returncode == 1, "exit code %s, expected 1:\n%s" % (p.returncode, out))
    check("api.listen '0.0.0.0:%d' is not a loopback address" % port in out and "api.token" in out,
          "no config error naming api.listen and api.token:\n%s" % out)


def case_health_ready(x):
    status, body, _ = http(x.api, "GET", "/health")
    check((status, body) == (200, {"status": "ok"}), "/health: %s %r" % (status, body))
    status, body, _ = http(x.api, "GET", "/ready")
    check((status, body) == (200, {"ready": True}), "/ready: %s %r" % (status, body))
    status, body, _ = http(x.api, "GET", "/api/v1/nothing-here", token=TOKEN)
    check(status == 404 and "error" in body, "unknown route: %s %r" % (status, body))
    status, body, headers = http(x.api, "GET", "/api/v1/drain", token=TOKEN)
    check(status == 405 and headers.get("Allow") == "POST" and "error" in body,
          "GET on a POST route: %s %r Allow=%r" % (status, body, headers.get("Allow")))


def case_token(x):
    status, body, headers = http(x.api, "POST", "/api/v1/undrain")
    check(status == 401 and "error" in body, "no token: %s %r" % (status, body))
    check((headers.get("WWW-Authenticate") or "").startswith("Bearer"),
          "no Bearer challenge: %r" % headers.get("WWW-Authenticate"))
    status, body, headers = http(x.api, "POST", "/api/v1/undrain", token=TOKEN + "x")
    check(status == 401 and 'error="invalid_token"' in (headers.get("WWW-Authenticate") or ""),
          "wrong token: %s %r %r" % (status, body, headers.get("WWW-Authenticate")))
    status, body, _ = http(x.api, "POST", "/api/v1/undrain", token=TOKEN)
    check(status == 200 and body.get("draining") is False, "right token: %s %r" % (status, body))
    status, body, _ = http(x.api, "POST", "/api/v1/drain", token=TOKEN, body=b"{not json")
    check(status == 400 and "error" in body, "bad JSON body: %s %r" % (status, body))
    status, body, _ = http(x.api, "POST", "/api/v1/drain", token=TOKEN, body={"exit_when_idle": "yes"})
    check(status == 400 and "exit_when_idle" in body.get("error", ""), "bad flag: %s %r" % (status, body))
    _, ready, _ = http(x.api, "GET", "/ready")
    check(ready == {"ready": True}, "a refused drain request drained anyway: %r" % ready)


def case_drain(x):
    r = offer(x.relay, "before-drain", 40000)
    check(r.get("result") == b"ok", "offer before the drain: %r" % r)
    status, body, _ = http(x.api, "POST", "/api/v1/drain", token=TOKEN)
    check(status == 200 and body.get("draining") is True and body.get("active_calls") == 1,
          "drain: %s %r" % (status, body))
    status, body, _ = http(x.api, "GET", "/ready")
    check((status, body) == (503, {"ready": False, "reason": "draining"}), "/ready: %s %r" % (status, body))
    code, text = invite_status(x.relay.sip_port)
    check(code == 503, "INVITE while draining got %d:\n%s" % (code, text))
    check("\r\nRetry-After: " in text, "503 without Retry-After:\n%s" % text)
    r = offer(x.relay, "during-drain", 40010)
    check(r.get("result") == b"error" and r.get("error-reason") == b"Parallel session limit reached",
          "NG offer for a new call while draining: %r" % r)
    r = offer(x.relay, "before-drain", 40002)
    check(r.get("result") == b"ok", "re-offer of a call already up while draining: %r" % r)


def case_undrain(x):
    status, body, _ = http(x.api, "POST", "/api/v1/undrain", token=TOKEN)
    check(status == 200 and body.get("draining") is False, "undrain: %s %r" % (status, body))
    status, body, _ = http(x.api, "GET", "/ready")
    check((status, body) == (200, {"ready": True}), "/ready after undrain: %s %r" % (status, body))
    code, text = invite_status(x.relay.sip_port)
    check(code == 404, "INVITE to an unknown user after undrain got %d, expected 404:\n%s" % (code, text))
    r = offer(x.relay, "after-drain", 40020)
    check(r.get("result") == b"ok", "NG offer after undrain: %r" % r)
    r = ng_request(x.relay.ng_port, "delete", timeout=IO_TIMEOUT, **{"call-id": "after-drain"})[1]
    check(r.get("result") == b"ok", "delete: %r" % r)


def write_config(x, text):
    with open(x.config, "w") as f:
        f.write(text)


def case_reload_good(x):
    http(x.api, "GET", "/health")
    check(debug_lines(x.relay, "/health") == 0, "API requests logged at debug while log.level is info")
    write_config(x, '[log]\nlevel = "debug"\n\n[relay]\nbatch = 16\n')
    status, body, _ = http(x.api, "POST", "/api/v1/reload", token=TOKEN)
    check(status == 200, "reload: %s %r" % (status, body))
    check(body.get("applied") == ["log.level"], "applied: %r" % body)
    check(body.get("restart_required") == ["relay.batch"], "restart_required: %r" % body)
    http(x.api, "GET", "/health")
    check(debug_lines(x.relay, "/health") == 1, "after the reload to debug, GET /health was not logged at debug")


def case_reload_bad(x):
    write_config(x, '[log]\nlevel = "warn"\n[relay]\nno_such_key = 1\n')
    status, body, _ = http(x.api, "POST", "/api/v1/reload", token=TOKEN)
    check(status == 400 and "error" in body, "bad file: %s %r" % (status, body))
    errors = body.get("errors") or []
    check(any(e.startswith("%s:4: " % x.config) and "no_such_key" in e for e in errors),
          "errors do not name %s:4: %r" % (x.config, errors))
    before = debug_lines(x.relay, "/health")
    status, body, _ = http(x.api, "GET", "/health")
    check(status == 200, "server after a refused reload: %s %r" % (status, body))
    check(debug_lines(x.relay, "/health") == before + 1,
          "the refused file's log.level \"warn\" took effect (GET /health no longer logged at debug)")


def case_sighup(x):
    write_config(x, '[log]\nlevel = "info"\n\n[relay]\nbatch = 16\n')
    log = x.relay.procs.log_of("rendezvous")
    x.relay.proc.send_signal(signal.SIGHUP)
    wait_until("the SIGHUP reload in the log",
               lambda: "config reload (SIGHUP) from %s: applied [log.level]" % x.config in log_text(log),
               IO_TIMEOUT, proc=x.relay.proc, proc_name="rendezvous", log=log)
    before = debug_lines(x.relay, "/ready")
    status, _, _ = http(x.api, "GET", "/ready")
    check(status == 200, "/ready after SIGHUP: %s" % status)
    check(debug_lines(x.relay, "/ready") == before, "still logging at debug after SIGHUP set info")


def case_sighup_adds_user(x):
    """A second server with digest authentication: carol, added to the file's [sip.users] and
    SIGHUP sent, can register; before the reload she could not."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "sip"))
    import siptest
    cfg = os.path.join(os.path.dirname(x.config), "users.toml")
    with open(cfg, "w") as f:
        f.write('[sip]\nauth_register = 1\n\n[sip.users]\nalice = "alicepw"\n')
    relay = Relay(x.binary, os.path.join(os.path.dirname(x.config), "users"), sip={}, extra=["--config", cfg])
    try:
        _, before, _ = siptest.register(relay.sip_port, "carol", "carolpw")
        check(before is not None and before.status in (401, 403), "carol before the reload: %s" % (before and before.start))
        with open(cfg, "w") as f:
            f.write('[sip]\nauth_register = 1\n\n[sip.users]\nalice = "alicepw"\ncarol = "carolpw"\n')
        log = relay.procs.log_of("rendezvous")
        relay.proc.send_signal(signal.SIGHUP)
        wait_until("the SIGHUP reload applying sip.users", lambda: "applied [sip.users]" in log_text(log), IO_TIMEOUT,
                   proc=relay.proc, proc_name="rendezvous", log=log)
        _, after, _ = siptest.register(relay.sip_port, "carol", "carolpw")
        check(after is not None and after.status == 200, "carol after the reload: %s" % (after and after.start))
    finally:
        stopped = relay.stop()
    check(stopped is None, "the second server: %s" % stopped)


def case_drain_exit(x):
    r = offer(x.relay, "last-call", 40030)
    check(r.get("result") == b"ok", "offer: %r" % r)
    status, body, _ = http(x.api, "POST", "/api/v1/drain", token=TOKEN, body={"exit_when_idle": True})
    check(status == 200 and body.get("exit_when_idle") is True and body.get("active_calls") >= 1,
          "drain with exit_when_idle: %s %r" % (status, body))
    status, _, _ = http(x.api, "GET", "/health")
    check(status == 200 and x.relay.proc.poll() is None, "rendezvous stopped while a call was up")
    for call_id in ("last-call", "before-drain"):
        r = ng_request(x.relay.ng_port, "delete", timeout=IO_TIMEOUT, **{"call-id": call_id})[1]
        check(r.get("result") == b"ok", "delete %s: %r" % (call_id, r))
    try:
        code = x.relay.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        raise TestFailure("rendezvous still running 10 s after its last call ended")
    check(code == 0, "rendezvous exited with %s after the drain, expected 0" % code)
    check("drain complete" in x.relay.log(), "no 'drain complete' line in the log")


def case_calls(x):
    """An NG call carrying RTP both ways is listed with its legs, shown alone, and deleted."""
    a, b = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    for sock in (a, b):
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(IO_TIMEOUT)
    try:
        ng_call_with_rtp(x.relay.ng_port, "api-call-1", a, b, 10, from_tag="ft-api-call-1")
        st, body, _ = http(x.api, "GET", "/api/v1/calls", TOKEN)
        # "before-drain" (case_drain) is still up too: it goes in case_drain_exit.
        mine = [c for c in body.get("calls", []) if c["id"] == "api-call-1"]
        check(st == 200 and body["count"] == len(body["calls"]) and len(mine) == 1,
              "GET /api/v1/calls: %s %s" % (st, body))
        call = mine[0]
        check(call["source"] == "ng" and call["state"] == "answered", "the listed call: %s" % call)
        packets = [leg["packets"] for leg in call["legs"]]
        check(packets == [10, 10], "per-leg packets %s, expected [10, 10]" % packets)
        check(all(leg["mos_avg"] is not None for leg in call["legs"]), "legs without MOS: %s" % call["legs"])
        st, one, _ = http(x.api, "GET", "/api/v1/calls/api-call-1", TOKEN)
        check(st == 200 and one["id"] == "api-call-1", "GET /api/v1/calls/api-call-1: %s %s" % (st, one))
        st, missing, _ = http(x.api, "GET", "/api/v1/calls/nope", TOKEN)
        check(st == 404 and "error" in missing, "an unknown call: %s %s" % (st, missing))
        st, stats, _ = http(x.api, "GET", "/api/v1/stats", TOKEN)
        check(st == 200 and stats["sessions"] == 2 and stats["packets"] >= 20 and "spoofed_source" in stats["drops"],
              "GET /api/v1/stats: %s %s" % (st, stats))
        st, gone, _ = http(x.api, "DELETE", "/api/v1/calls/api-call-1", TOKEN)
        check(st == 200 and gone.get("deleted") == "api-call-1", "DELETE: %s %s" % (st, gone))
        q = ng_request(x.relay.ng_port, "query", timeout=IO_TIMEOUT, **{"call-id": "api-call-1"})[1]
        check(q.get("result") == b"error", "NG query after the API deleted the call: %s" % q)
        st, body, _ = http(x.api, "GET", "/api/v1/calls", TOKEN)
        check(st == 200 and all(c["id"] != "api-call-1" for c in body["calls"]), "after DELETE: %s" % body)
    finally:
        a.close()
        b.close()
        ng_request(x.relay.ng_port, "delete", timeout=IO_TIMEOUT, **{"call-id": "api-call-1"})  # if a check failed


def case_dashboard_page(x):
    """GET / is the built-in status page: HTML, no token needed, nothing loaded from elsewhere."""
    with urllib.request.urlopen("http://127.0.0.1:%d/" % x.api, timeout=IO_TIMEOUT) as r:
        ctype, page = r.headers.get("Content-Type"), r.read().decode()
    check(ctype.startswith("text/html") and "<title>Rendezvous</title>" in page, "GET /: %s %r" % (ctype, page[:80]))
    check("http://" not in page and "https://" not in page, "the page refers to another site")


def case_phone_page(x):
    """GET /phone is the built-in web phone: HTML, no token needed, no script or page from elsewhere."""
    with urllib.request.urlopen("http://127.0.0.1:%d/phone" % x.api, timeout=IO_TIMEOUT) as r:
        ctype, page = r.headers.get("Content-Type"), r.read().decode()
    check(ctype.startswith("text/html") and "<title>Rendezvous web phone</title>" in page,
          "GET /phone: %s %r" % (ctype, page[:80]))
    check("http://" not in page and "https://" not in page and "src=" not in page, "the page loads from elsewhere")


CASES = [case_needs_token, case_health_ready, case_token, case_drain, case_undrain, case_reload_good,
         case_reload_bad, case_sighup, case_sighup_adds_user, case_calls, case_dashboard_page, case_phone_page,
         case_drain_exit]


def main():
    args = test_args(__doc__)
    x = Ctx()
    x.binary = os.path.abspath(args.rendezvous)
    x.config = os.path.join(args.workdir, "rdv.toml")
    write_config(x, '[log]\nlevel = "info"\n')
    try:
        x.relay = Relay(x.binary, args.workdir, sip={"auth_register": 0, "auth_invite": 0}, log_level=None,
                        extra=["--config", x.config, "--set", "api.token=%s" % TOKEN])
    except TestFailure as e:
        print("FAIL api: setup: %s" % e)
        return 1
    x.api = x.relay.api_port
    failed = []
    for case in CASES:
        name = case.__name__[len("case_"):]
        try:
            case(x)
            print("PASS %s" % name)
        except (TestFailure, OSError, ValueError, KeyError, StopIteration) as e:
            failed.append(name)
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            traceback.print_exc(limit=3)
    # drain_exit ends the process itself; otherwise SIGTERM must end it with 0.
    if x.relay.proc.poll() is None or x.relay.proc.returncode != 0:
        problem = x.relay.stop()
        if problem:
            failed.append("shutdown")
            print("FAIL shutdown: %s" % problem)
    x.relay.procs.stop_all()
    print("%s api (%d/%d cases passed)" % ("FAIL" if failed else "PASS", len(CASES) - len(failed), len(CASES)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
