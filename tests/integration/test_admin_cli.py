"""The administrator CLI (domain, account, sender, plan, alias, events) with the real binary.

Each test writes a minimal config (just data_dir) into tmp_path; the last ones run the same
commands against the data folder of a running `petrel serve`.  Exit codes: 0 ok, 1 not found
or failed, 2 usage error or invalid input.
"""

import json
import os
import pty
import select
import signal
import sqlite3
import stat
import subprocess
import time

import pytest

from conftest import PETREL_BIN, SANITIZER_MARKERS, petrel_env


@pytest.fixture
def admin(tmp_path):
    """admin(*args, input=None) -> CompletedProcess, on a fresh data folder."""
    data = tmp_path / "data"
    conf = tmp_path / "petrel.conf"
    conf.write_text("[server]\nhostname = mx.petrel.test\ndata_dir = %s\n" % data)
    runs = []

    def run(*args, input=None, config=conf):
        r = subprocess.run([PETREL_BIN, *map(str, args), "-c", str(config)],
                           capture_output=True, text=True, timeout=60, env=petrel_env(),
                           input=input, stdin=None if input is not None else subprocess.DEVNULL)
        runs.append(r)
        return r

    run.data_dir = data
    run.config = conf
    yield run
    for r in runs:
        for marker in SANITIZER_MARKERS:
            assert marker not in r.stderr, r.stderr


def ok(r):
    assert r.returncode == 0, (r.args, r.returncode, r.stdout, r.stderr)
    return r


