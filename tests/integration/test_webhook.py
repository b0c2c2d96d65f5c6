"""The event webhook (issue 12 item 6, docs/http.md "Event webhook"): its settings over
SendGrid's /v3/user/webhooks/event/settings, kept per account in the store."""

import json
import subprocess

from conftest import add_listeners
from test_suppression import add_key, call

SETTINGS = "/v3/user/webhooks/event/settings"
EVENTS = ["processed", "delivered", "deferred", "bounce", "dropped", "open", "click",
          "spam_report", "unsubscribe", "group_unsubscribe", "group_resubscribe"]


def http_petrel(petrel_factory, **overrides):
    p = petrel_factory(start=False, **overrides)
    add_listeners(p, "http")
    p.start()
    return p


def test_settings_read_update_and_kept_across_a_restart(petrel_factory):
    p = http_petrel(petrel_factory)
    key = add_key(p, "user.webhooks.event.settings.read", "user.webhooks.event.settings.update")
    status, _, body = call(p, "GET", SETTINGS, key)
    assert status == 200, body
    assert body == dict({"enabled": False, "url": ""}, **{e: False for e in EVENTS}), body

    status, _, body = call(p, "PATCH", SETTINGS, key,
                           {"enabled": True, "url": "https://hooks.example.net/sg?x=1",
                            "delivered": True, "bounce": True, "friendly_name": "mine"})
    assert status == 200, body
    assert body["enabled"] is True and body["url"] == "https://hooks.example.net/sg?x=1"
    assert [e for e in EVENTS if body[e]] == ["delivered", "bounce"], body
    # a PATCH changes what it names only
    status, _, body = call(p, "PATCH", SETTINGS, key, {"bounce": False, "processed": True})
    assert status == 200 and [e for e in EVENTS if body[e]] == ["processed", "delivered"]
    assert body["url"] == "https://hooks.example.net/sg?x=1" and body["enabled"] is True

    p.restart()
    status, _, again = call(p, "GET", SETTINGS, key)
    assert status == 200 and again == body, again


def test_settings_refusals(petrel_factory):
    p = http_petrel(petrel_factory)
    read = add_key(p, "user.webhooks.event.settings.read")
    send = add_key(p, "mail.send")
    full = add_key(p, "user.webhooks.event.settings.read", "user.webhooks.event.settings.update")

    assert call(p, "GET", SETTINGS)[0] == 401
    assert call(p, "GET", SETTINGS, "SG.not-a-key")[0] == 401
    assert call(p, "GET", SETTINGS, send)[0] == 403
    assert call(p, "PATCH", SETTINGS, read, {"enabled": False})[0] == 403
    status, fields, _ = call(p, "PUT", SETTINGS, full, {"enabled": False})
    assert status == 405 and fields["allow"] == "GET, HEAD, PATCH", fields
    assert call(p, "DELETE", SETTINGS, full)[0] == 405

    for bad, field in [({"enabled": "yes"}, "enabled"), ({"delivered": 1}, "delivered"),
                       ({"enabled": True}, "url"),
                       ({"url": "http://hooks.example.net/"}, "url"),
                       ({"url": "ftp://hooks.example.net/"}, "url"),
                       ({"url": "https://user@hooks.example.net/"}, "url"),
                       ([True], None)]:
        status, _, body = call(p, "PATCH", SETTINGS, full, bad)
        assert status == 400, (bad, status, body)
        assert body["errors"][0]["message"], body
        assert body["errors"][0].get("field") == field, (bad, body)
    # not JSON at all
    status, _, body = call_raw(p, "PATCH", SETTINGS, full, b'{"enabled": tru')
    assert status == 400 and body["errors"][0]["message"], body
    # nothing was changed by the refusals
    status, _, body = call(p, "GET", SETTINGS, full)
    assert body["enabled"] is False and body["url"] == "", body
    # http:// only to a loopback address
    status, _, body = call(p, "PATCH", SETTINGS, full,
                           {"enabled": True, "url": "http://127.0.0.9:8080/in"})
    assert status == 200 and body["url"] == "http://127.0.0.9:8080/in", body


def call_raw(p, method, path, key, data):
    """METHOD PATH with DATA as the body, as it is (call() sends JSON)"""
    args = ["curl", "-sS", "-i", "--max-time", "20", "-X", method,
            "-H", "Authorization: Bearer " + key, "-H", "Content-Type: application/json",
            "--data-binary", "@-", "http://127.0.0.1:%d%s" % (p.ports["http"], path)]
    out = subprocess.run(args, input=data, capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    head, _, rest = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return int(lines[0].split()[1]), lines[1:], json.loads(rest) if rest else None
