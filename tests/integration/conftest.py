"""Fixtures and helpers for Petrel's integration tests.

The real binary (env PETREL_BIN, default build-test/petrel) runs on loopback ports with a
config written into tmp_path.  Every server is stopped with SIGTERM at teardown; the test
fails if it did not exit 0 or if ASan/UBSan/LSan reported anything on stderr.
"""

import base64
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from peers import tcp_port_free

REPO = Path(__file__).resolve().parents[2]
PETREL_BIN = os.environ.get("PETREL_BIN", str(REPO / "build-test" / "petrel"))
if not os.path.isabs(PETREL_BIN):
    PETREL_BIN = str(REPO / PETREL_BIN)

HOSTNAME = "mx.petrel.test"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")

SECTION_OF = {
    "hostname": "server", "data_dir": "server", "user": "server", "log_level": "server",
    "auth_user": "server", "keys_user": "server",
    "workers": "server", "syslog": "server", "log_buffer": "server",
    "node": "server", "node_report_interval": "server", "node_stale_after": "server",
    "malloc_arenas": "server",
    "malloc_trim_messages": "server", "huge_pages_from": "server",
    "malloc_mmap_from": "server",
    "local": "domains", "postmaster": "domains",
    "certificate": "tls", "key": "tls",
    "command_line": "limits", "text_line": "limits", "message_size": "limits",
    "recipients": "limits", "errors": "limits", "connections": "limits",
    "connections_per_ip": "limits", "bare_newline": "limits", "received_headers": "limits",
    "greeting": "timeouts", "command": "timeouts", "data_block": "timeouts",
    "tls_handshake": "timeouts", "shutdown": "timeouts", "proxy_header": "timeouts",
    "connection_rate": "limits",
    "plaintext_loopback": "auth", "slow_after": "auth", "lockout_after": "auth",
    "failure_window": "auth", "lockout_time": "auth", "ipv6_prefix": "auth",
    "throttle_entries": "auth", "hash_workers": "auth", "hash_queue": "auth", "scram_iterations": "auth",
    "helper_timeout": "auth",
    "public_suffix_list": "auth", "dmarc_enforce": "auth", "arc_trusted_forwarders": "auth",
    "arc_seal_key": "auth",
    "authserv_id": "auth", "spf_reject": "auth", "spf_timeout": "auth",

    "dmarc_reports": "auth", "report_org_name": "auth", "report_email": "auth",
    "verifier": "auth", "verifier_interval": "auth",
    "resolver": "dns", "special_zones": "dns", "timeout": "dns",
    "reverse_dns": "smtp", "helo_check": "smtp", "sender_domain_check": "smtp",
    "unknown_sender_code": "smtp",
    "retention": "events", "max_pending": "events",
    "retry_initial": "queue", "retry_max": "queue", "lifetime": "queue",
    "delay_warning": "queue", "concurrency": "queue", "double_bounce_to_postmaster": "queue",
    "unreadable_attempts": "queue", "active_limit": "queue", "memory_limit": "queue",
    "port": "delivery", "max_connections": "delivery", "max_per_destination": "delivery",
    "source_address": "delivery",
    "secret_file": "srs", "max_age": "srs",
    "quota_default": "mailbox", "quota_messages_default": "mailbox", "save_sent": "mailbox",
    "cache_size": "mailbox", "header_cache_max": "mailbox",
    # (section, key) where the key name exists in more than one section
    "delivery_tls": ("delivery", "tls"),
    "relay_host": ("relay", "host"), "relay_username": ("relay", "username"),
    "relay_password": ("relay", "password"), "relay_tls": ("relay", "tls"),
    "relay_domains": ("relay", "domains"),
    "srs_enabled": ("srs", "enabled"), "srs_domain": ("srs", "domain"),
    "idle_timeout": "imap", "login_timeout": "imap", "literal_size": "imap",
    "sessions_per_account": "imap",
    "imap_command_line": ("imap", "command_line"),
    "pop3_idle_timeout": ("pop3", "idle_timeout"),
    "pop3_command_line": ("pop3", "command_line"),
    "http_header_size": ("http", "header_size"), "http_header_count": ("http", "header_count"),
    "http_body_size": ("http", "body_size"),
    "http_body_memory": ("http", "body_memory"),
    "http_request_timeout": ("http", "request_timeout"),
    "http_idle_timeout": ("http", "idle_timeout"),
    "http_metrics_from": ("http", "metrics_from"),
    "signup": "web", "session_lifetime": "web", "form_fields": "web",
    "form_field_size": "web", "password_min": "web", "password_max": "web",
    "verify_lifetime": "web", "reset_lifetime": "web", "signup_rate": "web",
    "rate_window": "web", "mail_from": "web", "dashboard_rows": "web",
    "dashboard_days": "web", "sandbox_show_size": "web", "operators": "web",
    "operator_rows": "web", "domain_checks": "web", "domain_check_timeout": "web",
    "domain_check_pages": "web",
    "http_send_personalizations": ("http", "send_personalizations"),
    "http_send_recipients": ("http", "send_recipients"),
    "http_send_total_size": ("http", "send_total_size"),
    "http_public_url": ("http", "public_url"),
    "store_backend": ("store", "backend"), "store_url": ("store", "url"),
    "statement_timeout": "store", "store_connections": ("store", "connections"),
    "credentials_url": "store",
}

