"""The logged-in web pages (src/http/web-session.c, web-dashboard.c; docs/web.md) with
http.client: the session cookie read through the store (no session or an expired one: 303
to /login), POST forms checked against the session's CSRF token (403 otherwise), POST
/logout, and GET /dashboard's SMTP settings, usage and account state.  Sessions are made
in the store as /login makes them: a row of web_secrets holding the SHA-256 of the
cookie's secret."""

import hashlib
import json
import http.client
import re
import secrets
import sqlite3
import time
import urllib.parse

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
    # nothing loaded from elsewhere (a URL may be shown as text, as the API's command is)
    assert "<script" not in body
    assert not re.search(r"""(?i)(src|href|action)\s*=\s*["']?\s*(https?:)?//|url\(""", body)
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


def test_dashboard_lists_a_port_once(petrel_factory):
    """submission on one port at two addresses (as IPv4 and IPv6 are): one row"""
    p = petrel_factory(start=False)
    add_listeners(p, "http")
    with open(p.config_path, "a") as f:
        f.write("\n[listener submission-2]\nrole = submission\naddress = 127.0.0.2:%d\n"
                % p.ports["submission"])
    p.start()
    secret, _ = login(p)
    status, _, body = request(p, "GET", "/dashboard", secret)
    assert status == 200, body
    assert body.count("<tr><td>%d</td>" % p.ports["submission"]) == 1, body


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


# ---- API keys page (web-dash-keys.c) ---------------------------------------------------


def bearer(p, key, path="/v3/scopes"):
    c = http.client.HTTPConnection("127.0.0.1", p.ports["http"], timeout=10)
    try:
        c.request("GET", path, headers={"Authorization": "Bearer " + key})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def key_ids(body):
    return re.findall(r'<input type="hidden" name="id" value="([0-9a-f]{16})">', body)


def test_api_keys_create_list_use_delete(web):
    """a key made on the page is shown once, listed by name, scopes and id (never the key),
    opens the API, and once deleted is refused"""
    secret, csrf = login(web)
    status, fields, body = request(web, "GET", "/dashboard/api-keys", secret)
    assert status == 200 and 'id="no-keys"' in body
    assert_page(fields, body)
    status, _, body = request(web, "POST", "/dashboard/api-keys", secret,
                              form={"csrf": csrf, "name": "ci", "scopes": "mail.send+stats.read"})
    assert status == 201, body
    [key] = re.findall(r'<code id="new-key">(PT\.[0-9a-f]{16}\.[0-9a-f]{64})</code>', body)
    assert bearer(web, key) == 200
    status, _, body = request(web, "GET", "/dashboard/api-keys", secret)
    assert status == 200 and key not in body and key[20:] not in body
    [kid] = key_ids(body)
    assert kid == key[3:19]
    assert "<td>ci</td><td>mail.send stats.read</td><td><code>%s</code>" % kid in body
    status, fields, _ = request(web, "POST", "/dashboard/api-keys/delete", secret,
                                form={"csrf": csrf, "id": kid})
    assert status == 303 and fields["location"] == "/dashboard/api-keys"
    assert bearer(web, key) == 401
    assert 'id="no-keys"' in request(web, "GET", "/dashboard/api-keys", secret)[2]


def test_api_keys_forms_need_the_token(web):
    """create and delete without the session's token: 403, nothing made or deleted"""
    secret, csrf = login(web)
    _, other_csrf = login(web, OTHER)
    for form in ({"name": "x", "scopes": "mail.send"},
                 {"csrf": other_csrf, "name": "x", "scopes": "mail.send"}):
        assert request(web, "POST", "/dashboard/api-keys", secret, form=form)[0] == 403
    assert 'id="no-keys"' in request(web, "GET", "/dashboard/api-keys", secret)[2]
    key = web.cli_ok("apikey", "add", SENDER, "--name", "cli").stdout.strip()
    assert request(web, "POST", "/dashboard/api-keys/delete", secret,
                   form={"id": key[3:19]})[0] == 403
    assert bearer(web, key) == 200


