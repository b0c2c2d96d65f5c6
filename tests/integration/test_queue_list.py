"""petrel queue list / show / stats (issue 8 item 4).

list and show read the spool's folders directly (queue/new/, queue/defer/<T>/,
queue/hold/, queue/corrupt/, and the legacy top-level queue/<ID> + <ID>.rcpt); most
tests here place message files in that layout themselves, with the server stopped, and
check what the CLI prints and which files it opens (strace, /proc/PID/io).  The last
ones run the CLI against a running server that received mail from smtplib.
"""

import json
import os
import re
import smtplib
import subprocess
import time

import pytest

from conftest import (PETREL_BIN, SENDER, SENDER_PASSWORD, client_tls_context, make_message,
                      petrel_env)
from test_queue_ops import REMOTE, dns, make_server  # noqa: F401 (dns: a fixture)

ID_EPOCH_MS = 1577836800000  # src/queue/queue-id.c: 2020-01-01T00:00:00Z


def make_id(t, seq=0):
    """A queue ID made at unix time T, as queue_id_new makes them."""
    ms = int(t * 1000) - ID_EPOCH_MS
    return "%016X" % ((ms << 22) | ((seq & 0x3FFF) << 8) | 0x5A)


def xtext(s):
    return "".join(c if "!" <= c <= "~" and c not in "+=" else "+%02X" % ord(c) for c in s)


def spool_file(qid, sender, rcpts, body=b"Subject: t\r\n\r\nhello\r\n", log=b""):
    """The bytes of a message file: envelope, blank line, body, state log."""
    env = ["version 1", "id " + qid, "arrival %d" % int(time.time()),
           "sender " + xtext(sender), "client 127.0.0.1", "helo client.test", "listener mx",
           "size %d" % len(body)]
    env += ["rcpt notify=0 " + xtext(r) for r in rcpts]
    return ("\n".join(env) + "\n\n").encode() + body + log


def place(p, where, qid, sender="s@send.test", rcpts=("r@dest.test",), body=None, log=b"",
          complete=True, rcpt_log=None):
    """Write QID's file into WHERE: "new", "hold", "corrupt", ("defer", T) or "" (the
    legacy top level, with RCPT_LOG as its <ID>.rcpt)."""
    d = p.data_dir / "queue"
    if isinstance(where, tuple):
        d = d / where[0] / str(where[1])
    elif where:
        d = d / where
    d.mkdir(parents=True, exist_ok=True)
    path = d / qid
    if where == "corrupt":
        path.write_bytes(b"not an envelope at all\n")
    else:
        path.write_bytes(spool_file(qid, sender, rcpts, *(() if body is None else (body,)),
                                    log=log))
    os.chmod(path, 0o700 if complete else 0o600)
    if rcpt_log is not None:
        (p.data_dir / "queue" / (qid + ".rcpt")).write_bytes(rcpt_log)
    return path


def listing(p, *args):
    """`queue list --json ARGS`: the messages, by ID."""
    r = p.cli("queue", "list", "--json", *args)
    assert r.returncode == 0, r
    return {m["id"]: m for m in json.loads(r.stdout)}


def traced(p, *args, calls="openat"):
    """Run `petrel ARGS -c CONF` under strace; (CompletedProcess, strace lines)."""
    log = p.tmp / "strace.log"
    env = petrel_env()
    # LeakSanitizer cannot run under ptrace; the untraced runs check for leaks
    env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("detect_leaks=1", "detect_leaks=0")
    r = subprocess.run(["strace", "-qq", "-e", "trace=" + calls, "-o", str(log), PETREL_BIN,
                        *args, "-c", str(p.config_path)], capture_output=True, text=True,
                       timeout=120, env=env, stdin=subprocess.DEVNULL)
    return r, log.read_text().splitlines()


def opened_ids(lines):
    """The queue IDs the traced process opened (as file names)."""
    return [m.group(1) for m in (re.search(r'openat\(\d+, "([0-9A-F]{16})"', l) for l in lines)
            if m]


@pytest.fixture
def offline(petrel_factory):
    """A data folder whose server is not running."""
    return petrel_factory(start=False)


