"""Issue 3: accounts, SMTP AUTH (PLAIN, LOGIN, SCRAM-SHA-256), sender authorization, sending
limits, AUTH throttling, sandbox accounts and events, against the real binary with real
clients (smtplib, swaks, curl) and a SCRAM client written here from RFC 5802 / RFC 7677."""

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import shutil
import smtplib
import subprocess
import threading
import time

import pytest

from conftest import (PETREL_BIN, SENDER, SENDER_PASSWORD, SMTPClient, assert_queued,
                      client_tls_context, fault_env, make_message, petrel_env)

PW = "correct horse 42"


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def need(tool):
    path = shutil.which(tool)
    if not path:
        pytest.skip("%s not installed (scripts/install-deps.sh installs it)" % tool)
    return path


def run(args, timeout=60):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def add_account(p, name, *opts, password=PW):
    p.cli_ok("account", "add", name, "--password-stdin", *opts, input=password + "\n")


def add_account_with(conf, name, password=PW):
    """`petrel account add NAME` with another configuration file (CONF) than the
    server's: an account made under other settings."""
    r = subprocess.run([PETREL_BIN, "account", "add", name, "--password-stdin", "-c", str(conf)],
                       input=password + "\n", capture_output=True, text=True, timeout=60,
                       env=petrel_env())
    assert r.returncode == 0, r.stderr


def events(p, *args):
    r = p.cli_ok("events", "--json", *args)
    return json.loads(r.stdout)


