"""DMARC aggregate reports (RFC 7489 7.2): evaluations kept in the store become one report
per policy domain and day; `petrel dmarc report` prints them (the XML read back with
xml.etree), `--send` has the running server mail them through the queue to each rua=
address (here local mailboxes of example.test), an external destination only when its
<domain>._report._dmarc.<destination> TXT record consents (7.1, served by a dnslib
zone), none over its "!size" limit, each once; [auth] dmarc_reports = daily does the same
by itself.

The evaluations are written into petrel.db with sqlite3, as the receiving session
records them, dated yesterday (UTC).
"""

import email
import email.policy
import gzip
import json
import sqlite3
import time
import xml.etree.ElementTree as ET

import pytest

from spf_dns import ZoneServer

DAY = 86400
POLICY = "p=reject; sp=quarantine; adkim=r; aspf=s; pct=100; fo=1"

# (policy domain, rua, evaluations); an evaluation: (source ip, envelope from, spf result,
# spf aligned, dkim lines, dkim aligned, disposition, override)
SCENARIO = [
    ("example.test", "mailto:u@example.test!10m", [
        ("192.0.2.1", "example.test", "pass", True, "example.test s1 pass", True, "none", None),
        ("192.0.2.1", "example.test", "pass", True, "example.test s1 pass", True, "none", None),
        ("192.0.2.1", "example.test", "pass", True, "example.test s1 pass", True, "none", None),
        ("198.51.100.9", "", "fail", False, "", False, "reject", None),
        ("198.51.100.10", "evil.test", "softfail", False, "evil.test x pass", False,
         "quarantine", "sampled_out"),
    ]),
    # an external destination that consents, one that does not, one too small
    ("ext.test", "mailto:v@example.test", [
        ("203.0.113.5", "ext.test", "pass", True, "", False, "none", None)]),
    ("noconsent.test", "mailto:w@example.test", [
        ("203.0.113.6", "noconsent.test", "pass", True, "", False, "none", None)]),
    ("big.test", "mailto:x@big.test!1k", [
        ("203.0.113.7", "big.test", "pass", True, "", False, "none", None)]),
]
ZONE = {"ext.test._report._dmarc.example.test": [{"TXT": "v=DMARC1"}]}


def yesterday():
    now = int(time.time())
    return now - now % DAY - DAY


def add_evaluations(p, begin):
    r = p.cli("domain", "list")          # opens the store: schema up to date
    assert r.returncode == 0, r.stdout + r.stderr
    db = sqlite3.connect(str(p.data_dir / "petrel.db"))
    for domain, rua, evals in SCENARIO:
        for i, (ip, env, spf, spf_al, dkim, dkim_al, disp, override) in enumerate(evals):
            db.execute("INSERT INTO dmarc_evaluations (time, policy_domain, source_ip,"
                       " header_from, envelope_from, spf_domain, spf_result, dkim,"
                       " spf_aligned, dkim_aligned, disposition, policy, rua, override)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (begin + 3600 + i, domain, ip, domain, env, env or "helo." + domain,
                        spf, dkim, int(spf_al), int(dkim_al), disp, POLICY, rua, override))
    # one from the day before and one from today: in neither report
    for t in (begin - 10, begin + DAY):
        db.execute("INSERT INTO dmarc_evaluations (time, policy_domain, source_ip,"
                   " header_from, envelope_from, spf_domain, spf_result, dkim, spf_aligned,"
                   " dkim_aligned, disposition, policy, rua) VALUES (?, 'example.test',"
                   " '192.0.2.99', 'example.test', '', 'x', 'pass', '', 0, 0, 'none', ?, ?)",
                   (t, POLICY, "mailto:u@example.test"))
    db.commit()
    db.close()


def day_text(begin):
    return time.strftime("%Y-%m-%d", time.gmtime(begin))


