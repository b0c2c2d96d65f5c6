"""The web sign-up's pages (src/http/web-signup.c, web.c, page.c; docs/web.md) with urllib
and http.client: GET /signup as [web] signup sets it (closed: 403 and a page saying so;
open and approval: the form), server-rendered HTML that fetches nothing from elsewhere and
runs no script, labelled fields, and a CSRF token both in the form and in an HttpOnly,
SameSite=Strict cookie (Secure and __Host- prefixed on an https listener), new on each
page.  POST /signup: the account (unverified; pending with approval), its password set by
the auth process, the verification link mailed through the queue and read from the
Maildir it is delivered to; the same page for a taken address; the rates; /verify/TOKEN:
a button, then the link taken once; SMTP refuses the account's mail before, takes it
after."""

import email
import email.policy
import json
import re
import sqlite3
import ssl
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from conftest import SENDER, SENDER_PASSWORD
from pg_cluster import pg_cluster  # noqa: F401 (the fixture)
from test_store_postgresql import pg_url  # noqa: F401 (a fixture)
from web_client import CSRF_RE, post_form, request, server
NEW = "new@example.test"
NEW_PW = "a-new-password-1"


def get(p, path, role="http"):
    """status, header fields (lower-case names; Set-Cookie as a list), body text"""
    scheme = "https" if role == "https" else "http"
    url = "%s://127.0.0.1:%d%s" % (scheme, p.ports[role], path)
    ctx = ssl._create_unverified_context() if role == "https" else None
    try:
        with urllib.request.urlopen(url, timeout=10, context=ctx) as r:
            status, headers, body = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, body = e.code, e.headers, e.read()
    fields = {k.lower(): v for k, v in headers.items()}
    fields["set-cookie"] = headers.get_all("Set-Cookie") or []
    return status, fields, body.decode()


def assert_page(fields, body):
    assert fields["content-type"] == "text/html; charset=utf-8"
    assert body.startswith('<!DOCTYPE html>\n<html lang="en">'), body[:80]
    assert "<script" not in body and "http://" not in body and "https://" not in body
    assert "default-src 'none'" in fields["content-security-policy"]
    assert fields["x-frame-options"] == "DENY" and fields["cache-control"] == "no-store"
    assert body.count("<h1>") == 1


def test_signup_closed_by_default(petrel_factory):
    """without [web] signup, sign-up is closed: 403, a page that says so, no form, no
    cookie"""
    p = server(petrel_factory)
    status, fields, body = get(p, "/signup")
    assert status == 403
    assert_page(fields, body)
    assert "<h1>Sign-up is closed</h1>" in body
    assert "<form" not in body and fields["set-cookie"] == []


@pytest.mark.parametrize("mode", ["open", "approval"])
def test_signup_form(petrel_factory, mode):
    """open and approval: the form with labelled fields and a CSRF token that is also in an
    HttpOnly SameSite=Strict cookie (no Secure on plain http); a new token each time"""
    p = server(petrel_factory, signup=mode)
    status, fields, body = get(p, "/signup")
    assert status == 200
    assert_page(fields, body)
    assert '<form method="post" action="/signup">' in body
    for name, kind in (("email", "email"), ("password", "password")):
        assert '<label for="%s">' % name in body
        assert re.search(r'<input id="%s" name="%s" type="%s"[^>]* required>' % (name, name, kind),
                         body), body
    [field] = re.findall(r'<input type="hidden" name="csrf" value="([0-9a-f]{64})">', body)
    [cookie] = fields["set-cookie"]
    assert cookie == "petrel_csrf=%s; Path=/; HttpOnly; SameSite=Strict" % field
    assert ("approves each new account" in body) == (mode == "approval")
    _, fields2, body2 = get(p, "/signup")
    assert field not in body2 and field not in fields2["set-cookie"][0]


def test_signup_form_https_cookie(petrel_factory):
    """on an https listener the cookie is Secure and __Host- prefixed (RFC 6265bis
    4.1.3.2: no Domain, Path=/)"""
    p = server(petrel_factory, role="https", signup="open")
    status, fields, body = get(p, "/signup", role="https")
    assert status == 200
    [cookie] = fields["set-cookie"]
    assert re.fullmatch(r"__Host-petrel_csrf=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict;"
                        r" Secure", cookie), cookie


