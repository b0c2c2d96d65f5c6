"""Mailbox quota at local delivery (RFC 9208 limits, RFC 3463 4.2.2): a full mailbox is
refused at RCPT, a message that would pass the limit at the end of data, and when only
some recipients are full the others still get their copy while the queue defers the
full ones.  Limits come from the account's plan or [mailbox] quota_default."""

import smtplib

import pytest

from conftest import assert_queued, dot_stuff, make_message


def messages(p, local, domain="example.test"):
    """The message files of a mailbox's INBOX: new/ and cur/ (the mailbox store moves
    what it has seen into cur/, as the quota count does)."""
    box = p.data_dir / "mail" / domain / local
    return [f for sub in ("new", "cur") if (box / sub).is_dir()
            for f in sorted((box / sub).iterdir()) if f.is_file()]


def deliver(p, rcpts, msg, sender="a@b.test"):
    """One transaction on the mx listener with smtplib; the refused recipients."""
    with smtplib.SMTP(p.host, p.mx, timeout=30) as c:
        return c.sendmail(sender, rcpts, msg)


def test_rcpt_refused_when_full_others_delivered(petrel_factory):
    p = petrel_factory()
    p.cli_ok("plan", "set", "tiny", "--daily-limit", "0", "--quota-messages", "1")
    p.cli_ok("account", "set", "u@example.test", "--plan", "tiny")
    assert deliver(p, ["u@example.test"], make_message(subject="first")) == {}
    p.mail("example.test", "u", 1)

    # u holds its one message: full, refused at RCPT with 452 4.2.2; v takes it
    refused = deliver(p, ["u@example.test", "v@example.test"], make_message(subject="second"))
    assert list(refused) == ["u@example.test"], refused
    code, text = refused["u@example.test"]
    assert code == 452 and text.startswith(b"4.2.2 "), refused
    [raw] = p.mail("example.test", "v", 1)
    assert b"Subject: second" in raw
    assert len(messages(p, "u")) == 1

    # all recipients full: smtplib's "all refused"
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        deliver(p, ["u@example.test"], make_message(subject="third"))
    # the plan's quota raised: accepted again, no restart
    p.cli_ok("plan", "set", "tiny", "--quota-messages", "2")
    assert deliver(p, ["u@example.test"], make_message(subject="fourth")) == {}
    p.wait_log(r"delivered queue_id=\S+ to=u@example.test", count=2)
    assert len(messages(p, "u")) == 2


def test_end_of_data_refused_when_message_passes_quota(petrel_factory):
    # [mailbox] quota_default applies to accounts whose plan sets none
    p = petrel_factory(quota_default="4k")
    small = make_message(subject="small", body=b"x\r\n")
    assert deliver(p, ["u@example.test"], small) == {}
    p.mail("example.test", "u", 1)

    big = make_message(subject="big", body=b"y" * 70 + b"\r\n" * 1 + (b"z" * 70 + b"\r\n") * 80)
    with pytest.raises(smtplib.SMTPDataError) as e:
        deliver(p, ["u@example.test"], big)
    assert e.value.smtp_code == 452 and e.value.smtp_error.startswith(b"4.2.2 "), e.value
    assert len(messages(p, "u")) == 1

    # u and v: accepted for both (one reply for all); v gets it, u's delivery is
    # deferred by the queue with 452 4.2.2 and u keeps only the small one
    p.cli_ok("plan", "set", "big", "--daily-limit", "0", "--quota", "0")
    p.cli_ok("account", "set", "v@example.test", "--plan", "big")
    assert deliver(p, ["u@example.test", "v@example.test"], big) == {}
    [raw] = p.mail("example.test", "v", 1)
    assert b"Subject: big" in raw
    p.wait_log(r"deferred queue_id=\S+ to=u@example.test reason=\"over quota\"")
    qid = p.cli_ok("queue", "list").stdout.split()[0]
    shown = p.cli_ok("queue", "show", qid).stdout
    assert "452 4.2.2 Mailbox full" in shown, shown
    assert len(messages(p, "u")) == 1


def test_queue_counts_the_delivered_file(petrel_factory):
    """The queue's check counts the file as delivery writes it (the message with its
    Received: field, and the Return-Path: and Delivered-To: fields delivery adds): a
    mailbox one byte short of the next file's size defers it; one with room exactly
    takes it."""
    p = petrel_factory()
    assert deliver(p, ["u@example.test"], make_message(subject="same size")) == {}
    p.wait_log(r"delivered queue_id=\S+ to=u@example.test")
    [first] = messages(p, "u")
    size = first.stat().st_size   # the next one's file is as long (same lengths)

    p.cli_ok("plan", "set", "exact", "--daily-limit", "0", "--quota", str(2 * size - 1))
    p.cli_ok("account", "set", "u@example.test", "--plan", "exact")
    assert deliver(p, ["u@example.test"], make_message(subject="same size")) == {}
    p.wait_log(r"deferred queue_id=\S+ to=u@example.test reason=\"over quota\"")
    assert len(messages(p, "u")) == 1

    p.cli_ok("plan", "set", "exact", "--quota", str(2 * size))
    p.cli_ok("queue", "flush")
    p.wait_log(r"delivered queue_id=\S+ to=u@example.test", count=2)
    [a, b] = sorted(f.stat().st_size for f in messages(p, "u"))
    assert a == b == size


