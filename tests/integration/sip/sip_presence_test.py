#!/usr/bin/env python3
"""SIP presence against a real rendezvous process (RFC 3856 SUBSCRIBE/NOTIFY, RFC 3903 PUBLISH,
RFC 3857 watcher info). Buddy lists only (presence.allow_same_domain=0): bob may be watched by
"watcher" and alice; carol by nobody.

Cases:
  sipp_watcher   sipp (scenarios/watcher_presence.xml) subscribes to bob: the first NOTIFY says
                 closed; bob registering makes the next say open, unregistering closed again; a
                 refresh gets 200 and a NOTIFY with the new expiry; Expires: 0 gets 200 and a final
                 NOTIFY "terminated". The harness moves bob only after the server counted the
                 previous NOTIFY answered (metrics), so no step relies on timing.
  sipp_expiry    sipp (scenarios/watcher_expiry.xml) subscribes to bob for 1 s (presence.min_expires=1
                 here) and never refreshes: its initial NOTIFY is active;expires=1, and when the
                 subscription runs out the server sends the final NOTIFY with Subscription-State:
                 terminated;reason=timeout (RFC 6665 §4.4.1), which sipp awaits; the subscription is
                 gone from /metrics.
  rejected       mallory subscribes to carol: 200, then NOTIFY terminated;reason=rejected with no
                 body (never the status).
  publish        bob PUBLISHes PIDF: 200 with SIP-ETag; alice (subscribed) gets it in a NOTIFY;
                 a refresh with SIP-If-Match and no body gets a new tag; the spent tag gets 412;
                 malformed PIDF 400 with the parser's reason; another user's entity 400; Expires: 0
                 removes the publication.
  winfo          bob subscribes to presence.winfo: the watcher info document lists alice.
  bad_event      SUBSCRIBE for "dialog": 489 with Allow-Events.
  sipp_rejected  sipp (scenarios/watcher_rejected.xml) as eve watching carol: 200, then the one
                 NOTIFY terminated;reason=rejected with no body.
  sipp_publish   sipp (scenarios/publish_etag.xml) publishes bob's PIDF: 200 with SIP-ETag, a
                 refresh with SIP-If-Match gets 200 and a new tag, the spent tag 412, removal with
                 the new tag 200.

Exit code 0 pass, 1 fail. Usage: sip_presence_test.py --rendezvous PATH --workdir DIR
"""

import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from rdvtest import Relay, TestFailure, check, metric, run_cases, test_args, wait_until  # noqa: E402
import siptest  # noqa: E402
from calls_dialogs import expect  # noqa: E402

USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}


def pidf(user, basic, note):
    return ('<?xml version="1.0" encoding="UTF-8"?>\r\n'
            '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:%s@127.0.0.1">\r\n'
            '<tuple id="t1"><status><basic>%s</basic></status><note>%s</note></tuple>\r\n'
            '</presence>\r\n' % (user, basic, note))


def basic_of(msg):
    m = re.search(rb"<basic>(\w+)</basic>", msg.body)
    return m.group(1).decode() if m else None


def notified(relay):
    """NOTIFYs the server sent and NOTIFY answers outstanding (sent - answered is not exported:
    use sent and the subscription gauge)."""
    return metric(relay.metrics(), "rdv_presence_notify_total", {"outcome": "sent"}) or 0


class Watcher:
    """A Python watcher over UDP: subscribes, answers NOTIFYs 200, keeps what it got."""

    def __init__(self, relay, user, target, event="presence"):
        self.relay, self.user, self.target = relay, user, target
        self.sip = siptest.UdpSip(relay.sip_port)
        self.call_id = "pres-%s@127.0.0.1" % siptest.rand_hex(12)
        self.tag = siptest.rand_hex()
        self.event = event

    def subscribe(self, expires=120):
        req = siptest.build_request(
            "SUBSCRIBE", "sip:%s@127.0.0.1:%d" % (self.target, self.relay.sip_port), self.sip.port,
            call_id=self.call_id, from_uri="sip:%s@127.0.0.1" % self.user, from_tag=self.tag,
            to_uri="sip:%s@127.0.0.1" % self.target,
            extra=["Contact: <sip:%s@127.0.0.1:%d>" % (self.user, self.sip.port), "Event: " + self.event,
                   "Expires: %d" % expires])
        return self.sip.transaction(req)

    def notify(self, what):
        n = expect(self.sip, what, lambda m: m.method == "NOTIFY" and m.get("call-id") == self.call_id)
        self.sip.send(siptest.build_response(n, 200, "OK"))
        return n

    def close(self):
        self.sip.close()


