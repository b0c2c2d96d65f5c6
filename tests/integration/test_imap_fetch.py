"""FETCH, STORE and SEARCH (src/imap/cmd-fetch.c, cmd-store.c, cmd-search.c; fetch.c and
search.c build and evaluate): every item and section against what Python's email package
parses of the same message, BINARY, batches of a large FETCH, flags, CONDSTORE's MODSEQ,
CHANGEDSINCE and UNCHANGEDSINCE, SEARCH keys with UTF-8, ESEARCH; imaplib and a raw
client."""

import email
import email.policy
import re
import socket

from imap_util import imap_connect, imap_server, tls_context

USER, PASSWORD = "u@example.test", "secret"


class Raw:
    """A line-exact IMAP client on the imaps listener, logged in as USER."""

    def __init__(self, p):
        s = socket.create_connection((p.host, p.ports["imaps"]), timeout=10)
        self.s = tls_context().wrap_socket(s)
        self.f = self.s.makefile("rb")
        self.n = 0
        assert self.line().startswith(b"* OK")
        assert self.cmd('LOGIN "%s" "%s"' % (USER, PASSWORD))[-1].split()[1] == b"OK"

    def line(self):
        raw = self.f.readline()
        assert raw.endswith(b"\r\n"), raw
        # a literal: its octets go with the line that announced them
        m = re.search(rb"~?\{(\d+)\}\r\n$", raw)
        while m:
            raw += self.f.read(int(m.group(1)))
            rest = self.f.readline()
            raw += rest
            m = re.search(rb"~?\{(\d+)\}\r\n$", rest)
        return raw[:-2]

    def cmd(self, text):
        """TEXT as a command; the lines up to and including its tagged reply."""
        self.n += 1
        tag = b"t%d" % self.n
        self.s.sendall(tag + b" " + (text.encode() if isinstance(text, str) else text) +
                       b"\r\n")
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def ok(self, text):
        lines = self.cmd(text)
        assert lines[-1].split()[1] == b"OK", lines
        return lines

    def close(self):
        self.s.close()


def login(p):
    c = imap_connect(p, tls=True)
    c.login(USER, PASSWORD)
    return c


# A message with every kind of part: quoted-printable text, a message/rfc822 holding a
# multipart/alternative, a base64 attachment with NUL bytes, and a part in an encoding
# nobody knows.
NESTED = (b"From: =?utf-8?q?Andr=C3=A9?= <andre@example.org>\r\n"
          b"To: Bob <bob@example.net>\r\n"
          b"Subject: =?utf-8?b?w4l0w6kgw6AgUGFyaXM=?=\r\n"
          b"Date: Wed, 3 Dec 2025 23:30:00 -0800\r\n"
          b"Message-ID: <n1@example.org>\r\n"
          b"MIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
          b"\r\n"
          b"preamble\r\n"
          b"--XX\r\n"
          b"Content-Type: text/plain; charset=utf-8\r\n"
          b"Content-Transfer-Encoding: quoted-printable\r\n"
          b"\r\n"
          b"Le caf=C3=A9 est CHAUD.\r\n"
          b"--XX\r\n"
          b"Content-Type: message/rfc822\r\n"
          b"\r\n"
          b"Subject: inner\r\n"
          b"From: c@example.com\r\n"
          b"Content-Type: multipart/alternative; boundary=YY\r\n"
          b"\r\n"
          b"--YY\r\n"
          b"Content-Type: text/plain\r\n"
          b"\r\n"
          b"plain words\r\n"
          b"--YY\r\n"
          b"Content-Type: text/html\r\n"
          b"\r\n"
          b"<b>html</b>\r\n"
          b"--YY--\r\n"
          b"--XX\r\n"
          b"Content-Type: application/octet-stream; name=\"z.bin\"\r\n"
          b"Content-Transfer-Encoding: base64\r\n"
          b"\r\n"
          b"AAECAwBoaQ==\r\n"
          b"--XX\r\n"
          b"Content-Type: application/x-odd\r\n"
          b"Content-Transfer-Encoding: x-uuencode\r\n"
          b"\r\n"
          b"begin 644 x\r\n"
          b"--XX--\r\n")


