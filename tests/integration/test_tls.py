"""STARTTLS (RFC 3207), implicit TLS (RFC 8314), protocol versions, Received: TLS details."""

import re
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import (SENDER, SENDER_PASSWORD, Closed, SMTPClient, assert_queued,
                      client_tls_context, make_message, split_message)


def ehlo_keywords(reply):
    return [l.upper() for l in reply.lines[1:]]


def received(raw):
    lines, _ = split_message(raw)
    return [l for l in lines if l.startswith("Received:")][0]


@pytest.mark.parametrize("role", ["mx", "submission"])
def test_starttls_then_ehlo_again(petrel, role):
    c = petrel.session(role)
    r = c.starttls()
    assert (r.code, r.enhanced) == (220, "2.0.0") and "Ready to start TLS" in r.text, r
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    r = c.ehlo()
    assert "STARTTLS" not in ehlo_keywords(r), r
    c.close()  # QUIT over TLS: test_quit_after_starttls


@pytest.mark.parametrize("role", ["mx", "submission"])
def test_quit_after_starttls(petrel, role):
    c = petrel.session(role)
    c.starttls()
    c.ehlo()
    c.expect("QUIT", 221, "2.0.0")
    c.expect_closed()


def test_quit_after_starttls_without_ehlo(petrel):
    c = petrel.session()
    c.starttls()
    c.expect("QUIT", 221, "2.0.0")
    c.expect_closed()


@pytest.mark.parametrize("role", ["mx", "submission", "submissions"])
def test_stop_with_open_tls_session(petrel, role):
    """SIGTERM while a client sits in a TLS session (STARTTLS or implicit): the server says
    421 4.3.2 inside TLS (operations.md), ends TLS, exits 0, and frees everything (the
    teardown checks LeakSanitizer)."""
    c = petrel.session(role)
    if role != "submissions":
        c.starttls()
    c.ehlo()
    assert petrel.stop() == 0
    r = c.read_reply(timeout=5)
    assert (r.code, r.enhanced) == (421, "4.3.2"), r
    c.expect_closed()
    c.close()


def test_quit_on_submissions(petrel):
    c = petrel.session("submissions")
    c.expect("QUIT", 221, "2.0.0")
    c.expect_closed()


def test_pipelined_commands_after_tls_all_answered(petrel):
    """EHLO, NOOP and QUIT in one TLS record: three replies, then close."""
    c = petrel.session()
    c.starttls()
    c.send(b"EHLO pipe.example\r\nNOOP\r\nQUIT\r\n")
    assert [c.read_reply().code for _ in range(3)] == [250, 250, 221]
    c.expect_closed()


def test_starttls_resets_state(petrel):
    c = petrel.session()
    c.starttls()
    c.expect("MAIL FROM:<a@b.test>", 503, "5.5.1")
    c.ehlo()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.close()  # QUIT over TLS: test_quit_after_starttls


def test_starttls_drops_transaction(petrel):
    """A MAIL given before STARTTLS does not survive it."""
    c = petrel.session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RSET", 250)
    c.starttls()
    c.ehlo()
    c.expect("RCPT TO:<u@example.test>", 503, "5.5.1")
    c.close()  # QUIT over TLS: test_quit_after_starttls


def test_starttls_twice(petrel):
    c = petrel.session()
    c.starttls()
    c.ehlo()
    c.expect("STARTTLS", 503, "5.5.1")
    c.expect("NOOP", 250)
    c.close()  # QUIT over TLS: test_quit_after_starttls


def test_starttls_with_pipelined_command(petrel):
    c = petrel.session()
    c.send(b"STARTTLS\r\nRSET\r\n")
    r = c.read_reply()
    assert (r.code, r.enhanced) == (554, "5.5.1"), r
    c.expect_closed()
    assert not c.buf, "reply to the pipelined RSET or other data: %r" % c.buf


def test_starttls_with_pipelined_mail(petrel):
    c = petrel.session()
    c.send(b"STARTTLS\r\nMAIL FROM:<a@b.test>\r\n")
    r = c.read_reply()
    assert (r.code, r.enhanced) == (554, "5.5.1"), r
    c.expect_closed()
    assert not c.buf, c.buf


def test_submissions_implicit_tls_no_starttls(petrel):
    c = petrel.connect("submissions")
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    c.banner()
    r = c.ehlo()
    assert "STARTTLS" not in ehlo_keywords(r), r
    c.expect("STARTTLS", 503, "5.5.1")
    c.quit()


