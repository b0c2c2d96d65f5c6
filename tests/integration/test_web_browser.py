"""The web pages in a real browser (headless Chromium through Selenium, browser.py):
what a person signing up sees and can do. Screenshots go to the screenshots folder
(browser.py). The sign-up's later steps (verification, login, the dashboard) join this
walk as they land (docs/web.md)."""

import email
import email.policy
import re
import subprocess
import time

from selenium.webdriver.common.by import By

from browser import chromium, console_errors, follow, shot
from conftest import SENDER, SENDER_PASSWORD, add_listeners, wait_mail


def web_server(factory, **overrides):
    """a Petrel with an http listener whose [http] public_url is that listener's own
    address, as make run's is: the pages' links and commands point back at it"""
    p = factory(start=False, **overrides)
    add_listeners(p, "http")
    with open(p.config_path) as f:
        config = f.read()
    public = "public_url = %s\n" % url(p, "")
    if "\n[http]\n" in config:
        config = config.replace("\n[http]\n", "\n[http]\n" + public, 1)
    else:
        config = "[http]\n" + public + config
    with open(p.config_path, "w") as f:
        f.write(config)
    p.start()
    return p


def url(p, path):
    return "http://127.0.0.1:%d%s" % (p.ports["http"], path)


def test_signup_page_in_a_browser(petrel_factory, tmp_path):
    """the form as Chromium shows it: its title, each label focusing its field, the
    browser's own checks keeping an empty or malformed address from being sent, the CSRF
    cookie out of the page's reach (HttpOnly), and nothing refused by the page's CSP or
    otherwise logged as an error"""
    p = web_server(petrel_factory, signup="open")
    with chromium(tmp_path) as b:
        b.get(url(p, "/signup"))
        assert b.title.startswith("Sign up")
        assert b.find_element(By.TAG_NAME, "h1").text == "Sign up"
        for field in ("email", "password"):
            b.find_element(By.CSS_SELECTOR, 'label[for="%s"]' % field).click()
            assert b.switch_to.active_element.get_attribute("id") == field
        shot(b, "signup-form")
        # an empty form and a malformed address are stopped by the browser: no request
        b.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
        assert b.current_url == url(p, "/signup")
        email = b.find_element(By.ID, "email")
        email.send_keys("not an address")
        b.find_element(By.ID, "password").send_keys("correct horse battery")
        b.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
        assert b.current_url == url(p, "/signup")
        assert b.execute_script("return arguments[0].validity.typeMismatch", email)
        # the token is in a cookie the browser keeps but the page cannot read
        assert [c["name"] for c in b.get_cookies()] == ["petrel_csrf"]
        assert b.get_cookies()[0]["httpOnly"] and b.get_cookies()[0]["sameSite"] == "Strict"
        assert "petrel_csrf" not in b.execute_script("return document.cookie")
        assert console_errors(b) == []


def test_signup_closed_page_in_a_browser(petrel_factory, tmp_path):
    """sign-up closed (the default): the browser shows a page saying so and no form"""
    p = web_server(petrel_factory)
    with chromium(tmp_path) as b:
        b.get(url(p, "/signup"))
        assert b.find_element(By.TAG_NAME, "h1").text == "Sign-up is closed"
        assert b.find_elements(By.TAG_NAME, "form") == []
        assert b.get_cookies() == []
        shot(b, "signup-closed")
        # the 403 itself is logged by Chromium as a failed resource load: nothing else
        assert all("403" in m for m in console_errors(b))


def swaks_with_key(p, key, subject):
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % p.sub, "-tls", "--auth", "PLAIN",
         "--auth-user", "apikey", "--auth-password", key, "--from", SENDER,
         "--to", "u@example.test", "--helo", "swaks.example", "--timeout", "20",
         "--header", "Subject: %s" % subject],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    return re.search(r"queued as ([0-9A-F]{16})", r.stdout).group(1)