# Started as root, Petrel refuses an empty `user =` (it would silently keep root): the
# suite says explicitly that it stays the user that runs it.
SERVE_USER = "root" if os.geteuid() == 0 else ""

SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1",
}


def petrel_env():
    env = dict(os.environ)
    for k, v in SAN_ENV.items():
        env.setdefault(k, v)
    return env


def release_binary():
    """The server binary built without sanitizers (glibc's malloc; what valgrind can
    run): PETREL_BIN, or the release build (build/petrel, which `make test` builds too)
    when PETREL_BIN is a sanitizer build; skips when there is none."""
    def sanitized(path):
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()

    if not sanitized(PETREL_BIN):
        return PETREL_BIN
    binary = str(REPO / "build" / "petrel")
    if not os.path.exists(binary) or sanitized(binary):
        pytest.skip("no build without sanitizers (build/petrel)")
    return binary


def assert_library_load_fails(tmp_path, soname, config_path, commands, want):
    """SONAME replaced by a file of that name that is not a library, found first through
    LD_LIBRARY_PATH: each of COMMANDS (argv lists, run with -c CONFIG_PATH) exits 1 with
    WANT (formatted with the fake library's path) on stderr, no crash."""
    libs = tmp_path / "libs"
    libs.mkdir(exist_ok=True)
    (libs / soname).write_bytes(b"")
    env = {**petrel_env(), "LD_LIBRARY_PATH": str(libs)}
    want = want % (libs / soname)
    for args in commands:
        r = subprocess.run([PETREL_BIN, *args, "-c", str(config_path)], capture_output=True,
                           text=True, timeout=30, env=env, stdin=subprocess.DEVNULL,
                           start_new_session=True)
        assert r.returncode == 1, (args, r)
        assert want in r.stderr, (args, r.stderr)
        assert "Sanitizer" not in r.stderr and "SIGSEGV" not in r.stderr, (args, r.stderr)


# The fault-injection shim the test build makes (tests/fault/fault-inject.c).
FAULT_LIB = Path(PETREL_BIN).parent / "tests" / "fault" / "libpetrel-fault.so"


def fault_env(rules):
    """Environment that preloads the fault shim, reading its rules from the file RULES
    (rewritten by the test while the server runs; empty means no faults)."""
    if not FAULT_LIB.exists():
        pytest.fail("fault-injection shim %s not built" % FAULT_LIB)
    Path(rules).touch()
    asan = SAN_ENV["ASAN_OPTIONS"] + ":verify_asan_link_order=0"
    return {"LD_PRELOAD": str(FAULT_LIB), "PETREL_FAULT_RULES": str(rules),
            "ASAN_OPTIONS": asan}


# Ports come from below the kernel's ephemeral range (net.ipv4.ip_local_port_range),
# each pytest-xdist worker from a slice of its own.  A port from the ephemeral range
# that a server gives up for a while (a node killed with SIGKILL and started again on
# the same port, as HAProxy expects) may meanwhile become the local port of some
# connection (a health check, another test), and the restart then fails with "Address
# already in use" (test_cluster's kill -9 test did, once).
PORTS_FROM = 10000
_given = set()


