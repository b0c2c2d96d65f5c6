"""The POP3 server (RFC 1939, CAPA RFC 2449, STLS RFC 2595, AUTH RFC 5034) with real
clients: poplib, curl and fetchmail, on listeners of role pop3 (STLS) and pop3s."""

import base64
import hashlib
import hmac
import os
import poplib
import select
import shutil
import socket
import subprocess
import time

import pytest

from conftest import SENDER, SENDER_PASSWORD, add_listeners, fault_env
from conftest import client_tls_context as tls_context

USER, PW = SENDER, SENDER_PASSWORD
LOCAL = SENDER.split("@")[0]


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def pop3_server(petrel_factory, start=True, **overrides):
    """A Petrel whose ports["pop3"] and ports["pop3s"] are POP3 listeners on loopback."""
    p = petrel_factory(start=False, **overrides)
    add_listeners(p, "pop3", "pop3s")
    if start:
        p.start()
    return p


@pytest.fixture
def pop(petrel_factory):
    return pop3_server(petrel_factory)


def connect(p, tls=False):
    if tls:
        return poplib.POP3_SSL(p.host, p.ports["pop3s"], context=tls_context(), timeout=10)
    return poplib.POP3(p.host, p.ports["pop3"], timeout=10)


def login(p, tls=True):
    c = connect(p, tls=tls)
    c.user(USER)
    c.pass_(PW)
    return c


def maildir(p):
    return p.data_dir / "mail" / "example.test" / LOCAL


def deliver(p, body, name=None):
    """A message dropped into the INBOX's new/ as any MDA would; returns its file name."""
    d = maildir(p)
    for sub in ("tmp", "new", "cur"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    name = name or "%d.M%dP%d.test" % (time.time(), time.monotonic_ns() % 10**9, os.getpid())
    (d / "tmp" / name).write_bytes(body)
    os.rename(d / "tmp" / name, d / "new" / name)
    return name


def message(n, extra=b""):
    return (b"From: a@b.test\r\nTo: %s\r\nSubject: message %d\r\n\r\nbody of %d\r\n"
            % (USER.encode(), n, n)) + extra


def files(p):
    d = maildir(p)
    return sorted(os.listdir(d / "cur")) + sorted(os.listdir(d / "new"))


def raw_cmd(c, line):
    """A command poplib has no method for; the first line of the reply."""
    c._putcmd(line)
    return c._getline()[0].decode()


# ---------------------------------------------------------------------- TLS and login

def test_capa_and_user_refused_before_stls(pop):
    c = connect(pop)
    caps = c.capa()
    assert "STLS" in caps and "UIDL" in caps and "TOP" in caps, caps
    assert "USER" not in caps and "SASL" not in caps, caps
    with pytest.raises(poplib.error_proto, match=r"STLS"):
        c.user(USER)
    with pytest.raises(poplib.error_proto, match=r"STLS"):
        raw_cmd_ok(c, "AUTH PLAIN " + b64("\0%s\0%s" % (USER, PW)))
    c.stls(context=tls_context())
    caps = c.capa()
    assert "USER" in caps and caps["SASL"] == ["PLAIN", "SCRAM-SHA-256"], caps
    assert "STLS" not in caps, caps
    c.user(USER)
    assert c.pass_(PW).startswith(b"+OK"), "login after STLS"
    assert c.stat() == (0, 0)
    c.quit()


def raw_cmd_ok(c, line):
    """As raw_cmd, raising poplib.error_proto on -ERR."""
    resp = raw_cmd(c, line)
    if not resp.startswith("+"):
        raise poplib.error_proto(resp)
    return resp


def test_plaintext_loopback_allows_user(petrel_factory):
    p = pop3_server(petrel_factory, plaintext_loopback="true")
    c = connect(p)
    assert "USER" in c.capa()
    c.user(USER)
    c.pass_(PW)
    c.quit()


def test_pop3s_wrong_password(pop):
    c = connect(pop, tls=True)
    c.user(USER)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        c.pass_("not the password")
    # PASS needs USER again (RFC 1939 7)
    with pytest.raises(poplib.error_proto, match=r"USER first"):
        c.pass_(PW)
    c.user(USER)
    c.pass_(PW)
    c.quit()
    pop.wait_log(r"auth-failed session=p\S+ .*reason=")


def test_auth_plain_initial_response_and_challenge(pop):
    c = connect(pop, tls=True)
    assert raw_cmd(c, "AUTH PLAIN " + b64("\0%s\0%s" % (USER, "wrong"))).startswith(
        "-ERR [AUTH]")
    # without an initial response: "+ " then the response (RFC 5034 4)
    assert raw_cmd(c, "AUTH PLAIN") == "+ "
    assert raw_cmd(c, b64("\0%s\0%s" % (USER, PW))).startswith("+OK")
    assert c.stat() == (0, 0)
    c.quit()


def test_auth_cancel_and_malformed(pop):
    c = connect(pop, tls=True)
    assert raw_cmd(c, "AUTH PLAIN") == "+ "
    assert raw_cmd(c, "*").startswith("-ERR Authentication cancelled")
    assert raw_cmd(c, "AUTH PLAIN !!!notbase64").startswith("-ERR Malformed")
    assert raw_cmd(c, "AUTH CRAM-MD5").startswith("-ERR Unsupported")
    c.user(USER)
    c.pass_(PW)
    c.quit()


def test_auth_alone_lists_the_mechanisms(pop):
    """AUTH without a name (the list older clients ask for): the mechanisms,
    one a line, up to the ".", and nothing after it (no stray byte before
    the next reply)."""
    s = tls_context().wrap_socket(
        socket.create_connection((pop.host, pop.ports["pop3s"]), timeout=10))
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"AUTH\r\nNOOP\r\n")
    assert f.readline().startswith(b"+OK")
    assert [f.readline() for _ in range(3)] == [b"PLAIN\r\n", b"SCRAM-SHA-256\r\n", b".\r\n"]
    # NOOP before login: its -ERR is the very next byte
    assert f.readline().startswith(b"-ERR "), "a stray byte after the list"
    s.close()