def test_login_dashboard_key_and_activity_in_a_browser(petrel_factory, tmp_path):
    """what a user does after sign-up, in Chromium: log in through the form, read the SMTP
    settings, make an API key on the keys page (shown once), send with swaks using it as
    the password of user apikey, and find the message in the activity feed; sandboxed,
    find the next one in the sandbox inbox with its markup shown as text; then log out,
    after which the dashboard sends the browser back to the login page"""
    p = web_server(petrel_factory)
    with chromium(tmp_path) as b:
        b.get(url(p, "/dashboard"))
        assert b.current_url == url(p, "/login")  # not logged in yet
        b.find_element(By.ID, "email").send_keys(SENDER)
        b.find_element(By.ID, "password").send_keys("not the password")
        follow(b, b.find_element(By.CSS_SELECTOR, 'button[type="submit"]'))
        assert "not right" in b.find_element(By.TAG_NAME, "main").text
        assert all("403" in m for m in console_errors(b))  # the refused login, only
        b.find_element(By.ID, "email").clear()
        b.find_element(By.ID, "email").send_keys(SENDER)
        b.find_element(By.ID, "password").send_keys(SENDER_PASSWORD)
        follow(b, b.find_element(By.CSS_SELECTOR, 'button[type="submit"]'))
        assert b.current_url == url(p, "/dashboard")
        assert b.find_element(By.ID, "smtp-user").text == SENDER
        assert str(p.sub) in b.find_element(By.TAG_NAME, "main").text
        shot(b, "dashboard")

        b.get(url(p, "/dashboard/api-keys"))
        b.find_element(By.ID, "name").send_keys("from the browser")
        follow(b, b.find_element(By.CSS_SELECTOR, 'form[action="/dashboard/api-keys"] button[type="submit"]'))
        assert b.find_elements(By.ID, "new-key"), b.page_source
        key = b.find_element(By.ID, "new-key").text
        assert re.fullmatch(r"PT\.[0-9a-f]{16}\.[0-9a-f]{64}", key), key

        # the dashboard's own command for the send API, run as the page says (the key
        # put where its first line says), sends a first message: 202 Accepted
        b.get(url(p, "/dashboard"))
        command = b.find_element(By.ID, "api-example").text
        assert command.startswith("export PETREL_API_KEY=")
        command = re.sub(r"^export PETREL_API_KEY='[^'\n]*'", "export PETREL_API_KEY='%s'" % key,
                         command)
        r = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0 and re.match(r"HTTP/1\.1 202 ", r.stdout), r.stdout + r.stderr
        assert re.search(r"(?im)^x-message-id: \S+\r?$", r.stdout), r.stdout
        [api_mail] = wait_mail(p.data_dir, "example.test", SENDER.split("@")[0], 1)
        assert b"Subject: Hello from Petrel" in api_mail
        shot(b, "dashboard-new-key")
        b.get(url(p, "/dashboard/api-keys"))
        assert key not in b.page_source and key[3:19] in b.page_source  # shown once

        queue_id = swaks_with_key(p, key, "from swaks")
        deadline = time.monotonic() + 20
        while True:
            b.get(url(p, "/dashboard/activity"))
            if queue_id in b.page_source or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert queue_id in b.page_source
        shot(b, "dashboard-activity")

        # sandboxed, the next message is kept, not sent: the sandbox inbox shows it, its
        # markup as text (an unescaped subject would make a <b> element, an <img> run)
        p.cli_ok("account", "set", SENDER, "--sandbox")
        swaks_with_key(p, key, "<b>kept</b><img src=x onerror=alert(1)>")
        deadline = time.monotonic() + 20
        while True:
            b.get(url(p, "/dashboard/sandbox"))
            links = b.find_elements(By.CSS_SELECTOR, 'a[href^="/dashboard/sandbox/message"]')
            if links or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert len(links) == 1, b.page_source
        follow(b, links[0])
        subject = b.find_element(By.ID, "field-Subject")
        assert subject.text == "<b>kept</b><img src=x onerror=alert(1)>"
        assert b.find_elements(By.CSS_SELECTOR, "main b, main img") == []
        shot(b, "dashboard-sandbox-message")
        assert console_errors(b) == []

        b.get(url(p, "/dashboard"))
        follow(b, b.find_element(By.CSS_SELECTOR, 'form[action="/logout"] button'))
        assert b.current_url == url(p, "/login")
        b.get(url(p, "/dashboard"))
        assert b.current_url == url(p, "/login")


