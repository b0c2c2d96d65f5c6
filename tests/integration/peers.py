"""Real peers for the relay tests: dnsmasq (the test zones), Postfix's smtp-sink (fake
remote MX hosts with fault injection) and a Postfix instance with its own config folder.

Every server listens on 127.0.0.0/8 only.  Fake MX hosts are different loopback
addresses (127.0.0.2, .3, ...) on one port, the port Petrel's [delivery] port names.
Every wait is bounded; every process is stopped by its fixture's teardown.
"""

import os
import pwd
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from postfix_harness import PostfixServer, PostfixUnavailable, postfix_tool


# --------------------------------------------------------------------------- ports

def tcp_port_free(addr, port, reuse=False):
    """PORT on ADDR (IPv4 or IPv6) can be bound now (conftest's free_ports uses it too)."""
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    if reuse:  # as servers bind: connections in TIME_WAIT do not count
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _udp_free(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def common_free_port(addrs, udp=False):
    """A TCP port (and UDP too if UDP) free on every address in ADDRS."""
    for _ in range(200):
        port = random.randint(20000, 60000)
        if all(tcp_port_free(a, port) and (not udp or _udp_free(a, port)) for a in addrs):
            return port
    raise RuntimeError("no common free port on %s" % (addrs,))


def wait_listening(addr, port, timeout=10.0, proc=None, what="server"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("%s exited %s before listening on %s:%d"
                                 % (what, proc.returncode, addr, port))
        try:
            with socket.create_connection((addr, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("%s did not listen on %s:%d within %ss" % (what, addr, port, timeout))


def wait_until(pred, timeout, interval=0.1, what="condition"):
    """Poll PRED until it returns something true; return it, or fail after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def _stop_proc(p, timeout=5.0):
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


# --------------------------------------------------------------------------- HAProxy

class HAProxy:
    """Debian's HAProxy in the foreground (-db) with the configuration text CONFIG, written
    to FOLDER/haproxy.cfg; start() waits until its frontend ADDR:PORT takes connections."""

    def __init__(self, folder, config, addr, port):
        self.cfg = Path(folder) / "haproxy.cfg"
        self.cfg.write_text(config)
        self.addr, self.port = addr, port
        self.proc = None

    def start(self):
        assert shutil.which("haproxy"), "haproxy missing: scripts/install-deps.sh installs it"
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.cfg)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_listening(self.addr, self.port, 10, self.proc, "haproxy")
        except AssertionError as e:
            if self.proc.poll() is not None:
                raise AssertionError("%s: %s" % (e, self.proc.stderr.read().decode()[-2000:]))
            raise
        return self

    def stop(self):
        _stop_proc(self.proc, 10)
        self.proc = None


# --------------------------------------------------------------------------- dnsmasq

class Dnsmasq:
    """dnsmasq on 127.0.0.1:PORT answering for *.test only from its own records:
    every other name under .test is NXDOMAIN."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.port = common_free_port(["127.0.0.1"], udp=True)
        self.proc = None
        self.log_path = self.tmp / "dnsmasq.log"

    @property
    def resolver(self):
        return "127.0.0.1@%d" % self.port

    def start(self, mx=(), hosts=(), extra=()):
        """MX: (domain, exchange, preference) triples ("." for a null MX);
        HOSTS: (name, address) pairs."""
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.path.exists(exe):
            pytest.skip("dnsmasq (package dnsmasq-base) is not installed")
        argv = [exe, "-k", "--port=%d" % self.port, "--listen-address=127.0.0.1",
                "--bind-interfaces", "--no-resolv", "--no-hosts", "--user=root",
                "--pid-file=", "--log-facility=-", "--log-queries", "--local=/test/"]
        for domain, exchange, pref in mx:
            argv.append("--mx-host=%s,%s,%d" % (domain, exchange, pref))
        for name, addr in hosts:
            argv.append("--host-record=%s,%s" % (name, addr))
        argv += list(extra)
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=logf)
        logf.close()
        wait_listening("127.0.0.1", self.port, 5, self.proc, "dnsmasq")
        return self

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self):
        p, self.proc = self.proc, None
        _stop_proc(p)


def txt_record_arg(name, record):
    """dnsmasq's --txt-record with the record split into strings of 255 bytes at most
    (commas separate them; given without a shell, quotes would be kept as data)"""
    assert "," not in record
    parts = [record[i:i + 255] for i in range(0, len(record), 255)]
    return "--txt-record=%s,%s" % (name, ",".join(parts))


def dknewkey(folder, name, ktype):
    """a DKIM key made by dkimpy's dknewkey in FOLDER: (private key PEM, TXT record)"""
    if shutil.which("dknewkey") is None:
        pytest.fail("dknewkey (python3-dkim) is not installed")
    subprocess.run(["dknewkey", "--ktype", ktype, name], cwd=folder, check=True,
                   capture_output=True, timeout=60)
    return (folder / (name + ".key")).read_bytes(), (folder / (name + ".dns")).read_text().strip()


# --------------------------------------------------------------------------- smtp-sink

def smtp_sink_path():
    """(path to smtp-sink, LD_LIBRARY_PATH or None); skips if there is none."""
    try:
        return postfix_tool("smtp-sink")
    except PostfixUnavailable as e:
        pytest.skip(str(e))


class SmtpSink:
    """Postfix's smtp-sink on ADDR:PORT dumping every message into its own folder."""

    def __init__(self, tmp, addr, port, name=None):
        self.addr, self.port = addr, port
        self.name = name or "sink-%s" % addr
        # smtp-sink writes as nobody, who cannot enter pytest's 0700 tmp folders
        self.dir = Path(tempfile.mkdtemp(prefix="petrel-%s-" % self.name))
        self.dump_dir = self.dir / "dump"
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        os.chmod(self.dump_dir, 0o777)  # smtp-sink writes as nobody
        self.log_path = self.dir / "sink.log"
        self.proc = None
        self.flags = []

    def start(self, *flags):
        exe, libdir = smtp_sink_path()
        env = dict(os.environ)
        if libdir:
            env["LD_LIBRARY_PATH"] = libdir
        argv = [exe]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]  # smtp-sink refuses to run as root
        argv += ["-d", str(self.dump_dir) + "/%Y%m%d%H%M%S."]
        argv += list(flags)
        argv += ["%s:%d" % (self.addr, self.port), "64"]
        self.flags = list(flags)
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     env=env)
        logf.close()
        wait_listening(self.addr, self.port, 5, self.proc, "smtp-sink")
        return self

    def stop(self):
        p, self.proc = self.proc, None
        _stop_proc(p)

    def restart(self, *flags):
        self.stop()
        # the port must be bindable again before smtp-sink tries
        wait_until(lambda: tcp_port_free(self.addr, self.port, reuse=True), 5, 0.05,
                   "port %s:%d to be free" % (self.addr, self.port))
        return self.start(*flags)

    def dumps(self):
        """The dumped transactions, oldest first, as bytes.  smtp-sink opens a dump file
        at MAIL; a transaction whose recipients were all refused leaves it empty: those
        are not messages and are left out."""
        out = []
        for f in sorted(self.dump_dir.iterdir()):
            if f.is_file():
                data = f.read_bytes()
                if data:
                    out.append(data)
        return out

    def wait_dumps(self, n, timeout=15.0, settle=0.5):
        wait_until(lambda: len(self.dumps()) >= n, timeout, 0.05,
                   "%d message(s) at %s:%d" % (n, self.addr, self.port))
        if settle:
            time.sleep(settle)
        return self.dumps()


