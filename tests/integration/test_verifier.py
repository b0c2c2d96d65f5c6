"""The deliverability verifier ([auth] verifier = ADDRESS, src/smtp/verifier.c): a message
to ADDRESS is not stored; its envelope sender gets a report (from <>, Auto-Submitted:
auto-replied) with the receiving checks' results read back from our
Authentication-Results field, the connection (address, forward-confirmed reverse DNS,
HELO) and the header fields that matter.  None goes to the null sender, to the verifier
itself, for an automatic message, or twice to one sender within verifier_interval.

The reports are addressed to local mailboxes here (v@example.test, ...), so each one is
read back from the Maildir; the clients connect from 127.0.0.2, whose reverse DNS the
dnslib zone server (spf_dns.py) confirms as good.checks.test.
"""

import email
import email.policy
import re
import sys
from pathlib import Path

import dkim
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import (HOSTNAME, SENDER, SMTPClient, assert_queued, list_mail,  # noqa: E402
                      make_message, rsa_dkim_key)
from spf_dns import ZoneServer  # noqa: E402

VERIFIER = "check@example.test"

ZONE = {
    "2.0.0.127.in-addr.arpa": [{"PTR": "good.checks.test"}],
    "good.checks.test": [{"A": "127.0.0.2"}],
    # example.test: SPF passes for 127.0.0.2, DMARC p=none, a DKIM key (added below)
    "example.test": [{"TXT": "v=spf1 ip4:127.0.0.2 -all"}],
    "_dmarc.example.test": [{"TXT": "v=DMARC1; p=none"}],
    # other.test: SPF fails for everyone, DMARC says reject
    "other.test": [{"TXT": "v=spf1 -all"}],
    "_dmarc.other.test": [{"TXT": "v=DMARC1; p=reject"}],
}

SIGNED = (b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;\r\n"
          b"\ts=sel1; h=from:to:subject; bh=AAAA; b=BBBB\r\n"
          b"From: Alice Example <alice@example.org>\r\n"
          b"To: <check@example.test>\r\n"
          b"Subject: =?utf-8?q?caf=C3=A9?= test\r\n"
          b"Date: Sat, 05 Dec 2026 09:00:00 +0000\r\n"
          b"Message-ID: <orig-1@example.org>\r\n"
          b"\r\n"
          b"Hello.\r\n")


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory):
    return rsa_dkim_key(tmp_path_factory.mktemp("verifier-key"))


@pytest.fixture(scope="module")
def zone(dkim_key):
    zone = dict(ZONE)
    zone["sel._domainkey.example.test"] = [{"TXT": dkim_key[1]}]
    server = ZoneServer(zone)
    yield server
    server.close()


@pytest.fixture
def verifier(petrel_factory, zone):
    def make(**more):
        settings = {"resolver": "127.0.0.1@%d" % zone.port,
                    "special_zones": "test, 127.in-addr.arpa", "timeout": 1,
                    "verifier": VERIFIER}
        settings.update(more)
        return petrel_factory(**settings)
    return make


def session(p, ehlo="helo.client.example"):
    c = SMTPClient(p.host, p.mx, source="127.0.0.2")
    c.banner()
    c.ehlo(ehlo)
    return c


def send(c, sender, rcpts, message):
    c.expect("MAIL FROM:<%s>" % sender, 250)
    for r in rcpts:
        c.expect("RCPT TO:<%s>" % r, 250)
    c.expect("DATA", 354)
    c.send(message.replace(b"\r\n.", b"\r\n..") + b".\r\n")
    return c.read_reply()


def report_of(p, local, n=1):
    return report_of_in(p, "example.test", local, n)