def _port_slice():
    """(first, end) of this worker's ports, or None where the ephemeral range leaves
    too few below it (then the kernel picks: bind to port 0)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    size = (ephemeral - PORTS_FROM) // max(workers, 1)
    if size < 1000:
        return None
    first = PORTS_FROM + (index % max(workers, 1)) * size
    return first, first + size


def free_ports(n, family=socket.AF_INET, host="127.0.0.1", avoid=()):
    """N distinct free ports on HOST, none of AVOID (ports given out before whose sockets
    are closed), below the ephemeral range (above) and not given out before by this
    worker while its slice lasts"""
    span = _port_slice()
    if span is None:
        socks, ports = [], []
        for _ in range(n + 100):
            if len(ports) == n:
                break
            s = socket.socket(family, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
            if s.getsockname()[1] not in avoid:
                ports.append(s.getsockname()[1])
        for s in socks:
            s.close()
        assert len(ports) == n, "no %d free ports outside %r" % (n, avoid)
        return ports
    first, end = span
    if len(_given) > (end - first) // 2:
        _given.clear()            # the slice is used up: ports of finished tests again
    ports = []
    for _ in range(n + 1000):
        if len(ports) == n:
            break
        port = random.randrange(first, end)
        if port in avoid or port in _given or port in ports:
            continue
        if tcp_port_free(host, port):
            ports.append(port)
    assert len(ports) == n, "no %d free ports in %d..%d outside %r" % (n, first, end, avoid)
    _given.update(ports)
    return ports


# --------------------------------------------------------------------------- SMTP client

class Reply:
    def __init__(self, code, lines):
        self.code = code
        self.lines = lines  # text after "NNN-" / "NNN "

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def enhanced(self):
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})\b", self.lines[0]) if self.lines else None
        return m.group(1) if m else None

    def __repr__(self):
        return "Reply(%d, %r)" % (self.code, self.lines)


class Closed(Exception):
    pass


class SMTPClient:
    """Raw SMTP dialogue over a socket: send bytes, read (multi-line) replies."""

    def __init__(self, host, port, tls=False, timeout=10.0, family=None, rcvbuf=None,
                 source=None):
        self.host, self.port, self.timeout = host, port, timeout
        fam = family or (socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        if source:
            # the connection comes from loopback address SOURCE
            self.sock.bind((source, 0))
        if rcvbuf:
            # before connect, so the window the client offers stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(host if fam == socket.AF_UNIX else (host, port))
        self.buf = b""
        self.transcript = []
        if tls:
            self.sock = client_tls_context().wrap_socket(self.sock, server_hostname="localhost")

    # -- low level
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.transcript.append(("C", data))
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Closed("connection closed by server; transcript: %r" % self.transcript[-6:])
        self.buf += chunk

    def read_line(self, timeout=None):
        while b"\r\n" not in self.buf:
            self._fill(timeout)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_reply(self, timeout=None):
        lines, code = [], None
        while True:
            raw = self.read_line(timeout)
            self.transcript.append(("S", raw))
            text = raw.decode("utf-8", "replace")
            m = re.match(r"^(\d{3})([ -])(.*)$", text) or re.match(r"^(\d{3})()()$", text)
            assert m, "malformed reply line %r" % raw
            if code is None:
                code = int(m.group(1))
            assert int(m.group(1)) == code, "code changed inside a multi-line reply: %r" % raw
            lines.append(m.group(3))
            if m.group(2) != "-":
                return Reply(code, lines)

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.read_reply()

    def expect(self, line, code, enhanced=None):
        r = self.cmd(line)
        assert r.code == code, "%r -> %r (expected %d %s)" % (line, r, code, enhanced or "")
        if enhanced:
            assert r.enhanced == enhanced, "%r -> %r (expected %d %s)" % (line, r, code, enhanced)
        return r

    def banner(self):
        r = self.read_reply()
        assert r.code == 220, r
        return r

    def ehlo(self, name="client.example"):
        r = self.cmd("EHLO " + name)
        assert r.code == 250, r
        return r

    def nothing_pending(self, wait=0.5):
        """True if the server sends nothing within WAIT seconds (and did not close)."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError, ssl.SSLError):
            return True
        finally:
            self.sock.settimeout(self.timeout)
        self.buf += chunk
        return False

    def expect_closed(self, timeout=5.0):
        """Assert the server closes the connection (EOF or reset) within TIMEOUT."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return
            except (socket.timeout, TimeoutError):
                break
            except ssl.SSLError:
                return
            if not chunk:
                return
            self.buf += chunk
        raise AssertionError("server did not close the connection; pending %r" % self.buf)

    def starttls(self, context=None):
        r = self.cmd("STARTTLS")
        assert r.code == 220, r
        assert not self.buf, "data after the STARTTLS reply: %r" % self.buf
        self.sock = (context or client_tls_context()).wrap_socket(
            self.sock, server_hostname="localhost")
        return r

    def auth_plain(self, user, password, code=235, enhanced="2.7.0"):
        """AUTH PLAIN with an initial response (RFC 4616)."""
        token = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        return self.expect("AUTH PLAIN " + token, code, enhanced)

    def mail_transaction(self, sender, rcpts, message):
        """MAIL/RCPT/DATA one message (bytes, CRLF, not dot-stuffed); returns the final reply."""
        self.expect("MAIL FROM:<%s>" % sender, 250)
        for r in rcpts:
            self.expect("RCPT TO:<%s>" % r, 250)
        self.expect("DATA", 354)
        self.send(dot_stuff(message) + b".\r\n")
        return self.read_reply()

    def quit(self):
        try:
            r = self.cmd("QUIT")
            assert r.code == 221, r
        finally:
            self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def add_listeners(p, *roles):
    """Listeners of ROLES (each named as its role) on free loopback ports, added to the
    configuration of P (a Petrel not started yet); p.ports[role] is each one's port."""
    ports = free_ports(len(roles), p.family, p.host, avoid=set(p.ports.values()))
    with open(p.config_path, "a") as f:
        for role, port in zip(roles, ports):
            p.ports[role] = port
            f.write("\n[listener %s]\nrole = %s\naddress = %s:%d\n"
                    % (role, role, p.hostpart, port))


