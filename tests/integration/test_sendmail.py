"""petrel sendmail: the /usr/sbin/sendmail interface over the role-local unix listener.

Each test starts a server with the default listeners plus one [listener local] on a unix
socket in its tmp folder, pipes a message into `petrel sendmail -c CONF ...` and looks at
the exit status (sysexits.h) and at what reached the Maildir.
"""

import json
import os
import pwd
import re
import socket
import subprocess
import time

from conftest import (HOSTNAME, PETREL_BIN, SMTPClient, header_values, petrel_env,
                      split_message)

EX_USAGE, EX_DATAERR, EX_UNAVAILABLE, EX_TEMPFAIL, EX_CONFIG = 64, 65, 69, 75, 78
LOGIN = pwd.getpwuid(os.getuid()).pw_name


def add_local_listener(p):
    """Append a role-local listener to P's config (before start); returns its socket path."""
    sock = p.tmp / "sendmail.sock"
    with open(p.config_path, "a") as f:
        f.write("\n[listener local]\nrole = local\naddress = unix:%s\n" % sock)
    return sock


def local_server(petrel_factory, **overrides):
    p = petrel_factory(start=False, **overrides)
    p.sendmail_sock = add_local_listener(p)
    p.start()
    return p


def sendmail(p, *args, input=b"", argv0=None, config=None):
    """Run petrel sendmail with ARGS and -c <P's config>; INPUT is bytes."""
    cmd = [argv0] if argv0 else [PETREL_BIN, "sendmail"]
    cmd += ["-c", str(config or p.config_path), *map(str, args)]
    return subprocess.run(cmd, input=input, capture_output=True, timeout=60, env=petrel_env())


def ok(r):
    assert r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr.decode(errors="replace"))
    return r


def assert_crlf_only(raw):
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF in %r" % raw
    assert b"\r" not in raw.replace(b"\r\n", b""), "bare CR in %r" % raw


def body_of(raw):
    return split_message(raw)[1]


def test_basic_message_gets_crlf_date_message_id_from(petrel_factory):
    p = local_server(petrel_factory)
    ok(sendmail(p, "u@example.test", input=b"Subject: x\n\nhello\nworld\n"))
    [raw] = p.mail("example.test", "u", 1)
    assert_crlf_only(raw)
    assert header_values(raw, "Subject") == ["x"]
    [date] = header_values(raw, "Date")
    assert re.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$",
                    date), date
    [msgid] = header_values(raw, "Message-ID")
    assert re.match(r"^<[^<>@\s]+@[^<>@\s]+>$", msgid), msgid
    [frm] = header_values(raw, "From")
    # the login gets the first local domain: the hostname mx.petrel.test is not local
    assert "%s@example.test" % LOGIN in frm
    assert header_values(raw, "Return-Path") == ["<%s@example.test>" % LOGIN]
    assert body_of(raw) == b"hello\r\nworld\r\n"


def test_existing_headers_are_kept(petrel_factory):
    p = local_server(petrel_factory)
    msg = (b"From: Someone <someone@example.test>\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n"
           b"Message-ID: <fixed@client.example>\nSubject: kept\n\nbody\n")
    ok(sendmail(p, "u@example.test", input=msg))
    [raw] = p.mail("example.test", "u", 1)
    assert header_values(raw, "From") == ["Someone <someone@example.test>"]
    assert header_values(raw, "Date") == ["Mon, 01 Jan 2024 00:00:00 +0000"]
    assert header_values(raw, "Message-ID") == ["<fixed@client.example>"]


def test_message_without_header_section(petrel_factory):
    """A first line that is no header field starts the body: headers and a blank line go first."""
    p = local_server(petrel_factory)
    ok(sendmail(p, "u@example.test", input=b"just a line of text\nand another\n"))
    [raw] = p.mail("example.test", "u", 1)
    assert header_values(raw, "Date") and header_values(raw, "Message-ID")
    assert body_of(raw) == b"just a line of text\r\nand another\r\n"


def test_crlf_input_is_not_doubled(petrel_factory):
    p = local_server(petrel_factory)
    ok(sendmail(p, "u@example.test", input=b"Subject: crlf\r\n\r\nline1\r\nline2\r\n"))
    [raw] = p.mail("example.test", "u", 1)
    assert_crlf_only(raw)
    assert body_of(raw) == b"line1\r\nline2\r\n"