def report_of_in(p, domain, local, n=1):
    raw = p.mail(domain, local, n)[-1]
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_report_alone(verifier):
    """Only the verifier as recipient: 250 once the report is queued; the report goes to
    the envelope sender and says what was found; the message itself is kept nowhere."""
    p = verifier()
    c = session(p)
    r = send(c, "v@example.test", [VERIFIER], SIGNED)
    assert r.code == 250 and "report queued as" in r.text, r
    c.quit()
    msg = report_of(p, "v")
    assert not msg.defects, msg.defects
    assert msg["Return-Path"] == "<>"
    assert msg["From"].addresses[0].addr_spec == VERIFIER
    assert msg["To"].addresses[0].addr_spec == "v@example.test"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<orig-1@example.org>"
    assert msg.get_content_type() == "text/plain"
    body = msg.get_content()
    assert re.search(r"Client address: +127\.0\.0\.2", body), body
    assert re.search(r"Reverse DNS: +good\.checks\.test \(forward-confirmed\)", body), body
    assert re.search(r"HELO/EHLO: +helo\.client\.example", body), body
    assert re.search(r"Return-Path: +<v@example\.test>", body), body
    assert re.search(r"From: +Alice Example <alice@example\.org>", body), body
    assert re.search(r"Message-ID: +<orig-1@example\.org>", body), body
    assert re.search(r"DKIM-Signature: +d=example\.org s=sel1 a=rsa-sha256", body), body
    # nothing was delivered to a mailbox of the verifier's name or queued for it
    assert not (p.data_dir / "mail" / "example.test" / "check").exists()
    log = p.wait_log(r"verifier-report session=\S+ client=127\.0\.0\.2 queue_id=")
    assert re.search(r'verifier-report session=\S+ client=127\.0\.0\.2 queue_id=\w+ '
                     r'to="v@example.test"', log)


def test_report_reads_our_authentication_results(verifier):
    """The report's results come from the topmost Authentication-Results field with our
    authserv-id (the host name); another server's field is not believed."""
    p = verifier()
    c = session(p)
    msg = (b"Authentication-Results: other.example; spf=neutral "
           b"smtp.mailfrom=forged@other.example; dmarc=pass header.from=example.org\r\n"
           + SIGNED)
    assert send(c, "w@example.test", [VERIFIER], msg).code == 250
    c.quit()
    rep = report_of(p, "w")
    body = rep.get_content()
    assert rep["Subject"] == "Verifier report: SPF pass, DKIM permerror, DMARC none", \
        rep["Subject"]
    assert "forged@other.example" not in body, body
    assert "spf=pass smtp.mailfrom=w@example.test" in body, body
    # the DKIM-Signature of SIGNED is a fake: the reason says what is wrong with it
    assert re.search(r"dkim=permerror header\.d=example\.org header\.s=sel1 .*\s+reason: \S",
                     body), body


def test_report_does_not_believe_an_unchecked_message(verifier):
    """Mail the receiving checks did not look at (an authenticated submission) keeps any
    Authentication-Results field the sender wrote, even one with our authserv-id: the
    report says nothing was checked instead of repeating it."""
    p = verifier()
    c = p.auth_session()
    msg = (b"Authentication-Results: %s; spf=pass smtp.mailfrom=forged@example.org;"
           b" dkim=pass header.d=example.org; dmarc=pass header.from=example.org\r\n"
           % HOSTNAME.encode()) + SIGNED
    assert send(c, SENDER, [VERIFIER], msg).code == 250
    c.quit()
    local, domain = SENDER.split("@")
    rep = report_of_in(p, domain, local)
    body = rep.get_content()
    assert rep["Subject"] == "Verifier report: not checked", rep["Subject"]
    assert "No Authentication-Results field from %s was found" % HOSTNAME in body, body
    assert "forged@example.org" not in body, body


def test_report_beside_other_recipients(verifier):
    """With other recipients the message is delivered to them as usual, and the report
    goes to the sender beside it."""
    p = verifier()
    c = session(p)
    assert_queued(send(c, "x@example.test", [VERIFIER, "u@example.test"], SIGNED))
    c.quit()
    [raw] = p.mail("example.test", "u", 1)
    assert b"Subject: =?utf-8?q?caf=C3=A9?= test" in raw
    rep = report_of(p, "x")
    assert rep["Auto-Submitted"] == "auto-replied"
    assert "Alice Example" in rep.get_content()


@pytest.mark.parametrize("sender,headers,reason", [
    ("", b"", "null sender"),
    (VERIFIER, b"", "sender is the verifier"),
    ("d@example.test", b"Auto-Submitted: auto-replied\r\n", "Auto-Submitted"),
])
def test_no_report(verifier, sender, headers, reason):
    """No report to <>, to the verifier itself, or for an automatic message: 250 all the
    same, and the reason in the reply and the log."""
    p = verifier()
    c = session(p)
    r = send(c, sender, [VERIFIER], headers + SIGNED)
    assert r.code == 250 and "no report sent" in r.text and reason in r.text, r
    c.quit()
    log = p.wait_log(r"verifier-skipped session=")
    assert reason in log
    if sender:
        assert not list_mail(p.data_dir, "example.test", sender.split("@")[0])


