"""SRS (issue 9 item 9): mail that an alias forwards to another domain leaves with an SRS0
return path at Petrel's hostname, so it passes SPF at the next hop; a bounce to that address
is verified and goes back to the original sender; forged and expired ones are refused.

dnsmasq serves the .test zones, Postfix's smtp-sink plays the remote hosts (127.0.0.2 the
forward target, 127.0.0.3 the original sender's domain).  The addresses are checked against
Mail::SRS (Debian's libmail-srs-perl) with the same secret: an independent implementation of
the same scheme."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import HOSTNAME, dot_stuff, list_mail, wait_mail
from peers import dns_factory, mx_port, sink_factory, wait_until  # noqa: F401

SRS_RE = re.compile(rb"X-Mail-Args: <(SRS0=[^>]+)>")


def perl_srs(secret, code, *args):
    """Run CODE with $srs = Mail::SRS->new(Secret => SECRET); @ARGV = ARGS."""
    if not shutil.which("perl") or subprocess.run(
            ["perl", "-MMail::SRS", "-e", "1"], capture_output=True).returncode != 0:
        pytest.fail("Mail::SRS (package libmail-srs-perl) is not installed")
    script = ("use Mail::SRS; my $srs = Mail::SRS->new(Secret => $ENV{SRS_SECRET}, "
              "MaxAge => 21); " + code)
    r = subprocess.run(["perl", "-e", script, *args], capture_output=True, text=True,
                       env=dict(os.environ, SRS_SECRET=secret), timeout=30)
    return r


def forwarding_petrel(petrel_factory, dns, port, **overrides):
    cfg = dict(resolver=dns.resolver, special_zones="test", port=port, retry_initial=1,
               retry_max=2, timeout=5)
    cfg.update(overrides)
    p = petrel_factory(**cfg)
    # fwd@example.test forwards to another domain and keeps a copy in u@example.test
    p.cli_ok("alias", "add", "fwd@example.test", "dest@remote.test")
    p.cli_ok("alias", "add", "fwd@example.test", "u@example.test")
    return p


def peers(dns_factory, sink_factory, mx_port):
    dns = dns_factory(mx=[("remote.test", "mx1.remote.test", 10),
                          ("sender.test", "mx1.sender.test", 10)],
                      hosts=[("mx1.remote.test", "127.0.0.2"), ("mx1.sender.test", "127.0.0.3")])
    return dns, sink_factory("127.0.0.2", mx_port), sink_factory("127.0.0.3", mx_port)


def send(p, sender, rcpts, subject="forwarded", expect_rcpt=250):
    """An unauthenticated message on the MX port; returns the RCPT replies."""
    c = p.session("mx")
    try:
        c.expect("MAIL FROM:<%s>" % sender, 250)
        replies = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        if any(r.code == 250 for r in replies):
            c.expect("DATA", 354)
            data = ("From: <%s>\r\nTo: <fwd@example.test>\r\nSubject: %s\r\n"
                    "Message-ID: <%s@sender.test>\r\n\r\nHello.\r\n"
                    % (sender or "mailer-daemon@sender.test", subject, subject)).encode()
            c.send(dot_stuff(data) + b".\r\n")
            assert c.read_reply().code == 250
        c.quit()
        return replies
    finally:
        c.close()


def secret_of(p):
    return (p.data_dir / "srs.secret").read_text().splitlines()[0]


def test_alias_forward_gets_srs0(petrel_factory, dns_factory, sink_factory, mx_port):
    dns, remote, _ = peers(dns_factory, sink_factory, mx_port)
    p = forwarding_petrel(petrel_factory, dns, mx_port)
    send(p, "alice@sender.test", ["fwd@example.test"])

    d = remote.wait_dumps(1, timeout=15, settle=0.5)[0]
    m = SRS_RE.search(d)
    assert m, d[:400]
    srs = m.group(1).decode()
    local, domain = srs.rsplit("@", 1)
    assert domain == HOSTNAME
    assert re.fullmatch(r"SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=sender\.test=alice", local), srs
    assert b"X-Rcpt-Args: <dest@remote.test>" in d
    # the secret was made at the first start, for the owner alone
    assert (p.data_dir / "srs.secret").stat().st_mode & 0o077 == 0
    # Mail::SRS with the same secret reverses it
    r = perl_srs(secret_of(p), 'print scalar $srs->reverse($ARGV[0]);', srs)
    assert r.returncode == 0 and r.stdout == "alice@sender.test", r.stdout + r.stderr
    # the local copy keeps the real sender
    raw = wait_mail(p.data_dir, "example.test", "u", 1)[0]
    assert raw.startswith(b"Return-Path: <alice@sender.test>"), raw[:200]


def test_bounce_to_srs_reaches_original(petrel_factory, dns_factory, sink_factory, mx_port):
    dns, remote, origin = peers(dns_factory, sink_factory, mx_port)
    p = forwarding_petrel(petrel_factory, dns, mx_port)
    send(p, "alice@sender.test", ["fwd@example.test"])
    srs = SRS_RE.search(remote.wait_dumps(1, timeout=15, settle=0.5)[0]).group(1).decode()

    # the next hop bounces: a DSN from <> to the SRS address comes to our MX
    replies = send(p, "", [srs], subject="bounce")
    assert replies[0].code == 250, replies
    d = origin.wait_dumps(1, timeout=15, settle=0.5)[0]
    assert b"X-Mail-Args: <>" in d, d[:400]
    assert b"X-Rcpt-Args: <alice@sender.test>" in d, d[:400]
    assert b"Subject: bounce" in d
    p.wait_log(r"srs-reversed .*original=alice@sender\.test")
    # a case-smashing hop does not matter
    replies = send(p, "", [srs.lower().replace("srs0", "SRS0")], subject="bounce2")
    assert replies[0].code == 250, replies


def test_forged_and_expired_srs_refused(petrel_factory, dns_factory, sink_factory, mx_port):
    dns, remote, origin = peers(dns_factory, sink_factory, mx_port)
    p = forwarding_petrel(petrel_factory, dns, mx_port)
    secret = secret_of(p)
    # Mail::SRS's addresses, made now and 30 days ago, at our hostname
    r = perl_srs(secret, 'print $srs->forward("carol\\@sender.test", $ARGV[0]), "\\n"; '
                 'no warnings "redefine"; my $o = \\&Mail::SRS::timestamp_create; '
                 '*Mail::SRS::timestamp_create = sub { $o->($_[0], time() - 30 * 86400) }; '
                 'print $srs->forward("carol\\@sender.test", $ARGV[0]), "\\n";', HOSTNAME)
    assert r.returncode == 0, r.stderr
    fresh, old = r.stdout.split()
    forged = re.sub(r"^SRS0=(....)", lambda m: "SRS0=" + ("AAAA" if m.group(1) != "AAAA"
                                                           else "BBBB"), fresh)
    replies = send(p, "", [old, forged, fresh, "SRS0=x@" + HOSTNAME], subject="mixed")
    assert [r.code for r in replies] == [550, 550, 250, 550], replies
    assert all(r.enhanced == "5.1.1" for r in replies if r.code == 550), replies
    assert "too old" in replies[0].text, replies[0]
    assert "wrong hash" in replies[1].text, replies[1]
    assert "malformed" in replies[3].text, replies[3]
    d = origin.wait_dumps(1, timeout=15, settle=0.5)
    assert len(d) == 1 and b"X-Rcpt-Args: <carol@sender.test>" in d[0], d
    # an SRS address of another domain is just an unknown local part
    replies = send(p, "", ["SRS0=abcd=AA=sender.test=carol@example.test"], subject="x")
    assert replies[0].code == 550 and "no such user" in replies[0].text, replies


def test_srs1_of_another_forwarder(petrel_factory, dns_factory, sink_factory, mx_port):
    """A sender that is already SRS0 at another forwarder becomes SRS1 (Mail::SRS's Guarded
    form), and a bounce to it goes back to that forwarder's SRS0 address."""
    dns, remote, origin = peers(dns_factory, sink_factory, mx_port)
    p = forwarding_petrel(petrel_factory, dns, mx_port)
    first = "SRS0=abcd=AA=orig.test=joe@sender.test"
    send(p, first, ["fwd@example.test"])
    d = remote.wait_dumps(1, timeout=15, settle=0.5)[0]
    m = re.search(rb"X-Mail-Args: <(SRS1=[^>]+)>", d)
    assert m, d[:400]
    srs1 = m.group(1).decode()
    assert srs1.endswith("=sender.test==abcd=AA=orig.test=joe@" + HOSTNAME), srs1
    r = perl_srs(secret_of(p), 'print scalar $srs->reverse($ARGV[0]);', srs1)
    assert r.returncode == 0 and r.stdout == first, r.stdout + r.stderr
    replies = send(p, "", [srs1], subject="bounce")
    assert replies[0].code == 250, replies
    d = origin.wait_dumps(1, timeout=15, settle=0.5)[0]
    assert ("X-Rcpt-Args: <%s>" % first).encode() in d, d[:400]


