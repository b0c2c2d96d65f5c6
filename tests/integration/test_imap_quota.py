"""IMAP and the mailbox quota (RFC 9208): QUOTA capabilities, GETQUOTAROOT and GETQUOTA on
the account's one root "", SETQUOTA refused, APPEND and COPY past the quota refused with
NO [OVERQUOTA]; and the folders other items fill, read over IMAP: the Sent copy of a
submission ([mailbox] save_sent) and a sandboxed account's kept mail."""

import re

from conftest import SENDER, SENDER_PASSWORD, assert_queued, make_message
from imap_util import imap_connect, imap_server, tls_context

MSG = make_message(subject="appended", sender=SENDER, to=SENDER,
                   body=b"x" * 70 + b"\r\n" + (b"y" * 70 + b"\r\n") * 20)


def tls_login(p, user=SENDER, password=SENDER_PASSWORD):
    c = imap_connect(p)
    c.starttls(ssl_context=tls_context())
    c.login(user, password)
    return c


def set_quota(p, *args, account=SENDER):
    p.cli_ok("plan", "set", "q", "--daily-limit", "0", *args)
    p.cli_ok("account", "set", account, "--plan", "q")


def test_getquotaroot_getquota_setquota(petrel_factory):
    p = imap_server(petrel_factory)
    set_quota(p, "--quota", "10k", "--quota-messages", "5")
    c = tls_login(p)
    caps = c.capability()[1][0].decode().split()
    assert {"QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"} <= set(caps), caps
    assert c.append("INBOX", None, None, MSG)[0] == "OK"
    size = len(MSG)
    typ, data = c.getquotaroot("INBOX")
    assert typ == "OK", data
    [roots, quota] = data
    assert roots == [b'"INBOX" ""'] or roots == [b'INBOX ""'], data
    # STORAGE in KiB, the usage rounded up (RFC 9208 5.1)
    assert quota == [b'"" (STORAGE %d 10 MESSAGE 1 5)' % ((size + 1023) // 1024)], data
    typ, data = c.getquota('""')
    assert typ == "OK" and data == quota, data
    typ, data = c.getquota("other")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0], data
    typ, data = c.getquotaroot('"No such folder"')
    assert typ == "NO" and data[0][0].startswith(b"[NONEXISTENT]"), data
    typ, data = c.setquota('""', "(STORAGE 100000)")
    assert typ == "NO", data
    c.logout()


def test_no_quota_no_root(petrel_factory):
    p = imap_server(petrel_factory)
    c = tls_login(p)
    typ, data = c.getquotaroot("INBOX")
    assert typ == "OK" and data == [[b'"INBOX"'] if data[0][0].startswith(b'"')
                                     else [b"INBOX"], [None]], data
    typ, data = c.getquota('""')
    assert typ == "OK" and data == [b'"" ()'], data
    c.logout()


def test_append_and_copy_over_quota(petrel_factory):
    p = imap_server(petrel_factory)
    set_quota(p, "--quota-messages", "1")
    c = tls_login(p)
    assert c.append("INBOX", None, None, MSG)[0] == "OK"
    typ, data = c.append("INBOX", None, None, MSG)
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data
    assert c.select("INBOX") == ("OK", [b"1"])
    typ, data = c.copy("1", "Archive")
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data
    # a move within the account changes no usage: allowed
    typ, data = c._simple_command("MOVE", "1", "Archive")
    assert typ == "OK", data
    assert c.status("Archive", "(MESSAGES)")[1] == [b'"Archive" (MESSAGES 1)'] or \
        c.status("Archive", "(MESSAGES)")[1] == [b"Archive (MESSAGES 1)"]
    c.logout()


def submit(p, user, password, sender, rcpt, subject):
    c = p.auth_session(user=user, password=password)
    qid = assert_queued(c.mail_transaction(sender, [rcpt], make_message(
        subject=subject, sender=sender, to=rcpt)))
    c.quit()
    return qid


def messages_in(c, folder):
    typ, data = c.status(folder, "(MESSAGES UNSEEN)")
    assert typ == "OK", data
    m = re.search(rb"MESSAGES (\d+) UNSEEN (\d+)", data[0])
    return int(m.group(1)), int(m.group(2))


def test_sent_copy_over_imap(petrel_factory):
    p = imap_server(petrel_factory, save_sent="true")
    qid = submit(p, SENDER, SENDER_PASSWORD, SENDER, "u@example.test", "to Sent")
    p.wait_log(r"sent-copy queue_id=%s " % qid)
    c = tls_login(p)
    assert messages_in(c, "Sent") == (1, 0)   # \Seen
    c.logout()


def test_sandbox_over_imap(petrel_factory):
    p = imap_server(petrel_factory)
    pw = "box-pass-1"
    p.cli_ok("account", "add", "box@example.test", "--password-stdin", "--sandbox",
             input=pw + "\n")
    p.cli_ok("account", "add", "app", "--password-stdin", "--sandbox", "--any-from",
             input=pw + "\n")
    p.cli_ok("sender", "allow", "app", "@example.test")
    submit(p, "box@example.test", pw, "box@example.test", "far@remote.test", "boxed")
    submit(p, "app", pw, "app@example.test", "far@remote.test", "app's")
    p.wait_log(r"sandboxed queue_id=\S+ account=box@example.test")
    p.wait_log(r"sandboxed queue_id=\S+ account=app ")
    c = tls_login(p, "box@example.test", pw)
    assert messages_in(c, "Sandbox") == (1, 1)
    assert messages_in(c, "INBOX") == (0, 0)
    c.logout()
    c = tls_login(p, "app", pw)
    assert messages_in(c, "INBOX") == (1, 1)
    c.logout()