def wait_events(p, pred, n=1, *args, timeout=10.0):
    """Events (of `petrel events --json ARGS`) matching PRED, once there are at least N."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in events(p, *args) if pred(e)]
        if len(found) >= n:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("%d matching event(s) after %.0fs, expected %d; all: %r"
                                 % (len(found), timeout, n, events(p)))
        time.sleep(0.1)


def queue_list(p):
    return json.loads(p.cli_ok("queue", "list", "--json").stdout)


def tls_session(p, role="submission"):
    """A session under TLS, EHLO done, not authenticated."""
    c = p.connect(role)
    c.banner()
    c.ehlo()
    if role != "submissions":
        c.starttls()
        c.ehlo()
    return c


def ehlo_auth_line(reply):
    return [l for l in reply.lines[1:] if l.upper().startswith("AUTH")]


def rcpts(c, addresses):
    """RCPT each address; the replies in order."""
    return [c.cmd("RCPT TO:<%s>" % a) for a in addresses]


def send_data(c, message):
    c.expect("DATA", 354)
    c.send(message + b".\r\n")
    return c.read_reply()


def tomorrow_utc():
    return (datetime.datetime.now(datetime.timezone.utc).date()
            + datetime.timedelta(days=1)).strftime("%Y-%m-%d")


def wait_for_safe_minute(margin=8):
    """Sleep past a minute boundary if fewer than MARGIN seconds are left in this one, so
    a per-minute window does not roll over in the middle of a scenario."""
    s = time.time() % 60
    if s > 60 - margin:
        time.sleep(60 - s + 0.5)


# ------------------------------------------------------------------------- SCRAM client

def scram_exchange(c, user, password, expect_ok=True, gs2="n,,"):
    """AUTH SCRAM-SHA-256 (RFC 5802, RFC 7677) with an initial response.  On success
    checks the server signature (v=) and returns the 235 reply; otherwise returns the
    reply to the client-final message."""
    cnonce = b64(os.urandom(18))
    client_first_bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), cnonce)
    r = c.cmd("AUTH SCRAM-SHA-256 " + b64(gs2 + client_first_bare))
    assert r.code == 334, r
    server_first = base64.b64decode(r.lines[0]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(cnonce) and len(attrs["r"]) > len(cnonce), server_first
    salt = base64.b64decode(attrs["s"])
    iterations = int(attrs["i"])
    assert iterations >= 4096, server_first  # RFC 7677 4
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    final_without_proof = "c=%s,r=%s" % (b64(gs2), attrs["r"])
    auth_message = ",".join([client_first_bare, server_first, final_without_proof]).encode()
    client_sig = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, client_sig))
    r = c.cmd(b64(final_without_proof + ",p=" + b64(proof)))
    if not expect_ok:
        return r
    assert r.code == 334, r
    server_final = base64.b64decode(r.lines[0]).decode()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    server_sig = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    assert server_final == "v=" + b64(server_sig), \
        "server signature wrong: the server does not know the credentials (%r)" % server_final
    return c.cmd("")


# ------------------------------------------------------------------ AUTH with real clients

@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize("role", ["submission", "submissions"])
def test_smtplib_auth(petrel, role, mech):
    if role == "submission":
        s = smtplib.SMTP(petrel.host, petrel.sub, timeout=10)
        s.starttls(context=client_tls_context())
    else:
        s = smtplib.SMTP_SSL(petrel.host, petrel.smtps, timeout=10,
                             context=client_tls_context())
    with s:
        s.ehlo("smtplib.example")
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
        s.user, s.password = SENDER, SENDER_PASSWORD
        code, text = s.auth(mech, getattr(s, "auth_" + mech.lower()),
                            initial_response_ok=(mech == "PLAIN"))
        assert (code, text) == (235, b"2.7.0 Authentication successful")
        assert s.sendmail("a@b.test", ["u@example.test"], make_message()) == {}
    petrel.mail("example.test", "u", 1)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize("tls", ["-tls", "--tls-on-connect"])
def test_swaks_auth(petrel, tls, mech):
    need("swaks")
    port = petrel.sub if tls == "-tls" else petrel.smtps
    r = run(["swaks", "--server", "127.0.0.1:%d" % port, tls, "--auth", mech,
             "--auth-user", SENDER, "--auth-password", SENDER_PASSWORD,
             "--from", "a@b.test", "--to", "u@example.test", "--helo", "swaks.example",
             "--timeout", "20"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^<~ +235 2\.7\.0 Authentication successful", r.stdout, re.M), r.stdout
    petrel.mail("example.test", "u", 1)


def test_swaks_wrong_password(petrel):
    need("swaks")
    r = run(["swaks", "--server", "127.0.0.1:%d" % petrel.sub, "-tls", "--auth", "PLAIN",
             "--auth-user", SENDER, "--auth-password", "wrong", "--from", "a@b.test",
             "--to", "u@example.test", "--timeout", "20"])
    assert r.returncode == 28, "swaks exit %d (28 = AUTH failed)\n%s" % (r.returncode, r.stdout)
    assert re.search(r"^<~\* +535 5\.7\.8 ", r.stdout, re.M), r.stdout


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize("scheme", ["starttls", "smtps"])
def test_curl_auth(petrel, tmp_path, scheme, mech):
    need("curl")
    f = tmp_path / "m.eml"
    f.write_bytes(make_message(subject="curl auth"))
    if scheme == "starttls":
        url = ["smtp://127.0.0.1:%d/curl.example" % petrel.sub, "--ssl-reqd"]
    else:
        url = ["smtps://127.0.0.1:%d/curl.example" % petrel.smtps]
    r = run(["curl", "-v", "-sS", "-k", "--max-time", "20", *url,
             "--user", "%s:%s" % (SENDER, SENDER_PASSWORD), "--login-options", "AUTH=" + mech,
             "--mail-from", "a@b.test", "--mail-rcpt", "u@example.test",
             "--upload-file", str(f)])
    assert r.returncode == 0, r.stderr
    assert "> AUTH %s" % mech in r.stderr, r.stderr
    assert "< 235 2.7.0 Authentication successful" in r.stderr, r.stderr
    petrel.mail("example.test", "u", 1)


def test_curl_wrong_password(petrel, tmp_path):
    need("curl")
    f = tmp_path / "m.eml"
    f.write_bytes(make_message())
    r = run(["curl", "-v", "-sS", "-k", "--max-time", "20", "--ssl-reqd",
             "smtp://127.0.0.1:%d/curl.example" % petrel.sub, "--user", SENDER + ":nope",
             "--mail-from", "a@b.test", "--mail-rcpt", "u@example.test",
             "--upload-file", str(f)])
    assert r.returncode == 67, (r.returncode, r.stderr)  # CURLE_LOGIN_DENIED
    assert "< 535 5.7.8 Authentication credentials invalid" in r.stderr, r.stderr


# ------------------------------------------------------------------------------ SCRAM

@pytest.mark.parametrize("role", ["submission", "submissions"])
def test_scram_sha256_login(petrel, role):
    c = tls_session(petrel, role)
    r = scram_exchange(c, SENDER, SENDER_PASSWORD)
    assert (r.code, r.enhanced) == (235, "2.7.0"), r
    qid = assert_queued(c.mail_transaction("a@b.test", ["u@example.test"], make_message()))
    c.quit()
    [raw] = petrel.mail("example.test", "u", 1)
    assert qid.encode() in raw


def test_scram_sha256_wrong_password(petrel):
    c = tls_session(petrel)
    r = scram_exchange(c, SENDER, "not-the-password", expect_ok=False)
    assert (r.code, r.enhanced) == (535, "5.7.8"), r
    c.expect("MAIL FROM:<a@b.test>", 530, "5.7.0")
    c.quit()


def test_scram_sha256_unknown_user_same_reply(petrel):
    """An unknown user goes through the same exchange (a salt and a nonce) and fails at the
    proof with the same reply as a wrong password."""
    c = tls_session(petrel)
    r = scram_exchange(c, "nobody@example.test", "whatever", expect_ok=False)
    assert (r.code, r.lines) == (535, ["5.7.8 Authentication credentials invalid"]), r
    c.quit()


def scram_first(c, user):
    """Send a SCRAM client-first message for USER, read the server-first message, cancel;
    returns (salt, iterations)."""
    r = c.cmd("AUTH SCRAM-SHA-256 " + b64("n,,n=%s,r=%s" % (user, b64(os.urandom(18)))))
    assert r.code == 334, r
    attrs = dict(kv.split("=", 1) for kv in base64.b64decode(r.lines[0]).decode().split(","))
    c.expect("*", 501, "5.0.0")
    return attrs["s"], int(attrs["i"])


def test_scram_unknown_user_looks_like_a_real_one(petrel):
    """A real account shows the same salt and count every time; an unknown user must
    too (derived from the server secret in the data folder, stable across restarts),
    with the same count as new accounts get (100,000 by default)."""
    c = tls_session(petrel)
    real = [scram_first(c, SENDER) for _ in range(2)]
    unknown = [scram_first(c, "nobody@example.test") for _ in range(2)]
    other = scram_first(c, "somebody-else@example.test")
    upper = scram_first(c, "NoBody@Example.Test")
    c.quit()
    assert real[0] == real[1], real
    assert real[0][1] == 65536, real  # [auth] scram_iterations default
    assert unknown[0] == unknown[1], unknown
    assert unknown[0][1] == real[0][1], (unknown, real)
    assert len(base64.b64decode(unknown[0][0])) == len(base64.b64decode(real[0][0]))
    assert other[0] != unknown[0][0] and other[1] == real[0][1]
    assert upper == unknown[0], "names are compared in any case: so must the fake salt be"
    secret = petrel.data_dir / "auth" / "auth-secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert (petrel.data_dir / "auth").stat().st_mode & 0o777 == 0o700
    assert not (petrel.data_dir / "auth-secret").exists()
    petrel.restart()
    c = tls_session(petrel)
    assert scram_first(c, "nobody@example.test") == unknown[0]
    c.quit()


def test_scram_iterations_setting_and_old_accounts(petrel_factory, tmp_path):
    """Accounts keep the count they were made with: one made with 4096 (as before) still
    logs in with SCRAM when new accounts get 200,000 ([auth] scram_iterations)."""
    p = petrel_factory(scram_iterations=200000)
    old_conf = tmp_path / "old.conf"
    old_conf.write_text(p.config_path.read_text().replace(
        "scram_iterations = 200000", "scram_iterations = 4096"))
    add_account_with(old_conf, "old@example.test")
    add_account(p, "new@example.test")
    c = tls_session(p)
    assert scram_first(c, "old@example.test")[1] == 4096
    assert scram_first(c, "new@example.test")[1] == 200000
    assert scram_first(c, "nobody@example.test")[1] == 200000
    r = scram_exchange(c, "old@example.test", PW)
    assert (r.code, r.enhanced) == (235, "2.7.0"), r
    c.quit()
    c = tls_session(p)
    r = scram_exchange(c, "new@example.test", PW)
    assert (r.code, r.enhanced) == (235, "2.7.0"), r
    c.quit()
    # a PLAIN login (the password at hand) brings the old account up to 200,000
    c = p.auth_session(user="old@example.test", password=PW)
    c.quit()
    c = tls_session(p)
    assert scram_first(c, "old@example.test")[1] == 200000
    r = scram_exchange(c, "old@example.test", PW)
    assert (r.code, r.enhanced) == (235, "2.7.0"), r
    c.quit()
    assert "scram-upgraded account=old@example.test iterations=200000" in \
        p.wait_log("scram-upgraded")


def test_scram_default_and_accounts_made_before(petrel_factory, tmp_path):
    """The default [auth] scram_iterations is 65536, the most Cyrus SASL's SCRAM client
    (mbsync, mutt, KMail) computes; an account made with 100000 (the default before)
    keeps its count and logs in with SCRAM, a PLAIN login never lowers it (only raises),
    and `petrel account passwd` remakes it with the setting."""
    p = petrel_factory()
    old_conf = tmp_path / "old.conf"
    old_conf.write_text(p.config_path.read_text() + "\n[auth]\nscram_iterations = 100000\n")
    add_account_with(old_conf, "old@example.test")
    add_account(p, "new@example.test")
    c = tls_session(p)
    assert scram_first(c, "new@example.test")[1] == 65536
    assert scram_first(c, "nobody@example.test")[1] == 65536
    assert scram_first(c, "old@example.test")[1] == 100000
    r = scram_exchange(c, "old@example.test", PW)
    assert (r.code, r.enhanced) == (235, "2.7.0"), r
    c.quit()
    c = p.auth_session(user="old@example.test", password=PW)
    c.quit()
    c = tls_session(p)
    assert scram_first(c, "old@example.test")[1] == 100000
    c.quit()
    p.cli_ok("account", "passwd", "old@example.test", "--password-stdin", input=PW + "\n")
    c = tls_session(p)
    assert scram_first(c, "old@example.test")[1] == 65536
    r = scram_exchange(c, "old@example.test", PW)
    assert (r.code, r.enhanced) == (235, "2.7.0"), r
    c.quit()


def test_scram_gs2_y_flag(petrel):
    """RFC 5802 6: "y" (the client could do channel binding but thinks the server cannot)
    is fine for a server without SCRAM-SHA-256-PLUS."""
    c = tls_session(petrel)
    r = scram_exchange(c, SENDER, SENDER_PASSWORD, gs2="y,,")
    assert (r.code, r.enhanced) == (235, "2.7.0"), r
    c.quit()


def test_scram_nonce_tampered(petrel):
    """A client-final whose nonce is not the combined nonce is refused; no login."""
    c = tls_session(petrel)
    r = c.cmd("AUTH SCRAM-SHA-256 " + b64("n,,n=%s,r=clientnonce123456" % SENDER))
    assert r.code == 334, r
    attrs = dict(kv.split("=", 1) for kv in base64.b64decode(r.lines[0]).decode().split(","))
    r = c.cmd(b64("c=biws,r=%sX,p=%s" % (attrs["r"], b64(b"x" * 32))))
    assert (r.code, r.enhanced) == (501, "5.5.2"), r
    c.expect("MAIL FROM:<a@b.test>", 530, "5.7.0")
    c.quit()


def test_scram_channel_binding_request_refused(petrel):
    """"p=" asks for channel binding, which SCRAM-SHA-256 (not -PLUS) does not offer."""
    c = tls_session(petrel)
    c.expect("AUTH SCRAM-SHA-256 " + b64("p=tls-exporter,,n=%s,r=abc" % SENDER), 501, "5.5.2")
    c.quit()


def test_scram_without_initial_response(petrel):
    c = tls_session(petrel)
    r = c.cmd("AUTH SCRAM-SHA-256")
    assert (r.code, r.lines) == (334, [""]), r
    c.expect(b64("n,,n=%s,r=abcdefghijklmnop" % SENDER), 334)
    c.expect("*", 501)
    c.expect("MAIL FROM:<a@b.test>", 530, "5.7.0")
    c.quit()


def test_scram_imported_hash_account_has_no_scram(petrel):
    """An account with an imported crypt hash logs in with PLAIN but not with SCRAM."""
    c = tls_session(petrel)
    r = scram_exchange(c, "u@example.test", "secret", expect_ok=False)
    assert (r.code, r.enhanced) == (535, "5.7.8"), r
    c.auth_plain("u@example.test", "secret")
    c.quit()


# ------------------------------------------------------------------- when AUTH is offered

@pytest.mark.parametrize("role", ["mx", "submission"])
def test_auth_not_offered_without_tls(petrel, role):
    c = petrel.session(role)
    r = c.ehlo()
    assert ehlo_auth_line(r) == [], r
    c.expect("AUTH PLAIN " + b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD)), 538, "5.7.11")
    c.expect("AUTH LOGIN", 538, "5.7.11")
    c.expect("MAIL FROM:<a@b.test>", 530 if role == "submission" else 250)
    c.quit()


@pytest.mark.parametrize("role", ["mx", "submission", "submissions"])
def test_auth_offered_under_tls(petrel, role):
    c = petrel.connect(role)
    c.banner()
    r = c.ehlo()
    if role != "submissions":
        c.starttls()
        r = c.ehlo()
    assert ehlo_auth_line(r) == ["AUTH PLAIN LOGIN SCRAM-SHA-256"], r
    c.quit()


def test_auth_plaintext_loopback(petrel_factory):
    p = petrel_factory(plaintext_loopback="true")
    c = p.session("submission")
    r = c.ehlo()
    assert ehlo_auth_line(r) == ["AUTH PLAIN LOGIN SCRAM-SHA-256"], r
    c.auth_plain(SENDER, SENDER_PASSWORD)
    assert_queued(c.mail_transaction("a@b.test", ["u@example.test"], make_message()))
    c.quit()
    p.mail("example.test", "u", 1)


def test_auth_needs_ehlo(petrel):
    c = petrel.connect("submissions")
    c.banner()
    c.expect("AUTH PLAIN " + b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD)), 503, "5.5.1")
    c.expect("HELO client.example", 250)
    c.expect("AUTH PLAIN " + b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD)), 503, "5.5.1")
    c.quit()


# --------------------------------------------------------------------- AUTH failures

def test_auth_wrong_password(petrel):
    c = tls_session(petrel)
    r = c.auth_plain(SENDER, "wrong-pass", 535, "5.7.8")
    assert r.lines == ["5.7.8 Authentication credentials invalid"], r
    c.expect("MAIL FROM:<a@b.test>", 530, "5.7.0")
    c.auth_plain(SENDER, SENDER_PASSWORD)
    c.expect("MAIL FROM:<a@b.test>", 250, "2.1.0")
    c.quit()


def test_auth_unknown_user_same_reply(petrel):
    c = tls_session(petrel)
    wrong = c.auth_plain(SENDER, "wrong-pass", 535, "5.7.8")
    unknown = c.auth_plain("nobody@example.test", "wrong-pass", 535, "5.7.8")
    assert unknown.lines == wrong.lines, (wrong, unknown)
    c.quit()


def test_auth_login_wrong_password(petrel):
    c = tls_session(petrel)
    assert c.expect("AUTH LOGIN", 334).lines == ["VXNlcm5hbWU6"]
    r = c.expect(b64(SENDER), 334)
    assert r.lines == ["UGFzc3dvcmQ6"], r
    c.expect(b64("nope"), 535, "5.7.8")
    c.quit()


def test_auth_login_initial_response(petrel):
    c = tls_session(petrel)
    r = c.expect("AUTH LOGIN " + b64(SENDER), 334)
    assert r.lines == ["UGFzc3dvcmQ6"], r
    c.expect(b64(SENDER_PASSWORD), 235, "2.7.0")
    c.quit()


def test_auth_disabled_account(petrel):
    add_account(petrel, "off@example.test")
    petrel.cli_ok("account", "disable", "off@example.test")
    c = tls_session(petrel)
    r = c.auth_plain("off@example.test", PW, 535, "5.7.8")
    assert r.lines == ["5.7.8 Authentication credentials invalid"], r
    c.quit()
    [ev] = wait_events(petrel, lambda e: e["type"] == "auth-failed")
    assert ev["account"] == "off@example.test" and ev["reason"] == "disabled", ev
    assert ev["code"] == 535, ev
    petrel.cli_ok("account", "enable", "off@example.test")
    c = tls_session(petrel)
    c.auth_plain("off@example.test", PW)
    c.quit()


def test_auth_account_without_credentials(petrel):
    """An account whose row in auth/credentials.db is missing (an `account add` that failed
    half-way) cannot log in, by any mechanism, with its old password or any other."""
    import sqlite3
    add_account(petrel, "half@example.test")
    db = sqlite3.connect(str(petrel.data_dir / "auth" / "credentials.db"), timeout=10)
    with db:
        assert db.execute("DELETE FROM credentials WHERE name = 'half@example.test'").rowcount == 1
    db.close()
    c = tls_session(petrel)
    c.auth_plain("half@example.test", PW, 535, "5.7.8")
    c.auth_plain("half@example.test", "anything", 535, "5.7.8")
    r = scram_exchange(c, "half@example.test", PW, expect_ok=False)
    assert r.code == 535, r
    c.quit()
    evs = wait_events(petrel, lambda e: e["type"] == "auth-failed"
                      and e["account"] == "half@example.test", n=3)
    # the auth process holds no credentials for the name: to it, it is unknown
    assert [e["reason"] for e in evs[:3]] == ["no-such-account"] * 3, evs


def test_auth_disabled_account_scram(petrel):
    add_account(petrel, "off@example.test")
    petrel.cli_ok("account", "disable", "off@example.test")
    c = tls_session(petrel)
    r = scram_exchange(c, "off@example.test", PW, expect_ok=False)
    assert (r.code, r.enhanced) == (535, "5.7.8"), r
    c.expect("MAIL FROM:<off@example.test>", 530, "5.7.0")
    c.quit()


@pytest.mark.parametrize("line", ["AUTH PLAIN !!!notbase64", "AUTH PLAIN " + b64("no-nuls"),
                                  "AUTH PLAIN " + b64("a\0b")])
def test_auth_malformed_initial_response(petrel, line):
    c = tls_session(petrel)
    c.expect(line, 501, "5.5.2")
    c.auth_plain(SENDER, SENDER_PASSWORD)  # the session is usable afterwards
    c.quit()


def test_auth_malformed_continuation(petrel):
    c = tls_session(petrel)
    c.expect("AUTH PLAIN", 334)
    c.expect("%%%not base64%%%", 501, "5.5.2")
    c.expect("NOOP", 250)
    c.quit()


@pytest.mark.parametrize("initial", [False, True])
def test_auth_cancel(petrel, initial):
    """RFC 4954 4: "*" cancels the exchange; the server answers 501."""
    c = tls_session(petrel)
    if initial:
        c.expect("AUTH PLAIN *", 501, "5.0.0")
    else:
        c.expect("AUTH LOGIN", 334)
        c.expect(b64(SENDER), 334)
        c.expect("*", 501, "5.0.0")
    c.expect("NOOP", 250, "2.0.0")
    c.expect("MAIL FROM:<a@b.test>", 530, "5.7.0")
    c.auth_plain(SENDER, SENDER_PASSWORD)
    c.quit()


def test_auth_plain_equals_is_empty_initial_response(petrel):
    """RFC 4954 4: "=" is an empty initial response (not "no initial response"); an empty
    PLAIN message is malformed, so no 334 challenge follows."""
    c = tls_session(petrel)
    c.expect("AUTH PLAIN =", 501, "5.5.2")
    c.auth_plain(SENDER, SENDER_PASSWORD)
    c.quit()


def test_auth_twice(petrel):
    c = petrel.auth_session()
    c.expect("AUTH PLAIN " + b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD)), 503, "5.5.1")
    c.quit()


def test_auth_in_transaction(petrel):
    c = tls_session(petrel, "mx")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("AUTH PLAIN " + b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD)), 503, "5.5.1")
    c.expect("RSET", 250)
    c.auth_plain(SENDER, SENDER_PASSWORD)
    c.quit()


def test_auth_unknown_mechanism(petrel):
    c = tls_session(petrel)
    c.expect("AUTH CRAM-MD5", 504, "5.5.4")
    c.expect("AUTH X-NOPE " + b64("x"), 504, "5.5.4")
    c.quit()


def test_auth_authzid_other_user_refused(petrel):
    """PLAIN with an authorization identity naming another account must not log in as it
    (Petrel has no proxy authorization)."""
    c = tls_session(petrel)
    r = c.cmd("AUTH PLAIN " + b64("u@example.test\0%s\0%s" % (SENDER, SENDER_PASSWORD)))
    assert r.code in (535, 501), r
    c.quit()


def test_auth_username_ignores_case(petrel):
    c = tls_session(petrel)
    c.auth_plain(SENDER.upper(), SENDER_PASSWORD)
    c.expect("MAIL FROM:<a@b.test>", 250, "2.1.0")
    c.quit()


def test_auth_pipelined_with_transaction(petrel):
    """AUTH, MAIL and RCPT in one write: answered in order, MAIL sees the login."""
    c = tls_session(petrel)
    c.send("AUTH PLAIN %s\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\n"
           % b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD)))
    got = [c.read_reply() for _ in range(3)]
    assert [(r.code, r.enhanced) for r in got] == [(235, "2.7.0"), (250, "2.1.0"),
                                                   (250, "2.1.5")], got
    c.quit()


def test_auth_response_line_too_long(petrel):
    """A SASL response longer than RFC 4954's 12288 octets ends the exchange; the session
    goes on, not logged in."""
    c = tls_session(petrel)
    c.expect("AUTH PLAIN", 334)
    c.send("A" * 20000 + "\r\n")
    r = c.read_reply()
    assert (r.code, r.enhanced) == (500, "5.5.2"), r
    c.expect("NOOP", 250, "2.0.0")
    c.expect("MAIL FROM:<a@b.test>", 530, "5.7.0")
    c.quit()


def test_starttls_forgets_plaintext_login(petrel_factory):
    """RFC 3207 4.2: after STARTTLS the server forgets what it knew, the login included."""
    p = petrel_factory(plaintext_loopback="true")
    c = p.session("submission")
    c.auth_plain(SENDER, SENDER_PASSWORD)
    c.starttls()
    c.ehlo()
    c.expect("MAIL FROM:<a@b.test>", 530, "5.7.0")
    c.auth_plain(SENDER, SENDER_PASSWORD)
    c.expect("MAIL FROM:<a@b.test>", 250, "2.1.0")
    c.quit()


def test_auth_on_mx_relays_and_checks_sender(petrel):
    """A login on the mx listener (under STARTTLS) is a login: it may relay, and its
    senders are checked."""
    c = tls_session(petrel, "mx")
    c.auth_plain(SENDER, SENDER_PASSWORD)
    c.expect("MAIL FROM:<boss@example.test>", 553, "5.7.1")
    c.expect("MAIL FROM:<a@b.test>", 250, "2.1.0")
    c.expect("RCPT TO:<x@remote.test>", 250, "2.1.5")
    c.quit()


def test_password_never_logged(petrel):
    c = petrel.auth_session()
    c.quit()
    c = tls_session(petrel)
    c.expect("AUTH LOGIN", 334)
    c.expect(b64(SENDER), 334)
    c.expect(b64("Zebra-Secret-77"), 535, "5.7.8")
    c.quit()
    wait_events(petrel, lambda e: e["type"] == "auth-failed")
    petrel.stop()
    text = petrel.log() + petrel.cli_ok("events", "--json").stdout
    for secret in (SENDER_PASSWORD, b64(SENDER_PASSWORD), "Zebra-Secret-77",
                   b64("Zebra-Secret-77"), b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD))):
        assert secret not in text, secret


def test_rset_keeps_authentication(petrel):
    c = petrel.auth_session()
    c.expect("RSET", 250)
    c.expect("MAIL FROM:<a@b.test>", 250, "2.1.0")
    c.quit()


def test_ehlo_after_auth_keeps_login(petrel):
    """A second EHLO resets the transaction, not the login."""
    c = petrel.auth_session()
    c.ehlo()
    c.expect("MAIL FROM:<a@b.test>", 250, "2.1.0")
    c.quit()


def test_mail_auth_parameter(petrel):
    """RFC 4954 5: MAIL FROM ... AUTH=<> and AUTH=addr are accepted (the value is not
    trusted from the client)."""
    c = petrel.auth_session()
    c.expect("MAIL FROM:<a@b.test> AUTH=<>", 250, "2.1.0")
    c.expect("RSET", 250)
    c.expect("MAIL FROM:<a@b.test> AUTH=sender+40example.test", 250, "2.1.0")
    c.quit()


# ------------------------------------------------------------------ submission and AUTH

def test_submission_without_auth_under_tls(petrel):
    c = tls_session(petrel)
    c.expect("MAIL FROM:<a@b.test>", 530, "5.7.0")
    c.quit()


def test_submission_auth_then_delivers(petrel):
    c = petrel.auth_session("submissions")
    qid = assert_queued(c.mail_transaction("a@b.test", ["u@example.test"], make_message()))
    c.quit()
    [raw] = petrel.mail("example.test", "u", 1)
    assert qid.encode() in raw


# ------------------------------------------------------------------ sender authorization

def test_sender_not_owned(petrel):
    c = petrel.auth_session()
    r = c.expect("MAIL FROM:<boss@example.test>", 553, "5.7.1")
    assert "boss@example.test" in r.text, r
    c.expect("MAIL FROM:<%s>" % SENDER, 250, "2.1.0")  # its own name
    c.quit()


def test_sender_domain_rule(petrel):
    petrel.cli_ok("sender", "allow", SENDER, "@other.test")
    c = petrel.auth_session()
    c.expect("MAIL FROM:<anyone@other.test>", 250, "2.1.0")
    c.expect("RSET", 250)
    c.expect("MAIL FROM:<anyone@sub.other.test>", 553, "5.7.1")  # subdomains not included
    c.quit()


def test_sender_deny_beats_domain_rule(petrel):
    petrel.cli_ok("sender", "allow", SENDER, "@other.test")
    petrel.cli_ok("sender", "deny", SENDER, "ceo@other.test")
    c = petrel.auth_session()
    c.expect("MAIL FROM:<ceo@other.test>", 553, "5.7.1")
    c.expect("MAIL FROM:<CEO@Other.Test>", 553, "5.7.1")
    c.expect("MAIL FROM:<cfo@other.test>", 250, "2.1.0")
    c.quit()


def test_sender_deny_beats_own_name(petrel):
    petrel.cli_ok("sender", "deny", SENDER, SENDER)
    c = petrel.auth_session()
    c.expect("MAIL FROM:<%s>" % SENDER, 553, "5.7.1")
    c.quit()


def test_sender_rule_change_without_restart(petrel):
    c = petrel.auth_session()
    c.expect("MAIL FROM:<x@third.test>", 553, "5.7.1")
    petrel.cli_ok("sender", "allow", SENDER, "x@third.test")
    c.expect("MAIL FROM:<x@third.test>", 250, "2.1.0")
    c.quit()


def test_null_sender_on_submission(petrel):
    c = petrel.auth_session()
    c.expect("MAIL FROM:<>", 550, "5.7.1")
    c.quit()


def test_from_header_not_owned(petrel):
    c = petrel.auth_session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    r = send_data(c, make_message(sender="boss@example.test"))
    assert (r.code, r.enhanced) == (553, "5.7.1"), r
    assert "boss@example.test" in r.text, r
    # the session goes on; the same message with an owned From: is accepted
    assert_queued(c.mail_transaction("a@b.test", ["u@example.test"], make_message()))
    c.quit()
    box = petrel.mail("example.test", "u", 1)
    assert len(box) == 1 and b"boss@" not in box[0]


def test_from_header_same_as_envelope_sender_not_read_again(petrel):
    """A From: address equal to the envelope sender (ignoring case) takes MAIL FROM's
    answer of the same transaction: the rules are not read again at DATA (one round
    trip less per message on PostgreSQL).  A rule changed in between applies to the
    next MAIL FROM, as for the envelope sender itself."""
    petrel.cli_ok("sender", "allow", SENDER, "x@third.test")
    c = petrel.auth_session()
    c.expect("MAIL FROM:<x@third.test>", 250, "2.1.0")
    c.expect("RCPT TO:<u@example.test>", 250)
    petrel.cli_ok("sender", "deny", SENDER, "x@third.test")
    assert_queued(send_data(c, make_message(sender="X@Third.Test")))
    c.expect("MAIL FROM:<x@third.test>", 553, "5.7.1")
    c.quit()
    petrel.mail("example.test", "u", 1)


def test_from_header_display_name_and_case(petrel):
    c = petrel.auth_session()
    msg = (b"From: \"Sender, Inc.\" <Sender@Example.Test>\r\nTo: u@example.test\r\n"
           b"Subject: x\r\n\r\nbody\r\n")
    assert_queued(c.mail_transaction(SENDER, ["u@example.test"], msg))
    c.quit()
    petrel.mail("example.test", "u", 1)


def test_from_header_two_addresses_one_foreign(petrel):
    c = petrel.auth_session()
    msg = (b"From: a@b.test, boss@example.test\r\nSender: a@b.test\r\nTo: u@example.test\r\n"
           b"Subject: x\r\n\r\nbody\r\n")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    r = send_data(c, msg)
    assert (r.code, r.enhanced) == (553, "5.7.1"), r
    c.quit()


def test_from_header_any_from(petrel):
    add_account(petrel, "app@example.test", "--any-from")
    c = petrel.auth_session(user="app@example.test", password=PW)
    c.expect("MAIL FROM:<boss@example.test>", 553, "5.7.1")  # MAIL FROM is still checked
    assert_queued(c.mail_transaction("app@example.test", ["u@example.test"],
                                     make_message(sender="boss@example.test")))
    c.quit()
    petrel.mail("example.test", "u", 1)


# ------------------------------------------------------------- authenticated relaying

# Remote delivery with DNS that cannot answer: relayed mail is accepted, attempted,
# deferred (4.4.3) and kept in the queue.  (*.test names are answered NXDOMAIN locally
# unless special_zones names "test"; port 9 on loopback answers nothing.)
NO_DNS = dict(resolver="127.0.0.1@9", special_zones="test", timeout=1)


def test_authenticated_relay_accepted_and_queued(petrel_factory):
    p = petrel_factory(**NO_DNS)
    c = p.auth_session()
    qid = assert_queued(c.mail_transaction("a@b.test", ["someone@remote.test"],
                                           make_message(to="someone@remote.test")))
    c.quit()
    [acc] = wait_events(p, lambda e: e["type"] == "accepted")
    assert acc["queue_id"] == qid and acc["account"] == SENDER, acc
    [dfr] = wait_events(p, lambda e: e["type"] == "deferred")
    assert dfr["queue_id"] == qid and dfr["recipient"] == "someone@remote.test", dfr
    text = p.cli_ok("queue", "list").stdout
    assert qid in text and "someone@remote.test" in text, text


def test_alias_with_remote_target_from_mx(petrel_factory):
    """An alias may point to a remote address: the local target is delivered and the remote
    one relayed, even for an unauthenticated sender on mx."""
    p = petrel_factory(**NO_DNS)
    p.cli_ok("alias", "add", "fwd@example.test", "u@example.test", "far@remote.test")
    c = p.session("mx")
    qid = assert_queued(c.mail_transaction("a@b.test", ["fwd@example.test"], make_message()))
    c.quit()
    p.mail("example.test", "u", 1)
    [dfr] = wait_events(p, lambda e: e["type"] == "deferred")
    assert dfr["queue_id"] == qid and dfr["recipient"] == "far@remote.test", dfr
    text = p.cli_ok("queue", "list").stdout
    assert qid in text and "far@remote.test" in text, text


# ------------------------------------------------------------------------ sending limits

def limited_session(p, name):
    return p.auth_session(user=name, password=PW)


def test_daily_limit_free_plan(petrel):
    """The free plan: 100 recipients a day; the 100 are delivered, the 101st refused with a
    temporary error naming the limit and when it resets."""
    add_account(petrel, "free@example.test")
    c = limited_session(petrel, "free@example.test")
    for batch in range(2):
        c.expect("MAIL FROM:<free@example.test>", 250)
        got = rcpts(c, ["u+%d-%d@example.test" % (batch, i) for i in range(50)])
        assert [r.code for r in got] == [250] * 50, [r for r in got if r.code != 250][:3]
        assert_queued(send_data(c, make_message(sender="free@example.test")))
    c.expect("MAIL FROM:<free@example.test>", 250)
    r = c.expect("RCPT TO:<v@example.test>", 451, "4.7.1")
    assert "Daily sending limit of 100 recipients" in r.text, r
    assert "resets at %s 00:00:00 UTC" % tomorrow_utc() in r.text, r
    c.expect("RCPT TO:<x@remote.test>", 451, "4.7.1")
    c.quit()
    box = petrel.mail("example.test", "u", 100, timeout=30)
    assert len(box) == 100, len(box)
    assert petrel.mailbox("example.test", "v") == []
    show = json.loads(petrel.cli_ok("account", "show", "free@example.test", "--json").stdout)
    assert show["sent_today"] == 100, show


def test_daily_limit_rset_gives_back(petrel):
    add_account(petrel, "rs@example.test", "--daily-limit", "10")
    c = limited_session(petrel, "rs@example.test")
    c.expect("MAIL FROM:<rs@example.test>", 250)
    assert [r.code for r in rcpts(c, ["x%d@remote.test" % i for i in range(6)])] == [250] * 6
    c.expect("RSET", 250)
    c.expect("MAIL FROM:<rs@example.test>", 250)
    got = rcpts(c, ["y%d@remote.test" % i for i in range(11)])
    assert [r.code for r in got] == [250] * 10 + [451], got
    assert got[-1].enhanced == "4.7.1", got[-1]
    c.quit()


def test_daily_limit_quit_gives_back(petrel):
    add_account(petrel, "q@example.test", "--daily-limit", "5")
    c = limited_session(petrel, "q@example.test")
    c.expect("MAIL FROM:<q@example.test>", 250)
    assert [r.code for r in rcpts(c, ["x%d@remote.test" % i for i in range(5)])] == [250] * 5
    c.quit()  # the transaction never completed
    deadline = time.monotonic() + 5
    while True:
        show = json.loads(petrel.cli_ok("account", "show", "q@example.test", "--json").stdout)
        if show["sent_today"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert show["sent_today"] == 0, show
    c = limited_session(petrel, "q@example.test")
    c.expect("MAIL FROM:<q@example.test>", 250)
    assert [r.code for r in rcpts(c, ["y%d@remote.test" % i for i in range(6)])] == \
        [250] * 5 + [451]
    c.quit()


def test_daily_limit_failed_transaction_gives_back(petrel_factory):
    p = petrel_factory(message_size=4000)
    add_account(p, "big@example.test", "--daily-limit", "10")
    c = limited_session(p, "big@example.test")
    c.expect("MAIL FROM:<big@example.test>", 250)
    assert [r.code for r in rcpts(c, ["u+%d@example.test" % i for i in range(8)])] == [250] * 8
    r = send_data(c, make_message(sender="big@example.test", body=(b"y" * 70 + b"\r\n") * 80))
    assert (r.code, r.enhanced) == (552, "5.3.4"), r
    c.expect("MAIL FROM:<big@example.test>", 250)
    got = rcpts(c, ["v+%d@example.test" % i for i in range(11)])
    assert [r.code for r in got] == [250] * 10 + [451], got
    c.quit()


def test_daily_limit_from_header_refusal_gives_back(petrel):
    add_account(petrel, "fh@example.test", "--daily-limit", "3")
    c = limited_session(petrel, "fh@example.test")
    c.expect("MAIL FROM:<fh@example.test>", 250)
    assert [r.code for r in rcpts(c, ["x%d@remote.test" % i for i in range(3)])] == [250] * 3
    r = send_data(c, make_message(sender="boss@example.test"))
    assert (r.code, r.enhanced) == (553, "5.7.1"), r
    c.expect("MAIL FROM:<fh@example.test>", 250)
    assert [r.code for r in rcpts(c, ["y%d@remote.test" % i for i in range(4)])] == \
        [250] * 3 + [451]
    c.quit()


def test_units_given_back_before_the_next_command(petrel_factory):
    """Units given back by a refused message are back in the store before the session
    reads its next command: RCPTs right after the refusal, at the limit, are never
    refused.  Repeated, since the give-back runs on a worker and another worker takes the
    next reservation (the first RCPT after a refusal was sometimes 451 under load)."""
    petrel = petrel_factory(workers="8", errors="1000")
    add_account(petrel, "rb@example.test", "--daily-limit", "3")
    c = limited_session(petrel, "rb@example.test")
    for i in range(30):
        c.expect("MAIL FROM:<rb@example.test>", 250)
        got = [r.code for r in rcpts(c, ["r%d-%d@remote.test" % (i, k) for k in range(3)])]
        assert got == [250] * 3, (i, got)
        r = send_data(c, make_message(sender="boss@example.test"))
        assert (r.code, r.enhanced) == (553, "5.7.1"), r
    c.quit()


def test_daily_limit_survives_restart(petrel):
    add_account(petrel, "rr@example.test")
    c = limited_session(petrel, "rr@example.test")
    c.expect("MAIL FROM:<rr@example.test>", 250)
    got = rcpts(c, ["x%d@remote.test" % i for i in range(100)])
    assert [r.code for r in got] == [250] * 100, [r for r in got if r.code != 250][:3]
    assert_queued(send_data(c, make_message(sender="rr@example.test")))
    c.quit()
    petrel.restart()
    c = limited_session(petrel, "rr@example.test")
    c.expect("MAIL FROM:<rr@example.test>", 250)
    r = c.expect("RCPT TO:<y@remote.test>", 451, "4.7.1")
    assert "Daily sending limit of 100 recipients" in r.text, r
    c.quit()


def test_daily_limit_change_applies_at_next_login(petrel):
    add_account(petrel, "chg@example.test")
    petrel.cli_ok("account", "set", "chg@example.test", "--daily-limit", "5")
    c = limited_session(petrel, "chg@example.test")
    c.expect("MAIL FROM:<chg@example.test>", 250)
    got = rcpts(c, ["x%d@remote.test" % i for i in range(6)])
    assert [r.code for r in got] == [250] * 5 + [451], got
    assert "Daily sending limit of 5 recipients" in got[-1].text, got[-1]
    c.quit()


def test_plan_limit_change_applies_at_next_login(petrel):
    petrel.cli_ok("plan", "set", "tiny", "--daily-limit", "2")
    add_account(petrel, "pl@example.test", "--plan", "tiny")
    c = limited_session(petrel, "pl@example.test")
    c.expect("MAIL FROM:<pl@example.test>", 250)
    assert [r.code for r in rcpts(c, ["x%d@remote.test" % i for i in range(3)])] == \
        [250, 250, 451]
    c.quit()
    petrel.cli_ok("plan", "set", "tiny", "--daily-limit", "4")
    c = limited_session(petrel, "pl@example.test")
    c.expect("MAIL FROM:<pl@example.test>", 250)
    assert [r.code for r in rcpts(c, ["y%d@remote.test" % i for i in range(5)])] == \
        [250] * 4 + [451]
    c.quit()


def test_per_minute_limit(petrel):
    add_account(petrel, "pm@example.test", "--per-minute", "3")
    wait_for_safe_minute()
    c = limited_session(petrel, "pm@example.test")
    c.expect("MAIL FROM:<pm@example.test>", 250)
    got = rcpts(c, ["x%d@remote.test" % i for i in range(4)])
    assert [r.code for r in got] == [250, 250, 250, 451], got
    assert got[3].enhanced == "4.7.1", got[3]
    assert "per minute" in got[3].text and "resets at" in got[3].text, got[3]
    c.quit()


def test_per_minute_counted_only_when_limited(petrel):
    """The minute's counter is kept only for an account with a per-minute limit (one
    store statement less per recipient without one); the day's always (sent_today)."""
    import sqlite3
    add_account(petrel, "pm0@example.test", "--per-minute", "0")
    add_account(petrel, "pm5@example.test", "--per-minute", "5")
    wait_for_safe_minute()
    for name in ("pm0@example.test", "pm5@example.test"):
        c = limited_session(petrel, name)
        assert_queued(c.mail_transaction(name, ["x@remote.test"], make_message(sender=name)))
        c.quit()
    db = sqlite3.connect(str(petrel.data_dir / "petrel.db"), timeout=10)
    try:
        rows = db.execute("SELECT account, substr(win, 1, 2), used FROM counters"
                          " WHERE account LIKE 'pm_@example.test' ORDER BY 1, 2").fetchall()
    finally:
        db.close()
    assert rows == [("pm0@example.test", "d:", 1), ("pm5@example.test", "d:", 1),
                    ("pm5@example.test", "m:", 1)], rows


