"""petrel queue flush|hold|release|delete|bounce against a running server (control socket).

A message that stays queued: its recipient is at remote.test, whose MX (served by a
dnsmasq on a free loopback port) is 127.0.0.9, where nothing listens on the delivery
port, so every attempt is deferred; the retry interval is an hour, so nothing happens
unless a command asks for it.
"""

import fcntl
import json
import os
import shutil
import tempfile
import socket
import stat
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import add_listeners, fault_env, free_ports, header_values, petrel_env, queue_body_end, PETREL_BIN

REMOTE = "r@remote.test"


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dns_answers(port, name="remote.test", qtype=15):
    """True if a DNS server on 127.0.0.1:PORT answers a query for NAME."""
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    q += struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    try:
        s.sendto(q, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
        return data[:2] == b"\x12\x34"
    except OSError:
        return False
    finally:
        s.close()


def start_dnsmasq(port):
    proc = subprocess.Popen(
        ["dnsmasq", "-k", "--port=%d" % port, "--listen-address=127.0.0.1",
         "--bind-interfaces", "--no-resolv", "--no-hosts", "--user=root", "--pid-file=",
         "--log-facility=-", "--local=/test/",
         "--mx-host=remote.test,mx.remote.test,10",
         "--host-record=mx.remote.test,127.0.0.9"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not dns_answers(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            return None
        time.sleep(0.05)
    return proc


@pytest.fixture
def dns():
    """dnsmasq serving remote.test MX 10 mx.remote.test, mx.remote.test A 127.0.0.9."""
    # dnsmasq binds TCP as well as UDP: a port free for UDP may be taken for TCP.
    for _ in range(5):
        port = free_udp_port()
        proc = start_dnsmasq(port)
        if proc:
            break
    else:
        pytest.fail("dnsmasq did not start")
    yield port
    proc.terminate()
    proc.wait(5)


@pytest.fixture
def server(petrel_factory, dns):
    """A running server whose remote deliveries are deferred, with a sendmail socket."""
    return make_server(petrel_factory, dns)


@pytest.fixture
def faulty_server(petrel_factory, dns):
    """The same, with the fault-injection shim; its rules file is .faults."""
    return make_server(petrel_factory, dns, faults=True)


def make_server(petrel_factory, dns, faults=False, roles=()):
    """also listeners of ROLES (conftest.add_listeners)"""
    p = petrel_factory(start=False, resolver="127.0.0.1@%d" % dns, special_zones="test")
    if faults:
        p.faults = p.tmp / "faults"
        p.extra_env = fault_env(p.faults)
    dead_port = free_ports(1)[0]
    p.sendmail_sock = p.tmp / "sendmail.sock"
    with open(p.config_path, "a") as f:
        f.write("\n[listener local]\nrole = local\naddress = unix:%s\n" % p.sendmail_sock)
        f.write("\n[delivery]\nport = %d\n" % dead_port)
        f.write("\n[queue]\nretry_initial = 3600\nretry_max = 3600\n")
    add_listeners(p, *roles)
    p.start()
    return p


def submit(p, rcpt=REMOTE, sender="u@example.test"):
    """Queue one message with sendmail; returns its queue ID."""
    before = set(queue_ids(p))
    r = subprocess.run([PETREL_BIN, "sendmail", "-c", str(p.config_path), "-f", sender, rcpt],
                       input=b"Subject: queued\n\nstays in the queue\n", capture_output=True,
                       timeout=60, env=petrel_env())
    assert r.returncode == 0, r
    deadline = time.monotonic() + 10
    while True:
        new = set(queue_ids(p)) - before
        if new:
            assert len(new) == 1, new
            return new.pop()
        assert time.monotonic() < deadline, "message not in the queue:\n" + p.log()[-3000:]
        time.sleep(0.05)


def queue_list(p):
    r = p.cli("queue", "list", "--json")
    assert r.returncode == 0, r
    out = r.stdout.strip()
    if not out:
        return []
    data = json.loads(out)
    return data if isinstance(data, list) else data.get("messages", [])


def queue_ids(p):
    return [m["id"] for m in queue_list(p)]


def rcpt_state(p, qid):
    for m in queue_list(p):
        if m["id"] == qid:
            return m["recipients"][0]["state"]
    return None


def wait_state(p, qid, state, timeout=15):
    deadline = time.monotonic() + timeout
    while rcpt_state(p, qid) != state:
        assert time.monotonic() < deadline, "%s: state %r, expected %r\n%s" % (
            qid, rcpt_state(p, qid), state, p.log()[-3000:])
        time.sleep(0.1)


def attempts(p, qid):
    """Delivery attempts of QID that ended deferred, from the log."""
    return sum(1 for l in p.log().splitlines()
               if " deferred " in l and "queue_id=%s" % qid in l)


def wait_attempts(p, qid, n, timeout=15):
    deadline = time.monotonic() + timeout
    while attempts(p, qid) < n:
        assert time.monotonic() < deadline, "%d attempts of %s, expected %d\n%s" % (
            attempts(p, qid), qid, n, p.log()[-3000:])
        time.sleep(0.1)


def wait_gone(p, qid, timeout=15):
    deadline = time.monotonic() + timeout
    while qid in queue_ids(p):
        assert time.monotonic() < deadline, "%s still queued\n%s" % (qid, p.log()[-3000:])
        time.sleep(0.1)


def deferred_message(p):
    qid = submit(p)
    wait_attempts(p, qid, 1)
    wait_state(p, qid, "deferred")
    return qid


def test_deferred_message_is_listed_with_its_state_and_reply(server):
    qid = deferred_message(server)
    [m] = [m for m in queue_list(server) if m["id"] == qid]
    assert m["recipients"][0]["address"] == REMOTE
    assert m["recipients"][0]["state"] == "deferred"
    assert m["recipients"][0]["reply"], m
    r = server.cli_ok("queue", "list")
    assert qid in r.stdout and "deferred" in r.stdout
    r = server.cli_ok("queue", "show", qid)
    assert REMOTE in r.stdout and "deferred" in r.stdout


def test_flush_one_and_all_retry_now(server):
    qid = deferred_message(server)
    r = server.cli_ok("queue", "flush", qid)
    assert r.stdout.strip()
    wait_attempts(server, qid, 2)
    r = server.cli_ok("queue", "flush")
    assert "flushed" in r.stdout
    wait_attempts(server, qid, 3)
    assert qid in queue_ids(server)


def test_hold_blocks_delivery_until_release(server):
    qid = deferred_message(server)
    server.cli_ok("queue", "hold", qid)
    # A held message is not tried, not even on flush.
    r = server.cli("queue", "flush", qid)
    assert r.returncode == 1 and "held" in r.stderr, r
    server.cli_ok("queue", "flush")
    time.sleep(1.0)
    assert attempts(server, qid) == 1
    # Held survives a restart.
    server.restart()
    time.sleep(1.0)
    assert attempts(server, qid) == 1, server.log()[-2000:]
    assert qid in queue_ids(server)
    server.cli_ok("queue", "release", qid)
    wait_attempts(server, qid, 2)
    assert qid in queue_ids(server)


def test_delete_removes_without_notice(server):
    qid = deferred_message(server)
    server.cli_ok("queue", "delete", qid)
    wait_gone(server, qid)
    time.sleep(0.5)
    assert server.mailbox("example.test", "u") == []
    r = server.cli("queue", "delete", qid)
    assert r.returncode == 1 and "not found" in r.stderr, r


def test_bounce_returns_to_sender(server):
    qid = deferred_message(server)
    server.cli_ok("queue", "bounce", qid)
    [dsn] = server.mail("example.test", "u", 1)
    wait_gone(server, qid)
    assert header_values(dsn, "Auto-Submitted")[0].startswith("auto-replied")
    assert REMOTE.encode() in dsn
    assert b"multipart/report" in dsn


def test_unknown_id_is_not_found(server):
    r = server.cli("queue", "hold", "0123456789ABCDEF")
    assert r.returncode == 1, r
    assert "not found" in r.stderr
    r = server.cli("queue", "flush", "0123456789ABCDEF")
    assert r.returncode == 1, r


def test_show_and_operations_word_a_bad_id_alike(server):
    """Issue 7 #25: `queue show` and `queue hold` say the same about an unknown ID and
    about a malformed one (and exit alike)."""
    unknown = "0123456789ABCDEF"
    show, hold = server.cli("queue", "show", unknown), server.cli("queue", "hold", unknown)
    assert show.returncode == hold.returncode == 1, (show, hold)
    assert show.stderr == hold.stderr == "petrel: not found: no message %s in the queue\n" \
        % unknown, (show.stderr, hold.stderr)
    show, hold = server.cli("queue", "show", "xyz"), server.cli("queue", "hold", "xyz")
    assert show.returncode == hold.returncode == 2, (show, hold)
    assert show.stderr == hold.stderr and "bad queue ID 'xyz'" in show.stderr, (show, hold)


def test_release_of_a_message_not_held_changes_nothing(server):
    """Issue 7 #25: `queue release` on a message that is not held is no attempt (and no
    doubled backoff)."""
    qid = deferred_message(server)
    [before] = [m for m in queue_list(server) if m["id"] == qid]
    assert before["held"] is False and before["next_attempt_unix"] > time.time() + 3000, before
    r = server.cli_ok("queue", "release", qid)
    assert "not held" in r.stdout, r.stdout
    # An attempt, had one started, would log and then move the next attempt on.
    r = server.cli_ok("queue", "hold", qid)
    [held] = [m for m in queue_list(server) if m["id"] == qid]
    assert held["held"] is True, held
    assert held["next_attempt_unix"] == before["next_attempt_unix"], (before, held)
    assert attempts(server, qid) == 1, server.log()[-2000:]


def test_control_refusal_is_reported(petrel_factory):
    """Issue 7 #25: a client the server refuses (not root, not the server's user) is told
    why, not "Broken pipe"."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the CLI as another user")
    d = Path(tempfile.mkdtemp(prefix="petrel-ctl-", dir="/tmp"))
    try:
        os.chmod(d, 0o755)
        p = petrel_factory(data_dir=str(d / "data"))
        os.chmod(d / "data", 0o755)
        os.chmod(d / "data" / "control.sock", 0o666)
        conf = d / "petrel.conf"
        conf.write_text(p.config_path.read_text())
        os.chmod(conf, 0o644)
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            PETREL_BIN, "queue", "flush", "-c", str(conf)],
                           capture_output=True, text=True, timeout=60, env=petrel_env(),
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 1, r
        assert r.stderr == "petrel: permission denied\n", r.stderr
        assert "refused" in p.wait_log("refused")
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("args", [["hold"], ["hold", "xyz"], ["delete", "0123456789ABCDEG"],
                                  ["release", "0123456789ABCDEF0"], ["frobnicate", "x"],
                                  ["bounce", "0123456789ABCDEF", "extra"]])
def test_bad_usage_exits_2(petrel, args):
    r = petrel.cli("queue", *args)
    assert r.returncode == 2, r


def test_server_not_running(petrel_factory):
    p = petrel_factory(start=False)
    r = p.cli("queue", "flush")
    assert r.returncode == 1, r
    assert ("petrel: the server is not running (cannot connect to %s/control.sock"
            % p.data_dir) in r.stderr, r.stderr


def test_control_socket_mode_and_removal(petrel):
    path = petrel.data_dir / "control.sock"
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()
    petrel.stop()
    assert not path.exists()
    petrel.start()
    assert path.exists()


def control(petrel, data, timeout=15):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(petrel.data_dir / "control.sock"))
    try:
        if data:
            s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def test_control_protocol_rejects_bad_requests(petrel):
    assert control(petrel, b"flush\n").startswith(b"ok ")
    assert control(petrel, b"hold 0123456789ABCDEF\n").startswith(b"notfound ")
    for bad in (b"hold\n", b"hold 0123\n", b"HOLD 0123456789ABCDEF\n", b"\n",
                b"hold 0123456789abcdef\n", b"flush \x00\xff\n", b"x" * 127 + b"\n",
                b"x" * 5000, b"hold 0123456789ABCDEF 1\n"):
        reply = control(petrel, bad)
        assert reply.startswith(b"error ") and reply.endswith(b"\n") and \
            reply.count(b"\n") == 1, (bad, reply)
    # The server is still serving.
    assert control(petrel, b"flush\n").startswith(b"ok ")


def test_control_socket_silent_client_times_out(petrel):
    t0 = time.monotonic()
    reply = control(petrel, b"flu", timeout=20)
    assert reply == b""
    assert 8 < time.monotonic() - t0 < 15


def test_control_client_limit(petrel):
    """16 idle clients at once: the 17th waits (backlog) and is served when one goes."""
    socks = []
    try:
        for _ in range(16):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(petrel.data_dir / "control.sock"))
            socks.append(s)
        time.sleep(0.3)
        waiting = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        waiting.settimeout(1.0)
        waiting.connect(str(petrel.data_dir / "control.sock"))
        waiting.sendall(b"flush\n")
        with pytest.raises(socket.timeout):
            waiting.recv(100)
        socks.pop().close()
        waiting.settimeout(5.0)
        assert waiting.recv(100).startswith(b"ok ")
        waiting.close()
    finally:
        for s in socks:
            s.close()
    assert control(petrel, b"flush\n").startswith(b"ok ")


def test_second_server_on_the_data_folder_touches_nothing(server):
    """Issue 7 #18: a second `petrel serve` on a live data folder (other ports) refuses to
    start before it reads the queue: no recovery, no state append, no duplicate event."""
    qid = deferred_message(server)
    wait_log(server, "retry queue_id=%s " % qid)
    log = server.queue_file(qid)
    assert "/defer/" in str(log), log
    before = log.read_bytes()
    deadline = time.monotonic() + 15
    while server.cli_ok("events", "--json").stdout.count('"deferred"') < 1:
        assert time.monotonic() < deadline, "no deferred event"
        time.sleep(0.1)
    conf = server.config_path.read_text()
    for port in server.ports.values():
        conf = conf.replace(":%d\n" % port, ":%d\n" % free_ports(1)[0])
    conf = conf.replace(str(server.sendmail_sock), str(server.tmp / "second.sock"))
    second = server.tmp / "second.conf"
    second.write_text(conf)
    r = subprocess.run([PETREL_BIN, "serve", "-c", str(second)], capture_output=True,
                       text=True, timeout=60, env=petrel_env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r
    assert "another server is running on this data folder" in r.stderr, r.stderr
    assert "recovered" not in r.stderr, r.stderr
    assert log.read_bytes() == before
    events = server.cli_ok("events", "--json").stdout
    assert events.count('"deferred"') == 1, events


def test_store_unreadable_defers_mail_for_an_added_domain(server):
    """Issue 7 #7: mail for a domain added with `petrel domain add` is deferred, not sent to
    its MX, while the store cannot be read at delivery time."""
    server.cli_ok("domain", "add", "added.test")
    server.cli_ok("account", "add", "u@added.test", "--password-stdin", input="pw-123456\n")
    # The first attempt is deferred: the Maildir cannot be made (a file is in the way).
    box = server.data_dir / "mail" / "added.test"
    box.mkdir(parents=True)
    (box / "u").write_text("in the way")
    qid = submit(server, rcpt="u@added.test")
    wait_state(server, qid, "deferred")
    wait_log(server, "retry queue_id=%s " % qid)  # the attempt is over: flush starts one
    (box / "u").unlink()
    # Now the store cannot be read: another process holds every lock of its WAL index
    # (SQLite's own lock bytes 120-127 of petrel.db-shm), so readers fail after their
    # retries (SQLITE_PROTOCOL, after about 10 seconds).
    fd = os.open(str(server.data_dir / "petrel.db-shm"), os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 8, 120)
        server.cli_ok("queue", "flush", qid)
        wait_log(server, 'deferred queue_id=%s to="u@added.test" reason="store unavailable"'
                 % qid, timeout=60)
        wait_log(server, "retry queue_id=%s " % qid, timeout=60, count=2)
    finally:
        os.close(fd)
    assert rcpt_state(server, qid) == "deferred"
    assert not [l for l in server.log().splitlines() if qid in l and " bounced " in l]
    server.cli_ok("queue", "flush", qid)
    server.mail("added.test", "u", 1)
    wait_gone(server, qid)


def wait_log(p, text, timeout=15, count=1):
    deadline = time.monotonic() + timeout
    while p.log().count(text) < count:
        assert time.monotonic() < deadline, "no %r in the log\n%s" % (text, p.log()[-3000:])
        time.sleep(0.05)


def reply(p, qid):
    for m in queue_list(p):
        if m["id"] == qid:
            return m["recipients"][0]["reply"]
    return None


def test_bounce_that_cannot_be_written_keeps_the_original(faulty_server):
    """Issue 7 #3: when the bounce cannot be written (disk full), the original stays in
    the queue and the bounce is written on a later attempt: the sender is told."""
    p = faulty_server
    qid = deferred_message(p)
    # No new file can be created in the queue: the bounce write fails with ENOSPC.
    p.faults.write_text("create ENOSPC */data/queue/new/????????????????\n")
    p.cli_ok("queue", "bounce", qid)
    wait_log(p, "bounce-failed queue_id=%s " % qid)
    wait_log(p, "retry queue_id=%s " % qid, count=2)
    assert qid in queue_ids(p), p.log()[-3000:]
    assert p.mailbox("example.test", "u") == []
    p.faults.write_text("")
    p.cli_ok("queue", "flush", qid)
    [dsn] = p.mail("example.test", "u", 1)
    wait_gone(p, qid)
    assert REMOTE.encode() in dsn and b"multipart/report" in dsn
    log = p.wait_log(r" bounced .*queue_id=%s" % qid)
    assert len([l for l in log.splitlines()
                if " bounced " in l and "queue_id=%s" % qid in l]) == 1


def reconfigure_queue(p, **settings):
    """Stopped server P: replace the [queue] retry settings the fixture wrote."""
    conf = p.config_path.read_text()
    old = "\n[queue]\nretry_initial = 3600\nretry_max = 3600\n"
    assert old in conf
    new = "\n[queue]\n" + "".join("%s = %s\n" % kv for kv in settings.items())
    p.config_path.write_text(conf.replace(old, new))


def damaged_message(p, damage, **settings):
    """A deferred message whose spool file DAMAGE(path) changes while the server is
    stopped; the server restarts with SETTINGS in [queue]. Returns its queue ID."""
    qid = deferred_message(p)
    wait_log(p, "retry queue_id=%s " % qid)
    p.stop()
    path = p.queue_file(qid)
    assert os.stat(path).st_mode & 0o100, "not marked complete"
    damage(path)
    reconfigure_queue(p, **settings)
    p.start()
    p.cli_ok("queue", "flush", qid)  # it waits in defer/<T>/ an hour from its first attempt
    return qid


def unreadable_lines(p, qid):
    return [l for l in p.log().splitlines() if "queue_unreadable queue_id=%s " % qid in l]


def assert_moved_aside(p, qid):
    assert p.queue_file(qid) == p.data_dir / "queue" / "corrupt" / qid
    r = p.cli_ok("queue", "list")
    assert "%s  (corrupt" % qid in r.stdout and "1 corrupt files" in r.stdout, r.stdout
    data = json.loads(p.cli_ok("queue", "list", "--json").stdout)
    assert [m for m in data if m["id"] == qid] == [
        {"id": qid, "state": "corrupt", "corrupt": True, "file": "queue/corrupt/" + qid}], data


def test_truncated_queue_file_backs_off_then_moves_to_corrupt(server):
    """Issue 7 #4: a file marked complete but cut short is retried with backoff (not
    every second forever), then moved to queue/corrupt/ and listed as such."""
    def cut(path):
        os.truncate(path, queue_body_end(path) - 10)  # the body's end, and the log after it
    qid = damaged_message(server, cut, retry_initial=1, retry_max=2, unreadable_attempts=3)
    wait_log(server, "queue_corrupt queue_id=%s " % qid, timeout=60)
    lines = unreadable_lines(server, qid)
    assert len(lines) == 2, lines  # the third failure moves it
    assert "body size does not match" in lines[0], lines
    assert_moved_aside(server, qid)
    server.restart()  # nothing left to retry; the corrupt file stays put
    assert_moved_aside(server, qid)


def test_unreadable_queue_file_past_its_lifetime_moves_at_once(server):
    """Issue 7 #4: the queue lifetime applies to a file that cannot be read."""
    def cut_and_age(path):
        os.truncate(path, queue_body_end(path) - 10)
        old = time.time() - 6 * 86400
        os.utime(path, (old, old))
    qid = damaged_message(server, cut_and_age, retry_initial=1, retry_max=2,
                          unreadable_attempts=100, lifetime=5 * 86400)
    wait_log(server, "queue_corrupt queue_id=%s " % qid, timeout=30)
    assert unreadable_lines(server, qid) == []
    assert_moved_aside(server, qid)


def test_failed_sync_while_moving_to_corrupt_stops_acknowledging(faulty_server):
    """Issue 7 #6 review: the queue directory fsync of a move to queue/corrupt/ is a
    directory fsync like any other: when it fails, the spool stops acknowledging (a
    later fsync that succeeds would prove nothing)."""
    p = faulty_server
    qid = deferred_message(p)
    wait_log(p, "retry queue_id=%s " % qid)
    path = p.queue_file(qid)
    os.truncate(path, queue_body_end(path) - 10)
    old = time.time() - 6 * 86400  # past the default lifetime: moved at the first failure
    os.utime(path, (old, old))
    p.faults.write_text("fsync EIO */data/queue\n")
    p.cli_ok("queue", "flush", qid)
    wait_log(p, "queue_corrupt queue_id=%s " % qid)
    p.faults.write_text("")
    r = subprocess.run([PETREL_BIN, "sendmail", "-c", str(p.config_path), "-f",
                        "u@example.test", REMOTE],
                       input=b"Subject: after\n\nnot acknowledged\n", capture_output=True,
                       timeout=60, env=petrel_env())
    assert r.returncode != 0 and b"4.3.0" in r.stderr, (r, p.log()[-2000:])
    log = p.wait_log("spool-failed")
    assert "spool-failed" in log, log[-2000:]


def test_zeroed_body_of_the_same_length_is_caught(server):
    """Issue 7 #5: a file marked complete whose data never reached the disk (blocks that
    read as zeros, same length) is not trusted: the body checksum catches it."""
    def zero_tail(path):
        with open(path, "r+b") as f:
            f.seek(queue_body_end(path) - 20)  # the body's last bytes, not its log's
            f.write(b"\0" * 20)
    qid = damaged_message(server, zero_tail, retry_initial=1, retry_max=2,
                          unreadable_attempts=1)
    wait_log(server, "queue_corrupt queue_id=%s " % qid, timeout=30)
    assert "body checksum does not match the envelope" in server.log()
    assert_moved_aside(server, qid)


def test_queue_file_larger_than_a_lowered_message_size_is_delivered(server):
    """Issue 7 #4: reading Petrel's own queue files is not bound by message_size (lowered
    after the message was accepted)."""
    server.stop()
    qid = "0CB9000000000A5A"
    body = (b"x" * 99 + b"\n") * (700 * 1024)  # 70 MiB: more than the read slack
    head = ("version 1\nid %s\narrival %d\nsender u@example.test\nsize %d\n"
            "rcpt notify=0 %s\n\n" % (qid, int(time.time()), len(body), REMOTE)).encode()
    path = server.data_dir / "queue" / "new" / qid
    with open(path, "wb") as f:
        f.write(head)
        f.write(body)
    os.chmod(path, 0o700)
    conf = server.config_path.read_text()
    assert "message_size = 1048576" in conf
    server.config_path.write_text(conf.replace("message_size = 1048576", "message_size = 1024"))
    server.start()
    wait_attempts(server, qid, 1, timeout=60)
    assert unreadable_lines(server, qid) == [], server.log()[-2000:]
    assert rcpt_state(server, qid) == "deferred"