# --------------------------------------------------------------------------- Postfix

class Postfix(PostfixServer):
    """The tests' Postfix (postfix_harness.PostfixServer, shared with the bench): smtpd
    on ADDR:PORT with STARTTLS (a self-signed certificate), virtual(8) Maildir delivery
    for DOMAIN (every local part into one Maildir), optionally a relayhost for the rest,
    fast retries, and a log file (postlogd).  Skips the test if Postfix is missing."""

    def __init__(self, tmp, addr, port, domain, cert, relayhost=None, relay_domains=()):
        # Postfix's daemons (postfix, nobody) cannot enter pytest's 0700 tmp folders
        folder = Path(tempfile.mkdtemp(prefix="petrel-postfix-"))
        nobody = pwd.getpwnam("nobody")
        try:
            super().__init__(folder, addr, port, domain, "all", "pf.postfix.test",
                             nobody.pw_uid, nobody.pw_gid, folder / "postfix.log")
        except PostfixUnavailable as e:
            pytest.skip(str(e))
        self.tmp = folder
        self.cert = cert
        self.relayhost = relayhost
        self.relay_domains = list(relay_domains)
        self.services.append("tlsmgr    unix  -       -       n       1000?   1       tlsmgr")
        self.settings.update({
            "relayhost": relayhost or "",
            # STARTTLS offered by smtpd, used opportunistically by smtp
            "smtpd_tls_security_level": "may",
            "smtpd_tls_received_header": "yes",
            "smtp_tls_security_level": "may",
            "smtp_tls_loglevel": "1",
            "smtpd_tls_loglevel": "1",
            # fast retries for the test
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
        })

    def start(self):
        # the key must be readable by smtpd (runs as postfix)
        tls_dir = self.tmp / "tls"
        tls_dir.mkdir(parents=True, exist_ok=True)
        crt, key = tls_dir / "cert.pem", tls_dir / "key.pem"
        shutil.copy(self.cert[0], crt)
        shutil.copy(self.cert[1], key)
        os.chmod(crt, 0o644)
        os.chmod(key, 0o644)
        self.cert = (crt, key)
        self.settings["smtpd_tls_cert_file"] = str(crt)
        self.settings["smtpd_tls_key_file"] = str(key)
        self.prepare()
        # `postfix start` creates the queue folders and checks them itself (a separate
        # `postfix check` costs seconds more)
        super().start()
        return self

    def sendmail(self, sender, rcpts, message):
        """Inject MESSAGE (bytes) with Postfix's sendmail (through postdrop and pickup)."""
        r = subprocess.run(["/usr/sbin/sendmail", "-C", self.conf, "-f", sender, "-i",
                            "--", *rcpts], input=message, capture_output=True, timeout=60)
        assert r.returncode == 0, "postfix sendmail: %d %r" % (r.returncode, r.stderr)


