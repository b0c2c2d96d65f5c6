"""Scheduled sending: SendGrid's send_at on POST /v3/mail/send (docs/http.md
"Scheduled sending"). The message is durable at once but the queue does not try it
before its time, across a restart; `petrel queue list/show` call it scheduled."""

import json
import time

from conftest import list_mail, wait_mail
from test_http_send import add_key, api, fields_of, request, send  # noqa: F401 (fixture)

LEAD = 15  # seconds ahead: room for the checks and a restart on a busy machine


def queue_json(p, *args):
    return json.loads(p.cli_ok("queue", *args, "--json").stdout)


def scheduled(p, qid):
    shown = queue_json(p, "show", qid)
    return shown["state"], shown["send_at_unix"]


def test_not_sent_before_its_time_even_across_a_restart(api):
    key = add_key(api, "mail.send")
    at = int(time.time()) + LEAD
    status, fields, answer = send(api, request(send_at=at), key)
    assert status == 202, answer
    qid = fields["x-message-id"]
    assert scheduled(api, qid) == ("scheduled", at)
    listed = api.cli_ok("queue", "list").stdout
    assert qid in listed and "scheduled" in listed
    # a flush does not send it early
    api.cli_ok("queue", "flush")
    api.restart()
    if time.time() < at - 1:
        assert scheduled(api, qid) == ("scheduled", at)
    while time.time() < at - 0.5:
        assert list_mail(api.data_dir, "example.test", "u") == [], "sent before send_at"
        time.sleep(0.2)
    wait_mail(api.data_dir, "example.test", "u", 1, timeout=LEAD + 10)
    # written once its time had come, whatever the checks above saw
    delivered = list_mail(api.data_dir, "example.test", "u")[0].stat().st_mtime
    assert delivered >= at, "delivered %.1fs before send_at" % (at - delivered)


def test_personalization_send_at_over_the_request(api):
    key = add_key(api, "mail.send")
    now = int(time.time())
    body = request(send_at=now - 60,
                   personalizations=[{"to": [{"email": "u@example.test"}]},
                                     {"to": [{"email": "v@example.test"}],
                                      "send_at": now + 3600}])
    status, _, answer = send(api, body, key)
    assert status == 202, answer
    wait_mail(api.data_dir, "example.test", "u", 1)  # a time past: sent now
    assert list_mail(api.data_dir, "example.test", "v") == []
    waiting = queue_json(api, "list")
    assert [m["state"] for m in waiting] == ["scheduled"]
    assert waiting[0]["send_at_unix"] == now + 3600
    # --state scheduled picks it; deferred and new, the folders it waits in, do not
    assert queue_json(api, "list", "--state", "scheduled") == waiting
    assert queue_json(api, "list", "--state", "deferred") == []
    assert queue_json(api, "list", "--state", "new") == []


def test_too_far_ahead_is_400(api):
    key = add_key(api, "mail.send")
    status, _, answer = send(api, request(
        personalizations=[{"to": [{"email": "u@example.test"}],
                           "send_at": int(time.time()) + 72 * 3600 + 60}]), key)
    assert status == 400 and fields_of(answer) == ["personalizations.0.send_at"]
    assert answer["errors"][0]["message"] == \
        "The send_at parameter cannot be more than 72 hours in the future."
    status, _, answer = send(api, request(send_at="tomorrow"), key)
    assert status == 400 and fields_of(answer) == ["send_at"]
    assert queue_json(api, "list") == []
