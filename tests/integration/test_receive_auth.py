"""The receiving checks on an mx listener (docs/email-authentication.md, "Receiving"):
SPF at MAIL FROM, DKIM and DMARC at the end of the data, the Authentication-Results field
(RFC 8601) read back by python3-authres field by field, and the DMARC policy applied.

The sender domains' SPF, DKIM and DMARC records are served by a python3-dnslib zone server
(spf_dns.py) on a loopback port; messages are signed by dkimpy (python3-dkim).  The client
connects from 127.0.0.1, which the "pass" domains' SPF records allow.
"""

import base64
import subprocess
import time

import authres
import authres.dmarc
import dkim
import pytest

from conftest import (SMTPClient, assert_queued, free_ports, header_values, list_mail,
                      rsa_dkim_key,
                      split_message, wait_mail)
from spf_dns import ZoneServer

AUTHSERV_ID = "mx.petrel.test"
RCPT = "u@example.test"
AR_PARSER = authres.FeatureContext(authres.dmarc)


def _run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, timeout=60, **kw)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """selector -> (private key PEM, TXT record)"""
    folder = tmp_path_factory.mktemp("recv-keys")
    out = {}
    out["sel"] = rsa_dkim_key(folder)
    key = folder / "ed.key"
    _run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)])
    der = _run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"]).stdout
    # dkimpy takes the raw 32-byte seed, base64; the record has the raw public key
    raw = _run(["openssl", "pkey", "-in", str(key), "-outform", "DER"]).stdout[-32:]
    out["ed"] = (base64.b64encode(raw), "v=DKIM1; k=ed25519; p=" +
                 base64.b64encode(der[-32:]).decode())
    return out


def zone_data(keys):
    return {
        # SPF passes for 127.0.0.0/8, DMARC p=reject, both keys published
        "pass.test": [{"TXT": "v=spf1 ip4:127.0.0.0/8 -all"}],
        "_dmarc.pass.test": [{"TXT": "v=DMARC1; p=reject"}],
        "sel._domainkey.pass.test": [{"TXT": keys["sel"][1]}],
        "ed._domainkey.pass.test": [{"TXT": keys["ed"][1]}],
        # another domain whose SPF passes too, not aligned with pass.test
        "relay.test": [{"TXT": "v=spf1 ip4:127.0.0.0/8 -all"}],
        # SPF fails, DMARC says reject
        "fail.test": [{"TXT": "v=spf1 -all"}],
        "_dmarc.fail.test": [{"TXT": "v=DMARC1; p=reject"}],
        # SPF softfails, DMARC says quarantine
        "soft.test": [{"TXT": "v=spf1 ~all"}],
        "_dmarc.soft.test": [{"TXT": "v=DMARC1; p=quarantine"}],
        # no SPF, no DMARC
        "plain.test": [{"A": "192.0.2.1"}],
        # SPF's TXT query is never answered: temperror
        "slow.test": ["TIMEOUT"],
        # the DMARC record's query is never answered: temperror
        "tempdmarc.test": [{"TXT": "v=spf1 ip4:127.0.0.0/8 -all"}],
        "_dmarc.tempdmarc.test": ["TIMEOUT"],
        # everything published, for the listener whose checks are off
        "quiet.test": [{"TXT": "v=spf1 ip4:127.0.0.0/8 -all"}],
        "_dmarc.quiet.test": [{"TXT": "v=DMARC1; p=reject"}],
        "sel._domainkey.quiet.test": [{"TXT": keys["sel"][1]}],
        # HELO names
        "helo.pass.test": [{"TXT": "v=spf1 ip4:127.0.0.1 -all"}],
        "helo.fail.test": [{"TXT": "v=spf1 -all"}],
    }


@pytest.fixture(scope="module")
def zone(keys):
    server = ZoneServer(zone_data(keys))
    yield server
    server.close()


@pytest.fixture
def mx(petrel_factory, zone):
    """petrel on the test zone; mx(**overrides) -> Petrel"""
    def make(**overrides):
        settings = {"resolver": "127.0.0.1@%d" % zone.port, "special_zones": "test",
                    "timeout": 2, "spf_timeout": 3}
        settings.update(overrides)
        return petrel_factory(**settings)
    return make


def message(from_addr, subject="test", body=b"Hello.\r\n", extra=b""):
    return (b"From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
            b"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <%d@x.test>\r\n%s\r\n"
            % (from_addr.encode(), RCPT.encode(), subject.encode(), time.monotonic_ns(),
               extra)) + body


