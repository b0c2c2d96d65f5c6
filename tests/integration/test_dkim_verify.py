"""petrel dkim verify (RFC 6376, RFC 8463, RFC 8301) against messages signed by dkimpy
(python3-dkim: the `dkimsign` command and its Python API), with the keys published by
dnsmasq on a loopback port (long TXT records split into 255-byte strings).

Keys: RSA 2048 and Ed25519 from dkimpy's `dknewkey`; RSA 1024, 768 and 512 from
`openssl genrsa` (dknewkey has no size option).  Tampered copies must fail with the
reason that tells a changed body ("body hash did not verify") from a changed header
("signature did not verify"); key records decide permerror (revoked, t=s, too short).
"""

import base64
import json
import os
import subprocess
import time

import dkim  # python3-dkim (scripts/install-deps.sh)
import pytest

from conftest import PETREL_BIN, petrel_env
from peers import Dnsmasq, dknewkey, txt_record_arg

DOMAIN = b"dkim.test"
DATA = "/usr/lib/python3/dist-packages/dkim/tests/data"

# the key test_dkim.py serves for test2.message's Gmail signature
GMAIL_KEY = ("k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1Kd87/UeJjenpabgbFwh"
             "+eBCsSTrqmwIYYvywlbhbqoo2DymndFkbjOVIPIldNs/m40KF+yzMn1skyoxcTUGCQ"
             "s8g3FgD2Ap3ZB5DekAo5wMmk4wimDO+U8QzI3SD07y2+07wlNWwIt8svnxgdxGkVbb"
             "hzY8i+RQ9DpSVpPbF7ykQxtKXkv/ahW3KjViiAH+ghvvIhkx4xYSIc9oSwVmAl5Oct"
             "MEeWUwg8Istjqz8BZeTWbf41fbNhte7Y+YqZOwq1Sd0DbvYAD9NOZK9vlfuac0598H"
             "Y+vtSBczUiKERHv1yRbcaQtZFh5wtiRrN04BLUTD21MycBX5jYchHjPY/wIDAQAB")

MESSAGE = (b"From: Joe SixPack <joe@dkim.test>\r\n"
           b"To: Suzie Q <suzie@shopping.example.net>\r\n"
           b"Subject: Is dinner ready?\r\n"
           b"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
           b"Message-ID: <20030712040037.46341.5F8J@dkim.test>\r\n"
           b"\r\n"
           b"Hi.\r\n"
           b"\r\n"
           b"We lost the game.  Are you hungry yet?\r\n"
           b"\r\n"
           b"Joe.\r\n")


def _run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, timeout=60, **kw)


