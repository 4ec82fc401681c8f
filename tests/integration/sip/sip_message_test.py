#!/usr/bin/env python3
"""Instant messages (RFC 3428 MESSAGE outside a dialog) against a real rendezvous process, sent by
sipp (scenarios/message_send.xml) and taken by sipp contacts (scenarios/message_receive.xml).
The server keeps messages for offline users in a SQLite file, at most 3 per user and 4 in all,
and takes bodies up to 512 bytes.

Cases:
  two_contacts   bob registered from two ports, a sipp contact on each: alice's MESSAGE gets 200
                 and both contacts receive it, body intact.
  too_large      a 513-byte body gets 413 (counted refused).
  store_quota    carol is offline: three MESSAGEs get 202 (stored), the fourth 480 (her share of
                 the store is full); dave's first gets 202, his second 507 (the store is full).
  delivery       carol registers: her three stored messages reach her contact in the order they
                 were sent; once each is answered 200 the server counts the three delivered.

Exit code 0 pass, 1 fail. Usage: sip_message_test.py --rendezvous PATH --workdir DIR
"""

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from rdvtest import Relay, check, metric, run_cases, test_args, wait_until  # noqa: E402
import siptest  # noqa: E402
from calls_dialogs import expect  # noqa: E402

USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw", "dave": "davepw"}
MAX_BYTES = 512


def im_count(relay, outcome):
    return metric(relay.metrics(), "rdv_im_messages_total", {"outcome": outcome}) or 0


class Harness:
    def __init__(self, relay, workdir):
        self.relay = relay
        scen_dir = os.path.join(workdir, "scenarios")
        shutil.copytree(os.path.join(HERE, "scenarios"), scen_dir, dirs_exist_ok=True)
        self.sipp = siptest.Sipp(relay.procs, workdir, scen_dir)

    def send(self, to, text, sender="alice"):
        """One MESSAGE by sipp; returns the final status the server answered."""
        b = self.relay.base
        run = self.sipp.start("message_to_" + to, "message_send.xml", b + 4, b + 80, remote_port=self.relay.sip_port,
                              service=to, sets=(("from", sender), ("text", text)), timeout_s=10)
        run.expect_ok("sipp MESSAGE to %s" % to)
        finals = [m.status for d, m in run.messages() if d == "received" and m.status and m.status >= 200]
        check(len(finals) == 1, "sipp got finals %s" % finals)
        return finals[0]

    def receiver(self, name, port, media_port, count):
        run = self.sipp.start(name, "message_receive.xml", port, media_port, service=name,
                              extra=("-m", str(count)), timeout_s=10)
        run.wait_bound(port)
        return run


def received_bodies(run):
    """(Content-Length, body) of each MESSAGE a sipp run got; the trace parser ends every body
    with a line break, so the body is cut at its Content-Length."""
    out = []
    for d, m in run.messages():
        if d == "received" and m.method == "MESSAGE":
            n = int(m.get("content-length") or -1)
            out.append((n, m.body[:n].decode(errors="replace")))
    return out


def case_two_contacts(h, relay):
    b = relay.base
    for port in (b + 5, b + 6):
        _, r, _ = siptest.register(relay.sip_port, "bob", USERS["bob"], local_port=port, expires=120)
        check(r.status == 200, "bob's REGISTER from %d got %s" % (port, r.start))
    check(len(r.all("contact")) == 2, "bob has contacts %s, expected two" % r.all("contact"))
    runs = [h.receiver("bob", b + 5, b + 84, 1), h.receiver("bob", b + 6, b + 88, 1)]
    text = "to both of your phones"
    status = h.send("bob", text)
    check(status == 200, "MESSAGE to bob got %s" % status)
    for run in runs:
        run.expect_ok("bob's contact")
        got = received_bodies(run)
        check(got == [(len(text), text)], "contact %s got %s" % (run.tag, got))
    for port in (b + 5, b + 6):
        siptest.register(relay.sip_port, "bob", USERS["bob"], local_port=port, expires=0)
    check(im_count(relay, "relayed") == 1, "relayed counter")
    return "200, both of bob's contacts got the body"


def case_too_large(h, relay):
    status = h.send("bob", "x" * (MAX_BYTES + 1))
    check(status == 413, "a %d-byte body got %s" % (MAX_BYTES + 1, status))
    check(im_count(relay, "refused") == 1, "refused counter")
    return "a %d-byte body: 413" % (MAX_BYTES + 1)


STORED = ("carol 1: first", "carol 2: second", "carol 3: third")


def case_store_quota(h, relay):
    got = [h.send("carol", t) for t in STORED]
    check(got == [202, 202, 202], "carol's three MESSAGEs got %s" % got)
    check(h.send("carol", "carol 4: over her quota") == 480, "carol's fourth MESSAGE is not 480")
    check(h.send("dave", "dave 1") == 202, "dave's first MESSAGE is not 202")
    check(h.send("dave", "dave 2: over the total") == 507, "dave's second MESSAGE is not 507")
    check(im_count(relay, "stored") == 4, "stored counter %s" % im_count(relay, "stored"))
    return "3 x 202, then 480 (per user); 202, then 507 (in all)"


def case_delivery(_h, relay):
    """carol registers and takes what is kept on the socket she registered from (a sipp contact
    cannot be there: the messages follow the REGISTER at once, before a new sipp could bind)."""
    sock = siptest.UdpSip(relay.sip_port)
    try:
        _, r, _ = siptest.register(relay.sip_port, "carol", USERS["carol"], expires=120, sock=sock)
        check(r.status == 200, "carol's REGISTER got %s" % r.start)
        bodies = []
        for i in range(len(STORED)):
            m = expect(sock, "stored MESSAGE %d" % (i + 1), lambda m: m.method == "MESSAGE")
            sock.send(siptest.build_response(m, 200, "OK"))
            bodies.append(m.body.decode(errors="replace"))
        check(bodies == list(STORED), "carol got %s, expected %s in that order" % (bodies, list(STORED)))
        wait_until("three delivered", lambda: im_count(relay, "delivered") == 3, 5, proc=relay.proc,
                   proc_name="rendezvous")
    finally:
        sock.close()
    return "3 stored messages delivered on REGISTER, in order"


def main():
    args = test_args(__doc__)
    store = os.path.join(args.workdir, "messages.sqlite")
    sip = {"auth_invite": 0, "auth_algorithms": "MD5,SHA-256", "max_message_bytes": MAX_BYTES,
           "message_store": store, "message_store_per_user": 3, "message_store_total": 4}
    sip.update({"users." + u: p for u, p in USERS.items()})
    os.makedirs(args.workdir, exist_ok=True)
    if os.path.exists(store):
        os.remove(store)
    relay = Relay(args.rendezvous, args.workdir, sip=sip)
    h = Harness(relay, args.workdir)
    return run_cases("sip_message", relay,
                     [(name, lambda case=case: case(h, relay))
                      for name, case in (("two_contacts", case_two_contacts), ("too_large", case_too_large),
                                         ("store_quota", case_store_quota), ("delivery", case_delivery))])


if __name__ == "__main__":
    sys.exit(main())
