"""Mailboxes across nodes, the login side (issue 11 item 6): an IMAP or POP3 login on
any node is proxied to the account's home node.  Two nodes, node-a on 127.0.0.21 and
node-b on 127.0.0.22, share one throwaway PostgreSQL and a [cluster] secret; an account
homed on node-b logs in on node-a (LOGIN, AUTHENTICATE PLAIN, USER/PASS), and what it
does there happens in node-b's Maildir.  Node-a logs in on node-b with a ticket its auth
process made (HMAC-SHA256 of the shared secret): tickets are checked independently here
(made in Python from the documented format), forged, expired and from outside [cluster]
from ones are refused, and a stopped home node is a temporary failure."""

import base64
import hashlib
import hmac
import imaplib
import poplib
import socket
import threading
import time

import pytest

from conftest import client_tls_context, free_ports, make_message
from peers import wait_until
from pg_cluster import pg_cluster  # noqa: F401 (the fixture)
from test_imap_login import ScramClient

PW = "proxy-pass-1"
USER = "homed@example.test"          # its mailbox lives on node-b
LOCAL = "nohome@example.test"        # no home: served where it logs in
SECRET = "cluster-secret-0123456789abcdef0123456789"
CLIENT = "127.0.0.5"                 # an ordinary client: outside [cluster] from
ADDRESSES = {"node-a": "127.0.0.21", "node-b": "127.0.0.22"}


def maildir_files(p, local):
    """Every message file of LOCAL@example.test's mailbox tree on P."""
    root = p.data_dir / "mail" / "example.test" / local
    return [f for f in root.rglob("*") if f.is_file() and f.parent.name in ("new", "cur")]


def has_subject(p, local, subject):
    return any(subject.encode() in f.read_bytes() for f in maildir_files(p, local))


@pytest.fixture
def nodes(petrel_factory, pg_cluster, tmp_path):  # noqa: F811
    """node-a and node-b on one database, each with imap/pop3 listeners for the other
    node (plain, [cluster] imap and pop3) and imaps/pop3s for clients, on its own
    loopback address; USER homed on node-b, LOCAL on none."""
    db = "proxy_%d" % int(time.monotonic() * 1000)
    url = pg_cluster.create_database(db)
    secret = tmp_path / "cluster.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    made = {}
    for name, address in ADDRESSES.items():
        p = petrel_factory(start=False, store_backend="postgresql", store_url=url, node=name)
        ports = free_ports(4, host=address)
        with open(p.config_path, "a") as f:
            for role, port in zip(("imap", "imaps", "pop3", "pop3s"), ports):
                p.ports[role] = port
                f.write("\n[listener %s]\nrole = %s\naddress = %s:%d\n"
                        % (role, role, address, port))
            # the other node connects from 127.0.0.1 (the kernel's choice on loopback)
            f.write("\n[cluster]\nimap = %s:%d\npop3 = %s:%d\nfrom = 127.0.0.1/32\n"
                    "secret_file = %s\nproxy_timeout = 3\n"
                    % (address, ports[0], address, ports[2], secret))
        p.address, p.db = address, db
        made[name] = p
    a, b = made["node-a"], made["node-b"]
    for user in (USER, LOCAL):
        a.cli_ok("account", "add", user, "--password-stdin", input=PW + "\n")
        # without [store] credentials_url each node's auth process keeps its own copy
        b.cli_ok("account", "passwd", user, "--password-stdin", input=PW + "\n")
    a.start()
    b.start()
    a.cli_ok("account", "home", USER, "node-b")
    return a, b


class ImapFrom(imaplib.IMAP4_SSL):
    """imaplib over TLS from source address SOURCE."""

    def __init__(self, p, source=CLIENT, role="imaps"):
        self.source = source
        super().__init__(p.address, p.ports[role], ssl_context=client_tls_context(), timeout=30)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.source, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


