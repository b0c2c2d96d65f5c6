"""DMARC (RFC 7489): `petrel dmarc check` against records served by dnsmasq, compared
with Mail::DMARC (libmail-dmarc-perl) on the same inputs, and the Public Suffix List that
`petrel serve` reads at start.

The test zone uses names under a real public suffix (.com), as DMARC needs: the
organizational domain of mail.example-dmarc.com is example-dmarc.com.  dnsmasq is
authoritative for each zone (--local), so that a name it has no record for does not
exist; tempfail-dmarc.com is outside them: dnsmasq, with no upstream, refuses it, which
the resolver reports as a temporary failure.
"""

import json
import subprocess
from pathlib import Path

import pytest

from conftest import run_petrel
from peers import Dnsmasq, wait_until

ZONES = ["example-dmarc.com", "strict-dmarc.com", "quarantine-dmarc.com", "none-dmarc.com",
         "two-dmarc.com", "nodmarc-example.com", "pct-dmarc.com", "fallback-dmarc.com"]
RECORDS = [
    ("_dmarc.example-dmarc.com",
     "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@example-dmarc.com"),
    ("_dmarc.own.example-dmarc.com", "v=DMARC1; p=none"),
    ("_dmarc.strict-dmarc.com", "v=DMARC1; p=reject; aspf=s; adkim=s"),
    ("_dmarc.quarantine-dmarc.com", "v=DMARC1; p=quarantine"),
    ("_dmarc.none-dmarc.com", "v=DMARC1; p=none"),
    ("_dmarc.two-dmarc.com", "v=DMARC1; p=reject"),
    ("_dmarc.two-dmarc.com", "v=DMARC1; p=none"),
    ("_dmarc.pct-dmarc.com", "v=DMARC1; p=reject; pct=0"),
    ("_dmarc.fallback-dmarc.com", "v=DMARC1; p=blocked; rua=mailto:r@fallback-dmarc.com"),
    # other TXT records at a _dmarc name are not DMARC records (6.6.3 step 3)
    ("_dmarc.nodmarc-example.com", "v=spf1 -all"),
]
# Mail::DMARC first checks that the From domain exists (an A, AAAA or MX record)
HOSTS = ["example-dmarc.com", "mail.example-dmarc.com", "quarantine-dmarc.com",
         "none-dmarc.com", "strict-dmarc.com", "mail.nodmarc-example.com", "two-dmarc.com"]


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    d = Dnsmasq(tmp_path_factory.mktemp("dmarc-dns"))
    extra = ["--local=/%s/" % z for z in ZONES]
    extra += ["--txt-record=%s,%s" % (name, text) for name, text in RECORDS]
    d.start(hosts=[(h, "192.0.2.10") for h in HOSTS], extra=extra)
    yield d
    d.stop()


