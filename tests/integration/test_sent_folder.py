"""[mailbox] save_sent: a message an account submits is also kept, \\Seen, in the Sent
folder of its mailbox, written through the mailbox store after the 250; a copy that
cannot be written is logged and the message still goes out."""

from conftest import SENDER, assert_queued, make_message


def sent_files(p, local="sender", domain="example.test"):
    cur = p.data_dir / "mail" / domain / local / ".Sent" / "cur"
    return sorted(f for f in cur.iterdir() if f.is_file()) if cur.is_dir() else []


def submit(p, subject, rcpts=("u@example.test",), body=b"Hello.\r\n"):
    c = p.auth_session()
    msg = make_message(subject=subject, sender=SENDER, to=rcpts[0], body=body)
    qid = assert_queued(c.mail_transaction(SENDER, list(rcpts), msg))
    c.quit()
    return qid, msg


def test_submission_saved_in_sent(petrel_factory):
    p = petrel_factory(save_sent="true")
    qid, msg = submit(p, "kept in Sent")
    p.wait_log(r"sent-copy queue_id=%s account=sender@example.test folder=Sent uid=1" % qid)
    [f] = sent_files(p)
    # the mailbox store's name: UID and size in it, \Seen as Maildir's S
    assert ",U=1" in f.name and f.name.endswith(":2,S"), f.name
    data = f.read_bytes()
    assert data.endswith(msg), data
    assert b"Received: " in data.split(b"\r\n\r\n")[0]
    # and the recipient got it as usual
    p.mail("example.test", "u", 1)
    # a listing of the account's folders shows Sent (the store made it a folder)
    assert (p.data_dir / "mail" / "example.test" / "sender" / ".Sent" / "maildirfolder").exists()


def test_not_saved_by_default_nor_from_mx(petrel_factory):
    p = petrel_factory()
    submit(p, "no copy")
    p.mail("example.test", "u", 1)
    assert sent_files(p) == []
    assert "sent-copy" not in p.log()


def test_failed_copy_loses_nothing(petrel_factory):
    # the sender's mailbox over its quota: no copy, logged; the message is delivered
    p = petrel_factory(save_sent="true")
    p.cli_ok("plan", "set", "tiny", "--daily-limit", "0", "--quota", "1k")
    p.cli_ok("account", "set", SENDER, "--plan", "tiny")
    qid, _ = submit(p, "big", body=b"x" * 70 + b"\r\n" + (b"y" * 70 + b"\r\n") * 30)
    p.wait_log(r"sent-copy-failed queue_id=%s account=sender@example.test "
               r"error=\"the mailbox is over its quota\"" % qid)
    p.mail("example.test", "u", 1)
    assert sent_files(p) == []
