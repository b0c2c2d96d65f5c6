"""`petrel check-domain`: the MX, SPF, DKIM, DMARC, MTA-STS and TLS-RPT records of a
domain, served by a dnslib zone server (spf_dns.ZoneServer), judged OK / WARN / ERROR
with the records to publish.

The configuration names mx.petrel.test as this server's hostname (served at 127.0.0.1)
and good.test as a local domain.  DKIM keys come from dkimpy's dknewkey (RSA 2048,
Ed25519) and openssl (RSA 1024 and 768).
"""

import base64
import json
import shutil
import subprocess

import pytest

from conftest import PETREL_BIN, petrel_env
from spf_dns import ZoneServer

HOST = "mx.petrel.test"


def _keys(folder):
    if shutil.which("dknewkey") is None:
        pytest.fail("dknewkey (python3-dkim) is not installed")
    out = {}
    for name, ktype in (("r2048", "rsa"), ("ed", "ed25519")):
        subprocess.run(["dknewkey", "--ktype", ktype, name], cwd=folder, check=True,
                       capture_output=True)
        out[name] = (folder / (name + ".dns")).read_text().strip()
    for bits in (1024, 768):
        key = folder / ("r%d.key" % bits)
        subprocess.run(["openssl", "genrsa", "-out", str(key), str(bits)], check=True,
                       capture_output=True)
        der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        out["r%d" % bits] = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    out["revoked"] = "v=DKIM1; k=rsa; p="
    out["testing"] = out["r2048"].replace("k=rsa;", "k=rsa; t=y;")
    return out


def _zone(keys):
    z = {
        HOST: [{"A": "127.0.0.1"}],
        # every record right
        "good.test": [{"MX": [10, HOST]}, {"TXT": "v=spf1 ip4:127.0.0.1 -all"},
                      {"TXT": "google-site-verification=abc"}],
        "_dmarc.good.test": [{"TXT": "v=DMARC1; p=reject; rua=mailto:dmarc@good.test"}],
        "_mta-sts.good.test": [{"TXT": "v=STSv1; id=20261205T0900"}],
        "_smtp._tls.good.test": [{"TXT": "v=TLSRPTv1; rua=mailto:tls@good.test"}],
        # no MX (an address only), two SPF records, no DMARC record
        "bad.test": [{"A": "192.0.2.7"}, {"TXT": "v=spf1 a -all"},
                     {"TXT": "v=spf1 mx -all"}],
        # +all; no rua=
        "open.test": [{"MX": [10, "mx.open.test"]}, {"TXT": "v=spf1 +all"}],
        "mx.open.test": [{"A": "192.0.2.8"}],
        "_dmarc.open.test": [{"TXT": "v=DMARC1; p=none"}],
        # this server not authorized; p=none; an external rua= without consent and one with
        "weak.test": [{"MX": [10, "mx.weak.test"]}, {"TXT": "v=spf1 ip4:192.0.2.9 ~all"}],
        "mx.weak.test": [{"A": "192.0.2.9"}],
        "_dmarc.weak.test": [{"TXT": "v=DMARC1; p=none; pct=50; "
                                     "rua=mailto:r@reports.other.test,mailto:r@agg.third.test"}],
        "weak.test._report._dmarc.agg.third.test": [{"TXT": "v=DMARC1"}],
        # an MX host without an address; eleven includes: over the ten lookups
        "many.test": [{"MX": [10, "nowhere.many.test"]},
                      {"TXT": "v=spf1 " + " ".join("include:i%d.many.test" % i
                                                   for i in range(11)) + " -all"}],
        "_dmarc.many.test": [{"TXT": "v=DMARC1; p=quarantine; rua=mailto:d@many.test"}],
        # null MX; broken MTA-STS and TLS-RPT records; SPF without all
        "null.test": [{"MX": [0, ""]}, {"TXT": "v=spf1 ip4:127.0.0.1"}],
        "_dmarc.null.test": [{"TXT": "v=DMARC1; p=reject; rua=mailto:d@null.test"}],
        "_mta-sts.null.test": [{"TXT": "v=STSv1; id=not-valid!"}],
        "_smtp._tls.null.test": [{"TXT": "v=TLSRPTv1; rua=ftp://x.test/"}],
    }
    for i in range(11):
        z["i%d.many.test" % i] = [{"TXT": "v=spf1 -all"}]
    for sel, record in keys.items():
        z["%s._domainkey.good.test" % sel] = [{"TXT": record}]
    return z