def test_api_keys_of_another_account(web):
    """an account neither sees nor deletes another's keys"""
    key = web.cli_ok("apikey", "add", OTHER, "--name", "theirs").stdout.strip()
    secret, csrf = login(web)
    _, _, body = request(web, "GET", "/dashboard/api-keys", secret)
    assert key[3:19] not in body and "theirs" not in body
    status, _, _ = request(web, "POST", "/dashboard/api-keys/delete", secret,
                           form={"csrf": csrf, "id": key[3:19]})
    assert status == 404
    assert bearer(web, key) == 200


def test_api_key_name_is_escaped_and_checked(web):
    secret, csrf = login(web)
    status, _, body = request(web, "POST", "/dashboard/api-keys", secret,
                              form={"csrf": csrf, "name": "%3Cb%3Ex%3C%2Fb%3E",
                                    "scopes": "mail.send"})
    assert status == 201 and "&lt;b&gt;x&lt;/b&gt;" in body and "<b>x" not in body
    _, _, body = request(web, "GET", "/dashboard/api-keys", secret)
    assert "<td>&lt;b&gt;x&lt;/b&gt;</td>" in body
    for form in ({"csrf": csrf, "name": "", "scopes": "mail.send"},
                 {"csrf": csrf, "name": "x", "scopes": "Mail!Send"},
                 {"csrf": csrf, "name": "x", "scopes": "+"}):
        assert request(web, "POST", "/dashboard/api-keys", secret, form=form)[0] == 400


# ---- activity page (web-dash-activity.c) -------------------------------------------------


def add_events(p, rows):
    """ROWS of (type, account, queue_id, recipient, code, reason), at now, in order"""
    db = sqlite3.connect(str(p.data_dir / "petrel.db"), timeout=10)
    now = int(time.time())
    with db:
        db.executemany("INSERT INTO events (time, type, account, queue_id, recipient, code,"
                       " reason) VALUES (?, ?, ?, ?, ?, ?, ?)", [(now,) + r for r in rows])
    db.close()


def event_rows(body):
    """(type, recipient, message id, reply) of each event shown, in order"""
    return re.findall(r"<tr><td>[0-9-]+ [0-9:]+</td><td>([^<]*)</td><td>([^<]*)</td>"
                      r"<td><code>([^<]*)</code></td><td>([^<]*)</td></tr>", body)


def test_activity_newest_first_escaped_and_own_only(web):
    add_events(web, [
        ("accepted", SENDER, "Q1", "x@remote.test", 250, "ok"),
        ("bounced", SENDER, "Q1", "x@remote.test", 550,
         "5.1.1 <script>alert(1)</script> no such user"),
        ("delivered", OTHER, "Q9", "secret@remote.test", 250, "theirs"),
    ])
    secret, _ = login(web)
    status, fields, body = request(web, "GET", "/dashboard/activity", secret)
    assert status == 200, body
    assert_page(fields, body)
    assert event_rows(body) == [
        ("bounced", "x@remote.test", "Q1",
         "550 5.1.1 &lt;script&gt;alert(1)&lt;/script&gt; no such user"),
        ("accepted", "x@remote.test", "Q1", "250 ok")]
    assert "secret@remote.test" not in body and "Q9" not in body
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert "<tr><th scope=\"row\">%s</th><td>1</td><td>0</td><td>1</td></tr>" % today in body
    assert "<svg role=\"img\"" in body


def test_activity_search(web):
    add_events(web, [
        ("accepted", SENDER, "QA", "a@remote.test", 250, "ok"),
        ("accepted", SENDER, "QB", "B@remote.test", 250, "ok"),
        ("deferred", SENDER, "QB", "b@remote.test", 451, "try later"),
        ("accepted", OTHER, "QC", "a@remote.test", 250, "ok"),
    ])
    secret, _ = login(web)
    rows = event_rows(request(web, "GET", "/dashboard/activity?recipient=b%40REMOTE.test",
                              secret)[2])
    assert [r[0] for r in rows] == ["deferred", "accepted"]
    rows = event_rows(request(web, "GET", "/dashboard/activity?type=accepted", secret)[2])
    assert [r[2] for r in rows] == ["QB", "QA"]
    rows = event_rows(request(web, "GET", "/dashboard/activity?message_id=QA&type=", secret)[2])
    assert rows == [("accepted", "a@remote.test", "QA", "250 ok")]
    _, _, body = request(web, "GET", "/dashboard/activity?recipient=a%40remote.test", secret)
    assert len(event_rows(body)) == 1 and 'value="a@remote.test"' in body