def sign(msg, keys, selector="sel", domain=b"pass.test"):
    key = keys[selector][0]
    kw = {"signature_algorithm": b"ed25519-sha256"} if selector == "ed" else {}
    sig = dkim.sign(msg, selector.encode(), domain, key,
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
                    canonicalize=(b"relaxed", b"relaxed"), **kw)
    return sig + msg


def send(p, sender, msg, helo="client.pass.test"):
    """One transaction on the mx listener; the end-of-data reply."""
    c = SMTPClient("127.0.0.1", p.mx, timeout=30)
    try:
        c.banner()
        c.ehlo(helo)
        return c.mail_transaction(sender, [RCPT], msg)
    finally:
        c.close()


def delivered(p, n=1, timeout=15.0):
    """The messages in u@example.test's inbox once there are N."""
    return wait_mail(p.data_dir, "example.test", "u", n, timeout, settle=0)


def results(raw):
    """Our Authentication-Results field parsed by python3-authres: {method: [result]}"""
    values = header_values(raw, "Authentication-Results")
    ours = [v for v in values if v.split(";", 1)[0].strip() == AUTHSERV_ID]
    assert len(ours) == 1, values
    parsed = AR_PARSER.parse("Authentication-Results: " + ours[0])
    assert parsed.authserv_id == AUTHSERV_ID
    out = {}
    for r in parsed.results:
        props = {"%s.%s" % (pr.type, pr.name): pr.value for pr in r.properties}
        method = r.method
        if method == "spf" and "spf" in out and "smtp.helo" in props:
            method = "spf-helo"  # the HELO identity's own check, after MAIL FROM's
        out.setdefault(method, []).append((r.result, r.reason, props))
    return out


def test_pass_all_three(mx, keys):
    """SPF pass, DKIM pass (RSA and Ed25519 signatures by dkimpy), DMARC pass: each
    field of the Authentication-Results, which sits right under our Received:"""
    p = mx()
    signed = sign(sign(message("joe@pass.test"), keys, "sel"), keys, "ed")
    assert_queued(send(p, "joe@pass.test", signed, helo="helo.pass.test"))
    raw = delivered(p)[0]
    lines, _ = split_message(raw)
    names = [l.split(":", 1)[0].lower() for l in lines]
    first = names.index("received")
    assert names[first + 1] == "authentication-results", names
    ar = results(raw)
    assert ar["spf"] == [("pass", None, {"smtp.mailfrom": "joe@pass.test"})]
    # the HELO identity's own check (RFC 7208 2.3)
    assert ar["spf-helo"] == [("pass", None, {"smtp.helo": "helo.pass.test"})]
    dk = sorted(ar["dkim"], key=lambda r: r[2]["header.s"])
    assert [(r[0], r[2]["header.d"], r[2]["header.s"]) for r in dk] == \
        [("pass", "pass.test", "ed"), ("pass", "pass.test", "sel")]
    sigs = [dkim.util.parse_tag_value(v.encode()) for v in header_values(raw, "DKIM-Signature")]
    assert sorted(r[2]["header.b"] for r in dk) == \
        sorted(s[b"b"].decode().replace(" ", "")[:8] for s in sigs)
    assert ar["dmarc"] == [("pass", None, {"header.from": "pass.test",
                                           "policy.dmarc": "none"})]
    assert "dmarc=pass (p=reject dis=none)" in header_values(raw, "Authentication-Results")[0]


def test_spf_fail_dmarc_reject(mx):
    """SPF fails, nothing aligned, p=reject: 550 5.7.1 naming the domain, nothing kept"""
    p = mx()
    r = send(p, "joe@fail.test", message("joe@fail.test"))
    assert r.code == 550 and r.enhanced == "5.7.1", r
    assert "fail.test" in r.text
    p.wait_log(r"auth-results .*spf=fail .*dmarc=fail policy=reject disposition=reject")
    assert not list((p.data_dir / "queue" / "new").glob("*"))
    time.sleep(0.3)
    assert list_mail(p.data_dir, "example.test", "u") == []