def test_pipelined_rset_gives_back_at_once(petrel):
    """Units given back by RSET are usable by the very next pipelined RCPT."""
    add_account(petrel, "pr@example.test", "--daily-limit", "3")
    c = limited_session(petrel, "pr@example.test")
    codes = []
    for _ in range(10):
        c.send("MAIL FROM:<pr@example.test>\r\n"
               + "".join("RCPT TO:<x%d@remote.test>\r\n" % i for i in range(3)) + "RSET\r\n")
        codes += [c.read_reply().code for _ in range(5)]
    assert codes == [250] * 50, codes
    c.quit()


def test_concurrent_sessions_never_exceed_limit(petrel):
    add_account(petrel, "race@example.test", "--daily-limit", "20")
    accepted, refused, errors = [], [], []

    def worker(n):
        try:
            c = limited_session(petrel, "race@example.test")
            c.expect("MAIL FROM:<race@example.test>", 250)
            ok = 0
            for i in range(10):
                r = c.cmd("RCPT TO:<u+t%d-%d@example.test>" % (n, i))
                if r.code == 250:
                    ok += 1
                else:
                    refused.append((r.code, r.enhanced))
            if ok:
                assert_queued(send_data(c, make_message(sender="race@example.test")))
            accepted.append(ok)
            c.quit()
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(accepted) == 5
    assert sum(accepted) == 20, accepted
    assert set(refused) == {(451, "4.7.1")} and len(refused) == 30, refused
    show = json.loads(petrel.cli_ok("account", "show", "race@example.test", "--json").stdout)
    assert show["sent_today"] == 20, show
    petrel.mail("example.test", "u", 20, timeout=30)


