"""Upgrading a data folder written by an older petrel (issue 13, the store split): it kept
each account's password hash and SCRAM credentials in petrel.db's accounts table and the
server secret in DATA_DIR/auth-secret.  The first start (or an `account` command) moves the
secrets to DATA_DIR/auth/credentials.db and the secret to DATA_DIR/auth/auth-secret, drops
the two columns from petrel.db, and the passwords go on working."""

import os
import pwd
import shutil
import smtplib
import sqlite3
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import PETREL_BIN, client_tls_context, make_message, petrel_env
from test_accounts import scram_exchange, tls_session

PW = "an old password 7"
OLD = "old@example.test"
BOX = "u@example.test"   # a second account: a mailbox
OLD_SECRET = "0123456789abcdef" * 4 + "\n"

# petrel.db as petrel wrote it before the split: schema steps 1 and 2 of
# `git show 317b01c:src/store/store-sqlite.c`, recorded in schema_version
OLD_SCHEMA = """
CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL, applied INTEGER NOT NULL);
CREATE TABLE domains (name TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
CREATE TABLE plans (name TEXT PRIMARY KEY NOT NULL,
 daily_limit INTEGER NOT NULL, per_minute INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO plans (name, daily_limit, per_minute) VALUES ('free', 100, 0);
CREATE TABLE accounts (name TEXT PRIMARY KEY NOT NULL,
 password_hash TEXT NOT NULL,
 plan TEXT NOT NULL REFERENCES plans(name),
 daily_limit INTEGER NOT NULL DEFAULT -1,
 per_minute INTEGER NOT NULL DEFAULT -1,
 sandbox INTEGER NOT NULL DEFAULT 0,
 disabled INTEGER NOT NULL DEFAULT 0,
 any_from INTEGER NOT NULL DEFAULT 0,
 created INTEGER NOT NULL);
CREATE TABLE senders (account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
 pattern TEXT NOT NULL, allow INTEGER NOT NULL,
 PRIMARY KEY (account, pattern)) WITHOUT ROWID;
CREATE TABLE aliases (address TEXT NOT NULL, target TEXT NOT NULL,
 PRIMARY KEY (address, target)) WITHOUT ROWID;
ALTER TABLE accounts ADD COLUMN scram TEXT NOT NULL DEFAULT '';
CREATE TABLE counters (account TEXT NOT NULL, win TEXT NOT NULL,
 used INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account, win)) WITHOUT ROWID;
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT,
 time INTEGER NOT NULL, type TEXT NOT NULL, account TEXT, queue_id TEXT,
 recipient TEXT, code INTEGER NOT NULL DEFAULT 0, reason TEXT);
CREATE INDEX events_account ON events (account, id);
CREATE INDEX events_time ON events (time);
INSERT INTO schema_version (version, applied) VALUES (1, 0), (2, 0);
"""


@pytest.fixture(scope="module")
def old_secrets(tmp_path_factory):
    """(hash, scram) of PW, as petrel makes them (made with the CLI in a scratch folder)."""
    d = tmp_path_factory.mktemp("scratch")
    conf = d / "petrel.conf"
    conf.write_text("[server]\nhostname = mx.petrel.test\ndata_dir = %s\n" % (d / "data"))
    r = subprocess.run([PETREL_BIN, "account", "add", "x", "--password-stdin", "-c", str(conf)],
                       input=PW + "\n", capture_output=True, text=True, timeout=60,
                       env=petrel_env())
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(str(d / "data" / "auth" / "credentials.db"))
    row = con.execute("SELECT password_hash, scram FROM credentials").fetchone()
    con.close()
    assert row[0].startswith("$y$") and row[1], row
    return row


def make_old_data_dir(data, secrets):
    """DATA as an older petrel left it: petrel.db with the secrets of OLD and BOX in its
    accounts table (WAL, 0640, as petrel made it), the server secret at DATA/auth-secret,
    no DATA/auth."""
    data.mkdir(exist_ok=True)
    for f in list(data.glob("petrel.db*")):
        f.unlink()
    shutil.rmtree(data / "auth", ignore_errors=True)
    db = data / "petrel.db"
    db.touch(mode=0o640)
    con = sqlite3.connect(str(db))
    con.execute("PRAGMA journal_mode = WAL")
    con.executescript(OLD_SCHEMA)
    with con:
        for name in (OLD, BOX):
            con.execute("INSERT INTO accounts (name, password_hash, plan, created, scram)"
                        " VALUES (?, ?, 'free', 1000, ?)", (name, secrets[0], secrets[1]))
        con.execute("INSERT INTO senders VALUES (?, 'a@b.test', 1)", (OLD,))
    con.close()
    secret = data / "auth-secret"
    secret.write_text(OLD_SECRET)
    secret.chmod(0o600)


def columns(data):
    con = sqlite3.connect(str(data / "petrel.db"))
    cols = [r[1] for r in con.execute("PRAGMA table_info(accounts)")]
    con.close()
    return cols


def credentials(data):
    con = sqlite3.connect(str(data / "auth" / "credentials.db"))
    rows = con.execute("SELECT name, password_hash, scram FROM credentials ORDER BY name")
    rows = rows.fetchall()
    con.close()
    return rows


def moved(secrets):
    """credentials() once both accounts' secrets have moved, unchanged"""
    return [(OLD, secrets[0], secrets[1]), (BOX, secrets[0], secrets[1])]


