"""The IMAP mailbox commands (src/imap/cmd-select.c, cmd-mailbox.c, cmd-append.c,
cmd-idle.c): SELECT / EXAMINE, CLOSE, UNSELECT, EXPUNGE, LIST and its extensions, LSUB,
CREATE / DELETE / RENAME, SUBSCRIBE, STATUS, APPEND, COPY / MOVE, IDLE and the untagged
updates every session with a mailbox selected gets, with imaplib and a raw client."""

import imaplib
import re
import select
import socket
import time

import pytest

from conftest import assert_queued, fault_env, make_message
from imap_util import Raw, imap_connect, imap_server, tls_context

USER, PASSWORD = "u@example.test", "secret"


def deliver(p, rcpt=USER, subject="test"):
    """One message to RCPT over SMTP (local delivery into its INBOX)."""
    c = p.session("mx")
    assert_queued(c.mail_transaction("a@b.test", [rcpt], make_message(subject, to=rcpt)))
    c.quit()


def wait_for(pred, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def code(lines, name):
    """The value of response code [NAME ...] in LINES, or None."""
    for line in lines:
        m = re.search(r"\[%s(?: ([^\]]*))?\]" % re.escape(name), line)
        if m:
            return m.group(1) if m.group(1) is not None else ""
    return None


MSG = b"From: <a@b.test>\r\nSubject: hi\r\n\r\nHello.\r\n"


def test_select_and_examine(petrel_factory):
    p = imap_server(petrel_factory)
    c = Raw(p)
    assert c.append("INBOX", MSG, "(\\Seen)")[-1].split()[1] == "OK"
    # delivered while no session has the folder: \Recent (what a load finds in new/)
    deliver(p)
    p.mail("example.test", "u", 1)
    lines = c.ok("SELECT INBOX")
    assert lines[-1] == "t%d OK [READ-WRITE] SELECT completed" % c.n
    assert "* 2 EXISTS" in lines and "* 1 RECENT" in lines
    flags = [l for l in lines if l.startswith("* FLAGS ")]
    assert flags == ["* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)"]
    assert code(lines, "PERMANENTFLAGS") == \
        "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\*)"
    assert code(lines, "UNSEEN") == "2"
    assert int(code(lines, "UIDVALIDITY")) > 0
    assert code(lines, "UIDNEXT") == "3"
    assert int(code(lines, "HIGHESTMODSEQ")) > 0
    # a second SELECT closes the first ([CLOSED], RFC 7162 3.2.11); \Recent went to the
    # first session that saw them
    lines = c.ok("EXAMINE inbox")
    assert lines[0] == "* OK [CLOSED] Previous mailbox closed"
    assert lines[-1].startswith("t%d OK [READ-ONLY]" % c.n)
    assert code(lines, "PERMANENTFLAGS") == "()"
    assert "* 0 RECENT" in lines
    assert c.cmd("EXPUNGE")[-1].startswith("t%d NO [READ-ONLY]" % c.n)
    # a failed SELECT leaves nothing selected (RFC 9051 6.3.2)
    lines = c.cmd("SELECT Nowhere")
    assert lines[-1].startswith("t%d NO [NONEXISTENT]" % c.n), lines
    assert c.cmd("CLOSE")[-1].startswith("t%d BAD" % c.n)
    assert c.cmd("SELECT")[-1].startswith("t%d BAD" % c.n)
    c.close()


def test_close_unselect_expunge(petrel_factory):
    p = imap_server(petrel_factory)
    c = Raw(p)
    for flags in ("(\\Deleted)", "", "(\\Deleted)", "(\\Deleted)"):
        assert c.append("INBOX", MSG, flags)[-1].split()[1] == "OK"
    c.ok("SELECT INBOX")
    # UNSELECT (RFC 3691) leaves \Deleted messages
    assert c.ok("UNSELECT")[-1] == "t%d OK UNSELECT completed" % c.n
    assert c.cmd("UNSELECT")[-1].startswith("t%d BAD" % c.n)
    c.ok("SELECT INBOX")
    # UID EXPUNGE (RFC 4315) only within its set: UID 1
    lines = c.ok("UID EXPUNGE 1:2")
    assert lines[:-1] == ["* 1 EXPUNGE"]
    lines = c.ok("EXPUNGE")
    assert lines[:-1] == ["* 3 EXPUNGE", "* 2 EXPUNGE"]
    assert c.append("INBOX", MSG, "(\\Deleted)")[-1].split()[1] == "OK"
    # CLOSE expunges silently
    lines = c.ok("CLOSE")
    assert lines == ["t%d OK CLOSE completed" % c.n]
    lines = c.ok("STATUS INBOX (MESSAGES UIDNEXT DELETED)")
    assert lines[0] == '* STATUS "INBOX" (MESSAGES 1 UIDNEXT 6 DELETED 0)'
    c.close()


def test_list_and_folders(petrel_factory):
    p = imap_server(petrel_factory)
    c = imap_connect(p, tls=True)
    c.login(USER, PASSWORD)
    assert c.create("Work/2026") == ("OK", [b"CREATE completed"])
    assert c.create("caf&AOk-")[0] == "OK"
    typ, data = c.list()
    assert typ == "OK"
    names = {}
    for line in data:
        m = re.match(rb'\(([^)]*)\) "/" "?([^"]*)"?$', line)
        names[m.group(2).decode()] = m.group(1).decode().split()
    # the account's SPECIAL-USE folders (RFC 6154), made at login
    assert "\\Sent" in names["Sent"] and "\\Trash" in names["Trash"]
    assert "\\Junk" in names["Junk"] and "\\Drafts" in names["Drafts"]
    assert "\\Archive" in names["Archive"]
    # CREATE makes the missing parents too (RFC 3501 6.3.3)
    assert names["Work"] == ["\\HasChildren"]
    assert names["Work/2026"] == ["\\HasNoChildren"]
    assert "caf&AOk-" in names and "INBOX" in names
    typ, data = c.list('""', "%")
    assert not any(b"Work/2026" in l for l in data)
    typ, data = c.list("Work/", "%")
    assert data == [b'(\\HasNoChildren) "/" "Work/2026"']
    assert c.list('""', '""') == ("OK", [b'(\\Noselect) "/" ""'])

    # LIST-EXTENDED (RFC 5258), SPECIAL-USE selection, LIST-STATUS (RFC 5819)
    typ, data = c._simple_command("LIST", "(SPECIAL-USE)", '""', "*", "RETURN",
                                  "(STATUS (MESSAGES UIDNEXT))")
    assert typ == "OK"
    lists = c.untagged_responses.pop("LIST", [])
    statuses = c.untagged_responses.pop("STATUS", [])
    assert len(lists) == 5 and all(b"\\HasNoChildren \\" in l for l in lists), lists
    assert len(statuses) == 5 and b'"Sent" (MESSAGES 0 UIDNEXT 1)' in statuses, statuses

    # subscriptions: SUBSCRIBED selection, RECURSIVEMATCH, LSUB
    assert c.subscribe("Work/2026")[0] == "OK"
    assert c.subscribe("Gone")[0] == "OK"
    typ, data = c._simple_command("LIST", "(SUBSCRIBED RECURSIVEMATCH)", '""', "%")
    lists = c.untagged_responses.pop("LIST", [])
    assert b'(\\HasChildren) "/" "Work" ("CHILDINFO" ("SUBSCRIBED"))' in lists
    assert b'(\\NonExistent \\Subscribed) "/" "Gone"' in lists
    # RECURSIVEMATCH alone is a BAD (RFC 5258 3): imaplib raises
    with pytest.raises(imaplib.IMAP4.error, match="RECURSIVEMATCH"):
        c._simple_command("LIST", "(RECURSIVEMATCH)", '""', "%")
    typ, data = c.lsub('""', "*")
    assert b'() "/" "Work/2026"' in data and b'() "/" "Gone"' in data
    assert c.unsubscribe("Gone")[0] == "OK"
    assert not any(b"Gone" in l for l in c.lsub('""', "*")[1])

    # CREATE-SPECIAL-USE (RFC 6154 3): only the folder's own use
    assert c.delete("Archive")[0] == "OK"
    assert c._simple_command("CREATE", "Archive", "(USE (\\Archive))")[0] == "OK"
    typ, data = c._simple_command("CREATE", "Old", "(USE (\\Archive))")
    assert typ == "NO" and data[0].startswith(b"[USEATTR]"), data
    assert c.list('""', "Old")[1] == [None]

    # DELETE, RENAME and their errors (RFC 5530 codes)
    typ, data = c.create("Work/2026")
    assert typ == "NO" and b"[ALREADYEXISTS]" in data[0], data
    typ, data = c.delete("INBOX")
    assert typ == "NO", data
    typ, data = c.delete("Nowhere")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0], data
    assert c.rename("Work", "Play")[0] == "OK"
    assert c.list('""', "Play/*")[1] == [b'(\\HasNoChildren) "/" "Play/2026"']
    assert c.delete("Play/2026")[0] == "OK"
    assert c.list('""', "Play*")[1] == [b'(\\HasNoChildren) "/" "Play"']
    # a parent that is no folder: \Noselect (its child made by another program)
    (p.data_dir / "mail/example.test/u/.Deep.Child/cur").mkdir(parents=True)
    assert c.list('""', "Deep")[1] == [b'(\\Noselect \\HasChildren) "/" "Deep"']
    c.logout()


