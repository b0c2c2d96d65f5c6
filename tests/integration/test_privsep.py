"""Privilege separation (issue 13, docs/security.md "Processes"): `petrel serve` is a
supervisor that starts the auth, keys and network processes, restarts a helper that
dies, and takes everything down with it; with real users each process runs as its own,
with no supplementary groups and no_new_privs, and the network process cannot reach
the credentials or the DKIM keys."""

import base64
import errno
import fcntl
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (PETREL_BIN, SERVE_USER, assert_library_load_fails, group_pids, kill_group,
                      petrel_env, proc_stat, run_petrel)

ROLES = ("network", "auth", "keys")


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(0.05)


def status_of(pid):
    """/proc/PID/status as {field: value}."""
    out = {}
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def lock_free(path):
    """No process holds PATH's flock (taken and let go at once to know)."""
    with open(path, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


def gone(pid):
    st = proc_stat(pid)
    return st is None or st[0] in ("Z", "X")


def test_process_tree(petrel):
    """The supervisor has three children, each exec'd with its role in its argv."""
    sup = petrel.proc.pid
    procs = petrel.processes()
    assert set(procs) == set(ROLES), procs
    for role, pid in procs.items():
        argv = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")[:-1]
        assert argv[-2:] == [b"--process", role.encode()], argv
        assert argv[1:4] == [b"serve", b"-c", str(petrel.config_path).encode()], argv
        assert proc_stat(pid)[1] == sup
        log = petrel.wait_log(r"process-started process=%s pid=%d user=" % (role, pid))
        assert re.search(r"process-started process=%s pid=%d user=%s\b"
                         % (role, pid, SERVE_USER or pwd.getpwuid(os.geteuid()).pw_name),
                         log), log
    assert b"--process" not in Path("/proc/%d/cmdline" % sup).read_bytes()
    # the descriptors each was given, and no others (0..2 are stdin, stdout, stderr)
    net_fds = {int(fd) for fd in os.listdir("/proc/%d/fd" % procs["network"])}
    assert {3, 4, 5, 6} <= net_fds
    lock = os.readlink("/proc/%d/fd/6" % procs["network"])
    assert lock == str(petrel.data_dir / "petrel.lock"), lock
    for role in ("auth", "keys"):
        target = os.readlink("/proc/%d/fd/3" % procs[role])
        assert target.startswith("socket:"), (role, target)


# libpq and what only it links: GSSAPI, Kerberos, LDAP, SASL
LIBPQ_TREE = re.compile(r"/lib(pq|gssapi_krb5|krb5|ldap|sasl2)[.-][^/]*$")


def mapped_libraries(pid):
    """The files of shared libraries in /proc/PID/maps."""
    return {line.split()[-1] for line in Path("/proc/%d/maps" % pid).read_text().splitlines()
            if ".so" in line}


def test_sqlite_node_maps_no_libpq(petrel):
    """With the default store (SQLite) none of the four processes maps libpq or its
    dependencies: libpq is loaded only when a PostgreSQL store is configured
    (src/store/pq-load.c; test_store_postgresql.py checks that it is then)."""
    pids = [petrel.proc.pid, *petrel.processes().values()]
    assert len(pids) == 4, pids
    for pid in pids:
        libs = mapped_libraries(pid)
        assert any("/libc.so" in lib for lib in libs), (pid, libs)
        assert [lib for lib in libs if LIBPQ_TREE.search(lib)] == [], (pid, libs)


LIBUNBOUND_TREE = re.compile(r"/lib(unbound|nettle|hogweed|gmp)[.-][^/]*$")


def test_only_the_network_process_maps_libunbound(petrel):
    """libunbound and what only it links (nettle, hogweed, GMP) are loaded at the first
    resolver (src/dns/ub-load.c): the network process maps them, the supervisor, auth
    and keys processes, which resolve nothing, do not (they all did when the binary
    linked it)."""
    procs = {"supervisor": petrel.proc.pid, **petrel.processes()}
    has = {role: sorted(LIBUNBOUND_TREE.search(lib).group(1) for lib in mapped_libraries(pid)
                        if LIBUNBOUND_TREE.search(lib))
           for role, pid in procs.items()}
    assert has == {"supervisor": [], "network": ["gmp", "hogweed", "nettle", "unbound"],
                   "auth": [], "keys": []}, has


def test_missing_libunbound_is_a_clear_error(petrel_factory, tmp_path):
    """libunbound.so.8 that cannot be loaded (a file of that name that is not a library,
    found first through LD_LIBRARY_PATH): `petrel serve` and a CLI command that looks
    things up exit with the loader's reason, no crash."""
    p = petrel_factory(start=False)
    assert_library_load_fails(tmp_path, "libunbound.so.8", p.config_path,
                              [["spf", "check", "127.0.0.1", "a@example.test"], ["serve"]],
                              "petrel: dns: %s: file too short")


def libcrypto_code_kib(pid):
    """KiB of libcrypto's code resident in PID (its executable mapping)."""
    kib, in_code = 0, False
    for line in Path("/proc/%d/smaps" % pid).read_text().splitlines():
        fields = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+$", fields[0]):
            in_code = fields[1] == "r-xp" and "/libcrypto.so" in line
        elif fields[0] == "Rss:" and in_code:
            kib += int(fields[1])
    return kib


def test_helpers_leave_openssl_unstarted(petrel):
    """A first start (its secrets made then) leaves OpenSSL unstarted in the auth and keys
    processes until they need it (their hash keys and secrets come from getrandom): under
    1 MiB of libcrypto's code resident, where its initialisation alone brings in some
    1.8 MiB (2 MiB of the process each, with its tables).  The network process, whose
    TLS listeners did start it, shows the measure sees it."""
    procs = petrel.processes()
    petrel.wait_log(r"keys-ready", timeout=10)
    code = {role: libcrypto_code_kib(pid) for role, pid in procs.items()}
    assert code["network"] > 1024, code
    assert code["auth"] < 1024 and code["keys"] < 1024, code   # 1844 KiB each before


def test_sigterm_stops_every_process(petrel):
    sup = petrel.proc.pid
    procs = petrel.processes()
    assert petrel.stop() == 0
    assert not group_pids(sup)
    assert all(gone(pid) for pid in procs.values()), procs
    log = petrel.wait_log(r"helper-exited process=keys")
    assert "network-exited status=0" in log, log[-3000:]
    # a helper ends at the EOF of its channel or at the supervisor's SIGTERM, whichever
    # comes first (a SIGTERM during its own clean-up may end it by the signal itself);
    # either way it is not restarted
    for role in ("auth", "keys"):
        assert re.search(r"helper-exited process=%s status=(0|signal-15) restart_in=never"
                         % role, log), log[-3000:]


def test_ctrl_c_reaches_the_group_and_stops_it_cleanly(petrel):
    """^C at a terminal sends SIGINT to the whole group: only the supervisor acts on it
    (the others ignore it), so the network process gets one SIGTERM and drains."""
    sup = petrel.proc.pid
    petrel.processes()
    os.killpg(sup, signal.SIGINT)
    assert petrel.proc.wait(10) == 0
    petrel.proc = None
    wait_until(lambda: not group_pids(sup), 10, "every process to exit")
    log = petrel.log()
    assert "network-exited status=0" in log, log[-3000:]
    assert log.count("shutdown signal=") == 1, log[-3000:]  # the network process's, once


def test_kill9_of_the_supervisor_takes_all_down(petrel):
    """PR_SET_PDEATHSIG: nothing outlives the supervisor, even killed with SIGKILL."""
    sup = petrel.proc.pid
    procs = petrel.processes()
    os.kill(sup, signal.SIGKILL)
    petrel.proc.wait(10)
    petrel.proc = None
    petrel.exits.append(("sigkill", -9))
    try:
        wait_until(lambda: all(gone(pid) for pid in procs.values()), 10,
                   "the children of a killed supervisor to die")
    finally:
        kill_group(sup)  # (a failed test leaves nothing behind)
    assert not group_pids(sup)
    # the lock went with them (a killed process's leader thread can be a zombie a
    # moment before its last thread let go of its files): a new server starts on
    # the same folder
    wait_until(lambda: lock_free(petrel.data_dir / "petrel.lock"), 10, "the lock to go")
    petrel.start()
    assert petrel.stop() == 0


def test_network_process_ending_on_its_own_ends_everything(petrel):
    sup = petrel.proc.pid
    procs = petrel.processes()
    os.kill(procs["network"], signal.SIGKILL)
    assert petrel.proc.wait(10) == 1
    petrel.proc = None
    wait_until(lambda: not group_pids(sup), 10, "the helpers to stop")
    log = petrel.log()
    assert "network-exited status=signal-9" in log, log[-3000:]


@pytest.mark.parametrize("role", ["auth", "keys"])
def test_killed_helper_is_restarted_and_reconnected(petrel, role):
    procs = petrel.processes()
    old = procs[role]
    os.kill(old, signal.SIGKILL)
    log = petrel.wait_log(r"helper-connected process=%s first=no" % role)
    assert re.search(r"warn helper-exited process=%s status=signal-9 ran_ms=\d+ "
                     r"restart_in=0\.100s" % role, log), log[-3000:]
    assert "helper-connected process=%s first=no" % role in log, log[-3000:]
    new = petrel.processes()[role]
    assert new != old and gone(old)
    assert re.search(r"process-started process=%s pid=%d " % (role, new), log)
    # the others were left alone
    for other in ROLES:
        if other != role:
            assert petrel.processes()[other] == procs[other]
    # a helper that keeps dying within 10 s of its start waits twice as long each time
    os.kill(new, signal.SIGKILL)
    log = petrel.wait_log(r"helper-connected process=%s first=no" % role, count=2)
    assert re.search(r"helper-exited process=%s status=signal-9 ran_ms=\d+ "
                     r"restart_in=0\.200s" % role, log), log[-3000:]
    c = petrel.session("mx")
    c.quit()
    assert petrel.stop() == 0


def test_auth_dir_that_is_a_symlink_is_refused(petrel_factory, tmp_path):
    p = petrel_factory(start=False)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(p.data_dir / "auth"), str(elsewhere))
    (p.data_dir / "auth").symlink_to(elsewhere)
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 1, r
    assert "%s/auth is a symbolic link, not a folder" % p.data_dir in r.stderr, r.stderr
    assert "process-started" not in r.stderr


