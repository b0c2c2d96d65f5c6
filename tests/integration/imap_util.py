"""Helpers of the IMAP tests: a Petrel with listeners of role imap (STARTTLS) and imaps
(implicit TLS) besides the SMTP ones, imaplib clients on them, and Raw, a line-exact
client logged in as USER."""

import imaplib
import socket

from conftest import add_listeners
from conftest import client_tls_context as tls_context  # noqa: F401 (the IMAP tests' name)

USER, PASSWORD = "u@example.test", "secret"


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


class Raw:
    """A line-exact IMAP client on the imaps listener, logged in as USER."""

    def __init__(self, p, user=USER):
        s = socket.create_connection((p.host, p.ports["imaps"]), timeout=30)
        self.s = tls_context().wrap_socket(s)
        self.f = self.s.makefile("rb")
        self.n = 0
        assert self.line().startswith("* OK")
        assert self.cmd('LOGIN "%s" "%s"' % (user, PASSWORD))[-1].split()[1] == "OK"

    def line(self):
        raw = self.f.readline()
        assert raw.endswith(b"\r\n"), raw
        return raw[:-2].decode("utf-8", "replace")

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def cmd(self, text):
        """TEXT as a command; the lines up to and including its tagged reply."""
        self.n += 1
        tag = "t%d" % self.n
        self.send("%s %s\r\n" % (tag, text))
        return self.until(tag)

    def until(self, tag):
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + " "):
                return lines

    def ok(self, text):
        lines = self.cmd(text)
        assert lines[-1].split()[1] == "OK", lines
        return lines

    def append(self, mailbox, message, flags=""):
        """APPEND with a LITERAL+ literal; the tagged reply's line."""
        self.n += 1
        tag = "t%d" % self.n
        self.send(b"%s APPEND %s %s{%d+}\r\n" % (tag.encode(), mailbox.encode(),
                                                  (flags + " ").encode() if flags else b"",
                                                  len(message)) + message + b"\r\n")
        return self.until(tag)

    def close(self):
        self.s.close()