def fetch_one(c, item, num=b"1", uid=False):
    """imaplib's answer to FETCH NUM ITEM: the literal's bytes, or the whole line."""
    typ, data = c.uid("FETCH", num, item) if uid else c.fetch(num, item)
    assert typ == "OK", data
    return data[0][1] if isinstance(data[0], tuple) else data[0]


def test_fetch_sections_match_the_email_package(petrel_factory):
    p = imap_server(petrel_factory)
    c = login(p)
    assert c.append("INBOX", None, None, NESTED)[0] == "OK"
    c.select("INBOX")
    parsed = email.message_from_bytes(NESTED, policy=email.policy.default)
    parts = parsed.get_payload()
    # BODYSTRUCTURE: the leaves (and the message/rfc822) in the email package's order
    bs = fetch_one(c, "BODYSTRUCTURE")
    got = re.findall(rb'\("([a-z]+)" "([a-z0-9.-]+)" (?:\(|NIL)', bs)
    want = [tuple(x.encode() for x in part.get_content_type().split("/"))
            for part in parsed.walk() if not part.is_multipart()
            or part.get_content_type() == "message/rfc822"]
    assert got == want, (got, want)
    assert b'"mixed" ("boundary" "XX")' in bs and b'"alternative"' in bs
    size = int(re.search(rb"RFC822\.SIZE (\d+)", fetch_one(c, "RFC822.SIZE")).group(1))
    assert size == len(NESTED)
    # sections, as the email package splits the message
    assert fetch_one(c, "BODY.PEEK[]") == NESTED
    header, text = NESTED.split(b"\r\n\r\n", 1)
    assert fetch_one(c, "BODY.PEEK[HEADER]") == header + b"\r\n\r\n"
    assert fetch_one(c, "BODY.PEEK[TEXT]") == text
    assert fetch_one(c, "BODY.PEEK[HEADER.FIELDS (SUBJECT message-id)]") == \
        b"Subject: =?utf-8?b?w4l0w6kgw6AgUGFyaXM=?=\r\nMessage-ID: <n1@example.org>\r\n\r\n"
    body1 = fetch_one(c, "BODY.PEEK[1]")
    assert body1 == b"Le caf=C3=A9 est CHAUD."
    assert fetch_one(c, "BINARY.PEEK[1]").decode() == parts[0].get_content()
    inner = parts[1].get_payload()[0]
    raw_inner = email.message_from_bytes(NESTED).get_payload()[1].get_payload()[0]
    assert fetch_one(c, "BODY.PEEK[2.HEADER]").decode() == \
        "".join("%s: %s\r\n" % (k, v) for k, v in raw_inner.items()) + "\r\n"
    assert fetch_one(c, "BODY.PEEK[2.1]").decode() == \
        inner.get_payload()[0].get_payload()
    assert fetch_one(c, "BODY.PEEK[2.2]") == b"<b>html</b>"
    assert fetch_one(c, "BODY.PEEK[2.2.MIME]") == b"Content-Type: text/html\r\n\r\n"
    # BINARY: the attachment's decoded bytes (NULs: a literal8), and its size
    assert fetch_one(c, "BINARY.PEEK[3]") == parts[2].get_content()
    line = fetch_one(c, "BINARY.SIZE[3]")
    assert line.endswith(b"BINARY.SIZE[3] %d)" % len(parts[2].get_content())), line
    # partial: <origin.length>, named by its origin
    typ, data = c.fetch("1", "BODY.PEEK[1]<3.4>")
    assert data[0][0].endswith(b"BODY[1]<3> {4}") and data[0][1] == b"caf="
    # a part that does not exist is NIL
    assert fetch_one(c, "BODY.PEEK[7]").endswith(b"BODY[7] NIL)")
    # an encoding nobody knows: NO [UNKNOWN-CTE] (RFC 3516 4.3)
    typ, data = c.fetch("1", "BINARY.PEEK[4]")
    assert typ == "NO" and data[0].startswith(b"[UNKNOWN-CTE]"), data
    # nothing so far set \Seen; BODY[] does and says so
    assert b"\\Seen" not in fetch_one(c, "FLAGS")
    typ, data = c.fetch("1", "BODY[1]")
    assert b"FLAGS (\\Seen" in b"".join(x if isinstance(x, bytes) else x[0] for x in data)
    assert b"\\Seen" in fetch_one(c, "FLAGS")
    # UID FETCH answers UID; ENVELOPE with the encoded subject as sent
    line = fetch_one(c, "ENVELOPE", num=b"1", uid=True)
    assert b"UID 1" in line and b'"Wed, 3 Dec 2025 23:30:00 -0800"' in line
    c.logout()