def publish(relay, sock, user, body=None, if_match=None, expires=120, from_user=None):
    extra = ["Event: presence", "Expires: %d" % expires]
    if if_match:
        extra.append("SIP-If-Match: " + if_match)
    req = siptest.build_request("PUBLISH", "sip:%s@127.0.0.1:%d" % (user, relay.sip_port), sock.port,
                                from_uri="sip:%s@127.0.0.1" % (from_user or user), to_uri="sip:%s@127.0.0.1" % user,
                                extra=extra, body=body or b"",
                                content_type="application/pidf+xml" if body else None)
    r = sock.transaction(req)
    check(r is not None, "no answer to PUBLISH")
    return r


def case_sipp_watcher(relay, args):
    scen_dir = os.path.join(args.workdir, "scenarios")
    shutil.copytree(os.path.join(HERE, "scenarios"), scen_dir, dirs_exist_ok=True)
    sipp = siptest.Sipp(relay.procs, args.workdir, scen_dir)
    port = relay.base + 5
    before = notified(relay)
    run = sipp.start("watcher", "watcher_presence.xml", port, relay.base + 6, remote_port=relay.sip_port,
                     service="bob", timeout_s=20)
    wait_until("the first NOTIFY", lambda: notified(relay) >= before + 1, 10, proc=run.proc, proc_name=run.tag,
               log=run.log)
    bob_contact = relay.base + 7
    _, r, _ = siptest.register(relay.sip_port, "bob", USERS["bob"], expires=60, contact_port=bob_contact)
    check(r.status == 200, "bob's REGISTER got %s" % r.start)
    wait_until("the NOTIFY for bob online", lambda: notified(relay) >= before + 2, 10, proc=run.proc,
               proc_name=run.tag, log=run.log)
    _, r, _ = siptest.register(relay.sip_port, "bob", USERS["bob"], expires=0, contact_port=bob_contact)
    check(r.status == 200, "bob's un-REGISTER got %s" % r.start)
    run.expect_ok("sipp presence watcher")
    msgs = run.messages()
    notifies = [m for d, m in msgs if d == "received" and m.method == "NOTIFY"]
    check(len(notifies) == 5, "sipp got %d NOTIFYs, expected 5: %s" % (len(notifies), [n.start for n in notifies]))
    states = [n.get("subscription-state") for n in notifies]
    basics = [basic_of(n) for n in notifies]
    check(basics[:4] == ["closed", "open", "closed", "closed"], "PIDF basic per NOTIFY: %s" % basics)
    check(all(s.startswith("active;expires=") for s in states[:4]), "Subscription-State: %s" % states)
    check(int(states[3].split("=")[1]) > 120, "the refresh NOTIFY has the new expiry: %s" % states[3])
    check(states[4] == "terminated", "the final NOTIFY says %r" % states[4])
    check(all(n.get("event") == "presence" for n in notifies), "Event headers: %s" % [n.get("event") for n in notifies])
    check(all(n.get("content-type") == "application/pidf+xml" for n in notifies[:4]), "NOTIFY Content-Type")
    oks = [m for d, m in msgs if d == "received" and m.status == 200]
    check(oks and "presence" in (oks[0].get("allow-events") or ""), "the 200 to SUBSCRIBE lacks Allow-Events")
    check(oks[-1].get("expires") == "0", "the 200 to the unsubscribe has Expires %r" % oks[-1].get("expires"))
    return "closed -> open -> closed by REGISTER, refresh, unsubscribe -> terminated (%d NOTIFYs)" % len(notifies)


