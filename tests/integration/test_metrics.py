"""GET /metrics (src/http/metrics.c, docs/http.md): Prometheus' text exposition format
0.0.4, read with curl and parsed line by line; [http] metrics_from decides who may ask."""

import json
import re

from conftest import assert_queued, make_message
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
        assert name in types, "%s without a preceding TYPE" % name
        assert types[name] != "counter" or name.endswith("_total"), name
        pairs = tuple(LABEL_RE.match(p).groups() for p in labels.split(",")) if labels \
            else ()
        key = (name, pairs)
        assert key not in series, "duplicate series %r" % (key,)
        series[key] = float(value)
    assert set(types) == helps
    return series


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