# --------------------------------------------------------------------------- Python TLS sink

class TlsSink:
    """A small SMTP receiver in a thread, for what smtp-sink cannot do: STARTTLS that
    works, or that fails after "220 Ready" (STARTTLS="close": close the connection;
    "garbage": answer the ClientHello with bytes that are not TLS, then close;
    "early": send such bytes right behind the 220), and a record of how each TLS
    connection ended: its "clean_close" is True when the client sent close_notify
    before closing, False when it just closed (Python's ssl, told not to ignore that,
    raises "unexpected eof while reading").  STARTTLS=None: not offered.

    sessions: one dict per connection: tls, clean_close (None until known).
    messages: one dict per message: tls, mail, rcpts, data (bytes, unstuffed)."""

    def __init__(self, addr, port, cert, starttls="ok"):
        self.addr, self.port, self.cert, self.starttls = addr, port, cert, starttls
        self.sessions, self.messages = [], []
        self.lock = threading.Lock()
        self.stopping = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        rec = {"tls": False, "clean_close": None}
        with self.lock:
            self.sessions.append(rec)
        conn.settimeout(30)
        f = [conn, b""]

        def send(line):
            f[0].sendall(line.encode() + b"\r\n")

        def readline():
            while b"\n" not in f[1]:
                chunk = f[0].recv(65536)
                if not chunk:
                    return None
                f[1] += chunk
            line, f[1] = f[1].split(b"\n", 1)
            return line.rstrip(b"\r")

        try:
            send("220 tls-sink.test ESMTP")
            mail, rcpts = None, []
            while True:
                line = readline()
                if line is None:
                    return
                verb = line.split(b" ", 1)[0].upper()
                if verb == b"EHLO":
                    exts = ["tls-sink.test", "PIPELINING", "8BITMIME"]
                    if self.starttls and not rec["tls"]:
                        exts.append("STARTTLS")
                    for i, e in enumerate(exts):
                        send(("250 " if i == len(exts) - 1 else "250-") + e)
                elif verb == b"HELO":
                    send("250 tls-sink.test")
                elif verb == b"STARTTLS" and self.starttls and not rec["tls"]:
                    if self.starttls == "early":
                        # the 220 and bytes that are not TLS in one write
                        f[0].sendall(b"220 2.0.0 Ready to start TLS\r\n" + b"garbage\r\n")
                        return
                    send("220 2.0.0 Ready to start TLS")
                    if self.starttls == "close":
                        return
                    if self.starttls == "garbage":
                        conn.recv(65536)  # the ClientHello
                        f[0].sendall(b"this is not a TLS record\r\n" * 4)
                        return
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    ctx.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
                    # Python ignores a missing close_notify by default: notice it
                    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
                    f[0] = ctx.wrap_socket(conn, server_side=True, suppress_ragged_eofs=False)
                    f[1] = b""
                    rec["tls"] = True
                elif verb == b"MAIL":
                    mail, rcpts = line[10:].decode(errors="replace"), []
                    send("250 2.1.0 Ok")
                elif verb == b"RCPT":
                    rcpts.append(line[8:].decode(errors="replace"))
                    send("250 2.1.5 Ok")
                elif verb == b"DATA":
                    send("354 End data with <CR><LF>.<CR><LF>")
                    data = []
                    while True:
                        l = readline()
                        if l is None:
                            return
                        if l == b".":
                            break
                        data.append(l[1:] if l.startswith(b".") else l)
                    with self.lock:
                        self.messages.append({"tls": rec["tls"], "mail": mail,
                                              "rcpts": rcpts,
                                              "data": b"\r\n".join(data) + b"\r\n"})
                    send("250 2.0.0 Ok: queued")
                elif verb in (b"RSET", b"NOOP"):
                    send("250 2.0.0 Ok")
                elif verb == b"QUIT":
                    send("221 2.0.0 Bye")
                    if rec["tls"]:
                        # the client's close: close_notify (recv gives b"") or a bare
                        # TCP close (SSLEOFError with suppress_ragged_eofs=False)
                        try:
                            while f[0].recv(65536):
                                pass
                            rec["clean_close"] = True
                        except ssl.SSLError:  # UNEXPECTED_EOF_WHILE_READING
                            rec["clean_close"] = False
                    return
                else:
                    send("502 5.5.2 unknown")
        except (OSError, ssl.SSLError):
            return
        finally:
            try:
                f[0].close()
            except OSError:
                pass

    def wait_messages(self, n, timeout=15.0):
        wait_until(lambda: len(self.messages) >= n, timeout, what="%d message(s)" % n)
        return list(self.messages)

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(5)


