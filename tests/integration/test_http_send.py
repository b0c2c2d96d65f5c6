"""SendGrid v3's POST /v3/mail/send (src/http/mailsend*.c, docs/http.md) with curl: a
message delivered to local Maildirs with the MIME the request asked for, and each refusal
with its status, SendGrid's error list and field path."""

import base64
import email
import email.policy
import json
import re
import subprocess
import time

import dkim  # python3-dkim
import pytest

from conftest import HOSTNAME, SENDER, add_listeners, list_mail, wait_mail
from test_accounts import wait_events
from test_dkim_sign import keygen


@pytest.fixture
def api(petrel_factory):
    p = petrel_factory(start=False, http_body_size="65536")
    add_listeners(p, "http")
    p.start()
    return p


def add_key(p, *scopes):
    opts = []
    for s in scopes:
        opts += ["--scope", s]
    return p.cli_ok("apikey", "add", SENDER, *opts).stdout.strip()


def send(p, body, key=None, raw=None, chunked=False):
    """POST BODY (JSON, or RAW bytes) with curl, in the chunked coding if CHUNKED:
    status, header fields, parsed body"""
    args = ["curl", "-sS", "-i", "--max-time", "20", "-X", "POST",
            "-H", "Content-Type: application/json"]
    if chunked:
        args += ["-H", "Transfer-Encoding: chunked"]
    if key:
        args += ["-H", "Authorization: Bearer " + key]
    data = raw if raw is not None else json.dumps(body).encode()
    args += ["--data-binary", "@-", "http://127.0.0.1:%d/v3/mail/send" % p.ports["http"]]
    out = subprocess.run(args, input=data, capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    head, _, rest = out.stdout.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, rest = rest.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split()[1]), fields, json.loads(rest) if rest else None


def request(**extra):
    body = {
        "personalizations": [{"to": [{"email": "u@example.test", "name": "Ü User"}]}],
        "from": {"email": SENDER, "name": "Sender"},
        "subject": "Hello from the API",
        "content": [{"type": "text/plain", "value": "Hello, plain."}],
    }
    body.update(extra)
    return body


def fields_of(answer):
    assert set(answer) == {"errors"}
    for e in answer["errors"]:
        assert set(e) == {"message", "field", "help"} and e["message"]
    return [e["field"] for e in answer["errors"]]