def test_fetch_many_in_batches(petrel_factory):
    """A FETCH 1:* whose answer is many times a batch: every message, in order, whole."""
    p = imap_server(petrel_factory)
    c = login(p)
    n = 60
    for i in range(n):
        body = (b"%04d " % i) * 4000 + b"\r\n"
        msg = b"Subject: m%d\r\n\r\n" % i + body
        assert c.append("INBOX", None, None, msg)[0] == "OK"
    c.select("INBOX", readonly=True)
    typ, data = c.fetch("1:*", "(UID BODY.PEEK[TEXT])")
    assert typ == "OK"
    bodies = [d for d in data if isinstance(d, tuple)]
    assert len(bodies) == n
    for i, (head, body) in enumerate(bodies):
        assert head.startswith(b"%d (UID %d BODY[TEXT] {" % (i + 1, i + 1)), head
        assert body == (b"%04d " % i) * 4000 + b"\r\n"
    # EXAMINE: a BODY[] fetch sets no \Seen
    typ, data = c.fetch("1", "BODY[TEXT]")
    assert b"\\Seen" not in fetch_one(c, "FLAGS")
    c.logout()


def test_fetch_sets(petrel_factory):
    """FETCH and UID FETCH of sets of several ranges, out of order, overlapping, across
    gaps in the UIDs and past the last one (RFC 9051 6.4.8, 9: "*" is the highest number
    in use, n:* with n above it names that one): each message once, in order; STORE and
    COPY the same messages for the same set."""
    p = imap_server(petrel_factory)
    c = Raw(p)
    for i in range(10):
        c.ok(b"APPEND INBOX {18+}\r\nSubject: %d\r\n\r\nhi\r\n" % i)
    c.ok("SELECT INBOX")
    c.ok("UID STORE 3:4,7 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")   # UIDs 1 2 5 6 8 9 10 are left, sequence numbers 1 to 7

    def answered(command):
        lines = c.ok(command)
        return [tuple(int(x) for x in re.match(rb"\* (\d+) FETCH \(UID (\d+)\)", l).groups())
                for l in lines[:-1]]

    assert answered("UID FETCH 9:2,5,20:* (UID)") == [(2, 2), (3, 5), (4, 6), (5, 8), (6, 9),
                                                     (7, 10)]
    assert answered("FETCH 4,1:2,7,2 (UID)") == [(1, 1), (2, 2), (4, 6), (7, 10)]
    assert answered("UID FETCH 3:4,7 (UID)") == []
    assert answered("UID FETCH 11:* (UID)") == [(7, 10)]
    assert answered("FETCH * (UID)") == [(7, 10)]
    assert c.cmd("FETCH 6:8 (UID)")[-1].split()[1] == b"BAD"
    # STORE and COPY name their messages the same way
    lines = c.ok("UID STORE 9:5,20:* +FLAGS (\\Flagged)")
    assert [int(re.match(rb"\* (\d+) FETCH", l).group(1)) for l in lines[:-1]] == [3, 4, 5, 6, 7]
    assert c.ok("SEARCH FLAGGED")[0] == b"* SEARCH 3 4 5 6 7"
    tagged = c.ok("UID COPY 10,1:2,4 Trash")[-1]
    assert b"[COPYUID " in tagged and b" 1:2,10 1:3]" in tagged, tagged
    c.close()