def test_submissions_plaintext_client_gets_nothing_useful(petrel):
    """A plaintext client on the implicit-TLS port never sees an SMTP banner."""
    c = SMTPClient(petrel.host, petrel.smtps, timeout=2)
    c.send(b"EHLO x\r\n")
    data = b""
    try:
        while True:
            chunk = c.sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (OSError,):
        pass
    c.close()
    assert b"220 " not in data and b"250" not in data, data
    # Server still healthy.
    d = petrel.connect("submissions")
    d.banner()
    d.quit()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3],
                         ids=["tls1.2", "tls1.3"])
def test_tls_versions_accepted(petrel, version):
    c = petrel.session()
    c.starttls(client_tls_context(version, version))
    assert c.sock.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    c.ehlo()
    c.close()  # QUIT over TLS: test_quit_after_starttls


@pytest.mark.parametrize("flag", ["-tls1_1", "-tls1"])
def test_old_tls_versions_refused(petrel, flag):
    p = subprocess.run(["openssl", "s_client", flag, "-cipher", "DEFAULT@SECLEVEL=0",
                        "-starttls", "smtp", "-connect", "127.0.0.1:%d" % petrel.mx],
                       input=b"QUIT\r\n", capture_output=True, timeout=20)
    out = (p.stdout + p.stderr).decode(errors="replace")
    # The client itself must have been able to offer the old version, or the test proves nothing.
    assert "no protocols available" not in out, out
    assert "CONNECTED" in out, out
    established = re.search(r"^New, (TLS|SSL)v[\d.]+, Cipher is (?!\(NONE\))", out, re.M)
    assert not established, "handshake with %s succeeded:\n%s" % (flag, out)


def test_received_header_tls_details(petrel):
    c = petrel.session()
    c.starttls(client_tls_context(ssl.TLSVersion.TLSv1_3))
    c.ehlo()
    qid = assert_queued(c.mail_transaction("a@b.test", ["u@example.test"], make_message()))
    c.close()  # QUIT over TLS: test_quit_after_starttls
    [raw] = petrel.mail("example.test", "u", 1)
    rec = received(raw)
    assert re.search(r"with ESMTPS id %s\b" % qid, rec), rec
    assert "version=TLSv1.3" in rec and "cipher=" in rec, rec


def test_received_header_tls12(petrel):
    c = petrel.session("submission")
    c.starttls(client_tls_context(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2))
    c.ehlo()
    c.auth_plain(SENDER, SENDER_PASSWORD)  # submission requires AUTH before MAIL
    assert_queued(c.mail_transaction("a@b.test", ["u@example.test"], make_message()))
    c.close()  # QUIT over TLS: test_quit_after_starttls
    [raw] = petrel.mail("example.test", "u", 1)
    rec = received(raw)
    assert " with ESMTPS " in rec and "version=TLSv1.2" in rec and "cipher=" in rec, rec


def test_smtputf8_sender(petrel):
    c = petrel.session()
    c.expect("MAIL FROM:<δοκιμή@παράδειγμα.test> SMTPUTF8", 250)
    c.expect("RSET", 250)
    r = c.cmd("MAIL FROM:<δοκιμή@παράδειγμα.test>")
    assert 500 <= r.code < 600, r
    assert (r.code, r.enhanced) in ((501, "5.1.7"), (553, "5.6.7")), r
    c.quit()


def test_smtputf8_local_part_delivered(petrel):
    """The mailbox UTF8_MAILBOX is seeded by the mailbox_db fixture with the CLI."""
    c = petrel.session()
    c.expect("MAIL FROM:<δοκιμή@παράδειγμα.test> SMTPUTF8", 250)
    c.expect("RCPT TO:<δοκιμή@example.test>", 250)
    c.expect("DATA", 354)
    msg = "From: <δοκιμή@παράδειγμα.test>\r\nSubject: ünïcode\r\n\r\nΓειά\r\n".encode()
    c.send(msg + b".\r\n")
    qid = assert_queued(c.read_reply())
    c.quit()
    [raw] = petrel.mail("example.test", "δοκιμή", 1)
    assert raw.endswith(msg)
    rec = received(raw)
    assert re.search(r"with UTF8SMTP id %s\b" % qid, rec), rec
    assert raw.decode().startswith("Return-Path: <δοκιμή@παράδειγμα.test>")


