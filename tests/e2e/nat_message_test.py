#!/usr/bin/env python3
"""End-to-end test: instant messages (RFC 3428 MESSAGE) between two real SIP clients (baresip)
behind NAT routers, through Rendezvous.

1. Live: alice and bob registered; alice's /message (baresip's contact module, to her current
   contact sip:bob@198.18.0.1) reaches bob over his NAT binding: bob's baresip gets the text.
2. Offline, across a restart: bob quits (un-registers); alice sends two messages, which Rendezvous
   answers 202 and keeps in its SQLite store (sip.message_store); Rendezvous is stopped (SIGTERM)
   and started again on the same file; bob starts and registers: both messages reach him, in the
   order they were sent.

Topology: nat_call_test.py's (alice behind router A, port-preserving MASQUERADE; bob behind
router B, MASQUERADE --random-fully; Rendezvous on the public segment, 198.18.0.1).

Checks: bob's baresip got each text (its SIP trace) and answered it; the stored ones in order; /metrics counted 1 relayed, 2 stored
(first run) and 2 delivered (second run), none refused; each Rendezvous exits 0 on SIGTERM. Every
wait is bounded and watches a log or /metrics, not the clock.

Exit codes: 0 pass, 1 fail, 77 skipped (not root).
Usage: nat_message_test.py --rendezvous PATH --workdir DIR [--prefix rdvmsg]
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import nat_call_test as nat  # noqa: E402
from rdvtest import Procs, TestFailure, log_text, metric, stop_server, wait_until  # noqa: E402

LIVE_TEXT = "hello bob, live via rendezvous"
STORED_TEXTS = ("first while you were away", "second while you were away")


def im_count(text, outcome):
    return metric(text, "rdv_im_messages_total", {"outcome": outcome}) or 0


def make_alice(procs, phase_dir, alice_ns, tones):
    alice = nat.Client(procs, phase_dir, "msg", "alice", alice_ns, nat.ALICE_IP, tones["alice"],
                       (15000, 15099), nat.account_line("alice", nat.PUB_IP, nat.USERS["alice"]),
                       codec_modules=("g711.so", "contact.so"))
    with open(os.path.join(alice.dir, "contacts"), "w") as f:
        f.write('"Bob" <sip:bob@%s>\n' % nat.PUB_IP)
    return alice


def send_message(alice, text):
    """alice's /message to her current contact (bob, her only one); fails on the console's error."""
    out = alice.cons("/message %s" % text, 0.5)
    if "not set" in out:
        alice.cons("/contact_next", 0.5)
        out = alice.cons("/message %s" % text, 0.5)
    if "failed" in out or "not set" in out:
        raise TestFailure("alice's /message: %s" % out.strip())


def received_messages(log):
    """Bodies of the MESSAGEs a baresip got, in order, from its SIP trace (-s): baresip 1.0's menu
    shows a received text only on its UI (ui_output, i.e. the cons peer), the trace is in its log."""
    out = []
    for block in log.split("\x1b[36;1m#"):
        lines = block.strip("\r\n").split("\n")
        if len(lines) > 1 and lines[0].endswith(" -> %s:5060" % nat.BOB_IP) and lines[1].startswith("MESSAGE sip:"):
            body = block.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in block else ""
            out.append(body.split("\x1b[;m")[0].strip())
    return out


def bob_saw(bob, text):
    return text in received_messages(bob.log())


def messaging(topo, workdir, binary, tones):
    pub = topo.ns["pub"]
    phase_dir = os.path.join(workdir, "message")
    os.makedirs(phase_dir)
    store = os.path.join(workdir, "messages.sqlite")
    sets = ("sip.message_store=%s" % store,)
    procs = Procs(workdir)
    restart_dir = os.path.join(workdir, "restart")
    os.makedirs(restart_dir)
    procs2 = Procs(restart_dir)
    rdv = rlog = rdv2 = rlog2 = None
    alice = bob = bob2 = None
    stopped = stopped2 = None

    def metrics():
        return nat.ns_http(pub, "http://127.0.0.1:%d/metrics" % nat.METRICS_PORT)

    try:
        rdv, rlog = nat.start_rendezvous(procs, pub, binary, sets)
        alice = make_alice(procs, phase_dir, topo.ns["alice"], tones)
        bob = nat.Client(procs, phase_dir, "msg", "bob", topo.ns["bob"], nat.BOB_IP, tones["bob"],
                         (15100, 15199), nat.account_line("bob", nat.PUB_IP, nat.USERS["bob"]))
        alice.start()
        alice.wait_registered(r"\{0/UDP/v4\} 200 OK", 15)
        bob.start()
        bob.wait_registered(r"\{0/UDP/v4\} 200 OK", 15)

        # 1. live delivery over bob's NAT binding
        send_message(alice, LIVE_TEXT)
        wait_until("bob prints alice's live message", lambda: bob_saw(bob, LIVE_TEXT), 10, proc=bob.proc,
                   proc_name=bob.logname, log=bob.log_path())
        wait_until("rendezvous counts it relayed", lambda: im_count(metrics(), "relayed") == 1, 5, proc=rdv,
                   proc_name="rendezvous", log=rlog)

        # 2. bob goes offline; two messages are stored (202)
        bob.quit()
        wait_until("bob un-registered", lambda: "registered bob -> 0 binding(s)" in log_text(rlog), 10,
                   proc=rdv, proc_name="rendezvous", log=rlog)
        for i, text in enumerate(STORED_TEXTS):
            send_message(alice, text)
            wait_until("rendezvous stores message %d" % (i + 1), lambda: im_count(metrics(), "stored") == i + 1,
                       10, proc=rdv, proc_name="rendezvous", log=rlog)
        m1 = metrics()
        stopped = stop_server(rdv, "rendezvous", rlog)
        if stopped:
            raise TestFailure("first run: %s" % stopped)

        # 3. a new Rendezvous on the same store; bob registers and gets both, in order
        rdv2, rlog2 = nat.start_rendezvous(procs2, pub, binary, sets)
        bob2 = nat.Client(procs2, restart_dir, "msg2", "bob", topo.ns["bob"], nat.BOB_IP, tones["bob"],
                          (15100, 15199), nat.account_line("bob", nat.PUB_IP, nat.USERS["bob"]))
        bob2.start()
        bob2.wait_registered(r"\{0/UDP/v4\} 200 OK", 15)
        wait_until("bob gets both stored messages after the restart",
                   lambda: all(bob_saw(bob2, t) for t in STORED_TEXTS), 15, proc=bob2.proc,
                   proc_name=bob2.logname, log=bob2.log_path())
        got = received_messages(bob2.log())
        if [t for t in got if t in STORED_TEXTS] != list(STORED_TEXTS):
            raise TestFailure("bob got the stored messages out of order:\n%s" % nat.tail(bob2.log_path(), 20))
        wait_until("rendezvous counts both delivered", lambda: im_count(metrics(), "delivered") == 2, 5,
                   proc=rdv2, proc_name="rendezvous", log=rlog2)
        m2 = metrics()
    except TestFailure as e:
        raise TestFailure("%s\n--- rendezvous log tail\n%s\n--- restarted rendezvous log tail\n%s"
                          % (e, nat.tail(rlog, 30) if rlog else "", nat.tail(rlog2, 30) if rlog2 else ""))
    finally:
        for c in (alice, bob, bob2):
            if c is not None:
                c.quit()
        if rdv2 is not None:
            stopped2 = stop_server(rdv2, "restarted rendezvous", rlog2)
        if rdv is not None and stopped is None and rdv.poll() is None:
            stop_server(rdv, "rendezvous", rlog)
        procs2.stop_all()
        procs.stop_all()
    if im_count(m1, "refused") or im_count(m2, "refused"):
        raise TestFailure("rendezvous refused a MESSAGE (first run %s, second %s)"
                          % (im_count(m1, "refused"), im_count(m2, "refused")))
    if im_count(m2, "stored"):
        raise TestFailure("the restarted rendezvous stored %s message(s), expected none" % im_count(m2, "stored"))
    if stopped2:
        raise TestFailure(stopped2)
    return ("live MESSAGE alice -> bob (NAT B) delivered; 2 stored for offline bob, kept across a restart, "
            "delivered in order on his REGISTER")


def main():
    return nat.baresip_test_main("nat_message", "rdvmsg",
                                 lambda topo, args, tones: messaging(topo, args.workdir, args.rendezvous, tones))


if __name__ == "__main__":
    sys.exit(main())