def test_store(petrel_factory):
    p = imap_server(petrel_factory)
    c = Raw(p)
    for _ in range(3):
        c.ok(b"APPEND INBOX {18+}\r\nSubject: x\r\n\r\nhi\r\n")
    c.ok("SELECT INBOX")
    lines = c.ok("STORE 1:2 +FLAGS (\\Flagged work)")
    # a new keyword: FLAGS and PERMANENTFLAGS again (RFC 9051 7.3.5) before the
    # answers that name it
    assert lines[0].startswith(b"* FLAGS (") and b" work)" in lines[0]
    assert lines[1].startswith(b"* OK [PERMANENTFLAGS (")
    assert lines[2:-1] == [b"* 1 FETCH (FLAGS (\\Flagged work))",
                          b"* 2 FETCH (FLAGS (\\Flagged work))"]
    lines = c.ok("STORE 2 -FLAGS.SILENT (work)")
    assert lines[:-1] == []
    lines = c.ok("UID STORE 2:3 FLAGS (\\Seen $Forwarded)")
    assert lines[:-1] == [b"* 2 FETCH (UID 2 FLAGS (\\Seen $Forwarded))",
                          b"* 3 FETCH (UID 3 FLAGS (\\Seen $Forwarded))"]
    assert c.ok("FETCH 1:3 FLAGS")[:-1] == [b"* 1 FETCH (FLAGS (\\Flagged work))",
                                            b"* 2 FETCH (FLAGS (\\Seen $Forwarded))",
                                            b"* 3 FETCH (FLAGS (\\Seen $Forwarded))"]
    # -FLAGS of a keyword the folder never had changes nothing
    c.ok("STORE 1 -FLAGS (nosuch)")
    assert c.cmd("STORE 4 +FLAGS (\\Seen)")[-1].split()[1] == b"BAD"
    assert c.cmd("STORE 1 +FLAGS (\\Recent)")[-1].split()[1] == b"BAD"
    assert c.cmd("STORE 1 FLAG (\\Seen)")[-1].split()[1] == b"BAD"
    # CONDSTORE (RFC 7162): MODSEQ in the answers, UNCHANGEDSINCE and [MODIFIED]
    lines = c.ok("FETCH 1:3 (MODSEQ)")
    modseqs = [int(re.search(rb"MODSEQ \((\d+)\)", l).group(1)) for l in lines[:-1]]
    assert len(modseqs) == 3
    lines = c.ok("STORE 1 +FLAGS (\\Answered)")
    new1 = int(re.search(rb"MODSEQ \((\d+)\)", lines[0]).group(1))
    assert new1 > max(modseqs)
    lines = c.ok("UID STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Draft)" % modseqs[1])
    # message 1 changed since (its \\Answered): left alone and named
    assert re.match(rb"t\d+ OK \[MODIFIED 1\] ", lines[-1]), lines
    assert [l.split(b" MODSEQ")[0] for l in lines[:-1]] == [b"* 2 FETCH (UID 2",
                                                            b"* 3 FETCH (UID 3"], lines
    assert b"\\Draft" in c.ok("FETCH 2 FLAGS")[0]
    assert b"\\Draft" not in c.ok("FETCH 1 FLAGS")[0]
    # CHANGEDSINCE: only what changed after it, with MODSEQ
    lines = c.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % new1)
    assert [l.split()[1] for l in lines[:-1]] == [b"2", b"3"], lines
    assert all(b"MODSEQ (" in l for l in lines[:-1])
    # a fetch that sets \\Seen under CONDSTORE reports the new MODSEQ with the FLAGS
    lines = c.ok("FETCH 1 BODY[TEXT]")
    assert re.search(rb" FLAGS \([^)]*\\Seen[^)]*\) MODSEQ \((\d+)\)\)$", lines[0]), lines
    # EXAMINE: STORE is refused
    c.ok("EXAMINE INBOX")
    assert c.cmd("STORE 1 +FLAGS (\\Seen)")[-1].split()[1:3] == [b"NO", b"[READ-ONLY]"]
    c.close()


SEARCHED = [
    b"From: =?iso-8859-1?q?Andr=E9?= <andre@example.org>\r\nTo: bob@example.net\r\n"
    b"Subject: =?utf-8?b?w4lURSDDoCBQYXJpcw==?=\r\nDate: Wed, 3 Dec 2025 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\nLe caf=E9 est chaud.\r\n",
    b"From: carol@example.com\r\nTo: bob@example.net\r\nCc: dave@example.com\r\n"
    b"Subject: lunch\r\nDate: Fri, 5 Dec 2025 10:00:00 +0000\r\n\r\nSee you at noon.\r\n",
    b"From: eve@example.com\r\nTo: bob@example.net\r\nSubject: big\r\n"
    b"Date: Sat, 6 Dec 2025 10:00:00 +0000\r\n\r\n" + b"x" * 5000 + b"\r\n",
]


