"""Durability order (issue 8, item 2): "250 means durable" and "delivered means durable"
hold at every instant while concurrent sessions share flushes.

strace(1) records the network process (every thread: -f) while several sessions at once
send mail to a local mailbox and to relay sinks (Postfix's smtp-sink, found through
dnsmasq), on a disk made slow by the fault shim (each flush returns SLOW_MS late, so the
commits of the sessions overlap on every run).  From the trace, in the order strace saw
the calls:

  (1) no "250 ... queued as ID" is written to a socket before a sync that began after the
      last write, fchmod or close of ID's queue file (and after its directory entry was
      made) and ended before the reply;
  (2) no Maildir file is linked into new/ before a sync that began after the last write
      of its tmp/ file;
  (3) no recipient is recorded delivered (its queue file unlinked, or an "I delivered"
      state line written into it) before a sync that began after its new/ link;
  (4) syncs are shared: in each of those three steps fewer syncs than messages, and
      fewer sync calls in all than durable steps.

"Began after" and "ended before" use the order of strace's own events: strace stops a
thread at each system call's entry and at its exit and prints them one at a time, so a
call printed as finished before another call's entry was printed finished before that
other call began (the traced thread is still stopped at the entry).  A call that other
threads' calls interrupt is printed "<unfinished ...>" at its entry and "<... resumed>"
at its exit: each call has the line of its entry and the line of its exit.  A sync is
syncfs(2) of a descriptor on the data folder's file system (util/syncer), sync(2), or
fsync/fdatasync of the file itself (its content) or of its folder (its entry).  Queue
files are matched by name (the queue ID, any suffix, in any folder under queue/).
"""

import os
import re
import shutil
import socket
import threading
import uuid
from pathlib import Path

import pytest

from conftest import (SENDER, QUEUED_RE, SMTPClient, dot_stuff,
                      fault_env, list_mail)
from peers import dns_factory, mx_port, sink_factory, wait_until  # noqa: F401
from strace_util import Strace

SESSIONS = 5
PER_SESSION = 4
SLOW_MS = 20
LOCAL = "u@example.test"
REMOTE = "rcpt@remote.test"        # the sink at 127.0.0.2 takes it
DEFERRED = "later@defer.test"      # the sink at 127.0.0.3 answers 451 to RCPT
# The kinds of messages, in turn: to the mailbox only (recorded by removing the queue
# file), to the sink only, to both, and to the mailbox and a deferring host (the local
# recipient is recorded by a "0 delivered" state line: the message stays queued).
KINDS = [[LOCAL], [REMOTE], [LOCAL, REMOTE], [LOCAL, DEFERRED]]

TRACED = ("write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg,sendmmsg,"
          "openat,?open,?creat,?openat2,close,fchmod,?fchmodat,ftruncate,fallocate,"
          "fsync,fdatasync,syncfs,sync,linkat,?link,renameat,renameat2,?rename,"
          "unlinkat,?unlink")
WRITES = {"write", "writev", "pwrite64", "pwritev", "pwritev2", "sendto", "sendmsg",
          "sendmmsg"}
SYNCS = {"syncfs", "sync", "fsync", "fdatasync"}
QID_NAME = re.compile(r"^([0-9A-Fa-f]{16})(\..*)?$")


# --------------------------------------------------------------------------- the trace