# ------------------------------------------------------------------------ brute force

def timed_auth_failure(c, user="nobody@example.test"):
    t0 = time.monotonic()
    c.auth_plain(user, "bad-password", 535, "5.7.8")
    return time.monotonic() - t0


def test_auth_failures_slowed_then_locked_out(petrel_factory):
    """slow_after=2, lockout_after=4: failures 3 and 4 are answered late, then AUTH gets 454
    and new connections from the address get 421 at the banner."""
    p = petrel_factory(slow_after=2, lockout_after=4, lockout_time=30)
    c = tls_session(p)
    took = [timed_auth_failure(c) for _ in range(4)]
    assert took[0] < 0.8, "failure 1 delayed: %r" % took
    assert took[2] > 0.8 and took[3] > 0.8, "failures 3 and 4 not delayed: %r" % took
    # locked out: even the right password gets 454 now
    c.expect("AUTH PLAIN " + b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD)), 454, "4.7.0")
    # but a mechanism that is not offered is 504 (RFC 4954 4), locked out or not: it
    # never works, and a 4xx would tell the client to try it again later
    c.expect("AUTH X-UNKNOWN", 504, "5.5.4")
    c.quit()
    d = SMTPClient(p.host, p.sub)
    r = d.read_reply()
    assert (r.code, r.enhanced) == (421, "4.7.0"), r
    d.expect_closed()
    d = SMTPClient(p.host, p.mx)
    r = d.read_reply()
    assert (r.code, r.enhanced) == (421, "4.7.0"), r
    d.close()


