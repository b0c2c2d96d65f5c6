#!/usr/bin/python3
"""IMAP: Petrel against Dovecot (Debian's dovecot-imapd), side by side on loopback.

Issue 10's target: "SELECT of a 100,000-message mailbox, FETCH 1:* (FLAGS ENVELOPE),
UID SEARCH by header and by body text, APPEND of 10,000 messages by 10 clients, and 1,000
concurrent IDLE sessions with a delivery to each: Petrel at least as fast as Dovecot on
each, with less memory."

- One generated Maildir (--messages, 100,000: ~4 KiB messages with varied From, To, Cc,
  Subject (some as RFC 2047 encoded words), Date, Message-ID, In-Reply-To; bodies of
  plain text) is copied (cp -a) to both servers' INBOX, before either starts: each builds
  its own index from the bare Maildir at its first SELECT.
- Dovecot runs from a generated configuration in the bench's temp folder (its own
  base_dir, state_dir, log files, a passwd-file, mail_location = maildir:, imap and lmtp
  on free loopback ports, no TLS), never the system's dovecot service.
- Petrel runs as bench.py runs it (its release build, log_level info, 8 workers), with
  an `imap` listener, AUTH without TLS on loopback, and `[imap] sessions_per_account`
  raised for the IDLE row.
- Rows (see bench/README.md for the method): the first SELECT (index built from the
  Maildir) and the first FETCH / SEARCH after it, then --rounds warm rounds of each on a
  new connection, the servers' order alternating round by round; APPEND of --appends
  messages by --append-clients clients (each its own connection, one APPEND at a time
  with a LITERAL+ literal, into a new folder per round); --idle IDLE sessions, one per
  account, then --idle-rounds deliveries of one message to each account (Petrel: SMTP to
  its mx listener; Dovecot: LMTP to its lmtp service; 10 client connections each) timed
  until every session has seen the EXISTS.
- Memory: the peak over each row of the sum of the resident sizes (RSS) of all the
  server's processes (Dovecot: master, log, config, anvil, auth, login and one imap per
  session; Petrel: supervisor, auth, keys, network), sampled every 0.2 s, and the same
  sum of PSS (shared pages divided among their sharers).  Each server's idle floor (a
  second after its start, before any session: RSS, PSS and USS, the pages only one
  process maps) is printed with the table.

Usage: /usr/bin/python3 bench/imap.py --petrel build/petrel [--messages N] [--idle N]
       [--rounds N] [--json FILE]
"""

import argparse
import base64
import concurrent.futures
import json
import os
import pwd
import grp
import random
import re
import resource
import selectors
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # sha512-crypt for both servers' password files (Python 3.11 has it)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402 (Petrel, Sampler, free_port, process_tree, helpers)

DOMAIN = bench.DOMAIN
USER = bench.RCPT                      # the account with the big INBOX
PASSWORD = "bench-password"
IDLE_FMT = "idle%04d@" + DOMAIN        # the IDLE row's accounts
SENDER = bench.SENDER
DOVECOT = "/usr/sbin/dovecot"
log = bench.log
BenchError = bench.BenchError


# --------------------------------------------------------------------------
# the messages

FIRST = ("Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy "
         "Rupert Sybil Trent Victor Walter Yvonne Zoe Chen Priya Tomasz Ingrid Kwame Lucia "
         "Mateo Noor Sven").split()
LAST = ("Smith Jones Brown Taylor Wilson Davies Evans Thomas Roberts Walker Nowak Rossi "
        "Garcia Muller Dubois Silva Kim Tanaka Okafor Larsen Novak Horvat Jensen Costa "
        "Fischer Moreau Ivanova Haddad Singh Murphy").split()
DOMAINS = ("example.org example.com example.net mail.example.org lists.example.com "
           "corp.example.net uni.example.edu shop.example.com dev.example.org "
           "news.example.net").split()
PROJECTS = ("Apollo Borealis Cassini Dynamo Ember Fjord Gemini Halcyon Juniper Kestrel "
            "Lumen Meridian Nimbus Obsidian Polaris Quartz Riviera Sequoia Tundra Umbra "
            "Vanguard Willow Xenon Yarrow Zenith Atlas Beacon Cobalt Delta Everest").split()
WORDS = ("the of and to in is that for it as was with be by on not he this are or his "
         "from at which but have an they you were her she there been one all we their "
         "has would when if so what no more out up said about into than them can only "
         "other new some could time these two may then do first any my now such like our "
         "over man me even most made after also did many before must through back years "
         "where much your way well down should because each just those people how too "
         "little state good very make world still own see men work long get here between "
         "both life being under never day same another know while last might us great old "
         "year off come since against go came right used take three budget review deploy "
         "server release meeting schedule invoice report draft customer contract update "
         "network storage backup quarterly forecast design feedback support ticket issue "
         "patch version branch merge kernel latency throughput memory database index "
         "query cache cluster replica failover monitor alert dashboard metric").split()