def test_list_reads_every_folder_of_the_layout(offline):
    p, now = offline, int(time.time())
    t_defer, t_legacy = now + 3600, now + 7200
    ids = [make_id(now - 60, i) for i in range(7)]
    new, deferred, held, corrupt, legacy, incomplete, torn = ids
    # the state log after the body: recipient 0 delivered, then a torn line
    place(p, "new", new, rcpts=("a@one.test", "b@two.test"),
          log=b"0 delivered 250+202.0.0+20ok\n1 deliv")
    place(p, ("defer", t_defer), deferred, log=b"0 deferred 451+20later\nM next %d\n" % t_defer)
    place(p, "hold", held, log=b"M hold 1\n")
    place(p, "corrupt", corrupt)
    place(p, "", legacy, rcpt_log=b"0 deferred -\nM next %d\n" % t_legacy)
    place(p, "new", incomplete, complete=False)  # being written: never acknowledged
    place(p, "new", torn, body=b"x" * 100, log=b"0 failed 550+20no\n")

    got = listing(p)
    assert set(got) == {new, deferred, held, corrupt, legacy, torn}, got
    assert got[new]["state"] == "new"
    assert [r["state"] for r in got[new]["recipients"]] == ["delivered", "pending"]
    assert got[new]["recipients"][0]["reply"] == "250 2.0.0 ok"
    assert got[deferred]["state"] == "deferred"
    assert got[deferred]["next_attempt_unix"] == t_defer
    assert got[deferred]["recipients"][0] == {"address": "r@dest.test", "state": "deferred",
                                              "reply": "451 later"}
    assert got[held]["state"] == "held" and got[held]["held"] is True
    assert got[corrupt] == {"id": corrupt, "state": "corrupt", "corrupt": True,
                            "file": "queue/corrupt/" + corrupt}
    assert got[legacy]["state"] == "deferred"
    assert got[legacy]["next_attempt_unix"] == t_legacy
    assert got[torn]["recipients"][0]["state"] == "failed"

    text = p.cli_ok("queue", "list").stdout.splitlines()
    assert text[-1] == "5 messages, 1 corrupt files", text
    line = {l.split()[0]: l for l in text[:-1]}
    assert "a@one.test (delivered)  b@two.test (pending)" in line[new]
    assert line[held].endswith("[held]") and "  next " in line[deferred]
    assert "(corrupt: unreadable, moved to queue/corrupt/%s)" % corrupt in line[corrupt]

    # show finds each wherever it is
    for qid, state, file in ((new, "new", "queue/new/" + new),
                             (deferred, "deferred", "queue/defer/%d/%s" % (t_defer, deferred)),
                             (held, "held", "queue/hold/" + held),
                             (legacy, "deferred", "queue/" + legacy)):
        out = p.cli_ok("queue", "show", qid).stdout
        assert "state: %s\nfile: %s\n" % (state, file) in out, out
        shown = json.loads(p.cli_ok("queue", "show", qid, "--json").stdout)
        assert (shown["state"], shown["file"]) == (state, file)
        assert shown["headers"] == "Subject: t\r\n"
    r = p.cli("queue", "show", corrupt)
    assert r.returncode == 1 and "queue/corrupt/%s: unreadable" % corrupt in r.stderr, r
    r = p.cli("queue", "show", incomplete)
    assert r.returncode == 1 and "no message %s in the queue" % incomplete in r.stderr, r


def test_state_filter_reads_only_its_folder(offline):
    p, now = offline, int(time.time())
    new, deferred, held, corrupt = (make_id(now - 60, i) for i in range(4))
    place(p, "new", new)
    place(p, ("defer", now + 60), deferred)
    place(p, "hold", held)
    place(p, "corrupt", corrupt)
    assert set(listing(p, "--state", "held")) == {held}
    assert set(listing(p, "--state", "deferred")) == {deferred}
    assert set(listing(p, "--state", "new", "--state=corrupt")) == {new, corrupt}
    r, lines = traced(p, "queue", "list", "--state", "held")
    assert r.returncode == 0 and held in r.stdout, r
    assert opened_ids(lines) == [held], lines
    assert not [l for l in lines if '"new"' in l or '"defer"' in l], lines


