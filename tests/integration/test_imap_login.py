"""IMAP logins (RFC 9051 6.2.2, 6.2.3): LOGIN, AUTHENTICATE PLAIN / LOGIN / SCRAM-SHA-256
with and without SASL-IR (RFC 4959), through the login path SMTP shares (authd/client.h):
disabled accounts, the shared throttle, sessions per account, the folders made at login;
and what comes after: ENABLE, NAMESPACE, COMPRESS=DEFLATE."""

import base64
import hashlib
import hmac
import imaplib
import os
import socket
import zlib

import pytest

from conftest import SAN_ENV, SENDER, SENDER_PASSWORD, SMTPClient, Closed
from imap_util import imap_connect, imap_server, tls_context


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def tls_login(p, user=SENDER, password=SENDER_PASSWORD):
    c = imap_connect(p)
    c.starttls(ssl_context=tls_context())
    c.login(user, password)
    return c


class Raw:
    """A line-level IMAP client on a socket (plain, or TLS for imaps)."""

    def __init__(self, p, port="imap", tls=False):
        s = socket.create_connection((p.host, p.ports[port]), timeout=20)
        self.sock = tls_context().wrap_socket(s) if tls else s
        self.f = self.sock.makefile("rb")
        greeting = self.line()
        assert greeting.startswith("* OK "), greeting

    def line(self):
        line = self.f.readline()
        assert line.endswith(b"\r\n"), line
        return line[:-2].decode("utf-8", "replace")

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def cmd(self, tag, text):
        """Send TAG TEXT; return the lines up to TAG's reply."""
        self.send("%s %s\r\n" % (tag, text))
        return self.until(tag)

    def until(self, tag):
        lines = []
        while True:
            lines.append(self.line())
            if lines[-1].startswith(tag + " "):
                return lines

    def line_unbuffered(self):
        """A line read octet by octet: what follows it (compressed) stays in the socket."""
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = self.sock.recv(1)
            assert chunk, data
            data += chunk
        return data[:-2].decode()

    def close(self):
        self.sock.close()


def plain_challenged(p):
    """A Raw client on imaps whose "a1 AUTHENTICATE PLAIN" awaits its response."""
    r = Raw(p, "imaps", tls=True)
    r.send("a1 AUTHENTICATE PLAIN\r\n")
    assert r.line().startswith("+")
    return r


def test_login_starttls(petrel_factory):
    p = imap_server(petrel_factory)
    c = imap_connect(p)
    c.starttls(ssl_context=tls_context())
    typ, data = c.login(SENDER, SENDER_PASSWORD)
    assert typ == "OK", (typ, data)
    assert b"Logged in" in data[0]
    assert "login" in p.wait_log(r"login session=i\w+ client=127.0.0.1 account=%s" % SENDER)
    # the capabilities after login: no AUTH=, no STARTTLS
    caps = c.capability()[1][0].decode().split()
    assert not [x for x in caps if x.startswith("AUTH=")] and "STARTTLS" not in caps, caps
    assert c.logout()[0] == "BYE"


def test_login_makes_inbox_and_special_folders(petrel_factory):
    p = imap_server(petrel_factory)
    local, domain = SENDER.split("@")
    home = p.data_dir / "mail" / domain / local
    c = imap_connect(p, tls=True)
    c.login(SENDER, SENDER_PASSWORD)
    for sub in ("cur", "new", "tmp"):
        assert (home / sub).is_dir(), sub
    for folder in (".Sent", ".Drafts", ".Junk", ".Trash", ".Archive"):
        assert (home / folder / "cur").is_dir(), folder
    c.logout()


def test_login_wrong_password_and_unknown_user(petrel_factory):
    p = imap_server(petrel_factory)
    c = imap_connect(p, tls=True)
    for user, password in ((SENDER, "wrong"), ("nobody@example.test", "x")):
        with pytest.raises(imaplib.IMAP4.error, match=r"AUTHENTICATIONFAILED"):
            c.login(user, password)
    # still not logged in: a command of the authenticated state is refused
    c.logout()
    r = Raw(p, "imaps", tls=True)
    assert r.cmd("a1", "LOGIN %s wrong" % SENDER)[-1].startswith("a1 NO [AUTHENTICATIONFAILED]")
    assert r.cmd("a2", "NAMESPACE") == ["a2 BAD NAMESPACE is not valid in this state"]
    assert r.cmd("a3", "LOGIN %s %s" % (SENDER, SENDER_PASSWORD))[-1].startswith("a3 OK ")
    r.close()


