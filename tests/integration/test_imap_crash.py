"""The mailbox index after a crash (issue 10): Petrel killed with SIGKILL in the middle
of a stream of IMAP APPENDs, STOREs and local deliveries, then its folder checked
through IMAP against what the clients were told and against the Maildir's files; and
the index deleted or damaged while the server is stopped (src/mailbox/: the names in
cur/ and petrel.uidvalidity are authoritative, petrel.index is rebuilt from them).
tests/unit/mailbox/test-mailbox.c checks the same rules on the library alone."""

import re
import threading
import time
import uuid

from conftest import Closed, SMTPClient, make_message
from imap_util import imap_connect, imap_server

USER, PASSWORD = "u@example.test", "secret"
MSGID_RE = re.compile(rb"Message-ID:\s*(<[^>]+>)", re.I)
FLAG_WORDS = ("\\Seen", "\\Flagged", "\\Draft", "\\Deleted", "\\Answered")


def inbox_dir(p):
    return p.data_dir / "mail" / "example.test" / "u"


def maildir_files(p):
    return sorted(f.name for sub in ("cur", "new") for f in (inbox_dir(p) / sub).iterdir()
                  if f.is_file())


def login(p, timeout=10):
    c = imap_connect(p, tls=True, timeout=timeout)
    c.login(USER, PASSWORD)
    return c


def snapshot(p):
    """(UIDVALIDITY, EXISTS, [(uid, message-id, frozenset(flags))] in sequence order)
    of the INBOX as IMAP shows it."""
    c = login(p)
    try:
        typ, data = c.select("INBOX", readonly=True)
        assert typ == "OK", data
        exists = int(data[0])
        uidvalidity = int(c.untagged_responses["UIDVALIDITY"][0])
        msgs = []
        if exists:
            typ, data = c.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            assert typ == "OK", data
            for item in data:
                if not isinstance(item, tuple):
                    continue
                head, body = item
                uid = int(re.search(rb"UID (\d+)", head).group(1))
                flags = re.search(rb"FLAGS \(([^)]*)\)", head).group(1).decode().split()
                m = MSGID_RE.search(body)
                assert m, "message UID %d without Message-ID: %r" % (uid, body)
                msgs.append((uid, m.group(1).decode(), frozenset(flags) - {"\\Recent"}))
    finally:
        c.logout()
    assert len(msgs) == exists, (exists, len(msgs))
    return uidvalidity, exists, msgs


class Ledger:
    """What the clients were told, under one lock: APPENDs answered OK (Message-ID ->
    (UID, flags)), STOREs answered OK (UIDs given \\Answered), STOREs sent without an
    answer, deliveries answered 250."""

    def __init__(self):
        self.lock = threading.Lock()
        self.appended = {}
        self.answered = set()
        self.maybe_answered = set()
        self.delivered = set()
        self.killed = threading.Event()   # set just before the kill
        self.errors = []                  # what went wrong before it

    def failed(self, who, e):
        if not self.killed.is_set():
            with self.lock:
                self.errors.append("%s: %r" % (who, e))

    def acked(self):
        with self.lock:
            return len(self.appended)


