"""Mailboxes across nodes (issue 11 item 6): an account homed on node B has its mail
relayed there by node A, which received it, over SMTP to B's [cluster] mail listener,
durably through A's queue: B stopped, A keeps it and tries again; B back, it is delivered
in B's Maildir, never A's.  B's mail listener takes mail from the nodes' networks only
([cluster] from), and refuses a recipient homed elsewhere (451, no relaying on).  An
account with no home is delivered where it was received, as before.  Two nodes on one
throwaway PostgreSQL (pg_cluster.py): A sends from 127.0.0.2, the only address B's
[cluster] from lets in."""
import json
import os
import re

from conftest import SMTPClient, free_ports, list_mail, make_message
from peers import wait_until
from pg_cluster import pg_cluster  # noqa: F401 (the fixture)
from spf_dns import ZoneServer
from test_store_postgresql import PW, pg_petrel, pg_url  # noqa: F401 (pg_url: a fixture)

HOMED = "homed@example.test"
FAST = dict(node_report_interval=1, node_stale_after=3)
# A tries a deferred message again after 1 s, then every 2 s
RETRY = dict(retry_initial=1, retry_max=2)


def cluster_listener(p, source):
    """An mx listener "nodes" (no receiving checks) as P's [cluster] mail, open to SOURCE;
    P.nodes is its port."""
    [port] = free_ports(1)
    with open(p.config_path, "a") as f:
        f.write("\n[listener nodes]\nrole = mx\naddress = 127.0.0.1:%d\nreceiving_checks = off\n"
                "\n[cluster]\nmail = 127.0.0.1:%d\nfrom = %s/32\n" % (port, port, source))
    p.nodes = port


def two_nodes(petrel_factory, url, a_overrides=None, **b_overrides):
    """Node A (sends from 127.0.0.2) and node B with its [cluster] mail listener; HOMED
    is homed on node-b (a node is known to the store once it has started)."""
    a = pg_petrel(petrel_factory, url, start=False, node="node-a", source_address="127.0.0.2",
                  **FAST, **RETRY, **(a_overrides or {}))
    b = pg_petrel(petrel_factory, url, start=False, node="node-b", **FAST, **b_overrides)
    cluster_listener(b, "127.0.0.2")
    a.start()
    b.start()
    a.cli_ok("account", "add", HOMED, "--password-stdin", "--home", "node-b", input=PW + "\n")
    return a, b


def send_mx(p, rcpt, subject, head=b"", sender="someone@remote.test"):
    """One message from outside to P's mx listener (HEAD: header fields before the
    others), from SENDER (envelope and From:); the queue ID."""
    c = SMTPClient("127.0.0.1", p.mx)
    c.read_reply()
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<%s>" % sender, 250)
    c.expect("RCPT TO:<%s>" % rcpt, 250)
    c.expect("DATA", 354)
    c.send(head + make_message(sender=sender, to=rcpt, subject=subject) + b".\r\n")
    r = c.read_reply()
    assert r.code == 250, r
    c.quit()
    return r.text.split()[-1]


def maildir(p, local):
    return p.data_dir / "mail" / "example.test" / local


def subjects(p, local, n):
    return sorted(m.split(b"Subject: ")[1].split(b"\r\n")[0].decode()
                  for m in p.mail("example.test", local, n, timeout=30))


def events(p, qid):
    return [e for e in json.loads(p.cli_ok("events", "--json").stdout) if e["queue_id"] == qid]


def test_mail_for_a_homed_account_goes_to_its_home(petrel_factory, pg_url):  # noqa: F811
    a, b = two_nodes(petrel_factory, pg_url)
    qid = send_mx(a, HOMED, "first")
    assert subjects(b, "homed", 1) == ["first"]
    assert not maildir(a, "homed").exists()
    [ev] = wait_until(lambda: [e for e in events(a, qid) if e["type"] == "delivered"], 10,
                      interval=0.2, what="the delivered event on node A")
    assert "relayed to home node node-b" in ev["reason"], ev

    # B stopped: A keeps the message and says why; B back: delivered there
    b.stop()
    qid = send_mx(a, HOMED, "second")
    ev = wait_until(lambda: [e for e in events(a, qid) if e["type"] == "deferred"], 10,
                    interval=0.2, what="a deferral on node A")
    assert "451 4.4.1 not relayed to home node node-b: it is stopped" in ev[0]["reason"], ev
    assert qid in a.cli_ok("queue", "list").stdout
    b.start()
    assert subjects(b, "homed", 2) == ["first", "second"]
    assert not maildir(a, "homed").exists()
    wait_until(lambda: qid not in a.cli_ok("queue", "list").stdout, 10, interval=0.2,
               what="the message gone from A's queue")


