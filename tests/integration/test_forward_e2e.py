"""End to end through two Petrels (issue 9): a sender's server hands a DKIM-signed message
to Petrel B (its MX), which reports spf=pass dkim=pass dmarc=pass; an alias on B forwards
it to Petrel C, which sees the SRS return path pass SPF for B's domain, DKIM still pass,
DMARC pass, and B's ARC seal (key arc._domainkey.b.test in B's DATA_DIR/dkim/, as `petrel
dkim keygen b.test --selector arc` names it: d=b.test s=arc) valid; so does dkimpy's
arc_verify on what C stored.

Hosts are loopback addresses: the sender's server sends from 127.0.0.2 (a Python client
signing with dkimpy, or Petrel A signing with its own key in the last test), B sends from
127.0.0.3 ([delivery] source_address); the Petrels listen on 127.0.0.1.  A dnslib zone
server publishes every record: the senders' SPF (127.0.0.2), DKIM keys and DMARC
p=reject; B's hostname's SPF (127.0.0.3, for its SRS addresses) and its ARC key;
example.test's MX (C)."""

import base64
import os
import re
import smtplib
import subprocess
import time

import authres
import authres.arc
import authres.dmarc
import dkim
import pytest

from conftest import SENDER, dot_stuff, header_values, list_mail, rsa_dkim_key
from spf_dns import ZoneServer

B_HOST = "b.petrel.test"
C_HOST = "c.petrel.test"
AR_PARSER = authres.FeatureContext(authres.dmarc, authres.arc)


@pytest.fixture(scope="module")
def origin_key(tmp_path_factory):
    return rsa_dkim_key(tmp_path_factory.mktemp("e2e-keys"), "origin.key")


@pytest.fixture(scope="module")
def seal_key(tmp_path_factory):
    """B's ARC key: (PEM file, TXT record)"""
    key = tmp_path_factory.mktemp("e2e-seal") / "arc.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(key)], check=True, capture_output=True,
                   timeout=60)
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True, timeout=60).stdout
    return key, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def a_key(tmp_path_factory):
    """Petrel A's DKIM key for example.test (the fixture account's domain)"""
    key = tmp_path_factory.mktemp("e2e-a") / "a.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(key)], check=True, capture_output=True,
                   timeout=60)
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True, timeout=60).stdout
    return key, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def zone(origin_key, seal_key, a_key):
    server = ZoneServer({
        "origin.test": [{"TXT": "v=spf1 ip4:127.0.0.2 -all"}],
        "sel._domainkey.origin.test": [{"TXT": origin_key[1]}],
        "_dmarc.origin.test": [{"TXT": "v=DMARC1; p=reject"}],
        B_HOST: [{"TXT": "v=spf1 ip4:127.0.0.3 -all"}, {"A": "127.0.0.1"}],
        "arc._domainkey.b.test": [{"TXT": seal_key[1]}],
        # Petrel A's domain: it sends from 127.0.0.2 and signs with selector "a"
        "example.test": [{"MX": (10, "mx.example.test")},
                         {"TXT": "v=spf1 ip4:127.0.0.2 -all"}],
        "a._domainkey.example.test": [{"TXT": a_key[1]}],
        "_dmarc.example.test": [{"TXT": "v=DMARC1; p=reject"}],
        "b.test": [{"MX": (10, B_HOST)}],
        "mx.example.test": [{"A": "127.0.0.1"}],
    })
    yield server
    server.close()


def ar_of(raw, authserv_id):
    values = header_values(raw, "Authentication-Results")
    mine = [v for v in values if v.split(";", 1)[0].strip() == authserv_id]
    assert len(mine) == 1, values
    parsed = AR_PARSER.parse("Authentication-Results: " + mine[0])
    out = {}
    for r in parsed.results:
        props = {"%s.%s" % (pr.type, pr.name): pr.value for pr in r.properties}
        out.setdefault(r.method, []).append((r.result, props))
    return out