def appender(p, ledger, stop, n):
    """APPEND messages (some with flags) and STORE +FLAGS (\\Answered) on each, until
    STOP or a broken connection."""
    try:
        c = login(p, timeout=20)
        typ, data = c.select("INBOX")
        assert typ == "OK", data
    except Exception as e:  # noqa: BLE001 (a failure, unless the server was killed)
        ledger.failed("appender %d" % n, e)
        return
    i = 0
    try:
        while not stop.is_set():
            i += 1
            mid = "<%s@crash.test>" % uuid.uuid4().hex
            flags = ["\\Seen"] if i % 3 == 0 else ["\\Flagged"] if i % 3 == 1 else []
            typ, data = c.append("INBOX", "(%s)" % " ".join(flags), None,
                                 make_message("client %d append %d" % (n, i), msgid=mid))
            assert typ == "OK", data
            m = re.match(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
            assert m, data
            with ledger.lock:
                ledger.appended[mid] = (int(m.group(1)), int(m.group(2)), frozenset(flags))
            uid = int(m.group(2))
            if i % 2 == 0:
                with ledger.lock:
                    ledger.maybe_answered.add(uid)
                c.noop()  # the selected view learns of the new message first
                typ, data = c.uid("STORE", str(uid), "+FLAGS", "(\\Answered)")
                assert typ == "OK", data
                assert any(re.search(rb"UID %d\b" % uid, d) for d in data if d), data
                with ledger.lock:
                    ledger.answered.add(uid)
    except Exception as e:  # noqa: BLE001 (a failure, unless killed mid-command)
        ledger.failed("appender %d" % n, e)


def deliverer(p, ledger, stop):
    """SMTP to u@example.test (local delivery) until STOP or a broken connection;
    Message-IDs answered 250 go into the ledger."""
    try:
        c = SMTPClient(p.host, p.mx, timeout=20)
        c.banner()
        c.ehlo()
        while not stop.is_set():
            mid = "<%s@smtp.crash.test>" % uuid.uuid4().hex
            r = c.mail_transaction("a@b.test", [USER], make_message("smtp", msgid=mid))
            if r.code == 250:
                with ledger.lock:
                    ledger.delivered.add(mid)
            else:
                ledger.failed("delivery", r)
        c.close()
    except (OSError, Closed, AssertionError) as e:
        ledger.failed("delivery", e)


def wait_until(pred, timeout, what):
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "not within %.0fs: %s" % (timeout, what)
        time.sleep(0.05)


def check_folder(p, ledger, uidvalidity):
    """Every acknowledged APPEND and delivery is there as told; UIDs are unique and
    ascending; the Maildir holds as many files as IMAP shows messages."""
    # deliveries acknowledged before the kill drain from the spool after the restart
    def delivered_all():
        ids = {mid for _, mid, _ in snapshot(p)[2]}
        return ledger.delivered <= ids
    wait_until(delivered_all, 60, "every delivery answered 250 in the INBOX")
    # and the spool is empty, so that nothing arrives while the folder is compared
    wait_until(lambda: "0 messages" in p.cli_ok("queue", "list").stdout, 60, "an empty queue")
    validity, exists, msgs = snapshot(p)
    assert validity == uidvalidity, "UIDVALIDITY changed from %d to %d" % (uidvalidity,
                                                                          validity)
    uids = [u for u, _, _ in msgs]
    assert all(a < b for a, b in zip(uids, uids[1:])), "UIDs not strictly ascending: %s" % uids
    by_mid = {}
    for uid, mid, flags in msgs:
        # a delivery the kill cut off after the file was in new/ but before the spool
        # knew it is made again after the restart (at least once, as Postfix's local
        # delivery): two files, two UIDs.  An APPEND is never repeated.
        assert mid not in by_mid or mid.endswith("@smtp.crash.test>"), \
            "message %s twice: UIDs %d and %d" % (mid, by_mid[mid][0], uid)
        by_mid.setdefault(mid, (uid, flags))
    for mid, (validity, uid, flags) in ledger.appended.items():
        assert validity == uidvalidity, (mid, validity, uidvalidity)
        assert mid in by_mid, "APPEND answered OK with UID %d is gone" % uid
        have_uid, have = by_mid[mid]
        assert have_uid == uid, "APPEND answered UID %d, now UID %d" % (uid, have_uid)
        want = set(flags)
        if uid in ledger.answered:
            want.add("\\Answered")
        extra = have - want - ({"\\Answered"} if uid in ledger.maybe_answered else set())
        assert want <= have and not extra, "UID %d: flags %s, told %s" % (uid, sorted(have),
                                                                          sorted(want))
    missing = ledger.delivered - set(by_mid)
    assert not missing, "%d deliveries answered 250 are gone" % len(missing)
    files = maildir_files(p)
    assert len(files) == exists, "%d files in cur/ and new/, EXISTS %d" % (len(files),
                                                                          exists)
    return msgs


def test_kill9_during_appends_and_delivery(petrel_factory):
    p = imap_server(petrel_factory)
    uidvalidity = snapshot(p)[0]
    ledger = Ledger()
    # a different point of the stream each round: after 8, 23 and 41 acknowledged
    # APPENDs (counting every round)
    for point in (8, 23, 41):
        stop = threading.Event()
        threads = [threading.Thread(target=appender, args=(p, ledger, stop, n))
                   for n in range(3)]
        threads += [threading.Thread(target=deliverer, args=(p, ledger, stop))
                    for _ in range(2)]
        for t in threads:
            t.start()
        wait_until(lambda: ledger.acked() >= point, 60, "%d APPENDs acknowledged" % point)
        alive = sum(t.is_alive() for t in threads)
        ledger.killed.set()
        p.kill9()
        stop.set()
        for t in threads:
            t.join(30)
            assert not t.is_alive(), "a client still runs 30s after the kill"
        print("kill -9 after %d APPENDs (%d clients running), %d deliveries"
              % (ledger.acked(), alive, len(ledger.delivered)))
        assert not ledger.errors, ledger.errors
        assert alive == len(threads), "a client stopped before the kill"
        ledger.killed.clear()
        p.start()
        msgs = check_folder(p, ledger, uidvalidity)
        # a second restart (a crash with nothing running) shows the very same folder
        p.kill9()
        p.start()
        assert snapshot(p) == (uidvalidity, len(msgs), msgs)
    assert ledger.answered and ledger.delivered, "no STORE or no delivery acknowledged"


def damage_index(p, how):
    index = inbox_dir(p) / "petrel.index"
    if how == "deleted":
        index.unlink()
    elif how == "truncated":
        with open(index, "r+b") as f:
            f.truncate(index.stat().st_size // 2 + 7)
    else:
        raw = bytearray(index.read_bytes())
        for i in range(64, len(raw), 97):
            raw[i] ^= 0x5A
        index.write_bytes(bytes(raw))


def test_index_lost_while_stopped_is_rebuilt(petrel_factory):
    """petrel.index deleted, cut short or overwritten while Petrel is stopped: the
    restarted server rebuilds it with every message, UID, flag and the UIDVALIDITY
    kept; a file without a UID in its name (another MDA's, in new/) gets one above
    every UID handed out; an APPEND after that does too."""
    p = imap_server(petrel_factory)
    c = login(p)
    c.select("INBOX")
    for i in range(30):
        flags = "(\\Seen)" if i % 2 else "(\\Flagged \\Deleted)" if i % 5 == 0 else "()"
        assert c.append("INBOX", flags, None, make_message("m%d" % i))[0] == "OK"
    # the highest UID expunged: the next ones must still be above it
    c.uid("STORE", "30", "+FLAGS", "(\\Deleted)")
    c.uid("EXPUNGE", "30")
    c.uid("STORE", "1:5", "+FLAGS", "($Forwarded \\Answered)")
    c.logout()
    before = snapshot(p)
    assert before[1] == 29
    highest = 30
    for how in ("deleted", "truncated", "corrupted"):
        assert p.stop() == 0
        damage_index(p, how)
        # another MDA's file, named without ,U=
        mid = "<%s@mda.test>" % uuid.uuid4().hex
        name = "%d.M1P1.mda-%s" % (int(time.time()), how)
        (inbox_dir(p) / "new" / name).write_bytes(make_message("mda", msgid=mid))
        p.start()
        after = snapshot(p)
        assert after[0] == before[0], "UIDVALIDITY changed after the index was %s" % how
        assert after[2][:-1] == before[2], "index %s: messages, UIDs or flags changed" % how
        uid, got_mid, flags = after[2][-1]
        assert got_mid == mid and uid > highest, (how, after[2][-1], highest)
        assert after[1] == len(maildir_files(p))
        highest = uid
        c = login(p)
        typ, data = c.append("INBOX", "()", None, make_message("after %s" % how))
        assert typ == "OK", data
        appended = int(re.match(rb"\[APPENDUID \d+ (\d+)\]", data[0]).group(1))
        assert appended > highest, (how, appended, highest)
        highest = appended
        c.logout()
        before = snapshot(p)


def test_kill9_after_first_select_of_a_copied_maildir(petrel_factory):
    """A Maildir copied in while Petrel is stopped (files in cur/ named without ,U=,
    as another server or a migration leaves them): the first SELECT gives them UIDs
    and leaves their names as they are (docs/mailbox.md), so those UIDs are only in
    petrel.index; after a kill -9 while the folder is still selected, each message
    has the UID and flags it had."""
    p = imap_server(petrel_factory)
    snapshot(p)
    assert p.stop() == 0
    cur = inbox_dir(p) / "cur"
    names, mids = [], []
    for i in range(40):
        # names in UID order (the time first, all of the same length)
        name = "%d.M%dP7.copied:2,%s" % (1700000000 + i, i, "S" if i % 2 else "")
        mid = "<%d.%s@copied.test>" % (i, uuid.uuid4().hex)
        (cur / name).write_bytes(make_message("copied %d" % i, msgid=mid))
        names.append(name)
        mids.append(mid)
    p.start()
    c = login(p)
    typ, data = c.select("INBOX")
    assert typ == "OK" and int(data[0]) == 40, data
    # failed before: every file was renamed to carry its UID
    assert sorted(f.name for f in cur.iterdir()) == names
    p.kill9()
    p.start()
    want = [(i + 1, mids[i], frozenset({"\\Seen"} if i % 2 else ())) for i in range(40)]
    assert snapshot(p)[2] == want


def status_of(p):
    """INBOX's UIDNEXT and HIGHESTMODSEQ (STATUS, no SELECT)."""
    c = login(p)
    try:
        typ, data = c.status("INBOX", "(UIDNEXT HIGHESTMODSEQ)")
        assert typ == "OK", data
    finally:
        c.logout()
    m = re.search(rb"UIDNEXT (\d+) HIGHESTMODSEQ (\d+)", data[0])
    assert m, data
    return int(m.group(1)), int(m.group(2))


def test_kill9_while_the_folder_is_kept(petrel_factory):
    """APPENDs into a folder nobody has selected, each session closing it, then a kill
    -9 while Petrel keeps it in memory ([mailbox] cache_size): its index is written
    when it leaves memory, not at each close, so the restart recovers from the files
    and the leases: no APPEND lost, no UID reused, MODSEQ never back."""
    p = imap_server(petrel_factory)
    snapshot(p)
    index = inbox_dir(p) / "petrel.index"
    written = index.stat().st_ino
    appended = {}
    for i in range(12):
        c = login(p)
        mid = "<%d.%s@kept.test>" % (i, uuid.uuid4().hex)
        flags = "(\\Seen)" if i % 2 else "()"
        typ, data = c.append("INBOX", flags, None, make_message("kept %d" % i, msgid=mid))
        assert typ == "OK", data
        appended[mid] = int(re.match(rb"\[APPENDUID \d+ (\d+)\]", data[0]).group(1))
        c.logout()
    uidnext, modseq = status_of(p)
    # failed before: each close rewrote the index (durably, whatever its size)
    assert index.stat().st_ino == written
    p.kill9()
    p.start()
    msgs = snapshot(p)[2]
    assert {mid: uid for uid, mid, _ in msgs} == appended
    after_uidnext, after_modseq = status_of(p)
    assert after_uidnext >= uidnext and after_modseq >= modseq, \
        (uidnext, modseq, after_uidnext, after_modseq)
    c = login(p)
    typ, data = c.append("INBOX", "()", None, make_message("after the kill"))
    assert typ == "OK", data
    assert int(re.match(rb"\[APPENDUID \d+ (\d+)\]", data[0]).group(1)) >= uidnext
    c.logout()