def check_example_xml(text, begin):
    root = ET.fromstring(text)
    meta = root.find("report_metadata")
    assert meta.findtext("org_name") == "Petrel Test Org"
    assert meta.findtext("email") == "dmarc-reports@example.test"
    assert meta.findtext("report_id")
    assert int(meta.findtext("date_range/begin")) == begin
    assert int(meta.findtext("date_range/end")) == begin + DAY - 1
    pol = root.find("policy_published")
    assert [(c.tag, c.text) for c in pol] == [
        ("domain", "example.test"), ("adkim", "r"), ("aspf", "s"), ("p", "reject"),
        ("sp", "quarantine"), ("pct", "100"), ("fo", "1")]
    records = root.findall("record")
    by_ip = {r.findtext("row/source_ip"): r for r in records}
    assert sorted(by_ip) == ["192.0.2.1", "198.51.100.10", "198.51.100.9"], text
    ok = by_ip["192.0.2.1"]
    assert ok.findtext("row/count") == "3"
    assert ok.findtext("row/policy_evaluated/disposition") == "none"
    assert ok.findtext("row/policy_evaluated/dkim") == "pass"
    assert ok.findtext("row/policy_evaluated/spf") == "pass"
    assert ok.findtext("identifiers/header_from") == "example.test"
    assert ok.findtext("auth_results/dkim/selector") == "s1"
    assert ok.findtext("auth_results/spf/scope") == "mfrom"
    bad = by_ip["198.51.100.9"]
    assert bad.findtext("row/count") == "1"
    assert bad.findtext("row/policy_evaluated/disposition") == "reject"
    assert bad.findtext("row/policy_evaluated/dkim") == "fail"
    assert bad.findtext("identifiers/envelope_from") == ""
    assert bad.find("auth_results/dkim") is None
    assert bad.findtext("auth_results/spf/scope") == "helo"
    assert bad.findtext("auth_results/spf/domain") == "helo.example.test"
    assert bad.findtext("auth_results/spf/result") == "fail"
    sampled = by_ip["198.51.100.10"]
    assert sampled.findtext("row/policy_evaluated/reason/type") == "sampled_out"
    assert sampled.findtext("auth_results/dkim/domain") == "evil.test"


@pytest.fixture
def zone():
    server = ZoneServer(ZONE)
    yield server
    server.close()


def make(petrel_factory, zone, **kw):
    return petrel_factory(start=False, resolver="127.0.0.1@%d" % zone.port,
                          special_zones="test", report_org_name="Petrel Test Org",
                          report_email="dmarc-reports@example.test", **kw)