def test_softfail_quarantine(mx):
    """SPF softfail, DMARC fail with p=quarantine: accepted into the mailbox's Junk
    folder (Maildir++ .Junk/new), not its inbox"""
    p = mx()
    assert_queued(send(p, "joe@soft.test", message("joe@soft.test")))
    raw = wait_any(p)
    junk = p.data_dir / "mail" / "example.test" / "u" / ".Junk"
    assert [f.read_bytes() for f in (junk / "new").iterdir()] == [raw]
    assert (junk / "maildirfolder").is_file()
    assert list_mail(p.data_dir, "example.test", "u") == []
    p.wait_log(r"delivered .*to=u@example.test mailbox=local folder=.Junk")
    ar = results(raw)
    assert ar["spf"][0][0] == "softfail"
    assert ar["spf"][0][2] == {"smtp.mailfrom": "joe@soft.test"}
    assert ar["dkim"] == [("none", None, {})]
    assert ar["dmarc"][0][0] == "fail"
    assert ar["dmarc"][0][2] == {"header.from": "soft.test", "policy.dmarc": "quarantine"}


def wait_any(p, timeout=15.0):
    """The first message delivered for u@example.test, in its inbox or its Junk folder."""
    deadline = time.monotonic() + timeout
    junk = p.data_dir / "mail" / "example.test" / "u" / ".Junk" / "new"
    while True:
        files = list_mail(p.data_dir, "example.test", "u")
        if junk.is_dir():
            files += sorted(junk.iterdir())
        if files:
            return files[0].read_bytes()
        assert time.monotonic() < deadline, "nothing delivered"
        time.sleep(0.05)


def test_none(mx):
    """No SPF record, no signature, no DMARC record: none, none, none"""
    p = mx()
    assert_queued(send(p, "joe@plain.test", message("joe@plain.test")))
    ar = results(delivered(p)[0])
    assert ar["spf"][0][0] == "none"
    assert ar["spf-helo"][0][0] == "none"
    assert ar["spf-helo"][0][2] == {"smtp.helo": "client.pass.test"}
    assert ar["dkim"] == [("none", None, {})]
    assert ar["dmarc"][0][0] == "none"
    assert ar["dmarc"][0][2] == {"header.from": "plain.test"}


def test_spf_temperror_accepted(mx):
    """SPF's lookup never answered: temperror, and the mail is accepted"""
    p = mx()
    assert_queued(send(p, "joe@slow.test", message("joe@slow.test")))
    ar = results(delivered(p)[0])
    assert ar["spf"][0][0] == "temperror"
    assert ar["spf"][0][2] == {"smtp.mailfrom": "joe@slow.test"}


def test_dmarc_temperror_accepted(mx):
    """The DMARC record's lookup never answered: temperror, accepted"""
    p = mx()
    assert_queued(send(p, "joe@tempdmarc.test", message("joe@tempdmarc.test")))
    ar = results(delivered(p)[0])
    assert ar["spf"][0][0] == "pass"
    assert ar["dmarc"][0][0] == "temperror"
    assert ar["dmarc"][0][2] == {"header.from": "tempdmarc.test"}


def test_dkim_tampered_body(mx, keys):
    """A body changed after signing: dkim=fail with its reason; DMARC still passes on
    aligned SPF"""
    p = mx()
    signed = sign(message("joe@pass.test"), keys)
    assert_queued(send(p, "joe@pass.test", signed.replace(b"Hello.", b"Hullo.")))
    ar = results(delivered(p)[0])
    assert ar["dkim"][0][0] == "fail"
    assert ar["dkim"][0][1] == "body hash did not verify"
    assert ar["dkim"][0][2]["header.d"] == "pass.test"
    assert ar["dmarc"][0][0] == "pass"


def test_dkim_tampered_header_dmarc_reject(mx, keys):
    """A signed header changed, and SPF passes for another domain only: dkim=fail
    (signature), no aligned identifier, p=reject -> 550 5.7.1"""
    p = mx()
    signed = sign(message("joe@pass.test"), keys)
    r = send(p, "bounce@relay.test", signed.replace(b"Subject: test", b"Subject: tost"))
    assert r.code == 550 and r.enhanced == "5.7.1", r
    assert "pass.test" in r.text
    p.wait_log(r'auth-results .*spf=pass spf_identity="bounce@relay.test" dkim=fail '
               r'.*dmarc=fail')