def case_sipp_expiry(relay, args):
    live = metric(relay.metrics(), "rdv_presence_subscriptions_active") or 0
    msgs = sipp_run(relay, args, "expiry", "watcher_expiry.xml", "bob", sets=[("expires", 1)])
    oks = [m for d, m in msgs if d == "received" and m.status == 200]
    check(oks and oks[0].get("expires") == "1",
          "the 200 to SUBSCRIBE grants Expires %r" % (oks[0].get("expires") if oks else None))
    notifies = [m for d, m in msgs if d == "received" and m.method == "NOTIFY"]
    states = [n.get("subscription-state") for n in notifies]
    check(states == ["active;expires=1", "terminated;reason=timeout"], "Subscription-State per NOTIFY: %s" % states)
    check(notifies[1].get("event") == "presence" and notifies[1].get("call-id") == notifies[0].get("call-id"),
          "the final NOTIFY is on the subscription's dialog")
    wait_until("the expired subscription gone from /metrics",
               lambda: (metric(relay.metrics(), "rdv_presence_subscriptions_active") or 0) == live, 5)
    return "Expires: 1 granted, active;expires=1, then terminated;reason=timeout without a refresh"


def case_rejected(relay, _args):
    w = Watcher(relay, "mallory", "carol")
    try:
        r = w.subscribe()
        check(r is not None and r.status == 200, "mallory's SUBSCRIBE got %s" % (r.start if r else None))
        n = w.notify("NOTIFY to mallory")
        check(n.get("subscription-state") == "terminated;reason=rejected",
              "mallory's NOTIFY says %r" % n.get("subscription-state"))
        check(n.body == b"", "a rejected watcher got a body: %r" % n.body[:80])
    finally:
        w.close()
    m = relay.metrics()
    check(metric(m, "rdv_presence_subscribe_rejected_total", {"reason": "rejected"}) == 1, "rejected counter")
    return "200, then terminated;reason=rejected and no state"


