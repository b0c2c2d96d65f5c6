"""Two Petrel nodes on one PostgreSQL behind Debian's HAProxy (PROXY v2), as issue 11
asks: a free account's messages sent concurrently through both nodes are accepted exactly
up to the plan's 100 a day, and a node killed with kill -9 loses nothing it acknowledged
while the other node keeps serving."""

import re
import threading
import time

import pytest

from conftest import Closed, SMTPClient, free_ports, list_mail, make_message
from peers import HAProxy
from pg_cluster import pg_cluster  # noqa: F401 (the fixture)

PW = "cluster-pass-1"
USER = "free@example.test"
RCPT = "u@example.test"


@pytest.fixture
def cluster(petrel_factory, pg_cluster, tmp_path):  # noqa: F811
    """Two nodes (a free account USER, a mailbox RCPT, both in the shared store) with an
    "lb" submission listener each that takes PROXY headers from 127.0.0.1, and HAProxy on
    127.0.0.1 in front of both; yields (nodes, HAProxy's port, the cluster, the url)."""
    url = pg_cluster.create_database("cluster_%d" % int(time.monotonic() * 1000))
    # 130 logins at once: under the sanitizers a password check takes a good part of a
    # second, so more may queue and wait longer than the defaults allow (454 4.7.0)
    nodes = []
    for i in range(2):
        p = petrel_factory(start=False, store_backend="postgresql", store_url=url,
                           plaintext_loopback="true", node="node-%d" % i,
                           hash_queue="512", hash_workers="2", helper_timeout="120")
        [port] = free_ports(1)
        with open(p.config_path, "a") as f:
            f.write("\n[listener lb]\nrole = submission\naddress = 127.0.0.1:%d\n"
                    "proxy_protocol = on\nproxy_from = 127.0.0.1/32\n" % port)
        p.lb = port
        nodes.append(p)
    nodes[0].cli_ok("account", "add", USER, "--password-stdin", input=PW + "\n")
    nodes[0].cli_ok("account", "add", RCPT, "--password-stdin", input="rcpt-pass-1\n")
    # without [store] credentials_url the password lives with each node's auth process
    nodes[1].cli_ok("account", "passwd", USER, "--password-stdin", input=PW + "\n")
    for p in nodes:
        p.start()
    [front] = free_ports(1)
    hap = HAProxy(tmp_path,
                  "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n"
                  "    timeout server 60s\n    retries 3\n    option redispatch\n"
                  "frontend smtp\n    bind 127.0.0.1:%d\n    default_backend nodes\n"
                  "backend nodes\n    balance roundrobin\n" % front
                  + "".join("    server n%d 127.0.0.1:%d send-proxy-v2 check inter 200ms fall 1"
                            " rise 2 check-send-proxy\n" % (i, p.lb)
                            for i, p in enumerate(nodes)), "127.0.0.1", front).start()
    try:
        yield nodes, front, pg_cluster, url
    finally:
        hap.stop()


def submit(port, msgid, source="127.0.0.5"):
    """One session through HAProxy: AUTH, one message to RCPT. Returns the RCPT reply's
    code and the end-of-data reply (None if RCPT was refused)."""
    c = SMTPClient("127.0.0.1", port, timeout=60, source=source)
    try:
        c.banner()
        c.ehlo()
        c.auth_plain(USER, PW)
        c.expect("MAIL FROM:<%s>" % USER, 250)
        r = c.cmd("RCPT TO:<%s>" % RCPT)
        if r.code != 250:
            return r, None
        c.expect("DATA", 354)
        c.send(make_message(sender=USER, msgid=msgid) + b".\r\n")
        return r, c.read_reply()
    finally:
        c.close()


def message_ids(nodes):
    """The Message-IDs delivered to RCPT on every node."""
    got = []
    for p in nodes:
        for f in list_mail(p.data_dir, "example.test", "u"):
            m = re.search(rb"^Message-ID: (<[^>]+>)", f.read_bytes(), re.M | re.I)
            if m:
                got.append(m.group(1).decode())
    return got


def test_free_account_gets_exactly_100_through_two_nodes(cluster):
    """130 sessions at once through HAProxy, spread over both nodes, each one recipient:
    exactly the free plan's 100 are accepted, the rest get 451 4.7.1, and both nodes took
    part."""
    nodes, front, pg, url = cluster
    results = [None] * 130
    errors = []

    def one(i):
        try:
            results[i] = submit(front, "<c%d@client.example>" % i,
                                source="127.0.0.%d" % (5 + i % 4))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    accepted = [r for r in results if r[1] is not None and r[1].code == 250]
    refused = [r[0] for r in results if r[1] is None]
    assert len(accepted) == 100, [(r[0].code, r[1] and r[1].code) for r in results]
    assert len(refused) == 30 and all((r.code, r.enhanced) == (451, "4.7.1")
                                      for r in refused), refused[:3]
    for p in nodes:
        assert re.search(r"client=127\.0\.0\.[5-8] listener=lb", p.log()), \
            "node %s took no session" % p.node
    db = url.split("/")[3].split("?")[0]
    assert pg.psql("SELECT sum(used) FROM counters WHERE account = '%s' AND win LIKE 'd:%%'"
                   % USER, db=db) == "100"


def test_kill9_of_a_node_loses_nothing_acknowledged(cluster):
    """Messages go through HAProxy one after another; node 0 is killed with SIGKILL after
    15 were acknowledged; the other node keeps accepting (15 more within 60 s); node 0
    restarted, every acknowledged message is in RCPT's Maildir on one node or the other."""
    nodes, front, _, _ = cluster
    acked = []
    seq = 0

    def send_until(count, deadline):
        nonlocal seq
        while len(acked) < count:
            assert time.monotonic() < deadline, "only %d acknowledged" % len(acked)
            seq += 1
            msgid = "<k%d@client.example>" % seq
            try:
                _, end = submit(front, msgid)
            except (OSError, AssertionError, Closed):
                # the dead node (HAProxy connects, then closes), until its check marks
                # it down: not acknowledged, so nothing is owed
                time.sleep(0.1)
                continue
            if end is not None and end.code == 250:
                acked.append(msgid)

    send_until(15, time.monotonic() + 60)
    nodes[0].kill9()
    send_until(30, time.monotonic() + 60)   # node 1 alone now
    nodes[0].start()
    deadline = time.monotonic() + 60
    while True:
        missing = set(acked) - set(message_ids(nodes))
        if not missing:
            break
        assert time.monotonic() < deadline, "acknowledged but not delivered: %s" % missing
        time.sleep(0.2)