def test_rename_inbox_moves_its_messages(petrel_factory):
    p = imap_server(petrel_factory)
    c = Raw(p)
    for _ in range(2):
        assert c.append("INBOX", MSG)[-1].split()[1] == "OK"
    c.ok("RENAME INBOX Old")
    assert c.ok("STATUS Old (MESSAGES)")[0] == '* STATUS "Old" (MESSAGES 2)'
    assert c.ok("STATUS INBOX (MESSAGES)")[0] == '* STATUS "INBOX" (MESSAGES 0)'
    c.close()


def test_status_items(petrel_factory):
    p = imap_server(petrel_factory)
    c = Raw(p)
    assert c.append("Drafts", MSG, "(\\Seen \\Deleted)")[-1].split()[1] == "OK"
    assert c.append("Drafts", MSG)[-1].split()[1] == "OK"
    deliver(p, subject="x")
    p.mail("example.test", "u", 1)
    lines = c.ok("STATUS INBOX (RECENT MESSAGES)")
    # a delivery no session was told of is RECENT; APPENDs into a folder no session has
    # open are not (mailbox.md: \Recent is what a load finds in new/)
    assert lines[0] == '* STATUS "INBOX" (MESSAGES 1 RECENT 1)', lines
    lines = c.ok("STATUS Drafts (MESSAGES UIDNEXT UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ "
                 "UIDVALIDITY)")
    m = re.match(r'\* STATUS "Drafts" \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 1 '
                 r'DELETED 1 SIZE %d HIGHESTMODSEQ \d+ RECENT 0\)$' % (2 * len(MSG)), lines[0])
    assert m, lines
    assert c.cmd("STATUS Drafts (BOGUS)")[-1].startswith("t%d BAD" % c.n)
    assert c.cmd("STATUS Nowhere (MESSAGES)")[-1].startswith("t%d NO [NONEXISTENT]" % c.n)
    c.close()


