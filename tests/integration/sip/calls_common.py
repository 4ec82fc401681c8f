"""Shared pieces of the SIP call tests (sip_calls_test.py and its case modules): the run
context, check(), registration and sipp-pair helpers, and the constants every case uses."""

import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from rdvtest import TestFailure  # noqa: E402
from siptest import find  # noqa: E402
import siptest  # noqa: E402

USERS = {"alice": "alicepw", "bob": "bobpw", "dave": "davepw"}
# RTP packets a check may miss. The media is real UDP over loopback through three sockets
# (sipp -> relay -> callee endpoint and back); the kernel drops datagrams when a receive buffer
# is full, e.g. while a process is descheduled on a loaded CI machine. 10 of the pcap's ~236
# packets; every other count (SIP, sources, relay ports) is exact.
PACKET_TOLERANCE = 10
SHORT = 10   # sipp -timeout (s) for the signalling-only cases


class Ctx:
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


# ---------------------------------------------------------------- helpers

def contacts_of(resp):
    """[(uri, expires or None)] from a REGISTER response's Contact headers (comma lists split)."""
    out = []
    default = resp.get("expires")
    for value in resp.all("contact"):
        for part in re.findall(r'(?:[^,"<]|"[^"]*"|<[^>]*>)+', value):
            m = re.search(r"<([^>]*)>", part)
            uri = m.group(1) if m else part.split(";")[0].strip()
            exp = siptest.header_params(part).get("expires", default)
            out.append((uri, int(exp) if exp and exp.isdigit() else None))
    return out


def check_register_ok(what, resp, contact_port, requested):
    check(resp is not None, "%s: no final response" % what)
    check(resp.status == 200, "%s: %s, expected 200\n%s" % (what, resp.start, resp.raw.decode(errors="replace")))
    mine = [(u, e) for u, e in contacts_of(resp) if "127.0.0.1:%d" % contact_port in u]
    check(mine, "%s: the 200 lists no Contact for 127.0.0.1:%d: %s" % (what, contact_port, resp.all("contact")))
    exp = mine[0][1]
    check(exp is not None and 0 < exp <= requested,
          "%s: the 200's Contact carries no usable expires (got %r, asked %d): %s"
          % (what, exp, requested, resp.all("contact")))
    return "contact %s expires=%d" % (mine[0][0], exp)


def sipp_registrar_client(ctx, tag, xml, port, user, password, transport="u1", sets=()):
    """Starts a registering scenario toward the registrar; with --direct a fake registrar
    (selftest/fake_registrar.xml) is started and listening first."""
    if ctx.direct:
        fake = ctx.sipp.start("fake_registrar", "fake_registrar.xml", ctx.fake_sip, ctx.spare_media + 10,
                              transport=transport, timeout_s=SHORT)
        fake.wait_bound(ctx.fake_sip, tcp=transport != "u1")
    run = ctx.sipp.start(tag, xml, port, ctx.spare_media, remote_port=ctx.registrar_port, service=user,
                         transport=transport, sets=sets, extra=["-au", user, "-ap", password],
                         timeout_s=SHORT)
    if ctx.direct:
        run.companions.append(fake)
    return run


def register_user(ctx, user, port, expires=300, via=None):
    """Registers user with Contact 127.0.0.1:port, from that port. Uses scenarios/register.xml
    when sipp can answer the server's challenge (MD5 topmost), else the harness's digest client."""
    if (via or ("sipp" if ctx.sipp_auth_ok else "python")) == "sipp":
        run = sipp_registrar_client(ctx, "register_" + user, "register.xml", port, user, USERS[user],
                                    sets=[("expires", expires)])
        run.expect_ok("REGISTER %s with sipp" % user)
        ok = find(run.messages(), "received", r"^SIP/2\.0 200", "REGISTER")
        return "sipp: " + check_register_ok("REGISTER %s (sipp)" % user, ok, port, expires)
    _, final, _ = siptest.register(ctx.sip_port, user, USERS[user], local_port=port, expires=expires)
    return "harness digest: " + check_register_ok("REGISTER %s" % user, final, port, expires)


def sipp_pair(ctx, name, callee_xml, caller_xml, callee_user="bob", callee_sets=True, d_ms=0,
              timeout_s=SHORT, server_port=None):
    """Starts the callee scenario on bob's port, then the caller toward the server (server_port,
    default the shared one; with --direct, toward the callee); both must succeed. Returns
    (callee_run, caller_run)."""
    callee = ctx.sipp.start(name + "_callee", callee_xml, ctx.bob_sip, ctx.bob_media, service=callee_user,
                            sets=[("callee_rtp_port", ctx.echo_port)] if callee_sets else [],
                            timeout_s=timeout_s)
    callee.wait_bound(ctx.bob_sip)
    target = ctx.bob_sip if ctx.direct else (server_port or ctx.sip_port)
    caller = ctx.sipp.start(name + "_caller", caller_xml, ctx.alice_sip, ctx.alice_media, remote_port=target,
                            service=callee_user, extra=["-d", str(d_ms)], timeout_s=timeout_s)
    rc = caller.wait()
    if rc != 0:
        try:
            callee.wait(extra=1.0)
        except TestFailure:
            pass
        raise TestFailure("%s: caller sipp exit code %d\n%s\n%s\n--- rendezvous:\n%s"
                          % (name, rc, caller.diagnostics(), callee.diagnostics(), ctx.server_log()))
    callee.expect_ok(name + " (callee)")
    return callee, caller


def b2bua_legs(ctx, callee, caller):
    """Checks leg B is the B2BUA's own dialog and returns (invite_at_callee, invite_sent_by_caller)."""
    inv_b = find(callee.messages(), "received", r"^INVITE ", "INVITE")
    inv_a = find(caller.messages(), "sent", r"^INVITE ", "INVITE")
    check(inv_b is not None, "the callee's log has no INVITE")
    check(inv_a is not None, "the caller's log has no INVITE")
    if ctx.direct:
        return inv_b, inv_a
    check(inv_b.get("call-id") != inv_a.get("call-id"),
          "leg B reuses the caller's Call-ID %s (a B2BUA makes a new one)" % inv_a.get("call-id"))
    tag_a = siptest.header_params(inv_a.get("from")).get("tag")
    tag_b = siptest.header_params(inv_b.get("from") or "").get("tag")
    check(tag_b and tag_b != tag_a, "leg B's From tag %r is missing or the caller's %r" % (tag_b, tag_a))
    vias = [v for line in inv_b.all("via") for v in line.split(",")]
    check(len(vias) == 1, "leg B carries %d Via values (a B2BUA sends only its own): %s" % (len(vias), vias))
    check("127.0.0.1:%d" % ctx.sip_port in vias[0],
          "leg B's Via %r is not Rendezvous's own (127.0.0.1:%d)" % (vias[0], ctx.sip_port))
    contact = inv_b.get("contact") or ""
    check(contact and "127.0.0.1:%d" % ctx.alice_sip not in contact,
          "leg B's Contact %r is missing or the caller's own" % contact)
    return inv_b, inv_a



def wait_until_soft(pred, seconds):
    """Polls pred for up to `seconds` (trailing packets still in flight); never fails itself."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not pred():
        time.sleep(0.05)
