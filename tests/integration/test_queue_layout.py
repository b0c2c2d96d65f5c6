"""The spool's layout on disk (docs/operations.md "The data folder", "The queue"):
queue/new/<ID>, queue/defer/<T>/<ID>, queue/hold/<ID>; each message's state log after its
body; the layout of earlier versions (queue/<ID> + queue/<ID>.rcpt) converted at start.

The server is test_queue_ops's: remote.test's MX (dnsmasq on a free loopback port) is
127.0.0.9 where nothing listens, so remote mail is deferred; retries are an hour apart.
"""

import time

from conftest import queue_file
from test_queue_ops import (REMOTE, dns, server, make_server, submit, wait_attempts,  # noqa: F401
                            wait_log, wait_gone, queue_list)


def legacy_file(p, qid, rcpts, body=b"Subject: legacy\r\n\r\nfrom an earlier version\r\n"):
    """An accepted message as earlier versions wrote it, straight under queue/."""
    head = "version 1\nid %s\narrival %d\nsender s@example.test\nsize %d\n" % (
        qid, int(time.time()), len(body))
    head += "".join("rcpt notify=0 %s\n" % r for r in rcpts) + "\n"
    path = p.data_dir / "queue" / qid
    path.write_bytes(head.encode() + body)
    path.chmod(0o700)
    return path


def test_legacy_layout_is_converted_at_start(server):
    """queue/<ID> and its queue/<ID>.rcpt become queue/new/<ID> with the log after the
    body: a recipient the log says delivered is not delivered again, the others are
    tried; an orphan log and an incomplete file are removed."""
    server.stop()
    one, two, part = "0CB9000000000A01", "0CB9000000000A02", "0CB9000000000A03"
    legacy_file(server, one, ["u@example.test", REMOTE])
    (server.data_dir / "queue" / (one + ".rcpt")).write_bytes(b"0 delivered 250+20done\n")
    legacy_file(server, two, ["u@example.test"])
    legacy_file(server, part, ["u@example.test"]).chmod(0o600)  # never finished
    (server.data_dir / "queue" / "0CB9000000000AFF.rcpt").write_bytes(b"0 delivered -\n")
    server.start()
    wait_log(server, "queue_converted count=2 ")
    assert sorted(p.name for p in (server.data_dir / "queue").iterdir()) == \
        ["defer", "hold", "new"], list((server.data_dir / "queue").iterdir())
    [mail] = server.mail("example.test", "u", 1)
    assert b"from an earlier version" in mail
    wait_gone(server, two)
    wait_attempts(server, one, 1)
    wait_log(server, "retry queue_id=%s " % one)
    path = queue_file(server.data_dir, one)
    assert path.parent.parent.name == "defer", path
    data = path.read_bytes()
    assert data.split(b"\r\n\r\nfrom an earlier version\r\n", 1)[1].startswith(
        b"0 delivered 250+20done\n"), data
    [m] = [m for m in queue_list(server) if m["id"] == one]
    assert [r["state"] for r in m["recipients"]] == ["delivered", "deferred"], m
    time.sleep(0.5)
    assert len(server.mailbox("example.test", "u")) == 1  # not again for message one


def test_deferred_message_waits_in_defer_with_its_log_after_the_body(server):
    """A deferred message's file moves from new/ to defer/<T>/ where T is its next
    attempt (the `M next T` line of its log); held, it moves to hold/; released, to
    new/ and tried."""
    qid = submit(server)
    wait_attempts(server, qid, 1)
    wait_log(server, "retry queue_id=%s " % qid)
    path = server.queue_file(qid)
    t = int(path.parent.name)
    assert path.parent.parent.name == "defer" and t > time.time() + 3000, path
    data = path.read_bytes()
    assert data.endswith(b"M next %d\n" % t), data
    assert b"\n0 deferred " in data and not (server.data_dir / "queue" / (qid + ".rcpt")).exists()
    server.cli_ok("queue", "hold", qid)
    assert server.queue_file(qid) == server.data_dir / "queue" / "hold" / qid
    assert not path.parent.exists()  # the emptied defer/<T>/ is removed
    assert server.queue_file(qid).read_bytes().endswith(b"M hold 1\n")
    server.cli_ok("queue", "release", qid)
    wait_attempts(server, qid, 2)
    wait_log(server, "retry queue_id=%s " % qid, count=2)
    assert server.queue_file(qid).parent.parent.name == "defer"
