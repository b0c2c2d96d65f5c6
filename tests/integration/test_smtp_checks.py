"""SMTP-time checks of unauthenticated clients ([smtp] settings, src/smtp/checks.c):
reverse DNS of the client (forward-confirmed, logged, in Received:, and required when
reverse_dns = require), HELO syntax (helo_check = syntax), and the sender's domain
(sender_domain_check: MX or A/AAAA, null MX, NXDOMAIN, temporary failure).

A dnslib zone server (spf_dns.py) answers the PTR names of 127.0.0.0/8 and the sender
domains; each client connects from its own loopback address (127.0.0.2, .3, ...), which
the zone gives the reverse DNS under test.
"""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import HOSTNAME, SMTPClient, make_message, assert_queued, split_message  # noqa: E402
from spf_dns import ZoneServer  # noqa: E402

ZONE = {
    # 127.0.0.2: confirmed
    "2.0.0.127.in-addr.arpa": [{"PTR": "good.checks.test"}],
    "good.checks.test": [{"A": "127.0.0.2"}],
    # 127.0.0.3: a name that does not resolve back
    "3.0.0.127.in-addr.arpa": [{"PTR": "liar.checks.test"}],
    "liar.checks.test": [{"A": "192.0.2.1"}],
    # 127.0.0.4: no PTR at all (NXDOMAIN)
    # 127.0.0.5: the PTR query is never answered
    "5.0.0.127.in-addr.arpa": ["TIMEOUT"],
    # 127.0.0.6: two names, the second one confirmed
    "6.0.0.127.in-addr.arpa": [{"PTR": "gone.checks.test"}, {"PTR": "six.checks.test"}],
    "six.checks.test": [{"A": "127.0.0.6"}],
    # sender domains
    "ok.test": [{"MX": [10, "mx.ok.test"]}],
    "mx.ok.test": [{"A": "192.0.2.10"}],
    "aonly.test": [{"A": "192.0.2.11"}],
    "nullmx.test": [{"MX": [0, ""]}],
    "nodata.test": [{"TXT": "no mail here"}],
    "slow.test": ["TIMEOUT"],
}


@pytest.fixture(scope="module")
def zone():
    server = ZoneServer(ZONE)
    yield server
    server.close()


def dns_settings(zone, **more):
    s = {"resolver": "127.0.0.1@%d" % zone.port, "special_zones": "test, 127.in-addr.arpa",
         "timeout": 1}
    s.update(more)
    return s


def session_from(petrel, source, ehlo="client.example"):
    c = SMTPClient(petrel.host, petrel.mx, source=source)
    c.banner()
    if ehlo:
        c.ehlo(ehlo)
    return c


def received_of(petrel, n=1):
    raw = petrel.mail("example.test", "u", n)[-1]
    lines, _ = split_message(raw)
    return [l for l in lines if l.startswith("Received:")][0]


# ---- reverse DNS ---------------------------------------------------------------------

@pytest.mark.parametrize("source,shown,result,name", [
    ("127.0.0.2", "good.checks.test", "pass", '"good.checks.test"'),
    ("127.0.0.3", "unknown", "fail", '"liar.checks.test"'),
    ("127.0.0.4", "unknown", "none", "-"),
    ("127.0.0.5", "unknown", "temperror", "-"),
    ("127.0.0.6", "six.checks.test", "pass", '"six.checks.test"'),
])
def test_reverse_dns_recorded(petrel_factory, zone, source, shown, result, name):
    """The default (record): the forward-confirmed name, or unknown, in Received: as
    `from HELO (NAME [IP])`, and one log line with the result; mail is never refused."""
    p = petrel_factory(**dns_settings(zone))
    c = session_from(p, source, ehlo="helo.client.example")
    assert_queued(c.mail_transaction("someone@ok.test", ["u@example.test"], make_message()))
    c.quit()
    rec = received_of(p)
    assert rec.startswith("Received: from helo.client.example (%s [%s])" % (shown, source)), rec
    log = p.wait_log(r"rdns session=\S+ client=%s " % re.escape(source))
    m = re.search(r"rdns session=\S+ client=%s result=(\S+) name=(\S+)" % re.escape(source), log)
    assert m and m.group(1) == result and m.group(2) == name, log[-2000:]