def test_auth_failures_second_not_delayed(petrel_factory):
    """slow_after is the number of failures before replies slow down (config.h: "AUTH
    failures per address before replies slow down"): with 2, failure 2 is not delayed."""
    p = petrel_factory(slow_after=2, lockout_after=100)
    c = tls_session(p)
    took = [timed_auth_failure(c) for _ in range(2)]
    c.quit()
    assert took[1] < 0.8, "failure 2 delayed although slow_after=2: %r" % took


def test_auth_lockout_expires(petrel_factory):
    p = petrel_factory(slow_after=0, lockout_after=2, lockout_time=2)
    c = tls_session(p)
    timed_auth_failure(c)
    timed_auth_failure(c)
    c.expect("AUTH PLAIN " + b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD)), 454, "4.7.0")
    c.close()
    time.sleep(3.1)
    c = tls_session(p)
    c.auth_plain(SENDER, SENDER_PASSWORD)
    c.quit()


def test_auth_lockout_checked_before_hashing(petrel_factory):
    """A session that started AUTH before its address was locked out sends its password
    after the lockout: it gets 454 without a password check (an auth-refused log line,
    no auth-failed and no login), even with the right password."""
    p = petrel_factory(slow_after=0, lockout_after=3, lockout_time=60)
    a = tls_session(p)
    a.expect("AUTH PLAIN", 334)
    b = tls_session(p)
    for _ in range(3):
        timed_auth_failure(b)
    b.expect("AUTH PLAIN " + b64("\0x@example.test\0y"), 454, "4.7.0")
    b.quit()
    a.expect(b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD)), 454, "4.7.0")
    a.expect("MAIL FROM:<%s>" % SENDER, 530, "5.7.0")
    a.quit()
    p.wait_log(r"auth-failed ", 3)
    log = p.wait_log(r"auth-refused .*reason=locked-out", 2)
    assert len(re.findall(r"auth-refused .*reason=locked-out", log)) == 2, log[-3000:]
    assert len(re.findall(r"auth-failed ", log)) == 3, log[-3000:]
    assert not re.search(r"\bauth session=", log), log[-3000:]


