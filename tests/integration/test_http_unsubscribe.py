"""RFC 8058 one-click unsubscribe (src/http/unsubscribe*.c, docs/http.md "One-click
unsubscribe"): mail sent through POST /v3/mail/send with SendGrid's subscription
tracking carries List-Unsubscribe and List-Unsubscribe-Post, both under the DKIM
signature (checked with dkimpy); a GET of the link changes nothing, a POST with
List-Unsubscribe=One-Click puts the recipient on the account's unsubscribes list, and
the account's later mail to it is dropped; a token that is not one is 404."""

import email
import email.policy
import json
import re
import subprocess
import urllib.parse

import dkim  # python3-dkim

from conftest import SENDER, add_listeners, wait_mail
from test_accounts import wait_events
from test_dkim_sign import keygen
from test_http_send import add_key, request, send

PUBLIC = "https://mail.example.test/petrel"


def tracked(to="u@example.test", **extra):
    return request(personalizations=[{"to": [{"email": to}]}],
                   tracking_settings={"subscription_tracking": {"enable": True}}, **extra)


def curl(p, method, path, data=None, content_type="application/x-www-form-urlencoded"):
    """METHOD PATH on P's http listener: status, Content-Type, body text"""
    args = ["curl", "-sS", "--max-time", "20", "-X", method, "-o", "-",
            "-w", "\n%{http_code} %{content_type}",
            "http://127.0.0.1:%d%s" % (p.ports["http"], path)]
    if data is not None:
        args += ["-H", "Content-Type: " + content_type, "--data-binary", data]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    body, _, tail = out.stdout.rpartition("\n")
    status, _, ctype = tail.partition(" ")
    return int(status), ctype, body


def unsubscribes(p):
    r = p.cli_ok("suppression", "list", SENDER, "--type", "unsubscribes", "--json")
    return [e["email"] for e in json.loads(r.stdout)]


def link_path(msg):
    m = re.fullmatch(r"<%s(/unsubscribe/[A-Za-z0-9_.-]+)>" % re.escape(PUBLIC),
                     msg["List-Unsubscribe"])
    assert m, msg["List-Unsubscribe"]
    return m.group(1)


def test_one_click_unsubscribe(petrel_factory):
    p = petrel_factory(start=False, http_public_url=PUBLIC + "/")
    _, name, record, _ = keygen(p)
    add_listeners(p, "http")
    p.start()
    key = add_key(p, "mail.send")
    status, _, answer = send(p, tracked(), key)
    assert status == 202, answer
    [raw] = wait_mail(p.data_dir, "example.test", "u", 1)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = link_path(msg)
    # RFC 8058 3.1: the DKIM signature covers both fields
    assert dkim.verify(raw, dnsfunc=lambda n, timeout=5: record.encode()
                       if n.decode().rstrip(".") == name else None)
    sig = re.sub(r"\s+", "", str(msg["DKIM-Signature"]))
    signed = [h.lower() for h in re.search(r"h=([^;]+)", sig).group(1).split(":")]
    assert "list-unsubscribe" in signed and "list-unsubscribe-post" in signed

    # a GET (a scanner following the link) shows a button and changes nothing
    status, ctype, page = curl(p, "GET", path)
    assert status == 200 and ctype.startswith("text/html"), (status, page)
    assert '<form method="post">' in page and "u@example.test" in page
    assert unsubscribes(p) == []
    # a POST without the one-click body is refused
    status, _, _ = curl(p, "POST", path, data="List-Unsubscribe=Later")
    assert status == 400 and unsubscribes(p) == []
    # the one-click POST, as a mail provider sends it
    status, ctype, page = curl(p, "POST", path, data="List-Unsubscribe=One-Click")
    assert status == 200 and "Unsubscribed" in page, (status, page)
    assert unsubscribes(p) == ["u@example.test"]
    # ... and as multipart/form-data, again: still one entry
    body = ("--b1\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
            "One-Click\r\n--b1--\r\n")
    status, _, _ = curl(p, "POST", path, data=body,
                        content_type="multipart/form-data; boundary=b1")
    assert status == 200 and unsubscribes(p) == ["u@example.test"]

    # the account's later mail to the address is dropped, as a bounce's is
    status, fields, _ = send(p, request(), key)
    assert status == 202
    qid = fields["x-message-id"]
    [ev] = wait_events(p, lambda e: e["type"] == "dropped" and e["queue_id"] == qid)
    assert ev["reason"] == "Unsubscribed Address" and ev["recipient"] == "u@example.test"
    assert len(wait_mail(p.data_dir, "example.test", "u", 1)) == 1


def test_bad_tokens_are_404(petrel_factory):
    p = petrel_factory(start=False, http_public_url=PUBLIC)
    add_listeners(p, "http")
    p.start()
    status, _, answer = send(p, tracked(to="v@example.test"), add_key(p, "mail.send"))
    assert status == 202, answer
    [raw] = wait_mail(p.data_dir, "example.test", "v", 1)
    path = link_path(email.message_from_bytes(raw, policy=email.policy.default))
    token = path.rsplit("/", 1)[1]
    payload, mac = token.split(".")
    other = urllib.parse.quote(payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"))
    for bad in ["", "x", payload, payload + "." + mac[:-1], other + "." + mac,
                payload + "." + ("A" * 43), "a" * 2000]:
        for method in ("GET", "POST"):
            status, _, _ = curl(p, method, "/unsubscribe/" + bad,
                                data="List-Unsubscribe=One-Click" if method == "POST" else None)
            assert status == 404, (method, bad, status)
    assert unsubscribes(p) == []
    status, _, _ = curl(p, "DELETE", path)
    assert status == 405


def test_request_fields_conflict_with_tracking(petrel_factory):
    p = petrel_factory(start=False)
    add_listeners(p, "http")
    p.start()
    status, _, answer = send(p, tracked(headers={"List-Unsubscribe": "<mailto:x@example.test>"}),
                             add_key(p, "mail.send"))
    assert status == 400
    assert [e["field"] for e in answer["errors"]] == ["headers.List-Unsubscribe"]
