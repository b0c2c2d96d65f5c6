"""Logging never stalls the server (issue 7 item 12): lines go through a bounded ring that a
thread of their own writes out, so a stderr (or syslog) that nobody reads blocks only that
thread; when the ring is full, lines are dropped and a `log-dropped count=N` line says so."""

import fcntl
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import (PETREL_BIN, SANITIZER_MARKERS, Closed, SMTPClient, assert_queued,
                      make_message, petrel_env)

F_SETPIPE_SZ = 1031  # linux/fcntl.h


def start_with_stderr(p, fd):
    """Start P's server with stdout and stderr on FD; wait for its banner."""
    proc = subprocess.Popen([PETREL_BIN, "serve", "-c", str(p.config_path)],
                            stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, env=petrel_env(),
                            cwd=str(p.tmp))
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, "petrel exited %s during startup" % proc.returncode
        try:
            c = SMTPClient(p.host, p.mx, timeout=2)
            try:
                if c.read_reply().code == 220:
                    c.quit()
                    return proc
            finally:
                c.close()
        except (OSError, Closed, AssertionError):
            pass
        assert time.monotonic() < deadline, "no banner within 20 s"
        time.sleep(0.05)


class PipeReader(threading.Thread):
    def __init__(self, fd):
        super().__init__(daemon=True)
        self.fd, self.data = fd, bytearray()

    def run(self):
        while True:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return
            self.data += chunk


def test_stderr_pipe_nobody_reads_does_not_stall_sessions(petrel_factory):
    p = petrel_factory(start=False, log_level="debug", log_buffer=4096)
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)  # the smallest pipe: full after a few sessions
    proc = start_with_stderr(p, w)
    os.close(w)
    reader = None
    try:
        # every session logs a dozen debug lines: far more than the pipe and the ring hold
        n = 40
        for i in range(n):
            c = p.session("mx")
            reply = c.mail_transaction("a@b.test", ["u@example.test"],
                                       make_message(subject="msg %d" % i))
            assert_queued(reply)
            c.quit()
        p.mail("example.test", "u", n, timeout=30, settle=0)

        # now read the pipe: what was kept comes out, then the count of what was not
        reader = PipeReader(r)
        reader.start()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        reader.join(timeout=10)
        out = reader.data.decode(errors="replace")
        assert "warn log-dropped count=" in out, out[-3000:]
        dropped = int(out.split("log-dropped count=")[1].split()[0])
        assert dropped > 0
        assert "info stopped status=0" in out, out[-3000:]
        for marker in SANITIZER_MARKERS:
            assert marker not in out, out[out.index(marker) - 200:][:3000]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if reader is None:
            os.close(r)
        else:
            reader.join(timeout=5)
            os.close(r)


def test_syslog_nobody_reads_does_not_stall_sessions(petrel_factory, tmp_path):
    """The same with syslog = true and a /dev/log whose reader has stopped: the server runs
    in a private mount namespace whose /dev holds a datagram socket of the test's."""
    import shutil
    import socket
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a private /dev/log (uid %d)" % os.geteuid())
    dev = tmp_path / "dev"
    dev.mkdir()
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind(str(dev / "log"))
    log.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    p = petrel_factory(start=False, log_level="debug", log_buffer=4096, syslog="true")
    script = ('set -e; for n in null zero random urandom; do : > "$D/$n"; '
              'mount --bind "/dev/$n" "$D/$n"; done; mount --rbind "$D" /dev; '
              'exec "$@"')
    logf = open(p.log_path, "ab")
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                             script, "sh", PETREL_BIN, "serve", "-c", str(p.config_path)],
                            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                            env=dict(petrel_env(), D=str(dev)), cwd=str(p.tmp))
    logf.close()
    drained = []
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, "exited %s:\n%s" % (proc.returncode, p.log()[-3000:])
            try:
                c = SMTPClient(p.host, p.mx, timeout=2)
                if c.read_reply().code == 220:
                    c.quit()
                    break
            except (OSError, Closed, AssertionError):
                pass
            assert time.monotonic() < deadline, "no banner:\n" + p.log()[-3000:]
            time.sleep(0.05)
        n = 40
        for i in range(n):
            c = p.session("mx")
            assert_queued(c.mail_transaction("a@b.test", ["u@example.test"],
                                             make_message(subject="msg %d" % i)))
            c.quit()
        p.mail("example.test", "u", n, timeout=30, settle=0)

        # syslog got lines until its queue filled; then start reading it again
        log.settimeout(0.2)

        def drain():
            while proc.poll() is None or len(drained) == 0:
                try:
                    drained.append(log.recv(65536))
                except socket.timeout:
                    if proc.poll() is not None:
                        return
        t = threading.Thread(target=drain, daemon=True)
        t.start()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, p.log()[-3000:]
        t.join(timeout=10)
        out = p.log()
        assert "warn log-dropped count=" in out, out[-3000:]
        assert any(b"petrel" in d and b"session" in d for d in drained), drained[:5]
        assert any(b"log-dropped count=" in d for d in drained), drained[-5:]
        for marker in SANITIZER_MARKERS:
            assert marker not in out, out[out.index(marker) - 200:][:3000]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