class Pop3From(poplib.POP3_SSL):
    def __init__(self, p, source=CLIENT):
        self.source = source
        super().__init__(p.address, p.ports["pop3s"], context=client_tls_context(), timeout=30)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.source, 0))
        return self.context.wrap_socket(sock, server_hostname=self.host)


class Raw:
    """Line-exact: a plain or TLS connection from SOURCE to P's ROLE listener."""

    def __init__(self, p, role, source):
        s = socket.create_connection((p.address, p.ports[role]), timeout=30,
                                     source_address=(source, 0))
        if role.endswith("s"):
            s = client_tls_context().wrap_socket(s, server_hostname=p.address)
        self.s, self.f = s, s.makefile("rb")

    def line(self):
        raw = self.f.readline()
        assert raw.endswith(b"\r\n"), raw
        return raw[:-2].decode()

    def send(self, text):
        self.s.sendall(text.encode() + b"\r\n")

    def until(self, prefix):
        """The lines up to one starting with PREFIX; that line last."""
        lines = []
        while not lines or not lines[-1].startswith(prefix):
            lines.append(self.line())
        return lines

    def close(self):
        self.s.close()


def ticket(account, node="node-a", expiry=None, secret=SECRET):
    """A ticket as docs/scaling.md describes it, made here from the shared secret."""
    expiry = int(time.time()) + 30 if expiry is None else expiry
    msg = b"petrel-ticket-v1\0%s\0%s\0%d" % (account.lower().encode(), node.encode(), expiry)
    mac = hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()
    return "v1:%d:%s:%s" % (expiry, node, mac)


def plain(account, tk):
    return base64.b64encode(b"%s\0petrel-cluster\0%s" % (account.encode(), tk.encode())).decode()


def imap_ticket_login(p, tk, account=USER, role="imap", source="127.0.0.1"):
    """AUTHENTICATE PLAIN with a ticket: the tagged reply."""
    c = Raw(p, role, source)
    try:
        assert c.line().startswith("* OK")
        c.send("t1 AUTHENTICATE PLAIN " + plain(account, tk))
        return c.until("t1 ")[-1]
    finally:
        c.close()


def test_imap_login_on_a_works_in_b_maildir(nodes):
    """LOGIN on node-a: the OK carries node-b's capabilities; APPEND, SELECT and FETCH
    act on node-b's Maildir, not node-a's; node-b logged the ticket login."""
    a, b = nodes
    c = ImapFrom(a)
    typ, data = c.login(USER, PW)
    assert typ == "OK" and b"[CAPABILITY IMAP4rev1" in data[0], data
    assert c.append("INBOX", None, None, make_message(subject="via-a-1"))[0] == "OK"
    assert c.select("INBOX") == ("OK", [b"1"])
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and b"via-a-1" in data[0][1], data
    c.logout()
    assert has_subject(b, "homed", "via-a-1")
    assert not maildir_files(a, "homed")
    assert "proxied=node-b" in a.wait_log(r"login .*account=%s proxied=node-b" % USER)
    assert "mechanism=ticket" in b.wait_log(r"auth .*account=%s mechanism=ticket" % USER)


def test_imap_authenticate_on_a(nodes):
    """AUTHENTICATE PLAIN and SCRAM-SHA-256 on node-a are proxied as LOGIN is (the SCRAM
    exchange is node-a's: its auth process makes the ticket with the proof's answer)."""
    a, b = nodes
    c = ImapFrom(a)
    creds = b"\0" + USER.encode() + b"\0" + PW.encode()
    assert c.authenticate("PLAIN", lambda _: creds)[0] == "OK"
    assert c.append("INBOX", None, None, make_message(subject="via-a-2"))[0] == "OK"
    c.logout()
    c = ImapFrom(a)
    scram = ScramClient(USER, PW)
    assert c.authenticate("SCRAM-SHA-256", scram)[0] == "OK" and scram.server_verified
    assert c.append("INBOX", None, None, make_message(subject="via-a-3"))[0] == "OK"
    c.logout()
    assert has_subject(b, "homed", "via-a-2") and has_subject(b, "homed", "via-a-3")
    assert not maildir_files(a, "homed")
    a.wait_log(r"login .*account=%s proxied=node-b" % USER, count=2)


