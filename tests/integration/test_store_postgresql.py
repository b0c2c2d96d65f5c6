"""Petrel on PostgreSQL ([store] backend = postgresql): one node accepts an account's
mail and holds its daily limit, two nodes on one database share the limit exactly,
`petrel migrate` brings an empty database to the schema, a database outage is a
temporary failure, and `petrel store copy` moves a SQLite node's store (pg_cluster.py
starts the throwaway cluster)."""
import itertools
import json
import shutil
import time
from pathlib import Path

import pytest

from conftest import MAILBOX_HASH, assert_library_load_fails, assert_queued, make_message
from pg_cluster import Cluster, pg_cluster  # noqa: F401 (the fixture)

PW = "pg-pass-1"
_db_numbers = itertools.count()


@pytest.fixture
def pg_url(pg_cluster):  # noqa: F811
    """A new, empty database of the module's cluster."""
    return pg_cluster.create_database("petrel_%d" % next(_db_numbers))


def pg_petrel(petrel_factory, url, start=True, **overrides):
    return petrel_factory(start=start, store_backend="postgresql", store_url=url, **overrides)


def send(p, user, rcpt_list):
    """One transaction as USER on the submission port: RCPT replies, and the DATA reply if
    any recipient was taken."""
    c = p.auth_session(user=user, password=PW)
    c.expect("MAIL FROM:<%s>" % user, 250)
    got = [c.cmd("RCPT TO:<%s>" % r) for r in rcpt_list]
    if any(r.code == 250 for r in got):
        c.expect("DATA", 354)
        c.send(make_message(sender=user) + b".\r\n")
        assert_queued(c.read_reply())
    c.quit()
    return got


def test_daily_limit_on_postgresql(petrel_factory, pg_cluster, pg_url):  # noqa: F811
    """Accounts made with the CLI live in PostgreSQL; the server accepts the account's mail
    up to its daily limit, refuses the next recipient with 451 4.7.1, and the count is the
    database's."""
    p = pg_petrel(petrel_factory, pg_url, start=False)
    p.cli_ok("account", "add", "u@example.test", "--password-hash", MAILBOX_HASH)
    p.cli_ok("account", "add", "pg@example.test", "--password-stdin", "--daily-limit", "3",
             input=PW + "\n")
    assert pg_cluster.psql("SELECT name FROM accounts ORDER BY name", db=pg_url.split("/")[3]
                           .split("?")[0]).split() == ["pg@example.test", "u@example.test"]
    p.start()
    # libpq is loaded by the processes that open the store (the supervisor's start-up
    # child checks it and the credentials before the others start, and exits: the
    # supervisor never maps it), not by the auth process (its credentials are in SQLite
    # here) nor by the keys process
    procs = {"supervisor": p.proc.pid, **p.processes()}
    has = {role: any("/libpq.so" in line for line in
                     Path("/proc/%d/maps" % pid).read_text().splitlines())
           for role, pid in procs.items()}
    assert has == {"supervisor": False, "network": True, "auth": False, "keys": False}, has
    got = send(p, "pg@example.test", ["u+%d@example.test" % i for i in range(4)])
    assert [r.code for r in got] == [250, 250, 250, 451], got
    assert got[3].enhanced == "4.7.1", got[3]
    assert "Daily sending limit of 3 recipients" in got[3].text, got[3]
    assert len(p.mail("example.test", "u", 3, timeout=30)) == 3
    db = pg_url.split("/")[3].split("?")[0]
    assert pg_cluster.psql("SELECT sum(used) FROM counters WHERE account = 'pg@example.test'"
                           " AND win LIKE 'd:%'", db=db) == "3"