def case_publish(relay, _args):
    alice = Watcher(relay, "alice", "bob")
    bob = siptest.UdpSip(relay.sip_port)
    try:
        r = alice.subscribe()
        check(r is not None and r.status == 200, "alice's SUBSCRIBE got %s" % (r.start if r else None))
        first = alice.notify("alice's first NOTIFY")
        check(basic_of(first) == "closed", "bob is offline: %r" % first.body[:200])
        r = publish(relay, bob, "bob", pidf("bob", "open", "Gone fishing"))
        check(r.status == 200 and r.get("sip-etag"), "PUBLISH got %s (SIP-ETag %r)" % (r.start, r.get("sip-etag")))
        etag = r.get("sip-etag")
        n = alice.notify("alice's NOTIFY with bob's publication")
        check(b"Gone fishing" in n.body and basic_of(n) == "open", "the NOTIFY carries %r" % n.body[:300])
        r = publish(relay, bob, "bob", if_match=etag)
        check(r.status == 200 and r.get("sip-etag") not in (None, etag), "refresh got %s, SIP-ETag %r"
              % (r.start, r.get("sip-etag")))
        fresh = r.get("sip-etag")
        r = publish(relay, bob, "bob", if_match=etag)
        check(r.status == 412, "the spent tag got %s" % r.start)
        r = publish(relay, bob, "bob", b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:bob@h"><tuple')
        check(r.status == 400 and r.reason.startswith("malformed XML"), "malformed PIDF got %s" % r.start)
        r = publish(relay, bob, "bob", pidf("carol", "open", ""))
        check(r.status == 400 and "entity" in r.reason, "carol's entity in bob's PUBLISH got %s" % r.start)
        r = publish(relay, bob, "bob", pidf("bob", "open", ""), from_user="carol")
        check(r.status == 403, "carol publishing for bob got %s" % r.start)
        check(metric(relay.metrics(), "rdv_presence_publications_active") == 1, "one publication is live")
        r = publish(relay, bob, "bob", if_match=fresh, expires=0)
        check(r.status == 200 and r.get("expires") == "0", "removal got %s" % r.start)
        n = alice.notify("alice's NOTIFY after the removal")
        check(basic_of(n) == "closed", "back to registration state (offline): %r" % n.body[:200])
        m = relay.metrics()
        check(metric(m, "rdv_presence_publish_rejected_total", {"reason": "unknown_etag"}) == 1, "412 counter")
        check(metric(m, "rdv_presence_publish_rejected_total", {"reason": "malformed"}) == 2, "400 counter")
        return "PUBLISH 200+ETag -> NOTIFY, refresh new ETag, 412, 400 x2, 403, remove -> closed", alice
    finally:
        bob.close()


def case_winfo(relay, alice):
    bob = Watcher(relay, "bob", "bob", event="presence.winfo")
    try:
        r = bob.subscribe()
        check(r is not None and r.status == 200, "bob's winfo SUBSCRIBE got %s" % (r.start if r else None))
        n = bob.notify("bob's watcher info NOTIFY")
        check(n.get("content-type") == "application/watcherinfo+xml", "Content-Type %r" % n.get("content-type"))
        body = n.body.decode(errors="replace")
        check('state="full"' in body and "sip:alice@127.0.0.1" in body and 'status="active"' in body,
              "watcher info lacks alice: %s" % body)
    finally:
        bob.close()
        alice.close()
    return "presence.winfo lists alice as an active watcher"


def case_bad_event(relay, _args):
    w = Watcher(relay, "alice", "bob", event="dialog")
    try:
        r = w.subscribe()
        check(r is not None and r.status == 489, "Event: dialog got %s" % (r.start if r else None))
        check("presence" in (r.get("allow-events") or ""), "489 without Allow-Events")
    finally:
        w.close()
    return "489 Bad Event with Allow-Events"


def sipp_run(relay, args, name, scenario, service, sets=()):
    """Runs one sipp scenario from base+8 (media base+9: below the relay's ports), the runs one after
    another; returns its message log."""
    scen_dir = os.path.join(args.workdir, "scenarios")
    shutil.copytree(os.path.join(HERE, "scenarios"), scen_dir, dirs_exist_ok=True)
    sipp = siptest.Sipp(relay.procs, args.workdir, scen_dir)
    run = sipp.start(name, scenario, relay.base + 8, relay.base + 9, remote_port=relay.sip_port,
                     service=service, sets=sets, timeout_s=10)
    run.expect_ok("sipp " + name)
    return run.messages()


def case_sipp_rejected(relay, args):
    msgs = sipp_run(relay, args, "rejected", "watcher_rejected.xml", "carol", sets=[("from", "eve")])
    notifies = [m for d, m in msgs if d == "received" and m.method == "NOTIFY"]
    told = [(n.get("subscription-state"), n.body[:40]) for n in notifies]
    check(told == [("terminated;reason=rejected", b"")], "eve was told %s" % told)
    return "sipp watcher eve: 200, then terminated;reason=rejected without a body"


def case_sipp_publish(relay, args):
    msgs = sipp_run(relay, args, "publish", "publish_etag.xml", "bob")
    answers = [m for d, m in msgs if d == "received" and m.is_response]
    statuses = [m.status for m in answers]
    check(statuses == [200, 200, 412, 200], "PUBLISH answers %s" % statuses)
    tags = [m.get("sip-etag") for m in answers]
    check(tags[0] and tags[1] and tags[0] != tags[1], "SIP-ETag of the initial and the refresh: %s" % tags[:2])
    check(answers[3].get("expires") == "0", "the removal's 200 says Expires %r" % answers[3].get("expires"))
    check(metric(relay.metrics(), "rdv_presence_publications_active") == 0, "the publication is gone")
    return "sipp PUBLISH 200 + SIP-ETag, refresh 200 + new tag, spent tag 412, removal 200"


def main():
    args = test_args(__doc__)
    sip = {"auth_invite": 0, "auth_algorithms": "MD5,SHA-256"}
    sip.update({"users." + u: p for u, p in USERS.items()})
    relay = Relay(args.rendezvous, args.workdir, sip=sip,
                  extra=["--set", "presence.allow_same_domain=0", "--set", "presence.lists.bob=watcher,alice",
                         "--set", "presence.notify_min_interval_ms=100", "--set", "presence.min_expires=1"])
    state = {"alice": None}

    def publish():
        result, state["alice"] = case_publish(relay, args)
        return result

    def winfo():
        if state["alice"] is None:
            raise TestFailure("needs the publish case's subscription")
        return case_winfo(relay, state["alice"])
    return run_cases("sip_presence", relay,
                     [("sipp_watcher", lambda: case_sipp_watcher(relay, args)),
                      ("sipp_expiry", lambda: case_sipp_expiry(relay, args)),
                      ("rejected", lambda: case_rejected(relay, args)), ("publish", publish), ("winfo", winfo),
                      ("bad_event", lambda: case_bad_event(relay, args)),
                      ("sipp_rejected", lambda: case_sipp_rejected(relay, args)),
                      ("sipp_publish", lambda: case_sipp_publish(relay, args))])


if __name__ == "__main__":
    sys.exit(main())
