"""GET /metrics (src/http/metrics.c, docs/http.md): Prometheus' text exposition format
0.0.4, read with curl and parsed line by line, and with Prometheus' own Python client
(python3-prometheus-client); [http] metrics_from decides who may ask."""

import imaplib
import json
import poplib
import re
import smtplib
import ssl
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import (SENDER, SENDER_PASSWORD, assert_queued, client_tls_context,
                      make_message)
from test_http import curl, exchange, http_server, status_of
from test_proxy_protocol import proxied
from test_queue_ops import deferred_message, dns, make_server, wait_gone  # noqa: F401 (dns: a fixture)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_RE = re.compile(r"^(%s)(?:\{(.*)\})? (\S+)$" % NAME)
LABEL_RE = re.compile(r'^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"$')
COMMENT_RE = re.compile(r"^# (HELP|TYPE) (%s) (.*)$" % NAME)
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_exposition(text):
    """{(name, ((label, value), ...)): float} from TEXT, asserting the format as it goes:
    each family's HELP and TYPE once and before its samples, a known type, no series
    twice, counters named *_total, every line ending in a newline."""
    assert text.endswith("\n")
    types, helps, series = {}, set(), {}
    for line in text[:-1].split("\n"):
        comment = COMMENT_RE.match(line)
        if comment:
            kind, name, rest = comment.groups()
            assert name not in series_names(series), "%s after its samples" % name
            if kind == "TYPE":
                assert name not in types and rest in TYPES, line
                types[name] = rest
            else:
                assert name not in helps and rest, line
                helps.add(name)
            continue
        m = SAMPLE_RE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.groups()
        family = histogram_family(name, types)
        assert family in types, "%s without a preceding TYPE" % name
        assert types[family] != "counter" or name.endswith("_total"), name
        pairs = tuple(LABEL_RE.match(p).groups() for p in labels.split(",")) if labels \
            else ()
        key = (name, pairs)
        assert key not in series, "duplicate series %r" % (key,)
        series[key] = float(value)
    assert set(types) == helps
    return series


def histogram_family(name, types):
    """the histogram NAME's sample belongs to (X of X_bucket, X_sum, X_count), else NAME"""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) == "histogram":
            return base
    return name


def series_names(series):
    return {name for name, _ in series}


def metrics(p, *args):
    status, fields, body = curl(*args, "http://127.0.0.1:%d/metrics" % p.ports["http"])
    return status, fields, body


def scrape(p):
    status, fields, body = metrics(p)
    assert status == 200 and fields["content-type"] == CONTENT_TYPE
    assert int(fields["content-length"]) == len(body)
    return parse_exposition(body.decode())


def test_metrics_parse_and_count_accepted_messages(petrel_factory):
    p = http_server(petrel_factory)
    before = scrape(p)
    accepted = ("petrel_queue_accepted_messages_total", ())
    for key in (accepted, ("petrel_queue_delivered_recipients_total", ()),
                ("petrel_queue_messages", ()), ("petrel_worker_pool_pending_jobs", ()),
                ("petrel_open_sessions", (("protocol", "smtp"),)),
                ("petrel_open_sessions", (("protocol", "http"),))):
        assert key in before, key
    c = p.session()
    for i in range(2):
        assert_queued(c.mail_transaction("a@b.test", ["u@example.test"],
                                         make_message(subject="m%d" % i)))
    during = scrape(p)
    assert during[("petrel_open_sessions", (("protocol", "smtp"),))] == 1
    c.quit()
    after = scrape(p)
    assert after[accepted] - before[accepted] == 2
    assert before[("petrel_open_sessions", (("protocol", "http"),))] == 1  # the scrape


def test_metrics_head_has_no_body(petrel_factory):
    p = http_server(petrel_factory)
    status, fields, body = metrics(p, "-I")
    assert status == 200 and fields["content-type"] == CONTENT_TYPE and body == b""


def test_metrics_refused_outside_metrics_from(petrel_factory):
    p = http_server(petrel_factory, http_metrics_from="127.0.0.2/32")
    status, fields, body = metrics(p)
    assert status == 403 and fields["content-type"] == "application/json"
    assert json.loads(body) == {"errors": [{"message": "access forbidden", "field": None,
                                            "help": None}]}
    status, fields, body = metrics(p, "--interface", "127.0.0.2")
    assert status == 200 and fields["content-type"] == CONTENT_TYPE
    p.wait_log(r"path=/metrics status=403")