TEMPLATES = ("Re: {p} status update", "Meeting notes: {p} {w} {w}", "Fwd: {w} {w} for {p}",
             "[{p}] build {n} failed", "Invoice {n} for the {p} project",
             "Question about {w} {w}", "Re: Re: {w} {w} {w}", "{p}: {w} review on {day}",
             "Lunch on {day}?", "Your {w} report for week {n}")
DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
# what the SEARCH rows look for: one project's name in Subject (about 1 message in 35;
# some of them only inside an encoded word), and a word put into 1 body in 200
SUBJECT_TERM = "Kestrel"
BODY_TERM = "xylographer"


def person(rnd):
    f, l = rnd.choice(FIRST), rnd.choice(LAST)
    return f, l, "%s.%s@%s" % (f.lower(), l.lower(), rnd.choice(DOMAINS))


def encoded_word(text):
    """RFC 2047 B encoding of a UTF-8 text."""
    return "=?UTF-8?B?%s?=" % base64.b64encode(text.encode()).decode()


def make_lines(rnd, count=3000):
    """Lines of body text, 50..76 characters, to draw bodies from."""
    lines = []
    for _ in range(count):
        words, n = [], 0
        target = rnd.randint(50, 76)
        while n < target:
            w = rnd.choice(WORDS)
            words.append(w)
            n += len(w) + 1
        line = " ".join(words)
        lines.append(line[0].upper() + line[1:])
    return lines


def make_message(rnd, lines, i, when):
    """(bytes, flags letters, unix time) of message i: headers, a ~4 KiB body."""
    f, l, addr = person(rnd)
    tos = [person(rnd) for _ in range(rnd.randint(1, 3))]
    subj = rnd.choice(TEMPLATES).format(p=rnd.choice(PROJECTS), w=rnd.choice(WORDS),
                                        n=rnd.randint(1, 9999), day=rnd.choice(DAYS))
    if rnd.random() < 0.1:
        subj = encoded_word(subj + " \u2013 r\u00e9sum\u00e9")
    tm = time.gmtime(when)
    date = "%s, %d %s %d %02d:%02d:%02d +0000" % (DAYS[tm.tm_wday], tm.tm_mday,
                                                  MONTHS[tm.tm_mon - 1], tm.tm_year,
                                                  tm.tm_hour, tm.tm_min, tm.tm_sec)
    h = ["Return-Path: <%s>" % addr,
         "Received: from mx.%s (mx.%s [192.0.2.%d]) by bench.test; %s"
         % (addr.split("@")[1], addr.split("@")[1], rnd.randint(1, 254), date),
         "From: %s %s <%s>" % (f, l, addr),
         "To: " + ", ".join('"%s %s" <%s>' % t for t in tos),
         "Subject: " + subj,
         "Date: " + date,
         "Message-ID: <%d.%08x@%s>" % (i, rnd.getrandbits(32), addr.split("@")[1])]
    if rnd.random() < 0.3:
        c = person(rnd)
        h.append("Cc: %s %s <%s>" % c)
    if rnd.random() < 0.4:
        h.append("In-Reply-To: <%d.%08x@%s>" % (rnd.randint(0, i + 1), rnd.getrandbits(32),
                                                rnd.choice(DOMAINS)))
    h += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
          "Content-Transfer-Encoding: 7bit"]
    body = rnd.choices(lines, k=rnd.randint(35, 70))
    if rnd.random() < 0.005:
        k = rnd.randrange(len(body))
        body[k] = body[k] + " " + BODY_TERM
    text = "\r\n".join(h) + "\r\n\r\n" + "\r\n".join(body) + "\r\n"
    r = rnd.random()
    flags = "S" if r < 0.7 else ("FS" if r < 0.75 else ("RS" if r < 0.85 else ""))
    return text.encode(), flags