@pytest.mark.parametrize("value", ["x' OR '1'='1", "QA' OR 1=1 --", "'; DELETE FROM events; --",
                                   "a@remote.test' UNION SELECT * FROM events --", "%", "_"])
def test_activity_search_sql_injection(web, value):
    """a search value is a value: nothing found, nothing deleted, another account's rows
    never shown"""
    add_events(web, [("accepted", SENDER, "QA", "a@remote.test", 250, "ok"),
                     ("accepted", OTHER, "QZ", "z@remote.test", 250, "ok")])
    secret, _ = login(web)
    q = urllib.parse.quote(value, safe="")
    for field in ("recipient", "type", "message_id"):
        status, _, body = request(web, "GET", "/dashboard/activity?%s=%s" % (field, q), secret)
        assert status == 200 and 'id="no-events"' in body, (field, body)
    assert len(event_rows(request(web, "GET", "/dashboard/activity", secret)[2])) == 1


def test_activity_pages(web):
    """50 events a page, newest first; the link to older ones keeps the search"""
    add_events(web, [("accepted", SENDER, "Q%02d" % i, "p@remote.test", 250, "ok")
                     for i in range(55)] +
               [("accepted", SENDER, "QX", "other@remote.test", 250, "ok")])
    secret, _ = login(web)
    _, _, body = request(web, "GET", "/dashboard/activity?recipient=p%40remote.test", secret)
    rows = event_rows(body)
    assert len(rows) == 50 and rows[0][2] == "Q54" and rows[-1][2] == "Q05"
    [older] = re.findall(r'<a id="older" href="([^"]+)">', body)
    older = older.replace("&amp;", "&")
    assert "recipient=p%40remote.test" in older
    _, _, body = request(web, "GET", older, secret)
    assert [r[2] for r in event_rows(body)] == ["Q04", "Q03", "Q02", "Q01", "Q00"]
    assert 'id="older"' not in body
    for bad in ("before=abc", "before=-1", "recipient=" + "a" * 300):
        assert request(web, "GET", "/dashboard/activity?" + bad, secret)[0] == 400


# ---- suppressions page (web-dash-suppressions.c) -----------------------------------------


def test_suppressions_listed_escaped_and_removed(web):
    """the account's lists, a reason with markup escaped, another account's never shown;
    Remove (with the token) takes the address off, without it 403"""
    web.cli_ok("suppression", "add", SENDER, "gone@remote.test", "--type", "bounces",
               "--reason", "550 <b>no such user</b>")
    web.cli_ok("suppression", "add", SENDER, "nomore@remote.test", "--type", "unsubscribes")
    web.cli_ok("suppression", "add", OTHER, "theirs@remote.test", "--type", "bounces")
    secret, csrf = login(web)
    status, fields, body = request(web, "GET", "/dashboard/suppressions", secret)
    assert status == 200, body
    assert_page(fields, body)
    assert "<td>gone@remote.test</td>" in body and "<td>nomore@remote.test</td>" in body
    assert "550 &lt;b&gt;no such user&lt;/b&gt;" in body and "<b>no" not in body
    assert "theirs@remote.test" not in body
    form = {"list": "bounces", "email": "gone%40remote.test"}
    assert request(web, "POST", "/dashboard/suppressions/delete", secret, form=form)[0] == 403
    status, fields, _ = request(web, "POST", "/dashboard/suppressions/delete", secret,
                                form=dict(form, csrf=csrf))
    assert status == 303 and fields["location"] == "/dashboard/suppressions"
    _, _, body = request(web, "GET", "/dashboard/suppressions", secret)
    assert "gone@remote.test" not in body and "nomore@remote.test" in body
    # another account's address, a list it is not on, an unknown list: 404, nothing removed
    for form in ({"list": "bounces", "email": "theirs%40remote.test"},
                 {"list": "blocks", "email": "nomore%40remote.test"},
                 {"list": "nolist", "email": "nomore%40remote.test"}):
        status, _, _ = request(web, "POST", "/dashboard/suppressions/delete", secret,
                               form=dict(form, csrf=csrf))
        assert status == 404, form
    assert "theirs@remote.test" in web.cli_ok("suppression", "list", OTHER).stdout


