"""SendGrid v3's GET /v3/stats (src/http/stats.c, docs/http.md) with curl: the key's
account's events counted by day, week or month, and a bad query refused in SendGrid's
error shape."""

import json
import subprocess
import time

from conftest import SENDER, add_listeners
from peers import dns_factory, mx_port, sink_factory  # noqa: F401 (fixtures)
from test_accounts import wait_events
from test_http_send import add_key, request, send
from test_queue_ops import dns, make_server, wait_gone  # noqa: F401 (dns: a fixture)
from test_relay import message, relay_petrel, submit


def stats(p, key, query):
    out = subprocess.run(["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}",
                          "-H", "Authorization: Bearer " + key,
                          "http://127.0.0.1:%d/v3/stats?%s" % (p.ports["http"], query)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    body, _, status = out.stdout.rpartition("\n")
    return int(status), json.loads(body)


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


def test_stats_count_requests_deliveries_deferrals_and_bounces(petrel_factory, dns):
    """two messages to a local mailbox, one to a remote address whose relay port is
    closed (deferred once), then bounced with `petrel queue bounce`"""
    p = make_server(petrel_factory, dns, roles=("http",))
    send_key, stats_key = add_key(p, "mail.send"), add_key(p, "stats.read")
    for _ in range(2):
        assert send(p, request(), send_key)[0] == 202
    status, fields, _ = send(p, request(personalizations=[
        {"to": [{"email": "x@remote.test"}]}]), send_key)
    assert status == 202
    remote = fields["x-message-id"]
    wait_events(p, lambda e: e["type"] == "deferred" and e["queue_id"] == remote)
    p.cli_ok("queue", "bounce", remote)
    wait_gone(p, remote)
    wait_events(p, lambda e: e["type"] == "bounced", 1)
    wait_events(p, lambda e: e["type"] == "delivered", 2)
    status, answer = stats(p, stats_key, "start_date=" + today())
    assert status == 200, answer
    [entry] = answer
    assert entry["date"] == today()
    [metrics] = [s["metrics"] for s in entry["stats"]]
    assert metrics["requests"] == metrics["processed"] == 3
    assert metrics["delivered"] == 2 and metrics["deferred"] == 1
    assert metrics["bounces"] == 1 and metrics["blocks"] == 0 and metrics["opens"] == 0


def test_stats_buckets_by_day_week_and_month(petrel_factory, dns):
    p = make_server(petrel_factory, dns, roles=("http",))
    key = add_key(p, "stats.read")
    status, days = stats(p, key, "start_date=2026-11-28&end_date=2026-12-02")
    assert status == 200
    assert [d["date"] for d in days] == ["2026-11-28", "2026-11-29", "2026-11-30",
                                         "2026-12-01", "2026-12-02"]
    assert all(d["stats"][0]["metrics"]["requests"] == 0 for d in days)
    # 2026-11-30 is a Monday: the first week starts on the range's first day
    status, weeks = stats(p, key, "start_date=2026-11-28&end_date=2026-12-08"
                          "&aggregated_by=week")
    assert [w["date"] for w in weeks] == ["2026-11-28", "2026-11-30", "2026-12-07"]
    status, months = stats(p, key, "start_date=2026-11-28&end_date=2027-01-02"
                           "&aggregated_by=month")
    assert [m["date"] for m in months] == ["2026-11-28", "2026-12-01", "2027-01-01"]


def test_stats_refusals(petrel_factory, dns):
    p = make_server(petrel_factory, dns, roles=("http",))
    key = add_key(p, "stats.read")
    for query, field in [("", "start_date"), ("start_date=2026-02-30", "start_date"),
                         ("start_date=26-12-01", "start_date"),
                         ("start_date=2026-12-05&end_date=2026-12-04", "end_date"),
                         ("start_date=2020-01-01&end_date=2026-01-01", "end_date"),
                         ("start_date=2026-12-01&aggregated_by=year", "aggregated_by")]:
        status, answer = stats(p, key, query)
        assert status == 400, query
        [error] = answer["errors"]
        assert error["field"] == field and error["message"], (query, answer)
    status, answer = stats(p, add_key(p, "mail.send"), "start_date=2026-12-01")
    assert status == 403 and answer["errors"][0]["message"] == "access forbidden"


def test_stats_count_drops_by_list_and_blocks_apart_from_bounces(
        petrel_factory, dns_factory, mx_port, sink_factory):
    """one message to an address on each of the bounces, unsubscribes and spam_reports
    lists (three drops), and to one the relay refuses with 550 5.7.1 (a block, and not a
    bounce)"""
    dns = dns_factory(mx=[("remote.test", "mx1.remote.test", 10)],
                      hosts=[("mx1.remote.test", "127.0.0.2")])
    sink_factory("127.0.0.2", mx_port, "-f", "RCPT", "-B", "550 5.7.1 refused by policy")
    p = relay_petrel(petrel_factory, dns, mx_port, start=False, retry_initial=3600,
                     retry_max=3600)
    add_listeners(p, "http")
    p.start()
    key = add_key(p, "stats.read")
    for address, kind in (("b@remote.test", "bounces"), ("u@remote.test", "unsubscribes"),
                          ("s@remote.test", "spam_reports")):
        p.cli_ok("suppression", "add", SENDER, address, "--type", kind)
    rcpts = ["b@remote.test", "u@remote.test", "s@remote.test", "gone@remote.test"]
    data, _ = message("gone@remote.test")
    qid = submit(p, rcpts, data)
    wait_events(p, lambda e: e["type"] in ("dropped", "bounced") and e["queue_id"] == qid, 4)
    status, answer = stats(p, key, "start_date=" + today())
    assert status == 200, answer
    [metrics] = [s["metrics"] for s in answer[0]["stats"]]
    assert metrics["bounce_drops"] == metrics["unsubscribe_drops"] == 1, metrics
    assert metrics["spam_report_drops"] == 1, metrics
    assert metrics["blocks"] == 1 and metrics["bounces"] == 0, metrics
    assert metrics["requests"] == 1 and metrics["delivered"] == 0, metrics


def get(p, key, path):
    """GET PATH with curl: status, parsed body"""
    out = subprocess.run(["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}",
                          "-H", "Authorization: Bearer " + key,
                          "http://127.0.0.1:%d%s" % (p.ports["http"], path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    body, _, status = out.stdout.rpartition("\n")
    return int(status), json.loads(body)


def test_category_stats_sums_and_list(petrel_factory, dns):
    """/v3/categories/stats, /stats/sums and /v3/categories (failed before: 404): the
    account's messages counted by the categories they were sent with; another
    account's category counts nothing; a name shaped like SQL is only a name"""
    p = make_server(petrel_factory, dns, roles=("http",))
    send_key = add_key(p, "mail.send")
    stats_key = add_key(p, "categories.stats.read")
    sums_key = add_key(p, "categories.stats.sums.read")
    list_key = add_key(p, "categories.read")
    sql = "x' OR '1'='1"
    for _ in range(2):
        assert send(p, request(categories=["news", sql]), send_key)[0] == 202
    assert send(p, request(categories=["weekly"]), send_key)[0] == 202
    other = "other@example.test"
    p.cli_ok("account", "add", other, "--password-stdin", input="other-pw-1\n")
    other_key = p.cli_ok("apikey", "add", other, "--scope", "mail.send", "--scope",
                         "categories.read").stdout.strip()
    assert send(p, request(categories=["news", "shared"], **{"from": {"email": other}}),
                other_key)[0] == 202
    wait_events(p, lambda e: e["type"] == "delivered", 4)

    quoted = "x%27+OR+%271%27%3D%271"
    status, answer = get(p, stats_key, "/v3/categories/stats?start_date=%s&categories=news"
                         "&categories=%s&categories=shared&categories=news" % (today(), quoted))
    assert status == 200, answer
    [entry] = answer
    assert entry["date"] == today()
    assert [(s["type"], s["name"]) for s in entry["stats"]] == [
        ("category", "news"), ("category", sql), ("category", "shared")], entry
    news, injected, shared = [s["metrics"] for s in entry["stats"]]
    assert news["requests"] == news["processed"] == 2 and news["delivered"] == 2, news
    assert injected == news, injected
    assert set(shared.values()) == {0}, shared          # the other account's
    assert set(news) == set(stats(p, add_key(p, "stats.read"),
                                  "start_date=" + today())[1][0]["stats"][0]["metrics"])
    status, weeks = get(p, stats_key, "/v3/categories/stats?start_date=2026-11-28"
                        "&end_date=2026-12-08&aggregated_by=week&categories=weekly")
    assert status == 200 and [w["date"] for w in weeks] == [
        "2026-11-28", "2026-11-30", "2026-12-07"], weeks

    for query, field in [("start_date=%s" % today(), "categories"),
                         ("categories=news", "start_date"),
                         ("start_date=2026-02-30&categories=news", "start_date"),
                         ("start_date=%s&categories=" % today(), "categories"),
                         ("start_date=%s&%s" % (today(), "&".join(
                             "categories=c%d" % i for i in range(11))), "categories")]:
        status, answer = get(p, stats_key, "/v3/categories/stats?" + query)
        assert status == 400, (query, answer)
        assert answer["errors"][0]["field"] == field, (query, answer)
    assert get(p, send_key, "/v3/categories/stats?start_date=%s&categories=news"
               % today())[0] == 403

    status, sums = get(p, sums_key, "/v3/categories/stats/sums?start_date=" + today())
    assert status == 200 and sums["date"] == today(), sums
    assert [s["name"] for s in sums["stats"]] == ["news", sql, "weekly"], sums
    assert sums["stats"][2]["metrics"]["delivered"] == 1, sums
    status, sums = get(p, sums_key, "/v3/categories/stats/sums?start_date=%s&limit=1"
                       "&offset=1&sort_by_metric=requests&sort_by_direction=asc" % today())
    assert status == 200 and [s["name"] for s in sums["stats"]] == ["news"], sums
    assert get(p, sums_key, "/v3/categories/stats/sums?start_date=%s&sort_by_metric=x"
               % today())[0] == 400

    status, names = get(p, list_key, "/v3/categories")
    assert status == 200 and names == [{"category": c} for c in ["news", "weekly", sql]], names
    assert get(p, list_key, "/v3/categories?category=we")[1] == [{"category": "weekly"}]
    assert get(p, list_key, "/v3/categories?limit=1&offset=2")[1] == [{"category": sql}]
    assert get(p, list_key, "/v3/categories?limit=x")[0] == 400
    assert get(p, other_key, "/v3/categories")[1] == [{"category": "news"},
                                                     {"category": "shared"}]