def write_maildir(path, count, seed=10):
    """A Maildir of `count` generated messages in cur/ (named as a Maildir writer names
    them, with ,S=size; the file's mtime is its Date:), for both servers to copy."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    rnd = random.Random(seed)
    lines = make_lines(rnd)
    start = 1733000000 - count * 600
    total = 0
    for i in range(count):
        when = start + i * 600 + rnd.randint(0, 599)
        data, flags = make_message(rnd, lines, i, when)
        name = "%d.M%dP%d.bench.test,S=%d:2,%s" % (when, i, 4242, len(data), flags)
        p = os.path.join(path, "cur", name)
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (when, when))
        total += len(data)
    return total


def append_messages(count, seed=11):
    """Messages for the APPEND row (the same generator, another seed)."""
    rnd = random.Random(seed)
    lines = make_lines(rnd, 500)
    return [make_message(rnd, lines, i, 1733000000 + i)[0] for i in range(count)]


# --------------------------------------------------------------------------
# a small blocking IMAP client

class Imap:
    """One IMAP connection: commands one at a time, responses read as a byte stream
    (literals skipped by their length), untagged lines kept only when asked."""

    def __init__(self, port, timeout=1800):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = bytearray()
        self.n = 0
        self.greeting = self.readline()
        if not self.greeting.startswith(b"* OK"):
            raise BenchError("IMAP greeting on port %d: %r" % (port, self.greeting[:200]))

    def fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise BenchError("IMAP connection closed by the server")
        self.buf += chunk

    def readline(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self.fill()

    def send(self, data):
        self.s.sendall(data)

    def wait(self, tag, keep=False):
        """Read until the tagged response of `tag`; (its line, untagged lines kept or
        None, number of untagged responses)."""
        tagb = tag.encode() + b" "
        kept = [] if keep else None
        count = 0
        buf = self.buf
        pos = 0
        cur = bytearray() if keep else None   # a response line with its literals
        while True:
            i = buf.find(b"\r\n", pos)
            if i < 0:
                del buf[:pos]
                pos = 0
                self.fill()
                continue
            line = buf[pos:i]
            m = re.search(rb"\{(\d+)\+?\}$", line[-24:]) if line.endswith(b"}") else None
            if m:   # a literal follows: skip it, the response goes on after it
                end = i + 2 + int(m.group(1))
                while len(buf) < end:
                    self.fill()
                if keep:
                    cur += buf[pos:end]
                pos = end
                continue
            pos = i + 2
            if line.startswith(tagb) and (cur is None or not cur):
                del buf[:pos]
                return bytes(line), kept, count
            count += 1
            if keep:
                cur += line
                kept.append(bytes(cur))
                cur = bytearray()

    def cmd(self, tag, text, keep=False, ok=True):
        self.send(("%s %s\r\n" % (tag, text)).encode())
        line, kept, count = self.wait(tag, keep)
        if ok and not line.startswith(tag.encode() + b" OK"):
            raise BenchError("IMAP %s %s: %s" % (tag, text[:60], line[:300]))
        return line, kept, count

    def login(self, user, password=PASSWORD):
        self.cmd("L", "LOGIN \"%s\" \"%s\"" % (user, password))

    def close(self):
        try:
            self.send(b"Z LOGOUT\r\n")
        except OSError:
            pass
        self.s.close()


def timed_cmd(conn, tag, text, keep=False):
    t0 = time.monotonic()
    line, kept, count = conn.cmd(tag, text, keep)
    return time.monotonic() - t0, kept, count


def search_hits(kept):
    """UIDs in the `* SEARCH` (or `* ESEARCH ... ALL`) answer."""
    n = 0
    for l in kept or []:
        if l.startswith(b"* SEARCH"):
            n += len(l.split()) - 2
    return n


# --------------------------------------------------------------------------
# the servers

DOVECOT_CONF = """\
# generated by bench/imap.py: an unprivileged Dovecot confined to {root}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot-info.log
instance_name = petrel-bench-{port}
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{mail}/%d/%n
# the default, said here: each saved file fsync'ed, new/ or cur/ fdatasync'ed, as Petrel
mail_fsync = optimized
mail_max_userip_connections = 100000
default_process_limit = {procs}
default_client_limit = {procs}
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {root}/users
}}
userdb {{
  driver = passwd-file
  args = {root}/users
  default_fields = uid={uid} gid={gid} home={mail}/%d/%n
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service anvil {{
  chroot =
  client_limit = {clients}
}}
service auth {{
  client_limit = {clients}
}}
"""


class Dovecot:
    """dovecot -F -c CONF: the master and its children, all under self.root."""

    def __init__(self, tmp, users):
        self.root = os.path.join(tmp, "dovecot")
        self.mail = os.path.join(self.root, "mail")
        self.conf = os.path.join(self.root, "dovecot.conf")
        self.port = bench.free_port()
        self.lmtp_port = bench.free_port()
        self.users = users
        self.proc = None
        self.name = "dovecot"

    def maildir(self, user):
        local, domain = user.split("@")
        return os.path.join(self.mail, domain, local)

    def write(self, hashed):
        os.makedirs(self.mail, exist_ok=True)
        if os.geteuid() == 0:
            # root: the login and internal processes as Debian's own users, the mail
            # processes as nobody (Dovecot refuses uid 0 for mail); the auth process
            # reads the passwd-file
            internal, login = "dovecot", "dovenull"
            nobody = pwd.getpwnam("nobody")
            uid, gid = nobody.pw_uid, nobody.pw_gid
            for d in (os.path.dirname(self.root), self.root):
                os.chmod(d, 0o755)
        else:
            me = pwd.getpwuid(os.getuid()).pw_name
            internal = login = me
            uid, gid = os.getuid(), os.getgid()
        with open(os.path.join(self.root, "users"), "w") as f:
            for u in self.users:
                f.write("%s:%s::::::\n" % (u, hashed))
        os.chmod(os.path.join(self.root, "users"), 0o644)
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(root=self.root, mail=self.mail, port=self.port,
                                        lmtp_port=self.lmtp_port, internal_user=internal,
                                        internal_group=grp.getgrgid(
                                            pwd.getpwnam(internal).pw_gid).gr_name,
                                        login_user=login, uid=uid, gid=gid,
                                        procs=len(self.users) + 200,
                                        clients=4 * (len(self.users) + 200)))
        self.uid, self.gid = uid, gid

    def own(self):
        """The mail folders belong to the mail user (after the Maildir is copied)."""
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "%d:%d" % (self.uid, self.gid), self.mail],
                           check=True)

    def start(self):
        self.logf = open(os.path.join(self.root, "dovecot.stderr"), "wb")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_imap(self.port, 30, self.proc, self.log_tail)

    def pids(self):
        if self.proc is None or self.proc.poll() is not None:
            return []
        return bench.process_tree(self.proc.pid)

    def log_tail(self, n=2000):
        out = ""
        for name in ("dovecot.stderr", "dovecot.log"):
            try:
                with open(os.path.join(self.root, name), "rb") as f:
                    out += f.read()[-n:].decode("utf-8", "replace")
            except OSError:
                pass
        return out.strip()

    def deliver(self, rcpts, msg, clients):
        deliver_parallel(lambda: smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=300),
                         rcpts, msg, clients)

    def stop(self):
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        p.terminate()
        try:
            status = p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.wait(5)
            status = None
        self.logf.close()
        return status


PETREL_EXTRA = """
[auth]
plaintext_loopback = true

[imap]
sessions_per_account = {sessions}

[mailbox]
cache_size = {cache_size}

[listener imap]
role = imap
address = 127.0.0.1:{imap_port}
"""


class PetrelImap:
    """bench.Petrel (mx listener for delivery by SMTP) with an imap listener."""

    def __init__(self, binary, tmp, sessions, workers, log_level, cache_size):
        self.pt = bench.Petrel(binary, tmp, bench.free_port(), workers, log_level)
        self.port = bench.free_port()
        self.pt.extra_conf = PETREL_EXTRA.format(sessions=sessions, imap_port=self.port,
                                                 cache_size=cache_size)
        self.name = "petrel"

    def maildir(self, user):
        local, domain = user.split("@")
        return os.path.join(self.pt.data, "mail", domain, local)

    def write(self, hashed, users):
        self.pt.write_conf()
        for u in users:
            r = subprocess.run([self.pt.binary, "account", "add", u, "--password-hash",
                                hashed, "-c", self.pt.conf], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=60)
            if r.returncode != 0 and "exist" not in r.stdout:
                raise BenchError("petrel account add %s: %s" % (u, r.stdout.strip()))

    def start(self):
        self.pt.launch()
        bench.wait_banner("127.0.0.1", self.pt.port, 30, self.pt.proc)
        self.pt.wait_network()
        wait_imap(self.port, 30, self.pt.proc, self.pt.log_tail)

    def pids(self):
        return bench.process_tree(self.pt.proc.pid) if self.pt.alive() else []

    def log_tail(self):
        return self.pt.log_tail()

    def deliver(self, rcpts, msg, clients):
        deliver_parallel(lambda: smtplib.SMTP("127.0.0.1", self.pt.port, timeout=300),
                         rcpts, msg, clients)

    def stop(self):
        return self.pt.stop(seconds=60)[1]


def wait_imap(port, seconds, proc, tail):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError("server exited (%s) before answering on port %d: %s"
                             % (proc.returncode, port, tail()))
        try:
            Imap(port, timeout=2).close()
            return
        except (OSError, BenchError):
            time.sleep(0.1)
    raise BenchError("no IMAP greeting on port %d within %d s: %s" % (port, seconds, tail()))


def deliver_parallel(connect, rcpts, msg, clients):
    """One message to each recipient, one transaction each, over `clients` connections
    (SMTP or LMTP) in threads."""
    errors = []

    def worker(part):
        try:
            c = connect()
            c.ehlo("bench.client.test") if not isinstance(c, smtplib.LMTP) else \
                c.ehlo_or_helo_if_needed()
            for r in part:
                c.sendmail(SENDER, [r], msg)
            c.quit()
        except (OSError, smtplib.SMTPException) as e:
            errors.append("%s: %s" % (type(e).__name__, e))

    threads = [threading.Thread(target=worker, args=(rcpts[i::clients],))
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise BenchError("delivery: %s" % errors[0])


# --------------------------------------------------------------------------
# the rows

def sampled(server, fn):
    """Run fn() with a memory sampler on the server's processes; (fn's result, peak RSS
    sum KiB, peak PSS sum KiB, processes at the peak).  The disk is settled first
    (bench.settle_disk, not timed): no row pays for the writes of the one before it,
    the other server's included.  Sampled before and after fn(), and by the thread from
    0.2 s on: a command of a millisecond runs with no sampling beside it."""
    bench.settle_disk()
    s = bench.Sampler(server.pids, interval=0.2, first_delay=0.2)
    s.sample(pss=True)
    s.start()
    try:
        out = fn()
    finally:
        s.stop()
    s.sample(pss=True)
    return out, s.peak_kib, s.peak_pss_kib, s.peak_nproc


def record_floor(res, server):
    """The server's idle floor, before any session: its processes, their summed RSS, PSS
    and USS (the pages only one process maps), KiB."""
    pids = server.pids()
    res.setdefault("floor", {})[server.name] = {
        "nproc": len(pids), "rss_kib": sum(bench.rss_kib(p) for p in pids),
        "pss_kib": sum(bench.pss_kib(p) for p in pids),
        "uss_kib": sum(bench.uss_kib(p) for p in pids)}


def record(res, row, server, seconds, mem, extra=None):
    r = res["rows"].setdefault(row, {}).setdefault(server.name, {"runs": []})
    run = {"seconds": round(seconds, 4), "rss_kib": mem[0], "pss_kib": mem[1],
           "nproc": mem[2]}
    if extra:
        run.update(extra)
    r["runs"].append(run)
    log("imap: %-22s %-7s %8.3f s  rss %7.1f MiB  pss %7.1f MiB  %s" % (
        row, server.name, seconds, mem[0] / 1024.0, mem[1] / 1024.0,
        " ".join("%s=%s" % kv for kv in (extra or {}).items())))


def mailbox_rows(server, res, first, n):
    """SELECT, FETCH 1:* (FLAGS ENVELOPE), UID SEARCH HEADER Subject, UID SEARCH BODY,
    each on one new connection; the rows are called 'first ...' the first time."""
    pre = "first " if first else ""
    c = Imap(server.port)
    try:
        c.login(USER)
        steps = [("SELECT", "SELECT INBOX", False),
                 ("FETCH", "FETCH 1:* (FLAGS ENVELOPE)", False),
                 ("SEARCH HEADER", "UID SEARCH HEADER Subject \"%s\"" % SUBJECT_TERM, True),
                 ("SEARCH BODY", "UID SEARCH BODY \"%s\"" % BODY_TERM, True)]
        for i, (row, text, keep) in enumerate(steps):
            (dt, kept, count), rss, pss, nproc = sampled(
                server, lambda: timed_cmd(c, "C%d" % i, text, keep))
            extra = {}
            if row == "FETCH":
                extra["responses"] = count
                if count != n:
                    log("imap: WARNING %s FETCH answered %d responses for %d messages"
                        % (server.name, count, n))
            if keep:
                extra["hits"] = search_hits(kept)
            record(res, pre + row, server, dt, (rss, pss, nproc), extra)
    finally:
        c.close()


def first_select_row(server, res, folder):
    """SELECT of FOLDER, a fresh copy of the generated Maildir (no index yet), on a
    new connection: the 'first SELECT' row again, for --first-rounds."""
    c = Imap(server.port)
    try:
        c.login(USER)
        (dt, kept, count), rss, pss, nproc = sampled(
            server, lambda: timed_cmd(c, "F1", "SELECT %s" % folder))
        record(res, "first SELECT, more rounds", server, dt, (rss, pss, nproc))
    finally:
        c.close()


def append_row(server, res, msgs, clients, folder):
    """`clients` connections of USER, each APPENDing its share of msgs into `folder`
    one after another (LITERAL+); the msg/s from the first command to the last OK."""
    setup = Imap(server.port)
    setup.login(USER)
    setup.cmd("K", "CREATE %s" % folder)
    conns = []
    for _ in range(clients):
        c = Imap(server.port)
        c.login(USER)
        conns.append(c)
    errors = []
    barrier = threading.Barrier(clients + 1)

    def worker(c, part):
        try:
            barrier.wait()
            for j, m in enumerate(part):
                tag = "A%d" % j
                c.send(b"%s APPEND %s (\\Seen) {%d+}\r\n%s\r\n"
                       % (tag.encode(), folder.encode(), len(m), m))
                line, _, _ = c.wait(tag)
                if not line.startswith(tag.encode() + b" OK"):
                    raise BenchError("APPEND: %s" % line[:200])
        except (OSError, BenchError, threading.BrokenBarrierError) as e:
            errors.append(str(e))

    threads = [threading.Thread(target=worker, args=(c, msgs[i::clients]))
               for i, c in enumerate(conns)]
    for t in threads:
        t.start()

    def go():
        barrier.wait()
        t0 = time.monotonic()
        for t in threads:
            t.join()
        return time.monotonic() - t0

    dt, rss, pss, nproc = sampled(server, go)
    _, kept, _ = setup.cmd("S", "STATUS %s (MESSAGES)" % folder, keep=True)
    for c in conns + [setup]:
        c.close()
    if errors:
        raise BenchError("%s APPEND: %s" % (server.name, errors[0]))
    got = re.search(rb"MESSAGES (\d+)", b" ".join(kept or []))
    record(res, "APPEND", server, dt, (rss, pss, nproc),
           {"msgs_per_sec": round(len(msgs) / dt, 1),
            "stored": int(got.group(1)) if got else None})


def idle_setup(server, user):
    """A connection of `user` with INBOX selected, in IDLE; (socket, EXISTS at select)."""
    c = Imap(server.port, timeout=300)
    c.login(user)
    _, kept, _ = c.cmd("S", "SELECT INBOX", keep=True)
    exists = 0
    for l in kept:
        m = re.match(rb"\* (\d+) EXISTS", l)
        if m:
            exists = int(m.group(1))
    c.send(b"I IDLE\r\n")
    line = c.readline()
    while not line.startswith(b"+"):
        line = c.readline()
    if c.buf:
        raise BenchError("unexpected data after IDLE's continuation: %r" % bytes(c.buf[:100]))
    c.s.setblocking(False)
    return c.s, exists


def idle_row(server, res, users, rounds, clients, msg, timeout):
    """len(users) sessions in IDLE, one per account; then `rounds` times a delivery of
    one message to every account, timed from its start until every session has seen
    its EXISTS.  Memory sampled from before the first login to the end."""
    # every 0.5 s: a sample reads /proc for each of Dovecot's thousand processes
    sampler = bench.Sampler(server.pids, interval=0.5)
    sampler.start()
    socks = []
    try:
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            socks = list(ex.map(lambda u: idle_setup(server, u), users))
        setup_s = time.monotonic() - t0
        log("imap: %s: %d IDLE sessions in %.1f s" % (server.name, len(socks), setup_s))
        pids = server.pids()
        idle_rss = sum(bench.rss_kib(p) for p in pids)
        idle_pss = sum(bench.pss_kib(p) for p in pids)
        sel = selectors.DefaultSelector()
        state = {}
        for i, (s, exists) in enumerate(socks):
            sel.register(s, selectors.EVENT_READ, i)
            state[i] = [exists, b""]
        for rnd in range(rounds):
            want = {i: st[0] + 1 for i, st in state.items()}
            left = set(state)
            lag = []
            done = threading.Event()
            sent = {}
            bench.settle_disk()
            t_start = time.monotonic()

            def deliver():
                server.deliver(users, msg, clients)
                sent["t"] = time.monotonic()
                done.set()

            th = threading.Thread(target=deliver)
            th.start()
            deadline = t_start + timeout
            while left and time.monotonic() < deadline:
                for key, _ in sel.select(0.5):
                    i = key.data
                    try:
                        data = key.fileobj.recv(65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        raise BenchError("%s closed IDLE session %d" % (server.name, i))
                    st = state[i]
                    st[1] += data
                    for m in re.finditer(rb"\* (\d+) EXISTS", st[1]):
                        st[0] = max(st[0], int(m.group(1)))
                    st[1] = st[1][-64:]
                    if i in left and st[0] >= want[i]:
                        left.discard(i)
                        lag.append(time.monotonic() - t_start)
            t_all = time.monotonic() - t_start
            th.join(timeout)
            if left:
                raise BenchError("%s: %d of %d IDLE sessions got no EXISTS within %d s"
                                 % (server.name, len(left), len(users), timeout))
            record(res, "IDLE", server, t_all, (sampler.peak_kib, sampler.peak_pss_kib,
                                                sampler.peak_nproc),
                   {"delivered_s": round(sent.get("t", t_start) - t_start, 3),
                    "first_exists_s": round(min(lag), 3),
                    "median_exists_s": round(statistics.median(lag), 3),
                    "setup_s": round(setup_s, 1), "idle_rss_kib": idle_rss,
                    "idle_pss_kib": idle_pss})
    finally:
        sampler.stop()
        for s, _ in socks:
            try:
                s.setblocking(True)
                s.settimeout(5)
                s.sendall(b"DONE\r\nZ LOGOUT\r\n")
            except OSError:
                pass
            s.close()


# --------------------------------------------------------------------------
# the table

ROWS = ("first SELECT", "first SELECT, more rounds", "first FETCH", "first SEARCH HEADER", "first SEARCH BODY",
        "SELECT", "FETCH", "SEARCH HEADER", "SEARCH BODY", "APPEND", "IDLE")


def summary(runs, key):
    v = sorted(r[key] for r in runs)
    return statistics.median(v), v[0], v[-1]


def fmt_t(s):
    return "%.3f s" % s if s < 10 else "%.1f s" % s


def report(res):
    print()
    print("IMAP, Dovecot %s against Petrel: %d messages in INBOX (%.0f MiB), APPEND %d by "
          "%d clients, %d IDLE sessions; %d rounds (first rows: once)" % (
              res.get("dovecot_version", "?"), res["messages"],
              res.get("maildir_bytes", 0) / 1048576.0, res["appends"], res["append_clients"],
              res["idle"], res["rounds"]))
    print("time: median (min-max); ratio = Dovecot / Petrel (> 1: Petrel faster); memory: "
          "peak sum of RSS of all the server's processes during the row (PSS in brackets)")
    print("%-20s | %-26s | %-26s | %6s | %-22s | %-22s | %6s" % (
        "row", "Dovecot", "Petrel", "ratio", "Dovecot RSS (PSS) MiB",
        "Petrel RSS (PSS) MiB", "mem"))
    res["table"] = {}
    for row in ROWS:
        r = res["rows"].get(row)
        if not r or "dovecot" not in r or "petrel" not in r:
            continue
        d, p = r["dovecot"]["runs"], r["petrel"]["runs"]
        if row == "APPEND":
            dm, p_ = summary(d, "msgs_per_sec"), summary(p, "msgs_per_sec")
            ratio = p_[0] / dm[0] if dm[0] else 0
            ds = "%.0f msg/s (%.0f-%.0f)" % dm
            ps = "%.0f msg/s (%.0f-%.0f)" % p_
        else:
            dm, p_ = summary(d, "seconds"), summary(p, "seconds")
            ratio = dm[0] / p_[0] if p_[0] else 0
            ds = "%s (%s-%s)" % tuple(fmt_t(x) for x in dm) if len(d) > 1 else fmt_t(dm[0])
            ps = "%s (%s-%s)" % tuple(fmt_t(x) for x in p_) if len(p) > 1 else fmt_t(p_[0])
        dr, pr = max(x["rss_kib"] for x in d), max(x["rss_kib"] for x in p)
        dp, pp = max(x["pss_kib"] for x in d), max(x["pss_kib"] for x in p)
        mem = dr / pr if pr else 0
        res["table"][row] = {"ratio": round(ratio, 2), "mem_ratio": round(mem, 2)}
        print("%-20s | %-26s | %-26s | %5.2fx | %-22s | %-22s | %5.2fx" % (
            row, ds, ps, ratio, "%.1f (%.1f)" % (dr / 1024.0, dp / 1024.0),
            "%.1f (%.1f)" % (pr / 1024.0, pp / 1024.0), mem))
    for k, f in sorted(res.get("floor", {}).items()):
        print("idle floor %s (started, no session): %d processes, %.1f MiB RSS, %.1f PSS, "
              "%.1f USS" % (k, f["nproc"], f["rss_kib"] / 1024.0, f["pss_kib"] / 1024.0,
                            f["uss_kib"] / 1024.0))
    for row in ("SEARCH HEADER", "SEARCH BODY"):
        r = res["rows"].get(row, {})
        hits = {k: sorted({x.get("hits") for x in v["runs"]}) for k, v in r.items()}
        if hits:
            print("%s hits: %s" % (row, ", ".join("%s %s" % kv for kv in sorted(hits.items()))))
    r = res["rows"].get("IDLE", {})
    for k in sorted(r):
        x = r[k]["runs"][0]
        print("IDLE %s: sessions set up in %.1f s; with all of them idle %.1f MiB RSS "
              "(%.1f PSS); deliveries took %s s of the rounds (first EXISTS after %s s)" % (
                  k, x["setup_s"], x["idle_rss_kib"] / 1024.0, x["idle_pss_kib"] / 1024.0,
                  "/".join(str(y["delivered_s"]) for y in r[k]["runs"]),
                  "/".join(str(y["first_exists_s"]) for y in r[k]["runs"])))
    wins = [row for row, t in res["table"].items() if t["ratio"] >= 1 and t["mem_ratio"] >= 1]
    loses = [row for row in res["table"] if row not in wins]
    print("issue 10 target (Petrel at least as fast, with less memory): holds on %s; "
          "not on %s" % (", ".join(wins) or "none", ", ".join(loses) or "none"))


# --------------------------------------------------------------------------

def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < need:
        raise BenchError("file descriptor limit %d < %d needed (ulimit -Hn)" % (soft, need))


INOTIFY = "/proc/sys/fs/inotify/max_user_instances"


def inotify_instances(need):
    """Dovecot's IDLE watches the Maildir with inotify, one instance per imap process;
    all of them run as one user here, and past the per-user limit (128 by default)
    Dovecot falls back to polling every 30 s.  Raise the limit as Dovecot's
    documentation asks (root only; put back at the end).  Returns the old value or
    None."""
    try:
        with open(INOTIFY) as f:
            old = int(f.read())
    except (OSError, ValueError):
        return None
    if old >= need:
        return None
    if os.geteuid() != 0:
        log("imap: WARNING %s is %d < %d: Dovecot's IDLE sessions past it poll every 30 s"
            % (INOTIFY, old, need))
        return None
    with open(INOTIFY, "w") as f:
        f.write(str(need))
    return old


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--petrel", default="build/petrel", help="petrel binary")
    ap.add_argument("--messages", type=int, default=100000,
                    help="messages in the INBOX both servers SELECT (100000)")
    ap.add_argument("--appends", type=int, default=10000, help="messages APPENDed (10000)")
    ap.add_argument("--append-clients", type=int, default=10, help="APPEND clients (10)")
    ap.add_argument("--idle", type=int, default=1000, help="IDLE sessions (1000)")
    ap.add_argument("--idle-rounds", type=int, default=3, help="deliveries to each (3)")
    ap.add_argument("--deliver-clients", type=int, default=10,
                    help="SMTP/LMTP connections delivering to the IDLE accounts (10)")
    ap.add_argument("--rounds", type=int, default=3, help="warm rounds of each row (3)")
    ap.add_argument("--first-rounds", type=int, default=0,
                    help="first SELECTs of fresh copies of the Maildir as folders First0.. "
                    "(0; each copy costs a cp -a of the generated Maildir per server)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply --messages, --appends and --idle (0.1: a quick run)")
    ap.add_argument("--workers", type=int, default=8, help="Petrel workers (8)")
    ap.add_argument("--petrel-log-level", default="info")
    ap.add_argument("--cache-size", default="64M",
                    help="Petrel's [mailbox] cache_size (64M; 0: closed folders not kept)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="bound of one IDLE round, seconds (600)")
    ap.add_argument("--json", metavar="FILE", help="also write results as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args()
    n = max(1, int(args.messages * args.scale))
    appends = max(args.append_clients, int(args.appends * args.scale))
    idle = max(1, int(args.idle * args.scale))
    if not os.path.exists(DOVECOT):
        raise SystemExit("%s not found: scripts/install-deps.sh installs dovecot-imapd"
                         % DOVECOT)
    raise_fd_limit(idle * 2 + 2000)
    old_inotify = inotify_instances(idle + 200)
    tmp = tempfile.mkdtemp(prefix="petrel-imap-bench-")
    ver = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True).stdout
    res = {"messages": n, "appends": appends, "append_clients": args.append_clients,
           "idle": idle, "rounds": args.rounds, "rows": {},
           "dovecot_version": ver.strip(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                    time.gmtime())}
    servers = []
    error = None
    try:
        users = [USER] + [IDLE_FMT % i for i in range(idle)]
        hashed = crypt.crypt(PASSWORD, "$6$rounds=1000$benchsaltbench$")
        gen = os.path.join(tmp, "generated")
        t0 = time.monotonic()
        res["maildir_bytes"] = write_maildir(gen, n)
        log("imap: %d messages (%.0f MiB) generated in %.1f s" % (
            n, res["maildir_bytes"] / 1048576.0, time.monotonic() - t0))
        dc = Dovecot(tmp, users)
        pt = PetrelImap(args.petrel, tmp, idle + 50, args.workers, args.petrel_log_level,
                        args.cache_size)
        dc.write(hashed)
        t0 = time.monotonic()
        pt.write(hashed, users)
        log("imap: %d Petrel accounts added in %.1f s" % (len(users), time.monotonic() - t0))
        # a copy for Dovecot, the generated folder itself for Petrel (removing 100,000
        # files costs minutes where unlink waits for a TRIM: the root file system here
        # is mounted with discard)
        for s in (dc, pt):
            os.makedirs(os.path.dirname(s.maildir(USER)), exist_ok=True)
        subprocess.run(["cp", "-a", gen, dc.maildir(USER)], check=True)
        pristine = os.path.join(tmp, "pristine")
        if args.first_rounds:
            subprocess.run(["cp", "-a", gen, pristine], check=True)
        os.rename(gen, pt.maildir(USER))
        dc.own()
        for s in (dc, pt):
            s.start()
            servers.append(s)
        time.sleep(1)
        for s in (dc, pt):
            record_floor(res, s)
        log("imap: dovecot on %d (lmtp %d), petrel imap on %d (smtp %d)" % (
            dc.port, dc.lmtp_port, pt.port, pt.pt.port))
        both = [dc, pt]
        # the first SELECT builds each server's index from the bare Maildir
        for s in both:
            mailbox_rows(s, res, True, n)
        for r in range(args.first_rounds):
            for s in both:
                subprocess.run(["cp", "-a", pristine,
                                os.path.join(s.maildir(USER), ".First%d" % r)], check=True)
            dc.own()
            for s in (both if r % 2 == 0 else both[::-1]):
                first_select_row(s, res, "First%d" % r)
        for r in range(args.rounds):
            for s in (both if r % 2 == 0 else both[::-1]):
                mailbox_rows(s, res, False, n)
        msgs = append_messages(appends)
        for r in range(args.rounds):
            for s in (both if r % 2 == 0 else both[::-1]):
                append_row(s, res, msgs, args.append_clients, "Append%d" % r)
        msg = append_messages(1, seed=12)[0]
        for s in both:
            idle_row(s, res, users[1:], args.idle_rounds, args.deliver_clients, msg,
                     args.timeout)
    except (BenchError, OSError, subprocess.CalledProcessError) as e:
        error = "%s: %s" % (type(e).__name__, e)
    finally:
        for s in servers:
            status = s.stop()
            if status != 0:
                log("imap: %s exited with status %s: %s" % (s.name, status, s.log_tail()))
        if old_inotify is not None:
            with open(INOTIFY, "w") as f:
                f.write(str(old_inotify))
    report(res)
    if error:
        print("ERROR: " + error)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    sys.stdout.flush()
    if args.keep:
        log("imap: temp folder kept: %s" % tmp)
    else:
        log("imap: removing %s (minutes at full scale where unlink waits for a TRIM)" % tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