# ---- through /login (web-login.c), as a browser does ----------------------------------------


@pytest.mark.parametrize("role", ["http", "https"])
def test_login_dashboard_logout(petrel_factory, role):
    """log in through /login, see the dashboard with the session's cookie (__Host- on
    https), a POST from another site's Origin is 403, log out with the page's token"""
    import test_web_login as wl
    from conftest import SENDER_PASSWORD
    p = wl.server(petrel_factory, role=role)
    status, fields, _ = wl.login(p, SENDER, SENDER_PASSWORD, role=role)
    assert status == 303 and fields["location"] == "/dashboard"
    name = "__Host-petrel_session" if role == "https" else "petrel_session"
    cookie = wl.session_cookie(fields, name).split(";")[0]
    status, _, body = wl.request(p, "GET", "/dashboard", headers={"Cookie": cookie}, role=role)
    assert status == 200 and '<code id="smtp-user">%s</code>' % SENDER in body
    [csrf] = re.findall(r'name="csrf" value="([0-9a-f]{64})"', body)[:1]
    status, _, _ = wl.request(p, "POST", "/logout", wl.encode(csrf=csrf),
                              {"Cookie": cookie, "Origin": "https://evil.example"}, role=role)
    assert status == 403
    status, fields, _ = wl.request(p, "POST", "/logout", wl.encode(csrf=csrf),
                                   {"Cookie": cookie}, role=role)
    assert status == 303 and fields["location"] == "/login"
    assert fields["set-cookie"][0].startswith(name + "=; ")
    status, fields, _ = wl.request(p, "GET", "/dashboard", headers={"Cookie": cookie}, role=role)
    assert status == 303 and fields["location"] == "/login"


# ---- sandbox inbox (web-dash-sandbox.c) ---------------------------------------------------


def sandbox_send(p, subject, body):
    sandbox_send_raw(p, ("From: a@b.test\r\nTo: r1@remote.test, r2@remote.test\r\n"
                         "Subject: %s\r\n\r\n%s\r\n" % (subject, body)).encode())


def sandbox_send_raw(p, message):
    import smtplib
    import ssl
    from conftest import SENDER_PASSWORD
    with smtplib.SMTP("127.0.0.1", p.sub, timeout=10) as c:
        c.starttls(context=ssl._create_unverified_context())
        c.login(SENDER, SENDER_PASSWORD)
        c.sendmail("a@b.test", ["r1@remote.test", "r2@remote.test"], message)


def sandbox_ids(p, secret, count=1):
    """the message links of the sandbox inbox, once COUNT are there (15 s at most)"""
    deadline = time.time() + 15
    while True:
        body = request(p, "GET", "/dashboard/sandbox", secret)[2]
        ids = re.findall(r'href="/dashboard/sandbox/message\?id=(\d+)"', body)
        if len(ids) >= count or time.time() > deadline:
            return ids
        time.sleep(0.3)


# multipart/mixed: an alternative of QP UTF-8 text and base64 HTML (a script, an onerror,
# a remote image), an ISO-8859-1 text part, and a PDF attachment with an RFC 2231 name
ATTACHMENT = bytes(range(256)) * 3
MIME_MESSAGE = (
    "From: a@b.test\r\nTo: r1@remote.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\npreamble\r\n"
    "--mix\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
    "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    "Caf=C3=A9 cr=C3=A8me <plain> & a very long line that is soft=\r\n broken\r\n"
    "--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
    "\r\n%s\r\n--alt--\r\n"
    "--mix\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\nOl=E9, gar=E7on\r\n"
    "--mix\r\nContent-Type: application/pdf\r\n"
    "Content-Disposition: attachment; filename*=utf-8''r%%C3%%A9sum%%C3%%A9%%22%%0D.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--mix--\r\n")