def test_reverse_dns_off(petrel_factory, zone):
    """reverse_dns = off: no PTR query, and Received: has the address alone."""
    zone.queries.clear()
    p = petrel_factory(reverse_dns="off", **dns_settings(zone))
    c = session_from(p, "127.0.0.2")
    assert_queued(c.mail_transaction("someone@ok.test", ["u@example.test"], make_message()))
    c.quit()
    rec = received_of(p)
    assert rec.startswith("Received: from client.example ([127.0.0.2])"), rec
    assert ("2.0.0.127.in-addr.arpa", "PTR") not in zone.queries
    assert "rdns session=" not in p.log()


@pytest.mark.parametrize("source,code,enhanced", [
    ("127.0.0.2", 250, "2.1.0"),
    ("127.0.0.3", 550, "5.7.25"),
    ("127.0.0.4", 550, "5.7.25"),
    ("127.0.0.5", 450, "4.7.25"),
])
def test_reverse_dns_required(petrel_factory, zone, source, code, enhanced):
    """reverse_dns = require: MAIL on mx without a confirmed name gets 550 5.7.25, or
    450 4.7.25 when DNS failed temporarily (RFC 7372 3.3)."""
    p = petrel_factory(reverse_dns="require", **dns_settings(zone))
    c = session_from(p, source)
    r = c.expect("MAIL FROM:<someone@ok.test>", code, enhanced)
    if code != 250:
        assert source in r.text, r
        # the session goes on: a later MAIL is checked again, same answer
        c.expect("MAIL FROM:<other@ok.test>", code, enhanced)
    c.quit()


def test_reverse_dns_required_not_for_submission(petrel_factory, zone):
    """require applies to unauthenticated mail on mx: an authenticated submission from a
    client without reverse DNS is accepted (and still recorded as unknown)."""
    p = petrel_factory(reverse_dns="require", **dns_settings(zone))
    c = SMTPClient(p.host, p.sub, source="127.0.0.4")
    c.banner()
    c.ehlo("laptop")
    c.starttls()
    c.ehlo("laptop")
    from conftest import SENDER, SENDER_PASSWORD
    c.auth_plain(SENDER, SENDER_PASSWORD)
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    c.quit()
    log = p.wait_log(r"rdns session=\S+ client=127\.0\.0\.4 result=none")
    assert re.search(r"rdns session=\S+ client=127\.0\.0\.4 result=none", log)


