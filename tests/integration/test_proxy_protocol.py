"""PROXY protocol v1/v2 on a listener behind a load balancer: the header's client address
reaches the log and the Received: field; connections from outside proxy_from, with a bad
header or none, are closed without a greeting; and Debian's HAProxy in front, for real."""

import re
import socket
import struct
import time

import pytest

from conftest import (SMTPClient, assert_queued, client_tls_context, free_ports,
                      make_message, split_message)
from peers import HAProxy

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, dst, sport, dport, tlv=b""):
    """A v2 PROXY header over TCP (IPv4 or IPv6 by the address), with TLV octets after."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    addrs = (socket.inet_pton(fam, src) + socket.inet_pton(fam, dst)
             + struct.pack("!HH", sport, dport))
    body = addrs + tlv
    return SIG + bytes([0x21, 0x21 if fam == socket.AF_INET6 else 0x11]) \
        + struct.pack("!H", len(body)) + body


def proxied(petrel_factory, role="mx", proxy_from="127.0.0.1/32", **overrides):
    """A server with one more listener, "lb" of ROLE, taking PROXY headers from PROXY_FROM;
    (server, port of lb)."""
    p = petrel_factory(start=False, **overrides)
    [port] = free_ports(1)
    with open(p.config_path, "a") as f:
        f.write("\n[listener lb]\nrole = %s\naddress = 127.0.0.1:%d\nproxy_protocol = on\n"
                "proxy_from = %s\n" % (role, port, proxy_from))
    p.start()
    return p, port


def received(raw):
    lines, _ = split_message(raw)
    return [l for l in lines if l.startswith("Received: ")][0]


def test_v1_address_in_log_and_received(petrel_factory):
    p, port = proxied(petrel_factory)
    c = SMTPClient("127.0.0.1", port)
    c.send(b"PROXY TCP4 192.0.2.1 127.0.0.1 56324 25\r\n")
    c.banner()
    c.ehlo("helo.client.example")
    assert_queued(c.mail_transaction("a@b.test", ["u@example.test"], make_message()))
    c.quit()
    [raw] = p.mail("example.test", "u", 1)
    assert "[192.0.2.1])" in received(raw), received(raw)
    log = p.wait_log(r"connect session=\S+ client=192\.0\.2\.1 listener=lb")
    assert "client=192.0.2.1 listener=lb" in log


def test_v2_tcp6_with_tlv(petrel_factory):
    p, port = proxied(petrel_factory)
    c = SMTPClient("127.0.0.1", port)
    # a TLV (PP2_TYPE_AUTHORITY) after the addresses is skipped
    c.send(v2_header("2001:db8::7", "2001:db8::1", 40000, 25, b"\x02\x00\x04mx.x"))
    c.banner()
    c.ehlo()
    assert_queued(c.mail_transaction("a@b.test", ["u@example.test"], make_message()))
    c.quit()
    [raw] = p.mail("example.test", "u", 1)
    assert "[IPv6:2001:db8::7])" in received(raw) or "[2001:db8::7])" in received(raw), \
        received(raw)
    p.wait_log(r"client=2001:db8::7 listener=lb")


def test_v2_before_implicit_tls(petrel_factory):
    """On a submissions listener the header comes before the TLS handshake."""
    p, port = proxied(petrel_factory, role="submissions")
    c = SMTPClient("127.0.0.1", port)
    c.send(v2_header("198.51.100.9", "127.0.0.1", 5555, 465))
    c.sock = client_tls_context().wrap_socket(c.sock, server_hostname="localhost")
    c.banner()
    c.quit()
    p.wait_log(r"client=198\.51\.100\.9 listener=lb")


def test_v2_local_keeps_socket_address(petrel_factory):
    """LOCAL (a balancer's health check): the connection's own address stands."""
    p, port = proxied(petrel_factory)
    c = SMTPClient("127.0.0.1", port)
    c.send(SIG + b"\x20\x00\x00\x00")
    c.banner()
    c.quit()
    p.wait_log(r"client=127\.0\.0\.1 listener=lb")


def test_outside_proxy_from_is_closed(petrel_factory):
    p, port = proxied(petrel_factory, proxy_from="127.0.0.1/32, 2001:db8::/32")
    c = SMTPClient("127.0.0.1", port, source="127.0.0.2")
    c.send(b"PROXY TCP4 192.0.2.1 127.0.0.1 56324 25\r\n")
    c.expect_closed(timeout=10.0)
    assert c.buf == b"", c.buf
    log = p.wait_log(r"proxy-refused listener=lb client=127\.0\.0\.2")
    assert 'reason="not in proxy_from"' in log
    assert "client=192.0.2.1" not in log


def test_missing_header_is_closed(petrel_factory):
    """A client that speaks SMTP at once: no greeting, closed, logged."""
    p, port = proxied(petrel_factory)
    c = SMTPClient("127.0.0.1", port)
    c.send(b"EHLO client.example\r\n")
    c.expect_closed(timeout=10.0)
    assert c.buf == b"", c.buf
    p.wait_log(r'proxy-refused listener=lb client=127\.0\.0\.1 reason="no PROXY')


def test_malformed_v1_is_closed(petrel_factory):
    p, port = proxied(petrel_factory)
    c = SMTPClient("127.0.0.1", port)
    c.send(b"PROXY TCP4 192.0.2.300 127.0.0.1 1 25\r\n")
    c.expect_closed(timeout=10.0)
    assert c.buf == b"", c.buf
    p.wait_log(r'proxy-refused listener=lb client=127\.0\.0\.1 reason="bad PROXY v1 addresses"')


def test_header_timeout_closes(petrel_factory):
    p, port = proxied(petrel_factory, proxy_header=1)
    c = SMTPClient("127.0.0.1", port)
    c.send(b"PROXY TCP4 ")  # and then nothing
    c.expect_closed(timeout=15.0)
    assert c.buf == b"", c.buf
    p.wait_log(r'proxy-refused listener=lb client=127\.0\.0\.1 reason="PROXY header timed out"')


def test_behind_haproxy(petrel_factory, tmp_path):
    """Debian's HAProxy in front with send-proxy-v2: a client connecting to HAProxy from
    127.0.0.3 is 127.0.0.3 to Petrel (HAProxy itself connects from 127.0.0.1)."""
    p, port = proxied(petrel_factory)
    [front] = free_ports(1)
    hap = HAProxy(tmp_path,
                  "global\n    log stderr format short local0\n"
                  "defaults\n    mode tcp\n    timeout connect 10s\n"
                  "    timeout client 60s\n    timeout server 60s\n"
                  "frontend smtp\n    bind 127.0.0.1:%d\n    default_backend petrel\n"
                  "backend petrel\n    server p1 127.0.0.1:%d send-proxy-v2 source 127.0.0.1\n"
                  % (front, port), "127.0.0.1", front).start()
    try:
        c = SMTPClient("127.0.0.1", front, source="127.0.0.3")
        c.banner()
        c.ehlo()
        assert_queued(c.mail_transaction("a@b.test", ["u@example.test"], make_message()))
        c.quit()
        [raw] = p.mail("example.test", "u", 1)
        assert "[127.0.0.3])" in received(raw), received(raw)
        p.wait_log(r"connect session=\S+ client=127\.0\.0\.3 listener=lb")
    finally:
        hap.stop()


@pytest.mark.parametrize("role,greeting", [("imap", b"* OK"), ("pop3", b"+OK")])
def test_imap_and_pop3_greet_after_header(petrel_factory, role, greeting):
    """The header is read before any role's greeting, and its address is the session's."""
    p, port = proxied(petrel_factory, role=role)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"PROXY TCP4 203.0.113.4 127.0.0.1 4000 143\r\n")
        line = b""
        while b"\r\n" not in line:
            chunk = s.recv(4096)
            assert chunk, "closed after %r" % line
            line += chunk
        assert line.startswith(greeting), line
    finally:
        s.close()
    p.wait_log(r"connect session=\S+ client=203\.0\.113\.4 listener=lb role=%s" % role)
    assert re.search(r"client=203\.0\.113\.4 listener=lb role=%s" % role, p.log())


def test_header_timeout_counts_from_the_connection(petrel_factory):
    """[timeouts] proxy_header bounds the whole header: a balancer trickling it an octet
    at a time, more often than the timeout, is still closed once it is over."""
    p, port = proxied(petrel_factory, proxy_header=1)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    closed = False
    try:
        s.sendall(b"PROXY UNKNOWN ")
        deadline = time.monotonic() + 20  # 80 octets at 0.25 s: far past 1 s
        while time.monotonic() < deadline and not closed:
            try:
                s.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            s.settimeout(0.25)
            try:
                closed = s.recv(1) == b""
            except (socket.timeout, TimeoutError):
                pass
            except ConnectionResetError:
                closed = True
    finally:
        s.close()
    assert closed, "still open after a header trickled for 20 s"
    p.wait_log(r'reason="PROXY header timed out"')
