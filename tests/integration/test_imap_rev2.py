"""IMAP4rev2 (RFC 9051) offered beside IMAP4rev1: the capability, what ENABLE IMAP4rev2
changes (no \\Recent and no RECENT, SELECT's LIST line, ESEARCH as SEARCH's answer,
UTF-8 mailbox names) and what a session that did not enable it keeps; SEARCHRES
(RFC 5182: SEARCH RETURN (SAVE) and "$"), which IMAP4rev2 requires.  A raw client
(imap_util.Raw) writes the commands imaplib cannot."""

import re

from imap_util import Raw, imap_connect, imap_server

USER, PASSWORD = "u@example.test", "secret"


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


def test_capability_lists_rev2_and_what_it_requires(petrel_factory):
    p = imap_server(petrel_factory)
    c = imap_connect(p, tls=True)
    before = set(c.capabilities)
    c.login(USER, PASSWORD)
    typ, data = c.capability()
    after = set(data[0].decode().split())
    # RFC 9051 7.2.2 and Appendix E: the extensions IMAP4rev2 takes in
    assert {"IMAP4REV1", "IMAP4REV2", "SASL-IR", "AUTH=PLAIN"} <= before, before
    for name in ("IMAP4rev1", "IMAP4rev2", "NAMESPACE", "UNSELECT", "UIDPLUS", "ESEARCH",
                 "SEARCHRES", "ENABLE", "IDLE", "LIST-EXTENDED", "LIST-STATUS", "MOVE",
                 "SPECIAL-USE", "BINARY", "STATUS=SIZE", "LITERAL+"):
        assert name in after, (name, after)
    typ, data = c._simple_command("ENABLE", "IMAP4rev2")
    assert typ == "OK"
    assert c.untagged_responses.pop("ENABLED") == [b"IMAP4rev2"]
    c.logout()


def test_rev2_select_has_list_and_no_recent(petrel_factory):
    p = imap_server(petrel_factory)
    rev1 = Raw(p)
    rev1.append("INBOX", message("one"))
    rev1.ok("CREATE Sent/2026")
    lines = rev1.ok("SELECT INBOX")
    assert "* 0 RECENT" in lines and not any(l.startswith("* LIST") for l in lines), lines
    assert any(l.startswith("* OK [UNSEEN 1]") for l in lines), lines
    rev1.ok("UNSELECT")

    rev2 = Raw(p)
    assert rev2.ok("ENABLE IMAP4rev2")[0] == "* ENABLED IMAP4rev2"
    lines = rev2.ok("EXAMINE inbox")
    assert not any("RECENT" in l or "[UNSEEN" in l for l in lines), lines
    # RFC 9051 6.3.2: the LIST line, with the name as LIST gives it and its attributes
    assert '* LIST (\\HasNoChildren) "/" "INBOX"' in lines, lines
    assert "* 1 EXISTS" in lines
    listed = [l for l in rev2.ok('LIST "" Sent') if l.startswith("* LIST")]
    assert listed == ['* LIST (\\HasChildren \\Sent) "/" "Sent"'], listed
    lines = rev2.ok("SELECT Sent")
    assert lines[0] == "* OK [CLOSED] Previous mailbox closed", lines
    assert listed[0] in lines, lines
    # no \Recent in FETCH, and ESEARCH answers SEARCH (RFC 9051 7.3.4)
    rev2.ok("SELECT INBOX")
    assert rev2.ok("FETCH 1 FLAGS")[0] == "* 1 FETCH (FLAGS ())"
    assert rev2.ok("SEARCH ALL")[0] == '* ESEARCH (TAG "t%d") ALL 1' % rev2.n
    assert rev2.cmd("SELECT Nowhere")[-1].startswith("t%d NO [NONEXISTENT] " % rev2.n)
    rev1.close()
    rev2.close()


def test_rev2_updates_have_no_recent(petrel_factory):
    """Messages that arrive while both are selected: the IMAP4rev1 session is told
    RECENT and sees \\Recent in FETCH FLAGS, the IMAP4rev2 one neither (RFC 9051 2.3.2)."""
    p = imap_server(petrel_factory)
    rev1, rev2, other = Raw(p), Raw(p), Raw(p)
    rev2.ok("ENABLE IMAP4rev2")
    rev1.ok("SELECT INBOX")
    rev2.ok("SELECT INBOX")
    # the first session told of a message has it as \Recent (RFC 3501 2.3.2)
    other.append("INBOX", message("first"))
    assert rev1.ok("NOOP")[:2] == ["* 1 EXISTS", "* 1 RECENT"]
    assert rev2.ok("NOOP")[:-1] == ["* 1 EXISTS"]
    other.append("INBOX", message("second"))
    assert rev2.ok("NOOP")[:-1] == ["* 2 EXISTS"]
    assert rev1.ok("NOOP")[0] == "* 2 EXISTS"
    other.ok("SELECT INBOX")
    other.ok("STORE 1:2 +FLAGS.SILENT (\\Flagged)")
    assert rev1.ok("NOOP")[:2] == ["* 1 FETCH (FLAGS (\\Flagged \\Recent))",
                                   "* 2 FETCH (FLAGS (\\Flagged))"]
    assert rev2.ok("NOOP")[:2] == ["* 1 FETCH (FLAGS (\\Flagged))",
                                   "* 2 FETCH (FLAGS (\\Flagged))"]
    assert rev2.ok("FETCH 2 FLAGS")[0] == "* 2 FETCH (FLAGS (\\Flagged))"
    assert rev1.ok("FETCH 1 FLAGS")[0] == "* 1 FETCH (FLAGS (\\Flagged \\Recent))"
    for c in (rev1, rev2, other):
        c.close()


def test_rev2_mailbox_names_are_utf8(petrel_factory):
    p = imap_server(petrel_factory)
    rev2 = Raw(p)
    rev2.ok("ENABLE IMAP4rev2")
    rev2.ok('CREATE "Gr\u00fc\u00dfe"')
    assert '* LIST (\\HasNoChildren) "/" "Gr\u00fc\u00dfe"' in rev2.ok('LIST "" "Gr*"')
    assert rev2.ok('STATUS "Gr\u00fc\u00dfe" (MESSAGES DELETED SIZE)')[0] == \
        '* STATUS "Gr\u00fc\u00dfe" (MESSAGES 0 DELETED 0 SIZE 0)'
    # an IMAP4rev1 session sees (and names) it in modified UTF-7 (RFC 3501 5.1.3)
    rev1 = Raw(p)
    assert '* LIST (\\HasNoChildren) "/" "Gr&APwA3w-e"' in rev1.ok('LIST "" "Gr*"')
    rev1.ok("SELECT Gr&APwA3w-e")
    rev1.close()
    rev2.close()


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
