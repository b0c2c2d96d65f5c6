"""Node identity (issue 11 item 5): each server registers its [server] node name in the
store and reports every node_report_interval; `petrel nodes` lists them, fresh, stale or
stopped; a second server with a live node's name is refused; events carry the node that
recorded them; the queue IDs of two nodes differ in their node bits (the low 8 bits, the
number the store gave the name); `petrel queue list` shows the local node's spool.  Two
servers on one throwaway PostgreSQL (pg_cluster.py), and one on SQLite."""
import json

from conftest import assert_queued, make_message
from peers import wait_until
from pg_cluster import pg_cluster  # noqa: F401 (the fixture)
from test_store_postgresql import PW, pg_petrel, pg_url  # noqa: F401 (pg_url: a fixture)

USER = "nodes@example.test"
# remote mail stays deferred in the spool: no resolver answers
NO_DNS = dict(resolver="127.0.0.1@9", special_zones="test", timeout=1)
FAST = dict(node_report_interval=1, node_stale_after=3)


def nodes(p):
    return {n["name"]: n for n in json.loads(p.cli_ok("nodes", "--json").stdout)}


def wait_for(what, pred, timeout=10.0):
    """PRED() once it is true (bounded wait)."""
    return wait_until(pred, timeout, interval=0.2, what=what)


def submit(p, rcpt):
    c = p.auth_session(user=USER, password=PW)
    qid = assert_queued(c.mail_transaction(USER, [rcpt], make_message(sender=USER, to=rcpt)))
    c.quit()
    return qid


def events_of(p, qid):
    return [e for e in json.loads(p.cli_ok("events", "--json").stdout) if e["queue_id"] == qid]


def two_nodes(petrel_factory, url):
    a = pg_petrel(petrel_factory, url, start=False, node="node-a", **NO_DNS, **FAST)
    a.cli_ok("account", "add", USER, "--password-stdin", input=PW + "\n")
    b = pg_petrel(petrel_factory, url, start=False, node="node-b", **NO_DNS, **FAST)
    # the password lives with each node's auth process (auth/credentials.db)
    b.cli_ok("account", "passwd", USER, "--password-stdin", input=PW + "\n")
    a.start()
    b.start()
    return a, b


def test_two_nodes_register_report_and_go_stale(petrel_factory, pg_url):  # noqa: F811
    a, b = two_nodes(petrel_factory, pg_url)
    ns = nodes(a)
    assert set(ns) == {"node-a", "node-b"}, ns
    assert nodes(b).keys() == ns.keys()
    for name, p in (("node-a", a), ("node-b", b)):
        n = ns[name]
        assert n["state"] == "live" and n["stale"] is False and 0 <= n["age"] <= 2, n
        assert "127.0.0.1:%d" % p.mx in n["listeners"], n
        assert n["version"] and n["owner"].endswith(":%s" % p.data_dir), n
    assert ns["node-a"]["number"] != ns["node-b"]["number"], ns
    # they keep reporting: the last report moves on
    first = ns["node-b"]["reported"]
    wait_for("a newer report of node-b", lambda: nodes(a)["node-b"]["reported"] > first)

    qa = submit(a, "x@remote.test")
    qb = submit(b, "y@remote.test")
    # the node bits of each ID are its node's number: never the same on two nodes
    assert int(qa, 16) & 0xFF == ns["node-a"]["number"], (qa, ns)
    assert int(qb, 16) & 0xFF == ns["node-b"]["number"], (qb, ns)
    assert int(qa, 16) & 0xFF != int(qb, 16) & 0xFF

    # the events of each message carry the node that recorded them
    ea = wait_for("events of " + qa, lambda: events_of(b, qa))
    eb = wait_for("events of " + qb, lambda: events_of(a, qb))
    assert {e["node"] for e in ea} == {"node-a"}, ea
    assert {e["node"] for e in eb} == {"node-b"}, eb
    text = a.cli_ok("events").stdout
    [line] = [ln for ln in text.splitlines() if qb in ln and " accepted " in ln]
    assert line.split()[1:3] == ["node-b", "accepted"], line

    # `petrel queue list` reads the local node's spool
    wait_for("node-a's queue", lambda: qa in a.cli_ok("queue", "list").stdout)
    assert qb not in a.cli_ok("queue", "list").stdout
    assert qb in b.cli_ok("queue", "list").stdout
    assert qa not in b.cli_ok("queue", "list").stdout
    # the reports carry the active queue's size (deferred mail rests on disk, uncounted)
    assert isinstance(nodes(b)["node-a"]["queue_active"], int)

    # a clean stop shows at once; a killed node goes stale after node_stale_after
    b.stop()
    assert nodes(a)["node-b"]["state"] == "stopped"
    a.kill9()
    assert nodes(b)["node-a"]["state"] == "live"
    n = wait_for("node-a stale", lambda: nodes(b)["node-a"]["stale"] and nodes(b)["node-a"])
    assert n["state"] == "stale" and n["age"] >= 3, n
    [row] = [ln for ln in b.cli_ok("nodes").stdout.splitlines() if ln.startswith("node-a ")]
    assert row.split()[2] == "stale", row


