"""Strace: strace attached to a running server process, for the tests that check which
system calls which thread made (test_durability_order.py, test_event_loop_io.py)."""

import re
import signal
import subprocess
from pathlib import Path

from peers import wait_until


class Strace:
    """strace -f attached to a running process (all its threads, and those it starts),
    tracing the system calls CALLS (strace's -e trace= list), each line with its thread's
    id, microsecond time and the paths of its descriptors (-y)."""

    def __init__(self, pid, out, calls):
        self.pid, self.out = pid, Path(out)
        self.err = self.out.with_suffix(".stderr")
        errf = open(self.err, "wb")
        self.proc = subprocess.Popen(
            ["strace", "-f", "-qq", "-ttt", "-y", "-s", "512", "-e", "trace=" + calls,
             "-e", "signal=none", "-o", str(self.out), "-p", str(pid)],
            stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
        errf.close()
        wait_until(self._attached, 10, 0.05, "strace to attach to every thread of %d" % pid)

    def _attached(self):
        if self.proc.poll() is not None:
            raise AssertionError("strace exited %s: %s" % (self.proc.returncode,
                                                           self.err.read_text()[-2000:]))
        tasks = list(Path("/proc/%d/task" % self.pid).iterdir())
        for t in tasks:
            try:
                status = (t / "status").read_text()
            except FileNotFoundError:
                continue
            m = re.search(r"^TracerPid:\s+(\d+)$", status, re.M)
            if not m or int(m.group(1)) != self.proc.pid:
                return False
        return bool(tasks)

    def stop(self):
        """Detach (SIGINT) and wait; return the trace text."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("strace did not detach within 15 s of SIGINT")
        return self.out.read_text(errors="replace")
