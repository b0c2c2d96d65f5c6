"""The openspf RFC 7208 test suite (rfc7208-tests.yml, shipped by Debian's python3-spf)
run against `petrel spf check`: each scenario's `zonedata` is served by a small dnslib
server on a loopback port (spf_dns.py: one server per scenario, TIMEOUT entries never
answered, SPF-type records served as type 99, several TXT strings kept apart), and each
case is one test, checked for its `result` (one result or a list of acceptable ones)
and, where given, its `explanation` ("DEFAULT" meaning none from exp=).

Cases Petrel is known to fail are in KNOWN_FAILURES with the reason; they still run
(xfail strict: one that starts passing fails the run until it is taken off the list).
"""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import PETREL_BIN, SANITIZER_MARKERS, petrel_env  # noqa: E402
from spf_dns import ZoneServer  # noqa: E402

SPECIAL_ZONES = "168.192.in-addr.arpa,2.0.192.in-addr.arpa,8.b.d.0.1.0.0.2.ip6.arpa"
SUITE = Path("/usr/share/doc/python3-spf/rfc7208-tests.yml.gz")

# (scenario description, case name) -> why Petrel does not pass it yet
KNOWN_FAILURES = {
    # zonedata `SPF: [ ]`, a TXT record without strings (which RFC 1035 3.3.14 does
    # not allow): libunbound answers the whole lookup with SERVFAIL, so the record
    # lookup is a temperror where the suite wants the other record to pass.
    ("Initial processing", "null-text"):
        "libunbound turns an answer with an empty TXT record into SERVFAIL",
}


def load_suite():
    if not SUITE.exists():
        return []
    import yaml
    with gzip.open(SUITE, "rb") as f:
        return list(yaml.safe_load_all(f))


SCENARIOS = load_suite()
CASES = [(i, name) for i, s in enumerate(SCENARIOS) for name in s["tests"]]


def case_id(case):
    i, name = case
    return "%s/%s" % (SCENARIOS[i]["description"].replace(" ", "-"), name)


def case_param(case):
    key = (SCENARIOS[case[0]]["description"], case[1])
    marks = []
    if key in KNOWN_FAILURES:
        marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[key], strict=True))
    return pytest.param(case, id=case_id(case), marks=marks)


@pytest.fixture(scope="module")
def zone_servers(tmp_path_factory):
    """One DNS server and one petrel.conf per scenario, started on first use."""
    servers = {}
    base = tmp_path_factory.mktemp("spf-rfc7208")

    def get(i):
        if i not in servers:
            server = ZoneServer(SCENARIOS[i]["zonedata"])
            conf = base / ("scenario-%d.conf" % i)
            data = base / ("data-%d" % i)
            data.mkdir()
            # timeout 1 s: TIMEOUT entries cost a second each.  The reverse zones
            # of private and documentation addresses are ones libunbound would
            # answer itself (RFC 6303).
            conf.write_text("[server]\nhostname = mx.petrel.test\ndata_dir = %s\n"
                            "[dns]\nresolver = 127.0.0.1@%d\n"
                            "special_zones = %s\ntimeout = 1\n"
                            % (data, server.port, SPECIAL_ZONES))
            servers[i] = (server, conf)
        return servers[i]

    yield get
    for server, _ in servers.values():
        server.close()


def petrel_spf_check(conf, host, mailfrom, helo):
    args = [PETREL_BIN, "spf", "check", host, mailfrom, "--json", "-c", str(conf)]
    if helo is not None:
        args[5:5] = ["--helo", helo]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60, env=petrel_env(),
                       stdin=subprocess.DEVNULL)
    for marker in SANITIZER_MARKERS:
        assert marker not in r.stderr, r.stderr
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout)


def test_suite_present():
    if not SCENARIOS:
        pytest.fail("%s is missing: scripts/install-deps.sh installs python3-spf" % SUITE)
    assert len(CASES) > 150


@pytest.mark.parametrize("case", [case_param(c) for c in CASES])
def test_rfc7208(case, zone_servers):
    i, name = case
    t = SCENARIOS[i]["tests"][name]
    _, conf = zone_servers(i)
    out = petrel_spf_check(conf, t["host"], t.get("mailfrom", ""), t.get("helo"))
    expected = t["result"] if isinstance(t["result"], list) else [t["result"]]
    assert out["result"] in expected, (t.get("description"), out)
    if "explanation" in t:
        want = None if t["explanation"] == "DEFAULT" else t["explanation"]
        assert out["explanation"] == want, out
