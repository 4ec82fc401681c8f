#!/usr/bin/env python3
"""A SUBSCRIBE storm and huge MESSAGEs (bad input) against a real rendezvous process, while a
normal watcher and a normal MESSAGE go on. SUBSCRIBE and MESSAGE are authenticated like INVITE
(sip.auth_invite=1); any same-domain user may watch (presence.allow_same_domain=1); the table
holds at most 100 subscriptions, 8 per watcher; subscriptions may be as short as 1 s; a
watcher is told of changes at most once a second (presence.notify_min_interval_ms=1000).

The storm (its own thread and socket; 1,500/s, at most 50 requests outstanding; nothing retransmitted,
no NOTIFY answered):
  unauth     2,000 SUBSCRIBEs from made-up users without credentials: 407 each
  bad_pw       500 with a wrong password: 407 each
  bad_event  1,000 authenticated, for "dialog", "message-summary", "x-storm": 489 each
  expiring   2,000 authenticated, Expires: 2, to alice/bob/carol, never refreshed: a quarter from
             one greedy user (s0), the rest from a crowd (s1..s39): 200 while there is room, else
             403 (8 per watcher) or 503 with Retry-After (100 in all); those accepted run out two
             seconds later (the crowd fills the table long before: 50 a second would do).
Every storm request gets exactly one final answer of its class; /metrics counts the refusals
(bad_event, limit) and the challenges; the server's RSS peak stays within 48 MiB of before.

Meanwhile, case by case:
  watcher    alice watches bob: bob registering and unregistering reaches her as open/closed
             NOTIFYs while the storm runs.
  flaps      bob changes 7 times in a row (ending online): alice is told at most once per second
             (NOTIFY pacing, flaps coalesced), the last NOTIFY says open.
  message    a MESSAGE without credentials gets 407, one from carol with alice's credentials 403;
             alice's MESSAGE reaches bob's contact: 200.
  huge       a 60,000-byte MESSAGE over UDP: 413 (sip.max_message_bytes 8192); a 200,000-byte
             MESSAGE over TCP: refused from its Content-Length (above the 64 KiB SIP message
             limit: 400 "Content-Length too large") and the connection closed.
  storm      the storm's answers, counters and memory, as above.

Exit code 0 pass, 1 fail. Usage: sip_presence_storm_test.py --rendezvous PATH --workdir DIR
"""

import collections
import os
import random
import re
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from rdvtest import Relay, check, metric, run_cases, test_args, wait_until  # noqa: E402
import siptest  # noqa: E402
from calls_dialogs import expect  # noqa: E402

STORM_USERS = 40  # s0 is greedy (a quarter of the expiring SUBSCRIBEs), s1.. the crowd
USERS = dict({"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"},
             **{"s%d" % i: "spw%d" % i for i in range(STORM_USERS)})
MAX_SUBS, MAX_PER_WATCHER, INTERVAL_S, STORM_EXPIRES = 100, 8, 1.0, 2
COUNTS = {"unauth": 2000, "bad_pw": 500, "bad_event": 1000, "expiring": 2000}
EXPECTED = {"unauth": {407}, "bad_pw": {407}, "bad_event": {489}, "expiring": {200, 403, 503}}
RSS_BOUND_KIB = 48 * 1024


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Client:
    """A UDP SIP party that authenticates with the first challenge it gets (Proxy-Authorization,
    nc counting up) and answers NOTIFYs 200."""

    def __init__(self, relay, user):
        self.relay, self.user = relay, user
        self.sip = siptest.UdpSip(relay.sip_port)
        self.challenge, self.nc = None, 0

    def authorization(self, method, ruri, user=None, password=None):
        self.nc += 1
        return "Proxy-Authorization: " + siptest.digest_authorization(
            self.challenge, user or self.user, password or USERS[self.user], method, ruri, nc=self.nc)

    def request(self, method, target, extra=(), body=b"", ctype=None, call_id=None, tag=None, cseq=1):
        ruri = "sip:%s@127.0.0.1:%d" % (target, self.relay.sip_port)

        def build(auth):
            return siptest.build_request(method, ruri, self.sip.port, call_id=call_id, from_tag=tag, cseq=cseq,
                                         from_uri="sip:%s@127.0.0.1" % self.user, to_uri="sip:%s@127.0.0.1" % target,
                                         extra=list(extra) + auth, body=body, content_type=ctype)
        if self.challenge is None:
            r = self.sip.transaction(build([]))
            check(r is not None, "no answer to %s" % method)
            if r.status != 407:
                return r
            self.challenge = siptest.parse_challenge(r.get("proxy-authenticate"))
        r = self.sip.transaction(build([self.authorization(method, ruri)]))
        check(r is not None, "no answer to the authenticated %s" % method)
        return r

    def notify(self, what, call_id, timeout=5.0):
        n = expect(self.sip, what, lambda m: m.method == "NOTIFY" and m.get("call-id") == call_id, timeout)
        self.sip.send(siptest.build_response(n, 200, "OK"))
        return n