def test_auth_lockout_end_gives_a_fresh_start(petrel_factory):
    """After a lockout ends the address has lockout_after tries again: one more failure
    does not lock it out at once (the failure window, 900 s, outlives the 2 s lockout)."""
    p = petrel_factory(slow_after=0, lockout_after=2, lockout_time=2, failure_window=900)
    c = tls_session(p)
    timed_auth_failure(c)
    timed_auth_failure(c)
    c.expect("AUTH PLAIN " + b64("\0%s\0%s" % (SENDER, SENDER_PASSWORD)), 454, "4.7.0")
    c.close()
    deadline = time.monotonic() + 15
    while True:  # new connections get 421 until the lockout ends
        d = p.connect("submission")
        r = d.read_reply()
        d.close()
        if r.code == 220:
            break
        assert r.code == 421 and time.monotonic() < deadline, r
        time.sleep(0.2)
    c = tls_session(p)
    timed_auth_failure(c)
    c.auth_plain(SENDER, SENDER_PASSWORD)
    c.quit()


def test_auth_success_does_not_count_as_failure(petrel_factory):
    p = petrel_factory(slow_after=0, lockout_after=3, lockout_time=30)
    for _ in range(5):
        c = p.auth_session()
        c.quit()
    c = p.auth_session("submissions")
    c.quit()


