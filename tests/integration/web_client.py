"""A browser's part for the web pages' tests (test_web_login.py, test_web_signup.py):
requests with http.client from a chosen loopback address, and forms posted with the
CSRF token and cookie of the page that shows them."""

import http.client
import re
import ssl
from urllib.parse import urlencode

from conftest import add_listeners

CSRF_RE = r'<input type="hidden" name="csrf" value="([0-9a-f]{64})">'


def server(factory, role="http", **overrides):
    """a server with a listener of ROLE (http or https) and OVERRIDES, started"""
    p = factory(start=False, **overrides)
    add_listeners(p, role)
    p.start()
    return p


def request(p, method, path, body=None, headers=None, role="http", source="127.0.0.1"):
    """status, header fields (lower-case names; Set-Cookie as a list), body text"""
    if role == "https":
        c = http.client.HTTPSConnection("127.0.0.1", p.ports[role], timeout=10,
                                        source_address=(source, 0),
                                        context=ssl._create_unverified_context())
    else:
        c = http.client.HTTPConnection("127.0.0.1", p.ports[role], timeout=10,
                                       source_address=(source, 0))
    h = dict(headers or {})
    if body is not None:
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    fields = {k.lower(): v for k, v in r.getheaders()}
    fields["set-cookie"] = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
    text = r.read().decode()
    c.close()
    return r.status, fields, text


def encode(**fields):
    """FIELDS as a form body (application/x-www-form-urlencoded)"""
    return urlencode(fields)


def form_token(p, path, role="http", source="127.0.0.1"):
    """the CSRF token of PATH's form and its cookie (name=value)"""
    status, fields, body = request(p, "GET", path, role=role, source=source)
    assert status == 200, body
    [token] = re.findall(CSRF_RE, body)
    [cookie] = fields["set-cookie"]
    return token, cookie.split(";")[0]


def post_form(p, path, role="http", source="127.0.0.1", origin=None, **fields):
    """GET PATH's form, then POST it with its CSRF token and FIELDS (and ORIGIN)"""
    token, cookie = form_token(p, path, role=role, source=source)
    headers = {"Cookie": cookie}
    if origin:
        headers["Origin"] = origin
    return request(p, "POST", path, urlencode(dict(csrf=token, **fields)), headers, role=role,
                   source=source)