def basic_of(msg):
    m = re.search(rb"<basic>(\w+)</basic>", msg.body)
    return m.group(1).decode() if m else None


class Storm(threading.Thread):
    """Sends the storm requests over one socket, closed loop (at most `window` outstanding), and
    records the final status each got (by Call-ID)."""

    def __init__(self, relay, window=50, rate=1500):
        super().__init__(daemon=True)
        self.relay, self.window, self.rate = relay, window, rate
        self.sip = siptest.UdpSip(relay.sip_port)
        # Room for the NOTIFYs (and their retransmissions) the storm never answers, so that no
        # answer is lost in our own socket while this thread waits for the interpreter.
        try:
            self.sip.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE (root)
        except OSError:
            self.sip.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        # A nonce of its own: nc counts per nonce, and the storm's must not collide with alice's.
        probe = siptest.build_request("SUBSCRIBE", "sip:alice@127.0.0.1:%d" % relay.sip_port, self.sip.port,
                                      from_uri="sip:s0@127.0.0.1", extra=["Event: presence"])
        r = self.sip.transaction(probe)
        check(r is not None and r.status == 407, "the storm's probe got %s" % (r.start if r else None))
        self.challenge = siptest.parse_challenge(r.get("proxy-authenticate"))
        self.kind, self.status, self.retry_after = {}, {}, {}
        self.nc, self.error, self.seconds, self.sent = 0, None, 0.0, 0
        self.notifies = 0

    def build(self, n, kind):
        rnd = random.Random(n)
        target = ("alice", "bob", "carol")[n % 3]
        ruri = "sip:%s@127.0.0.1:%d" % (target, self.relay.sip_port)
        user = "ghost%d" % n if kind == "unauth" else "s%d" % (0 if rnd.random() < 0.25 else 1 + n % (STORM_USERS - 1))
        event = rnd.choice(("dialog", "message-summary", "x-storm")) if kind == "bad_event" else "presence"
        extra = ["Contact: <sip:%s@127.0.0.1:%d>" % (user, self.sip.port), "Event: " + event,
                 "Expires: %d" % STORM_EXPIRES]
        if kind != "unauth":
            self.nc += 1
            pw = "wrong" if kind == "bad_pw" else USERS[user]
            extra.append("Proxy-Authorization: " + siptest.digest_authorization(
                self.challenge, user, pw, "SUBSCRIBE", ruri, nc=self.nc))
        call_id = "storm-%d@127.0.0.1" % n
        self.kind[call_id] = kind
        return siptest.build_request("SUBSCRIBE", ruri, self.sip.port, call_id=call_id,
                                     from_uri="sip:%s@127.0.0.1" % user, to_uri="sip:%s@127.0.0.1" % target,
                                     extra=extra)

    def drain(self, timeout):
        m = self.sip.recv(timeout)
        if not isinstance(m, siptest.SipMessage):
            return m is not None
        if m.is_response and (m.status or 0) >= 200:
            cid = m.get("call-id")
            self.status.setdefault(cid, []).append(m.status)
            if m.status == 503:
                self.retry_after[cid] = m.get("retry-after")
        elif m.method == "NOTIFY":
            self.notifies += 1  # never answered: a storm does not play by the rules
        return True

    def run(self):
        try:
            order = [k for k, c in COUNTS.items() for _ in range(c)]
            random.Random(7).shuffle(order)
            t0 = time.monotonic()
            for n, kind in enumerate(order):
                # Paced (a storm of a few seconds, so that the watcher's steps fall inside it).
                while n > self.rate * (time.monotonic() - t0):
                    self.drain(0.001)
                while len(self.kind) - len(self.status) >= self.window:
                    if not self.drain(5.0):
                        raise RuntimeError("no answer within 5 s with %d outstanding"
                                           % (len(self.kind) - len(self.status)))
                self.sip.send(self.build(n, kind))
                self.sent += 1
            deadline = time.monotonic() + 10
            while len(self.status) < len(self.kind) and time.monotonic() < deadline:
                self.drain(0.5)
            self.seconds = time.monotonic() - t0
        except Exception as e:  # reported by the storm case
            self.error = e