def client_tls_context(min_version=None, max_version=None):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def dot_stuff(message):
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    lines = message.split(b"\r\n")
    return b"\r\n".join((b"." + l) if l.startswith(b".") else l for l in lines)


def make_message(subject="test", body=b"Hello.\r\n", msgid=None, sender="a@b.test",
                 to="u@example.test"):
    msgid = msgid or "<%s@client.example>" % uuid.uuid4().hex
    hdr = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: %s\r\n"
           "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\n" % (sender, to, subject, msgid))
    return hdr.encode() + body


QUEUED_RE = re.compile(r"^2\.0\.0 Ok: queued as ([0-9A-Fa-f]{16})$")


def assert_queued(reply):
    assert reply.code == 250, reply
    m = QUEUED_RE.match(reply.lines[0])
    assert m, "end-of-data reply not '250 2.0.0 Ok: queued as <16 hex>': %r" % reply
    return m.group(1)


# --------------------------------------------------------------------------- the spool

def queue_file(data_dir, qid):
    """The spool file of QID wherever its state put it (docs/operations.md): queue/new/,
    queue/hold/, queue/defer/<T>/ or queue/corrupt/; None if there is none."""
    q = Path(data_dir) / "queue"
    for p in [q / "new" / qid, q / "hold" / qid, q / "corrupt" / qid]:
        if p.is_file():
            return p
    for p in sorted((q / "defer").glob("*/" + qid)):
        if p.is_file():
            return p
    return None


def queue_body_end(path):
    """The offset where the body of the spool file PATH ends (its state log follows)."""
    data = Path(path).read_bytes()
    head, _ = data.split(b"\n\n", 1)
    size = [int(l.split(b" ", 1)[1]) for l in head.split(b"\n") if l.startswith(b"size ")][0]
    return len(head) + 2 + size


# --------------------------------------------------------------------------- Maildir

def maildir(data_dir, domain, local):
    return Path(data_dir) / "mail" / domain / local / "new"