def test_dkim_aligned_passes_with_foreign_spf(mx, keys):
    """SPF passes for a relay's domain, the signature is aligned: dmarc=pass"""
    p = mx()
    assert_queued(send(p, "bounce@relay.test", sign(message("joe@pass.test"), keys)))
    ar = results(delivered(p)[0])
    assert ar["spf"][0][:2] == ("pass", None)
    assert ar["spf"][0][2] == {"smtp.mailfrom": "bounce@relay.test"}
    assert ar["dkim"][0][0] == "pass"
    assert ar["dmarc"][0][0] == "pass"


def test_record_only_quarantine(mx):
    """[auth] dmarc_enforce = false: a p=quarantine failure goes to the inbox"""
    p = mx(dmarc_enforce="false")
    assert_queued(send(p, "joe@soft.test", message("joe@soft.test")))
    ar = results(delivered(p)[0])
    assert ar["dmarc"][0][2] == {"header.from": "soft.test", "policy.dmarc": "none"}
    assert not (p.data_dir / "mail" / "example.test" / "u" / ".Junk").exists()


def test_record_only(mx):
    """[auth] dmarc_enforce = false: a p=reject failure is accepted and recorded"""
    p = mx(dmarc_enforce="false")
    assert_queued(send(p, "joe@fail.test", message("joe@fail.test")))
    raw = delivered(p)[0]
    ar = results(raw)
    assert ar["dmarc"][0][0] == "fail"
    assert ar["dmarc"][0][2] == {"header.from": "fail.test", "policy.dmarc": "none"}
    assert "(p=reject dis=reject not enforced)" in header_values(raw,
                                                                 "Authentication-Results")[0]


def test_forged_results_removed(mx, keys):
    """Incoming Authentication-Results claiming our authserv-id (any case, quoted or
    not, folded) are removed; another server's is kept"""
    p = mx()
    forged = (b"Authentication-Results: MX.Petrel.Test; spf=pass smtp.mailfrom=x@fail.test\r\n"
              b"Authentication-Results: (comment) \"mx.petrel.test\";\r\n"
              b"\tdkim=pass header.d=fail.test\r\n"
              b"Authentication-Results: other.example; dmarc=pass header.from=fail.test\r\n")
    assert_queued(send(p, "joe@plain.test", message("joe@plain.test", extra=forged)))
    raw = delivered(p)[0]
    values = header_values(raw, "Authentication-Results")
    assert len(values) == 2, values
    assert values[0].startswith(AUTHSERV_ID + ";")
    assert values[1] == "other.example; dmarc=pass header.from=fail.test"
    assert results(raw)["spf"][0][0] == "none"


def test_forged_results_removed_with_checks_off(mx):
    """receiving_checks = off writes no Authentication-Results, yet incoming ones that
    claim our authserv-id are still removed (RFC 8601 5: nothing here checked this
    message, so such a field is not ours); another server's is kept"""
    checked, quiet = free_ports(2)
    p = mx(start=False, listeners=[("mx", "mx", "127.0.0.1:%d" % checked),
                                   ("quiet", "mx", "127.0.0.1:%d" % quiet)])
    p.config_path.write_text(p.config_path.read_text().replace(
        "[listener quiet]\n", "[listener quiet]\nreceiving_checks = off\n"))
    p.ports["mx"] = checked
    p.start()
    forged = (b"Authentication-Results: MX.Petrel.Test; spf=pass smtp.mailfrom=x@fail.test\r\n"
              b"Authentication-Results: (comment) \"mx.petrel.test\";\r\n"
              b"\tdkim=pass header.d=fail.test\r\n"
              b"Authentication-Results: other.example; dmarc=pass header.from=fail.test\r\n")
    c = SMTPClient("127.0.0.1", quiet, timeout=30)
    c.banner()
    c.ehlo("client.pass.test")
    assert_queued(c.mail_transaction("joe@plain.test", [RCPT],
                                     message("joe@plain.test", extra=forged)))
    c.quit()
    raw = delivered(p)[0]
    assert header_values(raw, "Authentication-Results") == [
        "other.example; dmarc=pass header.from=fail.test"]
    assert b"\r\nSubject: test\r\n" in raw


def test_null_sender_helo_identity(mx):
    """A null sender is checked as postmaster@HELO (RFC 7208 2.4): smtp.helo"""
    p = mx()
    assert_queued(send(p, "", message("joe@plain.test"), helo="helo.pass.test"))
    ar = results(delivered(p)[0])
    assert ar["spf"] == [("pass", None, {"smtp.helo": "helo.pass.test"})]
    assert "spf-helo" not in ar  # the one check was HELO's


