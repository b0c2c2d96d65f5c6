"""GET /dashboard/domains (src/http/web-dash-domains.c, docs/web.md): the logged-in
account's domains (its own address's, and those its sender identities allow) checked as
`petrel check-domain` checks them, on the server's loop through its resolver, here a
dnslib zone server (spf_dns.ZoneServer) on loopback: each record's status in words, the
findings and the records to publish, every value escaped.

The zone: example.test (the account's own domain, one this server receives for) publishes
everything right, the DKIM record being the one `petrel dkim keygen` printed; bare.test
publishes nothing (ERROR, and the records to publish, the DKIM one from this server's own
key); markup.test's SPF record holds markup; secret.test is another account's; slow.test
never answers (the page's [web] domain_check_timeout)."""

import re
import socket
import time

import pytest

from conftest import HOSTNAME, SENDER
from spf_dns import ZoneServer, load_zone
from test_web_dashboard import OTHER, assert_page, login, request, server

SLOW_ACCOUNT = "1u@example.test"
PAGE = "/dashboard/domains"
TIMEOUT = 3   # [web] domain_check_timeout of these tests, seconds


def zone(dkim=None):
    z = {
        HOSTNAME: [{"A": "127.0.0.1"}],
        "example.test": [{"MX": [10, HOSTNAME]}, {"TXT": "v=spf1 ip4:127.0.0.1 -all"}],
        "_dmarc.example.test": [{"TXT": "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"}],
        "markup.test": [{"MX": [10, HOSTNAME]},
                        {"TXT": "v=spf1 ip4:127.0.0.1 <b>bold</b> -all"}],
        "secret.test": [{"MX": [10, HOSTNAME]}],
        "slow.test": ["TIMEOUT"],
    }
    for name, record in (dkim or {}).items():
        z[name] = [{"TXT": record}]
    return z


def keygen(p, domain):
    """`petrel dkim keygen DOMAIN`: (TXT name, record) it printed"""
    r = p.cli_ok("dkim", "keygen", domain)
    m = re.search(r'^(\S+)\. IN TXT((?: "[^"]*")+)$', r.stdout, re.M)
    assert m, r.stdout
    return m.group(1), "".join(re.findall(r'"([^"]*)"', m.group(2)))


@pytest.fixture
def dns():
    zs = ZoneServer(zone())
    yield zs
    zs.close()


@pytest.fixture
def web(petrel_factory, dns):
    p = server(petrel_factory, resolver="127.0.0.1@%d" % dns.port, special_zones="test",
               domain_check_timeout="%ds" % TIMEOUT)
    name, record = keygen(p, "example.test")
    p.bare_key = keygen(p, "bare.test")
    dns.zone = load_zone(zone({name: record}))
    p.cli_ok("sender", "allow", SENDER, "@bare.test")
    p.cli_ok("sender", "allow", SENDER, "u@markup.test")
    p.cli_ok("sender", "deny", SENDER, "@denied.test")
    p.cli_ok("sender", "allow", OTHER, "@secret.test")
    p.cli_ok("sender", "allow", SLOW_ACCOUNT, "@slow.test")
    return p


def sections(body):
    """domain -> its <section> text"""
    out = {}
    for m in re.finditer(r'<section class="domain">\n<h2>([^:<]+):(.*?)</section>', body, re.S):
        out[m.group(1)] = m.group(2)
    return out


def row(section, record):
    """the status word of RECORD's row ("mx", "spf", ...)"""
    m = re.search(r'<tr class="check-%s"><th scope="row">[A-Z-]+</th><td class="status-\w+">'
                  r'(OK|WARN|ERROR)</td>' % record, section)
    assert m, section
    return m.group(1)


def page_with_dkim_record(p, secret, name):
    """the page once the server's key list (fetched again after keygen restarted the
    keys process) gives NAME's record: bounded"""
    deadline = time.monotonic() + 15
    while True:
        status, fields, body = request(p, "GET", PAGE, secret)
        assert status == 200, body
        if "<code>%s</code>" % name in body or time.monotonic() > deadline:
            return fields, body
        time.sleep(0.3)


def test_good_domain_ok_and_bare_domain_gets_records_to_publish(web):
    secret, _ = login(web)
    bare_name, bare_record = web.bare_key
    fields, body = page_with_dkim_record(web, secret, bare_name)
    assert_page(fields, body)
    assert '<a href="/dashboard/domains">' in body
    by = sections(body)
    # b.test: the fixture's account may send as a@b.test (conftest SENDER_ALSO)
    assert list(by) == ["example.test", "b.test", "bare.test", "markup.test"], list(by)
    good = by["example.test"]
    assert '<span class="status status-ok">OK</span>' in good, good
    for record in ("mx", "spf", "dkim", "dmarc", "mta-sts", "tls-rpt"):
        assert row(good, record) == "OK", (record, good)
    assert "127.0.0.1 passes" in good and "selector petrel: rsa key, 2048 bits" in good
    assert '<p class="nothing-to-publish">Nothing to publish.</p>' in good
    assert '<table class="publish">' not in good

    bare = by["bare.test"]
    assert '<span class="status status-error">ERROR</span>' in bare, bare
    assert row(bare, "spf") == "ERROR" and row(bare, "dmarc") == "ERROR"
    assert row(bare, "dkim") == "ERROR" and "ERROR: selector petrel: no key at" in bare
    assert ("<tr><td><code>bare.test</code></td><td>TXT</td><td><code>"
            "v=spf1 ip4:127.0.0.1 -all</code></td></tr>") in bare, bare
    assert ("<tr><td><code>_dmarc.bare.test</code></td><td>TXT</td><td><code>"
            "v=DMARC1; p=quarantine; rua=mailto:postmaster@bare.test</code></td></tr>") in bare
    # the DKIM record is this server's key's, p= as `petrel dkim keygen` printed it
    m = re.search(r"<tr><td><code>%s</code></td><td>TXT</td><td><code>([^<]*)</code>"
                  % re.escape(bare_name), bare)
    assert m, bare
    p_published = re.search(r"p=([A-Za-z0-9+/=]+)", m.group(1)).group(1)
    assert p_published == re.search(r"p=([A-Za-z0-9+/=]+)", bare_record).group(1)
    assert '<pre class="zone">bare.test. IN TXT &quot;v=spf1 ip4:127.0.0.1 -all&quot;' in bare
    assert "denied.test" not in body


