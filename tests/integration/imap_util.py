"""Helpers of the IMAP tests: a Petrel with listeners of role imap (STARTTLS) and imaps
(implicit TLS) besides the SMTP ones, and imaplib clients on them."""

import imaplib
import ssl

from conftest import free_ports


def imap_server(petrel_factory, start=True, **overrides):
    """A Petrel (not started if START is false) whose ports["imap"] and ports["imaps"]
    are IMAP listeners on loopback; OVERRIDES as petrel_factory's."""
    p = petrel_factory(start=False, **overrides)
    imap, imaps = free_ports(2, p.family, p.host)
    p.ports["imap"], p.ports["imaps"] = imap, imaps
    with open(p.config_path, "a") as f:
        f.write("\n[listener imap]\nrole = imap\naddress = %s:%d\n"
                "\n[listener imaps]\nrole = imaps\naddress = %s:%d\n"
                % (p.hostpart, imap, p.hostpart, imaps))
    if start:
        p.start()
    return p


def tls_context():
    """A client context that takes the test certificate (self-signed)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def imap_connect(p, tls=False, timeout=10):
    """imaplib on P's imap listener, or on imaps with TLS."""
    if tls:
        return imaplib.IMAP4_SSL(p.host, p.ports["imaps"], ssl_context=tls_context(),
                                 timeout=timeout)
    return imaplib.IMAP4(p.host, p.ports["imap"], timeout=timeout)