def test_helo_fail_recorded(mx):
    """The HELO identity fails SPF while MAIL FROM passes: recorded (with the mechanism
    as the reason), DMARC still passes on MAIL FROM, the mail is delivered"""
    p = mx(spf_reject="true")
    assert_queued(send(p, "joe@pass.test", message("joe@pass.test"), helo="helo.fail.test"))
    ar = results(delivered(p)[0])
    assert ar["spf"][0][:2] == ("pass", None)
    assert ar["spf-helo"] == [("fail", "-all", {"smtp.helo": "helo.fail.test"})]
    assert ar["dmarc"][0][0] == "pass"


def test_spf_reject_at_mail(mx):
    """[auth] spf_reject = true: an SPF fail is refused at MAIL FROM with 550 5.7.23;
    a pass goes on"""
    p = mx(spf_reject="true")
    c = SMTPClient("127.0.0.1", p.mx, timeout=30)
    c.banner()
    c.ehlo("client.pass.test")
    r = c.cmd("MAIL FROM:<joe@fail.test>")
    assert r.code == 550 and r.enhanced == "5.7.23", r
    assert "fail.test" in r.text
    c.expect("RCPT TO:<%s>" % RCPT, 503)
    assert_queued(c.mail_transaction("joe@pass.test", [RCPT], message("joe@pass.test")))
    c.quit()


def test_spf_fail_accepted_without_spf_reject(mx):
    """By default an SPF fail is only recorded at MAIL FROM (DMARC decides later)"""
    p = mx(dmarc_enforce="false")
    c = SMTPClient("127.0.0.1", p.mx, timeout=30)
    c.banner()
    c.ehlo("client.pass.test")
    c.expect("MAIL FROM:<joe@fail.test>", 250)
    c.quit()


def test_submission_not_checked(mx):
    """An authenticated submission gets no Authentication-Results"""
    from conftest import SENDER, SENDER_PASSWORD
    p = mx()
    c = p.auth_session(user=SENDER, password=SENDER_PASSWORD)
    assert_queued(c.mail_transaction(SENDER, [RCPT], message(SENDER)))
    c.quit()
    raw = delivered(p)[0]
    assert header_values(raw, "Authentication-Results") == []


def test_bdat(mx, keys):
    """A message sent with BDAT (RFC 3030) is checked the same way"""
    p = mx()
    msg = sign(message("joe@pass.test"), keys)
    c = SMTPClient("127.0.0.1", p.mx, timeout=30)
    c.banner()
    c.ehlo("client.pass.test")
    c.expect("MAIL FROM:<joe@pass.test>", 250)
    c.expect("RCPT TO:<%s>" % RCPT, 250)
    c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
    assert_queued(c.read_reply())
    c.quit()
    ar = results(delivered(p)[0])
    assert [r[0] for r in ar["spf"] + ar["dkim"] + ar["dmarc"]] == ["pass", "pass", "pass"]


def test_rset_cancels_spf(mx):
    """RSET while SPF is still waiting for DNS cancels it; the next transaction gets its
    own result, and the server exits cleanly (no callback into a freed transaction:
    the sanitizers would say so at teardown)"""
    p = mx(spf_timeout=30)
    c = SMTPClient("127.0.0.1", p.mx, timeout=30)
    c.banner()
    c.ehlo("client.pass.test")
    c.expect("MAIL FROM:<joe@slow.test>", 250)
    c.expect("RSET", 250)
    c.expect("MAIL FROM:<joe@slow.test>", 250)
    c.expect("EHLO client.pass.test", 250)
    assert_queued(c.mail_transaction("joe@pass.test", [RCPT], message("joe@pass.test")))
    c.quit()
    ar = results(delivered(p)[0])
    assert ar["spf"][0][0] == "pass"


def test_client_leaves_while_checking(mx):
    """The client disconnects while the end-of-data checks wait for DNS (SPF never
    answered): nothing is queued, the lookups are cancelled, the server goes on"""
    p = mx(spf_timeout=30)
    c = SMTPClient("127.0.0.1", p.mx, timeout=30)
    c.banner()
    c.ehlo("client.pass.test")
    c.expect("MAIL FROM:<joe@slow.test>", 250)
    c.expect("RCPT TO:<%s>" % RCPT, 250)
    c.expect("DATA", 354)
    c.send(message("joe@slow.test") + b".\r\n")
    assert c.nothing_pending(1.0)
    c.close()
    p.wait_log(r"disconnect session=")
    assert not list((p.data_dir / "queue" / "new").glob("*"))
    assert_queued(send(p, "joe@pass.test", message("joe@pass.test")))


