"""Real IMAP clients on Petrel's IMAP server (issue 10, "Tests (real clients)"): mbsync
(isync) synchronizing INBOX both ways with a local Maildir over STARTTLS and implicit
TLS, curl's imap:// and imaps:// (LIST, FETCH by UID, APPEND by upload) and neomutt
(read, save to another folder, expunge on quit); what they change is checked on the
server with imaplib."""

import email
import imaplib
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import SENDER, SENDER_PASSWORD, assert_queued, make_message
from imap_util import imap_connect, imap_server

USER, PASSWORD = "u@example.test", "secret"


def deliver(p, subject, body, rcpt=USER):
    """One message to RCPT over SMTP (local delivery into its INBOX)."""
    c = p.session("mx")
    assert_queued(c.mail_transaction("a@b.test", [rcpt],
                                     make_message(subject, body=body, to=rcpt)))
    c.quit()


def server_state(p):
    """{subject: (flags, body)} of USER's INBOX, read over imaps with imaplib."""
    c = imap_connect(p, tls=True)
    try:
        assert c.login(USER, PASSWORD)[0] == "OK"
        assert c.select("INBOX")[0] == "OK"
        typ, data = c.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
        assert typ == "OK", data
        out = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split()
            msg = email.message_from_bytes(item[1])
            out[msg["Subject"]] = (sorted(flags), msg.get_payload())
        c.logout()
        return out
    finally:
        c.shutdown() if c.state != "LOGOUT" else None


def maildir_messages(folder):
    """{subject: (maildir flag letters, path)} of the messages of Maildir FOLDER."""
    out = {}
    for sub in ("new", "cur"):
        for name in os.listdir(folder / sub):
            path = folder / sub / name
            msg = email.message_from_bytes(path.read_bytes())
            letters = name.split(":2,", 1)[1] if ":2," in name else ""
            out[msg["Subject"]] = (letters, path)
    return out


