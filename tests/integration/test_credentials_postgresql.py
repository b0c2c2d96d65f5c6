"""Passwords shared by several nodes ([store] credentials_url): the password secrets live
in a PostgreSQL database of their own that only the auth process (and the admin commands)
reach with a role of its own, never with the role of [store] url.  An account made
through node A's configuration logs in on node B (SMTP AUTH, IMAP, POP3); the store's
role cannot read the secrets; an outage of the credentials' database is a temporary
failure of AUTH in every protocol, never a pass; `petrel migrate` and `petrel store copy`
handle the credentials too."""
import base64
import imaplib
import poplib
import subprocess

import pytest

from conftest import MAILBOX_HASH, add_listeners, client_tls_context
from pg_cluster import Cluster

PW = "shared-pass-1"
USER = "shared@example.test"


@pytest.fixture
def clusters():
    """Two throwaway clusters: the store's and the credentials' (so that the credentials'
    database can fail alone).  Roles: petrel_store owns the store's database; petrel_auth
    owns the credentials' one, which no one else may connect to."""
    store, creds = Cluster(), Cluster()
    try:
        store.start()
        creds.start()
        store.psql("CREATE ROLE petrel_store LOGIN")
        store.psql("CREATE DATABASE st OWNER petrel_store")
        creds.psql("CREATE ROLE petrel_store LOGIN")
        creds.psql("CREATE ROLE petrel_auth LOGIN")
        creds.psql("CREATE DATABASE cr OWNER petrel_auth")
        creds.psql("REVOKE ALL ON DATABASE cr FROM PUBLIC")
        yield store, creds
    finally:
        store.remove()
        creds.remove()


def urls(store, creds):
    return ("postgresql://petrel_store@/st?host=%s" % store.dir,
            "postgresql://petrel_auth@/cr?host=%s" % creds.dir)


def node(petrel_factory, store, creds, start=True, **overrides):
    url, cred_url = urls(store, creds)
    p = petrel_factory(start=False, store_backend="postgresql", store_url=url,
                       credentials_url=cred_url, **overrides)
    add_listeners(p, "imaps", "pop3s")
    if start:
        p.start()
    return p


def smtp_auth(p, password=PW):
    """The reply to AUTH PLAIN on P's submission port, under STARTTLS."""
    c = p.session("submission")
    c.starttls()
    c.ehlo()
    r = c.cmd("AUTH PLAIN " + base64.b64encode(("\0%s\0%s" % (USER, password)).encode())
              .decode())
    c.close()
    return r


def imap_login(p, password=PW):
    """IMAP LOGIN on P's imaps port: ("OK", ...) or the NO's text."""
    c = imaplib.IMAP4_SSL(p.host, p.ports["imaps"], ssl_context=client_tls_context(),
                          timeout=15)
    try:
        return c.login(USER, password)[0]
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        c.shutdown()


def pop3_login(p, password=PW):
    c = poplib.POP3_SSL(p.host, p.ports["pop3s"], context=client_tls_context(), timeout=15)
    try:
        c.user(USER)
        return c.pass_(password).decode()
    except poplib.error_proto as e:
        return e.args[0].decode()
    finally:
        c.close()


