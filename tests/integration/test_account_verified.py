"""Accounts the web sign-up makes (docs/web.md, docs/accounts.md): one whose address is not
verified yet, or that awaits an operator's approval, logs in but may send nothing, by SMTP
(MAIL: 550 5.7.1) or by the API (POST /v3/mail/send: 403), until the link is followed or
`petrel account approve` lets it; accounts made by `petrel account add` are verified.

Until the sign-up pages come, the states are set in petrel.db the way the sign-up sets
them (accounts.unverified, accounts.pending)."""

import json
import sqlite3

import pytest

from conftest import add_listeners
from test_http_send import request, send

USER = "newbie@example.test"
PW = "a long pass phrase 9"


@pytest.fixture
def srv(petrel_factory):
    p = petrel_factory(start=False)
    add_listeners(p, "http")
    p.start()
    p.cli_ok("account", "add", USER, "--password-stdin", input=PW + "\n")
    return p


def set_state(p, unverified, pending):
    db = sqlite3.connect(str(p.data_dir / "petrel.db"), timeout=10)
    with db:
        db.execute("UPDATE accounts SET unverified = ?, pending = ? WHERE name = ?",
                   (int(unverified), int(pending), USER))
    db.close()


def mail_from(p):
    """MAIL FROM USER's own address in a new session logged in as USER"""
    c = p.auth_session(user=USER, password=PW)
    r = c.cmd("MAIL FROM:<%s>" % USER)
    c.cmd("QUIT")
    return r


def api_send(p, key):
    body = request(**{"from": {"email": USER}})
    body["personalizations"] = [{"to": [{"email": USER}]}]
    return send(p, body, key=key)


def show(p):
    return json.loads(p.cli_ok("account", "show", USER, "--json").stdout)


def test_account_add_is_verified(srv):
    """`petrel account add` makes a verified account, not pending: it sends"""
    a = show(srv)
    assert a["verified"] is True and a["pending"] is False
    assert mail_from(srv).code == 250
    key = srv.cli_ok("apikey", "add", USER).stdout.strip()
    assert api_send(srv, key)[0] == 202


def test_unverified_account_may_not_send(srv):
    """a sign-up's account before its link: logs in, MAIL 550 5.7.1 saying why, the API
    403 with the same words; once verified (the link's effect) it sends"""
    key = srv.cli_ok("apikey", "add", USER).stdout.strip()
    set_state(srv, unverified=True, pending=False)
    assert show(srv)["verified"] is False
    assert "unverified" in srv.cli_ok("account", "list").stdout
    r = mail_from(srv)
    assert r.code == 550 and r.text.startswith("5.7.1"), r
    assert "Verify your address" in r.text, r
    status, _, answer = api_send(srv, key)
    assert status == 403, answer
    assert "Verify your address" in answer["errors"][0]["message"], answer
    set_state(srv, unverified=False, pending=False)
    assert mail_from(srv).code == 250
    assert api_send(srv, key)[0] == 202


def test_pending_account_sends_once_approved(srv):
    """[web] signup = approval: a pending account is refused until `petrel account
    approve`, which says so and clears the state"""
    key = srv.cli_ok("apikey", "add", USER).stdout.strip()
    set_state(srv, unverified=False, pending=True)
    assert show(srv)["pending"] is True
    assert "pending" in srv.cli_ok("account", "list").stdout
    r = mail_from(srv)
    assert r.code == 550 and "approval" in r.text, r
    assert api_send(srv, key)[0] == 403
    out = srv.cli_ok("account", "approve", USER.upper()).stdout
    assert out.strip() == "approved account %s" % USER
    assert show(srv)["pending"] is False
    assert mail_from(srv).code == 250
    assert api_send(srv, key)[0] == 202
    assert srv.cli("account", "approve", "nobody@example.test").returncode != 0
