"""Issue 3: the relay rules.  Unauthenticated sessions on the mx listener may send only to
local domains, and there only to existing mailboxes and aliases; nothing else relays.  The
classic open-relay tricks (percent hack, source routes, quoted "@", "!" paths, IP literals,
trailing dots, case tricks) are each tried, and after each one a legitimate recipient in
the same transaction proves the message went only where it should: one copy in the local
Maildir, nothing left in the queue for anywhere else."""

import json
import time

import pytest

from conftest import assert_queued, make_message

TRICKS = [
    # (recipient as sent inside <>, code, enhanced code)
    ("user%remote.test@example.test", 550, "5.1.1"),           # percent hack
    ("u%remote.test@example.test", 550, "5.1.1"),
    ("@example.test:user@remote.test", 554, "5.7.1"),          # source route (RFC 5321 C)
    ("@example.test,@other.test:user@remote.test", 554, "5.7.1"),
    ('"user@remote.test"@example.test', 550, "5.1.1"),         # quoted @
    ('"u@remote.test"@example.test', 550, "5.1.1"),
    ("remote.test!user@example.test", 550, "5.1.1"),           # bang path
    ("remote.test!u@example.test", 550, "5.1.1"),
    ("user@[127.0.0.1]", 554, "5.7.1"),                        # IP literals
    ("postmaster@[127.0.0.1]", 554, "5.7.1"),
    ("user@[IPv6:::1]", 554, "5.7.1"),
    ("user@remote.test.", 554, "5.7.1"),                       # trailing dots: one is
    ("user@remote.test..", 501, "5.1.3"),                      # ignored, two are an error
    ("u@example.test..", 501, "5.1.3"),
    ('"user@remote.test."@example.test.', 550, "5.1.1"),
    ("u@REMOTE.test", 554, "5.7.1"),                           # case tricks
    ("u@example.test.remote.test", 554, "5.7.1"),              # our name as a prefix
    ("u@sub.example.test", 554, "5.7.1"),                      # subdomains are not ours
    ("u@remote.test@example.test", 501, "5.1.3"),              # two @
    ("nobody@example.test", 550, "5.1.1"),                     # unknown local user
    ("nobody+u@example.test", 550, "5.1.1"),
]


def queue_list(p):
    return json.loads(p.cli_ok("queue", "list", "--json").stdout)


@pytest.mark.parametrize("rcpt,code,enhanced", TRICKS, ids=[t[0] for t in TRICKS])
def test_relay_trick_refused(petrel, rcpt, code, enhanced):
    c = petrel.session("mx")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<%s>" % rcpt, code, enhanced)
    c.expect("RCPT TO:<u@example.test>", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(make_message() + b".\r\n")
    qid = assert_queued(c.read_reply())
    c.quit()
    box = petrel.mail("example.test", "u", 1)
    assert len(box) == 1, box
    deadline = time.monotonic() + 5
    while queue_list(petrel) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queue_list(petrel) == [], "message %s still queued (for %r?)" % (qid, rcpt)
    files = [f for f in (petrel.data_dir / "mail").rglob("*") if f.is_file()]
    assert [f.parent.parent.name for f in files] == ["u"], files


def test_only_refused_recipients_no_data(petrel):
    c = petrel.session("mx")
    c.expect("MAIL FROM:<a@b.test>", 250)
    for rcpt, code, enhanced in TRICKS[:5]:
        c.expect("RCPT TO:<%s>" % rcpt, code, enhanced)
    c.expect("DATA", 554, "5.5.1")
    c.quit()
    assert queue_list(petrel) == []


def test_relay_with_pipelining(petrel):
    """The same refusals when the commands come in one write (RFC 2920)."""
    c = petrel.session("mx")
    c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<user%remote.test@example.test>\r\n"
           "RCPT TO:<user@remote.test>\r\nRCPT TO:<@example.test:user@remote.test>\r\n"
           "RCPT TO:<u@example.test>\r\nRSET\r\n")
    got = [c.read_reply() for _ in range(6)]
    assert [(r.code, r.enhanced) for r in got] == [
        (250, "2.1.0"), (550, "5.1.1"), (554, "5.7.1"), (554, "5.7.1"), (250, "2.1.5"),
        (250, "2.0.0")], got
    c.quit()


def test_uppercase_local_domain_delivered(petrel):
    c = petrel.session("mx")
    assert_queued(c.mail_transaction("a@b.test", ["u@EXAMPLE.TEST"], make_message()))
    c.quit()
    assert len(petrel.mail("example.test", "u", 1)) == 1


def test_uppercase_local_part_delivered(petrel):
    """Account names are stored lower-case and every lookup ignores case."""
    c = petrel.session("mx")
    assert_queued(c.mail_transaction("a@b.test", ["U@Example.Test"], make_message()))
    c.quit()
    assert len(petrel.mail("example.test", "u", 1)) == 1


def test_plus_address_delivered_to_user(petrel):
    c = petrel.session("mx")
    assert_queued(c.mail_transaction("a@b.test", ["u+tag@example.test"], make_message()))
    c.quit()
    assert len(petrel.mail("example.test", "u", 1)) == 1
    assert not (petrel.data_dir / "mail" / "example.test" / "u+tag").exists()


def test_alias_delivers_to_all_targets(petrel):
    petrel.cli_ok("alias", "add", "list@example.test", "u@example.test", "v@example.test")
    c = petrel.session("mx")
    assert_queued(c.mail_transaction("a@b.test", ["list@example.test"], make_message()))
    c.quit()
    assert len(petrel.mail("example.test", "u", 1)) == 1
    assert len(petrel.mail("example.test", "v", 1)) == 1
    assert not (petrel.data_dir / "mail" / "example.test" / "list").exists()