HTML_PART = ('<p>Hello <b id="bold">bold</b> "quoted" &amp; more</p>'
             '<script>document.getElementById("bold").textContent="ran"; alert(1)</script>'
             '<img src="x" onerror="alert(2)"><img src="http://127.0.0.1:%d/pixel.gif">')


def mime_message(pixel_port=9):
    import base64
    html = base64.encodebytes((HTML_PART % pixel_port).encode()).decode()
    pdf = base64.encodebytes(ATTACHMENT).decode()
    return (MIME_MESSAGE % (html.replace("\n", "\r\n").strip(),
                            pdf.replace("\n", "\r\n").strip())).encode()


def get_bytes(p, path, secret):
    """status, header fields (lower-case), body octets"""
    c = http.client.HTTPConnection("127.0.0.1", p.ports["http"], timeout=10)
    try:
        c.request("GET", path, headers={"Cookie": "petrel_session=" + secret})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_sandbox_message_parts_decoded_html_sandboxed(web):
    """a MIME message's parts: QP UTF-8 and ISO-8859-1 text decoded and escaped, the base64
    HTML only inside an <iframe sandbox> (no allow-*) whose srcdoc holds it escaped, the
    attachment listed with its decoded name and size, downloadable as octets
    (attachment, nosniff, CSP sandbox); failed before: the body was shown as sent"""
    import html as htmllib
    web.cli_ok("account", "set", SENDER, "--sandbox")
    sandbox_send_raw(web, mime_message())
    secret, _ = login(web)
    [eid] = sandbox_ids(web, secret)
    status, fields, body = request(web, "GET", "/dashboard/sandbox/message?id=" + eid, secret)
    assert status == 200, body
    assert "default-src 'none'" in fields["content-security-policy"]
    assert "Café crème &lt;plain&gt; &amp; a very long line that is soft broken" in body
    assert "Olé, garçon" in body
    [tag] = re.findall(r"<iframe [^>]*>", body)
    assert ' sandbox=""' in tag and "allow-" not in tag, tag
    srcdoc = htmllib.unescape(re.search(r'srcdoc="([^"]*)"', tag).group(1))
    assert srcdoc.startswith('<p>Hello <b id="bold">bold</b> "quoted" &amp; more</p><script>')
    outside = body.replace(tag, "")
    assert "<script" not in outside and "<b " not in outside and "<img" not in outside
    assert "onerror=&quot;" not in outside  # the base64 part is shown decoded only in the frame
    [row] = re.findall(r'<tr id="part-(\d+)"><td><a href="([^"]+)" download>([^<]*)</a></td>'
                       r"<td>application/pdf</td><td>(\d+)</td></tr>", body)
    part, href, name, size = row
    assert name == "résumé&quot;?.pdf" and int(size) == len(ATTACHMENT)
    assert "\nFrom: a@b.test\nTo: r1@remote.test\nSubject: parts\n" in body  # raw, lines kept
    status, fields, octets = get_bytes(web, htmllib.unescape(href), secret)
    assert status == 200 and octets == ATTACHMENT
    assert fields["content-type"] == "application/octet-stream"
    assert fields["content-disposition"] == (
        "attachment; filename=\"r__sum____.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%22%0D.pdf")
    assert fields["x-content-type-options"] == "nosniff"
    assert fields["content-security-policy"] == "default-src 'none'; sandbox"
    # the multiparts, the text parts, a part past the last, another account: 404
    assert part == "5"
    base = "/dashboard/sandbox/part?id=%s&part=" % eid
    for bad in ("0", "1", "2", "3", "4", "6", "99", "", "-1", "x", "9" * 12):
        assert get_bytes(web, base + bad, secret)[0] == 404, bad
    theirs, _ = login(web, OTHER)
    assert get_bytes(web, base + part, theirs)[0] == 404
    assert get_bytes(web, "/dashboard/sandbox/part?id=%d&part=%s" % (int(eid) + 1, part),
                     secret)[0] == 404