class Call:
    """One system call: NAME, ARGS (the text between the parentheses), RET (int or None),
    ENTRY and EXIT (line numbers of the trace: the order strace saw them in), TID."""

    def __init__(self, tid, name, text, entry, exit_):
        self.tid, self.name, self.entry, self.exit = tid, name, entry, exit_
        m = re.match(r"^(.*)\)\s+=\s+(-?\d+|0x[0-9a-f]+|\?)(.*)$", text, re.S)
        self.args = m.group(1) if m else text
        ret = m.group(2) if m else "?"
        self.ret = None if ret == "?" else int(ret, 0)

    @property
    def ok(self):
        return self.ret is not None and self.ret >= 0

    def fd_path(self, i=0):
        """The path strace -y printed for the descriptor that is argument I (0 or 2), or None."""
        args = split_args(self.args)
        if i >= len(args):
            return None
        m = re.match(r"^(?:-?\d+|AT_FDCWD)(?:<(.*)>)?$", args[i], re.S)
        if not m:
            return None
        return strip_deleted(m.group(1)) if m.group(1) else None

    def strings(self):
        """The (escaped) string arguments, in order."""
        return [s for s in re.findall(r'"((?:[^"\\]|\\.)*)"', self.args)]

    def path_at(self, dir_arg, name_arg):
        """The absolute path named by the *at() pair of arguments DIR_ARG (an index or None
        for plain calls) and NAME_ARG, or None if unknown."""
        args = split_args(self.args)
        if name_arg >= len(args):
            return None
        m = re.match(r'^"((?:[^"\\]|\\.)*)"', args[name_arg])
        if not m:
            return None
        name = unescape(m.group(1))
        if name.startswith("/"):
            return os.path.normpath(name)
        base = None
        if dir_arg is not None:
            mm = re.match(r"^(?:-?\d+|AT_FDCWD)(?:<(.*)>)?$", args[dir_arg], re.S)
            base = strip_deleted(mm.group(1)) if mm and mm.group(1) else None
        if base is None or not base.startswith("/"):
            return None
        return os.path.normpath(os.path.join(base, name))


def strip_deleted(path):
    return path[:-len(" (deleted)")] if path.endswith(" (deleted)") else path


def split_args(text):
    """Top-level comma-separated arguments of strace's argument text."""
    out, depth, cur, quote, esc = [], 0, [], False, False
    for ch in text:
        if quote:
            cur.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                quote = False
            continue
        if ch == '"':
            quote = True
        elif ch in "[{(<":
            depth += 1
        elif ch in "]})>":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if cur:
        out.append("".join(cur).strip())
    return out


def unescape(s):
    return re.sub(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)", _unescape_one, s)


def _unescape_one(m):
    e = m.group(1)
    simple = {"n": "\n", "r": "\r", "t": "\t", "v": "\v", "f": "\f", '"': '"', "\\": "\\"}
    if e in simple:
        return simple[e]
    if e[0] == "x":
        return chr(int(e[1:], 16))
    if e[0].isdigit():
        return chr(int(e, 8))
    return e


LINE_RE = re.compile(r"^(\d+)\s+\d+\.\d+\s+(.*)$")


def parse_trace(text):
    """The calls of an `strace -f -ttt -y` output, in the order of their entries."""
    calls, pending = [], {}
    for n, line in enumerate(text.splitlines()):
        m = LINE_RE.match(line)
        if not m:
            continue
        tid, body = int(m.group(1)), m.group(2)
        r = re.match(r"^<\.\.\. (\w+) resumed>(.*)$", body, re.S)
        if r:
            if tid not in pending:
                continue  # began before strace attached
            name, head, entry = pending.pop(tid)
            calls.append(Call(tid, name, head + r.group(2), entry, n))
            continue
        c = re.match(r"^(\w+)\((.*)$", body, re.S)
        if not c:
            continue  # signals, exits
        if body.endswith("<unfinished ...>"):
            pending[tid] = (c.group(1), c.group(2)[:-len("<unfinished ...>")].rstrip(), n)
        else:
            calls.append(Call(tid, c.group(1), c.group(2), n, n))
    calls.sort(key=lambda call: call.entry)
    return calls


