"""The server under valgrind's memcheck: the release build (valgrind cannot run a
sanitizer build), its supervisor and network process under valgrind (the auth and keys
processes run as they are: valgrind cannot run under their seccomp filters), serving
what a day brings: a submission delivered to a local mailbox, an IMAP session over
most commands (FETCH of every kind of item, SEARCH, STORE, COPY, MOVE, APPEND, IDLE
woken by a delivery, EXPUNGE, COMPRESS=DEFLATE), one over TLS, a POP3 session, and the
HTTP API's /v3/mail/send and a web page.  After the stop,
each valgrind log must report no error: no invalid read or write, no jump or system
call that depends on an uninitialised value (what the sanitizers do not see), no block
leaked with nothing left pointing to it.  The unit test programs run under valgrind
too (scripts/run-tests.sh)."""

import glob
import os
import re
import shutil
import socket
import time
import zlib

import pytest

from conftest import REPO, SENDER, add_listeners, make_message, release_binary
from imap_util import PASSWORD, USER, imap_connect, imap_server
from test_event_loop_io import http_status, pop3_work
from test_http_send import add_key, request, send

VALGRIND = shutil.which("valgrind")

MESSAGE = (b"From: Ann <a@b.test>\r\nTo: u@example.test\r\nCc: c@d.test\r\n"
           b"Subject: =?utf-8?q?caf=C3=A9?= under valgrind\r\n"
           b"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <vg-1@b.test>\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
           b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 au lait\r\n"
           b"--b1\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n--b1--\r\n")


ERROR_LINE = re.compile(r"==\d+== (Invalid |Conditional jump|Use of uninitialised|"
                        r"Syscall param|Mismatched free|Source and destination overlap|"
                        r".* definitely lost in loss record)")


def valgrind_logs(folder):
    """[(role, text)] of the valgrind logs in FOLDER: "network", "supervisor" (the
    supervisor and the children it forks for its start-up checks), or "exec'd" (the forks
    that became the auth and keys processes: valgrind leaves them at their exec,
    --trace-children-skip-by-arg)."""
    logs = []
    for path in sorted(glob.glob(os.path.join(folder, "vg.*.log"))):
        with open(path, errors="replace") as f:
            text = f.read()
        m = re.search(r"== Command: (.*)", text)
        command = m.group(1) if m else ""
        role = ("network" if command.endswith("--process network") else
                "supervisor" if "--process" not in command and "ERROR SUMMARY" in text else
                "exec'd")
        logs.append((role, text))
    return logs


def valgrind_errors(logs):
    """The reports of errors in LOGS (valgrind_logs), each with its log's end."""
    errors = []
    for role, text in logs:
        summary = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        if ERROR_LINE.search(text) or (summary and summary.group(1) != "0"):
            errors.append("%s:\n%s" % (role, text[-8000:]))
    return errors


class Imap:
    """A line-exact IMAP client on the plain imap listener (no TLS: valgrind makes each
    handshake slow), with COMPRESS=DEFLATE once asked."""

    def __init__(self, p):
        self.s = socket.create_connection((p.host, p.ports["imap"]), timeout=120)
        self.buf = b""
        self.n = 0
        self.inflate = self.deflate = None
        assert self.line().startswith(b"* OK")

    def recv(self):
        data = self.s.recv(65536)
        assert data, "connection closed"
        return self.inflate.decompress(data) if self.inflate else data

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.recv()
        line, self.buf = self.buf.split(b"\r\n", 1)
        m = re.search(rb"\{(\d+)\}$", line)
        if m:   # a literal: its bytes, then the rest of the line
            n = int(m.group(1))
            while len(self.buf) < n:
                self.buf += self.recv()
            line += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]
            line += self.line()
        return line

    def send(self, data):
        if self.deflate:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.s.sendall(data)

    def cmd(self, text, literal=None):
        self.n += 1
        tag = b"v%d" % self.n
        if literal is None:
            self.send(tag + b" " + text.encode() + b"\r\n")
        else:
            self.send(tag + b" " + text.encode() + b" {%d+}\r\n" % len(literal) + literal
                      + b"\r\n")
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                assert line.split()[1] == b"OK", lines
                return lines

    def compress(self):
        self.cmd("COMPRESS DEFLATE")
        self.inflate = zlib.decompressobj(-15)
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, -15)


@pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed "
                    "(scripts/install-deps.sh installs it)")