# --------------------------------------------------------------------------- fixtures

@pytest.fixture
def dns_factory(tmp_path):
    """dns_factory(mx=..., hosts=...) -> a started Dnsmasq; stopped at teardown."""
    servers = []

    def make(**kw):
        d = Dnsmasq(tmp_path)
        servers.append(d)
        return d.start(**kw)

    yield make
    for d in servers:
        d.stop()


MX_ADDRS = ["127.0.0.%d" % i for i in range(2, 10)]


@pytest.fixture
def mx_port():
    """One TCP port free on every fake MX address 127.0.0.2-9."""
    return common_free_port(MX_ADDRS)


@pytest.fixture
def sink_factory(tmp_path):
    """sink_factory(addr, port, *flags) -> a started SmtpSink; stopped at teardown."""
    sinks = []

    def make(addr, port, *flags, name=None):
        s = SmtpSink(tmp_path, addr, port, name=name)
        sinks.append(s)
        return s.start(*flags)

    yield make
    for s in sinks:
        s.stop()
        shutil.rmtree(s.dir, ignore_errors=True)


@pytest.fixture
def postfix_factory(tmp_path):
    instances = []

    def make(*args, **kw):
        p = Postfix(tmp_path, *args, **kw)
        instances.append(p)
        return p.start()

    yield make
    for p in instances:
        p.stop()
        shutil.rmtree(p.tmp, ignore_errors=True)


@pytest.fixture
def tls_sink_factory(tmp_path):
    """tls_sink_factory(addr, port, cert, starttls="ok") -> a started TlsSink."""
    sinks = []

    def make(addr, port, cert, starttls="ok"):
        s = TlsSink(addr, port, cert, starttls)
        sinks.append(s)
        return s

    yield make
    for s in sinks:
        s.stop()
