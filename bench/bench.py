#!/usr/bin/python3
"""Side-by-side benchmark: Petrel against Postfix (Debian package), on loopback.

For each concurrency level (smtp-source -s N) it sends M messages of 4 KiB to
Postfix and then to Petrel, and measures the wall time from the start of
smtp-source until all M messages are in the recipient's Maildir new/ folder
(accepted AND delivered).  It also samples resident memory, and holds 10,000
idle connections open against Petrel.  See bench/README.md for the method.

Usage: /usr/bin/python3 bench/bench.py --petrel build/petrel [--json FILE]
"""

import argparse
import json
import re
import os
import pwd
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# auth_flood imports this module for its helpers: run as a script, it is
# __main__, and that one copy must be the one auth_flood sees
sys.modules.setdefault("bench", sys.modules[__name__])
import auth_flood  # noqa: E402
import disk_limit  # noqa: E402
import scale  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import postfix_harness  # noqa: E402 (the Postfix harness the tests use)
from postfix_harness import children_of, process_tree  # noqa: E402

DOMAIN = "bench.test"
LOCALPART = "user"
RCPT = LOCALPART + "@" + DOMAIN
SENDER = "sender@example.org"
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------
# helpers

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_banner(host, port, timeout):
    """Connect and read one line; return it or None."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = b""
            while b"\n" not in data and len(data) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            try:
                s.sendall(b"QUIT\r\n")
            except OSError:
                pass
            return data.decode("latin-1").strip()
    except OSError:
        return None


def wait_banner(host, port, seconds, proc=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError("process exited with status %s before answering on port %d"
                             % (proc.returncode, port))
        line = read_banner(host, port, 1.0)
        if line and line.startswith("220"):
            return line
        time.sleep(0.1)
    raise BenchError("no 220 banner on %s:%d within %d s" % (host, port, seconds))


def proc_status(pid):
    """Return dict of VmRSS/VmHWM (KiB) from /proc/PID/status, or {}."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def rss_kib(pid):
    """Resident KiB from /proc/PID/statm (cheap), 0 if gone."""
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * PAGE // 1024
    except (OSError, IndexError, ValueError):
        return 0


def pss_kib(pid):
    """Proportional set size in KiB (shared pages split among sharers), 0 if gone."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


def uss_kib(pid):
    """Unique set size in KiB (the pages no other process maps), 0 if gone."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            return sum(int(line.split()[1]) for line in f
                       if line.startswith(("Private_Clean:", "Private_Dirty:")))
    except (OSError, IndexError, ValueError):
        return 0