def list_mail(data_dir, domain, local):
    d = maildir(data_dir, domain, local)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.is_file())


def wait_mail(data_dir, domain, local, n, timeout=10.0, settle=0.3):
    """Wait until at least N messages are in the Maildir; return the contents of all of them.

    After reaching N, waits SETTLE seconds more so that an extra delivery shows up too."""
    deadline = time.monotonic() + timeout
    while True:
        files = list_mail(data_dir, domain, local)
        if len(files) >= n:
            break
        if time.monotonic() > deadline:
            raise AssertionError("%d message(s) in %s after %.0fs, expected %d"
                                 % (len(files), maildir(data_dir, domain, local), timeout, n))
        time.sleep(0.05)
    if settle:
        time.sleep(settle)
        files = list_mail(data_dir, domain, local)
    return [f.read_bytes() for f in files]


def rsa_dkim_key(folder, name="rsa.key", bits=2048):
    """A new RSA key in FOLDER: (private key PEM, its DKIM key record "v=DKIM1; k=rsa; p=...")."""
    key = Path(folder) / name
    subprocess.run(["openssl", "genrsa", "-out", str(key), str(bits)], check=True,
                   capture_output=True, timeout=60)
    der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True, timeout=60).stdout
    return key.read_bytes(), "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def split_message(raw):
    """(header block unfolded as text lines, body bytes)."""
    m = re.search(rb"\r?\n\r?\n", raw)
    head, body = (raw[:m.start()], raw[m.end():]) if m else (raw, b"")
    text = re.sub(r"\r?\n[ \t]+", " ", head.decode("utf-8", "replace"))
    return re.split(r"\r?\n", text), body


def header_values(raw, name):
    lines, _ = split_message(raw)
    pre = name.lower() + ":"
    return [l.split(":", 1)[1].strip() for l in lines if l.lower().startswith(pre)]


# --------------------------------------------------------------------------- processes

def proc_stat(pid):
    """(state, ppid, pgrp) of PID from /proc, or None if it is gone."""
    try:
        text = Path("/proc/%d/stat" % pid).read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def proc_cmdline(pid):
    try:
        raw = Path("/proc/%d/cmdline" % pid).read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]]


def _live_pids():
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st and st[0] not in ("Z", "X"):
                yield int(name), st


def group_pids(pgid):
    """Live (not zombie) processes of process group PGID."""
    return sorted(pid for pid, st in _live_pids() if st[2] == pgid)


def proc_children(ppid):
    return sorted(pid for pid, st in _live_pids() if st[1] == ppid)