def test_t_reads_to_cc_bcc_and_removes_bcc(petrel_factory):
    p = local_server(petrel_factory)
    msg = (b"To: U <u@example.test>\nCc: v@example.test,\n w@example.test\n"
           b"Bcc: x@example.test\nSubject: t\n\nhi\n")
    ok(sendmail(p, "-t", input=msg))
    for box in ("u", "v", "w", "x"):
        [raw] = p.mail("example.test", box, 1)
        assert header_values(raw, "Bcc") == [], box
        if box != "x":
            assert b"x@example.test" not in raw, raw
        assert header_values(raw, "To") == ["U <u@example.test>"]


def test_t_adds_command_line_recipients(petrel_factory):
    p = local_server(petrel_factory)
    ok(sendmail(p, "-t", "v@example.test", input=b"To: u@example.test\nSubject: t\n\nhi\n"))
    p.mail("example.test", "u", 1)
    p.mail("example.test", "v", 1)


def test_bcc_removed_without_t(petrel_factory):
    p = local_server(petrel_factory)
    ok(sendmail(p, "u@example.test", input=b"Bcc: secret@example.test\nSubject: b\n\nhi\n"))
    [raw] = p.mail("example.test", "u", 1)
    assert b"secret@example.test" not in raw


def test_f_sets_envelope_sender(petrel_factory):
    p = local_server(petrel_factory)
    ok(sendmail(p, "-f", "a@b.test", "u@example.test", input=b"Subject: f\n\nhi\n"))
    ok(sendmail(p, "-fc@d.test", "v@example.test", input=b"Subject: f\n\nhi\n"))
    ok(sendmail(p, "-r", "<e@f.test>", "w@example.test", input=b"Subject: r\n\nhi\n"))
    [raw] = p.mail("example.test", "u", 1)
    assert header_values(raw, "Return-Path") == ["<a@b.test>"]
    assert "a@b.test" in header_values(raw, "From")[0]
    [raw] = p.mail("example.test", "v", 1)
    assert header_values(raw, "Return-Path") == ["<c@d.test>"]
    [raw] = p.mail("example.test", "w", 1)
    assert header_values(raw, "Return-Path") == ["<e@f.test>"]


def test_F_full_name_in_added_from(petrel_factory):
    p = local_server(petrel_factory)
    ok(sendmail(p, "-F", "Jane Doe", "-f", "jane@example.test", "u@example.test",
                input=b"Subject: F\n\nhi\n"))
    ok(sendmail(p, "-F", "Doe, Jane", "-f", "jane@example.test", "v@example.test",
                input=b"Subject: F\n\nhi\n"))
    [raw] = p.mail("example.test", "u", 1)
    assert header_values(raw, "From") == ["Jane Doe <jane@example.test>"]
    [raw] = p.mail("example.test", "v", 1)
    assert header_values(raw, "From") == ['"Doe, Jane" <jane@example.test>']


def test_dot_line_ends_input_without_i(petrel_factory):
    p = local_server(petrel_factory)
    ok(sendmail(p, "u@example.test", input=b"Subject: dot\n\nbefore\n.\nafter\n"))
    [raw] = p.mail("example.test", "u", 1)
    assert body_of(raw) == b"before\r\n"


def test_i_and_oi_keep_dot_lines(petrel_factory):
    p = local_server(petrel_factory)
    msg = b"Subject: dot\n\nbefore\n.\n..two\n.x\nafter\n"
    ok(sendmail(p, "-i", "u@example.test", input=msg))
    ok(sendmail(p, "-oi", "v@example.test", input=msg))
    for box in ("u", "v"):
        [raw] = p.mail("example.test", box, 1)
        assert body_of(raw) == b"before\r\n.\r\n..two\r\n.x\r\nafter\r\n", box


