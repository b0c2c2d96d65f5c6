"""The password reset (src/http/web-reset.c; docs/web.md "Resetting a password") with
http.client and SMTP: /reset answers the same for every address and mails a link only
to an account's, through the queue; /reset/TOKEN's form sets the password through the
auth process, works once and not after its expiry, and logs every session of the
account out."""

import email
import email.policy
import re
import sqlite3

from conftest import SENDER, SENDER_PASSWORD
from web_client import CSRF_RE, encode, post_form, request, server

NEW_PW = "a-fresh-password-9"


def reset_link(p, n=1):
    msgs = [email.message_from_bytes(m, policy=email.policy.default)
            for m in p.mail("example.test", "sender", n)]
    msg = msgs[-1]
    assert msg["Subject"] == "Choose a new password" and not msg.defects
    [token] = re.findall(r"https://mx\.petrel\.test/reset/([0-9a-f]{64})\r?\n",
                         msg.get_content())
    return "/reset/" + token


def smtp_auth(p, password):
    c = p.connect("submission")
    c.banner()
    c.ehlo()
    c.starttls()
    c.ehlo()
    reply = c.cmd("AUTH PLAIN " + __import__("base64").b64encode(
        ("\0%s\0%s" % (SENDER, password)).encode()).decode())
    c.close()
    return reply.code


def login_cookie(p, password):
    status, fields, body = post_form(p, "/login", email=SENDER, password=password)
    assert status == 303, body
    [c] = [c for c in fields["set-cookie"] if c.startswith("petrel_session=")]
    return c.split(";")[0]


def test_reset_sets_the_password_and_logs_out(petrel_factory):
    """the link mailed to the account's address; its page changes nothing; its POST sets
    the password (SMTP AUTH takes the new one only) and removes the account's sessions;
    the link works once"""
    p = server(petrel_factory)
    cookie = login_cookie(p, SENDER_PASSWORD)
    assert request(p, "GET", "/dashboard", headers={"Cookie": cookie})[0] == 200
    status, _, body = post_form(p, "/reset", email=SENDER.upper())
    assert status == 200 and "<h1>Check your mail</h1>" in body
    link = reset_link(p)
    status, _, body = request(p, "GET", link)
    assert status == 200 and 'name="password"' in body
    assert smtp_auth(p, SENDER_PASSWORD) == 235
    status, _, body = post_form(p, link, password=NEW_PW)
    assert status == 200 and "<h1>Password changed</h1>" in body, body
    assert smtp_auth(p, NEW_PW) == 235
    assert smtp_auth(p, SENDER_PASSWORD) == 535
    status, fields, _ = request(p, "GET", "/dashboard", headers={"Cookie": cookie})
    assert status == 303 and fields["location"] == "/login"
    status, _, body = post_form(p, link, password="yet-another-pw-3")
    assert status == 404 and "<h1>Link not valid</h1>" in body
    assert smtp_auth(p, NEW_PW) == 235


def test_same_answer_without_an_account(petrel_factory):
    """an address without an account gets the same page and no link"""
    p = server(petrel_factory)
    _, _, known = post_form(p, "/reset", email=SENDER)
    status, _, unknown = post_form(p, "/reset", email="nobody@example.test")
    assert status == 200
    assert re.sub(CSRF_RE, "", known) == re.sub(CSRF_RE, "", unknown)
    p.wait_log(r"http-web-reset session=\S+ account=nobody@example.test result=no-account")
    assert len(p.mail("example.test", "sender", 1)) == 1


def test_expired_reset_link_refused(petrel_factory):
    """a link past its expiry is refused and the password stays"""
    p = server(petrel_factory)
    assert post_form(p, "/reset", email=SENDER)[0] == 200
    link = reset_link(p)
    db = sqlite3.connect(str(p.data_dir / "petrel.db"))
    with db:
        assert db.execute("UPDATE web_secrets SET expires = 1 WHERE kind = 2").rowcount == 1
    db.close()
    status, _, _ = post_form(p, link, password=NEW_PW)
    assert status == 404
    assert smtp_auth(p, SENDER_PASSWORD) == 235


def test_short_password_keeps_the_link(petrel_factory):
    """a password outside password_min..password_max: 400 and the form again; the link
    is not used up"""
    p = server(petrel_factory)
    assert post_form(p, "/reset", email=SENDER)[0] == 200
    link = reset_link(p)
    status, _, body = post_form(p, link, password="short")
    assert status == 400 and "Choose a password of 10 to 256 characters" in body
    assert post_form(p, link, password=NEW_PW)[0] == 200
    assert smtp_auth(p, NEW_PW) == 235


def test_reset_csrf(petrel_factory):
    """POST /reset and /reset/TOKEN without the CSRF pair: 403, nothing mailed or set"""
    p = server(petrel_factory)
    assert request(p, "POST", "/reset", encode(email=SENDER))[0] == 403
    assert request(p, "POST", "/reset/" + "b" * 64, encode(password=NEW_PW))[0] == 403
    assert smtp_auth(p, SENDER_PASSWORD) == 235
