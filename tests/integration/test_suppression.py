"""Suppressions (issue 12 item 7): a hard bounce from a remote server puts the recipient
on the sending account's bounces list; later mail of that account to a listed address is
dropped (event "dropped", no DSN) and never reaches the peer; removed from the list
(petrel suppression del, or the HTTP API) it is delivered again; other accounts are not
affected.  Postfix's smtp-sink plays the remote MX (127.0.0.2), dnsmasq serves remote.test;
mail is submitted on the submission port as the fixture account."""

import json
import subprocess
import time

from conftest import SENDER, add_listeners
from peers import dns_factory, mx_port, sink_factory, wait_until  # noqa: F401
from test_relay import (events, message, relay_petrel, sender_mail, submit,
                        wait_queue_empty, wait_sender_mail)

GONE = "gone@remote.test"
OTHER = "other@example.test"
OTHER_PASSWORD = "0ther-pass"


def suppressions(p, account=SENDER, kind="bounces"):
    r = p.cli_ok("suppression", "list", account, "--type", kind, "--json")
    return json.loads(r.stdout)


def dump_of(dumps, msgid):
    """The sink's dumps of the message MSGID: smtp-sink names its files so that two
    dumped within a second may sort either way, so the order says nothing."""
    return [d for d in dumps if msgid.encode() in d]


def submit_as(p, user, password, rcpts, data):
    c = p.auth_session("submission", user=user, password=password)
    try:
        reply = c.mail_transaction(user, rcpts, data)
        assert reply.code == 250, reply
        c.quit()
    finally:
        c.close()


def bounced_then_listed(petrel_factory, dns_factory, mx_port, sink_factory):
    """A Petrel whose SENDER saw GONE hard-bounce (550 5.1.1), and the sink, now
    accepting everything."""
    dns = dns_factory(mx=[("remote.test", "mx1.remote.test", 10)],
                      hosts=[("mx1.remote.test", "127.0.0.2")])
    sink = sink_factory("127.0.0.2", mx_port, "-f", "RCPT", "-B", "550 5.1.1 no such user")
    p = relay_petrel(petrel_factory, dns, mx_port, retry_initial=3600, retry_max=3600)
    data, _ = message(GONE)
    qid = submit(p, [GONE], data)
    wait_until(lambda: "bounced queue_id=%s" % qid in p.log(), 15, 0.1, "the bounce")
    wait_sender_mail(p, 1, timeout=10, settle=0)  # its DSN
    wait_queue_empty(p)
    sink.restart()
    return p, sink


def test_hard_bounce_lists_the_address_and_later_mail_is_dropped(
        petrel_factory, dns_factory, mx_port, sink_factory):
    p, sink = bounced_then_listed(petrel_factory, dns_factory, mx_port, sink_factory)
    [entry] = suppressions(p)
    assert entry["email"] == GONE, entry
    assert entry["status"] == "5.1.1", entry
    assert "550 5.1.1 no such user" in entry["reason"], entry
    assert abs(entry["created"] - time.time()) < 60, entry
    assert suppressions(p, kind="unsubscribes") == []

    # the next message to it (and to one that is fine): only the other goes out
    data, msgid = message("ok@remote.test", subject="second")
    qid = submit(p, ["Gone@REMOTE.test", "ok@remote.test"], data)
    [dump] = sink.wait_dumps(1, timeout=15)
    assert msgid.encode() in dump
    assert b"ok@remote.test" in dump and b"gone@remote.test" not in dump.lower(), dump[:600]
    wait_queue_empty(p)
    evs = [e for e in events(p) if e.get("queue_id") == qid]
    dropped = [e for e in evs if e["type"] == "dropped"]
    assert len(dropped) == 1 and dropped[0]["reason"] == "Bounced Address", evs
    assert dropped[0]["recipient"].lower() == GONE, dropped
    assert not [e for e in evs if e["type"] == "bounced"], evs
    assert "dropped queue_id=%s" % qid in p.wait_log("dropped queue_id=%s" % qid)
    time.sleep(1)
    assert len(sender_mail(p)) == 1, "a DSN for a dropped recipient"

    # another account's mail to the same address is not affected
    p.cli_ok("account", "add", OTHER, "--password-stdin", input=OTHER_PASSWORD + "\n")
    data, msgid = message(GONE, subject="from another account", sender=OTHER)
    submit_as(p, OTHER, OTHER_PASSWORD, [GONE], data)
    [dump] = dump_of(sink.wait_dumps(2, timeout=15), msgid)
    assert b"gone@remote.test" in dump

    # deleted from the list: delivered again
    p.cli_ok("suppression", "del", SENDER, GONE)
    assert suppressions(p) == []
    data, msgid = message(GONE, subject="after the delete")
    submit(p, [GONE], data)
    assert len(dump_of(sink.wait_dumps(3, timeout=15), msgid)) == 1