def test_dkim_that_is_a_file_is_refused(petrel_factory):
    p = petrel_factory(start=False)
    (p.data_dir / "dkim").write_text("")
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 1, r
    assert "%s/dkim is something else, not a folder" % p.data_dir in r.stderr, r.stderr


@pytest.mark.parametrize("key", ["auth_user", "keys_user"])
def test_unknown_helper_user_reports_line(petrel_factory, key):
    if SERVE_USER != "root":
        pytest.skip("users are looked up only when started as root (running as uid %d)"
                    % os.geteuid())
    p = petrel_factory(start=False, **{key: "no-such-user-petrel"})
    before = sorted(x.name for x in p.data_dir.iterdir())
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 2, r
    line = p.config_path.read_text().splitlines().index("%s = no-such-user-petrel" % key) + 1
    assert "%s:%d: '%s': no user named 'no-such-user-petrel'" % (p.config_path, line, key) \
        in r.stderr, r.stderr
    assert sorted(x.name for x in p.data_dir.iterdir()) == before


def test_process_flag_is_not_for_people(petrel_factory):
    """--process without the supervisor's environment refuses to run."""
    p = petrel_factory(start=False)
    env = {k: v for k, v in petrel_env().items() if k != "PETREL_SUPERVISOR_PID"}
    r = subprocess.run([PETREL_BIN, "serve", "-c", str(p.config_path), "--process", "network"],
                       capture_output=True, text=True, timeout=30, env=env,
                       stdin=subprocess.DEVNULL, start_new_session=True)
    assert r.returncode != 0, r
    assert "not started by petrel serve" in r.stderr, r.stderr


