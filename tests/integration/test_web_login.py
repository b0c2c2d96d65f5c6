"""The web login (src/http/web-login.c, web.c; docs/web.md "Logging in") with http.client:
the form, the pre-login CSRF check (a hidden field equal to the petrel_csrf cookie, an
Origin naming this server: 403 otherwise), the password checked by the auth process in
the AUTH throttle SMTP uses, one answer (403) for every failure, and the session the
dashboard reads: a new petrel_session cookie at each login, 303 to /dashboard."""

import http.client
import re
import socket

import web_client
from conftest import SENDER, SENDER_PASSWORD
from web_client import CSRF_RE, encode, post_form, request, server



def login(p, email, password, role="http", origin=None):
    return post_form(p, "/login", role=role, origin=origin, email=email, password=password)


def form_token(p, role="http"):
    return web_client.form_token(p, "/login", role=role)


def session_cookie(fields, name="petrel_session"):
    [c] = [c for c in fields["set-cookie"] if c.startswith(name + "=")]
    return c


def test_login_form(petrel_factory):
    """GET /login: the form with labelled fields and a CSRF token in an HttpOnly cookie"""
    p = server(petrel_factory)
    status, fields, body = request(p, "GET", "/login")
    assert status == 200
    assert fields["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Log in</h1>" in body and '<form method="post" action="/login">' in body
    assert '<label for="email">' in body and '<label for="password">' in body
    [token] = re.findall(CSRF_RE, body)
    assert fields["set-cookie"] == ["petrel_csrf=%s; Path=/; HttpOnly; SameSite=Strict" % token]


def test_login_sets_a_new_session_and_redirects(petrel_factory):
    """a right password: 303 to /dashboard, a new 64-hex petrel_session cookie (HttpOnly,
    SameSite=Strict, Max-Age = session_lifetime), the CSRF cookie expired; each login a
    new secret, whatever cookie the browser brought"""
    p = server(petrel_factory, session_lifetime="1h")
    origin = "http://127.0.0.1:%d" % p.ports["http"]
    status, fields, body = login(p, SENDER, SENDER_PASSWORD, origin=origin)
    assert status == 303, body
    assert fields["location"] == "/dashboard"
    c = session_cookie(fields)
    assert re.fullmatch(r"petrel_session=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict;"
                        r" Max-Age=3600", c), c
    assert "petrel_csrf=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" in fields["set-cookie"]
    _, fields2, _ = login(p, SENDER.upper(), SENDER_PASSWORD)
    assert session_cookie(fields2).split(";")[0] != c.split(";")[0]
    pattern = r" info http-web-login session=\S+ account=%s\n" % re.escape(SENDER)
    assert len(re.findall(pattern, p.wait_log(pattern, count=2))) == 2


def test_login_https_cookie(petrel_factory):
    """on https the session cookie is __Host-petrel_session and Secure, and the CSRF cookie
    read is __Host-petrel_csrf"""
    p = server(petrel_factory, role="https")
    status, fields, body = login(p, SENDER, SENDER_PASSWORD, role="https")
    assert status == 303, body
    c = session_cookie(fields, "__Host-petrel_session")
    assert re.fullmatch(r"__Host-petrel_session=[0-9a-f]{64}; Path=/; HttpOnly;"
                        r" SameSite=Strict; Secure; Max-Age=43200", c), c


def test_one_answer_for_every_failure(petrel_factory):
    """wrong password, unknown address, disabled account: the same 403 page with the form,
    each counted in /metrics as an HTTP AUTH failure"""
    p = server(petrel_factory, http_metrics_from="127.0.0.1/32")
    p.cli_ok("account", "add", "off@example.test", "--password-stdin", input="off-pw-123\n")
    p.cli_ok("account", "disable", "off@example.test")
    bodies = []
    for email, pw in ((SENDER, "wrong"), ("nobody@example.test", "wrong"),
                      ("off@example.test", "off-pw-123")):
        status, fields, body = login(p, email, pw)
        assert status == 403, (email, body)
        assert "The address or the password is not right." in body
        bodies.append(re.sub(CSRF_RE, "", body))
        assert not [c for c in fields["set-cookie"] if c.startswith("petrel_session")]
    assert bodies[0] == bodies[1] == bodies[2]
    _, _, metrics = request(p, "GET", "/metrics")
    assert re.search(r'^petrel_auth_failures_total\{protocol="http"\} 3$', metrics, re.M), metrics


def test_csrf_missing_or_mismatched_is_403(petrel_factory):
    """no cookie, no field, or the two different: 403 before any check of the password"""
    p = server(petrel_factory)
    token, cookie = form_token(p)
    other, _ = form_token(p)
    body_ok = encode(csrf=token, email=SENDER, password=SENDER_PASSWORD)
    cases = [
        (body_ok, {}),                                                      # no cookie
        (encode(email=SENDER, password=SENDER_PASSWORD), {"Cookie": cookie}),
        (encode(csrf=other, email=SENDER, password=SENDER_PASSWORD), {"Cookie": cookie}),
        (body_ok, {"Cookie": "petrel_csrf=" + other}),
    ]
    for body, headers in cases:
        status, fields, text = request(p, "POST", "/login", body, headers)
        assert status == 403, (headers, text)
        assert "default-src 'none'" in fields["content-security-policy"]
        assert "<h1>Form refused</h1>" in text
    # the same token and cookie work; only this one reached the auth process
    status, _, text = request(p, "POST", "/login", body_ok, {"Cookie": cookie})
    assert status == 303, text
    assert len(re.findall(r" info auth session=", p.wait_log(r" info http-web-login "))) == 1


def test_foreign_origin_is_403(petrel_factory):
    """an Origin that is not this server's (scheme, Host, or [http] public_url) is 403;
    public_url's is accepted"""
    p = server(petrel_factory, http_public_url="https://mail.example.test")
    for origin in ("http://evil.test", "null", "https://127.0.0.1:%d" % p.ports["http"]):
        status, _, body = login(p, SENDER, SENDER_PASSWORD, origin=origin)
        assert status == 403, (origin, body)
    status, _, body = login(p, SENDER, SENDER_PASSWORD, origin="https://mail.example.test")
    assert status == 303, body


def test_lockout_shared_with_smtp(petrel_factory):
    """web failures count in SMTP's AUTH throttle: after lockout_after wrong passwords the
    address is locked out of the web login (the right password included) and of SMTP"""
    p = server(petrel_factory, slow_after=0, lockout_after=2, lockout_time=60)
    for _ in range(2):
        status, _, _ = login(p, SENDER, "wrong")
        assert status == 403
    # the listener itself now refuses the address (429), as SMTP answers 421 at connect
    status, _, _ = request(p, "GET", "/login")
    assert status == 429
    s = socket.create_connection(("127.0.0.1", p.sub), timeout=10)
    assert s.makefile("rb").readline().startswith(b"421 ")
    s.close()


def test_smtp_failures_lock_out_the_web_login(petrel_factory):
    """the other way: wrong SMTP AUTH passwords lock the address out of /login too"""
    p = server(petrel_factory, slow_after=0, lockout_after=2, lockout_time=60)
    token, cookie = form_token(p)
    for _ in range(2):
        c = p.connect("submission")
        c.banner()
        c.ehlo()
        c.starttls()
        c.ehlo()
        c.auth_plain(SENDER, "wrong", code=535, enhanced="5.7.8")
        c.close()
    c = http.client.HTTPConnection("127.0.0.1", p.ports["http"], timeout=10)
    try:
        body = encode(csrf=token, email=SENDER, password=SENDER_PASSWORD)
        c.request("POST", "/login", body, {"Cookie": cookie,
                                          "Content-Type": "application/x-www-form-urlencoded"})
        assert c.getresponse().status == 429
    except (ConnectionError, http.client.RemoteDisconnected):
        pass  # refused at connect: locked out all the same
    finally:
        c.close()