def _openssl_rsa(folder, name, bits):
    key = folder / (name + ".key")
    _run(["openssl", "genrsa", "-out", str(key), str(bits)])
    der = _run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"]).stdout
    return key.read_bytes(), "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """selector -> (private key, TXT record)"""
    folder = tmp_path_factory.mktemp("dkim-keys")
    k = {
        "r2048": dknewkey(folder, "r2048", "rsa"),
        "ed": dknewkey(folder, "ed", "ed25519"),
        "ed2": dknewkey(folder, "ed2", "ed25519"),
        "r1024": _openssl_rsa(folder, "r1024", 1024),
        "r768": _openssl_rsa(folder, "r768", 768),
        "r512": _openssl_rsa(folder, "r512", 512),
    }
    # the same private keys behind other records
    k["revoked"] = (k["r2048"][0], "v=DKIM1; k=rsa; p=")
    k["testing"] = (k["r2048"][0], k["r2048"][1].replace("k=rsa;", "k=rsa; t=y;"))
    k["strict"] = (k["ed"][0], k["ed"][1].replace("k=ed25519;", "k=ed25519; t=s;"))
    k["wrong"] = (k["r2048"][0], k["r1024"][1])  # signed with one key, another published
    return k


@pytest.fixture(scope="module")
def dns(tmp_path_factory, keys):
    server = Dnsmasq(tmp_path_factory.mktemp("dkim-dns"))
    extra = ["--local=/example.com/"]
    for sel, (_, record) in keys.items():
        extra.append(txt_record_arg("%s._domainkey.dkim.test" % sel, record))
    # python3-dkim's test vectors (RFC 8463 Appendix A), served as its tests do
    extra.append(txt_record_arg("brisbane._domainkey.football.example.com",
                          "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="))
    with open(os.path.join(DATA, "test.txt")) as f:
        extra.append(txt_record_arg("test._domainkey.football.example.com", f.read().strip()))
    # Exim's Ed25519 signature (ed25519test2.msg) and Gmail's with degenerate folding
    # (test2.message), with the keys of test_dkim_ed25519.py and test_dkim.py
    extra.append("--local=/test.ex/")
    with open(os.path.join(DATA, "eximtest.dns")) as f:
        extra.append(txt_record_arg("sed._domainkey.test.ex", f.read().strip()))
    extra.append("--local=/gmail.com/")
    extra.append(txt_record_arg("20120113._domainkey.gmail.com", GMAIL_KEY))
    # dkimpy's broken key records: a ":" for a ";" after v=, and an unknown k=
    for sel in ("badversion", "badk"):
        with open(os.path.join(DATA, sel + ".txt")) as f:
            extra.append(txt_record_arg("%s._domainkey.dkim.test" % sel, f.read().strip()))
    server.start(extra=extra)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def conf(tmp_path_factory, dns):
    path = tmp_path_factory.mktemp("dkim-conf") / "petrel.conf"
    path.write_text("[dns]\nresolver = %s\nspecial_zones = test\ntimeout = 5\n" % dns.resolver)
    return path


def sign(message, keys, selector, alg=b"rsa-sha256", canon=(b"relaxed", b"relaxed"), **kw):
    """MESSAGE with a DKIM-Signature from dkimpy's API on top"""
    sig = dkim.sign(message, selector.encode(), DOMAIN, keys[selector][0],
                    signature_algorithm=alg, canonicalize=canon, **kw)
    return sig + message


def verify(conf, tmp_path, message, *extra, config=None):
    """petrel dkim verify --json on MESSAGE stored in a file: (exit status, answer)"""
    path = tmp_path / ("msg-%d.eml" % time.monotonic_ns())
    path.write_bytes(message)
    p = subprocess.run([PETREL_BIN, "dkim", "verify", str(path), "--json", "-c",
                        str(config or conf), *extra], capture_output=True, timeout=60,
                       env=petrel_env())
    assert "Sanitizer" not in p.stderr.decode(errors="replace"), p.stderr
    return p.returncode, json.loads(p.stdout)


def results(answer):
    return [(s["s"], s["result"], s["reason"]) for s in answer["signatures"]]


@pytest.mark.parametrize("signalg,selector", [("rsa-sha256", "r2048"),
                                              ("ed25519-sha256", "ed")])
@pytest.mark.parametrize("hcanon,bcanon", [("simple", "simple"), ("relaxed", "relaxed"),
                                           ("relaxed", "simple"), ("simple", "relaxed")])
def test_dkimsign_passes(conf, keys, tmp_path, signalg, selector, hcanon, bcanon):
    """signed by the dkimsign command, verified; `dkimverify` agrees"""
    keyfile = tmp_path / "key"
    keyfile.write_bytes(keys[selector][0])
    signed = _run(["dkimsign", selector, "dkim.test", str(keyfile), "--signalg", signalg,
                   "--hcanon", hcanon, "--bcanon", bcanon], input=MESSAGE).stdout
    assert signed.startswith(b"DKIM-Signature:"), signed[:200]
    rc, answer = verify(conf, tmp_path, signed)
    assert results(answer) == [(selector, "pass", None)]
    assert answer["signatures"][0]["a"] == signalg
    assert answer["signatures"][0]["d"] == "dkim.test"
    assert answer["result"] == "pass" and rc == 0


def test_rsa1024_passes(conf, keys, tmp_path):
    rc, answer = verify(conf, tmp_path, sign(MESSAGE, keys, "r1024"))
    assert rc == 0 and results(answer) == [("r1024", "pass", None)]


@pytest.mark.parametrize("selector", ["r512", "r768"])
def test_short_rsa_key_refused(conf, keys, tmp_path, selector):
    """RFC 8301 3.2: keys under 1024 bits are not accepted, whatever the signature"""
    rc, answer = verify(conf, tmp_path, sign(MESSAGE, keys, selector))
    assert rc == 1
    assert results(answer) == [(selector, "permerror",
                                "RSA key shorter than 1024 bits (RFC 8301)")]


