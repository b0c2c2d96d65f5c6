"""DATA: delivery to the Maildir, trace headers, dot-stuffing, limits, bad line endings."""

import re

import pytest

from conftest import (HOSTNAME, assert_queued, header_values, make_message, split_message)


def send_data(c, body_bytes_on_wire, sender="a@b.test", rcpts=("u@example.test",)):
    """MAIL/RCPT/DATA, then write BODY_BYTES_ON_WIRE verbatim; return the end-of-data reply."""
    c.expect("MAIL FROM:<%s>" % sender, 250)
    for r in rcpts:
        c.expect("RCPT TO:<%s>" % r, 250)
    c.expect("DATA", 354)
    c.send(body_bytes_on_wire)
    return c.read_reply()


def sentinel(petrel, c, local="u"):
    """Deliver a marked message in the same session; return the mailbox once it arrived.

    Used to prove that an earlier refused message was NOT delivered: it would have been
    queued before the sentinel."""
    msg = make_message(subject="sentinel", to="%s@example.test" % local)
    assert_queued(c.mail_transaction("a@b.test", ["%s@example.test" % local], msg))
    box = petrel.mail("example.test", local, 1, settle=0.5)
    return box


def test_delivery_and_queue_id(petrel):
    c = petrel.session()
    msg = make_message(subject="hello")
    qid = assert_queued(c.mail_transaction("a@b.test", ["u@example.test"], msg))
    c.quit()
    [raw] = petrel.mail("example.test", "u", 1)
    assert raw.endswith(msg), raw
    assert qid


def test_trace_headers(petrel):
    c = petrel.session(ehlo="helo.client.example")
    msg = make_message()
    qid = assert_queued(c.mail_transaction("sender@b.test", ["u@example.test"], msg))
    c.quit()
    [raw] = petrel.mail("example.test", "u", 1)
    lines, _ = split_message(raw)
    assert lines[0] == "Return-Path: <sender@b.test>", lines[:3]
    assert lines[1] == "Delivered-To: u@example.test", lines[:3]
    assert lines[2].startswith("Received: "), lines[:3]
    rec = lines[2]
    assert rec.startswith("Received: from helo.client.example ("), rec
    assert "[127.0.0.1])" in rec, rec
    assert re.search(r"by %s \(Petrel\) with ESMTP id %s\b" % (re.escape(HOSTNAME), qid), rec), rec
    assert "for <u@example.test>;" in rec, rec
    assert re.search(r";\s*\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", rec), rec
    assert "version=TLS" not in rec


def test_one_copy_per_recipient_mailbox(petrel):
    c = petrel.session()
    msg = make_message()
    assert_queued(c.mail_transaction("a@b.test", ["u@example.test", "v@other.test"], msg))
    c.quit()
    [a] = petrel.mail("example.test", "u", 1)
    [b] = petrel.mail("other.test", "v", 1)
    assert header_values(a, "Delivered-To") == ["u@example.test"]
    assert header_values(b, "Delivered-To") == ["v@other.test"]


def test_local_part_lowercased_and_tag_stripped(petrel):
    c = petrel.session()
    assert_queued(c.mail_transaction("a@b.test", ["Alice+news@example.test"], make_message()))
    c.quit()
    petrel.mail("example.test", "alice", 1)


def test_dot_stuffing(petrel):
    c = petrel.session()
    wire = b"Subject: dots\r\n\r\nfirst\r\n..\r\n..hidden\r\n...\r\nlast\r\n.\r\n"
    assert_queued(send_data(c, wire))
    c.quit()
    [raw] = petrel.mail("example.test", "u", 1)
    _, body = split_message(raw)
    assert re.split(rb"\r?\n", body)[:5] == [b"first", b".", b".hidden", b"..", b"last"], body


def test_empty_body_and_rset_between_messages(petrel):
    c = petrel.session()
    assert_queued(send_data(c, b".\r\n"))
    c.expect("RSET", 250)
    assert_queued(send_data(c, b"Subject: two\r\n\r\nx\r\n.\r\n"))
    c.quit()
    petrel.mail("example.test", "u", 2)