class Facts:
    """What the trace says, by file: modifications, syncs, replies, links, records."""

    def __init__(self, calls, data_dir):
        self.given_dir = str(data_dir)
        self.data_dir = os.path.realpath(data_dir)
        self.queue_dir = os.path.join(self.data_dir, "queue")
        self.mods = {}          # path -> [Call]: writes, fchmod, ftruncate, close
        self.entries = {}       # path -> [Call]: made (created, linked or renamed there)
        self.syncs = []         # successful sync calls
        self.replies = {}       # queue ID -> [Call]: "250 ... queued as ID" to a socket
        self.links = {}         # new/ path -> Call (link or rename of the tmp/ file)
        self.delivered = {}     # (queue ID, index) -> [Call]: "I delivered" state lines
        self.removed = {}       # queue ID -> [Call]: unlink of the message file
        for call in calls:
            if call.ok:
                self._add(call)

    def norm(self, path):
        """PATH with the data folder as -y prints it (resolved), or None."""
        if path and (path == self.given_dir or path.startswith(self.given_dir + "/")):
            return self.data_dir + path[len(self.given_dir):]
        return path

    def qid_of(self, path):
        """The queue ID a path under queue/ is named by, or None."""
        if not path or not path.startswith(self.queue_dir + "/"):
            return None
        m = QID_NAME.match(os.path.basename(path))
        return m.group(1).upper() if m else None

    def _add(self, call):
        name = call.name
        if name in SYNCS:
            self.syncs.append(call)
            return
        if name in WRITES or name in ("fchmod", "ftruncate", "fallocate", "close"):
            path = self.norm(call.fd_path(0))
            if path is None:
                return
            if not path.startswith("/"):
                if name in WRITES:
                    self._reply(call)
                return
            self.mods.setdefault(path, []).append(call)
            qid = self.qid_of(path)
            if qid and name in WRITES:
                for s in call.strings():
                    for idx in re.findall(r"(?:^|\\n)(\d+) delivered ", s):
                        self.delivered.setdefault((qid, int(idx)), []).append(call)
            return
        if name in ("openat", "open", "creat", "openat2"):
            path = self.norm(call.path_at(0, 1) if name in ("openat", "openat2")
                             else call.path_at(None, 0))
            if path and (name == "creat" or "O_CREAT" in call.args):
                self.entries.setdefault(path, []).append(call)
            return
        if name in ("linkat", "renameat", "renameat2", "link", "rename"):
            if name in ("link", "rename"):
                src, dst = call.path_at(None, 0), call.path_at(None, 1)
            else:
                src, dst = call.path_at(0, 1), call.path_at(2, 3)
            src, dst = self.norm(src), self.norm(dst)
            if not dst:
                return
            self.entries.setdefault(dst, []).append(call)
            if os.path.basename(os.path.dirname(dst)) == "new" and \
                    dst.startswith(os.path.join(self.data_dir, "mail") + "/"):
                self.links[dst] = (src, call)
            return
        if name in ("unlinkat", "unlink"):
            path = self.norm(call.path_at(0, 1) if name == "unlinkat"
                             else call.path_at(None, 0))
            qid = self.qid_of(path)
            if qid and os.path.basename(path).upper() == qid:
                self.removed.setdefault(qid, []).append(call)

    def _reply(self, call):
        for s in call.strings():
            text = unescape(s)
            for m in re.finditer(r"(?:^|\n)250[ -][^\r\n]*queued as ([0-9A-Fa-f]{16})", text):
                self.replies.setdefault(m.group(1).upper(), []).append(call)

    def covers(self, sync, path, what):
        """Whether SYNC makes WHAT ("content" or "entry") of PATH durable."""
        if sync.name == "sync":
            return True
        target = self.norm(sync.fd_path(0))
        if not target:
            return False
        if sync.name == "syncfs":
            # the data folder is one file system (checked by the test)
            return target == self.data_dir or target.startswith(self.data_dir + "/")
        return target == (path if what == "content" else os.path.dirname(path))

    def synced_between(self, after, before, needs):
        """A sync that began after line AFTER and ended before line BEFORE covering every
        (path, what) of NEEDS (each by some such sync), or None if some is not covered."""
        found = None
        for path, what in needs:
            s = next((s for s in self.syncs if s.entry > after and s.exit < before
                      and self.covers(s, path, what)), None)
            if s is None:
                return None
            found = found or s
        return found

    def queue_files(self, qid):
        paths = set(self.mods) | set(self.entries)
        return sorted(p for p in paths if self.qid_of(p) == qid)


