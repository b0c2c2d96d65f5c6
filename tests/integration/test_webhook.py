"""The event webhook (issue 12 item 6, docs/http.md "Event webhook"): its settings over
SendGrid's /v3/user/webhooks/event/settings, kept per account in the store; the events
posted in batches to a receiver (a small HTTP server in this file, on 127.0.0.21-23),
retried on failure, never slowing delivery.  Postfix's smtp-sink plays the remote MX."""

import base64
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import HOSTNAME, SENDER, add_listeners
from peers import dns_factory, mx_port, sink_factory, wait_until  # noqa: F401
from test_relay import message, relay_petrel, submit, wait_sender_mail
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


# --------------------------------------------------------------------------- dispatcher

class Receiver:
    """An HTTP server on HOST that records each POST (headers, body) and answers the
    next of CODES, then 200."""

    def __init__(self, host, codes=()):
        self.posts = []
        self.codes = list(codes)
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    code = receiver.codes.pop(0) if receiver.codes else 200
                    receiver.posts.append((dict(self.headers), body, code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = "http://%s:%d/events" % (host, self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self):
        """the events of the batches answered 2xx, in order"""
        with self.lock:
            return [e for _, body, code in self.posts if code < 300 for e in json.loads(body)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(host, codes=()):
        r = Receiver(host, codes)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def webhook_section(p, **keys):
    """[webhook] settings appended to P's configuration (P not started yet)"""
    with open(p.config_path, "a") as f:
        f.write("\n[webhook]\n" + "".join("%s = %s\n" % kv for kv in keys.items()))


def enable_webhook(p, url):
    key = add_key(p, "user.webhooks.event.settings.update")
    status, _, body = call(p, "PATCH", SETTINGS, key, dict(
        {"enabled": True, "url": url}, **{e: True for e in EVENTS}))
    assert status == 200, body


def bouncing_petrel(petrel_factory, dns_factory, mx_port, sink_factory):
    """A Petrel with an http listener whose remote.test MX refuses every recipient"""
    dns = dns_factory(mx=[("remote.test", "mx1.remote.test", 10)],
                      hosts=[("mx1.remote.test", "127.0.0.2")])
    sink_factory("127.0.0.2", mx_port, "-f", "RCPT", "-B", "550 5.1.1 no such user")
    p = relay_petrel(petrel_factory, dns, mx_port, start=False, retry_initial=3600,
                     retry_max=3600)
    add_listeners(p, "http")
    webhook_section(p, interval=1, retry_initial=1, retry_max=2, timeout=2)
    p.start()
    return p


def test_events_posted_retried_once_and_not_repeated_after_a_restart(
        petrel_factory, dns_factory, mx_port, sink_factory, receiver_factory):
    p = bouncing_petrel(petrel_factory, dns_factory, mx_port, sink_factory)
    r = receiver_factory("127.0.0.21", codes=[500])
    enable_webhook(p, r.url)
    # one message to a remote recipient that bounces and to the sender itself
    gone = "gone@remote.test"
    data, _ = message(gone)
    qid = submit(p, [gone, SENDER], data)
    wait_sender_mail(p, 2, timeout=15, settle=0)   # the message and the bounce's DSN
    wait_until(lambda: {"processed", "delivered", "bounce"}
               <= {e["event"] for e in r.accepted()}, 20, 0.2, "the events at the receiver")
    # the first post was answered 500, and its events came again in a later one
    assert r.posts[0][2] == 500, r.posts
    first = json.loads(r.posts[0][1])
    events = r.accepted()
    ids = [e["sg_event_id"] for e in events]
    assert len(ids) == len(set(ids)), events                 # each once
    assert {e["sg_event_id"] for e in first} <= set(ids), (first, events)
    mine = [e for e in events if e.get("sg_message_id") == qid]
    bounce = [e for e in mine if e["event"] == "bounce"]
    assert len(bounce) == 1 and bounce[0]["email"] == gone, mine
    assert bounce[0]["status"] == "5.1.1" and "no such user" in bounce[0]["reason"], bounce
    assert bounce[0]["type"] == "bounce", bounce
    assert bounce[0]["smtp-id"] == "<%s@%s>" % (qid, HOSTNAME), bounce
    delivered = [e for e in mine if e["event"] == "delivered"]
    assert [e["email"] for e in delivered] == [SENDER], mine
    # one "processed" per recipient, each with its address and an id of its own
    processed = [e for e in mine if e["event"] == "processed"]
    assert sorted(e["email"] for e in processed) == sorted([gone, SENDER]), mine
    for e in events:
        assert isinstance(e["timestamp"], int) and abs(e["timestamp"] - time.time()) < 300, e
    for headers, _, _ in r.posts:
        assert headers["Content-Type"] == "application/json", headers
    log = p.wait_log("webhook-failed.*status=500")
    assert "webhook-failed" in log and "status=500" in log

    # acknowledged batches are not posted again after a restart; new events are
    wait_until(lambda: "webhook-posted" in p.log(), 10, 0.1, "the post logged")
    time.sleep(1.5)   # the advance after the last 2xx
    before = len(r.posts)
    p.restart()
    data, _ = message(SENDER)
    qid2 = submit(p, [SENDER], data)
    wait_until(lambda: any(e.get("sg_message_id") == qid2 and e["event"] == "delivered"
                           for e in r.accepted()), 20, 0.2, "the new message's events")
    later = [e for _, body, code in r.posts[before:] for e in json.loads(body)]
    assert not {e["sg_event_id"] for e in later} & set(ids), later


def test_receiver_down_or_silent_does_not_slow_delivery(
        petrel_factory, dns_factory, mx_port, sink_factory):
    p = bouncing_petrel(petrel_factory, dns_factory, mx_port, sink_factory)
    # a receiver that takes connections and never answers
    silent = socket.socket()
    silent.bind(("127.0.0.22", 0))
    silent.listen(64)
    try:
        enable_webhook(p, "http://127.0.0.22:%d/x" % silent.getsockname()[1])
        data, _ = message(SENDER)
        submit(p, [SENDER], data)
        wait_until(lambda: "webhook-failed" in p.log(), 20, 0.2, "a post to time out")
        # while posts wait for their timeout, mail goes on: ten messages delivered
        start = time.monotonic()
        for _ in range(10):
            data, _ = message(SENDER)
            submit(p, [SENDER], data)
        wait_sender_mail(p, 11, timeout=15, settle=0)
        assert time.monotonic() - start < 10
        assert "timed out" in p.log()
        # nothing listening at all: refused at once, retried, delivery unaffected
        enable_webhook(p, "http://127.0.0.23:9/x")
        data, _ = message(SENDER)
        submit(p, [SENDER], data)
        wait_sender_mail(p, 12, timeout=15, settle=0)
        wait_until(lambda: "connection failed" in p.log(), 20, 0.2, "a refused post")
    finally:
        silent.close()


def test_test_post(petrel_factory, receiver_factory):
    p = http_petrel(petrel_factory)
    r = receiver_factory("127.0.0.24", codes=[200, 503])
    key = add_key(p, "user.webhooks.event.test.create")
    other = add_key(p, "user.webhooks.event.settings.read")
    test = "/v3/user/webhooks/event/test"
    assert call(p, "POST", test, None, {"url": r.url})[0] == 401
    assert call(p, "POST", test, other, {"url": r.url})[0] == 403
    status, _, body = call(p, "POST", test, key, {"url": r.url})
    assert status == 204, body
    [(headers, data, _)] = r.posts
    [event] = json.loads(data)
    assert event["event"] == "processed" and event["email"] == "example@test.com", event
    # the receiver's 503, no URL, a URL Petrel cannot post to, not JSON: 400 on "url"
    status, _, body = call(p, "POST", test, key, {"url": r.url})
    assert status == 400 and "503" in body["errors"][0]["message"], body
    assert body["errors"][0]["field"] == "url", body
    for bad in [{}, {"url": "http://hooks.example.net/"}, {"url": 7}]:
        status, _, body = call(p, "POST", test, key, bad)
        assert status == 400 and body["errors"][0]["field"] == "url", (bad, body)
    status, _, body = call_raw(p, "POST", test, key, b"{")
    assert status == 400 and body["errors"][0]["field"] is None, body
    # nothing listening
    status, _, body = call(p, "POST", test, key, {"url": "http://127.0.0.24:9/"})
    assert status == 400 and "failed" in body["errors"][0]["message"], body


# --------------------------------------------------------------------------- signed

SIGNED = SETTINGS + "/signed"
SIG = "X-Twilio-Email-Event-Webhook-Signature"
TS = "X-Twilio-Email-Event-Webhook-Timestamp"


def verifies(public_key_b64, headers, body):
    """SendGrid's check: ECDSA P-256 / SHA-256 over the timestamp's octets and then the
    body's, with the public key of the /signed endpoint (python3-cryptography)"""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    key = load_der_public_key(base64.b64decode(public_key_b64))
    assert isinstance(key.curve, ec.SECP256R1), key.curve
    try:
        key.verify(base64.b64decode(headers[SIG]), headers[TS].encode() + body,
                   ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def test_signed_posts_verify_and_the_key_survives_a_restart(
        petrel_factory, dns_factory, mx_port, sink_factory, receiver_factory):
    p = bouncing_petrel(petrel_factory, dns_factory, mx_port, sink_factory)
    r = receiver_factory("127.0.0.25")
    read = add_key(p, "user.webhooks.event.settings.signed.read")
    key = add_key(p, "user.webhooks.event.settings.signed.read",
                  "user.webhooks.event.settings.signed.update")
    assert call(p, "GET", SIGNED)[0] == 401
    assert call(p, "PATCH", SIGNED, read, {"enabled": True})[0] == 403
    assert call(p, "PUT", SIGNED, key, {"enabled": True})[0] == 405
    status, _, body = call(p, "PATCH", SIGNED, key, {"enabled": "yes"})
    assert status == 400 and body["errors"][0]["field"] == "enabled", body
    status, _, body = call(p, "GET", SIGNED, read)
    assert status == 200 and body == {"public_key": ""}, body

    status, _, body = call(p, "PATCH", SIGNED, key, {"enabled": True})
    assert status == 200 and body["public_key"], body
    public = body["public_key"]
    # the settings' PATCH leaves signing on
    enable_webhook(p, r.url)
    status, _, body = call(p, "GET", SIGNED, read)
    assert status == 200 and body == {"public_key": public}, body

    data, _ = message(SENDER)
    qid = submit(p, [SENDER], data)
    wait_until(lambda: any(e.get("sg_message_id") == qid and e["event"] == "delivered"
                           for e in r.accepted()), 20, 0.2, "the signed events")
    for headers, body, _ in r.posts:
        assert abs(int(headers[TS]) - time.time()) < 300, headers
        assert verifies(public, headers, body), (headers, body)
        # a payload changed on the way, or a timestamp, does not verify
        assert not verifies(public, headers, body.replace(b"delivered", b"dropped!!")), body
        assert not verifies(public, dict(headers, **{TS: str(int(headers[TS]) + 1)}), body)

    # the keys process not answering: the batch waits (never posted unsigned), and goes
    # signed once it answers again
    keys = p.processes()["keys"]
    before = len(r.posts)
    os.kill(keys, signal.SIGSTOP)
    try:
        data, _ = message(SENDER)
        qid = submit(p, [SENDER], data)
        wait_until(lambda: "not signed" in p.log(), 30, 0.2, "a batch left unsigned")
        assert len(r.posts) == before, r.posts[before:]
    finally:
        os.kill(keys, signal.SIGCONT)
    wait_until(lambda: any(e.get("sg_message_id") == qid and e["event"] == "delivered"
                           for e in r.accepted()), 30, 0.2, "the events once signed")
    for headers, body, _ in r.posts[before:]:
        assert verifies(public, headers, body), (headers, body)

    # the same key after a restart
    p.restart()
    status, _, body = call(p, "GET", SIGNED, read)
    assert status == 200 and body == {"public_key": public}, body
    # off: posts go unsigned, the key is not shown
    status, _, body = call(p, "PATCH", SIGNED, key, {"enabled": False})
    assert status == 200 and body == {"public_key": ""}, body
    before = len(r.posts)
    data, _ = message(SENDER)
    qid = submit(p, [SENDER], data)
    wait_until(lambda: any(e.get("sg_message_id") == qid and e["event"] == "delivered"
                           for e in r.accepted()), 20, 0.2, "the unsigned events")
    assert all(SIG not in headers for headers, _, _ in r.posts[before:]), r.posts[before:]


def test_events_carry_recipients_categories_custom_args_and_attempts(
        petrel_factory, dns_factory, mx_port, sink_factory, receiver_factory):
    """SendGrid's posts (failed before: one "processed" without "email", no "category",
    no custom args, no "attempt"): a message sent over the API to three remote
    recipients that its MX defers, its events in signed batches of at most two"""
    dns = dns_factory(mx=[("remote.test", "mx1.remote.test", 10)],
                      hosts=[("mx1.remote.test", "127.0.0.2")])
    sink_factory("127.0.0.2", mx_port, "-r", "RCPT")
    p = relay_petrel(petrel_factory, dns, mx_port, start=False)
    add_listeners(p, "http")
    webhook_section(p, interval=1, retry_initial=1, retry_max=2, timeout=2, batch_size=2)
    p.start()
    r = receiver_factory("127.0.0.26")
    signer = add_key(p, "user.webhooks.event.settings.signed.update")
    status, _, body = call(p, "PATCH", SIGNED, signer, {"enabled": True})
    assert status == 200 and body["public_key"], body
    public = body["public_key"]
    enable_webhook(p, r.url)
    rcpts = ["a@remote.test", "b@remote.test", "c@remote.test"]
    request = {"personalizations": [{"to": [{"email": a} for a in rcpts],
                                     "custom_args": {"list": "x", "user": "7"}}],
               "from": {"email": SENDER}, "subject": "tagged",
               "content": [{"type": "text/plain", "value": "Hello."}],
               "categories": ["news", "weekly"],
               "custom_args": {"user": "42", "campaign": "c1", "event": "not this"}}
    status, headers, body = call(p, "POST", "/v3/mail/send", add_key(p, "mail.send"), request)
    assert status == 202, body
    qid = headers["x-message-id"]

    def mine():
        return [e for e in r.accepted() if e.get("sg_message_id") == qid]

    def attempts():
        return {(e["email"], e["attempt"]) for e in mine() if e["event"] == "deferred"}
    wait_until(lambda: {(a, "2") for a in rcpts} <= attempts(), 30, 0.2,
               "each recipient deferred twice")
    events = mine()
    processed = [e for e in events if e["event"] == "processed"]
    assert sorted(e["email"] for e in processed) == rcpts, events
    ids = [e["sg_event_id"] for e in r.accepted()]
    assert len(ids) == len(set(ids)), ids
    for e in events:
        assert e["category"] == ["news", "weekly"], e
        # the personalization's custom args over the request's; SendGrid's own
        # fields are not replaced by one of the same name
        assert (e["user"], e["list"], e["campaign"]) == ("7", "x", "c1"), e
        assert e["event"] != "not this", e
    for a in rcpts:
        mine_a = [e["attempt"] for e in events if e["event"] == "deferred" and e["email"] == a]
        assert mine_a[:2] == ["1", "2"], (a, events)
    assert all("attempt" not in e for e in events if e["event"] != "deferred"), events
    for headers, body, _ in r.posts:
        assert len(json.loads(body)) <= 2, body
        assert verifies(public, headers, body), (headers, body)
    # three recipients in batches of two: the acceptance was split between two posts
    first_post = [json.loads(b) for _, b, _ in r.posts]
    assert [e["event"] for e in first_post[0]] == ["processed", "processed"], first_post


def test_stopping_with_a_public_key_request_in_flight_frees_it(petrel_factory):
    """GET .../signed asks the keys process for the account's key; stopped (SIGSTOP),
    the request is still waiting when the server stops: it is answered and freed then
    (failed before: LeakSanitizer reported the request and its job at exit)"""
    p = http_petrel(petrel_factory)
    read = add_key(p, "user.webhooks.event.settings.signed.read")
    key = add_key(p, "user.webhooks.event.settings.signed.update")
    status, _, body = call(p, "PATCH", SIGNED, key, {"enabled": True})
    assert status == 200 and body["public_key"], body
    pids = p.processes()
    os.kill(pids["keys"], signal.SIGSTOP)
    curl = subprocess.Popen(["curl", "-sS", "--max-time", "20", "-H",
                             "Authorization: Bearer " + read,
                             "http://127.0.0.1:%d%s" % (p.ports["http"], SIGNED)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)   # the request read, its key asked for, not answered
        assert "op=signed-read" not in p.log()
        p.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: not os.path.exists("/proc/%d" % pids["network"]), 10, 0.1,
                   "the network process to exit")
    finally:
        os.kill(pids["keys"], signal.SIGCONT)
        curl.communicate(timeout=30)
    assert p.stop() == 0
    assert "LeakSanitizer" not in p.log(), p.log()[-3000:]