def test_cluster_listener_takes_mail_from_the_nodes_only(petrel_factory, pg_url):  # noqa: F811
    """From 127.0.0.1 (outside [cluster] from): 550 5.7.1 at RCPT.  From a node, for an
    account homed on another node: 451 4.4.6, never relayed on."""
    a, b = two_nodes(petrel_factory, pg_url)
    c = SMTPClient("127.0.0.1", b.nodes)
    c.read_reply()
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<someone@remote.test>", 250)
    r = c.cmd("RCPT TO:<%s>" % HOMED)
    assert (r.code, r.enhanced) == (550, "5.7.1") and "[cluster] from" in r.text, r
    c.quit()

    a.cli_ok("account", "home", HOMED, "node-a")
    c = SMTPClient("127.0.0.1", b.nodes, source="127.0.0.2")
    c.read_reply()
    c.expect("EHLO node-a.test", 250)
    c.expect("MAIL FROM:<someone@remote.test>", 250)
    r = c.cmd("RCPT TO:<%s>" % HOMED)
    assert (r.code, r.enhanced) == (451, "4.4.6"), r
    assert "homed on node node-a, not on this node (node-b)" in r.text, r
    c.quit()
    assert not maildir(b, "homed").exists()


def test_no_home_is_delivered_where_received(petrel_factory, pg_url):  # noqa: F811
    a, b = two_nodes(petrel_factory, pg_url)
    a.cli_ok("account", "add", "plain@example.test", "--password-stdin", input=PW + "\n")
    send_mx(b, "plain@example.test", "on b")
    send_mx(a, "plain@example.test", "on a")
    assert subjects(a, "plain", 1) == ["on a"]
    assert subjects(b, "plain", 1) == ["on b"]
    # cleared: where it is received, again
    a.cli_ok("account", "home", HOMED, "--clear")
    send_mx(a, HOMED, "cleared")
    assert subjects(a, "homed", 1) == ["cleared"]


def test_alias_to_a_homed_account(petrel_factory, pg_url):  # noqa: F811
    """An alias expands (at RCPT) to the homed account, which then goes the same way."""
    a, b = two_nodes(petrel_factory, pg_url)
    a.cli_ok("alias", "add", "team@example.test", HOMED)
    send_mx(a, "team@example.test", "via alias")
    assert subjects(b, "homed", 1) == ["via alias"]
    assert not maildir(a, "homed").exists()