def test_sandbox_inbox_lists_and_shows_escaped(web):
    """a sandboxed account's message is listed once with both recipients; its page shows
    the decoded subject, the text and the raw message, markup escaped; another account
    cannot open it"""
    web.cli_ok("account", "set", SENDER, "--sandbox")
    sandbox_send(web, "<img src=x onerror=alert(1)> =?utf-8?q?caf=C3=A9?=",
                 "Hello <b>there</b> & bye")
    secret, _ = login(web)
    deadline = time.time() + 15
    while True:
        status, fields, body = request(web, "GET", "/dashboard/sandbox", secret)
        assert status == 200, body
        ids = re.findall(r'href="/dashboard/sandbox/message\?id=(\d+)"', body)
        if ids or time.time() > deadline:
            break
        time.sleep(0.3)
    assert_page(fields, body)
    [eid] = ids
    assert "r1@remote.test, r2@remote.test" in body or "r2@remote.test, r1@remote.test" in body
    status, fields, body = request(web, "GET", "/dashboard/sandbox/message?id=" + eid, secret)
    assert status == 200, body
    assert_page(fields, body)
    assert ('<dd id="field-Subject">&lt;img src=x onerror=alert(1)&gt; café</dd>' in body), body
    assert '<pre id="part-0">Hello &lt;b&gt;there&lt;/b&gt; &amp; bye\n</pre>' in body
    assert "Subject: &lt;img src=x onerror=alert(1)&gt; =?utf-8?q?caf=C3=A9?=" in body
    assert "<img" not in body and "<b>there" not in body
    theirs, _ = login(web, OTHER)
    assert request(web, "GET", "/dashboard/sandbox/message?id=" + eid, theirs)[0] == 404
    assert 'id="no-messages"' in request(web, "GET", "/dashboard/sandbox", theirs)[2]
    for bad in ("0", "-1", "abc", "", str(int(eid) + 1000), "9" * 30):
        assert request(web, "GET", "/dashboard/sandbox/message?id=" + bad, secret)[0] == 404


def test_sandbox_message_found_only_in_the_accounts_folder(web):
    """an event whose file lies elsewhere is not shown: only its name is looked for, in the
    account's own sandbox folder"""
    outside = web.data_dir / "outside.eml"
    outside.write_text("Subject: not yours\r\n\r\nsecret\r\n")
    add_events(web, [("sandboxed", SENDER, "QS", "x@remote.test", 250, str(outside))])
    secret, _ = login(web)
    body = request(web, "GET", "/dashboard/sandbox", secret)[2]
    [eid] = re.findall(r'href="/dashboard/sandbox/message\?id=(\d+)"', body)
    status, _, body = request(web, "GET", "/dashboard/sandbox/message?id=" + eid, secret)
    assert status == 404 and "secret" not in body


def test_dashboard_limits_are_settings(petrel_factory):
    """[web] dashboard_rows, dashboard_days and sandbox_show_size bound the pages"""
    p = server(petrel_factory, dashboard_rows="10", dashboard_days="3",
               sandbox_show_size="4k")
    add_events(p, [("accepted", SENDER, "Q%02d" % i, "p@remote.test", 250, "ok")
                   for i in range(12)])
    p.cli_ok("account", "set", SENDER, "--sandbox")
    sandbox_send(p, "big", "\r\n".join(["x" * 70] * 150))
    secret, _ = login(p)
    _, _, body = request(p, "GET", "/dashboard/activity?type=accepted", secret)
    assert len(event_rows(body)) == 10 and 'id="older"' in body
    assert len(re.findall(r'<tr><th scope="row">', body)) == 3
    deadline = time.time() + 15
    while True:
        body = request(p, "GET", "/dashboard/sandbox", secret)[2]
        ids = re.findall(r'href="/dashboard/sandbox/message\?id=(\d+)"', body)
        if ids or time.time() > deadline:
            break
        time.sleep(0.3)
    [eid] = ids
    _, _, body = request(p, "GET", "/dashboard/sandbox/message?id=" + eid, secret)
    assert 'id="cut"' in body and "4096 octets" in body
    [raw] = re.findall(r'<pre id="raw">(.*?)</pre>', body, re.S)
    assert len(raw) <= 4096 + 200   # escaping may lengthen the headers a little