def test_policy_refusal_lists_the_address_on_blocks(
        petrel_factory, dns_factory, mx_port, sink_factory):
    """a 550 5.7.1 is about the sender or the message, not the address: SendGrid's
    blocks list, with the reply and its status; bounces stays empty"""
    dns = dns_factory(mx=[("remote.test", "mx1.remote.test", 10)],
                      hosts=[("mx1.remote.test", "127.0.0.2")])
    sink_factory("127.0.0.2", mx_port, "-f", "RCPT", "-B", "550 5.7.1 refused by policy")
    p = relay_petrel(petrel_factory, dns, mx_port, retry_initial=3600, retry_max=3600)
    data, _ = message(GONE)
    qid = submit(p, [GONE], data)
    wait_until(lambda: "bounced queue_id=%s" % qid in p.log(), 15, 0.1, "the refusal")
    wait_queue_empty(p)
    assert suppressions(p) == []
    [entry] = suppressions(p, kind="blocks")
    assert entry["email"] == GONE and entry["status"] == "5.7.1", entry
    assert "550 5.7.1 refused by policy" in entry["reason"], entry


def test_any_list_drops_and_says_why(petrel_factory, dns_factory, mx_port, sink_factory):
    dns = dns_factory(mx=[("remote.test", "mx1.remote.test", 10)],
                      hosts=[("mx1.remote.test", "127.0.0.2")])
    sink = sink_factory("127.0.0.2", mx_port)
    p = relay_petrel(petrel_factory, dns, mx_port, retry_initial=3600, retry_max=3600)
    p.cli_ok("suppression", "add", SENDER, "u@remote.test", "--type", "unsubscribes")
    p.cli_ok("suppression", "add", SENDER, "s@remote.test", "--type", "spam_reports")
    p.cli_ok("suppression", "add", SENDER, "b@remote.test", "--type", "blocks",
             "--reason", "blocked by hand")
    [b] = suppressions(p, kind="blocks")
    assert b["email"] == "b@remote.test" and b["reason"] == "blocked by hand", b
    data, _ = message("u@remote.test")
    qid = submit(p, ["u@remote.test", "s@remote.test", "b@remote.test"], data)
    wait_until(lambda: len([e for e in events(p) if e.get("queue_id") == qid
                            and e["type"] == "dropped"]) == 3, 15, 0.2, "three drops")
    reasons = sorted(e["reason"] for e in events(p)
                     if e.get("queue_id") == qid and e["type"] == "dropped")
    assert reasons == ["Blocked Address", "Spam Reporting Address", "Unsubscribed Address"]
    wait_queue_empty(p)
    time.sleep(1)
    assert sink.dumps() == []
    assert sender_mail(p) == []


def test_cli_refuses_bad_input(petrel):
    r = petrel.cli("suppression", "add", SENDER, "not-an-address")
    assert r.returncode == 1, r
    r = petrel.cli("suppression", "list", SENDER, "--type", "spam")
    assert r.returncode == 2 and "--type" in r.stderr, r
    r = petrel.cli("suppression", "list", "nobody@example.test")
    assert r.returncode == 1, r
    r = petrel.cli("suppression", "del", SENDER, "x@remote.test")
    assert r.returncode == 1, r
    petrel.cli_ok("suppression", "add", SENDER, "x@remote.test")
    petrel.cli_ok("suppression", "add", SENDER, "y@remote.test")
    r = petrel.cli_ok("suppression", "del", SENDER, "--all")
    assert "2 addresses removed" in r.stderr, r
    assert suppressions(petrel) == []


# --------------------------------------------------------------------------- HTTP API

