"""The web sign-up's pages (src/http/web.c, page.c; docs/web.md) with urllib: GET /signup
as [web] signup sets it (closed: 403 and a page saying so; open and approval: the form),
server-rendered HTML that fetches nothing from elsewhere and runs no script, labelled
fields, and a CSRF token both in the form and in an HttpOnly, SameSite=Strict cookie
(Secure and __Host- prefixed on an https listener), new on each page."""

import re
import ssl
import urllib.error
import urllib.request

import pytest

from conftest import add_listeners


def server(factory, role="http", **overrides):
    p = factory(start=False, **overrides)
    add_listeners(p, role)
    p.start()
    return p


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
    assert e.value.code == 405 and e.value.headers["Allow"] == "GET, HEAD"