def test_connection_rate(petrel_factory):
    """connection_rate counts per client address: five connections from one address in a
    minute get the banner, the sixth 421 on any listener.  The test's connections come
    from an address of their own: start()'s readiness probe connects from p.host as many
    times as it needs (a banner can come before the log says the server started), which
    must not eat into the count."""
    p = petrel_factory(connection_rate=5)
    client = "127.0.0.66"
    wait_for_safe_minute()
    for i in range(5):
        c = SMTPClient(p.host, p.mx, source=client)
        r = c.read_reply()
        assert r.code == 220, (i, r)
        c.quit()
    c = SMTPClient(p.host, p.mx, source=client)
    r = c.read_reply()
    assert (r.code, r.enhanced) == (421, "4.7.0"), r
    c.expect_closed()
    c = SMTPClient(p.host, p.sub, source=client)
    r = c.read_reply()
    assert (r.code, r.enhanced) == (421, "4.7.0"), r
    c.close()


# ------------------------------------------------------------------------------ sandbox

def sandbox_files(p, account):
    """The kept mail of sandboxed ACCOUNT: the Sandbox folder of its mailbox (an address),
    or the INBOX of mail/sandbox/<login> (a plain login); new/ and cur/ (the mailbox
    store moves what it has seen to cur/)."""
    if "@" in account:
        local, domain = account.split("@")
        box = p.data_dir / "mail" / domain / local / ".Sandbox"
    else:
        box = p.data_dir / "mail" / "sandbox" / account
    return sorted(f for sub in ("new", "cur") if (box / sub).is_dir()
                  for f in (box / sub).iterdir())


def test_sandbox_account(petrel):
    add_account(petrel, "Box@Example.Test", "--sandbox")
    c = petrel.auth_session(user="box@example.test", password=PW)
    c.expect("MAIL FROM:<box@example.test>", 250)
    c.expect("RCPT TO:<far@remote.test>", 250, "2.1.5")
    c.expect("RCPT TO:<u@example.test>", 250, "2.1.5")
    qid = assert_queued(send_data(c, make_message(sender="box@example.test",
                                                  subject="sandboxed")))
    c.quit()
    deadline = time.monotonic() + 10
    while not sandbox_files(petrel, "box@example.test") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    files = sandbox_files(petrel, "box@example.test")
    assert len(files) == 1, files
    assert b"Subject: sandboxed" in files[0].read_bytes()
    assert petrel.mailbox("example.test", "u") == []
    assert queue_list(petrel) == []
    evs = wait_events(petrel, lambda e: e["type"] == "sandboxed", 2)
    assert {e["recipient"] for e in evs} == {"far@remote.test", "u@example.test"}, evs
    assert all(e["queue_id"] == qid and e["account"] == "box@example.test" for e in evs), evs
    show = json.loads(petrel.cli_ok("account", "show", "box@example.test", "--json").stdout)
    assert show["sent_today"] == 2 and show["sandbox"] is True, show


def test_sandbox_plain_login(petrel):
    """An account with a plain login name keeps its mail in the INBOX of its own mailbox,
    mail/sandbox/<login>, where it always did."""
    add_account(petrel, "Billing-App", "--sandbox", "--any-from")
    petrel.cli_ok("sender", "allow", "billing-app", "@example.test")
    c = petrel.auth_session(user="billing-app", password=PW)
    c.expect("MAIL FROM:<billing@example.test>", 250)
    c.expect("RCPT TO:<far@remote.test>", 250, "2.1.5")
    assert_queued(send_data(c, make_message(sender="billing@example.test", subject="app")))
    c.quit()
    petrel.wait_log(r"sandboxed queue_id=\S+ account=billing-app")
    files = sandbox_files(petrel, "billing-app")
    assert len(files) == 1, files
    assert b"Subject: app" in files[0].read_bytes()


def test_sandbox_counts_against_limit(petrel):
    add_account(petrel, "sb@example.test", "--sandbox", "--daily-limit", "2")
    c = petrel.auth_session(user="sb@example.test", password=PW)
    c.expect("MAIL FROM:<sb@example.test>", 250)
    got = rcpts(c, ["a@remote.test", "b@remote.test", "c@remote.test"])
    assert [(r.code, r.enhanced) for r in got] == [(250, "2.1.5"), (250, "2.1.5"),
                                                   (451, "4.7.1")], got
    c.quit()


def test_sandbox_sender_rules_still_apply(petrel):
    add_account(petrel, "sc@example.test", "--sandbox")
    c = petrel.auth_session(user="sc@example.test", password=PW)
    c.expect("MAIL FROM:<boss@example.test>", 553, "5.7.1")
    c.quit()


# ------------------------------------------------------------------------------- events

