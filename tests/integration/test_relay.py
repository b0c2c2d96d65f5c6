"""Store and forward (issue 4): relaying to the recipients' MX hosts found through DNS,
retries, expiry, bounces (RFC 3464 DSNs) and delay notices, against real peers: dnsmasq
serves the .test zones, Postfix's smtp-sink plays the remote MX hosts (127.0.0.2, .3, ...
all on one port, the one [delivery] port names).

Mail is submitted on the submission port (STARTTLS + AUTH as the fixture account
sender@example.test, a local mailbox: its Maildir receives the DSNs)."""

import email
import email.policy
import json
import re
import time
import uuid

import pytest

from conftest import SENDER, dot_stuff, header_values, list_mail
from peers import dns_factory, mx_port, sink_factory, wait_until  # noqa: F401 (fixtures)

SENDER_DOMAIN, SENDER_LOCAL = SENDER.split("@")[1], SENDER.split("@")[0]
MSGID_RE = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.M | re.I)


# --------------------------------------------------------------------------- helpers

def relay_petrel(petrel_factory, dns, port, start=True, **overrides):
    """A Petrel that resolves through DNS and delivers to PORT on every MX, retrying
    after 1 s, then 2 s."""
    cfg = dict(resolver=dns.resolver, special_zones="test", port=port,
               retry_initial=1, retry_max=2, timeout=5)
    cfg.update(overrides)
    return petrel_factory(start=start, **cfg)


def message(to, subject="relay test", body=None, msgid=None, sender=SENDER):
    msgid = msgid or "<%s@client.example>" % uuid.uuid4().hex
    if body is None:
        body = (b"First line.\r\n.A line starting with a dot.\r\n..two dots.\r\n"
                b".\r\nLast line.\r\n")
    hdr = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: %s\r\n"
           "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\n" % (sender, to, subject, msgid))
    return hdr.encode() + body, msgid


def submit(petrel, rcpts, data, sender=SENDER, mail_params="", rcpt_params=""):
    """One message on the submission port, logged in; returns its queue id."""
    c = petrel.auth_session("submission")
    try:
        c.expect("MAIL FROM:<%s>%s" % (sender, (" " + mail_params) if mail_params else ""),
                 250)
        for r in rcpts:
            c.expect("RCPT TO:<%s>%s" % (r, (" " + rcpt_params) if rcpt_params else ""), 250)
        c.expect("DATA", 354)
        c.send(dot_stuff(data) + b".\r\n")
        reply = c.read_reply()
        assert reply.code == 250, reply
        m = re.search(r"queued as ([0-9A-Fa-f]{16})", reply.text)
        assert m, reply
        c.quit()
        return m.group(1)
    finally:
        c.close()


def queue_list(petrel):
    r = petrel.cli_ok("queue", "list", "--json")
    return json.loads(r.stdout)


def queue_entry(petrel, qid):
    for m in queue_list(petrel):
        if m.get("id") == qid:
            return m
    return None


def wait_queue_empty(petrel, timeout=15.0):
    wait_until(lambda: queue_list(petrel) == [], timeout, 0.2, "an empty queue")


def events(petrel):
    r = petrel.cli_ok("events", "--json")
    return json.loads(r.stdout)


def sender_mail(petrel):
    return petrel.mailbox(SENDER_DOMAIN, SENDER_LOCAL)


def wait_sender_mail(petrel, n, timeout=15.0, settle=1.0):
    return petrel.mail(SENDER_DOMAIN, SENDER_LOCAL, n, timeout=timeout, settle=settle)


def parse(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return msg


def all_defects(msg):
    out = []
    for part in msg.walk():
        out += [(part.get_content_type(), d) for d in part.defects]
    return out


def dsn_fields(msg):
    """(per-message fields, [per-recipient fields]) of the message/delivery-status part;
    field names lower-cased."""
    parts = [p for p in msg.walk() if p.get_content_type() == "message/delivery-status"]
    assert len(parts) == 1, "expected one message/delivery-status part: %s" % (
        [p.get_content_type() for p in msg.walk()],)
    blocks = parts[0].get_payload()
    assert isinstance(blocks, list) and len(blocks) >= 2, blocks
    def fields(b):
        return {k.lower(): str(v) for k, v in b.items()}
    return fields(blocks[0]), [fields(b) for b in blocks[1:]]


def check_dsn(raw, action, status):
    """Common RFC 3464 / RFC 6522 checks; returns (msg, per-message, per-recipient)."""
    assert raw.startswith(b"Return-Path: <>\r\n") or raw.startswith(b"Return-Path: <>\n"), \
        "DSN's envelope sender is not <>: %r" % raw[:200]
    msg = parse(raw)
    assert all_defects(msg) == [], all_defects(msg)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status", msg["Content-Type"]
    assert str(msg["Auto-Submitted"]).strip().lower().startswith("auto-replied"), \
        msg["Auto-Submitted"]
    per_msg, per_rcpt = dsn_fields(msg)
    assert "reporting-mta" in per_msg, per_msg
    for r in per_rcpt:
        assert r.get("action") == action, r
        assert r.get("status") == status, r
    return msg, per_msg, per_rcpt


def dump_ids(sink):
    ids = []
    for raw in sink.dumps():
        m = MSGID_RE.search(raw)
        assert m, "dump without Message-ID: %r" % raw[:400]
        ids.append(m.group(1).decode())
    return ids


# --------------------------------------------------------------------------- delivery

def test_relay_to_mx_found_in_dns(petrel_factory, dns_factory, mx_port, sink_factory):
    dns = dns_factory(mx=[("remote.test", "mx1.remote.test", 10)],
                      hosts=[("mx1.remote.test", "127.0.0.2")])
    sink = sink_factory("127.0.0.2", mx_port)
    p = relay_petrel(petrel_factory, dns, mx_port)
    data, msgid = message("rcpt@remote.test")
    qid = submit(p, ["rcpt@remote.test"], data)

    dumps = sink.wait_dumps(1, timeout=15, settle=1.5)
    assert len(dumps) == 1, "delivered %d times" % len(dumps)
    d = dumps[0]
    assert b"X-Mail-Args: <%s>" % SENDER.encode() in d, d[:400]
    assert b"X-Rcpt-Args: <rcpt@remote.test>" in d, d[:400]
    assert msgid.encode() in d
    # smtp-sink writes the message unstuffed with LF line ends (and one more LF after
    # the end of data): the body arrives intact, dots and all
    body = d[d.index(b"\n\n", d.index(b"Message-ID")) + 2:]
    assert body == (b"First line.\n.A line starting with a dot.\n..two dots.\n.\nLast line.\n"
                    b"\n"), body
    wait_queue_empty(p)
    evs = [e for e in events(p) if e.get("queue_id") == qid]
    delivered = [e for e in evs if e["type"] == "delivered"]
    assert len(delivered) == 1, evs
    assert delivered[0]["recipient"] == "rcpt@remote.test", delivered[0]
    assert delivered[0]["code"] == 250, delivered[0]
    assert "delivered" in p.log() and "relay=mx1.remote.test" in p.log()