def mbsync(home, conf):
    try:
        r = subprocess.run(["mbsync", "-c", str(conf), "-a"], capture_output=True,
                           text=True, timeout=60, env={**os.environ, "HOME": str(home)},
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("mbsync did not finish:\n%s%s" % (e.stdout, e.stderr))
    assert r.returncode == 0, "mbsync exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr)
    return r


@pytest.mark.skipif(shutil.which("mbsync") is None,
                    reason="mbsync (Debian package isync) is not installed")
@pytest.mark.parametrize("tls", ["STARTTLS", "IMAPS"])
def test_mbsync_both_ways(petrel_factory, cert, tmp_path, tls):
    """Messages and flags down to a fresh Maildir; then a message written locally, a
    message marked seen locally and one deleted locally go up.  AuthMechs PLAIN: the
    account was imported with a crypt hash, so it has no SCRAM credentials
    (test_mbsync_scram_sha256 logs in with SCRAM)."""
    p = imap_server(petrel_factory)
    deliver(p, "first", b"First body.\r\n")
    deliver(p, "second", b"Second body.\r\n")
    deliver(p, "third", b"Third body.\r\n")
    p.mail("example.test", "u", 3)
    c = imap_connect(p, tls=True)
    c.login(USER, PASSWORD)
    c.select("INBOX")
    typ, data = c.search(None, "SUBJECT", "second")
    assert typ == "OK" and data[0].split(), data
    assert c.store(data[0].split()[0], "+FLAGS", "(\\Flagged)")[0] == "OK"
    c.logout()

    local = tmp_path / "Mail"
    local.mkdir()
    conf = tmp_path / "mbsyncrc"
    conf.write_text(
        "IMAPAccount petrel\nHost localhost\nPort %d\nUser %s\nPass %s\n"
        "SSLType %s\nCertificateFile %s\nSystemCertificates no\nAuthMechs PLAIN\n\n"
        "IMAPStore remote\nAccount petrel\n\n"
        "MaildirStore local\nPath %s/\nInbox %s/INBOX\n\n"
        "Channel inbox\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Both\n"
        "Expunge Both\nSyncState *\nSync All\n"
        % (p.ports["imap" if tls == "STARTTLS" else "imaps"], USER, PASSWORD, tls,
           cert[0], local, local))

    # down: every message with its body, the flag set on the server
    mbsync(tmp_path, conf)
    inbox = local / "INBOX"
    got = maildir_messages(inbox)
    assert sorted(got) == ["first", "second", "third"], got
    assert got["second"][0] == "F", got
    assert got["first"][0] == "" and got["third"][0] == "", got
    assert b"Second body." in got["second"][1].read_bytes()

    # up: a new message, \Seen on "first", "third" deleted (flag T, expunged both sides)
    (inbox / "new" / "1700000000.local1.host").write_bytes(
        b"From: <me@local.test>\r\nTo: <%s>\r\nSubject: written locally\r\n"
        b"Date: Fri, 05 Dec 2025 10:00:00 +0000\r\nMessage-ID: <local-1@local.test>\r\n"
        b"\r\nMade in the local Maildir.\r\n" % USER.encode())
    first = got["first"][1]
    os.rename(first, inbox / "cur" / (first.name.split(":2,")[0] + ":2,S"))
    third = got["third"][1]
    os.rename(third, inbox / "cur" / (third.name.split(":2,")[0] + ":2,T"))
    mbsync(tmp_path, conf)

    state = server_state(p)
    assert sorted(state) == ["first", "second", "written locally"], state
    assert state["first"][0] == ["\\Seen"], state
    assert state["second"][0] == ["\\Flagged"], state
    assert state["written locally"][1] == "Made in the local Maildir.\r\n", state
    assert "First body." in state["first"][1]

    # a third run changes nothing on either side
    mbsync(tmp_path, conf)
    assert server_state(p) == state
    assert sorted(maildir_messages(inbox)) == ["first", "second", "written locally"]


@pytest.mark.skipif(shutil.which("mbsync") is None,
                    reason="mbsync (Debian package isync) is not installed")
def test_mbsync_scram_sha256(petrel_factory, cert, tmp_path):
    """mbsync with AuthMechs SCRAM-SHA-256 (Cyrus SASL's SCRAM client) logs in as an
    account whose credentials `petrel account add` made with the default [auth]
    scram_iterations: Cyrus SASL refuses counts above 65536 ("iteration-count is too
    big, refusing to compute"), so the default must stay at or under it."""
    p = imap_server(petrel_factory)
    deliver(p, "for scram", b"Fetched after a SCRAM login.\r\n", rcpt=SENDER)
    p.mail("example.test", "sender", 1)
    local = tmp_path / "Mail"
    local.mkdir()
    conf = tmp_path / "mbsyncrc"
    conf.write_text(
        "IMAPAccount petrel\nHost localhost\nPort %d\nUser %s\nPass %s\n"
        "SSLType IMAPS\nCertificateFile %s\nSystemCertificates no\n"
        "AuthMechs SCRAM-SHA-256\n\n"
        "IMAPStore remote\nAccount petrel\n\n"
        "MaildirStore local\nPath %s/\nInbox %s/INBOX\n\n"
        "Channel inbox\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\n"
        "SyncState *\nSync Pull\n"
        % (p.ports["imaps"], SENDER, SENDER_PASSWORD, cert[0], local, local))
    mbsync(tmp_path, conf)
    got = maildir_messages(local / "INBOX")
    assert sorted(got) == ["for scram"], got
    assert re.search(r"info auth session=\S+ client=\S+ account=%s mechanism=SCRAM-SHA-256"
                     % re.escape(SENDER), p.wait_log("mechanism=SCRAM-SHA-256")), \
        p.log()[-3000:]


def test_check_imap4rev1(petrel_factory):
    """CHECK (RFC 3501 6.4.1), which mbsync sends after its changes: valid only with a
    mailbox selected, and like NOOP it brings the session's pending updates."""
    p = imap_server(petrel_factory)
    c = imap_connect(p, tls=True)
    c.login(USER, PASSWORD)
    with pytest.raises(imaplib.IMAP4.error):
        c._simple_command("CHECK")  # authenticated state: BAD
    assert c.select("INBOX") == ("OK", [b"0"])
    c.response("EXISTS")  # imaplib keeps SELECT's "* 0 EXISTS" until asked
    deliver(p, "while selected", b"Body.\r\n")
    # delivered: in new/, or already in cur/ if the selected session synced it
    box = p.data_dir / "mail" / "example.test" / "u"
    deadline = time.monotonic() + 30
    while not (os.listdir(box / "new") or os.listdir(box / "cur")):
        assert time.monotonic() < deadline, "no delivery after 30s"
        time.sleep(0.05)
    assert c.check() == ("OK", [b"CHECK completed"])
    assert c.response("EXISTS") == ("EXISTS", [b"1"])
    c.logout()


def curl(*args, data=None):
    """curl ARGS (the test certificate taken with -k); its stdout as bytes."""
    r = subprocess.run(["curl", "-sS", "-k", "--max-time", "60", *args], input=data,
                       capture_output=True, timeout=90)
    assert r.returncode == 0, "curl %s: exit %d\n%s" % (" ".join(args), r.returncode,
                                                        r.stderr.decode(errors="replace"))
    return r.stdout


@pytest.mark.parametrize("scheme", ["imap", "imaps"])
def test_curl(petrel_factory, tmp_path, scheme):
    """curl's IMAP: LIST, FETCH of one message by UID, APPEND by upload (-T); over
    imap:// with STARTTLS required (--ssl-reqd) and over imaps://."""
    p = imap_server(petrel_factory)
    # a first message expunged: UIDs are no longer message numbers
    deliver(p, "zero", b"Body zero.\r\n")
    p.mail("example.test", "u", 1)
    c = imap_connect(p, tls=True)
    c.login(USER, PASSWORD)
    c.select("INBOX")
    c.store("1", "+FLAGS", "(\\Deleted)")
    assert c.expunge() == ("OK", [b"1"])
    c.logout()
    deliver(p, "one", b"Body one.\r\n")
    deliver(p, "two", b"Body two.\r\n")
    p.mail("example.test", "u", 2)
    port = p.ports[scheme]
    base = "%s://127.0.0.1:%d/" % (scheme, port)
    auth = ["-u", "%s:%s" % (USER, PASSWORD)]
    tls = ["--ssl-reqd"] if scheme == "imap" else []

    listing = curl(*tls, *auth, base).decode()
    names = sorted(re.findall(r'^\* LIST \([^)]*\) "/" "?([^"\r\n]+)"?\r?$', listing, re.M))
    assert names == ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"], listing

    # UIDs by subject, then each message fetched by its UID
    c = imap_connect(p, tls=True)
    c.login(USER, PASSWORD)
    c.select("INBOX", readonly=True)
    uids = {}
    for subject in ("one", "two"):
        typ, data = c.uid("SEARCH", "SUBJECT", subject)
        assert typ == "OK" and len(data[0].split()) == 1, data
        uids[subject] = int(data[0])
    c.logout()
    assert sorted(uids.values()) == [2, 3], uids
    for subject, uid in uids.items():
        raw = curl(*tls, *auth, base + "INBOX;UID=%d" % uid)
        msg = email.message_from_bytes(raw)
        assert msg["Subject"] == subject, raw
        assert msg.get_payload() == "Body %s.\r\n" % subject, raw

    # APPEND: curl -T uploads the file as a new message of INBOX
    upload = tmp_path / "up.eml"
    upload.write_bytes(b"From: <me@local.test>\r\nTo: <%s>\r\nSubject: uploaded by curl\r\n"
                       b"Date: Fri, 05 Dec 2025 10:00:00 +0000\r\n\r\nUp it goes.\r\n"
                       % USER.encode())
    curl(*tls, *auth, "-T", str(upload), base + "INBOX")
    state = server_state(p)
    assert sorted(state) == ["one", "two", "uploaded by curl"], state
    assert state["uploaded by curl"][1] == "Up it goes.\r\n"

    # a wrong password: curl fails (exit 67, login denied) and fetches nothing
    r = subprocess.run(["curl", "-sS", "-k", "--max-time", "60", *tls, "-u", USER + ":wrong",
                        base + "INBOX;UID=%d" % uids["one"]], capture_output=True, timeout=90)
    assert r.returncode == 67 and r.stdout == b"", r


@pytest.mark.skipif(shutil.which("neomutt") is None or shutil.which("script") is None,
                    reason="neomutt (Debian package neomutt) or script (bsdutils) missing")
def test_neomutt(petrel_factory, cert, tmp_path):
    """neomutt on imaps, driven by pushed keys (script(1) gives it a terminal): pipes the
    first message to a file, saves it to Archive and quits, which expunges it from INBOX."""
    p = imap_server(petrel_factory)
    deliver(p, "for neomutt", b"Read by neomutt.\r\n")
    p.mail("example.test", "u", 1)
    out = tmp_path / "piped.eml"
    rc = tmp_path / "neomuttrc"
    rc.write_text(
        'set imap_user = "%s"\nset imap_pass = "%s"\nset ssl_force_tls = yes\n'
        'set certificate_file = "%s"\nset ssl_verify_host = no\n'
        'set header_cache = ""\nset message_cachedir = ""\n'
        'set folder = "imaps://127.0.0.1:%d/"\nset spoolfile = "+INBOX"\n'
        'set wait_key = no\nset confirmappend = no\nset delete = yes\nset move = no\n'
        'set quit = yes\n' % (USER, PASSWORD, cert[0], p.ports["imaps"]))
    keys = "<pipe-message>cat > %s<enter><save-message>=Archive<enter><quit>" % out
    cmd = "neomutt -n -F %s -e 'push \"%s\"'" % (rc, keys)
    r = subprocess.run(["script", "-qc", cmd, "/dev/null"], capture_output=True,
                       timeout=90, stdin=subprocess.DEVNULL,
                       env={**os.environ, "HOME": str(tmp_path), "TERM": "xterm"})
    assert r.returncode == 0, r
    msg = email.message_from_bytes(out.read_bytes())
    assert msg["Subject"] == "for neomutt" and msg.get_payload() == "Read by neomutt.\n"  # piped with LF

    c = imap_connect(p, tls=True)
    c.login(USER, PASSWORD)
    assert c.select("INBOX") == ("OK", [b"0"])
    assert c.select("Archive") == ("OK", [b"1"])
    typ, data = c.fetch("1", "(FLAGS BODY.PEEK[])")
    # the copy was made before neomutt marked the original \Deleted
    assert typ == "OK" and b"\\Deleted" not in data[0][0], data
    assert email.message_from_bytes(data[0][1])["Subject"] == "for neomutt"
    c.logout()
