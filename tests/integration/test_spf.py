"""`petrel spf check` compared with pyspf (python3-spf), an independent implementation,
both asking the same test DNS server (spf_dns.py, python3-dnslib, on a loopback port):
every mechanism, include and redirect, macros, exp=, the limits, MAIL FROM and HELO
identities.  Plus what only Petrel's command prints: the deciding term, the lookups
counted, the human output and usage errors.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore:please use dns.resolver.resolve:DeprecationWarning")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import PETREL_BIN, SANITIZER_MARKERS, petrel_env  # noqa: E402
from spf_dns import ZoneServer  # noqa: E402

ZONE = {
    "example.test": [
        {"TXT": "v=spf1 ip4:192.0.2.0/25 mx a:out.example.test include:_spf.partner.test"
                " ~all"},
        {"TXT": "some other text"},
        {"MX": [10, "mx.example.test"]}, {"MX": [20, "mx2.example.test"]}],
    "mx.example.test": [{"A": "198.51.100.10"}, {"AAAA": "2001:db8::10"}],
    "mx2.example.test": [{"A": "198.51.100.11"}],
    "out.example.test": [{"A": "203.0.113.5"}],
    "_spf.partner.test": [{"TXT": ["v=spf1 ip6:2001:db8:beef::/48 ",
                                   "exists:%{i}._allow.partner.test -all"]}],
    "203.0.113.7._allow.partner.test": [{"A": "127.0.0.2"}],
    "strict.test": [{"TXT": "v=spf1 a/30 -all exp=why.strict.test"}, {"A": "192.0.2.200"}],
    "why.strict.test": [{"TXT": "%{i} may not send for %{d} (%{l}); ask %{h}"}],
    "redir.test": [{"TXT": "v=spf1 ?ip4:198.51.100.99 redirect=%{d1}.strict.test"}],
    "test.strict.test": [{"TXT": "v=spf1 -ip4:192.0.2.201 +all"}],
    "helo.example.test": [{"TXT": "v=spf1 a -all"}, {"A": "192.0.2.77"}],
    "bad.test": [{"TXT": "v=spf1 ip4:192.0.2.1 foo -all"}],
    "two.test": [{"TXT": "v=spf1 -all"}, {"TXT": "v=spf1 +all"}],
    "void.test": [{"TXT": "v=spf1 a:nx1.void.test a:nx2.void.test a:nx3.void.test -all"}],
    "void2.test": [{"TXT": "v=spf1 a:nx1.void.test a:nx2.void.test ip4:192.0.2.1 -all"}],
    "many.test": [{"TXT": "v=spf1 " + " ".join("include:i%d.many.test" % i for i in range(11))
                   + " -all"}],
    "ptr.test": [{"TXT": "v=spf1 ptr -all"}],
    "5.2.0.192.in-addr.arpa": [{"PTR": "host.ptr.test"}, {"PTR": "other.example.test"}],
    "6.2.0.192.in-addr.arpa": [{"PTR": "liar.ptr.test"}],
    "host.ptr.test": [{"A": "192.0.2.5"}],
    "liar.ptr.test": [{"A": "192.0.2.99"}],
    "softmx.test": [{"TXT": "v=spf1 mx:example.test/24 ?all"}],
    "nullmx.test": [{"TXT": "v=spf1 mx -all"}, {"MX": [0, ""]}],
    "norecord.test": [{"A": "192.0.2.1"}],
}
for i in range(11):
    ZONE["i%d.many.test" % i] = [{"TXT": "v=spf1 -all"}]

# (client address, MAIL FROM, HELO)
CASES = [
    ("192.0.2.10", "alice@example.test", "client.example.test"),      # ip4
    ("192.0.2.200", "alice@example.test", "client.example.test"),     # outside /25: softfail
    ("198.51.100.11", "alice@example.test", "client.example.test"),   # mx
    ("2001:db8::10", "alice@example.test", "client.example.test"),    # mx, IPv6
    ("::ffff:198.51.100.10", "alice@example.test", "client.example.test"),  # v4-mapped
    ("203.0.113.5", "alice@example.test", "client.example.test"),     # a:
    ("2001:db8:beef::25", "alice@example.test", "client.example.test"),  # include, ip6
    ("203.0.113.7", "alice@example.test", "client.example.test"),     # include, exists %{i}
    ("203.0.113.8", "alice@example.test", "client.example.test"),
    ("192.0.2.201", "bob@strict.test", "mail.example.test"),          # a/30
    ("192.0.2.50", "bob@strict.test", "mail.example.test"),           # fail + exp
    ("198.51.100.99", "carol@redir.test", "mail.example.test"),       # ?ip4
    ("192.0.2.201", "carol@redir.test", "mail.example.test"),         # redirect, macro
    ("192.0.2.50", "carol@redir.test", "mail.example.test"),
    ("192.0.2.1", "dave@bad.test", "mail.example.test"),              # syntax: permerror
    ("192.0.2.1", "dave@two.test", "mail.example.test"),              # two records
    ("192.0.2.1", "dave@void.test", "mail.example.test"),             # 3 void lookups
    ("192.0.2.1", "dave@void2.test", "mail.example.test"),            # 2 are fine
    ("192.0.2.1", "dave@many.test", "mail.example.test"),             # 11 includes
    ("192.0.2.5", "erin@ptr.test", "mail.example.test"),              # ptr validated
    ("192.0.2.6", "erin@ptr.test", "mail.example.test"),              # ptr not validated
    ("198.51.100.77", "erin@softmx.test", "mail.example.test"),       # mx/24
    ("192.0.2.1", "erin@nullmx.test", "mail.example.test"),           # null MX
    ("192.0.2.1", "frank@norecord.test", "mail.example.test"),        # none
    ("192.0.2.1", "frank@nowhere.test", "mail.example.test"),         # NXDOMAIN: none
    ("192.0.2.1", "@example.test", "mail.example.test"),              # no local part
    # HELO identity: empty MAIL FROM
    ("192.0.2.77", "", "helo.example.test"),
    ("192.0.2.78", "", "helo.example.test"),
    ("192.0.2.50", "", "strict.test"),
    ("192.0.2.1", "", "norecord.test"),
]


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    server = ZoneServer(ZONE)
    base = tmp_path_factory.mktemp("spf")
    (base / "data").mkdir()
    conf = base / "petrel.conf"
    conf.write_text("[server]\nhostname = mx.petrel.test\ndata_dir = %s\n"
                    "[dns]\nresolver = 127.0.0.1@%d\nspecial_zones = test,2.0.192.in-addr.arpa,"
                    "100.51.198.in-addr.arpa,113.0.203.in-addr.arpa,8.b.d.0.1.0.0.2.ip6.arpa\n"
                    "timeout = 2\n" % (base / "data", server.port))
    yield server, conf
    server.close()


def petrel_spf(conf, ip, sender, helo=None, json_out=True):
    args = [PETREL_BIN, "spf", "check", ip, sender, "-c", str(conf)]
    if helo is not None:
        args += ["--helo", helo]
    if json_out:
        args.append("--json")
    r = subprocess.run(args, capture_output=True, text=True, timeout=60, env=petrel_env(),
                       stdin=subprocess.DEVNULL)
    for marker in SANITIZER_MARKERS:
        assert marker not in r.stderr, r.stderr
    return r


def pyspf_check(port, ip, sender, helo):
    """pyspf's check through dnspython (which it prefers to pydns), asking the same
    server."""
    import dns.resolver
    import spf
    assert spf.DNSLookup is spf.DNSLookup_dnspython
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    dns.resolver.default_resolver = resolver
    q = spf.query(i=ip, s=sender, h=helo, receiver="mx.petrel.test", timeout=10)
    result, _code, explanation = q.check()
    return {"unknown": "permerror", "error": "temperror"}.get(result, result), explanation


@pytest.mark.parametrize("ip,sender,helo", CASES,
                         ids=["%s-%s-%s" % c for c in CASES])
def test_same_result_as_pyspf(zone, ip, sender, helo):
    server, conf = zone
    r = petrel_spf(conf, ip, sender, helo)
    assert r.returncode == 0, r
    out = json.loads(r.stdout)
    want, explanation = pyspf_check(server.port, ip, sender, helo)
    assert out["result"] == want, (out, want, explanation)
    if out["result"] == "fail" and out["explanation"] is not None:
        assert out["explanation"] == explanation
    assert out["identity"] == ("mailfrom" if sender else "helo")


def test_fail_explanation_and_counts(zone):
    _, conf = zone
    out = json.loads(petrel_spf(conf, "192.0.2.50", "bob@strict.test", "mail.example.test").stdout)
    assert out == {"result": "fail", "identity": "mailfrom", "mechanism": "-all",
                   "domain": "strict.test", "problem": None,
                   "explanation": "192.0.2.50 may not send for strict.test (bob); ask "
                                  "mail.example.test",
                   "lookups": 1, "void_lookups": 0, "queries": 3}
    # redirect: the target's record decides, with its own terms
    out = json.loads(petrel_spf(conf, "192.0.2.201", "carol@redir.test").stdout)
    assert (out["result"], out["mechanism"], out["domain"]) == \
        ("fail", "-ip4:192.0.2.201", "test.strict.test")
    assert out["lookups"] == 1
    out = json.loads(petrel_spf(conf, "192.0.2.1", "dave@many.test").stdout)
    assert (out["result"], out["lookups"]) == ("permerror", 10)
    assert "10" in out["problem"]
    out = json.loads(petrel_spf(conf, "192.0.2.1", "dave@void.test").stdout)
    assert (out["result"], out["void_lookups"]) == ("permerror", 3)


def test_human_output(zone):
    _, conf = zone
    r = petrel_spf(conf, "192.0.2.50", "bob@strict.test", "mail.example.test", json_out=False)
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == [
        "fail (-all in the record of strict.test)",
        "explanation: 192.0.2.50 may not send for strict.test (bob); ask mail.example.test",
        "identity: mailfrom; DNS lookups: 1 of 10, void lookups: 0 of 2, queries: 3",
    ]
    r = petrel_spf(conf, "192.0.2.1", "frank@norecord.test", json_out=False)
    assert r.stdout.splitlines()[0] == "none (no SPF record)"


def test_temperror_on_timeout(tmp_path):
    server = ZoneServer({"slow.test": ["TIMEOUT"]})
    try:
        (tmp_path / "data").mkdir()
        conf = tmp_path / "petrel.conf"
        conf.write_text("[server]\ndata_dir = %s\n[dns]\nresolver = 127.0.0.1@%d\n"
                        "special_zones = test\ntimeout = 1\n" % (tmp_path / "data", server.port))
        out = json.loads(petrel_spf(conf, "192.0.2.1", "a@slow.test").stdout)
        assert out["result"] == "temperror", out
    finally:
        server.close()


@pytest.mark.parametrize("args", [[], ["check"], ["check", "192.0.2.1"],
                                  ["verify", "192.0.2.1", "a@b.test"],
                                  ["check", "192.0.2.1", "a@b.test", "--bogus"]])
def test_usage_errors(args):
    r = subprocess.run([PETREL_BIN, "spf", *args], capture_output=True, text=True,
                       timeout=30, env=petrel_env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r
    assert "usage: petrel spf check" in r.stderr


def test_void_lookup_limit_setting(zone, tmp_path):
    """[auth] spf_void_lookups: RFC 7208 4.6.4 lets the void lookup limit be set
    (2 recommended, the default)."""
    server, conf = zone
    out = json.loads(petrel_spf(conf, "192.0.2.1", "dave@void.test").stdout)
    assert (out["result"], out["void_lookups"]) == ("permerror", 3)
    three = tmp_path / "petrel.conf"
    three.write_text(conf.read_text() + "[auth]\nspf_void_lookups = 3\n")
    r = petrel_spf(three, "192.0.2.1", "dave@void.test")
    assert r.returncode == 0, r
    out = json.loads(r.stdout)
    assert (out["result"], out["void_lookups"]) == ("fail", 3)
    r = petrel_spf(three, "192.0.2.1", "dave@void.test", json_out=False)
    assert "void lookups: 3 of 3" in r.stdout
    bad = tmp_path / "bad.conf"
    bad.write_text(conf.read_text() + "[auth]\nspf_void_lookups = 0\n")
    r = petrel_spf(bad, "192.0.2.1", "dave@void.test")
    assert r.returncode == 2
    assert "'spf_void_lookups' must be a number between 1 and 20" in r.stderr


def test_check_time_limit(tmp_path):
    """RFC 7208 4.6.4: the whole check has a time limit ([auth] spf_timeout), past it
    the result is temperror.  Ten lookups answered 0.6 s late each (within [dns]
    timeout) take 6 s: with a limit of 2 s the check is a temperror; with the default
    (20 s) it ends in its own result."""
    zone = {"slow.test": [{"TXT": "v=spf1 " + " ".join("a:h%d.slow.test" % i
                                                       for i in range(9)) + " -all"}]}
    for i in range(9):
        zone["h%d.slow.test" % i] = [{"A": "198.51.100.%d" % i}]
    server = ZoneServer(zone, delay=0.6)
    try:
        (tmp_path / "data").mkdir()
        text = ("[server]\ndata_dir = %s\n[dns]\nresolver = 127.0.0.1@%d\n"
                "special_zones = test\ntimeout = 5\n" % (tmp_path / "data", server.port))
        conf = tmp_path / "petrel.conf"
        conf.write_text(text)
        out = json.loads(petrel_spf(conf, "192.0.2.1", "a@slow.test").stdout)
        assert (out["result"], out["lookups"]) == ("fail", 9), out
        short = tmp_path / "short.conf"
        short.write_text(text + "[auth]\nspf_timeout = 2\n")
        out = json.loads(petrel_spf(short, "192.0.2.1", "a@slow.test").stdout)
        assert out["result"] == "temperror", out
        assert out["lookups"] < 9, out
        assert "time" in out["problem"], out
    finally:
        server.close()
