"""250 means durable: kill -9 mid-stream loses no acknowledged message; restart drains."""

import re
import threading
import time
import uuid

from conftest import Closed, SMTPClient, fault_env, make_message, run_petrel

MSGID_RE = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.M | re.I)


def delivered_ids(petrel, domain="example.test", local="u"):
    ids = []
    for raw in petrel.mailbox(domain, local):
        m = MSGID_RE.search(raw)
        assert m, "delivered message without Message-ID: %r" % raw[:400]
        ids.append(m.group(1).decode())
    return ids


def wait_for_ids(petrel, wanted, timeout):
    deadline = time.monotonic() + timeout
    while True:
        have = set(delivered_ids(petrel))
        missing = wanted - have
        if not missing or time.monotonic() > deadline:
            return missing, have
        time.sleep(0.2)


def sender_loop(host, port, acked, stop, limit):
    """Send messages until STOP or LIMIT; record Message-IDs answered 250 (in ACKED)."""
    sent = 0
    while not stop.is_set() and sent < limit:
        try:
            c = SMTPClient(host, port, timeout=5)
            c.banner()
            c.ehlo()
            while not stop.is_set() and sent < limit:
                mid = "<%s@durable.test>" % uuid.uuid4().hex
                c.expect("MAIL FROM:<a@b.test>", 250)
                c.expect("RCPT TO:<u@example.test>", 250)
                c.expect("DATA", 354)
                c.send(make_message(msgid=mid, body=b"payload " * 64 + b"\r\n") + b".\r\n")
                r = c.read_reply()
                sent += 1
                if r.code == 250:
                    acked.append(mid)
            c.close()
        except (OSError, Closed, AssertionError):
            time.sleep(0.05)


def test_kill9_loses_no_acknowledged_message(petrel):
    acked, stop = [], threading.Event()
    threads = [threading.Thread(target=sender_loop,
                                args=(petrel.host, petrel.mx, acked, stop, 25))
               for _ in range(20)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 4
    while len(acked) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = sum(t.is_alive() for t in threads)
    assert alive, "every sender finished before the kill: not a mid-stream kill"
    petrel.kill9()
    print("kill -9 with %d senders running, %d messages acknowledged" % (alive, len(acked)))
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(15)
    assert acked, "no message was acknowledged before the kill"
    petrel.start()
    missing, have = wait_for_ids(petrel, set(acked), timeout=30)
    assert not missing, "%d of %d acknowledged messages lost after kill -9 (e.g. %s)" % (
        len(missing), len(acked), sorted(missing)[:3])
    # No torn message: every delivered file holds the whole body.
    body = b"payload " * 64 + b"\r\n"
    torn = [raw[:200] for raw in petrel.mailbox("example.test", "u") if not raw.endswith(body)]
    assert not torn, "%d partial messages delivered, e.g. %r" % (len(torn), torn[0])


def test_sigterm_with_open_sessions(petrel):
    """Idle sessions and one mid-DATA do not keep SIGTERM from a clean exit 0 (teardown checks)."""
    idle = [petrel.session() for _ in range(5)]
    busy = petrel.session()
    busy.expect("MAIL FROM:<a@b.test>", 250)
    busy.expect("RCPT TO:<u@example.test>", 250)
    busy.expect("DATA", 354)
    busy.send(b"Subject: half\r\n\r\nnot finished")
    t0 = time.monotonic()
    rc = petrel.stop()
    assert rc == 0, rc
    assert time.monotonic() - t0 < 5
    for c in idle + [busy]:
        c.close()
    petrel.start()
    d = petrel.session()
    d.expect("NOOP", 250)
    d.quit()
    time.sleep(0.5)
    assert petrel.mailbox("example.test", "u") == [], "a half-sent message was delivered"


def test_restart_with_full_queue(petrel):
    """Many messages acknowledged, then SIGKILL right away: the restarted server drains them."""
    ids = []
    clients = [SMTPClient(petrel.host, petrel.mx) for _ in range(4)]
    for c in clients:
        c.banner()
        c.ehlo()
    for i in range(30):
        for c in clients:
            mid = "<%s@full.test>" % uuid.uuid4().hex
            c.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
            assert [c.read_reply().code for _ in range(3)] == [250, 250, 354]
            c.send(make_message(msgid=mid) + b".\r\n")
            assert c.read_reply().code == 250
            ids.append(mid)
    petrel.kill9()
    for c in clients:
        c.close()
    r = run_petrel("queue", "list", "-c", petrel.config_path)
    assert r.returncode == 0, r
    m = re.search(r"(\d+) messages?", r.stdout)
    assert m, r.stdout
    pending = int(m.group(1))
    assert pending <= len(ids)
    assert pending + len(set(delivered_ids(petrel))) >= len(ids), (pending, r.stdout)
    petrel.start()
    missing, _ = wait_for_ids(petrel, set(ids), timeout=30)
    assert not missing, "%d of %d lost" % (len(missing), len(ids))
    petrel.stop()
    r = run_petrel("queue", "list", "-c", petrel.config_path)
    assert r.returncode == 0 and "0 messages" in r.stdout, r.stdout
    petrel.start()


def test_sigterm_restart_keeps_serving(petrel):
    c = petrel.session()
    mid = "<%s@restart.test>" % uuid.uuid4().hex
    c.mail_transaction("a@b.test", ["u@example.test"], make_message(msgid=mid))
    c.quit()
    petrel.restart()
    missing, _ = wait_for_ids(petrel, {mid}, timeout=10)
    assert not missing
    d = petrel.session()
    d.expect("NOOP", 250)
    d.quit()


def test_failed_directory_sync_stops_acknowledging_until_restart(petrel_factory):
    """Issue 7 #6: once an fsync of the queue directory failed, a later fsync that
    succeeds proves nothing (Linux reports a lost writeback once): the spool answers
    451 4.3.0 to every message until a restart, then 250 again."""
    p = petrel_factory(start=False)
    rules = p.tmp / "faults"
    p.extra_env = fault_env(rules)
    p.start()
    rules.write_text("fsync EIO */data/queue\n")
    c = p.session()
    r = c.mail_transaction("a@b.test", ["u@example.test"], make_message())
    assert r.code // 100 == 4, r
    rules.write_text("")
    for _ in range(2):
        r = c.mail_transaction("a@b.test", ["u@example.test"], make_message())
        assert (r.code, r.enhanced) == (451, "4.3.0"), r
    c.quit()
    log = p.wait_log("spool-failed")
    assert "spool-failed" in log, log[-2000:]
    p.restart()
    c = p.session()
    mid = "<%s@after.test>" % uuid.uuid4().hex
    r = c.mail_transaction("a@b.test", ["u@example.test"], make_message(msgid=mid))
    assert r.code == 250, r
    c.quit()
    missing, _ = wait_for_ids(p, {mid}, timeout=15)
    assert not missing
    assert len(p.mailbox("example.test", "u")) == 1, "a refused message was delivered"