@pytest.fixture
def check(petrel_factory, dns):
    p = petrel_factory(start=False, resolver=dns.resolver, timeout=3)

    def run(*args):
        r = p.cli("dmarc", "check", *args, "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(r.stdout)
    run.petrel = p
    return run


def test_pass_via_aligned_spf(check):
    o = check("example-dmarc.com", "--spf", "pass", "--spf-domain", "bounce.example-dmarc.com")
    assert o["result"] == "pass", o
    assert o["spf_aligned"] and not o["dkim_aligned"], o
    assert o["record_domain"] == "example-dmarc.com", o
    assert o["record"].startswith("v=DMARC1; p=reject"), o
    assert o["policy"] == "reject" and o["disposition"] == "none", o


def test_pass_via_aligned_dkim(check):
    o = check("example-dmarc.com", "--spf", "pass", "--spf-domain", "esp.example.net",
              "--dkim", "fail", "--dkim-domain", "example-dmarc.com",
              "--dkim", "pass", "--dkim-domain", "mail.example-dmarc.com")
    assert o["result"] == "pass", o
    assert not o["spf_aligned"] and o["dkim_aligned"], o
    assert o["dkim_domain"] == "mail.example-dmarc.com", o


@pytest.mark.parametrize("domain,policy", [("example-dmarc.com", "reject"),
                                           ("quarantine-dmarc.com", "quarantine"),
                                           ("none-dmarc.com", "none")])
def test_fail_takes_the_policy(check, domain, policy):
    o = check(domain, "--spf", "pass", "--spf-domain", "example.net",
              "--dkim", "pass", "--dkim-domain", "example.org")
    assert o["result"] == "fail", o
    assert o["policy"] == policy and o["disposition"] == policy, o
    assert not o["subdomain_policy"] and o["enforced"], o


def test_subdomain_takes_sp_of_the_organizational_domain(check):
    o = check("mail.example-dmarc.com", "--spf", "fail", "--spf-domain", "mail.example-dmarc.com")
    assert o["result"] == "fail", o
    assert o["org_domain"] == "example-dmarc.com", o
    assert o["record_domain"] == "example-dmarc.com", o
    assert o["subdomain_policy"] and o["policy"] == "quarantine", o
    assert o["disposition"] == "quarantine", o


def test_subdomain_with_its_own_record(check):
    o = check("own.example-dmarc.com", "--spf", "fail", "--spf-domain", "own.example-dmarc.com")
    assert o["record_domain"] == "own.example-dmarc.com", o
    assert o["policy"] == "none" and not o["subdomain_policy"], o


def test_relaxed_versus_strict(check):
    args = ["--spf", "pass", "--spf-domain", "bounce.%s",
            "--dkim", "pass", "--dkim-domain", "mail.%s"]
    relaxed = check("example-dmarc.com", *[a % "example-dmarc.com" if "%" in a else a
                                           for a in args])
    assert relaxed["result"] == "pass", relaxed
    assert relaxed["spf_aligned"] and relaxed["dkim_aligned"], relaxed
    strict = check("strict-dmarc.com", *[a % "strict-dmarc.com" if "%" in a else a
                                         for a in args])
    assert strict["result"] == "fail", strict
    assert (strict["aspf"], strict["adkim"]) == ("s", "s"), strict
    assert not strict["spf_aligned"] and not strict["dkim_aligned"], strict
    exact = check("strict-dmarc.com", "--dkim", "pass", "--dkim-domain", "Strict-DMARC.com")
    assert exact["result"] == "pass" and exact["dkim_aligned"], exact


def test_no_record(check, dns):
    o = check("mail.nodmarc-example.com", "--spf", "fail", "--spf-domain", "nodmarc-example.com")
    assert o["result"] == "none", o
    assert o["discovery"] == "none" and o["record"] is None, o
    assert o["policy"] is None and o["disposition"] == "none", o
    # both names were asked: the From domain's, then the organizational domain's
    # (whose only TXT record is not a DMARC record)
    wait_until(lambda: "_dmarc.nodmarc-example.com" in dns.log(), 5, what="dnsmasq's log")
    log = dns.log()
    assert "query[TXT] _dmarc.mail.nodmarc-example.com" in log, log[-2000:]
    assert log.index("query[TXT] _dmarc.mail.nodmarc-example.com") < \
        log.index("query[TXT] _dmarc.nodmarc-example.com"), log[-2000:]


def test_two_records_mean_no_policy(check):
    o = check("two-dmarc.com", "--spf", "fail", "--spf-domain", "two-dmarc.com")
    assert o["result"] == "none", o
    assert o["discovery"] == "several" and o["record_domain"] == "two-dmarc.com", o
    assert o["disposition"] == "none", o


def test_temperror_from_dns(check):
    o = check("tempfail-dmarc.com", "--spf", "pass", "--spf-domain", "tempfail-dmarc.com")
    assert o["result"] == "temperror", o
    assert o["discovery"] == "tempfail", o


def test_pct_zero_takes_the_next_policy_down(check):
    o = check("pct-dmarc.com")
    assert o["result"] == "fail" and o["pct"] == 0, o
    assert o["policy"] == "reject" and o["disposition"] == "quarantine", o
    assert o["sampled_out"], o


def test_invalid_p_with_rua_counts_as_none(check):
    o = check("fallback-dmarc.com")
    assert o["result"] == "fail", o
    assert o["p_fallback"] and o["policy"] == "none" and o["disposition"] == "none", o


def test_only_recorded(petrel_factory, dns):
    p = petrel_factory(start=False, resolver=dns.resolver, dmarc_enforce="no")
    r = p.cli("dmarc", "check", "example-dmarc.com")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("dmarc=fail"), r.stdout
    assert "disposition: reject, only recorded ([auth] dmarc_enforce = false)" in r.stdout, \
        r.stdout


def test_human_output(check):
    r = check.petrel.cli("dmarc", "check", "postmaster@mail.example-dmarc.com",
                         "--dkim", "pass", "--dkim-domain", "example-dmarc.com")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert out.startswith("dmarc=pass\n"), out
    assert "from domain: mail.example-dmarc.com; organizational domain: example-dmarc.com" \
        in out, out
    assert "record at _dmarc.example-dmarc.com: v=DMARC1; p=reject" in out, out
    assert "aligned (d=example-dmarc.com)" in out, out
    assert "policy: quarantine (sp=" in out, out


def test_usage_errors(check):
    p = check.petrel
    for args in [(), ("check",), ("check", "a.com", "--spf", "maybe"),
                 ("check", "a.com", "--dkim", "pass"), ("verify", "a.com")]:
        r = p.cli("dmarc", *args)
        assert r.returncode == 2, (args, r)
        assert "usage: petrel dmarc check" in r.stderr, (args, r.stderr)


# The same inputs given to Mail::DMARC (Debian's libmail-dmarc-perl): (From domain, SPF
# result, SPF domain, [DKIM result, d=]...).  pct=100 everywhere: sampling is random there.
COMPARED = [
    ("example-dmarc.com", "pass", "bounce.example-dmarc.com", ()),
    ("example-dmarc.com", "pass", "esp.example.net", ("pass", "mail.example-dmarc.com")),
    ("example-dmarc.com", "pass", "example.net", ("pass", "example.org")),
    ("example-dmarc.com", "fail", "example-dmarc.com", ("fail", "example-dmarc.com")),
    ("quarantine-dmarc.com", "pass", "example.net", ()),
    ("none-dmarc.com", "softfail", "none-dmarc.com", ()),
    ("mail.example-dmarc.com", "fail", "mail.example-dmarc.com", ()),
    ("mail.example-dmarc.com", "pass", "example-dmarc.com", ()),
    ("strict-dmarc.com", "pass", "bounce.strict-dmarc.com", ("pass", "mail.strict-dmarc.com")),
    ("strict-dmarc.com", "pass", "bounce.strict-dmarc.com", ("pass", "strict-dmarc.com")),
    ("strict-dmarc.com", "pass", "strict-dmarc.com", ()),
    ("mail.nodmarc-example.com", "pass", "nodmarc-example.com", ()),
]


@pytest.fixture(scope="module")
def mail_dmarc(dns):
    """Mail::DMARC's answers to COMPARED, from one perl process."""
    probe = subprocess.run(["perl", "-MMail::DMARC::PurePerl", "-e", "1"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("Mail::DMARC (package libmail-dmarc-perl) is not installed: "
                    + probe.stderr.strip()[:200])
    script = Path(__file__).with_name("mail_dmarc_check.pl")
    lines = "".join(json.dumps(list(c)) + "\n" for c in COMPARED)
    r = subprocess.run(["perl", str(script), str(dns.port)], input=lines,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    answers = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert len(answers) == len(COMPARED), r.stdout + r.stderr
    return dict(zip(COMPARED, answers))


@pytest.mark.parametrize("case", COMPARED, ids=lambda c: "-".join([c[0], c[1], *c[3]]))
def test_same_as_mail_dmarc(check, mail_dmarc, case):
    from_domain, spf, spf_domain, dkim = case
    theirs = mail_dmarc[case]
    args = ["--spf", spf, "--spf-domain", spf_domain]
    for i in range(0, len(dkim), 2):
        args += ["--dkim", dkim[i], "--dkim-domain", dkim[i + 1]]
    ours = check(from_domain, *args)
    assert ours["result"] == theirs["result"], (ours, theirs)
    assert ours["disposition"] == theirs["disposition"], (ours, theirs)
    # without a policy Mail::DMARC stops before alignment; `petrel dmarc check` still
    # shows it (for information only: the result is none either way)
    if ours["discovery"] == "record":
        assert ours["spf_aligned"] == theirs["spf_aligned"], (ours, theirs)
        assert ours["dkim_aligned"] == theirs["dkim_aligned"], (ours, theirs)


def test_help_names_the_command(petrel_factory):
    r = run_petrel("help")
    assert "dmarc check FROM-DOMAIN" in r.stdout, r.stdout


def test_serve_refuses_a_bad_public_suffix_list(petrel_factory, tmp_path):
    """A bad rule stops the start: the error names the setting's line in petrel.conf and
    the rule's line in the list."""
    psl = tmp_path / "psl.dat"
    psl.write_text("// test list\ncom\nnot..a.rule\n")
    p = petrel_factory(start=False, public_suffix_list=psl)
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 2, r
    lines = p.config_path.read_text().splitlines()
    line = next(i + 1 for i, l in enumerate(lines) if l.startswith("public_suffix_list"))
    assert "%s:%d: [auth] public_suffix_list: %s:3: " % (p.config_path, line, psl) \
        in r.stderr, r.stderr


def test_serve_refuses_a_missing_public_suffix_list(petrel_factory, tmp_path):
    p = petrel_factory(start=False, public_suffix_list=tmp_path / "none.dat")
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 2, r
    assert "none.dat: No such file or directory" in r.stderr, r.stderr


def test_serve_starts_with_its_own_list(petrel_factory, tmp_path):
    psl = tmp_path / "psl.dat"
    psl.write_text("com\n*.wild.test\n!ok.wild.test\n")
    p = petrel_factory(public_suffix_list=psl)
    p.session().quit()