@pytest.mark.parametrize("alg,selector", [(b"rsa-sha256", "r2048"), (b"ed25519-sha256", "ed")])
def test_tampered_copies_told_apart(conf, keys, tmp_path, alg, selector):
    signed = sign(MESSAGE, keys, selector, alg=alg, canon=(b"simple", b"simple"))
    rc, answer = verify(conf, tmp_path, signed.replace(b"We lost", b"We won!"))
    assert rc == 1 and results(answer) == [(selector, "fail", "body hash did not verify")]
    rc, answer = verify(conf, tmp_path, signed.replace(b"dinner ready", b"dinner late!"))
    assert rc == 1 and results(answer) == [(selector, "fail", "signature did not verify")]
    # an unsigned field added changes nothing
    rc, answer = verify(conf, tmp_path, signed.replace(b"Date:", b"X-Note: hi\r\nDate:"))
    assert rc == 0 and results(answer) == [(selector, "pass", None)]


def test_oversigned_header_added_fails(conf, keys, tmp_path):
    """h= names From and Subject twice: a second Subject (added above or below) is
    signed as absent, so adding one breaks the signature (RFC 6376 5.4.2, 8.15)"""
    signed = sign(MESSAGE, keys, "ed", alg=b"ed25519-sha256",
                  include_headers=[b"from", b"from", b"subject", b"subject", b"to", b"date"])
    assert b"h=from : from : subject : subject" in b" ".join(signed.split(b"\r\n "))
    rc, answer = verify(conf, tmp_path, signed)
    assert rc == 0 and results(answer) == [("ed", "pass", None)]
    for added in (signed.replace(b"Date:", b"Subject: Buy now\r\nDate:"),
                  signed.replace(b"From: Joe", b"Subject: Buy now\r\nFrom: Joe")):
        rc, answer = verify(conf, tmp_path, added)
        assert rc == 1 and results(answer) == [("ed", "fail", "signature did not verify")]
    # the same addition to a signature that names Subject once passes (the field
    # it signs, from the bottom, is the original one)
    once = sign(MESSAGE, keys, "ed", alg=b"ed25519-sha256",
                include_headers=[b"from", b"subject", b"to", b"date"])
    rc, answer = verify(conf, tmp_path, once.replace(b"From: Joe", b"Subject: Buy now\r\nFrom: Joe"))
    assert rc == 0 and results(answer) == [("ed", "pass", None)]


def test_length_limit(conf, keys, tmp_path):
    """l=: text appended after signing is not covered"""
    signed = sign(MESSAGE, keys, "r2048", length=True)
    assert b"l=" in signed
    rc, answer = verify(conf, tmp_path, signed + b"\r\nAppended by a list.\r\n")
    assert rc == 0 and results(answer) == [("r2048", "pass", None)]
    # and a body cut short of l= fails
    rc, answer = verify(conf, tmp_path, signed.replace(b"\r\nJoe.\r\n", b"\r\n"))
    assert rc == 1 and results(answer)[0][1] == "fail"


def test_revoked_key(conf, keys, tmp_path):
    rc, answer = verify(conf, tmp_path, sign(MESSAGE, keys, "revoked"))
    assert rc == 1 and results(answer) == [("revoked", "permerror", "key revoked")]


def test_no_key(conf, keys, tmp_path):
    signed = sign(MESSAGE, keys, "r2048").replace(b"s=r2048", b"s=absent")
    rc, answer = verify(conf, tmp_path, signed)
    assert rc == 1 and results(answer) == [("absent", "permerror", "no key for the signature")]


def test_testing_key(conf, keys, tmp_path):
    """t=y: the result stands, and is marked as a test"""
    rc, answer = verify(conf, tmp_path, sign(MESSAGE, keys, "testing"))
    assert rc == 0 and results(answer) == [("testing", "pass", None)]
    assert answer["signatures"][0]["testing"] is True


