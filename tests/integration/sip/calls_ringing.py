"""Ringing and giving up on the callee: a 40 s ring answered, CANCEL held until the callee rings,
an answer crossing the CANCEL, the ring timeout (408 to the caller, CANCEL/487/ACK to the callee)."""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from calls_common import (SHORT, USERS, b2bua_legs, check, sipp_pair)  # noqa: E402
from rdvtest import (Relay, metric, wait_until)  # noqa: E402
from siptest import (find, via_branch)  # noqa: E402
import siptest  # noqa: E402


def case_long_ring_answer(ctx):
    callee, caller = sipp_pair(ctx, "long_ring", "callee_ring_long.xml", "caller_callee_bye.xml", timeout_s=60)
    am, cm = caller.messages(), callee.messages()
    check(find(am, "received", r"^SIP/2\.0 180", "INVITE") is not None, "the callee's 180 did not reach the caller")
    bad = [m.start for d, m in am if d == "received" and (m.status or 0) >= 300]
    check(not bad, "the caller got %s while the callee was ringing" % bad)
    check(find(am, "received", r"^SIP/2\.0 200", "INVITE") is not None, "the caller got no 200 after 40 s of ringing")
    check(find(cm, "received", r"^CANCEL ") is None, "the callee was CANCELled while ringing")
    inv_b, _ = b2bua_legs(ctx, callee, caller)
    ack = find(cm, "received", r"^ACK ", "ACK")
    check(ack is not None and ack.cseq()[0] == inv_b.cseq()[0],
          "the callee's 200 got no ACK with its INVITE's CSeq %s: %s" % (inv_b.get("cseq"), ack and ack.get("cseq")))
    return "rang 40 s, answered: caller got 200, callee got ACK (CSeq %d), BYE ended it" % ack.cseq()[0]


def drain(sock):
    """Everything that has already arrived on the harness socket (a read that does not wait)."""
    out = []
    while True:
        m = sock.recv(0.05)
        if m is None:
            return out
        out.append(m)


def case_cancel_before_ringing(ctx):
    bob = siptest.UdpSip(ctx.sip_port, ctx.bob_sip)
    try:
        caller = ctx.sipp.start("cancel_early_caller", "caller_cancel_early.xml", ctx.alice_sip, ctx.alice_media,
                                remote_port=ctx.sip_port, service="bob", timeout_s=SHORT)
        inv, _ = bob.recv_until(lambda m: m.method == "INVITE", SHORT)
        check(inv is not None, "the callee got no INVITE\n--- rendezvous:\n%s" % ctx.server_log())
        rc = caller.wait()
        check(rc == 0, "caller sipp exit code %d\n%s\n--- rendezvous:\n%s"
              % (rc, caller.diagnostics(), ctx.server_log()))
        am = caller.messages()
        check(find(am, "received", r"^SIP/2\.0 487", "INVITE") is not None, "the caller got no 487")
        check(find(am, "received", r"^SIP/2\.0 200", "CANCEL") is not None, "the caller's CANCEL got no 200")
        # The CANCEL has reached Rendezvous (its 487 came back) and the callee has sent nothing yet.
        early = [m for m in drain(bob) if isinstance(m, siptest.SipMessage)]
        check(all(m.method == "INVITE" for m in early),
              "before its first provisional the callee got %s (RFC 3261 9.1: no CANCEL yet)" % [m.start for m in early])
        tag = siptest.rand_hex()
        contact = "Contact: <sip:bob@127.0.0.1:%d>" % ctx.bob_sip
        bob.send(siptest.build_response(inv, 180, "Ringing", tag, [contact]))
        can, got = bob.recv_until(lambda m: m.method == "CANCEL", 5.0)
        check(can is not None, "no CANCEL after the callee's 180; got %s" % [getattr(m, "start", m) for m in got])
        check(can.get("call-id") == inv.get("call-id") and via_branch(can.get("via")) == via_branch(inv.get("via"))
              and can.cseq()[0] == inv.cseq()[0],
              "the CANCEL does not match the INVITE (Call-ID, branch, CSeq): %s vs %s"
              % (can.raw.decode(errors="replace"), inv.raw.decode(errors="replace")))
        bob.send(siptest.build_response(can, 200, "OK", tag))
        bob.send(siptest.build_response(inv, 487, "Request Terminated", tag, [contact]))
        ack, got = bob.recv_until(lambda m: m.method == "ACK", 5.0)
        check(ack is not None, "the callee's 487 got no ACK; got %s" % [getattr(m, "start", m) for m in got])
        check(via_branch(ack.get("via")) == via_branch(inv.get("via")) and ack.cseq() == (inv.cseq()[0], "ACK")
              and siptest.header_params(ack.get("to")).get("tag") == tag,
              "the ACK of the 487 does not match the INVITE: %s" % ack.raw.decode(errors="replace"))
        check(find(am, "received", r"^SIP/2\.0 180") is None, "the 180 after the CANCEL reached the caller")
        return "caller had 200+487 with the callee silent (%d INVITE(s) seen); CANCEL only after the 180; 487 ACKed" \
            % len(early + [inv])
    finally:
        bob.close()


