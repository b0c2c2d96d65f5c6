"""The logged-in web pages (src/http/web-session.c, web-dashboard.c; docs/web.md) with
http.client: the session cookie read through the store (no session or an expired one: 303
to /login), POST forms checked against the session's CSRF token (403 otherwise), POST
/logout, and GET /dashboard's SMTP settings, usage and account state.  Sessions are made
in the store as /login makes them: a row of web_secrets holding the SHA-256 of the
cookie's secret."""

import hashlib
import http.client
import re
import secrets
import sqlite3
import time

import pytest

from conftest import HOSTNAME, SENDER, add_listeners

OTHER = "0u@example.test"


def server(factory, **overrides):
    p = factory(start=False, **overrides)
    add_listeners(p, "http")
    p.start()
    return p


def login(p, account=SENDER, expires_in=3600):
    """a session for ACCOUNT as the store keeps it: (cookie secret, csrf token)"""
    secret, csrf = secrets.token_hex(32), secrets.token_hex(32)
    db = sqlite3.connect(str(p.data_dir / "petrel.db"), timeout=10)
    with db:
        db.execute("INSERT INTO web_secrets (hash, kind, account, csrf, expires)"
                   " VALUES (?, 0, ?, ?, ?)",
                   (hashlib.sha256(secret.encode()).hexdigest(), account, csrf,
                    int(time.time()) + expires_in))
    db.close()
    return secret, csrf


def sessions(p):
    db = sqlite3.connect(str(p.data_dir / "petrel.db"), timeout=10)
    n = db.execute("SELECT count(*) FROM web_secrets WHERE kind = 0").fetchone()[0]
    db.close()
    return n


def request(p, method, path, secret=None, form=None, cookie=None):
    """status, header fields (lower-case; set-cookie a list), body text"""
    c = http.client.HTTPConnection("127.0.0.1", p.ports["http"], timeout=10)
    headers = {}
    if secret is not None:
        headers["Cookie"] = "petrel_session=" + secret
    if cookie is not None:
        headers["Cookie"] = cookie
    body = None
    if form is not None:
        body = "&".join("%s=%s" % (k, v) for k, v in form.items())
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        fields = {k.lower(): v for k, v in r.getheaders()}
        fields["set-cookie"] = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
        return r.status, fields, r.read().decode()
    finally:
        c.close()


def assert_page(fields, body):
    assert fields["content-type"] == "text/html; charset=utf-8"
    assert "<script" not in body and "http://" not in body and "https://" not in body
    assert "default-src 'none'" in fields["content-security-policy"]
    assert fields["cache-control"] == "no-store" and fields["x-frame-options"] == "DENY"
    assert body.count("<h1>") == 1


@pytest.fixture
def web(petrel_factory):
    return server(petrel_factory)


@pytest.mark.parametrize("cookie", [None, "petrel_session=" + "a" * 64,
                                    "petrel_session=nothex", "other=1"])
def test_no_session_redirects_to_login(web, cookie):
    """no cookie, an unknown secret, a malformed one: 303 to /login, nothing shown"""
    status, fields, body = request(web, "GET", "/dashboard", cookie=cookie)
    assert status == 303 and fields["location"] == "/login"
    assert SENDER not in body and "SMTP" not in body


def test_expired_session_redirects_and_expires_cookie(web):
    secret, _ = login(web, expires_in=-5)
    status, fields, _ = request(web, "GET", "/dashboard", secret)
    assert status == 303 and fields["location"] == "/login"
    assert fields["set-cookie"] == [
        "petrel_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"]


def test_dashboard_shows_smtp_settings_usage_and_state(web):
    """the ports the server really listens on, the account's user name, the API key
    instructions, today's use against the free plan's 100, an active account"""
    secret, csrf = login(web)
    status, fields, body = request(web, "GET", "/dashboard", secret)
    assert status == 200, body
    assert_page(fields, body)
    assert '<code id="smtp-host">%s</code>' % HOSTNAME in body
    assert '<code id="smtp-user">%s</code>' % SENDER in body
    for role in ("submission", "submissions", "mx"):
        assert "<tr><td>%d</td>" % web.ports[role] in body
    assert re.search(r"<tr><td>%d</td><td>TLS from the start" % web.ports["submissions"], body)
    assert re.search(r"<tr><td>%d</td><td>STARTTLS" % web.ports["submission"], body)
    assert "<code>apikey</code>" in body
    assert '<span id="sent-today">0</span> of <span id="daily-limit">100</span>' in body
    assert "<strong>Active</strong>" in body
    assert 'name="csrf" value="%s"' % csrf in body


def test_dashboard_counts_todays_mail_and_states(web):
    """a message to two recipients counts 2; sandbox and unverified are said plainly"""
    import smtplib
    from conftest import SENDER_PASSWORD
    with smtplib.SMTP("127.0.0.1", web.sub, timeout=10) as c:
        c.starttls(context=__import__("ssl")._create_unverified_context())
        c.login(SENDER, SENDER_PASSWORD)
        c.sendmail("a@b.test", ["u@other.test", "v@other.test"],
                   b"From: a@b.test\r\nSubject: hi\r\n\r\nhello\r\n")
    web.cli_ok("account", "set", SENDER, "--sandbox")
    secret, _ = login(web)
    status, _, body = request(web, "GET", "/dashboard", secret)
    assert status == 200
    assert '<span id="sent-today">2</span> of <span id="daily-limit">100</span>' in body
    assert "<strong>Sandbox</strong>" in body and "<strong>Active</strong>" not in body


def test_public_url_host(petrel_factory):
    p = server(petrel_factory, http_public_url="https://mail.example.org:8443")
    secret, _ = login(p)
    _, _, body = request(p, "GET", "/dashboard", secret)
    assert '<code id="smtp-host">mail.example.org</code>' in body


def test_an_account_sees_its_own(web):
    """each session shows its own account, never the other's"""
    mine, _ = login(web)
    theirs, _ = login(web, OTHER)
    _, _, body = request(web, "GET", "/dashboard", theirs)
    assert '<code id="smtp-user">%s</code>' % OTHER in body and SENDER not in body
    _, _, body = request(web, "GET", "/dashboard", mine)
    assert OTHER not in body


def test_logout_needs_the_sessions_token(web):
    """POST /logout without the token, with another session's, or a wrong one: 403 and the
    session lives; with its own: 303 to /login, the cookie expired, the row gone"""
    secret, csrf = login(web)
    _, other_csrf = login(web, OTHER)
    for form in ({}, {"csrf": other_csrf}, {"csrf": "0" * 64}, {"csrf": csrf[:-1]}):
        status, _, body = request(web, "POST", "/logout", secret, form=form)
        assert status == 403, (form, body)
    assert request(web, "GET", "/dashboard", secret)[0] == 200
    assert sessions(web) == 2
    status, fields, _ = request(web, "POST", "/logout", secret, form={"csrf": csrf})
    assert status == 303 and fields["location"] == "/login"
    assert fields["set-cookie"] == [
        "petrel_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"]
    assert sessions(web) == 1
    assert request(web, "GET", "/dashboard", secret)[0] == 303
    web.wait_log(r"event=http-web-logout session=\S+ account=%s" % SENDER)


def test_logout_is_post_only(web):
    status, fields, _ = request(web, "GET", "/logout")
    assert status == 405 and fields["allow"] == "POST"