def test_signup_methods(petrel_factory):
    """HEAD answers the page's head; DELETE is 405 with Allow"""
    p = server(petrel_factory, signup="open")
    req = urllib.request.Request("http://127.0.0.1:%d/signup" % p.ports["http"],
                                 method="DELETE")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 405 and e.value.headers["Allow"] == "GET, HEAD, POST"


def signup(p, address, password, source="127.0.0.1"):
    return post_form(p, "/signup", source=source, email=address, password=password)


def mails(p, local, n):
    return [email.message_from_bytes(m, policy=email.policy.default)
            for m in p.mail("example.test", local, n)]


def verify_link(msg):
    [token] = re.findall(r"https://mx\.petrel\.test/verify/([0-9a-f]{64})\r?\n",
                         msg.get_content())
    return "/verify/" + token


def account(p, name):
    return json.loads(p.cli_ok("account", "show", name, "--json").stdout)


def submit(p, user, password):
    """AUTH then MAIL FROM USER: the reply to MAIL"""
    c = p.connect("submission")
    c.banner()
    c.ehlo()
    c.starttls()
    c.ehlo()
    c.auth_plain(user, password)
    reply = c.cmd("MAIL FROM:<%s>" % user)
    c.close()
    return reply


def test_signup_verify_then_send(petrel_factory):
    """a new address: the page, an unverified account on the free plan that logs in but
    may not send (550 5.7.1), the link mailed from postmaster through the queue; GET of
    the link changes nothing, its POST verifies, the account sends, the link works once"""
    p = server(petrel_factory, signup="open")
    status, fields, body = signup(p, NEW, NEW_PW)
    assert status == 200, body
    assert "<h1>Check your mail</h1>" in body
    [msg] = mails(p, "new", 1)
    assert msg["From"].addresses[0].addr_spec == "postmaster@mx.petrel.test"
    assert msg["To"].addresses[0].addr_spec == NEW
    assert msg["Subject"] == "Confirm your address" and not msg.defects
    link = verify_link(msg)
    a = account(p, NEW)
    assert a["verified"] is False and a["pending"] is False and a["plan"] == "free"
    reply = submit(p, NEW, NEW_PW)
    assert reply.code == 550 and reply.enhanced == "5.7.1", reply
    status, _, body = request(p, "GET", link)
    assert status == 200 and "Confirm my address" in body
    assert account(p, NEW)["verified"] is False
    status, _, body = post_form(p, link)
    assert status == 200, body
    assert "<h1>Address confirmed</h1>" in body
    assert account(p, NEW)["verified"] is True
    assert submit(p, NEW, NEW_PW).code == 250
    status, _, body = post_form(p, link)
    assert status == 404 and "<h1>Link not valid</h1>" in body


def test_signup_approval_leaves_the_account_pending(petrel_factory):
    """with signup = approval the verified account still waits for the operator"""
    p = server(petrel_factory, signup="approval")
    assert signup(p, NEW, NEW_PW)[0] == 200
    assert post_form(p, verify_link(mails(p, "new", 1)[0]))[0] == 200
    a = account(p, NEW)
    assert a["verified"] is True and a["pending"] is True
    reply = submit(p, NEW, NEW_PW)
    assert reply.code == 550 and "approval" in reply.text, reply
    p.cli_ok("account", "approve", NEW)
    assert submit(p, NEW, NEW_PW).code == 250


def test_taken_address_same_page(petrel_factory):
    """an address with an account gets the same page, its password is not changed, and
    the mail it gets is a note, not a link"""
    p = server(petrel_factory, signup="open")
    _, _, new_body = signup(p, NEW, NEW_PW)
    status, _, taken_body = signup(p, SENDER, "another-password-2")
    assert status == 200
    assert re.sub(CSRF_RE, "", taken_body) == re.sub(CSRF_RE, "", new_body)
    [note] = mails(p, "sender", 1)
    assert note["Subject"] == "You already have an account"
    assert "/verify/" not in note.get_content() and "/reset" in note.get_content()
    assert submit(p, SENDER, SENDER_PASSWORD).code == 250
    assert account(p, SENDER)["verified"] is True


