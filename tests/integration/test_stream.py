"""Large messages streamed: IMAP FETCH (BODY[], partial ranges, BINARY) and POP3
RETR/TOP read the message file a chunk at a time on the workers and send it paced by what
the client has read (src/imap/cmd-fetch.c and fetch.c, src/pop3/cmd-mail.c), so that the
network process's memory does not grow with message size x sessions.  Byte-exact checks
(SHA-256 of what imaplib, poplib and a COMPRESS=DEFLATE client got) of messages of tens
of MB, several at once, over implicit TLS and STARTTLS/STLS; at the 64 KiB chunk
boundaries (partial ranges, TOP's lines, dot-stuffing of a line that starts with "."
exactly at a boundary); a message expunged while it is sent, a client gone in the
middle; the peak resident memory (VmHWM) of the network process while they are sent;
clients that read a long answer slowly are not idle."""

import base64
import fcntl
import hashlib
import imaplib
import os
import poplib
import re
import socket
import ssl
import termios
import threading
import time
import zlib

import pytest

from conftest import SAN_ENV, add_listeners, dot_stuff, fault_env
from conftest import client_tls_context as tls_context

PASSWORD = "secret"
ACCOUNTS = ["u@example.test", "v@example.test", "w@example.test", "x@example.test"]
CHUNK = 65536                  # what the servers read at a time
BIG = 32 * 1024 * 1024         # octets of the large message
ATTACHMENT = 3 * 1024 * 1024 + 7   # decoded octets of its base64 part