def wait_mail(p, domain, local, n=1, timeout=20.0):
    deadline = time.monotonic() + timeout
    while len(list_mail(p.data_dir, domain, local)) < n:
        assert time.monotonic() < deadline, "nothing in %s@%s after %.0f s" % (
            local, domain, timeout)
        time.sleep(0.1)
    return [f.read_bytes() for f in list_mail(p.data_dir, domain, local)]


def forwarding_b(petrel_factory, zone, c, seal_key, key_id="arc._domainkey.b.test"):
    dns = {"resolver": "127.0.0.1@%d" % zone.port, "special_zones": "test", "timeout": 2,
           "spf_timeout": 5}
    b = petrel_factory(start=False, hostname=B_HOST, local="b.test", port=c.mx,
                       source_address="127.0.0.3", retry_initial=1, retry_max=2,
                       arc_seal_key=key_id, **dns)
    d = b.data_dir / "dkim"
    d.mkdir(mode=0o700)
    # named as `petrel dkim keygen b.test --selector arc` names it
    (d / "arc._domainkey.b.test.pem").write_bytes(seal_key[0].read_bytes())
    os.chmod(d / "arc._domainkey.b.test.pem", 0o600)
    b.start()
    return b


def send_signed(b, origin_key):
    msg = (b"From: Joe <joe@origin.test>\r\nTo: <fwd@b.test>\r\nSubject: e2e\r\n"
           b"Date: Fri, 05 Dec 2025 10:00:00 +0000\r\nMessage-ID: <e2e-%d@origin.test>\r\n"
           b"\r\nFrom origin through B to C.\r\n" % time.monotonic_ns())
    msg = dkim.sign(msg, b"sel", b"origin.test", origin_key[0],
                    canonicalize=(b"relaxed", b"relaxed")) + msg
    with smtplib.SMTP("127.0.0.1", b.mx, local_hostname="mail.origin.test", timeout=30,
                      source_address=("127.0.0.2", 0)) as s:
        s.sendmail("joe@origin.test", ["fwd@b.test"], msg)


def c_petrel(petrel_factory, zone):
    return petrel_factory(hostname=C_HOST, resolver="127.0.0.1@%d" % zone.port,
                          special_zones="test", timeout=2, spf_timeout=5)


def test_alias_forward_keeps_spf_dkim_dmarc(petrel_factory, zone, origin_key, seal_key):
    c = c_petrel(petrel_factory, zone)
    b = forwarding_b(petrel_factory, zone, c, seal_key)
    # fwd@b.test forwards to a mailbox on C
    b.cli_ok("alias", "add", "fwd@b.test", "u@example.test")
    send_signed(b, origin_key)

    # C: the forwarded copy
    raw = wait_mail(c, "example.test", "u")[0]
    assert re.match(rb"Return-Path: <SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=origin\.test=joe@"
                    + B_HOST.encode() + rb">", raw), raw[:200]
    at_c = ar_of(raw, C_HOST)
    assert at_c["spf"][0][0] == "pass", at_c
    assert at_c["spf"][0][1]["smtp.mailfrom"].endswith("=origin.test=joe@" + B_HOST), at_c
    assert [r[0] for r in at_c["dkim"]] == ["pass"], at_c
    assert at_c["dkim"][0][1]["header.d"] == "origin.test"
    assert at_c["dmarc"][0][0] == "pass", at_c
    # B's own findings travel along: spf, dkim and dmarc passed there
    at_b = ar_of(raw, B_HOST)
    assert (at_b["spf"][0][0], at_b["dkim"][0][0], at_b["dmarc"][0][0]) == \
        ("pass", "pass", "pass"), at_b
    assert at_b["spf"][0][1] == {"smtp.mailfrom": "joe@origin.test"}
    # B sealed it (i=1, cv=none) and C validates the chain
    assert at_c["arc"][0][0] == "pass", at_c
    assert "arc=pass (i=1 d=b.test)" in header_values(raw, "Authentication-Results")[0]
    assert re.search(rb"^ARC-Seal: i=1; a=rsa-sha256; t=\d+; cv=none;", raw, re.M), raw[:600]
    b.wait_log(r"arc-sealed session=\S+ key=arc\._domainkey\.b\.test")
    assert re.search(rb"^\td=b\.test; s=arc; b=", raw, re.M), raw[:600]
    # and so does dkimpy, with B's key
    def dnsfunc(name, timeout=5):
        if name.decode().rstrip(".") == "arc._domainkey.b.test":
            return seal_key[1].encode()
        return None
    cv, _, reason = dkim.arc_verify(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
                                    dnsfunc=dnsfunc)
    assert cv == b"pass", reason