def test_upgrade_moves_secrets_and_passwords_still_work(petrel_factory, old_secrets):
    p = petrel_factory(start=False)
    make_old_data_dir(p.data_dir, old_secrets)
    assert "password_hash" in columns(p.data_dir)
    p.start()

    # the old password logs in, with PLAIN over STARTTLS and with SCRAM-SHA-256
    with smtplib.SMTP(p.host, p.sub, timeout=10) as s:
        s.starttls(context=client_tls_context())
        s.ehlo("upgrade.example")
        assert s.login(OLD, PW)[0] == 235
    with pytest.raises(smtplib.SMTPAuthenticationError):
        with smtplib.SMTP(p.host, p.sub, timeout=10) as s:
            s.starttls(context=client_tls_context())
            s.login(OLD, "not the password")
    c = tls_session(p)
    assert scram_exchange(c, OLD, PW).code == 235
    c.quit()

    # petrel.db holds no secret any more; credentials.db holds them unchanged
    cols = columns(p.data_dir)
    assert "password_hash" not in cols and "scram" not in cols, cols
    assert "plan" in cols and "disabled" in cols
    assert credentials(p.data_dir) == moved(old_secrets)
    auth = p.data_dir / "auth"
    assert stat.S_IMODE(auth.stat().st_mode) == 0o700
    files = list(auth.glob("credentials.db*"))
    assert files
    for f in files:
        st = f.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600, f
        assert st.st_uid == os.geteuid(), f   # root in the tests (user = root)

    # the server secret moved as it was: an unknown user's SCRAM salt does not change
    assert (auth / "auth-secret").read_text() == OLD_SECRET
    assert stat.S_IMODE((auth / "auth-secret").stat().st_mode) == 0o600
    assert not (p.data_dir / "auth-secret").exists()

    # the rest of the account is untouched, and a restart changes nothing
    assert p.stop() == 0
    for f in p.data_dir.glob("petrel.db*"):
        assert old_secrets[0].encode() not in f.read_bytes(), "%s still holds the hash" % f
    p.start()
    with smtplib.SMTP(p.host, p.sub, timeout=10) as s:
        s.starttls(context=client_tls_context())
        assert s.login(OLD, PW)[0] == 235
        assert s.sendmail("a@b.test", [BOX], make_message()) == {}
    p.mail("example.test", "u", 1)
    assert credentials(p.data_dir) == moved(old_secrets)


@pytest.fixture
def open_dir():
    # pytest's own temp folders are 0700 root: nobody could not reach a data folder there
    d = Path(tempfile.mkdtemp(prefix="petrel-upgrade-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_upgrade_by_the_cli_as_root(open_dir, old_secrets):
    """An `account` command run as root on an old data folder moves the secrets too, and
    leaves auth/ and credentials.db to the auth process's user ([server] auth_user,
    petrel-auth by default), never to the data folder's owner (the network process's
    user on a real system)."""
    if os.geteuid() != 0:
        pytest.skip("file ownership as root needs root")
    nobody = pwd.getpwnam("nobody")
    auth_user = pwd.getpwnam("petrel-auth")
    data = open_dir / "data"
    make_old_data_dir(data, old_secrets)
    for f in [data, *data.iterdir()]:
        os.chown(f, nobody.pw_uid, nobody.pw_gid)
    conf = open_dir / "petrel.conf"
    conf.write_text("[server]\nhostname = mx.petrel.test\ndata_dir = %s\n" % data)

    def cli(*args):
        return subprocess.run([PETREL_BIN, *args, "-c", str(conf)], capture_output=True,
                              text=True, timeout=60, env=petrel_env(), stdin=subprocess.DEVNULL)

    r = cli("account", "show", OLD, "--json")
    assert r.returncode == 0, r.stderr
    assert '"password":"yescrypt"' in r.stdout and '"scram":true' in r.stdout, r.stdout
    assert "password_hash" not in columns(data)
    assert credentials(data) == moved(old_secrets)
    auth = data / "auth"
    assert auth.stat().st_uid == auth_user.pw_uid
    assert stat.S_IMODE(auth.stat().st_mode) == 0o700
    for f in auth.glob("credentials.db*"):
        assert f.stat().st_uid == auth_user.pw_uid, f
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    # the CLI does not need the server secret: it stays where it is for the server to move
    assert (data / "auth-secret").exists()

    # a second command finds nothing to move and changes nothing
    r = cli("account", "list", "--json")
    assert r.returncode == 0, r.stderr
    assert credentials(data) == moved(old_secrets)


def test_secret_columns_planted_after_the_move_are_not_trusted(petrel_factory):
    """The move happens once.  The network process's user owns petrel.db, so a compromised
    network process could put the old columns back with a hash of a password it knows for
    an account of its making: the next start (as root) must not copy that into
    credentials.db, which would give it a login that outlives the hole.  The columns are
    dropped again; the account has no password."""
    p = petrel_factory()
    p.cli_ok("account", "add", "tmp@example.test", "--password-stdin", input=PW + "\n")
    con = sqlite3.connect(str(p.data_dir / "auth" / "credentials.db"))
    h, scram = con.execute("SELECT password_hash, scram FROM credentials"
                           " WHERE name = 'tmp@example.test'").fetchone()
    con.close()
    p.cli_ok("account", "remove", "tmp@example.test")
    assert p.stop() == 0
    db = sqlite3.connect(str(p.data_dir / "petrel.db"))
    with db:
        db.execute("ALTER TABLE accounts ADD COLUMN password_hash TEXT NOT NULL DEFAULT ''")
        db.execute("ALTER TABLE accounts ADD COLUMN scram TEXT NOT NULL DEFAULT ''")
        db.execute("INSERT INTO accounts (name, password_hash, plan, created, scram, any_from)"
                   " VALUES ('evil@example.test', ?, 'free', 1, ?, 1)", (h, scram))
    db.close()
    p.start()
    c = tls_session(p)
    c.auth_plain("evil@example.test", PW, 535, "5.7.8")
    c.quit()
    assert "password_hash" not in columns(p.data_dir)
    assert "evil@example.test" not in [r[0] for r in credentials(p.data_dir)]
