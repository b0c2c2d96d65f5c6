"""A listener on [::1] accepts mail."""

import socket

import pytest

from conftest import assert_queued, make_message


def ipv6_loopback_works():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6 loopback on this machine")
def test_ipv6_listener(petrel_factory):
    p = petrel_factory(ipv6=True)
    c = p.session()
    qid = assert_queued(c.mail_transaction("a@b.test", ["u@example.test"], make_message()))
    c.quit()
    [raw] = p.mail("example.test", "u", 1)
    assert b"[IPv6:::1]" in raw or b"[::1]" in raw, raw[:600]
    assert qid.encode() in raw