def test_null_sender_and_disabled(petrel_factory, dns_factory, sink_factory, mx_port, tmp_path):
    dns, remote, _ = peers(dns_factory, sink_factory, mx_port)
    p = forwarding_petrel(petrel_factory, dns, mx_port)
    send(p, "", ["fwd@example.test"], subject="null")
    d = remote.wait_dumps(1, timeout=15, settle=0.5)[0]
    assert b"X-Mail-Args: <>" in d, d[:400]

    q = forwarding_petrel(petrel_factory, dns, mx_port, srs_enabled="no")
    send(q, "alice@sender.test", ["fwd@example.test"], subject="plain")
    # smtp-sink's file names may sort two dumps of one second either way
    dumps = remote.wait_dumps(2, timeout=15, settle=0.5)
    assert [b"X-Mail-Args: <alice@sender.test>" in d for d in dumps].count(True) == 1, dumps
    assert not (q.data_dir / "srs.secret").exists()
    # without SRS an SRS address at the hostname (no local domain) is relaying
    replies = send(q, "", ["SRS0=abcd=AA=sender.test=carol@" + HOSTNAME], subject="y")
    assert replies[0].code == 554 and "Relaying denied" in replies[0].text, replies


def test_secret_file(petrel_factory, dns_factory, sink_factory, mx_port, tmp_path):
    dns, remote, _ = peers(dns_factory, sink_factory, mx_port)
    secret = tmp_path / "srs-secret"
    secret.write_text("a shared secret of the operator\n")
    secret.chmod(0o644)
    bad = petrel_factory(start=False, secret_file=str(secret), srs_domain="fwd.petrel.test",
                         max_age=5)
    with pytest.raises(AssertionError):
        bad.start(timeout=20)
    proc, bad.proc = bad.proc, None  # it exited: nothing to stop at teardown
    assert proc.wait(10) != 0
    assert "srs-secret: readable or writable by others" in bad.log(), bad.log()[-2000:]
    assert ":%d: [srs] secret_file" % _line_of(bad.config_path, "secret_file") in bad.log()

    secret.chmod(0o600)
    p = forwarding_petrel(petrel_factory, dns, mx_port, secret_file=str(secret),
                          srs_domain="fwd.petrel.test")
    send(p, "alice@sender.test", ["fwd@example.test"])
    srs = SRS_RE.search(remote.wait_dumps(1, timeout=15, settle=0.5)[0]).group(1).decode()
    assert srs.endswith("=sender.test=alice@fwd.petrel.test"), srs
    r = perl_srs("a shared secret of the operator", 'print scalar $srs->reverse($ARGV[0]);',
                 srs)
    assert r.returncode == 0 and r.stdout == "alice@sender.test", r.stdout + r.stderr
    assert not (p.data_dir / "srs.secret").exists()


def _line_of(path, key):
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith(key + " "):
            return i
    raise AssertionError("%s not in %s" % (key, path))