def test_older_than_uses_the_time_in_the_id(offline):
    p, now = offline, int(time.time())
    days3 = make_id(now - 3 * 86400 - 60)
    hours3 = make_id(now - 3 * 3600)
    minutes10 = make_id(now - 600)
    future = make_id(now + 10 * 86400)  # a clock gone wrong: the file's mtime counts
    for qid in (days3, hours3, minutes10, future):
        path = place(p, "new", qid)
    os.utime(path, (now - 5 * 86400, now - 5 * 86400))
    assert set(listing(p, "--older-than", "2h")) == {days3, hours3, future}
    assert set(listing(p, "--older-than", "3d")) == {days3, future}
    assert set(listing(p, "--older-than=30m")) == {days3, hours3, future}
    assert set(listing(p, "--older-than", "10d")) == set()
    r, lines = traced(p, "queue", "list", "--older-than", "3d")
    assert r.returncode == 0
    assert sorted(opened_ids(lines)) == sorted([days3, future]), lines


@pytest.mark.parametrize("args,message", [
    (("--older-than", "2x"), "--older-than takes a duration"),
    (("--older-than", ""), "--older-than takes a duration"),
    (("--older-than=-1h",), "--older-than takes a duration"),
    (("--sender", "--json"), "--sender needs a value"),
    (("--limit", "0"), "--limit takes a whole number"),
    (("--limit", "ten"), "--limit takes a whole number"),
    (("--state", "frozen"), "--state takes new, deferred, held, corrupt or scheduled"),
    (("--domain", "a@b"), "--domain takes a domain name"),
    (("--limit",), "--limit needs a value"),
    (("--bogus",), "unknown option '--bogus'"),
    (("--verbose", "1"), "unknown option '--verbose'"),
])
def test_bad_options_exit_2(offline, args, message):
    r = offline.cli("queue", "list", *args)
    assert r.returncode == 2 and message in r.stderr and "usage:" in r.stderr, r
    assert r.stdout == "", r


def test_filters_belong_to_list(offline):
    r = offline.cli("queue", "show", make_id(time.time()), "--limit", "1")
    assert r.returncode == 2 and "options of queue list" in r.stderr, r


def test_sender_and_domain_filters(offline):
    p, now = offline, int(time.time())
    a, b, null = (make_id(now - 60, i) for i in range(3))
    place(p, "new", a, sender="alice@a.test", rcpts=("x@gmail.test",))
    place(p, ("defer", now + 60), b, sender="Bob@B.test",
          rcpts=("y@Yahoo.test", "z@gmail.test"))
    place(p, "hold", null, sender="", rcpts=("q@other.test",))
    assert set(listing(p, "--sender", "alice@a.test")) == {a}
    assert set(listing(p, "--sender", "<BOB@b.test>")) == {b}
    assert set(listing(p, "--sender", "<>")) == {null}
    assert set(listing(p, "--sender", "")) == {null}
    assert set(listing(p, "--sender", "nobody@a.test")) == set()
    assert set(listing(p, "--domain", "gmail.test")) == {a, b}
    assert set(listing(p, "--domain", "@YAHOO.test")) == {b}
    assert set(listing(p, "--domain", "gmail.test", "--sender", "bob@b.test")) == {b}
    assert set(listing(p, "--domain", "gmail.test", "--state", "new")) == {a}
    assert len(listing(p, "--domain", "gmail.test", "--limit", "1")) == 1


def test_filters_read_the_envelope_not_the_body(offline):
    """--sender needs the envelope: the first 16 KiB of a 2 MiB message are read, and
    its state log after the body, nothing in between."""
    p, now = offline, int(time.time())
    big = make_id(now - 60)
    place(p, "new", big, sender="alice@a.test", body=b"x" * (2 << 20),
          log=b"0 deferred 451+20later\n")
    r, lines = traced(p, "queue", "list", "--json", "--sender", "alice@a.test",
                      calls="openat,read,pread64,close")
    assert r.returncode == 0, r
    [m] = json.loads(r.stdout)
    assert m["recipients"][0]["reply"] == "451 later"
    fd, read = None, 0
    for l in lines:
        o = re.search(r'openat\(\d+, "%s".* = (\d+)$' % big, l)
        if o:
            fd = o.group(1)
        elif fd and re.match(r"p?read(64)?\(%s," % fd, l):
            read += int(l.rsplit("= ", 1)[1])
        elif fd and l.startswith("close(%s)" % fd):
            fd = None
    assert 0 < read <= 16384 + 1024, (read, lines)


