"""The spool's layout on disk (docs/operations.md "The data folder", "The queue"):
queue/new/<ID>, queue/defer/<T>/<ID>, queue/hold/<ID>; each message's state log after its
body; the layout of earlier versions (queue/<ID> + queue/<ID>.rcpt) converted at start.

The server is test_queue_ops's: remote.test's MX (dnsmasq on a free loopback port) is
127.0.0.9 where nothing listens, so remote mail is deferred; retries are an hour apart.
"""

import re
import time

import pytest

from conftest import assert_queued, queue_file, run_petrel, SAN_ENV, SENDER
from test_queue_ops import (REMOTE, dns, server, make_server, submit, wait_attempts,  # noqa: F401
                            wait_log, wait_gone, queue_ids, queue_list, reconfigure_queue)


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


# ------------------------------------------------------------- bounded memory

def queue_server(petrel_factory, dns, env=None, **settings):
    """test_queue_ops's server with SETTINGS in [queue] instead of its hour-long retries
    (and ENV in its environment)."""
    p = make_server(petrel_factory, dns)
    p.stop()
    reconfigure_queue(p, **settings)
    p.extra_env.update(env or {})
    p.start()
    return p


def in_memory_counts(p):
    """Every in_memory=N the queue logged (a message kept, loaded or recovered)."""
    return [int(m) for m in re.findall(r" in_memory=(\d+)", p.log())]


def send_many(p, n, rcpts=(REMOTE,), size=200):
    """N messages in one logged-in session, each pipelined (MAIL, RCPTs, DATA); their IDs."""
    c = p.auth_session("submission")
    ids = []
    try:
        for k in range(n):
            c.send(("MAIL FROM:<%s>\r\n" % SENDER).encode() +
                   b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts) + b"DATA\r\n")
            for _ in range(len(rcpts) + 2):
                r = c.read_reply()
                assert r.code in (250, 354), r
            assert r.code == 354, r
            body = (b"From: <%s>\r\nSubject: %d\r\n\r\n" % (SENDER.encode(), k) +
                    b"x" * size + b"\r\n")
            c.send(body + b".\r\n")
            ids.append(assert_queued(c.read_reply()))
    finally:
        c.close()
    return ids


def deferrals(p, qid):
    return len(re.findall(r" deferred queue_id=%s " % qid, p.log()))


def test_deferred_message_leaves_memory_and_is_retried_from_defer_on_time(petrel_factory, dns):
    """A deferred message is forgotten in memory and waits in defer/<T>/; when T comes it
    is read back from there (logged `loaded ... folder=defer`) and tried, not before."""
    p = queue_server(petrel_factory, dns, retry_initial=3, retry_max=3)
    [qid] = send_many(p, 1)
    wait_log(p, "retry queue_id=%s " % qid)
    path = p.queue_file(qid)
    t = int(path.parent.name)
    assert path.parent.parent.name == "defer", path
    deadline = time.monotonic() + 30
    while deferrals(p, qid) < 2:
        assert time.monotonic() < deadline, p.log()[-3000:]
        time.sleep(0.1)
    assert time.time() >= t
    log = p.log()
    loaded = log.index("loaded queue_id=%s folder=defer" % qid)
    assert log.index(" deferred queue_id=%s " % qid) < loaded < log.rindex(
        " deferred queue_id=%s " % qid), log[-3000:]
    assert "in_memory=0" in log[:loaded].rsplit("\n", 1)[-1] + log[loaded:].split("\n", 1)[0] \
        or "in_memory=1" in log[loaded:].split("\n", 1)[0], log[loaded:][:300]