def case_answer_crossing_cancel(ctx):
    callee, caller = sipp_pair(ctx, "crossing", "callee_answer_after_cancel.xml", "caller_cancel.xml",
                               callee_sets=False)
    inv_b, _ = b2bua_legs(ctx, callee, caller)
    cm, am = callee.messages(), caller.messages()
    ok = find(cm, "sent", r"^SIP/2\.0 200", "INVITE")
    tag = siptest.header_params(ok.get("to")).get("tag")
    ack = find(cm, "received", r"^ACK ", "ACK")
    bye = find(cm, "received", r"^BYE ", "BYE")
    check(ack is not None and ack.cseq()[0] == inv_b.cseq()[0]
          and siptest.header_params(ack.get("to")).get("tag") == tag,
          "the 200 that crossed the CANCEL got no ACK with CSeq %d and To tag %s: %s"
          % (inv_b.cseq()[0], tag, ack and ack.raw.decode(errors="replace")))
    check(bye.get("call-id") == inv_b.get("call-id") and siptest.header_params(bye.get("to")).get("tag") == tag,
          "the BYE is not in the answered dialog: %s" % bye.raw.decode(errors="replace"))
    check(find(am, "received", r"^SIP/2\.0 487", "INVITE") is not None, "the caller got no 487")
    check(find(am, "received", r"^SIP/2\.0 200", "INVITE") is None, "the caller was connected after its CANCEL")
    return "200 after the CANCEL: ACK (CSeq %d) + BYE to the callee, 487 to the caller" % ack.cseq()[0]


def case_ring_timeout(ctx):
    relay = Relay(ctx.binary, os.path.join(ctx.workdir, "rendezvous_ring3"), sip=dict(ctx.server_sip, ring_timeout=3))
    stopped = "not stopped"
    try:
        _, final, _ = siptest.register(relay.sip_port, "bob", USERS["bob"], local_port=ctx.bob_sip, expires=60)
        check(final is not None and final.status == 200, "REGISTER bob at the second server: %s"
              % (final.start if final else "nothing"))
        t0 = time.monotonic()
        callee, caller = sipp_pair(ctx, "ring_timeout", "callee_cancel.xml", "caller_expect_408.xml",
                                   callee_sets=False, server_port=relay.sip_port)
        took = time.monotonic() - t0
        check(took >= 3.0, "the caller's call ended after %.2f s, before sip.ring_timeout=3" % took)
        cm = callee.messages()
        inv = find(cm, "received", r"^INVITE ", "INVITE")
        can = find(cm, "received", r"^CANCEL ", "CANCEL")
        ack = find(cm, "received", r"^ACK ", "ACK")
        check(can is not None and via_branch(can.get("via")) == via_branch(inv.get("via"))
              and can.cseq()[0] == inv.cseq()[0] and can.get("call-id") == inv.get("call-id"),
              "the CANCEL does not match the callee's INVITE: %s" % (can and can.raw.decode(errors="replace")))
        check(ack is not None and via_branch(ack.get("via")) == via_branch(inv.get("via"))
              and ack.cseq()[0] == inv.cseq()[0], "the callee's 487 got no matching ACK: %s"
              % (ack and ack.raw.decode(errors="replace")))
        wait_until("no call left on the ring_timeout=3 server",
                   lambda: metric(relay.metrics(), "rdv_calls_active") == 0, 3.0)
    finally:
        stopped = relay.stop()
    check(stopped is None, "the ring_timeout=3 rendezvous: %s" % stopped)
    return "408 after %.1f s; callee got a matching CANCEL and an ACK for its 487" % took


def case_forking(ctx):
    """bob registered from a second device (the 'soft' phone, q=default): a call rings both; the
    desk phone answers, the soft phone, ringing, gets a CANCEL matching its INVITE, and its 487 an
    ACK. The soft binding is removed afterwards so later cases ring one device again."""
    soft_sip, soft_media = ctx.bob_sip + 4, ctx.bob_media + 30
    _, final, _ = siptest.register(ctx.sip_port, "bob", USERS["bob"], local_port=soft_sip, expires=120)
    check(final is not None and final.status == 200, "REGISTER bob's second device: %s"
          % (final.start if final else "nothing"))
    try:
        soft = ctx.sipp.start("fork_soft", "callee_cancel.xml", soft_sip, soft_media, service="bob",
                              timeout_s=SHORT)
        soft.wait_bound(soft_sip)
        desk, caller = sipp_pair(ctx, "fork", "callee_answer.xml", "caller_call.xml")
        soft.expect_ok("the soft phone (rang, got CANCEL, 487 ACKed)")
    finally:
        siptest.register(ctx.sip_port, "bob", USERS["bob"], local_port=soft_sip, expires=0)
    inv_desk, _ = b2bua_legs(ctx, desk, caller)
    sm = soft.messages()
    inv_soft = find(sm, "received", r"^INVITE ", "INVITE")
    can = find(sm, "received", r"^CANCEL ", "CANCEL")
    ack = find(sm, "received", r"^ACK ", "ACK")
    check(inv_soft is not None and inv_soft.get("call-id") != inv_desk.get("call-id"),
          "the soft phone got no INVITE of its own branch (its own Call-ID)")
    check(can is not None and via_branch(can.get("via")) == via_branch(inv_soft.get("via"))
          and can.cseq()[0] == inv_soft.cseq()[0],
          "the soft phone's CANCEL does not match its INVITE: %s" % (can and can.raw.decode(errors="replace")))
    check(ack is not None and ack.cseq()[0] == inv_soft.cseq()[0], "the soft phone's 487 got no ACK")
    am = caller.messages()
    check(find(am, "received", r"^SIP/2\.0 200", "INVITE") is not None, "the caller got no 200 from the desk phone")
    bad = [m.start for d, m in am if d == "received" and (m.status or 0) >= 300]
    check(not bad, "the caller got %s although the desk phone answered" % bad)
    check(find(desk.messages(), "received", r"^BYE ") is not None, "the caller's BYE did not reach the desk phone")
    return "both devices rang; desk answered, soft got CANCEL (its INVITE's branch) and an ACK for its 487"
