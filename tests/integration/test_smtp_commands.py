"""Banner, EHLO keywords and the reply to every command outside a message body."""

import threading

import pytest

from conftest import (HOSTNAME, Closed, SMTPClient, assert_queued, client_tls_context,
                      make_message)


def ehlo_keywords(reply):
    return [l.upper() for l in reply.lines[1:]]


def test_banner(petrel):
    c = petrel.connect()
    r = c.read_reply()
    assert r.code == 220
    assert r.lines[0].startswith(HOSTNAME + " ESMTP Petrel"), r
    c.quit()


def test_ehlo_lists_extensions_on_mx(petrel):
    c = petrel.connect()
    c.banner()
    r = c.ehlo()
    assert r.lines[0].startswith(HOSTNAME), r
    kw = ehlo_keywords(r)
    for k in ("PIPELINING", "SIZE 1048576", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES",
              "CHUNKING", "DSN", "STARTTLS"):
        assert k in kw, "EHLO lacks %s: %r" % (k, r)
    c.quit()


def test_ehlo_size_follows_config(petrel_factory):
    p = petrel_factory(message_size=54321)
    c = p.session()
    r = c.cmd("EHLO again.example")
    assert "SIZE 54321" in ehlo_keywords(r), r
    c.quit()


def test_ehlo_lists_starttls_on_submission(petrel):
    c = petrel.session("submission", ehlo=None)
    r = c.ehlo()
    assert "STARTTLS" in ehlo_keywords(r), r
    c.quit()


def test_helo(petrel):
    c = petrel.connect()
    c.banner()
    c.expect("HELO client.example", 250)
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.quit()


@pytest.mark.parametrize("line,code,enh", [
    ("NOOP", 250, "2.0.0"),
    ("RSET", 250, "2.0.0"),
    ("VRFY u@example.test", 252, "2.5.0"),
    ("EXPN staff", 502, "5.5.1"),
    ("XYZZY", 500, "5.5.1"),
])
def test_simple_command_replies(petrel, line, code, enh):
    c = petrel.session()
    c.expect(line, code, enh)
    c.expect("NOOP", 250, "2.0.0")
    c.quit()


def test_help(petrel):
    c = petrel.session()
    r = c.cmd("HELP")
    assert r.code == 214, r
    c.quit()


def test_quit(petrel):
    c = petrel.session()
    c.expect("QUIT", 221, "2.0.0")
    c.expect_closed()


def test_mail_before_ehlo(petrel):
    c = petrel.connect()
    c.banner()
    c.expect("MAIL FROM:<a@b.test>", 503, "5.5.1")
    c.quit()