def test_auth_scram_sha_256(pop):
    c = connect(pop, tls=True)
    cnonce = b64(os.urandom(18))
    first_bare = "n=%s,r=%s" % (USER, cnonce)
    resp = raw_cmd(c, "AUTH SCRAM-SHA-256 " + b64("n,," + first_bare))
    assert resp.startswith("+ "), resp
    server_first = base64.b64decode(resp[2:]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(cnonce)
    salted = hashlib.pbkdf2_hmac("sha256", PW.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    final = "c=%s,r=%s" % (b64("n,,"), attrs["r"])
    auth_message = ",".join([first_bare, server_first, final]).encode()
    sig = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    resp = raw_cmd(c, b64(final + ",p=" + b64(proof)))
    assert resp.startswith("+ "), resp
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expect = "v=" + b64(hmac.new(server_key, auth_message, hashlib.sha256).digest())
    assert base64.b64decode(resp[2:]).decode() == expect
    assert raw_cmd(c, "").startswith("+OK")
    assert c.stat() == (0, 0)
    c.quit()


# ---------------------------------------------------------------------- the maildrop

def test_list_retr_top_uidl(pop):
    deliver(pop, message(1))
    # a line starting with "." is dot-stuffed on the wire, and poplib takes it off
    deliver(pop, message(2, b".hidden dot line\r\n..two dots\r\nlast line without CRLF"))
    c = login(pop)
    assert c.stat() == (2, len(message(1)) + len(message(2, b".hidden dot line\r\n..two dots"
                                                             b"\r\nlast line without CRLF")))
    resp, lines, _ = c.list()
    assert [int(l.split()[0]) for l in lines] == [1, 2]
    resp, lines, _ = c.retr(2)
    assert lines[-3:] == [b".hidden dot line", b"..two dots", b"last line without CRLF"], lines
    resp, lines, _ = c.top(1, 0)
    assert lines == [b"From: a@b.test", b"To: " + USER.encode(), b"Subject: message 1", b""]
    uidl = c.uidl()[1]
    assert len(uidl) == 2 and len(set(l.split()[1] for l in uidl)) == 2
    with pytest.raises(poplib.error_proto, match=r"No such message"):
        c.retr(3)
    c.quit()


def test_uidl_stable_and_dele_quit_removes(pop):
    for n in range(3):
        deliver(pop, message(n))
    c = login(pop)
    before = dict(l.decode().split() for l in c.uidl()[1])
    c.dele(2)
    with pytest.raises(poplib.error_proto, match=r"deleted"):
        c.retr(2)
    assert c.stat()[0] == 2
    assert "1 messages deleted" in c.quit().decode()
    assert len(files(pop)) == 2, files(pop)
    c = login(pop)
    after = [l.decode().split()[1] for l in c.uidl()[1]]
    assert after == [before["1"], before["3"]]
    c.quit()


def test_uidl_of_long_file_names_fits_rfc_1939(pop):
    """RFC 1939 7: a unique-id is 1 to 70 characters from 0x21 to 0x7E.  A
    Maildir file name (another MDA's, or ours with a long host name) can be
    longer: its unique-id must still fit, stay the same in the next session,
    and differ from the others'."""
    host = "mx1." + "a-rather-long-host-name-of-a-delivery-agent." * 3 + "example"
    deliver(pop, message(1), name="1733400000.M123456P1234V000000000000FD00I0000000000ABCDEF_0."
            + host)
    deliver(pop, message(2), name="1733400000.M123457P1234V000000000000FD00I0000000000ABCDF0_0."
            + host)
    deliver(pop, message(3))
    c = login(pop)
    first = [l.decode().split() for l in c.uidl()[1]]
    assert len(first) == 3
    for n, uid in first:
        assert 1 <= len(uid) <= 70 and all(0x21 <= ord(ch) <= 0x7E for ch in uid), uid
        assert c.uidl(int(n)).decode().split()[2] == uid
    assert len(set(uid for _, uid in first)) == 3
    assert c.retr(1)[1][-1] == b"body of 1"
    c.quit()
    c = login(pop)
    assert [l.decode().split() for l in c.uidl()[1]] == first
    c.quit()


def test_dele_then_rset_keeps(pop):
    deliver(pop, message(1))
    deliver(pop, message(2))
    c = login(pop)
    c.dele(1)
    c.dele(2)
    assert c.stat() == (0, 0)
    c.rset()
    assert c.stat()[0] == 2
    c.quit()
    assert len(files(pop)) == 2


def test_dele_without_quit_keeps(pop):
    deliver(pop, message(1))
    c = login(pop)
    c.dele(1)
    # no QUIT: no UPDATE state (RFC 1939 6)
    c.sock.shutdown(socket.SHUT_RDWR)
    c.file.close()
    c.sock.close()
    # the lock is given back: a new session gets the message
    deadline = time.monotonic() + 10
    while True:
        try:
            c = login(pop)
            break
        except poplib.error_proto as e:
            assert "IN-USE" in str(e) and time.monotonic() < deadline, e
            time.sleep(0.05)
    assert c.stat()[0] == 1
    c.quit()


def test_second_session_in_use(pop):
    deliver(pop, message(1))
    a = login(pop)
    b = connect(pop, tls=True)
    b.user(USER)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        b.pass_(PW)
    a.quit()
    b.user(USER)
    b.pass_(PW)
    assert b.stat()[0] == 1
    b.quit()


# ---------------------------------------------------------------------- bad input, limits

def test_bad_commands(pop):
    c = login(pop)
    assert raw_cmd(c, "RETR x").startswith("-ERR Invalid message number")
    assert raw_cmd(c, "RETR 0").startswith("-ERR Invalid message number")
    assert raw_cmd(c, "FOO").startswith("-ERR Unknown command")
    assert raw_cmd(c, "USER x").startswith("-ERR Already logged in")
    assert raw_cmd(c, "TOP 1").startswith("-ERR")
    c.quit()
    c = connect(pop, tls=True)
    assert raw_cmd(c, "STAT").startswith("-ERR Log in first")
    c.quit()


def test_line_too_long(petrel_factory):
    p = pop3_server(petrel_factory, pop3_command_line="300")
    c = connect(p)
    assert raw_cmd(c, "CAPA " + "x" * 400).startswith("-ERR Line too long")
    caps = c.capa()  # the session goes on with the next line
    assert "STLS" in caps
    c.quit()


def test_autologout_closes_silently_and_keeps_deleted(petrel_factory, tmp_path):
    """RFC 1939 3: the autologout timer is at least 10 minutes ([pop3] idle_timeout,
    600 s and more); when it expires the session does not enter UPDATE and the server
    closes the connection without a response and without removing the DELE'd message.
    The fault shim's clock rule makes the 10 minutes pass for the network process."""
    p = pop3_server(petrel_factory, start=False)
    rules = tmp_path / "clock-rules"
    rules.write_text("clock 0 network\n")
    p.extra_env = {**fault_env(rules), "PETREL_FAULT_CLOCK": "network"}
    p.start()
    deliver(p, message(1))
    deliver(p, message(2))
    c = login(p)
    assert c.stat()[0] == 2
    c.dele(1)
    s = c.sock
    # 9 minutes 50 seconds on: still open (another session's round trip shows that
    # the loop ran with the new clock)
    rules.write_text("clock 590 network\n")
    for _ in range(3):
        other = connect(p)
        other.capa()
        other.quit()
    assert select.select([s], [], [], 0)[0] == [], "closed (or written to) before 10 minutes"
    s.settimeout(30)
    # 10 minutes and more: closed, and nothing written before the close
    rules.write_text("clock 601 network\n")
    got = b""
    while True:
        data = s.recv(4096)
        if not data:
            break
        got += data
    assert got == b"", "the autologout sent %r" % got
    c.close()
    p.wait_log(r"timeout session=")
    # no UPDATE: both messages are still there, the next session sees them
    assert len(files(p)) == 2
    c = login(p)
    assert c.stat()[0] == 2
    c.quit()


# ---------------------------------------------------------------------- other clients

def test_curl_pop3s_and_stls(pop):
    deliver(pop, message(7))
    r = subprocess.run(["curl", "-sS", "-k", "--user", "%s:%s" % (USER, PW),
                        "pop3s://%s:%d/1" % (pop.host, pop.ports["pop3s"])],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert b"body of 7" in r.stdout and b"Subject: message 7" in r.stdout
    # pop3:// with STLS required: the listing
    r = subprocess.run(["curl", "-sS", "-k", "--ssl-reqd", "--user", "%s:%s" % (USER, PW),
                        "pop3://%s:%d/" % (pop.host, pop.ports["pop3"])],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"1", str(len(message(7))).encode()]
    # without TLS curl cannot log in
    r = subprocess.run(["curl", "-sS", "--user", "%s:%s" % (USER, PW),
                        "pop3://%s:%d/" % (pop.host, pop.ports["pop3"])],
                       capture_output=True, timeout=30)
    assert r.returncode != 0


def test_fetchmail_over_tls(pop, tmp_path):
    if not shutil.which("fetchmail"):
        pytest.fail("fetchmail is not installed (scripts/install-deps.sh)")
    for n in range(3):
        deliver(pop, message(n))
    out = tmp_path / "fetched.mbox"
    rc = tmp_path / "fetchmailrc"
    rc.write_text('poll %s service %d protocol pop3 auth password\n'
                  '  user "%s" password "%s" is "%s" here\n'
                  '  ssl no sslcertck\n'
                  '  mda "/bin/sh -c \'cat >> %s\'"\n'
                  % (pop.host, pop.ports["pop3s"], USER, PW, os.environ.get("USER", "root"),
                     out))
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    r = subprocess.run(["fetchmail", "-f", str(rc), "--nosyslog", "-N", "-v"],
                       capture_output=True, timeout=60, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    got = out.read_bytes()
    for n in range(3):
        assert b"body of %d" % n in got, got
    # fetchmail deletes what it fetched (no "keep"): QUIT's UPDATE removed the files
    assert files(pop) == []


def test_disabled_account_same_answer(pop):
    """A disabled account's right password gets what a wrong password gets."""
    pop.cli_ok("account", "disable", USER)
    c = connect(pop, tls=True)
    c.user(USER)
    with pytest.raises(poplib.error_proto) as wrong:
        c.pass_(PW)
    assert str(wrong.value) == str(b"-ERR [AUTH] Invalid user name or password")
    c.quit()
    pop.wait_log(r"auth-failed session=p\S+ .*reason=disabled")
    pop.cli_ok("account", "enable", USER)
    login(pop).quit()


def test_lockout_shared_with_smtp(petrel_factory):
    """Failures on POP3 lock the address out of POP3 and SMTP alike (one throttle)."""
    p = pop3_server(petrel_factory, slow_after=0, lockout_after=2, lockout_time=60)
    c = connect(p, tls=True)
    for _ in range(2):
        c.user(USER)
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            c.pass_("wrong")
    c.user(USER)
    with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\] Too many"):
        c.pass_(PW)  # refused without a check, right password or not
    c.close()
    # a new POP3 connection and an SMTP one are refused at connect
    s = socket.create_connection((p.host, p.ports["pop3"]), timeout=10)
    assert s.makefile("rb").readline().startswith(b"-ERR [SYS/TEMP] Too many authentication")
    s.close()
    s = socket.create_connection((p.host, p.sub), timeout=10)
    assert s.makefile("rb").readline().startswith(b"421 ")
    s.close()


def test_shutdown_applies_no_deletion(pop):
    """SIGTERM: the session gets -ERR, its DELE is not applied, the server exits 0."""
    deliver(pop, message(1))
    c = login(pop)
    c.dele(1)
    assert pop.stop() == 0
    assert c.file.readline().startswith(b"-ERR [SYS/TEMP] Server shutting down")
    assert c.file.readline() == b""
    c.close()
    assert len(files(pop)) == 1
    # the shutdown's log line counts the POP3 sessions it waits for
    assert "pop3_sessions=1" in pop.log(), pop.log()[-2000:]


def test_stls_discards_pipelined_plaintext(pop):
    """RFC 2595 4, CVE-2011-0411: what was sent in plain text after STLS is not
    taken as said under TLS."""
    s = socket.create_connection((pop.host, pop.ports["pop3"]), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"STLS\r\nUSER injected@example.test\r\n")
    assert f.readline().startswith(b"+OK Begin TLS")
    t = tls_context().wrap_socket(s, server_hostname="localhost")
    tf = t.makefile("rb")
    t.sendall(b"NOOP\r\n")
    # the injected USER got no answer; NOOP before login is refused
    assert tf.readline().startswith(b"-ERR Log in first")
    t.sendall(b"PASS %s\r\n" % PW.encode())
    assert tf.readline().startswith(b"-ERR Send USER first")
    t.close()