def test_missing_libpq_is_a_clear_error(petrel_factory, tmp_path):
    """A PostgreSQL store when libpq.so.5 cannot be loaded (here a file of that name that
    is not a library, found first through LD_LIBRARY_PATH): `petrel serve` and the CLI
    exit with the loader's reason, no crash."""
    p = pg_petrel(petrel_factory, "postgresql://petrel@127.0.0.1:1/none", start=False)
    assert_library_load_fails(tmp_path, "libpq.so.5", p.config_path,
                              [["domain", "list"], ["serve"]],
                              "PostgreSQL store configured ([store] url) but libpq.so.5"
                              " cannot be loaded: %s")


def test_two_nodes_share_the_limit(petrel_factory, pg_url):
    """Two servers on one database: what one node reserved counts on the other, so the
    account gets exactly its limit across both."""
    a = pg_petrel(petrel_factory, pg_url, start=False)
    a.cli_ok("account", "add", "two@example.test", "--password-stdin", "--daily-limit", "5",
             input=PW + "\n")
    b = pg_petrel(petrel_factory, pg_url, start=False)
    # the password lives with each node's auth process (auth/credentials.db)
    b.cli_ok("account", "passwd", "two@example.test", "--password-stdin", input=PW + "\n")
    a.start()
    b.start()
    got_a = send(a, "two@example.test", ["x%d@remote.test" % i for i in range(3)])
    got_b = send(b, "two@example.test", ["y%d@remote.test" % i for i in range(3)])
    got_a2 = send(a, "two@example.test", ["z@remote.test"])
    assert [r.code for r in got_a] == [250, 250, 250], got_a
    assert [r.code for r in got_b] == [250, 250, 451], got_b
    assert [r.code for r in got_a2] == [451], got_a2


def test_migrate_command(petrel_factory, pg_cluster, pg_url):  # noqa: F811
    """`petrel migrate` makes the schema of an empty database, and a second run finds it
    up to date, quietly."""
    p = pg_petrel(petrel_factory, pg_url, start=False)
    db = pg_url.split("/")[3].split("?")[0]
    assert pg_cluster.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                           db=db) == "0"
    for _ in range(2):
        r = p.cli_ok("migrate")
        assert r.stdout.strip() == "store=postgresql schema_version=8", r.stdout
        # the server's notices ("already exists, skipping") go to the log, not stderr
        assert "NOTICE" not in r.stderr, r.stderr
    assert pg_cluster.psql("SELECT count(*) FROM schema_version", db=db) == "8"
    assert pg_cluster.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                           db=db) != "0"


def test_database_outage_is_a_temporary_failure(petrel_factory):
    """With the database stopped, an authenticated session's recipients get 451 4.3.0, not
    a pass around the limit; once the database is back, the same server (its pool opens
    new connections) accepts mail again without a restart."""
    cluster = Cluster()
    try:
        cluster.start()
        url = cluster.create_database("outage")
        p = pg_petrel(petrel_factory, url, start=False)
        p.cli_ok("account", "add", "out@example.test", "--password-stdin", "--daily-limit",
                 "10", input=PW + "\n")
        p.start()
        assert [r.code for r in send(p, "out@example.test", ["a@remote.test"])] == [250]
        c = p.auth_session(user="out@example.test", password=PW)
        cluster.stop()
        r = c.cmd("MAIL FROM:<out@example.test>")
        if r.code == 250:
            r = c.cmd("RCPT TO:<b@remote.test>")
        assert (r.code, r.enhanced) == (451, "4.3.0"), r
        c.close()
        p.wait_log("store-failed")
        cluster.start()
        assert [r.code for r in send(p, "out@example.test", ["c@remote.test"])] == [250]
    finally:
        cluster.remove()


def cli_json(p, *args):
    return json.loads(p.cli_ok(*args, "--json").stdout)