def test_search(petrel_factory):
    p = imap_server(petrel_factory)
    c = login(p)
    for m in SEARCHED:
        assert c.append("INBOX", None, None, m)[0] == "OK"
    c.select("INBOX")
    c.store("2", "+FLAGS", "(\\Flagged)")

    def search(*keys, charset=None):
        typ, data = c.search(charset, *keys)
        assert typ == "OK", data
        return data[0].split()

    assert search("ALL") == [b"1", b"2", b"3"]
    assert search("FLAGGED") == [b"2"]
    assert search("UNFLAGGED", "NOT", "1") == [b"3"]
    assert search("OR", "1", "3") == [b"1", b"3"]
    assert search("FROM", "CAROL") == [b"2"]
    assert search("SUBJECT", "paris") == [b"1"]
    assert search("CC", "dave") == [b"2"]
    assert search("TO", "bob", "NOT", "CC", "dave") == [b"1", b"3"]
    assert search("HEADER", "Cc", '""') == [b"2"]
    assert search("BODY", "noon") == [b"2"]
    assert search("TEXT", "lunch") == [b"2"]
    assert search("LARGER", "4000") == [b"3"]
    assert search("SMALLER", "4000") == [b"1", b"2"]
    assert search("SENTBEFORE", "5-Dec-2025") == [b"1"]
    assert search("SENTON", "5-Dec-2025") == [b"2"]
    assert search("SENTSINCE", "5-Dec-2025") == [b"2", b"3"]
    assert search("SINCE", "1-Jan-2020") == [b"1", b"2", b"3"]
    assert search("BEFORE", "1-Jan-2020") == []
    # WITHIN (RFC 5032): appended just now
    assert search("YOUNGER", "3600") == [b"1", b"2", b"3"]
    assert search("OLDER", "3600") == []
    assert "WITHIN" in c.capabilities
    typ, data = c.uid("SEARCH", "2:*")
    assert data[0].split() == [b"2", b"3"]
    # UTF-8, through literals (imaplib sends M.literal as the last argument)
    c.literal = "caf\u00e9".encode()
    assert search("BODY", charset="UTF-8") == [b"1"]
    c.literal = "\u00e9te \u00e0".encode()
    assert search("SUBJECT", charset="UTF-8") == [b"1"]
    c.literal = "ANDR\u00c9".encode()
    assert search("FROM", charset="UTF-8") == [b"1"]
    typ, data = c.search("KOI8-R", "ALL")
    assert typ == "NO" and data[0].startswith(b"[BADCHARSET (US-ASCII UTF-8)]"), data
    c.logout()


def test_esearch_and_modseq(petrel_factory):
    p = imap_server(petrel_factory)
    c = Raw(p)
    for m in SEARCHED:
        c.ok(b"APPEND INBOX {%d+}\r\n" % len(m) + m)
    c.ok("SELECT INBOX")
    assert c.ok("SEARCH RETURN (MIN MAX COUNT ALL) TO bob")[0] == \
        b'* ESEARCH (TAG "t%d") MIN 1 MAX 3 ALL 1:3 COUNT 3' % c.n
    assert c.ok("UID SEARCH RETURN () 2:3")[0] == b'* ESEARCH (TAG "t%d") UID ALL 2:3' % c.n
    assert c.ok("SEARCH RETURN (COUNT) SUBJECT nothing")[0] == \
        b'* ESEARCH (TAG "t%d") COUNT 0' % c.n
    assert b"ESEARCH" in c.ok("CAPABILITY")[0]
    c.ok("STORE 2 +FLAGS (\\Seen)")
    modseq = int(re.search(rb"MODSEQ \((\d+)\)", c.ok("FETCH 2 MODSEQ")[0]).group(1))
    assert c.ok("SEARCH MODSEQ %d" % modseq)[0] == b"* SEARCH 2 (MODSEQ %d)" % modseq
    assert c.ok("SEARCH RETURN (COUNT) MODSEQ %d" % modseq)[0] == \
        b'* ESEARCH (TAG "t%d") COUNT 1 MODSEQ %d' % (c.n, modseq)
    # "$" with nothing saved is an empty set, not an error (RFC 5182 2.1)
    assert c.ok("SEARCH $")[0] == b"* SEARCH"
    assert c.cmd("SEARCH FOO")[-1].split()[1] == b"BAD"
    c.close()