def test_append(petrel_factory):
    p = imap_server(petrel_factory)
    c = imap_connect(p, tls=True)
    c.login(USER, PASSWORD)
    typ, data = c.append("INBOX", "(\\Flagged Later)", '"05-Dec-2026 10:00:00 +0100"', MSG)
    assert typ == "OK", data
    m = re.match(rb"\[APPENDUID (\d+) 1\] APPEND completed", data[0])
    assert m, data
    typ, data = c.append("Nowhere", None, None, MSG)
    assert typ == "NO" and b"[TRYCREATE]" in data[0], data
    # \Recent cannot be set (RFC 9051 2.3.2): imaplib raises on BAD
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        c.append("INBOX", "(\\Recent)", None, MSG)
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"1"]
    flags = c.untagged_responses.get("FLAGS")
    assert flags and b"Later" in flags[0], flags
    c.logout()


def test_append_limit(petrel_factory):
    p = imap_server(petrel_factory, literal_size=5000)
    c = Raw(p)
    caps = c.cmd("CAPABILITY")[0]
    m = re.search(r"APPENDLIMIT=(\d+)", caps)
    assert m, caps
    limit = int(m.group(1))
    assert limit == 5000
    assert c.append("INBOX", b"x" * limit)[-1].split()[1] == "OK"
    # RFC 7889: over the limit, NO [TOOBIG] before any octet is sent
    c.n += 1
    c.send("t%d APPEND INBOX {%d}\r\n" % (c.n, limit + 1))
    line = c.line()
    assert line.startswith("t%d NO [TOOBIG]" % c.n), line
    assert c.ok("NOOP")
    c.close()