def call(p, method, path, key=None, body=None):
    """METHOD PATH with curl (BODY as JSON): status, header fields, parsed body"""
    args = ["curl", "-sS", "-i", "--max-time", "20", "-X", method]
    if key:
        args += ["-H", "Authorization: Bearer " + key]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    args.append("http://127.0.0.1:%d%s" % (p.ports["http"], path))
    out = subprocess.run(args, input=json.dumps(body).encode() if body is not None else None,
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    head, _, rest = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split()[1]), fields, json.loads(rest) if rest else None


def rcpt_args(dump):
    """the RCPT TO addresses of an smtp-sink dump, lower-cased"""
    return [ln.split(b":", 1)[1].strip().lower() for ln in dump.split(b"\n")
            if ln.startswith(b"X-Rcpt-Args:")]


def add_key(p, *scopes):
    opts = []
    for s in scopes:
        opts += ["--scope", s]
    return p.cli_ok("apikey", "add", SENDER, *opts).stdout.strip()


def api_mail(to):
    return {"personalizations": [{"to": [{"email": a} for a in to]}],
            "from": {"email": SENDER}, "subject": "over the API",
            "content": [{"type": "text/plain", "value": "Hello."}]}


def test_http_list_add_delete_and_send(petrel_factory, dns_factory, mx_port, sink_factory):
    dns = dns_factory(mx=[("remote.test", "mx1.remote.test", 10)],
                      hosts=[("mx1.remote.test", "127.0.0.2")])
    sink = sink_factory("127.0.0.2", mx_port)
    p = relay_petrel(petrel_factory, dns, mx_port, start=False, retry_initial=3600,
                     retry_max=3600)
    add_listeners(p, "http")
    p.start()
    key = add_key(p, "mail.send", "suppression.read", "suppression.create",
                  "suppression.delete")

    status, _, body = call(p, "POST", "/v3/suppression/bounces", key,
                           {"emails": ["Gone@remote.test"], "reason": "by hand"})
    assert status == 201 and body == {"emails": ["Gone@remote.test"]}, (status, body)
    status, _, body = call(p, "GET", "/v3/suppression/bounces", key)
    assert status == 200 and len(body) == 1, body
    assert body[0]["email"] == GONE and body[0]["reason"] == "by hand", body
    assert body[0]["status"] == "" and abs(body[0]["created"] - time.time()) < 60, body
    status, _, body = call(p, "GET", "/v3/suppression/bounces/gone%40remote.test", key)
    assert status == 200 and [e["email"] for e in body] == [GONE], body
    status, _, body = call(p, "GET", "/v3/suppression/unsubscribes", key)
    assert status == 200 and body == [], body
    # the CLI sees the same list
    assert [e["email"] for e in suppressions(p)] == [GONE]

    # mail sent over the API is dropped for the listed address only
    status, fields, _ = call(p, "POST", "/v3/mail/send", key, api_mail([GONE, "ok@remote.test"]))
    assert status == 202, status
    qid = fields["x-message-id"]
    [dump] = sink.wait_dumps(1, timeout=15)
    # the To: field names both: the envelope (smtp-sink's X-Rcpt-Args) only one
    assert rcpt_args(dump) == [b"<ok@remote.test>"], dump[:400]
    wait_until(lambda: [e for e in events(p) if e.get("queue_id") == qid
                        and e["type"] == "dropped"], 10, 0.2, "the dropped event")

    status, _, _ = call(p, "DELETE", "/v3/suppression/bounces/gone%40remote.test", key)
    assert status == 204
    status, _, body = call(p, "DELETE", "/v3/suppression/bounces/gone%40remote.test", key)
    assert status == 404 and body["errors"][0]["message"] == "not found", body
    status, _, _ = call(p, "POST", "/v3/mail/send", key, api_mail([GONE]))
    assert status == 202
    dumps = sink.wait_dumps(2, timeout=15)   # in either order (dump_of)
    assert sorted(rcpt_args(d) for d in dumps) == [[b"<gone@remote.test>"],
                                                    [b"<ok@remote.test>"]], dumps

    # DELETE with a body: some addresses, or all of them
    call(p, "POST", "/v3/suppression/unsubscribes", key,
         {"emails": ["a@remote.test", "b@remote.test", "c@remote.test"]})
    status, _, _ = call(p, "DELETE", "/v3/suppression/unsubscribes", key,
                        {"emails": ["a@remote.test", "nobody@remote.test"]})
    assert status == 204
    _, _, body = call(p, "GET", "/v3/suppression/unsubscribes", key)
    assert sorted(e["email"] for e in body) == ["b@remote.test", "c@remote.test"], body
    assert set(body[0]) == {"created", "email"}, body
    status, _, _ = call(p, "DELETE", "/v3/suppression/unsubscribes", key, {"delete_all": True})
    assert status == 204
    assert call(p, "GET", "/v3/suppression/unsubscribes", key)[2] == []