def test_alias_plus_address(petrel):
    petrel.cli_ok("alias", "add", "list@example.test", "v@example.test")
    c = petrel.session("mx")
    assert_queued(c.mail_transaction("a@b.test", ["list+x@example.test"], make_message()))
    c.quit()
    assert len(petrel.mail("example.test", "v", 1)) == 1


def test_alias_removed_refused(petrel):
    petrel.cli_ok("alias", "add", "gone@example.test", "u@example.test")
    c = petrel.session("mx")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<gone@example.test>", 250, "2.1.5")
    c.expect("RSET", 250)
    petrel.cli_ok("alias", "remove", "gone@example.test")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<gone@example.test>", 550, "5.1.1")
    c.quit()


def test_domain_added_at_runtime_is_local(petrel):
    """`petrel domain add` makes a domain local without a restart; its accounts receive."""
    c = petrel.session("mx")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<me@third.test>", 554, "5.7.1")
    c.expect("RSET", 250)
    petrel.cli_ok("domain", "add", "third.test")
    petrel.cli_ok("account", "add", "me@third.test", "--password-stdin", input="pw-x\n")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<nobody@third.test>", 550, "5.1.1")
    c.expect("RCPT TO:<me@third.test>", 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(make_message() + b".\r\n")
    assert_queued(c.read_reply())
    c.quit()
    assert len(petrel.mail("third.test", "me", 1)) == 1


def test_postmaster_without_domain(petrel):
    """RFC 5321 4.5.1: <Postmaster> is accepted; it goes to the first local domain's."""
    c = petrel.session("mx")
    assert_queued(c.mail_transaction("a@b.test", ["Postmaster"], make_message()))
    c.quit()
    assert len(petrel.mail("example.test", "postmaster", 1)) == 1


# ------------------------------------------------------------------ postmaster (RFC 5321 4.5.1)

@pytest.mark.parametrize("rcpt", ["postmaster@other.test", "PostMaster@Other.Test",
                                  '"postmaster"@other.test.'])
def test_postmaster_of_every_local_domain(petrel, rcpt):
    """postmaster@ any local domain, any case, is accepted without an account of that name
    and, with no [domains] postmaster, delivered to the domain's own postmaster mailbox."""
    c = petrel.session("mx")
    c.expect("MAIL FROM:<>", 250)
    c.expect("RCPT TO:<%s>" % rcpt, 250, "2.1.5")
    c.expect("DATA", 354)
    c.send(make_message() + b".\r\n")
    assert_queued(c.read_reply())
    c.quit()
    assert len(petrel.mail("other.test", "postmaster", 1)) == 1


def test_postmaster_of_a_domain_added_at_runtime(petrel):
    petrel.cli_ok("domain", "add", "third.test")
    c = petrel.session("mx")
    assert_queued(c.mail_transaction("a@b.test", ["postmaster@third.test"], make_message()))
    c.quit()
    assert len(petrel.mail("third.test", "postmaster", 1)) == 1


def test_postmaster_setting(petrel_factory):
    """[domains] postmaster = ADDRESS: the postmaster of every local domain, and the bare
    <Postmaster>, go there, accounts of that name or not."""
    p = petrel_factory(postmaster="alice@example.test")
    p.cli_ok("domain", "add", "third.test")
    c = p.session("mx")
    assert_queued(c.mail_transaction("a@b.test", ["postmaster@other.test", "Postmaster",
                                                  "POSTMASTER@third.test",
                                                  "postmaster@example.test"],
                                     make_message()))
    c.quit()
    assert len(p.mail("example.test", "alice", 4)) == 4
    for domain in ("other.test", "third.test", "example.test"):
        assert p.mailbox(domain, "postmaster") == [], domain


def test_postmaster_setting_follows_an_alias(petrel_factory):
    """The setting resolves like a recipient: an alias there is followed."""
    p = petrel_factory(postmaster="admins@example.test")
    p.cli_ok("alias", "add", "admins@example.test", "u@example.test", "v@example.test")
    c = p.session("mx")
    assert_queued(c.mail_transaction("a@b.test", ["postmaster@other.test"], make_message()))
    c.quit()
    assert len(p.mail("example.test", "u", 1)) == 1
    assert len(p.mail("example.test", "v", 1)) == 1


def test_postmaster_without_local_domain_in_config(petrel_factory):
    """With no [domains] local at all, <Postmaster> is the first domain added with
    `petrel domain add`."""
    p = petrel_factory(local=None)
    p.cli_ok("domain", "add", "zeta.test")
    p.cli_ok("domain", "add", "beta.test")
    c = p.session("mx")
    assert_queued(c.mail_transaction("a@b.test", ["Postmaster"], make_message()))
    c.quit()
    assert len(p.mail("beta.test", "postmaster", 1)) == 1


def test_postmaster_of_a_remote_domain_is_still_relaying(petrel):
    c = petrel.session("mx")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<postmaster@remote.test>", 554, "5.7.1")
    c.expect("RCPT TO:<postmaster@[127.0.0.1]>", 554, "5.7.1")
    c.quit()


def test_domain_add_says_where_postmaster_mail_goes(petrel_factory):
    """`petrel domain add` says where the new domain's postmaster mail will go."""
    p = petrel_factory()
    out = p.cli_ok("domain", "add", "Third.test").stdout
    assert "postmaster@third.test" in out and "mail/third.test/postmaster/" in out, out
    q = petrel_factory(postmaster="alice@example.test")
    out = q.cli_ok("domain", "add", "fifth.test").stdout
    assert "postmaster@fifth.test: mail goes to alice@example.test ([domains] postmaster" \
        in out, out