# ---- sender identities (web-dash-senders.c) -----------------------------------------------


def test_senders_page_lists_the_accounts_identities(web):
    """the own address, the operator's rules with what they mean, escaped; another
    account sees only its own; a rule denying the own address says so"""
    web.cli_ok("sender", "allow", SENDER, "@example.org")
    web.cli_ok("sender", "deny", SENDER, "ceo@example.org")
    web.cli_ok("sender", "allow", OTHER, "@other.example")
    secret, _ = login(web)
    status, fields, body = request(web, "GET", "/dashboard/senders", secret)
    assert status == 200, body
    assert_page(fields, body)
    assert re.search(r'<tr id="own-name"><td>%s</td><td>yes</td>' % re.escape(SENDER), body)
    assert "<tr><td>@example.org</td><td>yes</td><td>every address of the domain</td>" in body
    assert "<tr><td>ceo@example.org</td><td>no</td><td>this address is denied</td>" in body
    assert "other.example" not in body
    assert '<a href="/dashboard/senders">' in body
    web.cli_ok("sender", "deny", SENDER, SENDER)
    body = request(web, "GET", "/dashboard/senders", secret)[2]
    assert re.search(r'<tr id="own-name"><td>%s</td><td>no</td>' % re.escape(SENDER), body)
    theirs, _ = login(web, OTHER)
    body = request(web, "GET", "/dashboard/senders", theirs)[2]
    assert "<tr><td>@other.example</td><td>yes</td>" in body and "example.org" not in body


def test_senders_page_needs_a_session(web):
    status, fields, _ = request(web, "GET", "/dashboard/senders")
    assert status == 303 and fields["location"] == "/login"


# ---- event webhook (web-dash-webhook.c) ---------------------------------------------------


def webhook_row(p, account=SENDER):
    db = sqlite3.connect(str(p.data_dir / "petrel.db"), timeout=10)
    row = db.execute("SELECT enabled, url, events, sign FROM webhooks WHERE account = ?",
                     (account,)).fetchone()
    db.close()
    return row


def test_webhook_form_saves_what_the_api_reads(web):
    """never set: all off; the form saves URL, the events ticked and signing (303 back);
    the page and the API's GET show them; an event the form does not show is kept"""
    secret, csrf = login(web)
    status, fields, body = request(web, "GET", "/dashboard/webhook", secret)
    assert status == 200, body
    assert_page(fields, body)
    assert 'id="enabled" name="enabled">' in body and 'value=""' in body
    url = "https://hooks.example.net/sg?a=1&b=<2>"
    status, fields, body = request(web, "POST", "/dashboard/webhook", secret, form={
        "csrf": csrf, "enabled": "on", "url": urllib.parse.quote(url, safe=""),
        "delivered": "on", "bounce": "on", "signed": "on"})
    assert status == 303 and fields["location"] == "/dashboard/webhook", body
    enabled, stored_url, events, sign = webhook_row(web)
    assert (enabled, stored_url, events, sign) == (1, url, (1 << 1) | (1 << 3), 1)
    body = request(web, "GET", "/dashboard/webhook", secret)[2]
    assert 'value="https://hooks.example.net/sg?a=1&amp;b=&lt;2&gt;"' in body
    for name, on in (("enabled", True), ("delivered", True), ("bounce", True),
                     ("processed", False), ("signed", True)):
        assert ('id="%s" name="%s" checked>' % (name, name) in body) == on, name
    # "open" (bit 5) set through the API stays when the form saves again
    db = sqlite3.connect(str(web.data_dir / "petrel.db"), timeout=10)
    with db:
        db.execute("UPDATE webhooks SET events = events | 32 WHERE account = ?", (SENDER,))
    db.close()
    status, _, _ = request(web, "POST", "/dashboard/webhook", secret, form={
        "csrf": csrf, "url": urllib.parse.quote(url, safe=""), "dropped": "on"})
    assert status == 303
    assert webhook_row(web) == (0, url, (1 << 4) | 32, 0)