def test_idle_through_a_sees_delivery_on_b(nodes):
    """IDLE relayed through node-a reports a message node-b delivers."""
    a, b = nodes
    c = Raw(a, "imaps", CLIENT)
    assert c.line().startswith("* OK")
    c.send('t1 LOGIN "%s" "%s"' % (USER, PW))
    assert c.until("t1 ")[-1].startswith("t1 OK")
    c.send("t2 SELECT INBOX")
    assert "t2 OK" in c.until("t2 ")[-1]
    c.send("t3 IDLE")
    assert c.line().startswith("+ ")
    s = b.session("mx")
    s.mail_transaction("a@b.test", [USER], make_message(subject="idle-1"))
    s.quit()
    deadline = time.monotonic() + 20
    line = ""
    while time.monotonic() < deadline and not line.endswith("EXISTS"):
        line = c.line()
    assert line == "* 1 EXISTS", line
    c.send("DONE")
    assert c.until("t3 ")[-1].startswith("t3 OK")
    c.close()


def test_pop3_on_a_lists_and_retrieves_b_mail(nodes):
    """USER/PASS on node-a: STAT, LIST and RETR show node-b's maildrop."""
    a, b = nodes
    s = b.session("mx")
    for n in (1, 2):
        s.mail_transaction("a@b.test", [USER], make_message(subject="pop-%d" % n))
    s.quit()
    wait_until(lambda: len(maildir_files(b, "homed")) == 2, 10, what="two deliveries")
    c = Pop3From(a)
    c.user(USER)
    assert c.pass_(PW).startswith(b"+OK")
    assert c.stat()[0] == 2
    assert len(c.list()[1]) == 2
    assert any(b"pop-" in line for line in c.retr(1)[1])
    assert c.quit().startswith(b"+OK")
    assert "pop3-login" in b.wait_log(r"pop3-login .*account=%s" % USER)
    assert not maildir_files(a, "homed")


def test_tickets_checked_by_the_home_node(nodes):
    """On node-b's [cluster] imap listener, from 127.0.0.1 (in [cluster] from): a
    password may come without TLS; a ticket made with the secret logs in, a forged one
    (another secret, another account's) and an expired one do not.  POP3 as well."""
    a, b = nodes
    c = Raw(b, "imap", "127.0.0.1")
    first = c.line()
    c.close()
    assert "LOGINDISABLED" not in first and "AUTH=PLAIN" in first, first
    assert imap_ticket_login(b, ticket(USER)).startswith("t1 OK")
    assert imap_ticket_login(b, ticket(USER, secret="another-secret-0123456789")) \
        == "t1 NO [AUTHENTICATIONFAILED] Authentication failed"
    assert imap_ticket_login(b, ticket(LOCAL), account=USER).startswith("t1 NO")
    assert imap_ticket_login(b, ticket(USER, expiry=int(time.time()) - 5)) \
        .startswith("t1 NO [AUTHENTICATIONFAILED]")
    b.wait_log("reason=ticket-expired")
    assert "reason=ticket-forged" in b.log()

    p = Raw(b, "pop3", "127.0.0.1")
    assert p.line().startswith("+OK")
    p.send("AUTH PLAIN " + plain(USER, ticket(USER, expiry=int(time.time()) - 5)))
    assert p.line().startswith("-ERR [AUTH]")
    p.send("AUTH PLAIN " + plain(USER, ticket(USER)))
    assert p.line().startswith("+OK")
    p.close()


def test_ticket_from_outside_cluster_from(nodes):
    """From 127.0.0.5 (not in [cluster] from) node-b's cluster listener keeps
    LOGINDISABLED, and a good ticket, even under TLS, is a wrong password (counted)."""
    a, b = nodes
    c = Raw(b, "imap", CLIENT)
    assert "LOGINDISABLED" in c.line()
    c.close()
    assert imap_ticket_login(b, ticket(USER), role="imaps", source=CLIENT) \
        == "t1 NO [AUTHENTICATIONFAILED] Authentication failed"
    b.wait_log(r"auth-failed .*client=%s user=\"?petrel-cluster" % CLIENT)


