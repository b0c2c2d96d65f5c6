"""ARC on the mx listener (RFC 8617, docs/email-authentication.md): the chain's result in
Authentication-Results (arc=pass/fail/none, read back by python3-authres), and a valid
chain sealed by a forwarder of [auth] arc_trusted_forwarders overriding a DMARC fail
(RFC 7489 7.2 PolicyOverrideType "arc") where nothing else does.

The scene: joe@fail.test (SPF -all, DMARC p=reject) writes to a list at fwd.test, which
records spf=pass / dmarc=pass in its ARC-Authentication-Results, seals the message with
dkimpy's arc_sign and sends it on from 127.0.0.1 (which fail.test's SPF does not allow), so
Petrel's own SPF and DMARC fail.  Records are served by spf_dns.py's dnslib zone server."""

import re
import time

import authres
import authres.arc
import authres.dmarc
import dkim
import pytest

from conftest import SMTPClient, assert_queued, header_values, rsa_dkim_key, wait_mail
from spf_dns import ZoneServer

AUTHSERV_ID = "mx.petrel.test"
RCPT = "u@example.test"
AR_PARSER = authres.FeatureContext(authres.dmarc, authres.arc)


@pytest.fixture(scope="module")
def fwd_key(tmp_path_factory):
    return rsa_dkim_key(tmp_path_factory.mktemp("arc-recv-keys"), "fwd.key")


@pytest.fixture(scope="module")
def zone(fwd_key):
    server = ZoneServer({
        "fail.test": [{"TXT": "v=spf1 -all"}],
        "_dmarc.fail.test": [{"TXT": "v=DMARC1; p=reject"}],
        "pass.test": [{"TXT": "v=spf1 ip4:127.0.0.0/8 -all"}],
        "arc._domainkey.fwd.test": [{"TXT": fwd_key[1]}],
    })
    yield server
    server.close()


@pytest.fixture
def mx(petrel_factory, zone):
    def make(**overrides):
        settings = {"resolver": "127.0.0.1@%d" % zone.port, "special_zones": "test",
                    "timeout": 2, "spf_timeout": 3}
        settings.update(overrides)
        return petrel_factory(**settings)
    return make


def message(from_addr):
    return (b"From: <%s>\r\nTo: <list@fwd.test>\r\nSubject: [list] hello\r\n"
            b"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <%d@x.test>\r\n\r\n"
            b"Hello, list.\r\n" % (from_addr.encode(), time.monotonic_ns()))


def sealed(msg, fwd_key):
    """what fwd.test sends on: its findings, then its ARC set on top"""
    ar = (b"Authentication-Results: mx.fwd.test; spf=pass smtp.mailfrom=joe@fail.test;"
          b" dmarc=pass header.from=fail.test\r\n")
    fields = dkim.arc_sign(ar + msg, b"arc", b"fwd.test", fwd_key[0], b"mx.fwd.test")
    assert fields
    return b"".join(fields) + ar + msg


def send(p, sender, msg):
    c = SMTPClient("127.0.0.1", p.mx, timeout=30)
    try:
        c.banner()
        c.ehlo("list.fwd.test")
        return c.mail_transaction(sender, [RCPT], msg)
    finally:
        c.close()


def delivered(p, n=1, timeout=15.0):
    return wait_mail(p.data_dir, "example.test", "u", n, timeout, settle=0)


def ours(raw):
    values = header_values(raw, "Authentication-Results")
    mine = [v for v in values if v.split(";", 1)[0].strip() == AUTHSERV_ID]
    assert len(mine) == 1, values
    return mine[0]


def results(raw):
    parsed = AR_PARSER.parse("Authentication-Results: " + ours(raw))
    out = {}
    for r in parsed.results:
        props = {"%s.%s" % (pr.type, pr.name): pr.value for pr in r.properties}
        out.setdefault(r.method, []).append((r.result, r.reason, props))
    return out


def test_trusted_forwarder_overrides_dmarc_fail(mx, fwd_key):
    p = mx(arc_trusted_forwarders="lists.other.test, FWD.test")
    assert_queued(send(p, "joe@fail.test", sealed(message("joe@fail.test"), fwd_key)))
    raw = delivered(p)[0]
    ar = results(raw)
    assert ar["spf"][0][0] == "fail"
    assert ar["arc"] == [("pass", None, {"smtp.remote-ip": "127.0.0.1"})], ar["arc"]
    assert ar["dmarc"][0][0] == "fail"
    assert ar["dmarc"][0][2]["policy.dmarc"] == "none", ar["dmarc"]
    text = ours(raw)
    assert "arc=pass (i=1 d=fwd.test)" in text and "(override arc)" in text, text
    p.wait_log(r"dmarc-override session=\S+ reason=arc sealer=fwd\.test disposition=none "
               r"instead_of=reject")
    p.wait_log(r"auth-results .*arc=pass arc_instances=1 .*dmarc=fail .*override=arc")


def test_untrusted_forwarder_does_not(mx, fwd_key):
    """the same chain from a forwarder nobody listed: DMARC's reject stands"""
    p = mx(arc_trusted_forwarders="lists.other.test")
    reply = send(p, "joe@fail.test", sealed(message("joe@fail.test"), fwd_key))
    assert (reply.code, reply.enhanced) == (550, "5.7.1"), reply
    p.wait_log(r"auth-results .*arc=pass .*dmarc=fail .*disposition=reject .*override=-")


def test_broken_chain_does_not(mx, fwd_key):
    """a trusted sealer, but the body changed after it sealed: arc=fail, reject stands"""
    p = mx(arc_trusted_forwarders="fwd.test")
    msg = sealed(message("joe@fail.test"), fwd_key).replace(b"Hello, list.", b"Hello, LIST.")
    reply = send(p, "joe@fail.test", msg)
    assert (reply.code, reply.enhanced) == (550, "5.7.1"), reply
    p.wait_log(r"auth-results .*arc=fail arc_instances=1 .*dmarc=fail .*override=-")


def test_arc_fail_and_none_recorded(mx, fwd_key):
    """what the chain is goes into Authentication-Results either way"""
    p = mx()
    # no chain at all
    assert_queued(send(p, "joe@pass.test", message("joe@pass.test")))
    ar = results(delivered(p, 1)[0])
    assert ar["arc"] == [("none", None, {"smtp.remote-ip": "127.0.0.1"})], ar["arc"]
    # a chain for a pass.test message whose seal's AAR was altered
    msg = sealed(message("joe@pass.test"), fwd_key)
    msg = re.sub(rb"(ARC-Authentication-Results: i=1;[^\r]*?)spf=pass", rb"\1spf=none", msg)
    assert_queued(send(p, "joe@pass.test", msg))
    raws = delivered(p, 2)
    fail = [results(r)["arc"] for r in raws if b"ARC-Seal" in r]
    assert fail == [[("fail", "ARC-Seal: signature did not verify",
                      {"smtp.remote-ip": "127.0.0.1"})]], fail
