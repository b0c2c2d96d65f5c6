"""Helpers of the IMAP tests: a Petrel with listeners of role imap (STARTTLS) and imaps
(implicit TLS) besides the SMTP ones, and imaplib clients on them."""

import imaplib

from conftest import add_listeners
from conftest import client_tls_context as tls_context  # noqa: F401 (the IMAP tests' name)


def imap_server(petrel_factory, start=True, **overrides):
    """A Petrel (not started if START is false) whose ports["imap"] and ports["imaps"]
    are IMAP listeners on loopback; OVERRIDES as petrel_factory's."""
    p = petrel_factory(start=False, **overrides)
    add_listeners(p, "imap", "imaps")
    if start:
        p.start()
    return p


def imap_connect(p, tls=False, timeout=10):
    """imaplib on P's imap listener, or on imaps with TLS."""
    if tls:
        return imaplib.IMAP4_SSL(p.host, p.ports["imaps"], ssl_context=tls_context(),
                                 timeout=timeout)
    return imaplib.IMAP4(p.host, p.ports["imap"], timeout=timeout)