def test_small_active_limit_accepts_and_retries_everything(petrel_factory, dns):
    """[queue] active_limit = 5: fifty messages to a deferring destination are all
    accepted and all retried from defer/, and never more than five are in memory."""
    p = queue_server(petrel_factory, dns, retry_initial=1, retry_max=2, active_limit=5)
    ids = send_many(p, 50)
    assert len(set(ids)) == 50
    deadline = time.monotonic() + 120
    while True:
        log = p.log()
        done = [q for q in ids if len(re.findall(r" deferred queue_id=%s " % q, log)) >= 2]
        if len(done) == 50:
            break
        assert time.monotonic() < deadline, "%d of 50 retried\n%s" % (len(done), log[-3000:])
        time.sleep(0.5)
    counts = in_memory_counts(p)
    assert counts and max(counts) <= 5, counts
    for q in ids:
        assert "loaded queue_id=%s folder=defer" % q in log, q
    assert sorted(queue_ids(p)) == sorted(ids)


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def test_memory_stays_flat_with_the_backlog(petrel_factory, dns):
    """The network process's resident memory grows by less than 8 MiB between 50 and
    500 deferred messages of 100 recipients each: each such message kept in memory costs
    about 37 KiB (the layout's first commit, which kept them: +16.8 MiB for the 450);
    measured here +2 to +3 MiB (the store's page cache, the log's buffer...)."""
    # AddressSanitizer keeps freed memory aside (its quarantine): without that, the
    # memory freed is used again, as in a build without it
    asan = {"ASAN_OPTIONS": SAN_ENV["ASAN_OPTIONS"] + ":quarantine_size_mb=0"}
    p = queue_server(petrel_factory, dns, env=asan, retry_initial=3600, retry_max=3600)
    p.cli_ok("account", "set", SENDER, "--daily-limit", "0", "--per-minute", "0")
    rcpts = ["%s-%02d@remote.test" % ("r" * 60, k) for k in range(100)]
    pid = p.processes()["network"]

    def settle(ids):
        deadline = time.monotonic() + 300
        while True:
            log = p.log()
            if all(("retry queue_id=%s " % q) in log for q in ids):
                return
            assert time.monotonic() < deadline, log[-2000:]
            time.sleep(1)

    first = send_many(p, 50, rcpts)
    settle(first)
    before = vm_rss_kib(pid)
    rest = send_many(p, 450, rcpts)
    settle(rest)
    after = vm_rss_kib(pid)
    print("VmRSS KiB after 50 and after 500 deferred messages: %d %d" % (before, after))
    assert after - before < 8192, (before, after)
    assert len(list((p.data_dir / "queue" / "defer").glob("*/*"))) == 500


def local_file(folder, qid, rcpts, sender="s@example.test",
               body=b"Subject: on disk\r\n\r\nwritten while stopped\r\n"):
    """A complete spool file in FOLDER (a Path) of the current layout."""
    head = "version 1\nid %s\narrival %d\nsender %s\nsize %d\n" % (
        qid, int(time.time()), sender, len(body))
    head += "".join("rcpt notify=0 %s\n" % r for r in rcpts) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / qid
    path.write_bytes(head.encode() + body)
    path.chmod(0o700)
    return path


def test_restart_delivers_new_and_due_defer_in_bounded_batches(petrel_factory, dns):
    """After a restart the messages in new/ and in a due defer/<T>/ are all delivered with
    active_limit = 5 (`recovered count=20` once new/ has been read); one in a defer/<T>/ not
    due yet waits."""
    p = queue_server(petrel_factory, dns, active_limit=5, retry_initial=3600,
                     retry_max=3600)
    p.stop()
    q = p.data_dir / "queue"
    now = int(time.time())
    ids_new = ["0CB90000000B%04X" % k for k in range(20)]
    ids_due = ["0CB90000000C%04X" % k for k in range(20)]
    for qid in ids_new:
        local_file(q / "new", qid, ["u@example.test"])
    for qid in ids_due:
        local_file(q / "defer" / str(now - 60), qid, ["u@example.test"])
    later = local_file(q / "defer" / str(now + 3600), "0CB90000000D0000", ["u@example.test"])
    p.start()
    wait_log(p, "recovered count=20")
    p.mail("example.test", "u", 40, timeout=60)
    for qid in ids_new + ids_due:
        wait_gone(p, qid)
    assert len(p.mailbox("example.test", "u")) == 40
    assert later.exists()
    assert not (q / "defer" / str(now - 60)).exists()
    counts = in_memory_counts(p)
    assert counts and max(counts) <= 5, counts