def test_rate_limit_per_sender(verifier):
    """verifier_interval (default 60 s): one report per sender in it; another sender still
    gets one; 0 turns the limit off."""
    p = verifier()
    c = session(p)
    assert "report queued" in send(c, "s@example.test", [VERIFIER], SIGNED).text
    r = send(c, "s@example.test", [VERIFIER], SIGNED)
    assert r.code == 250 and "rate limit" in r.text, r
    # one mailbox in any case
    assert "rate limit" in send(c, "S@Example.TEST", [VERIFIER], SIGNED).text
    assert "report queued" in send(c, "alice@example.test", [VERIFIER], SIGNED).text
    c.quit()
    q = verifier(verifier_interval=0)
    c = session(q)
    for _ in range(2):
        assert "report queued" in send(c, "s@example.test", [VERIFIER], SIGNED).text
    c.quit()
    q.mail("example.test", "s", 2)


def test_verifier_off(petrel_factory):
    """Off by default: the address is an ordinary (unknown) recipient."""
    p = petrel_factory()
    c = p.session()
    c.expect("MAIL FROM:<v@example.test>", 250)
    r = c.cmd("RCPT TO:<%s>" % VERIFIER)
    assert r.code == 550, r
    c.quit()


def test_bdat_to_the_verifier(verifier):
    """CHUNKING: the verifier alone as recipient takes BDAT too."""
    p = verifier()
    c = session(p)
    c.expect("MAIL FROM:<u@example.test>", 250)
    c.expect("RCPT TO:<%s>" % VERIFIER, 250)
    c.send(b"BDAT %d LAST\r\n" % len(SIGNED) + SIGNED)
    r = c.read_reply()
    assert r.code == 250 and "report queued" in r.text, r
    c.quit()
    assert "Alice Example" in report_of(p, "u").get_content()


def test_report_of_the_receiving_checks(verifier, dkim_key):
    """A message signed by dkimpy from a host SPF allows: the report's summary and
    results are those of our Authentication-Results field (spf, dkim, dmarc pass, with
    their properties)."""
    p = verifier()
    msg = (b"From: Alice <alice@example.test>\r\nTo: <check@example.test>\r\n"
           b"Subject: setup test\r\nDate: Sat, 05 Dec 2026 09:00:00 +0000\r\n"
           b"Message-ID: <signed-1@example.test>\r\n\r\nHello.\r\n")
    msg = dkim.sign(msg, b"sel", b"example.test", dkim_key[0],
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
                    canonicalize=(b"relaxed", b"relaxed")) + msg
    c = session(p)
    assert "report queued" in send(c, "v@example.test", [VERIFIER], msg).text
    c.quit()
    rep = report_of(p, "v")
    assert rep["Subject"] == "Verifier report: SPF pass, DKIM pass, DMARC pass", rep["Subject"]
    body = rep.get_content()
    assert re.search(r"SPF: +pass\s+DKIM: +pass\s+DMARC: +pass\s+ARC: +none", body), body
    assert "spf=pass smtp.mailfrom=v@example.test" in body, body
    assert re.search(r"dkim=pass header\.d=example\.test header\.s=sel header\.b=\S{8}", body), body
    assert re.search(r"dmarc=pass .*header\.from=example\.test", body), body
    assert re.search(r"DKIM-Signature: +d=example\.test s=sel a=rsa-sha256", body), body


def test_report_of_failing_checks(verifier):
    """SPF fail and DMARC fail with p=reject: a message for the verifier alone is not
    refused (550 5.7.1 would tell the sender nothing); the report gives the results with
    their reasons."""
    p = verifier()
    msg = (b"From: <v@other.test>\r\nTo: <check@example.test>\r\nSubject: x\r\n"
           b"Message-ID: <fail-1@other.test>\r\n\r\nHello.\r\n")
    c = session(p)
    r = send(c, "v@other.test", [VERIFIER], msg)
    assert r.code == 250 and "report queued" in r.text, r
    c.quit()
    raw = p.mail("other.test", "v", 1)[-1]
    rep = email.message_from_bytes(raw, policy=email.policy.default)
    assert rep["Subject"] == "Verifier report: SPF fail, DKIM none, DMARC fail", rep["Subject"]
    body = rep.get_content()
    assert re.search(r"spf=fail smtp\.mailfrom=v@other\.test\s+reason: \S", body), body
    assert re.search(r"dmarc=fail .*policy\.dmarc=reject", body), body
    assert re.search(r"DKIM-Signature: +\(none: the message is not signed\)", body), body