def test_copy_and_move(petrel_factory):
    p = imap_server(petrel_factory)
    c = Raw(p)
    for flags in ("(\\Seen)", "", "(\\Flagged)"):
        assert c.append("INBOX", MSG, flags)[-1].split()[1] == "OK"
    c.ok("SELECT INBOX")
    lines = c.ok("COPY 1,3 Archive")
    uidv = code(lines, "COPYUID").split()[0]
    assert lines[-1] == "t%d OK [COPYUID %s 1,3 1:2] COPY completed" % (c.n, uidv)
    assert c.cmd("COPY 1 Nowhere")[-1].startswith("t%d NO [TRYCREATE]" % c.n)
    assert c.cmd("COPY 9 Archive")[-1].startswith("t%d BAD" % c.n)
    # MOVE (RFC 6851): COPYUID first, then the expunges, then OK
    lines = c.ok("UID MOVE 2:3 Trash")
    assert re.match(r"\* OK \[COPYUID \d+ 2:3 1:2\] Moved$", lines[0]), lines
    assert lines[1:-1] == ["* 3 EXPUNGE", "* 2 EXPUNGE"], lines
    lines = c.ok("MOVE 1 Trash")
    assert lines[1:-1] == ["* 1 EXPUNGE"], lines
    assert c.ok("STATUS Trash (MESSAGES)")[0] == '* STATUS "Trash" (MESSAGES 3)'
    assert c.ok("STATUS Archive (MESSAGES UNSEEN)")[0] == \
        '* STATUS "Archive" (MESSAGES 2 UNSEEN 1)'
    c.close()


def test_updates_between_sessions_and_delivery(petrel_factory):
    """Two sessions on one INBOX and a local delivery: each sees the others' changes at
    its next command, with consistent UIDs (RFC 3501 7.4.1)."""
    p = imap_server(petrel_factory)
    a, b = Raw(p), Raw(p)
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    deliver(p)
    # the delivery's message: both see EXISTS at their next command
    assert wait_for(lambda: "* 1 EXISTS" in a.ok("NOOP"))
    assert "* 1 EXISTS" in b.ok("NOOP")
    # b appends: a learns of it, with the UID b was given
    lines = b.append("INBOX", MSG, "(\\Deleted)")
    uid = int(code(lines, "APPENDUID").split()[1])
    assert uid == 2
    assert "* 1 EXISTS" not in b.ok("NOOP")
    lines = a.ok("NOOP")
    assert "* 2 EXISTS" in lines
    lines = a.ok("STATUS INBOX (UIDNEXT MESSAGES)")
    assert '* STATUS "INBOX" (MESSAGES 2 UIDNEXT 3)' in lines
    # b expunges it: a is told at its next command that allows it
    assert b.ok("EXPUNGE")[:-1] == ["* 2 EXPUNGE"]
    assert "* 2 EXPUNGE" in a.ok("NOOP")
    # another delivery: UID 3 for both
    deliver(p)
    assert wait_for(lambda: "* 2 EXISTS" in b.ok("NOOP"))
    lines = a.ok("SELECT INBOX")
    assert code(lines, "UIDNEXT") == "4" and "* 2 EXISTS" in lines
    a.close()
    b.close()


def test_idle(petrel_factory):
    p = imap_server(petrel_factory)
    a, b = Raw(p), Raw(p)
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    a.n += 1
    tag = "t%d" % a.n
    a.send(tag + " IDLE\r\n")
    assert a.line() == "+ idling"
    # a delivery is pushed at once, without a command (RFC 2177)
    deliver(p)
    assert a.line() == "* 1 EXISTS"
    assert a.line() == "* 1 RECENT"
    # and another session's expunge too (EXPUNGE is allowed during IDLE)
    assert b.append("INBOX", MSG, "(\\Deleted)")[-1].split()[1] == "OK"
    assert a.line() == "* 2 EXISTS"
    a.line()  # RECENT
    b.ok("EXPUNGE")
    assert a.line() == "* 2 EXPUNGE"
    a.send("DONE\r\n")
    assert a.line() == "%s OK IDLE terminated" % tag
    assert a.ok("NOOP") == ["t%d OK NOOP completed" % a.n]
    # anything but DONE ends it with BAD
    a.n += 1
    tag = "t%d" % a.n
    a.send(tag + " IDLE\r\n")
    assert a.line() == "+ idling"
    a.send("NOOP\r\n")
    assert a.line().startswith(tag + " BAD")
    a.close()
    b.close()