def case_watcher(relay, st):
    alice = st["alice"]
    call_id = "alice-watches-bob@127.0.0.1"
    r = alice.request("SUBSCRIBE", "bob", call_id=call_id, tag="a1",
                      extra=["Contact: <sip:alice@127.0.0.1:%d>" % alice.sip.port, "Event: presence", "Expires: 600"])
    check(r.status == 200, "alice's SUBSCRIBE got %s" % r.start)
    check(basic_of(alice.notify("alice's first NOTIFY", call_id)) == "closed", "bob starts offline")
    st["call_id"] = call_id
    st["storm"] = Storm(relay)
    st["storm"].start()
    wait_until("the storm under way", lambda: len(st["storm"].status) >= 50, 10)
    for basic, expires in (("open", 300), ("closed", 0)):
        _, r, _ = siptest.register(relay.sip_port, "bob", USERS["bob"], expires=expires, sock=st["bob"].sip)
        check(r.status == 200, "bob's REGISTER (expires %d) got %s" % (expires, r.start))
        n = alice.notify("alice's NOTIFY for bob %s" % basic, call_id)
        st["last_notify"] = time.monotonic()
        check(basic_of(n) == basic, "alice was told %r, bob is %s" % (basic_of(n), basic))
    got = len(st["storm"].status)
    return "open then closed reached alice during the storm (%d storm answers by then)" % got


def case_flaps(relay, st):
    alice, bob, call_id = st["alice"], st["bob"], st["call_id"]
    # Pacing is by time: let one interval pass since alice's last NOTIFY, so that the first change
    # goes out at once and the rest must wait (there is no event to wait for here).
    time.sleep(max(0.0, st["last_notify"] + 1.2 * INTERVAL_S - time.monotonic()))
    t0 = time.monotonic()
    for k in range(7):  # online, offline, ..., online
        _, r, _ = siptest.register(relay.sip_port, "bob", USERS["bob"], expires=0 if k % 2 else 300, sock=bob.sip)
        check(r.status == 200, "flap %d: REGISTER got %s" % (k, r.start))
    flapping = time.monotonic() - t0
    seen = []
    while True:
        try:
            n = alice.notify("alice's NOTIFYs after the flaps", call_id, timeout=2 * INTERVAL_S + 0.5)
        except Exception:
            break
        seen.append((time.monotonic() - t0, basic_of(n)))
        if len(seen) > 6:
            break
    check(seen and seen[-1][1] == "open", "the last NOTIFY carries the final state (open): %s" % seen)
    check(len(seen) >= 2 or flapping >= INTERVAL_S, "the first change goes out at once, the rest later: %s" % seen)
    allowed = 1 + int(seen[-1][0] / INTERVAL_S) + 1
    check(len(seen) <= allowed, "%d NOTIFYs in %.1f s for 7 changes (at most %d at one per second): %s"
          % (len(seen), seen[-1][0], allowed, seen))
    gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:])]
    check(all(g >= INTERVAL_S * 0.9 for g in gaps), "NOTIFYs closer than the interval: %s" % seen)
    return "7 changes in %.2f s -> %d NOTIFY(s) %s" % (flapping, len(seen), [b for _, b in seen])