def test_operations_on_messages_only_on_disk(petrel_factory, dns):
    """flush, hold, release, delete and bounce by ID act on messages that are on disk
    only (in a defer/<T>/ an hour away, never read since the start)."""
    p = queue_server(petrel_factory, dns, retry_initial=3600, retry_max=3600)
    p.stop()
    folder = p.data_dir / "queue" / "defer" / str(int(time.time()) + 3600)
    ids = {k: "0CB90000000E%04X" % i for i, k in enumerate(
        ["flush", "hold", "delete", "bounce"])}
    local_file(folder, ids["flush"], ["u@example.test"], body=b"Subject: flush\r\n\r\nf\r\n")
    local_file(folder, ids["hold"], ["u@example.test"], body=b"Subject: hold\r\n\r\nh\r\n")
    local_file(folder, ids["delete"], ["u@example.test"], body=b"Subject: delete\r\n\r\nd\r\n")
    local_file(folder, ids["bounce"], [REMOTE], sender="u@example.test",
               body=b"Subject: bounce\r\n\r\nb\r\n")
    p.start()
    wait_log(p, "recovered count=0")
    assert "loaded" not in p.log()
    p.cli_ok("queue", "flush", ids["flush"])
    [m] = p.mail("example.test", "u", 1)
    assert b"Subject: flush" in m
    line = "loaded queue_id=%s by=administrator" % ids["flush"]
    assert line in p.wait_log(re.escape(line))
    p.cli_ok("queue", "hold", ids["hold"])
    assert p.queue_file(ids["hold"]) == p.data_dir / "queue" / "hold" / ids["hold"]
    r = p.cli("queue", "flush", ids["hold"])
    assert r.returncode == 1 and "held" in r.stderr, r
    p.cli_ok("queue", "release", ids["hold"])
    p.mail("example.test", "u", 2)
    p.cli_ok("queue", "delete", ids["delete"])
    assert p.queue_file(ids["delete"]) is None
    r = p.cli("queue", "delete", ids["delete"])
    assert r.returncode == 1 and "not found" in r.stderr, r
    p.cli_ok("queue", "bounce", ids["bounce"])
    line = "loaded queue_id=%s by=administrator" % ids["bounce"]
    assert line in p.wait_log(re.escape(line))
    mails = p.mail("example.test", "u", 3)
    assert any(b"multipart/report" in m and REMOTE.encode() in m for m in mails), mails
    for qid in ids.values():
        wait_gone(p, qid)
    time.sleep(0.5)
    assert not any(b"Subject: delete" in m for m in p.mailbox("example.test", "u"))


def test_bodies_beyond_memory_limit_are_read_back(petrel_factory, dns):
    """[queue] memory_limit = 0: no body is kept in memory after acceptance (logged
    body=no); each is read back from the spool for its attempt, intact."""
    p = queue_server(petrel_factory, dns, memory_limit=0)
    c = p.auth_session("submission")
    try:
        msg = (b"From: <%s>\r\nSubject: big\r\n\r\n" % SENDER.encode() +
               b"0123456789abcdef\r\n" * 256)
        qid = assert_queued(c.mail_transaction(SENDER, ["u@example.test"], msg))
    finally:
        c.close()
    [m] = p.mail("example.test", "u", 1)
    assert m.endswith(b"0123456789abcdef\r\n" * 256), m[-100:]
    line = "queued queue_id=%s kept=yes body=no " % qid
    assert line in p.wait_log(re.escape(line))


@pytest.mark.parametrize("line, text", [
    ("active_limit = 0", "'active_limit' must be a number between 1 and 1000000"),
    ("active_limit = 1000001", "'active_limit' must be a number between 1 and 1000000"),
    ("memory_limit = 65G", "'memory_limit' must be a number between 0 and 68719476736"),
    ("memory_limit = lots", "'memory_limit' must be a number between 0 and 68719476736"),
])
def test_queue_memory_settings_are_checked_at_start(tmp_path, line, text):
    conf = tmp_path / "bad.conf"
    conf.write_text("[server]\nhostname = mx.petrel.test\n[queue]\n%s\n" % line)
    r = run_petrel("serve", "-c", conf, timeout=15)
    assert r.returncode == 2, r
    assert "%s:4: %s" % (conf, text) in r.stderr, r.stderr