def test_home_node_refusal_bounces(petrel_factory, pg_url):  # noqa: F811
    """The home node's 5xx is the recipient's: failed at once, bounced with its reply.
    B takes fewer Received: fields (10) than A (100): 554 5.4.6 after DATA."""
    a, b = two_nodes(petrel_factory, pg_url, received_headers=10)
    head = b"".join(b"Received: from hop%d.test by hop.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                    % i for i in range(12))
    qid = send_mx(a, HOMED, "too many hops", head)
    [ev] = wait_until(lambda: [e for e in events(a, qid) if e["type"] == "bounced"], 20,
                      interval=0.2, what="the bounce on node A")
    assert ev["reason"].startswith("554 5.4.6"), ev
    assert ev["reason"].endswith("(relayed to home node node-b)"), ev
    assert not maildir(a, "homed").exists() and not maildir(b, "homed").exists()


def pg_statements(log, start):
    """The statements PostgreSQL logged (log_statement = all) from offset START of LOG on."""
    with open(log, "rb") as f:
        f.seek(start)
        text = f.read().decode(errors="replace")
    return re.findall(r"LOG:  (?:execute [^:]*|statement): (.*)", text)


def test_local_recipient_reads_its_domain_and_home_at_once(petrel_factory, pg_cluster,
                                                            pg_url):  # noqa: F811
    """docs/scaling.md, "Round trips per message": a message from outside to a local account
    without a home (in a domain of the store) costs the queue one statement at delivery, its
    domain and its home read together; the home lookup was one more of its own."""
    db = pg_url.split("?")[0].rsplit("/", 1)[1]
    pg_cluster.psql("ALTER DATABASE \"%s\" SET log_statement = 'all'" % db)
    p = pg_petrel(petrel_factory, pg_url, node="node-a")
    p.cli_ok("domain", "add", "store.test")
    p.cli_ok("account", "add", "plain@store.test", "--password-stdin", input=PW + "\n")
    log = os.path.join(pg_cluster.dir, "server.log")
    start = os.path.getsize(log)
    qid = send_mx(p, "plain@store.test", "counted")
    p.wait_log(r"event=delivered .*queue_id=%s" % qid)
    # the message's own: not a connection's set-up, the node's report, the events' retention
    # or the events (written in batches of what is pending, one or two statements, with
    # the accepted messages' rows in a WITH), nor the messages' and the DMARC evaluations'
    # retention, the event webhook's look for enabled hooks
    background = ("SELECT set_config", "UPDATE nodes", "DELETE FROM events",
                  "INSERT INTO events", "WITH e AS (SELECT * FROM unnest(",
                  "DELETE FROM messages", "DELETE FROM dmarc_evaluations",
                  "SELECT account, enabled, url, events, sign, sent_id, updated FROM webhooks")
    statements = [s for s in pg_statements(log, start) if not s.startswith(background)]
    text = "\n".join(statements)
    [route] = [s for s in statements if "home_node" in s and "FROM nodes" in s]
    assert "FROM domains" in route, text
    # RCPT: the domain, the alias, the account; the mailbox quota (the account joined with
    # its plan) at RCPT and at delivery (not at the end of data: RCPT found the mailbox
    # without a limit); at delivery the domain and the home together
    quota = [s for s in statements if "JOIN plans" in s]
    assert len(quota) == 2, text
    assert len(statements) == 6, text


def mail_params(p, port, source, params):
    """EHLO and MAIL with PARAMS on P's PORT from SOURCE: the two replies."""
    c = SMTPClient("127.0.0.1", port, source=source)
    c.read_reply()
    ehlo = c.ehlo("node.test")
    mail = c.cmd("MAIL FROM:<someone@remote.test> " + params)
    c.quit()
    return ehlo, mail


def test_dmarc_quarantine_reaches_the_homes_junk(petrel_factory, pg_url):  # noqa: F811
    """A's DMARC check says quarantine (SPF softfail, p=quarantine): relayed to the home
    node B with MAIL ... X-PETREL-JUNK, the message lands in B's Junk folder, not its inbox.
    Only the nodes may say so: others get 555 as for any unknown parameter."""
    zone = ZoneServer({"soft.test": [{"TXT": "v=spf1 ~all"}],
                       "_dmarc.soft.test": [{"TXT": "v=DMARC1; p=quarantine"}]})
    try:
        dns = {"resolver": "127.0.0.1@%d" % zone.port, "special_zones": "test", "timeout": 2,
               "spf_timeout": 3}
        a, b = two_nodes(petrel_factory, pg_url, a_overrides=dns)
        send_mx(a, HOMED, "quarantined", sender="joe@soft.test")
        junk = maildir(b, "homed") / ".Junk" / "new"
        [raw] = wait_until(lambda: junk.is_dir() and [f.read_bytes() for f in junk.iterdir()],
                           30, interval=0.2, what="the message in B's Junk folder")
        assert b"dmarc=fail" in raw and b"Subject: quarantined" in raw, raw.decode()
        assert list_mail(b.data_dir, "example.test", "homed") == []
        assert not maildir(a, "homed").exists()
        b.wait_log(r"delivered .*to=%s .*folder=.Junk" % HOMED)
    finally:
        zone.close()
    # the nodes' listener offers it to the nodes only; nobody else may use it
    ehlo, mail = mail_params(b, b.nodes, "127.0.0.2", "X-PETREL-JUNK")
    assert "X-PETREL-JUNK" in ehlo.lines and mail.code == 250, (ehlo, mail)
    for port, source in ((b.nodes, "127.0.0.1"), (b.mx, "127.0.0.2")):
        ehlo, mail = mail_params(b, port, source, "X-PETREL-JUNK")
        assert "X-PETREL-JUNK" not in ehlo.lines, ehlo
        assert (mail.code, mail.enhanced) == (555, "5.5.4"), mail