@pytest.mark.parametrize("form, reason", [
    ({"enabled": "on", "url": ""}, "a URL is required"),
    ({"url": "ftp%3A%2F%2Fhooks.example.net%2F"}, "Not saved"),
    ({"url": "http%3A%2F%2Fhooks.example.net%2F"}, "Not saved"),
])
def test_webhook_form_refused(web, form, reason):
    """no URL to turn it on, a scheme that is not http(s), plain http to another host: 400,
    the reason shown, nothing stored"""
    secret, csrf = login(web)
    status, fields, body = request(web, "POST", "/dashboard/webhook", secret,
                                   form=dict(form, csrf=csrf))
    assert status == 400, body
    # (not assert_page: the reason may name the schemes "https://" and "http://")
    assert "default-src 'none'" in fields["content-security-policy"] and "<script" not in body
    assert 'id="refused"' in body and reason in body
    assert webhook_row(web) is None


def test_webhook_form_needs_the_sessions_token(web):
    secret, _ = login(web)
    status, _, _ = request(web, "POST", "/dashboard/webhook", secret, form={
        "csrf": "0" * 64, "enabled": "on", "url": "https%3A%2F%2Fh.example.net%2F"})
    assert status == 403
    assert webhook_row(web) is None
    theirs, _ = login(web, OTHER)
    assert 'value=""' in request(web, "GET", "/dashboard/webhook", theirs)[2]


# ---- the operator's view (web-dash-operator.c) --------------------------------------------


def test_operator_view_for_operators_only(petrel_factory):
    """an account in [web] operators (any case) sees the queue by state and every account
    with its state, and a link in the navigation; any other account 403 and no link;
    operator_rows bounds the list and says so"""
    p = server(petrel_factory, operators="nobody@example.test, %s" % SENDER.upper(),
               operator_rows=10)
    p.cli_ok("account", "set", OTHER, "--sandbox")
    p.cli_ok("queue", "stats")  # the server answers on its control socket
    secret, _ = login(p)
    status, fields, body = request(p, "GET", "/operator", secret)
    assert status == 200, body
    assert_page(fields, body)
    assert '<a href="/operator">' in body
    for state in ("ready", "delivering", "retrying", "deferred", "held"):
        assert re.search(r'<td id="queue-%s">\d+</td>' % state, body), state
    accounts = json.loads(p.cli_ok("account", "list", "--json").stdout)
    total = int(re.search(r'<span id="accounts-count">(\d+)</span>', body).group(1))
    assert total == len(accounts) > 10
    assert '<span id="accounts-shown">1 to 10</span>' in body
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\w+)</td>", body)
    names = sorted(a["name"] for a in accounts)
    assert [n for n, _ in rows] == names[:10]
    assert (OTHER, "sandbox") in rows or OTHER not in names[:10]
    assert 'id="previous"' not in body and '<a id="next" href="/operator?page=2">' in body
    # the pages after it (operator_rows each; failed before: one page, no links)
    seen, page = [n for n, _ in rows], 1
    while 'id="next"' in body and page < 100:
        page += 1
        status, _, body = request(p, "GET", "/operator?page=%d" % page, secret)
        assert status == 200 and '<a id="previous" href="/operator?page=%d">' % (page - 1) in body
        rows = re.findall(r"<tr><td>([^<]+)</td><td>(\w+)</td>", body)
        assert 0 < len(rows) <= 10
        seen += [n for n, _ in rows]
    assert seen == names and page == (len(names) + 9) // 10
    body = request(p, "GET", "/operator?page=%d" % (page + 1), secret)[2]
    assert not re.findall(r"<tr><td>([^<]+)</td><td>(\w+)</td>", body) and 'id="next"' not in body
    for bad in ("0", "-1", "x", "", "99999999999"):
        assert request(p, "GET", "/operator?page=" + bad, secret)[0] == 400, bad
    theirs, _ = login(p, OTHER)
    status, _, body = request(p, "GET", "/operator", theirs)
    assert status == 403 and "Operators only" in body
    assert '<a href="/operator">' not in request(p, "GET", "/dashboard", theirs)[2]


def test_operator_view_none_by_default(web):
    secret, _ = login(web)
    assert request(web, "GET", "/operator", secret)[0] == 403