def test_idle_ends_at_shutdown(petrel_factory):
    """A session in IDLE does not keep the server from stopping: it gets BYE."""
    p = imap_server(petrel_factory)
    a = Raw(p)
    a.ok("SELECT INBOX")
    a.send("i IDLE\r\n")
    assert a.line() == "+ idling"
    p.stop()
    assert a.line().startswith("* BYE")
    a.close()


def test_append_and_copy_over_quota(petrel_factory):
    """RFC 9208 4.3: what would take the account past its quota is refused whole."""
    p = imap_server(petrel_factory, quota_default=3 * len(MSG))
    c = Raw(p)
    for _ in range(2):
        assert c.append("INBOX", MSG)[-1].split()[1] == "OK"
    lines = c.append("INBOX", MSG + b"more\r\n")
    assert lines[-1].startswith("t%d NO [OVERQUOTA]" % c.n), lines
    c.ok("SELECT INBOX")
    lines = c.cmd("COPY 1:2 Archive")
    assert lines[-1].startswith("t%d NO [OVERQUOTA]" % c.n), lines
    assert c.ok("STATUS Archive (MESSAGES)")[0] == '* STATUS "Archive" (MESSAGES 0)'
    # a move within the account takes no more room
    lines = c.ok("MOVE 1:2 Archive")
    assert lines[-1] == "t%d OK MOVE completed" % c.n
    c.close()


def test_examine_leaves_recent(petrel_factory):
    """RFC 3501 6.3.2: EXAMINE MUST NOT cause messages to lose \\Recent."""
    p = imap_server(petrel_factory)
    a, b = Raw(p), Raw(p)
    deliver(p)
    p.mail("example.test", "u", 1)
    assert "* 1 RECENT" in a.ok("EXAMINE INBOX")
    deliver(p, subject="second")
    assert wait_for(lambda: "* 2 EXISTS" in a.ok("NOOP"))
    # both are still \Recent for the first session that selects the folder
    lines = b.ok("SELECT INBOX")
    assert "* 2 RECENT" in lines, lines
    assert "* 0 RECENT" in a.ok("EXAMINE INBOX")
    a.close()
    b.close()


def test_utf8_names(petrel_factory):
    """Mailbox names are modified UTF-7 (RFC 3501 5.1.3) until ENABLE UTF8=ACCEPT, UTF-8
    after (RFC 6855 3), with APPEND's UTF8 form (RFC 6855 4)."""
    p = imap_server(petrel_factory)
    c = Raw(p)
    c.ok('CREATE "caf&AOk-/x"')
    assert (p.data_dir / "mail/example.test/u/.caf&AOk-.x/cur").is_dir()
    assert '* LIST (\\HasChildren) "/" "caf&AOk-"' in c.ok('LIST "" caf%')
    lines = c.ok("ENABLE UTF8=ACCEPT")
    assert lines[0] == "* ENABLED UTF8=ACCEPT", lines
    assert '* LIST (\\HasChildren) "/" "caf\u00e9"' in c.ok('LIST "" caf%')
    c.n += 1
    tag = "t%d" % c.n
    c.send(b'%s APPEND "caf\xc3\xa9/x" UTF8 (~{%d+}\r\n' % (tag.encode(), len(MSG)) + MSG +
           b")\r\n")
    lines = c.until(tag)
    assert lines[-1].startswith(tag + " OK [APPENDUID "), lines
    assert c.ok('STATUS "caf\u00e9/x" (MESSAGES)')[0] == '* STATUS "caf\u00e9/x" (MESSAGES 1)'
    # "&" is itself now: this is another name
    assert c.cmd('SELECT "caf&AOk-/x"')[-1].startswith("t%d NO [NONEXISTENT]" % c.n)
    c.close()


