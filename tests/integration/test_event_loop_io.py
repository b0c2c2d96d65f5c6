"""The event loop never waits on the disk (issue 10, item 6): the index and Maildir reads
and writes that can block run on workers.  strace(1) records every thread of the network
process while IMAP sessions (SELECT, FETCH of headers and bodies, SEARCH of headers and
text, STORE, COPY, MOVE, APPEND, EXPUNGE, STATUS, LIST, CREATE, IDLE woken by a delivery),
a POP3 session (LIST, UIDL, TOP, RETR, DELE, RSET) and the HTTP API (a send, the stats, a page)
work on mailboxes that SMTP delivery fills at the same time; its event loop (the process's main thread: its id is the
process's) must have made no system call that opens, reads, writes, lists, looks up,
renames, links, removes or flushes anything in the data folder, where the mailboxes,
their indexes, the queue and the store are.  The workers' calls are counted too, so that
a trace that saw nothing fails rather than passes."""

import poplib
import re
import subprocess
import time

from conftest import SENDER, add_listeners, make_message
from imap_util import PASSWORD, USER, Raw, imap_server, tls_context
from strace_util import Strace
from test_http_send import add_key, request, send

# what can wait on a disk: by path (open, look up, list, rename, link, remove, make a
# folder) or by descriptor (read, write, flush, truncate)
CALLS = ("openat,?open,?openat2,?creat,read,pread64,readv,preadv,?preadv2,write,pwrite64,"
         "writev,pwritev,?pwritev2,fsync,fdatasync,syncfs,renameat,renameat2,?rename,"
         "linkat,?link,unlinkat,?unlink,mkdirat,?mkdir,getdents64,newfstatat,statx,?stat,"
         "?lstat,ftruncate,fallocate")

LINE = re.compile(r"^(\d+) +[\d.]+ (?:<\.\.\. )?(\w+)")


def calls_on(text, data_dir):
    """{tid: [line]} of the trace's lines that name something under DATA_DIR (a path
    argument, or a descriptor's path shown by -y), unix sockets aside."""
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        # a unix socket's -y annotation may carry its path: not the disk
        if m and data_dir in re.sub(r"<UNIX[^>]*>", "", line):
            out.setdefault(int(m.group(1)), []).append(line)
    return out


def deliver(p, n, subject):
    s = p.session("mx")
    try:
        for i in range(n):
            assert s.mail_transaction(SENDER, [USER], make_message(
                "%s %d" % (subject, i), body=b"text of %s %d\r\n" % (subject.encode(), i))
            ).code == 250
        s.quit()
    finally:
        s.close()


def imap_work(p):
    c = Raw(p)
    try:
        c.ok("CREATE Work")
        c.ok("LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))")
        c.ok("SELECT INBOX")
        assert c.append("INBOX", make_message("appended"), "(\\Flagged)")[-1].split()[1] == "OK"
        c.ok("FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE)")
        c.ok("FETCH 1:3 (BODY.PEEK[] BINARY.PEEK[1])")
        c.ok("UID SEARCH HEADER Subject \"early\"")
        c.ok("SEARCH TEXT \"text of\"")
        c.ok("STORE 1:2 +FLAGS (\\Seen)")
        c.ok("COPY 1:2 Work")
        c.ok("MOVE 3 Work")
        c.ok("STORE 1 +FLAGS (\\Deleted)")
        c.ok("EXPUNGE")
        c.ok("STATUS Work (MESSAGES UIDNEXT UNSEEN)")
        # IDLE, woken by a delivery
        c.n += 1
        tag = "t%d" % c.n
        c.send("%s IDLE\r\n" % tag)
        assert c.line().startswith("+ ")
        deliver(p, 1, "late")
        deadline = time.monotonic() + 30
        while not re.match(r"\* \d+ EXISTS", c.line()):
            assert time.monotonic() < deadline
        c.send("DONE\r\n")
        assert c.until(tag)[-1].split()[1] == "OK"
        c.ok("FETCH 1:* (FLAGS)")
        c.ok("LOGOUT")
    finally:
        c.close()


def pop3_work(p, tls=True, timeout=30):
    """A POP3 session of USER (pop3s, or pop3 with plaintext_loopback when not TLS) over
    a mailbox of one message or more: STAT, LIST, UIDL, TOP, RETR, DELE, RSET, DELE."""
    if tls:
        c = poplib.POP3_SSL(p.host, p.ports["pop3s"], context=tls_context(), timeout=timeout)
    else:
        c = poplib.POP3(p.host, p.ports["pop3"], timeout=timeout)
    try:
        c.user(USER)
        c.pass_(PASSWORD)
        count, _ = c.stat()
        assert count >= 1
        c.list()
        c.uidl()
        c.top(1, 1)
        c.retr(count)
        c.dele(count)
        c.rset()
        c.dele(1)
    finally:
        c.quit()


def http_status(p, path, key=None):
    """The status of GET PATH on P's http listener (curl), with KEY as its bearer."""
    args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "60"]
    if key:
        args += ["-H", "Authorization: Bearer " + key]
    out = subprocess.run(args + ["http://127.0.0.1:%d%s" % (p.ports["http"], path)],
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out
    return int(out.stdout)


def http_work(p):
    """/v3/mail/send with an API key, the stats the dashboard reads, a page"""
    key = add_key(p, "mail.send", "stats.read")
    assert send(p, request(), key=key)[0] == 202
    assert http_status(p, "/v3/stats?start_date=2026-01-01", key) == 200
    assert http_status(p, "/login") == 200


def test_event_loop_does_no_disk_io(petrel_factory, tmp_path):
    p = imap_server(petrel_factory, start=False, workers="2")
    add_listeners(p, "pop3s", "http")
    p.start()
    deliver(p, 5, "early")   # mail before the trace: the first SELECT builds the index
    net = p.processes()["network"]
    data_dir = str(p.data_dir)

    tracer = Strace(net, tmp_path / "strace.out", CALLS)
    try:
        imap_work(p)
        deliver(p, 3, "during")
        pop3_work(p)
        http_work(p)
    finally:
        text = tracer.stop()

    found = calls_on(text, data_dir)
    loop = found.pop(net, [])
    workers = sum(len(v) for v in found.values())
    # the workers did the disk work (the trace saw it)
    assert workers >= 50, "only %d calls on the data folder in the trace" % workers
    assert not loop, "the event loop's calls on the data folder:\n" + "\n".join(loop[:40])
