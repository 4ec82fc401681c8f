#!/usr/bin/env python3
"""End-to-end test: presence between two real SIP clients (baresip, its presence module) behind
NAT routers: alice watches bob (her contacts file marks him ;presence=p2p, so baresip SUBSCRIBEs to
sip:bob@198.18.0.1 through Rendezvous) and sees him go online when he registers and offline when
he quits (baresip un-registers on /quit). Bob publishes nothing: the state Rendezvous sends is the
one derived from his registration, over alice's NAT binding.

Topology: nat_call_test.py's (alice behind router A, port-preserving MASQUERADE; bob behind
router B, MASQUERADE --random-fully; Rendezvous on the public segment, 198.18.0.1).

Checks: alice's console (/contacts) shows bob Offline, then Online after his REGISTER, then Offline
after his /quit; Rendezvous counted one live subscription and at least three NOTIFYs, none failed,
and exits 0 on SIGTERM. Every wait is bounded and watches a log or the console, not the clock.

Exit codes: 0 pass, 1 fail, 77 skipped (not root).
Usage: nat_presence_test.py --rendezvous PATH --workdir DIR [--prefix rdvpres]
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import nat_call_test as nat  # noqa: E402
from rdvtest import Procs, TestFailure, metric, stop_server, wait_until  # noqa: E402


def contact_status(client, who):
    """bob's presence as alice's baresip console lists it (/contacts), e.g. "Online"; None if absent."""
    text = client.cons("/contacts", 0.5, until=who)
    for line in text.splitlines():
        if who in line:
            m = re.search(r"(Online|Offline|Busy|Unknown)", line, re.I)
            return m.group(1).capitalize() if m else line.strip()
    return None


def presence(topo, workdir, binary, tones):
    pub = topo.ns["pub"]
    phase_dir = os.path.join(workdir, "presence")
    os.makedirs(phase_dir)
    procs = Procs(workdir)
    rdv = rlog = None
    alice = bob = None
    seen = []
    try:
        rdv, rlog = nat.start_rendezvous(procs, pub, binary, ("presence.notify_min_interval_ms=200",))
        alice = nat.Client(procs, phase_dir, "pres", "alice", topo.ns["alice"], nat.ALICE_IP, tones["alice"],
                           (15000, 15099), nat.account_line("alice", nat.PUB_IP, nat.USERS["alice"]),
                           codec_modules=("g711.so", "contact.so", "presence.so"))
        with open(os.path.join(alice.dir, "contacts"), "w") as f:
            f.write('"Bob" <sip:bob@%s>;presence=p2p\n' % nat.PUB_IP)
        bob = nat.Client(procs, phase_dir, "pres", "bob", topo.ns["bob"], nat.BOB_IP, tones["bob"],
                         (15100, 15199), nat.account_line("bob", nat.PUB_IP, nat.USERS["bob"]))
        alice.start()
        alice.wait_registered(r"\{0/UDP/v4\} 200 OK", 15)

        def metrics():
            return nat.ns_http(pub, "http://127.0.0.1:%d/metrics" % nat.METRICS_PORT)

        def status_is(want):
            s = contact_status(alice, "bob")
            if not seen or seen[-1] != s:
                seen.append(s)
            return s == want

        wait_until("alice's SUBSCRIBE to bob", lambda: metric(metrics(), "rdv_presence_subscriptions_active") == 1,
                   15, proc=rdv, proc_name="rendezvous", log=rlog)
        wait_until("alice sees bob Offline", lambda: status_is("Offline"), 10, proc=alice.proc,
                   proc_name=alice.logname, log=alice.log_path())
        bob.start()
        bob.wait_registered(r"\{0/UDP/v4\} 200 OK", 15)
        wait_until("alice sees bob Online", lambda: status_is("Online"), 10, proc=alice.proc,
                   proc_name=alice.logname, log=alice.log_path())
        bob.quit()
        wait_until("alice sees bob Offline again", lambda: status_is("Offline"), 10, proc=alice.proc,
                   proc_name=alice.logname, log=alice.log_path())
        m = metrics()
    except TestFailure as e:
        raise TestFailure("%s\n(bob as alice saw him: %s)\n--- rendezvous log tail\n%s"
                          % (e, seen, nat.tail(rlog, 40) if rlog else ""))
    finally:
        for c in (alice, bob):
            if c is not None:
                c.quit()
        stopped = stop_server(rdv, "rendezvous", rlog) if rdv is not None else None
        procs.stop_all()
    sent = metric(m, "rdv_presence_notify_total", {"outcome": "sent"}) or 0
    failed = metric(m, "rdv_presence_notify_total", {"outcome": "failed"}) or 0
    if sent < 3 or failed:
        raise TestFailure("[presence] NOTIFYs sent %s (need >= 3), failed %s" % (sent, failed))
    if stopped:
        raise TestFailure("[presence] %s" % stopped)
    return "alice (behind NAT A) saw bob %s; %d NOTIFYs over her NAT binding" % (" -> ".join(seen), sent)


def main():
    return nat.baresip_test_main("nat_presence", "rdvpres",
                                 lambda topo, args, tones: presence(topo, args.workdir, args.rendezvous, tones))


if __name__ == "__main__":
    sys.exit(main())