def test_eight_bit_body(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test> BODY=8BITMIME", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("DATA", 354)
    body = "Subject: 8bit\r\n\r\nGrüße, δοκιμή\r\n".encode()
    c.send(body + b".\r\n")
    assert_queued(c.read_reply())
    c.quit()
    [raw] = petrel.mail("example.test", "u", 1)
    assert raw.endswith(body)


def test_message_over_size_limit(petrel_factory):
    p = petrel_factory(message_size=10000)
    c = p.session()
    big = make_message(body=(b"x" * 70 + b"\r\n") * 300)
    assert len(big) > 20000
    r = send_data(c, big + b".\r\n")
    assert (r.code, r.enhanced) == (552, "5.3.4"), r
    box = sentinel(p, c)
    c.quit()
    assert len(box) == 1 and b"sentinel" in box[0], "oversized message was delivered"


def test_message_just_under_size_limit(petrel_factory):
    p = petrel_factory(message_size=10000)
    c = p.session()
    msg = make_message(body=(b"y" * 70 + b"\r\n") * 100)
    assert len(msg) < 9000
    assert_queued(send_data(c, msg + b".\r\n"))
    c.quit()
    p.mail("example.test", "u", 1)


def test_text_line_too_long(petrel):
    c = petrel.session()
    r = send_data(c, b"Subject: long\r\n\r\n" + b"z" * 1200 + b"\r\n.\r\n")
    assert 500 <= r.code < 600 and r.enhanced and r.enhanced.startswith("5."), r
    assert (r.code, r.enhanced) == (554, "5.6.0"), "expected 554 5.6.0: %r" % r
    box = sentinel(petrel, c)
    c.quit()
    assert len(box) == 1 and b"sentinel" in box[0], "message with a 1200-octet line delivered"


def test_text_line_at_limit_accepted(petrel):
    c = petrel.session()
    line = b"w" * 998
    assert_queued(send_data(c, b"Subject: ok\r\n\r\n" + line + b"\r\n.\r\n"))
    c.quit()
    [raw] = petrel.mail("example.test", "u", 1)
    assert line + b"\r\n" in raw or line + b"\n" in raw


def test_nul_byte_in_data(petrel):
    c = petrel.session()
    r = send_data(c, b"Subject: nul\r\n\r\nbad\x00byte\r\n.\r\n")
    assert (r.code, r.enhanced) == (554, "5.6.0"), r
    box = sentinel(petrel, c)
    c.quit()
    assert len(box) == 1 and b"sentinel" in box[0], "message with NUL delivered"


def test_too_many_recipients(petrel_factory):
    p = petrel_factory(recipients=3)
    c = p.session()
    # Local domains accept only existing mailboxes (conftest.MAILBOXES).
    boxes = ["u", "v", "w", "x", "s"]
    c.expect("MAIL FROM:<a@b.test>", 250)
    for b in boxes[:3]:
        c.expect("RCPT TO:<%s@example.test>" % b, 250)
    for b in boxes[3:]:
        c.expect("RCPT TO:<%s@example.test>" % b, 452, "4.5.3")
    c.expect("DATA", 354)
    c.send(make_message() + b".\r\n")
    assert_queued(c.read_reply())
    c.quit()
    for b in boxes[:3]:
        p.mail("example.test", b, 1)
    assert p.mailbox("example.test", "x") == [] and p.mailbox("example.test", "s") == []


def test_disconnect_mid_data_delivers_nothing(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: cut\r\n\r\npartial line")
    c.close()
    d = petrel.session()
    box = sentinel(petrel, d)
    d.quit()
    assert len(box) == 1 and b"sentinel" in box[0], "a half-received message was delivered"


def test_slow_client_data_in_small_pieces(petrel):
    """Data trickling in a few bytes at a time, with the end marker split across writes."""
    import time
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("DATA", 354)
    wire = b"Subject: slow\r\n\r\nline one\r\n..two\r\n.\r\n"
    for i in range(0, len(wire), 3):
        c.send(wire[i:i + 3])
        time.sleep(0.01)
    assert_queued(c.read_reply())
    c.quit()
    [raw] = petrel.mail("example.test", "u", 1)
    assert re.search(rb"line one\r?\n\.two\r?\n$", raw), raw


# ---------------------------------------------------------------- bare CR / LF, smuggling

SMUGGLE_ENDINGS = {
    "lf-dot-lf": b"\n.\n",
    "lf-dot-crlf": b"\n.\r\n",
    "cr-dot-cr": b"\r.\r",
    "crlf-dot-lf": b"\r\n.\n",
    "cr-dot-crlf": b"\r.\r\n",
    "crlf-dot-cr": b"\r\n.\r",
}

SMUGGLED_TX = (b"MAIL FROM:<evil@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n"
               b"Subject: SMUGGLED\r\n\r\nsmuggled body\r\n")


def smuggle_payload(ending):
    return b"Subject: outer\r\n\r\nouter body" + ending + SMUGGLED_TX


@pytest.mark.parametrize("name", sorted(SMUGGLE_ENDINGS))
def test_smuggling_rejected(petrel, name):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("DATA", 354)
    c.send(smuggle_payload(SMUGGLE_ENDINGS[name]))
    assert c.nothing_pending(0.7), "server answered before the real CRLF.CRLF: %r" % c.buf
    c.send(b"\r\n.\r\n")
    r = c.read_reply()
    assert (r.code, r.enhanced) == (550, "5.5.2"), r
    assert c.nothing_pending(0.7), "more than one reply to one message: %r" % c.buf
    c.expect("NOOP", 250)
    box = sentinel(petrel, c)
    c.quit()
    assert len(box) == 1 and b"sentinel" in box[0], [b[:300] for b in box]


@pytest.mark.parametrize("name", sorted(SMUGGLE_ENDINGS))
def test_smuggling_one_write(petrel, name):
    """Whole attack including the real end marker in one packet: exactly one reply."""
    c = petrel.session()
    c.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    assert [c.read_reply().code for _ in range(3)] == [250, 250, 354]
    c.send(smuggle_payload(SMUGGLE_ENDINGS[name]) + b"\r\n.\r\n")
    r = c.read_reply()
    assert (r.code, r.enhanced) == (550, "5.5.2"), r
    assert c.nothing_pending(0.7), "extra replies (a second message?): %r" % c.buf
    c.quit()
    box = sentinel(petrel, petrel.session())
    assert len(box) == 1 and b"SMUGGLED" not in box[0], [b[:300] for b in box]


def expected_delivery(wire):
    """The message bytes a server must store for DATA bytes WIRE ending in CRLF.CRLF."""
    assert wire.endswith(b"\r\n.\r\n")
    lines = wire[:-3].split(b"\r\n")
    return b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines)


@pytest.mark.parametrize("name", sorted(SMUGGLE_ENDINGS))
def test_bare_newline_accept_single_message(petrel_factory, name):
    p = petrel_factory(bare_newline="accept")
    c = p.session()
    wire = smuggle_payload(SMUGGLE_ENDINGS[name]) + b"\r\n.\r\n"
    r = send_data(c, wire)
    assert_queued(r)
    assert c.nothing_pending(0.7), "extra replies (a second message?): %r" % c.buf
    c.quit()
    box = p.mail("example.test", "u", 1, settle=0.7)
    assert len(box) == 1, "message split in %d: %r" % (len(box), [b[:300] for b in box])
    assert box[0].endswith(expected_delivery(wire)), box[0]


def bare_lf_mail(lines=60):
    """A real-looking message written with Unix line ends: far over 1000 bytes in all,
    every line short."""
    text = b"Subject: unix line ends\nFrom: <a@b.test>\n\n"
    text += b"".join(b"line %03d of a message written by a Unix tool, LF only\n" % i
                     for i in range(lines))
    assert len(text) > 2000
    return text


def test_bare_newline_accept_lf_only_mail(petrel_factory):
    """bare_newline = accept: a bare LF ends a line for the 1000-octet limit, so a long
    LF-only message is taken whole (the LF still never ends the data)."""
    p = petrel_factory(bare_newline="accept")
    c = p.session()
    text = bare_lf_mail()
    assert_queued(send_data(c, text + b"\r\n.\r\n"))
    c.quit()
    box = p.mail("example.test", "u", 1, settle=0.5)
    assert len(box) == 1 and box[0].endswith(text + b"\r\n"), box[0][-200:]


def test_bare_newline_accept_long_lf_line_refused(petrel_factory):
    """A bare-LF line over the limit is still too long."""
    p = petrel_factory(bare_newline="accept")
    c = p.session()
    r = send_data(c, b"Subject: x\n\n" + b"y" * 1000 + b"\nshort\r\n.\r\n")
    assert (r.code, r.enhanced) == (554, "5.6.0") and "longer than the limit" in r.text, r
    c.quit()


@pytest.mark.parametrize("bad", [b"a\nb", b"a\rb", b"trailing\r"])
def test_bare_newline_reject_single(petrel, bad):
    c = petrel.session()
    r = send_data(c, b"Subject: bare\r\n\r\n" + bad + b"\r\n.\r\n")
    assert (r.code, r.enhanced) == (550, "5.5.2"), r
    box = sentinel(petrel, c)
    c.quit()
    assert len(box) == 1 and b"sentinel" in box[0]


def test_huge_line_without_crlf_in_data(petrel_factory):
    """2 MiB without a line end in DATA, over a 100 kB message limit: refused, server alive."""
    p = petrel_factory(message_size=100000)
    c = p.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: huge\r\n\r\n" + b"h" * (2 * 1024 * 1024) + b"\r\n.\r\n")
    r = c.read_reply(timeout=30)
    assert (r.code, r.enhanced) in ((552, "5.3.4"), (554, "5.6.0")), r
    box = sentinel(p, c)
    c.quit()
    assert len(box) == 1 and b"sentinel" in box[0]


def test_many_concurrent_sessions(petrel):
    """60 sessions open at once all get a banner; each sends one message."""
    clients = [petrel.connect() for _ in range(60)]
    for c in clients:
        c.banner()
        c.ehlo()
    for i, c in enumerate(clients):
        c.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    for c in clients:
        assert [c.read_reply().code for _ in range(3)] == [250, 250, 354]
        c.send(make_message() + b".\r\n")
    for c in clients:
        assert_queued(c.read_reply())
        c.quit()
    assert len(petrel.mail("example.test", "u", 60, timeout=20)) == 60


def test_data_timeout_closes(petrel_factory):
    """A client that stops sending mid-DATA is dropped (data_block timeout), nothing delivered."""
    p = petrel_factory(data_block=2)
    c = p.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: stalled\r\n\r\npart")
    r = c.read_reply(timeout=8)
    assert (r.code, r.enhanced) == (421, "4.4.2"), r
    c.expect_closed()
    d = p.session()
    box = sentinel(p, d)
    d.quit()
    assert len(box) == 1 and b"sentinel" in box[0]