def test_expired_link_refused(petrel_factory):
    """a link past its expiry is refused like a used one, and the account stays
    unverified"""
    p = server(petrel_factory, signup="open")
    assert signup(p, NEW, NEW_PW)[0] == 200
    link = verify_link(mails(p, "new", 1)[0])
    db = sqlite3.connect(str(p.data_dir / "petrel.db"))
    with db:
        assert db.execute("UPDATE web_secrets SET expires = 1 WHERE kind = 1").rowcount == 1
    db.close()
    status, _, body = post_form(p, link)
    assert status == 404 and "<h1>Link not valid</h1>" in body
    assert account(p, NEW)["verified"] is False


def test_signup_rate_per_client(petrel_factory):
    """signup_rate sign-ups per client address within rate_window; then 429 (another
    client address is counted apart)"""
    p = server(petrel_factory, signup="open", signup_rate=2)
    for i in range(2):
        assert signup(p, "n%d@example.test" % i, NEW_PW)[0] == 200
    status, _, body = signup(p, "n2@example.test", NEW_PW)
    assert status == 429 and "Too many requests" in body
    assert signup(p, "n3@example.test", NEW_PW, source="127.0.0.2")[0] == 200


def test_signup_rate_shared_by_nodes(petrel_factory, pg_url):  # noqa: F811
    """two nodes on one PostgreSQL count a client's sign-ups together: signup_rate 2 in
    all, not 2 on each, since the counts are rows of the store, not a node's memory"""
    nodes = [server(petrel_factory, signup="open", signup_rate=2, store_backend="postgresql",
                    store_url=pg_url, node=name) for name in ("node-a", "node-b")]
    assert signup(nodes[0], "n0@example.test", NEW_PW)[0] == 200
    assert signup(nodes[1], "n1@example.test", NEW_PW)[0] == 200
    for i, p in enumerate(nodes):
        status, _, body = signup(p, "n%d@example.test" % (i + 2), NEW_PW)
        assert status == 429 and "Too many requests" in body, (p.node, status)


def test_signup_rate_per_address_mailed(petrel_factory):
    """an address is mailed at most signup_rate times within rate_window, whichever
    client asks: the page is the same, nothing more is sent"""
    p = server(petrel_factory, signup="open", signup_rate=1)
    assert signup(p, NEW, NEW_PW)[0] == 200
    status, _, body = signup(p, NEW, NEW_PW, source="127.0.0.2")
    assert status == 200 and "<h1>Check your mail</h1>" in body
    assert len(mails(p, "new", 1)) == 1  # waits settle for an extra one
    p.wait_log(r"http-web-signup session=\S+ account=%s result=taken mail=rate-limited"
               % re.escape(NEW))


@pytest.mark.parametrize("address,password,message", [
    ("not-an-address", NEW_PW, "Enter an email address"),
    (NEW, "short", "Choose a password of 10 to 256 characters"),
    (NEW, "x" * 257, "Choose a password of 10 to 256 characters"),
])
def test_signup_refuses_bad_input(petrel_factory, address, password, message):
    """a bad address or a password outside password_min..password_max: 400, the form
    again with what is wrong, no account"""
    p = server(petrel_factory, signup="open")
    status, _, body = signup(p, address, password)
    assert status == 400 and message in body and '<form method="post"' in body
    assert p.cli("account", "show", NEW).returncode != 0


def test_signup_post_csrf_and_closed(petrel_factory):
    """POST /signup without the CSRF pair: 403; with signup closed: 403 whatever it
    carries; POST /verify/TOKEN without the pair: 403"""
    p = server(petrel_factory, signup="open")
    status, _, _ = request(p, "POST", "/signup", urlencode(dict(email=NEW, password=NEW_PW)))
    assert status == 403
    status, _, _ = request(p, "POST", "/verify/" + "a" * 64, "csrf=x")
    assert status == 403
    q = server(petrel_factory)
    status, _, body = request(q, "POST", "/signup", urlencode(dict(email=NEW, password=NEW_PW)))
    assert status == 403 and "Sign-up is closed" in body