def test_nested_mail(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("MAIL FROM:<a@b.test>", 503, "5.5.1")
    c.quit()


def test_rcpt_before_mail(petrel):
    c = petrel.session()
    c.expect("RCPT TO:<u@example.test>", 503, "5.5.1")
    c.quit()


def test_data_without_rcpt(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("DATA", 503, "5.5.1")
    c.quit()


def test_data_after_all_rcpts_refused(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<x@elsewhere.test>", 554, "5.7.1")
    r = c.expect("DATA", 554, "5.5.1")
    assert "no valid recipients" in r.text.lower(), r
    c.quit()


def test_rset_clears_transaction(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("RSET", 250, "2.0.0")
    c.expect("DATA", 503, "5.5.1")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.quit()


def test_null_sender_accepted(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.quit()


@pytest.mark.parametrize("addr", ["<a@@b.test>", "<a b@b.test>", "a@b.test>", "<a@b.test",
                                  "<@>"])
def test_mail_bad_address_syntax(petrel, addr):
    c = petrel.session()
    c.expect("MAIL FROM:" + addr, 501, "5.1.7")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.quit()


@pytest.mark.parametrize("addr", ["<u@@example.test>", "<u x@example.test>", "<u@example.test",
                                  "<@>"])
def test_rcpt_bad_address_syntax(petrel, addr):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:" + addr, 501, "5.1.3")
    c.expect("RCPT TO:<u@example.test>", 250)
    c.quit()


def test_mail_unknown_parameter(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test> FOO=bar", 555, "5.5.4")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.quit()


def test_rcpt_unknown_parameter(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@example.test> FOO=bar", 555, "5.5.4")
    c.expect("RCPT TO:<u@example.test>", 250)
    c.quit()


def test_mail_size_over_limit(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test> SIZE=1048577", 552, "5.3.4")
    c.expect("MAIL FROM:<a@b.test> SIZE=1048576", 250)
    c.quit()


def test_relay_to_nonlocal_domain_refused(petrel):
    """Unauthenticated on mx: local domains only."""
    c = petrel.session("mx")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<x@elsewhere.test>", 554, "5.7.1")
    c.expect("RCPT TO:<u@other.test>", 250)
    c.quit()


@pytest.mark.parametrize("role", ["submission", "submissions"])
def test_submission_without_auth_refused_at_mail(petrel, role):
    """Unauthenticated on submission: nothing at all, 530 at MAIL (RFC 4954 6)."""
    c = petrel.session(role)
    c.expect("MAIL FROM:<a@b.test>", 530, "5.7.0")
    c.expect("RCPT TO:<u@other.test>", 503, "5.5.1")
    c.quit()


@pytest.mark.parametrize("role", ["submission", "submissions"])
def test_authenticated_relay_to_nonlocal_domain_accepted(petrel, role):
    """Authenticated sessions may relay anywhere."""
    c = petrel.auth_session(role)
    c.expect("MAIL FROM:<a@b.test>", 250, "2.1.0")
    c.expect("RCPT TO:<x@elsewhere.test>", 250, "2.1.5")
    c.expect("RCPT TO:<u@other.test>", 250, "2.1.5")
    c.quit()


def test_local_domain_case_insensitive(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@EXAMPLE.Test>", 250)
    c.quit()


def test_dsn_parameters_accepted(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test> RET=HDRS ENVID=abc", 250)
    c.expect("RCPT TO:<u@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@example.test", 250)
    c.quit()


def test_command_line_too_long(petrel):
    c = petrel.session()
    c.expect("NOOP " + "x" * 600, 500, "5.5.2")
    c.expect("NOOP", 250, "2.0.0")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.quit()


def test_command_line_very_long(petrel):
    """64 KiB of garbage without a line end must not grow a buffer or kill the session."""
    c = petrel.session()
    c.send(b"NOOP " + b"x" * 65536 + b"\r\n")
    r = c.read_reply()
    assert (r.code, r.enhanced) == (500, "5.5.2"), r
    c.expect("NOOP", 250, "2.0.0")
    c.quit()


def test_command_line_at_limit_accepted(petrel):
    """512 octets including CRLF is allowed (RFC 5321 4.5.3.1.4)."""
    c = petrel.session()
    line = "NOOP " + "x" * (512 - 2 - 5)
    assert len(line) + 2 == 512
    c.expect(line, 250, "2.0.0")
    c.quit()


@pytest.mark.parametrize("bad", [b"NOOP\nNOOP\r\n", b"NOOP\rNOOP\r\n", b"NO\nOP\r\n"])
def test_bare_newline_in_command(petrel, bad):
    c = petrel.session()
    c.send(bad)
    r = c.read_reply()
    assert (r.code, r.enhanced) == (500, "5.5.2"), r
    assert c.nothing_pending(0.5), "more than one reply to one CRLF line: %r" % c.buf
    c.expect("NOOP", 250, "2.0.0")
    c.quit()


def test_pipelining_replies_in_order(petrel):
    c = petrel.session()
    c.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\n"
           b"RCPT TO:<x@elsewhere.test>\r\nRCPT TO:<v@example.test>\r\nDATA\r\n")
    codes = [c.read_reply().code for _ in range(5)]
    assert codes == [250, 250, 554, 250, 354], codes
    c.send(b"Subject: p\r\n\r\nhi\r\n.\r\n")
    assert c.read_reply().code == 250
    c.quit()
    petrel.mail("example.test", "u", 1)
    petrel.mail("example.test", "v", 1)


def test_replies_wait_for_a_client_that_reads_late(petrel):
    """A client pipelines far more replies than the socket buffers and the server's
    64 KiB of queued replies hold (40,000 EHLO: 640 KB of commands, over 8 MB of replies,
    twice the 4 MB a socket buffer grows to by default), and reads nothing until it has sent it
    all: the server writes what the socket takes, stops reading, keeps the rest, and once
    the client reads, every reply arrives, in order; then the session goes on."""
    n = 40000
    c = SMTPClient(petrel.host, petrel.ports["mx"], rcvbuf=4096)
    c.banner()
    one = c.ehlo()
    done = threading.Event()
    errors = []

    def write_all():
        try:
            c.sock.sendall(b"EHLO client.example\r\n" * n)
        except OSError as e:
            errors.append(e)
        done.set()

    writer = threading.Thread(target=write_all, daemon=True)
    writer.start()
    # reading starts once the writer is stuck (the server stopped reading) or
    # done: either way the replies have piled up unread
    done.wait(2.0)
    for i in range(n):
        r = c.read_reply(timeout=60)
        assert r.code == 250 and r.lines == one.lines, (i, r)
    assert done.wait(60) and not errors, errors
    writer.join()
    c.expect("NOOP", 250, "2.0.0")
    c.quit()


def test_pipelined_garbage(petrel):
    """A burst of junk commands in one write gets one reply per line, in order."""
    c = petrel.session()
    c.send(b"NOOP\r\nFOO\r\n\r\nRCPT TO:<u@example.test>\r\nNOOP\r\n")
    replies = [c.read_reply() for _ in range(5)]
    assert [r.code for r in replies][:2] == [250, 500], replies
    assert replies[2].code in (500, 501), replies
    assert [r.code for r in replies][3:] == [503, 250], replies
    c.quit()


def test_too_many_errors(petrel_factory):
    p = petrel_factory(errors=3)
    c = p.session()
    replies = []
    for _ in range(4):
        r = c.cmd("BOGUS")
        replies.append(r)
        if r.code == 421:
            break
    assert replies[-1].code == 421 and replies[-1].enhanced == "4.7.0", replies
    assert len(replies) in (3, 4), replies
    assert all((r.code, r.enhanced) == (500, "5.5.1") for r in replies[:-1]), replies
    c.expect_closed()


def test_command_timeout(petrel_factory):
    p = petrel_factory(command=2)
    c = p.session()
    r = c.read_reply(timeout=8)
    assert (r.code, r.enhanced) == (421, "4.4.2"), r
    c.expect_closed()


def test_greeting_timeout_until_first_command(petrel_factory):
    """[timeouts] greeting bounds the wait for the first command after the 220; the
    (longer) command timeout applies from then on."""
    p = petrel_factory(greeting=1, command=300)
    c = p.connect()
    c.banner()
    r = c.read_reply(timeout=30)
    assert (r.code, r.enhanced) == (421, "4.4.2"), r
    c.expect_closed()


def test_greeting_timeout_not_after_first_command(petrel_factory):
    p = petrel_factory(greeting=1, command=300)
    c = p.session()  # banner and EHLO at once
    # longer than the greeting timeout: it must no longer apply (a loaded machine only
    # makes the wait longer, so the check cannot pass by luck)
    assert c.nothing_pending(2.5), c.buf
    c.expect("NOOP", 250)
    c.quit()


def test_refused_on_implicit_tls_says_nothing_in_clear(petrel_factory):
    """RFC 8314 3.3: on port 465 nothing is sent before the TLS handshake: over
    connections_per_ip the connection is closed without the plaintext 421 that the
    other listeners get (as imaps, pop3s and https already did)"""
    import socket
    p = petrel_factory(connections_per_ip=1)
    a = p.connect()
    a.banner()
    with socket.create_connection((p.host, p.ports["submissions"]), timeout=5) as s:
        assert s.recv(200) == b""
    c = p.connect()
    r = c.read_reply()
    assert (r.code, r.enhanced) == (421, "4.7.0"), r
    a.quit()


def test_connections_per_ip(petrel_factory):
    p = petrel_factory(connections_per_ip=2)
    a, b = p.connect(), p.connect()
    a.banner()
    b.banner()
    c = p.connect()
    r = c.read_reply()
    assert (r.code, r.enhanced) == (421, "4.7.0"), r
    c.expect_closed()
    a.quit()
    # A slot frees up once a session ends.
    import time
    for _ in range(50):
        d = p.connect()
        r = d.read_reply()
        if r.code == 220:
            d.quit()
            break
        d.close()
        time.sleep(0.1)
    else:
        raise AssertionError("no 220 after a session ended: %r" % r)
    b.quit()


def test_disconnect_mid_command(petrel):
    c = petrel.session()
    c.send(b"MAIL FROM:<a@b.te")
    c.close()
    d = petrel.session()
    d.expect("NOOP", 250)
    d.quit()


# ------------------------------------------------------------------ address forms

def test_quoted_local_part_is_the_same_mailbox(petrel):
    """RFC 5321 4.1.2: "u"@d is u@d (quotes it does not need are dropped); a quoted form
    that needs them stays a different, unknown, mailbox and is refused safely."""
    c = petrel.session()
    c.expect('MAIL FROM:<"a"@b.test>', 250, "2.1.0")
    c.expect('RCPT TO:<"u"@example.test>', 250, "2.1.5")
    c.expect('RCPT TO:<"\\v"@Example.Test>', 250, "2.1.5")
    c.expect('RCPT TO:<"u x"@example.test>', 550, "5.1.1")
    c.expect('RCPT TO:<"../u"@example.test>', 550, "5.1.1")
    c.expect("DATA", 354)
    c.send(make_message() + b".\r\n")
    assert_queued(c.read_reply())
    c.quit()
    [raw] = petrel.mail("example.test", "u", 1)
    assert b"Return-Path: <a@b.test>" in raw, raw[:300]
    assert len(petrel.mail("example.test", "v", 1)) == 1


def test_trailing_dot_domain(petrel):
    """One trailing dot of a recipient or sender domain is ignored; two are an error."""
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test..>", 501, "5.1.7")
    c.expect("MAIL FROM:<a@b.test.>", 250, "2.1.0")
    c.expect("RCPT TO:<u@example.test..>", 501, "5.1.3")
    c.expect("RCPT TO:<u@example.test.>", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(make_message() + b".\r\n")
    assert_queued(c.read_reply())
    c.quit()
    [raw] = petrel.mail("example.test", "u", 1)
    assert b"Return-Path: <a@b.test>" in raw, raw[:300]


# ------------------------------------------------------------------ AUTH= on MAIL

@pytest.mark.parametrize("value", ["abc", "<bad", "<a@b.test>", "a@", "a..b@c.test",
                                   "a+2", "Postmaster"])
def test_mail_auth_parameter_bad_value(petrel, value):
    """RFC 4954 5: AUTH= is an xtext addr-spec or <>; anything else is 501 5.5.4, whether
    the client is logged in or not."""
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test> AUTH=" + value, 501, "5.5.4")
    c.expect("MAIL FROM:<a@b.test>", 250, "2.1.0")
    c.quit()
    c = petrel.auth_session()
    c.expect("MAIL FROM:<a@b.test> AUTH=" + value, 501, "5.5.4")
    c.quit()


def test_mail_auth_parameter_unauthenticated_is_ignored(petrel):
    """RFC 4954 5: from a client that has not logged in, AUTH=addr is taken as AUTH=<>:
    accepted, and the mail is not attributed to anybody."""
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test> AUTH=sender+40example.test", 250, "2.1.0")
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("RCPT TO:<x@elsewhere.test>", 554, "5.7.1")
    c.quit()


# ------------------------------------------------------------------ enhanced codes

def test_enhanced_codes_on_every_reply_but_3xx(petrel):
    """RFC 2034 4: every 2xx, 4xx and 5xx reply after the greeting, but the EHLO/HELO one,
    has an enhanced code of its own class; 3xx replies (354) have none."""
    c = petrel.session()
    replies = {}
    for line in ["NOOP", "RSET", "VRFY u", "EXPN u", "HELP", "BOGUS", "DATA",
                 "MAIL FROM:<a@b.test>", "RCPT TO:<nobody@example.test>",
                 "RCPT TO:<u@example.test>", "DATA"]:
        replies[line] = c.cmd(line)
    r354 = replies["DATA"]
    assert r354.code == 354 and r354.enhanced is None, r354
    assert not r354.lines[0][:1].isdigit(), r354
    c.send(make_message() + b".\r\n")
    replies["."] = c.read_reply()
    replies["QUIT"] = c.cmd("QUIT")
    for line, r in replies.items():
        if line == "DATA":
            continue
        assert r.enhanced and r.enhanced[0] == str(r.code)[0], (line, r)
        for l in r.lines:
            assert l.startswith(r.enhanced + " "), (line, r)


# ------------------------------------------------------------------ [limits] errors

def test_errors_count_refused_recipients_503_and_538(petrel_factory):
    """[limits] errors counts every 5xx reply: a refused recipient (550 5.1.1, the
    anti-harvesting rule), a command out of sequence (503) and AUTH without TLS (538)
    alike; a 4xx reply does not count.  The last counted reply is followed by 421."""
    p = petrel_factory(errors=3, recipients=1)
    c = p.session()
    c.expect("AUTH PLAIN AGEAYg==", 538, "5.7.11")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<nobody@example.test>", 550, "5.1.1")
    c.expect("RCPT TO:<u@example.test>", 250)
    for _ in range(3):
        c.expect("RCPT TO:<v@example.test>", 452, "4.5.3")  # not counted
    r = c.cmd("MAIL FROM:<a@b.test>")
    assert (r.code, r.enhanced) == (503, "5.5.1"), r
    r = c.read_reply()
    assert (r.code, r.enhanced) == (421, "4.7.0"), r
    c.expect_closed()


# ------------------------------------------------------------------ [limits] recipients

def test_recipient_limit_counts_alias_members(petrel_factory):
    """[limits] recipients bounds the recipients a message is delivered to, after alias
    expansion: an RCPT whose alias would take the message over it gets 452 4.5.3 (RFC 5321
    4.5.3.1.10), and nothing of it is added."""
    p = petrel_factory(recipients=2)
    for member in ("u", "v", "w"):
        p.cli_ok("alias", "add", "team3@example.test", member + "@example.test")
    for member in ("v", "w"):
        p.cli_ok("alias", "add", "team2@example.test", member + "@example.test")
    c = p.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<team3@example.test>", 452, "4.5.3")
    c.expect("RCPT TO:<u@example.test>", 250, "2.1.5")
    c.expect("RCPT TO:<team2@example.test>", 452, "4.5.3")
    c.expect("RCPT TO:<x@example.test>", 250, "2.1.5")
    c.expect("RCPT TO:<v@example.test>", 452, "4.5.3")
    c.expect("DATA", 354)
    c.send(make_message() + b".\r\n")
    assert_queued(c.read_reply())
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<team2@example.test>", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(make_message() + b".\r\n")
    assert_queued(c.read_reply())
    c.quit()
    assert len(p.mail("example.test", "u", 1)) == 1
    assert len(p.mail("example.test", "x", 1)) == 1
    assert len(p.mail("example.test", "v", 1)) == 1
    assert len(p.mail("example.test", "w", 1)) == 1


# ------------------------------------------------------------------ SIGTERM

def test_sigterm_gives_every_open_session_421(petrel):
    """operations.md: on SIGTERM open sessions get 421 4.3.2 before the close: an idle
    smtplib session, one in the middle of DATA, one under STARTTLS, one on 465."""
    import smtplib
    idle = smtplib.SMTP(petrel.host, petrel.mx, timeout=10)
    idle.ehlo("idle.example")
    mid = petrel.session()
    mid.expect("MAIL FROM:<a@b.test>", 250)
    mid.expect("RCPT TO:<u@example.test>", 250)
    mid.expect("DATA", 354)
    mid.send(b"Subject: half\r\n\r\nthe first half of a message\r\n")
    tls = smtplib.SMTP(petrel.host, petrel.sub, timeout=10)
    tls.starttls(context=client_tls_context())
    tls.ehlo("tls.example")
    imp = petrel.connect("submissions")
    imp.banner()
    imp.ehlo()
    # the server saw all of that before the signal
    assert mid.nothing_pending(0.3) and imp.nothing_pending(0.1)
    assert petrel.stop() == 0
    assert idle.getreply() == (421, b"4.3.2 %s Service shutting down" % HOSTNAME.encode())
    assert tls.getreply()[0] == 421
    for c in (mid, imp):
        r = c.read_reply(timeout=5)
        assert (r.code, r.enhanced) == (421, "4.3.2"), r
        c.expect_closed()
    for s in (idle, tls):
        s.close()
    # the half message was never acknowledged and is not delivered
    petrel.start()
    assert petrel.mailbox("example.test", "u") == []


def test_sigterm_after_end_of_data_loses_nothing(petrel):
    """A message whose end of data arrives with the signal is either acknowledged (250,
    then 421) and kept, or refused; a 250 is never lost."""
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("DATA", 354)
    c.send(make_message(subject="at the signal") + b".\r\n")
    assert petrel.stop() == 0
    replies = []
    try:
        while True:
            replies.append(c.read_reply(timeout=5))
    except Closed:
        pass
    codes = [r.code for r in replies]
    assert codes in ([250, 421], [421]), replies
    petrel.start()
    if codes[0] == 250:
        assert len(petrel.mail("example.test", "u", 1)) == 1