def test_strict_key_refuses_subdomain_identity(conf, keys, tmp_path):
    """t=s: i= must be in d= itself, not below it"""
    signed = sign(MESSAGE, keys, "strict", alg=b"ed25519-sha256", identity=b"joe@mail.dkim.test")
    rc, answer = verify(conf, tmp_path, signed)
    assert rc == 1 and results(answer) == [
        ("strict", "permerror", "key has t=s but i= is a subdomain of d=")]
    signed = sign(MESSAGE, keys, "strict", alg=b"ed25519-sha256", identity=b"joe@dkim.test")
    rc, answer = verify(conf, tmp_path, signed)
    assert rc == 0 and results(answer) == [("strict", "pass", None)]
    assert answer["signatures"][0]["i"] == "joe@dkim.test"


class _Expiring(dkim.DKIM):
    """dkimpy signs with t= now and no x=: this one signs with t= and x= an hour apart,
    a day ago"""

    def gen_header(self, fields, include_headers, canon_policy, header_name, pk):
        t = int(time.time()) - 86400
        fields = [f for f in fields if f[0] != b"t"]
        fields.insert(len(fields) - 1, (b"t", str(t).encode()))
        fields.insert(len(fields) - 1, (b"x", str(t + 3600).encode()))
        return super().gen_header(fields, include_headers, canon_policy, header_name, pk)


def test_expired_signature(conf, keys, tmp_path):
    d = _Expiring(MESSAGE)
    signed = d.sign(b"ed", DOMAIN, keys["ed"][0], signature_algorithm=b"ed25519-sha256")
    assert b"x=" in signed
    rc, answer = verify(conf, tmp_path, signed + MESSAGE)
    assert rc == 1 and results(answer) == [("ed", "permerror", "signature expired (x=)")]


def test_several_signatures(conf, keys, tmp_path):
    """one good, one bad: the message passes, each is reported"""
    signed = sign(MESSAGE, keys, "wrong")
    signed = sign(signed, keys, "ed", alg=b"ed25519-sha256")
    rc, answer = verify(conf, tmp_path, signed)
    assert results(answer) == [("ed", "pass", None),
                               ("wrong", "fail", "signature did not verify")]
    assert rc == 0 and answer["result"] == "pass"
    # with [dkim] verify_signatures = 1 only the top one is verified
    one = tmp_path / "one.conf"
    one.write_text(conf.read_text() + "[dkim]\nverify_signatures = 1\n")
    rc, answer = verify(conf, tmp_path, signed, config=one)
    assert results(answer) == [("ed", "pass", None)] and answer["ignored"] == 1


def test_line_ends_as_stored(conf, keys, tmp_path):
    """a message signed with CRLF verifies stored with LF, and the other way round"""
    crlf = sign(MESSAGE, keys, "r2048", canon=(b"simple", b"simple"))
    rc, answer = verify(conf, tmp_path, crlf.replace(b"\r\n", b"\n"))
    assert rc == 0 and results(answer) == [("r2048", "pass", None)]
    lf = sign(MESSAGE.replace(b"\r\n", b"\n"), keys, "ed", alg=b"ed25519-sha256",
              canon=(b"simple", b"simple"), linesep=b"\n")
    assert b"\r" not in lf
    rc, answer = verify(conf, tmp_path, lf)
    assert rc == 0 and results(answer) == [("ed", "pass", None)]
    rc, answer = verify(conf, tmp_path, lf.replace(b"\n", b"\r\n"))
    assert rc == 0 and results(answer) == [("ed", "pass", None)]


def test_human_output_and_stdin(conf, keys, tmp_path):
    p = subprocess.run([PETREL_BIN, "help"], capture_output=True, text=True, timeout=60,
                       env=petrel_env())
    assert p.returncode == 0 and "dkim verify [FILE] [--json]" in p.stdout
    signed = sign(MESSAGE, keys, "ed", alg=b"ed25519-sha256")
    p = subprocess.run([PETREL_BIN, "dkim", "verify", "-c", str(conf)], input=signed,
                       capture_output=True, timeout=60, env=petrel_env())
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == "pass d=dkim.test s=ed a=ed25519-sha256\n"
    p = subprocess.run([PETREL_BIN, "dkim", "verify", "-c", str(conf)],
                       input=signed.replace(b"We lost", b"We won!"),
                       capture_output=True, timeout=60, env=petrel_env())
    assert p.returncode == 1
    assert p.stdout.decode() == ("fail d=dkim.test s=ed a=ed25519-sha256 "
                                 "(body hash did not verify)\n")
    p = subprocess.run([PETREL_BIN, "dkim", "verify", "-c", str(conf)], input=MESSAGE,
                       capture_output=True, timeout=60, env=petrel_env())
    assert p.returncode == 1 and p.stdout.decode() == "none (no DKIM-Signature)\n"