# --------------------------------------------------------------------------- real users

USERS = {"network": "petrel", "auth": "petrel-auth", "keys": "petrel-keys"}


@pytest.fixture
def open_dir():
    # pytest's own temp folders are 0700 root: the petrel users could not reach a data
    # folder there
    d = Path(tempfile.mkdtemp(prefix="petrel-privsep-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_user(name):
    """preexec_fn: become NAME for good (no groups, its group, its uid)."""
    pw = pwd.getpwnam(name)

    def become():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return become


def open_as(user, path):
    """The errno of opening PATH for reading as USER (0 if it opened)."""
    code = ("import errno, sys\n"
            "try:\n    open(sys.argv[1], 'rb').close()\nexcept OSError as e:\n"
            "    sys.exit(e.errno)\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code, str(path)], preexec_fn=as_user(user),
                       capture_output=True, text=True, timeout=30)
    return r.returncode


def test_each_process_runs_as_its_own_user(petrel_factory, open_dir):
    if os.geteuid() != 0:
        pytest.skip("changing users needs root (running as uid %d)" % os.geteuid())
    for u in USERS.values():
        try:
            pwd.getpwnam(u)
        except KeyError:
            pytest.fail("system user %s missing: run scripts/install-deps.sh" % u)
    data = open_dir / "data"
    (data / "dkim").mkdir(parents=True)
    key = data / "dkim" / "sel1.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    p = petrel_factory(user="petrel", auth_user="petrel-auth", keys_user="petrel-keys",
                       data_dir=str(data))
    procs = p.processes()
    assert set(procs) == set(ROLES), procs

    sup = status_of(p.proc.pid)
    assert sup["Uid"].split() == ["0"] * 4, sup["Uid"]
    for role, pid in procs.items():
        pw = pwd.getpwnam(USERS[role])
        # each child changes user as it starts (the keys process after loading its
        # keys as root): found just after its exec, it may not have yet
        deadline = time.monotonic() + 20
        st = status_of(pid)
        while time.monotonic() < deadline and (st["Uid"].split()[0] == "0" or
                                               st["NoNewPrivs"] != "1"):
            time.sleep(0.05)
            st = status_of(pid)
        assert st["Uid"].split() == [str(pw.pw_uid)] * 4, (role, st["Uid"])
        assert st["Gid"].split() == [str(pw.pw_gid)] * 4, (role, st["Gid"])
        assert st["Groups"] == "", (role, st["Groups"])
        assert st["NoNewPrivs"] == "1", (role, st["NoNewPrivs"])
        assert re.search(r"process-started process=%s pid=%d user=%s\b" % (role, pid, pw.pw_name),
                         p.log())

    net, auth, keys = (pwd.getpwnam(USERS[r]) for r in ROLES)
    for sub, owner in (("auth", auth), ("dkim", keys), ("webhook", keys)):
        st = (data / sub).stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (owner.pw_uid, owner.pw_gid, 0o700), \
            (sub, st)
    assert key.stat().st_uid == keys.pw_uid
    # the event webhook keys' secret (made by the keys process as root, before its drop;
    # given to petrel-keys at the next start): the network process's user cannot read it
    secret = data / "webhook" / "secret"
    assert secret.stat().st_uid in (0, keys.pw_uid) and secret.stat().st_mode & 0o777 == 0o600
    assert open_as("petrel", secret) == errno.EACCES
    assert data.stat().st_uid == net.pw_uid
    assert (data / "petrel.lock").stat().st_uid == net.pw_uid

    # the network process's user can reach neither the credentials nor the keys ...
    assert open_as("petrel", data / "auth" / "credentials.db") == errno.EACCES
    assert open_as("petrel", key) == errno.EACCES
    assert open_as("petrel", data / "petrel.db") == 0  # (the check itself works)
    # ... nor holds a descriptor to anything in them
    for fd in os.listdir("/proc/%d/fd" % procs["network"]):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (procs["network"], fd))
        except FileNotFoundError:
            continue
        assert not target.startswith((str(data / "auth"), str(data / "dkim"))), target

    # SMTP AUTH through the auth process running as petrel-auth
    p.cli_ok("account", "add", "u@example.test", "--password-stdin", input="pw-123456\n")
    c = p.auth_session("submission", user="u@example.test", password="pw-123456")
    c.quit()
    assert p.stop() == 0


