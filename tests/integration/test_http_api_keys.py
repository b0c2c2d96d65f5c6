"""SendGrid v3's /v3/api_keys (src/http/apikeys.c, the auth process's IPC_AUTH_APIKEY_*
requests; docs/http.md) with curl: a key created over HTTP is shown once, listed, sends
mail, and once deleted is refused; scopes a creator lacks are not granted; an account
sees only its own keys."""

import json
import subprocess

from conftest import SENDER
from test_http_send import api, request, send  # noqa: F401 (api: a fixture)


def call(p, method, path, key, body=None):
    args = ["curl", "-sS", "--max-time", "20", "-X", method, "-w", "\n%{http_code}",
            "-H", "Authorization: Bearer " + key]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    out = subprocess.run(args + ["http://127.0.0.1:%d%s" % (p.ports["http"], path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    text, _, status = out.stdout.rpartition("\n")
    return int(status), json.loads(text) if text else None


def admin_key(p, account=SENDER, *extra):
    scopes = ["api_keys.create", "api_keys.read", "api_keys.delete", "api_keys.update",
              "mail.send"] + list(extra)
    opts = sum((["--scope", s] for s in scopes), [])
    return p.cli_ok("apikey", "add", account, "--name", "admin", *opts).stdout.strip()


def test_create_list_send_delete(api):
    admin = admin_key(api)
    status, made = call(api, "POST", "/v3/api_keys", admin,
                        {"name": "ci sender", "scopes": ["mail.send"]})
    assert status == 201, made
    assert made["name"] == "ci sender" and made["scopes"] == ["mail.send"]
    assert made["api_key"].startswith("PT.") and made["api_key_id"] in made["api_key"]
    status, listed = call(api, "GET", "/v3/api_keys", admin)
    assert status == 200
    assert {"name": "ci sender", "api_key_id": made["api_key_id"]} in listed["result"]
    assert all(set(k) == {"name", "api_key_id"} for k in listed["result"])
    assert len(listed["result"]) == 2
    status, one = call(api, "GET", "/v3/api_keys/" + made["api_key_id"], admin)
    assert status == 200 and one["result"] == [
        {"name": "ci sender", "api_key_id": made["api_key_id"], "scopes": ["mail.send"]}]
    assert send(api, request(), made["api_key"])[0] == 202
    status, _ = call(api, "DELETE", "/v3/api_keys/" + made["api_key_id"], admin)
    assert status == 204
    assert send(api, request(), made["api_key"])[0] == 401
    assert call(api, "GET", "/v3/api_keys/" + made["api_key_id"], admin)[0] == 404
    assert call(api, "DELETE", "/v3/api_keys/" + made["api_key_id"], admin)[0] == 404
    api.wait_log(r"event=auth-apikey op=add account=%s id=%s" % (SENDER, made["api_key_id"]))


def test_scopes_default_to_the_creators_and_never_exceed_them(api):
    admin = admin_key(api)
    status, made = call(api, "POST", "/v3/api_keys", admin, {"name": "same"})
    assert status == 201 and sorted(made["scopes"]) == sorted(
        ["api_keys.create", "api_keys.read", "api_keys.delete", "api_keys.update",
         "mail.send"])
    status, answer = call(api, "POST", "/v3/api_keys", admin,
                          {"name": "more", "scopes": ["mail.send", "stats.read"]})
    assert status == 403 and answer["errors"][0]["field"] == "scopes"
    assert "stats.read" in answer["errors"][0]["message"]
    for body, field in [({"scopes": ["mail.send"]}, "name"), ({"name": ""}, "name"),
                        ({"name": "x" * 101}, "name"), ({"name": "a\nb"}, "name"),
                        ({"name": "x", "scopes": ["Bad Scope"]}, "scopes"),
                        ({"name": "x", "scopes": []}, "scopes")]:
        status, answer = call(api, "POST", "/v3/api_keys", admin, body)
        assert status == 400 and answer["errors"][0]["field"] == field, (body, answer)
    sender_only = api.cli_ok("apikey", "add", SENDER, "--scope", "mail.send").stdout.strip()
    assert call(api, "GET", "/v3/api_keys", sender_only)[0] == 403
    assert call(api, "POST", "/v3/api_keys", sender_only, {"name": "x"})[0] == 403


def test_an_account_sees_and_deletes_only_its_own_keys(api):
    api.cli_ok("account", "add", "other@example.test", "--password-stdin", input="other-pw-1\n")
    mine, theirs = admin_key(api), admin_key(api, "other@example.test")
    status, listed = call(api, "GET", "/v3/api_keys", theirs)
    assert status == 200 and len(listed["result"]) == 1
    [my_id] = [k["api_key_id"] for k in call(api, "GET", "/v3/api_keys", mine)[1]["result"]]
    assert my_id not in [k["api_key_id"] for k in listed["result"]]
    assert call(api, "GET", "/v3/api_keys/" + my_id, theirs)[0] == 404
    assert call(api, "DELETE", "/v3/api_keys/" + my_id, theirs)[0] == 404
    assert call(api, "GET", "/v3/api_keys", mine)[0] == 200


def test_rename_and_set_scopes(api):
    admin = admin_key(api, SENDER, "stats.read")
    status, made = call(api, "POST", "/v3/api_keys", admin,
                        {"name": "old", "scopes": ["mail.send"]})
    path = "/v3/api_keys/" + made["api_key_id"]
    status, answer = call(api, "PATCH", path, admin, {"name": "renamed"})
    assert status == 200 and answer == {"api_key_id": made["api_key_id"], "name": "renamed"}
    status, answer = call(api, "PUT", path, admin,
                          {"name": "stats", "scopes": ["stats.read"]})
    assert status == 200 and answer == {"api_key_id": made["api_key_id"], "name": "stats",
                                        "scopes": ["stats.read"]}
    status, one = call(api, "GET", path, admin)
    assert one["result"][0]["name"] == "stats" and one["result"][0]["scopes"] == ["stats.read"]
    assert send(api, request(), made["api_key"])[0] == 403   # mail.send taken away
    assert call(api, "PUT", path, admin, {"name": "x"})[0] == 400
    assert call(api, "PUT", path, admin, {"name": "x", "scopes": ["alerts.read"]})[0] == 403
    assert call(api, "PATCH", "/v3/api_keys/0000000000000000", admin, {"name": "x"})[0] == 404
