"""API keys (docs/security.md): `petrel apikey add|list|del`, a key as the SMTP password of
user "apikey" (swaks, as SendGrid's users configure it) and as the HTTP API's Bearer token
(curl), checked by the auth process; a disabled account's keys refused."""

import imaplib
import json
import re
import shutil
import subprocess

import pytest

from conftest import SENDER, add_listeners, client_tls_context


def need(tool):
    if not shutil.which(tool):
        pytest.skip("%s not installed (scripts/install-deps.sh installs it)" % tool)


@pytest.fixture
def server(petrel_factory):
    p = petrel_factory(start=False)
    add_listeners(p, "http", "imap")
    p.start()
    return p


def add_key(p, *opts):
    r = p.cli_ok("apikey", "add", SENDER, *opts)
    key = r.stdout.strip()
    assert re.fullmatch(r"PT\.[0-9a-f]{16}\.[0-9a-f]{64}", key), r.stdout
    return key, key[3:19]


def swaks(p, user, password):
    need("swaks")
    return subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % p.sub, "-tls", "--auth", "PLAIN",
         "--auth-user", user, "--auth-password", password, "--from", SENDER,
         "--to", "u@example.test", "--helo", "swaks.example", "--timeout", "20"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def curl_scopes(p, *headers):
    args = ["curl", "-sS", "-i", "--max-time", "10"]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + ["http://127.0.0.1:%d/v3/scopes" % p.ports["http"]],
                         capture_output=True, timeout=20)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode(), json.loads(body)


def test_key_shown_once_and_stored_hashed(server):
    key, key_id = add_key(server, "--name", "ci", "--scope", "mail.send", "--scope",
                          "stats.read")
    listed = json.loads(server.cli_ok("apikey", "list", SENDER, "--json").stdout)
    assert [(k["id"], k["name"], k["scopes"]) for k in listed] == \
        [(key_id, "ci", "mail.send stats.read")]
    # created as the other admin commands print times: UTC, ISO 8601
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert re.fullmatch(iso, listed[0]["created"]), listed
    text = server.cli_ok("apikey", "list", SENDER).stdout
    assert re.fullmatch(r"%s scopes=mail\.send stats\.read created=%s name=ci\n"
                        % (key_id, iso), text), text
    # the key is nowhere on disk: only its SHA-256 (auth/credentials.db)
    for f in server.data_dir.rglob("*"):
        if f.is_file():
            assert key.encode() not in f.read_bytes(), f
    assert server.cli("apikey", "add", "nobody@example.test").returncode != 0
    assert server.cli("apikey", "add", SENDER, "--scope", "Bad Scope").returncode == 2


def test_swaks_sends_with_apikey(server):
    key, _ = add_key(server)
    r = swaks(server, "apikey", key)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^<~ +235 2\.7\.0 ", r.stdout, re.M), r.stdout
    server.mail("example.test", "u", 1)
    server.wait_log(r"event=auth .*account=%s" % re.escape(SENDER))


def test_wrong_or_deleted_key_is_535(server):
    key, key_id = add_key(server)
    wrong = key[:-1] + ("0" if key[-1] != "0" else "1")
    r = swaks(server, "apikey", wrong)
    assert r.returncode == 28 and re.search(r"^<~\* +535 5\.7\.8 ", r.stdout, re.M), r.stdout
    server.cli_ok("apikey", "del", key_id)
    assert json.loads(server.cli_ok("apikey", "list", SENDER, "--json").stdout) == []
    r = swaks(server, "apikey", key)
    assert r.returncode == 28 and re.search(r"^<~\* +535 5\.7\.8 ", r.stdout, re.M), r.stdout
    assert server.cli("apikey", "del", key_id).returncode != 0


def test_key_without_mail_send_cannot_send(server):
    key, _ = add_key(server, "--scope", "stats.read")
    r = swaks(server, "apikey", key)
    assert r.returncode == 28 and re.search(r"^<~\* +535 5\.7\.8 ", r.stdout, re.M), r.stdout


def test_disabled_account_keys_refused(server):
    key, _ = add_key(server)
    server.cli_ok("account", "disable", SENDER)
    r = swaks(server, "apikey", key)
    assert r.returncode == 28, r.stdout
    status, _, _ = curl_scopes(server, "Authorization: Bearer " + key)
    assert status == 401


def test_bearer_key_over_http(server):
    key, _ = add_key(server, "--scope", "mail.send", "--scope", "stats.read")
    status, _, body = curl_scopes(server, "Authorization: Bearer " + key)
    assert status == 200 and body == {"scopes": ["mail.send", "stats.read"]}
    status, head, body = curl_scopes(server)
    assert status == 401 and "WWW-Authenticate: Bearer" in head
    assert set(body) == {"errors"} and set(body["errors"][0]) == {"message", "field", "help"}
    assert body["errors"][0]["message"] == "authorization required"
    # the secret's last two digits changed (to "00" unless they were: 1 in 256)
    wrong = key[:-2] + ("00" if key[-2:] != "00" else "11")
    status, _, body = curl_scopes(server, "Authorization: Bearer " + wrong)
    assert status == 401 and "invalid" in body["errors"][0]["message"]
    status, _, _ = curl_scopes(server, "Authorization: Basic " + key)
    assert status == 401


def test_key_is_not_an_imap_password(server):
    key, _ = add_key(server)
    c = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=10)
    c.starttls(client_tls_context())
    with pytest.raises(imaplib.IMAP4.error):
        c.login("apikey", key)
    server.wait_log(r"event=auth-failed .*user=apikey reason=api-key-scope")
    c.logout()