def reset_hwm(pid):
    """Reset VmHWM of pid (Linux: write 5 to clear_refs). Returns True on success."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def count_dir(path):
    try:
        with os.scandir(path) as it:
            return sum(1 for _ in it)
    except FileNotFoundError:
        return 0


def clear_maildir(md):
    """Remove every message file in a Maildir, keep the folders."""
    for sub in ("new", "cur", "tmp"):
        d = os.path.join(md, sub)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        for n in names:
            p = os.path.join(d, n)
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
            except FileNotFoundError:
                pass


class Sampler(threading.Thread):
    """Every interval, sum resident memory of a set of processes; keep the max.  With
    first_delay, the thread's first sample waits that long: a caller timing a short
    command takes sample() itself before and after it, so that the sampler's own work
    (a scan of /proc, smaps_rollup, all in this client's process, under its GIL) does
    not land in a command of a millisecond."""

    def __init__(self, pids_fn, interval=0.1, first_delay=0.0):
        super().__init__(daemon=True)
        self.pids_fn = pids_fn
        self.interval = interval
        self.first_delay = first_delay
        self.peak_kib = 0
        self.peak_nproc = 0
        self.peak_pss_kib = 0
        self.samples = 0
        self._halt = threading.Event()

    def sample(self, pss=False):
        """One sample now (PSS too when asked: it costs more to read)."""
        pids = self.pids_fn()
        total = sum(rss_kib(p) for p in pids)
        self.samples += 1
        if total > self.peak_kib:
            self.peak_kib = total
            self.peak_nproc = len(pids)
        if pss:
            self.peak_pss_kib = max(self.peak_pss_kib, sum(pss_kib(p) for p in pids))

    def run(self):
        if self._halt.wait(self.first_delay):
            return
        n = 0
        while not self._halt.is_set():
            self.sample(pss=n % 5 == 0)   # PSS every fifth: every 0.5 s at 0.1 s
            n += 1
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(5)


# --------------------------------------------------------------------------
# Postfix: the harness the integration tests use (tests/integration/postfix_harness.py)

class Postfix(postfix_harness.PostfixServer):
    """The bench's Postfix: smtpd on 127.0.0.1:PORT delivering bench.test to one Maildir,
    without any rate or count limit; with .relayhost set (before setup()) everything
    else goes to that smarthost, and an smtpd on a unix socket takes the relay clients."""

    def __init__(self, tmp, port, uid, gid, logfile=False):
        try:
            super().__init__(os.path.join(tmp, "postfix"), "127.0.0.1", port, DOMAIN,
                             LOCALPART, "bench.postfix.test", uid, gid,
                             os.path.join(tmp, "postfix.log") if logfile else None)
        except postfix_harness.PostfixUnavailable as e:
            raise BenchError(str(e))
        self.settings.update({
            # no rate or count limits (anvil)
            "smtpd_client_message_rate_limit": "0",
            "smtpd_client_recipient_rate_limit": "0",
            "smtpd_client_new_tls_session_rate_limit": "0",
            "smtpd_client_auth_rate_limit": "0",
            "default_process_limit": "200",
        })
        # relay bench (set before setup()): smarthost [ip]:port, smtp concurrency,
        # and an smtpd on a unix socket (the client relays as a trusted local client)
        self.relayhost = None
        self.relay_concurrency = 20
        # master.cf names a unix service relative to public/ (private = n)
        self.relay_socket = os.path.join(self.queue, "public", "bench-smtpd")

    def setup(self):
        if self.relayhost:
            # everything not for bench.test goes to the sink: a literal [ip]:port, so no
            # DNS and no host lookup at all (smtp_dns_support_level = disabled)
            self.settings.update({
                "relayhost": self.relayhost,
                "smtp_destination_concurrency_limit": str(self.relay_concurrency),
                "smtp_tls_security_level": "none"})
            # smtpd on a unix socket (QUEUE/public/bench-smtpd); smtpd treats a
            # unix-socket client as localhost/127.0.0.1, inside mynetworks, so it may relay
            self.services.append(
                "bench-smtpd unix  n       -       n       -       -       smtpd")
        self.prepare()

    def start(self):
        try:
            return super().start(check=True)
        except postfix_harness.PostfixError as e:
            raise BenchError(str(e))


# --------------------------------------------------------------------------
# Petrel

PETREL_CONF = """\
[server]
hostname = bench.petrel.test
data_dir = {data}
user = {user}
log_level = {log_level}
workers = {workers}

[domains]
local = {domain}

[limits]
connections = 20000
connections_per_ip = 20000

; like with like: the bench's Postfix looks up no client name
; (smtpd_peername_lookup = no) and checks no SPF, DKIM, DMARC or ARC
[smtp]
reverse_dns = off

[listener mx]
role = mx
address = 127.0.0.1:{port}
receiving_checks = off
"""

# added for the relay bench: MX lookups through dnsmasq, delivery to the sink's port,
# and the sendmail socket (role local: its client is trusted to relay, like
# Postfix's mynetworks)
PETREL_RELAY_CONF = """
[dns]
resolver = {resolver}
special_zones = test

[delivery]
port = {sink_port}
max_per_destination = {dest_limit}

[listener local]
role = local
address = unix:{socket}
"""


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


class Petrel:
    """petrel serve: a root supervisor that fork+execs the auth, keys and network
    processes (`petrel serve -c FILE --process NAME`); sessions, queue and delivery are
    all in the network process."""

    def __init__(self, binary, tmp, port, workers, log_level="info", name="petrel"):
        self.binary = os.path.abspath(binary)
        self.tmp = tmp
        self.port = port
        self.data = os.path.join(tmp, name)
        self.maildir = os.path.join(self.data, "mail", DOMAIN, LOCALPART)
        self.conf = os.path.join(tmp, name + ".conf")
        self.logpath = os.path.join(tmp, name + ".log")
        self.workers = workers
        self.log_level = log_level
        self.proc = None
        self.logf = None
        self.relay = None   # dict(resolver, sink_port, dest_limit) for the relay bench
        self.extra_conf = ""  # appended to the config file (the scale scenario's [queue])
        self.relay_socket = os.path.join(tmp, name + ".sock")
        self._network = None
        self._stats_form = None  # how `petrel queue stats` answers (see stats())

    def write_conf(self):
        os.makedirs(self.data, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(PETREL_CONF.format(data=self.data, workers=self.workers,
                                       user="root" if os.geteuid() == 0 else "",
                                       log_level=self.log_level,
                                       domain=DOMAIN, port=self.port))
            if self.relay:
                f.write(PETREL_RELAY_CONF.format(socket=self.relay_socket, **self.relay))
            f.write(self.extra_conf)

    def pids(self):
        """The supervisor and all its children (auth, keys, network)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return process_tree(self.proc.pid)

    def network_pid(self):
        """The network process: the supervisor's child running `--process network`
        (sessions, queue, delivery). None if there is none (yet)."""
        if self._network and b"network" in cmdline(self._network):
            return self._network
        self._network = None
        if self.proc is None:
            return None
        for c in children_of(self.proc.pid):
            argv = cmdline(c)
            if b"--process" in argv and b"network" in argv:
                self._network = c
                return c
        return None

    def wait_network(self, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pid = self.network_pid()
            if pid:
                return pid
            time.sleep(0.05)
        raise BenchError("no network process under petrel pid %s within %d s"
                         % (self.proc.pid if self.proc else "-", seconds))

    def stats(self):
        """`petrel queue stats` as {name: int}, or None if this build has no such
        command (then the bench prints n/a).  Reads --json if the command takes it,
        else lines of NAME VALUE (or NAME: VALUE, NAME=VALUE)."""
        if self._stats_form == "none":
            return None
        forms = [self._stats_form] if self._stats_form else ["json", "text"]
        for form in forms:
            argv = [self.binary, "queue", "stats", "-c", self.conf]
            if form == "json":
                argv.append("--json")
            try:
                r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                   text=True, timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if r.returncode != 0:
                continue
            out = parse_stats(r.stdout, form)
            if out:
                self._stats_form = form
                return out
        if not self._stats_form:
            self._stats_form = "none"
        return None

    def start(self):
        self.write_conf()
        self.add_account()
        self.launch()
        try:
            banner = wait_banner("127.0.0.1", self.port, 30, self.proc)
            self.wait_network()
            return banner
        except BenchError as e:
            raise BenchError("%s; log tail: %s" % (e, self.log_tail()))

    def add_account(self):
        # a local domain takes mail only for existing mailboxes: create user@bench.test
        r = subprocess.run([self.binary, "account", "add", RCPT, "-c", self.conf,
                            "--password-stdin"], input="bench-password\n", text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0 and "exist" not in r.stdout:
            raise BenchError("petrel account add %s failed (%d): %s"
                             % (RCPT, r.returncode, r.stdout.strip()))

    def launch(self):
        """Start `petrel serve` (its stderr to self.logpath) without waiting."""
        self._network = None
        self.logf = open(self.logpath, "wb")
        self.proc = subprocess.Popen([self.binary, "serve", "-c", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=2000):
        try:
            with open(self.logpath, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - n))
                return f.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def stop(self, seconds=10):
        """SIGTERM, then SIGKILL to the whole group after `seconds`.  Returns the
        seconds until the supervisor exited and its exit status (None if killed)."""
        if self.proc is None:
            return None, None
        p, self.proc = self.proc, None
        t0 = time.monotonic()
        status = p.poll()
        if status is None:
            p.terminate()
            try:
                status = p.wait(seconds)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
                status = None
        if self.logf:
            self.logf.close()
            self.logf = None
        return time.monotonic() - t0, status


def parse_stats(text, form):
    """{name: int} from `petrel queue stats` output; nested JSON objects become
    parent_child names."""
    out = {}
    if form == "json":
        try:
            obj = json.loads(text)
        except ValueError:
            return {}

        def walk(prefix, o):
            if isinstance(o, dict):
                for k, v in o.items():
                    walk(prefix + "_" + k if prefix else k, v)
            elif isinstance(o, (int, float)) and not isinstance(o, bool):
                out[prefix] = int(o)
        walk("", obj)
        return out
    for line in text.splitlines():
        m = re.match(r"\s*(?:data\s+)?([A-Za-z_][\w.-]*)\s*[:=]?\s+(\d+)\b", line)
        if m:
            out[m.group(1).replace("-", "_").replace(".", "_")] = int(m.group(2))
    return out


STAT_NAMES = ("queue_syncs", "mail_syncs", "accepted", "delivered")


def stats_delta(before, after):
    """Counters grown between two `queue stats`; None if either is missing.
    syncer_shared (1: queue/ and mail/ on one file system share one syncer, whose
    syncs are all counted as queue_syncs) is copied from the second."""
    if not before or not after:
        return None
    d = {k: after[k] - before[k] for k in STAT_NAMES if k in before and k in after}
    if len(d) != len(STAT_NAMES):
        return None
    for k in ("queue_waits", "mail_waits"):
        if k in before and k in after:
            d[k] = after[k] - before[k]
    d["syncer_shared"] = bool(after.get("syncer_shared", 0))
    return d


def per_flush(delta):
    """From a stats_delta: {messages per sync (accepted over the syncs of both
    syncers), waits per sync (how many waiters each sync served), accepted per queue
    sync and delivered per mail sync (None when the syncer is shared: then every sync
    is a queue sync and covers both)}."""
    out = dict.fromkeys(("per_sync", "waits_per_sync", "accepted_per_queue_sync",
                         "delivered_per_mail_sync"))
    if not delta:
        return out
    syncs = delta["queue_syncs"] + delta["mail_syncs"]
    if syncs:
        out["per_sync"] = delta["accepted"] / syncs
        if "queue_waits" in delta and "mail_waits" in delta:
            out["waits_per_sync"] = (delta["queue_waits"] + delta["mail_waits"]) / syncs
    if not delta["syncer_shared"]:
        if delta["queue_syncs"]:
            out["accepted_per_queue_sync"] = delta["accepted"] / delta["queue_syncs"]
        if delta["mail_syncs"]:
            out["delivered_per_mail_sync"] = delta["delivered"] / delta["mail_syncs"]
    return out


# --------------------------------------------------------------------------
# load runs

ACTIVE_CHILDREN = set()


def settle_disk():
    """Write back every dirty page of the machine before a timed run (os.sync, not
    timed), so that no run pays for the last one's writes: Petrel's syncfs writes back
    its whole file system, and each ext4 fsync commits the journal that holds every
    pending change, the other server's too (and the cleared Maildir's unlinks)."""
    os.sync()


def run_load(name, server, pids_fn, smtp_source, sessions, messages, size,
             deliver_timeout, reuse, hwm_pid=None, stats_fn=None):
    clear_maildir(server.maildir)
    settle_disk()
    if hwm_pid:
        reset_hwm(hwm_pid)
    stats0 = stats_fn() if stats_fn else None
    sampler = Sampler(pids_fn)
    sampler.start()
    argv = [smtp_source, "-s", str(sessions), "-m", str(messages), "-l", str(size),
            "-f", SENDER, "-t", RCPT, "-M", "bench.client.test"]
    if reuse:
        argv.append("-d")
    argv.append("127.0.0.1:%d" % server.port)
    newdir = os.path.join(server.maildir, "new")
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    ACTIVE_CHILDREN.add(proc)
    # smtp-source itself gets a bound too: as long as the delivery wait
    try:
        out, _ = proc.communicate(timeout=deliver_timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        out = (out or b"") + b"\n[bench: smtp-source killed after timeout]"
    ACTIVE_CHILDREN.discard(proc)
    t_accept = time.monotonic() - t0
    deadline = t0 + deliver_timeout
    if proc.returncode != 0:   # smtp-source gave up (e.g. a 5xx): do not wait long
        deadline = min(deadline, time.monotonic() + 5)
    n = count_dir(newdir)
    while n < messages and time.monotonic() < deadline:
        time.sleep(0.02)
        n = count_dir(newdir)
    t_done = time.monotonic() - t0
    sampler.stop()
    res = {
        "kind": "local",
        "server": name,
        "sessions": sessions,
        "messages": messages,
        "size": size,
        "delivered": n,
        "complete": n >= messages,
        "seconds": round(t_done, 3),
        "accept_seconds": round(t_accept, 3),
        "msgs_per_sec": round(n / t_done, 1) if t_done > 0 else 0.0,
        "accept_msgs_per_sec": round(messages / t_accept, 1) if t_accept > 0 else 0.0,
        "smtp_source_status": proc.returncode,
        "peak_rss_sum_kib": sampler.peak_kib,
        "peak_nproc": sampler.peak_nproc,
        "peak_pss_sum_kib": sampler.peak_pss_kib,
        "rss_samples": sampler.samples,
    }
    text = (out or b"").decode("utf-8", "replace").strip()
    if proc.returncode != 0 or text:
        res["smtp_source_output"] = text[-2000:]
    res["peak_kib"] = sampler.peak_kib
    if hwm_pid:
        res["network_vmhwm_kib"] = proc_status(hwm_pid).get("VmHWM", 0)
    add_stats(res, stats0, stats_fn)
    return res


def add_stats(res, stats0, stats_fn):
    """Counters of `petrel queue stats` over the run (read after it): the messages
    accepted per queue sync and delivered per mail sync."""
    if not stats_fn:
        return
    delta = stats_delta(stats0, stats_fn())
    res["queue_stats_delta"] = delta
    res["syncer_shared"] = delta["syncer_shared"] if delta else None
    for k, v in per_flush(delta).items():
        res[k] = round(v, 2) if v is not None else None


# --------------------------------------------------------------------------
# relay bench: client -> server -> smtp-sink (the remote MX)

RELAY_DOMAIN = "relay.test"
RELAY_RCPT = "user@" + RELAY_DOMAIN
SINK_ADDR = "127.0.0.20"


class Sink:
    """Postfix's smtp-sink on SINK_ADDR:port, counting messages with its own -c counter.

    smtp-sink -c writes "sess=N quit=N mesg=N\\r" to stdout after every session end,
    QUIT and end of data; a thread reads the pipe and keeps the last mesg= value
    (one small write per event: far cheaper than -d, which writes a file per message).
    """

    def __init__(self, port):
        self.port = port
        self.proc = None
        self.count = 0
        self.cond = threading.Condition()
        self.thread = None

    def start(self):
        try:
            exe, libdir = postfix_harness.postfix_tool("smtp-sink")
        except postfix_harness.PostfixUnavailable as e:
            raise BenchError(str(e))
        env = dict(os.environ)
        if libdir:
            env["LD_LIBRARY_PATH"] = libdir
        argv = [exe, "-c", "-m", "2000"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        argv += ["%s:%d" % (SINK_ADDR, self.port), "1000"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=env)
        ACTIVE_CHILDREN.add(self.proc)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return wait_banner(SINK_ADDR, self.port, 10, self.proc)

    def _read(self):
        pat = re.compile(rb"mesg=(\d+)")
        tail = b""
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            tail = (tail + chunk)[-256:]
            last = None
            for m in pat.finditer(tail):
                last = m
            if last:
                with self.cond:
                    self.count = max(self.count, int(last.group(1)))
                    self.cond.notify_all()

    def wait_for(self, target, deadline):
        with self.cond:
            while self.count < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.5))
            return self.count

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self):
        """user + system CPU time of smtp-sink (one process, one thread)."""
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                st = f.read()
            rest = st[st.rindex(")") + 2:].split()
            return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError, AttributeError):
            return 0.0

    def stop(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)
        ACTIVE_CHILDREN.discard(p)


def dns_query_mx(port, name, timeout=1.0):
    """One MX query over UDP to 127.0.0.1:port; returns the answer count or None."""
    qid = os.getpid() & 0xFFFF
    q = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00\x00\x0f\x00\x01"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ("127.0.0.1", port))
        r, _ = s.recvfrom(4096)
    except OSError:
        return None
    finally:
        s.close()
    if len(r) < 12 or r[:2] != q[:2] or (r[3] & 0x0F) != 0:
        return None
    return int.from_bytes(r[6:8], "big")


class Dnsmasq:
    """dnsmasq on 127.0.0.1:port: relay.test MX 10 mx.relay.test, mx.relay.test A SINK_ADDR."""

    def __init__(self, port):
        self.port = port
        self.proc = None

    def start(self):
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.path.exists(exe):
            raise BenchError("dnsmasq not found (package dnsmasq-base)")
        argv = [exe, "-k", "--port=%d" % self.port, "--listen-address=127.0.0.1",
                "--bind-interfaces", "--no-resolv", "--no-hosts", "--pid-file=",
                "--local=/%s/" % RELAY_DOMAIN,
                "--mx-host=%s,mx.%s,10" % (RELAY_DOMAIN, RELAY_DOMAIN),
                "--host-record=mx.%s,%s" % (RELAY_DOMAIN, SINK_ADDR)]
        if os.geteuid() == 0:
            argv.append("--user=root")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        ACTIVE_CHILDREN.add(self.proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode("utf-8", "replace").strip()
                raise BenchError("dnsmasq exited (%s): %s" % (self.proc.returncode, err))
            if dns_query_mx(self.port, RELAY_DOMAIN, 0.3):
                return
            time.sleep(0.1)
        raise BenchError("dnsmasq gives no MX for %s within 10 s" % RELAY_DOMAIN)

    def stop(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        ACTIVE_CHILDREN.discard(p)


def run_relay(name, target, sink, pids_fn, smtp_source, sessions, messages, size,
              deliver_timeout, reuse, hwm_pid=None, stats_fn=None):
    """smtp-source -> target (unix:PATH or host:port) for user@relay.test; the clock runs
    until the sink has counted all M messages (bounded)."""
    settle_disk()
    if hwm_pid:
        reset_hwm(hwm_pid)
    stats0 = stats_fn() if stats_fn else None
    sampler = Sampler(pids_fn) if pids_fn else None
    if sampler:
        sampler.start()
    base = sink.count
    cpu0 = sink.cpu_seconds()
    argv = [smtp_source, "-s", str(sessions), "-m", str(messages), "-l", str(size),
            "-f", SENDER, "-t", RELAY_RCPT, "-M", "bench.client.test"]
    if reuse:
        argv.append("-d")
    argv.append(target)
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    ACTIVE_CHILDREN.add(proc)
    try:
        out, _ = proc.communicate(timeout=deliver_timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        out = (out or b"") + b"\n[bench: smtp-source killed after timeout]"
    ACTIVE_CHILDREN.discard(proc)
    t_accept = time.monotonic() - t0
    deadline = t0 + deliver_timeout
    if proc.returncode != 0:   # smtp-source gave up (e.g. a 5xx): do not wait long
        deadline = min(deadline, time.monotonic() + 5)
    got = sink.wait_for(base + messages, deadline) - base
    t_done = time.monotonic() - t0
    sink_cpu = sink.cpu_seconds() - cpu0
    if sampler:
        sampler.stop()
    res = {
        "kind": "relay",
        "server": name,
        "sessions": sessions,
        "messages": messages,
        "size": size,
        "delivered": got,
        "complete": got >= messages,
        "seconds": round(t_done, 3),
        "accept_seconds": round(t_accept, 3),
        "msgs_per_sec": round(got / t_done, 1) if t_done > 0 else 0.0,
        "accept_msgs_per_sec": round(messages / t_accept, 1) if t_accept > 0 else 0.0,
        "smtp_source_status": proc.returncode,
        "sink_cpu_seconds": round(sink_cpu, 3),
        "sink_busy": round(sink_cpu / t_done, 3) if t_done > 0 else 0.0,
        "peak_rss_sum_kib": sampler.peak_kib if sampler else 0,
        "peak_pss_sum_kib": sampler.peak_pss_kib if sampler else 0,
    }
    res["peak_kib"] = res["peak_rss_sum_kib"]
    if hwm_pid:
        res["network_vmhwm_kib"] = proc_status(hwm_pid).get("VmHWM", 0)
    text = (out or b"").decode("utf-8", "replace").strip()
    if proc.returncode != 0 or text:
        res["smtp_source_output"] = text[-2000:]
    add_stats(res, stats0, stats_fn)
    return res


# --------------------------------------------------------------------------
# idle connections

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def hold_idle(port, count, seconds, per_source=2000, max_pending=500):
    """Open count connections to 127.0.0.1:port, read the 220 banner on each.

    Returns (socks_holding_banner, stats).  Bounded by count and seconds.
    Source addresses 127.0.0.2.. spread the connections so ephemeral ports
    (and TIME_WAIT left by the load runs) never run short.
    """
    sel = selectors.DefaultSelector()
    held = []
    stats = {"attempted": 0, "connect_errors": 0, "closed_before_banner": 0,
             "not_220": 0, "errors": {}}
    pending = 0
    deadline = time.monotonic() + seconds

    def err(kind):
        stats["errors"][kind] = stats["errors"].get(kind, 0) + 1

    def open_one(i):
        src = "127.0.0.%d" % (2 + i // per_source)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((src, 0))
            rc = s.connect_ex(("127.0.0.1", port))
        except OSError as e:
            s.close()
            stats["connect_errors"] += 1
            err(e.strerror or str(e))
            return False
        if rc not in (0, 115):  # EINPROGRESS
            s.close()
            stats["connect_errors"] += 1
            err(os.strerror(rc))
            return False
        sel.register(s, selectors.EVENT_READ, bytearray())
        return True

    i = 0
    while time.monotonic() < deadline and (i < count or pending > 0):
        while i < count and pending < max_pending:
            try:
                ok = open_one(i)
            except OSError as e:   # e.g. EMFILE in our own process
                err("local: " + (e.strerror or str(e)))
                i = count
                break
            i += 1
            stats["attempted"] += 1
            if ok:
                pending += 1
        if pending == 0:
            break
        for key, _ev in sel.select(timeout=0.5):
            s, buf = key.fileobj, key.data
            try:
                chunk = s.recv(512)
            except BlockingIOError:
                continue
            except OSError as e:
                sel.unregister(s)
                s.close()
                pending -= 1
                stats["connect_errors"] += 1
                err(e.strerror or str(e))
                continue
            if not chunk:
                sel.unregister(s)
                s.close()
                pending -= 1
                stats["closed_before_banner"] += 1
                continue
            buf += chunk
            if b"\n" in buf or len(buf) > 512:
                sel.unregister(s)
                pending -= 1
                if buf.startswith(b"220"):
                    held.append(s)
                else:
                    stats["not_220"] += 1
                    stats.setdefault("first_not_220", bytes(buf[:200]).decode("latin-1"))
                    s.close()
    # whatever is still pending after the deadline: give up on it
    for key in list(sel.get_map().values()):
        sel.unregister(key.fileobj)
        key.fileobj.close()
        stats["timed_out"] = stats.get("timed_out", 0) + 1
    sel.close()
    stats["held"] = len(held)
    return held, stats


def still_open(socks):
    """Count sockets the server has not closed (non-blocking peek)."""
    n = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            if data:
                n += 1   # server sent something unexpected but is still open
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


# --------------------------------------------------------------------------
# durability check: which fsyncs happen for one message (uses strace)

SYNC_CALLS = ("fsync", "fdatasync", "syncfs", "sync_file_range")


def verify_fsync(tag, pids_fn, port, root, maildir, smtp_source, tmp, seconds=20):
    """strace -f the server's processes while one message goes through; list its syncs
    (fsync, fdatasync, syncfs, sync_file_range) and where the 250 reply falls.

    pids_fn gives the processes to attach to: Postfix's master and its children; for
    Petrel its network process (sessions, queue and delivery; the supervisor only
    starts processes).  -f follows all their threads and any child they start.
    A first message is sent untraced so that creating the Maildir is not counted.
    Returns (text, details).  Paths are shown relative to root; "(file)" is a path
    that no longer exists or is not a folder (queue file, tmp/ file), otherwise it is a
    folder (for syncfs, the folder its descriptor is open on: the whole file system is
    flushed).
    """
    if not shutil.which("strace"):
        return "not verified (strace not installed)", None
    newdir = os.path.join(maildir, "new")

    def one_message():
        before = count_dir(newdir)
        subprocess.run([smtp_source, "-m", "1", "-l", "4096", "-f", SENDER, "-t", RCPT,
                        "127.0.0.1:%d" % port], timeout=seconds,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + seconds
        while count_dir(newdir) <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        return count_dir(newdir) > before

    one_message()
    pids = pids_fn()
    if not pids:
        return "not verified (no process)", None
    out = os.path.join(tmp, "strace-%s.out" % tag)
    st = subprocess.Popen(["strace", "-f", "-qq", "-y", "-s", "40", "-e",
                           "trace=%s,write,writev,sendto,sendmsg,"
                           "link,linkat,rename,renameat,renameat2" % ",".join(SYNC_CALLS),
                           "-o", out] + [a for p in pids for a in ("-p", str(p))],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True)
    ACTIVE_CHILDREN.add(st)
    try:
        # strace writes its output file once attached: wait for that (bounded)
        deadline = time.monotonic() + 10
        while not os.path.exists(out) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        delivered = one_message()
        time.sleep(0.5)
    finally:
        st.terminate()
        try:
            st.wait(5)
        except subprocess.TimeoutExpired:
            st.kill()
            st.wait(5)
        ACTIVE_CHILDREN.discard(st)
    try:
        with open(out) as f:
            lines = f.read().splitlines()
    except OSError:
        return "not verified (no strace output)", None
    events = []
    counts = dict.fromkeys(SYNC_CALLS, 0)
    replied = False
    before_250 = 0
    sync_re = re.compile(r"\b(%s)\((\d+)<([^>]*)>" % "|".join(SYNC_CALLS))
    for l in lines:
        if "resumed>" in l and "<..." in l:
            continue   # the end of a call whose start was counted
        m = sync_re.search(l)
        if m:
            path = m.group(3)
            rel = os.path.relpath(path, root) if path.startswith(root) else path
            kind = rel + ("/" if os.path.isdir(path) else " (file)")
            # name message files generically
            kind = re.sub(r"[^/]+ \(file\)$", "<msg> (file)", kind)
            events.append(m.group(1) + " " + kind)
            counts[m.group(1)] += 1
            if not replied:
                before_250 += 1
            continue
        if re.search(r'"250 2\.0\.0 [^"]*queued as', l):
            replied = True
            events.append("--- 250 reply to end of data ---")
    n = sum(counts.values())
    # durable before the 250 (at least one sync), and the Maildir file synced after it
    # (Postfix: its tmp/ file; Petrel: syncfs, on mail/ or, when one syncer serves
    # both, on queue/: a syncfs flushes the whole file system either way)
    after_250 = n - before_250
    ok = replied and before_250 >= 1 and after_250 >= 1
    what = ", ".join("%s %d" % (k, v) for k, v in counts.items() if v or k != "sync_file_range")
    text = ("%s for one message: %d syncs (%s), %d before the 250 reply%s: %s"
            % ("verified with strace" if ok else "CHECK (strace)", n, what, before_250,
               "" if replied else " (no 250 seen)" if delivered else
               " (the message was not delivered)", "; ".join(events)))
    return text, {"syncs": n, "counts": counts, "before_250": before_250,
                  "replied": replied, "events": events, "pids": pids}


# --------------------------------------------------------------------------
# main

def fmt_mib(kib):
    return "%.1f MiB" % (kib / 1024.0) if kib else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--petrel", default="build/petrel", help="petrel binary")
    ap.add_argument("--sessions", default="1,20,100",
                    help="comma-separated smtp-source -s levels (default 1,20,100)")
    ap.add_argument("--messages-1", type=int, default=1000,
                    help="messages per run at concurrency 1 (default 1000)")
    ap.add_argument("--messages", type=int, default=3000,
                    help="messages per run at concurrency > 1 (default 3000)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="repeat every (level, server) pair this many times, interleaved; "
                         "the table shows the median (default 3)")
    ap.add_argument("--size", type=int, default=4096, help="message size, -l (4096)")
    ap.add_argument("--reuse", action="store_true",
                    help="smtp-source -d: several messages per connection "
                         "(default: one connection per message)")
    ap.add_argument("--deliver-timeout", type=float, default=120,
                    help="bound in seconds on one run, send + delivery (120)")
    ap.add_argument("--idle", type=int, default=10000,
                    help="idle connections to hold against Petrel (10000; 0 = skip)")
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=8, help="Petrel workers (8)")
    ap.add_argument("--no-postfix", action="store_true", help="skip Postfix")
    ap.add_argument("--no-petrel", action="store_true", help="skip Petrel")
    ap.add_argument("--postfix-log", dest="postfix_log", action="store_true", default=True,
                    help="Postfix logs to TMP/postfix.log through postlogd (the default)")
    ap.add_argument("--no-postfix-log", dest="postfix_log", action="store_false",
                    help="Postfix does not log at all")
    ap.add_argument("--petrel-log-level", default="info",
                    choices=("debug", "info", "warn", "error"),
                    help="Petrel's log_level, logged to TMP/petrel.log (default info, "
                         "Petrel's own default and the level Postfix logs at)")
    ap.add_argument("--disk-seconds", type=float, default=2.0,
                    help="seconds per disk-limit measurement (2; 0 skips it)")
    ap.add_argument("--smtp-source", default=None, help="path of smtp-source")
    ap.add_argument("--flood-connections", type=int, default=300,
                    help="AUTH flood: connections sending wrong passwords (300)")
    ap.add_argument("--flood-seconds", type=float, default=20,
                    help="AUTH flood: seconds per phase, alone and flooded (20)")
    ap.add_argument("--only", choices=("all", "local", "relay", "auth-flood", "scale"),
                    default="all",
                    help="run only the local-delivery part (and idle test), only the "
                         "relay part, only the AUTH flood or only the queue-scale "
                         "scenario (default: all of them)")
    ap.add_argument("--scale-messages", type=int, default=1000000,
                    help="queue scale: messages queued to a deferring destination "
                         "(default 1000000)")
    ap.add_argument("--scale-sessions", type=int, default=20,
                    help="queue scale: smtp-source sessions (20)")
    ap.add_argument("--scale-timeout", type=float, default=7200,
                    help="queue scale: bound in seconds on accepting all messages (7200)")
    ap.add_argument("--relay-sessions", default="1,20,100",
                    help="smtp-source -s levels for the relay bench (default 1,20,100)")
    ap.add_argument("--relay-messages-1", type=int, default=500,
                    help="relay messages per run at concurrency 1 (default 500)")
    ap.add_argument("--relay-messages", type=int, default=2000,
                    help="relay messages per run at concurrency > 1 (default 2000)")
    ap.add_argument("--relay-dest-concurrency", type=int, default=20,
                    help="outbound connections per destination for both servers: Postfix "
                         "smtp_destination_concurrency_limit, Petrel [delivery] "
                         "max_per_destination (default 20, Postfix's default)")
    ap.add_argument("--json", metavar="FILE", help="also write results as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args()

    levels = [int(x) for x in args.sessions.split(",") if x.strip()]
    relay_levels = [int(x) for x in args.relay_sessions.split(",") if x.strip()]
    do_local = args.only in ("all", "local")
    do_relay = args.only in ("all", "relay") and relay_levels
    do_flood = args.only in ("all", "auth-flood") and not args.no_petrel
    do_scale = args.only == "scale"
    if args.only in ("auth-flood", "scale"):
        args.no_postfix = args.no_petrel = True  # these start a Petrel of their own

    # Ctrl-C and SIGTERM end the run through the finally blocks below.
    def on_term(signum, _frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    smtp_source, env_note = find_smtp_source(args.smtp_source)
    tmp = tempfile.mkdtemp(prefix="petrel-bench-")
    os.chmod(tmp, 0o755)  # Postfix daemons (user postfix) must reach their folders
    results = {"runs": [], "relay_runs": [], "idle": None, "notes": [],
               "postfix_log": args.postfix_log, "petrel_log_level": args.petrel_log_level}
    pf = pt = sink = dns = None
    try:
        uid, gid = virtual_owner()
        if (do_local or do_relay) and args.disk_seconds > 0:
            results["disk_limit"] = disk_limit.run(tmp, (1, 4), args.disk_seconds)
            log(disk_limit.line(results["disk_limit"]))
        if do_relay:
            sink = Sink(free_port())
            sink.start()
            dns = Dnsmasq(free_port())
            dns.start()
            log("relay: smtp-sink on %s:%d, dnsmasq on 127.0.0.1:%d (MX %s -> %s)"
                % (SINK_ADDR, sink.port, dns.port, RELAY_DOMAIN, SINK_ADDR))
            results["relay_dest_concurrency"] = args.relay_dest_concurrency
        if not args.no_postfix:
            pf = Postfix(tmp, free_port(), uid, gid, logfile=args.postfix_log)
            if do_relay:
                pf.relayhost = "[%s]:%d" % (SINK_ADDR, sink.port)
                pf.relay_concurrency = args.relay_dest_concurrency
            pf.setup()
            banner = pf.start()
            log("postfix: %s on 127.0.0.1:%d (config %s)" % (banner, pf.port, pf.conf))
            ver = pf.postconf(["-h", "mail_version"])
            results["postfix_version"] = ver
            if do_local:
                fs, det = verify_fsync("postfix", pf.pids, pf.port, tmp, pf.maildir,
                                       smtp_source, tmp)
                results["notes"].append("postfix %s durability: %s" % (ver, fs))
                results["postfix_fsync"] = det
        if not args.no_petrel:
            if not os.path.exists(args.petrel):
                raise BenchError("petrel binary %s not found (build it first)" % args.petrel)
            pt = Petrel(args.petrel, tmp, free_port(), args.workers, args.petrel_log_level)
            if do_relay:
                pt.relay = {"resolver": "127.0.0.1@%d" % dns.port, "sink_port": sink.port,
                            "dest_limit": args.relay_dest_concurrency}
            banner = pt.start()
            log("petrel: %s on 127.0.0.1:%d (pid %d)" % (banner, pt.port, pt.proc.pid))
            if do_local:
                fs, det = verify_fsync("petrel", lambda: [pt.network_pid()], pt.port, tmp,
                                       pt.maildir, smtp_source, tmp)
                results["notes"].append("petrel durability: %s" % fs)
                results["petrel_fsync"] = det

        for rnd in range(1, args.rounds + 1 if do_local else 1):
            for s in levels:
                m = args.messages_1 if s == 1 else args.messages
                for name, srv in (("postfix", pf), ("petrel", pt)):
                    if srv is None:
                        continue
                    if name == "petrel":
                        if not pt.alive():
                            raise BenchError("petrel died: %s" % pt.log_tail())
                        res = run_load(name, pt, pt.pids, smtp_source, s, m,
                                       args.size, args.deliver_timeout, args.reuse,
                                       hwm_pid=pt.network_pid(), stats_fn=pt.stats)
                    else:
                        res = run_load(name, pf, pf.pids, smtp_source, s, m, args.size,
                                       args.deliver_timeout, args.reuse)
                        # let Postfix's queue drain fully before Petrel's turn
                        t = time.monotonic() + 10
                        while not pf.queue_empty() and time.monotonic() < t:
                            time.sleep(0.1)
                    res["round"] = rnd
                    log("r%d %-8s s=%-4d %5d/%d delivered in %.2f s: %.1f msg/s (accept %.2f s), "
                        "peak %s%s" % (rnd, name, s, res["delivered"], m, res["seconds"],
                                       res["msgs_per_sec"], res["accept_seconds"],
                                       fmt_mib(res["peak_kib"]),
                                       "" if res["complete"] else "  INCOMPLETE"))
                    if "smtp_source_output" in res:
                        log("  smtp-source (exit %s): %s" % (res["smtp_source_status"],
                                                             res["smtp_source_output"][-600:]))
                    results["runs"].append(res)

        if do_relay:
            relay_rounds(args, results, relay_levels, smtp_source, sink, pf, pt)

        if pt is not None and args.idle > 0 and do_local:
            if not pt.alive():
                raise BenchError("petrel died: %s" % pt.log_tail())
            results["idle"] = idle_test(pt, args.idle, args.idle_seconds)

        if do_flood:
            if pt is not None:
                pt.stop()  # the flood's Petrel gets the machine to itself
            try:
                results["auth_flood"] = auth_flood.run(os.path.abspath(args.petrel), tmp,
                                                       args.flood_connections,
                                                       args.flood_seconds)
            except (RuntimeError, OSError) as e:
                raise BenchError("auth flood: %s" % e)

        if do_scale:
            if not os.path.exists(args.petrel):
                raise BenchError("petrel binary %s not found (build it first)" % args.petrel)
            results["scale"] = {}
            scale.run(args, tmp, smtp_source, results["scale"])
    except BenchError as e:
        log("bench: error: %s" % e)
        results["error"] = str(e)
    except KeyboardInterrupt:
        log("bench: interrupted")
        results["error"] = "interrupted"
    finally:
        for c in list(ACTIVE_CHILDREN):
            try:
                os.killpg(c.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if pt is not None:
            if pt.proc is not None and pt.proc.poll() is not None:
                results["notes"].append("petrel exited early with status %s"
                                        % pt.proc.returncode)
            tail = pt.log_tail(1500)
            pt.stop()
            if tail:
                results["petrel_log_tail"] = tail
        if pf is not None:
            pf.stop()
        for x in (sink, dns):
            if x is not None:
                x.stop()
        if args.keep:
            log("bench: temp folder kept: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    if do_local:
        report(results, levels)
    if do_relay:
        report_relay(results, relay_levels)
    elif not do_local and not do_scale and results.get("error"):
        print("ERROR: " + results["error"])
    if results.get("auth_flood"):
        auth_flood.report(results["auth_flood"])
    if do_scale:
        scale.report(results.get("scale") or {}, results.get("error"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        log("bench: results written to %s" % args.json)
    return 1 if results.get("error") else 0


def relay_rounds(args, results, levels, smtp_source, sink, pf, pt):
    """Per round and level: smtp-source straight to the sink (the ceiling), then through
    Postfix, then through Petrel; both servers are fed on a unix socket."""
    for rnd in range(1, args.rounds + 1):
        for s in levels:
            m = args.relay_messages_1 if s == 1 else args.relay_messages
            for name in ("sink", "postfix", "petrel"):
                if name == "postfix" and pf is None or name == "petrel" and pt is None:
                    continue
                if not sink.alive():
                    raise BenchError("smtp-sink died")
                if name == "sink":
                    # the ceiling: straight to the sink, several messages per connection
                    # (-d) as both servers' outbound side does
                    res = run_relay(name, "%s:%d" % (SINK_ADDR, sink.port), sink, None,
                                    smtp_source, s, m, args.size, args.deliver_timeout,
                                    True)
                elif name == "postfix":
                    res = run_relay(name, "unix:" + pf.relay_socket, sink, pf.pids,
                                    smtp_source, s, m, args.size, args.deliver_timeout,
                                    args.reuse)
                    t = time.monotonic() + 10
                    while not pf.queue_empty() and time.monotonic() < t:
                        time.sleep(0.1)
                else:
                    if not pt.alive():
                        raise BenchError("petrel died: %s" % pt.log_tail())
                    res = run_relay(name, "unix:" + pt.relay_socket, sink,
                                    pt.pids, smtp_source, s, m, args.size,
                                    args.deliver_timeout, args.reuse,
                                    hwm_pid=pt.network_pid(), stats_fn=pt.stats)
                res["round"] = rnd
                log("relay r%d %-8s s=%-4d %5d/%d at the sink in %.2f s: %.1f msg/s "
                    "(accept %.2f s), sink busy %.0f%%%s"
                    % (rnd, name, s, res["delivered"], m, res["seconds"], res["msgs_per_sec"],
                       res["accept_seconds"], 100 * res["sink_busy"],
                       "" if res["complete"] else "  INCOMPLETE"))
                if "smtp_source_output" in res:
                    log("  smtp-source (exit %s): %s" % (res["smtp_source_status"],
                                                         res["smtp_source_output"][-600:]))
                results["relay_runs"].append(res)


def report_relay(results, levels):
    runs = aggregate(results["relay_runs"])
    results["relay_summary"] = [runs[k] for k in sorted(runs, key=lambda k: (k[1], k[0]))]
    print()
    print("Relay: smtp-source -> server (unix socket) -> MX %s (dnsmasq) = smtp-sink on %s, "
          "%d-byte messages, wall time until the sink has them all"
          % (RELAY_DOMAIN, SINK_ADDR,
             results["relay_runs"][0]["size"] if results["relay_runs"] else 4096))
    print("outbound connections per destination: %s for both (Postfix "
          "smtp_destination_concurrency_limit, Petrel max_per_destination)"
          % results.get("relay_dest_concurrency", "-"))
    hdr = ("sessions  messages  sink alone msg/s    postfix msg/s       petrel msg/s        "
           "ratio   target  msg/sync waits/sync  sink busy pf/pt  postfix/petrel peak RSS   "
           "postfix/petrel peak PSS")
    print(hdr)
    print("-" * len(hdr))
    for s in levels:
        k, a, b = runs.get(("sink", s)), runs.get(("postfix", s)), runs.get(("petrel", s))
        if not (k or a or b):
            continue
        m = (a or b or k)["messages"]
        busy = "%s / %s" % tuple("%.0f%%" % (100 * r["sink_busy"]) if r else "-"
                                 for r in (a, b))
        print("%-9d %-9d %-19s %-19s %-19s %-7s %-7s %-8s %-11s %-16s %-25s %s" % (
            s, m, fmt_rate(k), fmt_rate(a), fmt_rate(b), fmt_ratio(a, b),
            fmt_target(RELAY_TARGETS, s), fmt_flush(b, "per_sync"),
            fmt_flush(b, "waits_per_sync"), busy,
            "%s / %s" % (fmt_mib(a["peak_kib"]) if a else "-",
                         fmt_mib(b["peak_kib"]) if b else "-"),
            "%s / %s" % (fmt_mib(a["peak_pss_sum_kib"]) if a else "-",
                         fmt_mib(b["peak_pss_sum_kib"]) if b else "-")))
    nr = max((r["rounds"] for r in runs.values()), default=1)
    if nr > 1:
        print("msg/s: median of %d rounds (min-max); ratio = petrel/postfix of the medians"
              % nr)
    print("sink alone = smtp-source -d (connection reuse) straight to smtp-sink: the ceiling; "
          "sink busy = smtp-sink CPU time / wall time")
    print("during the median run (one process: near 100% would make the sink the bottleneck)")
    print("memory from round 1, sampled as for the local rows; Postfix's figures include the "
          "smtpd processes left idle by earlier runs (max_idle 100 s)")
    if any(not r["complete"] for r in results["relay_runs"]):
        print("* not every message reached the sink within the time bound: rate counts "
              "only those that did")
    results["relay_targets"] = print_targets("relay", runs, levels, RELAY_TARGETS)
    print_flush_note(results, relay=True)
    print_logging(results)
    if results.get("error"):
        print("ERROR: " + results["error"])


# the targets of issue 8: Petrel / Postfix, medians, both logging at info
LOCAL_TARGETS = {1: 1.5, 20: 3.0, 100: 3.0}
RELAY_TARGETS = {20: 3.0, 100: 3.0}


def fmt_rate(r):
    if not r:
        return "-"
    txt = "%.0f" % r["msgs_per_sec"]
    if r["rounds"] > 1:
        txt += " (%.0f-%.0f)" % (r["min_msgs_per_sec"], r["max_msgs_per_sec"])
    return txt + ("" if r["complete"] else "*")


def ratio_of(a, b):
    if a and b and a["msgs_per_sec"] > 0:
        return b["msgs_per_sec"] / a["msgs_per_sec"]
    return None


def fmt_ratio(a, b):
    r = ratio_of(a, b)
    return "-" if r is None else "%.2fx" % r


def fmt_target(targets, s):
    return ">=%gx" % targets[s] if s in targets else "-"


def fmt_flush(r, key):
    if not r or r.get("queue_stats_delta") is None:
        return "n/a"
    if r.get(key) is None:
        return "shared" if r.get("syncer_shared") else "-"
    return "%.2f" % r[key]


def print_targets(what, runs, levels, targets):
    """One line: for each level with a target, the ratio and whether it holds."""
    parts, out = [], {}
    for s in levels:
        if s not in targets:
            continue
        r = ratio_of(runs.get(("postfix", s)), runs.get(("petrel", s)))
        if r is None:
            parts.append("%d sessions: not measured" % s)
            continue
        holds = r >= targets[s]
        out[s] = {"ratio": round(r, 3), "target": targets[s], "holds": holds}
        parts.append("%d session%s %.2fx %s %gx: %s" % (
            s, "" if s == 1 else "s", r, ">=" if holds else "<", targets[s],
            "holds" if holds else "DOES NOT HOLD"))
    if parts:
        print("issue 8 target, %s: %s" % (what, "; ".join(parts)))
    return out


def print_flush_note(results, relay=False):
    """What acc/qsync and dlv/msync mean, and the disk's own limit beside them."""
    print("from petrel queue stats before and after the median run (n/a: this build has no "
          "`queue stats`): msg/sync = messages accepted per sync (syncfs) of both syncers, "
          "waits/sync = waiters each sync served")
    if not relay:
        print("  (a message alone takes 3 waits: its queue file before the 250, its Maildir "
              "file, its new/ entry); acc/qsync = accepted per queue sync, dlv/msync = "
              "delivered per mail sync, when queue/ and mail/ have syncers of their own; "
              "shared = one syncer for both (one file system), whose syncs cover both")
    if results.get("disk_limit"):
        print(disk_limit.line(results["disk_limit"]))


def print_logging(results):
    print("logging: postfix %s; petrel log_level = %s to a file (its stderr)"
          % ("through postlogd to a file (maillog_file)" if results.get("postfix_log")
             else "not logging (--no-postfix-log)", results.get("petrel_log_level", "-")))


def idle_test(pt, count, seconds):
    soft, hard = raise_nofile()
    want = count + 200
    if soft < want:
        log("idle: RLIMIT_NOFILE is %d, can hold at most ~%d connections" % (soft, soft - 200))
    pid = pt.network_pid()   # the sessions are all in the network process
    before = proc_status(pid).get("VmRSS", 0)
    t0 = time.monotonic()
    held, stats = hold_idle(pt.port, min(count, max(0, soft - 200)), seconds)
    took = time.monotonic() - t0
    time.sleep(1.0)
    st = proc_status(pid)
    still = still_open(held)
    stats.update({"wanted": count, "seconds": round(took, 2),
                  "rss_before_kib": before, "rss_kib": st.get("VmRSS", 0),
                  "rss_sum_kib": sum(rss_kib(p) for p in pt.pids()),
                  "still_open_after_1s": still, "petrel_alive": pt.alive()})
    # a quick check that Petrel still serves while holding them
    b = read_banner("127.0.0.1", pt.port, 5)
    stats["banner_while_held"] = b
    for s in held:
        s.close()
    return stats


def virtual_owner():
    """uid/gid for virtual(8) deliveries: a real unprivileged user."""
    for name in ("nobody", "postfix"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    raise BenchError("no 'nobody' or 'postfix' user")


def find_smtp_source(explicit):
    if explicit:
        return explicit, None
    try:
        exe, libdir = postfix_harness.postfix_tool("smtp-source")
    except postfix_harness.PostfixUnavailable as e:
        raise BenchError("%s; or scripts/install-deps.sh bench" % e)
    if libdir:
        os.environ["LD_LIBRARY_PATH"] = libdir + (
            ":" + os.environ["LD_LIBRARY_PATH"] if os.environ.get("LD_LIBRARY_PATH") else "")
    return exe, libdir


def aggregate(all_runs):
    """Per (server, sessions): median of the rounds (by msg/s), with min and max."""
    groups = {}
    for r in all_runs:
        groups.setdefault((r["server"], r["sessions"]), []).append(r)
    out = {}
    for k, rs in groups.items():
        rs = sorted(rs, key=lambda r: r["msgs_per_sec"])
        med = dict(rs[len(rs) // 2])
        med["rounds"] = len(rs)
        med["min_msgs_per_sec"] = rs[0]["msgs_per_sec"]
        med["max_msgs_per_sec"] = rs[-1]["msgs_per_sec"]
        med["complete"] = all(r["complete"] for r in rs)
        # memory from round 1: levels run in increasing order, so in round 1 no idle
        # smtpd processes are left over from a bigger level (they linger max_idle=100s)
        first = min(rs, key=lambda r: r.get("round", 1))
        med["peak_kib"] = first["peak_kib"]
        med["peak_pss_sum_kib"] = first["peak_pss_sum_kib"]
        out[k] = med
    return out


def report(results, levels):
    runs = aggregate(results["runs"])
    results["summary"] = [runs[k] for k in sorted(runs, key=lambda k: (k[1], k[0]))]
    print()
    print("Petrel vs Postfix: smtp-source, %d-byte messages, wall time until every message "
          "is in Maildir new/" % (results["runs"][0]["size"] if results["runs"] else 4096))
    if results.get("postfix_version"):
        print("postfix %s" % results["postfix_version"])
    hdr = ("sessions  messages  postfix msg/s       petrel msg/s        ratio   target  "
           "msg/sync waits/sync acc/qsync dlv/msync  postfix peak RSS  petrel peak RSS   "
           "postfix/petrel peak PSS")
    print(hdr)
    print("-" * len(hdr))
    for s in levels:
        a, b = runs.get(("postfix", s)), runs.get(("petrel", s))
        if not a and not b:
            continue
        m = (a or b)["messages"]
        print("%-9d %-9d %-19s %-19s %-7s %-7s %-8s %-10s %-9s %-10s %-17s %-17s %s / %s" % (
            s, m, fmt_rate(a), fmt_rate(b), fmt_ratio(a, b), fmt_target(LOCAL_TARGETS, s),
            fmt_flush(b, "per_sync"), fmt_flush(b, "waits_per_sync"),
            fmt_flush(b, "accepted_per_queue_sync"), fmt_flush(b, "delivered_per_mail_sync"),
            fmt_mib(a["peak_kib"]) if a else "-", fmt_mib(b["peak_kib"]) if b else "-",
            fmt_mib(a["peak_pss_sum_kib"]) if a else "-",
            fmt_mib(b["peak_pss_sum_kib"]) if b else "-"))
    nr = max((r["rounds"] for r in runs.values()), default=1)
    if nr > 1:
        print("msg/s: median of %d rounds (min-max); ratio of the medians; peak memory: "
              "round 1 (later rounds start with Postfix's idle smtpds of the last level)" % nr)
    if any(not r["complete"] for r in results["runs"]):
        print("* not every message was delivered within the time bound: rate counts "
              "only delivered ones")
    results["local_targets"] = print_targets("local (accept + deliver to Maildir)", runs,
                                             levels, LOCAL_TARGETS)
    print_flush_note(results)
    print("postfix peak RSS = max over 100 ms samples of the summed VmRSS of master and all "
          "its children (shared pages counted in each process);")
    print("petrel peak RSS = the same sum over Petrel's processes (supervisor, auth, keys, "
          "network); the network process's own VmHWM is in the JSON (network_vmhwm_kib).")
    print("peak PSS = max over 0.5 s samples of the summed Pss (smaps_rollup): shared pages "
          "split among the processes sharing them, so the fairer multi-process figure.")
    print_logging(results)
    idle = results.get("idle")
    if idle:
        held = idle["held"]
        mib = idle["rss_kib"] / 1024.0
        line = ("%d idle connections: network process %.0f MiB resident (target < 256 MiB); "
                "all Petrel processes %.0f MiB" % (held, mib, idle.get("rss_sum_kib", 0) / 1024.0))
        if held < idle["wanted"]:
            line += ("  [only %d of %d held: %s]" % (held, idle["wanted"], json.dumps(
                {k: v for k, v in idle.items() if k in ("connect_errors", "closed_before_banner",
                                                        "not_220", "timed_out", "errors")})))
        print(line)
        print("  (network process VmRSS before: %.1f MiB; %d still open after 1 s; opened in %.1f s; "
              "new banner while held: %s)" % (idle["rss_before_kib"] / 1024.0,
                                              idle["still_open_after_1s"], idle["seconds"],
                                              "yes" if idle.get("banner_while_held") else "no"))
    for n in results.get("notes", []):
        print("note: " + n)
    if results.get("petrel_log_tail"):
        lines = [l for l in results["petrel_log_tail"].splitlines()
                 if " warn " in l or " error " in l]
        if lines:
            print("petrel log, last %d warn/error lines of the tail:" % min(8, len(lines)))
            for l in lines[-8:]:
                print("  " + l)
    if results.get("error"):
        print("ERROR: " + results["error"])


if __name__ == "__main__":
    sys.exit(main())