def test_store_copy_from_sqlite(petrel_factory, pg_cluster, pg_url):  # noqa: F811
    """`petrel store copy` moves a SQLite node's domains, plans, accounts, sender rules,
    aliases and events to an empty PostgreSQL database: the admin commands then show the
    same on both (events with new ids); a second copy into the now full database (named
    by the configuration's [store] url this time) is refused."""
    src = petrel_factory()
    src.cli_ok("domain", "add", "copied.test")
    src.cli_ok("plan", "set", "gold", "--daily-limit", "5000", "--per-minute", "50")
    src.cli_ok("account", "add", "cp@copied.test", "--password-stdin", "--plan", "gold",
               "--sandbox", input=PW + "\n")
    src.cli_ok("sender", "allow", "cp@copied.test", "@copied.test")
    src.cli_ok("sender", "deny", "cp@copied.test", "boss@copied.test")
    src.cli_ok("alias", "add", "team@copied.test", "cp@copied.test", "x@remote.test")
    c = src.session()
    c.mail_transaction("a@b.test", ["u@example.test"], make_message())
    c.quit()
    src.mail("example.test", "u", 1)
    deadline = time.monotonic() + 10
    while not cli_json(src, "events") and time.monotonic() < deadline:
        time.sleep(0.1)
    src.stop()

    r = src.cli("store", "copy", "--from", "sqlite:%s" % src.data_dir, "--to", pg_url)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("copied domains=1 plans=2 accounts="), r.stdout

    dst = pg_petrel(petrel_factory, pg_url, start=False)
    # the same node on PostgreSQL keeps its auth/ (the passwords are not in the store)
    shutil.rmtree(dst.data_dir / "auth")
    shutil.copytree(src.data_dir / "auth", dst.data_dir / "auth")
    for args in (("domain", "list"), ("plan", "list"), ("account", "list"), ("alias", "list"),
                 ("sender", "list", "cp@copied.test"), ("account", "show", "cp@copied.test")):
        assert cli_json(dst, *args) == cli_json(src, *args), args
    events = cli_json(src, "events")
    assert events, "no events to copy"

    def strip_ids(evs):
        return [{k: v for k, v in e.items() if k != "id"} for e in evs]
    assert strip_ids(cli_json(dst, "events")) == strip_ids(events)

    # without --to: the [store] url of the configuration
    again = dst.cli("store", "copy", "--from", "sqlite:%s" % src.data_dir)
    assert again.returncode == 1 and "not empty" in again.stderr, again.stderr


def test_minute_counter_failure_is_4_3_0(petrel_factory, pg_cluster, pg_url):  # noqa: F811
    """When the daily reservation works but the per-minute one fails in the database, the
    recipient gets 451 4.3.0 (a temporary failure checking the limits), not the 4.7.1 of a
    limit reached, and the day's unit is given back.  A trigger makes the minute counters'
    writes fail.  (Only an account with a per-minute limit counts the minute.)"""
    p = pg_petrel(petrel_factory, pg_url, start=False)
    p.cli_ok("account", "add", "mf@example.test", "--per-minute", "5", "--password-stdin",
             input=PW + "\n")
    db = pg_url.split("/")[3].split("?")[0]
    pg_cluster.psql("CREATE FUNCTION no_minutes() RETURNS trigger LANGUAGE plpgsql AS $$"
                    " BEGIN IF NEW.win LIKE 'm:%' THEN RAISE EXCEPTION 'minute counters"
                    " are down'; END IF; RETURN NEW; END $$;"
                    " CREATE TRIGGER no_minutes BEFORE INSERT OR UPDATE ON counters"
                    " FOR EACH ROW EXECUTE FUNCTION no_minutes()", db=db)
    p.start()
    c = p.auth_session(user="mf@example.test", password=PW)
    c.expect("MAIL FROM:<mf@example.test>", 250)
    r = c.cmd("RCPT TO:<x@remote.test>")
    assert (r.code, r.enhanced) == (451, "4.3.0"), r
    c.quit()
    assert pg_cluster.psql("SELECT coalesce(sum(used), 0) FROM counters"
                           " WHERE account = 'mf@example.test'", db=db) == "0"
