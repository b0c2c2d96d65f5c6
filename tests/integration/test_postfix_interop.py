"""Interop with a real Postfix (issue 4), both ways, with STARTTLS:

- Petrel -> Postfix: Postfix is the MX (found through dnsmasq) for pf.test on
  127.0.0.5:PORT and offers STARTTLS with a self-signed certificate; the message lands in
  Postfix's Maildir with Postfix's Received: header saying TLS was used.
- Postfix -> Petrel: Postfix relays everything to Petrel's MX listener
  (relayhost = [127.0.0.1]:PORT, smtp_tls_security_level = may); the message lands in
  Petrel's Maildir with Petrel's Received: header saying ESMTPS.

Skipped (with the reason) only when /usr/sbin/postfix is missing.
"""

import re
import smtplib
import time
import uuid

from conftest import header_values
from peers import dns_factory, mx_port, postfix_factory, wait_until  # noqa: F401 (fixtures)
from test_relay import message, queue_list, relay_petrel, submit


def test_petrel_relays_to_postfix_over_starttls(petrel_factory, dns_factory, mx_port,
                                                postfix_factory, cert):
    dns = dns_factory(mx=[("pf.test", "mx.pf.test", 10)], hosts=[("mx.pf.test", "127.0.0.5")])
    pf = postfix_factory("127.0.0.5", mx_port, "pf.test", cert)
    p = relay_petrel(petrel_factory, dns, mx_port)
    data, msgid = message("someone@pf.test", subject="to postfix")
    qid = submit(p, ["someone@pf.test"], data)

    def arrived():
        return [m for m in pf.mail() if msgid.encode() in m]
    try:
        [raw] = wait_until(arrived, 30, 0.2, "the message in Postfix's Maildir")
    except AssertionError:
        raise AssertionError("not delivered to Postfix; queue %r\npetrel log:\n%s\npostfix "
                             "log:\n%s" % (queue_list(p), p.log()[-2500:], pf.log()[-2500:]))
    received = header_values(raw, "Received")
    # the first Received: is Postfix's own, for the hop from Petrel
    assert "pf.postfix.test" in received[0], received
    assert "127.0.0.1" in received[0], received
    assert re.search(r"\(using TLSv1\.[23] with cipher ", received[0]), \
        "Postfix's Received: does not show TLS: %r" % received[0]
    assert "with ESMTPS" in received[0], received[0]
    assert b"First line.\n.A line starting with a dot.\n..two dots.\n.\nLast line.\n" in raw
    wait_until(lambda: queue_list(p) == [], 10, 0.2, "Petrel's queue to empty")
    assert re.search(r"delivery queue_id=%s .*status=sent .*tls=\"version=TLSv1\.[23]" % qid,
                     p.log()), p.log()[-2000:]
    time.sleep(1)
    assert len(pf.mail()) == 1


def test_postfix_relays_to_petrel_over_starttls(petrel_factory, dns_factory, mx_port,
                                                postfix_factory, cert):
    dns = dns_factory(mx=[("pf.test", "mx.pf.test", 10)], hosts=[("mx.pf.test", "127.0.0.5")])
    p = relay_petrel(petrel_factory, dns, mx_port)
    pf = postfix_factory("127.0.0.5", mx_port, "pf.test", cert,
                         relayhost="[127.0.0.1]:%d" % p.mx)
    msgid = "<%s@pf.postfix.test>" % uuid.uuid4().hex
    data = ("From: <someone@pf.test>\r\nTo: <u@example.test>\r\nSubject: from postfix\r\n"
            "Message-ID: %s\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\n"
            "Hello from Postfix.\r\n.leading dot\r\n" % msgid).encode()
    with smtplib.SMTP("127.0.0.5", mx_port, timeout=10) as s:
        s.ehlo("client.pf.test")
        s.sendmail("someone@pf.test", ["u@example.test"], data)

    def arrived():
        return [m for m in p.mailbox("example.test", "u") if msgid.encode() in m]
    try:
        [raw] = wait_until(arrived, 30, 0.2, "the message in Petrel's Maildir")
    except AssertionError:
        raise AssertionError("not delivered to Petrel\npostfix log:\n%s\npetrel log:\n%s"
                             % (pf.log()[-3000:], p.log()[-2500:]))
    received = header_values(raw, "Received")
    assert "mx.petrel.test" in received[0], received
    assert "with ESMTPS" in received[0], \
        "Petrel's Received: does not show TLS: %r" % received[0]
    assert "pf.postfix.test" in received[0], received[0]
    # Postfix's own Received: (for our smtplib client) follows Petrel's
    assert len(received) >= 2 and "by pf.postfix.test (Postfix)" in received[1], received
    assert b"Hello from Postfix.\r\n.leading dot\r\n" in raw
    assert re.search(r"tls session=\d+ client=127\.0\.0\.1 version=TLSv1\.[23]", p.wait_log(r"tls session=")), \
        "Petrel did not log a TLS session for Postfix's connection"
    time.sleep(1)
    assert len(p.mailbox("example.test", "u")) == 1