def test_login_disabled_account(petrel_factory):
    p = imap_server(petrel_factory)
    p.cli_ok("account", "disable", SENDER)
    c = imap_connect(p, tls=True)
    with pytest.raises(imaplib.IMAP4.error, match=r"AUTHENTICATIONFAILED"):
        c.login(SENDER, SENDER_PASSWORD)
    p.cli_ok("account", "enable", SENDER)
    assert c.login(SENDER, SENDER_PASSWORD)[0] == "OK"
    c.logout()


def test_login_refused_before_tls(petrel_factory):
    """LOGINDISABLED: LOGIN and AUTHENTICATE get NO [PRIVACYREQUIRED] until STARTTLS."""
    p = imap_server(petrel_factory)
    r = Raw(p)
    assert r.cmd("a1", "LOGIN %s %s" % (SENDER, SENDER_PASSWORD))[-1].startswith(
        "a1 NO [PRIVACYREQUIRED] ")
    ir = b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD))
    assert r.cmd("a2", "AUTHENTICATE PLAIN " + ir)[-1].startswith("a2 NO [PRIVACYREQUIRED] ")
    r.close()


def test_login_plaintext_loopback(petrel_factory):
    p = imap_server(petrel_factory, plaintext_loopback="true")
    c = imap_connect(p)
    assert c.login(SENDER, SENDER_PASSWORD)[0] == "OK"
    c.logout()


def test_authenticate_plain_sasl_ir(petrel_factory):
    """RFC 4959: the initial response on the command line, no continuation"""
    p = imap_server(petrel_factory)
    r = Raw(p, "imaps", tls=True)
    lines = r.cmd("a1", "CAPABILITY")
    caps = lines[0].split()
    for cap in ("AUTH=PLAIN", "AUTH=LOGIN", "AUTH=SCRAM-SHA-256", "SASL-IR"):
        assert cap in caps, caps
    lines = r.cmd("a2", "AUTHENTICATE PLAIN " + b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD)))
    assert lines == [lines[-1]] and lines[-1].startswith("a2 OK [CAPABILITY "), lines
    r.close()


def test_authenticate_plain_and_login_imaplib(petrel_factory):
    """imaplib's authenticate(): no initial response, the server's "+ " first"""
    p = imap_server(petrel_factory)
    c = imap_connect(p, tls=True)
    typ, _ = c.authenticate("PLAIN", lambda challenge: "\0%s\0%s" % (SENDER, SENDER_PASSWORD))
    assert typ == "OK"
    c.logout()
    c = imap_connect(p, tls=True)
    answers = {b"Username:": SENDER, b"Password:": SENDER_PASSWORD}
    typ, _ = c.authenticate("LOGIN", lambda challenge: answers[challenge])
    assert typ == "OK"
    c.logout()


