"""IMAP over TLS: STARTTLS on the imap listener (RFC 9051 6.2.1), implicit TLS on imaps
(RFC 8314), LOGINDISABLED before TLS (RFC 9051 7.2.2), with imaplib and openssl s_client."""

import imaplib
import socket
import subprocess

import pytest

from imap_util import imap_connect, imap_server, tls_context


def caps(c):
    typ, data = c.capability()
    assert typ == "OK"
    return data[0].decode().split()


def test_starttls_changes_capabilities(petrel_factory):
    p = imap_server(petrel_factory)
    c = imap_connect(p)
    before = caps(c)
    assert "STARTTLS" in before and "LOGINDISABLED" in before, before
    assert not [x for x in before if x.startswith("AUTH=")], before
    typ, data = c.starttls(ssl_context=tls_context())
    assert typ == "OK", (typ, data)
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    after = caps(c)
    assert "STARTTLS" not in after and "LOGINDISABLED" not in after, after
    assert c.noop()[0] == "OK"
    assert c.logout()[0] == "BYE"
    assert "tls" in p.wait_log(r"session=i\w+ client=127.0.0.1 version=TLS")


def test_starttls_twice_refused(petrel_factory):
    p = imap_server(petrel_factory)
    c = imap_connect(p)
    c.starttls(ssl_context=tls_context())
    with pytest.raises(imaplib.IMAP4.error, match="BAD.*TLS is already active"):
        c._simple_command("STARTTLS")
    assert c.logout()[0] == "BYE"


def test_imaps_has_no_starttls_nor_logindisabled(petrel_factory):
    p = imap_server(petrel_factory)
    c = imap_connect(p, tls=True)
    got = caps(c)
    assert "STARTTLS" not in got and "LOGINDISABLED" not in got, got
    c.logout()


def test_plaintext_loopback_allows_login_without_tls(petrel_factory):
    """[auth] plaintext_loopback, as for SMTP's AUTH: a loopback client may log in
    without TLS, so LOGINDISABLED is not announced."""
    p = imap_server(petrel_factory, plaintext_loopback="true")
    c = imap_connect(p)
    got = caps(c)
    assert "LOGINDISABLED" not in got and "STARTTLS" in got, got
    c.logout()


def test_pipelined_after_starttls_refused(petrel_factory):
    """Plain text sent after STARTTLS is never read as if it came over TLS
    (CVE-2011-0411 class): the server refuses and closes."""
    p = imap_server(petrel_factory)
    s = socket.create_connection((p.host, p.ports["imap"]), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK ")
    s.sendall(b"t1 STARTTLS\r\nt2 NOOP\r\n")
    assert f.readline().startswith(b"t1 BAD ")
    assert f.readline().startswith(b"* BYE ")
    assert f.readline() == b""
    s.close()


def test_openssl_s_client_starttls_and_implicit(petrel_factory):
    """openssl s_client -starttls imap (it reads the greeting, asks CAPABILITY, sends
    STARTTLS) and on imaps: commands over the TLS session get their answers."""
    p = imap_server(petrel_factory)
    for extra, port in ((["-starttls", "imap"], p.ports["imap"]), ([], p.ports["imaps"])):
        r = subprocess.run(["openssl", "s_client", "-connect", "%s:%d" % (p.host, port),
                            "-crlf", "-quiet", *extra],
                           input=b"x1 NOOP\nx2 LOGOUT\n", capture_output=True, timeout=30)
        out = r.stdout.decode("utf-8", "replace")
        assert "x1 OK NOOP completed" in out and "x2 OK LOGOUT completed" in out, \
            (extra, out, r.stderr[-2000:])