def run_as(user, *cmd):
    """Run CMD as USER (a compromised network process runs as `petrel`)."""
    r = subprocess.run(list(map(str, cmd)), preexec_fn=as_user(user), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r
    return r


def test_cli_as_root_keeps_credentials_from_the_network_user(open_dir):
    """`petrel account` run as root never writes a password hash where the network
    process's user can read it.  That user owns the data folder, so a compromised network
    process can rename auth/ away and make one of its own: the command then refuses (and
    writes nothing in it) rather than put the new hash there; and an auth/ it makes is the
    auth process's user's, not the data folder owner's."""
    if os.geteuid() != 0:
        pytest.skip("changing users needs root (running as uid %d)" % os.geteuid())
    net, auth = pwd.getpwnam(USERS["network"]), pwd.getpwnam(USERS["auth"])
    data = open_dir / "data"
    data.mkdir()
    os.chown(data, net.pw_uid, net.pw_gid)
    conf = open_dir / "petrel.conf"
    conf.write_text("[server]\nhostname = mx.petrel.test\ndata_dir = %s\nuser = petrel\n"
                    "auth_user = petrel-auth\nkeys_user = petrel-keys\n" % data)

    def account(*args):
        return subprocess.run([PETREL_BIN, "account", *args, "--password-stdin", "-c",
                               str(conf)], input="pw-123456\n", capture_output=True,
                              text=True, timeout=60, env=petrel_env())

    r = account("add", "alice")
    assert r.returncode == 0, r.stderr
    creds = data / "auth" / "credentials.db"
    assert (data / "auth").stat().st_uid == auth.pw_uid
    assert stat_uid(creds) == auth.pw_uid
    assert open_as("petrel", creds) == errno.EACCES

    # what a compromised network process (uid petrel) can do in its own data folder
    run_as("petrel", "mv", data / "auth", data / "auth.real")
    run_as("petrel", "mkdir", "-m", "0700", data / "auth")
    r = account("add", "bob")
    assert r.returncode == 1, r
    assert "%s/auth is owned by petrel" % data in r.stderr, r.stderr
    r = account("passwd", "alice")
    assert r.returncode == 1, r
    assert os.listdir(data / "auth") == [], "written into the network user's folder"


def stat_uid(path):
    return os.stat(path).st_uid


def test_auth_folder_of_the_network_user_is_refused(petrel_factory, open_dir):
    """The network process's user owns the data folder, so a compromised network process
    can rename auth/ away and make one of its own, holding a credentials.db of its choosing
    (its own passwords for every account, kept after the hole is fixed).  The supervisor
    refuses to start rather than give that folder to petrel-auth and open what is in it."""
    if os.geteuid() != 0:
        pytest.skip("changing users needs root (running as uid %d)" % os.geteuid())
    net = pwd.getpwnam(USERS["network"])
    data = open_dir / "data"
    data.mkdir()
    os.chown(data, net.pw_uid, net.pw_gid)
    run_as("petrel", "mkdir", "-m", "0700", data / "auth")
    p = petrel_factory(start=False, user="petrel", auth_user="petrel-auth",
                       keys_user="petrel-keys", data_dir=str(data))
    r = run_petrel("serve", "-c", p.config_path, timeout=60)
    assert r.returncode == 1, r
    assert "%s/auth is owned by petrel" % data in r.stderr, r.stderr
    assert "process-started" not in r.stderr
    assert (data / "auth").stat().st_uid == net.pw_uid, "given to the auth process's user"
    assert os.listdir(data / "auth") == []


def test_account_commands_of_the_network_user(open_dir):
    """docs/accounts.md: the account commands run as root or as the petrel user, which
    cannot open auth/credentials.db.  As petrel, those that touch no password (set,
    disable, enable, list) work; those that do (add, passwd, remove, show, list --json)
    fail and say why, and change nothing."""
    if os.geteuid() != 0:
        pytest.skip("changing users needs root (running as uid %d)" % os.geteuid())
    net = pwd.getpwnam(USERS["network"])
    data = open_dir / "data"
    data.mkdir()
    os.chown(data, net.pw_uid, net.pw_gid)
    conf = open_dir / "petrel.conf"
    conf.write_text("[server]\nhostname = mx.petrel.test\ndata_dir = %s\nuser = petrel\n"
                    "auth_user = petrel-auth\nkeys_user = petrel-keys\n" % data)

    def account(*args, user=None):
        return subprocess.run([PETREL_BIN, "account", *args, "-c", str(conf)],
                              input="pw-123456\n", capture_output=True, text=True,
                              timeout=60, env=petrel_env(),
                              preexec_fn=as_user(user) if user else None)

    r = account("add", "alice", "--password-stdin")
    assert r.returncode == 0, r.stderr
    for args in (("disable", "alice"), ("enable", "alice"), ("set", "alice", "--sandbox"),
                 ("list",)):
        r = account(*args, user="petrel")
        assert r.returncode == 0, (args, r.stderr)
    assert "alice" in r.stdout
    r = account("show", "alice", "--json")
    assert '"sandbox":true' in r.stdout, r.stdout
    for args in (("add", "bob", "--password-stdin"), ("passwd", "alice", "--password-stdin"),
                 ("remove", "alice"), ("show", "alice"), ("list", "--json")):
        r = account(*args, user="petrel")
        assert r.returncode == 1, (args, r)
        assert "cannot open the credentials" in r.stderr and "Permission denied" in r.stderr, \
            (args, r.stderr)
    r = account("list")
    assert r.stdout.split().count("alice") == 1 and "bob" not in r.stdout, r.stdout


def python_as(user, code, *args):
    """Run python CODE with ARGS as USER (for good); its stdout."""
    r = subprocess.run(["/usr/bin/python3", "-c", code, *map(str, args)],
                       preexec_fn=as_user(user), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def b64_plain(user, password):
    return base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()


def test_helper_folders_swapped_by_the_network_user_are_refused(petrel_factory, open_dir):
    """The network process's user owns the data folder, so it can rename auth/ and dkim/
    away and make folders of its own in their place, then make the helpers restart (a
    malformed frame).  A restarted helper reads its folder as root: it must refuse one
    that is not its user's, or planted credentials would answer yes to the attacker's
    password (and root would parse the attacker's files)."""
    if os.geteuid() != 0:
        pytest.skip("changing users needs root (running as uid %d)" % os.geteuid())
    data = open_dir / "data"
    p = petrel_factory(user="petrel", auth_user="petrel-auth", keys_user="petrel-keys",
                       data_dir=str(data))
    p.cli_ok("account", "add", "u@example.test", "--password-stdin", input="real-pw-1\n")
    p.auth_session("submission", user="u@example.test", password="real-pw-1").quit()
    planted = subprocess.run(["openssl", "passwd", "-6", "planted-pw"], capture_output=True,
                             text=True, check=True).stdout.strip()
    # what a compromised network process may do as petrel: its own auth/ and dkim/,
    # with a credentials.db it can write
    python_as("petrel", "import os, sys\nd = sys.argv[1]\n"
           "for sub in ('auth', 'dkim'):\n"
           "    os.rename(d + '/' + sub, d + '/' + sub + '.real')\n"
           "    os.mkdir(d + '/' + sub)\n    os.chmod(d + '/' + sub, 0o777)\n"
           "open(d + '/auth/credentials.db', 'w').close()\n"
           "os.chmod(d + '/auth/credentials.db', 0o666)\n", data)
    procs = p.processes()
    # (the network process makes a helper exit with a malformed frame; a kill is the same)
    for role in ("auth", "keys"):
        os.kill(procs[role], signal.SIGKILL)
    for role, sub in (("auth", "auth"), ("keys", "dkim")):
        pw = pwd.getpwnam(USERS[role])
        pattern = (r"petrel: %s: %s/%s belongs to uid %d, not to %s \(uid %d\), or others "
                   r"may write in it: refusing to read it"
                   % (role, re.escape(str(data)), sub, pwd.getpwnam("petrel").pw_uid,
                      USERS[role], pw.pw_uid))
        log = p.wait_log(pattern, timeout=20)
        assert re.search(pattern, log), log[-3000:]
    # nor does an account command run as root
    r = p.cli("account", "add", "v@example.test", "--password-stdin", input="other-pw-1\n")
    assert r.returncode == 1, r
    assert "%s/auth is owned by petrel" % data in r.stderr, r.stderr
    # root opened nothing in the planted folder (SQLite would have made its table)
    assert (data / "auth" / "credentials.db").stat().st_size == 0
    assert sorted(os.listdir(data / "auth")) == ["credentials.db"]
    python_as("petrel", "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\n"
           "c.execute('CREATE TABLE credentials (name TEXT PRIMARY KEY NOT NULL,"
           " password_hash TEXT NOT NULL, scram TEXT NOT NULL DEFAULT \\'\\') WITHOUT ROWID')\n"
           "c.execute('INSERT INTO credentials VALUES (?, ?, \\'\\')', (sys.argv[2], sys.argv[3]))\n"
           "c.commit()\n", data / "auth" / "credentials.db", "u@example.test", planted)
    c = p.session("submission")
    c.starttls()
    c.ehlo("client.example")
    r = c.cmd("AUTH PLAIN " + b64_plain("u@example.test", "planted-pw"))
    assert (r.code, r.enhanced) == (454, "4.7.0"), r
    c.quit()
    assert p.stop() == 0
    # nor does the next start adopt the planted auth/
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 1, r
    assert "%s/auth is owned by petrel, the network process's user" % data in r.stderr, \
        r.stderr
    assert "process-started" not in r.stderr
    assert (data / "auth").stat().st_uid == pwd.getpwnam("petrel").pw_uid
    # the operator puts the real auth/ back; the planted dkim/ is refused too: the keys
    # process would read (as root) and sign with whatever keys it holds
    shutil.rmtree(data / "auth")
    os.rename(data / "auth.real", data / "auth")
    planted_key = data / "dkim" / "sel.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(planted_key)],
                   check=True, capture_output=True)
    os.chown(planted_key, pwd.getpwnam("petrel").pw_uid, pwd.getpwnam("petrel").pw_gid)
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 1, r
    assert "%s/dkim is owned by petrel, the network process's user" % data in r.stderr, \
        r.stderr
    assert "process-started" not in r.stderr
    assert planted_key.stat().st_uid == pwd.getpwnam("petrel").pw_uid
    shutil.rmtree(data / "dkim")
    os.rename(data / "dkim.real", data / "dkim")
    p.start()
    p.auth_session("submission", user="u@example.test", password="real-pw-1").quit()
    assert p.stop() == 0


def test_hard_link_in_a_helper_folder_is_not_given_away(petrel_factory, open_dir):
    """At start the supervisor gives the files in auth/ and dkim/ to their helper's user.
    A file there with another link may be anyone's: a helper's user that can make hard
    links to files it does not own (fs.protected_hardlinks = 0) would otherwise have root
    give it /etc/shadow.  Such a file is left alone, with a warning."""
    if os.geteuid() != 0:
        pytest.skip("changing users needs root (running as uid %d)" % os.geteuid())
    data = open_dir / "data"
    (data / "dkim").mkdir(parents=True)
    outside = open_dir / "root-only"
    outside.write_text("root's\n")
    os.chmod(outside, 0o600)
    os.link(outside, data / "dkim" / "linked.pem")
    own = data / "dkim" / "plain.pem"
    own.write_text("not a key\n")
    os.chmod(own, 0o600)
    p = petrel_factory(user="petrel", auth_user="petrel-auth", keys_user="petrel-keys",
                       data_dir=str(data))
    keys = pwd.getpwnam(USERS["keys"])
    assert (outside.stat().st_uid, outside.stat().st_gid) == (0, 0)
    assert own.stat().st_uid == keys.pw_uid
    assert re.search(r"%s/dkim/linked.pem has 2 links: left to its owner" % re.escape(str(data)),
                     p.log()), p.log()[-3000:]
    assert p.stop() == 0