def test_markup_in_a_record_is_escaped(web):
    secret, _ = login(web)
    status, fields, body = request(web, "GET", PAGE, secret)
    assert status == 200, body
    markup = sections(body)["markup.test"]
    assert "&lt;b&gt;bold&lt;/b&gt;" in markup, markup
    assert "<b>" not in body
    assert row(markup, "spf") == "ERROR", markup
    # no signing key for it: said in the page's words, not check-domain's options
    assert row(markup, "dkim") == "WARN", markup
    assert ("this server has no DKIM signing key for markup.test, so DKIM is not checked:"
            " ask its operator for one") in markup, markup
    assert "--selector" not in body


def test_another_accounts_domain_is_never_shown(web):
    secret, _ = login(web)
    body = request(web, "GET", PAGE, secret)[2]
    assert "secret.test" not in body
    theirs, _ = login(web, OTHER)
    body = request(web, "GET", PAGE, theirs)[2]
    assert list(sections(body)) == ["example.test", "secret.test"]
    assert "bare.test" not in body and "markup.test" not in body


def test_needs_a_session(web):
    status, fields, body = request(web, "GET", PAGE)
    assert status == 303 and fields["location"] == "/login"
    assert "example.test" not in body


def test_timeout_shows_what_came_back(web):
    """slow.test never answers: after [web] domain_check_timeout the page shows
    example.test's check and says slow.test did not answer in time"""
    secret, _ = login(web, SLOW_ACCOUNT)
    start = time.monotonic()
    status, _, body = request(web, "GET", PAGE, secret)
    took = time.monotonic() - start
    assert status == 200, body
    assert TIMEOUT - 0.5 <= took < TIMEOUT + 5, took
    by = sections(body)
    assert '<span class="status status-ok">OK</span>' in by["example.test"], body
    assert "NO ANSWER" in by["slow.test"] and "did not answer in time (3 s)" in by["slow.test"]


def test_client_gone_and_server_stopping_mid_check(web):
    """a client that closes while slow.test's check runs, then a server stopping while
    another one runs: the checks are cancelled with the session (no callback into freed
    memory: the sanitizers' teardown check), and the server still answers between"""
    secret, _ = login(web, SLOW_ACCOUNT)
    raw = ("GET %s HTTP/1.1\r\nHost: x\r\nCookie: petrel_session=%s\r\n\r\n"
           % (PAGE, secret)).encode()
    c = socket.create_connection(("127.0.0.1", web.ports["http"]), timeout=5)
    c.sendall(raw)
    time.sleep(0.5)
    c.close()
    time.sleep(TIMEOUT + 0.5)   # past the page's timer: its answer finds no session
    mine, _ = login(web)
    assert request(web, "GET", PAGE, mine)[0] == 200
    c = socket.create_connection(("127.0.0.1", web.ports["http"]), timeout=5)
    c.sendall(raw)
    time.sleep(0.5)
    assert web.stop() == 0
    c.close()


def test_domain_checks_bounds_a_page(petrel_factory, dns):
    p = server(petrel_factory, resolver="127.0.0.1@%d" % dns.port, special_zones="test",
               domain_checks="1")
    p.cli_ok("sender", "allow", SENDER, "@bare.test")
    p.cli_ok("sender", "allow", SENDER, "@markup.test")
    secret, _ = login(p)
    body = request(p, "GET", PAGE, secret)[2]
    assert list(sections(body)) == ["example.test"], body
    assert '<p id="more-domains">3 more domains are not checked' in body


def test_domain_check_pages_bounds_the_loads_checking_at_once(petrel_factory, dns):
    """[web] domain_check_pages = 1: while slow.test's page checks, another account's
    load is 503 with Retry-After (failed before: 200); once it answered, 200 again"""
    p = server(petrel_factory, resolver="127.0.0.1@%d" % dns.port, special_zones="test",
               domain_check_timeout="%ds" % TIMEOUT, domain_check_pages="1")
    p.cli_ok("sender", "allow", SLOW_ACCOUNT, "@slow.test")
    slow, _ = login(p, SLOW_ACCOUNT)
    mine, _ = login(p)
    raw = ("GET %s HTTP/1.1\r\nHost: x\r\nCookie: petrel_session=%s\r\n\r\n"
           % (PAGE, slow)).encode()
    c = socket.create_connection(("127.0.0.1", p.ports["http"]), timeout=TIMEOUT + 10)
    try:
        c.sendall(raw)
        time.sleep(0.5)   # its checks run (slow.test never answers)
        status, fields, body = request(p, "GET", PAGE, mine)
        assert status == 503, body
        assert fields["retry-after"] == "5"
        assert "Too many domain checks are running" in body
        answer = b""
        while b"</html>" not in answer:
            chunk = c.recv(65536)
            assert chunk, answer[-200:]
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:100]
    finally:
        c.close()
    status, _, body = request(p, "GET", PAGE, mine)
    assert status == 200 and "example.test" in body, body
