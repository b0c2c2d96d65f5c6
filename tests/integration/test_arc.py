"""petrel arc verify (RFC 8617 5.2) against chains sealed by dkimpy (python3-dkim's
`dkim.arc_sign`), each answer compared with dkimpy's own `dkim.arc_verify` given the same
keys; the keys are published by dnsmasq on a loopback port.

Forwarders: fwd1.test and fwd2.test, each with an RSA 2048 key (RFC 8617 defines ARC with
rsa-sha256; dkimpy seals with nothing else).  Tampered copies must fail with the reason that says which part
broke: the body (the newest ARC-Message-Signature's body hash), a signed header (its
signature), an ARC-Authentication-Results (a seal); a chain whose structure is wrong fails
before any key is fetched."""

import json
import re
import subprocess
import time

import dkim  # python3-dkim
import pytest

from conftest import PETREL_BIN, petrel_env
from peers import Dnsmasq, dknewkey, txt_record_arg

MESSAGE = (b"Authentication-Results: mx.fwd1.test; spf=pass smtp.mailfrom=joe@origin.test;"
           b" dkim=pass header.d=origin.test; dmarc=pass header.from=origin.test\r\n"
           b"From: Joe <joe@origin.test>\r\n"
           b"To: list@fwd1.test\r\n"
           b"Subject: forwarded\r\n"
           b"Date: Fri, 05 Dec 2025 10:00:00 +0000\r\n"
           b"Message-ID: <arc-1@origin.test>\r\n"
           b"\r\n"
           b"Hello through two forwarders.\r\n")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """(selector, domain) -> (private key, TXT record)"""
    folder = tmp_path_factory.mktemp("arc-keys")
    return {
        ("s1", "fwd1.test"): dknewkey(folder, "s1", "rsa"),
        ("s2", "fwd2.test"): dknewkey(folder, "s2", "rsa"),
    }


@pytest.fixture(scope="module")
def dns(tmp_path_factory, keys):
    server = Dnsmasq(tmp_path_factory.mktemp("arc-dns"))
    server.start(extra=[txt_record_arg("%s._domainkey.%s" % k, rec) for k, (_, rec) in keys.items()])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def conf(tmp_path_factory, dns):
    path = tmp_path_factory.mktemp("arc-conf") / "petrel.conf"
    path.write_text("[dns]\nresolver = %s\nspecial_zones = test\ntimeout = 5\n" % dns.resolver)
    return path


def seal(message, keys, selector, domain, srv_id):
    fields = dkim.arc_sign(message, selector.encode(), domain.encode(),
                           keys[(selector, domain)][0], srv_id.encode())
    assert fields, "dkimpy made no ARC set"
    return b"".join(fields) + message


def hop2(message, keys):
    """fwd2.test receives what fwd1.test sealed, records its findings and seals again"""
    ar = b"Authentication-Results: mx.fwd2.test; arc=pass; spf=fail smtp.mailfrom=joe@origin.test\r\n"
    return seal(ar + message, keys, "s2", "fwd2.test", "mx.fwd2.test")


def dkimpy_verdict(message, keys):
    def dnsfunc(name, timeout=5):
        for (sel, dom), (_, rec) in keys.items():
            if name.decode().rstrip(".") == "%s._domainkey.%s" % (sel, dom):
                return rec.encode()
        return None
    cv, _, reason = dkim.arc_verify(message, dnsfunc=dnsfunc)
    # dkimpy answers None for a chain whose newest seal says cv=fail
    return (cv or b"fail").decode(), reason


def verify(conf, tmp_path, message, json_out=True):
    path = tmp_path / ("msg-%d.eml" % time.monotonic_ns())
    path.write_bytes(message)
    argv = [PETREL_BIN, "arc", "verify", str(path), "-c", str(conf)]
    if json_out:
        argv.append("--json")
    p = subprocess.run(argv, capture_output=True, timeout=60, env=petrel_env())
    assert "Sanitizer" not in p.stderr.decode(errors="replace"), p.stderr
    return p.returncode, json.loads(p.stdout) if json_out else p.stdout.decode()


def test_one_hop_passes(conf, keys, tmp_path):
    m = seal(MESSAGE, keys, "s1", "fwd1.test", "mx.fwd1.test")
    assert dkimpy_verdict(m, keys)[0] == "pass"
    rc, a = verify(conf, tmp_path, m)
    assert (rc, a["result"], a["instances"], a["sealer"], a["selector"]) == \
        (0, "pass", 1, "fwd1.test", "s1"), a
    assert "spf=pass" in a["results"] and a["results"].startswith("mx.fwd1.test;"), a


def test_two_hops_pass(conf, keys, tmp_path):
    m = hop2(seal(MESSAGE, keys, "s1", "fwd1.test", "mx.fwd1.test"), keys)
    assert dkimpy_verdict(m, keys)[0] == "pass"
    rc, a = verify(conf, tmp_path, m)
    assert (rc, a["result"], a["instances"], a["sealer"]) == (0, "pass", 2, "fwd2.test"), a
    assert a["results"].startswith("mx.fwd2.test;") and "arc=pass" in a["results"], a
    # the human line
    rc, out = verify(conf, tmp_path, m, json_out=False)
    assert out.startswith("pass i=2 d=fwd2.test s=s2\nresults: mx.fwd2.test;"), out


