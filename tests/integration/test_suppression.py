"""Suppressions (issue 12 item 7): a hard bounce from a remote server puts the recipient
on the sending account's bounces list; later mail of that account to a listed address is
dropped (event "dropped", no DSN) and never reaches the peer; removed from the list
(petrel suppression del, or the HTTP API) it is delivered again; other accounts are not
affected.  Postfix's smtp-sink plays the remote MX (127.0.0.2), dnsmasq serves remote.test;
mail is submitted on the submission port as the fixture account."""

import json
import time

from conftest import SENDER
from peers import dns_factory, mx_port, sink_factory, wait_until  # noqa: F401
from test_relay import (events, message, relay_petrel, sender_mail, submit,
                        wait_queue_empty, wait_sender_mail)

GONE = "gone@remote.test"
OTHER = "other@example.test"
OTHER_PASSWORD = "0ther-pass"


def suppressions(p, account=SENDER, kind="bounces"):
    r = p.cli_ok("suppression", "list", account, "--type", kind, "--json")
    return json.loads(r.stdout)


def submit_as(p, user, password, rcpts, data):
    c = p.auth_session("submission", user=user, password=password)
    try:
        reply = c.mail_transaction(user, rcpts, data)
        assert reply.code == 250, reply
        c.quit()
    finally:
        c.close()


def bounced_then_listed(petrel_factory, dns_factory, mx_port, sink_factory):
    """A Petrel whose SENDER saw GONE hard-bounce (550 5.1.1), and the sink, now
    accepting everything."""
    dns = dns_factory(mx=[("remote.test", "mx1.remote.test", 10)],
                      hosts=[("mx1.remote.test", "127.0.0.2")])
    sink = sink_factory("127.0.0.2", mx_port, "-f", "RCPT", "-B", "550 5.1.1 no such user")
    p = relay_petrel(petrel_factory, dns, mx_port, retry_initial=3600, retry_max=3600)
    data, _ = message(GONE)
    qid = submit(p, [GONE], data)
    wait_until(lambda: "bounced queue_id=%s" % qid in p.log(), 15, 0.1, "the bounce")
    wait_sender_mail(p, 1, timeout=10, settle=0)  # its DSN
    wait_queue_empty(p)
    sink.restart()
    return p, sink


def test_hard_bounce_lists_the_address_and_later_mail_is_dropped(
        petrel_factory, dns_factory, mx_port, sink_factory):
    p, sink = bounced_then_listed(petrel_factory, dns_factory, mx_port, sink_factory)
    [entry] = suppressions(p)
    assert entry["email"] == GONE, entry
    assert entry["status"] == "5.1.1", entry
    assert "550 5.1.1 no such user" in entry["reason"], entry
    assert abs(entry["created"] - time.time()) < 60, entry
    assert suppressions(p, kind="unsubscribes") == []

    # the next message to it (and to one that is fine): only the other goes out
    data, msgid = message("ok@remote.test", subject="second")
    qid = submit(p, ["Gone@REMOTE.test", "ok@remote.test"], data)
    [dump] = sink.wait_dumps(1, timeout=15)
    assert msgid.encode() in dump
    assert b"ok@remote.test" in dump and b"gone@remote.test" not in dump.lower(), dump[:600]
    wait_queue_empty(p)
    evs = [e for e in events(p) if e.get("queue_id") == qid]
    dropped = [e for e in evs if e["type"] == "dropped"]
    assert len(dropped) == 1 and dropped[0]["reason"] == "Bounced Address", evs
    assert dropped[0]["recipient"].lower() == GONE, dropped
    assert not [e for e in evs if e["type"] == "bounced"], evs
    assert "dropped queue_id=%s" % qid in p.log()
    time.sleep(1)
    assert len(sender_mail(p)) == 1, "a DSN for a dropped recipient"

    # another account's mail to the same address is not affected
    p.cli_ok("account", "add", OTHER, "--password-stdin", input=OTHER_PASSWORD + "\n")
    data, msgid = message(GONE, subject="from another account", sender=OTHER)
    submit_as(p, OTHER, OTHER_PASSWORD, [GONE], data)
    dumps = sink.wait_dumps(2, timeout=15)
    assert msgid.encode() in dumps[1] and b"gone@remote.test" in dumps[1]

    # deleted from the list: delivered again
    p.cli_ok("suppression", "del", SENDER, GONE)
    assert suppressions(p) == []
    data, msgid = message(GONE, subject="after the delete")
    submit(p, [GONE], data)
    dumps = sink.wait_dumps(3, timeout=15)
    assert msgid.encode() in dumps[2]


def test_any_list_drops_and_says_why(petrel_factory, dns_factory, mx_port, sink_factory):
    dns = dns_factory(mx=[("remote.test", "mx1.remote.test", 10)],
                      hosts=[("mx1.remote.test", "127.0.0.2")])
    sink = sink_factory("127.0.0.2", mx_port)
    p = relay_petrel(petrel_factory, dns, mx_port, retry_initial=3600, retry_max=3600)
    p.cli_ok("suppression", "add", SENDER, "u@remote.test", "--type", "unsubscribes")
    p.cli_ok("suppression", "add", SENDER, "s@remote.test", "--type", "spam_reports")
    p.cli_ok("suppression", "add", SENDER, "b@remote.test", "--type", "blocks",
             "--reason", "blocked by hand")
    [b] = suppressions(p, kind="blocks")
    assert b["email"] == "b@remote.test" and b["reason"] == "blocked by hand", b
    data, _ = message("u@remote.test")
    qid = submit(p, ["u@remote.test", "s@remote.test", "b@remote.test"], data)
    wait_until(lambda: len([e for e in events(p) if e.get("queue_id") == qid
                            and e["type"] == "dropped"]) == 3, 15, 0.2, "three drops")
    reasons = sorted(e["reason"] for e in events(p)
                     if e.get("queue_id") == qid and e["type"] == "dropped")
    assert reasons == ["Blocked Address", "Spam Reporting Address", "Unsubscribed Address"]
    wait_queue_empty(p)
    time.sleep(1)
    assert sink.dumps() == []
    assert sender_mail(p) == []


def test_cli_refuses_bad_input(petrel):
    r = petrel.cli("suppression", "add", SENDER, "not-an-address")
    assert r.returncode == 1, r
    r = petrel.cli("suppression", "list", SENDER, "--type", "spam")
    assert r.returncode == 2 and "--type" in r.stderr, r
    r = petrel.cli("suppression", "list", "nobody@example.test")
    assert r.returncode == 1, r
    r = petrel.cli("suppression", "del", SENDER, "x@remote.test")
    assert r.returncode == 1, r
    petrel.cli_ok("suppression", "add", SENDER, "x@remote.test")
    petrel.cli_ok("suppression", "add", SENDER, "y@remote.test")
    r = petrel.cli_ok("suppression", "del", SENDER, "--all")
    assert "2 addresses removed" in r.stderr, r
    assert suppressions(petrel) == []