def test_metrics_from_checks_the_address_after_a_proxy_header(petrel_factory):
    """the balancer (127.0.0.1) is not in metrics_from: the client its header names is"""
    p, port = proxied(petrel_factory, role="http", http_metrics_from="192.0.2.0/24")
    request = b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    inside = exchange(port, b"PROXY TCP4 192.0.2.1 127.0.0.1 56324 80\r\n" + request)
    assert status_of(inside) == 200
    assert b"\r\nContent-Type: " + CONTENT_TYPE.encode() + b"\r\n" in inside
    parse_exposition(inside.partition(b"\r\n\r\n")[2].decode())
    outside = exchange(port, b"PROXY TCP4 198.51.100.1 127.0.0.1 56324 80\r\n" + request)
    assert status_of(outside) == 403


def test_metrics_count_deferred_and_bounced_recipients(petrel_factory, dns):
    """a remote recipient whose relay port is closed is deferred once (the next try is an
    hour away); `petrel queue bounce` then fails it for good"""
    p = make_server(petrel_factory, dns, roles=("http",))
    deferred = ("petrel_queue_deferred_recipients_total", ())
    bounced = ("petrel_queue_bounced_recipients_total", ())
    before = scrape(p)
    assert before[deferred] == before[bounced] == 0
    qid = deferred_message(p)
    assert scrape(p)[deferred] == 1
    p.cli_ok("queue", "bounce", qid)
    wait_gone(p, qid)
    after = scrape(p)
    assert after[deferred] == 1 and after[bounced] == 1


# ---- read with Prometheus' own parser --------------------------------------------------

HISTOGRAMS = ("petrel_smtp_accept_duration_seconds",
              "petrel_queue_delivery_attempt_duration_seconds")
STATES = ("ready", "delivering", "retrying", "deferred", "held")


def scrape_prometheus(p):
    """{(sample name, frozenset of labels): value} as prometheus_client parses the page,
    after checking each histogram's shape: buckets cumulative in the order of their
    bounds, the last one +Inf, its count the _count"""
    status, fields, body = metrics(p)
    assert status == 200 and fields["content-type"] == CONTENT_TYPE
    samples, types = {}, {}
    for family in text_string_to_metric_families(body.decode()):
        types[family.name] = family.type
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in samples, key
            samples[key] = s.value
        if family.type == "histogram":
            check_histogram(family)
    for name in HISTOGRAMS:
        assert types[name] == "histogram", name
    return samples


def check_histogram(family):
    buckets = [(float(s.labels["le"]), s.value) for s in family.samples
               if s.name == family.name + "_bucket"]
    count = [s.value for s in family.samples if s.name == family.name + "_count"]
    total = [s.value for s in family.samples if s.name == family.name + "_sum"]
    assert len(count) == 1 and len(total) == 1 and len(buckets) > 1, family
    bounds = [b for b, _ in buckets]
    assert bounds == sorted(bounds) and bounds[-1] == float("inf"), bounds
    values = [v for _, v in buckets]
    assert values == sorted(values), (family.name, values)  # cumulative
    assert values[-1] == count[0], (family.name, values[-1], count[0])
    assert total[0] >= 0 and (count[0] == 0) == (total[0] == 0), (family.name, total)


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def moved(before, after, name, **labels):
    return value(after, name, **labels) - value(before, name, **labels)


def wait_metrics(p, ready, timeout=10.0):
    """the scrape for which READY(samples) is true (a worker moves a file before the
    loop learns of it): bounded"""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape_prometheus(p)
        if ready(samples):
            return samples
        assert time.monotonic() < deadline, "metrics never got there:\n%s" % metrics(p)[2]
        time.sleep(0.1)


def queue_states(samples):
    return {s: value(samples, "petrel_queue_state_messages", state=s) for s in STATES}