def parse(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert not msg.defects, msg.defects
    return msg


def test_message_delivered_with_its_mime(api):
    key = add_key(api, "mail.send")
    logo = b"\x89PNG\r\n\x1a\nlogo"
    body = request(
        personalizations=[{"to": [{"email": "u@example.test", "name": "Ü User"}],
                           "cc": [{"email": "v@example.test"}],
                           "bcc": [{"email": "w@example.test"}],
                           "subject": "Grüße -name-",
                           "substitutions": {"-name-": "Zoë"},
                           "headers": {"X-Campaign": "spring"}}],
        content=[{"type": "text/plain", "value": "Hi -name-\nline two"},
                 {"type": "text/html", "value": "<p>Hi -name- <img src=\"cid:logo\"></p>"}],
        attachments=[{"content": base64.b64encode(b"report,1\n").decode(),
                      "filename": "report.csv", "type": "text/csv"},
                     {"content": base64.b64encode(logo).decode(), "filename": "logo.png",
                      "type": "image/png", "disposition": "inline", "content_id": "logo"}],
        categories=["welcome"], custom_args={"user": "42"})
    status, fields, answer = send(api, body, key)
    assert status == 202 and answer is None, answer
    qid = fields["x-message-id"]
    assert re.fullmatch(r"[0-9A-F]{16}", qid) and fields["content-length"] == "0"
    copies = {box: wait_mail(api.data_dir, "example.test", box, 1)[0] for box in "vwu"}
    raw = copies["u"]
    msg = parse(raw)
    assert msg["Subject"] == "Grüße Zoë"
    assert msg["To"] == "Ü User <u@example.test>" and msg["Cc"] == "v@example.test"
    assert msg["Bcc"] is None and b"w@example.test" not in raw.split(b"\r\n\r\n")[0]
    assert msg["From"] == "Sender <%s>" % SENDER
    assert msg["Message-ID"] == "<%s@%s>" % (qid, HOSTNAME)
    assert msg["X-Campaign"] == "spring" and msg["MIME-Version"] == "1.0" and msg["Date"]
    assert re.search(r"with HTTP id %s" % qid, msg["Received"])
    assert msg.get_content_type() == "multipart/mixed"
    related, attached = msg.get_payload()
    assert related.get_content_type() == "multipart/related"
    alternative, inline = related.get_payload()
    plain, html = alternative.get_payload()
    assert plain.get_content().replace("\r\n", "\n") == "Hi Zoë\nline two\n"
    assert html.get_content_type() == "text/html" and "Hi Zoë" in html.get_content()
    assert inline["Content-ID"] == "<logo>" and inline.get_content() == logo
    assert attached.get_filename() == "report.csv"
    assert attached.get_content() == "report,1\n"
    api.wait_log(r"event=http-mail-send .*status=202 messages=1 message_id=%s" % qid)


def test_each_personalization_is_a_message(api):
    key = add_key(api, "mail.send")
    body = request(personalizations=[{"to": [{"email": "u@example.test"}]},
                                     {"to": [{"email": "v@example.test"}],
                                      "subject": "Second"}])
    status, fields, _ = send(api, body, key)
    assert status == 202
    [u] = wait_mail(api.data_dir, "example.test", "u", 1)
    [v] = wait_mail(api.data_dir, "example.test", "v", 1)
    mu, mv = parse(u), parse(v)
    assert (mu["To"], mu["Subject"]) == ("u@example.test", "Hello from the API")
    assert (mv["To"], mv["Subject"]) == ("v@example.test", "Second")
    assert fields["x-message-id"] in mu["Message-ID"]
    assert mu["Message-ID"] != mv["Message-ID"]


def test_chunked_request_body_is_read(api):
    """RFC 9112 7.1: a body in the chunked coding (curl sends it so when asked) is read
    like one with Content-Length; over [http] body_size in total it is 413"""
    key = add_key(api, "mail.send")
    status, fields, _ = send(api, request(subject="Chunked"), key, chunked=True)
    assert status == 202
    [u] = wait_mail(api.data_dir, "example.test", "u", 1)
    assert parse(u)["Subject"] == "Chunked"
    big = request(attachments=[{"content": base64.b64encode(b"x" * 60000).decode(),
                                "filename": "big.bin"}])
    status, _, answer = send(api, big, key, chunked=True)
    assert status == 413 and fields_of(answer) == [None]


def test_authorization_refusals(api):
    status, fields, answer = send(api, request())
    assert status == 401 and fields["www-authenticate"] == "Bearer"
    assert answer["errors"][0]["message"] == "authorization required"
    key = add_key(api, "mail.send")
    status, _, _ = send(api, request(), key[:-1] + ("0" if key[-1] != "0" else "1"))
    assert status == 401
    status, _, answer = send(api, request(), add_key(api, "stats.read"))
    assert status == 403 and answer["errors"][0]["message"] == "access forbidden"
    # a disabled account's key is refused like a revoked one, and sends nothing
    api.cli_ok("account", "disable", SENDER)
    status, _, answer = send(api, request(), key)
    assert status == 401 and "revoked" in answer["errors"][0]["message"]
    assert list_mail(api.data_dir, "example.test", "u") == []


def test_validation_errors_with_fields(api):
    key = add_key(api, "mail.send")
    status, _, answer = send(api, None, key, raw=b"{not json")
    assert status == 400 and fields_of(answer) == [None]
    status, _, answer = send(api, request(
        personalizations=[{"to": [{"email": "u@example.test"}, {"email": "not an address"}]}],
        content=[{"type": "text/html", "value": "<p>x</p>"},
                 {"type": "text/plain", "value": "x"}],
        headers={"From": "x@example.test"}), key)
    assert status == 400
    assert fields_of(answer) == ["personalizations.0.to.1.email", "content", "headers.From"]
    status, _, answer = send(api, request(send_at=int(time.time()) + 73 * 3600), key)
    assert status == 400 and fields_of(answer) == ["send_at"]
    assert "72 hours" in answer["errors"][0]["message"]
    status, _, answer = send(api, request(template_id="d-123"), key)
    assert status == 400 and fields_of(answer) == ["template_id"]
    assert not (api.data_dir / "mail" / "example.test" / "u" / "new").exists() or \
        not list((api.data_dir / "mail" / "example.test" / "u" / "new").iterdir())


def test_sender_not_allowed_is_403(api):
    key = add_key(api, "mail.send")
    status, _, answer = send(api, dict(request(), **{"from": {"email": "v@example.test"}}), key)
    assert status == 403 and fields_of(answer) == ["from.email"]
    assert "Sender Identity" in answer["errors"][0]["message"]
    # a personalization's own from is checked the same way, and named so
    status, _, answer = send(api, request(personalizations=[
        {"to": [{"email": "u@example.test"}]},
        {"to": [{"email": "u@example.test"}], "from": {"email": "v@example.test"}}]), key)
    assert status == 403 and fields_of(answer) == ["personalizations.1.from.email"]
    assert list_mail(api.data_dir, "example.test", "u") == []
    # an address the account was allowed (`petrel sender allow`) may send
    status, _, _ = send(api, dict(request(), **{"from": {"email": "a@b.test"}}), key)
    assert status == 202


def test_body_over_the_limit_is_413(api):
    key = add_key(api, "mail.send")
    big = request(attachments=[{"content": base64.b64encode(b"x" * 60000).decode(),
                                "filename": "big.bin"}])
    status, _, answer = send(api, big, key)
    assert status == 413 and fields_of(answer) == [None]


def test_rate_limit_is_429_with_headers(api):
    api.cli_ok("account", "set", SENDER, "--per-minute", "2")
    key = add_key(api, "mail.send")
    # two recipients take the minute's two units; the next request gets 429
    body = request(personalizations=[{"to": [{"email": "u@example.test"}],
                                      "cc": [{"email": "v@example.test"}]}])
    # the minute may turn between the two requests: try again in the next one
    for _ in range(2):
        status, _, _ = send(api, body, key)
        assert status == 202
        status, fields, answer = send(api, request(), key)
        if status == 429:
            break
    assert status == 429, answer
    assert fields["x-ratelimit-limit"] == "2" and fields["x-ratelimit-remaining"] == "0"
    reset = int(fields["x-ratelimit-reset"])
    assert reset % 60 == 0 and time.time() < reset <= time.time() + 60
    assert "Rate limit of 2 recipients per minute" in answer["errors"][0]["message"]
    api.wait_log(r"event=http-mail-send .*status=429")


def test_sandbox_mode_is_kept_not_delivered(api):
    key = add_key(api, "mail.send")
    status, fields, _ = send(api, request(mail_settings={"sandbox_mode": {"enable": True}}),
                             key)
    assert status == 202
    qid = fields["x-message-id"]
    api.wait_log(r"event=sandboxed queue_id=%s" % qid)
    box = api.data_dir / "mail" / "example.test" / "sender" / ".Sandbox"
    kept = [f for d in ("new", "cur") if (box / d).exists() for f in (box / d).iterdir()]
    assert len(kept) == 1 and qid.encode() in kept[0].read_bytes()
    new = api.data_dir / "mail" / "example.test" / "u" / "new"
    assert not new.exists() or not list(new.iterdir())


def test_refused_request_gives_its_units_back(api):
    """Per minute 2: a request of three recipients in two personalizations is refused
    whole (nothing queued, the two units it took given back), so one of two is accepted."""
    api.cli_ok("account", "set", SENDER, "--per-minute", "2")
    key = add_key(api, "mail.send")
    three = request(personalizations=[{"to": [{"email": "u@example.test"}]},
                                      {"to": [{"email": "v@example.test"}],
                                       "cc": [{"email": "w@example.test"}]}])
    status, fields, _ = send(api, three, key)
    assert status == 429 and fields["x-ratelimit-limit"] == "2"
    two = request(personalizations=[{"to": [{"email": "x@example.test"}],
                                     "cc": [{"email": "v@example.test"}]}])
    status, _, answer = send(api, two, key)
    if status == 429:  # the minute turned between the two: the refused one took none
        status, _, answer = send(api, two, key)
    assert status == 202, answer
    wait_mail(api.data_dir, "example.test", "x", 1)
    assert list_mail(api.data_dir, "example.test", "u") == []


def test_accepted_event_and_dkim_signature(petrel_factory):
    p = petrel_factory(start=False)
    _, name, record, _ = keygen(p)
    add_listeners(p, "http")
    p.start()
    status, fields, _ = send(p, request(), add_key(p, "mail.send"))
    assert status == 202
    qid = fields["x-message-id"]
    [raw] = wait_mail(p.data_dir, "example.test", "u", 1)
    assert dkim.verify(raw, dnsfunc=lambda n, timeout=5: record.encode()
                       if n.decode().rstrip(".") == name else None)
    [ev] = wait_events(p, lambda e: e["type"] == "accepted" and e["queue_id"] == qid)
    assert ev["account"] == SENDER