def test_results_unfolded(conf, keys, tmp_path):
    """what the sealer recorded is reported unfolded: dkimpy folds a long
    ARC-Authentication-Results, and its CRLF must not reach the output"""
    m = hop2(seal(MESSAGE, keys, "s1", "fwd1.test", "mx.fwd1.test"), keys)
    assert re.search(rb"ARC-Authentication-Results: i=2;[^\r]*\r\n[ \t]", m), "not folded"
    rc, a = verify(conf, tmp_path, m)
    assert rc == 0 and "\r" not in a["results"] and "\n" not in a["results"], a
    assert re.sub(r"\s+", " ", a["results"]) == \
        "mx.fwd2.test; arc=pass; spf=fail smtp.mailfrom=joe@origin.test", a
    rc, out = verify(conf, tmp_path, m, json_out=False)
    assert out.count("\n") == 2 and "\r" not in out, repr(out)


def test_no_chain_is_none(conf, keys, tmp_path):
    rc, a = verify(conf, tmp_path, MESSAGE)
    assert (rc, a["result"], a["instances"], a["sealer"]) == (1, "none", 0, None), a


@pytest.mark.parametrize("what,reason", [
    ("body", "ARC-Message-Signature: body hash did not verify"),
    ("subject", "ARC-Message-Signature: signature did not verify"),
    ("aar1", "ARC-Seal: signature did not verify"),
])
def test_tampered_fails_with_reason(conf, keys, tmp_path, what, reason):
    m = hop2(seal(MESSAGE, keys, "s1", "fwd1.test", "mx.fwd1.test"), keys)
    if what == "body":
        t = m.replace(b"Hello through", b"Hello THROUGH")
    elif what == "subject":
        t = m.replace(b"Subject: forwarded", b"Subject: forwarded!")
    else:
        # the first forwarder's findings, which only the seals cover
        t = re.sub(rb"(ARC-Authentication-Results: i=1;[^\r]*?)spf=pass", rb"\1spf=fail", m)
    assert t != m
    assert dkimpy_verdict(t, keys)[0] == "fail"
    rc, a = verify(conf, tmp_path, t)
    assert (rc, a["result"], a["reason"]) == (1, "fail", reason), a


def _drop_field(message, name, instance):
    lines = message.split(b"\r\n")
    out, skip = [], False
    for line in lines:
        if line[:1] in (b" ", b"\t") and skip:
            continue
        skip = line.lower().startswith(name.lower() + b":") and \
            re.search(rb"\bi=%d;" % instance, line) is not None
        if not skip:
            out.append(line)
    return b"\r\n".join(out)


@pytest.mark.parametrize("change,reason", [
    ("no-aar1", "an ARC set is incomplete or missing"),
    ("no-set1", "an ARC set is incomplete or missing"),
    ("cv-fail", "the newest ARC-Seal says cv=fail"),
    ("cv-none", "an ARC-Seal after the first does not say cv=pass"),
    ("dup", "two ARC fields of one kind with the same instance"),
])
def test_structure_fails_without_keys(conf, keys, tmp_path, change, reason):
    m = hop2(seal(MESSAGE, keys, "s1", "fwd1.test", "mx.fwd1.test"), keys)
    if change == "no-aar1":
        t = _drop_field(m, b"ARC-Authentication-Results", 1)
    elif change == "no-set1":
        for name in (b"ARC-Authentication-Results", b"ARC-Message-Signature", b"ARC-Seal"):
            m = _drop_field(m, name, 1)
        t = m
    elif change in ("cv-fail", "cv-none"):
        t = re.sub(rb"(ARC-Seal: i=2;[^\r]*?cv=)pass", rb"\1" + change[3:].encode(), m)
        if t == m:  # cv= may follow a line break
            t = re.sub(rb"cv=pass", rb"cv=" + change[3:].encode(), m, count=1)
    else:
        first = re.search(rb"ARC-Authentication-Results: i=2;[^\r]*\r\n", m).group(0)
        t = first + m
    assert t != m or change == "no-set1"
    rc, a = verify(conf, tmp_path, t)
    assert (rc, a["result"], a["reason"]) == (1, "fail", reason), a
    assert dkimpy_verdict(t, keys)[0] == "fail"


def test_missing_key_fails(conf, keys, tmp_path):
    other = {("s1", "fwd1.test"): keys[("s1", "fwd1.test")]}
    m = seal(MESSAGE, other, "s1", "fwd1.test", "mx.fwd1.test")
    m = m.replace(b"d=fwd1.test", b"d=fwd3.test")
    rc, a = verify(conf, tmp_path, m)
    assert (rc, a["result"]) == (1, "fail"), a
    assert a["reason"] == "no key for the signature", a


def test_chunks_and_stdin(conf, keys, tmp_path):
    """the same answer from stdin (read in 64 KiB pieces: a 300 KB body crosses several)"""
    big = MESSAGE + b"x" * 75 + b"\r\n"
    big = big + (b"y" * 98 + b"\r\n") * 3000
    m = hop2(seal(big, keys, "s1", "fwd1.test", "mx.fwd1.test"), keys)
    p = subprocess.run([PETREL_BIN, "arc", "verify", "--json", "-c", str(conf)], input=m,
                       capture_output=True, timeout=60, env=petrel_env())
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["result"] == "pass"


def test_usage(conf):
    p = subprocess.run([PETREL_BIN, "arc", "check"], capture_output=True, timeout=30,
                       env=petrel_env())
    assert p.returncode == 2 and b"usage: petrel arc verify" in p.stderr