def case_message(relay, st):
    alice, bob = st["alice"], st["bob"]
    got = {}

    def answer():  # bob's phone: takes the MESSAGE and answers 200
        try:
            got["m"] = m = expect(bob.sip, "the MESSAGE at bob's contact", lambda x: x.method == "MESSAGE")
            bob.sip.send(siptest.build_response(m, 200, "OK", to_tag="b1"))
        except Exception as e:
            got["error"] = e
    # Authenticated like INVITE: no credentials get a challenge, someone else's a 403.
    ruri = "sip:bob@127.0.0.1:%d" % relay.sip_port
    bare = siptest.build_request("MESSAGE", ruri, alice.sip.port, from_uri="sip:alice@127.0.0.1",
                                 to_uri="sip:bob@127.0.0.1", body=b"spam", content_type="text/plain")
    r = alice.sip.transaction(bare)
    check(r is not None and r.status == 407, "a MESSAGE without credentials got %s" % (r.start if r else None))
    forged = siptest.build_request("MESSAGE", ruri, alice.sip.port, from_uri="sip:carol@127.0.0.1",
                                   to_uri="sip:bob@127.0.0.1", body=b"spam", content_type="text/plain",
                                   extra=[alice.authorization("MESSAGE", ruri)])
    r = alice.sip.transaction(forged)
    check(r is not None and r.status == 403,
          "alice's credentials for carol's MESSAGE got %s" % (r.start if r else None))
    phone = threading.Thread(target=answer, daemon=True)
    phone.start()
    r = alice.request("MESSAGE", "bob", body=b"still there?", ctype="text/plain")
    phone.join(10)
    check("m" in got, "bob's contact: %s" % got.get("error"))
    check(got["m"].body == b"still there?", "bob got %r" % got["m"].body)
    check(r.status == 200, "alice's MESSAGE got %s" % r.start)
    return "no credentials 407, someone else's 403; alice's MESSAGE delivered to bob's contact, 200"


def case_huge(relay, st):
    alice = st["alice"]
    r = alice.request("MESSAGE", "bob", body=b"x" * 60000, ctype="text/plain")
    check(r.status == 413, "a 60,000-byte MESSAGE over UDP got %s" % r.start)
    conn = siptest.TcpSip(relay.sip_port)
    try:
        body = b"y" * 200000
        req = siptest.build_request("MESSAGE", "sip:bob@127.0.0.1:%d" % relay.sip_port, conn.port, transport="TCP",
                                    from_uri="sip:alice@127.0.0.1", to_uri="sip:bob@127.0.0.1", body=body,
                                    content_type="text/plain")
        conn.send(req[:req.index(b"\r\n\r\n") + 4 + 4096])  # Content-Length: 200000 says enough
        r = conn.recv(5.0)
        # The stream framing refuses it from its Content-Length alone (400 "Content-Length too
        # large"; 513 when the header section itself is too long).
        check(isinstance(r, siptest.SipMessage) and r.status in (400, 513), "200,000 bytes over TCP got %r" % (r,))
        closed = conn.recv(2.0)
        check(closed is None and conn.closed, "the connection stays open after %d: %r" % (r.status, closed))
        st["tcp_status"] = "%d %s" % (r.status, r.reason)
    finally:
        conn.close()
    m = relay.metrics()
    check((metric(m, "rdv_im_messages_total", {"outcome": "refused"}) or 0) >= 1, "the 413 is counted refused")
    return "60,000 bytes over UDP: 413; 200,000 over TCP: %s and closed" % st["tcp_status"]


