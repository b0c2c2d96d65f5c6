"""Issue 13: the auth process.  AUTH is answered by a process of its own (`petrel serve
--process auth`); when it is stopped, killed or slow the network process answers 454 4.7.0
and never 235, and once the supervisor has started a fresh one AUTH works again.  The
throttle lives in the auth process: failures count across sessions."""

import base64
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import SENDER, SENDER_PASSWORD, SMTPClient, proc_children, proc_cmdline
from test_accounts import scram_exchange


def b64(text):
    return base64.b64encode(text.encode()).decode()


def plain(user=SENDER, password=SENDER_PASSWORD):
    return "AUTH PLAIN " + b64("\0%s\0%s" % (user, password))


def auth_pid(p, other_than=None, timeout=15.0):
    """The auth process: the supervisor's child started with `--process auth` (a fresh one
    when OTHER_THAN names the one it replaces)."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in proc_children(p.proc.pid):
            args = proc_cmdline(pid)
            if args[-2:] == ["--process", "auth"] and pid != other_than:
                return pid
        assert time.monotonic() < deadline, "no auth process under %d" % p.proc.pid
        time.sleep(0.05)


def tls_session(p):
    c = p.connect("submission")
    c.banner()
    c.ehlo()
    c.starttls()
    c.ehlo()
    return c


def auth_works_again(p, timeout=20.0):
    """AUTH succeeds in a new session once the new auth process is connected; until then
    each try gets 454 4.7.0, never anything else."""
    deadline = time.monotonic() + timeout
    while True:
        c = tls_session(p)
        r = c.cmd(plain())
        c.quit()
        if r.code == 235:
            return
        assert (r.code, r.enhanced) == (454, "4.7.0"), r
        assert time.monotonic() < deadline, "AUTH still refused after %ss" % timeout
        time.sleep(0.2)


def test_auth_process_killed_during_a_check(petrel):
    """The auth process dies with a password check in flight (it is stopped when the check
    is sent, then killed): the client gets 454 4.7.0, the supervisor starts a new one, and
    AUTH works again."""
    pid = auth_pid(petrel)
    c = tls_session(petrel)
    os.kill(pid, signal.SIGSTOP)
    try:
        c.send((plain() + "\r\n").encode())
        wait_sent(pid, PLAIN_FRAME)  # killed with the check in flight, not before
        assert c.nothing_pending(0.5)  # no answer while the check waits in the stopped process
    finally:
        os.kill(pid, signal.SIGKILL)
    r = c.read_reply()
    assert (r.code, r.enhanced) == (454, "4.7.0"), r
    # not authenticated
    c.expect("MAIL FROM:<%s>" % SENDER, 530, "5.7.0")
    c.quit()
    petrel.wait_log(r"auth-unavailable .*reason=")
    assert re.search(r"auth-unavailable .*reason=", petrel.log()), petrel.log()[-3000:]
    new = auth_pid(petrel, other_than=pid)
    assert new != pid
    auth_works_again(petrel)


def test_auth_process_killed_during_scram(petrel):
    """The same in the middle of a SCRAM exchange: the client-first message waits in the
    stopped process, which is then killed: 454 4.7.0."""
    pid = auth_pid(petrel)
    c = tls_session(petrel)
    os.kill(pid, signal.SIGSTOP)
    try:
        c.send(("AUTH SCRAM-SHA-256 %s\r\n" % b64("n,,n=%s,r=abcdefgh" % SENDER)).encode())
        wait_sent(pid, SCRAM_START_FRAME)
        assert c.nothing_pending(0.5)
    finally:
        os.kill(pid, signal.SIGKILL)
    r = c.read_reply()
    assert (r.code, r.enhanced) == (454, "4.7.0"), r
    c.quit()
    auth_pid(petrel, other_than=pid)
    auth_works_again(petrel)


def test_auth_process_stopped_gives_454_never_235(petrel_factory):
    """A stopped auth process and [auth] helper_timeout = 1: PLAIN with the right password
    and a SCRAM start get 454 4.7.0 once the timeout passes, never 235; the answers it
    sends once it runs again are dropped, and AUTH then works."""
    p = petrel_factory(helper_timeout=1)
    pid = auth_pid(p)
    os.kill(pid, signal.SIGSTOP)
    try:
        c = tls_session(p)
        t0 = time.monotonic()
        r = c.cmd(plain())
        assert (r.code, r.enhanced) == (454, "4.7.0"), r
        assert time.monotonic() - t0 >= 0.9, "454 before the timeout"
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64("n,,n=%s,r=abcdefgh" % SENDER))
        assert (r.code, r.enhanced) == (454, "4.7.0"), r
        c.expect("MAIL FROM:<%s>" % SENDER, 530, "5.7.0")
        c.quit()
        p.wait_log(r"auth-unavailable ", 2)
    finally:
        os.kill(pid, signal.SIGCONT)
    auth_works_again(p)
    assert "auth session=" in p.wait_log(r"\bauth session="), p.log()[-3000:]
    # exactly one login: the one after SIGCONT
    assert len(re.findall(r"\bauth session=", p.log())) == 1, p.log()[-3000:]


def test_session_closed_while_its_check_waits(petrel):
    """A client that hangs up while its password check waits in the (stopped) auth process:
    the session is freed and its call cancelled; the answer that comes once the auth
    process runs again finds nobody and does no harm (the sanitizers watch), and AUTH
    works for the next client."""
    pid = auth_pid(petrel)
    c = tls_session(petrel)
    sid_line = petrel.wait_log(r"tls session=")
    os.kill(pid, signal.SIGSTOP)
    try:
        c.send((plain() + "\r\n").encode())
        wait_sent(pid, PLAIN_FRAME)  # the call is pending when the session goes
        c.close()
        # the session is gone before the answer can come
        sid = re.findall(r"tls session=(\S+)", sid_line)[-1]
        log = petrel.wait_log(r"disconnect session=%s " % re.escape(sid))
        assert re.search(r"disconnect session=%s " % re.escape(sid), log), log[-3000:]
    finally:
        os.kill(pid, signal.SIGCONT)
    auth_works_again(petrel)
    assert auth_pid(petrel) == pid, "the auth process was restarted"


def test_shutdown_while_a_check_waits(petrel_factory):
    """SIGTERM while a password check waits in the (stopped) auth process: the session gets
    421 4.3.2 at once, not after [auth] helper_timeout (10 s; the drain would wait 30),
    and Petrel exits 0."""
    petrel = petrel_factory(shutdown=30)
    pid = auth_pid(petrel)
    c = tls_session(petrel)
    os.kill(pid, signal.SIGSTOP)
    try:
        c.send((plain() + "\r\n").encode())
        wait_sent(pid, PLAIN_FRAME)  # the call is pending when SIGTERM comes
        assert c.nothing_pending(0.3)
        t0 = time.monotonic()
        petrel.proc.send_signal(signal.SIGTERM)
        r = c.read_reply()
        assert (r.code, r.enhanced) == (421, "4.3.2"), r
        assert time.monotonic() - t0 < 5, "the 421 waited for the auth process"
    finally:
        os.kill(pid, signal.SIGCONT)
    assert petrel.stop(timeout=15) == 0


def channel_queued(pid):
    """Bytes waiting unread in the auth process's channel (fd 3), from `ss -xp`."""
    out = subprocess.run(["ss", "-xpH"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if "pid=%d,fd=3)" % pid in line:
            return int(line.split()[2])
    raise AssertionError("no channel of auth process %d in ss -xp:\n%s" % (pid, out))


PLAIN_FRAME = 4 + 6 + (2 + len(SENDER)) + (2 + len(SENDER_PASSWORD)) + (2 + len("127.0.0.1"))
SCRAM_START_FRAME = 4 + 6 + (2 + len(SENDER))


def wait_sent(pid, nbytes, timeout=10.0):
    """Bounded wait until NBYTES of requests wait unread in the (stopped) auth process's
    channel: the network process has sent them, whatever the load."""
    deadline = time.monotonic() + timeout
    while channel_queued(pid) < nbytes:
        assert time.monotonic() < deadline, "the request never reached the auth process"
        time.sleep(0.05)


def test_hash_queue_full_gets_busy(petrel_factory):
    """[auth] hash_queue = 1: two password checks reach the auth process together (it is
    stopped while both are sent, so they are read at once); the first is checked (235),
    the second finds the queue full: 454 4.7.0 server busy, a second later, no check."""
    p = petrel_factory(hash_workers=1, hash_queue=1)
    pid = auth_pid(p)
    a, b = tls_session(p), tls_session(p)
    os.kill(pid, signal.SIGSTOP)
    try:
        a.send((plain() + "\r\n").encode())
        b.send((plain() + "\r\n").encode())
        wait_sent(pid, 2 * PLAIN_FRAME)
    finally:
        os.kill(pid, signal.SIGCONT)
    ra, rb = a.read_reply(), b.read_reply()
    codes = sorted([(ra.code, ra.enhanced), (rb.code, rb.enhanced)])
    assert codes == [(235, "2.7.0"), (454, "4.7.0")], (ra, rb)
    busy = rb if rb.code == 454 else ra
    assert "busy" in busy.text, busy
    a.quit()
    b.quit()
    assert re.search(r"auth-busy ", p.wait_log(r"auth-busy ")), p.log()[-3000:]
    assert re.search(r"auth-refused .*reason=busy", p.wait_log(r"auth-refused .*reason=busy"))


def test_lockout_counts_across_sessions(petrel_factory):
    """Failures counted by the auth process, one per session: the third locks the address
    out; the fourth session is refused at the banner with 421 4.7.0."""
    p = petrel_factory(slow_after=0, lockout_after=3, lockout_time=60)
    for _ in range(3):
        c = tls_session(p)
        c.expect(plain("nobody@example.test", "wrong"), 535, "5.7.8")
        c.quit()
    d = SMTPClient(p.host, p.sub)
    r = d.read_reply()
    assert (r.code, r.enhanced) == (421, "4.7.0"), r
    d.expect_closed()
    log = p.wait_log(r"auth-lockout ")
    assert re.search(r"auth-lockout client=127\.0\.0\.1 ", log), log[-3000:]


def test_login_takes_the_limits_of_plain(petrel):
    """LOGIN's name and password are held to PLAIN's limits (255 and 1024 bytes), which are
    the auth process's: longer is a malformed response, 501 5.5.2, and no check."""
    c = tls_session(petrel)
    c.expect("AUTH LOGIN " + b64("u" * 256), 501, "5.5.2")
    c.expect("AUTH LOGIN " + b64(SENDER), 334)
    c.expect(b64("p" * 1025), 501, "5.5.2")
    c.expect("AUTH LOGIN " + b64(SENDER), 334)
    c.expect(b64(SENDER_PASSWORD), 235, "2.7.0")
    c.quit()


def test_auth_with_a_user_of_its_own(petrel_factory):
    """Started as root with the default users: the auth process runs as petrel-auth and
    alone can read auth/ (0700) and credentials.db (0600); the network process (petrel)
    cannot, yet PLAIN and SCRAM-SHA-256 logins work through the auth process."""
    if os.geteuid() != 0:
        pytest.skip("running as other users needs root")
    try:
        users = {r: pwd.getpwnam(n) for r, n in
                 (("network", "petrel"), ("auth", "petrel-auth"), ("keys", "petrel-keys"))}
    except KeyError as e:
        pytest.skip("system user %s missing (scripts/install-deps.sh creates it)" % e)
    top = Path(tempfile.mkdtemp(prefix="petrel-auth-", dir="/tmp"))
    try:
        os.chmod(top, 0o755)  # pytest's own temp folders are 0700 root
        data = top / "data"
        p = petrel_factory(user="petrel", auth_user="petrel-auth", keys_user="petrel-keys",
                           data_dir=str(data))
        procs = p.processes()
        for role, user in users.items():
            with open("/proc/%d/status" % procs[role]) as f:
                uid = [l.split()[1:] for l in f if l.startswith("Uid:")][0]
            assert uid == [str(user.pw_uid)] * 4, (role, uid)
        auth_dir, creds = data / "auth", data / "auth" / "credentials.db"
        assert auth_dir.stat().st_uid == users["auth"].pw_uid
        assert stat.S_IMODE(auth_dir.stat().st_mode) == 0o700
        assert creds.stat().st_uid == users["auth"].pw_uid
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        user = "own@example.test"
        p.cli_ok("account", "add", user, "--password-stdin", input="pw-own-123\n")
        c = tls_session(p)
        c.expect(plain(user, "pw-own-123"), 235, "2.7.0")
        c.quit()
        c = tls_session(p)
        assert scram_exchange(c, user, "pw-own-123").code == 235
        c.quit()
        c = tls_session(p)
        c.expect(plain(user, "wrong"), 535, "5.7.8")
        c.quit()
        assert p.stop() == 0
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_disabled_account_counts_like_a_wrong_password(petrel_factory):
    """configuration.md: a wrong password, an unknown user and a disabled account count
    alike.  The auth process says yes to a disabled account's right password (the account's
    status is the network process's business), so the network process counts that 535
    itself: it is slowed down and locks the address out like a wrong password, else its
    quick 535 would tell that the password is right."""
    p = petrel_factory(slow_after=1, lockout_after=3, lockout_time=60)
    user, pw = "off@example.test", "right-pw-1"
    p.cli_ok("account", "add", user, "--password-stdin", input=pw + "\n")
    p.cli_ok("account", "disable", user)
    c = tls_session(p)
    c.expect(plain(user, "wrong"), 535, "5.7.8")      # failure 1: at once (slow_after)
    c.quit()
    c = tls_session(p)
    t0 = time.monotonic()
    c.expect(plain(user, pw), 535, "5.7.8")           # failure 2: a second later
    assert time.monotonic() - t0 >= 0.9, "the right password of a disabled account " \
        "is answered sooner than a wrong one"
    c.quit()
    c = tls_session(p)
    c.expect(plain(user, pw), 535, "5.7.8")           # failure 3: the lockout
    c.quit()
    d = SMTPClient(p.host, p.sub)
    r = d.read_reply()
    assert (r.code, r.enhanced) == (421, "4.7.0"), r
    d.expect_closed()
    assert len(re.findall(r"auth-failed .*reason=disabled", p.log())) == 2, p.log()[-3000:]
