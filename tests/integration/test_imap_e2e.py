"""End to end through two Petrels and IMAP (issue 10): an account of Petrel A submits a
message on the submission port; A relays it (from 127.0.0.2, over STARTTLS) to Petrel B, the MX of
other.test found through a dnslib zone server; B delivers it to v@other.test, who reads
it over IMAP (imaplib on B's imaps listener): the body as sent, B's Received field naming
A, and B's SPF verdict on A's address."""

import email
import re
import time

import pytest

from conftest import SENDER
from imap_util import imap_connect, imap_server
from spf_dns import ZoneServer

A_HOST = "a.petrel.test"
B_HOST = "b.petrel.test"
RCPT, RCPT_PASSWORD = "v@other.test", "secret"


@pytest.fixture
def zone():
    server = ZoneServer({
        "other.test": [{"MX": (10, B_HOST)}],
        B_HOST: [{"A": "127.0.0.1"}],
        "example.test": [{"TXT": "v=spf1 ip4:127.0.0.2 -all"}],
        A_HOST: [{"A": "127.0.0.2"}, {"TXT": "v=spf1 ip4:127.0.0.2 -all"}],
    })
    yield server
    server.close()


def test_submit_relay_read_over_imap(petrel_factory, zone):
    dns = {"resolver": "127.0.0.1@%d" % zone.port, "special_zones": "test", "timeout": 2}
    b = imap_server(petrel_factory, hostname=B_HOST, **dns)
    # A serves example.test only: other.test is elsewhere (B, by its MX)
    a = petrel_factory(hostname=A_HOST, local="example.test", port=b.mx,
                       source_address="127.0.0.2", retry_initial=1, retry_max=2, **dns)

    msgid = "<e2e-imap-%d@example.test>" % time.monotonic_ns()
    msg = (b"From: <%s>\r\nTo: <%s>\r\nSubject: from A to B over IMAP\r\n"
           b"Date: Fri, 05 Dec 2025 10:00:00 +0000\r\nMessage-ID: %s\r\n\r\n"
           b"Submitted on A, relayed to B,\r\n.leading dot kept,\r\nread over IMAP.\r\n"
           % (SENDER.encode(), RCPT.encode(), msgid.encode()))
    s = a.auth_session("submission")
    try:
        assert s.mail_transaction(SENDER, [RCPT], msg).code == 250
        s.quit()
    finally:
        s.close()

    # B's recipient logs in over imaps and waits (bounded) for the message to come
    c = imap_connect(b, tls=True)
    assert c.login(RCPT, RCPT_PASSWORD)[0] == "OK"
    assert c.select("INBOX")[0] == "OK"
    deadline = time.monotonic() + 60
    while True:
        typ, data = c.uid("SEARCH", "HEADER", "Message-ID", msgid)
        assert typ == "OK", data
        if data[0].split():
            break
        assert time.monotonic() < deadline, "not on B after 60s:\n%s\n%s" % (
            a.log()[-2000:], b.log()[-2000:])
        time.sleep(0.2)
        c.noop()
    uid = data[0].split()[0].decode()
    typ, data = c.uid("FETCH", uid, "(BODY[] BODY[TEXT])")
    assert typ == "OK", data
    raw = data[0][1]
    assert data[1][1] == (b"Submitted on A, relayed to B,\r\n.leading dot kept,\r\n"
                          b"read over IMAP.\r\n")
    parsed = email.message_from_bytes(raw)
    assert parsed["Message-ID"] == msgid and parsed["Subject"] == "from A to B over IMAP"
    # the last hop first: B's Received names A (its EHLO name and address), then A's
    received = [" ".join(v.split()) for v in parsed.get_all("Received")]
    assert re.match(r"from %s \(.*\[127\.0\.0\.2\]\)\s+by %s " % (re.escape(A_HOST),
                                                                 re.escape(B_HOST)),
                    received[0]), received
    assert " with ESMTPS " in received[0] and " for <%s>;" % RCPT in received[0], received
    assert any(" by %s " % A_HOST in r for r in received[1:]), received
    ar = " ".join(parsed.get_all("Authentication-Results")[0].split())
    assert ar.startswith(B_HOST + ";") and "spf=pass" in ar, ar
    c.logout()