@pytest.fixture(scope="module")
def conf(tmp_path_factory):
    base = tmp_path_factory.mktemp("check-domain")
    keys = _keys(base)
    server = ZoneServer(_zone(keys))
    (base / "data").mkdir()
    path = base / "petrel.conf"
    path.write_text("[server]\nhostname = %s\ndata_dir = %s\n[domains]\nlocal = good.test\n"
                    "[dns]\nresolver = 127.0.0.1@%d\nspecial_zones = test\ntimeout = 3\n"
                    % (HOST, base / "data", server.port))
    yield path
    server.close()


def check(conf, domain, *args, json_out=True):
    argv = [PETREL_BIN, "check-domain", domain, *args, "-c", str(conf)]
    if json_out:
        argv.append("--json")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=petrel_env(),
                       stdin=subprocess.DEVNULL)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    if not json_out:
        return r
    assert r.returncode in (0, 1), r.stdout + r.stderr
    out = json.loads(r.stdout)
    out["rc"] = r.returncode
    out["by"] = {s["name"]: s for s in out["sections"]}
    return out


def texts(section, level=None):
    return [f["text"] for f in section["findings"] if level is None or f["level"] == level]


def test_all_good(conf):
    o = check(conf, "good.test", "--selector", "r2048", "--selector", "ed")
    assert o["rc"] == 0 and o["status"] == "ok", json.dumps(o, indent=1)
    by = o["by"]
    assert list(by) == ["mx", "spf", "dkim", "dmarc", "mta-sts", "tls-rpt"]
    assert by["mx"]["records"] == ["10 %s" % HOST]
    assert by["spf"]["records"] == ["v=spf1 ip4:127.0.0.1 -all"]
    assert any("127.0.0.1 passes" in t for t in texts(by["spf"], "ok")), by["spf"]
    assert any("1 of 10" not in t and "0 of 10 DNS lookups" in t for t in texts(by["spf"]))
    assert texts(by["dkim"]) == ["selector r2048: rsa key, 2048 bits",
                                 "selector ed: ed25519 key, 256 bits"], by["dkim"]
    assert "policy reject" in texts(by["dmarc"]), by["dmarc"]
    assert "reports go to dmarc@good.test" in texts(by["dmarc"]), by["dmarc"]
    assert any("20261205T0900" in t for t in texts(by["mta-sts"])), by["mta-sts"]
    assert texts(by["tls-rpt"]) == ["reports go to mailto:tls@good.test"]
    assert all(not s["publish"] for s in o["sections"]), o


def test_missing_and_duplicate_records(conf):
    o = check(conf, "bad.test")
    assert o["rc"] == 1 and o["status"] == "error", o
    by = o["by"]
    assert by["mx"]["status"] == "warn" and "no MX record" in texts(by["mx"])[0], by["mx"]
    assert by["spf"]["status"] == "error" and "2 SPF records" in texts(by["spf"])[0]
    assert by["dmarc"]["status"] == "error", by["dmarc"]
    assert by["dmarc"]["publish"] == [
        '_dmarc.bad.test. IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@bad.test"']
    assert by["dkim"]["status"] == "warn" and "no selector given" in texts(by["dkim"])[0]
    # optional records that are absent are fine
    assert by["mta-sts"]["status"] == "ok" and by["tls-rpt"]["status"] == "ok"


def test_plus_all_and_no_rua(conf):
    by = check(conf, "open.test")["by"]
    assert by["spf"]["status"] == "error", by["spf"]
    assert any("+all lets every host" in t for t in texts(by["spf"], "error")), by["spf"]
    assert by["spf"]["publish"] == ['open.test. IN TXT "v=spf1 -all"'], by["spf"]
    assert by["dmarc"]["status"] == "warn", by["dmarc"]
    assert any("policy none" in t for t in texts(by["dmarc"], "warn"))
    assert any("no rua=" in t for t in texts(by["dmarc"], "warn"))


def test_server_not_authorized_and_external_rua(conf):
    by = check(conf, "weak.test")["by"]
    spf = by["spf"]
    assert spf["status"] == "error", spf
    assert any("127.0.0.1 (mx.petrel.test) is not authorized: softfail (~all)" in t
               for t in texts(spf, "error")), spf
    # the record with this server's address put first, the rest kept
    assert spf["publish"] == ['weak.test. IN TXT "v=spf1 ip4:127.0.0.1 ip4:192.0.2.9 ~all"']
    d = by["dmarc"]
    assert d["status"] == "error", d
    assert any("pct=50" in t for t in texts(d, "warn")), d
    errors = texts(d, "error")
    assert len(errors) == 1 and "r@reports.other.test" in errors[0], d
    assert "weak.test._report._dmarc.reports.other.test" in errors[0], d
    assert d["publish"] == ['weak.test._report._dmarc.reports.other.test. IN TXT "v=DMARC1"']
    assert any("r@agg.third.test, which accepts them" in t for t in texts(d, "ok")), d