class ScramClient:
    """SCRAM-SHA-256 (RFC 5802, RFC 7677) for imaplib.authenticate(): called with each
    challenge, answers the next message; checks the server's signature."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.cnonce = b64(os.urandom(18))
        self.step = 0
        self.server_verified = False

    def __call__(self, challenge):
        self.step += 1
        if self.step == 1:
            assert challenge == b"", challenge
            self.first_bare = "n=%s,r=%s" % (self.user, self.cnonce)
            return "n,," + self.first_bare
        if self.step == 2:
            server_first = challenge.decode()
            attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
            assert attrs["r"].startswith(self.cnonce), server_first
            salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                         base64.b64decode(attrs["s"]), int(attrs["i"]))
            client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
            stored_key = hashlib.sha256(client_key).digest()
            without_proof = "c=biws,r=%s" % attrs["r"]
            self.auth_message = ",".join([self.first_bare, server_first,
                                          without_proof]).encode()
            sig = hmac.new(stored_key, self.auth_message, hashlib.sha256).digest()
            self.server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
            return without_proof + ",p=" + b64(bytes(a ^ b for a, b in zip(client_key, sig)))
        expect = "v=" + b64(hmac.new(self.server_key, self.auth_message,
                                     hashlib.sha256).digest())
        assert challenge.decode() == expect, challenge
        self.server_verified = True
        return b""


def test_authenticate_scram_sha_256(petrel_factory):
    p = imap_server(petrel_factory)
    c = imap_connect(p, tls=True)
    scram = ScramClient(SENDER, SENDER_PASSWORD)
    typ, _ = c.authenticate("SCRAM-SHA-256", scram)
    assert typ == "OK" and scram.server_verified
    assert c.noop()[0] == "OK"
    c.logout()
    c = imap_connect(p, tls=True)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.authenticate("SCRAM-SHA-256", ScramClient(SENDER, "wrong"))
    c.logout()


def test_authenticate_cancel_and_malformed(petrel_factory):
    p = imap_server(petrel_factory)
    r = plain_challenged(p)
    r.send("*\r\n")
    assert r.line().startswith("a1 BAD ")  # RFC 9051 6.2.2
    r.send("a2 AUTHENTICATE PLAIN\r\n")
    assert r.line().startswith("+")
    r.send("not base64!\r\n")
    assert r.line().startswith("a2 BAD ")
    assert r.cmd("a3", "AUTHENTICATE PLAIN %s" % "!!!!")[-1].startswith("a3 BAD ")
    assert r.cmd("a4", "AUTHENTICATE CRAM-MD5")[-1].startswith("a4 NO [CANNOT] ")
    assert r.cmd("a5", "AUTHENTICATE PLAIN " + b64("no nuls"))[-1].startswith("a5 BAD ")
    assert r.cmd("a6", "AUTHENTICATE PLAIN " + b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD))
                 )[-1].startswith("a6 OK ")
    assert r.cmd("a7", "LOGIN a b")[-1].startswith("a7 BAD ")  # not in this state
    r.close()


def test_sessions_per_account(petrel_factory):
    p = imap_server(petrel_factory, sessions_per_account=1)
    first = imap_connect(p, tls=True)
    first.login(SENDER, SENDER_PASSWORD)
    second = imap_connect(p, tls=True)
    with pytest.raises(imaplib.IMAP4.error, match=r"\[LIMIT\]"):
        second.login(SENDER, SENDER_PASSWORD)
    first.logout()
    # the first session's end frees its place (bounded wait for the server to see it)
    p.wait_log("disconnect session=i1 ")
    assert second.login(SENDER, SENDER_PASSWORD)[0] == "OK"
    second.logout()


def test_throttle_shared_with_smtp(petrel_factory):
    """[auth] lockout_after failed logins over IMAP lock the address out of SMTP too."""
    p = imap_server(petrel_factory, lockout_after=2, slow_after=100)
    c = imap_connect(p, tls=True)
    for _ in range(2):
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            c.login(SENDER, "wrong")
    with pytest.raises((imaplib.IMAP4.error, imaplib.IMAP4.abort)):
        c.login(SENDER, SENDER_PASSWORD)
    s = SMTPClient(p.host, p.mx, timeout=10)
    r = s.read_reply()
    assert r.code == 421, r
    s.close()


def test_client_gone_during_login(petrel_factory):
    """A client that leaves while its password is checked and its folders made: nothing
    leaks (the teardown checks the sanitizers), and the server goes on."""
    p = imap_server(petrel_factory)
    for _ in range(5):
        r = Raw(p, "imaps", tls=True)
        r.send("a LOGIN %s %s\r\n" % (SENDER, SENDER_PASSWORD))
        r.close()
    c = imap_connect(p, tls=True)
    assert c.login(SENDER, SENDER_PASSWORD)[0] == "OK"
    c.logout()


def test_shutdown_while_authenticate_waits(petrel_factory):
    p = imap_server(petrel_factory)
    r = plain_challenged(p)
    assert p.stop() == 0
    assert r.line().startswith("* BYE ")
    r.close()


def test_enable_and_namespace(petrel_factory):
    p = imap_server(petrel_factory)
    r = Raw(p, "imaps", tls=True)
    assert r.cmd("a1", "ENABLE CONDSTORE")[-1].startswith("a1 BAD ")  # not logged in
    r.cmd("a2", "LOGIN %s %s" % (SENDER, SENDER_PASSWORD))
    caps = r.cmd("a3", "CAPABILITY")[0].split()
    assert "ENABLE" in caps and "NAMESPACE" in caps, caps
    # extensions not offered are never enabled (RFC 5161 3.1)
    assert r.cmd("a4", "ENABLE X-UNKNOWN")[:2] == ["* ENABLED", "a4 OK ENABLE completed"]
    for name in ("CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4rev2"):
        lines = r.cmd("a5", "ENABLE " + name)
        expect = "* ENABLED " + name if name in caps else "* ENABLED"
        assert lines[0] == expect, (name, lines)
    assert r.cmd("a6", "ENABLE")[-1].startswith("a6 BAD ")
    assert r.cmd("a7", "NAMESPACE") == ['* NAMESPACE (("" "/")) NIL NIL',
                                        "a7 OK NAMESPACE completed"]
    r.close()


class Deflated:
    """Both directions of a socket through raw DEFLATE (RFC 4978)."""

    def __init__(self, sock):
        self.sock = sock
        self.out = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inp = zlib.decompressobj(-15)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(self.out.compress(data) + self.out.flush(zlib.Z_SYNC_FLUSH))

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "closed"
            self.buf += self.inp.decompress(chunk)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def until(self, tag):
        lines = []
        while True:
            lines.append(self.line())
            if lines[-1].startswith(tag + " "):
                return lines


@pytest.mark.parametrize("tls", [False, True])
def test_compress_deflate(petrel_factory, tls):
    p = imap_server(petrel_factory, plaintext_loopback="true")
    r = Raw(p, "imaps" if tls else "imap", tls=tls)
    assert r.cmd("a0", "COMPRESS DEFLATE")[-1].startswith("a0 BAD ")  # not logged in
    r.cmd("a1", "LOGIN %s %s" % (SENDER, SENDER_PASSWORD))
    assert "COMPRESS=DEFLATE" in r.cmd("a2", "CAPABILITY")[0].split()
    # the next command is sent compressed right behind COMPRESS, before its OK
    r.send(b"a3 COMPRESS DEFLATE\r\n")
    assert r.line_unbuffered() == "a3 OK DEFLATE active"
    z = Deflated(r.sock)
    z.send(b"a4 NOOP\r\n")
    assert z.until("a4") == ["a4 OK NOOP completed"]
    lines = (z.send(b"a5 CAPABILITY\r\n"), z.until("a5"))[1]
    assert "COMPRESS=DEFLATE" not in lines[0].split(), lines
    z.send(b"a6 COMPRESS DEFLATE\r\n")
    assert z.until("a6") == ["a6 NO [COMPRESSIONACTIVE] DEFLATE is active already"]
    # a big answer: many pipelined commands in one compressed write
    z.send(b"".join(b"n%d NOOP\r\n" % i for i in range(2000)))
    for i in range(2000):
        assert z.line() == "n%d OK NOOP completed" % i
    z.send(b"a7 LOGOUT\r\n")
    assert z.until("a7")[-1] == "a7 OK LOGOUT completed"
    r.close()


def test_compress_pipelined_behind_command(petrel_factory):
    """RFC 4978 3: the client may send compressed data right after COMPRESS's CRLF,
    before the OK; the server inflates what it had read already."""
    p = imap_server(petrel_factory, plaintext_loopback="true")
    r = Raw(p)
    r.cmd("a1", "LOGIN %s %s" % (SENDER, SENDER_PASSWORD))
    out = zlib.compressobj(6, zlib.DEFLATED, -15)
    r.send(b"a2 COMPRESS DEFLATE\r\n" + out.compress(b"a3 NOOP\r\n") +
           out.flush(zlib.Z_SYNC_FLUSH))
    assert r.line_unbuffered() == "a2 OK DEFLATE active"
    z = Deflated(r.sock)
    z.out = out
    assert z.until("a3") == ["a3 OK NOOP completed"]
    r.close()


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "SCRAM-SHA-256"])
def test_authenticate_empty_initial_response(petrel_factory, mech):
    """RFC 4959 3: "=" is an empty initial response; every mechanism refuses it as
    malformed (authd_login_sasl takes an empty response with no buffer behind it)."""
    p = imap_server(petrel_factory)
    r = Raw(p, "imaps", tls=True)
    lines = r.cmd("a1", "AUTHENTICATE %s =" % mech)
    assert lines[-1].startswith("a1 BAD") or lines[-1].startswith("a1 NO"), lines
    lines = r.cmd("a2", "NOOP")
    assert lines[-1].startswith("a2 OK"), lines
    r.close()


def compressed_session(petrel_factory):
    """A Petrel (LOGIN in plain text from loopback) and a Raw session logged in (a1) that
    has just had the OK of a2 COMPRESS DEFLATE (RFC 4978): what goes next is deflated."""
    p = imap_server(petrel_factory, plaintext_loopback="true")
    r = Raw(p)
    r.cmd("a1", "LOGIN %s %s" % (SENDER, SENDER_PASSWORD))
    r.send(b"a2 COMPRESS DEFLATE\r\n")
    assert r.line_unbuffered() == "a2 OK DEFLATE active"
    return p, r


def test_compress_shutdown_bye(petrel_factory):
    """The shutdown's * BYE of a compressed session is compressed too."""
    p, r = compressed_session(petrel_factory)
    z = Deflated(r.sock)
    z.send(b"a3 NOOP\r\n")
    assert z.until("a3") == ["a3 OK NOOP completed"]
    assert p.stop() == 0
    assert z.line().startswith("* BYE ")
    r.close()