def test_php_mail_invocation(petrel_factory):
    """PHP's mail() runs `sendmail -t -i` and writes the headers it was given."""
    p = local_server(petrel_factory)
    msg = (b"To: u@example.test\nSubject: php\nX-PHP-Originating-Script: 0:x.php\n"
           b"MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\n"
           b"Hello from PHP\n.\nend\n")
    ok(sendmail(p, "-t", "-i", input=msg))
    [raw] = p.mail("example.test", "u", 1)
    assert body_of(raw) == b"Hello from PHP\r\n.\r\nend\r\n"
    assert header_values(raw, "Date") and header_values(raw, "Message-ID")


def test_grouped_and_ignored_flags(petrel_factory):
    p = local_server(petrel_factory)
    ok(sendmail(p, "-ti", "-odi", "-oem", "-oee", "-v", "-odb", "-N", "never",
                input=b"To: u@example.test\nSubject: g\n\nx\n.\ny\n"))
    [raw] = p.mail("example.test", "u", 1)
    assert body_of(raw) == b"x\r\n.\r\ny\r\n"


def test_remote_recipient_is_accepted(petrel_factory):
    """Relaying is the queue's job; sendmail only has to get it accepted (250)."""
    p = local_server(petrel_factory)
    ok(sendmail(p, "someone@remote.test", input=b"Subject: remote\n\nhi\n"))
    assert re.search(r"received .*nrcpt=1", p.log()), p.log()[-2000:]


def test_no_recipients_is_data_error(petrel_factory):
    p = local_server(petrel_factory)
    r = sendmail(p, "-t", input=b"Subject: nobody\n\nhi\n")
    assert r.returncode == EX_DATAERR, r
    assert b"no recipients" in r.stderr
    r = sendmail(p, input=b"Subject: nobody\n\nhi\n")
    assert r.returncode == EX_USAGE, r


def test_unknown_recipient_refused(petrel_factory):
    p = local_server(petrel_factory)
    r = sendmail(p, "nosuchuser@example.test", input=b"Subject: x\n\nhi\n")
    assert r.returncode == 67, r  # EX_NOUSER
    assert b"550" in r.stderr


def test_server_down(petrel_factory):
    p = petrel_factory(start=False)
    add_local_listener(p)
    r = sendmail(p, "u@example.test", input=b"Subject: x\n\nhi\n")
    assert r.returncode in (EX_UNAVAILABLE, EX_TEMPFAIL), r
    assert b"not running" in r.stderr


def test_no_local_listener(petrel_factory):
    p = petrel_factory(start=False)
    r = sendmail(p, "u@example.test", input=b"Subject: x\n\nhi\n")
    assert r.returncode == EX_CONFIG, r
    assert b"no [listener] with role local in" in r.stderr


def test_unknown_flag_is_usage_error(petrel_factory):
    p = local_server(petrel_factory)
    for args in (["-Z", "u@example.test"], ["-bd"], ["-f"]):
        r = sendmail(p, *args, input=b"Subject: x\n\nhi\n")
        assert r.returncode == EX_USAGE, (args, r)
        assert b"usage" in r.stderr
    assert p.mailbox("example.test", "u") == []


def test_too_large_message(petrel_factory):
    p = local_server(petrel_factory, message_size=10000)
    r = sendmail(p, "u@example.test", input=b"Subject: big\n\n" + (b"x" * 70 + b"\n") * 200)
    assert r.returncode == EX_DATAERR, r


def test_invoked_as_sendmail(petrel_factory, tmp_path):
    """/usr/sbin/sendmail -> petrel: argv[0] "sendmail" means petrel sendmail."""
    p = local_server(petrel_factory)
    link = tmp_path / "sendmail"
    link.symlink_to(PETREL_BIN)
    ok(sendmail(p, "-t", "-i", argv0=str(link), input=b"To: u@example.test\nSubject: a0\n\nhi\n"))
    [raw] = p.mail("example.test", "u", 1)
    assert header_values(raw, "Subject") == ["a0"]


def test_bs_speaks_smtp_on_stdio(petrel_factory):
    p = local_server(petrel_factory)
    dialogue = (b"EHLO localhost\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\n"
                b"DATA\r\nSubject: bs\r\n\r\nover stdio\r\n.\r\nQUIT\r\n")
    r = ok(sendmail(p, "-bs", input=dialogue))
    assert r.stdout.startswith(b"220 "), r.stdout
    assert b"\r\n221 " in r.stdout, r.stdout
    [raw] = p.mail("example.test", "u", 1)
    assert body_of(raw) == b"over stdio\r\n"