def test_seal_key_missing_delivers_unsealed(petrel_factory, zone, origin_key, seal_key):
    """a key the keys process does not hold: logged, and the mail goes on without a seal"""
    c = c_petrel(petrel_factory, zone)
    b = forwarding_b(petrel_factory, zone, c, seal_key, key_id="nosuchkey")
    b.cli_ok("alias", "add", "fwd@b.test", "u@example.test")
    send_signed(b, origin_key)
    raw = wait_mail(c, "example.test", "u")[0]
    assert b"ARC-Seal:" not in raw
    assert ar_of(raw, C_HOST)["arc"][0][0] == "none"
    b.wait_log(r'arc-seal-failed session=\S+ key=nosuchkey reason="the keys process did not '
               r'sign: no such key"')


def test_petrel_a_signs_b_forwards_c_accepts(petrel_factory, zone, seal_key, a_key):
    """The whole way with Petrels only: A signs what its account submits (selector a of
    example.test) and relays it from 127.0.0.2 to B; B finds spf, dkim and dmarc passing
    and forwards through its alias, SRS-rewritten and ARC-sealed, to C, which finds spf
    (SRS), dkim (A's signature) and dmarc passing and B's seal valid."""
    c = c_petrel(petrel_factory, zone)
    b = forwarding_b(petrel_factory, zone, c, seal_key)
    b.cli_ok("alias", "add", "fwd@b.test", "u@example.test")
    a = petrel_factory(start=False, hostname="a.petrel.test", port=b.mx,
                       source_address="127.0.0.2", retry_initial=1, retry_max=2,
                       resolver="127.0.0.1@%d" % zone.port, special_zones="test", timeout=2)
    d = a.data_dir / "dkim"
    d.mkdir(mode=0o700)
    (d / "a._domainkey.example.test.pem").write_bytes(a_key[0].read_bytes())
    os.chmod(d / "a._domainkey.example.test.pem", 0o600)
    a.start()

    msg = (b"From: <%s>\r\nTo: <fwd@b.test>\r\nSubject: a to b to c\r\n"
           b"Date: Fri, 05 Dec 2025 10:00:00 +0000\r\nMessage-ID: <abc-%d@example.test>\r\n"
           b"\r\nAll the way.\r\n" % (SENDER.encode(), time.monotonic_ns()))
    s = a.auth_session("submission")
    try:
        s.expect("MAIL FROM:<%s>" % SENDER, 250)
        s.expect("RCPT TO:<fwd@b.test>", 250)
        s.expect("DATA", 354)
        s.send(dot_stuff(msg) + b".\r\n")
        assert s.read_reply().code == 250
        s.quit()
    finally:
        s.close()

    raw = wait_mail(c, "example.test", "u", timeout=30)[0]
    at_b = ar_of(raw, B_HOST)
    assert (at_b["spf"][0][0], at_b["dkim"][0][0], at_b["dmarc"][0][0]) == \
        ("pass", "pass", "pass"), at_b
    assert at_b["dkim"][0][1]["header.d"] == "example.test"
    at_c = ar_of(raw, C_HOST)
    assert at_c["spf"][0][0] == "pass" and "=example.test=sender@" + B_HOST in \
        at_c["spf"][0][1]["smtp.mailfrom"], at_c
    assert [r[0] for r in at_c["dkim"]] == ["pass"], at_c
    assert at_c["dmarc"][0][0] == "pass", at_c
    assert at_c["arc"][0][0] == "pass", at_c
