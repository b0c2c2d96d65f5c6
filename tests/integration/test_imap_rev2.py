"""SEARCHRES (RFC 5182: SEARCH RETURN (SAVE) and "$"), which IMAP4rev2 requires.  A raw
client (imap_util.Raw) writes the commands imaplib cannot."""

import re

from imap_util import Raw, imap_server


def message(subject):
    return b"From: a@example.org\r\nSubject: %s\r\n\r\nbody\r\n" % subject.encode()


def filled(p, count=5):
    """A Raw client with COUNT messages appended to INBOX (UIDs 1..COUNT), INBOX selected."""
    c = Raw(p)
    for i in range(count):
        assert c.append("INBOX", message("m%d" % (i + 1)))[-1].split()[1] == "OK"
    c.ok("SELECT INBOX")
    return c


def fetched_uids(lines):
    return [int(m.group(1)) for m in (re.search(r"\bUID (\d+)", l) for l in lines) if m]


def test_searchres_save_and_use(petrel_factory):
    p = imap_server(petrel_factory)
    c = filled(p, 6)
    assert "SEARCHRES" in c.ok("CAPABILITY")[0].split()
    c.ok("STORE 2,4,5 +FLAGS.SILENT (\\Flagged)")
    # SAVE alone: no ESEARCH (RFC 5182 2.4)
    assert c.ok("SEARCH RETURN (SAVE) FLAGGED") == ["t%d OK SEARCH completed" % c.n]
    assert fetched_uids(c.ok("FETCH $ (UID)")) == [2, 4, 5]
    assert fetched_uids(c.ok("UID FETCH $ (FLAGS)")) == [2, 4, 5]
    assert c.ok("SEARCH $")[0] == "* SEARCH 2 4 5"
    assert c.ok("SEARCH NOT $")[0] == "* SEARCH 1 3 6"
    assert c.ok("UID SEARCH UID $ 4:*")[0] == "* SEARCH 4 5"
    # SAVE with other options answers them; with MIN and MAX only those are saved
    assert c.ok("SEARCH RETURN (SAVE COUNT) $")[0] == '* ESEARCH (TAG "t%d") COUNT 3' % c.n
    assert c.ok("SEARCH RETURN (SAVE MIN MAX) $")[0] == \
        '* ESEARCH (TAG "t%d") MIN 2 MAX 5' % c.n
    assert c.ok("SEARCH $")[0] == "* SEARCH 2 5"
    # UID SEARCH saves UIDs; a sequence-number command sees them as its numbers
    c.ok("UID SEARCH RETURN (SAVE) UID 3:4")
    lines = c.ok("STORE $ +FLAGS (\\Seen)")
    assert [l.split()[1] for l in lines[:-1]] == ["3", "4"], lines
    c.ok("CREATE Keep")
    assert re.match(r"t\d+ OK \[COPYUID \d+ 3:4 1:2\] ", c.ok("COPY $ Keep")[-1])
    # an expunged message drops out of the saved result (RFC 5182 2.1)
    c.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    assert c.ok("EXPUNGE")[0] == "* 3 EXPUNGE"
    assert fetched_uids(c.ok("FETCH $ (UID)")) == [4]
    assert c.ok("UID SEARCH $")[0] == "* SEARCH 4"
    lines = c.ok("MOVE $ Keep")
    assert re.match(r"\* OK \[COPYUID \d+ 4 3\] ", lines[0]) and lines[1] == "* 3 EXPUNGE", lines
    # empty: not an error (RFC 5182 2.1)
    assert c.ok("FETCH $ (UID)") == ["t%d OK FETCH completed" % c.n]
    assert c.ok("SEARCH $")[0] == "* SEARCH"
    c.close()


def test_searchres_reset(petrel_factory):
    """SELECT, EXAMINE, CLOSE and UNSELECT empty the saved result, as a SEARCH ... SAVE
    that fails does; a BAD one leaves it (RFC 5182 2.1)."""
    p = imap_server(petrel_factory)
    c = filled(p, 3)

    def saved():
        return c.ok("UID SEARCH $")[0]

    c.ok("SEARCH RETURN (SAVE) 2:3")
    assert saved() == "* SEARCH 2 3"
    assert c.cmd("SEARCH RETURN (SAVE) FOO")[-1].split()[1] == "BAD"
    assert saved() == "* SEARCH 2 3"
    assert c.cmd("SEARCH RETURN (SAVE) CHARSET KOI8-R ALL")[-1].split()[1] == "NO"
    assert saved() == "* SEARCH"
    for reset in ("SELECT INBOX", "EXAMINE INBOX", "UNSELECT", "CLOSE"):
        c.ok("SEARCH RETURN (SAVE) 1")
        assert saved() == "* SEARCH 1"
        c.ok(reset)
        if reset in ("UNSELECT", "CLOSE"):
            c.ok("SELECT INBOX")
        assert saved() == "* SEARCH", reset
    c.ok("SEARCH RETURN (SAVE) 1:2")
    c.ok("UID EXPUNGE $")   # nothing is \Deleted
    c.ok("STORE $ +FLAGS.SILENT (\\Deleted)")
    assert sorted(c.ok("UID EXPUNGE $")[:2]) == ["* 1 EXPUNGE", "* 2 EXPUNGE"]
    assert c.ok("SEARCH ALL")[0] == "* SEARCH 1"
    c.close()