def build_message(size):
    """A message of about SIZE octets (ending without a line break) and what it holds:
    (message, text part's bytes, attachment's decoded bytes).  The text part has lines
    that start with "." exactly at file offsets that are multiples of CHUNK (the POP3
    dot-stuffing must see them across chunks); a base64 part follows."""
    attachment = bytes((i * 7 + (i >> 11)) & 0xff for i in range(ATTACHMENT))
    b64 = base64.encodebytes(attachment).replace(b"\n", b"\r\n")
    head = (b"From: Big <big@example.org>\r\n"
            b"To: u@example.test\r\n"
            b"Subject: a large message\r\n"
            b"Message-ID: <big@example.org>\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"BOUND\"\r\n"
            b"\r\n"
            b"--BOUND\r\n"
            b"Content-Type: text/plain; charset=us-ascii\r\n"
            b"\r\n")
    tail = (b"\r\n--BOUND\r\n"
            b"Content-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"\r\n" + b64 + b"--BOUND--\r\nend")
    out = bytearray(head)
    text_start = len(out)
    target = size - len(tail)
    dots = [b".", b"..", b".leading dot", b"...three"]
    n = 0
    while len(out) < target:
        boundary = (len(out) // CHUNK + 1) * CHUNK
        gap = boundary - len(out)
        if gap <= 84:
            # a line that ends exactly at the boundary, then one starting with "."
            out += b"p" * (gap - 2) + b"\r\n"
            assert len(out) % CHUNK == 0
            out += dots[(len(out) // CHUNK) % len(dots)] + b"\r\n"
        else:
            out += b"line %08d " % n + b"abcdefghij" * 6 + b"\r\n"
        n += 1
    text = bytes(out[text_start:])
    out += tail
    return bytes(out), text, attachment


@pytest.fixture(scope="module")
def big():
    return build_message(BIG)


def server(petrel_factory, roles):
    """A Petrel with listeners of ROLES, and the ASan quarantine kept small: freed chunks
    of what was sent must not count as memory in use (the default quarantine keeps 256 MB
    of them)."""
    p = petrel_factory(start=False)
    add_listeners(p, *roles)
    p.extra_env = {"ASAN_OPTIONS": SAN_ENV["ASAN_OPTIONS"] +
                   ":quarantine_size_mb=4:thread_local_quarantine_size_kb=64"}
    p.start()
    return p


def maildir(p, account):
    local, domain = account.split("@")
    return p.data_dir / "mail" / domain / local


def deliver(p, account, path, name):
    """The message file PATH linked into ACCOUNT's new/ (as an MDA would deliver it)."""
    d = maildir(p, account)
    for sub in ("tmp", "new", "cur"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    os.link(path, d / "new" / name)


def status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^%s:\s+(\d+) kB" % key, f.read(), re.M)
    return int(m.group(1)) * 1024


class Peak:
    """The network process's resident memory above what it was when measuring began:
    VmHWM after clear_refs 5 resets it to the current VmRSS."""

    def __init__(self, p):
        self.pid = p.processes()["network"]

    def __enter__(self):
        with open("/proc/%d/clear_refs" % self.pid, "w") as f:
            f.write("5")
        self.base = status(self.pid, "VmRSS")
        return self

    def __exit__(self, *exc):
        self.growth = status(self.pid, "VmHWM") - self.base


def run_all(fns):
    """FNS at once, each on a thread of its own; their results, or the first error."""
    results, errors = [None] * len(fns), []

    def run(i):
        try:
            results[i] = fns[i]()
        except BaseException as e:  # noqa: B902 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
        assert not t.is_alive(), "a client got no answer in 300 s"
    if errors:
        raise errors[0]
    return results


def sha(data):
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- IMAP

def imap_login(p, account=ACCOUNTS[0], starttls=False):
    """imaplib logged in as ACCOUNT on imaps, or with STARTTLS on imap, INBOX examined."""
    if starttls:
        c = imaplib.IMAP4(p.host, p.ports["imap"], timeout=60)
        c.starttls(ssl_context=tls_context())
    else:
        c = imaplib.IMAP4_SSL(p.host, p.ports["imaps"], ssl_context=tls_context(),
                              timeout=60)
    c.login(account, PASSWORD)
    c.select("INBOX", readonly=True)
    return c


def literal(c, command):
    """The data of the one literal the FETCH COMMAND (a UID FETCH's arguments) answers."""
    typ, data = c.uid("FETCH", *command.split(" ", 1))
    assert typ == "OK", data
    parts = [d for d in data if isinstance(d, tuple)]
    assert len(parts) == 1, data
    return parts[0][1]


def imap_login_compressed(s):
    """On S, a TLS socket just connected to imaps: the greeting, LOGIN as ACCOUNTS[0] and
    COMPRESS DEFLATE (RFC 4978) accepted (tags a and b).  Read octet by octet: what follows
    COMPRESS's OK stays unread, for the caller's inflater."""
    def line():
        out = b""
        while not out.endswith(b"\r\n"):
            out += s.recv(1)
        return out

    assert line().startswith(b"* OK")
    s.sendall(b'a LOGIN "%s" "%s"\r\n' % (ACCOUNTS[0].encode(), PASSWORD.encode()))
    while not line().startswith(b"a OK"):
        pass
    s.sendall(b"b COMPRESS DEFLATE\r\n")
    assert line().startswith(b"b OK")


def test_imap_fetch_large_messages_at_once_in_bounded_memory(petrel_factory, big, tmp_path):
    """Four sessions FETCH BODY.PEEK[] of a 32 MB message at once, then its TEXT: byte
    for byte, and the network process grows by less than one message."""
    message, _, _ = big
    path = tmp_path / "big.eml"
    path.write_bytes(message)
    p = server(petrel_factory, ("imap", "imaps"))
    deliver(p, ACCOUNTS[0], path, "1.M1P1.big")
    clients = [imap_login(p, starttls=i % 2 == 1) for i in range(4)]
    want = sha(message)

    def fetch(c, item):
        return lambda: sha(literal(c, "1 (%s)" % item))

    with Peak(p) as peak:
        got = run_all([fetch(c, "BODY.PEEK[]") for c in clients])
    assert got == [want] * 4
    print("imap fetch 4 x %d: network process grew by %d octets" % (len(message), peak.growth))
    assert peak.growth < len(message), \
        "network process grew by %d octets for 4 x %d" % (peak.growth, len(message))
    assert sha(literal(clients[0], "1 (BODY.PEEK[TEXT])")) == \
        sha(message.split(b"\r\n\r\n", 1)[1])
    for c in clients:
        c.logout()


def test_imap_partial_and_binary_across_chunks(petrel_factory, big, tmp_path):
    """BODY[]<offset.length>, BODY[1]<...> and BINARY[2]<...> (the base64 part decoded)
    whose ranges start and end around the 64 KiB chunks and the 256 KiB batches, and
    BINARY.SIZE: byte-exact against the file and Python's base64."""
    message, text, attachment = big
    path = tmp_path / "big.eml"
    path.write_bytes(message)
    p = server(petrel_factory, ("imaps",))
    deliver(p, ACCOUNTS[0], path, "1.M1P1.big")
    c = imap_login(p)
    ranges = [(0, CHUNK + 1), (CHUNK - 1, 2), (CHUNK, CHUNK), (CHUNK - 10, 3 * CHUNK + 20),
              (4 * CHUNK - 1, 4 * CHUNK + 2), (len(message) - 5, 100), (len(message) + 1, 5)]
    for off, n in ranges:
        assert literal(c, "1 (BODY.PEEK[]<%d.%d>)" % (off, n)) == message[off:off + n], \
            (off, n)
    for off, n in ranges[:5]:
        assert literal(c, "1 (BODY.PEEK[1]<%d.%d>)" % (off, n)) == text[off:off + n], \
            (off, n)
    typ, data = c.uid("FETCH", "1", "(BINARY.SIZE[2])")
    assert typ == "OK" and b"BINARY.SIZE[2] %d" % len(attachment) in data[0], data
    for off, n in ranges[:5] + [(len(attachment) - 3, 10)]:
        assert literal(c, "1 (BINARY.PEEK[2]<%d.%d>)" % (off, n)) == \
            attachment[off:off + n], (off, n)
    assert sha(literal(c, "1 (BINARY.PEEK[2])")) == sha(attachment)
    c.logout()


def test_imap_fetch_of_expunged_message_and_disconnect(petrel_factory, big, tmp_path):
    """A message expunged by another session while a FETCH of it is being read is sent
    whole (the file stays open); a client that goes away in the middle of a FETCH costs
    nothing afterwards (the server serves on, exits cleanly)."""
    message, _, _ = big
    path = tmp_path / "big.eml"
    path.write_bytes(message)
    p = server(petrel_factory, ("imaps",))
    deliver(p, ACCOUNTS[0], path, "1.M1P1.big")
    reader = imaplib.IMAP4_SSL(p.host, p.ports["imaps"], ssl_context=tls_context(),
                               timeout=60)
    reader.login(ACCOUNTS[0], PASSWORD)
    reader.select("INBOX")
    # the command sent, the first octets read: the stream has begun
    reader.send(b"r1 UID FETCH 1 (BODY.PEEK[])\r\n")
    first = reader.readline()
    assert first.startswith(b"* 1 FETCH") and first.endswith(b"{%d}\r\n" % len(message)), first
    got = reader.read(CHUNK)
    other = imap_login(p)
    other.select("INBOX")
    other.uid("STORE", "1", "+FLAGS.SILENT", r"(\Deleted)")
    assert other.expunge()[0] == "OK"
    assert not os.listdir(maildir(p, ACCOUNTS[0]) / "cur")
    got += reader.read(len(message) - len(got))
    assert sha(got) == sha(message)
    rest = b""
    while not rest.startswith(b"r1 "):
        rest = reader.readline()
    assert rest.startswith(b"r1 OK"), rest
    reader.logout()
    # a client that leaves in the middle
    deliver(p, ACCOUNTS[0], path, "2.M2P2.big")
    quitter = imap_login(p)
    quitter.send(b"q1 UID FETCH 2 (BODY.PEEK[])\r\n")
    assert quitter.readline().startswith(b"* ")
    quitter.shutdown()
    other.noop()
    assert sha(literal(other, "2 (BODY.PEEK[])")) == sha(message)
    other.logout()


def test_imap_fetch_large_message_under_compress(petrel_factory, big, tmp_path):
    """FETCH BODY.PEEK[] of the 32 MB message through TLS and COMPRESS=DEFLATE (RFC 4978):
    byte for byte, and the network process grows by less than the message."""
    message, _, _ = big
    path = tmp_path / "big.eml"
    path.write_bytes(message)
    p = server(petrel_factory, ("imaps",))
    deliver(p, ACCOUNTS[0], path, "1.M1P1.big")
    s = socket.create_connection((p.host, p.ports["imaps"]), timeout=60)
    s = tls_context().wrap_socket(s)
    imap_login_compressed(s)
    out, inp = zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15)
    s.sendall(out.compress(b"c EXAMINE INBOX\r\nd UID FETCH 1 (BODY.PEEK[])\r\n") +
              out.flush(zlib.Z_SYNC_FLUSH))
    data = bytearray()
    with Peak(p) as peak:
        while not re.search(rb"\r\nd (OK|NO|BAD)[^\r\n]*\r\n$", bytes(data[-200:])):
            chunk = s.recv(1 << 20)
            assert chunk, "connection closed"
            data += inp.decompress(chunk)
    m = re.search(rb"BODY\[\] \{(\d+)\}\r\n", data)
    assert m and int(m.group(1)) == len(message), bytes(data[:300])
    got = bytes(data[m.end():m.end() + len(message)])
    assert sha(got) == sha(message)
    assert data[-200:].rstrip().split(b"\r\n")[-1].startswith(b"d OK")
    assert peak.growth < len(message), "network process grew by %d" % peak.growth
    s.close()


# --------------------------------------------------------------------------- POP3

def pop3_login(p, account, stls=False):
    """poplib logged in as ACCOUNT on pop3s, or with STLS on pop3 (TLS as a filter over
    the socket, back-pressure through two buffers)."""
    if stls:
        c = poplib.POP3(p.host, p.ports["pop3"], timeout=60)
        c.stls(context=tls_context())
    else:
        c = poplib.POP3_SSL(p.host, p.ports["pop3s"], context=tls_context(), timeout=60)
    c.user(account)
    c.pass_(PASSWORD)
    return c


def test_pop3_retr_large_messages_at_once_in_bounded_memory(petrel_factory, big, tmp_path):
    """Four sessions RETR a 32 MB message each at once: each gets it byte for byte (the
    lines starting with "." at the 64 KiB boundaries stuffed, the missing last line break
    added), and the network process's memory grows by less than one message, where
    reading whole files into memory needed several times each message."""
    message, _, _ = big
    path = tmp_path / "big.eml"
    path.write_bytes(message)
    p = server(petrel_factory, ("pop3", "pop3s"))
    for i, account in enumerate(ACCOUNTS):
        deliver(p, account, path, "1.M1P%d.big" % i)
    clients = [pop3_login(p, a, stls=i % 2 == 1) for i, a in enumerate(ACCOUNTS)]
    for c in clients:
        assert c.stat() == (1, len(message))
    want = sha(message + b"\r\n")

    def retr(c):
        def fetch():
            _, lines, octets = c.retr(1)
            return sha(b"\r\n".join(lines) + b"\r\n")
        return fetch

    with Peak(p) as peak:
        got = run_all([retr(c) for c in clients])
    assert got == [want] * len(clients)
    print("pop3 retr 4 x %d: network process grew by %d octets" % (len(message), peak.growth))
    assert peak.growth < len(message), \
        "network process grew by %d octets for 4 x %d" % (peak.growth, len(message))
    for c in clients:
        c.quit()


def test_pop3_top_lines_across_chunks(petrel_factory, big, tmp_path):
    """TOP n with the n lines of the body ending past several 64 KiB chunks, and ending
    exactly before and after a line placed at a chunk boundary."""
    message, _, _ = big
    path = tmp_path / "big.eml"
    path.write_bytes(message)
    p = server(petrel_factory, ("pop3s",))
    deliver(p, ACCOUNTS[0], path, "1.M1P1.big")
    c = pop3_login(p, ACCOUNTS[0])
    header, body = message.split(b"\r\n\r\n", 1)
    body_lines = body.split(b"\r\n")
    # the body line that starts at the second chunk boundary
    first_boundary_line = None
    offset = len(header) + 4
    for i, line in enumerate(body_lines):
        if offset == 2 * CHUNK:
            first_boundary_line = i
            break
        offset += len(line) + 2
    assert first_boundary_line is not None
    for n in (0, 1, first_boundary_line, first_boundary_line + 1, 5000):
        _, lines, _ = c.top(1, n)
        want = header.split(b"\r\n") + [b""] + body_lines[:n]
        assert lines == want, "TOP 1 %d" % n
    c.quit()


# --------------------------------------------------------------------------- timeouts

class Slow:
    """A TLS client with a small receive buffer (the server cannot hand it a long answer
    at once) on a server whose network process's clock the fault shim moves: while the
    client reads the start of a long answer, the clock goes forward STEP seconds every
    64 KiB, until it is PAST seconds ahead (more than the idle timeout since the client's
    command).  The server's socket is writable again only once a good part of its send
    buffer (4 MB at most) has gone, so the steps are small enough that 150 of them (9.4
    MB read) stay below the timeout: the server writes far more often than that (64
    steps, 4 MB, left too little room: a run on a loaded machine lost its connection)."""

    def __init__(self, p, role, rules, step, past):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.settimeout(60)
        s.connect((p.host, p.ports[role]))
        self.s = tls_context().wrap_socket(s)
        self.f = self.s.makefile("rb")
        self.rules, self.step, self.past = rules, step, past

    def send(self, line):
        self.s.sendall(line.encode() + b"\r\n")

    def line(self):
        return self.f.readline()

    def read_slowly(self, n):
        data = bytearray()
        skew = 0
        while skew < self.past:
            data += self.f.read(min(65536, n - len(data)))
            skew += self.step
            self.rules.write_text("clock %d network\n" % skew)
        assert len(data) < n, "the answer was read before the clock had gone far enough"
        data += self.f.read(n - len(data))
        assert len(data) == n, "the connection ended after %d of %d octets" % (len(data), n)
        return bytes(data)

    def close(self):
        self.s.close()


def clocked_server(petrel_factory, tmp_path, role):
    """A Petrel with a ROLE listener whose network process runs on the fault shim's
    clock, and a 24 MB message (far more than the socket buffers hold) delivered to the
    first account; the clock rules' file and the message."""
    p = petrel_factory(start=False)
    add_listeners(p, role)
    rules = tmp_path / "clock-rules"
    rules.write_text("clock 0 network\n")
    p.extra_env = {**fault_env(rules), "PETREL_FAULT_CLOCK": "network"}
    p.start()
    message, _, _ = build_message(24 * 1024 * 1024)
    path = tmp_path / "long.eml"
    path.write_bytes(message)
    deliver(p, ACCOUNTS[0], path, "1.M1P1.long")
    return p, rules, message


def test_pop3_slow_reader_is_not_idle(petrel_factory, tmp_path):
    """A client that takes longer than [pop3] idle_timeout (600 s) to read a RETR it is
    reading steadily is not idle: it gets the whole message, and its next command is
    answered."""
    p, rules, message = clocked_server(petrel_factory, tmp_path, "pop3s")
    c = Slow(p, "pop3s", rules, step=4, past=660)
    assert c.line().startswith(b"+OK")
    c.send("USER " + ACCOUNTS[0])
    assert c.line().startswith(b"+OK")
    c.send("PASS " + PASSWORD)
    assert c.line().startswith(b"+OK")
    c.send("RETR 1")
    assert c.line().startswith(b"+OK")
    wire = dot_stuff(message) + b".\r\n"
    assert sha(c.read_slowly(len(wire))) == sha(wire)
    c.send("NOOP")
    assert c.line().startswith(b"+OK")
    c.send("QUIT")
    assert c.line().startswith(b"+OK")
    c.close()


def test_imap_slow_reader_is_not_inactive(petrel_factory, tmp_path):
    """The same for a FETCH and [imap] idle_timeout (1800 s, RFC 9051 5.4 autologout)."""
    p, rules, message = clocked_server(petrel_factory, tmp_path, "imaps")
    c = Slow(p, "imaps", rules, step=12, past=1920)
    assert c.line().startswith(b"* OK")
    c.send('a LOGIN "%s" "%s"' % (ACCOUNTS[0], PASSWORD))
    while not c.line().startswith(b"a OK"):
        pass
    c.send("b EXAMINE INBOX")
    while not c.line().startswith(b"b OK"):
        pass
    c.send("c UID FETCH 1 (BODY.PEEK[])")
    first = c.line()
    assert first.endswith(b"BODY[] {%d}\r\n" % len(message)), first
    assert sha(c.read_slowly(len(message))) == sha(message)
    assert c.line() == b")\r\n"
    assert c.line().startswith(b"c OK")
    c.send("d NOOP")
    assert c.line().startswith(b"d OK")
    c.close()


def test_imap_client_that_never_reads_under_compress_is_closed(petrel_factory, tmp_path):
    """A client that asks for a long FETCH through COMPRESS=DEFLATE (RFC 4978) and then
    reads nothing is not one that reads slowly: the write timeout ([imap] idle_timeout
    without progress) ends it, though the deflate filter hands the session's output on
    to the socket's buffer below it at once.  The message is random (it does not deflate
    into the socket buffers); the fault shim moves the clock on by 30 minutes at a time,
    up to 2.5 hours: the session gets its autologout and is gone."""
    p, rules, _ = clocked_server(petrel_factory, tmp_path, "imaps")
    noise = base64.encodebytes(os.urandom(18 * 1024 * 1024)).replace(b"\n", b"\r\n")
    path = tmp_path / "noise.eml"
    path.write_bytes(b"From: n@example.org\r\nSubject: noise\r\n\r\n" + noise)
    deliver(p, ACCOUNTS[0], path, "2.M2P2.noise")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(60)
    s.connect((p.host, p.ports["imaps"]))
    s = tls_context().wrap_socket(s)
    imap_login_compressed(s)
    out = zlib.compressobj(6, zlib.DEFLATED, -15)
    s.sendall(out.compress(b"c EXAMINE INBOX\r\nd UID FETCH 2 (BODY.PEEK[])\r\n") +
              out.flush(zlib.Z_SYNC_FLUSH))
    # the answer under way: the client's socket buffer holds its start
    deadline = time.monotonic() + 30
    while int.from_bytes(fcntl.ioctl(s.fileno(), termios.FIONREAD, b"\0" * 4), "little") < 32768:
        assert time.monotonic() < deadline, "the FETCH did not start"
        time.sleep(0.05)
    for skew in (1801, 3602, 5403, 7204, 9005):
        rules.write_text("clock %d network\n" % skew)
        # round trips of other sessions: the loop ran on that clock (one whose handshake
        # timer was armed just before the jump is cut: it does not count)
        done = 0
        for _ in range(10):
            other = socket.create_connection((p.host, p.ports["imaps"]), timeout=30)
            try:
                other = tls_context().wrap_socket(other)
                done += other.recv(4096).startswith(b"* OK")
            except (ssl.SSLError, OSError):
                pass
            other.close()
            if done == 3:
                break
        assert done == 3
    log = p.wait_log(r"autologout session=", timeout=20)
    m = re.search(r"autologout session=(\S+)", log)
    assert m, "the client that reads nothing stays"
    log = p.wait_log(r"disconnect session=%s " % m.group(1), timeout=20)
    assert re.search(r"disconnect session=%s " % m.group(1), log), \
        "the BYE it does not read keeps it open"
    s.close()
