"""SendGrid's official Node client, @sendgrid/mail from npm (pinned in
tests/integration/sendgrid/package.json and package-lock.json), sending through Petrel's
POST /v3/mail/send unchanged, its base URL pointed at Petrel (docs/http.md)."""

import base64
import email
import email.policy
import fcntl
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import SENDER, add_listeners, wait_mail

PROJECT = Path(__file__).parent / "sendgrid"
# npm's messages when the registry cannot be reached (no network, no DNS)
UNREACHABLE = re.compile(r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|"
                         r"ENETUNREACH|network request .* failed")


@pytest.fixture(scope="module")
def node_client():
    """The project-local node_modules, installed once by `npm ci` from the lock file
    (a lock serializes the pytest workers); skipped, with the reason, only when npm's
    registry cannot be reached."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("node and npm are not installed (scripts/install-deps.sh installs them)")
    with open(PROJECT / "package.json") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (PROJECT / "node_modules" / "@sendgrid" / "mail" / "package.json").exists():
            r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                               cwd=PROJECT, capture_output=True, text=True, timeout=600)
            said = [ln for ln in (r.stdout + r.stderr).splitlines() if UNREACHABLE.search(ln)]
            if r.returncode != 0 and said:
                pytest.skip("npm's registry is unreachable, @sendgrid/mail cannot be "
                            "installed: " + said[0].strip())
            assert r.returncode == 0, r.stdout + r.stderr
    return PROJECT / "send.js"


@pytest.fixture
def api(petrel_factory):
    p = petrel_factory(start=False)
    add_listeners(p, "http")
    p.start()
    return p


def node_send(script, p, key, msg, method="send"):
    req = {"baseUrl": "http://127.0.0.1:%d/" % p.ports["http"], "apiKey": key,
           "method": method, "msg": msg}
    r = subprocess.run(["node", str(script)], input=json.dumps(req), capture_output=True,
                       text=True, timeout=60, cwd=PROJECT)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_sendgrid_node_client_sends(node_client, api):
    key = api.cli_ok("apikey", "add", SENDER).stdout.strip()
    out = node_send(node_client, api, key, {
        "to": {"email": "u@example.test", "name": "U Ser"},
        "cc": "v@example.test",
        "from": {"email": SENDER, "name": "Node App"},
        "replyTo": "a@b.test",
        "subject": "Sent by @sendgrid/mail",
        "text": "plain body",
        "html": "<p>html body</p>",
        "attachments": [{"content": base64.b64encode(b"a,b\n1,2\n").decode(),
                         "filename": "data.csv", "type": "text/csv",
                         "disposition": "attachment"}],
        "categories": ["node"],
        "customArgs": {"order": "17"},
        "headers": {"X-Client": "sendgrid-node"},
    })
    assert out.get("status") == 202, out
    qid = out["headers"]["x-message-id"]
    assert re.fullmatch(r"[0-9A-F]{16}", qid)
    [raw] = wait_mail(api.data_dir, "example.test", "u", 1)
    wait_mail(api.data_dir, "example.test", "v", 1)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert not msg.defects
    assert msg["From"] == "Node App <%s>" % SENDER and msg["Reply-To"] == "a@b.test"
    assert msg["To"] == "U Ser <u@example.test>" and msg["Cc"] == "v@example.test"
    assert msg["Subject"] == "Sent by @sendgrid/mail" and msg["X-Client"] == "sendgrid-node"
    assert qid in msg["Message-ID"]
    body, attached = msg.get_payload()
    assert body.get_content_type() == "multipart/alternative"
    plain, html = body.get_payload()
    assert plain.get_content().strip() == "plain body"
    assert html.get_content().strip() == "<p>html body</p>"
    assert attached.get_filename() == "data.csv"
    assert attached.get_content() == "a,b\n1,2\n"


def test_sendgrid_node_client_send_multiple(node_client, api):
    key = api.cli_ok("apikey", "add", SENDER).stdout.strip()
    out = node_send(node_client, api, key, {
        "to": ["u@example.test", "v@example.test"], "from": SENDER,
        "subject": "Each alone", "text": "one personalization each"}, method="sendMultiple")
    assert out.get("status") == 202, out
    for box in ("u", "v"):
        [raw] = wait_mail(api.data_dir, "example.test", box, 1)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg["To"] == "%s@example.test" % box and msg["Cc"] is None


def test_sendgrid_node_client_reads_errors(node_client, api):
    key = api.cli_ok("apikey", "add", SENDER).stdout.strip()
    out = node_send(node_client, api, key, {
        "to": "not-an-address", "from": SENDER, "subject": "x", "text": "x"})
    assert out.get("error") == 400, out
    assert out["body"]["errors"][0]["field"] == "personalizations.0.to.0.email"
    out = node_send(node_client, api, key + "0", {
        "to": "u@example.test", "from": SENDER, "subject": "x", "text": "x"})
    assert out.get("error") == 401, out
    out = node_send(node_client, api, key, {
        "to": "u@example.test", "from": "v@example.test", "subject": "x", "text": "x"})
    assert out.get("error") == 403, out
