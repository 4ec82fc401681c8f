#!/usr/bin/env python3
"""Integration test: Rendezvous as SIP registrar and back-to-back user agent, driven by sipp.

One Rendezvous (sip.users alice/bob/dave, REGISTER challenged, INVITE not) serves every sub-case;
each prints PASS / FAIL with its reason, the last line is the verdict (exit 1 on any FAIL, or
when rendezvous died during the test or did not exit 0 on SIGTERM; no case is ever skipped).
sipp scenarios are in scenarios/; the message logs (-trace_msg) are read back to check what each
side received.

  options           OPTIONS to the server over UDP and TCP -> 200
  register_challenge REGISTER without credentials -> 401 with SHA-256 and MD5 digest challenges
  register_sha256 / register_md5   the harness answers each challenge itself -> 200 with
                    Contact and expires; register_bad_password -> 401/403
  register_sipp_udp / register_sipp_tcp   scenarios/register.xml (sipp's [authentication], MD5);
                    the TCP one also removes its binding with unregister.xml
  not_registered_480 / unknown_user_404   caller_expect_480.xml (bob before he registers),
                    caller_expect_404.xml (carol, not in sip.users)
  register_bob      bob's binding from the port the callee scenarios then listen on
  call_rtp_bye      callee_answer.xml + caller_call.xml: B2BUA leg B is a new dialog (Call-ID,
                    From tag, Via, Contact), both SDPs point at the relay, 100 and 180 reach the
                    caller; the caller plays a PCMA pcap to its 200's SDP address; the callee's
                    media endpoint gets >= sent-10 packets all from the relay port in its offer;
                    >= echoed-10 echoes reach sipp's media port, all from the relay port in the
                    caller's 200 (AF_PACKET loopback capture: needs root or CAP_NET_RAW, as in CI;
                    without it the case FAILS); rdv_relay_packets_total grows by at least what
                    was seen delivered both ways and at most what was sent both ways
  callee_bye        callee_bye.xml + caller_callee_bye.xml (BYE from the callee side)
  hold_resume       callee_reinvite.xml + caller_hold.xml (183 with SDP, a=sendonly re-INVITE
                    answered recvonly, resume); the relay ports stay the same across re-INVITEs
  reliable_183      callee_100rel.xml + caller_100rel.xml (RFC 3262): the callee's INVITE offers
                    100rel; its 183 (Require: 100rel, RSeq, SDP) is PRACKed on leg B (RAck = its RSeq
                    and the INVITE's CSeq); the caller gets a reliable 183 of its own (Require,
                    RSeq, SDP on the relay) and a 200 to its PRACK from the B2BUA
  session_expires   callee_timer.xml + caller_timer.xml (RFC 4028): Session-Expires: 90 and Min-SE
                    cross to the callee, the callee's Session-Expires/Require: timer reach the
                    caller; nobody refreshes, so both get a BYE from the B2BUA (90 - min(32, 30) =
                    60 s after the answer; 90 s is the smallest interval RFC 4028 allows) and
                    rdv_calls_session_expired_total grows by 1
  cancel            callee_cancel.xml + caller_cancel.xml (CANCEL after 180: callee gets a
                    matching CANCEL, caller gets 487)
  long_ring_answer  callee_ring_long.xml + caller_callee_bye.xml: the callee rings 40 s (longer
                    than 64*T1, timer B before a provisional) and then answers; the caller gets the
                    200, the callee the ACK, and the callee's BYE ends the call (real time, ~41 s)
  forking           bob registers a second device (harness digest client, another port): a call
                    rings both; the desk (callee_answer.xml) answers, the second (callee_cancel.xml)
                    rings and gets a CANCEL matching its own INVITE (its own Call-ID), and an ACK
                    for its 487; the caller gets only the 200; the binding is removed after
  cancel_before_ringing  caller_cancel_early.xml + the harness as callee (a UDP socket on bob's
                    port): the caller CANCELs after Rendezvous's 100 and has its 200 and 487 while
                    the callee has sent nothing and got only the INVITE; then the callee sends 180,
                    and only then gets the CANCEL (matching its INVITE); its 487 is ACKed
  answer_crossing_cancel  callee_answer_after_cancel.xml + caller_cancel.xml: the callee answers
                    200 after the CANCEL arrived; it gets the ACK (its INVITE's CSeq, its To tag)
                    and a BYE in that dialog; the caller has its 487 and no 200
  ring_timeout_408  a second Rendezvous with sip.ring_timeout=3, bob registered there:
                    callee_cancel.xml + caller_expect_408.xml; the caller's 408 comes no sooner than
                    3 s after its INVITE, the callee gets a CANCEL matching its INVITE and an ACK
                    for its 487; that server ends with no call left and exits 0
  busy_486          callee_busy.xml + caller_expect_486.xml
  display_name_quoted  a harness caller (UDP) INVITEs bob with From "Boss, Big \"B\"" <...>; the
                    harness, as bob on his registered port, gets it as exactly
                    "Boss, Big \"B\"" <sip:alice@127.0.0.1>;tag=..., and To "Bob, Desk" <...>
                    quoted too; bob's BYE reaches the caller with From "Bob, Desk" <...> and To
                    "Boss, Big \"B\"" <...> (its own values, quoted)
  info_message      in an answered call, the caller's INFO (application/dtmf-relay) reaches bob
                    with the same body and Content-Type in bob's dialog, its 200 comes back; bob's
                    MESSAGE (text/plain, UTF-8) reaches the caller in the caller's dialog, byte for
                    byte; the caller's BYE ends it
  reinvite_new_address  a harness caller's call to bob (the harness on bob's port) with RTP from
                    one port, then a re-INVITE moving the caller's media to another port: RTP from
                    the new port (new SSRC) reaches bob at once, bob's RTP reaches the new port,
                    and the old port's packets are dropped
  tcp_reconnect     dave registers over TCP (Contact: a port where the harness listens) and closes
                    that connection; a call to dave makes the server open a new connection to his
                    Contact (accepted by the harness: rdv_sip_outbound_connections_total +1), and
                    INVITE, ACK and BYE reach him on it; with dave's listener closed too, a call
                    gets 480 and rdv_sip_outbound_connection_failures_total +1
  open_404_480      (a second server, sip.auth_register = 0 and no user list) carol registers,
                    is called, unregisters: a call to her is 480, to dave (never registered) 404
  cdr               cdr.file (set for this server): the RTP call's record has both legs with the
                    packets sent and a MOS of 4.0..4.5, the busy, cancelled and callee-BYE calls
                    are there with their end reason and status, rdv_cdr_written_total matches the
                    lines; the file is moved away and SIGUSR1 sent: the next call's record starts a
                    new file and the moved one stays as it was
  unregister        unregister.xml (Expires: 0), then a call to alice -> 480
  alive             the server still answers OPTIONS (UDP, TCP); rdv_calls_active,
                    rdv_sessions_active and rdv_ports_used are back to 0

--direct validates the scenarios without a server: callers talk to the callees directly,
register.xml/unregister.xml to selftest/fake_registrar.xml, the 404/480 callers to
selftest/fake_reject.xml. Relay-specific checks are skipped there.

Usage: sip_calls_test.py --rendezvous PATH --workdir DIR  |  sip_calls_test.py --direct --workdir DIR
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from rdvtest import (Procs, Relay, RtpEcho, TestFailure, free_block, metric, pcap_info,  # noqa: E402
                     relay_packets, tail, wait_until)
import siptest  # noqa: E402
from siptest import (LoopbackCounter, Sipp, check_relay_sdp, find, options_ok, sdp_direction, sdp_text,  # noqa: E402
                     via_branch)
from calls_common import (Ctx, PACKET_TOLERANCE, SHORT, USERS, b2bua_legs, check,
                          check_register_ok, contacts_of, register_user, sipp_pair,
                          sipp_registrar_client, wait_until_soft)  # noqa: E402
from calls_dialogs import (case_display_name_quoted, case_info_message, case_open_404_480,  # noqa: E402
                           case_reinvite_new_address, case_tcp_reconnect)
from calls_records import case_cdr  # noqa: E402
from calls_ringing import (case_answer_crossing_cancel, case_cancel_before_ringing,  # noqa: E402
                           case_forking, case_long_ring_answer, case_ring_timeout)


TEST_NAME = "integration.sip_calls"


# ---------------------------------------------------------------- cases (server)

def case_options(ctx):
    check(options_ok(ctx.sip_port, "UDP", 1.0), "OPTIONS over UDP: no 200")
    check(options_ok(ctx.sip_port, "TCP", 1.0), "OPTIONS over TCP: no 200")
    return "200 over UDP and TCP"


def case_register_challenge(ctx):
    c = siptest.UdpSip(ctx.sip_port, ctx.alice_sip)
    try:
        req = siptest.build_request("REGISTER", "sip:127.0.0.1:%d" % ctx.sip_port, c.port,
                                    from_uri="sip:alice@127.0.0.1:%d" % ctx.sip_port,
                                    to_uri="sip:alice@127.0.0.1:%d" % ctx.sip_port,
                                    extra=["Contact: <sip:alice@127.0.0.1:%d>" % c.port, "Expires: 300"])
        r = c.transaction(req)
    finally:
        c.close()
    check(r is not None, "no final response to an unauthenticated REGISTER")
    check(r.status == 401, "unauthenticated REGISTER got %s, expected 401" % r.start)
    chs = [siptest.parse_challenge(v) for v in r.all("www-authenticate")]
    algs = [ch["algorithm"].upper() for ch in chs if ch["scheme"].lower() == "digest"]
    check("SHA-256" in algs and "MD5" in algs,
          "401 challenges %s, expected both SHA-256 and MD5 digest: %s" % (algs, r.all("www-authenticate")))
    for ch in chs:
        check(ch.get("realm") and ch.get("nonce"), "challenge without realm/nonce: %s" % ch)
    ctx.sipp_auth_ok = algs[0] == "MD5"
    return "401 with digest %s (top: %s)" % (", ".join(algs), algs[0])


def case_register_alg(alg):
    def run(ctx):
        _, final, _ = siptest.register(ctx.sip_port, "alice", USERS["alice"], local_port=ctx.alice_sip,
                                       expires=300, algorithm=alg)
        return "%s -> %s" % (alg, check_register_ok("REGISTER alice (%s)" % alg, final, ctx.alice_sip, 300))
    return run


def case_register_bad_password(ctx):
    _, final, _ = siptest.register(ctx.sip_port, "alice", "not-" + USERS["alice"], local_port=ctx.alice_sip)
    check(final is not None and final.status in (401, 403),
          "REGISTER with a wrong password got %s, expected 401 or 403" % (final.start if final else "nothing"))
    return "wrong password -> %d" % final.status


def case_register_sipp(transport):
    def run(ctx):
        port = ctx.alice_sip if transport == "u1" else ctx.alice_tcp
        runs = [sipp_registrar_client(ctx, "register_sipp_" + transport, "register.xml", port, "alice",
                                      USERS["alice"], transport=transport, sets=[("expires", 300)])]
        # The server runs with sip.auth_algorithms=MD5,SHA-256: sipp 3.6.1 answers only the first challenge
        # and knows only MD5.
        rc = runs[0].wait()
        check(rc == 0, "register.xml (%s) exit code %d\n%s\n--- rendezvous:\n%s"
              % (transport, rc, runs[0].diagnostics(), ctx.server_log()))
        note = check_register_ok("register.xml", find(runs[0].messages(), "received", r"^SIP/2\.0 200",
                                                      "REGISTER"), port, 300)
        if transport == "t1":
            # Remove the TCP binding again: later cases expect alice reachable over UDP only.
            un = sipp_registrar_client(ctx, "unregister_sipp_t1", "unregister.xml", port, "alice",
                                       USERS["alice"], transport=transport)
            un.expect_ok("unregister.xml over TCP")
            ok = find(un.messages(), "received", r"^SIP/2\.0 200", "REGISTER")
            left = [c for c in contacts_of(ok) if "127.0.0.1:%d" % port in c[0] and c[1] != 0] if not ctx.direct else []
            check(not left, "after Expires: 0 the 200 still lists %s" % left)
            note += "; unregistered again"
        return note
    return run


def case_reject(code, callee_user):
    def run(ctx):
        if ctx.direct:
            fake = ctx.sipp.start("fake_reject_%d" % code, "fake_reject.xml", ctx.bob_sip, ctx.bob_media,
                                  timeout_s=SHORT)
            fake.wait_bound(ctx.bob_sip)
        caller = ctx.sipp.start("expect_%d" % code, "caller_expect_%d.xml" % code, ctx.alice_sip, ctx.alice_media,
                                remote_port=ctx.bob_sip if ctx.direct else ctx.sip_port,
                                service=callee_user, timeout_s=SHORT)
        rc = caller.wait()
        if rc != 0:
            got = [m.start for d, m in caller.messages() if d == "received"]
            raise TestFailure("INVITE %s: expected %d, caller received %s (sipp exit %d)\n%s\n--- rendezvous:\n%s"
                              % (callee_user, code, got or "nothing", rc, caller.diagnostics(), ctx.server_log()))
        if ctx.direct:
            fake.expect_ok("fake_reject")
            check(find(fake.messages(), "received", r"^ACK ") is not None, "fake_reject got no ACK")
        return "INVITE %s -> %d, ACKed" % (callee_user, code)
    return run


def case_register_bob(ctx):
    return register_user(ctx, "bob", ctx.bob_sip, expires=600)


def case_call_rtp_bye(ctx):
    n_pcap, pcap_s = ctx.pcap
    call_ms = int((pcap_s + 0.5) * 1000)
    ctx.echo.reset()
    sniff = LoopbackCounter(ctx.alice_media)
    # Without the capture the echo return path cannot be checked: a failure, never a note.
    check(sniff.available, "cannot capture on loopback to observe the echoes reaching the caller's media port "
          "(%s); run as root or with CAP_NET_RAW, as CI does" % sniff.error)
    sniff.start()
    before = None
    if not ctx.direct:
        before = relay_packets(ctx.relay.metrics())
        check(before is not None, "/metrics has no rdv_relay_packets_total")
    try:
        callee, caller = sipp_pair(ctx, "call_rtp", "callee_answer.xml", "caller_call.xml", d_ms=call_ms,
                                   timeout_s=int(pcap_s) + 12)
        notes = []
        inv_b, inv_a = b2bua_legs(ctx, callee, caller)
        cmsgs = caller.messages()
        ok = find(cmsgs, "received", r"^SIP/2\.0 200", "INVITE")
        check(ok is not None, "the caller's log has no 200 to its INVITE")
        if ctx.direct:
            offer_port, answer_port = ctx.alice_media, ctx.echo_port
        else:
            check(find(cmsgs, "received", r"^SIP/2\.0 100", "INVITE") is not None,
                  "the caller got no 100 Trying")
            check(find(cmsgs, "received", r"^SIP/2\.0 180", "INVITE") is not None,
                  "the callee's 180 did not reach the caller")
            offer_port = check_relay_sdp("INVITE at the callee", inv_b, ctx.port_min, ctx.port_max,
                                         (ctx.alice_media, ctx.echo_port))
            answer_port = check_relay_sdp("200 OK at the caller", ok, ctx.port_min, ctx.port_max,
                                          (ctx.alice_media, ctx.echo_port))
            check(offer_port != answer_port, "both legs got the same relay port %d" % offer_port)
            notes.append("leg B Call-ID %s != %s; SDP: callee sees relay :%d, caller sees relay :%d"
                         % (inv_b.get("call-id"), inv_a.get("call-id"), offer_port, answer_port))
        # RTP: the callee endpoint must have everything the caller played, from one relay port.
        need = n_pcap - PACKET_TOLERANCE
        wait_until_soft(lambda: sum(ctx.echo.snapshot()[0].values()) >= need, 1.0)
        by_src, echoed = ctx.echo.snapshot()
        got = sum(by_src.values())
        check(got >= need, "callee media got %d RTP packets of the %d the caller played (need >= %d); "
              "sources %s\n--- rendezvous:\n%s" % (got, n_pcap, need, by_src or "none", ctx.server_log()))
        check(list(by_src) == [("127.0.0.1", offer_port)],
              "callee media got RTP from %s, expected only the relay port 127.0.0.1:%d named in its offer"
              % (by_src, offer_port))
        notes.append("caller played %d RTP, callee got %d from :%d and echoed %d" % (n_pcap, got, offer_port, echoed))
        # The echoes: back at sipp's media port, from the relay port named in the caller's 200 only.
        wait_until_soft(lambda: sniff.snapshot().get(answer_port, 0) >= echoed - PACKET_TOLERANCE, 1.0)
        back = sniff.snapshot()
        check(back.get(answer_port, 0) >= echoed - PACKET_TOLERANCE,
              "echoed RTP reaching the caller's media port %d: %s by source port, expected >= %d from "
              "relay :%d" % (ctx.alice_media, back or "none", echoed - PACKET_TOLERANCE, answer_port))
        check(list(back) == [answer_port],
              "the caller's media port %d got datagrams from source ports %s, expected only the relay port %d "
              "named in its 200" % (ctx.alice_media, back, answer_port))
        notes.append("%d echoes reached the caller's media port from :%d" % (back[answer_port], answer_port))
        if not ctx.direct:
            # Every packet seen delivered from the relay was forwarded by it; it cannot have forwarded
            # more than was sent to it (nothing else talks to this call's ports).
            low, high = got + back[answer_port], n_pcap + echoed
            wait_until_soft(lambda: (relay_packets(ctx.relay.metrics()) or 0) - before >= low, 1.0)
            after = relay_packets(ctx.relay.metrics())
            check(after is not None, "/metrics has no rdv_relay_packets_total")
            delta = after - before
            check(low <= delta <= high, "rdv_relay_packets_total grew by %g during the call, expected %d..%d "
                  "(delivered: %d to the callee + %d echoes to the caller; sent: %d played + %d echoed)"
                  % (delta, low, high, got, back[answer_port], n_pcap, echoed))
            notes.append("rdv_relay_packets_total +%g" % delta)
        return "; ".join(notes)
    finally:
        sniff.stop()


def case_callee_bye(ctx):
    callee, caller = sipp_pair(ctx, "callee_bye", "callee_bye.xml", "caller_callee_bye.xml")
    inv_b, _ = b2bua_legs(ctx, callee, caller)
    bye = find(caller.messages(), "received", r"^BYE ", "BYE")
    check(bye is not None, "the caller got no BYE")
    ok = find(caller.messages(), "received", r"^SIP/2\.0 200", "INVITE")
    check(bye.get("call-id") == ok.get("call-id"), "the BYE to the caller is not in the caller's dialog")
    return "BYE from the callee reached the caller in its dialog (Call-ID %s)" % bye.get("call-id")


def case_late_offer(ctx):
    callee, caller = sipp_pair(ctx, "late_offer", "callee_bye.xml", "caller_late_offer.xml")
    inv_b, _ = b2bua_legs(ctx, callee, caller)
    check(not sdp_text(inv_b).strip(), "the callee's INVITE should carry no SDP (late offer)")
    ok = find(caller.messages(), "received", r"^SIP/2\.0 200", "INVITE")
    offer_port = check_relay_sdp("the 200 OK the caller got (the offer)", ok, ctx.port_min, ctx.port_max,
                                 (ctx.alice_media, ctx.bob_media, ctx.echo_port))
    ack = find(callee.messages(), "received", r"^ACK ", "ACK")
    answer_port = check_relay_sdp("the ACK the callee got (the answer)", ack, ctx.port_min, ctx.port_max,
                                  (ctx.alice_media, ctx.bob_media, ctx.echo_port))
    check(offer_port != answer_port, "offer and answer name the same relay port")
    return "INVITE without SDP; 200 offer -> relay :%d, ACK answer -> relay :%d" % (offer_port, answer_port)


def case_hold_resume(ctx):
    callee, caller = sipp_pair(ctx, "hold", "callee_reinvite.xml", "caller_hold.xml")
    inv_b, _ = b2bua_legs(ctx, callee, caller)
    cm, am = callee.messages(), caller.messages()
    reinv = [m for d, m in cm if d == "received" and m.start.startswith("INVITE ")][1:]
    oks = [m for d, m in am if d == "received" and m.status == 200 and m.cseq()[1] == "INVITE"]
    check(len(reinv) == 2, "the callee got %d re-INVITEs, expected 2 (hold, resume)" % len(reinv))
    check(len(oks) == 3, "the caller got %d 200s to INVITEs, expected 3" % len(oks))
    for r in reinv:
        check(r.get("call-id") == inv_b.get("call-id"), "a re-INVITE to the callee left the dialog (Call-ID %s)"
              % r.get("call-id"))
    check(sdp_direction(reinv[0]) == "sendonly", "hold re-INVITE at the callee has a=%s, expected sendonly:\n%s"
          % (sdp_direction(reinv[0]), siptest.sdp_text(reinv[0])))
    check(sdp_direction(reinv[1]) == "sendrecv", "resume re-INVITE at the callee has a=%s, expected sendrecv"
          % sdp_direction(reinv[1]))
    check(sdp_direction(oks[1]) == "recvonly", "the caller's 200 to hold has a=%s, expected recvonly:\n%s"
          % (sdp_direction(oks[1]), siptest.sdp_text(oks[1])))
    check(sdp_direction(oks[2]) == "sendrecv", "the caller's 200 to resume has a=%s" % sdp_direction(oks[2]))
    if ctx.direct:
        return "hold/resume flow"
    early = find(am, "received", r"^SIP/2\.0 183", "INVITE")
    check(early is not None, "the callee's 183 did not reach the caller")
    e_port = check_relay_sdp("183 at the caller", early, ctx.port_min, ctx.port_max, (ctx.alice_media, ctx.echo_port))
    ports_b = [check_relay_sdp("INVITE #%d at the callee" % i, m, ctx.port_min, ctx.port_max,
                               (ctx.alice_media, ctx.echo_port)) for i, m in enumerate([inv_b] + reinv)]
    ports_a = [check_relay_sdp("200 #%d at the caller" % i, m, ctx.port_min, ctx.port_max,
                               (ctx.alice_media, ctx.echo_port)) for i, m in enumerate(oks)]
    # One relay session per call: the re-INVITEs re-offer the same anchored media, so each side
    # keeps seeing the same relay port (a move would be legal SDP, but is not what Rendezvous does).
    check(len(set(ports_b)) == 1 and len(set(ports_a + [e_port])) == 1,
          "relay ports changed across re-INVITEs: 183 -> :%d; callee offered :%s; caller answered :%s"
          % (e_port, ports_b, ports_a))
    return "183 SDP -> relay :%d; callee offers :%s; caller answers :%s" % (e_port, ports_b, ports_a)


def case_reliable_183(ctx):
    callee, caller = sipp_pair(ctx, "rel100", "callee_100rel.xml", "caller_100rel.xml")
    inv_b, _ = b2bua_legs(ctx, callee, caller)
    cm, am = callee.messages(), caller.messages()
    check("100rel" in (inv_b.get("supported") or ""),
          "the callee's INVITE does not offer 100rel (Supported: %r)" % inv_b.get("supported"))
    prack = find(cm, "received", r"^PRACK ", "PRACK")
    check(prack is not None, "the callee got no PRACK for its reliable 183")
    check(prack.get("call-id") == inv_b.get("call-id"), "the PRACK to the callee left leg B's dialog")
    rack = (prack.get("rack") or "").split()
    check(rack == ["1", str(inv_b.cseq()[0]), "INVITE"],
          "the PRACK's RAck is %r, expected '1 %s INVITE'" % (prack.get("rack"), inv_b.cseq()[0]))
    early = find(am, "received", r"^SIP/2\.0 183", "INVITE")
    check(early is not None, "the reliable 183 did not reach the caller")
    check("100rel" in (early.get("require") or "") and (early.get("rseq") or "").strip().isdigit(),
          "the caller's 183 is not reliable (Require: %r, RSeq: %r)" % (early.get("require"), early.get("rseq")))
    check(find(am, "received", r"^SIP/2\.0 200", "PRACK") is not None, "the caller's PRACK got no 200")
    if ctx.direct:
        return "reliable 183 flow"
    port = check_relay_sdp("183 at the caller", early, ctx.port_min, ctx.port_max, (ctx.alice_media, ctx.echo_port))
    return "callee PRACKed (RAck %s); caller got a reliable 183 (RSeq %s) with SDP -> relay :%d, PRACK 200" % (
        prack.get("rack"), early.get("rseq").strip(), port)


def case_session_expires(ctx):
    before = metric(ctx.relay.metrics(), "rdv_calls_session_expired_total") or 0
    t0 = time.monotonic()
    callee, caller = sipp_pair(ctx, "session_timer", "callee_timer.xml", "caller_timer.xml", timeout_s=90)
    elapsed = time.monotonic() - t0
    inv_b, _ = b2bua_legs(ctx, callee, caller)
    cm, am = callee.messages(), caller.messages()
    check((inv_b.get("session-expires") or "").startswith("90"),
          "the callee's INVITE has Session-Expires %r" % inv_b.get("session-expires"))
    check((inv_b.get("min-se") or "").strip() == "90", "the callee's INVITE has Min-SE %r" % inv_b.get("min-se"))
    ok = find(am, "received", r"^SIP/2\.0 200", "INVITE")
    check((ok.get("session-expires") or "").replace(" ", "") == "90;refresher=uac",
          "the caller's 200 has Session-Expires %r" % ok.get("session-expires"))
    check("timer" in (ok.get("require") or ""), "the caller's 200 has Require %r" % ok.get("require"))
    check(find(am, "received", r"^BYE ", "BYE") is not None, "the caller got no BYE")
    check(find(cm, "received", r"^BYE ", "BYE") is not None, "the callee got no BYE")
    # Not a speed check: a BYE well before 60 s would mean the interval was not honoured.
    check(elapsed >= 59.0, "the BYEs came after %.1f s, before the 60 s the interval allows" % elapsed)
    after = metric(ctx.relay.metrics(), "rdv_calls_session_expired_total")
    check(after == before + 1, "rdv_calls_session_expired_total went %s -> %s, expected +1" % (before, after))
    return "no refresh: BYE to both legs after %.1f s; rdv_calls_session_expired_total %s -> %s" % (
        elapsed, before, after)


def case_cancel(ctx):
    callee, caller = sipp_pair(ctx, "cancel", "callee_cancel.xml", "caller_cancel.xml", callee_sets=False)
    cm = callee.messages()
    inv = find(cm, "received", r"^INVITE ", "INVITE")
    can = find(cm, "received", r"^CANCEL ", "CANCEL")
    check(can is not None, "the callee got no CANCEL")
    check(can.get("call-id") == inv.get("call-id"), "CANCEL Call-ID %s != INVITE's %s"
          % (can.get("call-id"), inv.get("call-id")))
    check(via_branch(can.get("via")) == via_branch(inv.get("via")),
          "CANCEL top Via branch %s != INVITE's %s (RFC 3261 9.1)" % (via_branch(can.get("via")),
                                                                      via_branch(inv.get("via"))))
    check(can.cseq()[0] == inv.cseq()[0], "CANCEL CSeq %s != INVITE's number %s" % (can.get("cseq"), inv.get("cseq")))
    check(find(caller.messages(), "received", r"^SIP/2\.0 487", "INVITE") is not None, "the caller got no 487")
    check(find(caller.messages(), "received", r"^SIP/2\.0 200", "CANCEL") is not None,
          "the caller's CANCEL got no 200")
    if not ctx.direct:
        b2bua_legs(ctx, callee, caller)
    return "CANCEL matched the callee's INVITE; caller got 200 (CANCEL) and 487"


def case_busy(ctx):
    callee, caller = sipp_pair(ctx, "busy", "callee_busy.xml", "caller_expect_486.xml", callee_sets=False)
    check(find(callee.messages(), "received", r"^ACK ", "ACK") is not None, "the callee's 486 was not ACKed")
    return "callee 486 -> caller 486"


def case_unregister(ctx):
    if ctx.sipp_auth_ok:
        un = sipp_registrar_client(ctx, "unregister_alice", "unregister.xml", ctx.alice_sip, "alice",
                                   USERS["alice"])
        un.expect_ok("unregister.xml")
        if ctx.direct:
            # The stand-in registrar served that one run only; the harness registered nothing there.
            return "sipp unregister.xml flow"
        # sipp's Contact carries ;transport=UDP, a different contact (RFC 3261 §19.1.4) from the
        # one the harness client registered earlier: remove that one too.
        _, final, _ = siptest.register(ctx.sip_port, "alice", USERS["alice"], local_port=ctx.alice_sip, expires=0)
        check(final is not None and final.status == 200, "REGISTER Expires: 0 got %s"
              % (final.start if final else "nothing"))
        how = "sipp unregister.xml + harness digest client"
    else:
        _, final, _ = siptest.register(ctx.sip_port, "alice", USERS["alice"], local_port=ctx.alice_sip, expires=0)
        how = "harness digest client"
        check(final is not None and final.status == 200, "REGISTER Expires: 0 got %s"
              % (final.start if final else "nothing"))
    if ctx.direct:
        return how + " flow"
    left = [c for c in contacts_of(final) if "127.0.0.1:%d" % ctx.alice_sip in c[0] and c[1] != 0]
    check(not left, "after Expires: 0 the 200 still lists %s" % left)
    note = case_reject(480, "alice")(ctx)
    return "%s -> 200 without the binding; then %s" % (how, note)


def case_alive(ctx):
    check(ctx.relay.alive(), "rendezvous exited (code %s)" % ctx.relay.proc.returncode)
    check(options_ok(ctx.sip_port, "UDP", 1.0) and options_ok(ctx.sip_port, "TCP", 1.0),
          "OPTIONS no longer answered 200")
    # Every call above ended (BYE either way, CANCEL, 486, 404/480): nothing may stay allocated.
    gauges = ("rdv_calls_active", "rdv_sessions_active", "rdv_ports_used")

    def idle():
        text = ctx.relay.metrics()
        vals = {g: metric(text, g) for g in gauges}
        ctx.last_gauges = vals
        return all(v == 0 for v in vals.values())
    try:
        wait_until("calls, sessions and ports back to 0", idle, 3.0)
    except TestFailure:
        raise TestFailure("after all calls ended /metrics still shows %s (absent = None)" % ctx.last_gauges)
    # The calls above got and sent responses of several classes (200, 180, 486, 487, 401...).
    text = ctx.relay.metrics()
    classes = {}
    for way in ("sent", "received"):
        for cls in ("1xx", "2xx", "4xx"):
            classes[(way, cls)] = metric(text, "rdv_sip_responses_%s_total" % way, {"class": cls}) or 0
    check(all(v > 0 for v in classes.values()), "SIP responses by class not all counted: %s" % classes)
    return "OPTIONS 200; %s; responses sent 2xx=%d 4xx=%d" % (
        ", ".join("%s=0" % g for g in gauges), classes[("sent", "2xx")], classes[("sent", "4xx")])


# ---------------------------------------------------------------- main

def server_cases():
    return [
        ("options", case_options),
        ("register_challenge", case_register_challenge),
        ("register_sha256", case_register_alg("SHA-256")),
        ("register_md5", case_register_alg("MD5")),
        ("register_bad_password", case_register_bad_password),
        ("register_sipp_udp", case_register_sipp("u1")),
        ("register_sipp_tcp", case_register_sipp("t1")),
        ("not_registered_480", case_reject(480, "bob")),
        ("unknown_user_404", case_reject(404, "carol")),
        ("register_bob", case_register_bob),
        ("call_rtp_bye", case_call_rtp_bye),
        ("callee_bye", case_callee_bye),
        ("late_offer", case_late_offer),
        ("hold_resume", case_hold_resume),
        ("reliable_183", case_reliable_183),
        ("session_expires", case_session_expires),
        ("cancel", case_cancel),
        ("cancel_before_ringing", case_cancel_before_ringing),
        ("answer_crossing_cancel", case_answer_crossing_cancel),
        ("long_ring_answer", case_long_ring_answer),
        ("forking", case_forking),
        ("ring_timeout_408", case_ring_timeout),
        ("busy_486", case_busy),
        ("display_name_quoted", case_display_name_quoted),
        ("info_message", case_info_message),
        ("reinvite_new_address", case_reinvite_new_address),
        ("tcp_reconnect", case_tcp_reconnect),
        ("open_404_480", case_open_404_480),
        ("cdr", case_cdr),
        ("unregister", case_unregister),
        ("alive", case_alive),
    ]


def direct_cases():
    def bad_password(ctx):
        run = sipp_registrar_client(ctx, "register_badpw", "register.xml", ctx.alice_sip, "alice", "wrong",
                                    sets=[("expires", 60)])
        check(run.wait() != 0, "register.xml succeeded with a wrong password against the fake registrar")
        return "register.xml fails on 403"
    return [
        ("register_sipp_udp", case_register_sipp("u1")),
        ("register_bad_password", bad_password),
        ("register_sipp_tcp", case_register_sipp("t1")),
        ("not_registered_480", case_reject(480, "bob")),
        ("unknown_user_404", case_reject(404, "carol")),
        ("call_rtp_bye", case_call_rtp_bye),
        ("callee_bye", case_callee_bye),
        ("hold_resume", case_hold_resume),
        ("reliable_183", case_reliable_183),
        ("cancel", case_cancel),
        ("busy_486", case_busy),
        ("unregister", case_unregister),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendezvous", help="rendezvous binary")
    ap.add_argument("--direct", action="store_true", help="validate the scenarios without a server")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--sipp", default=shutil.which("sipp") or "/usr/bin/sipp")
    ap.add_argument("--pcap", default="/usr/share/sip-tester/g711a.pcap")
    ap.add_argument("--only", default="", help="comma-separated case names (default: all); cases run in the listed order and "
                         "later ones rely on earlier state (e.g. register_bob before the calls)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory on success")
    args = ap.parse_args()
    if not args.direct and not args.rendezvous:
        ap.error("--rendezvous PATH or --direct")
    for what, path in (("sipp", args.sipp), ("pcap", args.pcap)):
        if not os.path.exists(path):
            print("FAIL %s: %s not found at %s" % (TEST_NAME, what, path))
            return 1

    os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="run-", dir=os.path.abspath(args.workdir))
    print("workdir: %s" % workdir, flush=True)
    scen = os.path.join(workdir, "scenarios")
    shutil.copytree(os.path.join(HERE, "scenarios"), scen)
    for f in os.listdir(os.path.join(HERE, "selftest")):
        shutil.copy(os.path.join(HERE, "selftest", f), scen)
    shutil.copyfile(args.pcap, os.path.join(scen, "audio.pcap"))

    t0 = time.monotonic()
    ctx = Ctx()
    ctx.direct = args.direct
    ctx.rendezvous = args.rendezvous
    ctx.workdir = workdir
    ctx.procs = Procs(workdir)
    ctx.relay = None
    ctx.echo = None
    results = []
    try:
        try:
            ctx.binary, ctx.workdir = args.rendezvous, workdir
            ctx.server_sip = {"users.alice": USERS["alice"], "users.bob": USERS["bob"],
                              "users.dave": USERS["dave"], "auth_register": 1, "auth_invite": 0, "auth_algorithms": "MD5,SHA-256"}
            if not args.direct:
                ctx.cdr_file = os.path.join(workdir, "cdr.jsonl")
                ctx.relay = Relay(args.rendezvous, os.path.join(workdir, "rendezvous"), sip=ctx.server_sip,
                                  extra=["--set", "cdr.file=" + ctx.cdr_file])
                ctx.sip_port = ctx.relay.sip_port
                ctx.port_min, ctx.port_max = ctx.relay.port_min, ctx.relay.port_max
                ctx.server_log = lambda: tail(ctx.relay.procs.log_of("rendezvous"), 15)
                avoid = ctx.relay.base
            else:
                ctx.server_log = lambda: "(--direct: no server)"
                avoid = None
            base = free_block()
            while avoid is not None and abs(base - avoid) < 100:
                base = free_block()
            ctx.alice_sip, ctx.bob_sip, ctx.alice_tcp, ctx.fake_sip = base, base + 1, base + 2, base + 3
            ctx.dave_tcp = base + 4
            ctx.alice_media, ctx.bob_media, ctx.spare_media, ctx.echo_port = base + 10, base + 20, base + 40, base + 30
            if args.direct:
                ctx.sip_port = ctx.fake_sip
            ctx.registrar_port = ctx.fake_sip if args.direct else ctx.sip_port
            ctx.sipp_auth_ok = args.direct   # set from the 401's challenge order against the server
            ctx.sipp = Sipp(ctx.procs, workdir, scen, args.sipp)

            ctx.pcap = pcap_info(args.pcap)
            ctx.echo = RtpEcho(ctx.echo_port)
            ctx.echo.start()
            print("ports: sip %s alice %d bob %d media %d/%d echo %d relay [%s, %s]"
                  % (ctx.sip_port, ctx.alice_sip, ctx.bob_sip, ctx.alice_media, ctx.bob_media, ctx.echo_port,
                     getattr(ctx, "port_min", "-"), getattr(ctx, "port_max", "-")), flush=True)
        except TestFailure as e:
            print(str(e))
            print("FAIL %s: setup: %s [logs in %s]" % (TEST_NAME, str(e).splitlines()[0], workdir))
            return 1

        only = set(filter(None, args.only.split(",")))
        for name, fn in (direct_cases() if args.direct else server_cases()):
            if only and name not in only:
                continue
            t = time.monotonic()
            try:
                note = fn(ctx)
                results.append((name, "PASS"))
                print("PASS %s (%.1fs): %s" % (name, time.monotonic() - t, note), flush=True)
            except TestFailure as e:
                results.append((name, "FAIL"))
                print("FAIL %s (%.1fs): %s" % (name, time.monotonic() - t, e), flush=True)
            except Exception as e:  # a harness bug is a failure of that case, not a crash
                results.append((name, "FAIL"))
                traceback.print_exc()
                print("FAIL %s: harness error %s: %s" % (name, type(e).__name__, e), flush=True)
            if ctx.relay is not None and not ctx.relay.alive():
                print("rendezvous exited (code %s); stopping\n%s" % (ctx.relay.proc.returncode, ctx.server_log()))
                results.append(("rendezvous_alive", "FAIL"))
                break
    finally:
        ctx.procs.stop_all()
        if ctx.echo is not None:
            ctx.echo.stop()
        if ctx.relay is not None:
            stopped = ctx.relay.stop()
            if stopped:
                print("FAIL rendezvous: %s" % stopped, flush=True)
                results.append(("rendezvous_exit", "FAIL"))

    failed = [n for n, r in results if r == "FAIL"]
    passed = [n for n, r in results if r == "PASS"]
    target = "direct (no server)" if args.direct else "rendezvous"
    if failed or not results:
        print("FAIL %s (%s, %.1fs): %d passed, %d failed (%s) [logs in %s]"
              % (TEST_NAME, target, time.monotonic() - t0, len(passed), len(failed), ", ".join(failed), workdir))
        return 1
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print("PASS %s (%s, %.1fs): %d passed" % (TEST_NAME, target, time.monotonic() - t0, len(passed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