def test_same_live_name_refused(petrel_factory, pg_url):  # noqa: F811
    a = pg_petrel(petrel_factory, pg_url, node="dup", **FAST)
    number = nodes(a)["dup"]["number"]
    b = pg_petrel(petrel_factory, pg_url, start=False, node="dup", **FAST)
    try:
        b.start()
        raise AssertionError("a second server named dup started")
    except AssertionError as e:
        assert "exited" in str(e), e
    assert b.proc.returncode != 0
    b.proc = None  # it never ran: nothing to stop
    assert "node dup is running elsewhere" in b.log(), b.log()[-2000:]
    # while it is live it cannot be forgotten either
    r = b.cli("nodes", "forget", "dup")
    assert r.returncode == 1 and "is live" in r.stderr, r.stderr

    # once the first stopped, the name is free: the same number again
    a.stop()
    b.start()
    n = nodes(b)["dup"]
    assert n["state"] == "live" and n["number"] == number, n
    assert n["owner"].endswith(":%s" % b.data_dir), n
    b.stop()
    b.cli_ok("nodes", "forget", "dup")
    assert nodes(b) == {}


def test_one_node_on_sqlite(petrel):
    """On SQLite the one server registers too: `petrel nodes` lists it, its events carry
    its name, and after a crash it starts again at once (the same data folder: its last
    process has ended, the folder's lock says so)."""
    [n] = json.loads(petrel.cli_ok("nodes", "--json").stdout)
    assert (n["name"], n["state"], n["number"]) == (petrel.node, "live", 0), n
    petrel.kill9()
    petrel.start()
    [n] = json.loads(petrel.cli_ok("nodes", "--json").stdout)
    assert n["state"] == "live" and n["number"] == 0, n
    petrel.stop()
    [n] = json.loads(petrel.cli_ok("nodes", "--json").stdout)
    assert n["state"] == "stopped", n


def add_cluster(p, **keys):
    """A [cluster] section with KEYS, appended to P's configuration (not started yet)."""
    with open(p.config_path, "a") as f:
        f.write("\n[cluster]\n" + "".join("%s = %s\n" % kv for kv in keys.items()))


def test_cluster_addresses_and_account_homes(petrel_factory, pg_url):  # noqa: F811
    """A node registers its [cluster] addresses (`petrel nodes` lists them); an account's
    home is set at `account add --home`, changed and cleared with `account home`, shown by
    `account show` and `list`; a node the store does not know is refused."""
    a = pg_petrel(petrel_factory, pg_url, start=False, node="node-a", **NO_DNS, **FAST)
    b = pg_petrel(petrel_factory, pg_url, start=False, node="node-b", **NO_DNS, **FAST)
    add_cluster(b, **{"mail": "127.0.0.1:%d" % b.mx, "from": "127.0.0.0/8"})
    a.start()
    b.start()
    ns = nodes(a)
    assert ns["node-b"]["mail_address"] == "127.0.0.1:%d" % b.mx, ns
    assert ns["node-b"]["imap_address"] is None and ns["node-a"]["mail_address"] is None, ns
    [row] = [ln for ln in a.cli_ok("nodes").stdout.splitlines() if ln.startswith("node-b ")]
    assert "mail=127.0.0.1:%d" % b.mx in row.split(), row

    r = a.cli("account", "add", "h@example.test", "--password-stdin", "--home", "node-x",
              input=PW + "\n")
    assert r.returncode == 1 and "unknown node node-x" in r.stderr, r
    a.cli_ok("account", "add", "h@example.test", "--password-stdin", "--home", "Node-B",
             input=PW + "\n")
    show = json.loads(a.cli_ok("account", "show", "h@example.test", "--json").stdout)
    assert show["home_node"] == "node-b", show
    assert "home:        node-b" in a.cli_ok("account", "show", "h@example.test").stdout
    a.cli_ok("account", "home", "h@example.test", "node-a")
    [acct] = json.loads(b.cli_ok("account", "list", "--json").stdout)
    assert acct["home_node"] == "node-a", acct
    r = a.cli("account", "home", "h@example.test", "node-x")
    assert r.returncode == 1 and "unknown node node-x" in r.stderr, r
    r = a.cli("account", "home", "nobody@example.test", "node-a")
    assert r.returncode == 1 and "no account nobody@example.test" in r.stderr, r
    a.cli_ok("account", "home", "h@example.test", "--clear")
    [line] = a.cli_ok("account", "list").stdout.splitlines()[1:]
    assert line.split()[-1] == "-", line
    assert a.cli("account", "home", "h@example.test").returncode == 2