def test_fetch_vanished(petrel_factory):
    """UID FETCH (CHANGEDSINCE n VANISHED) after ENABLE QRESYNC (RFC 7162 3.2.6)."""
    p = imap_server(petrel_factory)
    c = Raw(p)
    for _ in range(4):
        c.ok(b"APPEND INBOX {18+}\r\nSubject: x\r\n\r\nhi\r\n")
    assert c.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")[-1].split()[1] == b"BAD"
    c.ok("ENABLE QRESYNC")
    c.ok("SELECT INBOX")
    c.ok("STORE 2:3 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    lines = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert lines[0] == b"* VANISHED (EARLIER) 2:3", lines
    # the first message's MODSEQ is 1 (the folder's first change): not since 1
    assert [l.split(b" (")[0] for l in lines[1:-1]] == [b"* 2 FETCH"]
    assert all(b"MODSEQ (" in l and b"UID " in l for l in lines[1:-1])
    lines = c.ok("UID FETCH 3:4 (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert lines[0] == b"* VANISHED (EARLIER) 3", lines
    # several ranges, each across gaps and kept messages: UIDs 1 4 6 8 are left
    for _ in range(4):
        c.ok(b"APPEND INBOX {18+}\r\nSubject: x\r\n\r\nhi\r\n")
    c.ok("UID STORE 5,7 +FLAGS.SILENT (\\Deleted)")
    c.ok("UID EXPUNGE 5,7")
    lines = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert lines[0] == b"* VANISHED (EARLIER) 2:3,5,7", lines
    lines = c.ok("UID FETCH 2,4:5,7:8 (UID) (CHANGEDSINCE 1 VANISHED)")
    assert lines[0] == b"* VANISHED (EARLIER) 2,5,7", lines
    # VANISHED needs UID FETCH
    assert c.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")[-1].split()[1] == b"BAD"
    c.close()


def test_search_utf8_quoted(petrel_factory):
    """SEARCH CHARSET UTF-8 with the strings quoted rather than literals (as clients
    send them once UTF8=ACCEPT is on, RFC 6855 3): compared with the decoded header
    fields and bodies, case-folded."""
    p = imap_server(petrel_factory)
    c = Raw(p)
    for m in SEARCHED:
        c.ok(b"APPEND INBOX {%d+}\r\n" % len(m) + m)
    c.ok("SELECT INBOX")
    u = 'SEARCH CHARSET UTF-8 '
    # the Subject is "\u00c9TE \u00e0 Paris"
    assert c.ok((u + 'SUBJECT "\u00e9te \u00c0"').encode())[0] == b"* SEARCH 1"
    assert c.ok((u + 'SUBJECT "\u00e9t\u00e9"').encode())[0] == b"* SEARCH"
    assert c.ok(('UID ' + u + 'BODY "CAF\u00c9"').encode())[0] == b"* SEARCH 1"
    assert c.ok((u + 'TEXT "\u00c9te \u00e0 PARIS"').encode())[0] == b"* SEARCH 1"
    assert c.ok((u + 'FROM "andr\u00e9@"').encode())[0] == b"* SEARCH"
    assert c.ok((u + 'FROM "andr\u00e9 <andre@"').encode())[0] == b"* SEARCH 1"
    c.close()


# Messages whose headers FETCH ENVELOPE and SEARCH by header read: encoded words, a
# folded field, groups, a message without a body and one without a header.
CACHED = SEARCHED + [
    NESTED,
    b"From: Group: a@example.org, b@example.org;\r\nTo: undisclosed-recipients:;\r\n"
    b"Subject: folded\r\n across lines\r\nIn-Reply-To: <x@example.org>\r\n",
    b"\r\nno header at all\r\n",
]
CACHE_RE = r"mailbox-cache path=\S+/example\.test/u/petrel\.cache hits=(\d+) misses=(\d+)"


def header_answers(p):
    """FETCH (UID ENVELOPE) and SEARCHes by header of INBOX, on one session: the
    folder's last user, so its close (and the cache's log line) follows the logout."""
    c = login(p)
    c.select("INBOX", readonly=True)
    typ, data = c.fetch("1:*", "(UID ENVELOPE)")
    assert typ == "OK", data
    answers = [b"".join(x if isinstance(x, bytes) else x[0] + x[1] for x in data)]
    for keys in (("FROM", "carol"), ("SUBJECT", "paris"), ("HEADER", "Cc", '""'),
                 ("TO", "bob", "NOT", "CC", "dave"), ("SUBJECT", "across"),
                 ("SENTSINCE", "5-Dec-2025"), ("HEADER", "In-Reply-To", "x@")):
        typ, data = c.uid("SEARCH", *keys)
        assert typ == "OK", data
        answers.append(data[0])
    c.logout()
    return answers


def utf8_envelopes(p):
    """FETCH (UID ENVELOPE) of INBOX after ENABLE UTF8=ACCEPT."""
    c = login(p)
    assert c.enable("UTF8=ACCEPT")[0] == "OK"
    c.select("INBOX", readonly=True)
    typ, data = c.fetch("1:*", "(UID ENVELOPE)")
    assert typ == "OK", data
    c.logout()
    return b"".join(x if isinstance(x, bytes) else x[0] + x[1] for x in data)


def test_header_cache(petrel_factory):
    """petrel.cache (src/mailbox/cache.c): the answers are the same with the cache made,
    used, deleted, damaged or turned off, and the second session is served from it
    (the folder's close logs its hits and misses: all hits, no message file read)."""
    p = imap_server(petrel_factory)
    c = login(p)
    for m in CACHED:
        assert c.append("INBOX", None, None, m)[0] == "OK"
    c.logout()
    n = len(CACHED)
    first = header_answers(p)
    assert first[1].split() == [b"2"] and first[5].split() == [b"5"], first
    p.wait_log(CACHE_RE, count=1)
    cache = p.data_dir / "mail" / "example.test" / "u" / "petrel.cache"
    assert cache.stat().st_size > 32
    # the ENVELOPE texts are kept beside the header sections (the group's form
    # is in no header), and served from there the next time
    assert b'(NIL NIL "Group" NIL)' in cache.read_bytes()
    assert header_answers(p) == first
    log = p.wait_log(CACHE_RE, count=2)
    counts = [tuple(map(int, m)) for m in re.findall(CACHE_RE, log)]
    # the first session read each message once (FETCH), then the SEARCHes hit
    assert counts[0][1] == n, counts
    # the second: never a message file
    assert counts[1] == (8 * n, 0), counts
    # lost, then damaged in the middle: the same answers, the files read again
    cache.unlink()
    assert header_answers(p) == first
    p.wait_log(CACHE_RE, count=3)   # written at the folder's close
    data = bytearray(cache.read_bytes())
    data[len(data) // 2] ^= 0xff
    cache.write_bytes(bytes(data))
    assert header_answers(p) == first
    log = p.wait_log(CACHE_RE, count=4)
    counts = [tuple(map(int, m)) for m in re.findall(CACHE_RE, log)]
    assert counts[2][1] == n and 0 < counts[3][1] < n, counts
    # UTF8=ACCEPT answers its own ENVELOPE form, never the kept one
    utf8 = utf8_envelopes(p)
    p.stop()

    # turned off: no petrel.cache, the same answers
    q = imap_server(petrel_factory, header_cache_max=0)
    c = login(q)
    for m in CACHED:
        assert c.append("INBOX", None, None, m)[0] == "OK"
    c.logout()
    assert header_answers(q) == first
    assert utf8_envelopes(q) == utf8
    assert not (q.data_dir / "mail" / "example.test" / "u" / "petrel.cache").exists()