def test_limit_opens_only_what_it_prints(offline):
    p, now = offline, int(time.time())
    d = p.data_dir / "queue" / "new"
    d.mkdir(parents=True)
    for i in range(3000):
        qid = make_id(now - 60, i)
        path = d / qid
        path.write_bytes(spool_file(qid, "s@send.test", ["r@dest.test"]))
        os.chmod(path, 0o700)
    r, lines = traced(p, "queue", "list", "--limit", "1")
    assert r.returncode == 0, r
    out = r.stdout.splitlines()
    assert len(out) == 2 and out[1] == "1 messages (the first 1: --limit)", out
    assert opened_ids(lines) == [out[0].split()[0]], opened_ids(lines)[:10]
    r, lines = traced(p, "queue", "list", "--limit", "5", "--json")
    assert len(json.loads(r.stdout)) == 5 and len(opened_ids(lines)) == 5
    assert len(listing(p)) == 3000


def test_list_streams_before_reading_the_whole_queue(offline):
    """With its output not read, `queue list` blocks on the full pipe long before it has
    read the queue: it printed as it read."""
    p, now = offline, int(time.time())
    d = p.data_dir / "queue" / "new"
    d.mkdir(parents=True)
    n = 4000
    rcpts = ["recipient-number-%d@a-rather-long-domain-name.test" % i for i in range(6)]
    for i in range(n):
        qid = make_id(now - 60, i)
        (d / qid).write_bytes(spool_file(qid, "s@send.test", rcpts))
        os.chmod(d / qid, 0o700)
    proc = subprocess.Popen([PETREL_BIN, "queue", "list", "-c", str(p.config_path)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=petrel_env())
    try:
        first = proc.stdout.readline().decode()
        assert re.match(r"[0-9A-F]{16}  ", first), first
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "exited without blocking on its output"
            with open("/proc/%d/wchan" % proc.pid) as f:
                if "pipe_write" in f.read():
                    break
            assert time.monotonic() < deadline, "never blocked writing its output"
            time.sleep(0.05)
        with open("/proc/%d/io" % proc.pid) as f:
            io = dict(l.split(": ") for l in f.read().splitlines())
        # one read per message (they are small) plus start-up: far from N
        assert int(io["syscr"]) < n // 2, io
        rest = proc.stdout.read().decode().splitlines()
        assert proc.wait(60) == 0
        assert len(rest) == n and rest[-1] == "%d messages" % n, rest[-3:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------- against a running server

def submit_smtplib(p, rcpts, sender=SENDER):
    """Send one message through submission (STARTTLS, AUTH); its queue ID."""
    with smtplib.SMTP(p.host, p.sub, timeout=30) as s:
        s.starttls(context=client_tls_context())
        s.login(SENDER, SENDER_PASSWORD)
        s.ehlo("smtplib.example")
        s.mail(sender)
        for r in rcpts:
            assert s.rcpt(r)[0] == 250
        code, text = s.data(make_message())
    assert code == 250, text
    return re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()


@pytest.fixture
def server(petrel_factory, dns):  # noqa: F811
    return make_server(petrel_factory, dns)


def test_running_server_message_by_state_sender_and_domain(server):
    qid = submit_smtplib(server, [REMOTE, "u@example.test"])
    deadline = time.monotonic() + 30
    while qid not in listing(server, "--state", "deferred"):
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.1)
    m = listing(server, "--state", "deferred")[qid]
    assert {r["address"]: r["state"] for r in m["recipients"]} == {
        REMOTE: "deferred", "u@example.test": "delivered"}
    assert m["next_attempt_unix"] > time.time() + 600
    # deferred: on disk only, its defer/<T>/ one bucket in memory
    deadline = time.monotonic() + 15
    while (stats(server)["messages"], stats(server)["buckets"]) != (0, 1):
        assert time.monotonic() < deadline, stats(server)
        time.sleep(0.05)
    assert qid not in listing(server, "--state", "new")
    assert qid in listing(server, "--domain", "remote.test", "--sender", SENDER)
    assert qid in listing(server, "--domain", "EXAMPLE.test")
    assert qid not in listing(server, "--domain", "elsewhere.test")
    assert qid not in listing(server, "--older-than", "1h")
    out = server.cli_ok("queue", "show", qid).stdout
    assert "state: deferred\n" in out and "\nnext attempt: " in out, out
    server.cli_ok("queue", "hold", qid)
    assert set(listing(server, "--state", "held")) == {qid}


def stats(p):
    r = p.cli("queue", "stats", "--json")
    assert r.returncode == 0, r
    return json.loads(r.stdout)


def test_stats_counters_move_with_a_message(petrel):
    before = stats(petrel)
    assert set(before) >= {"messages", "bodies", "body_bytes", "buckets", "queue_syncs",
                           "queue_waits",
                           "mail_syncs", "mail_waits", "syncer_shared", "accepted",
                           "delivered", "deferred", "bounced", "ready", "delivering",
                           "retrying", "deferred_on_disk", "held_on_disk"}, before
    assert all(isinstance(v, int) for v in before.values())
    with smtplib.SMTP(petrel.host, petrel.mx, timeout=30) as s:
        assert s.sendmail("a@b.test", ["u@example.test"], make_message()) == {}
    petrel.mail("example.test", "u", 1)
    deadline = time.monotonic() + 15
    while True:
        after = stats(petrel)
        if after["delivered"] == before["delivered"] + 1 and after["messages"] == 0:
            break
        assert time.monotonic() < deadline, after
        time.sleep(0.05)
    assert (after["bodies"], after["body_bytes"]) == (0, 0), after
    states = ("ready", "delivering", "retrying", "deferred_on_disk", "held_on_disk")
    assert [after[s] for s in states] == [0] * len(states), after
    assert after["accepted"] == before["accepted"] + 1
    assert after["delivered"] == before["delivered"] + 1
    # mail/ is on the queue's file system here: one syncer serves both, and
    # it covered the message (1 wait), its Maildir file and its new/ entry (2)
    assert after["syncer_shared"] == 1
    assert after["queue_syncs"] > before["queue_syncs"]
    assert after["queue_waits"] >= before["queue_waits"] + 3
    assert (after["mail_syncs"], after["mail_waits"]) == (0, 0)
    text = petrel.cli_ok("queue", "stats").stdout.splitlines()
    assert "accepted %d" % after["accepted"] in text, text
    assert all(re.fullmatch(r"[a-z_]+ \d+", l) for l in text), text


def test_stats_without_a_server(offline):
    r = offline.cli("queue", "stats")
    assert r.returncode == 1 and "the server is not running" in r.stderr, r
    r = offline.cli("queue", "stats", "--json")
    assert r.returncode == 1 and r.stdout == "", r


def test_legacy_spool_not_converted_yet(offline):
    """A data folder of an earlier version, its server not restarted since the upgrade:
    only queue/<ID> and <ID>.rcpt, no new/, defer/ or hold/."""
    p, now = offline, int(time.time())
    held, waiting = make_id(now - 60, 0), make_id(now - 60, 1)
    place(p, "", held, rcpt_log=b"M hold 1\n")
    place(p, "", waiting, rcpt_log=b"0 deferred 451+20later\nM next %d\n" % (now + 60))
    got = listing(p)
    assert (got[held]["state"], got[waiting]["state"]) == ("held", "deferred"), got
    assert set(listing(p, "--state", "held")) == {held}
    out = p.cli_ok("queue", "show", waiting).stdout
    assert "state: deferred\nfile: queue/%s\n" % waiting in out, out
    assert 'reply="451 later"' in out, out