def case_storm(relay, st):
    storm = st["storm"]
    storm.join(60)
    check(not storm.is_alive(), "the storm did not finish")
    check(storm.error is None, "storm: %s" % storm.error)
    by_kind = collections.defaultdict(collections.Counter)
    missing = collections.Counter(kind for cid, kind in storm.kind.items() if cid not in storm.status)
    check(not missing, "storm requests without an answer: %s (of %d, %s sent)"
          % (dict(missing), len(storm.kind), storm.sent))
    for cid, kind in storm.kind.items():
        got = storm.status.get(cid, [])
        check(len(set(got)) == 1, "%s (%s) got final answers %s" % (cid, kind, got or "none"))
        check(got[0] in EXPECTED[kind], "%s (%s) got %d" % (cid, kind, got[0]))
        by_kind[kind][got[0]] += 1
    check(all(storm.retry_after[c] for c in storm.retry_after), "a 503 without Retry-After")
    exp = by_kind["expiring"]
    check(exp[200] >= MAX_SUBS - 1 and exp[403] > 0 and exp[503] > 0,
          "expiring SUBSCRIBEs: %s (the greedy watcher must meet 403, the crowd the full table's 503)" % dict(exp))
    m = relay.metrics()
    refused = {r: metric(m, "rdv_presence_subscribe_rejected_total", {"reason": r}) or 0
               for r in ("bad_event", "limit")}
    check(refused["bad_event"] == COUNTS["bad_event"], "bad_event counted %d" % refused["bad_event"])
    check(refused["limit"] == exp[403] + exp[503],
          "limit counted %d, answered %d" % (refused["limit"], exp[403] + exp[503]))
    challenges = metric(m, "rdv_sip_auth_challenges_total") or 0
    check(challenges >= COUNTS["unauth"] + COUNTS["bad_pw"] + 1, "challenges counted %d" % challenges)
    wait_until("the storm's subscriptions expired",
               lambda: (metric(relay.metrics(), "rdv_presence_subscriptions_active") or 0) == 1, 10)
    grew = vm_kib(relay.proc.pid, "VmHWM") - st["rss_before"]
    check(grew < RSS_BOUND_KIB, "RSS peaked %d KiB above its level before the storm" % grew)
    return ("%d requests in %.1f s, %d NOTIFYs to the storm; answers %s; RSS peak +%d KiB"
            % (len(storm.kind), storm.seconds, storm.notifies, {k: dict(v) for k, v in by_kind.items()}, grew))


def main():
    args = test_args(__doc__)
    sip = {"auth_invite": 1, "auth_register": 1, "auth_algorithms": "MD5"}
    sip.update({"users." + u: p for u, p in USERS.items()})
    relay = Relay(args.rendezvous, args.workdir, sip=sip, log_level="info",
                  extra=["--set", "presence.allow_same_domain=1", "--set", "presence.min_expires=1",
                         "--set", "presence.max_subscriptions=%d" % MAX_SUBS,
                         "--set", "presence.max_per_watcher=%d" % MAX_PER_WATCHER,
                         "--set", "presence.notify_min_interval_ms=%d" % int(INTERVAL_S * 1000)])
    st = {"alice": Client(relay, "alice"), "bob": Client(relay, "bob"), "rss_before": vm_kib(relay.proc.pid, "VmRSS")}
    try:
        return run_cases("sip_presence_storm", relay,
                         [("watcher", lambda: case_watcher(relay, st)), ("flaps", lambda: case_flaps(relay, st)),
                          ("message", lambda: case_message(relay, st)), ("huge", lambda: case_huge(relay, st)),
                          ("storm", lambda: case_storm(relay, st))])
    finally:
        for c in ("alice", "bob"):
            st[c].sip.close()
        if "storm" in st:
            st["storm"].sip.close()


if __name__ == "__main__":
    sys.exit(main())