def test_lookup_limit_and_mx_without_address(conf):
    by = check(conf, "many.test")["by"]
    assert any("nowhere.many.test has no address" in t for t in texts(by["mx"], "error"))
    assert any("permerror" in t for t in texts(by["spf"], "error")), by["spf"]


def test_null_mx_and_broken_optional_records(conf):
    by = check(conf, "null.test")["by"]
    assert by["mx"]["status"] == "warn" and by["mx"]["records"] == ["0 ."], by["mx"]
    assert "null MX" in texts(by["mx"])[0]
    assert by["spf"]["status"] == "warn", by["spf"]
    assert any("no all mechanism" in t for t in texts(by["spf"], "warn"))
    assert by["spf"]["publish"] == ['null.test. IN TXT "v=spf1 ip4:127.0.0.1 -all"']
    assert by["mta-sts"]["status"] == "error" and "id=" in texts(by["mta-sts"])[0]
    assert by["tls-rpt"]["status"] == "error" and "ftp://" in texts(by["tls-rpt"])[0]


def test_dkim_key_problems(conf):
    o = check(conf, "good.test", "--selector", "r1024", "--selector", "r768",
              "--selector", "revoked", "--selector", "testing", "--selector", "absent")
    d = o["by"]["dkim"]
    assert d["status"] == "error" and o["rc"] == 1, d
    assert "selector r1024: rsa key, 1024 bits: RFC 8301 3.2 asks for 2048 bits or more" \
        in texts(d, "warn"), d
    assert any(t.startswith("selector r768: rsa key, 768 bits: verifiers refuse")
               for t in texts(d, "error")), d
    assert any(t.startswith("selector revoked: the key is revoked") for t in texts(d, "error"))
    assert any(t.startswith("selector testing: t=y") for t in texts(d, "warn")), d
    assert "selector absent: no key at absent._domainkey.good.test (the name does not " \
        "exist)" in texts(d, "error"), d


def test_selectors_of_this_servers_keys(conf):
    """Without --selector, the selectors of the domain's keys in DATA_DIR/dkim/ (made by
    petrel dkim keygen) are checked: one published (r2048 under good.test), one not."""
    data = conf.parent / "data"
    for sel in ("r2048", "unpublished"):
        r = subprocess.run([PETREL_BIN, "dkim", "keygen", "good.test", "--selector", sel,
                            "-c", str(conf)], capture_output=True, text=True, timeout=60,
                           env=petrel_env(), stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stdout + r.stderr
    try:
        d = check(conf, "good.test")["by"]["dkim"]
        assert any("this server's keys" in t for t in texts(d, "ok")), d
        assert any(t.startswith("selector r2048: rsa key, 2048 bits") for t in texts(d, "ok"))
        assert any(t.startswith("selector unpublished: no key at unpublished._domainkey."
                                "good.test") for t in texts(d, "error")), d
        # another domain has none of them
        d = check(conf, "bad.test")["by"]["dkim"]
        assert "no signing key of bad.test" in texts(d, "warn")[0], d
    finally:
        shutil.rmtree(data / "dkim", ignore_errors=True)


def test_human_output_and_usage(conf):
    r = check(conf, "weak.test", json_out=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith("weak.test: ERROR"), r.stdout
    assert '  publish: weak.test. IN TXT "v=spf1 ip4:127.0.0.1 ip4:192.0.2.9 ~all"' \
        in r.stdout.splitlines(), r.stdout
    r = check(conf, "good.test", "--selector", "ed", json_out=False)
    assert r.returncode == 0 and r.stdout.startswith("good.test: OK"), r.stdout
    assert check(conf, "not a domain", json_out=False).returncode == 2
    assert check(conf, "good.test", "--selector", "bad_sel", json_out=False).returncode == 2


def test_localhost_hostname_is_not_suggested(conf, tmp_path):
    """The development configuration's hostname is localhost, whose addresses are
    loopback ones: no SPF record or MX should name them."""
    local_conf = tmp_path / "petrel.conf"
    local_conf.write_text(conf.read_text().replace("hostname = %s\n" % HOST,
                                                   "hostname = localhost\n"))
    by = check(local_conf, "weak.test")["by"]
    spf = by["spf"]
    assert any("[server] hostname localhost is not a public fully qualified name" in t
               for t in texts(spf, "warn")), spf
    assert not any("127.0.0.1" in t or "::1" in t for t in spf["publish"]), spf
    assert all("localhost" not in t for t in by["mx"]["publish"]), by["mx"]
    local = check(local_conf, "good.test")["by"]["mx"]
    assert local["publish"] == ["good.test. IN MX 10 YOUR-MAIL-SERVER."], local