def test_several_from_fields_refused(mx, keys):
    """Two From fields (RFC 5322 3.6 allows one): a forger could add a second to a
    p=reject domain's message, so that no single From domain is evaluated; refused
    with 550 5.7.1 when DMARC is enforced (RFC 7489 6.6.1), nothing kept"""
    p = mx()
    msg = message("joe@fail.test", extra=b"From: <joe@plain.test>\r\n")
    r = send(p, "joe@fail.test", msg)
    assert r.code == 550 and r.enhanced == "5.7.1", r
    assert "several From fields" in r.text
    p.wait_log(r"rejected .*reason=from-ambiguous")
    assert not list((p.data_dir / "queue" / "new").glob("*"))


def test_from_in_several_domains_refused(mx):
    """One From field with addresses in two domains: refused the same way"""
    p = mx()
    msg = message("joe@fail.test").replace(b"From: <joe@fail.test>",
                                           b"From: <joe@fail.test>, <ann@plain.test>")
    r = send(p, "joe@fail.test", msg)
    assert r.code == 550 and r.enhanced == "5.7.1", r
    assert "several domains" in r.text


def test_several_from_fields_recorded_only(mx):
    """dmarc_enforce = false: the same message is accepted, dmarc=permerror recorded"""
    p = mx(dmarc_enforce="false")
    msg = message("joe@fail.test", extra=b"From: <joe@plain.test>\r\n")
    assert_queued(send(p, "joe@fail.test", msg))
    ar = results(delivered(p)[0])
    assert ar["dmarc"][0][0] == "permerror"


def test_no_from_field_accepted(mx):
    """No From field at all: nothing to forge; accepted with dmarc=permerror"""
    p = mx()
    msg = message("joe@fail.test").replace(b"From: <joe@fail.test>\r\n", b"")
    assert_queued(send(p, "joe@plain.test", msg))
    ar = results(delivered(p)[0])
    assert ar["dmarc"][0][0] == "permerror"


def test_receiving_checks_off_on_one_listener(mx, zone, keys):
    """[listener NAME] receiving_checks = off: mail on that mx listener is not checked (no
    SPF, DKIM or DMARC query reaches the zone, no Authentication-Results is written), while
    the same message on an mx listener with the default is checked as before"""
    checked, quiet = free_ports(2)
    p = mx(start=False, listeners=[("mx", "mx", "127.0.0.1:%d" % checked),
                                   ("quiet", "mx", "127.0.0.1:%d" % quiet)])
    text = p.config_path.read_text()
    assert "[listener quiet]\n" in text
    p.config_path.write_text(text.replace("[listener quiet]\n",
                                          "[listener quiet]\nreceiving_checks = off\n"))
    p.ports["mx"] = checked  # the port start() waits on for the banner
    p.start()
    log = p.wait_log("listener=(quiet|mx) role=mx", count=2)
    assert "listener=quiet role=mx address=127.0.0.1:%d receiving_checks=off\n" % quiet in log
    assert "listener=mx role=mx address=127.0.0.1:%d\n" % checked in log
    signed = sign(message("joe@quiet.test"), keys, "sel", domain=b"quiet.test")

    def asked():
        return [q for q in zone.queries if q[0].endswith("quiet.test")]

    def deliver(port, n):
        c = SMTPClient("127.0.0.1", port, timeout=30)
        c.banner()
        c.ehlo("client.quiet.test")
        assert_queued(c.mail_transaction("joe@quiet.test", [RCPT], signed))
        c.quit()
        return delivered(p, n)

    raw = deliver(quiet, 1)[0]
    assert header_values(raw, "Authentication-Results") == []
    assert header_values(raw, "Received") != []
    assert asked() == []
    # the default listener: the zone is asked, the field is written
    both = deliver(checked, 2)
    ours = [m for m in both if header_values(m, "Authentication-Results")]
    assert len(ours) == 1, both
    ar = results(ours[0])
    assert ar["spf"][0][0] == "pass" and ar["dkim"][0][0] == "pass"
    assert ar["dmarc"][0][0] == "pass"
    names = {q[0] for q in asked()}
    assert {"quiet.test", "_dmarc.quiet.test", "sel._domainkey.quiet.test"} <= names, names