def test_server_is_valgrind_clean(petrel_factory, tmp_path):
    binary = release_binary()
    p = imap_server(petrel_factory, start=False, plaintext_loopback="true", workers="2")
    add_listeners(p, "pop3", "http")
    p.binary = binary
    logs = tmp_path / "valgrind"
    logs.mkdir()
    p.wrapper = [VALGRIND, "--trace-children=yes", "--trace-children-skip-by-arg=auth,keys",
                 "--log-file=%s/vg.%%p.log" % logs, "--leak-check=full",
                 "--errors-for-leak-kinds=definite", "--num-callers=30",
                 "--suppressions=%s" % (REPO / "tests" / "valgrind.supp")]
    p.start(timeout=240)

    # a submission, delivered to the account's INBOX
    s = p.auth_session("submission")
    try:
        assert s.mail_transaction(SENDER, [USER], MESSAGE).code == 250
        s.quit()
    finally:
        s.close()
    p.mail("example.test", USER.split("@")[0], 1, timeout=120)

    c = Imap(p)
    c.cmd('LOGIN "%s" "%s"' % (USER, PASSWORD))
    c.cmd("ENABLE CONDSTORE")
    c.compress()
    c.cmd("APPEND INBOX (\\Flagged) \"07-Dec-2026 10:00:00 +0000\"",
          make_message("appended", body=b"second body\r\n"))
    c.cmd("SELECT INBOX")
    c.cmd("FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE MODSEQ UID)")
    c.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject From)] BODY.PEEK[1] "
          "BODY.PEEK[2.MIME] BODY.PEEK[]<10.40> BINARY.PEEK[1] BINARY.SIZE[2] RFC822.TEXT)")
    c.cmd("UID SEARCH RETURN (MIN MAX COUNT) CHARSET UTF-8 SUBJECT", "caf\u00e9".encode())
    c.cmd("SEARCH OR FLAGGED BODY lait SINCE 1-Jan-2020")
    c.cmd("STORE 1 +FLAGS.SILENT (\\Seen $Label1)")
    c.cmd("UID STORE 1:* (UNCHANGEDSINCE 100000) -FLAGS (\\Flagged)")
    c.cmd("COPY 1 Trash")
    c.cmd("MOVE 2 Archive")
    c.cmd("STATUS Trash (MESSAGES UIDNEXT UNSEEN SIZE HIGHESTMODSEQ)")
    c.cmd('LIST "" "*" RETURN (SPECIAL-USE STATUS (MESSAGES))')
    c.cmd("GETQUOTAROOT INBOX")
    # IDLE, woken by a delivery to the folder
    c.n += 1
    c.send(b"v%d IDLE\r\n" % c.n)
    assert c.line().startswith(b"+ ")
    s = p.session("mx")
    try:
        assert s.mail_transaction("a@b.test", [USER], make_message("to the idler")).code == 250
        s.quit()
    finally:
        s.close()
    deadline = time.monotonic() + 120
    while not re.match(rb"\* \d+ EXISTS", c.line()):
        assert time.monotonic() < deadline
    c.send(b"DONE\r\n")
    while not c.line().startswith(b"v%d OK" % c.n):
        pass
    c.cmd("STORE 1 +FLAGS (\\Deleted)")
    c.cmd("EXPUNGE")
    c.cmd("UNSELECT")
    c.cmd("LOGOUT")
    c.s.close()

    # IMAP over TLS
    c = imap_connect(p, tls=True, timeout=120)
    assert c.login(USER, PASSWORD)[0] == "OK"
    assert c.select("INBOX")[0] == "OK"
    assert c.fetch("1:*", "(FLAGS BODY.PEEK[])")[0] == "OK"
    c.logout()

    # POP3 (USER/PASS in the clear: plaintext_loopback)
    pop3_work(p, tls=False, timeout=120)

    # the HTTP API and a page
    assert send(p, request(), key=add_key(p, "mail.send"))[0] == 202
    assert http_status(p, "/login") == 200

    assert p.stop(timeout=240) == 0
    found = valgrind_logs(logs)
    # both ran under valgrind to their end (a summary: not killed on the way)
    roles = [role for role, text in found if "ERROR SUMMARY" in text]
    assert "supervisor" in roles and "network" in roles, roles
    errors = valgrind_errors(found)
    assert not errors, "\n\n".join(errors)