def report_attachment(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert not msg.defects, msg.defects
    assert msg["From"] == "<dmarc-reports@example.test>" or \
        "dmarc-reports@example.test" in msg["From"]
    parts = [p for p in msg.iter_attachments()]
    assert len(parts) == 1 and parts[0].get_content_type() == "application/gzip", msg
    return msg, parts[0].get_filename(), gzip.decompress(parts[0].get_content())


def test_report_printed(petrel_factory, zone):
    p = make(petrel_factory, zone)
    begin = yesterday()
    add_evaluations(p, begin)
    r = p.cli_ok("dmarc", "report", "--date", day_text(begin), "--json")
    reports = {x["domain"]: x for x in json.loads(r.stdout)}
    assert sorted(reports) == ["big.test", "example.test", "ext.test", "noconsent.test"]
    ex = reports["example.test"]
    assert (ex["messages"], ex["records"], ex["rua"]) == (5, 3, ["u@example.test"]), ex
    assert ex["filename"] == "mx.petrel.test!example.test!%d!%d.xml.gz" % (begin,
                                                                          begin + DAY - 1)
    check_example_xml(ex["xml"], begin)
    r = p.cli_ok("dmarc", "report", "--date", day_text(begin), "--domain", "example.test",
                 "--xml")
    check_example_xml(r.stdout, begin)
    r = p.cli_ok("dmarc", "report", "--date", day_text(begin))
    assert "%s example.test: 5 messages, 3 records" % day_text(begin) in r.stdout, r.stdout
    assert r.stdout.strip().endswith("4 reports for %s" % day_text(begin)), r.stdout
    # the day before holds one evaluation only
    r = p.cli_ok("dmarc", "report", "--date", day_text(begin - DAY), "--json")
    assert [x["messages"] for x in json.loads(r.stdout)] == [1]
    assert p.cli("dmarc", "report", "--date", "yesterday").returncode == 2


def test_report_sent_through_the_queue(petrel_factory, zone):
    p = make(petrel_factory, zone)
    begin = yesterday()
    add_evaluations(p, begin)
    p.start()
    r = p.cli_ok("dmarc", "report", "--send", "--date", day_text(begin))
    assert "4 reports, 2 messages queued, 1 refused by their destination, " \
        "1 over its size limit, 0 failed" in r.stdout, r.stdout
    # the local destination and the consenting external one
    msg, name, xml_text = report_attachment(p.mail("example.test", "u", 1)[0])
    assert name == "mx.petrel.test!example.test!%d!%d.xml.gz" % (begin, begin + DAY - 1)
    assert msg["Subject"].startswith("Report Domain: example.test Submitter: Petrel Test Org "
                                      "Report-ID: <"), msg["Subject"]
    check_example_xml(xml_text, begin)
    msg, name, xml_text = report_attachment(p.mail("example.test", "v", 1)[0])
    assert ET.fromstring(xml_text).findtext("policy_published/domain") == "ext.test"
    assert p.mailbox("example.test", "w") == []
    log = p.log()
    assert "to=<w@example.test> result=refused" in log, log[-3000:]
    assert "to=<x@big.test> result=too-big" in log
    # made once: asking again sends nothing
    r = p.cli_ok("dmarc", "report", "--send", "--date", day_text(begin))
    assert "0 reports, 0 messages queued" in r.stdout, r.stdout
    assert len(p.mail("example.test", "u", 1)) == 1


def test_daily_setting(petrel_factory, zone):
    p = make(petrel_factory, zone, dmarc_reports="daily")
    begin = yesterday()
    add_evaluations(p, begin)
    p.start()
    msg, name, xml_text = report_attachment(p.mail("example.test", "u", 1, timeout=30)[0])
    check_example_xml(xml_text, begin)
    assert "dmarc-report-done" in p.wait_log("dmarc-report-done")


RECEIVE_ZONE = {
    "rua.test": [{"TXT": "v=spf1 ip4:127.0.0.0/8 -all"}],
    "_dmarc.rua.test": [{"TXT": "v=DMARC1; p=reject; aspf=r; rua=mailto:u@example.test!5m"}],
    "other.test": [{"TXT": "v=spf1 -all"}],
    # no rua=: nothing is kept
    "norua.test": [{"TXT": "v=spf1 ip4:127.0.0.0/8 -all"}],
    "_dmarc.norua.test": [{"TXT": "v=DMARC1; p=none"}],
}


def test_received_mail_recorded(petrel_factory):
    """The mx listener's DMARC evaluations of domains with rua= are kept (verify.c's call
    site), refused mail included, and make today's report."""
    import smtplib
    server = ZoneServer(RECEIVE_ZONE)
    try:
        p = petrel_factory(resolver="127.0.0.1@%d" % server.port, special_zones="test",
                           timeout=2)

        def send(mail_from, from_domain):
            msg = ("From: <a@%s>\r\nTo: <u@example.test>\r\nSubject: r\r\n"
                   "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <%d@x.test>\r\n\r\n"
                   "Hi.\r\n" % (from_domain, time.monotonic_ns()))
            with smtplib.SMTP("127.0.0.1", p.mx, timeout=30) as c:
                try:
                    c.sendmail(mail_from, ["u@example.test"], msg.encode())
                    return 250
                except smtplib.SMTPDataError as e:
                    return e.smtp_code

        assert send("a@rua.test", "rua.test") == 250
        assert send("b@rua.test", "rua.test") == 250
        assert send("c@other.test", "rua.test") == 550      # DMARC fail, p=reject
        assert send("a@norua.test", "norua.test") == 250
        today = int(time.time()) // DAY * DAY
        deadline = time.monotonic() + 20
        while True:
            r = p.cli_ok("dmarc", "report", "--date", day_text(today), "--json")
            reports = json.loads(r.stdout)
            if reports and reports[0]["messages"] >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert [x["domain"] for x in reports] == ["rua.test"], reports
        rep = reports[0]
        assert rep["messages"] == 3 and rep["rua"] == ["u@example.test"], rep
        root = ET.fromstring(rep["xml"])
        pol = root.find("policy_published")
        assert (pol.findtext("p"), pol.findtext("aspf"), pol.findtext("pct")) == \
            ("reject", "r", "100")
        rows = {r.findtext("row/policy_evaluated/disposition"): r
                for r in root.findall("record")}
        assert sorted(rows) == ["none", "reject"], rep["xml"]
        ok = rows["none"]
        assert ok.findtext("row/count") == "2"
        assert ok.findtext("row/source_ip") == "127.0.0.1"
        assert ok.findtext("row/policy_evaluated/spf") == "pass"
        assert ok.findtext("identifiers/envelope_from") == "rua.test"
        assert ok.findtext("auth_results/spf/result") == "pass"
        bad = rows["reject"]
        assert bad.findtext("row/count") == "1"
        assert bad.findtext("row/policy_evaluated/spf") == "fail"
        assert bad.findtext("identifiers/envelope_from") == "other.test"
        assert bad.findtext("identifiers/header_from") == "rua.test"
        assert bad.findtext("auth_results/spf/result") == "fail"
    finally:
        server.close()