def test_account_from_node_a_logs_in_on_node_b(petrel_factory, clusters):
    """`petrel account add` through node A's configuration writes the password to the
    credentials' database; node B, which has never seen it (its own auth/credentials.db
    does not hold it), accepts it over SMTP AUTH, IMAP and POP3.  The secrets are in the
    credentials' database only, and the store's role can neither connect to it nor find
    them in its own."""
    store, creds = clusters
    a = node(petrel_factory, store, creds, start=False)
    a.cli_ok("account", "add", USER, "--password-stdin", input=PW + "\n")
    b = node(petrel_factory, store, creds)
    assert smtp_auth(b).code == 235
    assert imap_login(b) == "OK"
    assert pop3_login(b).startswith("+OK")
    assert smtp_auth(b, "wrong-password").code == 535

    assert creds.psql("SELECT name, password_hash LIKE '$y$%' FROM credentials",
                      db="cr") == USER + "|t"
    assert store.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'credentials'",
                      db="st") == "0"
    # the store's role: no way into the credentials' database
    r = subprocess.run(["psql", "-X", "-At", "-h", creds.dir, "-U", "petrel_store", "-d", "cr",
                        "-c", "SELECT password_hash FROM credentials"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "permission denied" in r.stderr, r.stdout + r.stderr

    # a new password set through node B's configuration holds on node A at once
    b.cli_ok("account", "passwd", USER, "--password-stdin", input="new-pass-2\n")
    a.start()
    assert smtp_auth(a, "new-pass-2").code == 235
    assert smtp_auth(a).code == 535
    b.cli_ok("account", "remove", USER)
    assert creds.psql("SELECT count(*) FROM credentials", db="cr") == "0"


def test_credentials_outage_is_a_temporary_failure(petrel_factory, clusters):
    """With the credentials' database stopped (the store's still up), AUTH gets 454 4.7.0,
    IMAP NO [UNAVAILABLE] and POP3 -ERR [SYS/TEMP], never a pass and never a count
    towards the lockout; once it is back the same server logs in again."""
    store, creds = clusters
    p = node(petrel_factory, store, creds, start=False)
    p.cli_ok("account", "add", USER, "--password-stdin", input=PW + "\n")
    p.start()
    assert smtp_auth(p).code == 235
    creds.stop()
    r = smtp_auth(p)
    assert (r.code, r.enhanced) == (454, "4.7.0"), r
    assert "[UNAVAILABLE]" in imap_login(p)
    assert pop3_login(p).startswith("-ERR [SYS/TEMP]")
    p.wait_log("store-failed")
    creds.start()
    assert smtp_auth(p).code == 235
    assert imap_login(p) == "OK"


def test_failures_add_up_over_two_nodes(petrel_factory, clusters):
    """The AUTH failure throttle is shared: with lockout_after = 6, three wrong passwords on
    each of two nodes lock the client address out on both (each node alone saw three);
    the next AUTH gets 454 4.7.0 on either node, the right password included, and the
    credentials' database holds the count."""
    store, creds = clusters
    limits = dict(slow_after=0, lockout_after=6, lockout_time=120)
    a = node(petrel_factory, store, creds, start=False, **limits)
    a.cli_ok("account", "add", USER, "--password-stdin", input=PW + "\n")
    a.start()
    b = node(petrel_factory, store, creds, **limits)
    for i in range(6):
        r = smtp_auth(a if i % 2 else b, "wrong-%d" % i)
        assert (r.code, r.enhanced) == (535, "5.7.8"), (i, r)
    assert creds.psql("SELECT failures, locked_until > 0 FROM auth_failures",
                      db="cr") == "6|t"
    for p in (a, b):
        c = p.connect("submission")
        banner = c.read_reply()
        if banner.code == 220:
            # the node that saw the lockout refuses at the banner; the other at AUTH
            c.starttls()
            c.ehlo()
            r = c.cmd("AUTH PLAIN " + base64.b64encode(("\0%s\0%s" % (USER, PW)).encode())
                      .decode())
            assert (r.code, r.enhanced) == (454, "4.7.0"), r
        else:
            assert (banner.code, banner.enhanced) == (421, "4.7.0"), banner
        c.close()
    a.wait_log("auth-lockout|auth-locked")
    b.wait_log("auth-lockout|auth-locked")


def test_migrate_and_store_copy(petrel_factory, clusters):
    """`petrel migrate` makes the credentials' tables (their own version line), and
    `petrel store copy --credentials-to` moves a SQLite node's passwords there: a node on
    PostgreSQL then logs the account in."""
    store, creds = clusters
    src = petrel_factory(start=False)
    src.cli_ok("account", "add", USER, "--password-stdin", input=PW + "\n")
    src.cli_ok("account", "add", "imported@example.test", "--password-hash", MAILBOX_HASH)
    url, cred_url = urls(store, creds)
    r = src.cli("store", "copy", "--from", "sqlite:%s" % src.data_dir, "--to", url,
                "--credentials-to", cred_url)
    assert r.returncode == 0, r.stdout + r.stderr
    # every account of the node (the fixture's and these two) has its password copied
    counts = dict(kv.split("=") for kv in r.stdout.split()[1:])
    assert counts["credentials"] == counts["accounts"], r.stdout
    assert creds.psql("SELECT count(*) FROM credentials", db="cr") == counts["accounts"]
    assert creds.psql("SELECT password_hash FROM credentials WHERE name ="
                      " 'imported@example.test'", db="cr") == MAILBOX_HASH

    dst = node(petrel_factory, store, creds, start=False)
    out = dst.cli_ok("migrate").stdout.split("\n")
    assert out[:2] == ["store=postgresql schema_version=%s" % out[0].split("=")[-1],
                       "credentials=postgresql schema_version=3"], out
    assert creds.psql("SELECT count(*) FROM credentials_schema_version", db="cr") == "3"
    dst.start()
    assert smtp_auth(dst).code == 235
    # the same URL for both is refused: the network process would reach the hashes
    bad = petrel_factory(start=False, store_backend="postgresql", store_url=url,
                         credentials_url=url)
    r = bad.cli("migrate")
    assert r.returncode == 2 and "credentials_url" in r.stderr, r.stderr