# A small Python runs the command and reports its peak memory: a child forked from
# pytest itself would count pytest's pages in its own peak (Linux keeps the peak of
# the memory it had before exec), and pytest is large after signing a big message.
_RSS_HELPER = """
import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def _peak_rss_kb(argv):
    """run ARGV (its output discarded): its exit status and peak resident memory (KB)"""
    p = subprocess.run(["/usr/bin/python3", "-c", _RSS_HELPER, *argv], capture_output=True,
                       text=True, timeout=120, env=petrel_env())
    assert "Sanitizer" not in p.stderr, p.stderr
    rc, rss = p.stdout.split()
    return int(rc), int(rss)


def test_large_message_bounded_memory(conf, keys, tmp_path):
    """a 16 MB body is verified streaming: the peak memory is that of a small message
    plus far less than the body"""
    line = b"All work and no play makes Jack a dull boy. " * 2 + b"\r\n"
    body = line * (16 * 1024 * 1024 // len(line))
    big = sign(MESSAGE.split(b"\r\n\r\n")[0] + b"\r\n\r\n" + body, keys, "r2048")
    small = sign(MESSAGE, keys, "r2048")
    paths = {}
    for name, data in (("big", big), ("small", small)):
        paths[name] = tmp_path / (name + ".eml")
        paths[name].write_bytes(data)
    del big, body
    rc_small, rss_small = _peak_rss_kb([PETREL_BIN, "dkim", "verify", str(paths["small"]),
                                        "-c", str(conf)])
    rc_big, rss_big = _peak_rss_kb([PETREL_BIN, "dkim", "verify", str(paths["big"]),
                                    "-c", str(conf)])
    assert rc_small == 0 and rc_big == 0
    print("peak memory: small message %d KB, 16 MB message %d KB" % (rss_small, rss_big))
    assert rss_big - rss_small < 4 * 1024, (rss_small, rss_big)


@pytest.mark.parametrize("name,selectors", [
    ("rfc6376.signed.msg", ["brisbane", "test"]),
    ("rfc6376.signed.rsa.msg", ["test"]),
    ("ed25519test2.msg", ["sed"]),
    ("test2.message", ["20120113"]),
])
def test_dkimpy_vectors(conf, tmp_path, name, selectors):
    """python3-dkim's signed test messages with the keys its tests serve: RFC 8463
    Appendix A (Ed25519 and RSA; brisbane is RFC 8463's key, test is tests/data/test.txt),
    Exim's Ed25519 signature, and a Gmail signature with degenerate folding"""
    with open(os.path.join(DATA, name), "rb") as f:
        message = f.read()
    rc, answer = verify(conf, tmp_path, message)
    assert results(answer) == [(s, "pass", None) for s in selectors]
    assert rc == 0


@pytest.mark.parametrize("selector,reason", [("badversion", "v= is not DKIM1 first"),
                                             ("badk", "unknown key type k=")])
def test_dkimpy_bad_key_records(conf, keys, tmp_path, selector, reason):
    """python3-dkim's badversion.txt and badk.txt: the key is unusable"""
    signed = sign(MESSAGE, keys, "r2048").replace(b"s=r2048", b"s=" + selector.encode())
    rc, answer = verify(conf, tmp_path, signed)
    assert rc == 1 and results(answer) == [(selector, "permerror", reason)]


# Changes a relay might make, each to be judged as dkimpy judges it: whitespace and case
# survive relaxed canonicalization and not simple; trailing empty lines survive both.
MUTATIONS = [
    ("none", lambda m: m),
    ("empty lines appended", lambda m: m + b"\r\n\r\n"),
    ("body WSP runs", lambda m: m.replace(b"We lost the game.", b"We  lost the\tgame. ")),
    ("body WSP at line end", lambda m: m.replace(b"Hi.\r\n", b"Hi. \t\r\n")),
    ("header WSP", lambda m: m.replace(b"Subject: Is dinner ready?",
                                       b"Subject:  Is dinner   ready? ")),
    ("header name case", lambda m: m.replace(b"Subject:", b"SUBJECT:")),
    ("header folded", lambda m: m.replace(b"Subject: Is dinner ready?",
                                          b"Subject: Is dinner\r\n ready?")),
    ("last CRLF removed", lambda m: m[:-2]),
    ("text appended", lambda m: m + b"PS\r\n"),
    ("empty line inserted", lambda m: m.replace(b"Hi.\r\n", b"Hi.\r\n\r\n")),
    ("LF line ends", lambda m: m.replace(b"\r\n", b"\n")),
]


@pytest.mark.parametrize("canon", [(b"simple", b"simple"), (b"relaxed", b"relaxed"),
                                   (b"relaxed", b"simple"), (b"simple", b"relaxed")],
                         ids=lambda c: b"/".join(c).decode())
def test_agrees_with_dkimpy(conf, keys, tmp_path, canon):
    """each mutation of a signed message passes or fails as dkimpy's own verifier says"""
    def dnsfunc(name, timeout=5):
        sel = name.decode().split("._domainkey.")[0]
        return keys[sel][1].encode()

    signed = sign(MESSAGE, keys, "ed", alg=b"ed25519-sha256", canon=canon)
    outcomes = []
    for what, mutate in MUTATIONS:
        message = mutate(signed)
        want = dkim.verify(message, dnsfunc=dnsfunc)
        rc, answer = verify(conf, tmp_path, message)
        outcomes.append((what, want, answer["result"]))
    assert all((want and got == "pass") or (not want and got == "fail")
               for _, want, got in outcomes), outcomes
    # whatever the canonicalization, some changes are harmless and some are not
    got = {what: result for what, _, result in outcomes}
    assert got["none"] == got["empty lines appended"] == "pass", outcomes
    assert got["text appended"] == got["empty line inserted"] == "fail", outcomes


def test_header_section_limit(conf, keys, tmp_path):
    """[dkim] verify_header_size: a larger header section is not verified, and says so"""
    signed = sign(MESSAGE, keys, "ed", alg=b"ed25519-sha256")
    padded = signed.replace(b"Date:", b"X-Pad: " + b"x" * 5000 + b"\r\nDate:")
    small = tmp_path / "small.conf"
    small.write_text(conf.read_text() + "[dkim]\nverify_header_size = 4k\n")
    rc, answer = verify(conf, tmp_path, padded, config=small)
    assert rc == 1 and answer["signatures"] == [] and answer["result"] == "none"
    assert answer["error"] == "header section over its size limit: not verified"
    rc, answer = verify(conf, tmp_path, padded)
    assert rc == 0 and results(answer) == [("ed", "pass", None)]
    bad = tmp_path / "bad.conf"
    bad.write_text(conf.read_text() + "[dkim]\nverify_signatures = 51\n")
    p = subprocess.run([PETREL_BIN, "dkim", "verify", "-c", str(bad)], input=padded,
                       capture_output=True, timeout=60, env=petrel_env())
    assert p.returncode == 2
    assert "bad.conf:6: 'verify_signatures' must be a number between 1 and 50" in \
        p.stderr.decode(), p.stderr


def test_usage_errors(conf, tmp_path):
    for args in (["dkim"], ["dkim", "sign"], ["dkim", "verify", "--bogus"],
                 ["dkim", "verify", "a", "b"]):
        p = subprocess.run([PETREL_BIN, *args, "-c", str(conf)], capture_output=True,
                           timeout=60, env=petrel_env(), stdin=subprocess.DEVNULL)
        assert p.returncode == 2 and b"usage: petrel dkim verify" in p.stderr, (args, p)
    p = subprocess.run([PETREL_BIN, "dkim", "verify", str(tmp_path / "absent.eml"), "-c",
                        str(conf)], capture_output=True, timeout=60, env=petrel_env())
    assert p.returncode == 1 and b"absent.eml: No such file or directory" in p.stderr