def test_sandbox_not_refused_for_a_full_recipient(petrel_factory):
    """A sandboxed account's message is kept in its own mailbox and never reaches its
    recipients (accounts.md): a full local recipient refuses it neither at RCPT nor at
    the end of data, and keeps what it had."""
    p = petrel_factory()
    p.cli_ok("plan", "set", "tiny", "--daily-limit", "0", "--quota-messages", "1")
    p.cli_ok("account", "set", "u@example.test", "--plan", "tiny")
    assert deliver(p, ["u@example.test"], make_message(subject="first")) == {}
    p.mail("example.test", "u", 1)
    p.cli_ok("account", "add", "box@example.test", "--sandbox", "--password-stdin",
             input="box-secret\n")

    c = p.auth_session(user="box@example.test", password="box-secret")
    c.expect("MAIL FROM:<box@example.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(make_message(sender="box@example.test", subject="kept") + b".\r\n")
    assert_queued(c.read_reply())
    c.quit()
    p.wait_log(r"sandboxed queue_id=\S+ account=box@example.test")
    box = p.data_dir / "mail" / "example.test" / "box" / ".Sandbox"
    kept = [f for sub in ("new", "cur") if (box / sub).is_dir() for f in (box / sub).iterdir()]
    assert len(kept) == 1 and b"Subject: kept" in kept[0].read_bytes(), kept
    assert len(messages(p, "u")) == 1


def test_end_of_data_accepted_with_postmaster_beside_a_full_mailbox(petrel_factory):
    """The postmaster is never refused for a quota (RFC 5321 4.5.1): a message to it and
    to a mailbox it would take over the quota is accepted at the end of data (one reply
    for all recipients), and the queue defers the full mailbox."""
    p = petrel_factory(quota_default="4k")
    assert deliver(p, ["u@example.test"], make_message(subject="small", body=b"x\r\n")) == {}
    p.mail("example.test", "u", 1)
    big = make_message(subject="big", body=(b"z" * 70 + b"\r\n") * 80)
    with pytest.raises(smtplib.SMTPDataError):
        deliver(p, ["u@example.test"], big)
    assert deliver(p, ["u@example.test", "postmaster@example.test"], big) == {}
    p.wait_log(r"deferred queue_id=\S+ to=u@example.test reason=\"over quota\"")
    assert len(messages(p, "u")) == 1


@pytest.mark.parametrize("path", ["checks-off", "submission"])
def test_end_of_data_refused_after_other_checks(petrel_factory, path):
    """The end of data's quota check rides on the job that comes after the body (the
    From: check and DKIM signing of a submission), or, on an mx listener with
    receiving_checks = off, where nothing else runs on a worker, is a job of its own.
    Either way a message that would take the mailbox over its quota gets 452 4.2.2,
    nothing is queued, and the session goes on: the next message that fits is
    accepted."""
    p = petrel_factory(start=False, quota_default="4k")
    if path == "checks-off":
        p.config_path.write_text(p.config_path.read_text().replace(
            "[listener mx]\n", "[listener mx]\nreceiving_checks = off\n"))
    p.start()
    assert deliver(p, ["u@example.test"], make_message(subject="small", body=b"x\r\n")) == {}
    p.mail("example.test", "u", 1)
    c = p.auth_session() if path == "submission" else p.connect("mx")
    if path != "submission":
        c.banner()
        c.ehlo("client.example")
    big = make_message(subject="big", body=(b"z" * 70 + b"\r\n") * 80)
    r = c.mail_transaction("a@b.test", ["u@example.test"], big)
    assert r.code == 452 and r.lines[0].startswith("4.2.2 "), r
    assert_queued(c.mail_transaction("a@b.test", ["u@example.test"],
                                     make_message(subject="fits", body=b"y\r\n")))
    c.quit()
    p.wait_log(r"rejected session=\S+ client=\S+ size=\d+ reply=\"452\" reason=\"over quota\"")
    p.wait_log(r"delivered queue_id=\S+ to=u@example.test", count=2)
    assert len(messages(p, "u")) == 2


def test_quota_set_during_a_transaction_applies_at_delivery(petrel_factory):
    """RCPT found u without any quota, so the end of data checks none (a mailbox without
    a limit takes any size): a quota set between RCPT and the end of data applies from
    the next transaction, and at delivery, where the queue defers the message with
    452 4.2.2 (before, the end of data refused it)."""
    p = petrel_factory()
    assert deliver(p, ["u@example.test"], make_message(subject="small", body=b"x\r\n")) == {}
    p.mail("example.test", "u", 1)
    c = p.connect("mx")
    c.banner()
    c.ehlo("client.example")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    p.cli_ok("plan", "set", "tiny", "--daily-limit", "0", "--quota", "4k")
    p.cli_ok("account", "set", "u@example.test", "--plan", "tiny")
    c.expect("DATA", 354)
    c.send(dot_stuff(make_message(subject="big", body=(b"z" * 70 + b"\r\n") * 80)) + b".\r\n")
    assert_queued(c.read_reply())
    # the next transaction sees the quota at the end of data
    big = make_message(subject="big again", body=(b"z" * 70 + b"\r\n") * 80)
    r = c.mail_transaction("a@b.test", ["u@example.test"], big)
    assert r.code == 452 and r.lines[0].startswith("4.2.2 "), r
    c.quit()
    p.wait_log(r"deferred queue_id=\S+ to=u@example.test reason=\"over quota\"")
    assert len(messages(p, "u")) == 1