def test_smtputf8_over_tls_protocol_name(petrel):
    c = petrel.session()
    c.starttls()
    c.ehlo()
    c.expect("MAIL FROM:<a@b.test> SMTPUTF8", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("DATA", 354)
    c.send(make_message() + b".\r\n")
    qid = assert_queued(c.read_reply())
    c.close()  # QUIT over TLS: test_quit_after_starttls
    [raw] = petrel.mail("example.test", "u", 1)
    assert re.search(r"with UTF8SMTPS id %s\b" % qid, received(raw)), received(raw)


# ------------------------------------------------------------------------ smtplib

def test_smtplib_plain_mx(petrel):
    with smtplib.SMTP(petrel.host, petrel.mx, timeout=10) as s:
        s.ehlo("smtplib.example")
        assert s.has_extn("pipelining") and s.has_extn("chunking")
        refused = s.sendmail("a@b.test", ["u@example.test"], make_message())
        assert refused == {}
    petrel.mail("example.test", "u", 1)


def test_smtplib_starttls_submission(petrel):
    with smtplib.SMTP(petrel.host, petrel.sub, timeout=10) as s:
        s.starttls(context=client_tls_context())
        s.ehlo("smtplib.example")
        assert not s.has_extn("starttls")
        assert s.login(SENDER, SENDER_PASSWORD)[0] == 235
        s.sendmail("a@b.test", ["u@example.test"], make_message())
    [raw] = petrel.mail("example.test", "u", 1)
    assert " with ESMTPS " in received(raw)


def test_smtplib_ssl_submissions(petrel):
    with smtplib.SMTP_SSL(petrel.host, petrel.smtps, timeout=10,
                          context=client_tls_context()) as s:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail("a@b.test", ["u@example.test"], make_message())
        assert (e.value.smtp_code, e.value.smtp_error) == (530, b"5.7.0 Authentication required")
        assert s.login(SENDER, SENDER_PASSWORD)[0] == 235
        s.sendmail("a@b.test", ["u@example.test"], make_message())
    [raw] = petrel.mail("example.test", "u", 1)
    assert " with ESMTPS " in received(raw)


def test_smtplib_verified_certificate(petrel, cert):
    """The configured certificate is the one served (verify against it, hostname checked)."""
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    with smtplib.SMTP_SSL("localhost", petrel.smtps, timeout=10, context=ctx) as s:
        s.noop()


def closed_within(sock, seconds):
    """Read until EOF, reset or SECONDS pass; return the seconds it took, or None."""
    start = time.monotonic()
    deadline = start + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
        except (socket.timeout, TimeoutError):
            return None
        if not chunk:
            return time.monotonic() - start
    return None


def test_tls_handshake_timeout_implicit_silent_client(petrel_factory):
    """[timeouts] tls_handshake: a client that connects to 465 and sends nothing is
    dropped after it, not after the 300 s command timeout."""
    p = petrel_factory(tls_handshake=1, greeting=300, command=300)
    s = socket.create_connection((p.host, p.smtps))
    assert closed_within(s, 30) is not None, "still open after 30 s"
    s.close()
    log = p.wait_log("tls-timeout")
    assert "tls-timeout" in log, log[-2000:]


def test_tls_handshake_timeout_implicit_stalled_handshake(petrel_factory):
    """A client that stops halfway through its ClientHello is dropped too."""
    p = petrel_factory(tls_handshake=1, greeting=300, command=300)
    out = ssl.MemoryBIO()
    obj = client_tls_context().wrap_bio(ssl.MemoryBIO(), out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    assert len(hello) > 40
    s = socket.create_connection((p.host, p.smtps))
    s.sendall(hello[:len(hello) // 2])
    assert closed_within(s, 30) is not None, "still open after 30 s"
    s.close()


def test_tls_handshake_timeout_after_starttls(petrel_factory):
    p = petrel_factory(tls_handshake=1, greeting=300, command=300)
    c = p.session()
    r = c.cmd("STARTTLS")
    assert r.code == 220, r
    assert closed_within(c.sock, 30) is not None, "still open after 30 s"
    c.close()


def test_greeting_timeout_after_implicit_tls(petrel_factory):
    """On 465 the greeting timeout starts when the handshake is done."""
    p = petrel_factory(tls_handshake=300, greeting=1, command=300)
    c = p.connect("submissions")
    c.banner()
    r = c.read_reply(timeout=30)
    assert (r.code, r.enhanced) == (421, "4.4.2"), r
    c.expect_closed()


def strict_eof_context():
    """A client context that does not forgive a close without close_notify (Python
    ignores it by default)."""
    ctx = client_tls_context()
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx


@pytest.mark.parametrize("role", ["mx", "submissions"])
def test_tls_session_ends_with_close_notify(petrel, role):
    """After QUIT the server ends TLS with a close_notify (SSL_shutdown) before closing,
    so a client reading to the end sees a clean TLS close, not "unexpected eof" (Exim
    logged "TLS connection was non-properly terminated" on every message)."""
    if role == "submissions":
        c = SMTPClient(petrel.host, petrel.smtps)
        c.sock = strict_eof_context().wrap_socket(c.sock, server_hostname="localhost")
        c.banner()
    else:
        c = petrel.session(role)
        c.starttls(strict_eof_context())
    c.ehlo()
    c.expect("QUIT", 221, "2.0.0")
    c.sock.settimeout(10)
    while c.sock.recv(65536):  # raises SSLError "unexpected eof" without close_notify
        pass
    c.close()