def describe(call):
    return "line %d-%d tid %d %s(%s) = %s" % (call.entry + 1, call.exit + 1, call.tid,
                                              call.name, call.args[:160], call.ret)


# --------------------------------------------------------------------------- strace



# --------------------------------------------------------------------------- mail

def submit_session(sock, n, k, barrier, results, errors):
    """Session K on the local listener SOCK (it may relay without AUTH, which the fault
    shim would break: the auth process's filter does not allow the shim's calls), send N
    messages of the kinds in turn, each one's final dot together with the other sessions'
    (BARRIER): their commits overlap, as under load; note (queue ID, recipients) of each
    into RESULTS."""
    try:
        c = SMTPClient(str(sock), 0, timeout=60, family=socket.AF_UNIX)
        c.banner()
        c.ehlo()
        for j in range(n):
            rcpts = KINDS[(k + j) % len(KINDS)]
            mid = "<%s@order.test>" % uuid.uuid4().hex
            data = ("From: <%s>\r\nTo: <%s>\r\nSubject: order %d.%d\r\nMessage-ID: %s\r\n"
                    "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\n"
                    % (SENDER, ">, <".join(rcpts), k, j, mid)).encode()
            data += b"durable before acknowledged\r\n" * 80
            c.expect("MAIL FROM:<%s>" % SENDER, 250)
            for r in rcpts:
                c.expect("RCPT TO:<%s>" % r, 250)
            c.expect("DATA", 354)
            c.send(dot_stuff(data))
            barrier.wait(60)
            c.send(b".\r\n")
            reply = c.read_reply()
            assert reply.code == 250, reply
            m = QUEUED_RE.match(reply.lines[0])
            assert m, reply
            results.append((m.group(1).upper(), rcpts))
        c.quit()
    except Exception as e:  # noqa: BLE001 - reported by the test
        barrier.abort()
        errors.append("session %d: %r" % (k, e))


def queue_files_of(data_dir, qid):
    """Every file under queue/ named by QID (any folder, any suffix)."""
    out = []
    for folder, _, names in os.walk(Path(data_dir, "queue")):
        for name in names:
            m = QID_NAME.match(name)
            if m and m.group(1).upper() == qid:
                out.append(Path(folder, name))
    return out


def queue_file_text(data_dir, qid):
    out = ""
    for f in queue_files_of(data_dir, qid):
        try:
            out += f.read_text(errors="replace")
        except FileNotFoundError:
            pass
    return out


def mailbox_ids(data_dir):
    """{new/ path: (queue ID, Delivered-To)} of the mailbox's messages."""
    out = {}
    local, domain = LOCAL.split("@")
    for f in list_mail(data_dir, domain, local):
        raw = f.read_bytes().decode("utf-8", "replace")
        head = raw.split("\r\n\r\n", 1)[0]
        qid = re.search(r"^Received: .*?\bid ([0-9A-Fa-f]{16})\b", head, re.M | re.S)
        to = re.search(r"^Delivered-To: (\S+)", head, re.M)
        assert qid and to, "a delivered message without its queue ID or Delivered-To: %r" \
            % head[:600]
        out[os.path.realpath(f)] = (qid.group(1).upper(), to.group(1))
    return out


# --------------------------------------------------------------------------- the test