def test_qresync(petrel_factory):
    """RFC 7162 3.2: SELECT (QRESYNC ...) tells a reconnecting client what changed and
    what is gone; after ENABLE QRESYNC, expunges are VANISHED and updates carry UIDs."""
    p = imap_server(petrel_factory)
    c, other = Raw(p), Raw(p)
    assert c.cmd("SELECT INBOX (QRESYNC (1 1))")[-1].startswith("t%d BAD" % c.n)
    assert c.ok("ENABLE QRESYNC")[0] == "* ENABLED QRESYNC"
    for _ in range(4):
        assert c.append("INBOX", MSG)[-1].split()[1] == "OK"
    lines = c.ok("SELECT INBOX")
    uidvalidity, modseq = code(lines, "UIDVALIDITY"), int(code(lines, "HIGHESTMODSEQ"))
    other.ok("SELECT INBOX")
    lines = other.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
    other.ok("STORE 3:4 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    # the other session's changes, as a QRESYNC client gets them
    lines = c.ok("NOOP")
    assert "* VANISHED 3:4" in lines, lines
    assert any(re.match(r"\* 2 FETCH \(UID 2 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)$", l)
               for l in lines), lines
    c.ok("UNSELECT")
    lines = c.ok("SELECT INBOX (QRESYNC (%s %d))" % (uidvalidity, modseq))
    assert "* VANISHED (EARLIER) 3:4" in lines, lines
    fetches = [l for l in lines if " FETCH " in l]
    assert len(fetches) == 1 and fetches[0].startswith("* 2 FETCH (UID 2 FLAGS (\\Seen) "), lines
    # with the UIDs the client knows: only those
    lines = c.ok("SELECT INBOX (QRESYNC (%s %d 1:3))" % (uidvalidity, modseq))
    assert "* VANISHED (EARLIER) 3" in lines, lines
    # another UIDVALIDITY: nothing to resynchronize from
    lines = c.ok("SELECT INBOX (QRESYNC (%d %d))" % (int(uidvalidity) + 1, modseq))
    assert not [l for l in lines if "VANISHED" in l or " FETCH " in l], lines
    c.close()
    other.close()


def test_flag_updates_and_no_expunge_during_fetch(petrel_factory):
    """Another session's flag change comes as FETCH FLAGS at the next command; its
    expunge is held back during FETCH, STORE and SEARCH (RFC 3501 7.4.1) and sent at the
    next command that allows it."""
    p = imap_server(petrel_factory)
    a, b = Raw(p), Raw(p)
    for _ in range(2):
        assert a.append("INBOX", MSG)[-1].split()[1] == "OK"
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    assert "* 1 FETCH (FLAGS (\\Flagged))" in a.ok("NOOP")
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # (FETCH of the expunged message may answer NO [EXPUNGEISSUED], RFC 9051 7.1)
    for command in ("FETCH 1:2 (FLAGS)", "SEARCH ALL", "STORE 1 +FLAGS.SILENT (\\Seen)"):
        lines = a.cmd(command)
        assert lines[-1].split()[1] in ("OK", "NO"), lines
        assert not [l for l in lines if l.endswith(" EXPUNGE")], (command, lines)
    lines = a.ok("NOOP")
    assert "* 2 EXPUNGE" in lines, lines
    a.close()
    b.close()


def test_idle_autologout(petrel_factory, tmp_path):
    """The autologout timer runs during IDLE ([imap] idle_timeout; RFC 2177 3 expects
    clients to re-issue IDLE before it runs out), and once logged in it is never less
    than RFC 9051 5.4's 30 minutes: still idling at 29m50s, logged out past 30m.  The
    fault shim's clock rule makes the minutes pass for the network process."""
    # before login a day: the round trips below start on the old clock and must
    # outlive the jump (a TLS handshake's timer would not)
    p = imap_server(petrel_factory, start=False, login_timeout="1d")
    rules = tmp_path / "clock-rules"
    rules.write_text("clock 0 network\n")
    p.extra_env = {**fault_env(rules), "PETREL_FAULT_CLOCK": "network"}
    p.start()
    a = Raw(p)
    a.ok("SELECT INBOX")
    a.send("i IDLE\r\n")
    assert a.line() == "+ idling"
    rules.write_text("clock 1790 network\n")
    for _ in range(3):  # round trips on another session: the loop ran on the new clock
        with socket.create_connection((p.host, p.ports["imap"]), timeout=30) as b:
            f = b.makefile("rb")
            assert f.readline().startswith(b"* OK")
            b.sendall(b"n NOOP\r\n")
            assert f.readline() == b"n OK NOOP completed\r\n"
    assert select.select([a.s], [], [], 0)[0] == [], "written to before 30 minutes"
    rules.write_text("clock 1801 network\n")
    line = a.line()
    assert line.startswith("* BYE Autologout"), line
    a.close()
    logged = r"autologout session=\S+ client=\S+ seconds=1800"
    assert re.search(logged, p.wait_log(logged))


def test_idle_updates_wait_for_a_reading_client(petrel_factory):
    """An IDLE client that reads nothing does not make the server queue every change
    another session makes: once its replies pass the output limit the next update
    waits until they are written, and then tells the flags as they are by then (one
    FETCH per message however many STOREs ran meanwhile).  The lines are long (60
    keywords) so that the changes outgrow what the kernel's socket buffers hold."""
    p = imap_server(petrel_factory)
    b = Raw(p)
    n, rounds = 500, 12
    msg = b"Subject: x\r\n\r\nhi\r\n"
    b.send(b"".join(b"p%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(msg), msg)
                    for i in range(n)))
    b.until("p%d" % (n - 1))
    a = Raw.__new__(Raw)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    raw.settimeout(60)
    raw.connect((p.host, p.ports["imaps"]))
    a.s = tls_context().wrap_socket(raw)
    a.f = a.s.makefile("rb")
    a.n = 0
    assert a.line().startswith("* OK")
    a.ok('LOGIN "%s" "%s"' % (USER, PASSWORD))
    a.ok("SELECT INBOX")
    a.send("i IDLE\r\n")
    assert a.line() == "+ idling"
    b.ok("SELECT INBOX")
    b.ok("STORE 1:* +FLAGS.SILENT (%s)" % " ".join("keyword%02d" % k + "x" * 30
                                                  for k in range(60)))
    for r in range(rounds):
        b.ok("STORE 1:* %sFLAGS.SILENT (\\Flagged)" % ("+" if r % 2 == 0 else "-"))
        # pacing only: it lets a server without the limit report each round on its
        # own; the assertion below holds whatever the pace
        time.sleep(0.5)
    a.send("DONE\r\n")
    lines = a.until("i")
    assert lines[-1] == "i OK IDLE terminated", lines[-1]
    fetches = sum(1 for line in lines if " FETCH " in line)
    assert 0 < fetches < (rounds + 1) * n * 2 // 3, fetches
    assert "\\Flagged" not in a.ok("FETCH %d FLAGS" % n)[0]
    a.close()
    b.close()


def test_idle_done_pipelined(petrel_factory):
    """DONE sent together with IDLE (one packet) ends it; so does DONE before the
    selected mailbox's first update is out."""
    p = imap_server(petrel_factory)
    a = Raw(p)
    a.ok("SELECT INBOX")
    a.send("i1 IDLE\r\nDONE\r\ni2 NOOP\r\n")
    assert a.line() == "+ idling"
    assert a.line() == "i1 OK IDLE terminated"
    assert a.line() == "i2 OK NOOP completed"
    a.ok("UNSELECT")
    a.send("i3 IDLE\r\nDONE\r\n")
    assert a.line() == "+ idling"
    assert a.line() == "i3 OK IDLE terminated"
    a.close()


def test_delete_selected_folder(petrel_factory):
    """A session whose selected folder it deletes itself is unselected; another session
    that has it selected gets * BYE at its next command, as there is nothing left."""
    p = imap_server(petrel_factory)
    a, b = Raw(p), Raw(p)
    a.ok("CREATE Work")
    a.ok("SELECT Work")
    b.ok("SELECT Work")
    a.ok("DELETE Work")
    assert a.cmd("CLOSE")[-1].startswith("t%d BAD" % a.n)
    b.n += 1
    b.send("t%d NOOP\r\n" % b.n)
    assert b.line().startswith("* BYE")
    # a session that goes away while it deletes its own selected folder
    c = Raw(p)
    c.ok("CREATE Gone")
    c.ok("SELECT Gone")
    c.send("x DELETE Gone\r\n")
    c.close()
    assert a.ok("NOOP")
    a.close()
    b.close()