def test_events_rows(petrel):
    c = petrel.auth_session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<nobody@example.test>", 550, "5.1.1")
    c.expect("RCPT TO:<u@example.test>", 250)
    qid = assert_queued(send_data(c, make_message()))
    c.quit()
    petrel.mail("example.test", "u", 1)
    d = tls_session(petrel)
    d.auth_plain("u@example.test", "wrong", 535, "5.7.8")
    d.quit()

    [acc] = wait_events(petrel, lambda e: e["type"] == "accepted")
    assert acc["account"] == SENDER and acc["queue_id"] == qid and acc["code"] == 250, acc
    [rej] = wait_events(petrel, lambda e: e["type"] == "rejected")
    assert rej["account"] == SENDER and rej["recipient"] == "nobody@example.test", rej
    assert rej["code"] == 550 and "no such user" in rej["reason"], rej
    [dlv] = wait_events(petrel, lambda e: e["type"] == "delivered")
    assert dlv["queue_id"] == qid and dlv["recipient"] == "u@example.test", dlv
    assert dlv["account"] == SENDER, dlv
    [af] = wait_events(petrel, lambda e: e["type"] == "auth-failed")
    assert af["account"] == "u@example.test" and af["code"] == 535, af
    assert af["reason"] == "bad-password", af
    for e in events(petrel):
        assert set(e) >= {"id", "time", "type", "account", "queue_id", "recipient", "code",
                          "reason", "node"}, e
        assert e["node"] == petrel.node, e

    mine = events(petrel, "--account", SENDER)
    assert {e["type"] for e in mine} == {"accepted", "rejected", "delivered"}, mine
    assert all(e["account"] == SENDER for e in mine), mine
    text = petrel.cli_ok("events", "--account", SENDER).stdout
    assert re.search(r"^\S+Z %s accepted %s %s - 250 " % (re.escape(petrel.node), re.escape(SENDER), qid),
                     text, re.M), text


def test_events_accepted_when_the_client_left_before_the_250(petrel_factory):
    """a client that closes while its message's queue file is being flushed (a disk made
    slow by the fault shim: each flush returns 1.5 s late), so that it never reads the
    250: the message is queued and delivered all the same, and its "accepted" event
    (stats' requests, the webhook's processed) is recorded with it (failed before: none,
    the event went with the session)"""
    p = petrel_factory(start=False)
    rules = p.tmp / "faults"
    p.extra_env = fault_env(rules)
    p.start()
    c = p.auth_session()
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("DATA", 354)
    rules.write_text("slow 1500 */data/queue*\n")
    c.send(make_message() + b".\r\n")
    time.sleep(0.5)    # the end of data is read, the queue's flush runs
    c.close()
    rules.write_text("")
    p.mail("example.test", "u", 1)
    [dlv] = wait_events(p, lambda e: e["type"] == "delivered")
    [acc] = wait_events(p, lambda e: e["type"] == "accepted")
    assert acc["queue_id"] == dlv["queue_id"] and acc["account"] == SENDER, (acc, dlv)


def test_events_sender_refusal(petrel):
    c = petrel.auth_session()
    c.expect("MAIL FROM:<boss@example.test>", 553, "5.7.1")
    c.quit()
    [rej] = wait_events(petrel, lambda e: e["type"] == "rejected")
    assert rej["account"] == SENDER and rej["code"] == 553, rej
    assert "boss@example.test" in rej["reason"], rej


def test_events_limit_refusal(petrel):
    add_account(petrel, "ev@example.test", "--daily-limit", "1")
    c = limited_session(petrel, "ev@example.test")
    c.expect("MAIL FROM:<ev@example.test>", 250)
    c.expect("RCPT TO:<x@remote.test>", 250)
    c.expect("RCPT TO:<y@remote.test>", 451, "4.7.1")
    c.quit()
    [rej] = wait_events(petrel, lambda e: e["type"] == "rejected", 1, "--account",
                        "ev@example.test")
    assert rej["code"] == 451 and rej["recipient"] == "y@remote.test", rej
    assert "Daily sending limit" in rej["reason"], rej


def test_quoted_sender_is_the_same_address(petrel):
    """RFC 5321 4.1.2, RFC 5322 3.4.1: "sender"@d is sender@d for sender authorization, in
    MAIL FROM and in From: alike; a quoted form that needs its quotes is another address."""
    c = petrel.auth_session()
    c.expect('MAIL FROM:<"x y"@example.test>', 553, "5.7.1")
    c.expect('MAIL FROM:<"sender"@Example.Test.>', 250, "2.1.0")
    c.expect("RCPT TO:<u@example.test>", 250)
    msg = (b'From: "Me" <"sender"@example.test>\r\nTo: u@example.test\r\n'
           b"Subject: quoted\r\n\r\nbody\r\n")
    r = send_data(c, msg)
    assert_queued(r)
    c.quit()
    [raw] = petrel.mail("example.test", "u", 1)
    assert b"Return-Path: <sender@Example.Test>" in raw, raw[:300]


# ------------------------------------------------------------------- events retention

def insert_events(p, rows):
    """Rows (time, type) straight into a stopped server's petrel.db."""
    import sqlite3
    db = sqlite3.connect(str(p.data_dir / "petrel.db"))
    with db:
        db.executemany("INSERT INTO events (time, type, account) VALUES (?, ?, 'old@example.test')",
                       rows)
    db.close()


def event_times(p):
    import sqlite3
    db = sqlite3.connect(str(p.data_dir / "petrel.db"))
    try:
        return sorted(t for (t,) in db.execute(
            "SELECT time FROM events WHERE account = 'old@example.test'"))
    finally:
        db.close()


def wait_event_times(p, want, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        got = event_times(p)
        if got == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError("events %r after %.0fs, expected %r" % (got, timeout, want))
        time.sleep(0.2)


def test_events_older_than_30_days_pruned(petrel_factory):
    """By default events are kept 30 days: older ones are deleted soon after start."""
    p = petrel_factory(start=False)
    now = int(time.time())
    day = 86400
    insert_events(p, [(now - 400 * day, "accepted"), (now - 31 * day, "delivered"),
                      (now - 29 * day, "bounced"), (now - 60, "accepted")])
    p.start()
    wait_event_times(p, [now - 29 * day, now - 60])
    assert re.search(r"events-pruned deleted=2 ", p.wait_log(r"events-pruned deleted=2 ")), \
        p.log()[-2000:]


def test_events_retention_setting(petrel_factory):
    p = petrel_factory(start=False, retention="2h")
    now = int(time.time())
    insert_events(p, [(now - 3 * 3600, "accepted"), (now - 3600, "delivered")])
    p.start()
    wait_event_times(p, [now - 3600])


# ------------------------------------------------------------------ postmaster (RFC 5321 4.5.1)

def test_postmaster_exempt_from_sending_limit(petrel):
    """A complaint to the postmaster is never refused: an account over its daily limit can
    still write to postmaster@ a local domain, and it costs no unit."""
    add_account(petrel, "lim@example.test", "--daily-limit", "1")
    c = limited_session(petrel, "lim@example.test")
    c.expect("MAIL FROM:<lim@example.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("RCPT TO:<v@example.test>", 451, "4.7.1")
    c.expect("RCPT TO:<postmaster@other.test>", 250, "2.1.5")
    c.expect("RCPT TO:<Postmaster>", 250, "2.1.5")
    assert_queued(send_data(c, make_message(sender="lim@example.test")))
    c.quit()
    assert len(petrel.mail("other.test", "postmaster", 1)) == 1
    show = json.loads(petrel.cli_ok("account", "show", "lim@example.test", "--json").stdout)
    assert show["sent_today"] == 1, show


def test_postmaster_exempt_from_from_header_check(petrel):
    """The From: check does not refuse a message to the postmaster alone; one that also
    goes to someone else is checked as always."""
    c = petrel.auth_session()
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<postmaster@other.test>", 250)
    assert_queued(send_data(c, make_message(sender="boss@example.test")))
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<postmaster@other.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    r = send_data(c, make_message(sender="boss@example.test"))
    assert (r.code, r.enhanced) == (553, "5.7.1"), r
    c.quit()
    assert len(petrel.mail("other.test", "postmaster", 1)) == 1