def test_no_reply_or_delivery_record_before_its_flush(petrel_factory, dns_factory, mx_port,
                                                      sink_factory, tmp_path):
    if not shutil.which("strace"):
        pytest.fail("strace is not installed (scripts/install-deps.sh installs it)")
    dns = dns_factory(mx=[("remote.test", "mx1.remote.test", 10),
                          ("defer.test", "mx1.defer.test", 10)],
                      hosts=[("mx1.remote.test", "127.0.0.2"), ("mx1.defer.test", "127.0.0.3")])
    sink = sink_factory("127.0.0.2", mx_port)
    sink_factory("127.0.0.3", mx_port, "-r", "RCPT", "-b", "451 4.7.1 try again later")
    # retries far away: the deferred messages wait untouched while the trace runs
    p = petrel_factory(start=False, resolver=dns.resolver, special_zones="test",
                       port=mx_port, retry_initial=3600, retry_max=3600, timeout=5,
                       log_level="info", workers=8)
    # a disk whose flushes take SLOW_MS (the fault shim sleeps after each): the commits of
    # concurrent sessions overlap every time, not only on a lucky run
    rules = p.tmp / "faults"
    p.extra_env = fault_env(rules)
    rules.write_text("slow %d */data/*\n" % SLOW_MS)
    sock = p.tmp / "local.sock"
    with open(p.config_path, "a") as f:
        f.write("\n[listener local]\nrole = local\naddress = unix:%s\n" % sock)
    p.start()
    data_dir = Path(p.data_dir)
    devs = {os.stat(data_dir / d).st_dev for d in ("", "queue", "mail")}
    assert len(devs) == 1, "data folder on more than one file system: %s" % devs
    net = p.processes()["network"]

    tracer = Strace(net, tmp_path / "strace.out", TRACED)
    try:
        results, errors, barrier = [], [], threading.Barrier(SESSIONS)
        threads = [threading.Thread(target=submit_session,
                                    args=(sock, PER_SESSION, k, barrier, results, errors))
                   for k in range(SESSIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert len(results) == SESSIONS * PER_SESSION, results
        rcpts_of = dict(results)
        local_ids = [q for q, r in results if LOCAL in r]
        remote_n = sum(REMOTE in r for _, r in results)
        kept = {q for q, r in results if DEFERRED in r}

        # every delivery done and recorded (bounded waits), then detach
        wait_until(lambda: len(list_mail(data_dir, "example.test", "u")) >= len(local_ids),
                   60, 0.1, "%d messages in the mailbox" % len(local_ids))
        sink.wait_dumps(remote_n, timeout=60, settle=0)
        wait_until(lambda: not any(queue_files_of(data_dir, q) for q in rcpts_of if q not in kept),
                   60, 0.1, "the delivered messages to leave the queue")
        wait_until(lambda: all(re.search(r"(?m)^0 delivered ", queue_file_text(data_dir, q))
                               for q in kept),
                   60, 0.1, "the local recipients of the deferred messages to be recorded")
    finally:
        text = tracer.stop()

    facts = Facts(parse_trace(text), data_dir)
    mailbox = mailbox_ids(data_dir)
    problems = []
    served = {"accept": set(), "mailbox file": set(), "new/ entry": set()}

    # (1) 250 after a sync that began after the queue file's last change
    for qid in rcpts_of:
        replies = facts.replies.get(qid)
        if not replies:
            problems.append("(1) no '250 queued as %s' in the trace" % qid)
            continue
        reply = replies[0]
        files = facts.queue_files(qid)
        mods = [c for f in files for c in facts.mods.get(f, []) if c.exit < reply.entry]
        made = [(f, c) for f in files for c in facts.entries.get(f, []) if c.exit < reply.entry]
        if not mods or not made:
            problems.append("(1) %s: its queue file was not written before its 250 (%s)"
                            % (qid, describe(reply)))
            continue
        last = max(mods, key=lambda c: c.exit)
        path, entry = max(made, key=lambda fc: fc[1].exit)
        sync = facts.synced_between(last.exit, reply.entry, [(last.fd_path(0), "content")])
        if sync and facts.synced_between(entry.exit, reply.entry, [(path, "entry")]):
            served["accept"].add(sync.entry)
        else:
            problems.append("(1) %s: 250 with no sync between the queue file's last change "
                            "and the reply:\n    last change %s\n    reply %s"
                            % (qid, describe(last), describe(reply)))

    # (2) new/ link after a sync that began after the tmp/ file's last write
    for dst, (src, link) in facts.links.items():
        writes = [c for c in facts.mods.get(src, []) if c.name in WRITES and c.exit < link.entry]
        if not writes:
            problems.append("(2) %s linked into new/ but its tmp/ file %s was never written"
                            % (dst, src))
            continue
        last = max(writes, key=lambda c: c.exit)
        sync = facts.synced_between(last.exit, link.entry, [(src, "content")])
        if sync:
            served["mailbox file"].add(sync.entry)
        else:
            problems.append("(2) %s linked into new/ with no sync after its last write:\n"
                            "    write %s\n    link %s" % (dst, describe(last), describe(link)))

    # (3) recorded delivered after a sync that began after the new/ link
    for dst, (qid, to) in mailbox.items():
        rcpts = rcpts_of.get(qid)
        assert rcpts and to in rcpts, "mailbox file %s for %s <%s> not sent by the test" % (
            dst, qid, to)
        if dst not in facts.links:
            problems.append("(3) %s (%s): no link into new/ in the trace" % (dst, qid))
            continue
        link = facts.links[dst][1]
        records = facts.delivered.get((qid, rcpts.index(to)), []) + facts.removed.get(qid, [])
        if not records:
            problems.append("(3) %s: its delivery to %s was never recorded" % (qid, to))
            continue
        first = min(records, key=lambda c: c.entry)
        sync = facts.synced_between(link.exit, first.entry, [(dst, "entry")])
        if sync:
            served["new/ entry"].add(sync.entry)
        else:
            problems.append("(3) %s recorded delivered to %s with no sync after its new/ "
                            "link:\n    link %s\n    record %s"
                            % (qid, to, describe(link), describe(first)))

    # the test saw what it is about: every reply, link and record
    assert len(facts.replies) >= len(rcpts_of), sorted(facts.replies)
    assert len(mailbox) == len(local_ids), (len(mailbox), len(local_ids))
    assert len(facts.links) == len(local_ids), sorted(facts.links)
    assert all(facts.delivered.get((q, 0)) for q in kept), "no '0 delivered' line written"

    # (4) shared syncs: a sync covers the steps of several messages.  Not fewer syncs than
    # messages here: each message takes up to four durable steps (its queue file, its
    # Maildir file, its new/ entry, a state line), and a burst of commits costs at least
    # two syncs (the first writer leads a sync at once; the others share the next one).
    by_kind = {}
    for s in facts.syncs:
        key = "%s %s" % (s.name, os.path.relpath(s.fd_path(0) or "?", facts.data_dir)
                         if s.name != "sync" else "")
        by_kind[key] = by_kind.get(key, 0) + 1
    steps = len(rcpts_of) + 2 * len(local_ids) + len(kept)
    print("%d messages (%d to the mailbox, %d to the sink, %d deferred), %d durable steps, "
          "%d sync calls: %s" % (len(rcpts_of), len(local_ids), remote_n, len(kept), steps,
                                 len(facts.syncs), by_kind))
    counts = {"accept": len(rcpts_of), "mailbox file": len(facts.links),
              "new/ entry": len(mailbox)}
    print("first covering syncs: " + ", ".join("%d %s steps by %d" % (counts[k], k, len(v))
                                               for k, v in served.items()))
    assert not problems, "\n".join(problems)
    for kind, syncs in served.items():
        assert len(syncs) < counts[kind], "%d %s steps took %d syncs: none shared" % (
            counts[kind], kind, len(syncs))
    assert len(facts.syncs) < steps, "%d sync calls for %d durable steps" % (
        len(facts.syncs), steps)