def test_http_scopes_and_refusals(petrel_factory):
    p = petrel_factory(start=False)
    add_listeners(p, "http")
    p.start()
    send_only = add_key(p, "mail.send")
    bounces_read = add_key(p, "suppression.bounces.read")
    full = add_key(p, "suppression.read", "suppression.create", "suppression.delete")

    assert call(p, "GET", "/v3/suppression/bounces")[0] == 401
    assert call(p, "GET", "/v3/suppression/bounces", send_only)[0] == 403
    assert call(p, "GET", "/v3/suppression/bounces", bounces_read)[0] == 200
    assert call(p, "GET", "/v3/suppression/blocks", bounces_read)[0] == 403
    assert call(p, "DELETE", "/v3/suppression/bounces", bounces_read,
                {"delete_all": True})[0] == 403
    assert call(p, "GET", "/v3/suppression/spam_reports", full)[0] == 200

    status, _, body = call(p, "GET", "/v3/suppression/nonsense", full)
    assert status == 404 and body["errors"][0]["message"] == "not found", body
    status, fields, _ = call(p, "PUT", "/v3/suppression/bounces", full)
    assert status == 405 and fields["allow"] == "GET, HEAD, POST, DELETE", fields
    status, fields, _ = call(p, "POST", "/v3/suppression/bounces/a%40remote.test", full,
                             {"emails": ["x@remote.test"]})
    assert status == 405 and fields["allow"] == "GET, HEAD, DELETE", fields
    status, _, body = call(p, "POST", "/v3/suppression/bounces", full,
                           {"emails": ["ok@remote.test", "not an address"]})
    assert status == 400 and body["errors"][0]["field"] == "emails.1", body
    assert call(p, "GET", "/v3/suppression/bounces", full)[2] == []  # none added
    status, _, body = call(p, "POST", "/v3/suppression/bounces", full, {"emails": []})
    assert status == 400, body
    status, _, body = call(p, "DELETE", "/v3/suppression/bounces", full,
                           {"delete_all": True, "emails": ["a@remote.test"]})
    assert status == 400, body
    status, _, body = call(p, "GET", "/v3/suppression/bounces/a%2", full)
    assert status == 404, body


def test_http_list_window(petrel_factory):
    """SendGrid's start_time, end_time (both included), limit and offset"""
    p = petrel_factory(start=False)
    add_listeners(p, "http")
    p.start()
    key = add_key(p, "suppression.read", "suppression.create")
    emails = ["a@remote.test", "b@remote.test", "c@remote.test"]
    assert call(p, "POST", "/v3/suppression/blocks", key, {"emails": emails})[0] == 201
    status, _, full = call(p, "GET", "/v3/suppression/blocks", key)
    assert status == 200 and sorted(e["email"] for e in full) == emails, full
    status, _, body = call(p, "GET", "/v3/suppression/blocks?limit=2&offset=1", key)
    assert status == 200 and body == full[1:3], body
    assert call(p, "GET", "/v3/suppression/blocks?offset=3", key)[2] == []
    now = int(time.time())
    assert call(p, "GET", "/v3/suppression/blocks?start_time=%d" % (now + 100), key)[2] == []
    assert call(p, "GET", "/v3/suppression/blocks?end_time=%d" % (now - 100), key)[2] == []
    body = call(p, "GET", "/v3/suppression/blocks?start_time=%d&end_time=%d"
                % (full[-1]["created"], full[0]["created"]), key)[2]
    assert body == full, body
    status, _, body = call(p, "GET", "/v3/suppression/blocks?limit=x", key)
    assert status == 400 and body["errors"][0]["field"] == "limit", body