def test_sender_cannot_inject_smtp_commands(petrel_factory):
    """-f is often filled from a web form (PHP mail()'s 5th argument)."""
    p = local_server(petrel_factory)
    for bad in ("a@b.test>\r\nRCPT TO:<v@example.test", "a@b.test> SIZE=1", "a b@c.test"):
        r = sendmail(p, "-f", bad, "u@example.test", input=b"Subject: x\n\nhi\n")
        assert r.returncode == EX_USAGE, (bad, r)
    r = sendmail(p, "u@example.test>\r\nRCPT TO:<v@example.test", input=b"Subject: x\n\nhi\n")
    assert r.returncode in (EX_USAGE, EX_DATAERR), r
    time.sleep(0.5)
    assert p.mailbox("example.test", "u") == [] and p.mailbox("example.test", "v") == []


def test_non_ascii_full_name_is_encoded(petrel_factory):
    p = local_server(petrel_factory)
    name = "Zoë Ångström-Ødegård " * 4
    ok(sendmail(p, "-F", name.strip(), "-f", "z@example.test", "u@example.test",
                input=b"Subject: n\n\nhi\n"))
    [raw] = p.mail("example.test", "u", 1)
    assert_crlf_only(raw)
    [frm] = header_values(raw, "From")
    assert frm.startswith("=?UTF-8?B?") and frm.endswith("<z@example.test>"), frm
    from email.header import decode_header, make_header
    assert str(make_header(decode_header(frm.rsplit(" <", 1)[0]))) == name.strip()


def test_bare_login_names_get_the_first_local_domain(petrel_factory):
    """cron mails "root": a bare name (argument or -t header) becomes name@D, D the first
    domain of [domains] local (the hostname mx.petrel.test is not local), so the mail stays
    here and reaches the alias instead of being relayed and deferred (issue 7 item 25)."""
    p = local_server(petrel_factory)
    for name in ("root", "admin", "ops"):
        p.cli_ok("alias", "add", "%s@example.test" % name, "u@example.test")
    ok(sendmail(p, "-t", "root", input=b"To: admin, ops\nSubject: cron\n\nhi\n"))
    raws = p.mail("example.test", "u", 3)  # one copy per alias
    assert len(raws) == 3
    assert all(header_values(raw, "To") == ["admin, ops"] for raw in raws), raws
    # each of the three names reached its alias here: nothing relayed or deferred
    events = json.loads(p.cli_ok("events", "--account", "uid:%d" % os.getuid(),
                                 "--json").stdout)
    assert sorted((e["type"], e["recipient"]) for e in events if e["type"] != "accepted") \
        == [("delivered", "u@example.test")] * 3, events


def test_bare_login_names_keep_a_local_hostname(petrel_factory):
    """When the hostname is itself a local domain, bare names get it."""
    p = local_server(petrel_factory, hostname="other.test")
    p.cli_ok("alias", "add", "root@other.test", "u@example.test")
    ok(sendmail(p, "root", input=b"Subject: cron\n\nhi\n"))
    [raw] = p.mail("example.test", "u", 1)
    assert header_values(raw, "Return-Path") == ["<%s@other.test>" % LOGIN], raw



def test_local_listener_has_no_starttls(petrel_factory):
    """The unix socket is local and has no TLS (configuration.md): EHLO does not offer
    STARTTLS and the command is refused, even though [tls] has a certificate."""
    p = local_server(petrel_factory)
    c = SMTPClient(str(p.sendmail_sock), 0, family=socket.AF_UNIX)
    c.banner()
    r = c.ehlo()
    assert "STARTTLS" not in [l.upper() for l in r.lines[1:]], r
    r = c.cmd("HELP")
    assert "STARTTLS" not in r.text, r
    c.expect("STARTTLS", 502, "5.5.1")
    c.expect("NOOP", 250)
    c.quit()
    # the TCP listeners of the same server still offer it
    c = p.session("mx")
    assert "STARTTLS" in [l.upper() for l in c.ehlo().lines[1:]]
    c.quit()