def test_metrics_after_real_traffic(petrel_factory, dns):
    """smtplib with STARTTLS and a wrong password then the right one (a local delivery),
    imaplib (TLS 1.3) and poplib (TLS 1.2) over TLS with a wrong password, curl with a wrong API key, sendmail
    to a relay that is down (deferred): each moves what it should, and only that"""
    p = make_server(petrel_factory, dns, roles=("http", "imaps", "pop3s"))
    before = scrape_prometheus(p)
    assert queue_states(before) == dict.fromkeys(STATES, 0)

    with smtplib.SMTP(p.host, p.sub, timeout=10) as c:
        c.starttls(context=client_tls_context())
        c.ehlo()
        # one AUTH PLAIN (login() would go on with AUTH LOGIN after the 535)
        c.user, c.password = SENDER, "wrong-" + SENDER_PASSWORD
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.auth("PLAIN", c.auth_plain)
        c.login(SENDER, SENDER_PASSWORD)
        assert c.sendmail(SENDER, ["u@example.test"], make_message(sender=SENDER)) == {}
    p.mail("example.test", "u", 1)
    imap = imaplib.IMAP4_SSL(p.host, p.ports["imaps"], ssl_context=client_tls_context(),
                             timeout=10)
    with pytest.raises(imaplib.IMAP4.error):
        imap.login(SENDER, "wrong-" + SENDER_PASSWORD)
    imap.logout()
    tls12 = client_tls_context(max_version=ssl.TLSVersion.TLSv1_2)
    pop = poplib.POP3_SSL(p.host, p.ports["pop3s"], context=tls12, timeout=10)
    pop.user(SENDER)
    with pytest.raises(poplib.error_proto):
        pop.pass_("wrong-" + SENDER_PASSWORD)
    pop.quit()
    status, _, _ = curl("-H", "Authorization: Bearer SG.wrong.key",
                        "http://127.0.0.1:%d/v3/stats" % p.ports["http"])
    assert status == 401
    qid = deferred_message(p)

    after = wait_metrics(p, lambda s: queue_states(s)["deferred"] == 1 and
                         queue_states(s)["delivering"] == 0)
    assert queue_states(after) == dict(dict.fromkeys(STATES, 0), deferred=1)
    assert moved(before, after, "petrel_queue_accepted_messages_total") == 2
    assert moved(before, after, "petrel_queue_delivered_recipients_total") == 1
    assert moved(before, after, "petrel_queue_deferred_recipients_total") == 1
    assert moved(before, after, "petrel_queue_bounced_recipients_total") == 0
    for protocol, n13, n12 in (("smtp", 1, 0), ("imap", 1, 0), ("pop3", 0, 1),
                               ("http", 0, 0)):
        assert moved(before, after, "petrel_tls_handshakes_total", protocol=protocol,
                     version="TLSv1.3") == n13, protocol
        assert moved(before, after, "petrel_tls_handshakes_total", protocol=protocol,
                     version="TLSv1.2") == n12, protocol
    for protocol in ("smtp", "imap", "pop3", "http"):
        assert moved(before, after, "petrel_auth_failures_total", protocol=protocol) == 1
    # the message over smtplib and the one sendmail handed to the local listener
    assert moved(before, after, "petrel_smtp_accept_duration_seconds_count") == 2
    assert moved(before, after, "petrel_smtp_accept_duration_seconds_sum") > 0
    # the local delivery, the attempt that was deferred
    assert moved(before, after, "petrel_queue_delivery_attempt_duration_seconds_count") == 2
    inf = moved(before, after, "petrel_queue_delivery_attempt_duration_seconds_bucket",
                le="+Inf")
    assert inf == 2

    p.cli_ok("queue", "hold", qid)
    held = wait_metrics(p, lambda s: queue_states(s)["held"] == 1)
    assert queue_states(held) == dict(dict.fromkeys(STATES, 0), held=1)


def test_metrics_count_waiting_messages_on_disk_after_a_restart(petrel_factory, dns):
    """deferred and held messages are counted from queue/defer/ and queue/hold/ when the
    server starts: they are on disk only"""
    p = make_server(petrel_factory, dns, roles=("http",))
    first, second = deferred_message(p), deferred_message(p)
    p.cli_ok("queue", "hold", second)
    wait_metrics(p, lambda s: queue_states(s)["held"] == 1)
    p.restart()
    after = scrape_prometheus(p)
    assert queue_states(after) == dict(dict.fromkeys(STATES, 0), deferred=1, held=1)
    p.cli_ok("queue", "delete", first)
    gone = wait_metrics(p, lambda s: queue_states(s)["deferred"] == 0)
    assert queue_states(gone) == dict(dict.fromkeys(STATES, 0), held=1)