def test_home_node_stopped(nodes):
    """node-b stopped: node-a answers the login NO [UNAVAILABLE] and -ERR [SYS/TEMP]
    (the client may try again); the account without a home still logs in."""
    a, b = nodes
    b.stop()
    c = ImapFrom(a)
    with pytest.raises(imaplib.IMAP4.error, match=r"\[UNAVAILABLE\]"):
        c.login(USER, PW)
    c.shutdown()
    p = Pop3From(a)
    p.user(USER)
    with pytest.raises(poplib.error_proto, match=r"-ERR \[SYS/TEMP\]"):
        p.pass_(PW)
    p.close()
    assert "reason=node-stopped" in a.wait_log(r"proxy-refused .*reason=node-stopped")
    c = ImapFrom(a)
    assert c.login(LOCAL, PW)[0] == "OK"
    c.logout()


def test_account_without_home_served_where_it_logs_in(nodes):
    """LOCAL has no home: node-a serves it itself, in its own Maildir."""
    a, b = nodes
    c = ImapFrom(a)
    assert c.login(LOCAL, PW)[0] == "OK"
    assert c.append("INBOX", None, None, make_message(subject="local-1"))[0] == "OK"
    c.logout()
    assert has_subject(a, "nohome", "local-1") and not maildir_files(b, "nohome")
    assert "proxied=" not in a.wait_log(r"login .*account=%s" % LOCAL)


def test_home_node_unreachable(nodes, tmp_path):
    """node-b's IMAP address refusing connections (its listener gone, the node still
    live in the store): NO [UNAVAILABLE] at once, not a hang."""
    a, b = nodes
    b.stop()
    # node-b live again but its [cluster] imap pointing at a port where no one listens
    # is not possible (config checks it): a stopped node is refused before connecting,
    # so make the store say live by starting it and then killing it (no clean stop)
    b.start()
    b.kill9()
    c = ImapFrom(a)
    t0 = time.monotonic()
    with pytest.raises(imaplib.IMAP4.error, match=r"\[UNAVAILABLE\]"):
        c.login(USER, PW)
    assert time.monotonic() - t0 < 15
    c.shutdown()
    assert "reason=connect-failed" in a.wait_log(r"proxy-refused .*reason=connect-failed")


def test_home_node_silent(nodes, pg_cluster):  # noqa: F811
    """node-b's IMAP address (as the store says) accepts but never greets: after [cluster]
    proxy_timeout (3 s) the login gets NO [UNAVAILABLE]; meanwhile node-a's loop serves
    another login (it never waits for the home node)."""
    a, b = nodes
    silent = socket.socket()
    silent.bind(("127.0.0.23", 0))
    silent.listen(8)
    pg_cluster.psql("UPDATE nodes SET imap_address = '127.0.0.23:%d' WHERE name = 'node-b'"
                    % silent.getsockname()[1], db=a.db)
    got = {}

    def slow_login():
        c = ImapFrom(a)
        t0 = time.monotonic()
        try:
            c.login(USER, PW)
            got["reply"] = "OK"
        except imaplib.IMAP4.error as e:
            got["reply"] = str(e)
        got["seconds"] = time.monotonic() - t0
        c.shutdown()

    t = threading.Thread(target=slow_login)
    t.start()
    try:
        a.wait_log(r"auth .*account=%s" % USER)  # the password is checked: now it waits
        c = ImapFrom(a)
        assert c.login(LOCAL, PW)[0] == "OK"
        assert "reply" not in got  # the first login still waits
        c.logout()
    finally:
        t.join(30)
        silent.close()
    assert "[UNAVAILABLE]" in got["reply"], got
    assert 2.5 <= got["seconds"] < 10, got
    assert "reason=timeout" in a.wait_log(r"proxy-refused .*reason=timeout")