def test_signup_verify_login_and_send_in_a_browser(petrel_factory, tmp_path):
    """a new user, start to first message, in Chromium: the sign-up form, the page saying
    mail is on its way, the link read from the Maildir the verification mail was delivered
    to, its page's button, the dashboard logged in through the form (first unverified, then
    active), and the message swaks sends with the new account's password"""
    p = web_server(petrel_factory, signup="open")
    new, password = "newcomer@example.test", "a new password 42"
    with chromium(tmp_path) as b:
        b.get(url(p, "/signup"))
        b.find_element(By.ID, "email").send_keys(new)
        b.find_element(By.ID, "password").send_keys(password)
        follow(b, b.find_element(By.CSS_SELECTOR, 'button[type="submit"]'))
        assert b.find_element(By.TAG_NAME, "h1").text == "Check your mail"
        shot(b, "signup-sent")

        b.get(url(p, "/login"))
        b.find_element(By.ID, "email").send_keys(new)
        b.find_element(By.ID, "password").send_keys(password)
        follow(b, b.find_element(By.CSS_SELECTOR, 'button[type="submit"]'))
        assert b.current_url == url(p, "/dashboard")
        assert "Unverified" in b.find_element(By.TAG_NAME, "main").text
        shot(b, "dashboard-unverified")

        [raw] = wait_mail(p.data_dir, "example.test", "newcomer", 1)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        [path] = re.findall(r"https?://[^/\s]+(/verify/[0-9a-f]{64})\s", msg.get_content())
        b.get(url(p, path))
        follow(b, b.find_element(By.CSS_SELECTOR, 'form[method="post"] button[type="submit"]'))
        assert b.find_element(By.TAG_NAME, "h1").text == "Address confirmed"
        shot(b, "signup-confirmed")

        b.get(url(p, "/dashboard"))
        state = b.find_element(By.CSS_SELECTOR, "ul.state").text
        assert "Active" in state and "Unverified" not in state
        assert b.find_element(By.ID, "smtp-user").text == new
        assert console_errors(b) == []
        shot(b, "dashboard-active")
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % p.sub, "-tls", "--auth", "PLAIN",
         "--auth-user", new, "--auth-password", password, "--from", new,
         "--to", "u@example.test", "--helo", "swaks.example", "--timeout", "20"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and "queued as" in r.stdout, r.stdout + r.stderr


def test_sandbox_html_part_sandboxed_in_a_browser(petrel_factory, tmp_path):
    """a kept message's HTML part in Chromium: shown in its frame, its script and its
    onerror never run (no alert, its text unchanged), its remote image never fetched
    (the local server it names counts no request); the console holds only the
    browser's refusals (sandboxed script, CSP)"""
    import http.server
    import threading
    from test_web_dashboard import mime_message, sandbox_send_raw

    hits = []

    class Pixel(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    pixel = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pixel)
    threading.Thread(target=pixel.serve_forever, daemon=True).start()
    try:
        p = web_server(petrel_factory)
        p.cli_ok("account", "set", SENDER, "--sandbox")
        sandbox_send_raw(p, mime_message(pixel.server_address[1]))
        with chromium(tmp_path) as b:
            b.get(url(p, "/login"))
            b.find_element(By.ID, "email").send_keys(SENDER)
            b.find_element(By.ID, "password").send_keys(SENDER_PASSWORD)
            follow(b, b.find_element(By.CSS_SELECTOR, 'button[type="submit"]'))
            deadline = time.monotonic() + 20
            while True:
                b.get(url(p, "/dashboard/sandbox"))
                links = b.find_elements(By.CSS_SELECTOR,
                                        'a[href^="/dashboard/sandbox/message"]')
                if links or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            follow(b, links[0])
            time.sleep(1)  # let the frame try whatever it would
            b.switch_to.frame(b.find_element(By.TAG_NAME, "iframe"))
            assert b.find_element(By.ID, "bold").text == "bold"  # the script did not run
            b.switch_to.default_content()
            assert "Café crème" in b.find_element(By.TAG_NAME, "main").text
            assert not b.execute_script("return typeof window.alertShown !== 'undefined'")
            try:
                b.switch_to.alert.dismiss()
                assert False, "an alert was shown"
            except Exception as e:
                assert type(e).__name__ == "NoAlertPresentException", e
            shot(b, "dashboard-sandbox-html")
            assert hits == []
            for m in console_errors(b):
                assert "sandboxed" in m or "Content Security Policy" in m, m
    finally:
        pixel.shutdown()
        pixel.server_close()