def kill_group(pgid, timeout=10.0):
    """SIGKILL to process group PGID, then wait (bounded) until none of it is alive."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while group_pids(pgid):
        if time.monotonic() > deadline:
            raise AssertionError("processes of group %d still alive %.0fs after SIGKILL: %s"
                                 % (pgid, timeout, group_pids(pgid)))
        time.sleep(0.02)


# --------------------------------------------------------------------------- server

class Petrel:
    def __init__(self, tmp_path, cert, overrides, listeners=None, ipv6=False, name="petrel"):
        self.tmp = Path(tmp_path) / name
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.tmp / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.config_path = self.tmp / "petrel.conf"
        self.log_path = self.tmp / "stderr.log"
        self.host = "::1" if ipv6 else "127.0.0.1"
        fam = socket.AF_INET6 if ipv6 else socket.AF_INET
        mx, sub, smtps = free_ports(3, fam, self.host)
        self.ports = {"mx": mx, "submission": sub, "submissions": smtps}
        self.proc = None
        self.exits = []
        # [server] node: a name of its own, so that servers sharing one store are not
        # refused as two of one name (test_nodes.py); its events carry it
        self.node = overrides.get("node") or name
        self.extra_env = {}  # e.g. fault_env(): for the server only, not the CLI
        self.binary = PETREL_BIN  # what `serve` runs (a test may pick the release build)
        self.wrapper = []  # what `serve` runs under (test_valgrind.py: valgrind)
        hostpart = "[::1]" if ipv6 else "127.0.0.1"
        self.hostpart, self.family, self.own_ports = hostpart, fam, listeners is None
        self.listeners = listeners or [
            ("mx", "mx", "%s:%d" % (hostpart, mx)),
            ("sub", "submission", "%s:%d" % (hostpart, sub)),
            ("smtps", "submissions", "%s:%d" % (hostpart, smtps)),
        ]
        self.write_config(cert, overrides)

    @property
    def mx(self):
        return self.ports["mx"]

    @property
    def sub(self):
        return self.ports["submission"]

    @property
    def smtps(self):
        return self.ports["submissions"]

    def write_config(self, cert, overrides):
        sections = {
            "server": {"hostname": HOSTNAME, "data_dir": str(self.data_dir), "user": SERVE_USER,
                       "log_level": "debug", "workers": "4", "node": self.node},
            "domains": {"local": "example.test, other.test"},
            "tls": {"certificate": str(cert[0]), "key": str(cert[1])},
            "limits": {"command_line": "512", "text_line": "1000", "message_size": "1048576",
                       "recipients": "100", "errors": "10", "connections": "20000",
                       "connections_per_ip": "100", "bare_newline": "reject"},
            "timeouts": {"greeting": "300", "command": "300", "data_block": "180",
                         "tls_handshake": "60"},
            "auth": {},
            "dns": {},
        }
        for k, v in overrides.items():
            sec, key = SECTION_OF[k] if isinstance(SECTION_OF[k], tuple) else (SECTION_OF[k], k)
            if v is None:
                sections.setdefault(sec, {}).pop(key, None)
            else:
                sections.setdefault(sec, {})[key] = str(v)
        out = []
        for sec, kv in sections.items():
            if not kv:
                continue
            out.append("[%s]" % sec)
            out += ["%s = %s" % (k, v) for k, v in kv.items()]
            out.append("")
        for name, role, addr in self.listeners:
            out += ["[listener %s]" % name, "role = %s" % role, "address = %s" % addr, ""]
        self.config_path.write_text("\n".join(out))

    def start(self, timeout=10.0):
        """Start and wait for the banner.  free_ports() closes its sockets before Petrel binds
        them, so another process (a parallel test) can take one in between: with its own
        loopback ports, the server then gets fresh ones (up to 3 times)."""
        for attempt in range(3):
            size = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                return self._start(timeout)
            except AssertionError:
                taken = "Address already in use" in self.log()[size:]
                if not (taken and self.own_ports and self.proc.poll() is not None) \
                        or attempt == 2:
                    raise
                self.proc = None
                self._new_ports()
        raise AssertionError("unreachable")

    def _new_ports(self):
        """Other free loopback ports for every listener of self.ports (the three default
        ones and those add_listeners() added), in the config too."""
        text = self.config_path.read_text()
        new = dict(zip(self.ports, free_ports(len(self.ports), self.family, self.host,
                                              avoid=set(self.ports.values()))))
        for role, port in new.items():
            text = text.replace("address = %s:%d\n" % (self.hostpart, self.ports[role]),
                                "address = %s:%d\n" % (self.hostpart, port))
        self.config_path.write_text(text)
        self.ports = new
        self.listeners = [(n, r, "%s:%d" % (self.hostpart, new[r])) for n, r, _ in self.listeners]

    def _start(self, timeout):
        assert self.proc is None
        logf = open(self.log_path, "ab")
        since = logf.tell()
        # a process group of its own (the supervisor leads it): kill9() and the
        # teardown reach every process Petrel started, and nothing else
        self.proc = subprocess.Popen(self.wrapper + [self.binary, "serve", "-c",
                                                     str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     env={**petrel_env(), **self.extra_env},
                                     cwd=str(self.tmp), start_new_session=True)
        logf.close()
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("petrel exited %s during startup:\n%s"
                                     % (self.proc.returncode, self.log()[-3000:]))
            try:
                c = SMTPClient(self.host, self.mx, timeout=2)
                try:
                    r = c.read_reply()
                    # the banner is this server's only once it says it started: a
                    # parallel test's server may hold the port it could not bind
                    if r.code == 220 and self._started_since(since):
                        c.quit()
                        return self
                    last = r
                finally:
                    c.close()
            except (OSError, Closed, AssertionError) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError("petrel did not give a 220 banner within %ss (%r):\n%s"
                             % (timeout, last, self.log()[-3000:]))

    def _started_since(self, offset):
        """The log from OFFSET on has this server's "started" line (written once every
        listener is bound)"""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return b" info started version=" in f.read()
        except FileNotFoundError:
            return False

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, count=1, timeout=10.0):
        """The log once regex PATTERN occurs COUNT times in it: the server writes its log on a
        thread of its own (never stalling a session), so a line can trail the reply it goes
        with by a moment."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if len(re.findall(pattern, log)) >= count or time.monotonic() > deadline:
                return log
            time.sleep(0.05)

    def processes(self, timeout=10.0):
        """{role: pid} of the supervisor's children ("network", "auth", "keys"), once all
        three are running (bounded wait); the supervisor itself is self.proc.pid."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            found = {}
            for pid in proc_children(self.proc.pid):
                argv = proc_cmdline(pid)
                if "--process" in argv[:-1]:
                    found[argv[argv.index("--process") + 1]] = pid
            if set(found) >= {"network", "auth", "keys"} or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def stop(self, timeout=5.0):
        """SIGTERM to the supervisor and wait; return its exit status.  Every process of
        its group must be gone with it: one left behind is killed and reported."""
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_group(p.pid)
                p.wait()
                self.exits.append(("sigterm-timeout", None))
                return None
        left = group_pids(p.pid)
        if left:
            kill_group(p.pid)
            self.exits.append(("left-behind", left))
        self.exits.append(("sigterm", p.returncode))
        return p.returncode

    def kill9(self):
        """SIGKILL to every process of the server's group (supervisor, network process,
        helpers: a crash of the whole machine, as far as Petrel can tell), and wait until
        none is left."""
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        kill_group(p.pid)
        p.wait()
        self.exits.append(("sigkill", p.returncode))

    def restart(self):
        self.stop()
        return self.start()

    def connect(self, role="mx", tls=None, timeout=10.0):
        if tls is None:
            tls = role == "submissions"
        return SMTPClient(self.host, self.ports[role], tls=tls, timeout=timeout)

    def session(self, role="mx", ehlo="client.example"):
        c = self.connect(role)
        c.banner()
        if ehlo:
            c.ehlo(ehlo)
        return c

    def auth_session(self, role="submission", user=None, password=None, ehlo="client.example"):
        """A session on ROLE, under TLS (STARTTLS unless implicit), logged in with AUTH PLAIN
        as USER (default the fixture account SENDER)."""
        c = self.connect(role)
        c.banner()
        c.ehlo(ehlo)
        if role != "submissions":
            c.starttls()
            c.ehlo(ehlo)
        c.auth_plain(user or SENDER, password if password is not None else SENDER_PASSWORD)
        return c

    def cli(self, *args, input=None, timeout=60):
        """Run `petrel ARGS -c <this server's config>`; returns the CompletedProcess."""
        return subprocess.run([PETREL_BIN, *map(str, args), "-c", str(self.config_path)],
                              capture_output=True, text=True, timeout=timeout,
                              env=petrel_env(), input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def cli_ok(self, *args, input=None):
        r = self.cli(*args, input=input)
        assert r.returncode == 0, "petrel %s: exit %d\n%s%s" % (
            " ".join(map(str, args)), r.returncode, r.stdout, r.stderr)
        return r

    def mail(self, domain, local, n, timeout=10.0, settle=0.3):
        return wait_mail(self.data_dir, domain, local, n, timeout, settle)

    def mailbox(self, domain, local):
        return [f.read_bytes() for f in list_mail(self.data_dir, domain, local)]

    def queue_file(self, qid):
        return queue_file(self.data_dir, qid)

    def check_teardown(self):
        self.stop()
        errors = []
        for kind, rc in self.exits:
            if kind == "sigkill":
                continue
            if kind == "left-behind":
                errors.append("processes of its group left after it exited: %s" % rc)
            elif kind == "sigterm-timeout":
                errors.append("did not exit within 5s of SIGTERM")
            elif rc != 0:
                errors.append("exited %s after SIGTERM" % rc)
        log = self.log()
        for marker in SANITIZER_MARKERS:
            if marker in log:
                i = log.index(marker)
                errors.append("sanitizer report %r:\n%s" % (marker, log[max(0, i - 200):i + 3000]))
        assert not errors, "\n".join(errors)


@pytest.fixture(scope="session")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("cert")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    return crt, key


# Local domains accept only existing mailboxes: the scenarios deliver to these.
MAILBOXES = ["u@example.test", "v@example.test", "w@example.test", "x@example.test",
             "s@example.test", "d@example.test", "alice@example.test",
             "postmaster@example.test", "0u@example.test", "1u@example.test",
             "2u@example.test", "3u@example.test", "u@other.test", "v@other.test"]
# A fixed sha512-crypt hash (of "secret"): mailbox accounts need no fast login here.
MAILBOX_HASH = "$6$petreltest$em/APzjjtizXj/v7inM38ZdrarhRXG2bCo480PAy54gZRz/6ZNHg2S0CPFIdL81LRVKk5zU.fnf6/KXvM5N7z0"


# An account with a known password for authenticated submission; it may also send as
# a@b.test, the sender most scenarios use.
SENDER = "sender@example.test"
SENDER_PASSWORD = "s3cret-pass"
SENDER_ALSO = ["a@b.test"]
# A mailbox with a UTF-8 local part (RFC 6531), for test_tls.py.
UTF8_MAILBOX = "δοκιμή@example.test"


@pytest.fixture(scope="session")
def mailbox_db(tmp_path_factory):
    """A data folder whose petrel.db holds the MAILBOXES accounts and the SENDER account
    (their passwords in auth/credentials.db), made once with the CLI."""
    d = tmp_path_factory.mktemp("mailboxes")
    conf = d / "petrel.conf"
    conf.write_text("[server]\nhostname = %s\ndata_dir = %s\nuser =\n\n"
                    "[listener mx]\nrole = mx\naddress = 127.0.0.1:1\n" % (HOSTNAME, d / "data"))
    for box in MAILBOXES:
        r = subprocess.run([PETREL_BIN, "account", "add", box, "--password-hash", MAILBOX_HASH,
                            "-c", str(conf)], capture_output=True, text=True, timeout=60,
                           env=petrel_env(), stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stdout + r.stderr

    def cli(*args, input=None):
        return subprocess.run([PETREL_BIN, *args, "-c", str(conf)], capture_output=True,
                              text=True, timeout=60, env=petrel_env(), input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)

    r = cli("account", "add", SENDER, "--password-stdin", input=SENDER_PASSWORD + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    for addr in SENDER_ALSO:
        r = cli("sender", "allow", SENDER, addr)
        assert r.returncode == 0, r.stdout + r.stderr
    r = cli("account", "add", UTF8_MAILBOX, "--password-hash", MAILBOX_HASH)
    assert r.returncode == 0, r.stdout + r.stderr
    return d / "data"


@pytest.fixture
def petrel_factory(tmp_path, cert, mailbox_db):
    """petrel_factory(start=True, listeners=None, ipv6=False, **config_overrides) -> Petrel"""
    servers = []

    def make(start=True, listeners=None, ipv6=False, **overrides):
        if not os.access(PETREL_BIN, os.X_OK):
            pytest.fail("PETREL_BIN %s is not an executable" % PETREL_BIN)
        p = Petrel(tmp_path, cert, overrides, listeners, ipv6, name="petrel%d" % len(servers))
        for f in mailbox_db.glob("petrel.db*"):
            shutil.copy(f, p.data_dir / f.name)
        # the accounts' secrets: auth/credentials.db (0700 folder, 0600 files)
        shutil.copytree(mailbox_db / "auth", p.data_dir / "auth")
        servers.append(p)
        if start:
            p.start()
        return p

    yield make
    failures = []
    for p in servers:
        try:
            p.check_teardown()
        except AssertionError as e:
            failures.append(str(e))
    if failures:
        pytest.fail("server teardown: " + "\n".join(failures), pytrace=False)


@pytest.fixture
def petrel(petrel_factory):
    """A running server with the default config."""
    return petrel_factory()


def run_petrel(*args, timeout=30):
    return subprocess.run([PETREL_BIN, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=petrel_env(), stdin=subprocess.DEVNULL)