def fails(r, code, text=None):
    assert r.returncode == code, (r.args, r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("petrel: ") or r.stderr.startswith("usage: "), r.stderr
    if text:
        assert text in r.stderr, r.stderr
    return r


def as_json(r):
    ok(r)
    return json.loads(r.stdout)


def secrets(data_dir):
    """Every (name, password_hash, scram) in DATA_DIR/auth/credentials.db."""
    con = sqlite3.connect(str(data_dir / "auth" / "credentials.db"))
    rows = con.execute("SELECT name, password_hash, scram FROM credentials ORDER BY name")
    rows = rows.fetchall()
    con.close()
    return rows


def add_event(data_dir, **kw):
    row = {"time": int(time.time()), "type": "accepted", "account": None, "queue_id": None,
           "recipient": None, "code": 0, "reason": None}
    row.update(kw)
    db = sqlite3.connect(str(data_dir / "petrel.db"), timeout=10)
    with db:
        db.execute("INSERT INTO events (time, type, account, queue_id, recipient, code, reason)"
                   " VALUES (:time, :type, :account, :queue_id, :recipient, :code, :reason)", row)
    db.close()


# --------------------------------------------------------------------------- domains

def test_domain_round_trip(admin):
    ok(admin("domain", "add", "Example.TEST"))
    ok(admin("domain", "add", "other.test"))
    fails(admin("domain", "add", "example.test"), 1, "exists")
    assert ok(admin("domain", "list")).stdout.splitlines() == [
        "example.test store", "other.test store"]
    assert as_json(admin("domain", "list", "--json")) == [
        {"name": "example.test", "config": False, "store": True},
        {"name": "other.test", "config": False, "store": True}]
    ok(admin("domain", "remove", "EXAMPLE.test"))
    fails(admin("domain", "remove", "example.test"), 1, "no domain")
    assert as_json(admin("domain", "list", "--json")) == [
        {"name": "other.test", "config": False, "store": True}]


def test_domain_list_includes_the_config_domains(admin):
    """Issue 7 item 25: the domains of [domains] local are local too; list says where each
    comes from, and remove points at the file for one that is only there."""
    admin.config.write_text(admin.config.read_text() +
                            "[domains]\nlocal = conf.test, both.test\n")
    ok(admin("domain", "add", "both.test"))
    ok(admin("domain", "add", "added.test"))
    assert ok(admin("domain", "list")).stdout.splitlines() == [
        "added.test store", "both.test config store", "conf.test config"]
    assert as_json(admin("domain", "list", "--json")) == [
        {"name": "added.test", "config": False, "store": True},
        {"name": "both.test", "config": True, "store": True},
        {"name": "conf.test", "config": True, "store": False}]
    fails(admin("domain", "remove", "conf.test"), 1, "[domains] local")


@pytest.mark.parametrize("bad", ["bad..test", "x-.test", "a_b.test", "example.test.", "a b",
                                 "x" * 64 + ".test", "@example.test"])
def test_domain_invalid(admin, bad):
    fails(admin("domain", "add", bad), 2, "invalid domain")


@pytest.mark.parametrize("args", [(), ("frob",), ("add",), ("list", "x"), ("add", "a", "b"),
                                  ("add", "a.test", "--json"), ("list", "--bogus")])
def test_domain_usage(admin, args):
    fails(admin("domain", *args), 2)


def test_db_file_mode_and_wal(admin):
    ok(admin("domain", "add", "example.test"))
    db = admin.data_dir / "petrel.db"
    assert stat.S_IMODE(db.stat().st_mode) & 0o137 == 0, oct(db.stat().st_mode)
    con = sqlite3.connect(str(db))
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_bad_config(admin, tmp_path):
    fails(admin("domain", "list", config=tmp_path / "missing.conf"), 2)


# --------------------------------------------------------------------------- accounts

def test_account_round_trip(admin):
    r = ok(admin("account", "add", "Alice@Example.test", "--password-stdin", input="s3cret\n"))
    assert "s3cret" not in r.stdout + r.stderr
    fails(admin("account", "add", "alice@example.test", "--password-stdin", input="x\n"), 1,
          "exists")
    show = as_json(admin("account", "show", "ALICE@example.test", "--json"))
    assert show["name"] == "alice@example.test"
    assert show["password"] == "yescrypt"
    assert show["scram"] is True
    assert show["plan"] == "free"
    assert show["daily_limit"] == 100 and show["daily_limit_source"] == "plan"
    assert show["per_minute"] == 0
    assert show["sandbox"] is False and show["disabled"] is False and show["any_from"] is False
    assert show["sent_today"] == 0
    assert show["senders"] == [
        {"pattern": "alice@example.test", "rule": "allow", "own_name": True}]
    assert "$y$" not in json.dumps(show)

    text = ok(admin("account", "show", "alice@example.test")).stdout
    assert "password:    set (yescrypt)" in text
    assert "$y$" not in text and "s3cret" not in text

    # the secrets are in auth/credentials.db, and petrel.db holds none
    [(name, h, scram)] = secrets(admin.data_dir)
    assert name == "alice@example.test"
    assert h.startswith("$y$")
    assert scram.startswith("65536:")  # [auth] scram_iterations default
    con = sqlite3.connect(str(admin.data_dir / "petrel.db"))
    cols = [r[1] for r in con.execute("PRAGMA table_info(accounts)")]
    con.close()
    assert "password_hash" not in cols and "scram" not in cols, cols
    assert stat.S_IMODE((admin.data_dir / "auth").stat().st_mode) == 0o700
    for f in (admin.data_dir / "auth").glob("credentials.db*"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f

    ok(admin("account", "disable", "alice@example.test"))
    assert as_json(admin("account", "show", "alice@example.test", "--json"))["disabled"] is True
    ok(admin("account", "enable", "alice@example.test"))
    assert as_json(admin("account", "show", "alice@example.test", "--json"))["disabled"] is False

    ok(admin("account", "remove", "alice@example.test"))
    assert secrets(admin.data_dir) == []
    fails(admin("account", "show", "alice@example.test"), 1, "no account")
    fails(admin("account", "remove", "alice@example.test"), 1, "no account")
    fails(admin("account", "disable", "alice@example.test"), 1, "no account")
    fails(admin("account", "passwd", "alice@example.test", "--password-stdin", input="x\n"), 1,
          "no account")


def test_account_options_and_set(admin):
    ok(admin("plan", "set", "pro", "--daily-limit", "5000", "--per-minute", "60"))
    ok(admin("account", "add", "app", "--password-stdin", "--plan", "pro", "--daily-limit",
             "10", "--sandbox", "--any-from", input="pw\n"))
    a = as_json(admin("account", "show", "app", "--json"))
    assert a["plan"] == "pro"
    assert a["daily_limit"] == 10 and a["daily_limit_source"] == "account"
    assert a["per_minute"] == 60 and a["per_minute_source"] == "plan"
    assert a["sandbox"] is True and a["any_from"] is True

    ok(admin("account", "set", "app", "--daily-limit", "plan", "--no-sandbox", "--no-any-from",
             "--per-minute", "0"))
    a = as_json(admin("account", "show", "app", "--json"))
    assert a["daily_limit"] == 5000 and a["daily_limit_source"] == "plan"
    assert a["per_minute"] == 0 and a["per_minute_source"] == "account"
    assert a["sandbox"] is False and a["any_from"] is False

    ok(admin("account", "set", "app", "--plan", "free"))
    assert as_json(admin("account", "show", "app", "--json"))["daily_limit"] == 100
    fails(admin("account", "set", "app", "--plan", "gold"), 1, "no plan gold")
    fails(admin("account", "set", "app"), 2, "nothing to change")
    fails(admin("account", "set", "ghost", "--sandbox"), 1, "no account")
    fails(admin("account", "add", "x", "--password-stdin", "--plan", "gold", input="pw\n"), 1,
          "no plan gold")


def test_account_list(admin):
    assert as_json(admin("account", "list", "--json")) == []
    assert ok(admin("account", "list")).stdout == ""
    ok(admin("account", "add", "bob@example.test", "--password-stdin", input="pw\n"))
    ok(admin("account", "add", "alice@example.test", "--password-stdin", "--sandbox",
             input="pw\n"))
    lst = as_json(admin("account", "list", "--json"))
    assert [a["name"] for a in lst] == ["alice@example.test", "bob@example.test"]
    assert lst[0]["sandbox"] is True
    assert all("hash" not in k for a in lst for k in a)
    text = ok(admin("account", "list")).stdout.splitlines()
    assert text[0].split()[:2] == ["NAME", "PLAN"]
    assert text[1].split()[0] == "alice@example.test"


def test_account_remove_takes_the_credentials(admin):
    """remove takes the account's row in credentials.db along, and also one left without
    an account (an add that failed half-way), while still saying there was no account."""
    ok(admin("account", "add", "a@example.test", "--password-stdin", input="pw\n"))
    ok(admin("account", "add", "b@example.test", "--password-stdin", input="pw\n"))
    assert [r[0] for r in secrets(admin.data_dir)] == ["a@example.test", "b@example.test"]
    ok(admin("account", "remove", "A@example.test"))
    assert [r[0] for r in secrets(admin.data_dir)] == ["b@example.test"]
    con = sqlite3.connect(str(admin.data_dir / "petrel.db"))
    with con:
        con.execute("DELETE FROM accounts WHERE name = 'b@example.test'")
    con.close()
    fails(admin("account", "remove", "b@example.test"), 1, "no account b@example.test")
    assert secrets(admin.data_dir) == []


def test_account_passwd(admin):
    ok(admin("account", "add", "u@example.test", "--password-stdin", input="old\n"))
    [before] = secrets(admin.data_dir)
    ok(admin("account", "passwd", "u@example.test", "--password-stdin", input="new\r\n"))
    [after] = secrets(admin.data_dir)
    assert before[1] != after[1] and before[2] != after[2]
    fails(admin("account", "passwd", "u@example.test", "--password-stdin", input=""), 2,
          "no password")
    fails(admin("account", "passwd", "u@example.test", "--password-stdin", input="\n"), 2,
          "empty password")
    fails(admin("account", "passwd", "u@example.test"), 2, "--password-stdin")


def test_account_import_hash(admin):
    crypt = pytest.importorskip("crypt")
    h = crypt.crypt("imported", "$6$saltsaltsalt$")
    ok(admin("account", "add", "old@example.test", "--password-hash", h))
    a = as_json(admin("account", "show", "old@example.test", "--json"))
    assert a["password"] == "sha512-crypt"
    assert a["scram"] is False
    assert "scram:       no" in ok(admin("account", "show", "old@example.test")).stdout
    assert secrets(admin.data_dir) == [("old@example.test", h, "")]
    # a new password brings SCRAM back
    ok(admin("account", "passwd", "old@example.test", "--password-stdin", input="fresh\n"))
    assert as_json(admin("account", "show", "old@example.test", "--json"))["scram"] is True


@pytest.mark.parametrize("h", ["", "plain", "$6$", "$6$salt", "*", "!", "$zz$abc$def"])
def test_account_import_bad_hash(admin, h):
    fails(admin("account", "add", "x@example.test", "--password-hash", h), 2)
    fails(admin("account", "show", "x@example.test"), 1)


def test_account_without_password_source(admin):
    fails(admin("account", "add", "x@example.test"), 2, "--password-stdin")
    fails(admin("account", "add", "x@example.test", "--password-stdin", "--password-hash",
                "$6$a$b", input="pw\n"), 2)


def test_account_password_from_terminal(admin):
    """Without --password-stdin on a terminal: asked twice, with echo off.  Each password
    is typed as soon as its prompt shows, as a fast typist or a paste would: none may be
    flushed away (the prompt must come after echo is turned off)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([PETREL_BIN, "account", "add", "tty@example.test", "-c",
                              str(admin.config)], stdin=slave, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=petrel_env())
        os.close(slave)
        slave = None
        seen = b""
        err = b""

        def drain_tty():
            nonlocal seen
            while select.select([master], [], [], 0)[0]:
                try:
                    chunk = os.read(master, 1024)
                except OSError:
                    return
                if not chunk:
                    return
                seen += chunk

        def wait_prompt(prompt):
            nonlocal err
            end = time.monotonic() + 30
            while prompt not in err:
                assert time.monotonic() < end, err
                r, _, _ = select.select([p.stderr], [], [], 0.1)
                if r:
                    chunk = os.read(p.stderr.fileno(), 1024)
                    assert chunk, err
                    err += chunk
                drain_tty()

        wait_prompt(b"Password: ")
        os.write(master, b"ttypass\n")
        wait_prompt(b"Retype password: ")
        os.write(master, b"ttypass\n")
        out, rest = p.communicate(timeout=30)
        err += rest
        drain_tty()
        assert p.returncode == 0, err
        assert b"ttypass" not in seen, seen
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    assert as_json(admin("account", "show", "tty@example.test", "--json"))["password"] == \
        "yescrypt"


@pytest.mark.parametrize("name", ["bad name", "a@", "@b.test", "a..b", "a@b..c", ""])
def test_account_invalid_name(admin, name):
    fails(admin("account", "add", name, "--password-stdin", input="pw\n"), 2)


@pytest.mark.parametrize("args", [
    ("add", "x", "--password-stdin", "--daily-limit", "many"),
    ("add", "x", "--password-stdin", "--daily-limit", "-5"),
    ("add", "x", "--password-stdin", "--per-minute"),
    ("add", "x", "--password-stdin", "--json"),
    ("list", "x"),
    ("show",),
    ("frob", "x"),
    ("remove", "x", "--sandbox"),
    (),
])
def test_account_usage(admin, args):
    fails(admin("account", *args, input="pw\n"), 2)


# --------------------------------------------------------------------------- senders

def test_sender_round_trip(admin):
    ok(admin("account", "add", "alice@example.test", "--password-stdin", input="pw\n"))
    ok(admin("sender", "allow", "alice@example.test", "@Other.test"))
    ok(admin("sender", "deny", "alice@example.test", "boss@other.test"))
    assert as_json(admin("sender", "list", "alice@example.test", "--json")) == [
        {"pattern": "@other.test", "rule": "allow"},
        {"pattern": "boss@other.test", "rule": "deny"}]
    assert ok(admin("sender", "list", "alice@example.test")).stdout.splitlines() == [
        "allow @other.test", "deny boss@other.test"]
    # allow again replaces deny
    ok(admin("sender", "allow", "alice@example.test", "boss@other.test"))
    assert as_json(admin("sender", "list", "alice@example.test", "--json"))[1]["rule"] == "allow"
    ok(admin("sender", "remove", "alice@example.test", "@other.test"))
    fails(admin("sender", "remove", "alice@example.test", "@other.test"), 1, "no sender rule")
    assert len(as_json(admin("sender", "list", "alice@example.test", "--json"))) == 1
    shown = as_json(admin("account", "show", "alice@example.test", "--json"))
    # the account's own name is an allowed sender, in --json as in the text
    assert shown["senders"] == [
        {"pattern": "alice@example.test", "rule": "allow", "own_name": True},
        {"pattern": "boss@other.test", "rule": "allow", "own_name": False}]
    text = ok(admin("account", "show", "alice@example.test")).stdout
    assert "senders:     alice@example.test (own name), allow boss@other.test" in text, text


def test_sender_errors(admin):
    fails(admin("sender", "allow", "ghost", "@example.test"), 1, "no account")
    fails(admin("sender", "list", "ghost"), 1, "no account")
    ok(admin("account", "add", "a", "--password-stdin", input="pw\n"))
    for bad in ["example.test", "@", "a@", "a b@x.test", "@bad..test"]:
        fails(admin("sender", "allow", "a", bad), 2, "invalid sender")
    fails(admin("sender", "allow", "a"), 2)
    fails(admin("sender", "list"), 2)
    fails(admin("sender", "permit", "a", "@x.test"), 2)


# --------------------------------------------------------------------------- plans

def test_plan_round_trip(admin):
    default = {"quota_bytes": -1, "quota_messages": -1}
    assert as_json(admin("plan", "list", "--json")) == [
        {"name": "free", "daily_limit": 100, "per_minute": 0, **default}]
    ok(admin("plan", "set", "Pro", "--daily-limit", "5000", "--per-minute", "60"))
    ok(admin("plan", "set", "pro", "--per-minute", "120"))     # keeps the daily limit
    ok(admin("plan", "set", "free", "--daily-limit", "50"))
    assert as_json(admin("plan", "list", "--json")) == [
        {"name": "free", "daily_limit": 50, "per_minute": 0, **default},
        {"name": "pro", "daily_limit": 5000, "per_minute": 120, **default}]
    text = ok(admin("plan", "list")).stdout
    assert "pro" in text and "5000" in text and "unlimited" in text


def test_plan_quota(admin):
    """The mailbox quota of a plan (RFC 9208 STORAGE and MESSAGE): a size, a
    count, 0 for none, "default" for [mailbox] quota_default; the other
    settings are kept."""
    out = ok(admin("plan", "set", "pro", "--daily-limit", "10", "--quota", "5G")).stdout
    assert "quota 5G" in out, out
    ok(admin("plan", "set", "pro", "--quota-messages", "1000"))
    ok(admin("plan", "set", "free", "--quota", "0"))
    assert as_json(admin("plan", "list", "--json")) == [
        {"name": "free", "daily_limit": 100, "per_minute": 0, "quota_bytes": 0,
         "quota_messages": -1},
        {"name": "pro", "daily_limit": 10, "per_minute": 0, "quota_bytes": 5 << 30,
         "quota_messages": 1000}]
    lines = ok(admin("plan", "list")).stdout.splitlines()
    assert lines[0].split() == ["NAME", "DAILY", "PER-MINUTE", "QUOTA", "MESSAGES"]
    assert lines[1].split() == ["free", "100", "unlimited", "none", "default"]
    assert lines[2].split() == ["pro", "10", "unlimited", "5G", "1000"]
    ok(admin("plan", "set", "pro", "--quota", "default", "--quota-messages", "0"))
    assert as_json(admin("plan", "list", "--json"))[1]["quota_bytes"] == -1
    assert as_json(admin("plan", "list", "--json"))[1]["quota_messages"] == 0
    for bad in ["lots", "-1", "5T", "2048P"]:
        fails(admin("plan", "set", "pro", "--quota", bad), 2, "--quota")
    for bad in ["1k", "2147483648", "x"]:
        fails(admin("plan", "set", "pro", "--quota-messages", bad), 2, "--quota-messages")
    fails(admin("plan", "list", "--quota", "1G"), 2)


def test_plan_errors(admin):
    fails(admin("plan", "set", "new", "--per-minute", "5"), 2, "--daily-limit")
    fails(admin("plan", "set", "x", "--daily-limit", "lots"), 2)
    fails(admin("plan", "set", "x", "--daily-limit", "plan"), 2)
    fails(admin("plan", "set", "a@b", "--daily-limit", "1"), 2, "invalid plan")
    fails(admin("plan", "set"), 2)
    fails(admin("plan", "list", "--daily-limit", "3"), 2)
    fails(admin("plan", "remove", "x"), 2)


# --------------------------------------------------------------------------- aliases

def test_alias_round_trip(admin):
    ok(admin("domain", "add", "example.test"))
    ok(admin("alias", "add", "Sales@example.test", "alice@example.test", "bob@remote.test"))
    ok(admin("alias", "add", "info@example.test", "alice@example.test"))
    fails(admin("alias", "add", "sales@example.test", "alice@example.test"), 1, "exists")
    assert as_json(admin("alias", "list", "--json")) == [
        {"address": "info@example.test", "targets": ["alice@example.test"]},
        {"address": "sales@example.test", "targets": ["alice@example.test", "bob@remote.test"]}]
    assert ok(admin("alias", "list")).stdout.splitlines() == [
        "info@example.test -> alice@example.test",
        "sales@example.test -> alice@example.test bob@remote.test"]
    ok(admin("alias", "remove", "sales@example.test", "bob@remote.test"))
    fails(admin("alias", "remove", "sales@example.test", "bob@remote.test"), 1, "no alias")
    ok(admin("alias", "remove", "info@example.test"))
    fails(admin("alias", "remove", "info@example.test"), 1, "no alias")
    assert as_json(admin("alias", "list", "--json")) == [
        {"address": "sales@example.test", "targets": ["alice@example.test"]}]


def test_alias_errors(admin):
    ok(admin("domain", "add", "example.test"))
    fails(admin("alias", "add", "sales@example.test"), 2)
    fails(admin("alias", "add", "sales", "a@example.test"), 2, "invalid alias")
    fails(admin("alias", "add", "sales@example.test", "nobody"), 2, "invalid target")
    fails(admin("alias", "remove"), 2)
    fails(admin("alias", "list", "x"), 2)


def test_alias_needs_a_local_domain(admin):
    """Issue 7 item 25: an alias is a local address: its domain must be local (the store's
    domains or [domains] local); the targets may be anywhere."""
    fails(admin("alias", "add", "sales@remote.test", "a@example.test"), 1,
          "remote.test is not a local domain")
    assert as_json(admin("alias", "list", "--json")) == []
    admin.config.write_text(admin.config.read_text() + "[domains]\nlocal = conf.test\n")
    ok(admin("alias", "add", "sales@conf.test", "a@remote.test"))
    ok(admin("domain", "add", "example.test"))
    ok(admin("alias", "add", "Sales@Example.test", "a@remote.test"))
    assert [a["address"] for a in as_json(admin("alias", "list", "--json"))] == [
        "sales@conf.test", "sales@example.test"]


# --------------------------------------------------------------------------- events

def test_events_list_and_filters(admin):
    ok(admin("domain", "add", "example.test"))      # creates the database
    now = int(time.time())
    add_event(admin.data_dir, time=now - 7200, type="accepted", account="alice@example.test",
              queue_id="0123456789ABCDEF", recipient="x@remote.test", code=250,
              reason="queued")
    add_event(admin.data_dir, time=now - 60, type="rejected", account="bob@example.test",
              recipient="y@remote.test", code=550, reason="5.7.1 sender not allowed")
    add_event(admin.data_dir, time=now, type="delivered", account="alice@example.test",
              queue_id="0123456789ABCDEF", recipient="x@remote.test", code=250)

    ev = as_json(admin("events", "--json"))
    assert [e["type"] for e in ev] == ["accepted", "rejected", "delivered"]
    assert ev[0]["queue_id"] == "0123456789ABCDEF" and ev[0]["code"] == 250
    assert ev[1]["reason"] == "5.7.1 sender not allowed"
    assert ev[2]["reason"] is None
    assert ev[0]["time"].endswith("Z")

    lines = ok(admin("events")).stdout.splitlines()
    assert len(lines) == 3
    f = lines[1].split(" ", 7)
    # the node that recorded it: none for these rows, written by hand
    assert f[1:7] == ["-", "rejected", "bob@example.test", "-", "y@remote.test", "550"]
    assert f[7] == "5.7.1 sender not allowed"
    assert lines[2].split()[-1] == "-"

    assert [e["type"] for e in as_json(admin("events", "--account", "ALICE@example.test",
                                             "--json"))] == ["accepted", "delivered"]
    assert [e["type"] for e in as_json(admin("events", "--since", "1h", "--json"))] == [
        "rejected", "delivered"]
    assert len(as_json(admin("events", "--since", "10m", "--json"))) == 2
    assert len(as_json(admin("events", "--since", "3h", "--json"))) == 3
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 120))
    assert len(as_json(admin("events", "--since", iso, "--json"))) == 2
    assert len(as_json(admin("events", "--since", "2000-01-01", "--json"))) == 3
    assert as_json(admin("events", "--since", "2999-01-01", "--json")) == []
    # --limit N: the newest N, printed oldest first (issue 7 item 25)
    assert [e["type"] for e in as_json(admin("events", "--limit", "2", "--json"))] == [
        "rejected", "delivered"]
    assert [l.split()[2] for l in ok(admin("events", "--limit", "1")).stdout.splitlines()] == [
        "delivered"]
    assert [e["type"] for e in as_json(admin("events", "--limit", "5", "--json"))] == [
        "accepted", "rejected", "delivered"]
    assert [e["type"] for e in as_json(admin("events", "--account", "alice@example.test",
                                             "--limit", "1", "--json"))] == ["delivered"]
    assert [e["type"] for e in as_json(admin("events", "--since", "1h", "--limit", "1",
                                             "--json"))] == ["delivered"]
    assert as_json(admin("events", "--account", "nobody", "--json")) == []


@pytest.mark.parametrize("args", [("--since", "yesterday"), ("--since", "10x"),
                                  ("--since",), ("--account", "a b"), ("extra",),
                                  ("--limit", "x"), ("--since", "2026-02-30"),
                                  ("--since", "2026-13-01"), ("--since", "2026-04-31T10:00:00Z"),
                                  ("--since", "2026-01-01T24:00:00Z"),
                                  ("--account", "uid:"), ("--account", "uid:x1")])
def test_events_usage(admin, args):
    fails(admin("events", *args), 2)


def test_events_of_the_sendmail_account(admin):
    """Issue 7 item 25: mail from petrel sendmail has the account uid:N (accounts.md)."""
    ok(admin("domain", "add", "example.test"))
    add_event(admin.data_dir, type="accepted", account="uid:0", recipient="x@remote.test")
    add_event(admin.data_dir, type="accepted", account="uid:1000", recipient="y@remote.test")
    ev = as_json(admin("events", "--account", "uid:0", "--json"))
    assert [e["recipient"] for e in ev] == ["x@remote.test"]
    assert ev[0]["account"] == "uid:0"
    # a valid date is still a date: 2028-02-29 exists
    assert as_json(admin("events", "--since", "2028-02-29", "--json")) == []


def test_events_odd_text_stays_one_line(admin):
    ok(admin("domain", "add", "example.test"))
    add_event(admin.data_dir, type="rejected", recipient="a b@x", reason="line1\r\nline2\x1b",
              code=501)
    lines = ok(admin("events")).stdout.splitlines()
    assert len(lines) == 1 and "a_b@x" in lines[0]
    assert json.loads(ok(admin("events", "--json")).stdout)[0]["reason"] == "line1\r\nline2\x1b"


def test_events_follow(admin):
    ok(admin("domain", "add", "example.test"))
    add_event(admin.data_dir, type="accepted", account="a@example.test")
    p = subprocess.Popen([PETREL_BIN, "events", "--follow", "--json", "-c", str(admin.config)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=petrel_env(), stdin=subprocess.DEVNULL)
    try:
        first = json.loads(p.stdout.readline())
        assert first["type"] == "accepted"
        add_event(admin.data_dir, type="delivered", account="a@example.test", code=250)
        add_event(admin.data_dir, type="bounced", account="b@example.test", code=550)
        second = json.loads(p.stdout.readline())
        third = json.loads(p.stdout.readline())
        assert (second["type"], third["type"]) == ("delivered", "bounced")
        assert second["id"] < third["id"]
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert out == ""


def test_events_follow_text(admin):
    ok(admin("domain", "add", "example.test"))
    p = subprocess.Popen([PETREL_BIN, "events", "--follow", "--account", "a@example.test", "-c",
                          str(admin.config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=petrel_env(), stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        add_event(admin.data_dir, type="sandboxed", account="z@example.test")
        add_event(admin.data_dir, type="sandboxed", account="a@example.test",
                  queue_id="00000000000000AA", recipient="r@remote.test", code=250,
                  reason="kept in the sandbox")
        line = p.stdout.readline().split(" ", 7)
        assert line[1:7] == ["-", "sandboxed", "a@example.test", "00000000000000AA",
                             "r@remote.test", "250"]
        assert line[7] == "kept in the sandbox\n"
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=10)
    assert p.returncode == 0


# --------------------------------------------------------------------------- with the server

def run_cli(server, *args, input=None):
    return subprocess.run([PETREL_BIN, *map(str, args), "-c", str(server.config_path)],
                          capture_output=True, text=True, timeout=60, env=petrel_env(),
                          input=input, stdin=None if input is not None else subprocess.DEVNULL)


def test_cli_while_server_runs(petrel):
    """The CLI changes the store of a running server's data folder, and the server keeps
    serving; both open <data_dir>/petrel.db (WAL)."""
    ok(run_cli(petrel, "domain", "add", "example.test"))
    ok(run_cli(petrel, "account", "add", "carol@example.test", "--password-stdin",
               input="pw\n"))
    ok(run_cli(petrel, "sender", "allow", "carol@example.test", "@other.test"))
    ok(run_cli(petrel, "plan", "set", "pro", "--daily-limit", "10"))
    ok(run_cli(petrel, "account", "set", "carol@example.test", "--plan", "pro", "--sandbox"))
    ok(run_cli(petrel, "alias", "add", "info@example.test", "carol@example.test"))
    c = petrel.session("mx")
    c.quit()
    a = as_json(run_cli(petrel, "account", "show", "carol@example.test", "--json"))
    assert a["plan"] == "pro" and a["sandbox"] is True
    assert as_json(run_cli(petrel, "domain", "list", "--json")) == [
        {"name": "example.test", "config": True, "store": True},
        {"name": "other.test", "config": True, "store": False}]
    assert isinstance(as_json(run_cli(petrel, "events", "--json")), list)
    ok(run_cli(petrel, "account", "remove", "carol@example.test"))
    assert (petrel.data_dir / "petrel.db").exists()
    # the server is still there
    c = petrel.session("mx")
    c.quit()