def vm_hwm_kb(pid):
    """The peak resident size of PID, in kB (/proc/PID/status VmHWM)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def test_compress_pipelined_bomb_bounded(petrel_factory):
    """What was pipelined behind COMPRESS (here behind a LOGIN that keeps the session
    busy while up to the input limit is read) is inflated within the session's input
    limit, not whole: about 250 kB of deflated octets would be some 250 MB at once."""
    p = imap_server(petrel_factory, start=False, plaintext_loopback="true")
    # freed memory counts as freed (AddressSanitizer's quarantine would keep the
    # inflated chunks the session has read already)
    p.extra_env = {"ASAN_OPTIONS": SAN_ENV["ASAN_OPTIONS"] + ":quarantine_size_mb=1"}
    p.start()
    network = p.processes()["network"]
    r = Raw(p)
    # a liveness bound, not a speed claim: the sanitizer build reads some 240 MB of
    # inflated input before it answers, which a loaded 2-core machine can take a
    # while to do
    r.sock.settimeout(180)
    out = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = [out.compress(b"x" * (1 << 20)) for _ in range(240)]
    bomb.append(out.compress(b"\r\na4 NOOP\r\n") + out.flush(zlib.Z_SYNC_FLUSH))
    before = vm_hwm_kb(network)
    r.send(b"a1 LOGIN %s %s\r\na2 COMPRESS DEFLATE\r\n" %
           (SENDER.encode(), SENDER_PASSWORD.encode()) + b"".join(bomb))
    assert r.line_unbuffered().startswith("a1 OK ")
    assert r.line_unbuffered() == "a2 OK DEFLATE active"
    z = Deflated(r.sock)
    z.out = out
    lines = z.until("a4")
    assert lines[-1] == "a4 OK NOOP completed", lines[-1]
    assert any(" BAD Command line too long" in line for line in lines), lines
    grown = vm_hwm_kb(network) - before
    assert grown < 64 * 1024, "the network process grew by %d kB" % grown
    r.close()


def test_compress_broken_stream_closes(petrel_factory):
    """RFC 4978: what follows COMPRESS's OK is a DEFLATE stream; octets that are not
    one end the session at once (not at the autologout)."""
    _, r = compressed_session(petrel_factory)
    r.send(b"\xff" * 64 + b"a3 NOOP\r\n")
    r.sock.settimeout(20)
    assert r.sock.recv(4096) == b""
    r.close()


def test_authenticate_line_too_long_same_with_crlf(petrel_factory):
    """A SASL response over 12288 octets ends the session whether or not its CRLF came
    with it (STYLE: "too long" is the same error either way)."""
    p = imap_server(petrel_factory)
    r = plain_challenged(p)
    r.send(b"A" * 13000 + b"\r\n")
    assert r.line().startswith("a1 BAD ")
    assert r.line().startswith("* BYE ")
    assert r.f.readline() == b""
    r.close()


def test_compress_big_inflation_read_on(petrel_factory):
    """One small compressed write that inflates past the session's input limit (256 kB)
    is read whole: what the filter could not inflate at once is not left waiting for
    more octets from the client."""
    _, r = compressed_session(petrel_factory)
    z = Deflated(r.sock)
    z.send(b"x" * (2 << 20) + b"\r\na3 NOOP\r\n")
    lines = z.until("a3")
    assert lines[-1] == "a3 OK NOOP completed", lines[-1]
    r.close()


def test_compress_offered_once_logged_in(petrel_factory):
    """COMPRESS is valid once logged in (RFC 4978 3; BAD before): COMPRESS=DEFLATE is
    not in the capabilities of the not-authenticated state, and is in the login's."""
    p = imap_server(petrel_factory)
    c = imap_connect(p, tls=True)
    assert "COMPRESS=DEFLATE" not in c.welcome.decode().split(), c.welcome
    assert "COMPRESS=DEFLATE" not in c.capability()[1][0].decode().split()
    c.login(SENDER, SENDER_PASSWORD)
    assert "COMPRESS=DEFLATE" in c.capability()[1][0].decode().split()
    c.logout()