def test_pipelined_commands_wait_for_the_lookup(petrel_factory, zone):
    """A pipelined transaction whose MAIL waits for an unanswered PTR query is answered in
    order once DNS gives up (temperror: recorded, not refused)."""
    p = petrel_factory(**dns_settings(zone))
    c = SMTPClient(p.host, p.mx, source="127.0.0.5")
    c.banner()
    c.ehlo("client.example")
    msg = make_message()
    c.send(b"MAIL FROM:<a@ok.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    assert c.read_reply().code == 250
    assert c.read_reply().code == 250
    assert c.read_reply().code == 354
    c.send(msg + b".\r\n")
    assert_queued(c.read_reply())
    c.quit()
    assert "(unknown [127.0.0.5])" in received_of(p)


def test_disconnect_while_checking(petrel_factory, zone):
    """A client that leaves while its MAIL waits for DNS: the lookups are cancelled with
    the session (no answer reaches a freed session; sanitizers watch at teardown)."""
    p = petrel_factory(sender_domain_check="on", **dns_settings(zone))
    for source in ("127.0.0.5", "127.0.0.2"):
        c = SMTPClient(p.host, p.mx, source=source)
        c.banner()
        c.ehlo("client.example")
        c.send(b"MAIL FROM:<a@slow.test>\r\n")
        c.close()
    p.wait_log(r"disconnect session=\S+ client=127\.0\.0\.2", count=1)
    # the server goes on serving
    c = session_from(p, "127.0.0.2")
    c.expect("MAIL FROM:<a@ok.test>", 250)
    c.quit()
    # teardown (SIGTERM, sanitizer check) follows with the queries still unanswered


# ---- HELO ----------------------------------------------------------------------------

@pytest.mark.parametrize("arg,ok", [
    ("mail.client.example", True),
    ("laptop", True),
    ("[127.0.0.2]", True),
    ("[IPv6:::1]", True),
    ("bad_name.example", False),
    ("foo..example", False),
    ("[127.0.0.300]", False),
    ("client.example.", False),
])
def test_helo_syntax(petrel_factory, zone, arg, ok):
    """helo_check = syntax: on mx the EHLO/HELO argument is a domain or an address
    literal (RFC 5321 4.1.4), else 501 5.5.2; the client may try again."""
    p = petrel_factory(helo_check="syntax", **dns_settings(zone))
    c = session_from(p, "127.0.0.2", ehlo=None)
    for verb in ("EHLO", "HELO"):
        r = c.cmd("%s %s" % (verb, arg))
        if ok:
            assert r.code == 250, r
        else:
            assert (r.code, r.enhanced) == (501, "5.5.2"), r
            assert "RFC 5321 4.1.4" in r.text, r
    if not ok:
        c.expect("MAIL FROM:<a@ok.test>", 503, "5.5.1")  # no HELO was accepted
        c.ehlo("fixed.example")
        c.expect("MAIL FROM:<a@ok.test>", 250)
    c.quit()


def test_helo_syntax_off_and_submission(petrel_factory, zone):
    """The default (off) takes any word on mx; with syntax, submission still does."""
    p = petrel_factory(**dns_settings(zone))
    c = session_from(p, "127.0.0.2", ehlo="bad_name.example")
    c.quit()
    q = petrel_factory(helo_check="syntax", **dns_settings(zone))
    c = SMTPClient(q.host, q.sub, source="127.0.0.2")
    c.banner()
    c.ehlo("bad_name.example")
    c.quit()


# ---- the sender's domain -------------------------------------------------------------

@pytest.mark.parametrize("sender,code,enhanced,text", [
    ("a@ok.test", 250, "2.1.0", None),
    ("a@aonly.test", 250, "2.1.0", None),          # no MX: its A record (RFC 5321 5.1)
    ("a@nullmx.test", 550, "5.7.27", "null MX"),   # RFC 7505 4.2
    ("a@nosuch.test", 550, "5.1.8", "does not exist"),
    ("a@nodata.test", 550, "5.1.8", "no MX or address records"),
    ("a@slow.test", 451, "4.4.3", "temporarily"),
    ("", 250, "2.1.0", None),                      # the null sender has no domain
    ("a@[192.0.2.1]", 250, "2.1.0", None),         # nor has an address literal
])
def test_sender_domain(petrel_factory, zone, sender, code, enhanced, text):
    p = petrel_factory(sender_domain_check="on", **dns_settings(zone))
    c = session_from(p, "127.0.0.2")
    r = c.expect("MAIL FROM:<%s>" % sender, code, enhanced)
    if text:
        assert text in r.text and sender.split("@")[1] in r.text, r
        log = p.wait_log(r"rejected session=.* code=%d" % code)
        assert re.search(r"rejected session=.* code=%d" % code, log)
    c.quit()


def test_sender_domain_unknown_code_450(petrel_factory, zone):
    """unknown_sender_code = 450: a domain that does not exist gets 450 4.1.8; a null MX
    stays 550 (it is the domain owner's explicit word)."""
    p = petrel_factory(sender_domain_check="on", unknown_sender_code="450",
                       **dns_settings(zone))
    c = session_from(p, "127.0.0.2")
    c.expect("MAIL FROM:<a@nosuch.test>", 450, "4.1.8")
    c.expect("MAIL FROM:<a@nullmx.test>", 550, "5.7.27")
    c.quit()


def test_sender_domain_off_by_default(petrel_factory, zone):
    p = petrel_factory(**dns_settings(zone))
    c = session_from(p, "127.0.0.2")
    c.expect("MAIL FROM:<a@never-asked.test>", 250)
    c.quit()
    # (SPF asks for its TXT record: only the MX query is this check's)
    assert not [q for q in zone.queries if q == ("never-asked.test", "MX")]
